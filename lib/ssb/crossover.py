"""The crossover curve (docs/method.md, "Crossover" and "Measurements"): pure arithmetic.

For n on a log grid from 1 to D = 12·d_h, r random node sets of size n are evaluated
through the limited aperture (elsewhere); this module draws the sets and turns their
measurements into the curve:

    sizes = log_grid(D, 12)                               # 1 .. D, roughly log-spaced ints
    sets = sample_node_sets(D, sizes, r=20, seed=0)       # {n: [r sorted index arrays]}
    coop = cooperation(R_sets, R_singles, flat_sets, gain_sets, gain_singles)
    table = summarize_by_size(n_per_set, {"accuracy": A, "kappa_R": coop["kappa_R"]})
    has_dip, n_min = interior_minimum(table["n"], table["accuracy_mean"], sem)

Cooperation compares a set with its nodes taken one at a time:
    κ_R(S) = |R(S)| / |∪_{k∈S} R({k})|     (NaN where the union is empty)
    κ_A(S) = ΔA(S) / Σ_{k∈S} ΔA({k})       (NaN where the sum is <= 0: undefined)
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from . import stats


def _positive_int(value, name: str, minimum: int = 1) -> int:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return int(value)


def log_grid(n_max: int, n_points: int) -> np.ndarray:
    """Sorted distinct ints from 1 to n_max inclusive, roughly log-spaced, always holding 1 and n_max.

    Exactly min(n_points, n_max) values (n_points >= 2, or n_max == 1).  Built greedily: each
    next value is the previous one times the ratio that would reach n_max evenly in the
    remaining steps, rounded, and at least one more than the previous (so the low end is
    1, 2, 3, ... where log spacing would repeat integers)."""
    n_max = _positive_int(n_max, "n_max")
    n_points = _positive_int(n_points, "n_points")
    if n_max == 1:
        return np.array([1], dtype=np.int64)
    if n_points < 2:
        raise ValueError(f"n_points must be >= 2 to hold both 1 and n_max={n_max}, got {n_points}")
    count = min(n_points, n_max)
    values = [1]
    for i in range(1, count - 1):
        remaining = count - i                                  # steps left to reach n_max
        ratio = (n_max / values[-1]) ** (1.0 / remaining)
        nxt = max(values[-1] + 1, int(round(values[-1] * ratio)))
        values.append(min(nxt, n_max - (remaining - 1)))       # leave room for the remaining values
    values.append(n_max)
    return np.asarray(values, dtype=np.int64)


def sample_node_sets(n_nodes: int, sizes, r: int, seed: int, d_head: int | None = None,
                     within_head: bool = False) -> dict[int, list[np.ndarray]]:
    """r random node sets per size: {n: [sorted int64 index arrays of length n]}, keys ascending.

    Nodes within a set are drawn without replacement.  Size n_nodes gives the one full set
    0..n_nodes-1 once (there is only one).  within_head=True draws each set inside one head,
    chosen at random per set (head h holds nodes h·d_head .. (h+1)·d_head - 1); sizes must then
    be <= d_head and n_nodes a multiple of d_head.

    Deterministic: the sets of size n depend only on (seed, n, within_head), so adding or
    removing other sizes does not change them."""
    n_nodes = _positive_int(n_nodes, "n_nodes")
    r = _positive_int(r, "r")
    seed = _positive_int(seed, "seed", minimum=0)
    sizes = sorted({int(n) for n in np.asarray(sizes, dtype=np.int64).reshape(-1)})
    if not sizes:
        raise ValueError("sizes is empty")
    if sizes[0] < 1 or sizes[-1] > n_nodes:
        raise ValueError(f"set sizes must lie in 1..{n_nodes}, got {sizes[0]}..{sizes[-1]}")
    if within_head:
        if d_head is None:
            raise ValueError("within_head=True needs d_head")
        d_head = _positive_int(d_head, "d_head")
        if n_nodes % d_head:
            raise ValueError(f"n_nodes={n_nodes} is not a multiple of d_head={d_head}")
        if sizes[-1] > d_head:
            raise ValueError(f"within_head sets hold at most d_head={d_head} nodes, got size {sizes[-1]}")
        n_heads = n_nodes // d_head
    out: dict[int, list[np.ndarray]] = {}
    for n in sizes:
        rng = np.random.default_rng([seed, n, int(within_head)])
        if not within_head and n == n_nodes:
            out[n] = [np.arange(n_nodes, dtype=np.int64)]
            continue
        sets = []
        for _ in range(r):
            if within_head:
                head = int(rng.integers(n_heads))
                chosen = head * d_head + rng.choice(d_head, size=n, replace=False)
            else:
                chosen = rng.choice(n_nodes, size=n, replace=False)
            sets.append(np.sort(chosen).astype(np.int64))
        out[n] = sets
    return out


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
    """Mean and std (ddof=0, NaN ignored) of each value per set size.

    sizes (S,): |S| per set.  values: name -> (S,) array.  Returns one row per distinct n
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
#   A, A_boot = paired_bootstrap_accuracy(correct_by_n, n_boot=1000, seed=0)
#   dip_check("dip across the block", n, A, A_boot)
#
# ``correct_by_n[n]`` is an (r_n, N) boolean array: whether set i of size n predicts test
# item j correctly.  One bootstrap replicate resamples the N test items once (the same
# resample for every n: the curve is *paired* over items) and, per n, the r_n sets; with
# ``chained=True`` (nested sets grown node by node) the same chains are resampled for every
# n.  A dip counts only when the interior minimum lies below BOTH ends at 95 % confidence.

MIN_DISTINCT_SETS = 2      # a grid point needs this many distinct node sets to enter a check


