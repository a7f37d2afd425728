"""Foreign checkpoints are verified, not trusted, and derived files heal (issue 12).

Every model here is built locally with transformers (tiny configs, no download)."""
from __future__ import annotations

import json
import multiprocessing
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

from conftest import word_tokenizer
from ssb import atomic, backbones, corpus
from ssb.backbones import load_backbone
from ssb.node_vectors import cached_node_vectors

pytestmark = pytest.mark.usefixtures("one_thread")

WORDS = ["the", "cat", "dog", "sees", "a", "bird", "."]
SMALL = dict(hidden_size=16, num_hidden_layers=3, num_attention_heads=2, intermediate_size=32,
             max_position_embeddings=32)


def save_bert(directory: Path, with_tokenizer: bool = True, mlm_head: bool = True) -> Path:
    from transformers import BertConfig, BertForMaskedLM, BertModel

    tok = word_tokenizer(WORDS)
    torch.manual_seed(0)
    cfg = BertConfig(vocab_size=len(tok), pad_token_id=tok.pad_token_id, **SMALL)
    (BertForMaskedLM(cfg) if mlm_head else BertModel(cfg, add_pooling_layer=False)).save_pretrained(directory)
    if with_tokenizer:
        tok.save_pretrained(directory)
    return directory


def test_bert_with_unused_mlm_head_loads_with_its_own_geometry(tmp_path, capsys):
    d = save_bert(tmp_path / "bert")
    model = load_backbone(d)
    assert (model.config.num_hidden_layers, model.config.hidden_size) == (3, 16)
    bb = backbones.backbone(None, checkpoint=str(d))
    assert "3 blocks, 2 heads x d_h 8 (hidden 16)" in capsys.readouterr().out
    assert bb.source == str(d) and len(bb.tokenizer) == len(WORDS) + 5


def test_gpt2_directory_is_refused_naming_its_type(tmp_path):
    from transformers import GPT2Config, GPT2Model

    d = tmp_path / "gpt2"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        GPT2Model(GPT2Config(n_layer=6, n_head=4, n_embd=48, vocab_size=50, n_positions=32,
                             bos_token_id=0, eos_token_id=0)).save_pretrained(d)
    word_tokenizer(WORDS).save_pretrained(d)
    with pytest.raises(ValueError, match=r"model_type 'gpt2'.*supported: bert"):
        load_backbone(d)
    with pytest.raises(ValueError, match="model_type 'gpt2'"):
        backbones.backbone(None, checkpoint=str(d))


@pytest.mark.parametrize("kind", ["roberta", "distilbert"])
def test_roberta_and_distilbert_are_refused_clearly(tmp_path, kind):
    from transformers import DistilBertConfig, DistilBertModel, RobertaConfig, RobertaModel

    d = tmp_path / kind
    if kind == "roberta":
        RobertaModel(RobertaConfig(vocab_size=50, **SMALL)).save_pretrained(d)
    else:
        DistilBertModel(DistilBertConfig(vocab_size=50, dim=16, n_layers=2, n_heads=2, hidden_dim=32,
                                         max_position_embeddings=32)).save_pretrained(d)
    with pytest.raises(ValueError, match=f"model_type '{kind}'"):
        load_backbone(d)


def test_partial_bert_is_refused_listing_missing_weights(tmp_path):
    from safetensors.torch import load_file, save_file

    d = save_bert(tmp_path / "bert")
    weights = load_file(str(d / "model.safetensors"))
    kept = {k: v for k, v in weights.items() if ".layer.1." not in k and ".layer.2." not in k}
    assert len(kept) < len(weights)
    save_file(kept, str(d / "model.safetensors"), metadata={"format": "pt"})
    with pytest.raises(ValueError, match=r"backbone weight\(s\) missing.*encoder\.layer\.1\."):
        load_backbone(d)


def test_checkpoint_without_tokenizer_files_is_refused(tmp_path):
    d = save_bert(tmp_path / "bare", with_tokenizer=False)
    (d / "tokenizer_config.json").write_text(json.dumps({"tokenizer_class": "BertTokenizer"}))
    with pytest.raises(FileNotFoundError, match=r"has no tokenizer files \(one of tokenizer\.json, vocab\.txt"):
        backbones.backbone(None, checkpoint=str(d))


def test_checkpoint_without_weights_is_refused(tmp_path):
    d = save_bert(tmp_path / "noweights")
    (d / "model.safetensors").unlink()
    with pytest.raises(FileNotFoundError, match="has no weights file"):
        load_backbone(d)


# ----------------------------------------------------------------------------- caches heal


