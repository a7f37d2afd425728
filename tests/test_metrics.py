"""Confusion-matrix measurements on hand-made matrices with hand-computed answers."""
from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from ssb import metrics


def labels_from_matrix(m: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(y_true, y_pred) with exactly m[i, j] pairs (i, j), in a shuffled order."""
    pairs = [(i, j) for i in range(m.shape[0]) for j in range(m.shape[1]) for _ in range(m[i, j])]
    order = np.random.default_rng(0).permutation(len(pairs))
    arr = np.array(pairs)[order]
    return arr[:, 0], arr[:, 1]


# rows = true label, columns = predicted label
M3 = np.array([[3, 1, 0],
               [0, 2, 2],
               [1, 0, 1]])
# label 1 is never predicted, label 3 never occurs
M4 = np.array([[2, 0, 0, 1],
               [0, 0, 0, 3],
               [1, 0, 4, 0],
               [0, 0, 0, 0]])


def test_counts_accuracy_apt_dc_3x3():
    y, p = labels_from_matrix(M3)
    c = metrics.label_counts(y, p, 3)
    np.testing.assert_array_equal(c.diag, [3, 2, 1])
    np.testing.assert_array_equal(c.row, [4, 4, 2])
    np.testing.assert_array_equal(c.col, [4, 3, 3])
    assert metrics.accuracy(c) == pytest.approx(6 / 10)
    per, mean = metrics.apt(c, min_count=1)
    np.testing.assert_allclose(per, [3 / 4, 2 / 4, 1 / 2])
    assert mean == pytest.approx((0.75 + 0.5 + 0.5) / 3)
    per, mean = metrics.apt(c, min_count=3)                  # label 2 has only 2 occurrences
    assert np.isnan(per[2]) and mean == pytest.approx(0.625)
    np.testing.assert_allclose(metrics.diagonal_confidence(c.diag, c.col), [3 / 4, 2 / 3, 1 / 3])
    np.testing.assert_array_equal(metrics.predicted_mask(c.col), [True, True, True])
    # chance 1/3: label 2 has DC exactly 1/3, not above chance; min_hits=2 also drops it
    np.testing.assert_array_equal(metrics.recognized_chance_rule(c.diag, c.col, min_hits=1), [True, True, False])
    np.testing.assert_array_equal(metrics.recognized_chance_rule(c.diag, c.col, min_hits=3), [True, False, False])
    # base-rate rule: 3 of 4 right against a base rate of 0.4 is p = 0.179, nothing significant
    np.testing.assert_array_equal(metrics.recognized_mask(c.diag, c.col, metrics.base_rate(c.row), min_hits=1),
                                  [False, False, False])


def test_counts_with_unpredicted_and_absent_labels_4x4():
    y, p = labels_from_matrix(M4)
    c = metrics.label_counts(y, p, 4)
    np.testing.assert_array_equal(c.diag, [2, 0, 4, 0])
    np.testing.assert_array_equal(c.row, [3, 3, 5, 0])
    np.testing.assert_array_equal(c.col, [3, 0, 4, 4])
    assert metrics.accuracy(c) == pytest.approx(6 / 11)
    per, mean = metrics.apt(c, min_count=1)
    np.testing.assert_allclose(per, [2 / 3, 0.0, 4 / 5, np.nan])
    assert mean == pytest.approx((2 / 3 + 0 + 4 / 5) / 3)
    dc = metrics.diagonal_confidence(c.diag, c.col)
    np.testing.assert_allclose(dc, [2 / 3, np.nan, 1.0, 0.0])
    np.testing.assert_array_equal(metrics.predicted_mask(c.col), [True, False, True, True])
    np.testing.assert_array_equal(metrics.recognized_chance_rule(c.diag, c.col), [False, False, True, False])
    np.testing.assert_array_equal(metrics.recognized_chance_rule(c.diag, c.col, min_hits=2), [True, False, True, False])
    # chance above 2/3 removes label 0 (DC 2/3) but keeps label 2 (DC 1)
    np.testing.assert_array_equal(metrics.recognized_chance_rule(c.diag, c.col, min_hits=2, chance=0.7),
                                  [False, False, True, False])


def test_base_rate_rule_against_the_chance_rule():
    # 100 test items: label 0 has base rate 0.1, label 1 0.5, label 2 0.4 (C = 3, chance 1/3)
    row = np.array([10, 50, 40])
    rate = metrics.base_rate(row)
    np.testing.assert_allclose(rate, [0.1, 0.5, 0.4])
    diag = np.array([10, 6, 0])          # label 0: 10 of 10 right (p = 1e-10); label 1: 6 of 10 (p = 0.377)
    col = np.array([10, 10, 80])
    np.testing.assert_array_equal(metrics.recognized_mask(diag, col, rate), [True, False, False])
    # the earlier rule "recognises" label 1 too: DC 0.6 > 1/3, although 6 of 10 is its base rate's chance
    np.testing.assert_array_equal(metrics.recognized_chance_rule(diag, col), [True, True, False])
    # min_hits filters candidates before the test; a set axis works row by row
    np.testing.assert_array_equal(metrics.recognized_mask(diag, col, rate, min_hits=11), [False, False, False])
    two = metrics.recognized_mask(np.stack([diag, [0, 10, 0]]), np.stack([col, [0, 10, 90]]), rate)
    np.testing.assert_array_equal(two, [[True, False, False], [False, True, False]])   # 10/10 at 0.5: p = 1e-3
    with pytest.raises(ValueError, match="empty split"):
        metrics.base_rate(np.zeros(3))
    with pytest.raises(ValueError, match="base_rate"):
        metrics.recognized_mask(diag, col, rate[:2])


def test_confusion_matrix_dense_and_sparse_agree():
    y, p = labels_from_matrix(M4)
    dense = metrics.confusion_matrix(y, p, 4, sparse=False)
    np.testing.assert_array_equal(dense, M4)
    sparse = metrics.confusion_matrix(y, p, 4, sparse=True)
    assert sp.issparse(sparse)
    np.testing.assert_array_equal(sparse.toarray(), M4)
    rng = np.random.default_rng(1)
    n_classes = metrics.SPARSE_ABOVE + 7
    y, p = rng.integers(0, n_classes, 5000), rng.integers(0, 50, 5000)
    auto = metrics.confusion_matrix(y, p, n_classes)         # above the threshold: sparse
    assert sp.issparse(auto) and auto.shape == (n_classes, n_classes)
    c = metrics.label_counts(y, p, n_classes)
    np.testing.assert_array_equal(auto.diagonal(), c.diag)
    np.testing.assert_array_equal(np.asarray(auto.sum(axis=1)).ravel(), c.row)
    np.testing.assert_array_equal(np.asarray(auto.sum(axis=0)).ravel(), c.col)
    assert isinstance(metrics.confusion_matrix(y % 10, p % 10, 10), np.ndarray)


@pytest.mark.parametrize("fused_bins", [0, 2 ** 16])         # one bincount of 2·key + hit, and two bincounts
@pytest.mark.parametrize("dtype", [np.int64, np.int32])
def test_batched_counts_equal_one_at_a_time(fused_bins, dtype, monkeypatch):
    monkeypatch.setattr(metrics, "_FUSED_COUNT_BINS", fused_bins)
    rng = np.random.default_rng(2)
    y = rng.integers(0, 9, 400)
    preds = rng.integers(0, 9, (5, 400)).astype(dtype)
    preds[1] = y                                             # a perfect set
    diag, col, row = metrics.label_counts_batched(y, preds, 9)
    assert diag.shape == col.shape == (5, 9)
    for s in range(5):
        c = metrics.label_counts(y, preds[s], 9)
        np.testing.assert_array_equal(diag[s], c.diag)
        np.testing.assert_array_equal(col[s], c.col)
        np.testing.assert_array_equal(row, c.row)
    np.testing.assert_array_equal(diag[1], row)


def test_batched_counts_of_narrow_predictions_never_wrap_true_labels():
    """Predictions in a narrow integer type (int8: labels up to 127) against true labels beyond
    it: a true label 261 must not read as a hit of a predicted 5 (261 wraps to 5 in int8)."""
    y = np.array([261, 5, 300, 7, 5])
    preds = np.array([[5, 5, 44, 7, 0]], dtype=np.int8)
    diag, col, row = metrics.label_counts_batched(y, preds, 400)
    assert diag.sum() == 2 and diag[0, 5] == 1 and diag[0, 7] == 1
    assert col[0, 5] == 2 and row[261] == 1


def test_jaccard():
    a = np.array([1, 1, 0, 0, 1], bool)
    b = np.array([0, 1, 1, 0, 1], bool)
    assert metrics.jaccard(a, b) == pytest.approx(2 / 4)
    assert metrics.jaccard(a, a) == 1.0
    empty = np.zeros(5, bool)
    assert metrics.jaccard(empty, empty) == 1.0              # documented convention
    assert metrics.jaccard(a, empty) == 0.0
    masks = np.stack([a, b, empty])
    j = metrics.pairwise_jaccard(masks)
    np.testing.assert_allclose(j, [[1, 0.5, 0], [0.5, 1, 0], [0, 0, 1]])
    assert metrics.mean_pairwise_jaccard(masks) == pytest.approx(0.5 / 3)
    assert metrics.mean_pairwise_jaccard(np.stack([a, a, a])) == 1.0
    assert np.isnan(metrics.mean_pairwise_jaccard(a[None]))


def test_bad_input_is_rejected():
    with pytest.raises(ValueError, match=r"outside the valid range 0\.\.2"):
        metrics.label_counts([0, 1, 3], [0, 1, 2], 3)
    with pytest.raises(ValueError, match="y_pred holds label -1"):
        metrics.label_counts([0, 1, 2], [0, -1, 2], 3)
    with pytest.raises(ValueError, match="equal length"):
        metrics.label_counts([0, 1], [0, 1, 2], 3)
    with pytest.raises(ValueError, match="min_count"):
        metrics.apt(metrics.label_counts([0], [0], 2), min_count=0)
    with pytest.raises(ValueError, match="empty"):
        metrics.accuracy(metrics.label_counts([], [], 2))
