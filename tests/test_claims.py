"""The claims table (ssb.claims) and the index page (ssb.report) on hand-made summaries."""
from __future__ import annotations

import copy
import json

import pytest

from ssb import claims, report, results


def holding_summary() -> dict:
    """A summary in which every claim holds by the rules of ssb.claims."""
    return {
        "profile": "smoke",
        "pretrain": {"steps": 40, "tokens_seen": 20480, "mlm_accuracy": 0.21, "baseline_accuracy": 0.06,
                     "tokens_per_second": 1234.5},
        "ssb": {"gap_final": {"random": 1.37, "symmetric": 0.0, "symmetric_eps": 0.0123}, "eps": 1e-4},
        "apt": {"mean_by_layer": [0.11, 0.13, 0.17, 0.2, 0.24, 0.276], "spearman_freq": 0.613},
        "nodes_pretrain": {"median_tokens_recognized_node": 3.0, "median_tokens_recognized_head": 17.0,
                           "mean_jaccard_nodes": 0.087, "random_head_jaccard": 0.21, "symmetric_head_jaccard": 1.0,
                           "vocab_size": 1000, "tokens_recognized_full": 85},
        "finetune": {"n_labels": 16, "accuracy_by_layer": [0.3, 0.4, 0.5, 0.55, 0.6, 0.62],
                     "accuracy_full_finetune": 0.71, "pooling": "cls"},
        "nodes_finetune": {"median_labels_recognized_node": 2.0, "median_labels_recognized_head": 5.0,
                           "mean_diagonal_confidence_node": 0.187, "random_head_jaccard": 0.44,
                           "symmetric_head_jaccard": 1.0, "n_labels": 16},
        "crossover": {"n": [1, 4, 16, 64, 192], "accuracy_mean": [0.131, 0.094, 0.152, 0.41, 0.583],
                      "accuracy_std": [0.02, 0.01, 0.02, 0.03, 0.0], "recognized_mean": [1.5, 2.0, 5.0, 11.0, 14.0],
                      "union_individual_mean": [1.5, 4.0, 9.0, 12.0, 12.5], "sum_individual_gain_mean": [0.07, 0.2, 0.5, 1.2, 2.9],
                      "silent_accuracy": 0.0625, "has_dip": True, "n_min": 4},
        "hull": {"single_node_bound_median": 5.0, "single_node_bound_observed_median": 3.0,
                 "single_node_realized_median": 2.0, "efficiency_by_n": {"1": 0.5, "2": 0.41, "12": 0.26},
                 "violations": 0},
    }


def verdicts(summary: dict) -> dict[str, str]:
    return {row["claim"]: row["verdict"] for row in claims.claims_table(summary)}


def test_every_claim_holds_on_a_holding_summary():
    rows = claims.claims_table(holding_summary())
    assert [r["claim"] for r in rows] == ["C1", "C2", "C3", "C4", "C5", "C6"]
    assert {r["claim"]: r["verdict"] for r in rows} == {c: "holds" for c in claims.CLAIMS}
    for r in rows:
        assert r["paper"] and r["measured"] and r["verdict"] in claims.VERDICTS


def test_empty_summary_is_not_measured():
    assert verdicts({}) == {c: "not measured" for c in claims.CLAIMS}
    assert verdicts({"profile": "smoke", "pretrain": {"steps": 3}}) == {c: "not measured" for c in claims.CLAIMS}


def test_each_claim_fails_on_contrary_measurements():
    s = holding_summary()
    s["nodes_pretrain"].update(median_tokens_recognized_node=50.0, mean_jaccard_nodes=0.8)      # 50 >= 1% of 1000
    s["nodes_finetune"].update(median_labels_recognized_node=9.0, mean_diagonal_confidence_node=0.05)  # chance 1/16
    s["ssb"]["gap_final"] = {"random": 1e-5, "symmetric": 1e-9, "symmetric_eps": 5e-5}   # nothing amplified
    s["nodes_pretrain"].update(random_head_jaccard=1.0, symmetric_head_jaccard=0.9)
    s["nodes_finetune"].update(random_head_jaccard=1.0, symmetric_head_jaccard=0.5)
    s["crossover"].update(has_dip=False, n_min=None, recognized_mean=[1.5, 2.0, 5.0, 11.0, 12.0])   # 12 == union
    s["hull"]["violations"] = 2
    s["apt"].update(spearman_freq=-0.1, mean_by_layer=[0.3, 0.2, 0.1])
    assert verdicts(s) == {c: "does not hold" for c in claims.CLAIMS}


