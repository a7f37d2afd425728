"""The full `paper` run, projected from a few measured steps of each stage at paper shape.

    python -m ssb.bench paper [--device auto|cpu|cuda] [--steps 3] [--batch B] [--samples N] [--before REV]

At the paper's shape (d_h 64, hidden 768, 12 heads, 6 blocks, 128 tokens, vocabulary 30,522)
on the chosen device (the profile's ``device`` setting, default "auto"), each stage runs a few
steps after one untimed warm-up:

- pre-training: ``ssb.pretrain.train_step`` (bf16 autocast on CUDA as the profile says) on
  synthetic Zipf token sequences -> tokens/s, model FLOP/s and, on a GPU, MFU against ``--peak-tflops``;
- node-vector extraction: ``ssb.node_vectors.node_vectors`` of blocks 1..6 at masked positions -> sequences/s;
- head training: ``ssb.readouts.train_readout`` of a 768 -> 30,522 token readout -> examples x epochs / s;
- aperture engine: ``ssb.aperture.evaluate_sets`` of that head on single nodes and on the 12 heads
  -> sets/s at ``--samples`` test positions, and node x sample products / s; notebook 06's token
  crossover on its own node sets (``crossover.set_families``; ``--crossover-sets`` of each size
  timed, scaled to the family's count) -> seconds; the same with the
  engine as it was at git revision ``--before`` (default ``BEFORE_REVISION``, the engine before
  the exact single-node envelope and the nested-set chains), loaded beside the current one, so
  that the analysis stage is projected before and after from one run on one machine (the two
  engines' timed calls alternate, ``APERTURE_ROUNDS`` each, and their medians count).

The projection multiplies each rate by the stage's work in the full run (``paper_workload``:
counts from the profile, the rest stated there; the earlier work model, which charged the
crossover and hull sets to all 9 token readouts, is printed beside it for comparison) and prints wall time, the FLOP counts used and
the peak memory per stage: computed from tensor sizes (``peak_memory``) and, on a GPU, the
measured ``torch.cuda.max_memory_allocated`` of the measured step scaled to the full batch.
On a CPU a batch smaller than the profile's can be measured (``--batch``): tokens/s are taken as
batch-independent (a lower bound at the full batch).  Results and the command: docs/benchmarks.md.
"""
from __future__ import annotations

import argparse
import os
import platform
import resource
import subprocess
import sys
import time
import types
from pathlib import Path

import numpy as np
import torch

from ..profiles import get_profile, profile_device

H100_BF16_DENSE_TFLOPS = 989.0   # NVIDIA H100 SXM, bf16 tensor cores, dense
BEFORE_REVISION = "801ab15"      # the aperture engine before the single-node envelope and the chains
APERTURE_ROUNDS = 3              # timed calls of each aperture engine, alternating with the other; the median counts


def engine_at(revision: str):
    """``ssb.aperture`` as it was at a git ``revision`` of this repository, loaded as a module
    of its own beside the current one (its relative imports resolve in today's package)."""
    root = Path(__file__).resolve().parents[3]
    source = subprocess.run(["git", "-C", str(root), "show", f"{revision}:lib/ssb/aperture.py"],
                            capture_output=True, text=True, check=True).stdout
    name = f"ssb._aperture_at_{revision}"
    module = types.ModuleType(name)
    module.__package__ = "ssb"
    module.__file__ = f"{revision}:lib/ssb/aperture.py"
    sys.modules[name] = module
    exec(compile(source, module.__file__, "exec"), module.__dict__)
    return module


# ---------------------------------------------------------------------------
# FLOP counts (multiply-add = 2 FLOPs)
# ---------------------------------------------------------------------------

def body_parameters(p) -> int:
    """Weights of the encoder blocks (attention 4 d^2, MLP 8 d^2 per block), without embeddings."""
    d = p.hidden_size
    return p.n_blocks * 12 * d * d


def pretrain_flops_per_token(p) -> float:
    """Training FLOPs per token: 3 x forward (backward = 2 x forward).  Forward per token:
    2 x body weights, attention scores and mixing 4 T d per block, and at the masked share of
    the positions the MLM head (transform 2 d^2, vocabulary projection 2 d V)."""
    d, T, V = p.hidden_size, p.max_len, p.vocab_size
    forward = 2 * body_parameters(p) + 4 * p.n_blocks * T * d + p.mask_prob * (2 * d * d + 2 * d * V)
    return 3 * forward


