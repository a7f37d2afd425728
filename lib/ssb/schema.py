"""The schema of ``figures/<name>/summary.json``: every section's keys, defined once.

One frozen dataclass per section; its fields are the section's keys and every field carries a
description (``Record.doc``: what it is, its units, when it is null).  The notebooks write
through these classes (``results.update_summary(P, "finetune", schema.Finetune(...))``, or a
builder such as ``NodesPretrain.from_recognition_summary`` where a computed object is turned into a
section), ``ssb.claims`` and ``ssb.report`` read keys through ``Section.path``, and the tests
derive the expected keys from ``SECTIONS``.

summary.json, top level:

- the notebook sections, in pipeline order (``NOTEBOOK_SECTIONS``): ``pretrain`` and ``ssb``
  (01), ``apt`` (02), ``nodes_pretrain`` (03), ``finetune`` (04), ``nodes_finetune`` (05),
  ``crossover`` (06), ``hull`` (07);
- ``inputs``, written by ``session.start`` (``Inputs``);
- ``claims`` and ``claims_stats``, written by the runner after the notebooks (``RUNNER_KEYS``);
- ``profile`` and ``overrides``, written with every section (``RUN_KEYS``).

``results.update_summary`` adds ``written_by`` (``results.STAMP_KEY``) to every section.

Conventions: accuracies and fractions are in [0, 1]; a value that could not be computed (NaN,
inf, a missing control) is null; per-block lists run over blocks 1..L in order; ``stats``
holds the section's gate and check records (``ssb.stats``: ``{"gates", "checks", "nulls"}``).

Renamed keys (``RENAMED_KEYS``): ``layer`` and ``block`` named the same thing; the keys say
``block`` now.  Summaries written before the rename (the committed ``figures/quick`` and
``figures/standard``) are read with their old keys renamed (``with_current_keys``, applied by
``results.load_summary`` and the claims rules) for one release.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, ClassVar, Mapping

_DOC = "doc"


def described(doc: str) -> Any:
    """A dataclass field that is a summary key described by ``doc`` (required, no default)."""
    return dataclasses.field(metadata={_DOC: doc})


@dataclass(frozen=True)
class Record:
    """A JSON object of summary.json with a fixed set of keys (its dataclass fields)."""

    @classmethod
    def keys(cls) -> tuple[str, ...]:
        """The keys, in definition order."""
        return tuple(f.name for f in dataclasses.fields(cls))

    @classmethod
    def doc(cls, key: str) -> str:
        """The description of ``key``."""
        for f in dataclasses.fields(cls):
            if f.name == key:
                return f.metadata[_DOC]
        raise KeyError(f"{cls.__name__} has no key {key!r}; its keys: {', '.join(cls.keys())}")

    def as_dict(self) -> dict[str, Any]:
        """{key: value}, nested records as dicts (values are not copied)."""
        return {key: (value.as_dict() if hasattr(value, "as_dict") else value)     # records, ClaimStats
                for key, value in ((k, getattr(self, k)) for k in self.keys())}


@dataclass(frozen=True)
class Section(Record):
    """A top-level section of summary.json, named ``section``."""

    section: ClassVar[str]

    @classmethod
    def path(cls, key: str, *deeper: str) -> str:
        """The dotted path of ``key`` (and keys below it), e.g. ``Finetune.path("stats", "gates")``
        -> ``"finetune.stats.gates"``; a key the section does not define raises KeyError."""
        cls.doc(key)
        return ".".join((cls.section, key, *deeper))


# ----------------------------------------------------------------------------- 01 pre-training


@dataclass(frozen=True)
class Pretrain(Section):
    """01_pretrain: the main MLM run and the backbone gate of every variant."""

    section: ClassVar[str] = "pretrain"
    steps: int = described("optimizer steps of the main run")
    tokens_seen: int = described("token positions the main run trained on: steps x batch size x sequence length")
    mlm_accuracy: float = described("held-out masked-token accuracy of the main run")
    baseline_accuracy: float = described("accuracy of always predicting the most frequent training token, "
                                         "on the same held-out positions")
    tokens_per_second: float = described("training throughput of the main run (wall clock; "
                                         "differs between runs, results.TIMING_KEYS)")
    gate: dict = described("the main run's backbone gate record (ssb.stats.gate): mlm_accuracy above "
                           "baseline_accuracy, exact paired McNemar test")
    variants: dict = described("{variant: {mlm_accuracy, baseline_accuracy, steps, gate}} for main and the C3 "
                               "variants (symmetric, symmetric_eps, symmetric_eps_<eps> of the eps grid, "
                               "symmetric_dropout, node_symmetric[, stochastic]) and the seed replicates main_seed<s> "
                               "(backbone_seeds)")

    @classmethod
    def from_stats(cls, run_stats: Mapping[str, Any], variants: dict) -> "Pretrain":
        """The section from the main run's statistics (``backbones.pretrain_stats``: a dict holding
        every key above but ``variants``) and the variants' records."""
        return cls(**{k: run_stats[k] for k in cls.keys() if k != "variants"}, variants=variants)


