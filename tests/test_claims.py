"""The claims table (ssb.claims) on hand-made summaries in the verdict schema (common.md)."""
from __future__ import annotations

import copy
import json

import pytest

from ssb import claims, report, results, stats


from summaries import check, gate, holding_summary, node_stats  # noqa: E402  (shared builders)


def verdicts(summary: dict) -> dict[str, str]:
    return {row["claim"]: row["verdict"] for row in claims.claims_table(summary)}


ALL_CHECKS = [("C1", "nodes_pretrain.stats.checks", n) for n in claims.NODE_CHECKS] + \
             [("C2", "nodes_finetune.stats.checks", n) for n in claims.NODE_CHECKS] + \
             [("C3", "ssb.stats.checks", "eps_amplified"), ("C3", "nodes_pretrain.stats.checks", "head_order_parameter")] + \
             [("C4", "crossover.stats.checks", n) for n in claims.CROSSOVER_CHECKS] + \
             [("C5", "hull.stats.checks", n) for n in ("gap_grows", "efficiency_falls")] + \
             [("C6", "apt.stats.checks", n) for n in claims.APT_CHECKS]


def at(summary, path):
    for k in path.split("."):
        summary = summary[k]
    return summary


def test_every_claim_holds_on_a_holding_summary():
    rows = claims.claims_table(holding_summary())
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
    assert v[claim] == "partly"
    assert all(v[k] == "holds" for k in claims.CLAIMS if k != claim)
    at(s, path)[name]["passed"] = None                                   # missing value: not passed either
    assert verdicts(s)[claim] == "partly"


