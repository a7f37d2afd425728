"""The notebooks' analysis layer on a synthetic probe: APT and strong matches, cached heads,
recognition analysis and the symmetric control, crossover and hull tables, and every plot."""
from __future__ import annotations

import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

from ssb import apt, crossover, plots, readouts, recognition
from ssb.hull import crosscheck_sets, efficiency_by_n, first_fc, hull_crosscheck, hull_table
from ssb.hull_geometry import envelope_segments
from ssb.probes import Probe
from ssb.profiles import get_profile

N_HEADS, D_HEAD, C = 3, 4, 6


def synthetic_probe(seed: int = 0, symmetric: bool = False, n: int = 600) -> Probe:
    """Labels readable from a few nodes each; with ``symmetric`` every head's block is a copy."""
    rng = np.random.default_rng(seed)
    d = N_HEADS * D_HEAD

    def draw(m):
        y = rng.integers(0, C, m)
        z = rng.normal(0, 0.3, (m, d)).astype(np.float32)
        z[np.arange(m), y % d] += 2.0
        if symmetric:
            z = np.tile(z[:, :D_HEAD], (1, N_HEADS))
        return z, y

    ztr, ytr = draw(n)
    zte, yte = draw(n // 2)
    return Probe({6: ztr}, ytr, {6: zte}, yte, C, [f"label{i}" for i in range(C)], N_HEADS, D_HEAD,
                 checkpoint_fp=f"synthetic-{seed}-{symmetric}")


@pytest.fixture
def profile(tmp_path, monkeypatch):
    monkeypatch.setenv("SSB_OUTPUT_DIR", str(tmp_path))
    return get_profile("smoke", readout_epochs=30, readout_batch=64, min_hits=2, crossover_sets=3, crossover_points=4, hull_max_sets=2, hull_max_n=3)


def test_apt_table_correlation_and_bins():
    y_true = np.array([0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2])
    y_pred = np.array([0, 0, 0, 0, 1, 1, 0, 0, 0, 0, 0, 2])
    table = apt.apt_table(y_true, y_pred, train_counts=np.array([100, 10, 1]), n_classes=3, min_count=4)
    assert table["apt"].tolist() == [1.0, 0.5, 0.25]
    assert apt.frequency_correlation(table) == pytest.approx(1.0)
    bins = apt.apt_by_frequency_bins(table, n_bins=3)
    assert bins["n_tokens"].sum() == 3


def test_strong_match_clusters_keep_the_most_frequent_tokens_of_a_big_star():
    # tokens 1..9 are all mistaken for token 0 (a weak model's star); 10 <-> 11 confused
    y_true = np.concatenate([np.full(20, t) for t in range(12)])
    y_pred = y_true.copy()
    for t in range(1, 10):
        y_pred[y_true == t] = 0
    y_pred[y_true == 10] = 11
    clusters, m = apt.strong_match_clusters(y_true, y_pred, 12, min_count=5, max_tokens=6)
    assert len(clusters[0]) == 6 and clusters[0][0] == 0          # the star, cut to 6, most frequent first
    assert sum(map(len, clusters)) <= 6 and m.shape == (6, 6)
    clusters, _ = apt.strong_match_clusters(y_true, y_pred, 12, min_count=5, max_tokens=40)
    assert sorted(map(len, clusters)) == [2, 10]


def test_fit_readout_is_cached_and_the_symmetric_control_gives_jaccard_one(profile):
    probe = synthetic_probe()
    head = readouts.fit_readout(profile, probe, 6, progress=False)
    again = readouts.fit_readout(profile, probe, 6, progress=False)
    assert all(np.array_equal(a.detach(), b.detach()) for a, b in zip(head.parameters(), again.parameters()))
    res = recognition.recognize(head, probe, 6, profile)
    s = recognition.summarize(res)
    assert s["accuracy_full"] > 0.8 > res.silent_accuracy
    assert res.singles.n_recognized.shape == (N_HEADS * D_HEAD,)
    table = recognition.head_table(res)
    assert len(table) == N_HEADS and "label" in " ".join(table["recognized_labels"])

    control = recognition.symmetry_control(profile, lambda v: synthetic_probe(1, symmetric=(v == "symmetric")))
    assert recognition.head_jaccard(control["symmetric"]) == 1.0
    assert recognition.head_jaccard(control["random"]) < 1.0
    assert set(recognition.control_table(control)["variant"]) == {"random", "symmetric", "symmetric_eps"}
    checks = recognition.symmetry_checks(control).checks
    assert "dropout_heads_differ" not in checks                          # the variant did not run: no record
    # a symmetric + dropout model whose heads stayed tied scores 0 (not below it); one whose heads
    # recognise different sets (the random model's probe standing in) falls below 0
    tied = recognition.symmetry_checks({**control, "symmetric_dropout": control["symmetric"]})
    assert tied.checks["dropout_heads_differ"]["value"] == 0.0 and tied.checks["dropout_heads_differ"]["passed"] is False
    assert "probe_symmetric_dropout" in tied.gates
    broken = recognition.symmetry_checks({**control, "symmetric_dropout": control["random"]}).checks["dropout_heads_differ"]
    assert broken["ci"][1] < 0 and broken["passed"] is True
    with pytest.raises(ValueError, match="block 3"):
        readouts.fit_readout(profile, probe, 3, progress=False)


def test_crossover_and_hull_tables(profile):
    probe = synthetic_probe()
    head = readouts.fit_readout(profile, probe, 6, layers=1, progress=False)
    res = recognition.recognize(head, probe, 6, profile)
    z, y = probe.z_test[6], probe.y_test
    table = crossover.crossover_table(head, z, y, profile, res.singles, res.silent_accuracy, n_classes=C, d_head=D_HEAD)
    curve = crossover.summarize_by_size(table["n"], table.drop(columns="n"))
    assert curve["n"].iloc[0] == 1 and curve["n"].iloc[-1] == N_HEADS * D_HEAD
    assert curve["accuracy_mean"].iloc[-1] == pytest.approx(res.full.accuracy[0])
    has_dip, n_min = crossover.dip(curve)
    assert isinstance(has_dip, bool)
    inside = crossover.crossover_table(head, z, y, profile, res.singles, res.silent_accuracy, n_classes=C,
                                       d_head=D_HEAD, within_head=True)
    assert inside["n"].max() <= D_HEAD
    experiment = crossover.crossover_experiment(head, probe, res, profile, block=6)
    pd.testing.assert_frame_equal(experiment["across"], table)
    assert experiment["curves"]["inside one head"]["n"].max() <= D_HEAD
    assert (experiment["has_dip"], experiment["n_min"]) == (has_dip, n_min)
    hull = hull_table(head, z, y, profile, res.singles, n_classes=C)
    assert hull["violations"].sum() == 0
    assert (hull["recognized"] <= hull["predicted"]).all()
    assert (hull["predicted"] <= hull["U_observed"]).all() and (hull["U_observed"] <= hull["U"]).all()
    eff = efficiency_by_n(hull)
    assert ((eff["eta"] >= 0) & (eff["eta"] <= 1)).all()
    check = hull_crosscheck(head, [np.array([0, 5]), np.array([1, 2, 7])])
    assert check == {"checked": 2, "agree": 2}
    two_fc = readouts.fit_readout(profile, probe, 6, layers=2, progress=False)
    with pytest.raises(ValueError, match="1-FC"):
        first_fc(two_fc)


def test_every_plot_draws(profile):
    probe = synthetic_probe()
    head = readouts.fit_readout(profile, probe, 6, progress=False)
    res = recognition.recognize(head, probe, 6, profile)
    z, y = probe.z_test[6], probe.y_test
    table = crossover.crossover_table(head, z, y, profile, res.singles, res.silent_accuracy, n_classes=C, d_head=D_HEAD)
    curve = crossover.summarize_by_size(table["n"], table.drop(columns="n"))
    hull = hull_table(head, z, y, profile, res.singles, n_classes=C)
    W, b = first_fc(head)
    apt_t = apt.apt_table(y, readouts.predict(head, z), np.bincount(probe.y_train, minlength=C), C, 1, probe.label_names)
    figures = [
        plots.plot_token_frequency(np.bincount(probe.y_train)),
        plots.plot_training_curves([{"step": 0, "loss": None, "eval_loss": 2.0, "eval_accuracy": 0.1, "baseline_accuracy": 0.1},
                               {"step": 5, "loss": 1.5, "train_accuracy": 0.3, "eval_loss": 1.6, "eval_accuracy": 0.3, "baseline_accuracy": 0.1}]),
        plots.plot_head_gap_curves({"symmetric": [{"step": 0, "gap": 0.0}], "random": [{"step": 0, "gap": 1.4}]}, eps=1e-4),
        plots.plot_apt_vs_frequency(apt_t, apt.apt_by_frequency_bins(apt_t)),
        plots.plot_apt_by_block({1: 0.1, 2: 0.2}, {1: 0.3, 2: 0.4}),
        plots.plot_confusion_clusters([np.array([0, 1])], np.eye(2), probe.label_names),
        plots.plot_confusion_clusters([], np.zeros((0, 0)), probe.label_names),
        plots.plot_recognized_histogram(res, "labels"),
        plots.plot_diagonal_confidence(res, 1 / C),
        plots.plot_node_label_map(res, np.arange(C), probe.label_names, "map"),
        plots.plot_head_label_map(res, probe.label_names),
        plots.plot_jaccard_matrices({"random": recognition.head_jaccard_matrix(res)}),
        plots.plot_accuracy_by_block(pd.DataFrame({"pooling": ["cls", "cls"], "block": [5, 6], "accuracy": [0.5, 0.6]}), 1 / C, 0.7),
        plots.plot_label_confusion(np.eye(C) * 5, probe.label_names),
        plots.plot_crossover_panels({"across": curve}, res.silent_accuracy, 1 / C, "labels"),
        plots.plot_gain_vs_sum(table),
        plots.plot_single_node_envelope(W[:, 0], b, envelope_segments(W[:, 0], b), (float(z[:, 0].min()), float(z[:, 0].max())),
                                   res.singles.predicted[0], probe.label_names, 0),
        plots.plot_bound_vs_realized(hull),
        plots.plot_efficiency_curve(efficiency_by_n(hull)),
    ]
    for fig in figures:
        assert isinstance(fig, matplotlib.figure.Figure) and fig.axes
        plt.close(fig)


def test_crossover_panels_draw_when_no_kappa_is_defined():
    curve = pd.DataFrame({"n": [1, 2, 4], "accuracy_mean": [0.1] * 3, "accuracy_std": [0.0] * 3,
                          "recognized_mean": [0.0] * 3, "recognized_std": [0.0] * 3, "union_individual_mean": [0.0] * 3,
                          "predicted_mean": [1.0] * 3, "kappa_R_mean": [np.nan] * 3})
    fig = plots.plot_crossover_panels({"across": curve}, 0.1, 0.1, "nothing recognised")
    fig.canvas.draw()                      # log axes with only NaN data used to fail at draw time
    plt.close(fig)


def test_crosscheck_sets_are_distinct_and_seeded():
    a = crosscheck_sets(48, 10, seed=0)
    assert [len(s) for s in a] == [2] * 10 + [3] * 10
    assert len({tuple(sorted(s)) for s in a}) == 20            # one generator: not the same set 20 times
    assert all(np.array_equal(x, y) for x, y in zip(a, crosscheck_sets(48, 10, seed=0)))


# ----------------------------------------------------------------------------- nulls behind C1/C2/C3

def noise_probe(seed: int = 1, n: int = 600) -> Probe:
    """Node vectors that carry no information about the labels."""
    rng = np.random.default_rng(seed)
    d = N_HEADS * D_HEAD
    ytr, yte = rng.integers(0, C, n), rng.integers(0, C, n // 2)
    return Probe({6: rng.normal(0, 1, (n, d)).astype(np.float32)}, ytr,
                 {6: rng.normal(0, 1, (n // 2, d)).astype(np.float32)}, yte, C,
                 [f"label{i}" for i in range(C)], N_HEADS, D_HEAD, checkpoint_fp=f"noise-{seed}")


def no_information_sets(seed: int, n_sets: int = 40, n: int = 200, q: float = 0.05):
    """Predictions drawn independently of y (skewed labels, skewed predictions), as a minimal
    stand-in for an ApertureResult."""
    import types
    from ssb import metrics, stats
    rng = np.random.default_rng(seed)
    y = rng.choice(5, n, p=[0.4, 0.25, 0.15, 0.1, 0.1])
    preds = np.stack([rng.choice(5, n, p=rng.dirichlet(np.full(5, 0.5))) for _ in range(n_sets)]).astype(np.int32)
    diag, col, row = metrics.label_counts_batched(y, preds, 5)
    rec = stats.recognized_by_base_rate(diag, col, metrics.base_rate(row), min_hits=3, q=q)
    return types.SimpleNamespace(predictions=preds, n_classes=5, row=row, y_true=y, diag=diag, col=col, min_hits=3,
                                 n_recognized=rec.sum(1)), rec


def test_no_information_sets_recognise_nothing_beyond_the_fdr_level():
    from ssb import metrics
    found, found_old = [], []
    for seed in range(10):
        res, rec = no_information_sets(seed)
        found.append(rec.any(1).mean())
        found_old.append(metrics.recognized_chance_rule(res.diag, res.col, min_hits=3).any(1).mean())
    assert np.mean(found) <= 0.05 + 0.02                     # BH at 0.05: a set recognises anything rarely
    assert np.mean(found_old) > 0.3                          # the DC > 1/C rule "recognises" frequent labels


def test_permutation_null_has_the_right_size():
    # no-information nodes: each node's |R| is itself a draw from its permutation null, so at
    # most 5 % of nodes may exceed their null's 95th percentile (fewer: the counts are discrete)
    beyond = []
    for seed in range(15):
        res, _ = no_information_sets(seed, q=0.5)          # a lenient FDR so that |R| varies under the null
        null = recognition.permutation_null(res, 200, seed=seed, q=0.5)
        assert null.shape == (200, 40)
        beyond.append(recognition.beyond_null(res.n_recognized, null))
    rate = np.concatenate(beyond).mean()
    assert 0.0 < rate <= 0.06, rate
    again = recognition.permutation_null(res, 200, seed=14, q=0.5)
    np.testing.assert_array_equal(again, null)                # seeded


def test_jaccard_null_keeps_sizes_and_item_counts():
    rec = np.zeros((4, 8), dtype=bool)
    rec[0, [0, 1]] = rec[1, [2, 3]] = rec[2, [4, 5]] = rec[3, [6, 7]] = True     # disjoint pairs
    null = recognition.jaccard_null(rec, n_draws=300, seed=0)
    assert null.shape == (300, 4)
    assert recognition.jaccard_rows(rec).tolist() == [0.0] * 4
    # every item held by one set: no arrangement of these margins overlaps (the old pool null said 0.05-0.3)
    assert null.max() == 0.0
    shared = np.zeros((4, 4), dtype=bool)
    shared[[0, 1], 0] = shared[[2, 3], 1] = shared[[0, 2], 2] = shared[[1, 3], 3] = True
    assert 0.0 < recognition.jaccard_null(shared, 200, 0).mean() < 1.0
    same = np.tile(rec[:1], (4, 1))                           # every node recognises {0, 1}: the null is 1 too
    assert recognition.jaccard_null(same, 20, 0).min() == 1.0
    assert recognition.jaccard_null(rec[:1], 5, 0).shape == (5, 0)


def test_planted_nodes_pass_and_a_no_information_probe_fails_its_gate(profile):
    from ssb import claims
    probe = synthetic_probe()
    res = recognition.recognize(readouts.fit_readout(profile, probe, 6, progress=False), probe, 6, profile)
    noise = noise_probe()
    res0 = recognition.recognize(readouts.fit_readout(profile, noise, 6, progress=False), noise, 6, profile)
    st, null = recognition.claim_stats(res, untrained=res0, n_permutations=200, seed=0)
    assert null.shape == (200, N_HEADS * D_HEAD)
    assert st["gates"]["probe"]["passed"] is True
    checks = st["checks"]
    assert set(checks) == {"beyond_permutation_null", "each_node", "heads_beyond_null", "node_specific", "small_sets",
                           "beyond_untrained"}
    # 6 labels planted on 6 of the 12 nodes, one each: beyond the nulls, but not "each node", and
    # one label per node is no more specific than sets of those margins
    for name in ("beyond_permutation_null", "heads_beyond_null", "small_sets", "beyond_untrained"):
        c = checks[name]
        assert c["passed"] is True, (name, c)
        assert (c["ci"][0] > c["null"]) if c["direction"] == "greater" else (c["ci"][1] < c["null"])
    for name in ("each_node", "node_specific"):
        assert checks[name]["passed"] is not True and not claims.contradicts(checks[name]), name
    assert st["gates"]["probe_untrained"]["missing"] is True       # noise_probe holds other test items: not paired
    assert st["nulls"]["untrained"]["fraction_beyond_null"] <= 0.1
    # the no-information head: gate fails, (almost) nothing recognised, checks do not pass
    st0, _ = recognition.claim_stats(res0, n_permutations=200, seed=0)
    assert st0["gates"]["probe"]["passed"] is False
    assert res0.singles.n_recognized.sum() <= 1
    assert st0["checks"]["beyond_permutation_null"]["passed"] is False
    assert st0["checks"]["beyond_untrained"]["passed"] is None
    summary = {"pretrain": {"variants": {"main": {"gate": {"passed": True}}}},
               "nodes_finetune": {"n_labels": C, "stats": st0}}
    assert claims.claims_summary(summary)["claims"]["C2"] == "not testable"
    summary["nodes_finetune"]["stats"] = st
    out = claims.claims_summary(summary)
    assert out["claims"]["C2"] == "partly" and "each_node" in out["stats"]["C2"]["reason"]
    # deterministic (compared as JSON: NaN, e.g. the Jaccard of nodes recognising nothing, equals itself there)
    import json
    again = recognition.claim_stats(res, untrained=res0, n_permutations=200, seed=0)[0]
    assert json.dumps(again.as_dict(), sort_keys=True) == json.dumps(st.as_dict(), sort_keys=True)


def test_head_order_parameter_symmetric_against_random(profile):
    sym = synthetic_probe(symmetric=True)
    rnd = synthetic_probe()
    rs = recognition.recognize(readouts.fit_readout(profile, sym, 6, tied=True, progress=False), sym, 6, profile)
    rr = recognition.recognize(readouts.fit_readout(profile, rnd, 6, progress=False), rnd, 6, profile)
    c = recognition.head_order_parameter(rs, rr)
    assert c["symmetric"] == 1.0 and c["random"] < 1.0
    assert c["passed"] is True and c["value"] == pytest.approx(c["symmetric"] - c["random"])
    assert recognition.head_order_parameter(rr, rr)["passed"] is False          # identical: interval is [0, 0]


def test_seeds_and_ssb_along_blocks(profile):
    probe = synthetic_probe()
    noise = noise_probe()
    probe.z_train[5], probe.z_test[5] = noise.z_train[6][:len(probe.y_train)], noise.z_test[6][:len(probe.y_test)]
    table = recognition.ssb_along_blocks(profile, probe, n_permutations=50)
    assert table["block"].tolist() == [5, 6]
    assert table["probe_gate"].tolist() == [False, True]
    assert table["fraction_beyond_null"].iloc[1] > table["fraction_beyond_null"].iloc[0]
    assert recognition.ssb_along_blocks(profile, probe, 6, n_permutations=50)["block"].tolist() == [6]
    with pytest.raises(ValueError, match="a list of block numbers, got '\\[6\\]'"):
        recognition.ssb_along_blocks(profile, probe, "[6]")              # a list given as text
    with pytest.raises(ValueError, match="available blocks: \\[5, 6\\]"):
        recognition.ssb_along_blocks(profile, probe, [4])
    seeds = recognition.seed_replicates(profile, probe, 6, n_seeds=2, n_permutations=50)
    assert seeds["seed"].tolist() == [profile.seed, profile.seed + 1]
    agg = recognition.across_seeds(seeds)
    f = agg["fraction_beyond_null"]
    assert f["range"][0] <= f["mean"] <= f["range"][1] and f["ci"][0] <= f["mean"] <= f["ci"][1]
    assert ((table["fraction_recognizing"] >= 0) & (table["fraction_recognizing"] <= 1)).all()
    assert (table["mean_recognized_node"] >= table["fraction_recognizing"] - 1e-12).all()   # |R| > 0 means |R| >= 1
    fig = plots.plot_ssb_along_blocks({"labels": table, "tokens": table})
    assert [ax.get_title() for ax in fig.axes][:2] == ["mean |R| per node", "share of nodes with |R| > 0"]
    assert all(ax.get_ylim()[0] == 0 for ax in fig.axes)      # no stretched axis: every panel from 0
    plt.close(fig)
    res = recognition.recognize(recognition.fit_readout(profile, probe, 6, progress=False), probe, 6, profile)
    null = recognition.permutation_null(res.singles, 20)
    plt.close(plots.plot_permutation_null_histogram(null, res.singles.n_recognized, untrained=res.singles.n_recognized))


def _permutation_null_by_full_comparison(singles, n_permutations: int, seed: int, q: float) -> np.ndarray:
    """The permutation null as it was computed before ``hits_diagonal``: every prediction compared
    with the permuted labels (the reference the faster count must equal)."""
    from ssb import metrics, stats
    preds, n_classes = singles.predictions, singles.n_classes
    shifted = preds.astype(np.int64) + (np.arange(len(preds), dtype=np.int64) * n_classes)[:, None]
    rng = np.random.default_rng(seed)
    out = np.empty((n_permutations, len(preds)), dtype=np.int32)
    for i in range(n_permutations):
        y = rng.permutation(singles.y_true)
        diag = np.bincount(shifted[preds == y[None, :]], minlength=preds.size // preds.shape[1] * n_classes)
        out[i] = stats.recognized_by_base_rate(diag.reshape(len(preds), n_classes), singles.col,
                                               metrics.base_rate(singles.row), min_hits=singles.min_hits, q=q).sum(1)
    return out


@pytest.mark.parametrize("dtype", [np.int16, np.int32, np.int64])
def test_hits_diagonal_is_the_confusion_diagonal(dtype):
    from ssb import metrics
    rng = np.random.default_rng(3)
    preds = rng.choice(7, (9, 300), p=[0.5, 0.2, 0.1, 0.1, 0.05, 0.05, 0.0]).astype(dtype)
    for _ in range(5):
        y = rng.integers(0, 7, 300)
        np.testing.assert_array_equal(recognition.hits_diagonal(preds, y, 7),
                                      metrics.label_counts_batched(y, preds.astype(np.int64), 7)[0])
    assert recognition.hits_diagonal(preds, np.full(300, 6), 7).sum() == 0          # label 6 is never predicted


def test_permutation_null_equals_the_full_comparison():
    for seed in range(4):
        res, _ = no_information_sets(seed, q=0.5)
        np.testing.assert_array_equal(recognition.permutation_null(res, 60, seed=seed, q=0.5),
                                      _permutation_null_by_full_comparison(res, 60, seed, 0.5))


def test_fraction_beyond_draws_a_result_s_null_once(profile, monkeypatch):
    probe = synthetic_probe()
    res = recognition.recognize(readouts.fit_readout(profile, probe, 6, progress=False), probe, 6, profile)
    drawn = []
    real = recognition.permutation_null
    monkeypatch.setattr(recognition, "permutation_null", lambda *a, **k: drawn.append(a[1:]) or real(*a, **k))
    a = recognition.fraction_beyond(res, 40, 0)
    a["fraction"] = -1.0                                           # a caller's change stays its own
    b = recognition.fraction_beyond(res, 40, 0)
    assert drawn == [(40, 0)] and b["fraction"] >= 0
    np.testing.assert_array_equal(b["null"], real(res.singles, 40, 0))
    recognition.fraction_beyond(res, 40, 1)
    recognition.fraction_beyond(res, 30, 0)
    assert drawn == [(40, 0), (40, 1), (30, 0)]                    # another seed or count: another null


def test_seed_replicates_and_blocks_reuse_the_main_result(profile, monkeypatch):
    probe = synthetic_probe()
    noise = noise_probe()
    probe.z_train[5], probe.z_test[5] = noise.z_train[6][:len(probe.y_train)], noise.z_test[6][:len(probe.y_test)]
    seeds = recognition.seed_replicates(profile, probe, 6, n_seeds=2, n_permutations=50)
    along = recognition.ssb_along_blocks(profile, probe, n_permutations=50)
    res = recognition.recognize(readouts.fit_readout(profile, probe, 6, progress=False), probe, 6, profile)
    evaluated = []
    real = recognition.recognize
    monkeypatch.setattr(recognition, "recognize", lambda r, p, b, prof, **k: evaluated.append((b, prof.seed)) or real(r, p, b, prof, **k))
    pd.testing.assert_frame_equal(recognition.seed_replicates(profile, probe, 6, n_seeds=2, n_permutations=50, first=res),
                                  seeds)
    pd.testing.assert_frame_equal(recognition.ssb_along_blocks(profile, probe, n_permutations=50, first=res), along)
    assert evaluated == [(6, profile.seed + 1), (5, profile.seed)]   # the main result stood for seed 0 and block 6
    # the reused result is what the rows show: another one gives other rows
    other = recognition.recognize(readouts.fit_readout(profile, noise, 6, progress=False), noise, 6, profile)
    assert not recognition.seed_replicates(profile, probe, 6, n_seeds=1, n_permutations=50, first=other).equals(seeds.iloc[:1])
