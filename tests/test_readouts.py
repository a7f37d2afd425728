"""Classifier heads: determinism, learning, the tied-block (symmetric) control, save/load."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from ssb.readouts import (Readout, load_readout, load_readout_extra, node_scales, save_readout, tie_blocks, train_readout,
                       training_outcome)


def blobs(n: int, n_classes: int, dim: int, sep: float, seed: int = 0):
    """Gaussian blobs around random class centres, (z (n, dim) float32, y (n,))."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((n_classes, dim)) * sep
    y = rng.integers(0, n_classes, n)
    return (centres[y] + rng.standard_normal((n, dim))).astype(np.float32), y


def test_architecture_and_config():
    one = Readout(12, 5)
    assert one.fc1.weight.shape == (5, 12) and one.fc2 is None
    two = Readout(12, 5, layers=2, hidden=7)
    assert two.fc1.weight.shape == (7, 12) and two.fc2.weight.shape == (5, 7)
    assert two.config == {"n_in": 12, "n_classes": 5, "layers": 2, "hidden": 7}
    assert two(torch.zeros(3, 12)).shape == (3, 5)
    with pytest.raises(ValueError, match="layers must be 1 or 2"):
        Readout(12, 5, layers=3)


def test_training_is_deterministic_and_seeded():
    z, y = blobs(300, 4, 10, 2.0)
    a, hist_a = train_readout(z, y, 4, epochs=2, batch_size=64, seed=3, progress=False)
    b, hist_b = train_readout(z, y, 4, epochs=2, batch_size=64, seed=3, progress=False)
    for k, v in a.state_dict().items():
        assert torch.equal(v, b.state_dict()[k]), k
    assert hist_a == hist_b
    c, _ = train_readout(z, y, 4, epochs=2, batch_size=64, seed=4, progress=False)
    assert not torch.equal(a.fc1.weight, c.fc1.weight)
    state = torch.random.get_rng_state()
    train_readout(z, y, 4, epochs=1, progress=False)
    assert torch.equal(state, torch.random.get_rng_state())        # the global RNG is untouched


@pytest.mark.parametrize("layers", [1, 2])
def test_learns_a_separable_problem(layers):
    z, y = blobs(1500, 5, 8, 4.0, seed=1)
    head, history = train_readout(z[:1200], y[:1200], 5, layers=layers, hidden=32, epochs=25, batch_size=128,
                               lr=1e-2, progress=False)
    with torch.no_grad():
        acc = (head(torch.from_numpy(z[1200:])).argmax(-1).numpy() == y[1200:]).mean()
    assert acc > 0.95
    assert set(history[0]) == {"epoch", "train_loss", "val_loss", "val_accuracy", "lr"}
    assert history[-1]["train_loss"] < history[0]["train_loss"]


def test_early_stopping_restores_best_weights_and_absent_classes_are_fine():
    z, y = blobs(400, 3, 6, 3.0, seed=2)
    head, history = train_readout(z, y, 7, epochs=40, patience=2, lr=5e-2, batch_size=32, progress=False)
    assert head.n_classes == 7                                    # labels 3..6 never occur
    assert len(history) <= 40
    best = min(h["val_loss"] for h in history)
    n_val = round(0.1 * len(y))
    order = torch.randperm(len(y), generator=torch.Generator().manual_seed(0))
    val = order[:n_val]
    with torch.no_grad():
        logits = head(torch.from_numpy(z)[val])
        loss = torch.nn.functional.cross_entropy(logits, torch.from_numpy(y)[val]).item()
    assert loss == pytest.approx(best, rel=1e-5)


