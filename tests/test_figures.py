"""Figures worth reading (issue 13, item 4): separate axes for different scales, maps without
empty columns, histograms that can be told apart, full label names, one style."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from ssb import plots, recognition  # noqa: E402
from ssb.readouts import Readout  # noqa: E402
from ssb.probes import Probe  # noqa: E402
from ssb.profiles import get_profile  # noqa: E402

N_HEADS, D_HEAD, C = 3, 4, 30


def make_probe(seed: int = 0, n: int = 600):
    """Node vectors where node k carries label k (nodes 0..11 informative), labels 12..29 rare."""
    rng = np.random.default_rng(seed)
    d = N_HEADS * D_HEAD
    y = rng.integers(0, d, n)
    y[: n // 10] = rng.integers(d, C, n // 10)
    z = rng.standard_normal((n, d)) * 0.3
    z[np.arange(n), np.minimum(y, d - 1)] += 3.0
    names = [f"relation number {i} with a long descriptive name" for i in range(C)]
    return Probe(z_train={1: z}, y_train=y, z_test={1: z}, y_test=y, n_classes=C, label_names=names, n_heads=N_HEADS,
                 d_head=D_HEAD)


def make_head(probe, dtype=torch.float64):
    d = N_HEADS * D_HEAD
    head = Readout(d, C).to(dtype).eval()
    with torch.no_grad():
        head.fc1.weight.zero_()
        head.fc1.weight[torch.arange(d), torch.arange(d)] = 2.0
        head.fc1.bias.zero_()
        head.fc1.bias[d:] = -5.0
    return head


@pytest.fixture(scope="module")
def result():
    probe = make_probe()
    head = make_head(probe)
    return recognition.recognize(head, probe, 1, get_profile("smoke", min_hits=2)), probe


def test_nonempty_columns_drops_empty_and_groups_by_row():
    values = np.zeros((3, 6))
    values[2, 0] = 0.5
    values[0, 4] = 0.9
    values[0, 1] = 0.2
    values[1, 3] = np.nan                                     # NaN counts as empty
    cols = plots.nonempty_columns(values)
    assert list(cols) == [4, 1, 0]                            # row 0's columns (largest first), then row 2's
    assert len(plots.nonempty_columns(values, max_columns=2)) == 2
    assert len(plots.nonempty_columns(np.zeros((2, 5)))) == 0


def test_node_label_map_shows_only_recognised_columns(result):
    res, probe = result
    fig = plots.plot_node_label_map(res, np.arange(C), probe.label_names, "map", what="labels")
    ax = fig.axes[0]
    recognised_anywhere = int(res.singles.recognized.any(axis=0).sum())
    assert 0 < recognised_anywhere < C
    assert len(ax.get_xticks()) == recognised_anywhere
    shown = ax.images[0].get_array()
    assert shown.shape == (N_HEADS * D_HEAD, recognised_anywhere)
    assert (np.asarray(shown) > 0).any(axis=0).all()          # no empty column left
    assert f"{C - recognised_anywhere} without any recognising node dropped" in ax.get_title()
    plt.close(fig)


def test_head_label_map_full_names_wrapped(result):
    res, probe = result
    fig = plots.plot_head_label_map(res, probe.label_names, "heads")
    texts = [t.get_text() for t in fig.axes[0].get_xticklabels()]
    assert texts and all("\n" in t for t in texts)
    assert all(t.replace("\n", " ") in probe.label_names for t in texts)      # nothing cut off
    plt.close(fig)


def test_label_confusion_keys_full_names():
    names = [f"a rather long relation name number {i}" for i in range(12)]
    fig = plots.plot_label_confusion(np.eye(12) * 5 + 1, names)
    rows = [t.get_text() for t in fig.axes[0].get_yticklabels()]
    assert all(name in row for name, row in zip(names, rows))
    assert [t.get_text() for t in fig.axes[0].get_xticklabels()] == [str(i) for i in range(12)]
    plt.close(fig)


def test_apt_and_accuracy_get_their_own_panels_from_zero():
    """No second axis stretching noise into a trend: two panels, each y axis starting at 0."""
    fig = plots.plot_apt_by_block({1: 0.003, 2: 0.004}, {1: 0.05, 2: 0.055})
    apt_ax, acc_ax = fig.axes[0], fig.axes[1]
    assert not apt_ax.get_shared_x_axes().joined(apt_ax, acc_ax)            # panels, not a twin axis
    assert apt_ax.get_ylim()[0] == 0 and acc_ax.get_ylim()[0] == 0
    bands = pd.DataFrame({"block": [1, 2], "mean_apt": [0.003, 0.004], "mean_apt_lo": [0.002, 0.003],
                          "mean_apt_hi": [0.004, 0.005]})
    plots.plot_apt_block_bands(fig, bands, gated=[2])
    labels = [t.get_text() for t in apt_ax.get_legend().get_texts()]
    assert any("interval" in t for t in labels) and any("constant predictor" in t for t in labels)
    plt.close(fig)


def test_apt_by_block_carries_its_check_and_the_gate_null():
    """The along-the-blocks check is written on the ⟨APT⟩ panel (with why it was not measured),
    and the constant predictor's accuracy is drawn on the accuracy panel."""
    unmeasured = {"name": "<APT> grows along the blocks", "value": None, "ci": [None, None], "passed": None,
                  "reason": "1 block(s) pass the probe gate; at least 3 are needed"}
    fig = plots.plot_apt_by_block({1: 0.003, 2: 0.004}, {1: 0.05, 2: 0.055}, constant_accuracy=0.048,
                                  check=unmeasured)
    texts = " ".join(t.get_text() for t in fig.axes[0].texts)
    assert "not measured (1 block(s) pass the probe gate; at least 3 are needed) ○" in texts
    assert any(abs(line.get_ydata()[0] - 0.048) < 1e-12 for line in fig.axes[1].get_lines()[1:])
    plt.close(fig)
    fig = plots.plot_apt_by_block({1: 0.003, 2: 0.004, 3: 0.005}, check=dict(unmeasured, value=0.8, ci=[0.5, 1.0],
                                                                               null=0.0, direction="greater", passed=True))
    assert "0.8 [0.5, 1]; pass if > 0 ✓" in " ".join(t.get_text() for t in fig.axes[0].texts)
    plt.close(fig)


