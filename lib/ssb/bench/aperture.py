"""Benchmark: the batched aperture engine against the naive per-set loop.

    python -m ssb.bench aperture                       # synthetic node vectors, no data needed
    python -m ssb.bench aperture --features cached --profile smoke   # the pipeline's token probe

Both sides evaluate the same 1-FC heads on the same held-out node vectors over every single
node and every attention head (12·d_h + 12 sets):

- naive:  ``aperture.naive_predictions``: per set, copy the head, zero fc1's columns
          outside the set, run it on the full z, argmax (N·C·D multiply-adds per set);
- engine: ``aperture.evaluate_sets`` with keep_predictions=True, which also computes every
          label count, P, R and DC (the naive side computes predictions only).  It runs
          with its default of one intra-op thread (``--engine-threads``); the naive loop
          with torch's setting (``--threads``).

It checks that the predictions agree.  Single nodes must be bit-identical; a head set may
differ only at a float32 near-tie (the engine sums k products in another order than BLAS),
which is reported with its float64 margin; anything else fails the run.

Synthetic features ("random but structured"): C class means μ_c whose energy sits in a few
random heads, Zipf-distributed classes for the token task and uniform ones for the label
task, z = μ_y + noise with per-node scales; the head is trained for ``--head-epochs``.
Results are recorded in docs/benchmarks.md.
"""
from __future__ import annotations

import argparse
import os
import platform
import statistics
import time

import numpy as np
import torch

from ssb.aperture import evaluate_sets, naive_predictions
from ssb.bench._args import non_negative_int, positive_int, profile_name
from ssb.heads import train_head
from ssb.node_sets import head_sets, single_node_sets
from ssb.profiles import get_profile


