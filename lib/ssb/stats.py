"""Statistics behind every verdict: tests, intervals and the check record the claims table reads.

Every verdict (``ssb.claims``) is built from *checks*. A check is one plain dict, made by
``check(...)`` and stored in ``summary.json``::

    {"name": "node recognition beyond the permutation null",
     "statistic": "fraction of nodes whose |R| exceeds the null's 95th percentile",
     "value": 0.31, "ci": [0.24, 0.38], "null": 0.05, "direction": "greater",
     "passed": True}

``passed`` is True when the whole interval lies on the claimed side of the null
(``ci[0] > null`` for "greater", ``ci[1] < null`` for "less"; for an invariant, direction
"equal", when the value equals the null exactly); None when the value or its interval is
missing. A *gate* is a check too: it says whether the model or probe learned at
all; a failed gate makes the claim "not testable".

Levels are fixed here, from principles, not from any run's numbers:

- ``ALPHA = 0.05``: two-sided 95 % intervals (percentile bootstrap) and one-sided tests at 5 %;
- ``GATE_ALPHA = 0.01``: the probe gate (a paired test of the probe against the constant
  predictor) at p < 0.01, the backbone gate at 95 % confidence (p < 0.05);
- ``FDR = 0.05``: Benjamini-Hochberg over the candidate labels of one node set.

Length (about 700 lines): the statistical toolbox every verdict uses (tests, intervals, gates, check
records); each function stands alone and has its own tests.
"""
from __future__ import annotations

import math
from collections.abc import Mapping
from types import MappingProxyType
from typing import Callable, Sequence

import numpy as np
from scipy import stats as _st

ALPHA = 0.05
GATE_ALPHA = 0.01
FDR = 0.05
N_BOOTSTRAP = 1000


# --------------------------------------------------------------------------- check records

def check(name: str, statistic: str, value, ci, null, direction: str = "greater", **extra) -> dict:
    """A check record (see the module docstring). ``extra`` keys (e.g. ``p``) are kept."""
    if direction not in ("greater", "less", "equal"):
        raise ValueError(f"direction must be 'greater', 'less' or 'equal', got {direction!r}")
    value = _num(value)
    lo, hi = (None, None) if ci is None else (_num(ci[0]), _num(ci[1]))
    null = _num(null)
    passed = None
    if direction == "equal":                    # an invariant: exact equality, no interval needed
        passed = None if value is None or null is None else bool(value == null)
    elif value is not None and lo is not None and hi is not None and null is not None:
        passed = bool(lo > null) if direction == "greater" else bool(hi < null)
    return {"name": name, "statistic": statistic, "value": value, "ci": [lo, hi], "null": null,
            "direction": direction, "passed": passed, **extra}


def gate(name: str, statistic: str, value, null, p: float | None, level: float, **extra) -> dict:
    """A gate record: passed when the one-sided p-value is below ``level`` (value above null)."""
    passed = None if p is None or value is None or null is None else bool(p < level and value > null)
    return {"name": name, "statistic": statistic, "value": _num(value), "null": _num(null),
            "p": _num(p), "level": level, "passed": passed, **extra}


def _num(x):
    if x is None:
        return None
    x = float(x)
    return x if math.isfinite(x) else None


