"""C5 (docs/method.md, "Convex-hull bound"): how much of what a node set can ever output a trained
readout realises, against random readouts and the untrained backbone (notebook 07).

The bound itself -- which labels a linear readout restricted to a node set can output, exactly --
is geometry on plain arrays in ``ssb.hull_geometry``; this module runs it on trained 1-FC readouts
through the aperture engine and turns the tables into C5's checks:

    table = hull_table(readout, z, y, profile, singles)     # U, U_observed, |P|, |R| per node set
    hull_stats(table, n_classes)                         # checks no_violations, gap_grows, efficiency_falls
    efficiency_bands(table, n_classes), efficiency_by_n(table)
    hull_crosscheck(readout, crosscheck_sets(D, 8, seed))   # the LP against scipy's ConvexHull
    hull_claim_stats(readout, table, ...)                   # C5's finished record: gates, checks, nulls

Notebook 07 draws one node's envelope with ``hull.envelope_segments`` and ``hull.upper_envelope``:
the geometry's own functions, imported here so that the notebook reads C5 from one module.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from . import stats
from .aperture import evaluate_sets
from .hull_geometry import achievable_labels, bound_for_sets, hull_achievable
from .hull_geometry import envelope_segments, upper_envelope  # noqa: F401  (notebook 07)
from .node_sets import flatten, log_grid, sample_node_sets, single_node_sets
from .profiles import profile_device


# ----------------------------------------------------------------------------- C5 on a trained readout

def first_fc(readout):
    """(W (C, D), b (C,)) of a 1-FC readout as float64 arrays; the hull bound is exact only for it."""
    if getattr(readout, "fc2", None) is not None:
        raise ValueError("the convex-hull bound is exact for a 1-FC readout only; train the readout with readout_layers=1")
    return readout.fc1.weight.detach().double().numpy(), readout.fc1.bias.detach().double().numpy()


def hull_table(readout, z: np.ndarray, y: np.ndarray, profile, singles, *, n_classes: int | None = None,
               max_sets: int | None = None, max_n: int | None = None) -> pd.DataFrame:
    """Bound U (unbounded x), U_observed (x in the observed box), |P| and |R| for every single
    node and for up to ``hull_max_sets`` random sets per size on a log grid up to ``hull_max_n``,
    with the invariant P(S) ⊆ achievable_observed(S) counted per set."""
    W, b = first_fc(readout)
    n_nodes = z.shape[1]
    max_sets = profile.hull_max_sets if max_sets is None else max_sets
    max_n = min(profile.hull_max_n if max_n is None else max_n, n_nodes)
    single_sets = single_node_sets(n_nodes)
    sizes = [n for n in log_grid(max_n, profile.crossover_points) if n > 1]
    multi = flatten(sample_node_sets(n_nodes, sizes, max_sets, profile.seed + 7)) if sizes else []
    if multi:
        res = evaluate_sets(readout, z, y, multi, n_classes=n_classes, min_hits=profile.min_hits, device=profile_device(profile))
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


def crosscheck_sets(n_nodes: int, per_size: int, seed: int) -> list[np.ndarray]:
    """Random sets of 2 and 3 nodes (``per_size`` each, one seeded generator) on which the
    LP bound is compared with ``scipy.spatial.ConvexHull`` (``hull_crosscheck``)."""
    rng = np.random.default_rng(seed)
    return [rng.choice(n_nodes, n, replace=False) for n in (2, 3) for _ in range(per_size)]


def hull_crosscheck(readout, sets: list[np.ndarray]) -> dict:
    """LP (unbounded x) against scipy.spatial.ConvexHull's upper-hull vertices for |S| <= 3."""
    W, b = first_fc(readout)
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


# ----------------------------------------------------------------------------- C5 beside random readouts

def random_readouts(readout, n_readouts: int, seed: int) -> list:
    """``n_readouts`` copies of a 1-FC readout whose weight rows are Gaussian, each rescaled to the
    norm of the trained row it replaces; the bias (and any input scaling) stays.  Same shape,
    same norms, no information: the null of C5's evidence."""
    import copy

    import torch
    first_fc(readout)                                           # a 1-FC readout, else ValueError
    w = readout.fc1.weight.detach()
    norms = w.norm(dim=1, keepdim=True)
    g = torch.Generator().manual_seed(int(seed))
    out = []
    for _ in range(int(n_readouts)):
        r = torch.randn(w.shape, generator=g, dtype=w.dtype)
        r = r / r.norm(dim=1, keepdim=True).clamp_min(1e-30) * norms
        h = copy.deepcopy(readout)
        with torch.no_grad():
            h.fc1.weight.copy_(r)
        out.append(h)
    return out