@pytest.mark.parametrize("n_heads,d_head,layers", [(12, 4, 1), (3, 5, 1), (3, 5, 2), (4, 3, 2)])
def test_tied_blocks_stay_exactly_equal(n_heads, d_head, layers):
    """Symmetric init + identical per-head node blocks + deterministic training: no breaking."""
    rng = np.random.default_rng(0)
    block = rng.standard_normal((500, d_head)).astype(np.float32)
    z = np.tile(block, (1, n_heads))                                 # z[:, h-block] == z[:, 0-block]
    y = rng.integers(0, 7, 500)
    head, _ = train_readout(z, y, 7, layers=layers, hidden=16, epochs=6, batch_size=64, tied_blocks=(n_heads, d_head),
                         progress=False)
    w = head.fc1.weight.detach()
    for h in range(1, n_heads):
        assert torch.equal(w[:, h * d_head:(h + 1) * d_head], w[:, :d_head]), f"head {h} drifted"
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        init = Readout(n_heads * d_head, 7, layers=layers, hidden=16)
    tie_blocks(init, n_heads, d_head)
    assert torch.equal(init.fc1.weight[:, :d_head], init.fc1.weight[:, d_head:2 * d_head])
    assert not torch.equal(init.fc1.weight, w)                       # the weights did train


def test_tied_blocks_break_when_node_blocks_differ():
    """The tie is only an initial condition: different node blocks pull the blocks apart."""
    rng = np.random.default_rng(0)
    z = rng.standard_normal((500, 12)).astype(np.float32)
    y = rng.integers(0, 5, 500)
    head, _ = train_readout(z, y, 5, epochs=3, batch_size=64, tied_blocks=(3, 4), progress=False)
    w = head.fc1.weight.detach()
    assert not torch.equal(w[:, 4:8], w[:, :4])
    untied, _ = train_readout(np.tile(z[:, :4], (1, 3)), y, 5, epochs=1, progress=False)
    assert not torch.equal(untied.fc1.weight[:, 4:8], untied.fc1.weight[:, :4])    # random init differs
    with pytest.raises(ValueError, match="tied_blocks"):
        train_readout(z, y, 5, epochs=1, tied_blocks=(5, 4), progress=False)


def test_save_load_roundtrip_and_mismatch(tmp_path):
    z, y = blobs(200, 3, 6, 2.0)
    head, history = train_readout(z, y, 3, layers=2, hidden=8, epochs=2, progress=False)
    path = save_readout(head, tmp_path / "head-x", extra={"history": history})
    loaded = load_readout(path, n_in=6, n_classes=3)
    assert loaded.config == head.config
    for k, v in head.state_dict().items():
        assert torch.equal(v, loaded.state_dict()[k])
    assert load_readout_extra(path)["history"][0]["epoch"] == 1
    save_readout(loaded, path)                                          # overwriting is atomic and fine
    with pytest.raises(ValueError, match="takes 6 node inputs but the node vectors have D = 12"):
        load_readout(path, n_in=12)
    with pytest.raises(ValueError, match="has 3 classes"):
        load_readout(path, n_classes=4)
    with pytest.raises(FileNotFoundError):
        load_readout(tmp_path / "nothing")


def test_training_outcome_reports_convergence_and_the_restored_epoch():
    z, y = blobs(400, 3, 6, 1.0, seed=5)
    head, history = train_readout(z, y, 3, epochs=60, patience=3, lr=5e-2, batch_size=32, progress=False)
    out = training_outcome(history, patience=3)
    assert out["converged"] is True and out["epochs_run"] < 60            # stopped by patience, not by the cap
    assert out["epochs_run"] - out["best_epoch"] == 3
    assert out["best_val_loss"] == min(h["val_loss"] for h in history)
    _, short = train_readout(z, y, 3, epochs=1, patience=3, progress=False)
    assert training_outcome(short, patience=3)["converged"] is False      # ran out of epochs
    _, no_val = train_readout(z, y, 3, epochs=2, val_fraction=0.0, progress=False)
    assert training_outcome(no_val, patience=3)["converged"] is None
    with pytest.raises(ValueError, match="empty"):
        training_outcome([], patience=3)


def test_node_scales():
    z = np.array([[3.0, 0.0, 1.0], [4.0, 0.0, -1.0]], dtype=np.float32)
    assert np.allclose(node_scales(z), [np.sqrt(12.5), 1.0, 1.0])       # a dead node keeps scale 1


