"""Figures of the notebooks. Each function takes measured data and returns a matplotlib
Figure; notebooks save it with ``results.save_figure``.  Every drawing function is named
``plot_*``, so that it is never confused with the measurement of the same name
(``plots.plot_diagonal_confidence`` draws what ``metrics.diagonal_confidence`` computes).

One look for every figure: ``setup_style()`` (called by ``ssb.session.start``) sets the
matplotlib style once.  Conventions the functions follow so that a figure can be read:

- quantities on different scales get their own panel, each y axis from 0 (``plot_apt_by_block``):
  never a second axis that stretches a difference of noise into a trend;
- a figure that backs a check writes the check on itself -- its statistic, interval and pass
  rule -- and carries a "not testable" stamp when its gate failed (``stamp_checks``);
- node x label maps show only the columns with at least one non-zero cell, sorted so that each
  node's labels sit together, cropped to ``max_columns``; the title says how many were dropped;
- distributions drawn together are side-by-side bars (few integer values, ``plot_count_histogram``)
  or step outlines, never filled bars on top of each other;
- long label names (FewRel relations) appear in full, wrapped (``wrap_names``), or as numbers
  with a key beside the axis (``plot_label_confusion``).

Length (about 700 lines): every figure of the seven notebooks, kept in one module so that they share one
style and one set of conventions; each ``plot_*`` function stands alone.
"""
from __future__ import annotations

import textwrap
from typing import TYPE_CHECKING

import numpy as np
import matplotlib as mpl
import matplotlib.pyplot as plt

if TYPE_CHECKING:                      # the result type the node figures read (no import at run time)
    from .recognition import RecognitionResult

STYLE = {"figure.dpi": 100, "savefig.dpi": 150, "figure.figsize": (7, 4), "axes.grid": True, "grid.alpha": 0.3,
         "axes.spines.top": False, "axes.spines.right": False, "axes.titlesize": 11, "axes.labelsize": 10,
         "legend.fontsize": 8, "legend.frameon": False, "xtick.labelsize": 9, "ytick.labelsize": 9,
         "image.cmap": "viridis", "axes.prop_cycle": mpl.cycler(color=plt.get_cmap("tab10").colors)}
MAX_GROUPED_VALUES = 25    # plot_count_histogram: side-by-side bars up to this many integer values, step outlines beyond


def setup_style() -> None:
    """The one plotting style of the project (rcParams ``STYLE``); idempotent."""
    mpl.rcParams.update(STYLE)


def wrap_names(names, width: int = 24) -> list[str]:
    """Full label names, wrapped onto lines of at most ``width`` characters (never cut)."""
    return [textwrap.fill(str(n), width) or str(n) for n in names]


def plot_count_histogram(ax, series: dict, colors=None, density: bool = False, linestyles=None):
    """Distributions of integer counts (e.g. |R| and |P| per node) drawn so they can be told
    apart: side-by-side bars when at most ``MAX_GROUPED_VALUES`` integer values occur, else
    step outlines on common bins.  series: label -> values.  Returns "bars" or "step"."""
    arrays = {k: np.asarray(v, dtype=float).ravel() for k, v in series.items()}
    arrays = {k: v[np.isfinite(v)] for k, v in arrays.items()}
    colors = colors or [f"C{i}" for i in range(len(arrays))]
    linestyles = linestyles or ["-"] * len(arrays)
    values = np.concatenate([v for v in arrays.values()] + [np.zeros(0)])
    lo, hi = (min(int(values.min()), 0), int(values.max())) if values.size else (0, 0)
    integer = values.size == 0 or bool(np.all(values == np.round(values)))
    if integer and hi - lo + 1 <= MAX_GROUPED_VALUES:
        xs = np.arange(lo, hi + 1)
        width = 0.8 / max(len(arrays), 1)
        for i, ((name, v), color) in enumerate(zip(arrays.items(), colors)):
            heights = np.bincount((v - lo).astype(np.int64), minlength=len(xs)).astype(float)
            if density and v.size:
                heights /= v.size
            ax.bar(xs - 0.4 + width * (i + 0.5), heights, width=width, color=color, label=name)
        ax.set_xticks(xs if len(xs) <= 15 else xs[:: int(np.ceil(len(xs) / 15))])
        return "bars"
    bins = np.arange(lo, hi + 2) - 0.5 if integer and hi - lo <= 60 else np.linspace(lo, max(hi, lo + 1), 41)
    for (name, v), color, ls in zip(arrays.items(), colors, linestyles):
        ax.hist(v, bins=bins, density=density, histtype="step", lw=2, ls=ls, color=color, label=name)
    return "step"

VARIANT_COLORS = {"random": "C0", "main": "C0", "symmetric": "C3", "symmetric_eps": "C2", "stochastic": "C4",
                  "symmetric_dropout": "C5", "node_symmetric": "C1"}
EPS_GRID_COLORS = ("C8", "C9", "C6", "C7")   # the other eps of the grid (symmetric_eps_<eps>): colours no variant uses


def variant_style(name: str, order: int = 0) -> dict:
    """Colour and line style of a pre-training variant: a fixed colour per variant; the eps-grid
    runs (symmetric_eps_<eps>) dashed, each in a colour of its own (``order``: its place in the grid)."""
    if name in VARIANT_COLORS:
        return {"color": VARIANT_COLORS[name], "ls": "-"}
    return {"color": EPS_GRID_COLORS[order % len(EPS_GRID_COLORS)], "ls": "--"}


def plot_token_frequency(counts: np.ndarray, title: str = "Token frequency (training sequences)"):
    """Rank-frequency (Zipf) plot of token counts."""
    c = np.sort(np.asarray(counts)[np.asarray(counts) > 0])[::-1]
    fig, ax = plt.subplots(figsize=(5.5, 3.8))
    ax.loglog(np.arange(1, len(c) + 1), c, lw=1.5)
    ax.set(xlabel="rank", ylabel="count", title=title)
    return fig