class ClaimStats(Mapping):
    """The verdict records of one summary section, read-only: ``gates`` and ``checks`` (name ->
    record of ``gate`` / ``check``), ``nulls`` (what the nulls gave, for display) and ``seeds``
    (probe-seed replicates, or None).  Functions return it finished; a notebook combines two
    with ``merged`` and never edits nested dicts.  Stored in summary.json as ``as_dict()``;
    reads like that dict too (``st["checks"]``), for code that only looks."""

    __slots__ = ("_parts",)
    FIELDS = ("gates", "checks", "nulls", "seeds")

    def __init__(self, gates=None, checks=None, nulls=None, seeds=None):
        parts = {"gates": {k: v for k, v in (gates or {}).items() if v is not None},        # None: not recorded
                 "checks": {k: v for k, v in (checks or {}).items() if v is not None}, "nulls": dict(nulls or {}),
                 "seeds": None if seeds is None else dict(seeds)}
        for kind in ("gates", "checks"):
            for name, rec in parts[kind].items():
                if not isinstance(rec, Mapping):
                    raise TypeError(f"{kind[:-1]} {name!r} must be a record (stats.{kind[:-1]}), got {type(rec).__name__}")
        object.__setattr__(self, "_parts", {k: (None if v is None else MappingProxyType(v)) for k, v in parts.items()})

    def __setattr__(self, name, value):
        raise AttributeError("ClaimStats is read-only: combine records with merged(...)")

    @property
    def gates(self) -> Mapping[str, dict]:
        return self._parts["gates"]

    @property
    def checks(self) -> Mapping[str, dict]:
        return self._parts["checks"]

    @property
    def nulls(self) -> Mapping:
        return self._parts["nulls"]

    @property
    def seeds(self) -> Mapping | None:
        return self._parts["seeds"]

    # the read-only dict view summary.json stores
    def __getitem__(self, key):
        if key == "seeds" and self.seeds is None:
            raise KeyError("seeds")
        return self._parts[key]

    def __iter__(self):
        return iter(k for k in self.FIELDS if self._parts[k] is not None)

    def __len__(self):
        return sum(1 for _ in self)

    def merged(self, other: "ClaimStats | None" = None, *, gates=None, checks=None, nulls=None,
               seeds=None) -> "ClaimStats":
        """A new record with ``other``'s and the given gates, checks and nulls added (a name
        already present is an error: two records must not silently replace each other)."""
        out = {k: dict(self._parts[k] or {}) for k in ("gates", "checks", "nulls")}
        for kind, extra in (("gates", gates), ("checks", checks), ("nulls", nulls)):
            for source in ((other._parts[kind] if other is not None else None), extra):
                for name, rec in (source or {}).items():
                    if name in out[kind]:
                        raise ValueError(f"{kind[:-1]} {name!r} is recorded twice")
                    out[kind][name] = rec
        new_seeds = seeds if seeds is not None else (other.seeds if other is not None else None)
        if new_seeds is not None and self.seeds is not None:
            raise ValueError("seeds are recorded twice")
        return ClaimStats(out["gates"], out["checks"], out["nulls"], new_seeds if new_seeds is not None else self.seeds)

    def as_dict(self) -> dict:
        """The JSON-ready dict of summary.json (records copied)."""
        def plain(x):
            if isinstance(x, Mapping):
                return {k: plain(v) for k, v in x.items()}
            if isinstance(x, (list, tuple)):
                return [plain(v) for v in x]
            return x
        return {k: plain(self._parts[k]) for k in self}

    def table(self):
        """Gates and checks as one table: kind, name, value, interval, null, direction, p, passed."""
        import pandas as pd
        rows = []
        for kind in ("gates", "checks"):
            for name, r in self._parts[kind].items():
                ci = r.get("ci") or [None, None]
                rows.append({"kind": kind[:-1], "name": name, "value": r.get("value"), "ci_lo": ci[0], "ci_hi": ci[1],
                             "null": r.get("null"), "direction": r.get("direction", "greater"), "p": r.get("p"),
                             "passed": r.get("passed")})
        return pd.DataFrame(rows)

    def describe(self) -> str:
        """One line per gate and check: value, 95 % interval, null and direction, outcome."""
        lines = []
        for name, g in self.gates.items():
            p = g.get("p")
            lines.append(f"gate {name}: passed = {g.get('passed')}" + (f" (p = {p:.2g})" if p is not None else ""))
        for name, c in self.checks.items():
            ci = c.get("ci") or [None, None]
            ci_text = "None" if ci[0] is None else f"[{ci[0]:.3g}, {ci[1]:.3g}]"
            value = "None" if c.get("value") is None else f"{c['value']:.3g}"
            null = c.get("null")
            lines.append(f"  {name}: {value}, 95 % CI {ci_text}, null {'None' if null is None else f'{null:g}'} "
                         f"({c.get('direction')}) -> passed {c.get('passed')}"
                         + (f"; not testable: {c['reason']}" if c.get("reason") else ""))
        return "\n".join(lines)


# --------------------------------------------------------------------------- tests

def paired_accuracy_test(correct_a, correct_b) -> dict:
    """One-sided exact McNemar test that predictor A is more accurate than B on the same items.

    correct_a, correct_b: (N,) booleans. Returns accuracy of each, their difference with a 95 %
    Wald interval of the paired difference, the discordant counts and the one-sided p-value
    (binomial test of A-only-right against B-only-right, p = 1/2 each under the null)."""
    a = np.asarray(correct_a, dtype=bool)
    b = np.asarray(correct_b, dtype=bool)
    if a.shape != b.shape or a.ndim != 1:
        raise ValueError(f"correct_a and correct_b must be 1-D and of equal length, got {a.shape}, {b.shape}")
    n = len(a)
    if n == 0:
        raise ValueError("paired_accuracy_test needs at least one item")
    only_a, only_b = int((a & ~b).sum()), int((~a & b).sum())
    d = (a.astype(float) - b.astype(float))
    diff = float(d.mean())
    se = float(d.std(ddof=1) / math.sqrt(n)) if n > 1 else 0.0
    z = _st.norm.ppf(1 - ALPHA / 2)
    p = float(_st.binomtest(only_a, only_a + only_b, 0.5, alternative="greater").pvalue) if only_a + only_b else 1.0
    return {"accuracy_a": float(a.mean()), "accuracy_b": float(b.mean()), "difference": diff,
            "ci": [float(diff - z * se), float(diff + z * se)], "only_a": only_a, "only_b": only_b, "n": n, "p": p}


