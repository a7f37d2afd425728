"""The steps notebooks 03 (tokens, C1) and 05 (relation labels, C2) share, one call each.

    nulls = recognition_study.null_checks(P, res, probe, untrained, what="tokens", n_seeds=3, n_permutations=200)
    sym = recognition_study.symmetry_study(P, bb, lambda v: probes.variant_token_probe(P, v, corpus, [P.block]))
    section = recognition_study.nodes_section(P, "tokens", recognition.summarize(res), res_u, nulls, sym, along, C)

``null_checks``: the claim's records against the permutation null and the untrained
control(s), the spread over probe seeds, and the trained-vs-untrained table.
``symmetry_study``: C3 at the node level -- a readout per pre-training variant and the
symmetry checks (none for a checkpoint: it has no symmetric variants).
``nodes_section``: the finished ``nodes_pretrain`` / ``nodes_finetune`` section of summary.json.
Each notebook keeps its own text, its visible calls, tables and figures.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from . import recognition, schema, stats


@dataclass
class NullChecks:
    """What ``null_checks`` returns: the claim's records, the permutation null of every single
    node ((P, nodes) |R| counts), the headline numbers per probe seed, and one row per backbone
    (trained, then each untrained control) with its fraction of nodes beyond the null."""
    stats: stats.ClaimStats
    null: np.ndarray
    seeds: pd.DataFrame
    side: pd.DataFrame


def null_checks(profile, res: recognition.RecognitionResult, probe, untrained, *, what: str, n_seeds: int,
                n_permutations: int, backbone_gate: dict | None = None) -> NullChecks:
    """The records of C1 (``what="tokens"``) or C2 (``"labels"``) for ``res`` at ``profile.block``:
    ``recognition.claim_stats`` against ``untrained`` (``controls.fit``) and ``n_permutations``
    label permutations, merged with the spread over ``n_seeds`` probe seeds; ``backbone_gate``:
    the backbone's own gate when the claim reads it (C2).  ``res`` is the readout of
    ``readouts.fit_readout(profile, probe)`` recognised: it is the probe seeds' first row."""
    gate = {} if backbone_gate is None else {"backbone_gate": backbone_gate}
    st, null = recognition.claim_stats(res, **untrained.for_recognition(), n_permutations=n_permutations,
                                       seed=profile.seed, what=what, **gate)
    seeds = recognition.seed_replicates(profile, probe, profile.block, n_seeds, n_permutations, first=res)
    st = st.merged(seeds=recognition.across_seeds(seeds))
    side = recognition.control_table({"trained": res, **dict(zip(untrained.names(), untrained.results))})
    untrained_null = st.nulls["untrained"]
    side["fraction_beyond_null"] = [st.checks["beyond_permutation_null"]["value"],
                                    *untrained_null.get("fraction_beyond_null_by_control",
                                                        [untrained_null["fraction_beyond_null"]])]
    return NullChecks(st, null, seeds, side)


@dataclass
class SymmetryStudy:
    """C3 at the node level (``symmetry_study``): the recognition result of each pre-training
    variant, their table and checks; empty, with the reason in ``skipped``, for a checkpoint."""
    control: dict = field(default_factory=dict)          # variant -> RecognitionResult
    table: pd.DataFrame | None = None
    checks: stats.ClaimStats | None = None
    skipped: str = ""

    def head_jaccard(self, variant: str) -> float | None:
        """The variant's mean pairwise head Jaccard; None when it did not run."""
        return recognition.head_jaccard(self.control[variant]) if variant in self.control else None

    def jaccard_matrices(self) -> dict[str, np.ndarray]:
        """Each variant's (heads, heads) Jaccard matrix of recognised sets, for the figure."""
        return {v: recognition.head_jaccard_matrix(r) for v, r in self.control.items()}


CHECKPOINT_SKIPPED = ("symmetric controls skipped: a checkpoint has no symmetric variants (they would need its own "
                      "pre-training from symmetric initial weights), so C3 is not testable on it")


def symmetry_study(profile, bb, probe_for, *, stochastic: bool = False) -> SymmetryStudy:
    """``recognition.symmetry_control`` of the random, symmetric, symmetric + eps and symmetric +
    dropout variants (and the stochastic one when ``stochastic``), read through ``probe_for(variant)``, with its
    table and ``recognition.symmetry_checks``.  ``bb`` a checkpoint: nothing runs."""
    if bb.is_checkpoint:
        return SymmetryStudy(skipped=CHECKPOINT_SKIPPED)
    variants = ["random", "symmetric", "symmetric_eps", "symmetric_dropout"] + (["stochastic"] if stochastic else [])
    control = recognition.symmetry_control(profile, probe_for, variants)
    return SymmetryStudy(control, recognition.control_table(control),
                         recognition.symmetry_checks(control, seed=profile.seed))


def nodes_section(profile, what: str, summary: dict, untrained_result, nulls: NullChecks,
                  symmetry: SymmetryStudy, along: pd.DataFrame, n_classes: int,
                  replication=None) -> schema.Section:
    """The finished section of summary.json: ``nodes_pretrain`` (``what="tokens"``, C1) or
    ``nodes_finetune`` (``"labels"``, C2), from the trained backbone's ``recognition.summarize``
    (the notebook has it already), the untrained control's result, the claim's records and the
    symmetry checks; ``replication``: ``seed_replication.replicate``'s result, when it ran."""
    if what not in ("tokens", "labels"):
        raise ValueError(f"what must be 'tokens' or 'labels', got {what!r}")
    st = nulls.stats.merged(symmetry.checks)
    if replication is not None and replication.stats is not None:
        st = st.merged(replication.stats)
    common = dict(random_head_jaccard=symmetry.head_jaccard("random"),
                  symmetric_head_jaccard=symmetry.head_jaccard("symmetric"), block=profile.block,
                  untrained=recognition.summarize(untrained_result), along_blocks=along.to_dict(orient="list"),
                  stats=st)
    if what == "tokens":
        return schema.NodesPretrain.from_recognition_summary(summary, vocab_size=n_classes, **common)
    return schema.NodesFinetune.from_recognition_summary(
        summary, stochastic_head_jaccard=symmetry.head_jaccard("stochastic"), n_labels=n_classes, **common)
