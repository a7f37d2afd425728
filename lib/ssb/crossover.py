"""C4, the crossover (docs/method.md, "Crossover" and "Measurements"): accuracy and
cooperation of random node sets as the number n of active nodes grows.

For n on a log grid from 1 to D = n_heads·d_h, r random node sets of size n (``node_sets``)
go through the limited aperture (``aperture.evaluate_sets``) and their measurements become
the curve and C4's statistics:

    table = crossover_table(readout, z, y, profile, singles, silent_accuracy)   # one row per set
    curve = summarize_by_size(table["n"], table.drop(columns="n"))           # mean ± std per n
    has_dip, n_min = dip(curve)                                               # descriptive (1 s.e.)
    out = crossover_experiment(readout, probe, res, profile)                    # notebook 06: tables, curves, checks

Cooperation compares a set with its nodes taken one at a time:
    κ_R(S) = |R(S)| / |∪_{k∈S} R({k})|     (NaN where the union is empty)
    κ_A(S) = ΔA(S) / Σ_{k∈S} ΔA({k})       (NaN where the sum is <= 0: undefined)

Length (about 670 lines): C4 as one experiment -- the set grid, the curves, the cooperation measures
and their checks against the untrained backbone, the shuffled-label readout and independent voters.
"""
from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd

from . import stats
from .aperture import evaluate_sets
from .node_sets import (distinct_sets, flatten, in_head_grid, log_grid, nested_head_sets, positive_int,
                        sample_node_sets)
from .profiles import profile_device


def cooperation(set_recognized, single_recognized, sets, set_gain, single_gain) -> dict:
    """Joint against individual capabilities of S node sets.

    set_recognized (S, C) bool: R(S) per set.  single_recognized (D, C) bool: R({k}) per node.
    sets: S sequences of node indices.  set_gain (S,): ΔA(S) = A(S) - A(∅).
    single_gain (D,): ΔA({k}).

    Returns a dict of (S,) arrays and counts:
      recognized           |R(S)|
      union_individual     |∪_{k∈S} R({k})|
      kappa_R              |R(S)| / union (NaN where the union is empty)
      sum_individual_gain  Σ_{k∈S} ΔA({k})
      kappa_A              ΔA(S) / Σ (NaN where Σ <= 0: undefined, docs/method.md)
      kappa_R_undefined, kappa_A_undefined   how many sets have NaN there (ints)
    """
    R_sets = np.asarray(set_recognized, dtype=bool)
    R_single = np.asarray(single_recognized, dtype=bool)
    if R_sets.ndim != 2 or R_single.ndim != 2 or R_sets.shape[1] != R_single.shape[1]:
        raise ValueError(f"set_recognized must be (S, C) and single_recognized (D, C) with the same C, "
                         f"got {R_sets.shape} and {R_single.shape}")
    n_sets, n_nodes = R_sets.shape[0], R_single.shape[0]
    if len(sets) != n_sets:
        raise ValueError(f"{len(sets)} sets but set_recognized has {n_sets} rows")
    gain = np.asarray(set_gain, dtype=np.float64)
    single_gain = np.asarray(single_gain, dtype=np.float64)
    if gain.shape != (n_sets,):
        raise ValueError(f"set_gain must be ({n_sets},), got {gain.shape}")
    if single_gain.shape != (n_nodes,):
        raise ValueError(f"single_gain must be ({n_nodes},) to match single_recognized, got {single_gain.shape}")

    union = np.empty(n_sets, dtype=np.int64)
    gain_sum = np.empty(n_sets)
    for i, s in enumerate(sets):
        s = np.asarray(s, dtype=np.int64)
        if s.ndim != 1 or s.size == 0 or s.min() < 0 or s.max() >= n_nodes:
            raise ValueError(f"set {i} must be a non-empty 1-D array of node indices in 0..{n_nodes - 1}")
        union[i] = int(R_single[s].any(0).sum())
        gain_sum[i] = float(single_gain[s].sum())
    recognized = R_sets.sum(1)
    with np.errstate(divide="ignore", invalid="ignore"):
        kappa_R = np.where(union > 0, recognized / np.maximum(union, 1), np.nan)
        kappa_A = np.where(gain_sum > 0, gain / np.where(gain_sum > 0, gain_sum, 1.0), np.nan)
    return {
        "recognized": recognized,
        "union_individual": union,
        "kappa_R": kappa_R,
        "sum_individual_gain": gain_sum,
        "kappa_A": kappa_A,
        "kappa_R_undefined": int(np.sum(union == 0)),
        "kappa_A_undefined": int(np.sum(~(gain_sum > 0))),
    }


