"""The batched aperture engine against the naive per-set loop, and its measurements."""
from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

from ssb import aperture, metrics
from ssb.aperture import evaluate_sets, first_argmax, naive_predictions, silent_accuracy, silent_prediction
from ssb.readouts import Readout
from ssb.node_sets import (all_nodes_set, flatten, head_of_node, head_sets, in_head_grid, nested_head_sets,
                           single_node_sets)

N_HEADS, D_HEAD = 4, 6
D = N_HEADS * D_HEAD


def make_head(n_classes: int, layers: int = 1, seed: int = 0, dtype=torch.float64) -> Readout:
    """A random readout with a spread-out bias (so the silent readout is not trivial)."""
    torch.manual_seed(seed)
    head = Readout(D, n_classes, layers=layers, hidden=9).to(dtype).eval()
    with torch.no_grad():
        head.fc1.bias.mul_(3)
    return head


def make_data(n: int, n_classes: int, seed: int = 0, dtype=np.float64):
    rng = np.random.default_rng(seed)
    z = rng.standard_normal((n, D)) * rng.uniform(0.2, 3.0, D)
    z[:5] = 0.0                                                      # exact ties between equal logits
    return z.astype(dtype), rng.integers(0, n_classes, n)


def mixed_sets(seed: int = 0) -> list[np.ndarray]:
    """Singles, heads, random sets of every size (in random order), and the full set."""
    rng = np.random.default_rng(seed)
    rand = [rng.choice(D, size=k, replace=False) for k in rng.integers(1, D + 1, 25)]
    return single_node_sets(D) + head_sets(N_HEADS, D_HEAD) + rand + [all_nodes_set(D)]


# n_classes=300 exercises the pruned single-node path (C >= PRUNE_MIN_CLASSES), 7 the dense one
@pytest.mark.parametrize("n_classes", [7, 300])
@pytest.mark.parametrize("layers", [1, 2])
def test_engine_equals_naive_in_float64(n_classes, layers):
    head = make_head(n_classes, layers)
    z, y = make_data(400, n_classes)
    sets = mixed_sets()
    chunk = 3000 if n_classes < 100 else 50_000                     # many small chunks
    res = evaluate_sets(head, z, y, sets, keep_predictions=True, chunk_elems=chunk)
    naive = naive_predictions(head, z, sets)
    assert res.predictions.dtype == np.int32 and res.predictions.shape == (len(sets), len(y))
    np.testing.assert_array_equal(res.predictions, naive)
    # chunking does not change anything
    again = evaluate_sets(head, z, y, sets, keep_predictions=True)
    np.testing.assert_array_equal(again.predictions, res.predictions)


@pytest.mark.parametrize("n_classes", [7, 300])
def test_single_nodes_are_bit_identical_in_float32(n_classes):
    """Single-node logits are fl(fl(z·w) + b) on both sides: equal even in float32."""
    head = make_head(n_classes, dtype=torch.float32)
    z, y = make_data(500, n_classes, seed=1, dtype=np.float32)
    sets = single_node_sets(D)
    res = evaluate_sets(head, z, y, sets, keep_predictions=True)
    np.testing.assert_array_equal(res.predictions, naive_predictions(head, z, sets))
    small = evaluate_sets(head, z, y, sets, keep_predictions=True, chunk_elems=500)   # chunks of a few samples
    np.testing.assert_array_equal(small.predictions, res.predictions)


def near_tie_head_and_samples(n_classes: int, seed: int):
    """A float32 1-FC readout whose lines meet in exact ties, 1-ulp near-ties and nearly parallel
    pairs, and node values on and within an ulp of the breakpoints of label pairs."""
    rng = np.random.default_rng(seed)
    head = make_head(n_classes, seed=seed, dtype=torch.float32)
    with torch.no_grad():
        w, b = head.fc1.weight, head.fc1.bias                          # (C, D), (C,)
        w[n_classes - 1], b[n_classes - 1] = w[3], b[3]                 # an exact duplicate of label 3
        w[n_classes - 2] = w[5]
        b[n_classes - 2] = torch.nextafter(b[5], torch.tensor(np.inf))  # label 5 raised by one ulp
        w[n_classes - 3] = torch.nextafter(w[7], torch.tensor(np.inf))  # nearly parallel to label 7
        b[n_classes - 3] = b[7]
        b[:] = torch.where(torch.rand(n_classes) < 0.3, b.round(), b)    # many equal intercepts
    z, _ = make_data(300, n_classes, seed=seed, dtype=np.float32)
    W, bb = w.detach().double().numpy(), b.detach().double().numpy()
    extra = []
    for k in range(D):                                                 # breakpoints of label pairs
        c, d = rng.choice(n_classes, 2, replace=False)
        for c, d in [(c, d), (3, 5), (7, n_classes - 3)]:
            if W[c, k] != W[d, k]:
                extra.append(((bb[d] - bb[c]) / (W[c, k] - W[d, k]), k))
    rows = np.zeros((3 * len(extra), D), dtype=np.float32)
    for i, (x, k) in enumerate(extra):
        x = np.float32(np.clip(x, -50, 50))
        rows[3 * i:3 * i + 3, k] = [np.nextafter(x, np.float32(-np.inf)), x, np.nextafter(x, np.float32(np.inf))]
    return head, np.concatenate([z, rows])


