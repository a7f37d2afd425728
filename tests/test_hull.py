"""The convex-hull bound (lib/ssb/hull_geometry.py): the exact envelope against brute force, the LP
against ConvexHull and against sampling, the invariant P(S) ⊆ achievable(S), degenerate inputs;
and C5's checks on it (lib/ssb/hull.py)."""
from __future__ import annotations

import itertools
from fractions import Fraction

import numpy as np
import pytest

from ssb import hull, hull_geometry


# ----------------------------------------------------------------------------- brute force references

def _exact_candidates(w, b, lo, hi):
    """Points (Fractions) where the exact argmax over [lo, hi] takes every value it takes:
    all pairwise crossings inside, midpoints between consecutive ones, points beyond the
    outermost ones, and the finite ends."""
    F = Fraction
    xs = set()
    for i, j in itertools.combinations(range(len(w)), 2):
        if w[i] != w[j]:
            xs.add((F(b[i]) - F(b[j])) / (F(w[j]) - F(w[i])))
    for end in (lo, hi):
        if np.isfinite(end):
            xs.add(F(end))
    if not xs:
        xs.add(F(0))
    xs = sorted(xs)
    pts = list(xs) + [(a + c) / 2 for a, c in zip(xs, xs[1:])] + [xs[0] - 1, xs[-1] + 1]
    flo = F(lo) if np.isfinite(lo) else None
    fhi = F(hi) if np.isfinite(hi) else None
    return [x for x in pts if (flo is None or x >= flo) and (fhi is None or x <= fhi)]


def _brute_envelope(w, b, lo, hi, weak=False):
    """Exact argmax labels (lowest index on ties), or every tied maximiser (weak), over [lo, hi]."""
    F = Fraction
    out = set()
    for x in _exact_candidates(w, b, lo, hi):
        vals = [F(wc) * x + F(bc) for wc, bc in zip(w, b)]
        top = max(vals)
        tied = [c for c, v in enumerate(vals) if v == top]
        out.update(tied if weak else tied[:1])
    return sorted(out)


def _tie_heavy_lines(rng, C):
    """Small-integer slopes and intercepts: duplicates, parallel and concurrent lines abound."""
    return rng.integers(-3, 4, C).astype(float), rng.integers(-3, 4, C).astype(float)


# ----------------------------------------------------------------------------- one node: the envelope

@pytest.mark.parametrize("seed", range(40))
def test_envelope_matches_exact_brute_force_with_ties(seed):
    rng = np.random.default_rng(seed)
    C = int(rng.integers(1, 11))
    w, b = _tie_heavy_lines(rng, C)
    ranges = [(-np.inf, np.inf), (-1.0, 1.0), (0.5, 0.5), (-np.inf, 0.0), (1.0, np.inf), (0.0, 2.0)]
    for lo, hi in ranges:
        expected = _brute_envelope(w, b, lo, hi)
        assert hull_geometry.upper_envelope(w, b, lo, hi).tolist() == expected, (w, b, lo, hi)
        assert hull_geometry.upper_envelope(w, b, lo, hi, ties="weak").tolist() == _brute_envelope(w, b, lo, hi, weak=True)
        segs = hull_geometry.envelope_segments(w, b, lo, hi)
        assert sorted({s[0] for s in segs}) == expected
        starts = [s[1] for s in segs]
        assert starts == sorted(starts) and all(s[1] <= s[2] for s in segs)


@pytest.mark.parametrize("seed", range(10))
def test_envelope_against_dense_grid_random_lines(seed):
    rng = np.random.default_rng(100 + seed)
    C = 25
    w, b = rng.standard_normal(C) * rng.choice([0.01, 1, 100]), rng.standard_normal(C)
    w[:3] = [w.max() * 50, w.min() * 50, 0.0]                  # extreme slopes win only far out
    # bounded: every label the grid sees must be in the envelope, and the exact brute force agrees
    xs = np.linspace(-2, 3, 200_001)
    grid = np.unique(np.argmax(np.outer(xs, w) + b, axis=1))
    env = hull_geometry.upper_envelope(w, b, -2, 3)
    assert set(grid) <= set(env)
    assert env.tolist() == _brute_envelope(w, b, -2.0, 3.0)
    # unbounded: a very wide grid, including enormous |x|, sees the extreme-slope lines
    wide = np.concatenate([-np.logspace(12, -6, 20_000), np.linspace(-1, 1, 20_001), np.logspace(-6, 12, 20_000)])
    grid = set(np.unique(np.argmax(np.outer(wide, w) + b, axis=1)))
    env = hull_geometry.upper_envelope(w, b)
    assert grid <= set(env) and {0, 1} <= set(env)
    assert env.tolist() == _brute_envelope(w, b, -np.inf, np.inf)