@dataclass(frozen=True)
class Ssb(Section):
    """01_pretrain: the head gap g of the symmetric-initialisation variants (C3)."""

    section: ClassVar[str] = "ssb"
    gap_final: dict = described("{variant: head gap g after training}; 'random' is the main run (unitless, "
                                "0 = identical heads)")
    node_gap_final: float | None = described("node-level gap of the node_symmetric variant after training; "
                                             "null without that variant")
    eps: float = described("size of the perturbation epsilon of the symmetric_eps variant (the core eps, "
                           "ssb_eps; the grid's other eps are in the checks eps_amplified_<eps>)")
    steps: int = described("optimizer steps of each C3 variant")
    stats: dict = described("gates {variant: backbone gate} (symmetric_eps_<eps>: the other eps of the grid "
                            "ssb_eps_grid), checks eps_amplified (core: growth rate of the dense g(t) of the run with "
                            "eps, Student t over 8 consecutive stretches, per step), eps_amplified_<eps> (the same for "
                            "every other eps of the grid), eps_diverges (mean held-out TV distance of the eps model's "
                            "predictions from the symmetric model's minus that of the same perturbation unamplified, "
                            "sequences resampled), symmetric_exact and node_symmetric_exact (sanity: exact by "
                            "construction; a check whose variant did not run is left out), nulls")


# ----------------------------------------------------------------------------- 02 APT


@dataclass(frozen=True)
class Apt(Section):
    """02_token_apt: accuracy per token (APT) of a token readout on every block (C6)."""

    section: ClassVar[str] = "apt"
    mean_by_block: list = described("<APT> per block: mean APT over the tokens with at least min_count "
                                    "held-out occurrences; null where no token qualifies")
    mean_by_block_ci: list = described("[lo, hi] per block: 95 % bootstrap interval (over tokens) of mean_by_block")
    accuracy_by_block: list = described("token-readout accuracy per block on the held-out masked positions")
    spearman_freq: float | None = described("Spearman rho of APT against training frequency at `block`")
    block: int = described("the block l analysed (1..L)")
    tokens_averaged: int = described("number of tokens in the average at `block`")
    stats: dict = described("gates probe_block_<l> per block, checks frequency and grows_along_blocks, nulls")


# ----------------------------------------------------------------------------- 03 / 05 single nodes

# The per-node summary of a recognition analysis (``recognition.summarize``), as the node sections name it:
# {section key with "{what}" for tokens/labels: key of the per-node summary}.
_RECOGNITION_KEYS = {
    "median_{what}_recognized_node": "median_recognized_node",
    "median_{what}_recognized_head": "median_recognized_head",
    "median_{what}_predicted_node": "median_predicted_node",
    "{what}_recognized_full": "recognized_full",
    "mean_jaccard_nodes": "mean_jaccard_nodes",
    "mean_diagonal_confidence_node": "mean_diagonal_confidence_node",
    "median_{what}_recognized_node_chance_rule": "median_recognized_node_chance_rule",
    "median_{what}_recognized_head_chance_rule": "median_recognized_head_chance_rule",
    "{what}_recognized_full_chance_rule": "recognized_full_chance_rule",
}


