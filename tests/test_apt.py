"""C6 statistics (lib/ssb/apt.py): per-block probe gates, the unigram-sampler frequency null and
the trend of <APT> along the blocks, on synthetic tokens whose answers are known."""
from __future__ import annotations

import numpy as np
import pytest

from ssb import apt

C = 300


@pytest.fixture(scope="module")
def zipf():
    rng = np.random.default_rng(0)
    p = 1 / np.arange(1, C + 1) ** 1.1
    p /= p.sum()
    train_counts = np.round(p * 1e6).astype(int)
    return p, train_counts, rng.choice(C, 20000, p=p), rng.choice(C, 6000, p=p)


def _head(y_test, p_correct, p, seed):
    """Right with probability p_correct[token], else a draw from the unigram distribution."""
    rng = np.random.default_rng(seed)
    guess = rng.choice(C, len(y_test), p=p)
    return np.where(rng.random(len(y_test)) < p_correct[y_test], y_test, guess)


def test_constant_predictor_fails_the_gate_and_leaves_no_trend(zipf):
    p, train_counts, y_train, y_test = zipf
    constant = np.zeros(len(y_test), dtype=int)                   # token 0 is the most frequent
    preds = {b: constant for b in range(1, 7)}
    gates = apt.block_gates(y_test, preds, y_train)
    assert all(g["passed"] is False for g in gates.values())
    table = apt.apt_table(y_test, constant, train_counts, C, 5)
    assert table["apt"].mean() == pytest.approx(1 / len(table))    # the 1/299 of issue 11: one token at APT 1
    out = apt.apt_stats(y_test, preds, train_counts, y_train, C, 5, 6, n_boot=100)
    assert set(out["gates"]) == {f"probe_block_{b}" for b in range(1, 7)}
    trend = out["checks"]["grows_along_blocks"]
    assert trend["value"] is None and trend["passed"] is None and "0 block(s)" in trend["reason"]


def test_a_learning_head_passes_and_the_trend_uses_gated_blocks_only(zipf):
    p, train_counts, y_train, y_test = zipf
    preds = {1: np.zeros(len(y_test), dtype=int)}                  # block 1: constant, gated out
    for b in range(2, 7):
        preds[b] = _head(y_test, np.full(C, 0.1 * b), p, seed=b)
    out = apt.apt_stats(y_test, preds, train_counts, y_train, C, 5, 6, n_boot=200)
    assert out["gates"]["probe_block_1"]["passed"] is False
    assert all(out["gates"][f"probe_block_{b}"]["passed"] for b in range(2, 7))
    trend = out["checks"]["grows_along_blocks"]
    assert trend["blocks"] == [2, 3, 4, 5, 6] and trend["passed"] is True and trend["value"] == pytest.approx(1.0)
    falling = {b: preds[8 - b] for b in range(2, 7)}
    gates = apt.block_gates(y_test, falling, y_train)
    assert apt.grows_along_blocks_check(y_test, falling, gates, C, 5, n_boot=200)["passed"] is False


def test_frequency_check_against_the_unigram_sampler(zipf):
    p, train_counts, y_train, y_test = zipf
    sampler = apt.unigram_sampler_predictions(train_counts, len(y_test), seed=99)
    chk, nulls = apt.frequency_check(y_test, sampler, train_counts, C, 5, n_boot=200)
    assert nulls["spearman_unigram_sampler"] > 0.2                # the sampler alone favours frequent tokens
    assert chk["ci"][0] < 0 < chk["ci"][1] and chk["passed"] is False
    assert nulls["spearman_constant_predictor"] is not None
    rank = np.arange(C)
    strong = _head(y_test, np.clip(0.9 - 0.15 * np.log1p(rank), 0, 1), p, seed=5)   # APT rises steeply with frequency
    chk, _ = apt.frequency_check(y_test, strong, train_counts, C, 5, n_boot=200)
    assert chk["passed"] is True and chk["value"] > 0
    again, _ = apt.frequency_check(y_test, strong, train_counts, C, 5, n_boot=200)
    assert again == chk                                           # seeded


def test_helpers_and_bad_input(zipf):
    p, train_counts, y_train, y_test = zipf
    tokens = apt.tokens_averaged(y_test, C, 5)
    assert np.all(np.bincount(y_test, minlength=C)[tokens] >= 5)
    np.testing.assert_allclose(apt.apt_of_tokens(y_test, y_test, tokens, C), 1.0)
    bands = apt.block_apt_bands(y_test, {1: y_test, 2: np.zeros_like(y_test)}, C, 5, n_boot=50)
    assert bands["mean_apt"].tolist()[0] == 1.0 and (bands["mean_apt_lo"] <= bands["mean_apt_hi"]).all()
    with pytest.raises(ValueError, match="non-negative"):
        apt.unigram_sampler_predictions(np.zeros(3), 10, 0)
    with pytest.raises(ValueError, match="same shape"):
        apt.apt_of_tokens(y_test, y_test[:5], tokens, C)
