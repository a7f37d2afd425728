"""The crossover arithmetic (lib/ssb/crossover.py, lib/ssb/node_sets.py): log grid, node-set sampling, cooperation,
the interior-minimum rule and the per-size summary."""
from __future__ import annotations

import numpy as np
import pytest

from ssb import crossover, node_sets


# ----------------------------------------------------------------------------- log_grid

@pytest.mark.parametrize("n_max,n_points", [(768, 12), (192, 10), (64, 8), (16, 16), (5, 10), (2, 2), (1000, 30), (1, 1), (1, 5)])
def test_log_grid_properties(n_max, n_points):
    g = node_sets.log_grid(n_max, n_points)
    assert g.dtype.kind == "i"
    assert g[0] == 1 and g[-1] == n_max
    assert np.all(np.diff(g) > 0)                                   # sorted and distinct
    assert len(g) == min(n_points, n_max)


def test_log_grid_is_roughly_log_spaced():
    g = node_sets.log_grid(768, 12)
    ratios = g[1:] / g[:-1]
    big = ratios[g[:-1] >= 4]                                       # past the integer-crowded low end
    assert big.max() / big.min() < 1.5                              # near-constant ratio
    assert np.all(ratios >= 1.5)


def test_log_grid_bad_input():
    with pytest.raises(ValueError, match="n_max"):
        node_sets.log_grid(0, 5)
    with pytest.raises(ValueError, match="n_points must be >= 2"):
        node_sets.log_grid(10, 1)
    with pytest.raises(ValueError, match="integer"):
        node_sets.log_grid(10.5, 4)


# ----------------------------------------------------------------------------- sample_node_sets

def test_sample_node_sets_shapes_and_determinism():
    a = node_sets.sample_node_sets(192, [1, 4, 50, 192], r=5, seed=3)
    b = node_sets.sample_node_sets(192, [192, 50, 4, 1], r=5, seed=3)
    assert list(a) == [1, 4, 50, 192]
    for n in a:
        assert len(a[n]) == (1 if n == 192 else 5)
        for s, t in zip(a[n], b[n]):
            assert s.dtype == np.int64 and len(s) == n
            assert np.array_equal(s, np.sort(s)) and len(np.unique(s)) == n
            assert s.min() >= 0 and s.max() < 192
            assert np.array_equal(s, t)
    assert np.array_equal(a[192][0], np.arange(192))
    c = node_sets.sample_node_sets(192, [4], r=5, seed=4)
    assert not all(np.array_equal(s, t) for s, t in zip(a[4], c[4]))   # the seed matters
    d = node_sets.sample_node_sets(192, [4, 7], r=5, seed=3)
    assert all(np.array_equal(s, t) for s, t in zip(a[4], d[4]))       # other sizes do not


def test_sample_node_sets_within_head():
    d_head, n_heads = 16, 12
    sets = node_sets.sample_node_sets(d_head * n_heads, [1, 3, 8, 16], r=20, seed=0, d_head=d_head, within_head=True)
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
        node_sets.sample_node_sets(192, [32], r=2, seed=0, d_head=16, within_head=True)
    with pytest.raises(ValueError, match="1..192"):
        node_sets.sample_node_sets(192, [0, 4], r=2, seed=0)
    with pytest.raises(ValueError, match="1..192"):
        node_sets.sample_node_sets(192, [193], r=2, seed=0)
    with pytest.raises(ValueError, match="needs d_head"):
        node_sets.sample_node_sets(192, [2], r=2, seed=0, within_head=True)
    with pytest.raises(ValueError, match="multiple of d_head"):
        node_sets.sample_node_sets(100, [2], r=2, seed=0, d_head=16, within_head=True)
    with pytest.raises(ValueError, match="r must be"):
        node_sets.sample_node_sets(10, [2], r=0, seed=0)


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


# ----------------------------------------------------------------------------- statistics (C4)

