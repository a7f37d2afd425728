"""The untrained controls of a backbone, fitted: each control's probe, readout and recognition.

A claim's core check asks what pre-training added, so every analysis that reads a backbone
reads its untrained control the same way (``backbones.untrained_controls``):

- our own runs: ONE control, the main run's own initialisation (same architecture and seed, 0
  steps). It is paired with the trained backbone: same sets, same items, the difference
  bootstrapped together.
- a checkpoint: K = ``profile.untrained_seeds`` random initialisations of its configuration.
  It has no initialisation of its own, and one random network is no valid null (two differ by
  more than item intervals allow), so the checkpoint is compared with the controls' population
  (``stats.beyond_controls``).

    fitted = controls.fit(P, bb, lambda ub: probes.fewrel_probe(P, ub.model, ub.tokenizer, split, [P.block]))
    st, null = recognition.claim_stats(res, **fitted.for_recognition(), ...)
    crossover.crossover_experiment(head, probe, res, P, **fitted.for_crossover(), ...)
    hull.hull_claim_stats(..., **fitted.for_hull(P.block))     # fit(..., layers=1): the linear readout
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, NamedTuple

from . import backbones, readouts, recognition


class FittedControl(NamedTuple):
    """One untrained control read like the trained backbone: (head, probe, result) -- the triple
    that ``crossover_experiment(untrained=...)`` takes."""
    head: object
    probe: object
    result: recognition.RecognitionResult


@dataclass(frozen=True)
class Controls:
    fitted: list[FittedControl]
    paired: bool            # True: our own run's initialisation; False: a checkpoint's K random inits
    descriptions: list[str]

    @property
    def first(self) -> FittedControl:
        return self.fitted[0]

    @property
    def results(self) -> list[recognition.RecognitionResult]:
        return [c.result for c in self.fitted]

    def names(self) -> list[str]:
        """Column names for side-by-side tables: "untrained", or one per random initialisation."""
        if self.paired:
            return ["untrained"]
        return [f"untrained (init {i + 1} of {len(self.fitted)})" for i in range(len(self.fitted))]

    def for_recognition(self) -> dict:
        """Keyword arguments of ``recognition.claim_stats``."""
        return {"untrained": self.first.result} if self.paired else {"untrained_controls": self.results}

    def for_crossover(self) -> dict:
        """Keyword arguments of ``crossover.crossover_experiment``."""
        return {"untrained": self.first} if self.paired else {"untrained_controls": list(self.fitted)}

    def for_hull(self, block: int) -> dict:
        """Keyword arguments of ``hull.hull_claim_stats``: (head, z_test at ``block``, single nodes)."""
        triples = [(c.head, c.probe.z_test[block], c.result.singles) for c in self.fitted]
        return {"untrained": triples[0]} if self.paired else {"untrained_controls": triples}


def fit(profile, bb, make_probe: Callable, data_dir=None, layers: int | None = None,
        block: int | None = None, progress: bool = True) -> Controls:
    """The untrained controls of backbone ``bb`` (``backbones.untrained_controls``), each read by
    ``make_probe(control_backbone)`` (the same probe the trained backbone got: same items), with
    its own readout (``readouts.fit_readout``, ``layers`` as for the trained one) and its recognition
    result at ``block`` (default: the profile's)."""
    block = profile.block if block is None else block
    untrained = backbones.untrained_controls(profile, bb, data_dir)
    fitted = []
    for ub in untrained:
        probe = make_probe(ub)
        head = readouts.fit_readout(profile, probe, block, layers=layers, progress=progress)
        fitted.append(FittedControl(head, probe, recognition.recognize(head, probe, block, profile)))
    return Controls(fitted, paired=not bb.is_checkpoint, descriptions=[ub.source for ub in untrained])
