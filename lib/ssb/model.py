"""BERT-6 on HuggingFace ``BertConfig``/``BertForMaskedLM``, its symmetric initialisations,
and the head gap g (METHOD.md, "Symmetric-initialization control").

Per-head parameter slices of one block (``head_slices``):

    query/key/value weight rows   [h*d_h:(h+1)*d_h, :]    (d_h, hidden) each
    query/key/value bias entries  [h*d_h:(h+1)*d_h]
    attention.output.dense cols   [:, h*d_h:(h+1)*d_h]    (hidden, d_h)  -- W_O

Permuting heads (these slices together) leaves the network's function unchanged, so a
point where every head is a copy of head 0 is a fixed point of the symmetry: a
deterministic gradient step keeps it there, and only a perturbation breaks it.
"""
from __future__ import annotations

import torch
from transformers import BertConfig, BertForMaskedLM


def bert6_config(vocab_size: int, *, n_layers: int = 6, n_heads: int = 12, d_head: int = 64,
                 max_len: int = 128, dropout: float = 0.0, pad_token_id: int = 0) -> BertConfig:
    """Config of BERT-6: hidden = n_heads * d_head, FFN = 4 * hidden."""
    hidden = n_heads * d_head
    return BertConfig(
        vocab_size=vocab_size, hidden_size=hidden, num_hidden_layers=n_layers,
        num_attention_heads=n_heads, intermediate_size=4 * hidden,
        max_position_embeddings=max_len, type_vocab_size=2, pad_token_id=pad_token_id,
        hidden_dropout_prob=dropout, attention_probs_dropout_prob=dropout,
    )


def build_bert6(vocab_size: int, *, seed: int, init: str = "random", eps: float = 1e-4,
                **config_kwargs) -> BertForMaskedLM:
    """A freshly initialised BertForMaskedLM.

    init: "random" (standard), "symmetric" (every block's heads copies of head 0),
    "symmetric_eps" (symmetric, then each head h >= 1 moved by relative size ``eps``).
    The same seed gives the same weights.
    """
    if init not in ("random", "symmetric", "symmetric_eps"):
        raise ValueError(f"init must be 'random', 'symmetric' or 'symmetric_eps', got {init!r}")
    torch.manual_seed(seed)
    model = BertForMaskedLM(bert6_config(vocab_size, **config_kwargs))
    if init != "random":
        symmetrize_heads(model, eps=eps if init == "symmetric_eps" else 0.0, seed=seed)
    return model


def _layers(model: torch.nn.Module):
    bert = getattr(model, "bert", model)
    encoder = getattr(bert, "encoder", None)
    if encoder is None or not hasattr(encoder, "layer"):
        raise ValueError("model has no BERT encoder layers (expected .encoder.layer[i].attention)")
    return list(encoder.layer)


def _head_params(layer, n_heads: int):
    """(tensor, axis) pairs whose slices along ``axis`` belong to heads, in ``n_heads`` equal blocks."""
    att = layer.attention
    out = []
    for lin in (att.self.query, att.self.key, att.self.value):
        out.append((lin.weight, 0))
        out.append((lin.bias, 0))
    out.append((att.output.dense.weight, 1))
    return out


def head_slices(layer, n_heads: int) -> list[torch.Tensor]:
    """Per-head parameter vectors θ_h of one block (flattened, concatenated)."""
    parts: list[list[torch.Tensor]] = [[] for _ in range(n_heads)]
    for tensor, axis in _head_params(layer, n_heads):
        for h, block in enumerate(tensor.detach().chunk(n_heads, dim=axis)):
            parts[h].append(block.reshape(-1))
    return [torch.cat(p) for p in parts]


@torch.no_grad()
def symmetrize_heads(model: torch.nn.Module, eps: float = 0.0, seed: int = 0) -> None:
    """Copy head 0 onto every head in every block; with ``eps`` > 0 move each head h >= 1 by
    a random direction of norm ``eps * ||θ_0||`` (so the initial gap g(0) is exactly eps)."""
    n_heads = model.config.num_attention_heads
    gen = torch.Generator().manual_seed(10_007 * (seed + 1))
    for layer in _layers(model):
        params = _head_params(layer, n_heads)
        for tensor, axis in params:
            blocks = tensor.chunk(n_heads, dim=axis)
            for h in range(1, n_heads):
                blocks[h].copy_(blocks[0])
        if eps > 0:
            theta0 = torch.cat([t.chunk(n_heads, dim=a)[0].reshape(-1) for t, a in params])
            scale = eps * theta0.norm()
            for h in range(1, n_heads):
                noise = [torch.randn(t.chunk(n_heads, dim=a)[h].shape, generator=gen) for t, a in params]
                norm = torch.sqrt(sum((n ** 2).sum() for n in noise))
                for (t, a), n in zip(params, noise):
                    t.chunk(n_heads, dim=a)[h].add_(n * (scale / norm))


@torch.no_grad()
def head_gap(model: torch.nn.Module, per_layer: bool = False):
    """g = max over blocks and heads of ||θ_h − θ_0|| / ||θ_0|| (0.0 exactly under symmetry)."""
    n_heads = model.config.num_attention_heads
    gaps = []
    for layer in _layers(model):
        thetas = head_slices(layer, n_heads)
        ref = thetas[0].double()
        gaps.append(max(float((t.double() - ref).norm() / ref.norm()) for t in thetas))
    return gaps if per_layer else max(gaps)