def _from_recognition(cls, what: str, summary: Mapping[str, Any], rest: dict) -> Section:
    return cls(**{key.format(what=what): summary[source] for key, source in _RECOGNITION_KEYS.items()}, **rest)


_UNTRAINED = ("the same per-node summary (median_recognized_node, head_jaccard, accuracy_full, silent_accuracy, ...) "
              "of the untrained backbone (same architecture and seed, 0 steps)")
_ALONG = ("{block, median_recognized_node, mean_recognized_node, fraction_recognizing (nodes with |R| > 0), mean_dc_node, node_jaccard, fraction_beyond_null[_lo, _hi], "
          "recognized_full, accuracy_full, probe_gate}: one list entry per block")
_NODE_STATS = ("gates probe, probe_untrained (the readout beyond the untrained backbone's), backbone (the checkpoint's "
               "backbone gate), probe_random, probe_symmetric_eps, probe_symmetric_dropout; checks beyond_untrained (core), "
               "beyond_permutation_null, each_node, heads_beyond_null, node_specific (swap-randomised null), "
               "small_sets (context), eps_heads_differ, dropout_heads_differ (context), tied_heads_identical (sanity); nulls; seeds (probe-seed "
               "replicates). Roles and rules: ssb.claims")


@dataclass(frozen=True)
class NodesPretrain(Section):
    """03_nodes_pretrain: single nodes and heads of `block` through the aperture, token readout (C1, C3)."""

    section: ClassVar[str] = "nodes_pretrain"
    median_tokens_recognized_node: float = described("median over single nodes of |R|, the tokens a node recognises "
                                                     "(base-rate rule, docs/method.md)")
    median_tokens_recognized_head: float = described("median over heads of |R| of a single head")
    median_tokens_predicted_node: float = described("median over single nodes of |P|, the tokens a node predicts")
    tokens_recognized_full: int = described("|R| of all nodes of the block together")
    mean_jaccard_nodes: float | None = described("mean pairwise Jaccard of the single nodes' recognised sets "
                                                 "(nodes recognising at least one token)")
    mean_diagonal_confidence_node: float | None = described("mean diagonal confidence of a node's predicted tokens")
    median_tokens_recognized_node_chance_rule: float = described("median_tokens_recognized_node under the earlier "
                                                                 "DC > 1/C rule (comparison only)")
    median_tokens_recognized_head_chance_rule: float = described("median_tokens_recognized_head under the "
                                                                 "DC > 1/C rule")
    tokens_recognized_full_chance_rule: int = described("tokens_recognized_full under the DC > 1/C rule")
    random_head_jaccard: float | None = described("mean pairwise Jaccard of the heads' recognised sets, random "
                                                  "initialisation (C3's order parameter)")
    symmetric_head_jaccard: float | None = described("the same for the symmetric variant (1.0: identical heads)")
    vocab_size: int = described("number of output tokens C of the token readout")
    block: int = described("the block l analysed (1..L)")
    untrained: dict = described(_UNTRAINED)
    along_blocks: dict = described(_ALONG)
    stats: dict = described(_NODE_STATS)

    @classmethod
    def from_recognition_summary(cls, summary: Mapping[str, Any], **rest) -> "NodesPretrain":
        """The section from the per-node summary of the trained backbone (``recognition.summarize``) and
        the remaining keys by name."""
        return _from_recognition(cls, "tokens", summary, rest)


