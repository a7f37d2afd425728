"""C2's headline numbers replicated over pre-training seeds: an interval over backbones.

Every other interval of the claims resamples nodes, sets or items of *one* pre-trained backbone.
Here the whole chain is repeated per pre-training seed s (``profile.backbone_seeds``: the main
run and its replicates main_seed<s>, ``backbones.seed_variants``): pre-training with seed s, the
probe's readout trained with seed s, single-node recognition and its permutation null, and the
same on seed s's own untrained initialisation (0 steps) read through the same items.

    rep = seed_replication.replicate(P, probe_for, data_dir, n_permutations=200, checkpoint=bb.is_checkpoint)
    rep.table     # one row per (seed, backbone "trained" | "untrained"): recognition.headline_numbers
    rep.stats     # ClaimStats: the context check beyond_untrained_across_seeds and the across-seed summary

``beyond_untrained_across_seeds`` is *context* for C2 (it never moves the verdict): the mean over
seeds of (fraction of nodes beyond the permutation null, trained minus untrained), with a Student t
interval over the seeds.  Its role was fixed before any value was seen; the calibration study does
not cover it, so it is shown beside the evidence rather than counted (docs/method.md, "C2").
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, NamedTuple

import pandas as pd

from . import backbones, readouts, recognition, stats

CHECK = "beyond_untrained_across_seeds"


class MainSeed(NamedTuple):
    """What the caller already has of the main pre-training seed: its backbone and the
    recognition results of its readout (``trained``) and of its untrained control's readout."""
    backbone: Any
    trained: Any
    untrained: Any


@dataclass
class SeedReplication:
    """What ``replicate`` returns; ``table`` None (with the reason in ``skipped``) when nothing ran."""
    table: pd.DataFrame | None = None
    stats: stats.ClaimStats | None = None
    skipped: str = ""

    def differences(self) -> pd.DataFrame | None:
        """Per seed: the fraction of nodes beyond the null, trained, untrained and their difference."""
        return None if self.table is None else seed_differences(self.table)


def seed_differences(table: pd.DataFrame) -> pd.DataFrame:
    """One row per seed of a ``replicate`` table: fraction beyond the null of the trained and the
    untrained backbone, and trained minus untrained."""
    wide = table.pivot(index="seed", columns="backbone", values="fraction_beyond_null")
    out = pd.DataFrame({"trained": wide["trained"], "untrained": wide["untrained"]})
    out["difference"] = out["trained"] - out["untrained"]
    return out.reset_index()


def _difference_summary(table: pd.DataFrame) -> dict:
    """``recognition.across_seeds`` of trained minus untrained: mean, range, t interval, values."""
    diffs = seed_differences(table).rename(columns={"difference": "beyond_untrained"})
    return recognition.across_seeds(diffs, columns=("beyond_untrained",))["beyond_untrained"]


def across_seed_check(table: pd.DataFrame, summary: dict | None = None) -> dict:
    """The context record ``beyond_untrained_across_seeds`` of a ``replicate`` table: the mean
    over seeds of trained minus untrained, 95 % Student t interval over seeds
    (``recognition.across_seeds``; no interval from one seed).  ``summary``: that table's
    ``_difference_summary`` when the caller has it already."""
    d = _difference_summary(table) if summary is None else summary
    values = d.get("values", [])
    return stats.check("beyond the untrained backbone, across pre-training seeds",
                       f"fraction of single nodes beyond the permutation null, trained minus the same seed's "
                       f"untrained initialisation; mean over {len(values)} pre-training seeds, Student t interval over seeds",
                       d["mean"], d["ci"], 0.0, "greater", seeds=[int(s) for s in table["seed"].unique()],
                       values=values)


def replicate(profile, probe_for: Callable, data_dir=None, *, n_permutations: int = recognition.N_PERMUTATIONS,
              checkpoint: bool = False, progress: bool = True, main: MainSeed | None = None) -> SeedReplication:
    """C2's single-node headline numbers (``recognition.headline_numbers``) on every pre-training
    seed of the profile and on each seed's untrained initialisation (``backbones.untrained_backbone``
    with that seed: the profile's corpus and tokenizer, as the seed's run reads them), each read through
    ``probe_for(backbone)`` (the same items) with a readout of that seed at ``profile.block``.

    ``main``: ``MainSeed(backbone, trained result, untrained result)`` of the main run when the caller has
    them -- ``backbones.backbone(profile, "main")``, the recognition of
    ``readouts.fit_readout(profile, probe_for(backbone))`` at ``profile.block`` and that of its
    untrained control (``controls.fit``), as notebook 05 does; the main seed's rows are then
    read from them instead of evaluating the same readouts again.

    Nothing runs for a checkpoint (it has one set of weights and no seeds of ours) or when the
    profile trains one seed (``backbone_seeds`` 1); ``skipped`` says which."""
    if checkpoint:
        return SeedReplication(skipped="pre-training seeds: not applicable to a checkpoint (one set of weights "
                                       "trained elsewhere)")
    if profile.backbone_seeds < 2:
        return SeedReplication(skipped=f"pre-training seeds: profile {profile.name!r} trains one seed "
                                       "(-p backbone_seeds 3 trains two more main runs)")
    main = None if main is None else MainSeed(*main)          # a plain 3-tuple reads the same
    rows = []
    variants = ["main", *backbones.seed_variants(profile)]
    for variant in variants:
        seed = backbones.variant_seed(profile, variant)
        p = profile.replace(seed=seed)
        known = main is not None and variant == "main"
        trained = main.backbone if known else backbones.backbone(profile, variant, data_dir, progress=progress)
        for kind in ("trained", "untrained"):
            if progress:
                print(f"pre-training seed {seed}: {kind} backbone", flush=True)
            if known:
                res = main.trained if kind == "trained" else main.untrained
            else:
                bb = trained if kind == "trained" else backbones.untrained_backbone(profile, data_dir, seed=seed)
                probe = probe_for(bb)
                res = recognition.recognize(readouts.fit_readout(p, probe, p.block), probe, p.block, p)
            gate = trained.gate if kind == "trained" else None
            rows.append({"seed": seed, "backbone": kind, "variant": variant if kind == "trained" else "untrained",
                         "backbone_gate_passed": None if gate is None else gate.get("passed"),
                         **recognition.headline_numbers(res, n_permutations, seed)})
    table = pd.DataFrame(rows)
    trained_rows = table[table["backbone"] == "trained"]
    differences = _difference_summary(table)
    across = {**recognition.across_seeds(trained_rows), "beyond_untrained": differences}
    return SeedReplication(table, stats.ClaimStats(checks={CHECK: across_seed_check(table, differences)},
                                                   nulls={"backbone_seeds": across}))