@pytest.mark.parametrize("n_classes,seed", [(12, 0), (300, 1), (1500, 2)])
def test_single_node_envelope_is_bit_identical_at_float32_near_ties(n_classes, seed):
    """The envelope answers every sample exactly as the full float32 logits fl(fl(z·w) + b) and
    their first maximum do: on exact ties, one-ulp near-ties and on the breakpoints themselves."""
    head, z = near_tie_head_and_samples(n_classes, seed)
    y = np.zeros(len(z), dtype=np.int64)
    sets = single_node_sets(D)
    res = evaluate_sets(head, z, y, sets, keep_predictions=True)
    zt = torch.from_numpy(z).t()                                                       # (D, N)
    w1t, b = head.fc1.weight.detach().t(), head.fc1.bias.detach()
    logits = zt[:, :, None] * w1t[:, None, :]                                          # (D, N, C) fl(z·w)
    logits += b                                                                        # fl(fl(z·w) + b)
    np.testing.assert_array_equal(res.predictions, logits.argmax(-1).numpy())
    np.testing.assert_array_equal(res.predictions, naive_predictions(head, z, sets))
    tiny = evaluate_sets(head, z, y, sets, keep_predictions=True, chunk_elems=64)       # one node, few samples at a time
    np.testing.assert_array_equal(tiny.predictions, res.predictions)


def assert_differ_at_near_ties_only(head, z, sets, a: np.ndarray, b: np.ndarray, relative: float = 1e-5):
    """Where predictions a and b (S, N) differ, the two labels' float64 logits are within
    ``relative`` of the largest logit's size."""
    with torch.no_grad():
        double = copy.deepcopy(head).double()
    for i, n in zip(*np.nonzero(a != b)):
        silenced = copy.deepcopy(double)
        outside = np.setdiff1d(np.arange(D), sets[i])
        with torch.no_grad():
            silenced.fc1.weight[:, outside] = 0.0
            logits = silenced(torch.from_numpy(z[n:n + 1].astype(np.float64)))[0]
        gap = abs(float(logits[a[i, n]] - logits[b[i, n]]))
        assert gap <= relative * float(logits.abs().max()), (i, n, gap)


def nested_sets() -> list[np.ndarray]:
    """Sets grown node by node inside each head (1, 2, 4, 6 nodes, two orders per head), the
    full set and the single nodes: chains 2 ⊂ 4 ⊂ 6 ⊂ all nodes, mixed with sets outside them."""
    grown = flatten(nested_head_sets(N_HEADS, D_HEAD, in_head_grid(D_HEAD), orders=2, seed=0))
    return grown + [all_nodes_set(D)] + single_node_sets(D)


def test_chain_parents_find_the_largest_nested_set():
    sets = nested_sets()
    parent = aperture.chain_parents(sets, D)
    for i, s in enumerate(sets):                                     # brute force: the largest strict subset
        inside = [j for j, t in enumerate(sets) if len(t) >= 2 and set(t) < set(s)]
        expected = max(inside, key=lambda j: (len(sets[j]), -j)) if inside else -1
        assert parent[i] == expected
    assert (parent >= 0).sum() == N_HEADS * 2 * 2 + 1               # sizes 4 and 6 of every chain, and the full set
    paths = aperture._paths(sets, parent)
    assert sorted(i for path in paths for i in path) == list(range(len(sets)))
    assert max(len(path) for path in paths) == 4                    # 2 -> 4 -> 6 -> all nodes
    heads = head_sets(N_HEADS, D_HEAD)                              # equally large: no parents (a shortcut)
    assert (aperture.chain_parents(heads + [heads[0]], D) == -1).all()
    assert aperture.chain_parents(heads + [all_nodes_set(D)], D).tolist() == [-1] * N_HEADS + [0]


