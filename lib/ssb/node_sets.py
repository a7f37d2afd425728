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
from . import stats
from .crossover import (MIN_DISTINCT_SETS, cooperation, curve_bands, dip_check, distinct_sets, in_head_grid,
                        interior_minimum, kappa_check, log_grid, nested_head_sets, paired_bootstrap_accuracy,
                        sample_node_sets)
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
    return sets_table(head, z, y, _flatten(sets_by_size), profile, singles, silent_accuracy, n_classes=n_classes)[0]


def sets_table(head, z: np.ndarray, y: np.ndarray, sets: list[np.ndarray], profile, singles, silent_accuracy: float,
               *, n_classes: int | None = None) -> tuple[pd.DataFrame, np.ndarray]:
    """``crossover_table``'s rows for given node sets, and their (S, N) boolean matrix of
    correct test predictions (what the paired bootstrap resamples)."""
    res = evaluate_sets(head, z, y, sets, n_classes=n_classes, min_hits=profile.min_hits, keep_predictions=True,
                        device=profile.device)
    gain = res.accuracy - silent_accuracy
    coop = cooperation(res.recognized, singles.recognized, sets, gain, singles.accuracy - silent_accuracy)
    table = pd.DataFrame({
        "n": [len(s) for s in sets], "accuracy": res.accuracy, "gain": gain,
        "predicted": res.n_predicted, "recognized": res.n_recognized,
        "union_individual": coop["union_individual"], "kappa_R": coop["kappa_R"],
        "sum_individual_gain": coop["sum_individual_gain"], "kappa_A": coop["kappa_A"],
    })
    return table, res.predictions == np.asarray(y)[None, :]


def crossover_curve(table: pd.DataFrame) -> pd.DataFrame:
    """Mean and std of every column of ``crossover_table`` per set size n."""
    g = table.groupby("n")
    out = g.mean().add_suffix("_mean").join(g.std(ddof=0).add_suffix("_std"))
    out["sets"] = g.size()
    return out.reset_index()


def dip(curve: pd.DataFrame) -> tuple[bool, int | None]:
    """Whether A(n) has an interior minimum on the grid, and where (``crossover.interior_minimum``,
    the old one-standard-error rule, descriptive only).  The dip that C4's verdict reads is
    ``crossover_experiment``'s: a paired bootstrap, 2 sigma against both ends."""
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
        res = evaluate_sets(head, z, y, multi, n_classes=n_classes, min_hits=profile.min_hits, device=profile.device)
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


def efficiency_bands(table: pd.DataFrame, n_classes: int, n_boot: int = stats.N_BOOTSTRAP, seed: int = 0) -> pd.DataFrame:
    """Per n of ``hull_table``: mean U, η = |R|/U and the gap U − |R| with 95 % bootstrap
    intervals over the sets of that size, and whether the bound is below the label count
    (``U_below_C``: mean U < C; where U = C every label is achievable and the bound says nothing)."""
    t = table.assign(eta=table["recognized"] / table["U"].clip(lower=1), gap=table["U"] - table["recognized"])
    rows = []
    for n, g in t.groupby("n", sort=True):
        eta, eta_ci = stats.mean_ci(g["eta"].to_numpy(), n_boot=n_boot, seed=seed)
        gap, gap_ci = stats.mean_ci(g["gap"].to_numpy(), n_boot=n_boot, seed=seed)
        rows.append({"n": int(n), "sets": len(g), "U": float(g["U"].mean()), "U_below_C": bool(g["U"].mean() < n_classes),
                     "eta": eta, "eta_lo": eta_ci[0], "eta_hi": eta_ci[1], "gap": gap, "gap_lo": gap_ci[0], "gap_hi": gap_ci[1]})
    return pd.DataFrame(rows)


def hull_stats(table: pd.DataFrame, n_classes: int, *, n_boot: int = stats.N_BOOTSTRAP, seed: int = 0) -> dict:
    """C5's checks from ``hull_table``: {"checks": {"no_violations", "gap_grows",
    "efficiency_falls"}, "nulls": {...}}.

    - no_violations: the number of predicted labels outside the achievable set; "equal", null 0.
    - gap_grows / efficiency_falls: slope of the mean of U − |R| (resp. η = |R|/U) against
      log n, with a bootstrap interval resampling the sets within each n
      (``stats.stratified_slope_ci``), over the n whose mean bound U is below the number of
      labels C only; null 0, greater (resp. less).  With fewer than two such n the value
      and interval are None (not testable) and ``reason`` says why."""
    bands = efficiency_bands(table, n_classes, n_boot=n_boot, seed=seed)
    below = bands.loc[bands["U_below_C"], "n"].astype(int).tolist()
    saturated = bands.loc[~bands["U_below_C"], "n"].astype(int).tolist()
    reason = None
    if len(below) < 2:
        reason = (f"the bound U equals the {n_classes} labels for every n in {saturated}; fewer than two n with U < C"
                  if saturated else "fewer than two set sizes measured")
    t = table[table["n"].isin(below)]
    log_n = np.log(t["n"].to_numpy(float))
    out = {}
    for key, name, col, direction in (("gap_grows", "the gap U - |R| grows with n", "gap", "greater"),
                                      ("efficiency_falls", "learning efficiency eta = |R| / U falls with n", "eta", "less")):
        if reason:
            value, ci = None, None
        else:
            y = (t["U"] - t["recognized"]) if col == "gap" else t["recognized"] / t["U"].clip(lower=1)
            value, ci = stats.stratified_slope_ci(log_n, y.to_numpy(float), n_boot=n_boot, seed=seed)
        out[key] = stats.check(name, f"slope of the mean {col} per n against log n, over n with U < C; bootstrap of the sets "
                               "within each n", value, ci, 0.0, direction, n_used=below, reason=reason)
    violations = int(table["violations"].sum())
    out = {"no_violations": stats.check("no predicted label outside the achievable set", "violations of P(S) within "
                                        "achievable(S) on the observed box, summed over the sets", violations, None, 0.0,
                                        "equal", sets=int(len(table))), **out}
    return {"checks": out, "nulls": {"n_with_U_below_C": below, "n_with_U_equal_C": saturated, "n_labels": int(n_classes)}}


