"""NaN anywhere stops the run, naming the stage, and nothing non-finite is cached (issue 23, item 3).

Each test poisons one stage's input with a NaN and checks that the stage stops with a
FloatingPointError naming it, and that its cache stays empty."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from ssb.readouts import fit_readout, train_readout
from ssb.node_vectors import cached_node_vectors, node_vectors
from ssb.probes import Probe
from ssb.profiles import get_profile
from test_device import _finetune_inputs

pytestmark = pytest.mark.usefixtures("one_thread")


def test_full_finetune_stops_on_a_nan_loss_and_caches_nothing(tmp_path, monkeypatch):
    from ssb import finetune

    monkeypatch.setenv("SSB_OUTPUT_DIR", str(tmp_path / "out"))
    tok, split = _finetune_inputs(tmp_path)
    profile = get_profile("smoke", device="cpu", max_len=16)
    real_cross_entropy = finetune.F.cross_entropy
    monkeypatch.setattr(finetune.F, "cross_entropy", lambda *a, **k: real_cross_entropy(*a, **k) * float("nan"))
    with pytest.raises(FloatingPointError, match=r"full fine-tuning of checkpoint .*ckpt: the loss is nan at step 1 "
                       r"of 3 .*nothing was cached\. Lower finetune_lr"):
        finetune.full_finetune(profile, tmp_path / "ckpt", tok, split, steps=3, batch_size=8, progress=False)
    assert not list((tmp_path / "out").rglob("full-*.json"))


def test_a_changed_fine_tuning_result_is_recomputed(tmp_path, monkeypatch):
    """The cached result is valid JSON with another accuracy: its digest catches it."""
    import json

    from ssb import finetune

    monkeypatch.setenv("SSB_OUTPUT_DIR", str(tmp_path / "out"))
    tok, split = _finetune_inputs(tmp_path)
    profile = get_profile("smoke", device="cpu", max_len=16)
    first = finetune.full_finetune(profile, tmp_path / "ckpt", tok, split, steps=2, batch_size=8, progress=False)
    [path] = list((tmp_path / "out").rglob("full-*.json"))
    record = json.loads(path.read_text())
    record["content"]["accuracy"] = 0.99
    path.write_text(json.dumps(record))
    with pytest.warns(UserWarning, match="fine-tuning cache .* differs from the digest"):
        again = finetune.full_finetune(profile, tmp_path / "ckpt", tok, split, steps=2, batch_size=8, progress=False)
    assert again["accuracy"] == first["accuracy"] != 0.99


def test_full_finetune_refuses_a_checkpoint_with_nan_weights(tmp_path, monkeypatch):
    from safetensors.torch import load_file, save_file

    from ssb import finetune

    monkeypatch.setenv("SSB_OUTPUT_DIR", str(tmp_path / "out"))
    tok, split = _finetune_inputs(tmp_path)
    weights_file = tmp_path / "ckpt" / "model.safetensors"
    weights = load_file(str(weights_file))
    name = next(k for k in weights if "attention.self.query.weight" in k)
    weights[name][0, 0] = float("nan")
    save_file(weights, str(weights_file), metadata={"format": "pt"})
    with pytest.raises(FloatingPointError, match=r"full fine-tuning: checkpoint .*ckpt holds NaN or infinite "
                       r"weights \(.*attention\.self\.query\.weight"):
        finetune.full_finetune(get_profile("smoke", device="cpu", max_len=16), tmp_path / "ckpt", tok, split,
                               steps=3, batch_size=8, progress=False)
    assert not list((tmp_path / "out").rglob("full-*.json"))


def _probe(z: np.ndarray, y: np.ndarray) -> Probe:
    return Probe(z_train={6: z}, y_train=y, z_test={6: z}, y_test=y, n_classes=3, label_names=list("abc"),
                 n_heads=2, d_head=4, checkpoint_fp="fp-123")


def test_head_training_stops_on_nan_node_vectors_and_caches_nothing(tmp_path):
    rng = np.random.default_rng(0)
    z, y = rng.normal(size=(60, 8)).astype(np.float32), rng.integers(0, 3, 60)
    z[17, 3] = np.nan
    with pytest.raises(FloatingPointError, match=r"readout training: the loss is nan in epoch 1 because the node "
                       r"vectors of this batch hold NaN"):
        train_readout(z, y, 3, epochs=2, batch_size=16, progress=False)
    profile = get_profile("smoke", readout_epochs=2)
    with pytest.raises(FloatingPointError, match=r"labels probe, block 6, backbone weights fp-123; nothing was cached"):
        fit_readout(profile, _probe(z, y), 6, progress=False, cache_dir=tmp_path)
    assert not list(tmp_path.iterdir())


def test_head_training_stops_on_a_diverging_loss(monkeypatch):
    from ssb import readouts

    real_forward = readouts._forward
    monkeypatch.setattr(readouts, "_forward", lambda *a: real_forward(*a) * float("inf"))    # logits overflow
    rng = np.random.default_rng(0)
    z, y = rng.normal(size=(60, 8)).astype(np.float32), rng.integers(0, 3, 60)
    with pytest.raises(FloatingPointError, match=r"readout training: the loss is nan in epoch 1 \(lr 0\.003\); "
                       r"lower readout_lr \(-p readout_lr 0\.0003\)"):
        train_readout(z, y, 3, epochs=2, batch_size=16, lr=3e-3, progress=False)


def test_extraction_stops_on_nan_node_vectors_and_caches_nothing(tmp_path):
    from transformers import BertConfig, BertModel

    model = BertModel(BertConfig(vocab_size=20, hidden_size=8, num_hidden_layers=2, num_attention_heads=2,
                                 intermediate_size=16, max_position_embeddings=16), add_pooling_layer=False)
    with torch.no_grad():
        model.encoder.layer[0].attention.self.value.weight[0, 0] = float("nan")
    ids = np.ones((5, 6), dtype=np.int64)
    with pytest.raises(FloatingPointError, match=r"node-vector extraction: block 1 gives NaN or infinite node "
                       r"vectors for input rows 0\.\.4 .*nothing was cached"):
        cached_node_vectors(tmp_path, {"weights": "w", "blocks": [1]},
                            lambda allocate: node_vectors(model, ids, np.ones_like(ids), [1], progress=False,
                                                          allocate=allocate))
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(("nodes-", ".nodes-"))]