def benjamini_hochberg(p: np.ndarray, q: float = FDR) -> np.ndarray:
    """Rejections (boolean, same shape as ``p``) of the Benjamini-Hochberg procedure at FDR q.
    NaN p-values are never rejected and do not count as candidates."""
    p = np.asarray(p, dtype=float)
    flat = p.ravel()
    ok = np.flatnonzero(np.isfinite(flat))
    out = np.zeros(flat.shape, dtype=bool)
    m = len(ok)
    if m == 0:
        return out.reshape(p.shape)
    order = ok[np.argsort(flat[ok], kind="stable")]
    thresh = q * np.arange(1, m + 1) / m
    below = np.flatnonzero(flat[order] <= thresh)
    if len(below):
        out[order[: below[-1] + 1]] = True
    return out.reshape(p.shape)


def recognition_pvalues(diag: np.ndarray, col: np.ndarray, base_rate: np.ndarray) -> np.ndarray:
    """One-sided binomial p-values that a set's predictions of label j are right more often than
    j's base rate: P(X >= M[j,j]) with X ~ Binomial(column sum, base_rate_j).

    diag, col: (..., C) hits and column sums; base_rate: (C,) test-set frequency of each label.
    Labels never predicted get NaN (not a candidate)."""
    diag = np.asarray(diag, dtype=float)
    col = np.asarray(col, dtype=float)
    rate = np.broadcast_to(np.asarray(base_rate, dtype=float), col.shape)
    with np.errstate(invalid="ignore", divide="ignore"):
        p = _st.binom.sf(diag - 1, col, np.clip(rate, 0.0, 1.0))
    return np.where(col > 0, p, np.nan)


def recognized_by_base_rate(diag: np.ndarray, col: np.ndarray, base_rate: np.ndarray, min_hits: int = 3,
                            q: float = FDR) -> np.ndarray:
    """R(S) under the base-rate rule: M[j,j] >= min_hits and the binomial test of
    ``recognition_pvalues`` rejected by Benjamini-Hochberg at FDR q over the candidates of each
    set (the last axis). diag, col: (C,) or (n_sets, C). Returns booleans of the same shape.

    Only the candidates (M[j,j] >= min_hits, j predicted) get a p-value, so a 30,522-token
    vocabulary costs what its few candidates cost; the result equals BH over the full row
    with NaN (no candidate) elsewhere."""
    diag = np.asarray(diag)
    col = np.asarray(col)
    if diag.shape != col.shape:
        raise ValueError(f"diag and col shapes differ: {diag.shape} vs {col.shape}")
    rate = np.clip(np.asarray(base_rate, dtype=float), 0.0, 1.0)
    if rate.shape != diag.shape[-1:]:
        raise ValueError(f"base_rate must be ({diag.shape[-1]},), got {rate.shape}")
    flat_d = diag.reshape(-1, diag.shape[-1])
    flat_c = col.reshape(flat_d.shape)
    out = np.zeros(flat_d.shape, dtype=bool)
    rows, labels = np.nonzero((flat_d >= min_hits) & (flat_c > 0))
    reject = base_rate_rejections(rows, flat_d[rows, labels], flat_c[rows, labels], rate[labels], q)
    out[rows[reject], labels[reject]] = True
    return out.reshape(diag.shape)


def base_rate_rejections(rows: np.ndarray, hits: np.ndarray, cols: np.ndarray, rate: np.ndarray,
                         q: float = FDR) -> np.ndarray:
    """The base-rate rule on a list of candidates (set ``rows``, in ascending order, each with its
    hits M[j,j], column sum and label base rate): the one-sided binomial test of
    ``recognition_pvalues`` rejected by Benjamini-Hochberg at FDR q among the candidates of each
    set.  Returns a boolean mask over the candidates.  ``recognized_by_base_rate`` gives the
    candidates of (S, C) arrays; the aperture engine gives them from its sparse label counts."""
    rows = np.asarray(rows)
    out = np.zeros(len(rows), dtype=bool)
    if len(rows) == 0:
        return out
    hits, cols, rate = (np.asarray(a, dtype=float) for a in (hits, cols, rate))
    # A candidate whose hits are at most its binomial's mean minus one has p = P(X >= hits) >= 1/2
    # (the median is floor(n·rate) or its ceiling), above q: it is never rejected, and Benjamini-
    # Hochberg's rejections depend on such a candidate only through the count m.  So its p is not
    # computed (1 stands in), which leaves the rejections as they are and skips most of the
    # binomial tail evaluations (the costly part) for single nodes' many imprecise labels.
    p = np.ones(len(rows))
    needed = hits > cols * rate - 1 if q < 0.5 else np.ones(len(rows), dtype=bool)
    p[needed] = _st.binom.sf(hits[needed] - 1, cols[needed], rate[needed])
    # Benjamini-Hochberg per set, vectorised: sort by (set, p), rank inside each set
    order = np.lexsort((p, rows))
    r_sorted, p_sorted = rows[order], p[order]
    starts = np.searchsorted(r_sorted, r_sorted, side="left")
    n_rows = int(r_sorted[-1]) + 1
    m = np.bincount(r_sorted, minlength=n_rows)[r_sorted]                   # candidates of the set
    rank = np.arange(len(order)) - starts + 1
    ok = p_sorted <= q * rank / m
    # reject every candidate up to the largest rank that passes, per set
    last_ok = np.full(n_rows, 0)
    np.maximum.at(last_ok, r_sorted[ok], rank[ok])
    out[order[rank <= last_ok[r_sorted]]] = True
    return out