@pytest.mark.parametrize("layers", [1, 2])
def test_chains_accumulate_to_the_naive_predictions(layers):
    """float64: exactly the naive loop; float32: a prediction may differ only at a near-tie of
    the float64 logits (the chain adds the new nodes' products to the previous set's sums)."""
    sets = nested_sets()
    for dtype, np_dtype in ((torch.float64, np.float64), (torch.float32, np.float32)):
        head = make_head(300, layers, seed=4, dtype=dtype)
        z, y = make_data(600, 300, seed=4, dtype=np_dtype)
        res = evaluate_sets(head, z, y, sets, keep_predictions=True, chunk_elems=40_000)
        naive = naive_predictions(head, z, sets)
        if dtype == torch.float64:
            np.testing.assert_array_equal(res.predictions, naive)
            continue
        assert_differ_at_near_ties_only(head, z, sets, res.predictions, naive)


def test_predictions_equal_the_engine_before_the_envelope_and_the_chains():
    """All committed results come from the engine at BEFORE_REVISION: in float32 today's engine
    returns its single-node predictions bit for bit, and other sets' up to float32 near-ties."""
    import subprocess
    from ssb.bench.paper import BEFORE_REVISION, engine_at
    try:
        before = engine_at(BEFORE_REVISION)
    except (OSError, subprocess.CalledProcessError) as err:
        pytest.skip(f"the engine at {BEFORE_REVISION} is not in this checkout: {err}")
    sets = nested_sets() + head_sets(N_HEADS, D_HEAD)
    for n_classes, seed in ((300, 5), (12, 6)):
        head, z = near_tie_head_and_samples(n_classes, seed)
        y = np.zeros(len(z), dtype=np.int64)
        now = evaluate_sets(head, z, y, sets, keep_predictions=True).predictions
        then = before.evaluate_sets(head, z, y, sets, keep_predictions=True).predictions
        singles = np.array([len(s) == 1 for s in sets])
        np.testing.assert_array_equal(now[singles], then[singles])
        assert_differ_at_near_ties_only(head, z, sets, now, then)


def test_a_node_with_every_label_tied_is_scored_directly(monkeypatch):
    """A silent node (all values 0) of a head with equal biases ties all 300 labels everywhere:
    too many candidates for the O(m²) envelope; the direct scoring gives the lowest label, as naive."""
    head = make_head(300, dtype=torch.float32)
    with torch.no_grad():
        head.fc1.bias.zero_()
    z, y = make_data(200, 300, seed=7, dtype=np.float32)
    z[:, 3] = 0.0
    sets = single_node_sets(D)
    widths = []
    line_ranges = aperture._line_ranges
    monkeypatch.setattr(aperture, "_line_ranges", lambda w, *a: widths.append(w.shape[1]) or line_ranges(w, *a))
    res = evaluate_sets(head, z, y, sets, keep_predictions=True)
    assert max(widths) < 300                                          # node 3 kept out of it
    np.testing.assert_array_equal(res.predictions, naive_predictions(head, z, sets))
    assert (res.predictions[3] == 0).all()


def test_ties_go_to_the_lowest_label():
    head = make_head(300)
    with torch.no_grad():                                            # labels 40 and 7 identical to label 250
        for c in (40, 7):
            head.fc1.weight[c] = head.fc1.weight[250]
            head.fc1.bias[c] = head.fc1.bias[250]
        head.fc1.bias[250] += 100.0                                  # ... and 250 made the winner
        head.fc1.bias[[7, 40]] += 100.0
    z, y = make_data(100, 300, seed=2)
    sets = single_node_sets(D) + head_sets(N_HEADS, D_HEAD)
    res = evaluate_sets(head, z, y, sets, keep_predictions=True)
    np.testing.assert_array_equal(res.predictions, naive_predictions(head, z, sets))
    assert (res.predictions == 7).all()


def test_envelope_candidates_keep_few_labels_and_every_winner():
    head = make_head(300)
    z, _ = make_data(400, 300)
    zt = torch.from_numpy(z).t().contiguous()                                         # (D, N)
    w1t = head.fc1.weight.detach().t().contiguous()                                   # (D, C)
    b = head.fc1.bias.detach()
    lo, hi = zt.amin(1, keepdim=True), zt.amax(1, keepdim=True)
    tol = torch.full((D, 1), 1e-9, dtype=torch.float64)
    every = torch.ones(w1t.shape, dtype=torch.bool)
    for anchors, valid in ((2, None), (4, every), (32, None)):
        mask = aperture._envelope_candidates(lo, hi, w1t, b.expand(D, -1), valid, tol, anchors)   # (D, C)
        logits = zt[:, :, None] * w1t[:, None, :] + b                                   # (D, N, C)
        assert mask.gather(1, logits.argmax(-1)).all()
        assert mask.sum(1).float().mean() < 0.2 * 300