def crossover_experiment(head, probe, res, profile, block: int | None = None, n_boot: int = stats.N_BOOTSTRAP) -> dict:
    """Notebook 06's measurement for one task, with the statistics of C4.

    Three families of node sets: random sets across the block and random sets inside single
    heads (``crossover_table``), and nested sets grown node by node inside every head
    (sizes ``in_head_grid(d_h)``, ceil(crossover_sets / n_heads) seeded orders per head).
    For each family A(n) gets a paired bootstrap over test items and node sets
    (``crossover.paired_bootstrap_accuracy``; the nested chains are resampled as chains).

    Returns {"across", "inside", "nested": tables, "curves": {family: curve},
    "bands": {family: n, A and its 95 % band}, "has_dip", "n_min" (the dip across the
    block at 2 sigma against both ends), "stats": {"gates": {"probe"}, "checks":
    {"cooperation_R", "cooperation_A", "dip_across", "dip_in_head"}, "nulls"}}.  Grid points with
    fewer than ``crossover.MIN_DISTINCT_SETS`` distinct sets (the full block: one set) are
    drawn but left out of the checks."""
    block = profile.block if block is None else block
    z, y = probe.z_test[block], probe.y_test
    n_nodes = z.shape[1]
    families = {}                         # the same sets as crossover_table draws (seed offsets 0 and 1)
    for name, within, offset in (("across the block", False, 0), ("inside one head", True, 1)):
        sets = _flatten(sample_node_sets(n_nodes, log_grid(probe.d_head if within else n_nodes, profile.crossover_points),
                                         profile.crossover_sets, profile.seed + offset, d_head=probe.d_head,
                                         within_head=within))
        families[name] = (sets, False)
    orders = max(1, -(-profile.crossover_sets // probe.n_heads))
    nested_sets = nested_head_sets(probe.n_heads, probe.d_head, in_head_grid(probe.d_head), orders, profile.seed + 2)
    families["grown inside each head"] = (_flatten(nested_sets), True)

    tables, curves, bands, boot, left_out = {}, {}, {}, {}, {}
    for name, (sets, chained) in families.items():
        table, correct = sets_table(head, z, y, sets, profile, res.singles, res.silent_accuracy, n_classes=probe.n_classes)
        sizes = table["n"].to_numpy()
        by_n = {int(n): correct[sizes == n] for n in np.unique(sizes)}
        n, a, a_boot = paired_bootstrap_accuracy(by_n, n_boot=n_boot, seed=profile.seed, chained=chained)
        enough = np.array([distinct_sets([sets[i] for i in np.flatnonzero(sizes == k)]) >= MIN_DISTINCT_SETS for k in n])
        tables[name], curves[name], bands[name] = table, crossover_curve(table), curve_bands(n, a, a_boot)
        boot[name] = (n[enough], a[enough], a_boot[:, enough])
        left_out[name] = n[~enough].tolist()
    across, inside = tables["across the block"], tables["inside one head"]
    checks = {
        "cooperation_R": kappa_check("cooperation: joint |R| over the union of the nodes' |R|", across["n"], across["kappa_R"],
                                     "kappa_R", n_max=n_nodes, n_boot=n_boot, seed=profile.seed),
        "cooperation_A": kappa_check("cooperation: joint gain over the summed gains of the nodes", across["n"],
                                     across["kappa_A"], "kappa_A", n_boot=n_boot, seed=profile.seed),
        "dip_across": dip_check("interior minimum of A(n), random sets across the block", *boot["across the block"]),
        "dip_in_head": dip_check("interior minimum of A(n), sets grown node by node inside each head",
                                 *boot["grown inside each head"]),
    }
    gates = {"probe": stats.probe_gate(y, res.full.predictions[0], probe.y_train)}
    dip_across = checks["dip_across"]
    has_dip = bool(dip_across["passed"])
    return {"across": across, "inside": inside, "nested": tables["grown inside each head"], "curves": curves,
            "bands": bands, "has_dip": has_dip, "n_min": dip_across["n_min"] if has_dip else None,
            "stats": {"gates": gates, "checks": checks,
                      "nulls": {"kappa": 1.0, "dip": 0.0, "silent_accuracy": res.silent_accuracy,
                                "n_left_out_of_checks": left_out, "n_boot": int(n_boot)}}}


def crosscheck_sets(n_nodes: int, per_size: int, seed: int) -> list[np.ndarray]:
    """Random sets of 2 and 3 nodes (``per_size`` each, one seeded generator) on which the
    LP bound is compared with ``scipy.spatial.ConvexHull`` (``hull_crosscheck``)."""
    rng = np.random.default_rng(seed)
    return [rng.choice(n_nodes, n, replace=False) for n in (2, 3) for _ in range(per_size)]
