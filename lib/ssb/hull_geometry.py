"""The convex-hull bound (docs/method.md, "Convex-hull bound"): which labels a node set can ever output.

A 1-FC readout with weights W (C, D) and bias b (C,), restricted to the active node set S
(k = |S| nodes), has the logits

    logits(x) = W[:, S] · x + b          x in R^k                      (C,)

Label c is *achievable* when it can be the top logit for some x.  Geometrically that
means (W[c, S], b_c) lies on the upper convex hull of the points {(W[j, S], b_j)} in
R^(k+1): c maximises the linear functional (x, 1)·p over the points.

Three tie rules, each stated where it is used:

- ``ties="argmax"`` (``upper_envelope`` and ``envelope_segments``, the default there): c
  counts when ``numpy.argmax(logits(x)) == c`` for some x in exact arithmetic on the given
  floats, so among tied labels only the lowest index wins.  Of two identical lines only
  the lower index is achievable; a line that touches the envelope at a single point where
  three or more lines meet counts only if its index is the lowest among them.
- *weak* (``achievable_labels``, ``bound_for_sets``, ``upper_envelope(ties="weak")``): c
  counts when logit_c(x) >= max_j logit_j(x) - tol for some x.  This is a superset of the
  argmax rule, so the invariant P(S) ⊆ achievable(S) holds for argmax predictions, and
  ``tol`` absorbs the rounding of logits computed in float32.  With tol = 0 the 1-node
  envelope is exact; the LP is exact up to the solver's tolerances (about 1e-9).
- *vertex* (``hull_achievable``): c is a vertex of the upper hull, i.e. the unique argmax
  for some x.  Exact duplicate points count once, at their lowest index (as argmax would).
  For points in general position all three rules give the same set.

Functions (all take plain numpy arrays):

    upper_envelope(slopes, intercepts, lo, hi)      -> labels      exact, one node (k = 1)
    envelope_segments(slopes, intercepts, lo, hi)   -> [(label, x_start, x_end), ...] for drawing
    achievable_labels(W_S, b, lo, hi, tol)          -> (C,) bool   any k: envelope (k = 1) or one LP per label
    hull_achievable(W_S, b)                         -> (C,) bool   scipy.spatial.ConvexHull, a cross-check
    bound_for_sets(W, b, sets, z_observed, predicted) -> U, U_observed and violations of P ⊆ achievable

The C5 experiment on a trained readout (tables, checks against random readouts and the untrained
backbone) is ``ssb.hull``; this module is geometry on plain arrays and knows no model.

Length (~730 lines, over the ~500 of the rest of the package): one question under one set of tie
rules.  The exact envelope (k = 1), the LP (any k) and the ConvexHull cross-check answer it
with the input checks and rules stated once above, and ``bound_for_sets`` picks between them
per set; the brute-force tests (tests/test_hull.py) hold them against each other.
"""
from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

import numpy as np
from scipy.optimize import linprog
from scipy.spatial import ConvexHull, QhullError

from .node_sets import check_node_sets

_FILTER = 1e-13      # relative error bound above which a floating-point sign is trusted (true bound ~ 8 eps)
_TINY = 1e-280       # below this magnitude the relative filter is not trusted (underflow); use exact arithmetic
_LP_OPTIONS = {"primal_feasibility_tolerance": 1e-10, "dual_feasibility_tolerance": 1e-10}
_MAX_CORNERS = 4096  # box corners tried as witnesses (all corners up to k = 12, random corners beyond)
_RANDOM_WITNESSES = 256
_HULL_MAX_K = 7      # qhull in R^(k+1); its cost grows quickly with the dimension


# ----------------------------------------------------------------------------- input checks

def _as_vector(a, name: str, size: int | None = None) -> np.ndarray:
    v = np.asarray(a, dtype=np.float64)
    if v.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {v.shape}")
    if size is not None and v.shape[0] != size:
        raise ValueError(f"{name} must have length {size}, got {v.shape[0]}")
    if v.size and not np.all(np.isfinite(v)):
        raise ValueError(f"{name} holds NaN or infinite values")
    return v


def _check_lines(slopes, intercepts) -> tuple[np.ndarray, np.ndarray]:
    w = _as_vector(slopes, "slopes")
    b = _as_vector(intercepts, "intercepts", w.shape[0])
    if w.shape[0] == 0:
        raise ValueError("need at least one line (label), got 0")
    return w, b


def _check_interval(lo, hi) -> tuple[float, float]:
    lo, hi = float(lo), float(hi)
    if np.isnan(lo) or np.isnan(hi):
        raise ValueError(f"lo and hi must not be NaN, got [{lo}, {hi}]")
    if lo > hi:
        raise ValueError(f"need lo <= hi, got lo={lo} > hi={hi}")
    if lo == np.inf or hi == -np.inf:
        raise ValueError(f"the interval [{lo}, {hi}] holds no real number; lo must be < +inf and hi > -inf")
    return lo, hi