def test_first_argmax_matches_torch_with_ties():
    g = torch.Generator().manual_seed(0)
    for n_classes in (5, 700, 1024, 1031):
        x = torch.randint(-2, 3, (3, 40, n_classes), generator=g).float()          # many ties
        assert torch.equal(first_argmax(x), x.argmax(-1))
        x[..., -1] = 9.0                                                            # maximum in the tail
        assert torch.equal(first_argmax(x), x.argmax(-1))


def test_result_measurements_match_metrics():
    head = make_head(7)
    z, y = make_data(300, 7)
    sets = head_sets(N_HEADS, D_HEAD) + [all_nodes_set(D)]
    res = evaluate_sets(head, z, y, sets, min_hits=2, min_count=10, keep_predictions=True)
    assert res.diag.dtype == np.int32 and res.col.dtype == np.int32
    np.testing.assert_array_equal(res.sizes, [D_HEAD] * N_HEADS + [D])
    for i in range(len(sets)):
        pred = res.predictions[i]
        c = metrics.label_counts(y, pred, 7)
        np.testing.assert_array_equal(res.diag[i], c.diag)
        np.testing.assert_array_equal(res.col[i], c.col)
        assert res.accuracy[i] == pytest.approx((pred == y).mean())
        assert res.apt_mean[i] == pytest.approx(metrics.apt(c, min_count=10)[1])
        np.testing.assert_array_equal(res.predicted[i], c.col > 0)
        np.testing.assert_array_equal(res.recognized[i], metrics.recognized_mask(c.diag, c.col, metrics.base_rate(c.row),
                                                                                  min_hits=2))
        np.testing.assert_array_equal(res.recognized_chance_rule[i], metrics.recognized_chance_rule(c.diag, c.col, min_hits=2))
        assert res.n_recognized_chance_rule[i] == res.recognized_chance_rule[i].sum()
        assert res.n_predicted[i] == (c.col > 0).sum() and res.n_recognized[i] == res.recognized[i].sum()
        dc = metrics.diagonal_confidence(c.diag, c.col)
        assert res.mean_dc[i] == pytest.approx(dc[c.col > 0].mean())
        np.testing.assert_array_equal(res.confusion(i, sparse=False), metrics.confusion_matrix(y, pred, 7))
    np.testing.assert_array_equal(res.row, np.bincount(y, minlength=7))
    np.testing.assert_allclose(res.diagonal_confidence(), metrics.diagonal_confidence(res.diag, res.col))
    assert res.chance == pytest.approx(1 / 7)
    no_preds = evaluate_sets(head, z, y, sets)
    assert no_preds.predictions is None
    with pytest.raises(ValueError, match="keep_predictions=True"):
        no_preds.confusion(0)


@pytest.mark.parametrize("n_classes,min_count", [(7, 1), (7, 40), (600, 1), (600, 3)])
def test_sparse_measurements_are_bit_identical_to_the_dense_expressions(n_classes, min_count):
    """``_result`` works on the predicted (set, label) pairs only; its means must equal, bit for
    bit, the dense (S, C) expressions it replaced: (diag[:, kept] / row[kept]).mean(1) and
    np.nanmean(DC, axis=1), and the recognised sets those of ``metrics`` on the dense counts."""
    rng = np.random.default_rng(n_classes + min_count)
    y = rng.integers(0, n_classes, 900)
    preds = rng.integers(0, n_classes, (40, 900)).astype(np.int32)
    preds[:8] = y                                               # sets that hit often: many recognised labels
    preds[8:16] = np.where(rng.random((8, 900)) < 0.5, y, preds[8:16])
    preds[16:20] = rng.integers(0, 3, (4, 900))                  # few labels predicted
    sets = [np.array([i]) for i in range(40)]
    res = aperture._result(preds, y, sets, n_classes, 3, 1 / n_classes, min_count, True)
    diag, col, row = metrics.label_counts_batched(y, preds, n_classes)
    keep = row >= min_count
    np.testing.assert_array_equal(res.apt_mean, (diag[:, keep] / row[keep]).mean(1))
    with np.errstate(invalid="ignore"):
        np.testing.assert_array_equal(res.mean_dc, np.nanmean(metrics.diagonal_confidence(diag, col), axis=1))
    np.testing.assert_array_equal(res.accuracy, diag.sum(1) / len(y))
    np.testing.assert_array_equal(res.recognized, metrics.recognized_mask(diag, col, metrics.base_rate(row), min_hits=3))
    np.testing.assert_array_equal(res.recognized_chance_rule, metrics.recognized_chance_rule(diag, col, min_hits=3))
    np.testing.assert_array_equal(res.n_recognized, res.recognized.sum(1))
    np.testing.assert_array_equal(res.n_predicted, (col > 0).sum(1))
    assert res.recognized[:8].any() and res.diag.dtype == np.int32


