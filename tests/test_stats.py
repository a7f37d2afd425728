"""ssb.stats: check/gate records, the paired test, base-rate recognition with BH FDR, intervals."""
from __future__ import annotations

import numpy as np
import pytest
from scipy import stats as st

from ssb import stats


def test_check_records_pass_only_when_the_interval_excludes_the_null():
    assert stats.check("a", "s", 0.3, [0.1, 0.5], 0.0, "greater")["passed"] is True
    assert stats.check("a", "s", 0.3, [0.0, 0.5], 0.0, "greater")["passed"] is False        # touches the null
    assert stats.check("a", "s", -0.3, [-0.5, -0.1], 0.0, "less")["passed"] is True
    assert stats.check("a", "s", 0.3, None, 0.0, "greater")["passed"] is None
    assert stats.check("a", "s", float("nan"), [0.1, 0.2], 0.0)["passed"] is None
    assert stats.check("a", "s", 0.0, None, 0.0, "equal")["passed"] is True
    assert stats.check("a", "s", 1e-9, None, 0.0, "equal")["passed"] is False
    with pytest.raises(ValueError, match="direction"):
        stats.check("a", "s", 0, [0, 0], 0, "above")
    g = stats.gate("g", "s", 0.3, 0.1, 0.001, stats.GATE_ALPHA)
    assert g["passed"] is True
    assert stats.gate("g", "s", 0.3, 0.1, 0.02, stats.GATE_ALPHA)["passed"] is False
    assert stats.gate("g", "s", 0.3, 0.1, None, stats.GATE_ALPHA)["passed"] is None


def test_probe_gate_against_the_constant_predictor():
    rng = np.random.default_rng(0)
    y_train = rng.choice(4, 400, p=[0.4, 0.2, 0.2, 0.2])
    y = rng.choice(4, 300, p=[0.4, 0.2, 0.2, 0.2])
    assert stats.probe_gate(y, np.zeros_like(y), y_train)["passed"] is False          # the constant itself
    assert stats.probe_gate(y, rng.integers(0, 4, 300), y_train)["passed"] is False    # guessing
    good = np.where(rng.random(300) < 0.7, y, 0)
    g = stats.probe_gate(y, good, y_train)
    assert g["passed"] is True and g["constant_label"] == 0 and g["p"] < stats.GATE_ALPHA


def test_recognized_by_base_rate_equals_bh_over_each_set():
    rng = np.random.default_rng(1)
    for _ in range(200):
        n_sets, c = rng.integers(1, 6), rng.integers(1, 30)
        col = rng.integers(0, 20, (n_sets, c))
        diag = (col * rng.random((n_sets, c))).astype(int)
        rate = rng.dirichlet(np.ones(c))
        p = np.where(diag >= 2, stats.recognition_pvalues(diag, col, rate), np.nan)
        ref = np.stack([stats.benjamini_hochberg(row, 0.2) for row in p])
        np.testing.assert_array_equal(stats.recognized_by_base_rate(diag, col, rate, min_hits=2, q=0.2), ref)
        np.testing.assert_array_equal(stats.recognized_by_base_rate(diag[0], col[0], rate, min_hits=2, q=0.2), ref[0])


def test_recognition_pvalue_is_the_binomial_tail():
    p = stats.recognition_pvalues(np.array([6, 0]), np.array([10, 0]), np.array([0.5, 0.5]))
    assert p[0] == pytest.approx(st.binom.sf(5, 10, 0.5)) and np.isnan(p[1])
    with pytest.raises(ValueError, match="base_rate"):
        stats.recognized_by_base_rate(np.array([3, 3]), np.array([3, 3]), np.array([0.5]))


def test_benjamini_hochberg_known_case():
    p = np.array([0.01, 0.04, 0.03, 0.005, np.nan])
    np.testing.assert_array_equal(stats.benjamini_hochberg(p, 0.05), [True, True, True, True, False])
    np.testing.assert_array_equal(stats.benjamini_hochberg(np.array([0.01, 0.2, 0.3]), 0.05), [True, False, False])


def test_intervals():
    lo, hi = stats.proportion_ci(5, 100)
    assert lo < 0.05 < hi and 0 <= lo and hi < 0.12
    d, (lo, hi) = stats.newcombe_ci(30, 60, 3, 60)
    assert d == pytest.approx(0.45) and 0.25 < lo < 0.45 < hi < 0.6
    d, (lo, hi) = stats.newcombe_ci(6, 60, 6, 60)
    assert d == 0 and lo < 0 < hi
    assert stats.newcombe_ci(1, 0, 1, 5) == (None, [None, None])
    m, (lo, hi) = stats.mean_ci(np.arange(100.0), seed=3)
    assert m == 49.5 and lo < 49.5 < hi and stats.mean_ci(np.arange(100.0), seed=3) == (m, [lo, hi])
    g = stats.growth_rate(np.arange(10), np.exp(0.3 * np.arange(10)))
    assert g["rate"] == pytest.approx(0.3) and g["ci"][0] == pytest.approx(0.3)
    assert stats.growth_rate([0, 1], [1, 2])["rate"] is None
    assert stats.quantile_of_null(np.arange(101)) == pytest.approx(95.0)