def plot_training_curves(log: list[dict], title: str = "MLM pre-training"):
    """Loss (train, held-out) and held-out masked-token accuracy against the most-frequent-token baseline."""
    steps = [r["step"] for r in log]
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(11, 3.8))
    tr = [(r["step"], r["loss"]) for r in log if r.get("loss") is not None]
    if tr:
        a1.plot(*zip(*tr), label="train (running)", color="C0")
    a1.plot(steps, [r["eval_loss"] for r in log], label="held-out", color="C1")
    a1.set(xlabel="step", ylabel="cross-entropy", title=f"{title}: loss")
    a1.legend()
    a2.plot(steps, [r["eval_accuracy"] for r in log], label="held-out masked-token accuracy", color="C1", marker="o", ms=3)
    a2.plot(steps, [r["baseline_accuracy"] for r in log], label="most-frequent-token baseline", color="gray", ls="--")
    tr = [(r["step"], r["train_accuracy"]) for r in log if r.get("train_accuracy") is not None]
    if tr:
        a2.plot(*zip(*tr), label="train (running)", color="C0", alpha=0.6)
    a2.set(xlabel="step", ylabel="accuracy", title=f"{title}: accuracy")
    a2.legend(fontsize=8)
    fig.tight_layout()
    return fig


def plot_head_gap_curves(logs: dict[str, list[dict]], eps: float, floor: float = 1e-12):
    """g(t) per variant on a log axis; exact zeros drawn at ``floor`` and labelled as such."""
    fig, ax = plt.subplots(figsize=(6.5, 4))
    grid = [n for n in logs if n not in VARIANT_COLORS]
    for name, log in logs.items():
        steps = np.array([r["step"] for r in log])
        g = np.array([r["gap"] for r in log], dtype=float)
        zero = g == 0
        label = f"{name} (g = 0 exactly)" if zero.all() else name
        ax.semilogy(steps, np.where(zero, floor, g), marker="o", ms=3, label=label,
                    **variant_style(name, grid.index(name) if name in grid else 0))
    ax.axhline(eps, color="gray", ls=":", lw=1, label=f"ε = {eps:g}")
    ax.set(xlabel="step", ylabel="head gap g = max_h ‖θ_h − θ_0‖ / ‖θ_0‖",
           title="Symmetry breaking of attention heads (deterministic training)")
    ax.set_ylim(bottom=floor / 3)
    ax.legend(fontsize=8)
    return fig


# --- 02: accuracy per token -------------------------------------------------------------

def check_line(record: dict | None, label: str | None = None) -> str:
    """One line for a check record: "label: value [lo, hi]; pass if > null ✓", as the claims table
    writes it: ✓ passed, ✗ contradicts (the whole interval on the wrong side of the null,
    ``claims.contradicts``), ○ inconclusive or not measured."""
    if not record or record.get("missing") or record.get("value") is None:
        reason = (record or {}).get("reason")
        why = f" ({textwrap.shorten(reason, 70)})" if reason else ""
        return f"{label or (record or {}).get('name', 'check')}: not measured{why} ○"
    def num(v) -> str:                  # float noise around 0 (1e-17) reads as 0
        return "0" if abs(v) < 1e-12 else f"{v:.3g}"
    ci = record.get("ci") or [None, None]
    interval = f" [{num(ci[0])}, {num(ci[1])}]" if None not in ci else ""
    op = {"greater": ">", "less": "<", "equal": "=="}.get(record.get("direction"), "vs")
    from .claims import contradicts

    mark = "✓" if record.get("passed") is True else "✗" if contradicts(record) else "○"
    return f"{label or record.get('name')}: {num(record['value'])}{interval}; pass if {op} {record.get('null'):g} {mark}"


def stamp_checks(ax, checks: list, gates: list | None = None, loc: str = "upper left"):
    """What a figure's data decide, drawn on it: one ``check_line`` per (record, label) in
    ``checks`` in a box, and -- when a gate in ``gates`` did not pass (or is missing) -- a large
    "not testable" stamp naming it, so that a figure never reads as evidence its claim lacks."""
    lines = [check_line(rec, label) for rec, label in checks]
    x, ha = (0.02, "left") if "left" in loc else (0.98, "right")
    y, va = (0.97, "top") if "upper" in loc else (0.03, "bottom")
    ax.text(x, y, "\n".join(lines), transform=ax.transAxes, ha=ha, va=va, fontsize=7,
            bbox=dict(boxstyle="round", facecolor="white", alpha=0.85, edgecolor="0.7"), zorder=10)
    failed = [g for g in (gates or []) if not g or g.get("passed") is not True]
    if failed:
        why = ", ".join(f"{(g or {}).get('name', 'gate')} " + ("missing" if not g or g.get("missing") else "not passed")
                        for g in failed)
        from matplotlib import patheffects
        ax.text(0.5, 0.55, "not testable", transform=ax.transAxes, ha="center", va="center", rotation=18,
                fontsize=26, color="#b22222", alpha=0.8, fontweight="bold", zorder=11,
                path_effects=[patheffects.withStroke(linewidth=3, foreground="white")])
        ax.text(0.5, 0.33, textwrap.fill(why, 48), transform=ax.transAxes, ha="center", va="center", fontsize=7,
                color="C3", zorder=11, bbox=dict(boxstyle="round", facecolor="white", alpha=0.85, edgecolor="C3"))
    return ax


