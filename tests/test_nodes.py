"""Node vectors through forward hooks: equal to the attention contexts computed by hand,
cached without ever reusing a stale entry, and clear errors for bad requests."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from transformers import BertConfig, BertModel, GPT2Config, GPT2Model

from ssb.readouts import save_readout, train_readout, load_readout
from ssb.cache_keys import array_fingerprint, weights_fingerprint
from ssb.backbones import load_backbone
from ssb.node_vectors import attention_projections, cached_node_vectors, node_vectors


def tiny_bert(seed: int = 0, layers: int = 3, heads: int = 4, d_head: int = 4) -> BertModel:
    torch.manual_seed(seed)
    cfg = BertConfig(vocab_size=50, hidden_size=heads * d_head, num_hidden_layers=layers, num_attention_heads=heads,
                     intermediate_size=4 * heads * d_head, max_position_embeddings=16,
                     hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    return BertModel(cfg, add_pooling_layer=False).eval()


def inputs(n: int = 5, t: int = 8, seed: int = 0):
    rng = np.random.default_rng(seed)
    ids = rng.integers(5, 50, size=(n, t)).astype(np.int64)
    am = np.ones_like(ids)
    am[0, 5:] = 0                                       # one padded sentence
    return ids, am


def manual_contexts(model: BertModel, ids, am, block: int) -> np.ndarray:
    """softmax(Q K^T / sqrt(d_h)) V of every head of ``block``, concatenated: (N, T, D)."""
    cfg = model.config
    h, d = cfg.num_attention_heads, cfg.hidden_size // cfg.num_attention_heads
    with torch.no_grad():
        out = model(input_ids=torch.from_numpy(ids), attention_mask=torch.from_numpy(am), output_hidden_states=True)
        x = out.hidden_states[block - 1]                 # input of block `block`, (N, T, D)
        att = model.encoder.layer[block - 1].attention.self
        split = lambda t: t.view(t.shape[0], t.shape[1], h, d).transpose(1, 2)       # (N, h, T, d)
        q, k, v = split(att.query(x)), split(att.key(x)), split(att.value(x))
        scores = q @ k.transpose(-1, -2) / d ** 0.5 + (1 - torch.from_numpy(am)[:, None, None, :].float()) * -1e9
        ctx = scores.softmax(-1) @ v                     # (N, h, T, d)
        return ctx.transpose(1, 2).reshape(x.shape[0], x.shape[1], h * d).numpy()


def test_hooked_node_vectors_equal_attention_contexts():
    model = tiny_bert()
    ids, am = inputs()
    z = node_vectors(model, ids, am, blocks=[2, 3], select=am.astype(bool), progress=False)
    for block in (2, 3):
        expected = manual_contexts(model, ids, am, block)[am.astype(bool)]
        np.testing.assert_allclose(z[block], expected, atol=1e-5)
    cls = node_vectors(model, ids, am, blocks=[3], select="cls", progress=False)[3]
    np.testing.assert_allclose(cls, manual_contexts(model, ids, am, 3)[:, 0], atol=1e-5)
    mean = node_vectors(model, ids, am, blocks=[3], select="mean", progress=False)[3]
    ctx = manual_contexts(model, ids, am, 3)
    np.testing.assert_allclose(mean[0], ctx[0, :5].mean(0), atol=1e-5)     # padding excluded from the mean


def test_node_vectors_errors():
    model = tiny_bert()
    ids, am = inputs()
    with pytest.raises(ValueError, match="out of range"):
        node_vectors(model, ids, am, blocks=[4], progress=False)
    with pytest.raises(ValueError, match="out of range"):
        node_vectors(model, ids, am, blocks=[0], progress=False)
    with pytest.raises(ValueError, match="no block"):
        node_vectors(model, ids, am, blocks=[], progress=False)
    with pytest.raises(ValueError, match="select"):
        node_vectors(model, ids, am, blocks=[1], select="max", progress=False)
    gpt = GPT2Model(GPT2Config(n_layer=1, n_head=2, n_embd=8, vocab_size=20))
    with pytest.raises(ValueError, match="no BERT attention layers"):
        attention_projections(gpt)


def test_load_backbone_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="not found locally"):
        load_backbone(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="no config.json"):
        load_backbone(tmp_path / "empty")
    tiny_bert().save_pretrained(tmp_path / "bert")
    model = load_backbone(tmp_path / "bert")
    assert not any(p.requires_grad for p in model.parameters())


def test_cache_never_reuses_a_stale_entry(tmp_path):
    ids, am = inputs()
    calls = []

    def compute(model, select, allocate):
        calls.append(1)
        return node_vectors(model, ids, am, blocks=[3], select=select, progress=False, allocate=allocate)

    a, b = tiny_bert(seed=0), tiny_bert(seed=1)
    key = lambda m, select: {"weights": weights_fingerprint(m), "inputs": array_fingerprint(ids, am), "blocks": [3], "select": select}
    z1 = cached_node_vectors(tmp_path, key(a, "cls"), lambda alloc: compute(a, "cls", alloc))
    z2 = cached_node_vectors(tmp_path, key(a, "cls"), lambda alloc: compute(a, "cls", alloc))
    assert len(calls) == 1 and np.array_equal(z1[3], z2[3])                  # reused
    z3 = cached_node_vectors(tmp_path, key(b, "cls"), lambda alloc: compute(b, "cls", alloc))
    assert len(calls) == 2 and not np.array_equal(z1[3], z3[3])              # other checkpoint
    cached_node_vectors(tmp_path, key(a, "mean"), lambda alloc: compute(a, "mean", alloc))
    assert len(calls) == 3                                                    # other parameter
    with torch.no_grad():                                                     # same object, changed weights
        query = a.encoder.layer[0].attention.self.query.weight    # (a constant shift is invisible after LayerNorm)
        query.add_(0.1 * torch.randn(query.shape, generator=torch.Generator().manual_seed(0)))
    z4 = cached_node_vectors(tmp_path, key(a, "cls"), lambda alloc: compute(a, "cls", alloc))
    assert len(calls) == 4 and not np.array_equal(z1[3], z4[3])
    cached_node_vectors(tmp_path, key(a, "cls"), lambda alloc: compute(a, "cls", alloc), force=True)
    assert len(calls) == 5
    assert not list(tmp_path.glob(".*")), "temporary files left behind"


def test_head_for_other_hidden_size_is_refused(tmp_path):
    rng = np.random.default_rng(0)
    head, _ = train_readout(rng.normal(size=(64, 16)).astype(np.float32), rng.integers(0, 3, 64), 3, epochs=1, progress=False)
    save_readout(head, tmp_path / "head")
    with pytest.raises(ValueError):
        load_readout(tmp_path / "head", n_in=48)          # cached vectors of a checkpoint with another hidden size


def test_cache_streams_to_disk_and_is_read_only(tmp_path):
    model = tiny_bert()
    ids, am = inputs()
    key = {"weights": weights_fingerprint(model), "inputs": array_fingerprint(ids, am), "blocks": [1, 3],
           "select": "masked"}
    kinds = []

    def compute(allocate):
        z = node_vectors(model, ids, am, blocks=[1, 3], select=am.astype(bool), progress=False, allocate=allocate)
        kinds.extend(type(a) for a in z.values())
        return z

    cached = cached_node_vectors(tmp_path, key, compute)
    assert kinds == [np.memmap, np.memmap]                                    # filled in place, on disk
    direct = node_vectors(model, ids, am, blocks=[1, 3], select=am.astype(bool), progress=False)
    for block in (1, 3):
        assert np.array_equal(cached[block], direct[block]) and not cached[block].flags.writeable
    (path,) = tmp_path.glob("nodes-*")
    assert sorted(p.name for p in path.iterdir()) == ["block-1.npy", "block-3.npy", "checksums.json", "key_parts.json"]


def test_interrupted_extraction_leaves_no_cache(tmp_path):
    def compute(allocate):
        allocate(2, (4, 3))[:] = 1.0
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        cached_node_vectors(tmp_path, {"weights": "w", "blocks": [2]}, compute)
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(ValueError, match="must name the cached 'blocks'"):
        cached_node_vectors(tmp_path, {"weights": "w"}, compute)


def test_allocate_must_fit():
    model = tiny_bert()
    ids, am = inputs()
    with pytest.raises(ValueError, match=r"expected float32 \(5, 16\)"):
        node_vectors(model, ids, am, blocks=[1], progress=False, allocate=lambda b, shape: np.empty((4, 16), np.float32))


def test_extraction_into_the_cache_never_holds_the_node_vectors(tmp_path):
    """Node vectors go from each batch straight into the memory-mapped cache files: the heap
    grows by about 40 MB, not by the 250 MB of node vectors (the old code held every batch's
    piece, their concatenation, a float32 copy and a pickled payload: 1.7 GB measured)."""
    from host_memory import peak_anonymous_growth

    model = tiny_bert(heads=4, d_head=32)                                  # D = 128
    rng = np.random.default_rng(0)
    ids = rng.integers(5, 50, size=(20_000, 8)).astype(np.int64)
    am = np.ones_like(ids)
    key = {"weights": weights_fingerprint(model), "inputs": array_fingerprint(ids, am), "blocks": [1, 2, 3],
           "select": "all"}
    node_vectors(model, ids[:600], am[:600], [1, 2, 3], batch_size=512, progress=False)   # torch's first-call workspaces
    z, growth = peak_anonymous_growth(lambda: cached_node_vectors(
        tmp_path, key, lambda allocate: node_vectors(model, ids, am, [1, 2, 3], select=am.astype(bool), batch_size=512,
                                                     progress=False, allocate=allocate)))
    size = sum(a.nbytes for a in z.values())
    assert size > 2.4e8 and growth < 0.25 * size, f"heap grew by {growth / 1e6:.0f} MB for {size / 1e6:.0f} MB"


def test_pooled_node_vectors_equal_one_pass_per_pooling():
    from ssb.node_vectors import pooled_node_vectors
    model = tiny_bert()
    ids, am = inputs(n=7)
    both = pooled_node_vectors(model, ids, am, [1, 3], ("cls", "mean"), batch_size=3, progress=False)
    for pooling in ("cls", "mean"):
        alone = node_vectors(model, ids, am, [1, 3], select=pooling, batch_size=3, progress=False)
        for block in (1, 3):
            assert np.array_equal(both[pooling][block], alone[block])          # bit for bit
    with pytest.raises(ValueError, match="select must be"):
        pooled_node_vectors(model, ids, am, [1], ("cls", "max"), progress=False)


def test_cache_entries_computed_together_are_the_entries_of_one(tmp_path):
    """Entries missing together are computed by one call; each is stored under the key
    ``cached_node_vectors`` uses, so either finds what the other wrote."""
    from ssb.node_vectors import cached_node_vector_entries, pooled_node_vectors
    model = tiny_bert()
    ids, am = inputs()
    key = {p: {"weights": weights_fingerprint(model), "inputs": array_fingerprint(ids, am), "blocks": [2], "select": p}
           for p in ("cls", "mean")}
    asked = []

    def compute(allocators):
        asked.append(sorted(allocators))
        return pooled_node_vectors(model, ids, am, [2], list(allocators), progress=False,
                                   allocate=lambda p, b, shape: allocators[p](b, shape))

    cached_node_vectors(tmp_path, key["mean"], lambda alloc: node_vectors(model, ids, am, [2], select="mean",
                                                                          progress=False, allocate=alloc))
    z = cached_node_vector_entries(tmp_path, key, compute)
    assert asked == [["cls"]]                                                  # mean was found
    z = cached_node_vector_entries(tmp_path, key, compute, force=True)
    assert asked == [["cls"], ["cls", "mean"]]                                 # both recomputed, in one call
    for p in ("cls", "mean"):
        alone = cached_node_vectors(tmp_path, key[p], lambda alloc: pytest.fail("not found"))
        assert np.array_equal(alone[2], z[p][2])
        assert np.array_equal(z[p][2], node_vectors(model, ids, am, [2], select=p, progress=False)[2])
    assert len(list(tmp_path.glob("nodes-*"))) == 2 and not list(tmp_path.glob(".*"))


def test_fewrel_probes_read_both_poolings_in_one_pass(tmp_path, monkeypatch):
    """notebook 04's cls and mean probes: one forward pass per split, the same node vectors and
    cache entries as one probe per pooling, and heads keyed on the cache entry."""
    from types import SimpleNamespace
    from ssb import fewrel, probes
    from ssb.node_vectors import node_vector_cache_key
    from ssb.profiles import get_profile
    monkeypatch.setenv("SSB_OUTPUT_DIR", str(tmp_path))
    model = tiny_bert()
    rng = np.random.default_rng(0)

    def tokenizer(texts, max_length, **_):
        ids = np.array([[int(w) for w in t.split()][:max_length] + [0] * (max_length - len(t.split())) for t in texts])
        return {"input_ids": ids, "attention_mask": (ids > 0).astype(np.int64)}

    def texts(n):
        return [" ".join(str(v) for v in rng.integers(5, 50, rng.integers(3, 9))) for _ in range(n)]
    split = SimpleNamespace(train_texts=texts(12), test_texts=texts(6), train_labels=rng.integers(0, 3, 12),
                            test_labels=rng.integers(0, 3, 6), label_names=["a", "b", "c"], n_labels=lambda: 3)
    profile = get_profile("smoke", max_len=8, device="cpu")
    passes = []
    pooled = probes.pooled_node_vectors
    monkeypatch.setattr(probes, "pooled_node_vectors", lambda *a, **k: passes.append(a[4]) or pooled(*a, **k))
    probe_of = probes.fewrel_probes(profile, model, tokenizer, split, [2])
    assert passes == [["cls", "mean"], ["cls", "mean"]]                        # train, test: one pass each
    for pooling in ("cls", "mean"):
        again = probes.fewrel_probe(profile, model, tokenizer, split, [2], pooling=pooling)
        assert len(passes) == 2                                                # read from the caches
        assert again.train_key == probe_of[pooling].train_key
        for block in (1, 2):
            assert np.array_equal(again.z_train[block], probe_of[pooling].z_train[block])
    assert probe_of["cls"].train_key != probe_of["mean"].train_key
    assert probe_of["cls"].train_key == node_vector_cache_key(
        {"weights": weights_fingerprint(model), "inputs": array_fingerprint(*fewrel.encode_sentences(
            tokenizer, split.train_texts, 8)), "blocks": [1, 2], "select": "cls"})
