"""Hand-made summaries in the verdict schema, shared by the claims, report and fidelity tests, and
the check that a written summary has exactly the keys of ``ssb.schema`` (``assert_schema_keys``).

Their sections hold only some keys of each section, every one of them a key of ``ssb.schema``."""
from __future__ import annotations

import copy

from ssb import schema, stats
from ssb.results import STAMP_KEY


def part(cls: type[schema.Section], **values) -> tuple[str, dict]:
    """(section name, some of its keys) of the section ``cls``, the keys checked against the schema."""
    unknown = set(values) - set(cls.keys())
    assert not unknown, f"{cls.section} has no keys {sorted(unknown)}"
    return cls.section, values


def gate(value=0.3, null=0.1, p=1e-6):
    return stats.gate("g", "accuracy minus the constant predictor's", value, null, p, stats.GATE_ALPHA)


def check(name, value, ci, null, direction):
    return stats.check(name, f"statistic of {name}", value, ci, null, direction)


def node_stats():
    return {"gates": {"probe": gate(), "probe_untrained": gate(0.3, 0.2, 1e-5)},
            "checks": {"beyond_permutation_null": check("beyond_permutation_null", 0.6, [0.55, 0.7], 0.05, "greater"),
                       "each_node": check("each_node", 0.6, [0.55, 0.7], 0.5, "greater"),
                       "heads_beyond_null": check("heads_beyond_null", 0.75, [0.45, 0.9], 0.05, "greater"),
                       "node_specific": check("node_specific", -0.12, [-0.2, -0.05], 0.0, "less"),
                       "small_sets": check("small_sets", 0.03, [0.02, 0.04], 0.5, "less"),
                       "beyond_untrained": check("beyond_untrained", 0.35, [0.2, 0.45], 0.0, "greater")},
            "nulls": {"untrained": {"fraction_beyond_null": 0.05}}}