def _eta(table: pd.DataFrame) -> np.ndarray:
    return (table["recognized"] / table["U"].clip(lower=1)).to_numpy(float)


def beyond_random_checks(table: pd.DataFrame, random_tables: list[pd.DataFrame], n_classes: int, *,
                         n_boot: int = stats.N_BOOTSTRAP, seed: int = 0) -> dict:
    """C5's evidence against random readouts of the same shape and norms on the same node sets
    (``random_readouts`` through ``hull_table``): the trained readout's η = |R|/U minus the random
    heads' mean η, set by set.

    reach_beyond_random (core): mean difference over the sets, bootstrap over sets, greater
    than 0 -- learning reaches a part of the bound that a readout without information does not.
    efficiency_falls_beyond_random: slope of the difference against log n over the n whose
    bound is below C (stratified bootstrap), less than 0 -- the unrealised share of the bound
    grows with n beyond what geometry alone gives."""
    if not random_tables:
        missing = {"missing": True}
        return {"reach_beyond_random": stats.check("reach beyond random readouts", "random readouts not run", None, None,
                                                   0.0, "greater", **missing),
                "efficiency_falls_beyond_random": stats.check("efficiency falls beyond random readouts",
                                                              "random readouts not run", None, None, 0.0, "less", **missing)}
    for t in random_tables:
        if not np.array_equal(t["n"].to_numpy(), table["n"].to_numpy()):
            raise ValueError("the random readouts' tables must hold the same node sets as the trained readout's")
    eta_r = np.mean([_eta(t) for t in random_tables], axis=0)
    diff = _eta(table) - eta_r
    value, ci = stats.mean_ci(diff, n_boot=n_boot, seed=seed)
    out = {"reach_beyond_random": stats.check(
        "reach beyond random readouts", f"mean over node sets of eta = |R|/U, trained readout minus {len(random_tables)} random "
        "readouts of the same shape and row norms (same sets; bootstrap over sets)", value, ci, 0.0, "greater",
        trained=float(_eta(table).mean()), random=float(eta_r.mean()), random_readouts=len(random_tables))}
    below = table.groupby("n")["U"].mean()
    below = below[below < n_classes].index.to_numpy()
    keep = table["n"].isin(below).to_numpy()
    if len(below) >= 2:
        value, ci = stats.stratified_slope_ci(np.log(table["n"].to_numpy(float)[keep]), diff[keep], n_boot=n_boot,
                                              seed=seed)
    else:
        value, ci = None, None
    out["efficiency_falls_beyond_random"] = stats.check(
        "efficiency falls beyond random readouts", "slope against log n of eta trained minus random readouts, over n with "
        "U < C (bootstrap of the sets within each n)", value, ci, 0.0, "less", n_used=[int(n) for n in below])
    return out


def random_readout_tables(readout, z: np.ndarray, y: np.ndarray, profile, *, n_classes: int, n_readouts: int = 3) -> list:
    """``hull_table`` of ``n_readouts`` random readouts (``random_readouts``, seeded by the profile) on the
    same node vectors and the same node sets as the trained readout's table."""
    tables = []
    for h in random_readouts(readout, n_readouts, profile.seed + 11):
        singles = evaluate_sets(h, z, y, single_node_sets(z.shape[1]), n_classes=n_classes, min_hits=profile.min_hits,
                                device=profile_device(profile))
        tables.append(hull_table(h, z, y, profile, singles, n_classes=n_classes))
    return tables


def reach_beyond_untrained_check(table: pd.DataFrame, untrained_table: pd.DataFrame | None, *,
                                 n_boot: int = stats.N_BOOTSTRAP, seed: int = 0) -> dict:
    """C5's core check: η = |R|/U of the readout on the trained backbone minus η of the readout on the
    untrained backbone (same architecture and seed, 0 steps), set by set on the same node sets;
    bootstrap over sets, greater than 0.  A readout on a random network's features learns too (they
    separate relations); only what pre-training adds to the reach counts."""
    name, statistic = "reach beyond the untrained backbone", ("mean over node sets of eta = |R|/U, readout on the trained "
                                                               "backbone minus readout on the untrained one (same sets; "
                                                               "bootstrap over sets)")
    if untrained_table is None:
        return stats.check(name, "untrained-backbone control not run", None, None, 0.0, "greater", missing=True)
    if not np.array_equal(untrained_table["n"].to_numpy(), table["n"].to_numpy()):
        raise ValueError("the untrained backbone's table must hold the same node sets as the trained one's")
    diff = _eta(table) - _eta(untrained_table)
    value, ci = stats.mean_ci(diff, n_boot=n_boot, seed=seed)
    return stats.check(name, statistic, value, ci, 0.0, "greater", trained=float(_eta(table).mean()),
                       untrained=float(_eta(untrained_table).mean()))


