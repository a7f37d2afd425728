"""Figures of the notebooks. Each function takes measured data and returns a matplotlib
Figure; notebooks save it with ``results.save_figure``."""
from __future__ import annotations

import numpy as np
import matplotlib

matplotlib.use("Agg") if matplotlib.get_backend().lower() == "agg" else None
import matplotlib.pyplot as plt

VARIANT_COLORS = {"random": "C0", "symmetric": "C3", "symmetric_eps": "C2", "stochastic": "C4", "main": "C0"}


def token_frequency(counts: np.ndarray, title: str = "Token frequency (training blocks)"):
    """Rank-frequency (Zipf) plot of token counts."""
    c = np.sort(np.asarray(counts)[np.asarray(counts) > 0])[::-1]
    fig, ax = plt.subplots(figsize=(5.5, 3.8))
    ax.loglog(np.arange(1, len(c) + 1), c, lw=1.5)
    ax.set(xlabel="rank", ylabel="count", title=title)
    return fig


def training_curves(log: list[dict], title: str = "MLM pre-training"):
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


def head_gap_curves(logs: dict[str, list[dict]], eps: float, floor: float = 1e-12):
    """g(t) per variant on a log axis; exact zeros drawn at ``floor`` and labelled as such."""
    fig, ax = plt.subplots(figsize=(6.5, 4))
    for name, log in logs.items():
        steps = np.array([r["step"] for r in log])
        g = np.array([r["gap"] for r in log], dtype=float)
        zero = g == 0
        label = f"{name} (g = 0 exactly)" if zero.all() else name
        ax.semilogy(steps, np.where(zero, floor, g), marker="o", ms=3, label=label, color=VARIANT_COLORS.get(name))
    ax.axhline(eps, color="gray", ls=":", lw=1, label=f"ε = {eps:g}")
    ax.set(xlabel="step", ylabel="head gap g = max_h ‖θ_h − θ_0‖ / ‖θ_0‖",
           title="Symmetry breaking of attention heads (deterministic training)")
    ax.set_ylim(bottom=floor / 3)
    ax.legend(fontsize=8)
    return fig