def _bernoulli_curve(p_by_n: dict, sets: int, items: int, seed: int) -> dict:
    """Synthetic correct/incorrect matrices: every set of size n is right on an item with
    probability p(n), a shared item difficulty making the sets correlated across n."""
    rng = np.random.default_rng(seed)
    difficulty = rng.normal(0, 0.5, items)
    out = {}
    for n, p in p_by_n.items():
        logit = np.log(p / (1 - p)) - difficulty + rng.normal(0, 0.3, (sets, 1))
        out[n] = rng.random((sets, items)) < 1 / (1 + np.exp(-logit))
    return out


def _dip(p_by_n, sets, items, seed, n_boot=300):
    n, halves, halves_boot = crossover.crossfit_bootstrap_accuracy(_bernoulli_curve(p_by_n, sets, items, seed),
                                                                    n_boot=n_boot, seed=seed)
    return crossover.dip_check("dip", n, halves, halves_boot)


def test_planted_dip_is_detected():
    p = {1: 0.30, 2: 0.26, 4: 0.22, 8: 0.21, 16: 0.25, 32: 0.31, 64: 0.36}
    chk = _dip(p, 20, 3000, 0)
    assert chk["passed"] is True and chk["ci"][0] > 0 and chk["n_min"] in (4, 8)
    assert set(chk["n_min_halves"]) <= {4, 8} and chk["raw"] == pytest.approx(chk["value"])
    assert (chk["n_first"], chk["n_last"]) == (1, 64)


def test_flat_noisy_curve_rarely_shows_a_dip():
    flat = {n: 0.25 for n in (1, 2, 4, 8, 16, 32, 64)}
    found = 0
    for seed in range(30):
        chk = _dip(flat, 5, 400, seed, n_boot=200)
        assert chk["value"] is not None and chk["ci"][0] is not None and chk["value"] >= 0
        found += bool(chk["passed"])
    assert found <= 1                      # the one-sided 2.5 % level


def test_a_dip_below_one_end_only_is_not_a_dip():
    p = {1: 0.22, 2: 0.22, 4: 0.21, 8: 0.25, 16: 0.30, 32: 0.35}          # minimum level with the first point
    assert _dip(p, 20, 3000, 1)["passed"] is False


def test_a_monotone_curve_has_no_dip_whatever_its_slope():
    """The depth is 0 for a rising or falling curve (the signed dip read a rise as a negative dip)."""
    for p in ({1: 0.2, 2: 0.25, 4: 0.3, 8: 0.35, 16: 0.4}, {1: 0.4, 2: 0.35, 4: 0.3, 8: 0.25, 16: 0.2}):
        chk = _dip(p, 20, 3000, 2)
        assert chk["value"] == 0.0 and chk["ci"] == [0.0, 0.0] and chk["raw"] < 0 and chk["passed"] is False


def test_crossfit_dip_picks_the_minimum_on_one_half_and_measures_on_the_other():
    halves = np.array([[0.5, 0.3, 0.4, 0.6],          # half 0: its minimum at index 1
                       [0.5, 0.45, 0.2, 0.6]])        # half 1: its minimum at index 2
    depth, raw, picks = crossover.crossfit_dip(halves)
    assert picks.tolist() == [1, 2]
    # n* of half 0 (index 1) measured on half 1: 0.5 - 0.45; n* of half 1 (index 2) on half 0: 0.5 - 0.4
    assert raw == pytest.approx(((0.5 - 0.45) + (0.5 - 0.4)) / 2) and depth == pytest.approx(raw)
    assert crossover.crossfit_dip(np.array([[0.2, 0.3, 0.4], [0.2, 0.3, 0.4]]))[0] == 0.0
    with pytest.raises(ValueError, match="P >= 3"):
        crossover.crossfit_dip(np.zeros((2, 2)))