@dataclass(frozen=True)
class NodesFinetune(Section):
    """05_nodes_finetune: single nodes and heads of `block`, FewRel label readout (C2, C3)."""

    section: ClassVar[str] = "nodes_finetune"
    median_labels_recognized_node: float = described("median over single nodes of |R|, the relation labels a node "
                                                     "recognises (base-rate rule)")
    median_labels_recognized_head: float = described("median over heads of |R| of a single head")
    median_labels_predicted_node: float = described("median over single nodes of |P|, the labels a node predicts")
    labels_recognized_full: int = described("|R| of all nodes of the block together")
    mean_jaccard_nodes: float | None = described("mean pairwise Jaccard of the single nodes' recognised label sets")
    mean_diagonal_confidence_node: float | None = described("mean diagonal confidence of a node's predicted labels "
                                                            "(chance: 1 / n_labels)")
    median_labels_recognized_node_chance_rule: float = described("median_labels_recognized_node under the earlier "
                                                                 "DC > 1/C rule (comparison only)")
    median_labels_recognized_head_chance_rule: float = described("median_labels_recognized_head under the "
                                                                 "DC > 1/C rule")
    labels_recognized_full_chance_rule: int = described("labels_recognized_full under the DC > 1/C rule")
    random_head_jaccard: float | None = described("mean pairwise head Jaccard, random initialisation; null when the "
                                                  "backbone is not ours (no symmetric control)")
    symmetric_head_jaccard: float | None = described("the same for the symmetric variant; null when the backbone "
                                                     "is not ours")
    stochastic_head_jaccard: float | None = described("the same for the stochastic variant; null unless it ran")
    n_labels: int = described("number of relation labels C")
    block: int = described("the block l analysed")
    untrained: dict | None = described(_UNTRAINED + "; null when the backbone is not ours")
    along_blocks: dict = described(_ALONG)
    stats: dict = described(_NODE_STATS)

    @classmethod
    def from_recognition_summary(cls, summary: Mapping[str, Any], **rest) -> "NodesFinetune":
        """As ``NodesPretrain.from_recognition_summary``, for labels."""
        return _from_recognition(cls, "labels", summary, rest)


# ----------------------------------------------------------------------------- 04 fine-tuning


@dataclass(frozen=True)
class Finetune(Section):
    """04_finetune: FewRel relation classification from every block's node vectors (C2)."""

    section: ClassVar[str] = "finetune"
    n_labels: int = described("number of relation labels C")
    pooling: str = described("sentence pooling of the label readout: 'cls' or 'mean'")
    block: int = described("the block l analysed")
    accuracy_by_block: list = described("test accuracy of the label readout per block, with `pooling`")
    accuracy_by_block_other_pooling: list = described("the same with the other pooling")
    accuracy_full_finetune: float = described("test accuracy of full fine-tuning (reference)")
    checkpoint: str = described("'ours' (the backbone of 01) or the path of the checkpoint used")
    fewrel_file: str = described("the FewRel file as the profile names it")
    stats: dict = described("gates: {probe: the label readout at `block` above the constant predictor}")


# ----------------------------------------------------------------------------- 06 crossover

# The crossover curve's columns (one value per set size n) that the summary keeps.
_CURVE_KEYS = ("n", "accuracy_mean", "accuracy_std", "predicted_mean", "recognized_mean", "union_individual_mean",
               "kappa_R_mean", "gain_mean", "sum_individual_gain_mean")
_TOKEN_CURVE_KEYS = ("n", "accuracy_mean", "recognized_mean", "union_individual_mean")
_BANDS = ("{set family: {n, accuracy, lo, hi}}: mean accuracy A(n) per set size with its 95 % paired-bootstrap band; "
          "families 'across the block', 'inside one head', 'grown inside each head'")


def accuracy_bands(bands: Mapping[str, Any]) -> dict:
    """The ``bands`` entry from {set family: table with columns n, accuracy, accuracy_lo, accuracy_hi}."""
    return {name: {"n": b["n"].tolist(), "accuracy": b["accuracy"].tolist(), "lo": b["accuracy_lo"].tolist(),
                   "hi": b["accuracy_hi"].tolist()} for name, b in bands.items()}


