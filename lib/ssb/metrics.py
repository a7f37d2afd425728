"""Confusion-matrix measurements (docs/method.md, "Measurements").

Everything is computed from label counts, never from a dense C x C matrix, so a
30,522-token vocabulary costs O(C) memory per node set:

    diag[j] = M[j, j]                 correct predictions of label j
    row[i]  = Σ_j M[i, j]             test occurrences of label i (true counts)
    col[j]  = Σ_i M[i, j]             predictions of label j

    counts = label_counts(y_true, y_pred, n_classes)
    accuracy(counts)                  # A = trace M / Σ M
    per_token, mean_apt = apt(counts, min_count=5)
    dc = diagonal_confidence(counts.diag, counts.col)       # DC_j, NaN where j is never predicted
    P = predicted_mask(counts.col)                          # P(S): labels with column sum > 0
    R = recognized_mask(counts.diag, counts.col, base_rate(counts.row), min_hits=3)
        # R(S): M[j,j] >= 3 and hits significantly above j's test-set base rate (binomial, BH FDR 0.05)
    R_old = recognized_chance_rule(counts.diag, counts.col, min_hits=3)   # the earlier DC_j > 1/C rule

``confusion_matrix`` builds M itself when it is needed (dense for small C, scipy.sparse
CSR above ``SPARSE_ABOVE`` classes).  ``jaccard`` and friends compare recognised sets.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

SPARSE_ABOVE = 2048        # confusion_matrix(sparse=None) returns CSR when n_classes exceeds this


@dataclass
class LabelCounts:
    """Row sums, column sums and diagonal of a confusion matrix M[true, predicted]."""
    diag: np.ndarray           # (C,) int64, M[j, j]
    row: np.ndarray            # (C,) int64, Σ_j M[i, j]: true counts
    col: np.ndarray            # (C,) int64, Σ_i M[i, j]: predicted counts
    n_classes: int

    @property
    def total(self) -> int:
        return int(self.row.sum())


def _labels(y: np.ndarray, n_classes: int, name: str) -> np.ndarray:
    """``y`` as an int64 array with every value in 0..n_classes-1 (ValueError otherwise)."""
    y = _labels_any_int(y, n_classes, name)
    return y.astype(np.int64, copy=False)


def _labels_any_int(y: np.ndarray, n_classes: int, name: str) -> np.ndarray:
    """``_labels`` without the int64 copy: ``y`` as an integer array of its own dtype."""
    y = np.asarray(y)
    if y.size and not np.issubdtype(y.dtype, np.integer):
        raise ValueError(f"{name} must hold integer labels, got dtype {y.dtype}")
    if y.size and (y.min() < 0 or y.max() >= n_classes):
        bad = y[(y < 0) | (y >= n_classes)][0]
        raise ValueError(f"{name} holds label {bad}, outside the valid range 0..{n_classes - 1}")
    return y


def _check_n_classes(n_classes: int) -> int:
    if int(n_classes) < 1:
        raise ValueError(f"n_classes must be at least 1, got {n_classes}")
    return int(n_classes)


def label_counts(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int) -> LabelCounts:
    """Diagonal, row and column sums of the confusion matrix of (y_true, y_pred), each (C,)."""
    n_classes = _check_n_classes(n_classes)
    y_true = _labels(y_true, n_classes, "y_true")
    y_pred = _labels(y_pred, n_classes, "y_pred")
    if y_true.shape != y_pred.shape or y_true.ndim != 1:
        raise ValueError(f"y_true and y_pred must be 1-D of equal length, got {y_true.shape} and {y_pred.shape}")
    hit = y_true == y_pred
    return LabelCounts(diag=np.bincount(y_true[hit], minlength=n_classes),
                       row=np.bincount(y_true, minlength=n_classes),
                       col=np.bincount(y_pred, minlength=n_classes),
                       n_classes=n_classes)


_FUSED_COUNT_BINS = 2 ** 16   # label_counts_batched: up to this many (set, label) pairs, one bincount (measured
                              # 1.4x faster at 204 x 16; at 204 x 4,096 the 2x larger count array costs more)


def label_counts_batched(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int
                         ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Label counts of S prediction vectors against one y_true, in two offset bincounts.

    y_true (N,), y_pred (S, N) -> diag (S, C), col (S, C), row (C,), all int64.
    Row s of y_pred is shifted by s*C: one bincount of the shifted labels gives every set's
    column sums, one of the shifted labels of the hits every set's diagonal.
    """
    n_classes = _check_n_classes(n_classes)
    y_true = _labels(y_true, n_classes, "y_true")
    y_pred = _labels_any_int(y_pred, n_classes, "y_pred")   # the engine's int32: no int64 copy before the key
    if y_pred.ndim != 2 or y_true.ndim != 1 or y_pred.shape[1] != y_true.shape[0]:
        raise ValueError(f"expected y_true (N,) and y_pred (S, N), got {y_true.shape} and {y_pred.shape}")
    n_sets = y_pred.shape[0]
    if n_sets * n_classes <= _FUSED_COUNT_BINS:      # few bins: one bincount of 2·key + hit, no masked copy
        same = y_true.astype(y_pred.dtype) if np.iinfo(y_pred.dtype).max >= n_classes - 1 else y_true
        hit = y_pred == same[None, :]                    # in the predictions' type: no int64 copy of them
        key = np.add(y_pred, (np.arange(n_sets, dtype=np.int32) * n_classes)[:, None], dtype=np.int32)   # fits: < 2**16
        key <<= 1
        key += hit
        # torch's bincount counts int32 keys as they are (numpy's copies them to int64 first): 1.5x faster
        both = torch.bincount(torch.from_numpy(key.reshape(-1)), minlength=2 * n_sets * n_classes).numpy()
        both = both.reshape(n_sets, n_classes, 2)
        diag = both[:, :, 1].copy()
        col = both[:, :, 0] + diag
    else:
        key = np.add(y_pred, (np.arange(n_sets, dtype=np.int64) * n_classes)[:, None], dtype=np.int64)   # (S, N) set·C + label
        col = np.bincount(key.ravel(), minlength=n_sets * n_classes).reshape(n_sets, n_classes)
        diag = hits_diagonal(y_pred, y_true, n_classes)
    return diag, col, np.bincount(y_true, minlength=n_classes)