def interior_minimum(n, a_mean, a_std=None, n_sigma: float = 1.0) -> tuple[bool, int | None]:
    """Whether a curve A(n) on a grid has an interior minimum, and the n where it sits.

    n (P,): grid points (any order; sorted here).  a_mean (P,): the curve.  a_std (P,),
    optional: the uncertainty of each point, typically the standard error of the mean.

    Rule: let i* be the (first) minimum of a_mean.  There is a dip iff 0 < i* < P-1 and the
    minimum lies below both ends by more than n_sigma · sqrt(s_end² + s_min²) (the standard
    error of a difference of independent means); without a_std, by more than 0.
    Returns (has_dip, n at i* as an int) or (False, None).  NaN points are ignored."""
    n = np.asarray(n, dtype=np.float64).reshape(-1)
    a = np.asarray(a_mean, dtype=np.float64).reshape(-1)
    s = np.zeros_like(a) if a_std is None else np.asarray(a_std, dtype=np.float64).reshape(-1)
    if a.shape != n.shape or s.shape != n.shape:
        raise ValueError(f"n, a_mean and a_std must have the same length, got {n.shape}, {a.shape}, {s.shape}")
    if not n_sigma >= 0:
        raise ValueError(f"n_sigma must be >= 0, got {n_sigma}")
    keep = np.isfinite(a) & np.isfinite(n)
    n, a, s = n[keep], a[keep], np.nan_to_num(s[keep], nan=0.0)
    order = np.argsort(n, kind="stable")
    n, a, s = n[order], a[order], s[order]
    if a.size < 3:
        return False, None
    i = int(np.argmin(a))
    if i == 0 or i == a.size - 1:
        return False, None
    below_first = a[0] - a[i] > n_sigma * np.hypot(s[0], s[i])
    below_last = a[-1] - a[i] > n_sigma * np.hypot(s[-1], s[i])
    if below_first and below_last:
        return True, int(round(n[i]))
    return False, None


def summarize_by_size(sizes, values: dict) -> pd.DataFrame:
    """The crossover curve: mean and std (ddof=0, NaN ignored) of each per-set value per set size.

    sizes (S,): |S| per set.  values: name -> (S,) array (a DataFrame of per-set columns, such
    as ``crossover_table`` without its n, works too).  Returns one row per distinct n
    (ascending) with columns n, sets (how many sets), and <name>_mean, <name>_std per value."""
    sizes = np.asarray(sizes).reshape(-1)
    frame = {"n": sizes.astype(np.int64)}
    for name, v in values.items():
        v = np.asarray(v, dtype=np.float64).reshape(-1)
        if v.shape != sizes.shape:
            raise ValueError(f"value {name!r} has shape {v.shape}, expected ({sizes.shape[0]},) like sizes")
        frame[name] = v
    df = pd.DataFrame(frame)
    grouped = df.groupby("n", sort=True)
    out = pd.DataFrame({"n": np.array(sorted(grouped.groups), dtype=np.int64)})
    out["sets"] = grouped.size().to_numpy()
    for name in values:
        out[f"{name}_mean"] = grouped[name].mean().to_numpy()
        out[f"{name}_std"] = grouped[name].std(ddof=0).to_numpy()
    return out


# --------------------------------------------------------------------------- statistics (C4)
#
# The dip and the cooperation of C4 as check records (``ssb.stats.check``):
#
#   n, A, A_boot = paired_bootstrap_accuracy(correct_by_n, n_boot=1000, seed=0)        # curves, bands
#   n, halves, halves_boot = crossfit_bootstrap_accuracy(correct_by_n, n_boot=1000, seed=0)
#   dip_check("dip across the block", n, halves, halves_boot)                          # cross-fitted depth
#
# ``correct_by_n[n]`` is an (r_n, N) boolean array: whether set i of size n predicts test
# item j correctly.  One bootstrap replicate resamples the N test items once (the same
# resample for every n: the curve is *paired* over items) and, per n, the r_n sets; with
# ``chained=True`` (nested sets grown node by node) the same chains are resampled for every
# n.  The dip is cross-fitted: n* picked on one half of the items, the dip measured on the
# other (``crossfit_dip``); it counts when its depth is above 0 at 95 % confidence.

MIN_DISTINCT_SETS = 2      # a grid point needs this many distinct node sets to enter a check


def _item_weights(n_items: int, n_boot: int, rng) -> np.ndarray:
    """(N, B) float32: how often each test item is drawn in each of B bootstrap resamples."""
    w = np.empty((n_items, n_boot), dtype=np.float32)
    for b in range(n_boot):
        w[:, b] = np.bincount(rng.integers(0, n_items, n_items), minlength=n_items)
    return w


def _curve_matrices(correct_by_n: dict, chained: bool) -> tuple[list, list, int]:
    """(sizes ascending, their (r_n, N) matrices, N), checked: the same N items for every n, and
    with ``chained`` the same number of sets (chains) for every n."""
    if not correct_by_n:
        raise ValueError("correct_by_n is empty")
    sizes = sorted(correct_by_n)
    mats = [np.asarray(correct_by_n[n]) for n in sizes]
    n_items = mats[0].shape[1]
    for n, m in zip(sizes, mats):
        if m.ndim != 2 or m.shape[0] < 1 or m.shape[1] != n_items:
            raise ValueError(f"correct_by_n[{n}] must be (r, {n_items}) with r >= 1, got {m.shape}")
    if chained and len({m.shape[0] for m in mats}) != 1:
        raise ValueError("chained=True needs the same number of sets (chains) for every n")
    return sizes, mats, n_items