@pytest.mark.parametrize("layers", [1, 2])
def test_silent_head(layers):
    head = make_head(7, layers)
    with torch.no_grad():
        expected = int(head(torch.zeros(1, D, dtype=torch.float64)).argmax())
    assert silent_prediction(head) == expected
    if layers == 1:
        assert expected == int(head.fc1.bias.argmax())
    y = np.array([expected, expected, (expected + 1) % 7, expected])
    assert silent_accuracy(head, y) == 0.75


def test_boolean_masks_equal_index_sets():
    head = make_head(7)
    z, y = make_data(200, 7)
    sets = mixed_sets(seed=3)
    masks = np.zeros((len(sets), D), dtype=bool)
    for i, s in enumerate(sets):
        masks[i, s] = True
    a = evaluate_sets(head, z, y, sets, keep_predictions=True)
    b = evaluate_sets(head, z, y, masks, keep_predictions=True)
    np.testing.assert_array_equal(a.predictions, b.predictions)
    assert all(np.array_equal(s, np.sort(t)) for s, t in zip(b.sets, sets))


def test_node_set_helpers():
    assert [s.tolist() for s in single_node_sets(3)] == [[0], [1], [2]]
    heads = head_sets(3, 4)
    assert heads[1].tolist() == [4, 5, 6, 7]
    for h, s in enumerate(heads):
        assert (head_of_node(s, 4) == h).all()
    assert all_nodes_set(5).tolist() == [0, 1, 2, 3, 4]


def test_bad_sets_and_inputs_are_rejected():
    head = make_head(7)
    z, y = make_data(50, 7)
    with pytest.raises(ValueError, match=r"node set 1 is empty.*silent_prediction"):
        evaluate_sets(head, z, y, [[0], []])
    with pytest.raises(ValueError, match=rf"node set 2 holds node {D}, outside the valid range 0\.\.{D - 1}"):
        evaluate_sets(head, z, y, [[0], [1], [3, D]])
    with pytest.raises(ValueError, match="node set 0 holds node -1"):
        evaluate_sets(head, z, y, [[-1, 2]])
    with pytest.raises(ValueError, match="node set 1 lists node 4 more than once"):
        evaluate_sets(head, z, y, [[0], [4, 2, 4]])
    with pytest.raises(ValueError, match="integer node indices"):
        evaluate_sets(head, z, y, [[0.5, 1.0]])
    with pytest.raises(ValueError, match=r"shape \(S, 24\)"):
        evaluate_sets(head, z, y, np.ones((2, 5), dtype=bool))
    with pytest.raises(ValueError, match="labels outside 0..6"):
        evaluate_sets(head, z, np.full(50, 7), [[0]])
    with pytest.raises(ValueError, match="n_classes=9 but the readout has 7 outputs"):
        evaluate_sets(head, z, y, [[0]], n_classes=9)
    with pytest.raises(ValueError, match=r"z must be \(N, 24\)"):
        evaluate_sets(head, z[:, :5], y, [[0]])
    with pytest.raises(ValueError, match="node set 0 is empty"):
        naive_predictions(head, z, [[]])


def test_thread_setting_is_restored():
    head = make_head(7)
    z, y = make_data(60, 7)
    before = torch.get_num_threads()
    for threads in (1, 2, None):
        evaluate_sets(head, z, y, [[0], [1, 2]], threads=threads)
        assert torch.get_num_threads() == before
    with pytest.raises(ValueError, match="threads must be a positive integer"):
        evaluate_sets(head, z, y, [[0]], threads=0)


