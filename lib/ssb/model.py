"""BERT-6 on HuggingFace ``BertConfig``/``BertForMaskedLM``, its symmetric initialisations,
and the head gap g (docs/method.md, "Symmetric controls").

Per-head parameter slices of one block (``head_slices``):

    query/key/value weight rows   [h*d_h:(h+1)*d_h, :]    (d_h, hidden) each
    query/key/value bias entries  [h*d_h:(h+1)*d_h]
    attention.output.dense cols   [:, h*d_h:(h+1)*d_h]    (hidden, d_h)  -- W_O

Permuting heads (these slices together) leaves the network's function unchanged, so a
point where every head is a copy of head 0 is a fixed point of the symmetry: a
deterministic gradient step keeps it there, and only a perturbation breaks it.

Float-exactness of that fixed point is a property of the kernels, not of the maths: every
head's gradient slice must be rounded the same way. Stock kernels do not guarantee it. On
CPU (MKL, AVX-512) the ``nn.Linear`` bias gradient (a column sum) rounds the last columns
of a 36- or 48-wide layer differently, its weight gradient rounds rows that straddle a GEMM
tile differently, and the SDPA attention backward rounds heads differently for d_head 5,
6, 7, 9, 10, 11, so symmetric heads drift apart at the 1e-7 level within a few steps.
``exact_head_gradients`` (applied by ``build_bert6`` to the symmetric inits) removes all
three: each head's projection gradients come from their own identically shaped kernel
calls, and attention runs in the "eager" implementation (batched matmuls over heads).
With it, g stays 0.0 for every d_head in 1..16, 20, 24, 32, 64 (checked on CPU).

The node-level control ("node_symmetric", ``symmetrize_nodes``) goes one step further: inside
each head every node (one output feature of Q/K/V, one input column of W_O) starts as a copy
of the head's first node, while the heads stay different. Its order parameter is the node gap
(``node_gap``). ``exact_head_gradients(model, per_node=True)`` makes every node's gradient
slice come from its own identically shaped kernel call, so deterministic training keeps the
nodes of a head bit-identical.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from transformers import BertConfig, BertForMaskedLM


def bert6_config(vocab_size: int, *, n_blocks: int = 6, n_heads: int = 12, d_head: int = 64,
                 max_len: int = 128, dropout: float = 0.0, pad_token_id: int = 0) -> BertConfig:
    """Config of BERT-6: hidden = n_heads * d_head, FFN = 4 * hidden."""
    for name, value in (("vocab_size", vocab_size), ("n_blocks", n_blocks), ("n_heads", n_heads),
                        ("d_head", d_head), ("max_len", max_len)):
        if value < 1:
            raise ValueError(f"{name} must be >= 1, got {value}")
    if not 0.0 <= dropout < 1.0:
        raise ValueError(f"dropout must be in [0, 1), got {dropout}")
    hidden = n_heads * d_head
    return BertConfig(
        vocab_size=vocab_size, hidden_size=hidden, num_hidden_layers=n_blocks,
        num_attention_heads=n_heads, intermediate_size=4 * hidden,
        max_position_embeddings=max_len, type_vocab_size=2, pad_token_id=pad_token_id,
        hidden_dropout_prob=dropout, attention_probs_dropout_prob=dropout,
    )


INITS = ("random", "symmetric", "symmetric_eps", "node_symmetric", "node_symmetric_eps")


def profile_shape(profile, *, dropout: float, pad_token_id: int) -> dict:
    """``build_bert6``'s architecture keywords of a profile (blocks, heads, d_h, max_len) with the
    caller's dropout and pad id: one spelling for every caller, so that an untrained control or a
    step-0 model is built exactly as the run it stands for."""
    return dict(n_blocks=profile.n_blocks, n_heads=profile.n_heads, d_head=profile.d_head, max_len=profile.max_len,
                dropout=dropout, pad_token_id=pad_token_id)


def build_bert6(vocab_size: int, *, seed: int, init: str = "random", eps: float = 1e-4,
                exact_heads: bool | None = None, **config_kwargs) -> BertForMaskedLM:
    """A freshly initialised BertForMaskedLM.

    init: "random" (standard), "symmetric" (every block's heads copies of head 0),
    "symmetric_eps" (symmetric, then each head h >= 1 moved by relative size ``eps``),
    "node_symmetric" (inside every head each node a copy of the head's node 0; heads differ),
    "node_symmetric_eps" (node_symmetric, then each node i >= 1 moved by relative size ``eps``).
    The same seed gives the same weights (the global torch RNG is seeded with ``seed``).
    Symmetric inits change only the per-head slices (``head_slices``); every other
    parameter equals the random init's. ``exact_heads`` (default: True for the symmetric
    inits, False for "random") installs ``exact_head_gradients`` (per node for the
    node-level inits).
    """
    if init not in INITS:
        raise ValueError(f"init must be one of {', '.join(repr(i) for i in INITS)}, got {init!r}")
    if init.endswith("_eps") and not eps > 0:
        raise ValueError(f"init {init!r} needs eps > 0, got {eps}")
    torch.manual_seed(seed)
    model = BertForMaskedLM(bert6_config(vocab_size, **config_kwargs))
    eps_used = eps if init.endswith("_eps") else 0.0
    if init in ("symmetric", "symmetric_eps"):
        symmetrize_heads(model, eps=eps_used, seed=seed)
    elif init in ("node_symmetric", "node_symmetric_eps"):
        symmetrize_nodes(model, eps=eps_used, seed=seed)
    if init != "random" if exact_heads is None else exact_heads:
        exact_head_gradients(model, per_node=init.startswith("node_"))
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


class _HeadwiseLinearFunction(torch.autograd.Function):
    """y = x Wᵀ + b, with a backward that computes every head's gradient slice by its own
    kernel calls on identically shaped, freshly allocated (so equally aligned) operands.

    head_axis 0: heads own blocks of d_head output features (rows of W, entries of b):
    the query/key/value projections. head_axis 1: heads own blocks of input features
    (columns of W): the attention output projection W_O, and the first layer of a classifier
    readout trained with tied blocks (``readouts.train_readout``). Gradients are computed in float32.
    The values are the ordinary gradient: nothing forces the blocks together when the heads'
    inputs differ; identical blocks just get bit-identical gradients.
    """

    @staticmethod
    def forward(ctx, x, weight, bias, n_heads: int, head_axis: int):
        ctx.save_for_backward(x, weight)
        ctx.n_heads, ctx.head_axis = n_heads, head_axis
        return F.linear(x, weight, bias)

    @staticmethod
    def backward(ctx, grad_out):
        x, weight = ctx.saved_tensors
        need_x, need_w, need_b = ctx.needs_input_grad[:3]
        out_f, in_f = weight.shape
        g = grad_out.reshape(-1, out_f).float()                  # (N, out)
        xs = x.reshape(-1, in_f).float()                         # (N, in)
        w = weight.float()                                       # (out, in)
        grad_x = grad_w = grad_b = None
        if ctx.head_axis == 0:
            d = out_f // ctx.n_heads
            if need_x:
                grad_x = g @ w                                   # (N, in): a sum over heads, not per head
            if need_w or need_b:
                grad_w, grad_b = torch.empty_like(w), g.new_empty(out_f)
                for h in range(ctx.n_heads):
                    g_h = g[:, h * d:(h + 1) * d].t().contiguous()          # (d, N)
                    grad_w[h * d:(h + 1) * d] = g_h @ xs                    # (d, in)
                    grad_b[h * d:(h + 1) * d] = g_h.sum(1)                  # (d,)
        else:
            d = in_f // ctx.n_heads
            grad_x = torch.empty_like(xs) if need_x else None
            grad_w = torch.empty_like(w) if need_w else None
            g_t = g.t().contiguous() if need_w else None         # (out, N)
            for h in range(ctx.n_heads):
                cols = slice(h * d, (h + 1) * d)
                if need_x:
                    grad_x[:, cols] = g @ w[:, cols].contiguous()           # (N, d)
                if need_w:
                    grad_w[:, cols] = g_t @ xs[:, cols].contiguous()        # (out, d)
            if need_b:
                grad_b = g.sum(0)                                # (out,): W_O's bias is shared by the heads
        if grad_x is not None:
            grad_x = grad_x.reshape(x.shape).to(x.dtype)
        if grad_w is not None:
            grad_w = grad_w.to(weight.dtype)
        if grad_b is not None:
            grad_b = grad_b.to(weight.dtype)
        return grad_x, grad_w, grad_b, None, None


def headwise_linear(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, *, n_heads: int,
                    head_axis: int) -> torch.Tensor:
    """``F.linear(x, weight, bias)`` whose backward computes every head's gradient block by its
    own kernel calls (``_HeadwiseLinearFunction``), so identical heads get bit-identical
    gradients.  ``head_axis`` 0: heads own blocks of output features; 1: of input features."""
    return _HeadwiseLinearFunction.apply(x, weight, bias, n_heads, head_axis)


class HeadwiseLinear(torch.nn.Linear):
    """``nn.Linear`` (same parameters, same forward) whose backward is head-exact; see
    ``headwise_linear``. Installed in place by ``exact_head_gradients``."""

    n_heads: int
    head_axis: int

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return headwise_linear(x, self.weight, self.bias, n_heads=self.n_heads, head_axis=self.head_axis)


def exact_head_gradients(model: torch.nn.Module, per_node: bool = False) -> torch.nn.Module:
    """Make identical heads receive bit-identical gradients: turn every block's query, key,
    value and attention-output projections into ``HeadwiseLinear`` and switch attention to
    the "eager" implementation (in place; parameters and state_dict names are unchanged,
    the forward pass is the same function). Returns ``model``.

    per_node=True computes every node's slice (width 1) by its own kernel calls, so that
    identical nodes inside a head receive bit-identical gradients too (the node-level
    control); it costs a loop over all hidden units in the projections' backward.

    The cost is a loop over heads in the projections' backward (a few percent of a step
    on CPU); ``from_pretrained`` gives back plain modules, so re-apply it after loading a
    model that will be trained further.
    """
    if hasattr(model, "set_attn_implementation"):
        model.set_attn_implementation("eager")
    else:
        model.config._attn_implementation = "eager"
    n_heads = model.config.num_attention_heads
    if per_node:
        n_heads = model.config.hidden_size          # every node its own "head" of width 1
    for layer in _layers(model):
        att = layer.attention
        for lin, axis in ((att.self.query, 0), (att.self.key, 0), (att.self.value, 0), (att.output.dense, 1)):
            lin.__class__ = HeadwiseLinear
            lin.n_heads, lin.head_axis = n_heads, axis
    return model


@torch.no_grad()
def symmetrize_heads(model: torch.nn.Module, eps: float = 0.0, seed: int = 0) -> None:
    """Copy head 0 onto every head in every block; with ``eps`` > 0 move each head h >= 1 by
    a random direction of norm ``eps * ||θ_0||`` (so the initial gap g(0) is eps, up to
    float rounding). The direction depends on ``seed`` only."""
    if eps < 0:
        raise ValueError(f"eps must be >= 0, got {eps}")
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


def _node_params(layer, n_heads: int):
    """(tensor, axis) pairs whose slices along ``axis`` belong to single nodes (one row of
    Q/K/V weights, one entry of their biases, one column of W_O): the head parameters of
    ``_head_params`` with one "head" per hidden unit."""
    hidden = layer.attention.self.query.weight.shape[0]
    return _head_params(layer, hidden)


@torch.no_grad()
def symmetrize_nodes(model: torch.nn.Module, eps: float = 0.0, seed: int = 0) -> None:
    """Inside every head of every block, copy the head's node 0 (its Q/K/V rows and bias
    entries and its W_O column) onto the head's other nodes; the heads keep their own random
    values. With ``eps`` > 0 move each node i >= 1 of a head by a random direction of norm
    ``eps * ||phi_0||`` (phi: the node's parameters), so the initial node gap is eps."""
    if eps < 0:
        raise ValueError(f"eps must be >= 0, got {eps}")
    n_heads = model.config.num_attention_heads
    d_head = model.config.hidden_size // n_heads
    gen = torch.Generator().manual_seed(20_011 * (seed + 1))
    for layer in _layers(model):
        params = _head_params(layer, n_heads)
        for h in range(n_heads):
            nodes = [[t.narrow(a, h * d_head + i, 1) for t, a in params] for i in range(d_head)]
            for i in range(1, d_head):
                for dst, src in zip(nodes[i], nodes[0]):
                    dst.copy_(src)
            if eps > 0:
                phi0 = torch.cat([p.reshape(-1) for p in nodes[0]])
                scale = eps * phi0.norm()
                for i in range(1, d_head):
                    noise = [torch.randn(p.shape, generator=gen) for p in nodes[i]]
                    norm = torch.sqrt(sum((n ** 2).sum() for n in noise))
                    for p, n in zip(nodes[i], noise):
                        p.add_(n * (scale / norm))


@torch.no_grad()
def node_gap(model: torch.nn.Module, per_layer: bool = False):
    """Node-level order parameter: max over blocks, heads and nodes i of
    ||phi_{h,i} - phi_{h,0}|| / ||phi_{h,0}|| (phi: a node's Q/K/V rows and bias entries and
    its W_O column; 0.0 exactly while the nodes of every head are identical)."""
    n_heads = model.config.num_attention_heads
    d_head = model.config.hidden_size // n_heads
    gaps = []
    for layer in _layers(model):
        phis = torch.stack(head_slices(layer, n_heads * d_head)).double()     # (hidden, node params)
        phis = phis.reshape(n_heads, d_head, -1)
        ref = phis[:, :1]
        gap = ((phis - ref).norm(dim=-1) / ref.norm(dim=-1)).max()
        gaps.append(float(gap))
    return gaps if per_layer else max(gaps)