def test_envelope_tie_rule_follows_numpy_argmax():
    # identical lines 2 and 0: only the lower index, 0, can win; 1 is parallel below
    w, b = np.array([1.0, 1.0, 1.0, -1.0]), np.array([0.0, -1.0, 0.0, 0.0])
    assert hull_geometry.upper_envelope(w, b).tolist() == [0, 3]
    assert hull_geometry.upper_envelope(w, b, ties="weak").tolist() == [0, 2, 3]
    # three lines through (0, 0): the middle one (index 0) wins only at x = 0, where it is the lowest index
    w, b = np.array([0.0, -1.0, 1.0]), np.zeros(3)
    assert int(np.argmax(w * 0.0 + b)) == 0
    assert hull_geometry.upper_envelope(w, b).tolist() == [0, 1, 2]
    assert hull_geometry.upper_envelope(w, b, 0.5, 2.0).tolist() == [2]
    assert (0, 0.0, 0.0) in hull_geometry.envelope_segments(w, b)
    # the same lines with the middle one last: it never wins under argmax, but it ties (weak)
    w, b = np.array([-1.0, 1.0, 0.0]), np.zeros(3)
    assert hull_geometry.upper_envelope(w, b).tolist() == [0, 1]
    assert hull_geometry.upper_envelope(w, b, ties="weak").tolist() == [0, 1, 2]


def test_envelope_degenerate_inputs():
    assert hull_geometry.upper_envelope([2.0], [1.0]).tolist() == [0]                       # a single label
    assert hull_geometry.upper_envelope(np.zeros(5), np.zeros(5)).tolist() == [0]           # all equal
    assert hull_geometry.upper_envelope(np.zeros(5), np.zeros(5), ties="weak").tolist() == [0, 1, 2, 3, 4]
    assert hull_geometry.upper_envelope(np.ones(4), np.array([0.0, 3.0, 1.0, 3.0])).tolist() == [1]   # parallel
    w, b = np.array([1.0, -1.0]), np.zeros(2)
    assert hull_geometry.upper_envelope(w, b, 0.0, 0.0).tolist() == [0]                     # lo == hi at the tie
    assert hull_geometry.upper_envelope(w, b, -3.0, -3.0).tolist() == [1]
    assert hull_geometry.envelope_segments(w, b, 2.0, 2.0) == [(0, 2.0, 2.0)]
    assert hull_geometry.envelope_segments(w, b) == [(1, -np.inf, 0.0), (0, 0.0, np.inf)]
    assert hull_geometry.upper_envelope(w, b, -np.inf, -1.0).tolist() == [1]
    assert hull_geometry.upper_envelope(w, b, -np.inf, 0.0).tolist() == [0, 1]               # the tie at 0 goes to label 0
    assert hull_geometry.upper_envelope(w, b, 0.0, np.inf).tolist() == [0]


def test_envelope_bad_input():
    with pytest.raises(ValueError, match="lo <= hi"):
        hull_geometry.upper_envelope([1.0, 2.0], [0.0, 0.0], 1.0, 0.0)
    with pytest.raises(ValueError, match="length"):
        hull_geometry.upper_envelope([1.0, 2.0], [0.0])
    with pytest.raises(ValueError, match="NaN"):
        hull_geometry.upper_envelope([1.0, np.nan], [0.0, 0.0])
    with pytest.raises(ValueError, match="ties"):
        hull_geometry.upper_envelope([1.0], [0.0], ties="max")


def test_envelope_tolerance_adds_near_ties_only():
    # line 2 passes 1e-7 below the crossing of lines 0 and 1 at x = 0
    w, b = np.array([1.0, -1.0, 0.0]), np.array([0.0, 0.0, -1e-7])
    assert hull_geometry.upper_envelope(w, b, ties="weak").tolist() == [0, 1]
    assert hull_geometry.upper_envelope(w, b, ties="weak", tol=1e-6).tolist() == [0, 1, 2]
    assert hull_geometry.upper_envelope(w, b, 1.0, 2.0, ties="weak", tol=1e-6).tolist() == [0]