def test_crossfit_bootstrap_splits_the_items_into_fixed_halves_and_is_seeded():
    data = _bernoulli_curve({1: 0.3, 2: 0.2, 4: 0.4}, 6, 200, 0)
    a = crossover.crossfit_bootstrap_accuracy(data, n_boot=50, seed=3)
    b = crossover.crossfit_bootstrap_accuracy(data, n_boot=50, seed=3)
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    n, halves, boot = a
    assert halves.shape == (2, 3) and boot.shape == (50, 2, 3)
    first, second = crossover._halves(200, 3)
    assert len(first) == len(second) == 100 and not set(first) & set(second)
    np.testing.assert_allclose(halves[:, 0], [data[1][:, first].mean(), data[1][:, second].mean()])
    # whole sequences stay in one half
    clusters = np.repeat(np.arange(40), 5)
    first, second = crossover._halves(200, 3, clusters)
    assert not set(clusters[first]) & set(clusters[second])
    assert crossover.crossfit_bootstrap_accuracy(data, n_boot=20, seed=3, clusters=clusters)[2].shape == (20, 2, 3)
    with pytest.raises(ValueError, match="same number of sets"):
        crossover.crossfit_bootstrap_accuracy({1: data[1], 2: data[2][:3]}, chained=True)
    with pytest.raises(ValueError, match="empty"):
        crossover.crossfit_bootstrap_accuracy({})


def test_paired_bootstrap_is_seeded_and_checks_input():
    data = _bernoulli_curve({1: 0.3, 2: 0.2, 4: 0.4}, 6, 200, 0)
    a = crossover.paired_bootstrap_accuracy(data, n_boot=50, seed=3)
    b = crossover.paired_bootstrap_accuracy(data, n_boot=50, seed=3)
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    np.testing.assert_allclose(a[1], [data[k].mean() for k in (1, 2, 4)])
    chained = crossover.paired_bootstrap_accuracy(data, n_boot=50, seed=3, chained=True)
    assert chained[2].shape == (50, 3)
    with pytest.raises(ValueError, match="same number of sets"):
        crossover.paired_bootstrap_accuracy({1: data[1], 2: data[2][:3]}, chained=True)
    with pytest.raises(ValueError, match="must be"):
        crossover.paired_bootstrap_accuracy({1: data[1], 2: data[2][:, :10]})
    with pytest.raises(ValueError, match="empty"):
        crossover.paired_bootstrap_accuracy({})


def test_dip_check_needs_three_points():
    chk = crossover.dip_check("dip", [1, 2], np.array([[0.3, 0.2]] * 2), np.zeros((10, 2, 2)))
    assert chk["value"] is None and chk["passed"] is None


def test_in_head_grid_and_nested_sets():
    assert node_sets.in_head_grid(16).tolist() == [1, 2, 4, 8, 12, 16]
    assert node_sets.in_head_grid(64).tolist() == [1, 2, 4, 8, 12, 16, 24, 32, 48, 64]
    assert node_sets.in_head_grid(4).tolist() == [1, 2, 4]
    assert node_sets.in_head_grid(10).tolist() == [1, 2, 4, 8, 10]
    sets = node_sets.nested_head_sets(3, 8, [1, 2, 4, 8], orders=2, seed=0)
    assert [len(sets[n]) for n in (1, 2, 4, 8)] == [6, 6, 6, 6]
    for i in range(6):
        head = i // 2
        for small, big in ((1, 2), (2, 4), (4, 8)):
            assert set(sets[small][i]) <= set(sets[big][i])                  # nested, chain by chain
        assert set(sets[8][i]) == set(range(head * 8, head * 8 + 8))          # grown inside its own head
    assert node_sets.distinct_sets(sets[8]) == 3 and node_sets.distinct_sets(sets[1]) >= 2
    again = node_sets.nested_head_sets(3, 8, [1, 2, 4, 8], orders=2, seed=0)
    assert all(np.array_equal(s, t) for n in sets for s, t in zip(sets[n], again[n]))
    with pytest.raises(ValueError, match="d_head"):
        node_sets.nested_head_sets(3, 8, [1, 9], orders=1, seed=0)