def test_truncated_node_vector_cache_is_deleted_and_recomputed(tmp_path):
    calls = []

    def compute(allocate):
        calls.append(1)
        out = allocate(6, (2, 3))
        out[:] = np.arange(6, dtype=np.float32).reshape(2, 3)
        return {6: out}

    key = {"weights": "w", "inputs": "i", "blocks": [6]}
    first = np.array(cached_node_vectors(tmp_path, key, compute)[6])
    (path,) = list(tmp_path.glob("nodes-*/block-6.npy"))
    path.write_bytes(path.read_bytes()[:40])
    with pytest.warns(UserWarning, match=f"node-vector cache {path.parent}.*deleted, recomputing"):
        again = cached_node_vectors(tmp_path, key, compute)
    assert len(calls) == 2 and np.array_equal(first, again[6])
    assert np.array_equal(cached_node_vectors(tmp_path, key, compute)[6], first) and len(calls) == 2


def test_corrupt_corpus_cache_is_rebuilt(tmp_path, monkeypatch, data_dir):
    from ssb.profiles import get_profile

    monkeypatch.setenv("SSB_OUTPUT_DIR", str(tmp_path))
    profile = get_profile("smoke", corpus_max_words=3000, vocab_size=300, max_len=16)
    first = corpus.prepare(profile, data_dir, progress=False)
    sequences_file = tmp_path / "runs" / "smoke" / "corpus" / "blocks.npz"     # the token sequences
    sequences_file.write_bytes(sequences_file.read_bytes()[:100])
    with pytest.warns(UserWarning, match="corpus cache .*corpus cannot be read .*deleted, rebuilding"):
        second = corpus.prepare(profile, data_dir, progress=False)
    assert np.array_equal(first.train_sequences, second.train_sequences)
    with np.load(sequences_file) as f:                        # the rebuilt cache is whole again
        assert np.array_equal(f["train"], first.train_sequences)


def test_changed_numbers_in_a_corpus_cache_are_caught(tmp_path, monkeypatch, data_dir):
    """Valid files with other numbers (stats.json edited) load without an error; the recorded
    checksums catch them and the cache is rebuilt."""
    import json as _json

    from ssb.profiles import get_profile

    monkeypatch.setenv("SSB_OUTPUT_DIR", str(tmp_path))
    profile = get_profile("smoke", corpus_max_words=3000, vocab_size=300, max_len=16)
    first = corpus.prepare(profile, data_dir, progress=False)
    stats_file = tmp_path / "runs" / "smoke" / "corpus" / "stats.json"
    stats = _json.loads(stats_file.read_text())
    stats["words"] += 1
    stats_file.write_text(_json.dumps(stats))
    with pytest.warns(UserWarning, match="corpus cache .* differs from the checksum"):
        second = corpus.prepare(profile, data_dir, progress=False)
    assert second.stats == first.stats


def test_corrupt_head_cache_is_deleted(tmp_path):
    from ssb.readouts import Readout, UnreadableReadout, load_readout, save_readout

    path = save_readout(Readout(8, 3), tmp_path / "head-x")
    assert load_readout(path, n_in=8).n_in == 8
    weights = path / "head.safetensors"
    weights.write_bytes(weights.read_bytes()[:20])
    with pytest.warns(UserWarning, match="readout cache .*head-x cannot be (read|trusted)"):
        with pytest.raises(UnreadableReadout, match="head-x"):
            load_readout(path, n_in=8)
    assert not path.exists()


def tiny_pretraining(sentence: str, repeat: int, articles: int, *, n_blocks: int, steps: int):
    """(tokenizer, train_sequences, eval_sequences, profile) of a tiny pre-training: ``articles``
    copies of ``sentence`` x ``repeat``, 16-token sequences, a BERT of ``n_blocks`` x 2 heads x 4."""
    from ssb.mlm import encode_corpus, split_sequences
    from ssb.profiles import get_profile

    tok = word_tokenizer(WORDS)
    sequences = encode_corpus([sentence * repeat] * articles, tok, max_len=16)
    train, held = split_sequences(sequences, 0.1, seed=0)
    profile = get_profile("smoke", n_blocks=n_blocks, block=n_blocks, n_heads=2, d_head=4, max_len=16, batch_size=4,
                          steps=steps, warmup_steps=1, eval_every=steps, checkpoint_every=2, eval_batches=1)
    return tok, train, held, profile


