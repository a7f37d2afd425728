"""The verdict rules (ssb.claims) on hand-made summaries in the verdict schema (docs/method.md, "Verdicts");
the rows a reader sees of them are tested in test_report.py."""
from __future__ import annotations

import ast
import copy
import json
from pathlib import Path

import pytest

from ssb import claims, results, stats, verdict_text


from summaries import check, gate, holding_summary, node_stats  # noqa: E402  (shared builders)


def verdicts(summary: dict) -> dict[str, str]:
    return claims.claims_summary(summary)["claims"]


def _evidence(names):
    return [n for n, role in names if role in ("evidence", "requirement")]


# every evidence check of every claim: (claim, where its record is, its name)
ALL_CHECKS = [("C1", "nodes_pretrain.stats.checks", n) for n in _evidence(claims.NODE_CHECKS)] + \
             [("C2", "nodes_finetune.stats.checks", n) for n in _evidence(claims.LABEL_NODE_CHECKS)] + \
             [("C3", "ssb.stats.checks", "eps_amplified"), ("C3", "nodes_pretrain.stats.checks", "eps_heads_differ"),
              ("C3", "nodes_finetune.stats.checks", "eps_heads_differ")] + \
             [("C4", "crossover.stats.checks", n) for n in _evidence(claims.CROSSOVER_CHECKS)] + \
             [("C5", "hull.stats.checks", n) for n in _evidence(claims.HULL_CHECKS)] + \
             [("C6", "apt.stats.checks", n) for n in _evidence(claims.APT_CHECKS)]


def at(summary, path):
    for k in path.split("."):
        summary = summary[k]
    return summary


def test_every_claim_holds_on_a_holding_summary():
    rows = verdict_text.claims_table(holding_summary())
    assert [r["claim"] for r in rows] == ["C1", "C2", "C3", "C4", "C5", "C6"]
    assert {r["claim"]: r["verdict"] for r in rows} == {c: "holds" for c in claims.CLAIMS}
    for r in rows:
        assert r["paper"] and r["measured"] and r["gate"] and r["statistic"] and r["interval"] and r["null"]
        assert "passed" in r["gate"] and "FAILED" not in r["gate"]


def test_empty_summary_is_not_measured():
    assert verdicts({}) == {c: "not measured" for c in claims.CLAIMS}
    assert verdicts({"profile": "smoke", "pretrain": {"steps": 3}}) == {c: "not measured" for c in claims.CLAIMS}
    assert claims.claims_summary({})["claims"] == {c: "not measured" for c in claims.CLAIMS}


def test_sections_without_stats_are_not_testable():
    # an old summary: descriptive numbers only, no gates -> nothing may be called "holds"
    old = {"nodes_pretrain": {"median_tokens_recognized_node": 3.0}, "ssb": {"gap_final": {"symmetric": 0.0}},
           "apt": {"spearman_freq": 0.6}, "hull": {"violations": 0}}
    v = verdicts(old)
    assert v["C1"] == v["C3"] == v["C5"] == v["C6"] == "not testable" and v["C2"] == "not measured"


@pytest.mark.parametrize("claim, path, name", ALL_CHECKS)
def test_one_check_not_passed_gives_partly_and_a_holds_needs_its_interval(claim, path, name):
    s = holding_summary()
    c = at(s, path)[name]
    # move the interval onto the null: the point estimate still favours the claim, the interval does not
    lo, hi = c["ci"]
    c.update(stats.check(name, c["statistic"], c["value"], [c["null"], hi] if c["direction"] == "greater"
                         else [lo, c["null"]], c["null"], c["direction"]))
    assert c["passed"] is False
    v = verdicts(s)
    core = name == claims.CORE[claim]
    # without its core check a claim's words are not shown; with it, the others make it "partly"
    assert v[claim] == ("inconclusive" if core else "partly"), (claim, name)
    assert all(v[k] == "holds" for k in claims.CLAIMS if k != claim)
    at(s, path)[name] = {"missing": True}                                # a missing record caps the verdict
    v = verdicts(s)[claim]
    assert v == ("not testable" if core else "partly"), (claim, name)