@pytest.mark.parametrize("claim, change", [
    ("C1", lambda s: s["nodes_pretrain"].update(mean_jaccard_nodes=0.9)),                  # small, but shared
    ("C1", lambda s: s["nodes_pretrain"].update(mean_jaccard_nodes=None)),                 # distinctness unmeasured
    ("C2", lambda s: s["nodes_finetune"].update(mean_diagonal_confidence_node=0.0625)),   # == chance, not above
    ("C3", lambda s: s["ssb"]["gap_final"].update(symmetric_eps=5e-5)),                   # eps=1e-4 not amplified
    ("C3", lambda s: s["nodes_finetune"].update(random_head_jaccard=1.0)),
    ("C4", lambda s: s["crossover"].update(has_dip=False)),
    ("C5", lambda s: s["hull"].update(efficiency_by_n={"1": 0.2, "12": 0.3})),            # eta rises with n
    ("C5", lambda s: s["hull"].update(single_node_realized_median=4.0)),                  # realized > observed bound
    ("C6", lambda s: s["apt"].update(mean_by_layer=[0.3, 0.2])),
])
def test_one_failed_check_gives_partly(claim, change):
    s = holding_summary()
    change(s)
    v = verdicts(s)
    assert v[claim] == "partly"
    assert all(v[c] == "holds" for c in claims.CLAIMS if c != claim)


def test_c1_reference_without_vocabulary_and_empty_nodes():
    s = holding_summary()
    del s["nodes_pretrain"]["vocab_size"]
    assert verdicts(s)["C1"] == "holds"                        # 3 < 10% of the 85 tokens all nodes recognize
    s["nodes_pretrain"]["median_tokens_recognized_node"] = 9.0
    assert verdicts(s)["C1"] == "partly"                       # 9 >= 8.5
    s["nodes_pretrain"].update(median_tokens_recognized_node=0.0, mean_jaccard_nodes=None)
    assert verdicts(s)["C1"] == "does not hold"                # the median node recognizes nothing


def test_c3_node_level_checks_are_optional_and_gap_rules():
    s = holding_summary()
    s["nodes_finetune"].update(random_head_jaccard=None, symmetric_head_jaccard=None)   # another checkpoint
    del s["nodes_pretrain"]
    assert verdicts(s)["C3"] == "holds"
    del s["ssb"]["eps"]                                        # eps unknown: symmetric+eps gap must be > 0
    s["ssb"]["gap_final"]["symmetric_eps"] = 1e-7
    assert verdicts(s)["C3"] == "holds"
    s["ssb"]["gap_final"]["symmetric_eps"] = 0.0
    assert verdicts(s)["C3"] == "partly"
    assert verdicts({"ssb": {"gap_final": {}}})["C3"] == "not measured"


def test_c5_violation_overrides_everything_else():
    s = holding_summary()
    s["hull"]["violations"] = 1
    assert verdicts(s)["C5"] == "does not hold"
    s["hull"].update(violations=0, efficiency_by_n={"1": 0.2, "12": 0.3}, single_node_realized_median=9.0)
    assert verdicts(s)["C5"] == "partly"                       # violations == 0: never "does not hold"


def test_c4_largest_n_is_used_whatever_the_order():
    s = holding_summary()
    c = s["crossover"]
    for key in ("n", "accuracy_mean", "recognized_mean", "union_individual_mean"):
        c[key] = c[key][::-1]
    assert verdicts(s)["C4"] == "holds"
    row = {r["claim"]: r for r in claims.claims_table(s)}["C4"]
    assert "n = 192: jointly recognized 14 vs union of individuals 12.5" in row["measured"]