@pytest.mark.parametrize("layers", [1, 2])
def test_standardised_head_is_the_head_on_scaled_inputs_and_silencing_keeps_its_meaning(layers):
    """standardize=True == training on z / s, with s folded into fc1: zeroing z_k (the limited
    aperture) is exactly zeroing the standardised input z_k / s_k."""
    from ssb.aperture import evaluate_sets
    rng = np.random.default_rng(3)
    z, y = blobs(600, 4, 8, 2.0, seed=3)
    z = (z * rng.uniform(0.01, 50.0, 8) + rng.normal(0, 5, 8)).astype(np.float32)   # wildly different node scales
    s = node_scales(z)
    kw = dict(layers=layers, hidden=16, epochs=5, batch_size=64, progress=False)
    folded, hist_a = train_readout(z, y, 4, standardize=True, **kw)
    plain, hist_b = train_readout(z / s, y, 4, standardize=False, **kw)
    assert hist_a == hist_b                                           # the same training run
    assert torch.equal(folded.fc1.weight, plain.fc1.weight / torch.from_numpy(s))
    sets = [np.array([0]), np.array([1, 5]), np.array([2, 3, 7]), np.arange(8), np.array([], dtype=int)]
    for S in sets:
        keep = np.zeros(8, dtype=np.float32)
        keep[S] = 1.0
        with torch.no_grad():
            a = folded(torch.from_numpy(z * keep))                   # raw z with z_k = 0 outside S
            b = plain(torch.from_numpy(z / s * keep))                # standardised z with z_k / s_k = 0 outside S
        assert torch.allclose(a, b, rtol=1e-4, atol=1e-4)
    res = evaluate_sets(folded, z, y, sets[:-1], min_hits=1, keep_predictions=True)    # the batched aperture
    for i, S in enumerate(sets[:-1]):
        keep = np.zeros(8, dtype=np.float32)
        keep[S] = 1.0
        with torch.no_grad():
            ref = plain(torch.from_numpy(z / s * keep)).argmax(-1).numpy()
        assert (res.predictions[i] == ref).mean() > 0.99                # argmax ties aside, identical


@pytest.mark.parametrize("layers", [1, 2])
def test_tied_blocks_stay_exactly_equal_when_standardised(layers):
    rng = np.random.default_rng(1)
    block = (rng.standard_normal((400, 4)) * [1.0, 10.0, 0.1, 3.0]).astype(np.float32)
    z = np.tile(block, (1, 3))
    y = rng.integers(0, 5, 400)
    head, _ = train_readout(z, y, 5, layers=layers, hidden=8, epochs=4, batch_size=64, tied_blocks=(3, 4),
                         standardize=True, progress=False)
    w = head.fc1.weight.detach()
    for h in range(1, 3):
        assert torch.equal(w[:, h * 4:(h + 1) * 4], w[:, :4])


def test_lr_decays_on_epochs_without_improvement():
    z, y = blobs(400, 3, 6, 1.0, seed=5)
    _, history = train_readout(z, y, 3, epochs=60, patience=3, lr=5e-2, batch_size=32, lr_decay=0.5, progress=False)
    for prev, cur in zip(history, history[1:]):
        improved = prev["val_loss"] < min(h["val_loss"] for h in history[:prev["epoch"] - 1] or [{"val_loss": np.inf}])
        assert cur["lr"] == (prev["lr"] if improved else prev["lr"] * 0.5)
    assert history[-1]["lr"] < history[0]["lr"] == 5e-2
    _, constant = train_readout(z, y, 3, epochs=60, patience=3, lr=5e-2, batch_size=32, progress=False)
    assert {h["lr"] for h in constant} == {5e-2}
    with pytest.raises(ValueError, match="lr_decay"):
        train_readout(z, y, 3, lr_decay=0.0, progress=False)


# ----------------------------------------------------------------------------- node vectors stream from disk

def test_head_trained_from_a_memory_mapped_cache_is_the_same_head(tmp_path):
    z, y = blobs(900, 4, 24, sep=2.0)
    np.save(tmp_path / "z.npy", z)
    mapped = np.load(tmp_path / "z.npy", mmap_mode="r")
    for kw in ({}, {"standardize": True}, {"tied_blocks": (3, 8), "lr_decay": 0.5}):
        a, hist_a = train_readout(z, y, 4, epochs=3, batch_size=64, progress=False, **kw)
        b, hist_b = train_readout(mapped, y, 4, epochs=3, batch_size=64, progress=False, **kw)
        assert hist_a == hist_b
        assert all(torch.equal(a.state_dict()[k], b.state_dict()[k]) for k in a.state_dict())