@pytest.mark.parametrize("claim, path, name", ALL_CHECKS)
def test_an_interval_on_the_wrong_side_gives_does_not_hold(claim, path, name):
    s = holding_summary()
    c = at(s, path)[name]
    lo, hi = c["ci"]
    null, width = c["null"], hi - lo
    wrong = [null - 2 * width, null - width] if c["direction"] == "greater" else [null + width, null + 2 * width]
    at(s, path)[name] = stats.check(name, c["statistic"], sum(wrong) / 2, wrong, null, c["direction"])
    assert verdicts(s)[claim] == "does not hold"


@pytest.mark.parametrize("claim, paths", [
    ("C1", ["nodes_pretrain.stats.gates.probe", "nodes_pretrain.stats.gates.probe_untrained",
            "pretrain.variants.main.gate"]),
    ("C2", ["nodes_finetune.stats.gates.probe", "pretrain.variants.main.gate"]),
    ("C3", ["pretrain.variants.symmetric.gate", "pretrain.variants.symmetric_eps.gate",
            "pretrain.variants.node_symmetric.gate"]),          # the probes gate only their own check (below)
    ("C4", ["crossover.stats.gates.probe"]),
    ("C5", ["hull.stats.gates.probe"]),
    ("C6", ["apt.stats.gates.probe_block_6", "pretrain.variants.main.gate"]),
])
def test_a_failed_or_missing_gate_gives_not_testable(claim, paths):
    for path in paths:
        s = holding_summary()
        parent, key = path.rsplit(".", 1)
        at(s, parent)[key] = gate(value=0.1, null=0.1, p=0.7)           # the model or probe learned nothing
        assert at(s, parent)[key]["passed"] is False
        assert verdicts(s)[claim] == "not testable", path
        del at(s, parent)[key]
        assert verdicts(s)[claim] == "not testable", path
        row = {r["claim"]: r for r in verdict_text.claims_table(s)}[claim]
        assert "missing" in row["gate"] or "FAILED" in row["gate"]     # C6: block 1 is then the deepest


def test_c6_is_gated_by_the_probe_of_the_block_it_measures():
    """A run read at block 3 (the pretrained profile): block 3's probe gates C6, whatever block 6 does."""
    s = holding_summary()
    s["apt"]["block"] = 3
    s["apt"]["stats"]["gates"]["probe_block_3"] = gate()
    s["apt"]["stats"]["gates"]["probe_block_6"] = gate(value=0.1, null=0.1, p=0.7)
    assert verdicts(s)["C6"] == "holds"
    s["apt"]["stats"]["gates"]["probe_block_3"] = gate(value=0.1, null=0.1, p=0.7)
    assert verdicts(s)["C6"] == "not testable"
    del s["apt"]["block"]                                   # not recorded: the deepest block's probe
    s["apt"]["stats"]["gates"]["probe_block_6"] = gate()
    assert verdicts(s)["C6"] == "holds"


def test_c6_block_one_gate_failing_does_not_matter_and_other_checkpoint_skips_backbone():
    s = holding_summary()
    assert at(s, "apt.stats.gates.probe_block_1")["passed"] is False
    assert verdicts(s)["C6"] == "holds"
    s["finetune"]["checkpoint"] = "/some/bert"
    del s["pretrain"]["variants"]["main"]
    v = verdicts(s)
    assert v["C2"] == v["C4"] == v["C5"] == "holds" and v["C1"] == v["C6"] == "not testable"


def test_failed_invariants_are_errors_and_never_move_a_verdict():
    s = holding_summary()
    s["hull"]["stats"]["checks"]["no_violations"] = check("no_violations", 2, None, 0, "equal")
    out = claims.claims_summary(s)
    assert out["claims"]["C5"] == "holds" and out["stats"]["C5"]["errors"] == ["no_violations"]
    s = holding_summary()
    s["ssb"]["stats"]["checks"]["symmetric_exact"] = check("symmetric_exact", 3e-8, None, 0.0, "equal")
    out = claims.claims_summary(s)
    assert out["claims"]["C3"] == "holds" and out["stats"]["C3"]["errors"] == ["symmetric_exact"]
    assert out["stats"]["C3"]["sanity"] == ["symmetric_exact", "node_symmetric_exact",
                                             "tied_heads_identical[nodes_pretrain]", "tied_heads_identical[nodes_finetune]"]