# --------------------------------------------------------------------------- intervals

def bootstrap_ci(statistic: Callable[[np.ndarray], float], n: int, *, n_boot: int = N_BOOTSTRAP, seed: int = 0,
                 alpha: float = ALPHA) -> tuple[float, list[float]]:
    """Percentile bootstrap over ``n`` items: ``statistic(index_array) -> float``.
    Returns (statistic on all items, [lo, hi]). Seeded: the same call gives the same interval.
    Resamples whose statistic is not finite are dropped."""
    if n < 1:
        raise ValueError("bootstrap_ci needs at least one item")
    rng = np.random.default_rng(seed)
    full = float(statistic(np.arange(n)))
    vals = np.array([statistic(rng.integers(0, n, n)) for _ in range(n_boot)], dtype=float)
    vals = vals[np.isfinite(vals)]
    if len(vals) == 0:
        return full, [float("nan"), float("nan")]
    lo, hi = np.quantile(vals, [alpha / 2, 1 - alpha / 2])
    return full, [float(lo), float(hi)]


def mean_ci(x, *, n_boot: int = N_BOOTSTRAP, seed: int = 0) -> tuple[float, list[float]]:
    """Mean of ``x`` with its percentile-bootstrap 95 % interval."""
    x = np.asarray(x, dtype=float)
    return bootstrap_ci(lambda i: x[i].mean(), len(x), n_boot=n_boot, seed=seed)


def proportion_ci(k: int, n: int, alpha: float = ALPHA) -> list[float]:
    """Wilson score interval of a proportion k/n."""
    if n <= 0:
        return [float("nan"), float("nan")]
    z = _st.norm.ppf(1 - alpha / 2)
    ph = k / n
    den = 1 + z * z / n
    centre = (ph + z * z / (2 * n)) / den
    half = z * math.sqrt(ph * (1 - ph) / n + z * z / (4 * n * n)) / den
    return [max(0.0, centre - half), min(1.0, centre + half)]


def newcombe_ci(k1: int, n1: int, k2: int, n2: int, alpha: float = ALPHA) -> tuple[float | None, list]:
    """Difference of two independent proportions k1/n1 - k2/n2 with Newcombe's hybrid score
    interval (from the two Wilson intervals). (None, [None, None]) when a sample is empty."""
    if n1 <= 0 or n2 <= 0:
        return None, [None, None]
    p1, p2 = k1 / n1, k2 / n2
    l1, u1 = proportion_ci(k1, n1, alpha)
    l2, u2 = proportion_ci(k2, n2, alpha)
    d = p1 - p2
    return d, [d - math.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2), d + math.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2)]


def spearman_ci(x, y, *, n_boot: int = N_BOOTSTRAP, seed: int = 0) -> tuple[float, list[float]]:
    """Spearman correlation of (x, y) with a percentile-bootstrap interval over the pairs."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)

    def rho(i):
        if len(np.unique(x[i])) < 2 or len(np.unique(y[i])) < 2:
            return float("nan")
        return float(_st.spearmanr(x[i], y[i]).statistic)
    return bootstrap_ci(rho, len(x), n_boot=n_boot, seed=seed)


def slope_ci(x, y, *, n_boot: int = N_BOOTSTRAP, seed: int = 0) -> tuple[float, list[float]]:
    """Least-squares slope of y on x with a percentile-bootstrap interval over the (x, y) pairs."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)

    def slope(i):
        xi = x[i]
        if np.ptp(xi) == 0:
            return float("nan")
        return float(np.polyfit(xi, y[i], 1)[0])
    return bootstrap_ci(slope, len(x), n_boot=n_boot, seed=seed)


def growth_rate(t, g, alpha: float = ALPHA) -> dict:
    """Exponential growth rate of g(t) > 0: least-squares slope of log g on t, with its t-interval.
    Points with g <= 0 (or not finite) are left out; fewer than 3 points give None values."""
    t, g = np.asarray(t, dtype=float), np.asarray(g, dtype=float)
    keep = np.isfinite(g) & (g > 0) & np.isfinite(t)
    t, lg = t[keep], np.log(g[keep])
    if len(t) < 3 or np.ptp(t) == 0:
        return {"rate": None, "ci": [None, None], "points": int(len(t))}
    res = _st.linregress(t, lg)
    q = _st.t.ppf(1 - alpha / 2, len(t) - 2)
    return {"rate": float(res.slope), "ci": [float(res.slope - q * res.stderr), float(res.slope + q * res.stderr)],
            "points": int(len(t))}