def extraction_flops_per_sequence(p) -> float:
    """Forward FLOPs of one sequence through all blocks (node vectors of blocks 1..6)."""
    d, T = p.hidden_size, p.max_len
    return T * (2 * body_parameters(p) + 4 * p.n_blocks * T * d)


def readout_flops_per_example(p, n_classes: int) -> float:
    """One training example of a 1-FC readout (forward + backward): 6 D C."""
    return 6 * p.hidden_size * n_classes


# ---------------------------------------------------------------------------
# the full run's work
# ---------------------------------------------------------------------------

def paper_workload(p, positions_per_sequence: float) -> dict:
    """The work of the full run in the units the rates are measured in.

    From the profile: steps, ssb_steps x 4 SSB variants (+ the stochastic rerun when
    ssb_stochastic), evaluation batches, token_examples, token_mask_draws, head epochs, FewRel
    sizes.  Stated here (from notebooks 02-07): token probes on 3 backbones (main, untrained,
    symmetric), 9 token readouts (blocks 1..6 of the main run, untrained, symmetric, tied), FewRel
    probes on 4 backbones at 2 poolings, both poolings from one forward pass
    (``probes.fewrel_probes``; ``extraction_sequences_before``: one pass per pooling, as
    before), 10 label readouts; held-out sequences = eval_fraction x n_articles (sequences="first":
    one sequence per article).  The aperture: single nodes, heads and the full set of the 9 token
    readouts (notebook 03); notebook 06's token crossover on the main readout of one block, on
    its own sets (``crossover_node_products``); the label readouts' sets (64 labels) are not
    counted."""
    variants = 4 + (1 if p.ssb_stochastic else 0)
    train_steps = p.steps + variants * p.ssb_steps + (p.steps if p.ssb_stochastic else 0)
    eval_batches = (p.steps // p.eval_every + variants * (p.ssb_steps // p.eval_every + 1)) * p.eval_batches
    heldout_sequences = int(p.eval_fraction * p.n_articles)
    token_sequences_per_probe = (p.token_examples / positions_per_sequence + heldout_sequences * p.token_mask_draws)
    test_positions = heldout_sequences * p.token_mask_draws * positions_per_sequence
    fewrel_sentences = 64 * (p.n_train_per_relation + p.n_test_per_relation)
    return {
        "pretrain_steps": train_steps,
        "pretrain_eval_sequences": eval_batches * p.batch_size,
        "extraction_sequences": 3 * token_sequences_per_probe + 4 * fewrel_sentences,
        "extraction_sequences_before": 3 * token_sequences_per_probe + 4 * 2 * fewrel_sentences,
        "token_readout_examples": 9 * p.token_examples * p.token_readout_epochs,
        "label_readout_examples": 10 * 64 * p.n_train_per_relation * p.readout_epochs,
        "test_positions": test_positions,
        "single_node_sets": 9 * p.hidden_size,
        # node x sample products of the multi-node sets of notebook 03: the 12 heads and the full set of each of
        # the 9 token readouts.  Notebook 06's token crossover (the main readout of one block) is measured on its own
        # sets (``crossover_families``); 07's hull and the label crossover run on the label readouts (64 labels).
        "recognition_products": 9 * test_positions * 2 * p.hidden_size,
        # the earlier work model: the crossover and hull sets charged to all 9 token readouts, at the heads' rate
        "multi_node_products_before": 9 * test_positions * (2 * p.hidden_size
                                                           + p.crossover_sets * p.crossover_points * p.hidden_size / 4
                                                           + p.hull_max_sets * p.hull_max_n),
        "crossover_products": test_positions * crossover_node_products(p),
        "finetune_steps": p.finetune_steps,
    }


def crossover_families(p) -> dict[str, tuple[dict, bool]]:
    """Notebook 06's node sets at the profile's shape (``crossover.set_families``)."""
    from ..crossover import set_families
    return set_families(p, p.hidden_size, p.d_head, p.n_heads)


def crossover_node_products(p) -> int:
    """Node x label products per test position of notebook 06's token crossover: every set's
    nodes, a chain's sets counted once along the chain (each adds its new nodes)."""
    total = 0
    for by_size, chained in crossover_families(p).values():
        sizes = sorted(by_size)
        total += len(by_size[sizes[-1]]) * sizes[-1] if chained else sum(n * len(by_size[n]) for n in sizes)
    return total


def peak_memory(p, positions_per_sequence: float) -> dict:
    """Computed peak memory per stage in bytes: (device, host heap), from tensor sizes.

    Node vectors never sit in the host heap: ``cached_node_vectors`` streams them into
    memory-mapped ``.npy`` files and hands back read-only maps, ``train_readout`` gathers a batch
    at a time (or copies z to the device in chunks), ``node_scales`` reads chunks.  The heap
    holds the backbone, one batch and one chunk; the caches are file pages the kernel can
    drop (their size is ``node_vector_disk_bytes``).  On a CPU device and host are one memory:
    add the two columns."""
    from ..readouts import CHUNK_ROWS

    d, T, V, L, B = p.hidden_size, p.max_len, p.vocab_size, p.n_blocks, p.batch_size
    params = body_parameters(p) + (V + T + 2) * d + 2 * d * d + V
    optimizer = 16 * params                                      # fp32 weights, grads, AdamW m and v
    activations = B * T * L * (34 * d + 5 * p.n_heads * T) * (2 if p.mixed_precision == "bf16" else 4)
    mlm_logits = 3 * 4 * p.mask_prob * B * T * V
    w = paper_workload(p, positions_per_sequence)
    extraction_batch = 512
    batch_z = extraction_batch * T * d * 4                      # one captured block (B, T, D) float32
    batch_rows = extraction_batch * positions_per_sequence * d * 4   # its selected rows, copied to the host
    readout_state = 16 * d * V                                      # head weights, grads, AdamW m and v
    readout_batch = 3 * 4 * p.readout_batch * V                        # logits, softmax, their gradient
    block_train_z = p.token_examples * d * 4                     # one block's training node vectors
    block_test_z = w["test_positions"] * d * 4
    chunk = (CHUNK_ROWS + 1) * d * 8                             # node_scales' float64 buffer
    return {
        "pretrain": (optimizer + activations + mlm_logits, 2 * 4 * params),
        "extraction": (4 * params + batch_z * (L + 3), 4 * params + L * batch_rows),
        "token_readout": (block_train_z + readout_state + readout_batch, chunk + p.readout_batch * d * 4 + 4 * d * V),
        "aperture": (block_test_z + 4 * d * V + 3 * 4 * 2 ** 26, 4 * d * V + 8 * w["test_positions"]),
        "finetune": (optimizer + p.finetune_batch * T * L * (34 * d + 5 * p.n_heads * T) * 4, 2 * 4 * params),
    }


def node_vector_disk_bytes(p, positions_per_sequence: float) -> int:
    """The node-vector caches of the full run on disk: blocks 1..6 of the training and
    held-out positions of the 3 token probes, and of the FewRel sentences (4 backbones x 2
    poolings)."""
    w = paper_workload(p, positions_per_sequence)
    d, L = p.hidden_size, p.n_blocks
    token = 3 * (p.token_examples + w["test_positions"]) * L * d * 4
    fewrel = 4 * 2 * 64 * (p.n_train_per_relation + p.n_test_per_relation) * L * d * 4
    return int(token + fewrel)


# ---------------------------------------------------------------------------
# measurements
# ---------------------------------------------------------------------------

def _sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _timed(fn, device, repeats: int, warm: bool = True) -> float:
    """Median seconds of ``repeats`` calls of fn after one untimed call (none when warm=False)."""
    if warm:
        fn()
    times = []
    for _ in range(repeats):
        _sync(device)
        t0 = time.perf_counter()
        fn()
        _sync(device)
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


def _peak_device_bytes(device) -> int | None:
    return int(torch.cuda.max_memory_allocated(device)) if device.type == "cuda" else None


def _reset_peak(device):
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)


