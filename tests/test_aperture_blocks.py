"""Multi-node sets of a 1-FC readout with many labels: blocks of labels skipped by a bound
(``aperture._pruned_set_predictions``) against the naive loop."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from ssb import aperture
from ssb.aperture import evaluate_sets, first_argmax, naive_predictions
from ssb.readouts import Readout
from ssb.node_sets import all_nodes_set, head_sets

N_HEADS, D_HEAD = 4, 6
D = N_HEADS * D_HEAD


@pytest.fixture(autouse=True)
def small_problems_take_the_block_path(monkeypatch):
    monkeypatch.setattr(aperture, "_PRUNE_MIN_LOGITS", 1)


@pytest.fixture
def small_blocks(monkeypatch):
    """Blocks of 8 labels from 16 labels up: many blocks, so that skipping is exercised."""
    monkeypatch.setattr(aperture, "_PRUNE_MIN_CLASSES", 16)
    monkeypatch.setattr(aperture, "_PRUNE_BLOCK_MIN", 8)
    monkeypatch.setattr(aperture, "_PRUNE_BLOCKS", 64)


@pytest.fixture
def scored(monkeypatch):
    """Counts the logits the engine computes with torch.mm (the block path's products)."""
    count = {"logits": 0}
    mm = torch.mm

    def counting_mm(a, b, **kwargs):
        out = mm(a, b, **kwargs)
        count["logits"] += out.numel()
        return out

    monkeypatch.setattr(torch, "mm", counting_mm)
    return count


def multi_node_sets(seed: int) -> list[np.ndarray]:
    """The heads, random sets of 2..D-1 nodes (not nested in one another), the full set."""
    rng = np.random.default_rng(seed)
    rand = [np.sort(rng.choice(D, size=k, replace=False)) for k in (2, 3, 5, 9, 13, 17, 23)]
    return head_sets(N_HEADS, D_HEAD) + rand + [all_nodes_set(D)]


def structured_head(n_classes: int, seed: int, dtype=torch.float64) -> Readout:
    """A head whose labels differ in weight norm by two orders of magnitude (as a trained
    token head's frequent and rare labels), so that the bound skips blocks."""
    torch.manual_seed(seed)
    head = Readout(D, n_classes).to(dtype).eval()
    with torch.no_grad():
        gain = torch.logspace(-2, 0, n_classes, dtype=dtype)[torch.randperm(n_classes)]
        head.fc1.weight.mul_(gain[:, None] * 3)
        head.fc1.bias.mul_(0.1)
    return head


def data(n: int, seed: int, dtype=np.float64) -> np.ndarray:
    rng = np.random.default_rng(seed)
    z = rng.standard_normal((n, D)) * rng.uniform(0.2, 3.0, D)
    z[:4] = 0.0                                                      # every label at its bias
    return z.astype(dtype)


@pytest.mark.parametrize("n_classes,seed", [(700, 0), (600, 1)])
def test_blocks_equal_the_naive_loop_in_float64_and_skip_labels(n_classes, seed, scored):
    head = structured_head(n_classes, seed)
    z = data(500, seed)
    sets = multi_node_sets(seed)
    y = np.zeros(len(z), dtype=np.int64)
    res = evaluate_sets(head, z, y, sets, keep_predictions=True)
    assert 0 < scored["logits"] < 0.8 * len(sets) * len(z) * n_classes      # blocks were skipped
    np.testing.assert_array_equal(res.predictions, naive_predictions(head, z, sets))


def test_small_blocks_and_chunks_change_nothing(small_blocks):
    head = structured_head(300, 2)
    z = data(400, 2)
    sets = multi_node_sets(2)
    y = np.zeros(len(z), dtype=np.int64)
    naive = naive_predictions(head, z, sets)
    for chunk in (2 ** 20, 600):                                    # 600: chunks of 75 samples
        res = evaluate_sets(head, z, y, sets, keep_predictions=True, chunk_elems=chunk)
        np.testing.assert_array_equal(res.predictions, naive)


def exact_float32_head(n_classes: int, seed: int) -> tuple[Readout, np.ndarray]:
    """A float32 head and node values whose products and sums are exact in float32 (multiples
    of 2^-12 below 2^11), so every summation order gives the same logits: duplicate labels
    (exact ties), labels 2^-12 of bias apart (near-ties, ~1e-6 of the logits' scale), labels
    with all-zero weights, samples at zero.  Any prediction other than the naive loop's is a
    bug of the skipping or of the tie rule, not rounding."""
    rng = np.random.default_rng(seed)
    w = rng.integers(-8, 9, (n_classes, D)) / 4.0 * rng.choice([0.25, 1.0, 4.0], (n_classes, 1))
    b = rng.integers(-40, 41, n_classes) / 4.0
    w[n_classes - 1], b[n_classes - 1] = w[3], b[3]                 # duplicate of label 3 (tie: 3 wins)
    w[n_classes - 2], w[n_classes - 3] = w[10], w[11]
    w[7] = 0.0                                                      # a label at its bias everywhere
    w[n_classes // 2:n_classes // 2 + 20] = 0.0                      # a block's worth of zero rows
    head = Readout(D, n_classes).float().eval()
    with torch.no_grad():
        head.fc1.weight.copy_(torch.from_numpy(w))
        bias = torch.from_numpy(b).float()
        bias[n_classes - 2] = bias[10] + 2.0 ** -12                  # 10 raised by 2^-12, 11 lowered: near-ties
        bias[n_classes - 3] = bias[11] - 2.0 ** -12                  # far inside the rounding margin, yet exact
        bias[7] = bias.max()                                        # the zero label ties the best bias
        head.fc1.bias.copy_(bias)
    z = rng.integers(-8, 9, (600, D)) / 4.0
    z[:6] = 0.0
    z[6:40] = z[6:40] * (rng.random((34, D)) < 0.2)                 # mostly silent samples: many ties
    return head, z.astype(np.float32)


@pytest.mark.parametrize("n_classes,seed", [(64, 3), (520, 4), (1030, 5)])
def test_ties_near_ties_duplicates_and_zero_weights_are_bit_identical_in_float32(n_classes, seed, small_blocks):
    head, z = exact_float32_head(n_classes, seed)
    sets = multi_node_sets(seed)
    y = np.zeros(len(z), dtype=np.int64)
    res = evaluate_sets(head, z, y, sets, keep_predictions=True)
    naive = naive_predictions(head, z, sets)
    np.testing.assert_array_equal(res.predictions, naive)
    # the first maximum of the full float32 logits, set by set (exact: any order gives them)
    w, b = head.fc1.weight.detach(), head.fc1.bias.detach()
    for s, pred in zip(sets, res.predictions):
        logits = torch.from_numpy(z[:, s]) @ w[:, s].t() + b
        np.testing.assert_array_equal(pred, logits.argmax(-1).numpy())
    ties = [(n, s) for s in range(len(sets)) for n in range(6)]     # samples at zero: best bias, lowest label
    assert all(res.predictions[s, n] == int(b.argmax()) for n, s in ties)


def test_float32_random_head_differs_from_the_naive_loop_at_near_ties_only():
    """Rounding aside (the k products summed in another order than the BLAS kernel's), the
    block path returns the naive loop's labels; float64 margins of any difference are tiny."""
    head = structured_head(900, 6, dtype=torch.float32)
    z = data(400, 6, dtype=np.float32)
    sets = multi_node_sets(6)
    res = evaluate_sets(head, z, np.zeros(len(z), dtype=np.int64), sets, keep_predictions=True)
    naive = naive_predictions(head, z, sets)
    w = head.fc1.weight.detach().double().numpy()
    b = head.fc1.bias.detach().double().numpy()
    for i, n in zip(*np.nonzero(res.predictions != naive)):
        logits = w[:, sets[i]] @ z[n, sets[i]].astype(np.float64) + b
        gap = abs(logits[res.predictions[i, n]] - logits[naive[i, n]])
        assert gap <= 1e-5 * np.abs(logits).max(), (i, n, gap)
    assert (res.predictions != naive).mean() < 1e-3


def test_threads_and_repeats_give_the_same_labels():
    head = structured_head(800, 7, dtype=torch.float32)
    z = data(300, 7, dtype=np.float32)
    sets = multi_node_sets(7)
    y = np.zeros(len(z), dtype=np.int64)
    one = evaluate_sets(head, z, y, sets, keep_predictions=True, threads=1).predictions
    two = evaluate_sets(head, z, y, sets, keep_predictions=True, threads=2).predictions
    again = evaluate_sets(head, z, y, sets, keep_predictions=True, threads=1).predictions
    np.testing.assert_array_equal(one, two)
    np.testing.assert_array_equal(one, again)


def test_weights_whose_norms_overflow_skip_nothing_and_stay_exact(scored):
    """Weights of 2^62 (norms overflow float32): no bound, every block scored, the naive labels."""
    head, z = exact_float32_head(600, 8)
    with torch.no_grad():
        head.fc1.weight.mul_(2.0 ** 62)
        head.fc1.bias.mul_(2.0 ** 62)
    sets = head_sets(N_HEADS, D_HEAD)
    res = evaluate_sets(head, z, np.zeros(len(z), dtype=np.int64), sets, keep_predictions=True)
    assert scored["logits"] == len(sets) * len(z) * 600
    np.testing.assert_array_equal(res.predictions, naive_predictions(head, z, sets))


def test_first_argmax_is_the_first_maximum_on_every_path():
    x = torch.tensor([[1.0, 3.0, 3.0, 2.0], [0.0, -0.0, 0.0, -1.0], [-np.inf, -np.inf, -np.inf, -np.inf]])
    np.testing.assert_array_equal(first_argmax(x).numpy(), [1, 0, 0])
    # float32/64 on the CPU: numpy's argmax; bfloat16: torch's tiles (C >= 4 tiles) or torch's argmax
    for dtype in (torch.float32, torch.float64, torch.bfloat16):
        for n_classes in (16, 700):
            r = torch.randint(0, 5, (50, n_classes)).to(dtype)         # many ties
            np.testing.assert_array_equal(first_argmax(r).numpy(), r.argmax(-1).numpy())
            np.testing.assert_array_equal(first_argmax(r[:, ::3]).numpy(), r[:, ::3].argmax(-1).numpy())
            np.testing.assert_array_equal(first_argmax(r.view(5, 10, -1)).numpy(), r.view(5, 10, -1).argmax(-1).numpy())


def test_first_true_is_the_first_true_index():
    g = torch.Generator().manual_seed(1)
    mask = torch.rand((7, 9, 16), generator=g) > 0.7
    mask[0, 0] = False                                                # none: 0, as argmax gives
    np.testing.assert_array_equal(aperture._first_true(mask).numpy(), mask.to(torch.uint8).argmax(-1).numpy())


def test_flat_nonzero_lists_the_true_positions_in_order():
    g = torch.Generator().manual_seed(2)
    for size in (0, 1, 37, 5000):
        mask = torch.rand(size, generator=g) > 0.6
        assert torch.equal(aperture._flat_nonzero(mask), torch.nonzero(mask)[:, 0])


@pytest.mark.parametrize("n_labels, block", [(4096, 512), (1000, 512), (37, 8), (8, 8)])
def test_class_blocks_partition_the_labels_by_rank_with_each_blocks_maxima(n_labels, block):
    rng = np.random.default_rng(n_labels)
    norms = torch.from_numpy(rng.random(n_labels))
    bias = torch.from_numpy(np.round(rng.standard_normal(n_labels), 1))          # ties in the ranking
    edges = torch.from_numpy(np.sort(rng.random(9)))
    labels, radius, top_bias, at_edges = aperture._class_blocks(norms, bias, edges, block)
    f = (bias + edges[4] * norms).numpy()
    rank = np.argsort(-f, kind="stable")                                          # likeliest first, ties by label
    assert len(labels) == -(-n_labels // block)
    for j, piece in enumerate(labels):
        p = piece.numpy()
        np.testing.assert_array_equal(p, np.sort(rank[j * block:(j + 1) * block]))   # its ranks, ascending labels
        assert radius[j] == norms[p].max() and top_bias[j] == bias[p].max()
        np.testing.assert_array_equal(at_edges[j].numpy(), (bias[p, None] + norms[p, None] * edges).amax(0).numpy())