def hits_diagonal(predictions: np.ndarray, y: np.ndarray, n_classes: int) -> np.ndarray:
    """The diagonal of every set's confusion matrix, (S, C) int64: M[s, j, j] = #{i : pred[s, i] =
    y[i] = j} -- ``label_counts_batched``'s ``diag``, counted from the positions of the
    hits alone (few: a single node's readout is right on a few items), comparing in the
    predictions' own integer type (no (S, N) int64 copy per call)."""
    preds = np.asarray(predictions)
    y = np.asarray(y)
    n_sets, n_items = preds.shape
    hit = np.flatnonzero(preds == y.astype(preds.dtype, copy=False)[None, :])      # s * N + i of each hit
    labels = y[hit % n_items].astype(np.int64)
    return np.bincount(hit // n_items * n_classes + labels, minlength=n_sets * n_classes).reshape(n_sets, n_classes)


def accuracy(counts: LabelCounts) -> float:
    """A = trace M / Σ M.  ValueError for an empty split."""
    if counts.total == 0:
        raise ValueError("accuracy of an empty split (no test examples) is undefined")
    return float(counts.diag.sum() / counts.total)


def apt(counts: LabelCounts, min_count: int = 1) -> tuple[np.ndarray, float]:
    """Accuracy per token: APT_t = M[t,t] / Σ_j M[t,j].

    Returns (per_label (C,) float64 with NaN where the label has fewer than ``min_count``
    test occurrences, ⟨APT⟩ = mean over the remaining labels, NaN if there are none).
    """
    if int(min_count) < 1:
        raise ValueError(f"min_count must be at least 1 (APT of an unseen label is undefined), got {min_count}")
    keep = counts.row >= min_count
    per_label = np.full(counts.n_classes, np.nan)
    per_label[keep] = counts.diag[keep] / counts.row[keep]
    return per_label, float(per_label[keep].mean()) if keep.any() else float("nan")


def diagonal_confidence(diag: np.ndarray, col: np.ndarray) -> np.ndarray:
    """DC_j = M[j,j] / Σ_i M[i,j] (the column's precision), NaN where col == 0.

    Works elementwise on (C,) or (S, C) arrays."""
    diag, col = np.asarray(diag), np.asarray(col)
    if diag.shape != col.shape:
        raise ValueError(f"diag and col shapes differ: {diag.shape} vs {col.shape}")
    out = np.full(col.shape, np.nan)
    np.divide(diag, col, out=out, where=col > 0)
    return out


def predicted_mask(col: np.ndarray) -> np.ndarray:
    """P(S) as a boolean mask: labels predicted at least once (column sum > 0)."""
    return np.asarray(col) > 0


def base_rate(row: np.ndarray) -> np.ndarray:
    """Each label's share of the test set, row / Σ row (the chance level of the base-rate rule)."""
    row = np.asarray(row, dtype=float)
    total = row.sum()
    if total <= 0:
        raise ValueError("base rates of an empty split (no test examples) are undefined")
    return row / total


def recognized_mask(diag: np.ndarray, col: np.ndarray, base_rate: np.ndarray, min_hits: int = 3,
                    q: float | None = None) -> np.ndarray:
    """R(S) as a boolean mask (docs/method.md, "Recognised set"): M[j,j] >= min_hits and the hits
    significantly above j's base rate, a one-sided binomial test P(X >= M[j,j]), X ~
    Binomial(col_j, base_rate_j), with Benjamini-Hochberg FDR q (default ``stats.FDR``) over the
    candidates of each set (last axis).  diag, col: (C,) or (S, C); base_rate: (C,)."""
    from . import stats
    return stats.recognized_by_base_rate(diag, col, base_rate, min_hits=min_hits, q=stats.FDR if q is None else q)


def recognized_chance_rule(diag: np.ndarray, col: np.ndarray, min_hits: int = 3, chance: float | None = None,
                           dc: np.ndarray | None = None) -> np.ndarray:
    """The earlier rule, kept for comparison only: M[j,j] >= min_hits and DC_j > chance
    (default 1/C, C = last axis).  A readout with no information passes it for frequent labels.
    dc: ``diagonal_confidence(diag, col)`` when the caller has it already."""
    diag, col = np.asarray(diag), np.asarray(col)
    if chance is None:
        chance = 1.0 / diag.shape[-1]
    if dc is None:
        dc = diagonal_confidence(diag, col)
    return (diag >= min_hits) & (np.nan_to_num(dc, nan=-1.0) > chance)


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int, sparse: bool | None = None):
    """M[true, predicted] as a dense int64 (C, C) array, or a scipy.sparse CSR matrix.

    sparse=None picks CSR when n_classes > SPARSE_ABOVE (a dense 30,522² matrix is 7 GB).
    """
    import scipy.sparse as sp

    n_classes = _check_n_classes(n_classes)
    y_true = _labels(y_true, n_classes, "y_true")
    y_pred = _labels(y_pred, n_classes, "y_pred")
    if y_true.shape != y_pred.shape or y_true.ndim != 1:
        raise ValueError(f"y_true and y_pred must be 1-D of equal length, got {y_true.shape} and {y_pred.shape}")
    if sparse is None:
        sparse = n_classes > SPARSE_ABOVE
    if sparse:
        ones = np.ones(len(y_true), dtype=np.int64)
        return sp.coo_matrix((ones, (y_true, y_pred)), shape=(n_classes, n_classes)).tocsr()   # sums duplicates
    flat = np.bincount(y_true * n_classes + y_pred, minlength=n_classes * n_classes)
    return flat.reshape(n_classes, n_classes)