def test_truncated_run_config_means_retrain_and_nan_loss_stops(tmp_path, monkeypatch):
    import ssb.pretrain as pretrain_mod

    tok, train, held, profile = tiny_pretraining("the cat sees a dog . the bird sees the cat . ", 40, 4,
                                                 n_blocks=2, steps=3)
    out = tmp_path / "pretrain" / "main"
    run = pretrain_mod.pretrain(profile, out, tok, train, held, progress=False)
    config = out / "final" / "run_config.json"
    config.write_text(config.read_text()[:30])
    with pytest.warns(UserWarning, match="run_config.json cannot be read"):
        again = pretrain_mod.pretrain(profile, out, tok, train, held, progress=False)
    assert json.loads(config.read_text())["steps"] == 3
    for name, t in run.model.state_dict().items():
        assert torch.equal(t, again.model.state_dict()[name]), name

    real_build = pretrain_mod.build_bert6

    def poisoned(*args, **kwargs):
        model = real_build(*args, **kwargs)
        with torch.no_grad():
            model.bert.embeddings.word_embeddings.weight[:] = float("nan")
        return model

    monkeypatch.setattr(pretrain_mod, "build_bert6", poisoned)
    nan_out = tmp_path / "pretrain" / "nan"
    with pytest.raises(FloatingPointError, match=r"loss is nan at step 1 of 3"):
        pretrain_mod.pretrain(profile, nan_out, tok, train, held, progress=False)
    assert not (nan_out / "final").exists() and not (nan_out / "checkpoint").exists()


def test_corrupt_final_weights_name_the_file_and_the_retrain_command(tmp_path):
    import ssb.pretrain as pretrain_mod

    tok, train, held, profile = tiny_pretraining("the cat sees a dog . ", 60, 3, n_blocks=1, steps=2)
    out = tmp_path / "pretrain" / "symmetric"
    pretrain_mod.pretrain(profile, out, tok, train, held, progress=False)
    weights = out / "final" / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:64])
    with pytest.raises(RuntimeError, match=r"final cannot be loaded.*pretrain_cli --profile smoke --variant symmetric --force"):
        pretrain_mod.pretrain(profile, out, tok, train, held, progress=False)


# ----------------------------------------------------------------------------- atomic writers


def _hammer_dir(target: str, tag: str, n: int) -> None:
    for i in range(n):
        with atomic.atomic_dir(target) as tmp:
            payload = f"{tag}-{i}" * 200
            (tmp / "a.txt").write_text(payload)
            (tmp / "b.txt").write_text(payload)


def _hammer_file(target: str, tag: str, n: int) -> None:
    for i in range(n):
        atomic.write_text(target, f"{tag}-{i}\n" * 500)


@pytest.mark.parametrize("kind", ["dir", "file"])
def test_two_processes_racing_on_one_atomic_target(tmp_path, kind):
    target = tmp_path / ("target" if kind == "dir" else "target.txt")
    worker = _hammer_dir if kind == "dir" else _hammer_file
    ctx = multiprocessing.get_context("fork")
    procs = [ctx.Process(target=worker, args=(str(target), tag, 300)) for tag in ("p", "q")]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=240)
    assert [p.exitcode for p in procs] == [0, 0]                 # no writer failed
    if kind == "dir":
        a, b = (target / "a.txt").read_text(), (target / "b.txt").read_text()
        assert a == b and a in {f"{t}-299" * 200 for t in "pq"}   # one writer's last, whole copy
    else:
        text = target.read_text()
        assert text in {f"{t}-299\n" * 500 for t in "pq"}
    assert [p.name for p in tmp_path.iterdir()] == [target.name]  # no temporary left behind


# ----------------------------------------------------------------------------- what a checkpoint computes (issue 23)


@pytest.mark.parametrize("field, value, reason", [
    ("is_decoder", True, "is_decoder is true (causal attention"),
    ("add_cross_attention", True, "add_cross_attention is true"),
    ("position_embedding_type", "relative_key", "position_embedding_type is 'relative_key'"),
])
def test_config_that_changes_what_the_encoder_computes_is_refused(tmp_path, field, value, reason):
    d = save_bert(tmp_path / "bert")
    config = json.loads((d / "config.json").read_text())
    config[field] = value
    (d / "config.json").write_text(json.dumps(config))
    with pytest.raises(ValueError, match=r"computes something other than the analysed BERT encoder: .*"
                       + reason.replace("(", r"\(")):
        load_backbone(d)


def test_non_finite_weight_is_refused_naming_the_tensor(tmp_path):
    from safetensors.torch import load_file, save_file

    d = save_bert(tmp_path / "bert")
    weights = load_file(str(d / "model.safetensors"))
    name = next(k for k in weights if k.endswith("layer.1.attention.self.query.weight"))
    weights[name][0, 0] = float("nan")
    save_file(weights, str(d / "model.safetensors"), metadata={"format": "pt"})
    with pytest.raises(ValueError, match=r"1 weight tensor\(s\) hold NaN or infinite values, e\.g\. "
                       r"encoder\.layer\.1\.attention\.self\.query\.weight"):
        load_backbone(d)