def holding_summary() -> dict:
    """A summary in which every claim holds: every gate passed, every evidence interval excludes
    its null on the claimed side, every sanity check holds."""
    variants = {v: {"gate": gate(), "mlm_accuracy": 0.2, "baseline_accuracy": 0.05, "steps": 100}
                for v in ("main", "symmetric", "symmetric_eps", "symmetric_dropout", "node_symmetric",
                          "symmetric_eps_1e-06", "symmetric_eps_1e-02")}
    np_stats, nf_stats = node_stats(), node_stats()
    for s in (np_stats, nf_stats):
        s["gates"].update(probe_random=gate(), probe_symmetric_eps=gate())
        s["checks"]["eps_heads_differ"] = check("eps_heads_differ", -0.4, [-0.5, -0.3], 0.0, "less")
        s["checks"]["tied_heads_identical"] = check("tied_heads_identical", 1.0, None, 1.0, "equal")
    sections = [
        part(schema.Pretrain, steps=40, variants=variants),
        part(schema.Ssb, gap_final={"random": 1.37, "symmetric": 0.0, "symmetric_eps": 0.0123}, stats={"checks": {
            "symmetric_exact": check("symmetric_exact", 0.0, None, 0.0, "equal"),
            "node_symmetric_exact": check("node_symmetric_exact", 0.0, None, 0.0, "equal"),
            "eps_amplified": check("eps_amplified", 0.05, [0.03, 0.07], 0.0, "greater"),
            "eps_amplified_1e-06": check("eps_amplified_1e-06", 0.06, [0.03, 0.09], 0.0, "greater"),
            "eps_amplified_1e-02": check("eps_amplified_1e-02", 0.02, [0.01, 0.03], 0.0, "greater"),
            "eps_diverges": check("eps_diverges", 0.08, [0.05, 0.11], 0.0, "greater")}}),
        part(schema.NodesPretrain, median_tokens_recognized_node=3.0, median_tokens_recognized_node_chance_rule=7.0,
             stats=np_stats),
        part(schema.Finetune, n_labels=16, checkpoint="ours", stats={"gates": {"probe": gate()}}),
        part(schema.NodesFinetune, median_labels_recognized_node=2.0, stats=nf_stats),
        part(schema.Crossover, stats={"gates": {"probe": gate()}, "checks": {
            "cooperation_beyond_untrained": check("cooperation_beyond_untrained", 0.03, [0.01, 0.05], 0.0, "greater"),
            "cooperation_beyond_voters": check("cooperation_beyond_voters", 0.05, [0.02, 0.08], 0.0, "greater"),
            "kappa_R_beyond_untrained": check("kappa_R_beyond_untrained", 0.2, [0.1, 0.3], 0.0, "greater"),
            "dip_depth_across_beyond_untrained": check("dip_depth_across_beyond_untrained", 0.02, [0.01, 0.03], 0.0, "greater"),
            "dip_depth_in_head_beyond_untrained": check("dip_depth_in_head_beyond_untrained", 0.01, [0.004, 0.02], 0.0, "greater"),
            "kappa_R_beyond_shuffled": check("kappa_R_beyond_shuffled", 0.3, [0.2, 0.4], 0.0, "greater"),
            "dip_depth_across_beyond_shuffled": check("dip_depth_across_beyond_shuffled", 0.02, [0.01, 0.03], 0.0, "greater"),
            "dip_depth_in_head_beyond_shuffled": check("dip_depth_in_head_beyond_shuffled", 0.02, [0.01, 0.03], 0.0, "greater"),
            "cooperation_R": check("cooperation_R", 1.8, [1.4, 2.2], 1.0, "greater"),
            "cooperation_A": check("cooperation_A", 1.3, [1.1, 1.5], 1.0, "greater"),
            "dip_depth_across": check("dip_depth_across", 0.02, [0.01, 0.03], 0.0, "greater"),
            "dip_depth_in_head": check("dip_depth_in_head", 0.01, [0.004, 0.02], 0.0, "greater")}}),
        part(schema.Hull, stats={"gates": {"probe": gate()}, "checks": {
            "reach_beyond_untrained": check("reach_beyond_untrained", 0.1, [0.05, 0.15], 0.0, "greater"),
            "reach_beyond_random": check("reach_beyond_random", 0.3, [0.2, 0.4], 0.0, "greater"),
            "efficiency_falls_beyond_random": check("efficiency_falls_beyond_random", -0.1, [-0.2, -0.05], 0.0, "less"),
            "no_violations": check("no_violations", 0, None, 0, "equal"),
            "gap_grows": check("gap_grows", 2.0, [1.0, 3.0], 0.0, "greater"),
            "efficiency_falls": check("efficiency_falls", -0.1, [-0.2, -0.05], 0.0, "less")}}),
        part(schema.Apt, spearman_freq=0.61, stats={
            "gates": {"probe_block_1": gate(p=0.5), "probe_block_6": gate()},
            "checks": {"frequency": check("frequency", 0.2, [0.1, 0.3], 0.0, "greater"),
                       "grows_along_blocks": check("grows_along_blocks", 0.8, [0.5, 1.0], 0.0, "greater")}}),
    ]
    return {"profile": "smoke", **dict(sections)}


def assert_schema_keys(summary: dict) -> None:
    """Every section of a written ``summary`` has exactly the keys ``ssb.schema`` defines (and its run stamp)."""
    assert set(summary) <= schema.TOP_LEVEL_KEYS, f"keys outside the schema: {set(summary) - schema.TOP_LEVEL_KEYS}"
    for name, cls in schema.SECTIONS.items():
        if name in summary:
            assert set(summary[name]) - {STAMP_KEY} == set(cls.keys()), \
                f"{name}: {set(summary[name]) - {STAMP_KEY} ^ set(cls.keys())} differ from schema.{cls.__name__}"
    if "crossover" in summary:
        assert set(summary["crossover"]["tokens"]) == set(schema.CrossoverTokens.keys())