def quantile_of_null(null: np.ndarray, q: float = 1 - ALPHA) -> float:
    """The q-quantile (default 95th percentile) of a null distribution (e.g. permutations)."""
    return float(np.quantile(np.asarray(null, dtype=float), q))


def probe_gate(y_true, y_pred, y_train, name: str = "probe learned", *, clusters=None, keys=None) -> dict:
    """The probe gate: full-aperture predictions against the constant predictor (the most
    frequent training label), one-sided on the same test items, p < GATE_ALPHA.

    Independent items (labels): exact McNemar test.  Token items (``clusters``: the sequence of
    each item; ``keys``: sequence * T + position) are correlated within a sequence and repeat
    across mask draws: each key counts once and the test is ``cluster_paired_test`` over
    sequences."""
    y_true = np.asarray(y_true)
    constant = int(np.bincount(np.asarray(y_train)).argmax())
    return paired_gate(name, "accuracy of the full-aperture readout minus the constant predictor's",
                       np.asarray(y_pred) == y_true, y_true == constant, clusters=clusters, keys=keys,
                       constant_label=constant)


def paired_gate(name: str, statistic: str, correct_a, correct_b, *, clusters=None, keys=None,
                level: float = GATE_ALPHA, **extra) -> dict:
    """A gate record: predictor A beats predictor B on the same test items (one-sided,
    p < ``level``).  Exact McNemar without ``clusters``; with them, repeated ``keys`` count
    once and ``cluster_paired_test`` resamples nothing but treats sequences as the unit."""
    a, b = np.asarray(correct_a, dtype=bool), np.asarray(correct_b, dtype=bool)
    if clusters is None:
        t = paired_accuracy_test(a, b)
        return gate(name, statistic + " (paired, exact McNemar)", t["accuracy_a"], t["accuracy_b"], t["p"], level,
                    difference=t["difference"], ci=t["ci"], n=t["n"], **extra)
    g = np.asarray(clusters)
    keep = first_occurrence(keys) if keys is not None else np.ones(len(a), dtype=bool)
    t = cluster_paired_test(a[keep], b[keep], g[keep])
    return gate(name, statistic + " (paired, clustered by sequence; repeated positions once)", t["accuracy_a"],
                t["accuracy_b"], t["p"], level, difference=t["difference"], ci=t["ci"], n=t["n"],
                clusters=t["clusters"], **extra)


def stratified_slope_ci(x, y, *, n_boot: int = N_BOOTSTRAP, seed: int = 0) -> tuple[float, list[float]]:
    """Least-squares slope of the per-x mean of y against x, with a percentile-bootstrap
    interval that resamples the items within each distinct x (stratified: every x keeps its
    number of items, so a heavily sampled x does not swamp the others).  Needs >= 2 distinct
    x; fewer gives (nan, [nan, nan])."""
    x, y = np.asarray(x, dtype=float).reshape(-1), np.asarray(y, dtype=float).reshape(-1)
    if x.shape != y.shape:
        raise ValueError(f"x and y must have the same length, got {x.shape} and {y.shape}")
    keep = np.isfinite(x) & np.isfinite(y)
    x, y = x[keep], y[keep]
    levels = np.unique(x)
    if len(levels) < 2:
        return float("nan"), [float("nan"), float("nan")]
    groups = [y[x == v] for v in levels]
    full = float(np.polyfit(levels, [g.mean() for g in groups], 1)[0])
    rng = np.random.default_rng(seed)
    means = np.stack([g[rng.integers(0, len(g), (n_boot, len(g)))].mean(1) for g in groups], axis=1)   # (B, L)
    xc = levels - levels.mean()
    slopes = (means - means.mean(1, keepdims=True)) @ xc / float(xc @ xc)
    lo, hi = np.quantile(slopes, [ALPHA / 2, 1 - ALPHA / 2])
    return full, [float(lo), float(hi)]


# --------------------------------------------------------------------------- dependent data
#
# Token statistics come from masked positions of whole sequences: positions of one sequence
# share their context, and a position masked in several draws is the same item again.  The
# independent unit is the sequence (``clusters``); ``first_occurrence`` keeps each repeated
# position once.  Growth curves g(t) logged during training are autocorrelated in t: their
# slope gets a Newey-West (HAC) interval, not the i.i.d. t-interval.


def first_occurrence(keys) -> np.ndarray:
    """(N,) booleans: True at the first occurrence of each key (e.g. sequence * T + position),
    so an item repeated across mask draws counts once."""
    keys = np.asarray(keys).reshape(-1)
    keep = np.zeros(len(keys), dtype=bool)
    keep[np.unique(keys, return_index=True)[1]] = True
    return keep


