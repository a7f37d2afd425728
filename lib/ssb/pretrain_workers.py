"""Several pre-training runs at once, shared among spawned worker processes.

On the CPU two one-thread runs on two cores do more steps per second than one two-thread run
(the quick model's matrices are too small to keep two threads busy: docs/benchmarks.md), so
``backbones.pretrained_runs`` hands its unfinished runs to ``train_in_parallel``.  This module
knows nothing of variants: it gets a picklable ``train_one(name, on_step)`` and each run's
steps and relative cost, balances the runs over the workers (``worker_plan``) and shows one
progress bar over all their steps.  Workers report their steps through a shared array that a
``multiprocessing`` manager owns and passes to them as an argument (no module state).
"""
from __future__ import annotations

import itertools
import math
import time
from typing import Callable


def worker_plan(costs: dict[str, float], n_workers: int) -> list[list[str]]:
    """Share runs among ``n_workers`` workers so that the busiest worker's total cost is least.

    Exact (every assignment tried) while there are at most 50,000 of them, else longest run to
    the least loaded worker.  Deterministic: ties go to the earlier assignment.  Returns the
    non-empty lists of run names, each longest first."""
    if n_workers < 1:
        raise ValueError(f"n_workers must be >= 1, got {n_workers}")
    names = sorted(costs, key=lambda n: (-costs[n], n))
    n_workers = min(n_workers, len(names))
    if n_workers ** len(names) <= 50_000:
        best, best_load = None, math.inf
        for assign in itertools.product(range(n_workers), repeat=len(names)):
            loads = [0.0] * n_workers
            for n, w in zip(names, assign):
                loads[w] += costs[n]
            if max(loads) < best_load - 1e-9:
                best, best_load = assign, max(loads)
    else:
        loads, best = [0.0] * n_workers, []
        for n in names:
            w = loads.index(min(loads))
            loads[w] += costs[n]
            best.append(w)
    bins = [[n for n, w in zip(names, best) if w == k] for k in range(n_workers)]
    return [b for b in bins if b]


def train_in_parallel(train_one: Callable[[str, Callable[[int], None]], object], steps: dict[str, int],
                      costs: dict[str, float], n_workers: int, *, threads: int, progress: bool = True) -> None:
    """``train_one(name, on_step)`` for every run in ``steps`` (name -> steps it trains), in
    ``n_workers`` spawned processes of ``threads`` threads each, runs shared by ``worker_plan``
    over ``costs``; a progress bar over all their steps.  ``train_one`` must be picklable (a
    module-level function or a ``functools.partial`` of one): each worker receives it.  A
    worker's error is raised here; an interruption (KeyboardInterrupt included) stops every
    worker.  Each run keeps what it saved, so a repeated call resumes them."""
    import multiprocessing
    from concurrent.futures import FIRST_EXCEPTION, ProcessPoolExecutor, wait
    from concurrent.futures.process import BrokenProcessPool

    names = list(steps)
    ctx = multiprocessing.get_context("spawn")             # no fork of a process with threads running
    plan = worker_plan(costs, n_workers)                   # one list of runs per worker, balanced
    slot = {n: i for i, n in enumerate(names)}
    total = sum(steps.values())
    bar = None
    if progress:
        from tqdm.auto import tqdm
        bar = tqdm(total=total, unit="step", desc=f"pretrain {len(names)} runs on {len(plan)} processes x {threads} "
                                                  "thread(s)")
    start = time.perf_counter()
    manager = ctx.Manager()
    pool = ProcessPoolExecutor(len(plan), mp_context=ctx)
    try:
        done_steps = manager.Array("l", [0] * len(names))  # steps finished, per run (workers write)
        futures = {pool.submit(_train_in_turn, train_one, runs, [slot[n] for n in runs], done_steps): runs
                   for runs in plan}
        pending = set(futures)
        while pending:
            finished, pending = wait(pending, timeout=1.0, return_when=FIRST_EXCEPTION)
            for f in finished:
                try:
                    f.result()                              # a worker's error is raised here
                except BrokenProcessPool:
                    raise RuntimeError(
                        f"a pre-training worker process died while training {futures[f]} (out of memory, "
                        "killed, or -- in a script -- the script re-ran on import: spawned workers import the "
                        "main module, so call this under `if __name__ == '__main__':`). Finished runs are "
                        "kept; pretrain_workers=1 trains in this process instead") from None
            if bar is not None:
                bar.n = int(sum(done_steps[:]))
                bar.refresh()
        pool.shutdown()
        if bar is not None:
            bar.n = total
            # a saved notebook keeps only the bar's first frame: say in text what was done
            print(f"pre-trained {', '.join(names)}: {total} steps in {time.perf_counter() - start:.0f} s on "
                  f"{len(plan)} processes x {threads} thread(s) ({' | '.join(map(' + '.join, plan))})")
    except BaseException:                                   # KeyboardInterrupt included: stop every worker
        for proc in list(getattr(pool, "_processes", {}).values()):
            proc.terminate()
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    finally:
        manager.shutdown()
        if bar is not None:
            bar.close()


def _train_in_turn(train_one, names: list[str], slots: list[int], done_steps) -> list[str]:
    """One worker's share of ``train_in_parallel``: its runs one after another (weights on disk),
    each run's finished steps written to ``done_steps[slot]``."""
    for name, slot in zip(names, slots):
        def report(done: int, slot: int = slot) -> None:
            done_steps[slot] = done

        train_one(name, report)
    return names