def test_large_vocabulary_envelope_matches_brute_force_grid():
    rng = np.random.default_rng(7)
    C = 4096
    w, b = rng.standard_normal(C), rng.standard_normal(C)
    env = hull_geometry.upper_envelope(w, b)
    segs = hull_geometry.envelope_segments(w, b)
    # every finite segment's midpoint has its label as the float argmax
    for label, x0, x1 in segs:
        if np.isfinite(x0) and np.isfinite(x1) and x1 > x0:
            assert int(np.argmax(w * ((x0 + x1) / 2) + b)) == label
    xs = np.concatenate([-np.logspace(8, -4, 5000), np.logspace(-4, 8, 5000)])
    assert set(np.unique(np.argmax(np.outer(xs, w) + b, axis=1))) <= set(env)
    assert [s[0] for s in segs][0] == int(np.argmax(np.where(w == w.min(), b, -np.inf)))


# ----------------------------------------------------------------------------- the LP

@pytest.mark.parametrize("k", [1, 2, 3])
@pytest.mark.parametrize("seed", range(6))
def test_lp_matches_convex_hull(k, seed):
    rng = np.random.default_rng(seed)
    C = int(rng.choice([4, 12, 30]))
    W, b = rng.standard_normal((C, k)), rng.standard_normal(C)
    lp = hull_geometry.achievable_labels(W, b, method="lp")
    ch = hull_geometry.hull_achievable(W, b)
    assert lp.tolist() == ch.tolist()
    assert hull_geometry.achievable_labels(W, b).tolist() == ch.tolist()      # k = 1: the envelope
    assert 1 <= lp.sum() < C or C <= k + 1


def test_hull_cross_check_is_not_trivial():
    # a label inside the others' weight hull and far below them is not achievable
    rng = np.random.default_rng(1)
    W, b = rng.standard_normal((10, 2)), rng.standard_normal(10)
    W[3] = W.mean(0)
    b[3] -= 100
    assert not hull_geometry.achievable_labels(W, b)[3] and not hull_geometry.hull_achievable(W, b)[3]
    W[5] = 0.0
    b[5] = 1e6
    assert hull_geometry.achievable_labels(W, b).sum() >= 1 and hull_geometry.achievable_labels(W, b)[5]


@pytest.mark.parametrize("seed", range(5))
def test_lp_with_box_contains_every_sampled_argmax(seed):
    rng = np.random.default_rng(seed)
    C, k = 16, 2
    W, b = rng.standard_normal((C, k)), rng.standard_normal(C) * 2
    lo, hi = -rng.random(k), rng.random(k)
    box = hull_geometry.achievable_labels(W, b, lo, hi)
    g = np.stack(np.meshgrid(np.linspace(lo[0], hi[0], 301), np.linspace(lo[1], hi[1], 301)), -1).reshape(-1, 2)
    sampled = np.unique(np.argmax(g @ W.T + b, axis=1))
    assert box[sampled].all()
    free = hull_geometry.achievable_labels(W, b)
    assert not (box & ~free).any()                              # the box can only remove labels
    # and a label that the LP calls achievable in the box is really reached near its optimum:
    # the box bound is much smaller than the unbounded one on a tiny box
    tiny = hull_geometry.achievable_labels(W, b, lo * 1e-3, hi * 1e-3)
    assert tiny.sum() <= box.sum() and tiny.sum() >= 1


def test_lp_k1_equals_envelope_with_ties():
    rng = np.random.default_rng(3)
    for _ in range(25):
        C = int(rng.integers(1, 9))
        w, b = _tie_heavy_lines(rng, C)
        for lo, hi in [(None, None), (-1.0, 1.0), (0.0, 0.0), (-2.0, 0.5)]:
            box = (None, None) if lo is None else (np.array([lo]), np.array([hi]))
            lp = hull_geometry.achievable_labels(w[:, None], b, *box, method="lp")
            env = hull_geometry.achievable_labels(w[:, None], b, *box)
            expected = np.zeros(C, bool)
            expected[_brute_envelope(w, b, -np.inf if lo is None else lo, np.inf if hi is None else hi, weak=True)] = True
            assert lp.tolist() == expected.tolist() == env.tolist(), (w, b, lo, hi)