def test_node_sets_checked_at_once_equal_the_per_set_check():
    """The vectorised check returns what checking set by set returns: sorted int64 arrays."""
    rng = np.random.default_rng(3)
    sets = [rng.choice(D, size=k, replace=False).astype(dtype)
            for k, dtype in zip(rng.integers(1, D + 1, 40), [np.int32, np.int64, np.uint8, np.int16] * 10)]
    sets += [[5, 1, 3], (2,), np.array([0])]
    checked = aperture.check_node_sets(sets, D)
    assert [s.dtype for s in checked] == [np.dtype(np.int64)] * len(sets)
    assert all(np.array_equal(c, np.sort(np.asarray(s, dtype=np.int64))) for c, s in zip(checked, sets))
    assert aperture.check_node_sets([], D) == []
    empty = aperture.check_node_sets([[], [2, 1]], D, allow_empty=True)
    assert empty[0].size == 0 and empty[1].tolist() == [1, 2]


def test_non_finite_node_values_are_rejected():
    head = make_head(7)
    z, y = make_data(50, 7)
    for bad in (np.nan, np.inf, -np.inf):
        z_bad = z.copy()
        z_bad[17, 3] = bad
        with pytest.raises(ValueError, match="NaN or infinite"):
            evaluate_sets(head, z_bad, y, [[0]])


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_doubtful_samples_scored_alike_in_numpy_and_torch(dtype):
    """The samples left in doubt (-1) get the first maximum of fl(fl(x·w) + b) over the node's
    candidates, in numpy (the CPU path) exactly as in torch (the GPU path): constructed ties
    (equal slopes and biases, x = 0) go to the lowest candidate; answered samples stay."""
    gen = torch.Generator().manual_seed(3)
    n_nodes, n_samples, m = 5, 300, 7
    x = torch.randn(n_nodes, n_samples, generator=gen, dtype=torch.float64).to(dtype)
    x[:, :20] = 0.0                                                               # every candidate ties at b
    cand = torch.sort(torch.randperm(40, generator=gen)[:m]).values.repeat(n_nodes, 1)
    w = torch.round(torch.randn(n_nodes, m, generator=gen, dtype=torch.float64) * 2).to(dtype) / 2
    b = torch.round(torch.randn(n_nodes, m, generator=gen, dtype=torch.float64) * 2).to(dtype) / 2
    w[:, 3], b[:, 3] = w[:, 1], b[:, 1]                                           # a label equal to an earlier one
    b[:, :3] = b.amax(1, keepdim=True)                                            # three labels tie at the top bias
    out = torch.full((n_nodes, n_samples), -1, dtype=torch.int32)
    keep = torch.rand(n_nodes, n_samples, generator=gen) < 0.5
    out[keep] = 99                                                                # answered: left as they are
    logits = x[:, :, None] * w[:, None, :] + b[:, None, :]                       # (G, N, m), one rounding each
    expected = torch.where(keep, 99, cand.gather(1, torch.from_numpy(np.argmax(logits.numpy(), axis=2))).to(torch.int32))
    got_np, got_torch = out.clone(), out.clone()
    aperture._score_doubtful_numpy(got_np, x, cand, w, b, chunk_elems=64)        # several chunks
    aperture._score_doubtful_torch(got_torch, x, cand, w, b, chunk_elems=64)
    assert torch.equal(got_np, expected) and torch.equal(got_torch, expected)
    assert (expected[:, :20][~keep[:, :20]] == cand[0, 0]).all()                 # x = 0: the lowest of the tied


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_segment_lookup_equals_a_binary_search(dtype):
    """``_segment_labels`` (a bucket table instead of a search per sample) answers every sample
    the binary search would answer with certainty, and leaves in doubt (-1) every sample on an
    end, on an uncertain segment, and only few others: ends on and within an ulp of samples,
    ends at lo and hi, repeated ends, unused (+inf) ends, a node whose values are all equal."""
    gen = torch.Generator().manual_seed(0)
    n_nodes, n_samples, n_ends = 9, 700, 12
    x = (torch.randn(n_nodes, n_samples, generator=gen, dtype=torch.float64) * 3).to(dtype)
    x[4] = 1.25                                                                   # lo == hi
    lo, hi = x.amin(1, keepdim=True), x.amax(1, keepdim=True)
    ends = (lo.double() + (hi - lo).double() * torch.rand(n_nodes, n_ends, generator=gen, dtype=torch.float64))
    ends[:, 0], ends[:, 1] = lo[:, 0].double(), hi[:, 0].double()                # the range's own ends
    ends[:, 2] = x[:, 7].double()                                                 # exactly on a sample
    ends[:, 3] = torch.nextafter(x[:, 8], torch.tensor(np.inf, dtype=dtype)).double()   # an ulp above one
    ends[:, 4] = ends[:, 5]                                                       # a repeated end
    ends[:, 10:] = np.inf                                                         # unused
    ends[4, :10] = 1.25
    ends = torch.sort(ends, 1).values
    owner = torch.randint(0, 30, (n_nodes, n_ends), generator=gen)
    certain = torch.rand(n_nodes, n_ends, generator=gen) < 0.8
    certain[:, 0] = False
    got = aperture._segment_labels(x, lo, hi, ends, owner, certain, n_buckets=64)
    seg = torch.searchsorted(ends, x.double()).clamp_(max=n_ends - 1)
    on_end = ends.gather(1, seg) == x.double()
    expected = torch.where(certain.gather(1, seg) & ~on_end, owner.gather(1, seg), -1)
    answered = got >= 0
    assert torch.equal(got[answered], expected[answered])                        # never a wrong label
    assert (got[expected < 0] == -1).all()                                        # ends and uncertain: in doubt
    assert (got[:, 7] == -1).all() and (got[4] == -1).all()
    assert answered.sum() >= 0.7 * (expected >= 0).sum()                          # most certain samples answered