def synthetic_task(n_classes: int, n_heads: int, d_head: int, n_train: int, n_test: int, zipf: bool,
                   seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(z_train (N_tr, D), y_train, z_test (N_te, D), y_test) float32 / int64."""
    rng = np.random.default_rng(seed)
    d = n_heads * d_head
    means = rng.standard_normal((n_classes, d))
    head_gain = rng.random((n_classes, n_heads)) ** 4 * 3.0          # each class lives mostly in a few heads
    means *= np.repeat(head_gain, d_head, axis=1)
    node_scale = rng.uniform(0.3, 2.0, d)
    p = 1.0 / np.arange(1, n_classes + 1) if zipf else np.ones(n_classes)
    p = p[rng.permutation(n_classes)] / p.sum()

    def draw(n):
        y = rng.choice(n_classes, size=n, p=p)
        z = (means[y] + rng.standard_normal((n, d))) * node_scale
        return z.astype(np.float32), y.astype(np.int64)

    return (*draw(n_train), *draw(n_test))


def cached_task(profile, n_test: int):
    """The pipeline's token probe on ``profile.block`` (pre-trains the model if needed)."""
    from ssb.pipeline import corpus, variant_token_probe

    c = corpus(profile)
    probe = variant_token_probe(profile, "main", c, [profile.block])
    b = profile.block
    return (probe.z_train[b], probe.y_train, probe.z_test[b][:n_test], probe.y_test[:n_test],
            probe.n_classes, probe.n_heads, probe.d_head)


def near_tie_margins(head, z: np.ndarray, sets: list, engine: np.ndarray, naive: np.ndarray) -> list[float]:
    """For every disagreement, |logit(engine label) - logit(naive label)| / scale in float64."""
    w = head.fc1.weight.detach().double().numpy()
    b = head.fc1.bias.detach().double().numpy()
    out = []
    for i, n in zip(*np.nonzero(engine != naive)):
        s = sets[i]
        logits = w[:, s] @ z[n, s].astype(np.float64) + b                       # (C,)
        scale = np.abs(w[:, s]).max() * np.abs(z[n, s]).sum() + np.abs(b).max()
        out.append(abs(logits[engine[i, n]] - logits[naive[i, n]]) / scale)
    return out


def run_task(name: str, z_tr, y_tr, z_te, y_te, n_classes: int, n_heads: int, d_head: int, args) -> dict:
    t0 = time.perf_counter()
    head, _ = train_head(z_tr, y_tr, n_classes, epochs=args.head_epochs, lr=3e-3, batch_size=512,
                         patience=args.head_epochs, seed=args.seed, progress=False)
    t_train = time.perf_counter() - t0
    sets = single_node_sets(n_heads * d_head) + head_sets(n_heads, d_head)
    with torch.no_grad():
        full_accuracy = float((head(torch.from_numpy(z_te)).argmax(-1).numpy() == y_te).mean())

    evaluate_sets(head, z_te[:64], y_te[:64], sets[:4] + sets[-1:], threads=args.engine_threads or None)   # warm-up
    engine_times = []
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        res = evaluate_sets(head, z_te, y_te, sets, keep_predictions=True, threads=args.engine_threads or None)
        engine_times.append(time.perf_counter() - t0)
    t0 = time.perf_counter()
    naive = naive_predictions(head, z_te, sets)
    t_naive = time.perf_counter() - t0

    engine = res.predictions
    n_single = n_heads * d_head
    single_ok = np.array_equal(engine[:n_single], naive[:n_single])
    margins = near_tie_margins(head, z_te, res.sets, engine, naive)
    t_engine = statistics.median(engine_times)
    row = {"task": name, "N": len(y_te), "D": n_heads * d_head, "C": n_classes, "sets": len(sets),
           "head_train_s": t_train, "head_test_accuracy": full_accuracy,
           "naive_s": t_naive, "engine_s": t_engine, "engine_runs_s": engine_times,
           "ratio": t_naive / t_engine, "identical": bool(np.array_equal(engine, naive)),
           "mismatches": len(margins), "max_mismatch_margin": max(margins, default=0.0)}
    print(f"[{name}] N={row['N']} D={row['D']} C={n_classes} sets={len(sets)} "
          f"(head trained {t_train:.1f} s, all-node test accuracy {full_accuracy:.3f})")
    print(f"  naive  loop : {t_naive:8.3f} s")
    print(f"  engine      : {t_engine:8.3f} s  (median of {args.repeats}: "
          + ", ".join(f"{t:.3f}" for t in engine_times) + ")")
    print(f"  ratio       : {row['ratio']:8.1f}x")
    print(f"  predictions : {'identical' if row['identical'] else f'{len(margins)} differ'} "
          f"({engine.size:,} set x sample predictions)")
    if not single_ok:
        raise AssertionError(f"[{name}] single-node predictions differ from the naive loop: a bug")
    if margins and max(margins) > args.tie_tolerance:
        raise AssertionError(f"[{name}] {len(margins)} predictions differ, largest float64 margin "
                             f"{max(margins):.2e} > {args.tie_tolerance:.0e}: not a rounding near-tie, a bug")
    if margins:
        print(f"  (all {len(margins)} differences are float32 near-ties, margin <= {max(margins):.1e})")
    return row


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m ssb.bench aperture", description=__doc__.split("\n\n")[0])
    ap.add_argument("--profile", type=profile_name, default="quick", help="profile for --features cached (default quick)")
    ap.add_argument("--features", choices=("synthetic", "cached"), default="synthetic")
    ap.add_argument("--n-test", type=positive_int, default=2000, help="held-out node vectors (default 2000)")
    ap.add_argument("--n-train", type=positive_int, default=8000, help="synthetic training vectors (default 8000)")
    ap.add_argument("--n-heads", type=positive_int, default=12)
    ap.add_argument("--d-head", type=positive_int, default=16)
    ap.add_argument("--token-classes", type=positive_int, default=4096, help="classes of the token head (default 4096)")
    ap.add_argument("--label-classes", type=positive_int, default=16, help="classes of the label head (default 16)")
    ap.add_argument("--head-epochs", type=positive_int, default=3)
    ap.add_argument("--repeats", type=positive_int, default=3, help="engine runs; the median is reported")
    ap.add_argument("--tie-tolerance", type=float, default=1e-5,
                    help="largest relative float64 margin accepted for a float32 near-tie (default 1e-5)")
    ap.add_argument("--threads", type=positive_int, default=None,
                    help="torch intra-op threads (default: torch's own default); the naive loop runs with these")
    ap.add_argument("--engine-threads", type=non_negative_int, default=1,
                    help="evaluate_sets(threads=...): 1 = its default; 0 = torch's setting (--threads)")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    if args.threads is not None:
        torch.set_num_threads(args.threads)

    print(f"machine: {platform.platform()}, {platform.processor() or 'cpu'}, "
          f"{os.cpu_count()} CPUs, torch {torch.__version__} with {torch.get_num_threads()} threads, "
          f"load average {os.getloadavg()[0]:.1f}; engine threads: {args.engine_threads or torch.get_num_threads()}")
    rows = []
    if args.features == "synthetic":
        for name, n_classes, zipf, seed in (("tokens", args.token_classes, True, args.seed),
                                            ("labels", args.label_classes, False, args.seed + 1)):
            data = synthetic_task(n_classes, args.n_heads, args.d_head, args.n_train, args.n_test, zipf, seed)
            rows.append(run_task(name, *data, n_classes, args.n_heads, args.d_head, args))
    else:
        profile = get_profile(args.profile)
        z_tr, y_tr, z_te, y_te, n_classes, n_heads, d_head = cached_task(profile, args.n_test)
        rows.append(run_task(f"tokens[{profile.name}]", z_tr, y_tr, z_te, y_te, n_classes, n_heads, d_head, args))
    total_naive = sum(r["naive_s"] for r in rows)
    total_engine = sum(r["engine_s"] for r in rows)
    print(f"total: naive {total_naive:.2f} s, engine {total_engine:.2f} s, ratio {total_naive / total_engine:.1f}x")
    return 0
