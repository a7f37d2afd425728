"""The ``device`` setting: every stage's device code path gives the existing path's results.

On the CPU the device path (``device="cpu"``) must give bit-identical results to the default
path (no device argument); on CUDA (skipped without a GPU) results agree up to float rounding:
node vectors to a relative 1e-4 (fp32) or 2e-2 (bf16 autocast), heads to the same predictions
on all but a few borderline items, the aperture engine to identical predictions in float64."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from ssb.aperture import evaluate_sets
from ssb.readouts import train_readout
from ssb.model import build_bert6
from ssb.node_sets import head_sets, single_node_sets
from ssb.node_vectors import node_vectors
from ssb.profiles import get_profile, resolve_device

needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA GPU on this machine")
N_HEADS, D_HEAD = 4, 8


@pytest.fixture(scope="module")
def backbone_and_inputs():
    model = build_bert6(200, seed=0, n_blocks=2, n_heads=N_HEADS, d_head=D_HEAD, max_len=16, dropout=0.0,
                        pad_token_id=0).bert.eval()
    rng = np.random.default_rng(0)
    ids = rng.integers(5, 200, size=(40, 16)).astype(np.int64)
    am = np.ones_like(ids)
    am[::3, 12:] = 0
    ids[am == 0] = 0
    return model, ids, am


@pytest.fixture(scope="module")
def probe_data():
    rng = np.random.default_rng(1)
    z = rng.normal(size=(600, N_HEADS * D_HEAD)).astype(np.float32)
    y = (z[:, :5].argmax(1) + (z[:, 7] > 0)).astype(np.int64) % 5
    return z, y


def test_resolve_device_and_profile_field():
    assert get_profile("smoke").device == "auto"
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    assert resolve_device(torch.device("cpu")) == torch.device("cpu")
    with pytest.raises(ValueError, match="tpu"):
        resolve_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="no CUDA GPU"):
            resolve_device("cuda")


@pytest.mark.parametrize("select", ["cls", "mean", "positions"])
def test_node_vectors_device_path_matches_on_cpu(backbone_and_inputs, select):
    model, ids, am = backbone_and_inputs
    sel = am.astype(bool) if select == "positions" else select
    plain = node_vectors(model, ids, am, [1, 2], select=sel, batch_size=16, progress=False)
    on_cpu = node_vectors(model, ids, am, [1, 2], select=sel, batch_size=16, progress=False, device="cpu", bf16=True)
    for b in (1, 2):
        assert plain[b].dtype == on_cpu[b].dtype == np.float32
        assert np.array_equal(plain[b], on_cpu[b])          # bf16 is CUDA-only: ignored on the CPU
    assert next(model.parameters()).device.type == "cpu" and not model.training


def test_train_readout_device_path_matches_on_cpu(probe_data):
    z, y = probe_data
    kw = dict(epochs=3, batch_size=64, seed=3, progress=False, standardize=True)
    plain, hist_plain = train_readout(z, y, 5, **kw)
    on_cpu, hist_cpu = train_readout(z, y, 5, device="cpu", **kw)
    for a, b in zip(plain.state_dict().values(), on_cpu.state_dict().values()):
        assert torch.equal(a, b)
    assert hist_plain == hist_cpu


def test_aperture_device_path_matches_on_cpu(probe_data):
    z, y = probe_data
    head, _ = train_readout(z, y, 5, epochs=2, progress=False)
    sets = single_node_sets(N_HEADS * D_HEAD) + head_sets(N_HEADS, D_HEAD)
    plain = evaluate_sets(head, z, y, sets, keep_predictions=True)
    on_cpu = evaluate_sets(head, z, y, sets, keep_predictions=True, device="cpu", chunk_elems=2 ** 20)
    assert np.array_equal(plain.predictions, on_cpu.predictions)
    assert np.array_equal(plain.recognized, on_cpu.recognized)


@needs_cuda
@pytest.mark.parametrize("bf16", [False, True])
def test_node_vectors_cuda_agree_with_cpu(backbone_and_inputs, bf16):
    model, ids, am = backbone_and_inputs
    cpu = node_vectors(model, ids, am, [1, 2], select=am.astype(bool), progress=False)
    gpu = node_vectors(model, ids, am, [1, 2], select=am.astype(bool), progress=False, device="cuda", bf16=bf16)
    tol = 2e-2 if bf16 else 1e-4
    for b in (1, 2):
        assert gpu[b].dtype == np.float32
        scale = np.abs(cpu[b]).max()
        assert np.abs(gpu[b] - cpu[b]).max() <= tol * scale
    assert next(model.parameters()).device.type == "cpu"


@needs_cuda
def test_train_readout_and_aperture_cuda_agree_with_cpu(probe_data):
    z, y = probe_data
    kw = dict(epochs=3, batch_size=64, seed=3, progress=False)
    cpu, _ = train_readout(z, y, 5, **kw)
    gpu, _ = train_readout(z, y, 5, device="cuda", **kw)
    assert next(gpu.parameters()).device.type == "cpu"
    for a, b in zip(cpu.state_dict().values(), gpu.state_dict().values()):
        assert torch.allclose(a, b, rtol=1e-3, atol=1e-4)
    sets = single_node_sets(N_HEADS * D_HEAD) + head_sets(N_HEADS, D_HEAD) + [np.arange(N_HEADS * D_HEAD)]
    ref = evaluate_sets(cpu.double(), z.astype(np.float64), y, sets, keep_predictions=True)
    dev = evaluate_sets(cpu.double(), z.astype(np.float64), y, sets, keep_predictions=True, device="cuda")
    assert np.array_equal(ref.predictions, dev.predictions)
    assert next(cpu.parameters()).device.type == "cpu"          # the caller's head is never moved


def _finetune_inputs(tmp_path):
    from types import SimpleNamespace

    from conftest import word_tokenizer
    words = ["alpha", "beta", "gamma", "delta", "one", "two", "three"]
    tok = word_tokenizer(words)
    model = build_bert6(len(tok), seed=0, n_blocks=2, n_heads=N_HEADS, d_head=D_HEAD, max_len=16, dropout=0.0,
                        pad_token_id=tok.pad_token_id)
    model.save_pretrained(tmp_path / "ckpt")
    rng = np.random.default_rng(0)
    texts = [" ".join(rng.choice(words, size=5)) for _ in range(48)]
    labels = np.array([int("alpha" in t) for t in texts])
    split = SimpleNamespace(train_texts=texts[:32], train_labels=labels[:32], test_texts=texts[32:],
                            test_labels=labels[32:], n_labels=lambda: 2)
    return tok, split


def test_full_finetune_on_the_profile_device(tmp_path, monkeypatch):
    from ssb.finetune import full_finetune
    monkeypatch.setenv("SSB_OUTPUT_DIR", str(tmp_path / "out"))
    tok, split = _finetune_inputs(tmp_path)
    profile = get_profile("smoke", device="cpu", max_len=16)
    ref = full_finetune(profile, tmp_path / "ckpt", tok, split, steps=3, batch_size=8, progress=False)
    assert "device" not in ref["config"] and 0.0 <= ref["accuracy"] <= 1.0 and len(ref["log"]) == 3
    again = full_finetune(profile, tmp_path / "ckpt", tok, split, steps=3, batch_size=8, progress=False, force=True)
    assert [r["loss"] for r in again["log"]] == [r["loss"] for r in ref["log"]]
    if torch.cuda.is_available():
        gpu = full_finetune(profile.replace(device="cuda", mixed_precision="no"), tmp_path / "ckpt", tok, split,
                            steps=3, batch_size=8, progress=False)
        assert gpu["config"]["device"] == "cuda"
        assert np.allclose([r["loss"] for r in gpu["log"]], [r["loss"] for r in ref["log"]], rtol=1e-3)