def in_head_grid(d_head: int) -> np.ndarray:
    """Sizes of the nested sets grown inside one head: 1, 2, 4, 8, 12, 16, 24, 32, 48, 64, ...
    (powers of two up to 8, then alternately x1.5 and x4/3), cut at d_head, which is always
    included (the whole head)."""
    d_head = _positive_int(d_head, "d_head")
    sizes, k = [1, 2, 4, 8], 8
    while k < d_head:
        k = k * 3 // 2 if (k & (k - 1)) == 0 else k * 4 // 3
        sizes.append(k)
    return np.array(sorted({s for s in sizes if s < d_head} | {d_head}), dtype=np.int64)


def nested_head_sets(n_heads: int, d_head: int, sizes, orders: int, seed: int) -> dict[int, list[np.ndarray]]:
    """Node sets grown node by node inside each head: for every head h and each of ``orders``
    seeded random orders of its d_head nodes, the first n nodes for every n in ``sizes``.

    Returns {n: [sorted int64 arrays]}, each list of length n_heads·orders in the same chain
    order (chain i = head i // orders, order i % orders), so row i of every size belongs to
    chain i and the sets of one chain are nested."""
    n_heads = _positive_int(n_heads, "n_heads")
    d_head = _positive_int(d_head, "d_head")
    orders = _positive_int(orders, "orders")
    seed = _positive_int(seed, "seed", minimum=0)
    sizes = sorted({int(n) for n in np.asarray(sizes, dtype=np.int64).reshape(-1)})
    if not sizes or sizes[0] < 1 or sizes[-1] > d_head:
        raise ValueError(f"nested sizes must lie in 1..d_head={d_head}, got {sizes}")
    rng = np.random.default_rng([seed, 2])
    perms = [h * d_head + rng.permutation(d_head) for h in range(n_heads) for _ in range(orders)]
    return {n: [np.sort(p[:n]).astype(np.int64) for p in perms] for n in sizes}


def distinct_sets(sets) -> int:
    """How many different node sets a list holds."""
    return len({tuple(np.sort(np.asarray(s)).tolist()) for s in sets})


def _item_weights(n_items: int, n_boot: int, rng) -> np.ndarray:
    """(N, B) float32: how often each test item is drawn in each of B bootstrap resamples."""
    w = np.empty((n_items, n_boot), dtype=np.float32)
    for b in range(n_boot):
        w[:, b] = np.bincount(rng.integers(0, n_items, n_items), minlength=n_items)
    return w


def paired_bootstrap_accuracy(correct_by_n: dict, *, n_boot: int = 1000, seed: int = 0, chained: bool = False
                              ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A(n) = mean over sets of the set's accuracy, with a paired bootstrap over test items
    and node sets.

    correct_by_n: {n: (r_n, N) bool}, the same N test items for every n.  chained: the rows
    of every n are the same r chains (``nested_head_sets``); they are resampled together.
    Returns (n (P,), A (P,), A_boot (n_boot, P)), n ascending."""
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
    n_boot = _positive_int(n_boot, "n_boot")
    rng = np.random.default_rng([_positive_int(seed, "seed", minimum=0), 4])
    weights = _item_weights(n_items, n_boot, rng)                                  # (N, B)
    a_full = np.array([m.mean() for m in mats])
    a_boot = np.empty((n_boot, len(sizes)))
    chain_idx = rng.integers(0, mats[0].shape[0], (n_boot, mats[0].shape[0])) if chained else None
    for p, m in enumerate(mats):
        per_set = (m.astype(np.float32) @ weights) / n_items                       # (r, B) per-set accuracy
        idx = chain_idx if chained else rng.integers(0, m.shape[0], (n_boot, m.shape[0]))
        a_boot[:, p] = per_set[idx, np.arange(n_boot)[:, None]].mean(1)
    return np.asarray(sizes, dtype=np.int64), a_full, a_boot


def dip_check(name: str, n, a, a_boot) -> dict:
    """The dip of A(n) as a check record: value = min(A(first n), A(last n)) − A(n*), where n*
    is the interior minimum of the full-sample curve, held fixed in every bootstrap replicate
    (re-locating it per replicate would bias the minimum low).  The 95 % interval comes from
    the replicates; the dip counts (passed) when its lower end is above 0, i.e. the minimum
    lies below both ends at about 2 sigma.  Extra keys: n_min, z_first, z_last (the dip
    against each end over its bootstrap standard deviation).  Fewer than 3 points: None."""
    n = np.asarray(n, dtype=np.int64)
    a = np.asarray(a, dtype=float)
    a_boot = np.asarray(a_boot, dtype=float)
    statistic = "min(A(first n), A(last n)) - A(interior minimum); paired bootstrap over test items and node sets"
    if a.size < 3:
        return stats.check(name, statistic, None, None, 0.0, "greater", n_min=None, z_first=None, z_last=None,
                              n_first=None, n_last=None)
    i = 1 + int(np.argmin(a[1:-1]))
    value = min(a[0], a[-1]) - a[i]
    reps = np.minimum(a_boot[:, 0], a_boot[:, -1]) - a_boot[:, i]
    lo, hi = np.quantile(reps, [stats.ALPHA / 2, 1 - stats.ALPHA / 2])

    def z(end):
        d = a_boot[:, end] - a_boot[:, i]
        sd = float(d.std(ddof=1))
        return float((a[end] - a[i]) / sd) if sd > 0 else None
    return stats.check(name, statistic, value, [lo, hi], 0.0, "greater", n_min=int(n[i]), z_first=z(0),
                          z_last=z(-1), n_first=int(n[0]), n_last=int(n[-1]))


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
