"""Benchmark: the batched aperture engine against the naive per-set loop.

    OMP_WAIT_POLICY=PASSIVE python -m ssb.bench aperture   # synthetic node vectors, no data needed
    python -m ssb.bench aperture --under-load          # print the ratios although the machine is busy
    python -m ssb.bench aperture --features cached --profile smoke   # the pipeline's token probe
    python -m ssb.bench aperture --before 8858d35      # also time the engine at a git revision, same run

Both sides evaluate the same 1-FC readouts on the same held-out node vectors, once with one
intra-op thread and once with two (``--thread-counts``; the naive loop and the engine use the
same count):

- naive:  ``aperture.naive_predictions``: per set, copy the head, zero fc1's columns
          outside the set, run it on the full z, argmax (N·C·D multiply-adds per set);
- engine: ``aperture.evaluate_sets`` with keep_predictions=True, which also computes every
          label count, P, R and DC (the naive side computes predictions only).

Workloads: a token readout (C = 4,096) and a label readout (C = 16) on every single node and every
attention head (12·d_h + 12 sets), and the paper's shape (D = 768 = 12 x 64 nodes, C = 30,522
labels, ``--paper-samples`` test vectors) on three families: the 768 single nodes, the 12
heads, and sets grown node by node inside each head (``nested_head_sets``, sizes 1, 2, 4, 8,
12, ..., 64: the crossover's chains).  At the paper's shape the naive loop runs on a few sets
of each family (``--paper-naive-sets``; it costs the same for every set) and both sides are
compared per set.

With ``--before REV`` the engine as it was at git revision REV (``ssb.bench.paper.engine_at``)
is timed beside today's on the same head, node vectors and sets, each run alternating with
today's, so that the engine's own speed-up is measured under the same load; its predictions are
checked against today's engine's (single nodes identical, other sets up to float32 near-ties).

It checks that the predictions agree.  Single nodes must be bit-identical; a multi-node set
may differ only at a float32 near-tie (the engine sums the k products in another order than
BLAS, and along a chain adds the new nodes' products to the previous set's sums), which is
reported with its float64 margin; anything else fails the run.

Load.  Other processes slow the two sides very differently (the naive loop's large products
lose more than the engine's small ones), so a ratio measured on a busy machine says little.
The 1-minute load average is printed beside every figure, and when it exceeds 0.5 per core at
the start the ratios are withheld unless ``--under-load`` is given (they are then labelled).

Synthetic features ("random but structured"): C class means μ_c whose energy sits in a few
random readouts, Zipf-distributed classes for the token task and uniform ones for the label
task, z = μ_y + noise with per-node scales; the readout is trained for ``--readout-epochs``.
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
from ssb.bench._args import positive_int, profile_name
from ssb.readouts import train_readout
from ssb.node_sets import flatten, head_sets, in_head_grid, nested_head_sets, single_node_sets
from ssb.profiles import get_profile

LOAD_PER_CORE_LIMIT = 0.5   # above this 1-minute load average per core, ratios are withheld


def load_average() -> float:
    """The 1-minute load average (this benchmark's own threads included)."""
    return os.getloadavg()[0]


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
    from ssb.corpus import prepare as prepare_corpus
    from ssb.probes import variant_token_probe

    c = prepare_corpus(profile)
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


def _check(name: str, engine: np.ndarray, naive: np.ndarray, singles: np.ndarray, margins: list[float],
           tie_tolerance: float) -> str:
    """Fail on any single-node difference or a difference beyond a float32 near-tie; else a word."""
    if not np.array_equal(engine[singles], naive[singles]):
        raise AssertionError(f"[{name}] single-node predictions differ from the naive loop: a bug")
    if margins and max(margins) > tie_tolerance:
        raise AssertionError(f"[{name}] {len(margins)} predictions differ, largest float64 margin "
                             f"{max(margins):.2e} > {tie_tolerance:.0e}: not a rounding near-tie, a bug")
    if margins:
        return f"{len(margins)} float32 near-ties (margin <= {max(margins):.1e})"
    return "identical"


def _time_engine(head, z, y, sets, threads: int, repeats: int, evaluate=evaluate_sets
                 ) -> tuple[float, list[float], object]:
    evaluate(head, z[:64], y[:64], sets[:4] + sets[-1:], threads=threads)               # warm-up
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        res = evaluate(head, z, y, sets, keep_predictions=True, threads=threads)
        times.append(time.perf_counter() - t0)
    return statistics.median(times), times, res


def _time_engines(head, z, y, sets, threads: int, repeats: int, args):
    """Today's engine and, with --before, the engine at that revision, their runs alternating:
    (median s, runs, result) of today's, and (median s, runs, predictions) of the earlier or None."""
    if args.before_engine is None:
        return _time_engine(head, z, y, sets, threads, repeats), None
    now, then = ([], None), ([], None)
    for _ in range(repeats):
        t, runs, res = _time_engine(head, z, y, sets, threads, 1)
        now = (now[0] + runs, res)
        t, runs, old = _time_engine(head, z, y, sets, threads, 1, evaluate=args.before_engine.evaluate_sets)
        then = (then[0] + runs, old)
    return ((statistics.median(now[0]), now[0], now[1]),
            (statistics.median(then[0]), then[0], then[1].predictions))


def _print_before(args, t_now: float, before, res, singles: np.ndarray, head, z, sets, load: float):
    """One line: the engine at --before against today's, and whether their predictions agree."""
    if before is None:
        return
    t_then, runs, old = before
    if not np.array_equal(old[singles], res.predictions[singles]):
        raise AssertionError(f"single-node predictions differ from the engine at {args.before}")
    margins = near_tie_margins(head, z, sets, res.predictions, old)
    if margins and max(margins) > args.tie_tolerance:
        raise AssertionError(f"predictions differ from the engine at {args.before} beyond a float32 near-tie")
    agree = f"{len(margins)} float32 near-ties" if margins else "identical"
    print(f"  {'':>7}  engine at {args.before}: {t_then:.4f} s (runs " + ", ".join(f"{t:.4f}" for t in runs)
          + f"), today's {t_now:.4f} s: {t_then / t_now:.2f}x faster, load {load:.2f}; predictions {agree}")


def _time_naive(head, z, sets, threads: int, repeats: int = 1) -> tuple[float, np.ndarray, list[float]]:
    """The naive loop's median time over ``repeats`` runs, its predictions and every run's time."""
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            naive = naive_predictions(head, z, sets)
            times.append(time.perf_counter() - t0)
        return statistics.median(times), naive, times
    finally:
        torch.set_num_threads(previous)


def _ratio(naive_s: float, engine_s: float, args) -> str:
    return f"{naive_s / engine_s:8.1f}x" if args.show_ratios else "withheld"


def _print_header():
    print(f"  {'threads':>7}  {'naive (s)':>10}  {'engine (s)':>10}  {'ratio':>9}  {'load':>5}  predictions")


def train(z_tr, y_tr, n_classes: int, args):
    t0 = time.perf_counter()
    head, _ = train_readout(z_tr, y_tr, n_classes, epochs=args.readout_epochs, lr=3e-3, batch_size=512,
                         patience=args.readout_epochs, seed=args.seed, progress=False)
    return head, time.perf_counter() - t0


def run_task(name: str, z_tr, y_tr, z_te, y_te, n_classes: int, n_heads: int, d_head: int, args) -> list[dict]:
    """Every single node and every head, naive and engine at each thread count -> rows."""
    head, t_train = train(z_tr, y_tr, n_classes, args)
    sets = single_node_sets(n_heads * d_head) + head_sets(n_heads, d_head)
    with torch.no_grad():
        full_accuracy = float((head(torch.from_numpy(z_te)).argmax(-1).numpy() == y_te).mean())
    print(f"[{name}] N={len(y_te)} D={n_heads * d_head} C={n_classes} sets={len(sets)} "
          f"(head trained {t_train:.1f} s, all-node test accuracy {full_accuracy:.3f})")
    _print_header()
    singles = np.arange(n_heads * d_head)
    rows = []
    for threads in args.thread_counts:
        (t_engine, runs, res), before = _time_engines(head, z_te, y_te, sets, threads, args.repeats, args)
        load_engine = load_average()
        t_naive, naive, naive_runs = _time_naive(head, z_te, sets, threads, args.naive_repeats)
        load = max(load_engine, load_average())
        margins = near_tie_margins(head, z_te, res.sets, res.predictions, naive)
        agreement = _check(name, res.predictions, naive, singles, margins, args.tie_tolerance)
        print(f"  {threads:>7}  {t_naive:10.3f}  {t_engine:10.4f}  {_ratio(t_naive, t_engine, args):>9}  {load:5.2f}  "
              f"{agreement} ({res.predictions.size:,}); engine runs " + ", ".join(f"{t:.4f}" for t in runs)
              + ("" if len(naive_runs) == 1 else "; naive runs " + ", ".join(f"{t:.3f}" for t in naive_runs)))
        _print_before(args, t_engine, before, res, singles, head, z_te, res.sets, load_engine)
        rows.append({"task": name, "threads": threads, "naive_s": t_naive, "engine_s": t_engine, "load": load,
                     "agreement": agreement})
    return rows


def paper_shape_families(n_heads: int, d_head: int, args) -> list[tuple[str, list, list]]:
    """(family, every set, the sets the naive loop runs) at the paper's shape."""
    n_nodes = n_heads * d_head
    singles = single_node_sets(n_nodes)
    heads = head_sets(n_heads, d_head)
    chains = flatten(nested_head_sets(n_heads, d_head, in_head_grid(d_head), orders=1, seed=args.seed))
    k = args.paper_naive_sets
    spread = np.linspace(0, n_nodes - 1, k).round().astype(int)
    grid = in_head_grid(d_head)
    first_chain = [chains[i * n_heads] for i in range(len(grid))]                     # chain 0: head 0, every size
    return [("single nodes", singles, [singles[i] for i in spread]),
            ("heads", heads, heads[:max(1, k // 4)]),
            (f"chains (sizes {', '.join(map(str, grid))})", chains, first_chain)]


def run_paper_shape(args) -> list[dict]:
    """The paper's shape: D = 768, C = 30,522; per set, naive on a few sets, engine on all."""
    n_heads, d_head, n_classes = 12, 64, args.paper_classes
    z_tr, y_tr, z_te, y_te = synthetic_task(n_classes, n_heads, d_head, args.paper_train, args.paper_samples,
                                            True, args.seed + 2)
    head, t_train = train(z_tr, y_tr, n_classes, args)
    print(f"[paper shape] N={len(y_te)} D={n_heads * d_head} C={n_classes} (head trained {t_train:.1f} s on "
          f"{len(y_tr):,} vectors); times per set, the naive loop on the sets named")
    rows = []
    for family, sets, naive_sets in paper_shape_families(n_heads, d_head, args):
        print(f"  {family}: engine on all {len(sets)}, naive on {len(naive_sets)}")
        _print_header()
        for threads in args.thread_counts:
            (t_engine, runs, res), before = _time_engines(head, z_te, y_te, sets, threads, args.paper_repeats, args)
            load_engine = load_average()
            t_naive, naive, _ = _time_naive(head, z_te, naive_sets, threads)
            load = max(load_engine, load_average())
            where = {tuple(s.tolist()): i for i, s in enumerate(res.sets)}
            engine = res.predictions[[where[tuple(np.sort(s).tolist())] for s in naive_sets]]
            margins = near_tie_margins(head, z_te, naive_sets, engine, naive)
            singles = np.array([i for i, s in enumerate(naive_sets) if len(s) == 1], dtype=int)
            agreement = _check(f"paper shape, {family}", engine, naive, singles, margins, args.tie_tolerance)
            per_naive, per_engine = t_naive / len(naive_sets), t_engine / len(sets)
            print(f"  {threads:>7}  {per_naive:10.4f}  {per_engine:10.4f}  {_ratio(per_naive, per_engine, args):>9}  "
                  f"{load:5.2f}  {agreement} (on the naive loop's {engine.size:,}); engine all sets "
                  + ", ".join(f"{t:.2f}" for t in runs) + " s")
            _print_before(args, t_engine, before, res, np.array([i for i, s in enumerate(res.sets) if len(s) == 1], dtype=int),
                          head, z_te, res.sets, load_engine)
            rows.append({"task": f"paper shape: {family}", "threads": threads, "naive_per_set_s": per_naive,
                         "engine_per_set_s": per_engine, "load": load, "agreement": agreement})
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m ssb.bench aperture", description=__doc__.split("\n\n")[0])
    ap.add_argument("--profile", type=profile_name, default="quick", help="profile for --features cached (default quick)")
    ap.add_argument("--features", choices=("synthetic", "cached"), default="synthetic")
    ap.add_argument("--n-test", type=positive_int, default=2000, help="held-out node vectors (default 2000)")
    ap.add_argument("--n-train", type=positive_int, default=8000, help="synthetic training vectors (default 8000)")
    ap.add_argument("--n-heads", type=positive_int, default=12)
    ap.add_argument("--d-head", type=positive_int, default=16)
    ap.add_argument("--token-classes", type=positive_int, default=4096, help="classes of the token readout (default 4096)")
    ap.add_argument("--label-classes", type=positive_int, default=16, help="classes of the label readout (default 16)")
    ap.add_argument("--readout-epochs", "--head-epochs", dest="readout_epochs", type=positive_int, default=3,
                    help="epochs of the synthetic readouts (--head-epochs: its earlier name)")
    ap.add_argument("--repeats", type=positive_int, default=3, help="engine runs; the median is reported")
    ap.add_argument("--naive-repeats", type=positive_int, default=1,
                    help="naive-loop runs of the tokens and labels workloads; the median is reported (default 1: "
                         "on a VM whose speed drifts, more runs of both sides make the ratio steadier)")
    ap.add_argument("--thread-counts", default="1,2",
                    help="intra-op threads of both sides, one measurement each (default 1,2)")
    ap.add_argument("--paper-shape", action=argparse.BooleanOptionalAction, default=True,
                    help="also measure the paper's shape, D = 768, C = 30,522 (default on)")
    ap.add_argument("--paper-classes", type=positive_int, default=30_522)
    ap.add_argument("--paper-samples", type=positive_int, default=512, help="held-out vectors at the paper's shape (default 512)")
    ap.add_argument("--paper-train", type=positive_int, default=4096, help="training vectors of the paper-shape head (default 4096)")
    ap.add_argument("--paper-naive-sets", type=positive_int, default=8,
                    help="single nodes the naive loop runs at the paper's shape (a quarter as many heads, one chain)")
    ap.add_argument("--paper-repeats", type=positive_int, default=1, help="engine runs at the paper's shape (default 1)")
    ap.add_argument("--tie-tolerance", type=float, default=1e-5,
                    help="largest relative float64 margin accepted for a float32 near-tie (default 1e-5)")
    ap.add_argument("--under-load", action="store_true",
                    help=f"print the ratios even when the load average exceeds {LOAD_PER_CORE_LIMIT} per core")
    ap.add_argument("--before", default=None, metavar="REV",
                    help="also time the engine at this git revision, alternating with today's (e.g. 8858d35)")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    args.before_engine = None
    if args.before:
        from ssb.bench.paper import engine_at
        try:
            args.before_engine = engine_at(args.before)
        except Exception as err:                               # a bad revision, no git: a usage error
            ap.error(f"--before {args.before}: the engine at that revision cannot be loaded ({err})")
    args.thread_counts = [int(t) for t in args.thread_counts.split(",")]
    if any(t < 1 for t in args.thread_counts):
        ap.error("--thread-counts takes positive integers, e.g. 1,2")
    cores = os.cpu_count() or 1
    start_load = load_average()
    busy = start_load > LOAD_PER_CORE_LIMIT * cores
    args.show_ratios = not busy or args.under_load

    print(f"machine: {platform.platform()}, {platform.processor() or 'cpu'}, {cores} CPUs, torch {torch.__version__}, "
          f"OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY', '(unset)')}; "
          f"load average at the start {start_load:.2f} ({start_load / cores:.2f} per core)")
    if busy:
        print(f"the machine is busy (more than {LOAD_PER_CORE_LIMIT} per core): "
              + ("ratios printed as asked (--under-load); they are not an idle machine's"
                 if args.under_load else "ratios withheld; pass --under-load to print them"))
    print("load: the 1-minute load average when the figure was taken, this benchmark's threads included")
    rows = []
    if args.features == "synthetic":
        for name, n_classes, zipf, seed in (("tokens", args.token_classes, True, args.seed),
                                            ("labels", args.label_classes, False, args.seed + 1)):
            data = synthetic_task(n_classes, args.n_heads, args.d_head, args.n_train, args.n_test, zipf, seed)
            rows += run_task(name, *data, n_classes, args.n_heads, args.d_head, args)
    else:
        profile = get_profile(args.profile)
        z_tr, y_tr, z_te, y_te, n_classes, n_heads, d_head = cached_task(profile, args.n_test)
        rows += run_task(f"tokens[{profile.name}]", z_tr, y_tr, z_te, y_te, n_classes, n_heads, d_head, args)
    for threads in args.thread_counts:
        mine = [r for r in rows if r["threads"] == threads]
        total_naive, total_engine = sum(r["naive_s"] for r in mine), sum(r["engine_s"] for r in mine)
        print(f"total, {threads} thread{'s' if threads > 1 else ''}: naive {total_naive:.2f} s, engine {total_engine:.3f} s, "
              f"ratio {_ratio(total_naive, total_engine, args).strip()}, load {max(r['load'] for r in mine):.2f}")
    if args.paper_shape and args.features == "synthetic":
        run_paper_shape(args)
    return 0