def paired_bootstrap_accuracy(correct_by_n: dict, *, n_boot: int = 1000, seed: int = 0, chained: bool = False,
                              clusters=None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A(n) = mean over sets of the set's accuracy, with a paired bootstrap over test items
    and node sets.

    correct_by_n: {n: (r_n, N) bool}, the same N test items for every n.  chained: the rows
    of every n are the same r chains (``nested_head_sets``); they are resampled together.
    clusters: the sequence of each test item (tokens): whole sequences are resampled instead of
    items (positions of one sequence are not independent; ``stats.cluster_resamples``).
    Returns (n (P,), A (P,), A_boot (n_boot, P)), n ascending."""
    sizes, mats, n_items = _curve_matrices(correct_by_n, chained)
    n_boot = positive_int(n_boot, "n_boot")
    rng = np.random.default_rng([positive_int(seed, "seed", minimum=0), 4])
    if clusters is None:
        weights = _item_weights(n_items, n_boot, rng)                              # (N, B)
    else:
        if len(clusters) != n_items:
            raise ValueError(f"clusters must hold one sequence id per test item ({n_items}), got {len(clusters)}")
        group, counts = stats.cluster_resamples(clusters, n_boot, rng)
        weights = np.ascontiguousarray(counts[:, group].T, dtype=np.float32)       # (N, B): a sequence's draws
    totals = weights.sum(0)                                                        # (B,) items in each resample
    a_full = np.array([m.mean() for m in mats])
    a_boot = np.empty((n_boot, len(sizes)))
    chain_idx = rng.integers(0, mats[0].shape[0], (n_boot, mats[0].shape[0])) if chained else None
    for p, m in enumerate(mats):
        per_set = (m.astype(np.float32) @ weights) / totals                        # (r, B) per-set accuracy
        idx = chain_idx if chained else rng.integers(0, m.shape[0], (n_boot, m.shape[0]))
        a_boot[:, p] = per_set[idx, np.arange(n_boot)[:, None]].mean(1)
    return np.asarray(sizes, dtype=np.int64), a_full, a_boot


def _halves(n_items: int, seed: int, clusters=None) -> list[np.ndarray]:
    """The two fixed halves of the test items for the cross-fitted dip: item indices of each
    half, a seeded split of the items (of whole sequences when ``clusters`` is given)."""
    rng = np.random.default_rng([positive_int(seed, "seed", minimum=0), 5])
    if clusters is None:
        order = rng.permutation(n_items)
        return [np.sort(order[: n_items // 2]), np.sort(order[n_items // 2:])]
    _, group = np.unique(np.asarray(clusters).reshape(-1), return_inverse=True)
    order = rng.permutation(int(group.max()) + 1)
    first = np.isin(group, order[: len(order) // 2])
    return [np.flatnonzero(first), np.flatnonzero(~first)]


def crossfit_bootstrap_accuracy(correct_by_n: dict, *, n_boot: int = 1000, seed: int = 0, chained: bool = False,
                                clusters=None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A(n) on each of two fixed halves of the test items, with the paired bootstrap of
    ``paired_bootstrap_accuracy`` done within each half (items, or whole sequences with
    ``clusters``, are drawn from their own half; the node sets, or chains, are drawn once per
    replicate and shared by both halves).  The split and the draws depend on ``seed`` alone, so
    two heads measured on the same items and sets with the same seed are paired half by half.

    Returns (n (P,), A of each half (2, P), its replicates (n_boot, 2, P)), n ascending."""
    sizes, mats, n_items = _curve_matrices(correct_by_n, chained)
    if n_items < 2:
        raise ValueError(f"two halves need at least 2 test items, got {n_items}")
    if clusters is not None and len(clusters) != n_items:
        raise ValueError(f"clusters must hold one sequence id per test item ({n_items}), got {len(clusters)}")
    if clusters is not None and len(np.unique(np.asarray(clusters))) < 2:
        raise ValueError("two halves need at least 2 sequences")
    n_boot = positive_int(n_boot, "n_boot")
    halves = _halves(n_items, seed, clusters)
    rng = np.random.default_rng([positive_int(seed, "seed", minimum=0), 6])
    weights = []
    for idx in halves:
        if clusters is None:
            w = _item_weights(len(idx), n_boot, rng)
        else:
            group, counts = stats.cluster_resamples(np.asarray(clusters)[idx], n_boot, rng)
            w = np.ascontiguousarray(counts[:, group].T, dtype=np.float32)
        weights.append((idx, w, w.sum(0)))
    a_full = np.array([[m[:, idx].mean() for m in mats] for idx in halves])           # (2, P)
    a_boot = np.empty((n_boot, 2, len(sizes)))
    chain_idx = rng.integers(0, mats[0].shape[0], (n_boot, mats[0].shape[0])) if chained else None
    for p, m in enumerate(mats):
        idx_sets = chain_idx if chained else rng.integers(0, m.shape[0], (n_boot, m.shape[0]))
        for h, (idx, w, totals) in enumerate(weights):
            per_set = (m[:, idx].astype(np.float32) @ w) / totals                       # (r, B)
            a_boot[:, h, p] = per_set[idx_sets, np.arange(n_boot)[:, None]].mean(1)
    return np.asarray(sizes, dtype=np.int64), a_full, a_boot


def crossfit_dip(halves) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The cross-fitted dip depth of curves measured on two halves of the test items.

    halves (..., 2, P): A(n) of half 0 and half 1 on the same grid (P >= 3).  For each half h
    the interior minimum n*_h is picked on half h and the dip min(A(first n), A(last n)) − A(n*_h)
    is measured on the *other* half; the raw dip is the mean of the two, and the depth is the
    raw dip where positive, else 0 (a curve that does not sink below both of its ends -- flat,
    rising or falling -- has no dip, whatever its slope).  Picking n* on the items the dip is
    measured on would bias it upward (the minimum of several noisy points lies below their
    level); measuring a monotone curve's slope as a negative dip would read a steeper rise as
    evidence against a dip.

    Returns (depth (...), raw dip (...), the two interior-minimum indices (..., 2))."""
    a = np.asarray(halves, dtype=float)
    if a.ndim < 2 or a.shape[-2] != 2 or a.shape[-1] < 3:
        raise ValueError(f"halves must be (..., 2, P) with P >= 3, got {a.shape}")
    picks = 1 + np.argmin(a[..., 1:-1], axis=-1)                                     # (..., 2)
    dips = []
    for h in (0, 1):
        other = a[..., 1 - h, :]
        at_min = np.take_along_axis(other, picks[..., h:h + 1], axis=-1)[..., 0]
        dips.append(np.minimum(other[..., 0], other[..., -1]) - at_min)
    raw = (dips[0] + dips[1]) / 2
    return np.maximum(raw, 0.0), raw, picks


DIP_STATISTIC = ("cross-fitted dip depth: the interior minimum n* picked on one half of the test items, "
                 "min(A(first n), A(last n)) - A(n*) measured on the other half, the two halves swapped and "
                 "averaged, 0 where negative (no dip)")


def dip_check(name: str, n, halves, halves_boot) -> dict:
    """The cross-fitted dip depth of A(n) (``crossfit_dip``) as a check record; halves (2, P)
    and halves_boot (B, 2, P) from ``crossfit_bootstrap_accuracy``.  Each replicate picks its
    own n* on its own resampled halves.  The 95 % interval comes from the replicates; the dip
    counts (passed) when its lower end is above 0.  Extra keys: raw (the mean of the two
    cross-fitted dips before the cut at 0), n_min (the interior minimum of the curve on all
    items, descriptive), n_min_halves (n*_0, n*_1), n_first, n_last.  Fewer than 3 points:
    value None."""
    n = np.asarray(n, dtype=np.int64)
    value, reps, extra = _dip_reps(n, halves, halves_boot)
    if value is None:
        return stats.check(name, f"{DIP_STATISTIC}; paired bootstrap over test items and node sets within each half",
                           None, None, 0.0, "greater", raw=None, n_min=None, n_min_halves=None, n_first=None,
                           n_last=None)
    return stats.check(name, f"{DIP_STATISTIC}; paired bootstrap over test items and node sets within each half",
                       value, _interval(reps), 0.0, "greater", **extra)


def curve_bands(n, a, a_boot) -> pd.DataFrame:
    """Per grid point: n, A and its 95 % percentile-bootstrap band (for the figures)."""
    lo, hi = np.quantile(np.asarray(a_boot, dtype=float), [stats.ALPHA / 2, 1 - stats.ALPHA / 2], axis=0)
    return pd.DataFrame({"n": np.asarray(n, dtype=np.int64), "accuracy": np.asarray(a, dtype=float),
                         "accuracy_lo": lo, "accuracy_hi": hi})


def kappa_check(name: str, sizes, kappa, kind: str, n_max: int | None = None, *, n_boot: int = 1000,
                seed: int = 0) -> dict:
    """Cooperation κ at the largest n (below ``n_max`` when given) with at least
    MIN_DISTINCT_SETS sets where κ is defined, mean over those sets, with a percentile
    bootstrap interval over the sets; null 1, direction greater (the set beats the sum of
    its nodes).  Extra keys: n, sets.  No such n: value None."""
    sizes = np.asarray(sizes, dtype=np.int64).reshape(-1)
    kappa = np.asarray(kappa, dtype=float).reshape(-1)
    if sizes.shape != kappa.shape:
        raise ValueError(f"sizes and kappa must have the same length, got {sizes.shape} and {kappa.shape}")
    statistic = f"{kind} at the largest n with >= {MIN_DISTINCT_SETS} sets where it is defined (mean over sets); bootstrap over sets"
    ok = np.isfinite(kappa) & ((sizes < n_max) if n_max is not None else True)
    counts = {int(n): int(np.sum(ok & (sizes == n))) for n in np.unique(sizes[ok])}
    usable = [n for n, c in counts.items() if c >= MIN_DISTINCT_SETS]
    if not usable:
        return stats.check(name, statistic, None, None, 1.0, "greater", n=None, sets=0)
    n = max(usable)
    vals = kappa[ok & (sizes == n)]
    value, ci = stats.mean_ci(vals, n_boot=n_boot, seed=seed)
    return stats.check(name, statistic, value, ci, 1.0, "greater", n=n, sets=int(len(vals)))


# --------------------------------------------------------------------------- node sets through the aperture

def sets_table(readout, z: np.ndarray, y: np.ndarray, sets: list[np.ndarray], profile, singles, silent_accuracy: float,
               *, n_classes: int | None = None) -> tuple[pd.DataFrame, np.ndarray]:
    """``crossover_table``'s rows for given node sets, and their (S, N) boolean matrix of
    correct test predictions (what the paired bootstrap resamples)."""
    res = evaluate_sets(readout, z, y, sets, n_classes=n_classes, min_hits=profile.min_hits, keep_predictions=True,
                        device=profile_device(profile))
    gain = res.accuracy - silent_accuracy
    coop = cooperation(res.recognized, singles.recognized, sets, gain, singles.accuracy - silent_accuracy)
    table = pd.DataFrame({
        "n": [len(s) for s in sets], "accuracy": res.accuracy, "gain": gain,
        "predicted": res.n_predicted, "recognized": res.n_recognized,
        "union_individual": coop["union_individual"], "kappa_R": coop["kappa_R"],
        "sum_individual_gain": coop["sum_individual_gain"], "kappa_A": coop["kappa_A"],
    })
    return table, res.predictions == np.asarray(y)[None, :]


def _random_sets(n_nodes: int, d_head: int, within_head: bool, profile, seed_offset: int) -> list[np.ndarray]:
    """The random node sets of one family: ``profile.crossover_sets`` per size on a log grid of
    ``profile.crossover_points`` sizes over the block (or, ``within_head``, over one head)."""
    return flatten(_random_sets_by_size(n_nodes, d_head, within_head, profile, seed_offset))


def _random_sets_by_size(n_nodes: int, d_head: int, within_head: bool, profile, seed_offset: int) -> dict:
    sizes = log_grid(d_head if within_head else n_nodes, profile.crossover_points)
    return sample_node_sets(n_nodes, sizes, profile.crossover_sets, profile.seed + seed_offset, d_head=d_head,
                            within_head=within_head)


def set_families(profile, n_nodes: int, d_head: int, n_heads: int) -> dict[str, tuple[dict, bool]]:
    """Notebook 06's three families of node sets: {family: ({n: [sets]}, chained)} -- random sets
    across the block and inside one head (``profile.crossover_sets`` per size of a log grid), and
    sets grown node by node inside every head (chains: ceil(crossover_sets / n_heads) seeded
    orders per head, sizes ``in_head_grid(d_h)``).  ``python -m ssb.bench paper`` counts its work
    from the same sets."""
    orders = max(1, -(-profile.crossover_sets // n_heads))
    return {"across the block": (_random_sets_by_size(n_nodes, d_head, False, profile, 0), False),
            "inside one head": (_random_sets_by_size(n_nodes, d_head, True, profile, 1), False),
            "grown inside each head": (nested_head_sets(n_heads, d_head, in_head_grid(d_head), orders, profile.seed + 2),
                                       True)}


def crossover_table(readout, z: np.ndarray, y: np.ndarray, profile, singles, silent_accuracy: float, *,
                    within_head: bool = False, n_classes: int | None = None, d_head: int | None = None,
                    seed_offset: int = 0) -> pd.DataFrame:
    """One row per random node set: n, A, gain ΔA, |P|, |R|, the union of its nodes'
    individual recognised sets, the sum of their individual gains, κ_R and κ_A.

    Sizes come from a log grid over 1..D (``profile.crossover_points`` points), with
    ``profile.crossover_sets`` sets per size; ``within_head`` draws every set inside one
    head (sizes up to d_h, ``profile.d_head`` unless given)."""
    sets = _random_sets(z.shape[1], d_head or profile.d_head, within_head, profile, seed_offset)
    return sets_table(readout, z, y, sets, profile, singles, silent_accuracy, n_classes=n_classes)[0]


def dip(curve: pd.DataFrame) -> tuple[bool, int | None]:
    """Whether A(n) of a ``summarize_by_size`` curve has an interior minimum on the grid, and
    where (``interior_minimum``, the old one-standard-error rule, descriptive only).  The dip
    that C4's verdict reads is ``crossover_experiment``'s: a paired bootstrap, 2 sigma against
    both ends."""
    sem = curve["accuracy_std"].to_numpy() / np.sqrt(np.maximum(curve["sets"].to_numpy(), 1))
    return interior_minimum(curve["n"].to_numpy(), curve["accuracy_mean"].to_numpy(), sem)


def voter_predictions(single_predictions: np.ndarray, sets: list[np.ndarray], n_classes: int) -> np.ndarray:
    """The independent-voter prediction of each set: every node of S votes for the label it
    predicts alone (``single_predictions`` (D, N), the single-node apertures), the plurality
    wins, ties go to the lowest label id.  Returns (S, N) int64.  A set whose nodes merely pool
    their individual outputs scores this; cooperation is what A(S) adds beyond it."""
    preds = np.asarray(single_predictions, dtype=np.int64)
    n_items = preds.shape[1]
    out = np.empty((len(sets), n_items), dtype=np.int64)
    cols = np.arange(n_items)
    for i, s in enumerate(sets):
        votes = np.zeros((n_classes, n_items), dtype=np.int32)
        np.add.at(votes, (preds[np.asarray(s)], np.broadcast_to(cols, (len(s), n_items))), 1)
        out[i] = votes.argmax(0)                    # first maximum: the lowest label among ties
    return out


def _measure(readout, probe, res, profile, block: int, n_boot: int) -> dict:
    """The three families of node sets through the aperture of one readout, with their paired
    bootstraps (see ``crossover_experiment``) and the independent-voter comparison of the sets
    drawn inside one head (2 <= n <= d_h)."""
    z, y = probe.z_test[block], probe.y_test
    n_nodes = z.shape[1]
    families = {name: (flatten(by_size), chained)
                for name, (by_size, chained) in set_families(profile, n_nodes, probe.d_head, probe.n_heads).items()}
    tables, curves, bands, halves, left_out, correct_of = {}, {}, {}, {}, {}, {}
    for name, (sets, chained) in families.items():
        table, correct = sets_table(readout, z, y, sets, profile, res.singles, res.silent_accuracy, n_classes=probe.n_classes)
        sizes = table["n"].to_numpy()
        by_n = {int(n): correct[sizes == n] for n in np.unique(sizes)}
        n, a, a_boot = paired_bootstrap_accuracy(by_n, n_boot=n_boot, seed=profile.seed, chained=chained,
                                                 clusters=probe.test_clusters)
        enough = np.array([distinct_sets([sets[i] for i in np.flatnonzero(sizes == k)]) >= MIN_DISTINCT_SETS for k in n])
        tables[name], bands[name] = table, curve_bands(n, a, a_boot)
        curves[name] = summarize_by_size(sizes, table.drop(columns="n"))
        _, a_half, a_half_boot = crossfit_bootstrap_accuracy(by_n, n_boot=n_boot, seed=profile.seed, chained=chained,
                                                             clusters=probe.test_clusters)
        halves[name] = (n[enough], a_half[:, enough], a_half_boot[:, :, enough])
        left_out[name] = n[~enough].tolist()
        correct_of[name] = correct
    inside_sets = families["inside one head"][0]
    small = np.flatnonzero(np.array([len(s) >= 2 for s in inside_sets]))
    coop = None
    if len(small) >= MIN_DISTINCT_SETS:
        votes = voter_predictions(res.singles.predictions, [inside_sets[i] for i in small], probe.n_classes)
        diff = correct_of["inside one head"][small].astype(np.float32) - (votes == np.asarray(y)[None, :])
        _, c, c_boot = paired_bootstrap_accuracy({0: diff}, n_boot=n_boot, seed=profile.seed,
                                                 clusters=probe.test_clusters)
        coop = {"value": float(c[0]), "boot": c_boot[:, 0], "sets": int(len(small)),
                "kappa_R": tables["inside one head"]["kappa_R"].to_numpy()[small]}
    return {"tables": tables, "curves": curves, "bands": bands, "halves": halves, "left_out": left_out,
            "coop": coop}


def _interval(reps) -> list:
    reps = np.asarray(reps, dtype=float)
    reps = reps[np.isfinite(reps)]
    if len(reps) == 0:
        return [None, None]
    lo, hi = np.quantile(reps, [stats.ALPHA / 2, 1 - stats.ALPHA / 2])
    return [float(lo), float(hi)]


def _dip_reps(n, halves, halves_boot):
    """(dip depth, its bootstrap replicates, descriptive extras) of a curve measured on two
    halves (``crossfit_dip``; every replicate picks its own n* on its own halves);
    (None, None, None) under 3 points."""
    n = np.asarray(n, dtype=np.int64)
    halves, halves_boot = np.asarray(halves, dtype=float), np.asarray(halves_boot, dtype=float)
    if n.size < 3:
        return None, None, None
    depth, raw, picks = crossfit_dip(halves)
    reps, _, _ = crossfit_dip(halves_boot)
    whole = halves.mean(0)
    extra = {"raw": float(raw), "n_min": int(n[1 + int(np.argmin(whole[1:-1]))]),
             "n_min_halves": [int(n[picks[0]]), int(n[picks[1]])], "n_first": int(n[0]), "n_last": int(n[-1])}
    return float(depth), reps, extra


REFERENCES = {"untrained": "the untrained backbone", "shuffled": "a readout trained on shuffled labels"}


def beyond_untrained_checks(trained: dict, untrained: dict | None, against: str = "untrained") -> dict:
    """C4's evidence: what the trained readout's sets show beyond the untrained backbone's readout on
    the same test items and the same node sets (both bootstraps use the same seed, so replicate
    b resamples the same items and sets in both: the differences are paired).

    cooperation_beyond_voters: A(S) minus the independent voters' accuracy, sets inside one head
    with 2 <= n <= d_h, null 0; cooperation_beyond_untrained (core): that difference, trained
    minus untrained; kappa_R_beyond_untrained: mean kappa_R of those sets, trained minus
    untrained (bootstrap over the sets where both are defined); dip_*_beyond_untrained: the dip
    statistic, trained minus untrained.

    ``against="shuffled"``: the same comparisons with a readout trained on shuffled labels on the
    same node vectors (``shuffled_label_control``) as the reference: keys ``*_beyond_shuffled``,
    no ``cooperation_beyond_voters`` (it does not compare)."""
    if against not in REFERENCES:
        raise ValueError(f"against must be one of {sorted(REFERENCES)}, got {against!r}")
    ref = REFERENCES[against]
    out = {}
    c = trained["coop"]
    stat_v = ("A(S) minus the accuracy of S's nodes voting independently (plurality of their single-node "
              "predictions), sets inside one head with 2 <= n <= d_h; paired bootstrap over test items and sets")
    out["cooperation_beyond_voters"] = stats.check(
        "cooperation beyond independent voters", stat_v, None if c is None else c["value"],
        None if c is None else _interval(c["boot"]), 0.0, "greater", sets=None if c is None else c["sets"])
    u = None if untrained is None else untrained["coop"]
    missing = {"missing": True} if untrained is None else {}
    ok = c is not None and u is not None and len(c["boot"]) == len(u["boot"])
    out[f"cooperation_beyond_{against}"] = stats.check(
        f"cooperation beyond {ref}", f"the same, trained minus {ref} (same sets, same "
        "items, paired bootstrap)", c["value"] - u["value"] if ok else None,
        _interval(c["boot"] - u["boot"]) if ok else None, 0.0, "greater",
        trained=None if c is None else c["value"], untrained=None if u is None else u["value"], **missing)
    if against != "untrained":
        del out["cooperation_beyond_voters"]
    if ok:
        both = np.isfinite(c["kappa_R"]) & np.isfinite(u["kappa_R"])
        d = c["kappa_R"][both] - u["kappa_R"][both]
        value, ci = stats.mean_ci(d) if len(d) >= MIN_DISTINCT_SETS else (None, None)
    else:
        value, ci, both = None, None, np.zeros(0, dtype=bool)
    out[f"kappa_R_beyond_{against}"] = stats.check(
        f"kappa_R beyond {ref}", "mean kappa_R of the sets inside one head (2 <= n <= d_h), trained "
        f"minus {ref} (bootstrap over the sets where both are defined)", value, ci, 0.0, "greater",
        sets=int(both.sum()), **missing)
    for key, family in ((f"dip_depth_across_beyond_{against}", "across the block"),
                        (f"dip_depth_in_head_beyond_{against}", "grown inside each head")):
        t_val, t_reps, _ = _dip_reps(*trained["halves"][family])
        u_val, u_reps, _ = (None, None, None) if untrained is None else _dip_reps(*untrained["halves"][family])
        ok = t_val is not None and u_val is not None and len(t_reps) == len(u_reps)
        out[key] = stats.check(
            f"dip of A(n) beyond {ref} ({family})", f"{DIP_STATISTIC}, trained minus {ref} (same sets, "
            "same halves of the same items, paired bootstrap within each half)",
            t_val - u_val if ok else None, _interval(t_reps - u_reps) if ok else None, 0.0, "greater",
            trained=t_val, untrained=u_val, **missing)
    return out


def beyond_controls_checks(trained: dict, controls: list[dict]) -> dict:
    """C4's evidence for a checkpoint: the same statistics as ``beyond_untrained_checks``, but
    against K random initialisations of the checkpoint's configuration (a checkpoint has no
    initialisation of its own to pair with).  Each statistic of the checkpoint, with its
    bootstrap standard error, is compared with the population of the K controls' values
    (``stats.beyond_controls``: a 95 % prediction interval over their spread)."""
    def population(key, title, statistic, value, se, control_values, **extra):
        ok = value is not None and all(v is not None and np.isfinite(v) for v in control_values)
        pop = stats.beyond_controls(value, se, control_values) if ok else {"difference": None, "ci": None}
        return stats.check(title, statistic + f", checkpoint minus the mean of {len(control_values)} random "
                           "initialisations of its configuration (95 % prediction interval over their spread)",
                           pop["difference"], pop["ci"], 0.0, "greater", trained=value,
                           controls_mean=pop.get("controls_mean"), controls_sd=pop.get("controls_sd"),
                           controls=len(control_values), **extra)

    out = beyond_untrained_checks(trained, None)          # cooperation_beyond_voters, and the missing shapes
    c = trained["coop"]
    coop_u = [None if u["coop"] is None else u["coop"]["value"] for u in controls]
    out["cooperation_beyond_untrained"] = population(
        "cooperation_beyond_untrained", "cooperation beyond the untrained backbone",
        "A(S) minus the independent voters' accuracy (sets inside one head, 2 <= n <= d_h)",
        None if c is None else c["value"], 0.0 if c is None else float(np.std(c["boot"], ddof=1)), coop_u)
    if c is not None:
        k = c["kappa_R"][np.isfinite(c["kappa_R"])]
        k_value = float(k.mean()) if len(k) >= MIN_DISTINCT_SETS else None
        k_se = float(k.std(ddof=1) / np.sqrt(len(k))) if len(k) >= MIN_DISTINCT_SETS else 0.0
    else:
        k_value, k_se = None, 0.0
    k_u = []
    for u in controls:
        ku = None if u["coop"] is None else u["coop"]["kappa_R"][np.isfinite(u["coop"]["kappa_R"])]
        k_u.append(float(ku.mean()) if ku is not None and len(ku) else None)
    out["kappa_R_beyond_untrained"] = population(
        "kappa_R_beyond_untrained", "kappa_R beyond the untrained backbone",
        "mean kappa_R of the sets inside one head (2 <= n <= d_h)", k_value, k_se, k_u)
    for key, family in (("dip_depth_across_beyond_untrained", "across the block"),
                        ("dip_depth_in_head_beyond_untrained", "grown inside each head")):
        t_val, t_reps, _ = _dip_reps(*trained["halves"][family])
        u_vals = [_dip_reps(*u["halves"][family])[0] for u in controls]
        out[key] = population(key, f"dip of A(n) beyond the untrained backbone ({family})",
                              DIP_STATISTIC, t_val,
                              0.0 if t_reps is None else float(np.std(t_reps, ddof=1)), u_vals)
    return out


def shuffled_label_control(profile, probe, block: int | None = None, layers: int | None = None) -> tuple:
    """(readout, probe, result) of C4's second null: a readout trained on the same node vectors with the
    training labels shuffled across items (seeded by the profile's seed), read through the same
    aperture.  It can fit its training set but has nothing to generalise; what the trained readout's
    curves show beyond it is not the readout's doing alone."""
    from .readouts import fit_readout
    from .recognition import recognize
    block = profile.block if block is None else block
    rng = np.random.default_rng([int(profile.seed), 11])
    shuffled = dataclasses.replace(probe, y_train=rng.permutation(np.asarray(probe.y_train)),
                                   checkpoint_fp=f"{probe.checkpoint_fp}-shuffled-labels")
    readout = fit_readout(profile, shuffled, block, layers=layers, progress=False)
    return readout, shuffled, recognize(readout, shuffled, block, profile)


def crossover_experiment(readout, probe, res, profile, block: int | None = None, n_boot: int = stats.N_BOOTSTRAP,
                         untrained: tuple | None = None, backbone_gate: dict | None = None,
                         untrained_controls: list | None = None, shuffled: tuple | None = None) -> dict:
    """Notebook 06's measurement for one task, with the statistics of C4.

    Three families of node sets: random sets across the block and random sets inside single
    heads (``crossover_table``), and nested sets grown node by node inside every head
    (sizes ``in_head_grid(d_h)``, ceil(crossover_sets / n_heads) seeded orders per head).
    For each family A(n) gets a paired bootstrap over test items and node sets
    (``paired_bootstrap_accuracy``; the nested chains are resampled as chains).
    ``untrained``: (readout, probe, res) of the untrained backbone on the same test items; the
    same sets go through its aperture, and the evidence checks compare with it
    (``beyond_untrained_checks``).  ``untrained_controls`` (instead, for a checkpoint): a list of
    such triples, the K random initialisations of its configuration (``beyond_controls_checks``).
    ``shuffled``: (readout, probe, res) of a readout trained on shuffled labels on the same node vectors
    (``shuffled_label_control``): the same sets through it, and the ``*_beyond_shuffled`` checks.
    ``backbone_gate``: kept as ``gates.backbone``.

    Returns {"across", "inside", "nested": tables, "curves": {family: curve},
    "bands": {family: n, A and its 95 % band}, "has_dip", "n_min" (the dip across the
    block at 2 sigma against both ends), "stats": {"gates": {"probe"}, "checks", "nulls"}}.
    Grid points with fewer than ``MIN_DISTINCT_SETS`` distinct sets (the full block: one set)
    are drawn but left out of the checks."""
    block = profile.block if block is None else block
    z, y = probe.z_test[block], probe.y_test
    n_nodes = z.shape[1]
    m = _measure(readout, probe, res, profile, block, n_boot)
    if untrained is not None and untrained_controls:
        raise ValueError("pass either untrained (our own run's initialisation) or untrained_controls (a checkpoint's "
                         "random-init controls), not both")

    def measured(control):
        head_u, probe_u, res_u = control
        if not np.array_equal(np.asarray(probe_u.y_test), np.asarray(y)) or probe_u.z_test[block].shape != z.shape:
            raise ValueError("the untrained backbone's probe must hold the same test items and node count")
        return _measure(head_u, probe_u, res_u, profile, block, n_boot)

    mu = None if untrained is None else measured(untrained)
    mus = [measured(c) for c in untrained_controls or []]
    ms = None if shuffled is None else measured(shuffled)
    tables, curves, bands = m["tables"], m["curves"], m["bands"]
    across = tables["across the block"]
    checks = {
        **(beyond_controls_checks(m, mus) if mus else beyond_untrained_checks(m, mu)),
        **({} if ms is None else beyond_untrained_checks(m, ms, against="shuffled")),
        "cooperation_R": kappa_check("cooperation: joint |R| over the union of the nodes' |R|", across["n"], across["kappa_R"],
                                     "kappa_R", n_max=n_nodes, n_boot=n_boot, seed=profile.seed),
        "cooperation_A": kappa_check("cooperation: joint gain over the summed gains of the nodes", across["n"],
                                     across["kappa_A"], "kappa_A", n_boot=n_boot, seed=profile.seed),
        "dip_depth_across": dip_check("dip of A(n), random sets across the block", *m["halves"]["across the block"]),
        "dip_depth_in_head": dip_check("dip of A(n), sets grown node by node inside each head",
                                       *m["halves"]["grown inside each head"]),
    }
    gates = {"probe": stats.probe_gate(y, res.full.predictions[0], probe.y_train, clusters=probe.test_clusters,
                                       keys=probe.test_keys)}
    if backbone_gate is not None:
        gates["backbone"] = backbone_gate
    dip_across = checks["dip_depth_across"]
    has_dip = bool(dip_across["passed"])
    nulls = {"kappa": 1.0, "dip": 0.0, "silent_accuracy": res.silent_accuracy,
             "n_left_out_of_checks": m["left_out"], "n_boot": int(n_boot)}
    if mu is not None:
        nulls["untrained"] = {"silent_accuracy": untrained[2].silent_accuracy,
                              "curve": mu["curves"]["across the block"][["n", "accuracy_mean"]].to_dict(orient="list")}
    elif mus:
        mu = mus[0]
        nulls["untrained"] = {"controls": len(mus), "silent_accuracy": untrained_controls[0][2].silent_accuracy,
                              "curve": mu["curves"]["across the block"][["n", "accuracy_mean"]].to_dict(orient="list")}
    return {"across": across, "inside": tables["inside one head"], "nested": tables["grown inside each head"],
            "curves": curves, "bands": bands, "has_dip": has_dip, "n_min": dip_across["n_min"] if has_dip else None,
            "untrained_curves": None if mu is None else mu["curves"],
            "stats": stats.ClaimStats(gates, checks, nulls)}