def test_lp_degenerate_inputs():
    # all-equal weights and biases: every label ties everywhere (weak), none strictly
    W, b = np.ones((6, 3)), np.zeros(6)
    assert hull_geometry.achievable_labels(W, b).all()
    assert not hull_geometry.achievable_labels(W, b, strict=True).any()
    assert hull_geometry.hull_achievable(W, b).tolist() == [True] + [False] * 5            # one point, lowest index
    # a single label
    assert hull_geometry.achievable_labels(np.ones((1, 4)), np.zeros(1)).tolist() == [True]
    # duplicate rows: both weakly achievable, neither strictly; the hull keeps the lower index
    rng = np.random.default_rng(0)
    W, b = rng.standard_normal((8, 2)), rng.standard_normal(8)
    W[6], b[6] = W[2], b[2]
    weak = hull_geometry.achievable_labels(W, b)
    assert weak[2] == weak[6]
    if weak[2]:
        assert not hull_geometry.achievable_labels(W, b, strict=True)[[2, 6]].any()
        assert hull_geometry.hull_achievable(W, b)[2] and not hull_geometry.hull_achievable(W, b)[6]
    # the empty set is the silent readout: argmax b
    silent = hull_geometry.achievable_labels(np.zeros((4, 0)), np.array([0.0, 2.0, 1.0, 2.0]))
    assert silent.tolist() == [False, True, False, True]


def test_unbounded_directions():
    # label 0 wins only for x1 -> +inf (steepest), label 1 only for x1 -> -inf, label 2 only near 0
    W = np.array([[1.0, 0.0], [-1.0, 0.0], [0.0, 0.0], [0.0, 0.0]])
    b = np.array([0.0, 0.0, 1.0, 0.5])
    assert hull_geometry.achievable_labels(W, b).tolist() == [True, True, True, False]
    assert hull_geometry.achievable_labels(W, b, [-0.5, -1], [0.5, 1]).tolist() == [False, False, True, False]
    assert hull_geometry.hull_achievable(W, b).tolist() == [True, True, True, False]


@pytest.mark.parametrize("k", [2, 3])
def test_hull_degenerate_flat_point_sets(k):
    rng = np.random.default_rng(k)
    C = 12
    W = rng.standard_normal((C, k))
    a = rng.standard_normal(k)
    b = W @ a + 0.3                                   # all points on one non-vertical hyperplane
    ref = hull_geometry.achievable_labels(W, b, strict=True, tol=1e-9)
    assert hull_geometry.hull_achievable(W, b).tolist() == ref.tolist()
    W2 = np.column_stack([W[:, 0]] + [2.0 * W[:, 0]] * (k - 1))    # the W rows lie on a line
    b2 = rng.standard_normal(C)
    ref2 = hull_geometry.achievable_labels(W2, b2, strict=True, tol=1e-9)
    assert hull_geometry.hull_achievable(W2, b2).tolist() == ref2.tolist()
    assert hull_geometry.hull_achievable(W2[:3], b2[:3]).sum() >= 1                    # fewer points than dimensions


def test_achievable_bad_input():
    with pytest.raises(ValueError, match="empty in coordinate 1"):
        hull_geometry.achievable_labels(np.ones((3, 2)), np.zeros(3), [0, 1], [1, 0])
    with pytest.raises(ValueError, match="shape"):
        hull_geometry.achievable_labels(np.ones((3, 2)), np.zeros(3), [0], [1])
    with pytest.raises(ValueError, match="length 3"):
        hull_geometry.achievable_labels(np.ones((3, 2)), np.zeros(2))


# ----------------------------------------------------------------------------- many sets and the invariant

def _masked_predictions(W, b, z, sets, dtype):
    """Argmax of W[:, S] · z[n, S] + b in ``dtype`` (the limited aperture), per set: (S, C) predicted masks."""
    C = W.shape[0]
    out = np.zeros((len(sets), C), dtype=bool)
    Wd, bd, zd = W.astype(dtype), b.astype(dtype), z.astype(dtype)
    for i, s in enumerate(sets):
        Wm = np.zeros_like(Wd)
        Wm[:, s] = Wd[:, s]
        out[i, np.unique(np.argmax(zd @ Wm.T + bd, axis=1))] = True
    return out