def _curve(curve, keys: tuple[str, ...]) -> dict:
    return {k: curve[k].tolist() for k in keys}


@dataclass(frozen=True)
class CrossoverTokens(Record):
    """crossover.tokens: the same experiment on the token readout (reported beside C4, not in its verdict)."""

    n: list = described("set sizes n (grid over 1..all nodes)")
    accuracy_mean: list = described("mean token accuracy A(n) over the random sets of each size")
    recognized_mean: list = described("mean |R| of a set, per n")
    union_individual_mean: list = described("mean size of the union of the set's nodes' individual R, per n")
    silent_accuracy: float = described("accuracy A(empty set) of the silenced readout")
    has_dip: bool = described("A(n) across the block has a dip: its cross-fitted dip depth (crossover.dip_check) "
                               "is above 0 at 95 %")
    n_min: int | None = described("where the interior minimum is; null without a dip")
    bands: dict = described(_BANDS)
    stats: dict = described("as crossover.stats, for tokens")

    @classmethod
    def from_curve(cls, curve, *, bands: Mapping[str, Any], **rest) -> "CrossoverTokens":
        """From the across-the-block curve (a table with columns n, accuracy_mean, ...) and the
        band tables (``accuracy_bands``)."""
        return cls(**_curve(curve, _TOKEN_CURVE_KEYS), bands=accuracy_bands(bands), **rest)


@dataclass(frozen=True)
class Crossover(Section):
    """06_crossover: random node sets of every size n through the aperture, label readout (C4)."""

    section: ClassVar[str] = "crossover"
    n: list = described("set sizes n (log grid over 1..all nodes of the block)")
    accuracy_mean: list = described("mean label accuracy A(n) over the random sets of each size")
    accuracy_std: list = described("standard deviation of A over those sets")
    predicted_mean: list = described("mean |P|, the labels a set predicts, per n")
    recognized_mean: list = described("mean |R|, the labels a set recognises, per n")
    union_individual_mean: list = described("mean size of the union of the set's nodes' individual R, per n")
    kappa_R_mean: list = described("mean over the sets of kappa_R = |R(S)| / |union of its nodes' R|, per n "
                                   "(sets with an empty union left out)")
    gain_mean: list = described("mean gain A(S) - A(empty set), per n")
    sum_individual_gain_mean: list = described("mean sum of the set's nodes' individual gains, per n")
    silent_accuracy: float = described("accuracy A(empty set) of the silenced readout")
    has_dip: bool = described("A(n) across the block has a dip: its cross-fitted dip depth (crossover.dip_check) "
                               "is above 0 at 95 %")
    n_min: int | None = described("where the interior minimum is; null without a dip")
    kappa_A_undefined_sets: int = described("sets whose summed individual gain is <= 0 (kappa_A undefined)")
    inside_head: dict = described("{n, accuracy_mean}: the curve of sets drawn inside one head")
    bands: dict = described(_BANDS)
    stats: dict = described("gates probe, backbone; checks cooperation_beyond_untrained (core), "
                            "cooperation_beyond_voters, kappa_R_beyond_untrained, dip_depth_across_beyond_untrained, "
                            "dip_depth_in_head_beyond_untrained, kappa_R_beyond_shuffled, dip_depth_*_beyond_shuffled; "
                            "context cooperation_R, cooperation_A, dip_depth_across, dip_depth_in_head; nulls (incl. "
                            "the untrained backbone's curve)")
    tokens: CrossoverTokens = described("the token experiment (CrossoverTokens)")

    @classmethod
    def from_curves(cls, curve, inside_head, *, bands: Mapping[str, Any], **rest) -> "Crossover":
        """From the across-the-block curve and the inside-one-head curve (tables with columns n,
        accuracy_mean, ...), the band tables and the remaining keys by name."""
        return cls(**_curve(curve, _CURVE_KEYS), inside_head=_curve(inside_head, ("n", "accuracy_mean")),
                   bands=accuracy_bands(bands), **rest)


# ----------------------------------------------------------------------------- 07 convex hull