def _check_head(W_S, b) -> tuple[np.ndarray, np.ndarray]:
    W = np.asarray(W_S, dtype=np.float64)
    if W.ndim != 2:
        raise ValueError(f"W_S must be (C, k), got shape {W.shape}")
    if W.shape[0] == 0:
        raise ValueError("W_S has no rows (labels)")
    if not np.all(np.isfinite(W)):
        raise ValueError("W_S holds NaN or infinite values")
    return W, _as_vector(b, "b", W.shape[0])


def _check_box(lo, hi, k: int) -> tuple[np.ndarray, np.ndarray]:
    """lo, hi (k,) with -inf / +inf for missing bounds."""
    lo = np.full(k, -np.inf) if lo is None else np.asarray(lo, dtype=np.float64).reshape(-1)
    hi = np.full(k, np.inf) if hi is None else np.asarray(hi, dtype=np.float64).reshape(-1)
    if lo.shape != (k,) or hi.shape != (k,):
        raise ValueError(f"lo and hi must have shape ({k},) to match W_S, got {lo.shape} and {hi.shape}")
    if np.isnan(lo).any() or np.isnan(hi).any():
        raise ValueError("lo and hi must not hold NaN")
    bad = np.flatnonzero(lo > hi)
    if bad.size:
        i = int(bad[0])
        raise ValueError(f"box is empty in coordinate {i}: lo={lo[i]} > hi={hi[i]}")
    if np.any(lo == np.inf) or np.any(hi == -np.inf):
        raise ValueError("lo must be < +inf and hi > -inf in every coordinate")
    return lo, hi


# ----------------------------------------------------------------------------- exact predicates

def _orientation(w1: float, b1: float, w2: float, b2: float, w3: float, b3: float) -> int:
    """Exact sign of (w2-w1)(b3-b1) - (b2-b1)(w3-w1) for float inputs.

    Positive: the point (w2, b2) lies below the segment from (w1, b1) to (w3, b3) (w1 < w2 < w3),
    i.e. line 2 never strictly tops lines 1 and 3.  A floating-point evaluation is trusted when
    it exceeds a generous error bound; otherwise the sign is computed with fractions."""
    det = (w2 - w1) * (b3 - b1) - (b2 - b1) * (w3 - w1)
    bound = _FILTER * ((abs(w1) + abs(w2)) * (abs(b1) + abs(b3)) + (abs(b1) + abs(b2)) * (abs(w1) + abs(w3)))
    if abs(det) > bound and bound > _TINY:
        return 1 if det > 0 else -1
    F = Fraction
    exact = (F(w2) - F(w1)) * (F(b3) - F(b1)) - (F(b2) - F(b1)) * (F(w3) - F(w1))
    return (exact > 0) - (exact < 0)


def _breakpoint_vs(wa: np.ndarray, ba: np.ndarray, wb: np.ndarray, bb: np.ndarray, x0: float) -> np.ndarray:
    """Exact sign of x_ab - x0 for the crossing x_ab = (ba - bb) / (wb - wa) of lines a, b with wb > wa.

    (M,) arrays in, (M,) int signs out.  x0 = ±inf gives ∓1 everywhere."""
    if np.isinf(x0):
        return np.full(wa.shape, -1 if x0 > 0 else 1, dtype=np.int64)
    num = (ba - bb) - x0 * (wb - wa)
    bound = _FILTER * ((np.abs(ba) + np.abs(bb)) + abs(x0) * (np.abs(wa) + np.abs(wb)))
    sign = np.sign(num).astype(np.int64)
    unsure = ~((np.abs(num) > bound) & (bound > _TINY))
    F = Fraction
    for i in np.flatnonzero(unsure):
        e = (F(ba[i]) - F(bb[i])) - F(x0) * (F(wb[i]) - F(wa[i]))
        sign[i] = (e > 0) - (e < 0)
    return sign


# ----------------------------------------------------------------------------- one node: the upper envelope

@dataclass
class _Envelope:
    """Upper envelope of C lines over all of R, exact.

    vertices (p,): the label of each envelope line from x = -inf to +inf (slopes ascending;
    for identical lines the lowest index).  Vertex i is the strict maximum on the open
    interval (x_{i-1}, x_i) with x_{-1} = -inf, x_{p-1} = +inf.
    breakpoints (p-1,): float x_i where vertex i hands over to vertex i+1 (for drawing;
    exact comparisons use ``_breakpoint_vs`` on the lines themselves).
    tied: list of p-1 int arrays, every label whose line passes through breakpoint i
    (the two neighbours, lines meeting there, and identical copies), ascending.
    copies: dict vertex label -> all labels with that identical line (ascending).
    """
    vertices: np.ndarray
    breakpoints: np.ndarray
    tied: list
    copies: dict
    w: np.ndarray
    b: np.ndarray


