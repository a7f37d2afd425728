"""The scale ladder (python -m ssb.bench ladder): its trend rule, and the command on smoke-sized rungs."""
from __future__ import annotations

import json

import numpy as np
import pytest

from ssb.bench import ladder


def test_exact_spearman_is_exact_for_a_perfect_order_and_flat_for_noise():
    rho, p_up, p_down = ladder.exact_spearman([1, 2, 3, 4, 5, 6], [2, 4, 5, 7, 9, 10])
    assert rho == pytest.approx(1.0) and p_up == pytest.approx(1 / 720) and p_down == pytest.approx(1.0)
    assert ladder.exact_spearman([1, 2], [1, 2]) == (None, None, None)
    assert ladder.exact_spearman([1, 2, 3], [5, 5, 5]) == (None, None, None)


def _row(rung, x, v, half=0.05):
    return {"rung": rung, "margin_over_untrained": x, "p": v, "p_lo": v - half, "p_hi": v + half}


def test_trend_rule_needs_the_order_and_separated_intervals():
    up = [_row("untrained", 0.0, 0.1)] + [_row(f"r{i}", 0.01 * i, 0.1 + 0.1 * i) for i in range(1, 7)]
    assert ladder.trend(up, "p")["verdict"] == "strengthens"
    down = [dict(r, p=-r["p"], p_lo=-r["p_hi"], p_hi=-r["p_lo"]) for r in up]
    assert ladder.trend(down, "p")["verdict"] == "weakens"
    # the same order, but intervals so wide that the top rung's overlaps the untrained one's: no trend
    wide = [dict(r, p_lo=r["p"] - 1, p_hi=r["p"] + 1) for r in up]
    assert ladder.trend(wide, "p")["verdict"] == "no clear trend"
    rng = np.random.default_rng(0)
    noise = [_row("untrained", 0.0, 0.5)] + [_row(f"r{i}", 0.01 * i, float(rng.normal(0.5, 0.01))) for i in range(1, 7)]
    assert ladder.trend(noise, "p")["verdict"] == "no clear trend"
    assert ladder.trend(up[:2], "p")["verdict"] == "not enough rungs"


@pytest.mark.slow
def test_ladder_runs_on_smoke_sized_rungs(tmp_path, monkeypatch, data_dir):
    """Two rungs (a tiny BERT at random init and the same BERT 'trained' = its saved weights)
    through the whole command: rows per task and block with intervals, a cache that resumes,
    the report files."""
    from test_notebooks import write_other_checkpoint
    from ssb.profiles import get_profile
    monkeypatch.setenv("SSB_OUTPUT_DIR", str(tmp_path / "out"))
    lines = (data_dir / "wikitext-103" / "wiki.valid.tokens").read_text().splitlines()
    tiny = tmp_path / "tiny_bert"
    write_other_checkpoint(tiny, [l for l in lines if len(l.split()) > 20][:400])
    profile = get_profile("smoke", n_train_per_relation=10, n_test_per_relation=5)
    rungs = [ladder.Rung("untrained", tiny, random_init=True), ladder.Rung("tiny", tiny),
             ladder.Rung("absent", None, missing="make it somehow")]
    out = tmp_path / "docs" / "scale_ladder"
    trends = ladder.run(profile, str(data_dir), out=out, token_blocks=(2, 4), label_block=4, n_permutations=20,
                        rungs=rungs, progress=False)
    import pandas as pd
    df = pd.read_csv(out.with_suffix(".csv"))
    assert sorted(set(zip(df["task"], df["block"]))) == [("labels", 4), ("tokens", 2), ("tokens", 4)]
    assert set(df["rung"]) == {"untrained", "tiny"}
    tok = df[df["task"] == "tokens"]
    assert tok["mean_apt"].notna().all() and (tok["fraction_beyond_null_lo"] <= tok["fraction_beyond_null"]).all()
    assert df["margin_over_untrained_lo"].notna().all()          # every rung against its 3 random inits
    md = out.with_suffix(".md").read_text()
    assert "`absent`: `make it somehow`" in md and "## Tokens, block 2" in md
    assert out.with_suffix(".png").stat().st_size > 10_000
    assert all(t["verdict"] == "not enough rungs" for t in trends)  # two rungs: no trend is claimed
    cache = sorted((tmp_path / "out" / "runs" / "ladder-smoke").glob("*.json"))
    assert [c.name for c in cache] == ["tiny.json", "untrained.json"]
    before = {c.name: c.stat().st_mtime_ns for c in cache}
    ladder.run(profile, str(data_dir), out=out, token_blocks=(2, 4), label_block=4, n_permutations=20,
               rungs=rungs, progress=False)                      # resumes: nothing re-measured
    assert {c.name: c.stat().st_mtime_ns for c in cache} == before
    assert json.loads(cache[0].read_text())["key"]["random_init"] is False
