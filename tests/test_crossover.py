"""The crossover arithmetic (lib/ssb/crossover.py): log grid, node-set sampling, cooperation,
the interior-minimum rule and the per-size summary."""
from __future__ import annotations

import numpy as np
import pytest

from ssb import crossover


# ----------------------------------------------------------------------------- log_grid

@pytest.mark.parametrize("n_max,n_points", [(768, 12), (192, 10), (64, 8), (16, 16), (5, 10), (2, 2), (1000, 30), (1, 1), (1, 5)])
def test_log_grid_properties(n_max, n_points):
    g = crossover.log_grid(n_max, n_points)
    assert g.dtype.kind == "i"
    assert g[0] == 1 and g[-1] == n_max
    assert np.all(np.diff(g) > 0)                                   # sorted and distinct
    assert len(g) == min(n_points, n_max)


def test_log_grid_is_roughly_log_spaced():
    g = crossover.log_grid(768, 12)
    ratios = g[1:] / g[:-1]
    big = ratios[g[:-1] >= 4]                                       # past the integer-crowded low end
    assert big.max() / big.min() < 1.5                              # near-constant ratio
    assert np.all(ratios >= 1.5)


def test_log_grid_bad_input():
    with pytest.raises(ValueError, match="n_max"):
        crossover.log_grid(0, 5)
    with pytest.raises(ValueError, match="n_points must be >= 2"):
        crossover.log_grid(10, 1)
    with pytest.raises(ValueError, match="integer"):
        crossover.log_grid(10.5, 4)


# ----------------------------------------------------------------------------- sample_node_sets

def test_sample_node_sets_shapes_and_determinism():
    a = crossover.sample_node_sets(192, [1, 4, 50, 192], r=5, seed=3)
    b = crossover.sample_node_sets(192, [192, 50, 4, 1], r=5, seed=3)
    assert list(a) == [1, 4, 50, 192]
    for n in a:
        assert len(a[n]) == (1 if n == 192 else 5)
        for s, t in zip(a[n], b[n]):
            assert s.dtype == np.int64 and len(s) == n
            assert np.array_equal(s, np.sort(s)) and len(np.unique(s)) == n
            assert s.min() >= 0 and s.max() < 192
            assert np.array_equal(s, t)
    assert np.array_equal(a[192][0], np.arange(192))
    c = crossover.sample_node_sets(192, [4], r=5, seed=4)
    assert not all(np.array_equal(s, t) for s, t in zip(a[4], c[4]))   # the seed matters
    d = crossover.sample_node_sets(192, [4, 7], r=5, seed=3)
    assert all(np.array_equal(s, t) for s, t in zip(a[4], d[4]))       # other sizes do not