def stamp_section(ax, stats, checks: dict, gates=None, loc: str = "upper left"):
    """``stamp_checks`` from a section's ``stats`` (a ``stats.ClaimStats`` or its dict): ``checks``
    maps a check name to its label on the figure; ``gates``: the gate names that decide whether
    the figure's claim is testable (None: every gate of the section)."""
    if stats is None:
        return ax
    found_checks, found_gates = stats["checks"], stats["gates"]
    names = list(found_gates) if gates is None else list(gates)
    return stamp_checks(ax, [(found_checks.get(k), label) for k, label in checks.items()],
                        [found_gates.get(g) or {"name": g, "missing": True} for g in names], loc=loc)


def plot_apt_vs_frequency(table, bins=None, title: str = "Accuracy per token against its frequency",
                          check: dict | None = None, gate: dict | None = None):
    """Scatter of APT against training frequency (log x), with the binned mean on top; with
    ``check`` (C6's ``frequency`` record) its statistic -- the correlation of the APT beyond the
    model's own shuffled predictions with frequency, not the raw one -- and a "not testable" stamp when ``gate`` failed."""
    fig, ax = plt.subplots(figsize=(6.5, 4))
    ax.scatter(table["train_count"].clip(lower=1), table["apt"], s=6, alpha=0.35, color="C0", label="token")
    if bins is not None and len(bins):
        ax.plot(bins["freq_center"], bins["mean_apt"], color="C3", marker="o", lw=2, label="mean in frequency bin")
    ax.set_xscale("log")
    ax.set(xlabel="training-corpus count of the token", ylabel="APT (held-out)", title=title)
    ax.legend(fontsize=8, loc="lower right")
    if check is not None:
        stamp_checks(ax, [(check, "Spearman(APT beyond shuffled predictions', count)")],
                     None if gate is None else [gate])
    return fig


def plot_apt_by_block(mean_by_block: dict, accuracy_by_block: dict | None = None,
                      constant_accuracy: float | None = None, check: dict | None = None):
    """⟨APT⟩ and the token readout's accuracy on each block's node vectors, in two panels whose
    y axes start at 0 (no second axis stretching a difference of noise into a trend); the
    intervals are added by ``plot_apt_block_bands``.  ``constant_accuracy``: the probe gate's
    null (the constant predictor), drawn on the accuracy panel; ``check``: C6's
    ``grows_along_blocks`` record, written on the ⟨APT⟩ panel (its value and interval, or why it
    was not measured)."""
    fig, axes = plt.subplots(1, 2 if accuracy_by_block else 1, figsize=(10 if accuracy_by_block else 6, 3.8),
                             squeeze=False)
    ax = axes[0][0]
    blocks = sorted(mean_by_block)
    ax.plot(blocks, [mean_by_block[b] for b in blocks], marker="o", color="C0", label="⟨APT⟩")
    ax.set(xlabel="block", ylabel="⟨APT⟩ (held-out)", title="⟨APT⟩ of a token readout on each block", xticks=blocks)
    ax.set_ylim(bottom=0)
    if accuracy_by_block:
        right = axes[0][1]
        right.plot(blocks, [accuracy_by_block[b] for b in blocks], marker="s", color="C1", label="token readout")
        if constant_accuracy is not None:
            right.axhline(constant_accuracy, color="gray", ls="--", lw=1,
                          label="constant predictor (the probe gate's null)")
            right.legend(fontsize=8, loc="lower right")
        right.set(xlabel="block", ylabel="accuracy (held-out)", title="Its accuracy", xticks=blocks)
        right.set_ylim(bottom=0)
    ax.legend(fontsize=8, loc="lower right")
    if check is not None:
        stamp_checks(ax, [(check, "⟨APT⟩ grows along the gated blocks (Spearman)")], loc="lower left")
    fig.tight_layout()
    return fig


def _joint_legend(fig, ax, **kw):
    """One legend on ``ax`` for the labelled lines of every axes sharing its x (twinx)."""
    handles, labels = [], []
    for other in fig.axes:
        if other is ax or ax.get_shared_x_axes().joined(ax, other):
            h, lab = other.get_legend_handles_labels()
            handles += h
            labels += lab
    kw = {"loc": "upper center", "bbox_to_anchor": (0.5, -0.16), "ncol": 2} | kw
    ax.legend(handles, labels, fontsize=8, **kw)


def plot_confusion_clusters(clusters: list, matrix: np.ndarray, names):
    """Row-normalised confusion among tokens that are strongly mistaken for one another,
    grouped by cluster (boxes)."""
    tokens = np.concatenate(clusters) if clusters else np.zeros(0, int)
    n = len(tokens)
    fig, ax = plt.subplots(figsize=(max(4, 0.28 * n + 2), max(3.5, 0.28 * n + 1.5)))
    if n == 0:
        ax.text(0.5, 0.5, "no strong matches at this threshold", ha="center", va="center", transform=ax.transAxes)
        ax.set_axis_off()
        return fig
    im = ax.imshow(matrix, cmap="magma_r", vmin=0, vmax=1)
    labels = [str(names[t]) for t in tokens]
    ax.set_xticks(range(n), labels, rotation=90, fontsize=7)
    ax.set_yticks(range(n), labels, fontsize=7)
    ax.grid(False)
    start = 0
    for c in clusters:
        ax.add_patch(plt.Rectangle((start - 0.5, start - 0.5), len(c), len(c), fill=False, ec="C0", lw=1.5))
        start += len(c)
    ax.set(xlabel="predicted token", ylabel="true token", title="Strong-match clusters of the token confusion matrix")
    fig.colorbar(im, ax=ax, fraction=0.04, label="share of the true token's occurrences")
    fig.tight_layout()
    return fig


# --- 03 / 05: nodes and heads ----------------------------------------------------------