def crossover_seconds(p, evaluate, head, z_test, y_test, device, per_size: int) -> dict:
    """Seconds of notebook 06's token crossover at these test positions, family by family:
    ``per_size`` sets of each size timed (whole chains: the first ``per_size`` chains), scaled
    to the family's count of that size (every set of a size costs the same work)."""
    from ..node_sets import flatten
    out = {}
    for name, (by_size, chained) in crossover_families(p).items():
        if chained:
            kept = {n: sets[:per_size] for n, sets in by_size.items()}
            seconds = _timed(lambda: evaluate(head, z_test, y_test, flatten(kept), device=device), device, 1, warm=False)
            out[name] = seconds * len(next(iter(by_size.values()))) / len(next(iter(kept.values())))
            continue
        out[name] = 0.0
        for n, sets in by_size.items():
            kept = sets[:per_size]
            seconds = _timed(lambda: evaluate(head, z_test, y_test, kept, device=device), device, 1, warm=False)
            out[name] += seconds * len(sets) / len(kept)
    return out


def measure(p, device, steps: int, batch: int, samples: int, before=None, crossover_sets: int = 2) -> dict:
    from ..aperture import evaluate_sets
    from ..readouts import train_readout
    from ..mlm import MaskingSpec
    from ..model import build_bert6, profile_shape
    from ..node_sets import head_sets, single_node_sets
    from ..node_vectors import node_vectors
    from ..pretrain import MaskedLMObjective, global_batch, make_optimizer, set_deterministic, train_step
    from .pretrain import synthetic_sequences

    out = {}
    sequences = synthetic_sequences(max(256, 4 * batch), p.max_len, p.vocab_size, p.seed)
    spec = MaskingSpec(vocab_size=p.vocab_size, mask_id=4, special_ids=(0, 1, 2, 3, 4), pad_id=0, mask_prob=p.mask_prob)
    set_deterministic(True)
    model = build_bert6(p.vocab_size, seed=p.seed, **profile_shape(p, dropout=0.0, pad_token_id=0)).to(device).train()
    optimizer = make_optimizer(model, p.lr, p.weight_decay)
    objective = MaskedLMObjective(model)
    use_bf16 = p.mixed_precision == "bf16" and device.type == "cuda"
    step = [0]

    def one_step():
        x, am, y = global_batch(sequences, spec, batch_size=batch, step=step[0], seed=p.seed)
        x, am, y = x.to(device), am.to(device), y.to(device)
        train_step(objective, model, optimizer, x, am, y, n_masked_global=int((y != -100).sum()), use_bf16=use_bf16)
        step[0] += 1

    _reset_peak(device)
    seconds = _timed(one_step, device, steps)
    out["pretrain"] = {"batch": batch, "step_seconds": seconds, "tokens_per_second": batch * p.max_len / seconds,
                       "peak_device_bytes": _peak_device_bytes(device)}
    del optimizer, objective

    # node vectors of blocks 1..6 at masked positions (the token probe's extraction)
    encoder = model.bert.eval()
    n_seq = max(8, batch * 2)
    ids = sequences[:n_seq].copy()
    where = np.random.default_rng(0).random(ids.shape) < p.mask_prob
    ids[where] = 4
    am = np.ones_like(ids)
    extraction_batch = 512 if device.type == "cuda" else 64
    _reset_peak(device)
    seconds = _timed(lambda: node_vectors(encoder, ids, am, list(range(1, p.n_blocks + 1)), select=where,
                                          batch_size=extraction_batch, progress=False, device=device,
                                          bf16=p.mixed_precision == "bf16"), device, max(1, steps // 2))
    out["extraction"] = {"sequences": n_seq, "sequences_per_second": n_seq / seconds,
                         "positions_per_sequence": float(where.sum(1).mean()),
                         "peak_device_bytes": _peak_device_bytes(device)}
    model.cpu()
    del model, encoder
    if device.type == "cuda":
        torch.cuda.empty_cache()

    # a token readout 768 -> 30,522 (whole vocabulary), one epoch of `examples` examples per call
    examples = 4 * p.readout_batch if device.type == "cpu" else 64 * p.readout_batch
    rng = np.random.default_rng(1)
    z = rng.normal(size=(examples, p.hidden_size)).astype(np.float32)
    y = rng.integers(0, p.vocab_size, size=examples)
    _reset_peak(device)
    seconds = _timed(lambda: train_readout(z, y, p.vocab_size, epochs=1, batch_size=p.readout_batch, val_fraction=0.0,
                                        progress=False, device=device), device, max(1, steps // 2))
    out["token_readout"] = {"examples": examples, "examples_per_second": examples / seconds,
                         "peak_device_bytes": _peak_device_bytes(device)}

    # the aperture engine: single nodes and the 12 heads of a trained token readout
    head, _ = train_readout(z, y, p.vocab_size, epochs=1, batch_size=p.readout_batch, val_fraction=0.0, progress=False,
                         device=device)
    z_test = rng.normal(size=(samples, p.hidden_size)).astype(np.float32)
    y_test = rng.integers(0, p.vocab_size, size=samples)
    singles = single_node_sets(p.hidden_size)[:64 if device.type == "cpu" else p.hidden_size]
    heads = head_sets(p.n_heads, p.d_head)
    engines = [("aperture", evaluate_sets)] + ([("aperture_before", before.evaluate_sets)] if before else [])
    peaks, times = {}, {key: ([], []) for key, _ in engines}
    for key, evaluate in engines:                            # one untimed call of each: warm-up and peak memory
        _reset_peak(device)
        evaluate(head, z_test, y_test, singles, device=device)
        evaluate(head, z_test, y_test, heads, device=device)
        peaks[key] = _peak_device_bytes(device)
    for _ in range(APERTURE_ROUNDS):                         # the engines alternate: both see the same load
        for key, evaluate in engines:
            times[key][0].append(_timed(lambda: evaluate(head, z_test, y_test, singles, device=device), device, 1, warm=False))
            times[key][1].append(_timed(lambda: evaluate(head, z_test, y_test, heads, device=device), device, 1, warm=False))
    for key, evaluate in engines:
        s_single, s_heads = float(np.median(times[key][0])), float(np.median(times[key][1]))
        out[key] = {"samples": samples, "single_sets_per_second": len(singles) / s_single,
                    "head_sets_per_second": len(heads) / s_heads,
                    "node_sample_products_per_second": len(heads) * p.d_head * samples / s_heads,
                    "crossover_seconds": crossover_seconds(p, evaluate, head, z_test, y_test, device, crossover_sets),
                    "peak_device_bytes": peaks[key]}
    out["host_peak_rss_bytes"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    return out


def aperture_seconds(w: dict, rates: dict, work_model: str = "sets") -> float:
    """The analysis stage, everything scaled linearly from the measured test positions: every
    single node at the measured single-node rate (an upper bound for the envelope, whose per-node
    part does not grow with them), notebook 03's heads and full sets at the head sets' rate, and
    notebook 06's token crossover as measured on its own sets (``crossover_seconds``).
    ``work_model="before"``: the earlier model, which charged the crossover and hull sets to all
    9 token readouts at the heads' rate (``multi_node_products_before``)."""
    per_position = w["test_positions"] / rates["samples"]
    singles = w["single_node_sets"] / rates["single_sets_per_second"] * per_position
    if work_model == "before":
        return singles + w["multi_node_products_before"] / rates["node_sample_products_per_second"]
    return (singles + w["recognition_products"] / rates["node_sample_products_per_second"]
            + sum(rates["crossover_seconds"].values()) * per_position)


def project(p, m: dict) -> dict:
    """Per stage: (seconds, FLOPs) of the full run from the measured rates."""
    w = paper_workload(p, m["extraction"]["positions_per_sequence"])
    tok_rate = m["pretrain"]["tokens_per_second"]
    seq_rate = m["extraction"]["sequences_per_second"]
    tokens = w["pretrain_steps"] * p.batch_size * p.max_len
    eval_tokens = w["pretrain_eval_sequences"] * p.max_len
    pretrain_s = tokens / tok_rate + eval_tokens / (3 * tok_rate)
    extraction_s = w["extraction_sequences"] / seq_rate
    readout_s = (w["token_readout_examples"] + w["label_readout_examples"] * 64 / p.vocab_size) / m["token_readout"]["examples_per_second"]
    aperture_s = aperture_seconds(w, m["aperture"])
    finetune_s = w["finetune_steps"] * p.finetune_batch * p.max_len / tok_rate * 1.2
    return {
        "pretrain": (pretrain_s, tokens * pretrain_flops_per_token(p)),
        "extraction": (extraction_s, w["extraction_sequences"] * extraction_flops_per_sequence(p)),
        "token_readout": (readout_s, w["token_readout_examples"] * readout_flops_per_example(p, p.vocab_size)),
        "aperture": (aperture_s, 2.0 * p.vocab_size * (w["single_node_sets"] * w["test_positions"] + w["recognition_products"]
                                                       + w["crossover_products"])),
        "finetune": (finetune_s, w["finetune_steps"] * p.finetune_batch * p.max_len * pretrain_flops_per_token(p)),
    }, w


def _gb(x) -> str:
    return "-" if x is None else f"{x / 1e9:.2f} GB"


def _hours(s: float) -> str:
    return f"{s / 3600:.1f} h" if s >= 3600 else f"{s / 60:.1f} min"


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="python -m ssb.bench paper", description=__doc__.split("\n\n")[0])
    ap.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    ap.add_argument("--steps", type=int, default=3, help="timed steps of pre-training (default 3; other stages fewer)")
    ap.add_argument("--batch", type=int, default=None,
                    help="pre-training batch measured (default: the profile's 32 on a GPU, 4 on a CPU)")
    ap.add_argument("--samples", type=int, default=None, help="aperture test positions (default 512 CPU, 20000 GPU)")
    ap.add_argument("--peak-tflops", type=float, default=H100_BF16_DENSE_TFLOPS,
                    help="the device's bf16 dense peak for MFU (default: H100 SXM, 989)")
    ap.add_argument("--threads", type=int, default=None, help="torch threads on the CPU (default: torch's choice)")
    ap.add_argument("--crossover-sets", type=int, default=2,
                    help="sets of each size of notebook 06's families timed (whole chains for the grown family; default 2)")
    ap.add_argument("--before", default=BEFORE_REVISION,
                    help=f"git revision whose aperture engine is measured too (default {BEFORE_REVISION}; 'none': skip)")
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    p = get_profile("paper", device=args.device)
    device = profile_device(p)
    batch = args.batch or (p.batch_size if device.type == "cuda" else 4)
    samples = args.samples or (20_000 if device.type == "cuda" else 512)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} threads"
    print(f"paper shape: {p.n_blocks} blocks, {p.n_heads} heads x d_h {p.d_head} = {p.hidden_size}, {p.max_len} tokens, "
          f"vocabulary {p.vocab_size}; device {device} ({name}); mixed_precision {p.mixed_precision}"
          f"{' (bf16 autocast)' if device.type == 'cuda' and p.mixed_precision == 'bf16' else ' (fp32 on CPU)'}")
    before = None
    if args.before.lower() != "none":
        try:
            before = engine_at(args.before)
        except (OSError, subprocess.CalledProcessError) as err:
            print(f"the engine at {args.before} cannot be loaded ({err}); measuring today's engine only")
    load_start = os.getloadavg()[0]
    t0 = time.perf_counter()
    if args.crossover_sets < 1:
        ap.error(f"--crossover-sets must be positive, got {args.crossover_sets}")
    m = measure(p, device, args.steps, batch, samples, before, crossover_sets=args.crossover_sets)
    stages, w = project(p, m)
    flops_rate = m["pretrain"]["tokens_per_second"] * pretrain_flops_per_token(p)
    print(f"\nmeasured (median of the timed calls, {time.perf_counter() - t0:.0f} s in all; 1-minute load average "
          f"{load_start:.2f} at the start, {os.getloadavg()[0]:.2f} at the end, this benchmark's threads included):")
    print(f"  pre-training      batch {batch} x {p.max_len}: {m['pretrain']['tokens_per_second']:,.0f} tokens/s "
          f"({m['pretrain']['step_seconds']:.3f} s/step), {flops_rate / 1e12:.3f} TFLOP/s"
          + (f", MFU {flops_rate / (args.peak_tflops * 1e12):.1%} of {args.peak_tflops:g} TFLOP/s bf16" if device.type == "cuda" else ""))
    print(f"  node vectors      {m['extraction']['sequences_per_second']:,.1f} sequences/s (blocks 1..{p.n_blocks}, "
          f"{m['extraction']['positions_per_sequence']:.1f} masked positions per sequence)")
    print(f"  token readout        {m['token_readout']['examples_per_second']:,.0f} examples/s "
          f"({p.hidden_size} -> {p.vocab_size}, batch {p.readout_batch})")
    print(f"  aperture engine   {m['aperture']['single_sets_per_second']:,.1f} single-node sets/s and "
          f"{m['aperture']['head_sets_per_second']:,.2f} head sets/s at {samples} test positions")
    print(f"    notebook 06's token crossover at {samples} test positions: " + ", ".join(
        f"{name} {seconds:,.1f} s" for name, seconds in m["aperture"]["crossover_seconds"].items()))
    if "aperture_before" in m:
        print(f"    (at {args.before}: {m['aperture_before']['single_sets_per_second']:,.1f} single-node sets/s, "
              f"{m['aperture_before']['head_sets_per_second']:,.2f} head sets/s; crossover " + ", ".join(
                  f"{seconds:,.1f} s" for seconds in m["aperture_before"]["crossover_seconds"].values()) + ")")
    pm = peak_memory(p, m["extraction"]["positions_per_sequence"])
    print(f"\nFLOPs used: pre-training {pretrain_flops_per_token(p) / 1e9:.3f} GFLOP/token (3 x forward), "
          f"extraction {extraction_flops_per_sequence(p) / 1e9:.1f} GFLOP/sequence, token readout "
          f"{readout_flops_per_example(p, p.vocab_size) / 1e6:.0f} MFLOP/example")
    print(f"work: {w['pretrain_steps']:,} pre-training steps (+{w['pretrain_eval_sequences']:,} eval sequences), "
          f"{w['extraction_sequences']:,.0f} sequences through the backbone, {w['token_readout_examples']:,} token-readout "
          f"examples x epochs, {w['test_positions']:,.0f} token test positions per probe")
    print(f"\nprojected full `paper` run on this device:")
    print(f"  {'stage':<14}{'wall time':>12}{'FLOPs':>12}{'device peak':>14}{'host heap':>12}  (computed; measured device peak)")
    total = 0.0
    for stage, (seconds, flops) in stages.items():
        total += seconds
        dev, host = pm[stage]
        measured = m.get(stage, {}).get("peak_device_bytes")
        print(f"  {stage:<14}{_hours(seconds):>12}{flops:>12.2e}{_gb(dev):>14}{_gb(host):>12}"
              + (f"  (measured {_gb(measured)} at batch {batch})" if measured else ""))
    print(f"  {'total':<14}{_hours(total):>12}")
    if "aperture_before" in m:
        after = stages["aperture"][0]
        earlier = aperture_seconds(w, m["aperture_before"])
        extraction, extraction_before = stages["extraction"][0], \
            w["extraction_sequences_before"] / m["extraction"]["sequences_per_second"]
        before_total = total - after + earlier - extraction + extraction_before
        print(f"analysis stage (aperture engine), the same work: {_hours(earlier)} with the engine at {args.before}, "
              f"{_hours(after)} now ({earlier / after:.1f}x lower)")
        old_model = aperture_seconds(w, m["aperture_before"], work_model="before")
        print(f"  the earlier work model (crossover and hull sets charged to all 9 token readouts at the heads' rate): "
              f"{_hours(old_model)} with the engine at {args.before}, "
              f"{_hours(aperture_seconds(w, m['aperture'], work_model='before'))} now; "
              f"against it, today's stage is {old_model / after:.1f}x lower")
        print(f"extraction, one forward pass per FewRel pooling as before: {_hours(extraction_before)}, "
              f"{_hours(extraction)} now (both poolings from one pass)")
        print(f"total {_hours(before_total)} -> {_hours(total)}; without pre-training "
              f"{_hours(before_total - stages['pretrain'][0])} -> {_hours(total - stages['pretrain'][0])}")
    print(f"node-vector caches on disk (memory-mapped, never in the heap): "
          f"{_gb(node_vector_disk_bytes(p, m['extraction']['positions_per_sequence']))}")
    print(f"host peak RSS of this benchmark: {_gb(m['host_peak_rss_bytes'])}")
    return 0