def _candidates(w: np.ndarray, b: np.ndarray, min_lines: int = 64) -> np.ndarray:
    """Labels whose dual point (w_c, b_c) may lie on the upper hull: a sound, vectorised filter.

    qhull's upper chain is a polyline through input points, so it lies inside the true hull;
    a point more than 1e-9·max|b| below it (far above the rounding of ``np.interp``) is
    strictly below the true upper hull and can never touch the envelope.  Small inputs and
    inputs qhull rejects (collinear, < 3 points) keep every label."""
    n = w.shape[0]
    everything = np.arange(n)
    if n < min_lines:
        return everything
    pts = np.column_stack([w, b])
    try:
        hull = ConvexHull(pts)
    except QhullError:
        return everything
    upper = hull.equations[:, 1] > 0
    chain = np.unique(hull.simplices[upper])
    if chain.size < 2:
        return everything
    chain = chain[np.argsort(w[chain], kind="stable")]
    if w[chain[0]] > w.min() or w[chain[-1]] < w.max():
        return everything
    height = np.interp(w, w[chain], b[chain])
    return everything[b >= height - 1e-9 * np.abs(b).max()]


def _envelope(w: np.ndarray, b: np.ndarray) -> _Envelope:
    """Monotone-chain upper hull of the dual points (w_c, b_c), with exact orientation tests."""
    cand = _candidates(w, b)                           # labels that may touch the envelope
    order = cand[np.lexsort((cand, -b[cand], w[cand]))]   # slope ascending, then intercept descending, then index
    ws, bs = w[order], b[order]
    first = np.ones(order.shape[0], dtype=bool)
    first[1:] = ws[1:] != ws[:-1]                      # the top line of each slope group
    reps = order[first]                                # one candidate per slope, lowest index among equal tops
    # identical copies of each candidate (same slope and intercept)
    group = np.cumsum(first) - 1                       # slope group of each sorted line
    same_as_top = np.flatnonzero(bs == bs[first][group])          # sorted positions, group by group
    cuts = np.flatnonzero(np.diff(group[same_as_top])) + 1
    copies_of = {int(r): order[pos] for r, pos in zip(reps, np.split(same_as_top, cuts))}   # index-ascending

    rw, rb = w[reps], b[reps]
    hull: list[int] = []                               # positions into reps
    for i in range(len(reps)):
        while len(hull) >= 2 and _orientation(rw[hull[-2]], rb[hull[-2]], rw[hull[-1]], rb[hull[-1]],
                                              rw[i], rb[i]) >= 0:
            hull.pop()
        hull.append(i)

    tied = []
    breakpoints = np.empty(len(hull) - 1)
    for e in range(len(hull) - 1):
        a, c = hull[e], hull[e + 1]
        breakpoints[e] = (rb[a] - rb[c]) / (rw[c] - rw[a])
        on_edge = [a, c] + [m for m in range(a + 1, c)
                            if _orientation(rw[a], rb[a], rw[m], rb[m], rw[c], rb[c]) == 0]
        tied.append(np.sort(np.concatenate([copies_of[int(reps[m])] for m in on_edge])))
    vertices = reps[hull]
    return _Envelope(vertices=vertices, breakpoints=breakpoints, tied=tied,
                     copies={int(v): copies_of[int(v)] for v in vertices}, w=w, b=b)


def _locate(env: _Envelope, x0: float) -> np.ndarray:
    """(p-1,) exact signs of breakpoint_i - x0."""
    v = env.vertices
    return _breakpoint_vs(env.w[v[:-1]], env.b[v[:-1]], env.w[v[1:]], env.b[v[1:]], x0)


def _envelope_pieces(env: _Envelope, lo: float, hi: float, weak: bool) -> tuple[list, set]:
    """Argmax segments [(label, start, end)] on [lo, hi], and (weak=True) the exact weak set."""
    s_lo, s_hi = _locate(env, lo), _locate(env, hi)      # sign(x_i - lo), sign(x_i - hi)
    left_ok = np.concatenate([[True], s_hi < 0])         # x_{i-1} < hi
    right_ok = np.concatenate([s_lo > 0, [True]])        # x_i > lo
    x_left = np.concatenate([[-np.inf], env.breakpoints])
    x_right = np.concatenate([env.breakpoints, [np.inf]])
    pieces = []
    for i in np.flatnonzero(left_ok & right_ok):
        pieces.append((int(env.vertices[i]), max(float(x_left[i]), lo), min(float(x_right[i]), hi)))
    inside = np.flatnonzero((s_lo >= 0) & (s_hi <= 0))   # breakpoints in [lo, hi]
    on_stretch = {t[0] for t in pieces}
    for e in inside:
        winner = int(env.tied[e][0])                    # the lowest tied label, as argmax picks it
        if winner not in on_stretch:                    # it wins at this point only
            x = float(np.clip(env.breakpoints[e], lo, hi))
            pieces.append((winner, x, x))
    pieces.sort(key=lambda t: (t[1], t[2]))
    weak_set: set = set()
    if weak:
        left_closed = np.concatenate([[True], s_hi <= 0])
        right_closed = np.concatenate([s_lo >= 0, [True]])
        for i in np.flatnonzero(left_closed & right_closed):
            weak_set.update(env.copies[int(env.vertices[i])].tolist())
        for e in inside:
            weak_set.update(env.tied[e].tolist())
    return pieces, weak_set