def cluster_paired_test(correct_a, correct_b, clusters, alpha: float = ALPHA) -> dict:
    """One-sided test that predictor A is more accurate than B on the same items, with items
    grouped in independent clusters (sequences): the accuracy difference is a ratio of cluster
    totals, its standard error the cluster-robust (linearised) one, the p-value one-sided
    normal.  Returns accuracy of each, the difference, its 95 % interval, the cluster count,
    the item count and p.  With one item per cluster it is the paired Wald test."""
    a = np.asarray(correct_a, dtype=float).reshape(-1)
    b = np.asarray(correct_b, dtype=float).reshape(-1)
    g = np.asarray(clusters).reshape(-1)
    if not (a.shape == b.shape == g.shape):
        raise ValueError(f"correct_a, correct_b and clusters must have the same length, got {a.shape}, {b.shape}, {g.shape}")
    if len(a) == 0:
        raise ValueError("cluster_paired_test needs at least one item")
    _, idx = np.unique(g, return_inverse=True)
    k = int(idx.max()) + 1
    d_c = np.bincount(idx, weights=a - b, minlength=k)
    n_c = np.bincount(idx, minlength=k).astype(float)
    n = float(n_c.sum())
    diff = float(d_c.sum() / n)
    if k > 1:
        resid = d_c - diff * n_c
        se = math.sqrt(k / (k - 1) * float((resid ** 2).sum())) / n
    else:
        se = 0.0
    zq = _st.norm.ppf(1 - alpha / 2)
    if se > 0:
        p = float(_st.norm.sf(diff / se))
    else:
        p = 1.0 if diff <= 0 else 0.0
    return {"accuracy_a": float(a.mean()), "accuracy_b": float(b.mean()), "difference": diff,
            "ci": [diff - zq * se, diff + zq * se], "clusters": k, "n": int(n), "p": p}


def cluster_resamples(clusters, n_boot: int, seed) -> tuple[np.ndarray, np.ndarray]:
    """Resampling by sequence, as counts: (group (N,): each item's cluster as 0..G-1, counts
    (B, G) float64: how often each of the G clusters is drawn in each of B resamples of G
    clusters with replacement).  An item's weight in resample b is counts[b, group[i]]; a
    statistic of weighted sums then resamples whole sequences (``seed``: a numpy seed or
    seed sequence)."""
    g = np.asarray(clusters).reshape(-1)
    if len(g) == 0:
        raise ValueError("cluster_resamples needs at least one item")
    _, group = np.unique(g, return_inverse=True)
    k = int(group.max()) + 1
    rng = np.random.default_rng(seed)
    counts = np.stack([np.bincount(rng.integers(0, k, k), minlength=k) for _ in range(int(n_boot))]).astype(np.float64)
    return group.astype(np.int64), counts


def cluster_bootstrap_ci(statistic: Callable[[np.ndarray], float], clusters, *, n_boot: int = N_BOOTSTRAP,
                         seed: int = 0, alpha: float = ALPHA) -> tuple[float, list[float]]:
    """Percentile bootstrap that resamples whole clusters: ``statistic(item_index_array)``
    gets the indices of every item of the drawn clusters (with repeats).  Returns (statistic
    on all items, [lo, hi]); non-finite replicates are dropped."""
    g = np.asarray(clusters).reshape(-1)
    if len(g) == 0:
        raise ValueError("cluster_bootstrap_ci needs at least one item")
    _, idx = np.unique(g, return_inverse=True)
    k = int(idx.max()) + 1
    order = np.argsort(idx, kind="stable")
    starts = np.searchsorted(idx[order], np.arange(k))
    sizes = np.bincount(idx, minlength=k)
    members = [order[s:s + m] for s, m in zip(starts, sizes)]
    rng = np.random.default_rng(seed)
    full = float(statistic(np.arange(len(g))))
    vals = np.array([statistic(np.concatenate([members[c] for c in rng.integers(0, k, k)])) for _ in range(n_boot)])
    vals = vals[np.isfinite(vals)]
    if len(vals) == 0:
        return full, [float("nan"), float("nan")]
    lo, hi = np.quantile(vals, [alpha / 2, 1 - alpha / 2])
    return full, [float(lo), float(hi)]