def test_nothing_passing_is_inconclusive_and_nothing_computed_is_not_testable():
    s = holding_summary()
    for name in _evidence(claims.NODE_CHECKS):
        c = at(s, "nodes_pretrain.stats.checks")[name]
        at(s, "nodes_pretrain.stats.checks")[name] = stats.check(name, "x", c["null"], [c["null"] - 1, c["null"] + 1],
                                                                 c["null"], c["direction"])
    assert verdicts(s)["C1"] == "inconclusive"
    for name in _evidence(claims.NODE_CHECKS):
        at(s, "nodes_pretrain.stats.checks")[name] = {"missing": True}
    out = claims.claims_summary(s)
    assert out["claims"]["C1"] == "not testable" and "missing" in out["stats"]["C1"]["reason"]


def test_c3_parts():
    s = holding_summary()
    del s["ssb"]["stats"]["checks"]["node_symmetric_exact"]               # not written: no node_symmetric gate
    del s["pretrain"]["variants"]["node_symmetric"]
    assert verdicts(s)["C3"] == "holds"                                     # a sanity check decides nothing
    s = holding_summary()
    del s["ssb"]
    for sec in ("nodes_pretrain", "nodes_finetune"):
        for name in ("eps_heads_differ", "tied_heads_identical"):
            del s[sec]["stats"]["checks"][name]
    assert verdicts(s)["C3"] == "not measured"


def test_the_dropout_models_heads_are_context_for_c3():
    """dropout_heads_differ (stochastic dynamics) is shown with C3 but never moves its verdict."""
    s = holding_summary()
    for sec in ("nodes_pretrain", "nodes_finetune"):
        s[sec]["stats"]["checks"]["dropout_heads_differ"] = check("dropout_heads_differ", 0.3, [0.2, 0.4], 0.0, "less")
    out = claims.claims_summary(s)
    assert out["claims"]["C3"] == "holds"
    assert "dropout_heads_differ[nodes_pretrain]" in out["stats"]["C3"]["context"]
    paths = [g["path"] for g in out["stats"]["C3"]["gates"]]
    assert len(paths) == len(set(paths))                    # the random probe gates two checks, listed once


def test_no_holds_without_an_interval_excluding_the_null():
    import itertools
    s = holding_summary()
    for claim, path, name in ALL_CHECKS:
        c = at(s, path)[name]
        for ci in ([None, None], [c["null"], c["null"]]):
            t = copy.deepcopy(s)
            at(t, path)[name] = stats.check(name, "x", c["value"], ci, c["null"], c["direction"])
            assert verdicts(t)[claim] != "holds"
    for row, summ in itertools.product(verdict_text.claims_table(s), [s]):
        assert row["verdict"] == "holds"
    assert set(verdicts(s).values()) == {"holds"}


def test_claims_summary_records_paths_roles_and_verdicts():
    s = holding_summary()
    s["apt"]["stats"]["checks"]["grows_along_blocks"]["passed"] = False
    s["apt"]["stats"]["checks"]["grows_along_blocks"]["ci"] = [-0.1, 1.0]
    out = claims.claims_summary(s)
    assert out["claims"]["C6"] == "partly" and out["claims"]["C1"] == "holds"
    st = out["stats"]["C6"]
    assert st["verdict"] == "partly" and st["core"] == "frequency" and "grows_along_blocks" in st["reason"]
    assert [g["path"] for g in st["gates"]] == ["pretrain.variants.main.gate", "apt.stats.gates.probe_block_6"]
    assert [c["path"] for c in st["checks"]] == ["apt.stats.checks.frequency", "apt.stats.checks.grows_along_blocks"]
    assert st["evidence"] == ["frequency", "grows_along_blocks"] and st["sanity"] == [] and st["context"] == []
    assert {c["role"] for c in out["stats"]["C5"]["checks"]} == {"evidence", "requirement", "sanity", "context"}
    json.dumps(out)                                                          # storable in summary.json