def upper_envelope(slopes, intercepts, lo: float = -np.inf, hi: float = np.inf, *, ties: str = "argmax",
                   tol: float = 0.0) -> np.ndarray:
    """Labels c that win max_c (slopes[c]·x + intercepts[c]) for some x in [lo, hi], ascending.

    slopes, intercepts: (C,) — one node's weight column W[:, k] and the bias b.
    lo, hi: the range of x (floats, ±inf allowed, lo == hi allowed).

    ties="argmax" (default): exact, with numpy.argmax's rule that the lowest index wins a tie
    (see the module docstring); ``tol`` must be 0.
    ties="weak": every c with slopes[c]·x + intercepts[c] >= max_j(...) - tol for some x in
    [lo, hi].  With tol = 0 this is exact (identical and concurrent lines all count); tol > 0
    adds the lines that come within tol of the envelope, found by evaluating the gap at the
    envelope's breakpoints and the interval ends in floating point.

    O(C log C): sort by slope, then a monotone-chain upper hull of the dual points (w_c, b_c)
    with exactly rounded orientation tests.
    """
    if ties not in ("argmax", "weak"):
        raise ValueError(f"ties must be 'argmax' or 'weak', got {ties!r}")
    tol = float(tol)
    if not tol >= 0:
        raise ValueError(f"tol must be >= 0, got {tol}")
    if ties == "argmax" and tol != 0:
        raise ValueError("tol applies to ties='weak' only; the argmax rule is exact")
    w, b = _check_lines(slopes, intercepts)
    lo, hi = _check_interval(lo, hi)
    env = _envelope(w, b)
    if ties == "argmax":
        pieces, _ = _envelope_pieces(env, lo, hi, weak=False)
        return np.array(sorted({t[0] for t in pieces}), dtype=np.int64)
    return np.flatnonzero(_weak_mask(env, lo, hi, tol))


def _weak_mask(env: _Envelope, lo: float, hi: float, tol: float) -> np.ndarray:
    """(C,) bool: the weak rule on [lo, hi] (exact part, plus the lines within tol > 0)."""
    _, weak_set = _envelope_pieces(env, lo, hi, weak=True)
    mask = np.zeros(env.w.shape[0], dtype=bool)
    mask[list(weak_set)] = True
    if tol > 0:
        mask |= _near_envelope(env, lo, hi, tol)
    return mask


