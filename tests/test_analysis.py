"""The notebooks' analysis layer on a synthetic probe: APT and strong matches, cached heads,
nodal analysis and the symmetric control, crossover and hull tables, and every plot."""
from __future__ import annotations

import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

from ssb import apt, nodal, node_sets, plots
from ssb.pipeline import Probe
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
    return get_profile("smoke", head_epochs=30, head_batch=64, min_hits=2, crossover_sets=3, crossover_points=4, hull_max_sets=2, hull_max_n=3)


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


def test_fit_head_is_cached_and_the_symmetric_control_gives_jaccard_one(profile):
    probe = synthetic_probe()
    head = nodal.fit_head(profile, probe, 6, progress=False)
    again = nodal.fit_head(profile, probe, 6, progress=False)
    assert all(np.array_equal(a.detach(), b.detach()) for a, b in zip(head.parameters(), again.parameters()))
    res = nodal.nodal_analysis(head, probe, 6, profile)
    s = nodal.nodal_summary(res)
    assert s["accuracy_full"] > 0.8 > res.silent_accuracy
    assert res.singles.n_recognized.shape == (N_HEADS * D_HEAD,)
    table = nodal.head_table(res)
    assert len(table) == N_HEADS and "label" in " ".join(table["recognized_labels"])

    control = nodal.symmetry_control(profile, lambda v: synthetic_probe(1, symmetric=(v == "symmetric")))
    assert nodal.head_jaccard(control["symmetric"]) == 1.0
    assert nodal.head_jaccard(control["random"]) < 1.0
    assert set(nodal.control_table(control)["variant"]) == {"random", "symmetric"}
    with pytest.raises(ValueError, match="block 3"):
        nodal.fit_head(profile, probe, 3, progress=False)


def test_crossover_and_hull_tables(profile):
    probe = synthetic_probe()
    head = nodal.fit_head(profile, probe, 6, layers=1, progress=False)
    res = nodal.nodal_analysis(head, probe, 6, profile)
    z, y = probe.z_test[6], probe.y_test
    table = node_sets.crossover_table(head, z, y, profile, res.singles, res.silent_accuracy, n_classes=C, d_head=D_HEAD)
    curve = node_sets.crossover_curve(table)
    assert curve["n"].iloc[0] == 1 and curve["n"].iloc[-1] == N_HEADS * D_HEAD
    assert curve["accuracy_mean"].iloc[-1] == pytest.approx(res.full.accuracy[0])
    has_dip, n_min = node_sets.dip(curve)
    assert isinstance(has_dip, bool)
    inside = node_sets.crossover_table(head, z, y, profile, res.singles, res.silent_accuracy, n_classes=C,
                                       d_head=D_HEAD, within_head=True)
    assert inside["n"].max() <= D_HEAD
    experiment = node_sets.crossover_experiment(head, probe, res, profile, block=6)
    pd.testing.assert_frame_equal(experiment["across"], table)
    assert experiment["curves"]["inside one head"]["n"].max() <= D_HEAD
    assert (experiment["has_dip"], experiment["n_min"]) == (has_dip, n_min)
    hull = node_sets.hull_table(head, z, y, profile, res.singles, n_classes=C)
    assert hull["violations"].sum() == 0
    assert (hull["recognized"] <= hull["predicted"]).all()
    assert (hull["predicted"] <= hull["U_observed"]).all() and (hull["U_observed"] <= hull["U"]).all()
    eff = node_sets.efficiency_by_n(hull)
    assert ((eff["eta"] >= 0) & (eff["eta"] <= 1)).all()
    check = node_sets.hull_crosscheck(head, [np.array([0, 5]), np.array([1, 2, 7])])
    assert check == {"checked": 2, "agree": 2}
    two_fc = nodal.fit_head(profile, probe, 6, layers=2, progress=False)
    with pytest.raises(ValueError, match="1-FC"):
        node_sets.first_fc(two_fc)