def test_a_figure_carries_its_check_and_a_not_testable_stamp():
    """stamp_checks: the check's statistic, interval and pass rule on the figure, and a stamp
    naming the gate that failed; none when every gate passed."""
    check = {"name": "frequency", "value": -0.22, "ci": [-0.4, -0.1], "null": 0.0, "direction": "greater",
             "passed": False}
    table = pd.DataFrame({"train_count": [5, 50, 500], "apt": [0.1, 0.2, 0.3]})
    fig = plots.plot_apt_vs_frequency(table, check=check, gate={"name": "probe", "passed": False})
    texts = " | ".join(t.get_text() for t in fig.axes[0].texts)
    assert "-0.22 [-0.4, -0.1]; pass if > 0 ✗" in texts and "not testable" in texts and "probe not passed" in texts.replace("\n", " ")
    plt.close(fig)
    fig = plots.plot_apt_vs_frequency(table, check=dict(check, passed=True), gate={"name": "probe", "passed": True})
    texts = " | ".join(t.get_text() for t in fig.axes[0].texts)
    assert "✓" in texts and "not testable" not in texts
    plt.close(fig)
    assert plots.check_line({"name": "x", "missing": True}) == "x: not measured ○"
    assert plots.check_line({"name": "x", "value": -1.4e-17, "ci": [0.0, 6.9e-18], "null": 0.0, "direction": "greater",
                             "passed": False}) == "x: 0 [0, 0]; pass if > 0 ○"     # not passed, not against
    assert plots.check_line({"name": "x", "value": -0.2, "ci": [-0.3, -0.1], "null": 0.0, "direction": "greater",
                             "passed": False}) == "x: -0.2 [-0.3, -0.1]; pass if > 0 ✗"  # against


