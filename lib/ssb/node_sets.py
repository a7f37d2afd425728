"""Node sets: which nodes are active, as plain index arrays (torch-free set algebra).

Node k of a block belongs to attention head k // d_head (docs/method.md, "Nodes and the
limited aperture").  A node set is a sorted int64 array of node indices; this module builds,
draws and validates them, and nothing else (the aperture engine evaluates them):

    single_node_sets(D), head_sets(n_heads, d_head), all_nodes_set(D)
    check_node_sets(sets, D)                              # sorted int64 arrays, or ValueError
    sizes = log_grid(D, 12)                               # 1 .. D, roughly log-spaced ints
    sets = sample_node_sets(D, sizes, r=20, seed=0)       # {n: [r sorted index arrays]}
    nested = nested_head_sets(n_heads, d_head, in_head_grid(d_head), orders=2, seed=0)
    flat = flatten(sets)                                  # [arrays], sizes ascending
    distinct_sets(flat)                                   # how many different sets
"""
from __future__ import annotations

import numpy as np


def single_node_sets(n_nodes: int) -> list[np.ndarray]:
    """[{0}, {1}, ..., {D-1}]: every node alone."""
    return [np.array([k], dtype=np.int64) for k in range(n_nodes)]


def head_sets(n_heads: int, d_head: int) -> list[np.ndarray]:
    """The d_head nodes of each attention head: head h holds nodes h*d_head .. (h+1)*d_head-1."""
    return [np.arange(h * d_head, (h + 1) * d_head, dtype=np.int64) for h in range(n_heads)]


def all_nodes_set(n_nodes: int) -> np.ndarray:
    """The set of every node, 0..D-1 (the full aperture)."""
    return np.arange(n_nodes, dtype=np.int64)


def head_of_node(k, d_head: int):
    """Node k belongs to attention head k // d_head (works on arrays too)."""
    return np.asarray(k) // d_head


def check_node_sets(sets, n_nodes: int, allow_empty: bool = False) -> list[np.ndarray]:
    """Node sets as sorted int64 arrays; ValueError naming the first empty (unless
    ``allow_empty``: the hull bound has a meaning for S = ∅), out-of-range, duplicated or
    non-integer set.  A (S, D) boolean array is read as one mask per set."""
    if hasattr(sets, "shape") and np.asarray(sets).dtype == bool:      # a numpy array or a (CPU) tensor
        masks = np.asarray(sets)
        if masks.ndim != 2 or masks.shape[1] != n_nodes:
            raise ValueError(f"a boolean set mask must have shape (S, {n_nodes}), got {masks.shape}")
        sets = [np.flatnonzero(m) for m in masks]
    arrays = [np.asarray(s) for s in sets]
    checked = _sorted_valid_sets(arrays, n_nodes, allow_empty)
    if checked is not None:
        return checked
    out = []                                   # something is wrong: find the first bad set and name it
    for i, s in enumerate(arrays):
        a = np.asarray(s)
        if a.ndim != 1 or (a.size and not np.issubdtype(a.dtype, np.integer)):
            raise ValueError(f"node set {i} must be a 1-D sequence of integer node indices, got dtype {a.dtype}, "
                             f"shape {a.shape} (pass boolean masks as one (S, D) array)")
        if a.size == 0 and not allow_empty:
            raise ValueError(f"node set {i} is empty; the silent readout (every node silenced) is "
                             "silent_prediction(readout) / silent_accuracy(readout, y)")
        bad = a[(a < 0) | (a >= n_nodes)]
        if bad.size:
            raise ValueError(f"node set {i} holds node {int(bad[0])}, outside the valid range 0..{n_nodes - 1}")
        a = np.sort(a.astype(np.int64))
        if np.any(a[1:] == a[:-1]):
            dup = int(a[1:][a[1:] == a[:-1]][0])
            raise ValueError(f"node set {i} lists node {dup} more than once")
        out.append(a)
    return out