@pytest.mark.parametrize("seed", range(3))
def test_invariant_predicted_is_achievable(seed):
    rng = np.random.default_rng(seed)
    C, D, N = 16, 24, 400
    W = (rng.standard_normal((C, D)) * rng.random((C, 1)) * 3).astype(np.float32).astype(np.float64)
    b = (rng.standard_normal(C) * 0.5).astype(np.float32).astype(np.float64)
    z = rng.standard_normal((N, D)).astype(np.float32).astype(np.float64) * rng.random(D) * 2
    sets = [np.array([k]) for k in range(D)]
    sets += [np.sort(rng.choice(D, n, replace=False)) for n in (2, 3, 5, 8) for _ in range(4)] + [np.arange(D)]
    predicted = _masked_predictions(W, b, z, sets, np.float32)
    out = hull_geometry.bound_for_sets(W, b, sets, z_observed=z, predicted=predicted)
    assert out["violations"] == 0 and out["violation_sets"] == []
    assert (out["U_observed"] <= out["U"]).all()
    assert (predicted.sum(1) <= out["U_observed"]).all()
    assert (out["U"] >= 1).all() and out["U"].shape == (len(sets),)
    # single nodes: the observed bound really restricts (some node sees fewer labels on its box)
    assert (out["U_observed"][:D] < out["U"][:D]).any()


def test_violations_are_detected():
    rng = np.random.default_rng(0)
    C, D = 6, 4
    W, b = rng.standard_normal((C, D)), rng.standard_normal(C)
    W[4], b[4] = 0.0, -1e3                                   # label 4 can never win
    z = rng.standard_normal((50, D))
    sets = [np.array([0]), np.array([1, 2])]
    predicted = _masked_predictions(W, b, z, sets, np.float64)
    predicted[1, 4] = True                                   # a planted bug
    out = hull_geometry.bound_for_sets(W, b, sets, z_observed=z, predicted=predicted)
    assert out["violations"] == 1 and out["violation_sets"] == [(1, 4)]


def test_bound_for_sets_without_data_and_bad_input():
    rng = np.random.default_rng(0)
    W, b = rng.standard_normal((5, 3)), rng.standard_normal(5)
    out = hull_geometry.bound_for_sets(W, b, [[0], [1, 2], [0, 1, 2]])
    assert out["U_observed"] is None and out["U"].tolist() == [
        hull_geometry.achievable_labels(W[:, [0]], b, tol=out["tol"][0]).sum(),
        hull_geometry.achievable_labels(W[:, [1, 2]], b, tol=out["tol"][1]).sum(),
        hull_geometry.achievable_labels(W, b, tol=out["tol"][2]).sum()]
    with pytest.raises(ValueError, match="outside the valid range"):
        hull_geometry.bound_for_sets(W, b, [[3]])
    with pytest.raises(ValueError, match="predicted must be"):
        hull_geometry.bound_for_sets(W, b, [[0]], predicted=np.zeros((2, 5), bool))
    with pytest.raises(ValueError, match="z_observed must be"):
        hull_geometry.bound_for_sets(W, b, [[0]], z_observed=np.zeros((4, 2)))


@pytest.mark.parametrize("seed", range(4))
def test_prefilter_of_many_lines_changes_nothing(seed, monkeypatch):
    rng = np.random.default_rng(seed)
    C = 600
    if seed % 2:
        w, b = rng.integers(-20, 21, C).astype(float), rng.integers(-20, 21, C).astype(float)   # heavy ties
    else:
        w, b = rng.standard_normal(C), rng.standard_normal(C)
    results = []
    for prefilter in (True, False):
        if not prefilter:
            monkeypatch.setattr(hull_geometry, "_candidates", lambda w, b: np.arange(w.shape[0]))
        geo = hull_geometry
        results.append([geo.upper_envelope(w, b).tolist(), geo.upper_envelope(w, b, -0.3, 0.2).tolist(),
                        geo.upper_envelope(w, b, ties="weak").tolist(), geo.envelope_segments(w, b, -5, 5)])
    assert results[0] == results[1]


# ----------------------------------------------------------------------------- statistics (C5)

