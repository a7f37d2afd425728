"""BERT-6 construction, symmetric initialisations and the head gap g (docs/method.md,
"Model and training" and "Symmetric controls")."""
from __future__ import annotations

import pytest
import torch

from ssb.model import bert6_config, build_bert6, head_gap, head_slices

VOCAB = 60
TINY = dict(n_blocks=2, n_heads=12, d_head=4, max_len=16)      # hidden 48, FFN 192


pytestmark = pytest.mark.usefixtures("one_thread")      # conftest.py


def test_bert6_config_shapes():
    cfg = bert6_config(VOCAB, d_head=4, max_len=16)
    assert (cfg.num_hidden_layers, cfg.num_attention_heads) == (6, 12)
    assert cfg.hidden_size == 12 * 4
    assert cfg.intermediate_size == 4 * cfg.hidden_size
    assert cfg.vocab_size == VOCAB and cfg.max_position_embeddings == 16
    assert cfg.hidden_dropout_prob == 0.0 and cfg.attention_probs_dropout_prob == 0.0   # deterministic default

    model = build_bert6(VOCAB, seed=0, d_head=4, max_len=16)
    layer = model.bert.encoder.layer[0]
    assert layer.attention.self.query.weight.shape == (48, 48)
    assert layer.attention.output.dense.weight.shape == (48, 48)
    assert layer.intermediate.dense.weight.shape == (192, 48)
    assert len(model.bert.encoder.layer) == 6
    assert model.cls.predictions.decoder.weight.shape == (VOCAB, 48)


@pytest.mark.parametrize("kwargs", [dict(n_heads=0), dict(d_head=0), dict(dropout=1.0)])
def test_bert6_config_rejects_bad_values(kwargs):
    with pytest.raises(ValueError, match=next(iter(kwargs))):
        bert6_config(VOCAB, **kwargs)


def test_build_is_seeded():
    a, b, c = (build_bert6(VOCAB, seed=s, **TINY).state_dict() for s in (0, 0, 1))
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not torch.equal(a["bert.encoder.layer.0.attention.self.query.weight"],
                           c["bert.encoder.layer.0.attention.self.query.weight"])


def test_bad_init_is_an_error():
    with pytest.raises(ValueError, match="init must be"):
        build_bert6(VOCAB, seed=0, init="copy", **TINY)
    with pytest.raises(ValueError, match="eps > 0"):
        build_bert6(VOCAB, seed=0, init="symmetric_eps", eps=0.0, **TINY)


def test_symmetric_init_has_zero_gap_and_identical_heads():
    model = build_bert6(VOCAB, seed=3, init="symmetric", **TINY)
    assert head_gap(model) == 0.0
    assert head_gap(model, per_layer=True) == [0.0, 0.0]
    for layer in model.bert.encoder.layer:
        thetas = head_slices(layer, 12)
        assert all(torch.equal(t, thetas[0]) for t in thetas)
        assert thetas[0].norm() > 0


def test_symmetric_init_changes_only_head_slices():
    rand = build_bert6(VOCAB, seed=3, **TINY).state_dict()
    sym = build_bert6(VOCAB, seed=3, init="symmetric", **TINY).state_dict()
    head_params = {"query.weight", "query.bias", "key.weight", "key.bias", "value.weight", "value.bias",
                   "attention.output.dense.weight"}
    changed = {k for k in rand if not torch.equal(rand[k], sym[k])}
    assert changed and all(any(k.endswith(h) for h in head_params) for k in changed), changed
    # head 0 is kept: the random init's head-0 slices are the symmetric model's
    w_rand = rand["bert.encoder.layer.1.attention.output.dense.weight"]
    w_sym = sym["bert.encoder.layer.1.attention.output.dense.weight"]
    assert torch.equal(w_rand[:, :4], w_sym[:, :4]) and torch.equal(w_sym[:, 4:8], w_sym[:, :4])


@pytest.mark.parametrize("eps", [1e-4, 1e-2])
def test_symmetric_eps_gap_equals_eps(eps):
    model = build_bert6(VOCAB, seed=0, init="symmetric_eps", eps=eps, **TINY)
    assert head_gap(model) == pytest.approx(eps, rel=1e-3)
    for layer in model.bert.encoder.layer:          # every head h >= 1 sits at distance eps from head 0
        thetas = [t.double() for t in head_slices(layer, 12)]
        gaps = [float((t - thetas[0]).norm() / thetas[0].norm()) for t in thetas[1:]]
        assert gaps == pytest.approx([eps] * 11, rel=1e-3)


def test_symmetric_eps_directions_are_seeded():
    a, b, c = (build_bert6(VOCAB, seed=s, init="symmetric_eps", **TINY).state_dict() for s in (0, 0, 1))
    key = "bert.encoder.layer.0.attention.self.key.weight"
    assert torch.equal(a[key], b[key]) and not torch.equal(a[key], c[key])


def test_random_init_gap_is_order_one():
    gap = head_gap(build_bert6(VOCAB, seed=0, **TINY))
    # independent N(0, 0.02²) slices and zero biases: ||θ_h − θ_0|| / ||θ_0|| ≈ √2
    assert 1.0 < gap < 2.0