def test_truncated_weights_file_is_named(tmp_path):
    d = save_bert(tmp_path / "bert")
    weights = d / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:weights.stat().st_size // 2])
    with pytest.raises(ValueError, match=rf"the weights file {weights} cannot be loaded.*SafetensorError.*truncated"):
        load_backbone(d)


def test_config_json_given_instead_of_its_directory_names_the_directory(tmp_path):
    d = save_bert(tmp_path / "bert")
    with pytest.raises(FileNotFoundError, match=rf"is a file; pass the directory that holds it: -p checkpoint {d}$"):
        load_backbone(d / "config.json")


def test_garbage_in_a_node_vector_cache_is_detected_named_and_recomputed(tmp_path, capfd):
    """The header stays intact and the file keeps its size: only the recorded checksum can tell."""
    calls = []

    def compute(allocate):
        calls.append(1)
        out = allocate(6, (50, 4))
        out[:] = np.arange(200, dtype=np.float32).reshape(50, 4)
        return {6: out}

    key = {"weights": "w", "inputs": "i", "blocks": [6]}
    first = np.array(cached_node_vectors(tmp_path, key, compute)[6])
    (path,) = list(tmp_path.glob("nodes-*/block-6.npy"))
    header = len(path.read_bytes()) - first.nbytes
    garbage = np.random.default_rng(0).normal(size=first.shape).astype(np.float32)
    with open(path, "r+b") as f:
        f.seek(header)
        f.write(garbage.tobytes())
    assert np.array_equal(np.load(path), garbage)                 # a valid .npy of the right shape
    with pytest.warns(UserWarning, match=rf"node-vector cache {path.parent} cannot be read \(CacheContentChanged: "
                      r"the content of block-6\.npy differs from the checksum.*deleted, recomputing"):
        again = cached_node_vectors(tmp_path, key, compute)
    assert len(calls) == 2 and np.array_equal(again[6], first)
    np.asarray(cached_node_vectors(tmp_path, key, compute)[6])
    assert len(calls) == 2                                          # the recomputed entry verifies


def test_node_vector_cache_without_checksums_is_recomputed(tmp_path):
    def compute(allocate):
        out = allocate(6, (3, 2))
        out[:] = 1.0
        return {6: out}

    key = {"weights": "w", "blocks": [6]}
    cached_node_vectors(tmp_path, key, compute)
    (record,) = list(tmp_path.glob("nodes-*/checksums.json"))
    record.unlink()
    with pytest.warns(UserWarning, match=r"no readable checksums\.json.*cannot be verified.*recomputing"):
        cached_node_vectors(tmp_path, key, compute)
    assert record.exists()


def test_cache_warnings_also_reach_the_terminal(monkeypatch, capfd):
    import io
    import sys

    from ssb.node_vectors import warn_cache

    monkeypatch.setattr(sys, "stderr", io.StringIO())               # as inside a kernel: stderr is captured
    with pytest.warns(UserWarning, match="cache x changed"):
        warn_cache("cache x changed")
    assert "warning: cache x changed" in capfd.readouterr().err


def test_a_checkpoints_untrained_controls_are_its_config_with_seeded_random_weights(tmp_path):
    """K = untrained_seeds random inits of the checkpoint's own configuration (seeds seed, +1, ...):
    distinct from each other and from the checkpoint, the same on every call, the global RNG untouched."""
    from ssb.cache_keys import weights_fingerprint
    from ssb.profiles import get_profile
    profile = get_profile("smoke", untrained_seeds=3, seed=5)        # save_bert draws its weights with seed 0
    bb = backbones.backbone(profile, checkpoint=str(save_bert(tmp_path / "bert")), progress=False)
    assert bb.is_checkpoint and bb.blocks == [1, 2, 3]
    torch.manual_seed(123)
    before = torch.rand(1)
    torch.manual_seed(123)
    controls = backbones.untrained_controls(profile, bb)
    assert torch.rand(1) == before                                  # the caller's random stream is left alone
    prints = [weights_fingerprint(c.model) for c in controls]
    assert len(set(prints)) == 3 and weights_fingerprint(bb.model) not in prints
    assert prints == [weights_fingerprint(c.model) for c in backbones.untrained_controls(profile, bb)]
    for c in controls:
        assert c.model.config.to_dict() == bb.model.config.to_dict() and c.tokenizer is bb.tokenizer
        assert not c.model.training and not any(p.requires_grad for p in c.model.parameters())
    with pytest.raises(ValueError, match="-p block 5: .* has 3 blocks"):
        bb.check_block(5)