def test_kappa_check_uses_the_largest_n_with_enough_sets():
    sizes = np.array([1, 1, 4, 4, 4, 8, 16])
    kappa = np.array([1.0, 1.0, 2.0, 2.5, 3.0, np.nan, 9.0])
    chk = crossover.kappa_check("kappa", sizes, kappa, "kappa_R", n_max=16, n_boot=200)
    assert chk["n"] == 4 and chk["sets"] == 3 and chk["value"] == pytest.approx(2.5)
    assert chk["passed"] is True and chk["ci"][0] > 1
    none = crossover.kappa_check("kappa", sizes, np.full(7, np.nan), "kappa_A")
    assert none["value"] is None and none["passed"] is None
    below = crossover.kappa_check("kappa", [2, 2, 2], [0.5, 1.5, 1.0], "kappa_A", n_boot=200)
    assert below["passed"] is False


N_HEADS, D_HEAD, N_CLASSES = 3, 4, 6


def synthetic_head(seed: int, tag: str):
    """(rng, profile, probe, head, res): a 1-FC readout on node vectors where node y % D carries
    label y (3 heads x 4 nodes, 6 labels, 600 training and 300 test items)."""
    from ssb import readouts, recognition
    from ssb.probes import Probe
    from ssb.profiles import get_profile
    rng = np.random.default_rng(seed)

    def draw(m):
        y = rng.integers(0, N_CLASSES, m)
        z = rng.normal(0, 0.3, (m, N_HEADS * D_HEAD)).astype(np.float32)
        z[np.arange(m), y % (N_HEADS * D_HEAD)] += 2.0
        return z, y
    (ztr, ytr), (zte, yte) = draw(600), draw(300)
    probe = Probe({6: ztr}, ytr, {6: zte}, yte, N_CLASSES, [f"l{i}" for i in range(N_CLASSES)], N_HEADS, D_HEAD,
                  checkpoint_fp=tag)
    profile = get_profile("smoke", readout_epochs=30, readout_batch=64, min_hits=2, crossover_sets=3, crossover_points=4)
    head = readouts.fit_readout(profile, probe, 6, layers=1, progress=False)
    return rng, profile, probe, head, recognition.recognize(head, probe, 6, profile)


def noise_like(rng, probe, tag: str):
    """A probe on the same labels whose node vectors carry no information (an untrained control)."""
    from ssb.probes import Probe
    return Probe({6: rng.normal(0, 0.3, probe.z_train[6].shape).astype(np.float32)}, probe.y_train,
                 {6: rng.normal(0, 0.3, probe.z_test[6].shape).astype(np.float32)}, probe.y_test, N_CLASSES,
                 probe.label_names, N_HEADS, D_HEAD, checkpoint_fp=tag)


