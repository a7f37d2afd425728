"""Random node sets through the aperture: the crossover curve (C4) and the convex-hull
bound per set (C5).  Glue between the aperture engine, ``crossover`` and ``hull``.

    table = crossover_table(head, z, y, profile, singles, silent_accuracy)   # one row per set
    curve = crossover_curve(table)                                            # mean ± std per n
    hull = hull_table(head, z, y, profile, singles)                           # U, U_observed, |R|, |P| per set
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from .aperture import evaluate_sets
from .crossover import cooperation, interior_minimum, log_grid, sample_node_sets
from .hull import bound_for_sets, hull_achievable, achievable_labels


def _flatten(sets_by_size: dict) -> list[np.ndarray]:
    return [np.asarray(s) for n in sorted(sets_by_size) for s in sets_by_size[n]]


def crossover_table(head, z: np.ndarray, y: np.ndarray, profile, singles, silent_accuracy: float, *,
                    within_head: bool = False, n_heads: int | None = None, d_head: int | None = None,
                    n_classes: int | None = None, seed_offset: int = 0) -> pd.DataFrame:
    """One row per random node set: n, A, gain ΔA, |P|, |R|, the union of its nodes'
    individual recognised sets, the sum of their individual gains, κ_R and κ_A.

    Sizes come from a log grid over 1..D (``profile.crossover_points`` points), with
    ``profile.crossover_sets`` sets per size; ``within_head`` draws every set inside one
    head (sizes up to d_h)."""
    n_nodes = z.shape[1]
    d_head = d_head or profile.d_head
    top = d_head if within_head else n_nodes
    sizes = log_grid(top, profile.crossover_points)
    sets_by_size = sample_node_sets(n_nodes, sizes, profile.crossover_sets, profile.seed + seed_offset,
                                    d_head=d_head, within_head=within_head)
    sets = _flatten(sets_by_size)
    res = evaluate_sets(head, z, y, sets, n_classes=n_classes, min_hits=profile.min_hits)
    gain = res.accuracy - silent_accuracy
    coop = cooperation(res.recognized, singles.recognized, sets, gain, singles.accuracy - silent_accuracy)
    return pd.DataFrame({
        "n": [len(s) for s in sets], "accuracy": res.accuracy, "gain": gain,
        "predicted": res.n_predicted, "recognized": res.n_recognized,
        "union_individual": coop["union_individual"], "kappa_R": coop["kappa_R"],
        "sum_individual_gain": coop["sum_individual_gain"], "kappa_A": coop["kappa_A"],
    })


def crossover_curve(table: pd.DataFrame) -> pd.DataFrame:
    """Mean and std of every column of ``crossover_table`` per set size n."""
    g = table.groupby("n")
    out = g.mean().add_suffix("_mean").join(g.std(ddof=0).add_suffix("_std"))
    out["sets"] = g.size()
    return out.reset_index()


def dip(curve: pd.DataFrame) -> tuple[bool, int | None]:
    """Whether A(n) has an interior minimum on the grid, and where (``crossover.interior_minimum``)."""
    sem = curve["accuracy_std"].to_numpy() / np.sqrt(np.maximum(curve["sets"].to_numpy(), 1))
    return interior_minimum(curve["n"].to_numpy(), curve["accuracy_mean"].to_numpy(), sem)


def first_fc(head):
    """(W (C, D), b (C,)) of a 1-FC head as float64 arrays; the hull bound is exact only for it."""
    if getattr(head, "fc2", None) is not None:
        raise ValueError("the convex-hull bound is exact for a 1-FC head only; train the head with head_layers=1")
    return head.fc1.weight.detach().double().numpy(), head.fc1.bias.detach().double().numpy()


def hull_table(head, z: np.ndarray, y: np.ndarray, profile, singles, *, n_classes: int | None = None,
               max_sets: int | None = None, max_n: int | None = None) -> pd.DataFrame:
    """Bound U (unbounded x), U_observed (x in the observed box), |P| and |R| for every single
    node and for up to ``hull_max_sets`` random sets per size on a log grid up to ``hull_max_n``,
    with the invariant P(S) ⊆ achievable_observed(S) counted per set."""
    W, b = first_fc(head)
    n_nodes = z.shape[1]
    max_sets = profile.hull_max_sets if max_sets is None else max_sets
    max_n = min(profile.hull_max_n if max_n is None else max_n, n_nodes)
    single_sets = [np.array([k]) for k in range(n_nodes)]
    sizes = [n for n in log_grid(max_n, profile.crossover_points) if n > 1]
    multi = _flatten(sample_node_sets(n_nodes, sizes, max_sets, profile.seed + 7)) if sizes else []
    if multi:
        res = evaluate_sets(head, z, y, multi, n_classes=n_classes, min_hits=profile.min_hits)
        predicted = np.concatenate([singles.predicted, res.predicted])
        recognized = np.concatenate([singles.n_recognized, res.n_recognized])
        n_pred = np.concatenate([singles.n_predicted, res.n_predicted])
    else:
        predicted, recognized, n_pred = singles.predicted, singles.n_recognized, singles.n_predicted
    sets = single_sets + multi
    bound = bound_for_sets(W, b, sets, z_observed=z, predicted=predicted)
    viol = np.zeros(len(sets), dtype=int)
    for item in bound.get("violation_sets", []):
        i = item[0] if isinstance(item, (tuple, list)) else item
        viol[int(i)] += 1
    return pd.DataFrame({"n": [len(s) for s in sets], "single": [len(s) == 1 for s in sets],
                         "U": bound["U"], "U_observed": bound["U_observed"], "predicted": n_pred,
                         "recognized": recognized, "violations": viol})


def hull_crosscheck(head, sets: list[np.ndarray]) -> dict:
    """LP (unbounded x) against scipy.spatial.ConvexHull's upper-hull vertices for |S| <= 3."""
    W, b = first_fc(head)
    agree = checked = 0
    for s in sets:
        if not 2 <= len(s) <= 3:
            continue
        lp = achievable_labels(W[:, s], b)
        ch = hull_achievable(W[:, s], b)
        checked += 1
        agree += int(np.array_equal(lp, ch))
    return {"checked": checked, "agree": agree}