# ----------------------------------------------------------------------------- the exact single-node envelope

def assert_single_nodes_bit_identical(head, z):
    """Every single node's predictions equal the naive loop's, and the full float32 logits'
    first maximum fl(fl(z·w) + b), bit for bit; so do those of tiny chunks (few samples each)."""
    y = np.zeros(len(z), dtype=np.int64)
    sets = single_node_sets(D)
    res = evaluate_sets(head, z, y, sets, keep_predictions=True)
    np.testing.assert_array_equal(res.predictions, naive_predictions(head, z, sets))
    zt = torch.from_numpy(z).t()                                                       # (D, N)
    logits = zt[:, :, None] * head.fc1.weight.detach().t()[:, None, :]                  # (D, N, C) fl(z·w)
    logits += head.fc1.bias.detach()                                                   # fl(fl(z·w) + b)
    np.testing.assert_array_equal(res.predictions, logits.argmax(-1).numpy())
    tiny = evaluate_sets(head, z, y, sets, keep_predictions=True, chunk_elems=64)
    np.testing.assert_array_equal(tiny.predictions, res.predictions)
    return res.predictions


def float32_head(n_classes: int, seed: int) -> Readout:
    head = make_head(n_classes, seed=seed, dtype=torch.float32)
    with torch.no_grad():
        head.fc1.weight.mul_(torch.rand(n_classes, 1) * 4)             # slopes of many sizes
    return head


@pytest.mark.parametrize("n_classes,seed", [(1, 0), (2, 1), (3, 2), (16, 3), (33, 4), (4096, 5)])
def test_single_nodes_of_random_readouts_are_bit_identical(n_classes, seed):
    """C = 1 (every sample label 0), C = 2, the small-C path, just above it, and a token-sized head."""
    head = float32_head(n_classes, seed)
    z, _ = make_data(400 if n_classes < 4096 else 150, n_classes, seed=seed, dtype=np.float32)
    preds = assert_single_nodes_bit_identical(head, z)
    if n_classes == 1:
        assert (preds == 0).all()


@pytest.mark.parametrize("n_classes", [5, 300])
def test_duplicate_and_parallel_lines_resolve_to_the_lowest_label(n_classes):
    """Equal lines (same slope and intercept) tie everywhere: the lowest label wins.  Parallel
    lines (same slope) never cross: the higher intercept wins, on equal intercepts the lowest."""
    head = float32_head(n_classes, seed=8)
    with torch.no_grad():
        w, b = head.fc1.weight, head.fc1.bias
        b += 5.0 - b.max()                                               # label 4 on top when raised below
        w[n_classes - 1], b[n_classes - 1] = w[4], b[4]                  # a duplicate of label 4, above it
        w[2], b[2] = w[4], b[4]                                          # ... and one below it
        w[3] = w[4]                                                      # parallel to 4, lower
        b[3] = b[4] - 0.5
        w[0] = w[1]                                                      # parallel, equal up to the last ulp
        b[0] = torch.nextafter(b[1], torch.tensor(-np.inf))
        b[[2, 4, n_classes - 1]] += 20.0                                 # the duplicates win wherever z is small
    z, _ = make_data(300, n_classes, seed=8, dtype=np.float32)
    preds = assert_single_nodes_bit_identical(head, z)
    assert (preds != 4).all() and (preds != n_classes - 1).all()         # label 2 wins each of their ties
    assert (preds == 2).any()