def test_head_gap_sees_every_head_slice_and_nothing_else():
    model = build_bert6(VOCAB, seed=0, init="symmetric", **TINY)
    layer = model.bert.encoder.layer[1]
    w_o = layer.attention.output.dense.weight
    saved = w_o.detach().clone()
    with torch.no_grad():
        model.bert.encoder.layer[0].intermediate.dense.weight.add_(1.0)      # not a head parameter
        assert head_gap(model) == 0.0
        w_o[:, 4 * 7] += 1e-3                                                # W_O column of head 7
    gaps = head_gap(model, per_layer=True)
    assert gaps[0] == 0.0 and gaps[1] > 0.0
    with torch.no_grad():
        w_o.copy_(saved)
        assert head_gap(model) == 0.0
        layer.attention.self.value.bias[4 * 11 + 2] += 1e-3                  # V bias of head 11
    assert head_gap(model) > 0.0


def _mlm_grads(model, seed: int = 0) -> dict[str, torch.Tensor]:
    """Gradients of the MLM loss on a random batch: (4, 12) tokens, ~25 % labelled."""
    gen = torch.Generator().manual_seed(seed)
    ids = torch.randint(5, VOCAB, (4, 12), generator=gen)
    labels = torch.where(torch.rand(ids.shape, generator=gen) < 0.25, ids, torch.full_like(ids, -100))
    labels[0, 1] = ids[0, 1]
    model.zero_grad()
    model(input_ids=ids, attention_mask=torch.ones_like(ids), labels=labels).loss.backward()
    return {k: p.grad.clone() for k, p in model.named_parameters()}


def test_exact_head_gradients_are_the_true_gradients():
    plain = build_bert6(VOCAB, seed=0, exact_heads=False, **TINY)
    exact = build_bert6(VOCAB, seed=0, exact_heads=True, **TINY)
    assert type(exact.bert.encoder.layer[0].attention.self.query).__name__ == "HeadwiseLinear"
    assert type(plain.bert.encoder.layer[0].attention.self.query).__name__ == "Linear"
    a, b = _mlm_grads(plain), _mlm_grads(exact)
    assert a.keys() == b.keys()
    for name in a:
        assert torch.allclose(a[name], b[name], rtol=1e-4, atol=1e-7), name


@pytest.mark.parametrize("d_head", [4, 5, 6])
def test_symmetric_heads_get_identical_gradients(d_head):
    """Under exact_heads every head's gradient slice is bit-identical (d_head 5 and 6 break
    the stock kernels on CPU); the step keeps g == 0."""
    model = build_bert6(VOCAB, seed=1, init="symmetric", **{**TINY, "d_head": d_head})
    _mlm_grads(model)
    for layer in model.bert.encoder.layer:
        att = layer.attention
        for tensor, axis in ((att.self.query.weight, 0), (att.self.query.bias, 0), (att.self.key.weight, 0),
                             (att.self.value.bias, 0), (att.output.dense.weight, 1)):
            blocks = tensor.grad.chunk(12, dim=axis)
            assert blocks[0].abs().sum() > 0
            assert all(torch.equal(b, blocks[0]) for b in blocks)
    with torch.no_grad():
        for p in model.parameters():
            p -= 0.1 * p.grad
    assert head_gap(model) == 0.0


# ---------------------------------------------------------------------------- node-level control

def test_node_symmetric_init_copies_node_zero_inside_each_head():
    from ssb.model import node_gap
    model = build_bert6(VOCAB, seed=3, init="node_symmetric", **TINY)
    assert node_gap(model) == 0.0 and node_gap(model, per_layer=True) == [0.0, 0.0]
    assert head_gap(model) > 0.1                                   # the heads stay different
    for layer in model.bert.encoder.layer:
        w = layer.attention.self.query.weight                      # rows = nodes
        wo = layer.attention.output.dense.weight                   # columns = nodes
        for h in range(12):
            rows = w[h * 4:(h + 1) * 4]
            assert all(torch.equal(r, rows[0]) for r in rows)
            cols = wo[:, h * 4:(h + 1) * 4]
            assert all(torch.equal(cols[:, i], cols[:, 0]) for i in range(4))
    # a random init has a node gap of order one
    assert node_gap(build_bert6(VOCAB, seed=3, **TINY)) > 0.5


def test_node_symmetric_changes_only_head_slices_and_eps_sets_the_gap():
    from ssb.model import node_gap
    rand = build_bert6(VOCAB, seed=3, **TINY).state_dict()
    sym = build_bert6(VOCAB, seed=3, init="node_symmetric", **TINY).state_dict()
    head_params = ("query.weight", "query.bias", "key.weight", "key.bias", "value.weight", "value.bias",
                   "attention.output.dense.weight")
    changed = {k for k in rand if not torch.equal(rand[k], sym[k])}
    assert changed and all(k.endswith(head_params) for k in changed), changed
    model = build_bert6(VOCAB, seed=3, init="node_symmetric_eps", eps=1e-3, **TINY)
    assert node_gap(model) == pytest.approx(1e-3, rel=1e-3)
    with pytest.raises(ValueError, match="eps > 0"):
        build_bert6(VOCAB, seed=0, init="node_symmetric_eps", eps=0.0, **TINY)