def plot_recognized_histogram(res: RecognitionResult, what: str = "tokens"):
    """Histogram of |R| over single nodes, with |P| beside it; head values as ticks."""
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(11, 3.6))
    s = res.singles
    plot_count_histogram(a1, {"recognised |R|": s.n_recognized, "predicted |P|": s.n_predicted})
    a1.set(xlabel=f"{what} per single node", ylabel="nodes", title=f"Single nodes ({len(s.n_recognized)})")
    a1.legend(fontsize=8)
    x = np.arange(len(res.heads.n_recognized))
    a2.bar(x - 0.2, res.heads.n_recognized, width=0.4, label="|R|", color="C0")
    a2.bar(x + 0.2, res.heads.n_predicted, width=0.4, label="|P|", color="C1")
    a2.set(xlabel="head", ylabel=what, title=f"Single heads (d_h = {res.d_head} nodes each)", xticks=x)
    for ax in (a1, a2):
        ax.yaxis.set_major_locator(mpl.ticker.MaxNLocator(integer=True))
    a2.legend(fontsize=8)
    fig.tight_layout()
    return fig


def plot_diagonal_confidence(res: RecognitionResult, chance: float):
    """Distribution of the diagonal confidence of every (node, predicted label) pair."""
    dc = res.singles.diagonal_confidence()
    vals = dc[res.singles.predicted]
    vals = vals[~np.isnan(vals)]
    fig, ax = plt.subplots(figsize=(5.5, 3.6))
    ax.hist(vals, bins=30, range=(0, 1), color="C2", alpha=0.85)
    ax.axvline(chance, color="gray", ls="--", label=f"chance 1/C = {chance:.3g}")
    ax.set(xlabel="diagonal confidence DC_j of a label a single node predicts", ylabel="(node, label) pairs",
           title="How sure a single node is of what it outputs")
    ax.legend(fontsize=8)
    return fig


def nonempty_columns(values: np.ndarray, max_columns: int | None = None) -> np.ndarray:
    """Indices of the columns of ``values`` (rows x columns) with at least one non-zero cell,
    ordered so that each row's columns sit together (by the row of the column's largest value,
    then by that value, descending); when more than ``max_columns`` remain, the ones with the
    most non-zero cells are kept (in the same order)."""
    values = np.nan_to_num(np.asarray(values, dtype=float), nan=0.0)
    keep = np.flatnonzero((values != 0).any(axis=0))
    if max_columns is not None and len(keep) > max_columns:
        filled = (values[:, keep] != 0).sum(axis=0)
        keep = np.sort(keep[np.argsort(-filled, kind="stable")[:max_columns]])
    if len(keep) == 0:
        return keep
    sub = np.abs(values[:, keep])
    top_row = sub.argmax(axis=0)
    order = np.lexsort((-sub.max(axis=0), top_row))
    return keep[order]


def _crop_note(shown: int, offered: int, what: str, by: str = "node") -> str:
    dropped = offered - shown
    return f"{shown} of {offered} {what} shown" + (f"; {dropped} without any recognising {by} dropped" if dropped else "")


def plot_node_label_map(res: RecognitionResult, labels: np.ndarray, names, title: str, max_columns: int = 60, what: str = "labels"):
    """Single nodes (rows, grouped by head) x labels (columns): DC where recognised.  Of the
    offered ``labels`` only those recognised by at least one node are drawn (``nonempty_columns``:
    sorted so each node's labels sit together, at most ``max_columns``); the title notes how
    many columns were dropped."""
    s = res.singles
    labels = np.asarray(labels)
    dc = np.nan_to_num(s.diagonal_confidence()[:, labels], nan=0.0) * s.recognized[:, labels]
    cols = nonempty_columns(dc, max_columns)
    note = _crop_note(len(cols), len(labels), what)
    fig, ax = plt.subplots(figsize=(min(16, 3 + 0.22 * max(len(cols), 8)), 6))
    if len(cols) == 0:
        ax.text(0.5, 0.5, f"no single node recognises any of the {len(labels)} {what}", ha="center", va="center",
                transform=ax.transAxes)
        ax.set_axis_off()
        ax.set_title(f"{title}\n({note})")
        return fig
    shown = dc[:, cols]
    im = ax.imshow(shown, aspect="auto", cmap="viridis", interpolation="nearest", vmin=0, vmax=max(shown.max(), 1e-9))
    for h in range(1, res.n_heads):
        ax.axhline(h * res.d_head - 0.5, color="white", lw=0.4)
    ax.set_xticks(range(len(cols)), wrap_names([names[t] for t in labels[cols]], 22), rotation=90, fontsize=7)
    ax.set_yticks(np.arange(res.n_heads) * res.d_head + res.d_head / 2 - 0.5, [f"head {h}" for h in range(res.n_heads)], fontsize=7)
    ax.grid(False)
    ax.set_title(f"{title}\n({note})")
    fig.colorbar(im, ax=ax, fraction=0.03, label="DC where recognised, else 0")
    fig.tight_layout()
    return fig


def plot_head_label_map(res: RecognitionResult, names, title: str = "Heads x labels", max_columns: int = 80):
    """Heads (rows) x labels (columns): DC where the head recognises the label.  Only labels
    recognised by at least one head are drawn (full names, wrapped); the title says how many
    were dropped."""
    h = res.heads
    dc = np.nan_to_num(h.diagonal_confidence(), nan=0.0) * h.recognized
    cols = nonempty_columns(dc, max_columns)
    note = _crop_note(len(cols), dc.shape[1], "labels", by="head")
    fig, ax = plt.subplots(figsize=(min(18, 3 + 0.38 * max(len(cols), 8)), 5.5))
    if len(cols) == 0:
        ax.text(0.5, 0.5, "no head recognises any label", ha="center", va="center", transform=ax.transAxes)
        ax.set_axis_off()
        ax.set_title(f"{title}\n({note})")
        return fig
    im = ax.imshow(dc[:, cols], aspect="auto", cmap="viridis", vmin=0, vmax=1, interpolation="nearest")
    ax.set_xticks(range(len(cols)), wrap_names([names[c] for c in cols], 22), rotation=90, fontsize=7)
    ax.set_yticks(range(dc.shape[0]), [f"head {i}" for i in range(dc.shape[0])], fontsize=7)
    ax.grid(False)
    ax.set_title(f"{title}\n({note})")
    fig.colorbar(im, ax=ax, fraction=0.03, label="DC where recognised")
    fig.tight_layout()
    return fig