def efficiency_by_n(table: pd.DataFrame) -> pd.DataFrame:
    """η = |R| / U per set, averaged per n (sets with U = 0 cannot occur: U >= 1)."""
    t = table.assign(eta=table["recognized"] / table["U"].clip(lower=1),
                     eta_observed=table["recognized"] / table["U_observed"].clip(lower=1))
    return t.groupby("n")[["U", "U_observed", "predicted", "recognized", "eta", "eta_observed"]].mean().reset_index()


def crossover_experiment(head, probe, res, profile, block: int | None = None) -> dict:
    """Notebook 06's measurement for one task: random sets across the block and inside single
    heads (``crossover_table``), their per-n curves, and the dip of A(n) across the block.

    Returns {"across": table, "inside": table, "curves": {"across the block": curve,
    "inside one head": curve}, "has_dip": bool, "n_min": int | None}."""
    block = profile.block if block is None else block
    z, y = probe.z_test[block], probe.y_test
    kw = dict(n_classes=probe.n_classes, d_head=probe.d_head)
    across = crossover_table(head, z, y, profile, res.singles, res.silent_accuracy, **kw)
    inside = crossover_table(head, z, y, profile, res.singles, res.silent_accuracy, within_head=True, seed_offset=1, **kw)
    curves = {"across the block": crossover_curve(across), "inside one head": crossover_curve(inside)}
    has_dip, n_min = dip(curves["across the block"])
    return {"across": across, "inside": inside, "curves": curves, "has_dip": has_dip, "n_min": n_min}


def crosscheck_sets(n_nodes: int, per_size: int, seed: int) -> list[np.ndarray]:
    """Random sets of 2 and 3 nodes (``per_size`` each, one seeded generator) on which the
    LP bound is compared with ``scipy.spatial.ConvexHull`` (``hull_crosscheck``)."""
    rng = np.random.default_rng(seed)
    return [rng.choice(n_nodes, n, replace=False) for n in (2, 3) for _ in range(per_size)]