def test_node_scales_chunked_equal_one_reduction(monkeypatch):
    import ssb.readouts

    z = (np.random.default_rng(1).standard_normal((2500, 20)) * 5).astype(np.float32)
    z[:, 3] = 0.0
    whole = node_scales(z)
    monkeypatch.setattr(ssb.readouts, "CHUNK_ROWS", 300)               # 9 chunks
    assert np.array_equal(node_scales(z), whole)
    zd = np.asarray(z, dtype=np.float64)
    reference = np.sqrt(np.mean(zd * zd, axis=0))
    assert np.array_equal(whole, np.where(reference > 0, reference, 1.0).astype(np.float32))
    assert whole[3] == 1.0


def test_training_a_head_never_copies_the_node_vectors(tmp_path):
    """From a memory-mapped cache of 160 MB the host heap grows by a chunk (node scales), a
    batch and the head's state, not by a copy of z (the old code held z[train_idx] and its
    scaled copy: 2 copies, 320 MB)."""
    from host_memory import peak_anonymous_growth

    n, d = 52_000, 768
    mapped = np.lib.format.open_memmap(tmp_path / "z.npy", mode="w+", dtype=np.float32, shape=(n, d))
    rng = np.random.default_rng(0)
    for s in range(0, n, 10_000):
        mapped[s:s + 10_000] = rng.standard_normal((min(10_000, n - s), d), dtype=np.float32)
    mapped.flush()
    del mapped
    z = np.load(tmp_path / "z.npy", mmap_mode="r")
    y = rng.integers(0, 8, n)
    _, growth = peak_anonymous_growth(lambda: train_readout(z, y, 8, epochs=1, batch_size=512, standardize=True,
                                                         progress=False))
    assert growth < 0.4 * z.nbytes, f"heap grew by {growth / 1e6:.0f} MB for {z.nbytes / 1e6:.0f} MB of node vectors"


def test_node_rows_on_the_device_equal_rows_gathered_from_the_host(monkeypatch):
    """The GPU's code path (z copied to the device in chunks, then indexed there), run on the
    CPU: the same batches as gathering each one from the host array, with and without scale."""
    import ssb.readouts
    from ssb.readouts import NodeRows

    monkeypatch.setattr(ssb.readouts, "CHUNK_ROWS", 70)                   # several chunks, a partial last one
    z, _ = blobs(500, 3, 12, sep=1.0)
    idx = torch.from_numpy(np.random.default_rng(2).permutation(500)[:128])
    cpu = torch.device("cpu")
    for scale in (None, torch.from_numpy(node_scales(z))):
        gathered, copied = NodeRows(z, scale, cpu), NodeRows(z, scale, cpu, copy=True)
        assert gathered.on_device is None and copied.on_device is not None
        assert torch.equal(gathered[idx], copied[idx])


def test_a_head_cache_with_garbage_weights_is_retrained(tmp_path):
    """Overwrite the weights' data (header intact): the loaded head would differ silently; the
    recorded checksum catches it, the cache is deleted and UnreadableReadout raised (fit_readout
    then trains again)."""
    import numpy as np
    from ssb.readouts import Readout, UnreadableReadout, load_readout, save_readout
    head = Readout(6, 3, layers=1)
    path = save_readout(head, tmp_path / "h")
    assert load_readout(path, 6, 3) is not None
    weights = path / "head.safetensors"
    data = bytearray(weights.read_bytes())
    data[-24:] = np.random.default_rng(0).bytes(24)              # the last floats, the header untouched
    weights.write_bytes(bytes(data))
    with pytest.warns(UserWarning, match="cannot be trusted"):
        with pytest.raises(UnreadableReadout, match="differs from the checksum"):
            load_readout(path, 6, 3)
    assert not path.exists()