def reach_beyond_controls_check(table: pd.DataFrame, control_tables: list[pd.DataFrame]) -> dict:
    """C5's core check for a checkpoint: the mean η = |R|/U over the node sets of the checkpoint's
    readout (its standard error over sets) against the K random initialisations of
    its configuration, each read through its own readout on the same sets
    (``stats.beyond_controls``: a 95 % prediction interval over the controls' spread)."""
    for t in control_tables:
        if not np.array_equal(t["n"].to_numpy(), table["n"].to_numpy()):
            raise ValueError("every control's table must hold the same node sets as the checkpoint's")
    eta = _eta(table)
    se = float(eta.std(ddof=1) / np.sqrt(len(eta))) if len(eta) >= 2 else 0.0
    values = [float(_eta(t).mean()) for t in control_tables]
    pop = stats.beyond_controls(float(eta.mean()), se, values)
    return stats.check("reach beyond the untrained backbone",
                       f"mean over node sets of eta = |R|/U, checkpoint's readout minus the mean of {len(values)} random "
                       "initialisations of its configuration (same sets; 95 % prediction interval over their spread)",
                       pop["difference"], pop["ci"], 0.0, "greater", trained=float(eta.mean()),
                       controls_mean=pop["controls_mean"], controls_sd=pop["controls_sd"], controls=len(values))


def hull_claim_stats(readout, table: pd.DataFrame, z: np.ndarray, y: np.ndarray, full_predictions: np.ndarray,
                     y_train: np.ndarray, profile, *, n_classes: int, n_random_readouts: int = 3,
                     untrained: tuple | None = None, backbone_gate: dict | None = None,
                     untrained_controls: list | None = None) -> tuple[dict, list]:
    """C5's finished ``hull.stats`` record (``stats.ClaimStats``): the probe gate (full readout against the constant
    predictor), ``hull_stats``' checks (no_violations; gap_grows and efficiency_falls, which
    geometry alone passes), ``beyond_random_checks`` against ``n_random_readouts`` random readouts
    on the same sets and, with ``untrained`` = (readout, z_test, singles) of the untrained
    backbone's readout, the core ``reach_beyond_untrained``; with ``untrained_controls`` (a
    checkpoint's K random initialisations, a list of such triples) the same core check against
    their population (``reach_beyond_controls_check``).  Returns (stats, the random readouts'
    tables)."""
    if untrained is not None and untrained_controls:
        raise ValueError("pass either untrained (our own run's initialisation) or untrained_controls (a checkpoint's "
                         "random-init controls), not both")
    found = hull_stats(table, n_classes, seed=profile.seed)
    checks, nulls = dict(found["checks"]), dict(found["nulls"])
    random_tables = random_readout_tables(readout, z, y, profile, n_classes=n_classes, n_readouts=n_random_readouts)
    checks.update(beyond_random_checks(table, random_tables, n_classes, seed=profile.seed))
    untrained_table = None
    if untrained is not None:
        head_u, z_u, singles_u = untrained
        untrained_table = hull_table(head_u, z_u, y, profile, singles_u, n_classes=n_classes)
    if untrained_controls:
        control_tables = [hull_table(h, zu, y, profile, su, n_classes=n_classes) for h, zu, su in untrained_controls]
        checks["reach_beyond_untrained"] = reach_beyond_controls_check(table, control_tables)
        untrained_table = control_tables[0]
    else:
        checks["reach_beyond_untrained"] = reach_beyond_untrained_check(table, untrained_table, seed=profile.seed)
    nulls["random_readouts"] = int(n_random_readouts)
    if untrained_table is not None:
        nulls["untrained_eta_by_n"] = efficiency_by_n(untrained_table)[["n", "eta"]].to_dict(orient="list")
    gates = {"probe": stats.probe_gate(y, full_predictions, y_train), "backbone": backbone_gate}
    return stats.ClaimStats(gates, checks, nulls), random_tables