def _near_envelope(env: _Envelope, lo: float, hi: float, tol: float, chunk: int = 1 << 22) -> np.ndarray:
    """(C,) bool: lines within tol of the envelope somewhere on [lo, hi], in floating point.

    The gap line_c(x) - env(x) is concave and piecewise linear with kinks at the envelope's
    breakpoints, so its maximum over [lo, hi] sits at a breakpoint inside or at a finite end
    (on an infinite side it is constant or decreasing beyond the last breakpoint)."""
    s_lo, s_hi = _locate(env, lo), _locate(env, hi)
    xs = list(env.breakpoints[(s_lo >= 0) & (s_hi <= 0)])
    xs += [x for x in (lo, hi) if np.isfinite(x)]
    if not xs:
        xs = [float(np.clip(0.0, lo, hi))]
    xs = np.asarray(xs)
    w, b = env.w, env.b
    best = np.full(w.shape[0], -np.inf)
    step = max(1, chunk // max(1, w.shape[0]))
    for s in range(0, len(xs), step):
        logits = w[:, None] * xs[None, s:s + step] + b[:, None]      # (C, m)
        best = np.maximum(best, (logits - logits.max(0)).max(1))
    return best >= -tol


def envelope_segments(slopes, intercepts, lo: float = -np.inf, hi: float = np.inf) -> list[tuple[int, float, float]]:
    """The argmax label along [lo, hi] as pieces [(label, x_start, x_end), ...] sorted by x.

    Each envelope line contributes its stretch of [lo, hi] (x_start = -inf / x_end = +inf on
    unbounded sides).  A label that wins only at a single point (a breakpoint where a
    lower-indexed line also passes, or lo == hi) appears as a zero-length piece (x, x).
    The labels of the pieces are exactly ``upper_envelope(slopes, intercepts, lo, hi)``.
    Breakpoints are floats (rounded), for drawing."""
    w, b = _check_lines(slopes, intercepts)
    lo, hi = _check_interval(lo, hi)
    pieces, _ = _envelope_pieces(_envelope(w, b), lo, hi, weak=False)
    return pieces


# ----------------------------------------------------------------------------- any k: one LP per label

def _max_margin(W: np.ndarray, b: np.ndarray, c: int, rivals: np.ndarray, lo: np.ndarray, hi: np.ndarray,
                cap: float = 1.0) -> tuple[float, np.ndarray]:
    """max over x in the box of min_{j in rivals} (logit_c(x) - logit_j(x)), capped at ``cap``,
    and an optimal x (k,).

    LP in (x, t): maximise t s.t. (W_j - W_c)·x + t <= b_c - b_j for j in rivals,
    lo <= x <= hi, t <= cap.  Bounded (t <= cap) and feasible (any x with t small enough)."""
    k = W.shape[1]
    A = np.empty((rivals.shape[0], k + 1))
    A[:, :k] = W[rivals] - W[c]
    A[:, k] = 1.0
    rhs = b[c] - b[rivals]
    cost = np.zeros(k + 1)
    cost[k] = -1.0
    bounds = [(None if np.isinf(l) else float(l), None if np.isinf(h) else float(h)) for l, h in zip(lo, hi)]
    bounds.append((None, cap))
    res = linprog(cost, A_ub=A, b_ub=rhs, bounds=bounds, method="highs", options=_LP_OPTIONS)
    if res.status != 0:
        raise RuntimeError(f"linprog failed for label {c} (status {res.status}): {res.message}")
    return float(-res.fun), np.asarray(res.x[:k], dtype=np.float64)


def _lp_decide(W: np.ndarray, b: np.ndarray, c: int, lo: np.ndarray, hi: np.ndarray, tol: float, strict: bool,
               rivals: np.ndarray, add_per_round: int = 32) -> bool:
    """Is label c achievable in the box?  The margin LP, solved by constraint generation.

    Start with the constraints of a few rival labels (those already known to win somewhere).
    Dropping constraints can only raise the optimum, so a relaxed optimum that fails the test
    proves c unachievable.  Otherwise check the relaxed optimum x* against every label: if c
    passes there, x* is a witness; if not, add the labels that beat c at x* and solve again.
    Ends after at most C rounds with the same answer as the LP over all labels."""
    C = W.shape[0]
    active = np.zeros(C, dtype=bool)
    active[rivals] = True
    active[c] = False
    if not active.any():
        active[int(np.argmax(np.where(np.arange(C) == c, -np.inf, b)))] = True
    while True:
        t, x = _max_margin(W, b, c, np.flatnonzero(active), lo, hi)
        if (t <= tol) if strict else (t < -tol):
            return False                                            # even the relaxation fails
        gaps = (W[c] - W) @ x + (b[c] - b)                          # (C,) logit_c - logit_j at x*
        gaps[c] = np.inf
        margin = float(gaps.min())
        if (margin > tol) if strict else (margin >= -tol):
            return True                                             # x* is a witness
        violated = np.flatnonzero((gaps < t) & ~active)
        if violated.size == 0:                                      # only solver rounding separates t and margin
            return (t > tol) if strict else (t >= -tol)
        active[violated[np.argsort(gaps[violated])[:add_per_round]]] = True


def _witness_points(lo: np.ndarray, hi: np.ndarray, seed: int = 0) -> np.ndarray:
    """Deterministic points of the box (m, k): corners, the centre and random points; on
    unbounded coordinates, Gaussian points at scales 1 .. 1e4 (clipped into the box)."""
    k = lo.shape[0]
    rng = np.random.default_rng(seed)
    finite = np.isfinite(lo) & np.isfinite(hi)
    pts = []
    if finite.all():
        if k <= 12:
            bits = (np.arange(2 ** k)[:, None] >> np.arange(k)) & 1
        else:
            bits = rng.integers(0, 2, size=(_MAX_CORNERS, k))
        pts.append(np.where(bits == 1, hi, lo))
        pts.append(((lo + hi) / 2)[None])
        pts.append(lo + rng.random((_RANDOM_WITNESSES, k)) * (hi - lo))
    else:
        for scale in (1.0, 1e2, 1e4):
            pts.append(scale * rng.standard_normal((_RANDOM_WITNESSES // 2, k)))
        safe_lo, safe_hi = np.where(np.isfinite(lo), lo, 0.0), np.where(np.isfinite(hi), hi, 0.0)
        mid = np.where(finite, (safe_lo + safe_hi) / 2, np.where(np.isfinite(lo), lo, safe_hi))
        pts.append(mid[None])
    return np.clip(np.concatenate(pts), lo, hi)


def _witnessed(W: np.ndarray, b: np.ndarray, points: np.ndarray, tol: float) -> np.ndarray:
    """(C,) bool: labels within tol of the top logit at some point (a proof of achievability)."""
    out = np.zeros(W.shape[0], dtype=bool)
    for s in range(0, points.shape[0], 1024):
        logits = points[s:s + 1024] @ W.T + b                     # (m, C)
        out |= (logits >= logits.max(1, keepdims=True) - tol).any(0)
    return out


def _dominated(W: np.ndarray, b: np.ndarray, c: int, lo: np.ndarray, hi: np.ndarray, tol: float) -> bool:
    """True when some label j beats c by more than tol everywhere in the box (interval bound)."""
    D = W - W[c]                                                   # (C, k)
    with np.errstate(invalid="ignore"):
        low = np.where(D > 0, D * lo, np.where(D < 0, D * hi, 0.0))   # min of D_jk x_k over [lo_k, hi_k]
    worst = b - b[c] + low.sum(1)                                  # min over the box of logit_j - logit_c
    worst[c] = -np.inf
    return bool(np.any(worst > tol))


def _achievable(W, b, lo, hi, tol, strict, known_true=None, known_false=None, points=None) -> np.ndarray:
    """(C,) bool achievable mask for W (C, k), b (C,) on the box [lo, hi] (k,), checked inputs.

    known_true / known_false (C,) bool: labels already decided (e.g. proven in a smaller box,
    or unachievable on a larger one); the rest go through witnesses, domination, then LPs."""
    C, k = W.shape
    if C == 1:
        return np.ones(1, dtype=bool)
    if k == 0:                                                     # the silent readout: argmax b
        return _strict_silent(b, tol) if strict else b >= b.max() - tol
    out = np.zeros(C, dtype=bool) if known_true is None else known_true.copy()
    decided = out.copy() if known_false is None else out | known_false
    if not strict:
        pts = _witness_points(lo, hi)
        if points is not None:
            pts = np.concatenate([pts, np.clip(np.asarray(points, dtype=np.float64).reshape(-1, k), lo, hi)])
        hit = _witnessed(W, b, pts, tol) & ~decided
        out |= hit
        decided |= hit
    undecided = np.flatnonzero(~decided)
    undecided = undecided[np.argsort(-b[undecided], kind="stable")]   # likely winners first: better rivals
    for c in undecided:
        if _dominated(W, b, c, lo, hi, tol):
            continue
        out[c] = _lp_decide(W, b, int(c), lo, hi, tol, strict, rivals=np.flatnonzero(out))
    return out


def _strict_silent(b: np.ndarray, tol: float) -> np.ndarray:
    """k = 0 with a positive margin: argmax b, if it beats every other bias by more than tol."""
    top = np.argmax(b)
    others = np.delete(b, top)
    out = np.zeros(b.shape[0], dtype=bool)
    out[top] = others.size == 0 or b[top] - others.max() > tol
    return out


def achievable_labels(W_S, b, lo=None, hi=None, tol: float = 1e-9, *, strict: bool = False,
                      points=None, method: str = "auto") -> np.ndarray:
    """(C,) bool: label c is achievable iff some x in the box has logit_c(x) >= logit_j(x) - tol for all j.

    W_S (C, k): the head's weight columns of the active nodes; b (C,) the bias.
    lo, hi (k,): the box of x (None = unbounded; single entries may be ±inf).
    tol: absolute slack on logits (weak rule, module docstring).  strict=True asks for a
    positive margin instead: logit_c(x) > logit_j(x) + tol for all j != c (the unique-argmax,
    hull-vertex rule; identical lines are then never achievable).
    points (m, k), optional: known points of the box (e.g. observed samples), used as witnesses.
    method: "auto" (k = 1 weak: exact envelope; otherwise LP) or "lp" (always the LP).

    The LP per label (``scipy.optimize.linprog``, HiGHS) maximises the margin t subject to
    (W_j - W_c)·x + t <= b_c - b_j for all j != c, x in the box, t <= 1; c is achievable iff
    t* >= -tol (strict: t* > tol).  Before any LP, labels that are within tol of the top logit
    at a witness point (box corners, centre, random points, ``points``) are accepted, and
    labels that some other label beats by more than tol on the whole box are rejected.  The
    LP itself is solved by constraint generation (``_lp_decide``): it starts from the labels
    known to win somewhere and adds the labels that beat c at the relaxed optimum, which
    keeps it small for many labels and gives the same answer as the full LP.
    k = 0 (the silent readout) is argmax b.
    """
    W, b = _check_head(W_S, b)
    C, k = W.shape
    tol = float(tol)
    if not tol >= 0:
        raise ValueError(f"tol must be >= 0, got {tol}")
    if method not in ("auto", "lp"):
        raise ValueError(f"method must be 'auto' or 'lp', got {method!r}")
    lo, hi = _check_box(lo, hi, k)
    if k == 1 and not strict and method == "auto":
        mask = np.zeros(C, dtype=bool)
        mask[upper_envelope(W[:, 0], b, lo[0], hi[0], ties="weak", tol=tol)] = True
        return mask
    return _achievable(W, b, lo, hi, tol, strict, points=points)


# ----------------------------------------------------------------------------- cross-check: ConvexHull

def hull_achievable(W_S, b) -> np.ndarray:
    """(C,) bool: the labels whose point (W_S[c], b_c) is a vertex of the upper convex hull of
    all points in R^(k+1), by ``scipy.spatial.ConvexHull`` (k <= 7; meant for k <= 3).

    Upper hull: the facets whose outward normal has a positive last (bias) component; a vertex
    is on the upper hull iff it is the unique argmax for some x (the vertex rule of the module
    docstring).  Exact duplicate points count once, at their lowest index.

    Degenerate inputs (too few points, or all points in a lower-dimensional affine subspace)
    are handled without joggling: the points are re-expressed in their affine hull, where the
    functionals (x, 1)·p become either every direction (then the answer is the vertices of
    the full hull there) or again "a height plus a free direction" (then the same upper-hull
    question is asked in fewer dimensions).  Rank decisions use a relative tolerance of 1e-9
    on singular values, so nearly degenerate inputs are treated as degenerate.
    """
    W, b = _check_head(W_S, b)
    C, k = W.shape
    if k > _HULL_MAX_K:
        raise ValueError(f"hull_achievable supports k = 1..{_HULL_MAX_K} nodes, got k = {k}; use achievable_labels")
    points = np.column_stack([W, b])                               # (C, k+1): coordinates, then height
    unique, first_index = _unique_rows(points)
    mask = np.zeros(C, dtype=bool)
    mask[first_index[_upper_vertices(unique)]] = True
    return mask


def _unique_rows(points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distinct rows and, for each, the lowest index where it occurs."""
    _, first, inverse = np.unique(points, axis=0, return_index=True, return_inverse=True)
    lowest = np.full(first.shape[0], points.shape[0])
    np.minimum.at(lowest, inverse.reshape(-1), np.arange(points.shape[0]))
    return points[lowest], lowest


def _affine_basis(points: np.ndarray, rtol: float = 1e-9) -> tuple[np.ndarray, np.ndarray]:
    """Centred coordinates in the affine hull: (Y (n, r), V (m, r) orthonormal directions)."""
    centred = points - points.mean(0)
    _, s, vt = np.linalg.svd(centred, full_matrices=False)
    r = int(np.sum(s > rtol * max(s.max(initial=0.0), 1e-300)))
    V = vt[:r].T
    return centred @ V, V


def _full_hull_vertices(Y: np.ndarray) -> np.ndarray:
    """(n,) bool: vertices of conv(Y), Y (n, r) of full affine rank r >= 1, distinct rows."""
    n, r = Y.shape
    mask = np.zeros(n, dtype=bool)
    if r == 1:
        mask[[int(np.argmin(Y[:, 0])), int(np.argmax(Y[:, 0]))]] = True
        return mask
    try:
        hull = ConvexHull(Y)
    except QhullError:
        hull = ConvexHull(Y, qhull_options="QJ")                    # nearly flat despite the rank test
    mask[hull.vertices] = True
    return mask


def _upper_vertices(P: np.ndarray) -> np.ndarray:
    """(n,) bool: distinct points P (n, m) (coordinates, then height) that uniquely maximise
    (x, 1)·p for some x in R^(m-1)."""
    n, m = P.shape
    if n == 1:
        return np.ones(1, dtype=bool)
    if m == 1:                                                     # heights only: the unique maximum
        mask = np.zeros(n, dtype=bool)
        mask[int(np.argmax(P[:, 0]))] = True
        return mask
    Y, V = _affine_basis(P)
    r = V.shape[1]
    if r == m:
        try:
            hull = ConvexHull(P)
        except QhullError:
            hull = ConvexHull(P, qhull_options="QJ")
        normals = hull.equations[:, :m]                            # outward unit normals
        upper = normals[:, m - 1] > 1e-12
        mask = np.zeros(n, dtype=bool)
        mask[np.unique(hull.simplices[upper])] = True
        return mask
    # In the affine hull: (x, 1)·p = const + g·y with g = B x + g0, B = V[:m-1].T (r, m-1), g0 = V[m-1].
    B, g0 = V[:m - 1].T, V[m - 1]
    u, s, _ = np.linalg.svd(B, full_matrices=False)
    q = int(np.sum(s > 1e-9 * max(s.max(initial=0.0), 1e-300)))
    if q == r:                                                     # every direction g: vertices of conv(Y)
        return _full_hull_vertices(Y)
    R = u[:, :q]                                                   # (r, q) basis of range(B)
    g_perp = g0 - R @ (R.T @ g0)                                   # nonzero: B and g0 together span R^r
    reduced = np.column_stack([Y @ R, Y @ g_perp])                 # (n, q+1): free coordinates, then height
    return _upper_vertices(reduced)


# ----------------------------------------------------------------------------- many sets

def bound_for_sets(W, b, sets, z_observed=None, predicted=None, *, tol: float | None = None,
                   rtol: float = 1e-6) -> dict:
    """The bound U(S) for every node set, with and without the observed box, and the invariant.

    W (C, D), b (C,): a 1-FC readout.  sets: S sequences of node indices (an empty set is the
    silent readout).  z_observed (N, D), optional: node values on the evaluation split; the
    observed box of set S is [min, max] of z_observed[:, S] per node.  predicted (S, C) bool,
    optional: P(S), the labels the set predicted on that split.

    Achievability uses the weak rule with slack ``tol`` on logits (module docstring), so that
    predictions computed in float32 are covered.  tol=None takes, per set,
    tol = rtol · (Σ_{k∈S} max|x_k| · max_c |W_ck| + max_c |b_c|), a bound on the logits'
    magnitude (max|x_k| from the observed box, 1 without data).  The same tol is used with
    and without the box, so U_observed <= U always.

    Returns a dict:
      U (S,) int: achievable labels, x unbounded.
      U_observed (S,) int or None: achievable labels, x in the observed box (None without z).
      achievable, achievable_observed (S, C) bool (the latter None without z).
      tol (S,) float: the slack used.
      violations int: (set, label) pairs predicted but not achievable in the observed box
        (in the unbounded sense without z); always 0 unless something is wrong.
      violation_sets: list of (set index, label) pairs behind ``violations``.
    Single nodes use the exact envelope; larger sets one LP per undecided label.
    """
    W = np.asarray(W, dtype=np.float64)
    if W.ndim != 2:
        raise ValueError(f"W must be (C, D), got shape {W.shape}")
    C, D = W.shape
    W, b = _check_head(W, b)
    if not np.isfinite(rtol) or rtol < 0:
        raise ValueError(f"rtol must be a finite number >= 0, got {rtol}")
    sets = check_node_sets(sets, D, allow_empty=True)
    box = _observed_box(z_observed, D)
    predicted = _check_predicted(predicted, len(sets), C)
    w_abs_max, b_abs_max = np.abs(W).max(0), float(np.abs(b).max())
    n = len(sets)
    achievable = np.zeros((n, C), dtype=bool)
    achievable_obs = np.zeros((n, C), dtype=bool) if box is not None else None
    tols = np.empty(n)
    for i, s in enumerate(sets):
        if box is not None:
            lo, hi = box[0][s], box[1][s]
            xmax = np.maximum(np.abs(lo), np.abs(hi))
        else:
            lo = hi = None
            xmax = np.ones(s.shape[0])
        t = float(tol) if tol is not None else rtol * (float(xmax @ w_abs_max[s]) + b_abs_max)
        tols[i] = t
        achievable[i], observed = _set_bound(W[:, s], b, lo, hi, t)
        if achievable_obs is not None:
            achievable_obs[i] = observed
    violation_sets = _violations(predicted, achievable_obs if achievable_obs is not None else achievable)
    return {
        "U": achievable.sum(1),
        "U_observed": achievable_obs.sum(1) if achievable_obs is not None else None,
        "achievable": achievable,
        "achievable_observed": achievable_obs,
        "tol": tols,
        "violations": len(violation_sets),
        "violation_sets": violation_sets,
    }


def _observed_box(z_observed, D: int) -> tuple[np.ndarray, np.ndarray] | None:
    """(min, max) per node (D,) of the node values z_observed (N, D), float64; None without them."""
    if z_observed is None:
        return None
    z = np.asarray(z_observed)
    if z.ndim != 2 or z.shape[1] != D or z.shape[0] == 0:
        raise ValueError(f"z_observed must be (N, {D}) with N >= 1, got {z.shape}")
    zmin, zmax = z.min(0).astype(np.float64), z.max(0).astype(np.float64)
    if not (np.all(np.isfinite(zmin)) and np.all(np.isfinite(zmax))):
        raise ValueError("z_observed holds NaN or infinite values")
    return zmin, zmax


def _check_predicted(predicted, n_sets: int, C: int) -> np.ndarray | None:
    """P(S) as an (S, C) bool array, or None."""
    if predicted is None:
        return None
    predicted = np.asarray(predicted, dtype=bool)
    if predicted.shape != (n_sets, C):
        raise ValueError(f"predicted must be (S, C) = ({n_sets}, {C}), got {predicted.shape}")
    return predicted


def _violations(predicted: np.ndarray | None, reference: np.ndarray) -> list[tuple[int, int]]:
    """(set index, label) pairs predicted but not achievable in ``reference``; [] without predictions."""
    if predicted is None:
        return []
    return [(int(i), int(c)) for i, c in zip(*np.nonzero(predicted & ~reference))]


def _set_bound(Ws: np.ndarray, b: np.ndarray, lo, hi, t: float) -> tuple[np.ndarray, np.ndarray | None]:
    """One set's (C,) achievable masks: x unbounded, and x in the box [lo, hi] (None without a box).

    A single node uses the exact envelope, built once for both; larger sets the LPs, where the
    labels proven inside the box are achievable unbounded too, and those unachievable
    unbounded are unachievable in the box."""
    k = Ws.shape[1]
    if k == 1:
        env = _envelope(Ws[:, 0], b)
        observed = _weak_mask(env, float(lo[0]), float(hi[0]), t) if lo is not None else None
        return _weak_mask(env, -np.inf, np.inf, t), observed
    inf_lo, inf_hi = np.full(k, -np.inf), np.full(k, np.inf)
    if lo is None:
        return _achievable(Ws, b, inf_lo, inf_hi, t, False), None
    lo_c, hi_c = _check_box(lo, hi, k)
    in_box = _witnessed(Ws, b, _witness_points(lo_c, hi_c), t)          # proven in the box
    free = _achievable(Ws, b, inf_lo, inf_hi, t, False, known_true=in_box)
    return free, _achievable(Ws, b, lo_c, hi_c, t, False, known_true=in_box, known_false=~free)