def test_crossover_panels_name_each_family_once_and_draw_kappa_A():
    curve = pd.DataFrame({"n": [1, 2, 4], "accuracy_mean": [0.3, 0.2, 0.4], "accuracy_std": [0.01] * 3,
                          "recognized_mean": [1.0] * 3, "recognized_std": [0.0] * 3, "union_individual_mean": [1.0] * 3,
                          "predicted_mean": [2.0] * 3, "kappa_R_mean": [1.0, 1.2, 1.1], "kappa_R_std": [0.1] * 3,
                          "kappa_A_mean": [0.5, 0.6, 0.7], "kappa_A_std": [0.1] * 3})
    core = {"name": "cooperation_beyond_untrained", "value": 0.002, "ci": [-0.007, 0.011], "null": 0.0,
            "direction": "greater", "passed": False}
    stats = {"gates": {"probe": {"name": "probe", "passed": True}}, "checks": {"cooperation_beyond_untrained": core}}
    fig = plots.plot_crossover_panels({"across": curve, "inside": curve, "grown": curve}, 0.1, 0.06, "labels",
                                      stats=stats)
    per_panel = [len(ax.get_legend().get_texts()) for ax in fig.axes]
    assert max(per_panel) <= 3, per_panel                                     # was 9 on one panel
    assert [t.get_text() for t in fig.legends[0].get_texts()] == ["across", "inside", "grown"]
    assert len(fig.axes[2].containers) == 6                                 # κ_R and κ_A per family, with bars
    texts = " | ".join(t.get_text() for t in fig.axes[2].texts)
    assert "0.002 [-0.007, 0.011]" in texts and "dip beyond untrained: not measured ○" in texts
    assert "not testable" not in texts
    plt.close(fig)
    stats["gates"]["backbone"] = {"name": "backbone", "passed": False}
    fig = plots.plot_crossover_panels({"across": curve}, 0.1, 0.06, "labels", stats=stats)
    assert "backbone not passed" in " | ".join(t.get_text() for t in fig.axes[2].texts).replace("\n", " ")
    plt.close(fig)


def _filled_overlap(ax) -> bool:
    """True when two filled bars of different colours cover the same x."""
    bars = [(p.get_x(), p.get_x() + p.get_width(), p.get_facecolor()) for p in ax.patches
            if type(p).__name__ == "Rectangle" and p.get_fill() and p.get_height() > 0]
    for i, (a0, a1, ca) in enumerate(bars):
        for b0, b1, cb in bars[i + 1:]:
            if ca != cb and min(a1, b1) - max(a0, b0) > 1e-9:
                return True
    return False


def test_count_histogram_bars_side_by_side_or_steps():
    fig, ax = plt.subplots()
    assert plots.plot_count_histogram(ax, {"a": [0, 1, 1, 2], "b": [1, 2, 2, 3]}) == "bars"
    assert not _filled_overlap(ax)
    fig2, ax2 = plt.subplots()
    rng = np.random.default_rng(0)
    assert plots.plot_count_histogram(ax2, {"a": rng.integers(0, 200, 300), "b": rng.integers(0, 200, 300)}) == "step"
    assert ax2.patches and all(not p.get_fill() for p in ax2.patches)
    plt.close(fig)
    plt.close(fig2)


def test_recognized_and_null_histograms_never_overlap_filled(result):
    res, _ = result
    fig = plots.plot_recognized_histogram(res, "labels")
    assert not _filled_overlap(fig.axes[0])
    plt.close(fig)
    rng = np.random.default_rng(1)
    fig = plots.plot_permutation_null_histogram(rng.integers(0, 4, (50, 12)), rng.integers(0, 6, 12), "labels",
                                           rng.integers(0, 3, 12))
    assert not _filled_overlap(fig.axes[0])
    assert len(fig.axes[0].get_legend().get_texts()) == 3
    plt.close(fig)


def test_setup_style_is_the_one_style():
    matplotlib.rcParams["axes.grid"] = False
    plots.setup_style()
    assert matplotlib.rcParams["axes.grid"] is True
    assert matplotlib.rcParams["axes.spines.top"] is False


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_aperture_demo_naive_equals_engine(dtype):
    probe = make_probe(seed=3)
    torch.manual_seed(0)
    head = Readout(N_HEADS * D_HEAD, C).to(dtype).eval()        # a random readout: many labels in play
    for node in (0, 7):
        demo = recognition.aperture_demo(head, probe, 1, node)
        assert demo["agree"] and demo["n_differ"] == 0
        assert demo["n_zeroed_columns"] == N_HEADS * D_HEAD - 1
        np.testing.assert_array_equal(demo["naive"], demo["engine"])
        assert len(np.unique(demo["naive"])) > 1
    unsilenced = head(torch.as_tensor(probe.z_test[1]).to(dtype)).argmax(-1).numpy()
    assert (unsilenced != demo["naive"]).any()                        # zeroing changed the predictions
    with pytest.raises(ValueError, match="outside"):
        recognition.aperture_demo(head, probe, 1, N_HEADS * D_HEAD)


def test_an_interval_beside_its_estimate_is_drawn():
    """A sequence-resampled percentile interval may not contain the estimate; it is still drawn."""
    fig = plots.plot_apt_by_block({1: 0.2, 2: 0.3})
    bands = pd.DataFrame({"block": [1, 2], "mean_apt": [0.2, 0.3], "mean_apt_lo": [0.21, 0.25],
                          "mean_apt_hi": [0.26, 0.35]})
    plots.plot_apt_block_bands(fig, bands)
    fig.canvas.draw()
    plt.close(fig)