@dataclass(frozen=True)
class Hull(Section):
    """07_convex_hull: the convex-hull bound of what a linear readout can output (C5)."""

    section: ClassVar[str] = "hull"
    single_node_bound_median: float = described("median over single nodes of the bound U (labels reachable for "
                                                "any input value)")
    single_node_bound_observed_median: float = described("median of the bound for inputs in the observed box")
    single_node_predicted_median: float = described("median |P| of a single node")
    single_node_realized_median: float = described("median |R| of a single node")
    efficiency_by_n: dict = described("{n as a string: efficiency eta = |R| / U of a set, averaged over the "
                                      "sets of size n}")
    bound_by_n: dict = described("{n as a string: mean bound U}")
    efficiency_ci_by_n: dict = described("{n as a string: [lo, hi] 95 % bootstrap interval of eta}")
    violations: int = described("sets predicting a label outside their observed-box bound (a bug unless 0)")
    sets_checked: int = described("node sets whose bound was computed")
    convex_hull_crosscheck: dict = described("{agree, checked}: LP bound against scipy's ConvexHull for |S| = 2, 3")
    n_labels: int = described("number of relation labels C")
    stats: dict = described("gates probe, backbone; checks reach_beyond_untrained (core), reach_beyond_random, "
                            "efficiency_falls_beyond_random; sanity no_violations; context gap_grows, "
                            "efficiency_falls; nulls")


# ----------------------------------------------------------------------------- written outside the notebooks


@dataclass(frozen=True)
class Inputs(Section):
    """session.start: the inputs of the run, as absolute paths."""

    section: ClassVar[str] = "inputs"
    data_dir: str = described("the data directory used")
    checkpoint: str | None = described("the checkpoint passed to notebooks 04-07; null for our own backbone")
    fewrel_file: str | None = described("the FewRel file used")


NOTEBOOK_SECTIONS: dict[str, type[Section]] = {cls.section: cls for cls in (
    Pretrain, Ssb, Apt, NodesPretrain, Finetune, NodesFinetune, Crossover, Hull)}
SECTIONS: dict[str, type[Section]] = {**NOTEBOOK_SECTIONS, Inputs.section: Inputs}
# Keys that are not sections of this schema: {key: description}.
RUN_KEYS = {"profile": "the base profile's name", "overrides": "{field: value} the run changed from the profile"}
RUNNER_KEYS = {"claims": "{C1..C6: verdict} (ssb.claims)",
               "claims_stats": "{C1..C6: {verdict, reason, core, gates, checks (each with its role), evidence, sanity, "
                               "context, errors}}: the records behind each verdict (ssb.claims)"}
TOP_LEVEL_KEYS = frozenset(SECTIONS) | frozenset(RUN_KEYS) | frozenset(RUNNER_KEYS)

# ----------------------------------------------------------------------------- renamed keys

# {section: {old key: new key}}: read for one release, so that summaries written before the
# rename (figures/quick and figures/standard as committed) still load with the current keys.
RENAMED_KEYS: dict[str, dict[str, str]] = {
    Apt.section: {"mean_by_layer": "mean_by_block", "mean_by_layer_ci": "mean_by_block_ci",
                  "accuracy_by_layer": "accuracy_by_block"},
    Finetune.section: {"accuracy_by_layer": "accuracy_by_block",
                       "accuracy_by_layer_other_pooling": "accuracy_by_block_other_pooling"},
}


def with_current_keys(summary: Mapping[str, Any]) -> dict:
    """A copy of ``summary`` in which the keys of RENAMED_KEYS have their current names (a
    current key present already wins over its old name)."""
    out = dict(summary)
    for section, renamed in RENAMED_KEYS.items():
        values = out.get(section)
        if not isinstance(values, dict) or not any(old in values for old in renamed):
            continue
        values = dict(values)
        for old, new in renamed.items():
            if old in values:
                value = values.pop(old)
                values.setdefault(new, value)
        out[section] = values
    return out