def test_sample_node_sets_within_head():
    d_head, n_heads = 16, 12
    sets = crossover.sample_node_sets(d_head * n_heads, [1, 3, 8, 16], r=20, seed=0, d_head=d_head, within_head=True)
    heads_seen = set()
    for n, group in sets.items():
        assert len(group) == 20
        for s in group:
            heads = np.unique(s // d_head)
            assert len(heads) == 1 and len(s) == n and len(np.unique(s)) == n
            heads_seen.add(int(heads[0]))
    assert len(heads_seen) > 3                                      # the head is random per set
    assert all(np.array_equal(s, np.arange(s[0], s[0] + 16)) for s in sets[16])


def test_sample_node_sets_bad_input():
    with pytest.raises(ValueError, match="at most d_head=16"):
        crossover.sample_node_sets(192, [32], r=2, seed=0, d_head=16, within_head=True)
    with pytest.raises(ValueError, match="1..192"):
        crossover.sample_node_sets(192, [0, 4], r=2, seed=0)
    with pytest.raises(ValueError, match="1..192"):
        crossover.sample_node_sets(192, [193], r=2, seed=0)
    with pytest.raises(ValueError, match="needs d_head"):
        crossover.sample_node_sets(192, [2], r=2, seed=0, within_head=True)
    with pytest.raises(ValueError, match="multiple of d_head"):
        crossover.sample_node_sets(100, [2], r=2, seed=0, d_head=16, within_head=True)
    with pytest.raises(ValueError, match="r must be"):
        crossover.sample_node_sets(10, [2], r=0, seed=0)


# ----------------------------------------------------------------------------- cooperation

def test_cooperation_hand_made():
    # 4 nodes, 5 labels
    single_R = np.array([[1, 0, 0, 0, 0],       # node 0 recognises {0}
                         [1, 1, 0, 0, 0],       # node 1 recognises {0, 1}
                         [0, 0, 0, 0, 0],       # node 2 nothing
                         [0, 0, 0, 0, 1]], bool)  # node 3 recognises {4}
    single_gain = np.array([0.05, 0.10, -0.02, 0.0])
    sets = [np.array([0, 1]), np.array([2]), np.array([0, 1, 3]), np.array([2, 3])]
    set_R = np.array([[1, 1, 1, 0, 0],
                      [0, 0, 0, 0, 0],
                      [1, 1, 1, 1, 1],
                      [0, 0, 0, 1, 0]], bool)
    set_gain = np.array([0.30, 0.01, 0.45, 0.02])
    out = crossover.cooperation(set_R, single_R, sets, set_gain, single_gain)
    assert out["recognized"].tolist() == [3, 0, 5, 1]
    assert out["union_individual"].tolist() == [2, 0, 3, 1]
    np.testing.assert_allclose(out["kappa_R"], [1.5, np.nan, 5 / 3, 1.0])
    np.testing.assert_allclose(out["sum_individual_gain"], [0.15, -0.02, 0.15, -0.02])
    np.testing.assert_allclose(out["kappa_A"], [2.0, np.nan, 3.0, np.nan])
    assert out["kappa_A_undefined"] == 2 and out["kappa_R_undefined"] == 1


def test_cooperation_bad_input():
    R = np.zeros((2, 3), bool)
    with pytest.raises(ValueError, match="2 rows"):
        crossover.cooperation(R, R, [np.array([0])], np.zeros(2), np.zeros(2))
    with pytest.raises(ValueError, match="node indices in 0..1"):
        crossover.cooperation(R, R, [np.array([0]), np.array([2])], np.zeros(2), np.zeros(2))
    with pytest.raises(ValueError, match="same C"):
        crossover.cooperation(R, np.zeros((2, 4), bool), [[0], [1]], np.zeros(2), np.zeros(2))


# ----------------------------------------------------------------------------- interior_minimum

def test_interior_minimum_v_shape():
    n = np.array([1, 2, 4, 8, 16, 32])
    a = np.array([0.30, 0.20, 0.10, 0.15, 0.40, 0.60])
    assert crossover.interior_minimum(n, a) == (True, 4)
    has, where = crossover.interior_minimum(n[::-1], a[::-1])        # order of the grid does not matter
    assert has and where == 4 and isinstance(where, int)
    # the dip is within noise of the first point: no dip
    assert crossover.interior_minimum(n, a, np.full(6, 0.2)) == (False, None)
    assert crossover.interior_minimum(n, a, np.full(6, 0.05)) == (True, 4)


def test_interior_minimum_monotone_and_flat():
    n = np.array([1, 2, 4, 8, 16])
    assert crossover.interior_minimum(n, np.array([0.1, 0.2, 0.3, 0.4, 0.5])) == (False, None)
    assert crossover.interior_minimum(n, np.array([0.5, 0.4, 0.3, 0.2, 0.1])) == (False, None)
    assert crossover.interior_minimum(n, np.full(5, 0.3)) == (False, None)
    assert crossover.interior_minimum(n[:2], np.array([0.3, 0.1])) == (False, None)
    # a minimum that touches one end's level is not a dip
    assert crossover.interior_minimum(n, np.array([0.1, 0.3, 0.1, 0.3, 0.5])) == (False, None)


def test_interior_minimum_bad_input():
    with pytest.raises(ValueError, match="same length"):
        crossover.interior_minimum([1, 2, 3], [0.1, 0.2])


# ----------------------------------------------------------------------------- summarize_by_size

def test_summarize_by_size():
    sizes = np.array([4, 1, 4, 1, 16])
    acc = np.array([0.2, 0.5, 0.4, 0.7, 0.9])
    kappa = np.array([1.0, np.nan, 3.0, 2.0, np.nan])
    df = crossover.summarize_by_size(sizes, {"accuracy": acc, "kappa_R": kappa})
    assert df["n"].tolist() == [1, 4, 16] and df["sets"].tolist() == [2, 2, 1]
    np.testing.assert_allclose(df["accuracy_mean"], [0.6, 0.3, 0.9])
    np.testing.assert_allclose(df["accuracy_std"], [0.1, 0.1, 0.0])
    np.testing.assert_allclose(df["kappa_R_mean"], [2.0, 2.0, np.nan])
    with pytest.raises(ValueError, match="'accuracy' has shape"):
        crossover.summarize_by_size(sizes, {"accuracy": acc[:3]})