def hac_mean(x, alpha: float = ALPHA, lags: int | None = None) -> dict:
    """Mean of a serially correlated series with a Newey-West (Bartlett) standard error and a
    Student-t interval (n - 1 degrees of freedom); ``lags`` defaults to floor(4 (n/100)^(2/9)),
    at least 1.  Fewer than 5 finite values: None values."""
    x = np.asarray(x, dtype=float).reshape(-1)
    x = x[np.isfinite(x)]
    n = len(x)
    if n < 5:
        return {"mean": None, "ci": [None, None], "points": int(n), "lags": None}
    m = float(x.mean())
    u = x - m
    L = min(n - 1, max(1, int(4 * (n / 100) ** (2 / 9))) if lags is None else int(lags))
    s = float(u @ u)
    for lag in range(1, L + 1):                          # Bartlett weights
        s += 2 * (1 - lag / (L + 1)) * float(u[lag:] @ u[:-lag])
    se = math.sqrt(max(s, 0.0)) / n
    q = _st.t.ppf(1 - alpha / 2, n - 1)
    return {"mean": m, "ci": [m - q * se, m + q * se], "points": int(n), "lags": L}


def hac_growth_rate(t, g, alpha: float = ALPHA) -> dict:
    """Exponential growth rate of g(t) > 0 logged along one training run: the mean of the
    per-step increments of log g, Δlog g / Δt, with a Newey-West interval (``hac_mean``).

    Increments, not a fitted slope: the levels of log g along one run wander like a random walk
    (neighbouring points share everything before them), and a slope's interval -- i.i.d. or
    Newey-West on the levels -- then passes a trendless walk far too often (35 % of seeds for an
    AR(1) wander with phi = 0.8 in the calibration study); on the increments it stays below 5 %
    for every phi up to a random walk (tests/test_calibrated_verdicts.py).  Points with g <= 0 are
    left out.  Returns {"rate", "ci", "points", "lags"}."""
    t, g = np.asarray(t, dtype=float).reshape(-1), np.asarray(g, dtype=float).reshape(-1)
    keep = np.isfinite(g) & (g > 0) & np.isfinite(t)
    t, lg = t[keep], np.log(g[keep])
    order = np.argsort(t, kind="stable")
    t, lg = t[order], lg[order]
    dt = np.diff(t)
    ok = dt > 0
    fit = hac_mean(np.diff(lg)[ok] / dt[ok], alpha)
    return {"rate": fit["mean"], "ci": fit["ci"], "points": int(len(t)), "lags": fit["lags"]}


# consecutive stretches of one training run whose growth rates ``block_growth_rate`` compares
GROWTH_BLOCKS = 8


def block_growth_rate(t, g, blocks: int = GROWTH_BLOCKS, alpha: float = ALPHA) -> dict:
    """Exponential growth rate of g(t) > 0 logged along one training run, with an interval that
    holds for the autocorrelation the logged gaps show: the run is cut into ``blocks``
    consecutive stretches of (nearly) equal numbers of increments, each stretch's rate is
    (log g at its end - log g at its start) / its steps, and the interval is Student's t over
    the stretch rates with blocks - 1 degrees of freedom (Ibragimov & Mueller 2010,
    "t-statistic based correlation and heterogeneity robust inference").  The point estimate
    is the mean of the stretch rates.

    Why not the Newey-West interval of the increments (``hac_growth_rate``): the dense g(t) of
    the symmetric + eps runs is smooth -- its increments of log g are *positively* correlated
    (lag-1 autocorrelation 0.46 in quick's run, 0.26 in standard's) -- and with 40 points the
    Bartlett estimate with 3 lags misses much of that correlation: on trendless log-gap paths
    whose increments are AR(1) with phi = 0.5 (``calibration.gap_curve``, 1,000 seeds) it passed
    in 7.6 % (one-sided, nominal 2.5 %), the stretch t-test in 4.6 %.  Neighbouring stretches of
    such a path are nearly independent, which is all the t-test needs; under a random-walk wander it is exact for
    Gaussian steps, and a stationary wander makes neighbouring stretch rates negatively
    correlated, so it is conservative there (tests/test_calibrated_verdicts.py).
    Points with g <= 0 are left out; fewer than 3 increments give None values.
    Returns {"rate", "ci", "points", "blocks", "block_rates"}."""
    t, g = np.asarray(t, dtype=float).reshape(-1), np.asarray(g, dtype=float).reshape(-1)
    keep = np.isfinite(g) & (g > 0) & np.isfinite(t)
    t, lg = t[keep], np.log(g[keep])
    order = np.argsort(t, kind="stable")
    t, lg = t[order], lg[order]
    _, first = np.unique(t, return_index=True)          # one point per step
    t, lg = t[first], lg[first]
    n_inc = len(t) - 1
    if n_inc < 3 or blocks < 2:
        return {"rate": None, "ci": [None, None], "points": int(len(t)), "blocks": None, "block_rates": []}
    q = min(int(blocks), n_inc)
    edges = np.linspace(0, n_inc, q + 1).round().astype(int)     # increment indices: stretch k = edges[k]..edges[k+1]
    rates = (lg[edges[1:]] - lg[edges[:-1]]) / (t[edges[1:]] - t[edges[:-1]])
    m, se = float(rates.mean()), float(rates.std(ddof=1) / math.sqrt(q))
    qt = _st.t.ppf(1 - alpha / 2, q - 1)
    return {"rate": m, "ci": [m - qt * se, m + qt * se], "points": int(len(t)), "blocks": q,
            "block_rates": [float(r) for r in rates]}