def _hull_table(U_of_n, eta_of_n, sets: int = 30, seed: int = 0, n_classes: int = 16, jitter: int = 1):
    import pandas as pd
    rng = np.random.default_rng(seed)
    rows = []
    for n in (1, 2, 4, 8, 16):
        for _ in range(sets):
            U = int(min(n_classes, max(1, U_of_n(n) + rng.integers(-jitter, jitter + 1))))
            R = int(np.clip(round(U * (eta_of_n(n) + rng.normal(0, 0.05))), 0, U))
            rows.append({"n": n, "single": n == 1, "U": U, "U_observed": U, "predicted": R, "recognized": R, "violations": 0})
    return pd.DataFrame(rows)


def test_stratified_slope_ci_on_a_known_linear_trend():
    from ssb import stats
    rng = np.random.default_rng(0)
    x = np.repeat(np.log([1, 2, 4, 8, 16]), 200)
    y = 0.7 - 0.08 * x + rng.normal(0, 0.05, len(x))
    slope, ci = stats.stratified_slope_ci(x, y, n_boot=500, seed=0)
    assert ci[0] < -0.08 < ci[1] and ci[1] - ci[0] < 0.02 and slope == pytest.approx(-0.08, abs=0.01)
    flat, flat_ci = stats.stratified_slope_ci(x, rng.normal(0, 0.05, len(x)), n_boot=500, seed=0)
    assert flat_ci[0] < 0 < flat_ci[1]
    assert np.isnan(stats.stratified_slope_ci([1, 1], [2, 3])[0])
    with pytest.raises(ValueError, match="same length"):
        stats.stratified_slope_ci([1, 2], [1])


def test_hull_stats_trends_over_n_with_U_below_C():
    table = _hull_table(lambda n: 2 + 2 * n, lambda n: 0.6 - 0.1 * np.log(n))      # U reaches C = 16 from n = 8
    out = hull.hull_stats(table, 16, n_boot=300)
    assert out["nulls"]["n_with_U_below_C"] == [1, 2, 4] and out["nulls"]["n_with_U_equal_C"] == [8, 16]
    c = out["checks"]
    assert c["efficiency_falls"]["passed"] is True and c["efficiency_falls"]["ci"][1] < 0
    assert c["gap_grows"]["passed"] is True and c["gap_grows"]["n_used"] == [1, 2, 4]
    assert c["no_violations"]["passed"] is True and c["no_violations"]["direction"] == "equal"
    rising = hull.hull_stats(_hull_table(lambda n: 2 + 2 * n, lambda n: 0.2 + 0.1 * np.log(n)), 16, n_boot=300)
    assert rising["checks"]["efficiency_falls"]["passed"] is False


def test_hull_stats_not_testable_when_U_equals_C():
    table = _hull_table(lambda n: 16, lambda n: 0.5, jitter=0)          # today's quick run: U = C for every n
    out = hull.hull_stats(table, 16, n_boot=100)
    for key in ("gap_grows", "efficiency_falls"):
        chk = out["checks"][key]
        assert chk["value"] is None and chk["ci"] == [None, None] and chk["passed"] is None
        assert "16 labels" in chk["reason"]
    assert out["checks"]["no_violations"]["passed"] is True
    bad = table.assign(violations=[1] + [0] * (len(table) - 1))
    assert hull.hull_stats(bad, 16, n_boot=100)["checks"]["no_violations"]["passed"] is False
    bands = hull.efficiency_bands(table, 16, n_boot=100)
    assert not bands["U_below_C"].any() and (bands["eta_lo"] <= bands["eta_hi"]).all()


def test_reach_of_a_checkpoint_against_its_random_inits():
    """C5's core check for a checkpoint: mean eta against the controls' population; a checkpoint
    whose eta lies among the controls' is not beyond them, one far above them is."""
    import pandas as pd

    def table(recognized, u=8):
        return pd.DataFrame({"n": [1] * len(recognized), "recognized": recognized, "U": [u] * len(recognized)})
    rng = np.random.default_rng(0)
    controls = [table(rng.integers(0, 3, 40)) for _ in range(3)]
    among = hull.reach_beyond_controls_check(controls[0], controls)
    assert among["controls"] == 3 and among["passed"] is False
    high = hull.reach_beyond_controls_check(table(rng.integers(5, 8, 40)), controls)
    assert high["passed"] is True and high["value"] == pytest.approx(high["trained"] - high["controls_mean"])
    with pytest.raises(ValueError, match="same node sets"):
        hull.reach_beyond_controls_check(table([1, 2]), [table([1, 2, 3])] * 2)