# ----------------------------------------------------------------------------- against a population of controls

def test_beyond_controls_is_the_prediction_interval():
    """difference = value - mean(controls); half-width t_{K-1, .975} sqrt(s^2 (1 + 1/K) + se^2)."""
    from scipy import stats as st
    controls = [0.10, 0.14, 0.12]
    r = stats.beyond_controls(0.30, 0.02, controls)
    s2 = np.var(controls, ddof=1)
    half = st.t.ppf(0.975, 2) * np.sqrt(s2 * (1 + 1 / 3) + 0.02 ** 2)
    assert r["difference"] == pytest.approx(0.30 - 0.12)
    assert r["ci"] == pytest.approx([0.18 - half, 0.18 + half])
    assert r["df"] == 2 and r["k"] == 3
    assert r["p"] == pytest.approx(st.t.sf(0.18 / np.sqrt(s2 * (1 + 1 / 3) + 0.02 ** 2), 2))
    assert stats.check("b", "", r["difference"], r["ci"], 0.0)["passed"] is True
    inside = stats.beyond_controls(0.13, 0.02, controls)            # within the controls' spread
    assert stats.check("b", "", inside["difference"], inside["ci"], 0.0)["passed"] is False
    one = stats.beyond_controls(0.30, 0.02, [0.1])                  # one control: no spread, no interval
    assert one["ci"] == [None, None] and one["p"] is None
    assert stats.check("b", "", one["difference"], one["ci"], 0.0)["passed"] is None


def test_beyond_controls_false_pass_rate_when_the_value_is_one_more_control():
    """A 'checkpoint' that is one more random init (same population, its own sampling noise)
    passes in at most 5 % of draws (two-sided 95 %: about 2.5 % on the claimed side)."""
    rng = np.random.default_rng(0)
    passed = 0
    n_draws = 4000
    for _ in range(n_draws):
        inits = rng.normal(0.12, 0.02, 4)                 # the population of random initialisations
        se = 0.01
        value = inits[0] + rng.normal(0, se)              # the "checkpoint": one more init, measured with noise
        controls = inits[1:] + rng.normal(0, se, 3)
        r = stats.beyond_controls(value, se, controls)
        passed += r["ci"][0] > 0
    assert passed / n_draws <= 0.05
    # and it has power: a value far outside the population passes
    r = stats.beyond_controls(0.30, 0.01, [0.11, 0.13, 0.12])
    assert r["ci"][0] > 0 and r["p"] < 0.01


def test_accuracy_se_counts_sequences_not_items():
    correct = np.repeat([1, 0, 1, 0, 1, 1, 0, 0], 10)       # whole sequences right or wrong
    clusters = np.repeat(np.arange(8), 10)
    assert stats.accuracy_se(correct, clusters) > 2 * stats.accuracy_se(correct)
    assert stats.proportion_se(0, 50) > 0


def test_base_rate_rejections_equal_the_rule_with_every_p_value_computed():
    """Candidates at or below their binomial's mean minus one are not tested (their p >= 1/2):
    the rejections must equal Benjamini-Hochberg on every candidate's exact p."""
    rng = np.random.default_rng(5)
    for trial in range(30):
        n = int(rng.integers(1, 400))
        rows = np.sort(rng.integers(0, 25, n))
        cols = rng.integers(1, 300, n)
        rate = rng.choice([0.0, 0.01, 0.05, 0.2, 0.5, 1.0, 1 / 3], n)
        hits = np.minimum(cols, rng.binomial(cols, np.clip(rate * rng.choice([0.5, 1.0, 1.5, 3.0], n), 0, 1)))
        hits = np.maximum(hits, rng.integers(0, 4, n) * (trial % 2))                # some with 0 hits
        for q in (0.05, 0.2, 0.6):
            got = stats.base_rate_rejections(rows, hits, cols, rate, q=q)
            p = st.binom.sf(hits.astype(float) - 1, cols.astype(float), rate)          # every p, then BH per set
            want = np.zeros(n, dtype=bool)
            for r in np.unique(rows):
                idx = np.flatnonzero(rows == r)
                order = idx[np.argsort(p[idx], kind="stable")]
                passing = np.flatnonzero(p[order] <= q * np.arange(1, len(idx) + 1) / len(idx))
                if passing.size:
                    want[order[:passing[-1] + 1]] = True
            np.testing.assert_array_equal(got, want)