def test_head_gap_curves_give_every_variant_its_own_colour():
    """The eps-grid runs (symmetric_eps_<eps>) are dashed and never share a colour with another
    variant (the default colour cycle gave random and symmetric_eps_1e-06 the same blue)."""
    log = [{"step": 0, "gap": 1e-4}, {"step": 10, "gap": 2e-4}]
    names = ["random", "symmetric", "symmetric_eps", "symmetric_dropout", "node_symmetric",
             "symmetric_eps_1e-06", "symmetric_eps_1e-02"]
    fig = plots.plot_head_gap_curves({n: log for n in names}, eps=1e-4)
    lines = [ln for ln in fig.axes[0].get_lines() if ln.get_label() in names]
    colours = [ln.get_color() for ln in lines]
    assert len(lines) == len(names) and len(set(colours)) == len(names)
    assert [ln.get_linestyle() for ln in lines[-2:]] == ["--", "--"]
    plt.close(fig)


def test_a_kappa_off_scale_does_not_flatten_the_cooperation_panel():
    """A κ_A whose summed single gains are ~0 (1e14) leaves the axis at a readable range and is
    named on the panel as off scale."""
    n = np.array([1, 2, 4])
    c = {"n": n, "accuracy_mean": [0.1, 0.12, 0.15], "accuracy_std": [0.01] * 3, "recognized_mean": [1, 2, 3],
         "recognized_std": [0.5] * 3, "union_individual_mean": [1, 2, 3], "kappa_R_mean": [np.nan, 1.0, 1.1],
         "kappa_R_std": [np.nan, 0.1, 0.1], "kappa_A_mean": [np.nan, 1.2e14, 0.4], "kappa_A_std": [np.nan, 5e14, 0.1]}
    fig = plots.plot_crossover_panels({"inside one head": c}, 0.06, 0.0625, "t")
    assert fig.axes[2].get_ylim() == plots.KAPPA_AXIS
    assert any("off scale: κ_A 1.2e+14 at n = 2" in t.get_text() for t in fig.axes[2].texts)
    plt.close(fig)
    c.update(kappa_A_mean=[np.nan, 0.3, 0.4], kappa_A_std=[np.nan, 0.1, 0.1])
    fig = plots.plot_crossover_panels({"inside one head": c}, 0.06, 0.0625, "t")
    assert fig.axes[2].get_ylim() != plots.KAPPA_AXIS          # nothing off scale: the axis fits the data
    plt.close(fig)


def test_the_cooperation_panels_legend_checks_and_off_scale_note_do_not_overlap():
    """The checks' box, the κ legend and the off-scale note each keep their own corner (in
    standard, the box hid the legend when both sat on the upper edge)."""
    n = np.array([1, 2, 4, 8, 16, 100])
    c = {"n": n, "accuracy_mean": np.linspace(0.06, 0.5, 6), "accuracy_std": [0.01] * 6,
         "recognized_mean": np.arange(6), "recognized_std": [0.5] * 6, "union_individual_mean": np.arange(6),
         "kappa_R_mean": [np.nan, 1.0, 1.1, 0.9, 1.0, 1.0], "kappa_R_std": [np.nan] + [0.2] * 5,
         "kappa_A_mean": [np.nan, 1.16e14, 0.4, 0.5, 0.4, 0.3], "kappa_A_std": [np.nan, 5e14] + [0.1] * 4}
    rec = {"value": 0.00481, "ci": [-0.0025, 0.0124], "null": 0.0, "direction": "greater", "passed": None}
    stats = {"gates": {"probe": {"name": "probe", "passed": True}},
             "checks": {"cooperation_beyond_untrained": dict(rec, name="cooperation_beyond_untrained"),
                        "dip_depth_across_beyond_untrained": dict(rec, name="dip_depth_across_beyond_untrained")}}
    fig = plots.plot_crossover_panels({"across the block": c, "grown inside each head": c}, 0.062, 0.0625,
                                      "Relation labels", stats=stats)
    fig.set_size_inches(18, 5.3)
    fig.canvas.draw()
    ax = fig.axes[2]
    renderer = fig.canvas.get_renderer()
    boxes = [ax.get_legend().get_window_extent(renderer)] + \
            [t.get_window_extent(renderer) for t in ax.texts if t.get_text()]
    assert len(boxes) == 3                                           # legend, checks, off-scale note
    for i, a in enumerate(boxes):
        for b in boxes[i + 1:]:
            assert not a.overlaps(b), (a, b)
    plt.close(fig)