@pytest.mark.parametrize("claim, paths", [
    ("C1", ["nodes_pretrain.stats.gates.probe", "pretrain.variants.main.gate"]),
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
        row = {r["claim"]: r for r in claims.claims_table(s)}[claim]
        assert "missing" in row["gate"] or "FAILED" in row["gate"]     # C6: block 1 is then the deepest


def test_c6_block_one_gate_failing_does_not_matter_and_other_checkpoint_skips_backbone():
    s = holding_summary()
    assert at(s, "apt.stats.gates.probe_block_1")["passed"] is False
    assert verdicts(s)["C6"] == "holds"
    s["finetune"]["checkpoint"] = "/some/bert"
    del s["pretrain"]["variants"]["main"]
    v = verdicts(s)
    assert v["C2"] == v["C4"] == v["C5"] == "holds" and v["C1"] == v["C6"] == "not testable"


def test_failed_invariants_and_no_passed_check():
    s = holding_summary()
    s["hull"]["stats"]["checks"]["no_violations"] = check("no_violations", 2, None, 0, "equal")
    assert verdicts(s)["C5"] == "does not hold"
    s = holding_summary()
    s["ssb"]["stats"]["checks"]["symmetric_exact"] = check("symmetric_exact", 3e-8, None, 0.0, "equal")
    assert verdicts(s)["C3"] == "does not hold"
    s = holding_summary()
    for name in claims.NODE_CHECKS:
        at(s, "nodes_pretrain.stats.checks")[name]["passed"] = False
    assert verdicts(s)["C1"] == "does not hold"
    for name in claims.NODE_CHECKS:
        at(s, "nodes_pretrain.stats.checks")[name]["passed"] = None
    assert verdicts(s)["C1"] == "not testable"                             # every check missing


def test_c3_parts():
    s = holding_summary()
    del s["ssb"]["stats"]["checks"]["node_symmetric_exact"]               # not written: no node_symmetric gate
    del s["pretrain"]["variants"]["node_symmetric"]
    assert verdicts(s)["C3"] == "partly"                                    # the check itself counts as missing
    s = holding_summary()
    del s["ssb"]
    for sec in ("nodes_pretrain", "nodes_finetune"):
        del s[sec]["stats"]["checks"]["head_order_parameter"]
    assert verdicts(s)["C3"] == "not measured"


def test_no_holds_without_an_interval_excluding_the_null():
    import itertools
    s = holding_summary()
    for claim, path, name in ALL_CHECKS:
        c = at(s, path)[name]
        for ci in ([None, None], [c["null"], c["null"]]):
            t = copy.deepcopy(s)
            at(t, path)[name] = stats.check(name, "x", c["value"], ci, c["null"], c["direction"])
            assert verdicts(t)[claim] != "holds"
    for row, summ in itertools.product(claims.claims_table(s), [s]):
        assert row["verdict"] == "holds"


def test_claims_summary_records_paths_and_verdicts():
    s = holding_summary()
    s["apt"]["stats"]["checks"]["frequency"]["passed"] = False
    out = claims.claims_summary(s)
    assert out["claims"]["C6"] == "partly" and out["claims"]["C1"] == "holds"
    st = out["stats"]["C6"]
    assert st["verdict"] == "partly"
    assert [g["path"] for g in st["gates"]] == ["pretrain.variants.main.gate", "apt.stats.gates.probe_block_6"]
    assert [c["path"] for c in st["checks"]] == ["apt.stats.checks.frequency", "apt.stats.checks.grows_along_blocks"]
    json.dumps(out)                                                          # storable in summary.json


def test_measured_strings_come_from_the_summary():
    s = holding_summary()
    rows = {r["claim"]: r for r in claims.claims_table(s)}
    assert "3" in rows["C1"]["measured"] and "7" in rows["C1"]["measured"]     # base-rate and 1/C rule counts
    assert "0.4 [0.3, 0.5]" in rows["C1"]["interval"] and "> 0.05" in rows["C1"]["null"]
    assert "1.37" in rows["C3"]["measured"] and "== 0" in rows["C3"]["null"]
    assert "0.61" in rows["C6"]["measured"]
    assert "statistic of small_sets" in rows["C1"]["statistic"]


def test_markdown_contains_numbers_figures_and_escapes():
    s = holding_summary()
    figures = ["03_node_token_map.png", "07_efficiency.png", "99_extra.png"]
    md = claims.claims_markdown(s, figures)
    assert md == claims.claims_markdown(copy.deepcopy(s), list(figures))     # deterministic
    assert "| claim | verdict | paper | measured | gate | statistic | interval | null |" in md
    for number in ("0.4 [0.3, 0.5]", "1.37", "0.61"):
        assert number in md
    assert md.count("| **holds** |") == 6
    assert "![03_node_token_map](03_node_token_map.png)" in md
    c1 = md.index("### C1"), md.index("03_node_token_map.png)")
    assert c1[0] < c1[1] < md.index("### C5") < md.index("07_efficiency.png)") < md.index("### Other figures")
    s["nodes_pretrain"]["median_tokens_recognized_head"] = "x|<y>"
    md = claims.claims_markdown(s)
    assert "x\\|&lt;y&gt;" in md and "## Figures" not in md
    with pytest.raises(ValueError, match="summary"):
        claims.claims_table([1, 2])


def test_write_claims_markdown_and_index(tmp_path, monkeypatch):
    monkeypatch.setenv("SSB_OUTPUT_DIR", str(tmp_path))
    s = holding_summary()
    s["nodes_pretrain"]["stats"]["checks"]["node_specific"]["passed"] = False      # C1 partly
    fig_dir = results.figures_dir("smoke")
    (fig_dir / "summary.json").write_text(json.dumps(s))
    (fig_dir / "03_node_token_map.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    md_path = claims.write_claims_markdown("smoke")
    assert md_path == fig_dir / "claims.md"
    md = md_path.read_text()
    assert "![03_node_token_map](03_node_token_map.png)" in md and "**partly**" in md
    reports = tmp_path / "reports" / "smoke"
    reports.mkdir(parents=True)
    text = report.write_index("smoke").read_text()
    assert "partly" in text and report.VERDICT_COLOURS["partly"] in text


def test_show_prints_the_selected_claims(capsys):
    report.show_claims(holding_summary(), ["C5", "C3"])
    out = capsys.readouterr().out
    assert "C3 Deterministic dynamics: HOLDS" in out and "C5 Convex hull: HOLDS" in out
    assert out.index("C3") < out.index("C5") and "C1" not in out and "1.37" in out and "gate:" in out
    report.show_claims({}, ["C6"])
    assert "C6 APT: NOT MEASURED" in capsys.readouterr().out
    with pytest.raises(ValueError, match="C7"):
        report.show_claims(holding_summary(), ["C7"])


def test_not_testable_says_which_gate_failed_and_which_profile_to_run():
    """A "not testable" verdict names its failed gates, the profile, and the larger profile."""
    from ssb import report
    summary = {"profile": "quick", "pretrain": {"variants": {"main": {"gate": {"passed": False, "value": 0.05, "null": 0.05}}}},
               "apt": {"stats": {"gates": {"probe_block_6": {"passed": True}},
                                 "checks": {"frequency": {"passed": True, "direction": "greater"}}}}}
    row = {r["claim"]: r for r in claims.claims_table(summary)}["C6"]
    assert row["verdict"] == "not testable"
    assert "not testable on quick" in row["why"] and "backbone" in row["why"] and "`standard`" in row["why"]
    assert "probe[block 6]" not in row["why"]               # that gate passed
    assert row["why"] in claims.claims_markdown(summary) and row["why"] in claims.claims_text(summary)
    assert "class=\"why\"" in report.claims_html(summary)
    summary["pretrain"]["variants"]["main"]["gate"]["passed"] = True
    assert {r["claim"]: r for r in claims.claims_table(summary)}["C6"]["why"] == ""


def test_c3_functional_check_gated_by_its_own_probe_leaves_the_weight_checks_deciding():
    """A failed token probe (nodes_pretrain) makes head_order_parameter[nodes_pretrain] not
    testable, not C3: the weight-level checks have their own (backbone) gates."""
    s = holding_summary()
    s["nodes_pretrain"]["stats"]["gates"]["probe_random"]["passed"] = False
    row = {r["claim"]: r for r in claims.claims_table(s)}["C3"]
    assert row["verdict"] == "holds"
    assert "head_order_parameter[nodes_pretrain]" in row["interval"] and "not testable" in row["interval"]
    assert "gates only its own check" in row["gate"]
    # the excluded check cannot rescue a failing one ...
    s["ssb"]["stats"]["checks"]["eps_amplified"]["passed"] = False
    assert verdicts(s)["C3"] == "partly"
    # ... and a variant's backbone gate still vetoes the whole claim
    s["pretrain"]["variants"]["symmetric"]["gate"]["passed"] = False
    assert verdicts(s)["C3"] == "not testable"
    # every check gated out and no other check: not testable
    only = {"profile": "quick", "nodes_pretrain": copy.deepcopy(s["nodes_pretrain"])}
    assert verdicts(only)["C3"] == "not testable"