def test_every_plot_draws(profile):
    probe = synthetic_probe()
    head = nodal.fit_head(profile, probe, 6, progress=False)
    res = nodal.nodal_analysis(head, probe, 6, profile)
    z, y = probe.z_test[6], probe.y_test
    table = node_sets.crossover_table(head, z, y, profile, res.singles, res.silent_accuracy, n_classes=C, d_head=D_HEAD)
    curve = node_sets.crossover_curve(table)
    hull = node_sets.hull_table(head, z, y, profile, res.singles, n_classes=C)
    W, b = node_sets.first_fc(head)
    from ssb.hull import envelope_segments
    apt_t = apt.apt_table(y, nodal.predict(head, z), np.bincount(probe.y_train, minlength=C), C, 1, probe.label_names)
    figures = [
        plots.token_frequency(np.bincount(probe.y_train)),
        plots.training_curves([{"step": 0, "loss": None, "eval_loss": 2.0, "eval_accuracy": 0.1, "baseline_accuracy": 0.1},
                               {"step": 5, "loss": 1.5, "train_accuracy": 0.3, "eval_loss": 1.6, "eval_accuracy": 0.3, "baseline_accuracy": 0.1}]),
        plots.head_gap_curves({"symmetric": [{"step": 0, "gap": 0.0}], "random": [{"step": 0, "gap": 1.4}]}, eps=1e-4),
        plots.apt_vs_frequency(apt_t, apt.apt_by_frequency_bins(apt_t)),
        plots.apt_by_layer({1: 0.1, 2: 0.2}, {1: 0.3, 2: 0.4}),
        plots.confusion_clusters([np.array([0, 1])], np.eye(2), probe.label_names),
        plots.confusion_clusters([], np.zeros((0, 0)), probe.label_names),
        plots.recognized_histogram(res, "labels"),
        plots.diagonal_confidence(res, 1 / C),
        plots.node_label_map(res, np.arange(C), probe.label_names, "map"),
        plots.head_label_map(res, probe.label_names),
        plots.jaccard_matrices({"random": nodal.head_jaccard_matrix(res)}),
        plots.accuracy_by_layer(pd.DataFrame({"pooling": ["cls", "cls"], "block": [5, 6], "accuracy": [0.5, 0.6]}), 1 / C, 0.7),
        plots.label_confusion(np.eye(C) * 5, probe.label_names),
        plots.crossover_panels({"across": curve}, res.silent_accuracy, 1 / C, "labels"),
        plots.gain_vs_sum(table),
        plots.single_node_envelope(W[:, 0], b, envelope_segments(W[:, 0], b), (float(z[:, 0].min()), float(z[:, 0].max())),
                                   res.singles.predicted[0], probe.label_names, 0),
        plots.bound_vs_realized(hull),
        plots.efficiency_curve(node_sets.efficiency_by_n(hull)),
    ]
    for fig in figures:
        assert isinstance(fig, matplotlib.figure.Figure) and fig.axes
        plt.close(fig)


def test_crossover_panels_draw_when_no_kappa_is_defined():
    curve = pd.DataFrame({"n": [1, 2, 4], "accuracy_mean": [0.1] * 3, "accuracy_std": [0.0] * 3,
                          "recognized_mean": [0.0] * 3, "recognized_std": [0.0] * 3, "union_individual_mean": [0.0] * 3,
                          "predicted_mean": [1.0] * 3, "kappa_R_mean": [np.nan] * 3})
    fig = plots.crossover_panels({"across": curve}, 0.1, 0.1, "nothing recognised")
    fig.canvas.draw()                      # log axes with only NaN data used to fail at draw time
    plt.close(fig)


def test_crosscheck_sets_are_distinct_and_seeded():
    a = node_sets.crosscheck_sets(48, 10, seed=0)
    assert [len(s) for s in a] == [2] * 10 + [3] * 10
    assert len({tuple(sorted(s)) for s in a}) == 20            # one generator: not the same set 20 times
    assert all(np.array_equal(x, y) for x, y in zip(a, node_sets.crosscheck_sets(48, 10, seed=0)))