def test_c3_functional_check_gated_by_its_own_probe_leaves_the_others_deciding():
    """A failed token probe (nodes_pretrain) makes eps_heads_differ[nodes_pretrain] not
    testable, not C3: the other checks have their own gates."""
    s = holding_summary()
    s["nodes_pretrain"]["stats"]["gates"]["probe_random"]["passed"] = False
    row = {r["claim"]: r for r in verdict_text.claims_table(s)}["C3"]
    assert row["verdict"] == "holds"
    assert "eps_heads_differ[nodes_pretrain]" in row["interval"] and "not testable" in row["interval"]
    assert "gates only its own check" in row["gate"]
    # the excluded check cannot rescue a failing core ...
    s["ssb"]["stats"]["checks"]["eps_amplified"]["passed"] = False
    assert verdicts(s)["C3"] == "inconclusive"
    # ... and a variant's backbone gate still vetoes the whole claim
    s["pretrain"]["variants"]["symmetric"]["gate"]["passed"] = False
    assert verdicts(s)["C3"] == "not testable"
    # without the core check (no ssb section): not testable
    only = {"profile": "quick", "nodes_pretrain": copy.deepcopy(holding_summary()["nodes_pretrain"])}
    assert verdicts(only)["C3"] == "not testable"


def test_claims_decides_and_does_not_draw():
    """The rules do not import the rendering (ssb.verdict_text and ssb.report import ssb.claims, not
    the other way)."""
    tree = ast.parse(Path(claims.__file__).read_text())
    imported = {alias.name for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) for alias in node.names}
    imported |= {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    rendering = {"report", "verdict_text", "notebook_pages", "results"}
    assert not (rendering | {f"ssb.{m}" for m in rendering}) & imported, imported


def test_old_key_names_give_the_same_verdicts():
    """A summary written before layer -> block (figures/quick as committed) is read with its old keys."""
    s = holding_summary()
    s["apt"]["mean_by_block"] = [0.1, 0.2]
    old = copy.deepcopy(s)
    old["apt"]["mean_by_layer"] = old["apt"].pop("mean_by_block")
    assert claims.claims_summary(old) == claims.claims_summary(s)


def test_c3_eps_grid_must_agree_and_a_missing_grid_check_caps_at_partly():
    """The core is the profile's eps; every other eps of the grid and the functional divergence
    are evidence: one missing -> at most "partly" (named), one against -> "does not hold"; a grid
    variant whose backbone gate failed vetoes only its own check."""
    s = holding_summary()
    s["profile"], s["overrides"] = "quick", {}                             # its grid: 1e-6, 1e-4 (core), 1e-2
    assert verdicts(s)["C3"] == "holds"
    st = claims.claims_summary(s)["stats"]["C3"]
    assert st["evidence"][0] == "eps_amplified" and st["evidence"][3] == "eps_diverges"
    assert set(st["evidence"][1:3]) == {"eps_amplified_1e-06", "eps_amplified_1e-02"}
    t = copy.deepcopy(s)
    del t["ssb"]["stats"]["checks"]["eps_amplified_1e-06"]
    out = claims.claims_summary(t)["stats"]["C3"]
    assert out["verdict"] == "partly" and "eps_amplified_1e-06" in out["reason"] and "missing" in out["reason"]
    t = copy.deepcopy(s)
    t["ssb"]["stats"]["checks"]["eps_amplified_1e-02"] = check("eps_amplified_1e-02", -0.02, [-0.03, -0.01], 0.0,
                                                               "greater")
    assert verdicts(t)["C3"] == "does not hold"
    t["pretrain"]["variants"]["symmetric_eps_1e-02"]["gate"]["passed"] = False     # its own gate: vetoes only it
    assert verdicts(t)["C3"] == "holds"                  # as eps_heads_differ behind a failed probe: not testable alone
    rec = next(c for c in claims.claims_summary(t)["stats"]["C3"]["checks"] if c["name"] == "eps_amplified_1e-02")
    assert rec["gated_out"] is True and rec["passed"] is None
    t = copy.deepcopy(s)
    t["ssb"]["stats"]["checks"]["eps_diverges"] = check("eps_diverges", -0.01, [-0.02, -0.005], 0.0, "greater")
    assert verdicts(t)["C3"] == "does not hold"
    # a profile with a one-value grid expects no other eps
    t = copy.deepcopy(s)
    for k in ("eps_amplified_1e-06", "eps_amplified_1e-02"):
        del t["ssb"]["stats"]["checks"][k]
    t["profile"], t["overrides"] = "quick", {"ssb_eps_grid": "1e-4"}
    assert verdicts(t)["C3"] == "holds"
    # a Newey-West growth record (the earlier interval) counts as missing: the core is then missing
    t = copy.deepcopy(s)
    t["ssb"]["stats"]["checks"]["eps_amplified"]["statistic"] = "mean increment of log g, 95 % Newey-West interval"
    assert verdicts(t)["C3"] == "not testable"