def plot_jaccard_matrices(matrices: dict, title: str = "Pairwise Jaccard of the heads' recognised sets"):
    """One head x head Jaccard heatmap per variant (random vs symmetric), on one colour scale;
    cells are annotated when there are at most 16 heads."""
    fig, axes = plt.subplots(1, len(matrices), figsize=(4.4 * len(matrices) + 0.8, 4.0), squeeze=False)
    for ax, (name, m) in zip(axes[0], matrices.items()):
        m = np.asarray(m, dtype=float)
        im = ax.imshow(m, vmin=0, vmax=1, cmap="cividis")
        off = m[~np.eye(len(m), dtype=bool)]
        ax.set(title=f"{name}: mean off-diagonal {np.mean(off):.2f}", xlabel="head", ylabel="head")
        ax.set_xticks(range(len(m)))
        ax.set_yticks(range(len(m)))
        ax.tick_params(labelsize=7)
        ax.grid(False)
        if len(m) <= 16:
            for i in range(len(m)):
                for j in range(len(m)):
                    ax.text(j, i, f"{m[i, j]:.1f}", ha="center", va="center", fontsize=5.5,
                            color="black" if m[i, j] > 0.6 else "white")
    fig.colorbar(im, ax=axes[0].tolist(), fraction=0.03, label="Jaccard")
    fig.suptitle(title, fontsize=10)
    return fig


def plot_seed_replication(table, what: str = "labels", check: dict | None = None):
    """The fraction of single nodes beyond the permutation null per pre-training seed, trained
    against the same seed's untrained initialisation (``seed_replication.replicate``'s table), each
    with its Wilson interval, the pair joined by a line; ``check``: the across-seed record, stamped."""
    fig, ax = plt.subplots(figsize=(6.2, 3.8))
    seeds = sorted(table["seed"].unique())
    for kind, colour, dx in (("untrained", "0.55", -0.08), ("trained", "C0", 0.08)):
        rows = table[table["backbone"] == kind].set_index("seed").loc[seeds]
        y = rows["fraction_beyond_null"].to_numpy(float)
        err = np.clip(np.vstack([y - rows["fraction_beyond_null_lo"].to_numpy(float),      # Wilson ends: float
                                 rows["fraction_beyond_null_hi"].to_numpy(float) - y]), 0, None)  # noise at 0 and 1
        ax.errorbar(np.arange(len(seeds)) + dx, y, yerr=err, fmt="o", color=colour, capsize=3,
                    label=f"{kind} backbone")
    pairs = table.pivot(index="seed", columns="backbone", values="fraction_beyond_null").loc[seeds]
    for i, (u, t) in enumerate(zip(pairs["untrained"], pairs["trained"])):
        ax.plot([i - 0.08, i + 0.08], [u, t], color="0.75", lw=1, zorder=0)
    ax.set_xticks(range(len(seeds)), [f"seed {s}" for s in seeds])
    ax.set(ylabel="fraction of nodes beyond the null", ylim=(0, None),
           title=f"Single nodes beyond their permutation null ({what}), per seed")
    ax.legend(loc="upper right", fontsize=8)
    if check is not None:
        stamp_checks(ax, [(check, "trained - untrained, across seeds")], loc="lower left")
    return fig


# --- 04: fine-tuning ------------------------------------------------------------------

def plot_accuracy_by_block(table, chance: float, full_finetune: float | None = None):
    """Readout accuracy on frozen node vectors per block and pooling, with chance and full FT."""
    fig, ax = plt.subplots(figsize=(6, 4))
    for i, (pool, g) in enumerate(table.groupby("pooling")):
        ax.plot(g["block"], g["accuracy"], marker="o", label=f"frozen, {pool} pooling", color=f"C{i}")
    ax.axhline(chance, color="gray", ls=":", label=f"chance 1/C = {chance:.3f}")
    if full_finetune is not None:
        ax.axhline(full_finetune, color="C3", ls="--", label=f"full fine-tuning = {full_finetune:.3f}")
    ax.set(xlabel="block", ylabel="test accuracy", title="FewRel relation classification", xticks=sorted(table["block"].unique()))
    ax.set_ylim(0, 1)
    ax.legend(fontsize=8)
    return fig


def plot_label_confusion(matrix: np.ndarray, names, title: str = "Label confusion (row-normalised)"):
    """Row-normalised confusion matrix.  Columns carry the label's number, rows its number and
    full name (the key), so long relation names are never cut."""
    m = matrix / np.maximum(matrix.sum(1, keepdims=True), 1)
    n = len(names)
    fig, ax = plt.subplots(figsize=(min(20, 6 + 0.3 * n), min(18, 2.5 + 0.3 * n)))
    im = ax.imshow(m, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(n), [str(i) for i in range(n)], rotation=90 if n > 30 else 0, fontsize=7)
    ax.set_yticks(range(n), [f"{name}  {i:>2}" for i, name in enumerate(names)], fontsize=7)
    ax.grid(False)
    if n <= 20:
        for i in range(n):
            for j in range(n):
                if m[i, j] >= 0.05:
                    ax.text(j, i, f"{m[i, j]:.2f}", ha="center", va="center", fontsize=6,
                            color="white" if m[i, j] > 0.5 else "black")
    ax.set(xlabel="predicted label (number, as on the rows)", ylabel="true label", title=title)
    fig.colorbar(im, ax=ax, fraction=0.03, label="share of the true label's test sentences")
    fig.tight_layout()
    return fig