# --------------------------------------------------------------------------- an unbiased overlap null


def swap_randomized(masks, rng, n_trades: int | None = None) -> np.ndarray:
    """A random (K, M) boolean matrix with the same row sums (each set's size) and column sums
    (each item's count) as ``masks``: the curveball algorithm (Strona et al. 2014), ``n_trades``
    trades between random row pairs (default 5 K).  Sets drawn this way share no structure
    beyond their sizes and the items' popularity, and never see their own items twice, so the
    overlap they show is the overlap of structureless sets of those margins."""
    m = np.asarray(masks, dtype=bool)
    k = len(m)
    rows = [set(np.flatnonzero(r).tolist()) for r in m]
    trades = 5 * k if n_trades is None else int(n_trades)
    if k >= 2:
        pairs = rng.integers(0, k, (trades, 2))
        for a, b in pairs:
            if a == b:
                continue
            ra, rb = rows[a], rows[b]
            only_a, only_b = ra - rb, rb - ra
            if not only_a or not only_b:
                continue
            pool = np.array(sorted(only_a | only_b))
            rng.shuffle(pool)
            na = len(only_a)
            rows[a] = (ra & rb) | set(pool[:na].tolist())
            rows[b] = (ra & rb) | set(pool[na:].tolist())
    out = np.zeros_like(m)
    for i, r in enumerate(rows):
        if r:
            out[i, list(r)] = True
    return out


# --------------------------------------------------------------------------- against a population of controls

def beyond_controls(value: float, value_se: float, controls: Sequence[float], alpha: float = ALPHA) -> dict:
    """Is ``value`` (with standard error ``value_se``) outside the population the ``controls``
    were drawn from?  The K controls are the same statistic on K independent draws of the null
    model (random initialisations of a checkpoint's configuration, seeds seed, seed+1, ...).

    difference = value - mean(controls); the interval is a *prediction* interval,

        difference ± t_{K-1, 1-alpha/2} · sqrt(s² (1 + 1/K) + value_se²),

    s the controls' sample standard deviation: a new draw of the null model falls inside it with
    probability 1 - alpha (the value's own sampling noise added), so a value outside it is not
    explained by which random initialisation it came from.  A single control of another seed is
    no such population: two random networks differ by more than item-level intervals allow
    (docs/calibration.md).  ``p``: the one-sided p-value of difference > 0 (Student t, K-1
    degrees of freedom).  K < 2: difference, ci and p are None (no spread to compare with)."""
    c = np.asarray(list(controls), dtype=float)
    k = len(c)
    if k == 0 or value is None or not math.isfinite(float(value)) or not np.isfinite(c).all():
        return {"difference": None, "ci": [None, None], "p": None, "df": max(k - 1, 0), "scale": None,
                "controls_mean": None, "controls_sd": None, "k": k}
    diff = float(value) - float(c.mean())
    if k < 2:
        return {"difference": diff, "ci": [None, None], "p": None, "df": 0, "scale": None,
                "controls_mean": float(c.mean()), "controls_sd": None, "k": k}
    sd = float(c.std(ddof=1))
    scale = math.sqrt(sd * sd * (1 + 1 / k) + float(value_se) ** 2)
    t = _st.t.ppf(1 - alpha / 2, k - 1)
    if scale > 0:
        p = float(_st.t.sf(diff / scale, k - 1))
    else:                                     # no spread at all: only an exact tie is not beyond
        p = 0.0 if diff > 0 else 1.0
    return {"difference": diff, "ci": [diff - t * scale, diff + t * scale], "p": p, "df": k - 1, "scale": scale,
            "controls_mean": float(c.mean()), "controls_sd": sd, "k": k}


def proportion_se(k: int, n: int, alpha: float = ALPHA) -> float:
    """Standard error of a proportion k/n read off its Wilson interval (half-width / z), so that
    0 or n successes still get a positive error."""
    lo, hi = proportion_ci(k, n, alpha)
    return (hi - lo) / (2 * _st.norm.ppf(1 - alpha / 2))


def accuracy_se(correct, clusters=None) -> float:
    """Standard error of a mean of 0/1 outcomes; with ``clusters`` (the sequence of each item) the
    cluster-robust one (items of one sequence are not independent)."""
    a = np.asarray(correct, dtype=float)
    n = len(a)
    if n < 2:
        return float("nan")
    if clusters is None:
        return float(a.std(ddof=1) / math.sqrt(n))
    _, g = np.unique(np.asarray(clusters), return_inverse=True)
    m = int(g.max()) + 1
    if m < 2:
        return float("nan")
    resid = np.bincount(g, weights=a - a.mean(), minlength=m)
    return float(math.sqrt(m / (m - 1) * (resid ** 2).sum()) / n)