def test_measured_strings_come_from_the_summary():
    s = holding_summary()
    rows = {r["claim"]: r["measured"] for r in claims.claims_table(s)}
    assert "3" in rows["C1"] and "0.087" in rows["C1"] and "1000" in rows["C1"]
    assert "0.187" in rows["C2"] and "16" in rows["C2"]
    assert "1.37" in rows["C3"] and "0.0123" in rows["C3"] and "0.0001" in rows["C3"]
    assert "dip at n = 4" in rows["C4"] and "0.094" in rows["C4"]
    assert "0.26" in rows["C5"] and "violations 0" in rows["C5"]
    assert "0.613" in rows["C6"] and "0.276" in rows["C6"]
    s["apt"]["spearman_freq"] = 0.777
    assert "0.777" in {r["claim"]: r["measured"] for r in claims.claims_table(s)}["C6"]


def test_markdown_contains_numbers_figures_and_escapes():
    s = holding_summary()
    figures = ["03_node_token_map.png", "07_efficiency.png", "99_extra.png"]
    md = claims.claims_markdown(s, figures)
    assert md == claims.claims_markdown(copy.deepcopy(s), list(figures))     # deterministic
    for number in ("0.087", "0.187", "1.37", "0.094", "0.26", "0.613"):
        assert number in md
    assert md.count("| **holds** |") == 6
    assert "![03_node_token_map](03_node_token_map.png)" in md
    c1 = md.index("### C1"), md.index("03_node_token_map.png)")
    assert c1[0] < c1[1] < md.index("### C5") < md.index("07_efficiency.png)") < md.index("### Other figures")
    s["pretrain"]["pooling_note"] = "a|b"
    s["nodes_pretrain"]["median_tokens_recognized_head"] = "x|<y>"
    md = claims.claims_markdown(s)
    assert "x\\|&lt;y&gt;" in md and "## Figures" not in md
    with pytest.raises(ValueError, match="summary"):
        claims.claims_table([1, 2])


def test_write_claims_markdown_and_index(tmp_path, monkeypatch):
    monkeypatch.setenv("SSB_OUTPUT_DIR", str(tmp_path))
    s = holding_summary()
    s["nodes_pretrain"]["mean_jaccard_nodes"] = 0.95           # C1 partly
    fig_dir = results.figures_dir("smoke")
    (fig_dir / "summary.json").write_text(json.dumps(s))
    (fig_dir / "03_node_token_map.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    (fig_dir / "07_efficiency_by_n.csv").write_text("n,eta\n1,0.5\n")
    reports = tmp_path / "reports" / "smoke"
    reports.mkdir(parents=True)
    (reports / "01_pretrain.html").write_text("<html></html>")
    (reports / "02_token <apt>.html").write_text("<html></html>")
    (reports / "timings.json").write_text(json.dumps({"01_pretrain": {"seconds": 12.34, "status": "failed"}}))

    md_path = claims.write_claims_markdown("smoke")
    assert md_path == fig_dir / "claims.md"
    md = md_path.read_text()
    assert "![03_node_token_map](03_node_token_map.png)" in md and "**partly**" in md and "0.95" in md

    index = report.write_index("smoke")
    text = index.read_text()
    assert index == reports / "index.html"
    assert text.index("<h2>Claims</h2>") < text.index("<h2>Notebook reports</h2>") < text.index("<h2>Figures</h2>")
    assert 'href="01_pretrain.html"' in text and "12.3" in text and "failed" in text
    assert "02_token &lt;apt&gt;" in text and "<apt>" not in text                 # escaped
    assert 'href="02_token%20%3Capt%3E.html"' in text
    assert 'src="../../figures/smoke/03_node_token_map.png"' in text
    assert 'href="../../figures/smoke/07_efficiency_by_n.csv"' in text
    assert "partly" in text and report.VERDICT_COLOURS["partly"] in text and "0.95" in text
    assert report.write_index("smoke").read_text() == text                        # no timestamps


def test_show_prints_the_selected_claims(capsys):
    claims.show(holding_summary(), ["C5", "C3"])
    out = capsys.readouterr().out
    assert "C3 Deterministic dynamics: HOLDS" in out and "C5 Convex hull: HOLDS" in out
    assert out.index("C3") < out.index("C5") and "C1" not in out and "1.37" in out
    claims.show({}, ["C6"])
    assert "C6 APT: NOT MEASURED" in capsys.readouterr().out
    with pytest.raises(ValueError, match="C7"):
        claims.show(holding_summary(), ["C7"])