# --- 06: crossover ------------------------------------------------------------------

FAMILY_TAG = "_family: "     # label of a family's A(n) line: hidden from legends, found by the band shading


def plot_crossover_panels(curves: dict, silent_accuracy: float, chance: float, title: str, stats=None):
    """A(n), joint |R(S)| against the union of individuals, and κ_R, κ_A (mean ± std over sets)
    against n, per set family (one colour each, named once in a legend below the panels; line
    styles say what is drawn).  With the experiment's ``stats`` (``crossover_experiment``), C4's
    core check and the dip beyond the untrained backbone are written on the cooperation panel,
    with a "not testable" stamp when one of its gates failed."""
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.4))
    families = []
    for i, (name, c) in enumerate(curves.items()):
        col = f"C{i}"
        families.append(plt.Line2D([], [], color=col, marker="o", ms=4, label=name))
        axes[0].errorbar(c["n"], c["accuracy_mean"], yerr=c["accuracy_std"], marker="o", ms=3, capsize=2, color=col,
                         label=f"{FAMILY_TAG}{name}")        # no legend entry: the families' legend is below
        axes[1].errorbar(c["n"], c["recognized_mean"], yerr=c["recognized_std"], marker="o", ms=3, capsize=2, color=col)
        axes[1].plot(c["n"], c["union_individual_mean"], ls="--", color=col)
        axes[2].errorbar(c["n"], c["kappa_R_mean"], yerr=c.get("kappa_R_std"), marker="o", ms=3, capsize=2, color=col)
        if "kappa_A_mean" in c:
            axes[2].errorbar(c["n"], c["kappa_A_mean"], yerr=c.get("kappa_A_std"), marker="s", ms=3, capsize=2,
                             ls=":", color=col, alpha=0.6)
    axes[0].axhline(silent_accuracy, color="gray", ls=":", label=f"silent readout A(∅) = {silent_accuracy:.3f}")
    axes[0].axhline(chance, color="gray", ls="--", lw=0.8, label=f"chance = {chance:.3g}")
    axes[0].set(xscale="log", xlabel="active nodes n", ylabel="accuracy A", title="Accuracy against node count")
    axes[1].plot([], [], color="k", marker="o", ms=3, label="joint |R(S)|")
    axes[1].plot([], [], color="k", ls="--", label="|∪ R({k})| of its nodes")
    axes[1].set(xscale="log", xlabel="active nodes n", ylabel="recognised labels", title="Joint vs. union of individuals")
    axes[2].axhline(1, color="gray", ls=":")
    axes[2].plot([], [], color="k", marker="o", ms=3, label="κ_R = |R(S)| / |∪ R({k})|")
    axes[2].plot([], [], color="k", marker="s", ms=3, ls=":", label="κ_A = gain / Σ single gains")
    axes[2].set(xscale="log", xlabel="active nodes n", ylabel="κ (mean ± std over sets)", title="Cooperation")
    _clip_kappa_axis(axes[2], curves)
    n_max = max(float(np.max(c["n"])) for c in curves.values())
    for ax, loc in zip(axes, ("upper left", "upper left", "lower right")):   # κ's upper edge: the checks' box
        ax.set_xlim(0.8, n_max * 1.25)     # explicit limits: a panel may hold only NaN (no κ defined)
        ax.legend(fontsize=7, loc=loc)
    stamp_section(axes[2], stats, {"cooperation_beyond_untrained": "cooperation beyond untrained (core)",
                                   "dip_depth_across_beyond_untrained": "dip beyond untrained"}, loc="upper right")
    fig.legend(handles=families, loc="lower center", ncol=len(families), fontsize=8, title="node sets", title_fontsize=8)
    fig.suptitle(title)
    fig.tight_layout(rect=(0, 0.1, 1, 1))
    return fig


KAPPA_AXIS = (-2.0, 4.0)   # κ near 1 is what the panel is read for; a κ_A whose denominator is ~0 is off scale


def _clip_kappa_axis(ax, curves: dict) -> None:
    """Keep the cooperation panel readable: κ_A divides by the summed single-node gains, which can
    be ~0 (κ_A of 1e14 at n = 2 in standard), and one such mean would flatten every other curve.
    When a mean or its ± std leaves ``KAPPA_AXIS``, the axis is fixed to it and the off-scale
    means are named on the panel (their values stay in the CSV)."""
    off, wide = [], False
    for name, c in curves.items():
        for key, sym in (("kappa_R_mean", "κ_R"), ("kappa_A_mean", "κ_A")):
            if key not in c:
                continue
            m = np.asarray(c[key], dtype=float)
            sd = np.nan_to_num(np.asarray(c.get(key.replace("mean", "std"), np.zeros_like(m)), dtype=float))
            wide |= bool(np.any(np.isfinite(m) & ((m - sd < KAPPA_AXIS[0]) | (m + sd > KAPPA_AXIS[1]))))
            out = np.isfinite(m) & ((m < KAPPA_AXIS[0]) | (m > KAPPA_AXIS[1]))
            off += [f"{sym} {v:.3g} at n = {int(n)} ({name})" for n, v in zip(np.asarray(c["n"])[out], m[out])]
    if not wide:
        return
    ax.set_ylim(*KAPPA_AXIS)
    if off:
        ax.text(0.02, 0.03, textwrap.fill("off scale: " + textwrap.shorten("; ".join(off), 100), 40),
                transform=ax.transAxes, fontsize=6.5, color="0.3", va="bottom")   # left of the legend