def jaccard(a_mask: np.ndarray, b_mask: np.ndarray) -> float:
    """|A ∩ B| / |A ∪ B| of two boolean masks over the labels.

    Two empty sets count as identical (1.0): under an exact symmetry two heads that both
    recognise nothing are the same head, and the symmetric control must then score 1.
    """
    a, b = np.asarray(a_mask, dtype=bool), np.asarray(b_mask, dtype=bool)
    if a.shape != b.shape:
        raise ValueError(f"mask shapes differ: {a.shape} vs {b.shape}")
    union = int((a | b).sum())
    return 1.0 if union == 0 else float((a & b).sum() / union)


def pairwise_jaccard(masks: np.ndarray) -> np.ndarray:
    """(K, K) Jaccard overlaps of K boolean masks (K, C); 1.0 where both sets are empty."""
    m = np.asarray(masks, dtype=bool)
    if m.ndim != 2:
        raise ValueError(f"masks must be (K, C), got shape {m.shape}")
    x = m.astype(np.int64)
    inter = x @ x.T                                         # (K, K) |A ∩ B|
    sizes = x.sum(axis=1)
    union = sizes[:, None] + sizes[None, :] - inter
    out = np.ones(inter.shape)
    np.divide(inter, union, out=out, where=union > 0)
    return out


def mean_pairwise_jaccard(masks: np.ndarray) -> float:
    """Mean Jaccard over the pairs i < j of K masks; NaN when K < 2 (no pair)."""
    j = pairwise_jaccard(masks)
    k = j.shape[0]
    if k < 2:
        return float("nan")
    return float(j[np.triu_indices(k, 1)].mean())