def test_crossover_experiment_on_a_synthetic_head(tmp_path, monkeypatch):
    from ssb import readouts, recognition
    monkeypatch.setenv("SSB_OUTPUT_DIR", str(tmp_path))
    rng, profile, probe, head, res = synthetic_head(0, "synthetic-crossover")
    n_heads, d_head = N_HEADS, D_HEAD
    # the untrained control: the same test items, node vectors without information
    noise = noise_like(rng, probe, "synthetic-crossover-noise")
    head0 = readouts.fit_readout(profile, noise, 6, layers=1, progress=False)
    res0 = recognition.recognize(head0, noise, 6, profile)
    out = crossover.crossover_experiment(head, probe, res, profile, block=6, n_boot=100, untrained=(head0, noise, res0),
                                         backbone_gate={"name": "backbone", "passed": True})
    checks, gates = out["stats"]["checks"], out["stats"]["gates"]
    assert set(checks) == {"cooperation_R", "cooperation_A", "dip_depth_across", "dip_depth_in_head", "cooperation_beyond_voters",
                           "cooperation_beyond_untrained", "kappa_R_beyond_untrained", "dip_depth_across_beyond_untrained",
                           "dip_depth_in_head_beyond_untrained"}
    assert gates["backbone"]["passed"] is True
    c = checks["cooperation_beyond_untrained"]
    assert c["value"] == pytest.approx(c["trained"] - c["untrained"])
    # against itself the paired difference is exactly 0, whatever the resample
    same = crossover.crossover_experiment(head, probe, res, profile, block=6, n_boot=50, untrained=(head, probe, res))
    for name in ("cooperation_beyond_untrained", "dip_depth_across_beyond_untrained", "dip_depth_in_head_beyond_untrained"):
        assert same["stats"]["checks"][name]["ci"] == [0.0, 0.0] and same["stats"]["checks"][name]["passed"] is False
    alone = crossover.crossover_experiment(head, probe, res, profile, block=6, n_boot=50)
    assert alone["stats"]["checks"]["cooperation_beyond_untrained"]["missing"] is True
    assert gates["probe"]["passed"] is True                                  # the synthetic head learned
    assert checks["dip_depth_across"]["n_last"] < n_heads * d_head                   # the one full set is left out
    assert checks["dip_depth_in_head"]["n_last"] == d_head
    assert checks["cooperation_R"]["n"] is None or checks["cooperation_R"]["n"] < n_heads * d_head
    assert out["has_dip"] == bool(checks["dip_depth_across"]["passed"])
    assert set(out["bands"]) == {"across the block", "inside one head", "grown inside each head"}
    band = out["bands"]["across the block"]
    assert (band["accuracy_lo"] <= band["accuracy"] + 1e-12).all() and (band["accuracy"] <= band["accuracy_hi"] + 1e-12).all()
    assert out["nested"]["n"].max() == d_head


def test_interval_overlays_draw():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import pandas as pd
    from ssb import plots
    curve = pd.DataFrame({"n": [1, 2, 4], "accuracy_mean": [0.3, 0.2, 0.4], "accuracy_std": [0.01] * 3,
                          "recognized_mean": [1.0] * 3, "recognized_std": [0.0] * 3, "union_individual_mean": [1.0] * 3,
                          "predicted_mean": [2.0] * 3, "kappa_R_mean": [1.0] * 3})
    band = pd.DataFrame({"n": [1, 2, 4], "accuracy": [0.3, 0.2, 0.4], "accuracy_lo": [0.28, 0.18, 0.37],
                         "accuracy_hi": [0.32, 0.22, 0.43]})
    fig = plots.plot_crossover_panels({"across": curve}, 0.1, 0.1, "t")
    plots.plot_crossover_accuracy_bands(fig, {"across": band, "grown": band})
    labels = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert "shaded: 95 % paired-bootstrap band" in labels and "grown" in labels   # a family not drawn yet is added
    assert not any(t.startswith("across") for t in labels)                  # a drawn family keeps its colour, no new line
    eff = pd.DataFrame({"n": [1, 2, 4], "U": [4, 8, 16], "U_observed": [3, 6, 12], "predicted": [2, 3, 4],
                        "recognized": [1, 2, 3], "eta": [0.25, 0.25, 0.19], "eta_observed": [0.3, 0.3, 0.25]})
    bands = eff.assign(eta_lo=eff["eta"] - 0.05, eta_hi=eff["eta"] + 0.05, U_below_C=[True, True, False])
    fig2 = plots.plot_efficiency_bands(plots.plot_efficiency_curve(eff), bands)
    apt_bands = pd.DataFrame({"block": [1, 2, 3], "mean_apt": [0.01, 0.1, 0.2], "mean_apt_lo": [0.0, 0.08, 0.17],
                              "mean_apt_hi": [0.03, 0.12, 0.23]})
    fig3 = plots.plot_apt_block_bands(plots.plot_apt_by_block({1: 0.01, 2: 0.1, 3: 0.2}), apt_bands, gated=[2, 3])
    for f in (fig, fig2, fig3):
        f.canvas.draw()
        plt.close(f)