def plot_gain_vs_sum(table, title: str = "Joint gain against the summed individual gains"):
    """ΔA(S) against Σ_k ΔA({k}) per set, coloured by n; the diagonal marks additivity."""
    fig, ax = plt.subplots(figsize=(5.5, 4.5))
    sc = ax.scatter(table["sum_individual_gain"], table["gain"], c=np.log2(table["n"]), s=10, cmap="viridis")
    lo = float(min(table["sum_individual_gain"].min(), table["gain"].min()))
    hi = float(max(table["sum_individual_gain"].max(), table["gain"].max()))
    ax.plot([lo, hi], [lo, hi], color="gray", ls="--", lw=1, label="joint = sum")
    ax.set(xlabel="Σ_k ΔA({k})", ylabel="ΔA(S) = A(S) − A(∅)", title=title)
    fig.colorbar(sc, ax=ax, label="log2 n")
    ax.legend(fontsize=8)
    return fig


# --- 07: convex hull ---------------------------------------------------------------

def plot_single_node_envelope(slopes, intercepts, segments, observed: tuple[float, float], predicted, names, node: int):
    """The lines (W[c,k], b_c) of one node, their upper envelope, the observed range and the
    labels the node actually predicts."""
    lo, hi = observed
    span = max(hi - lo, 1e-6)
    finite = [x for seg in segments for x in seg[1:] if np.isfinite(x)]
    x0 = min([lo - 0.5 * span] + finite)
    x1 = max([hi + 0.5 * span] + finite)
    xs = np.linspace(x0, x1, 400)
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for c in range(len(slopes)):
        ax.plot(xs, slopes[c] * xs + intercepts[c], color="lightgray", lw=0.7, zorder=1)
    for i, (c, a, b) in enumerate(segments):
        a, b = max(a, x0), min(b, x1)
        if a < b:
            xx = np.linspace(a, b, 50)
            ax.plot(xx, slopes[c] * xx + intercepts[c], lw=2.5, color=f"C{i % 10}", zorder=3,
                    label=f"{names[c]}{' (predicted)' if predicted[c] else ''}")
    ax.axvspan(lo, hi, color="C1", alpha=0.12, label="observed node values")
    ax.set(xlabel=f"value of node {node}", ylabel="logit", title=f"Node {node}: upper envelope of its label lines")
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1))
    fig.tight_layout()
    return fig


def plot_bound_vs_realized(table):
    """Per single node: U, U_observed and |R| (|R| ≤ |P| ≤ U_observed ≤ U must hold)."""
    t = table[table["single"]]
    fig, ax = plt.subplots(figsize=(5.5, 4.5))
    rng = np.random.default_rng(0)
    jit = lambda n: rng.uniform(-0.15, 0.15, n)
    ax.scatter(t["U"] + jit(len(t)), t["recognized"] + jit(len(t)), s=10, alpha=0.6, label="U (unbounded x)")
    ax.scatter(t["U_observed"] + jit(len(t)), t["recognized"] + jit(len(t)), s=10, alpha=0.6, label="U (observed box)")
    top = float(max(t["U"].max(), 1))
    ax.plot([0, top], [0, top], color="gray", ls="--", lw=1, label="|R| = U")
    ax.set(xlabel="bound U: labels a single node can output", ylabel="|R|: labels it recognises", title="Bound against realised, single nodes")
    ax.legend(fontsize=8)
    return fig


def plot_efficiency_curve(eff):
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(11, 3.8))
    a1.plot(eff["n"], eff["U"], marker="o", label="U (unbounded)")
    a1.plot(eff["n"], eff["U_observed"], marker="s", label="U (observed box)")
    a1.plot(eff["n"], eff["predicted"], marker="^", label="|P|")
    a1.plot(eff["n"], eff["recognized"], marker="v", label="|R|")
    a1.set(xscale="log", xlabel="active nodes n", ylabel="labels (mean over sets)", title="Bound, output and recognition")
    a1.legend(fontsize=8)
    a2.plot(eff["n"], eff["eta"], marker="o", label="η = |R| / U")
    a2.plot(eff["n"], eff["eta_observed"], marker="s", label="|R| / U_observed")
    a2.set(xscale="log", xlabel="active nodes n", ylabel="learning efficiency", title="Learning efficiency against n")
    a2.set_ylim(0, 1.05)
    a2.legend(fontsize=8)
    fig.tight_layout()
    return fig


# --- intervals drawn onto the figures above (issue 11) ---------------------------------

def plot_crossover_accuracy_bands(fig, bands: dict):
    """Shade each family's 95 % paired-bootstrap band of A(n) on ``plot_crossover_panels``' first
    panel.  bands: family name -> DataFrame with n, accuracy, accuracy_lo, accuracy_hi; a
    family not drawn yet (e.g. the nested sets grown inside each head) is drawn too."""
    ax = fig.axes[0]
    drawn = {c.get_label().removeprefix(FAMILY_TAG): c.lines[0].get_color() for c in ax.containers
             if hasattr(c, "lines") and c.lines[0] is not None}
    drawn.update({line.get_label(): line.get_color() for line in ax.get_lines() if not line.get_label().startswith("_")})
    for i, (name, b) in enumerate(bands.items()):
        color = drawn.get(name)
        if color is None:
            color = f"C{len(drawn) + i}"
            ax.plot(b["n"], b["accuracy"], marker="D", ms=3, color=color, label=name)
        ax.fill_between(b["n"], b["accuracy_lo"], b["accuracy_hi"], color=color, alpha=0.2, lw=0,
                        label="shaded: 95 % paired-bootstrap band" if i == 0 else "_band")
    ax.legend(fontsize=7, loc="upper left")
    return fig