def test_a_head_with_zero_weights_predicts_its_bias_argmax():
    """Zero weights: every line flat, the prediction is the first maximum of the biases, also on
    nodes whose slopes are all zero in a head with some non-zero columns."""
    head = float32_head(40, seed=9)
    with torch.no_grad():
        head.fc1.weight[:, ::2] = 0.0                                    # half the nodes silent in the head
        head.fc1.bias[[7, 30]] = head.fc1.bias.max() + 1.0               # an exact tie of biases: 7 wins
    z, _ = make_data(200, 40, seed=9, dtype=np.float32)
    preds = assert_single_nodes_bit_identical(head, z)
    assert (preds[::2] == 7).all()
    with torch.no_grad():
        head.fc1.weight.zero_()
    assert (assert_single_nodes_bit_identical(head, z) == 7).all()


@pytest.mark.parametrize("n_classes,seed", [(2, 10), (16, 11), (700, 12)])
def test_samples_on_every_envelope_breakpoint_are_bit_identical(n_classes, seed):
    """Node values exactly on (as near as float32 gets), and one ulp either side of, the
    crossing of every pair of labels on every node: every breakpoint of every envelope among them."""
    head = float32_head(n_classes, seed)
    w = head.fc1.weight.detach().double().numpy()                        # (C, D)
    b = head.fc1.bias.detach().double().numpy()
    rng = np.random.default_rng(seed)
    pairs = [(c, d) for c in range(n_classes) for d in range(c)] if n_classes <= 16 else \
        [tuple(rng.choice(n_classes, 2, replace=False)) for _ in range(60)]
    rows = []
    for k in range(D):
        for c, d in pairs:
            if w[c, k] != w[d, k]:
                x = np.float32(np.clip((b[d] - b[c]) / (w[c, k] - w[d, k]), -1e3, 1e3))
                for v in (np.nextafter(x, np.float32(-np.inf)), x, np.nextafter(x, np.float32(np.inf))):
                    row = np.zeros(D, dtype=np.float32)
                    row[k] = v
                    rows.append(row)
    z, _ = make_data(100, n_classes, seed=seed, dtype=np.float32)
    assert_single_nodes_bit_identical(head, np.concatenate([z, np.stack(rows)]))


def _line_ranges_reference(w, b, valid, lo, hi, slack):
    """The half-line intersection, one pair of lines at a time (float64)."""
    g_n, m = w.shape
    start = torch.full((g_n, m), float("inf"), dtype=torch.float64)
    end = torch.full((g_n, m), float("inf"), dtype=torch.float64)
    for g in range(g_n):
        s_g = float(slack[g, 0]) if torch.is_tensor(slack) else slack
        for c in range(m):
            if not valid[g, c]:
                continue
            a, z, empty = float(lo[g, 0]), float(hi[g, 0]), False
            for d in range(m):
                if d == c or not valid[g, d]:
                    continue
                dw = float(w[g, c] - w[g, d])
                need = float(b[g, d] - b[g, c] - s_g)
                if dw > 0:
                    a = max(a, need / dw)
                elif dw < 0:
                    z = min(z, need / dw)
                elif need > 0:
                    empty = True
            if not empty and a <= z:
                start[g, c], end[g, c] = a, z
    return start, end


@pytest.mark.parametrize("slack", [0.0, 0.05, "per node"])
def test_line_ranges_match_the_pairwise_half_lines(slack):
    g = torch.Generator().manual_seed(3)
    n_nodes, m = 9, 7
    w = torch.round(torch.randn(n_nodes, m, generator=g, dtype=torch.float64) * 4) / 4   # equal slopes occur
    b = torch.round(torch.randn(n_nodes, m, generator=g, dtype=torch.float64) * 4) / 4
    w[0] = 1.0                                                    # all parallel: only the top intercepts survive
    valid = torch.rand(n_nodes, m, generator=g) > 0.2
    valid[:, 0] = True
    valid[1] = True
    lo, hi = -torch.rand(n_nodes, 1, generator=g, dtype=torch.float64) * 3, torch.rand(n_nodes, 1, generator=g, dtype=torch.float64) * 3
    s = torch.rand(n_nodes, 1, generator=g, dtype=torch.float64) * 0.1 if slack == "per node" else slack
    got = aperture._line_ranges(w, b, valid, lo, hi, s)
    ref = _line_ranges_reference(w, b, valid, lo, hi, s)
    for x, y in zip(got, ref):
        assert torch.equal(x, y)
    all_valid = torch.ones_like(valid)                            # the path without padding
    for x, y in zip(aperture._line_ranges(w, b, all_valid, lo, hi, s), _line_ranges_reference(w, b, all_valid, lo, hi, s)):
        assert torch.equal(x, y)