def test_a_checkpoint_is_compared_with_the_population_of_its_random_inits(tmp_path, monkeypatch):
    """untrained_controls: each C4 statistic of the checkpoint against K controls' values
    (stats.beyond_controls); a control population that contains the checkpoint itself cannot
    put it beyond (the difference is inside the controls' spread)."""
    from ssb import readouts, recognition
    monkeypatch.setenv("SSB_OUTPUT_DIR", str(tmp_path))
    rng, profile, probe, head, res = synthetic_head(1, "pop-trained")
    controls = []
    for k in range(3):
        noise = noise_like(rng, probe, f"pop-noise-{k}")
        h = readouts.fit_readout(profile, noise, 6, layers=1, progress=False)
        controls.append((h, noise, recognition.recognize(h, noise, 6, profile)))
    out = crossover.crossover_experiment(head, probe, res, profile, block=6, n_boot=100, untrained_controls=controls)
    checks = out["stats"]["checks"]
    c = checks["cooperation_beyond_untrained"]
    assert c["controls"] == 3 and "random initialisations" in c["statistic"] and not c.get("missing")
    assert c["value"] == pytest.approx(c["trained"] - c["controls_mean"])
    assert c["ci"][0] < c["value"] < c["ci"][1]
    assert out["stats"]["nulls"]["untrained"]["controls"] == 3
    for name in ("kappa_R_beyond_untrained", "dip_depth_across_beyond_untrained", "dip_depth_in_head_beyond_untrained"):
        assert checks[name]["controls"] == 3
    # the checkpoint among its own controls: never beyond them
    mixed = crossover.crossover_experiment(head, probe, res, profile, block=6, n_boot=50,
                                           untrained_controls=[(head, probe, res)] * 2 + controls[:1])
    assert mixed["stats"]["checks"]["cooperation_beyond_untrained"]["passed"] is False
    with pytest.raises(ValueError, match="not both"):
        crossover.crossover_experiment(head, probe, res, profile, block=6, n_boot=20, untrained=controls[0],
                                       untrained_controls=controls)


def test_the_shuffled_label_head_is_c4s_second_null(tmp_path, monkeypatch):
    """shuffled_label_control: a head on the same node vectors with shuffled training labels; the
    *_beyond_shuffled checks compare the trained readout's dip and kappa_R with it, paired, and a
    head compared with itself is never beyond it."""
    monkeypatch.setenv("SSB_OUTPUT_DIR", str(tmp_path))
    _, profile, probe, head, res = synthetic_head(2, "shuffle-test")
    ytr, yte = probe.y_train, probe.y_test
    shuffled = crossover.shuffled_label_control(profile, probe, 6, layers=1)
    assert sorted(shuffled[1].y_train) == sorted(ytr) and not np.array_equal(shuffled[1].y_train, ytr)
    assert np.array_equal(shuffled[1].y_test, yte)                       # the same test items
    assert shuffled[2].full.accuracy[0] < 0.4 < res.full.accuracy[0]     # nothing to generalise
    out = crossover.crossover_experiment(head, probe, res, profile, block=6, n_boot=100, shuffled=shuffled)
    checks = out["stats"]["checks"]
    for name in ("kappa_R_beyond_shuffled", "dip_depth_across_beyond_shuffled", "dip_depth_in_head_beyond_shuffled",
                 "cooperation_beyond_shuffled"):
        assert "shuffled labels" in checks[name]["statistic"] and not checks[name].get("missing"), name
    assert "cooperation_beyond_voters" in checks
    itself = crossover.crossover_experiment(head, probe, res, profile, block=6, n_boot=50, shuffled=(head, probe, res))
    assert itself["stats"]["checks"]["dip_depth_across_beyond_shuffled"]["passed"] is False
    assert "kappa_R_beyond_shuffled" not in crossover.crossover_experiment(head, probe, res, profile, block=6,
                                                                           n_boot=20)["stats"]["checks"]