def plot_efficiency_bands(fig, bands):
    """Shade the 95 % bootstrap band of η per n on ``plot_efficiency_curve``'s second panel and
    mark the n where U = C (the bound says nothing there)."""
    ax = fig.axes[1]
    ax.fill_between(bands["n"], bands["eta_lo"], bands["eta_hi"], color="C0", alpha=0.2, lw=0, label="η: 95 % band")
    saturated = bands.loc[~bands["U_below_C"], "n"]
    if len(saturated):
        ax.axvspan(float(saturated.min()) * 0.95, float(bands["n"].max()) * 1.05, color="gray", alpha=0.12,
                   label="U = C (left out of the slope)")
    ax.legend(fontsize=8)
    return fig


def plot_apt_block_bands(fig, bands, gated=None):
    """Error bars (95 %, bootstrap over test sequences or tokens: ``apt.block_apt_bands``) of
    ⟨APT⟩ per block on ``plot_apt_by_block``'s first panel; blocks whose readout fails the probe
    gate are marked with an open grey circle."""
    ax = fig.axes[0]
    m = bands["mean_apt"].to_numpy()
    # drawn as segments lo..hi, not as bars around the estimate: a percentile interval of a
    # sequence resample need not contain it (a mean of ratios on resampled counts is biased)
    ax.vlines(bands["block"], bands["mean_apt_lo"], bands["mean_apt_hi"], color="C0", lw=2, alpha=0.6,
              label="⟨APT⟩: 95 % interval")
    if gated is not None:
        failed = ~bands["block"].isin(list(gated))
        if failed.any():
            ax.scatter(bands.loc[failed, "block"], m[failed.to_numpy()], s=90, facecolors="none", edgecolors="gray",
                       zorder=4, label="readout not above the constant predictor")
    ax.legend(fontsize=8, loc="lower right")
    return fig


def plot_permutation_null_histogram(null: np.ndarray, observed: np.ndarray, what: str = "labels",
                               untrained: np.ndarray | None = None, title: str | None = None,
                               stats=None):
    """Per-node |R| under the label-permutation null (pooled over permutations and nodes)
    against the observed |R| of the trained (and, if given, the untrained) backbone's nodes;
    with the section's ``stats`` (``recognition.claim_stats``) the fraction of nodes beyond their
    null (pass if > 0.05) and the core check are written on it, and a "not testable" stamp when
    one of its gates failed."""
    null = np.asarray(null).ravel()
    observed = np.asarray(observed)
    series = {"permutation null (all nodes)": null, "trained backbone": observed}
    if untrained is not None:
        series["untrained backbone"] = np.asarray(untrained)
    fig, ax = plt.subplots(figsize=(6.5, 3.8))
    plot_count_histogram(ax, series, colors=["gray", "C0", "C3"], density=True, linestyles=["-", "-", "--"])
    ax.set(xlabel=f"recognised {what} per single node |R|", ylabel="share of nodes",
           title=title or "Single nodes against the label-permutation null")
    ax.legend(fontsize=8, loc="center right")
    stamp_section(ax, stats, {"beyond_permutation_null": "nodes beyond their null",
                              "beyond_untrained": "beyond the untrained backbone (core)"}, loc="upper right")
    fig.tight_layout()
    return fig


def plot_ssb_along_blocks(tables: dict, title: str = "SSB along the blocks"):
    """The single-node statistics of ``recognition.ssb_along_blocks`` per block, one line per table
    (e.g. {"tokens": ..., "labels": ...}): mean |R| per node, the share of nodes that recognise
    anything, mean DC, node Jaccard and the fraction of nodes beyond the permutation null (with
    its Wilson interval and the 0.05 a null node reaches).  Every y axis starts at 0, so a
    difference of noise is not stretched into a trend (the median |R| is 0 wherever most nodes
    recognise nothing, so the mean and the share are drawn instead; a table written before they
    existed falls back to the median).  Blocks whose probe failed its gate are drawn hollow."""
    first = next(iter(tables.values()))
    size = (("mean_recognized_node", "mean |R| per node") if "mean_recognized_node" in first
            else ("median_recognized_node", "median |R| per node"))
    panels = (size, ("fraction_recognizing", "share of nodes with |R| > 0"), ("mean_dc_node", "mean node DC"),
              ("node_jaccard", "mean node Jaccard"), ("fraction_beyond_null", "fraction beyond null"))
    panels = tuple(p for p in panels if p[0] in first)
    fig, axes = plt.subplots(1, len(panels), figsize=(3.3 * len(panels), 3.6), squeeze=False)
    axes = axes[0]
    for i, (name, table) in enumerate(tables.items()):
        color = f"C{i}"
        blocks = table["block"].to_numpy()
        gated = table["probe_gate"].to_numpy(dtype=bool)
        for ax, (col, label) in zip(axes, panels):
            y = table[col].to_numpy(dtype=float)
            ax.plot(blocks, y, "-", color=color, label=name)
            ax.plot(blocks[gated], y[gated], "o", color=color)
            ax.plot(blocks[~gated], y[~gated], "o", mfc="none", color=color)
            if col == "fraction_beyond_null":
                ax.fill_between(blocks, table["fraction_beyond_null_lo"], table["fraction_beyond_null_hi"],
                                color=color, alpha=0.15)
                ax.axhline(0.05, color="gray", ls=":", lw=0.8)
            ax.set(xlabel="block", title=label, xticks=blocks)
    for ax in axes:
        ax.set_ylim(bottom=0, top=max(ax.get_ylim()[1], 1e-3))
    axes[0].legend(fontsize=8)
    fig.suptitle(title + " (hollow: probe gate failed)")
    fig.tight_layout()
    return fig