def _sorted_valid_sets(arrays: list[np.ndarray], n_nodes: int, allow_empty: bool) -> list[np.ndarray] | None:
    """``check_node_sets`` for valid sets, all at once: each set sorted, as int64 views of one
    array; None when any set is invalid (the caller's loop then names it).  One sort of
    set·D + node over every set instead of a few numpy calls per set."""
    if not arrays:
        return []
    if any(a.ndim != 1 or (a.size and a.dtype.kind not in "iu") for a in arrays):   # kind: np.issubdtype's test, 5x faster
        return None
    sizes = np.fromiter((a.size for a in arrays), dtype=np.int64, count=len(arrays))
    if not allow_empty and (sizes == 0).any():
        return None
    nodes = np.concatenate([a.astype(np.int64, copy=False) for a in arrays]) if sizes.sum() else np.zeros(0, np.int64)
    if nodes.size and (nodes.min() < 0 or nodes.max() >= n_nodes):
        return None
    owner = np.repeat(np.arange(len(arrays), dtype=np.int64) * n_nodes, sizes)
    keys = np.sort(owner + nodes)                        # by set, then node: owner stays as it is
    if (keys[1:] == keys[:-1]).any():
        return None
    nodes = keys - owner
    ends = np.cumsum(sizes).tolist()
    return [nodes[e - k:e] for e, k in zip(ends, sizes.tolist())]        # views, as np.split gives (3x faster)


def positive_int(value, name: str, minimum: int = 1) -> int:
    """``value`` as an int when it is an integer (not a bool) >= ``minimum``; ValueError naming it otherwise."""
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
    n_max = positive_int(n_max, "n_max")
    n_points = positive_int(n_points, "n_points")
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
    n_nodes = positive_int(n_nodes, "n_nodes")
    r = positive_int(r, "r")
    seed = positive_int(seed, "seed", minimum=0)
    sizes = sorted({int(n) for n in np.asarray(sizes, dtype=np.int64).reshape(-1)})
    if not sizes:
        raise ValueError("sizes is empty")
    if sizes[0] < 1 or sizes[-1] > n_nodes:
        raise ValueError(f"set sizes must lie in 1..{n_nodes}, got {sizes[0]}..{sizes[-1]}")
    if within_head:
        if d_head is None:
            raise ValueError("within_head=True needs d_head")
        d_head = positive_int(d_head, "d_head")
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


def in_head_grid(d_head: int) -> np.ndarray:
    """Sizes of the nested sets grown inside one head: 1, 2, 4, 8, 12, 16, 24, 32, 48, 64, ...
    (powers of two up to 8, then alternately x1.5 and x4/3), cut at d_head, which is always
    included (the whole head)."""
    d_head = positive_int(d_head, "d_head")
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
    n_heads = positive_int(n_heads, "n_heads")
    d_head = positive_int(d_head, "d_head")
    orders = positive_int(orders, "orders")
    seed = positive_int(seed, "seed", minimum=0)
    sizes = sorted({int(n) for n in np.asarray(sizes, dtype=np.int64).reshape(-1)})
    if not sizes or sizes[0] < 1 or sizes[-1] > d_head:
        raise ValueError(f"nested sizes must lie in 1..d_head={d_head}, got {sizes}")
    rng = np.random.default_rng([seed, 2])
    perms = [h * d_head + rng.permutation(d_head) for h in range(n_heads) for _ in range(orders)]
    return {n: [np.sort(p[:n]).astype(np.int64) for p in perms] for n in sizes}


def flatten(sets_by_size: dict) -> list[np.ndarray]:
    """The sets of ``{n: [sets]}`` (``sample_node_sets``, ``nested_head_sets``) as one list,
    sizes ascending, each size's sets in their order."""
    return [np.asarray(s) for n in sorted(sets_by_size) for s in sets_by_size[n]]


def distinct_sets(sets) -> int:
    """How many different node sets a list holds."""
    return len({tuple(np.sort(np.asarray(s)).tolist()) for s in sets})
