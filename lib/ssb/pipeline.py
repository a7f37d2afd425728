"""The pipeline's artifacts, each computed once and reused while its configuration matches.

Every notebook calls these, so each notebook runs on its own: 03 asks for the pre-trained
model and gets 01's checkpoint if it exists (and matches the profile), or trains it.

    corpus(profile)                 -> tokenizer, train/held-out token blocks, corpus stats
    pretrained(profile, variant)    -> a PretrainRun ("main", "random", "symmetric", ...)
    token_probe(profile, backbone, ...) -> node vectors at masked positions + their tokens (top-K classes)
    mlm_head_predictions(ckpt, probe), probe_baselines(probe, pred, mlm)
                                    -> the probe against the constant predictor and the MLM head
    fewrel_probe(profile, backbone, ...) -> node vectors of FewRel sentences + relation labels
    fewrel_probes(profile, backbone, ..., poolings) -> the same for several poolings, one forward pass

Both probes are ``node_vectors.Probe``s, read through a frozen backbone (a ``BertModel``, or
the path of a checkpoint directory that ``node_vectors.load_backbone`` loads).
"""
from __future__ import annotations

import functools
import json
import math
import os
import shutil
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from transformers import BertForMaskedLM

from . import atomic, stats
from .cache_keys import array_fingerprint, text_fingerprint, vocabulary_fingerprint, weights_fingerprint
from .data import load_corpus, network_available, resolve_data_dir
from .fewrel import encode_sentences
from .mlm import MaskingSpec, encode_corpus, mask_tokens, split_blocks
from .model import build_bert6
from .node_vectors import (Probe, as_tensor, attention_projections, cached_node_vector_entries, cached_node_vectors,
                           load_backbone, node_vector_cache_key, node_vectors, pooled_node_vectors, warn_cache)
from .pretrain import PretrainRun, data_fingerprints, pretrain, pretrain_finished, snapshot_grid
from .profiles import EPS_VARIANT_PREFIX, eps_grid, eps_variant, resolve_device, variant_eps
from .results import runs_dir
from .tokenizer import build_tokenizer, load_tokenizer

# a checkpoint directory needs one of these, or AutoTokenizer builds a near-empty tokenizer
TOKENIZER_FILES = ("tokenizer.json", "vocab.txt", "spiece.model", "sentencepiece.bpe.model", "tokenizer.model")

CORPUS_FIELDS = ("corpus", "n_articles", "corpus_max_words", "tokenizer", "vocab_size", "max_len",
                 "sequences", "eval_fraction", "seed")

# bump when tokenizer.learn_vocabulary changes, so cached corpora are rebuilt
VOCABULARY_LEARNER = "counts-v1"

# variant -> (init, steps field, dropout: a value, a profile field name, or None for the profile's)
# "random" is not trained on its own: it IS the main run (same init, same steps; VARIANT_ALIASES).
# The C3 variants train ``ssb_steps`` steps each; "stochastic" is the main run with dropout.
VARIANTS = {
    "main": ("random", "steps", None),
    "random": ("random", "steps", None),
    "symmetric": ("symmetric", "ssb_steps", 0.0),
    "symmetric_eps": ("symmetric_eps", "ssb_steps", 0.0),
    "symmetric_dropout": ("symmetric", "ssb_steps", "ssb_dropout"),
    "node_symmetric": ("node_symmetric", "ssb_steps", 0.0),
    "stochastic": ("random", "steps", "ssb_dropout"),
}
VARIANT_ALIASES = {"random": "main"}
# the variants notebook 01 trains and gates besides the main run (C3); ``ssb_variants`` adds the eps grid's
SSB_VARIANTS = ("symmetric", "symmetric_eps", "symmetric_dropout", "node_symmetric")
def ssb_variants(profile) -> list[str]:
    """The C3 variants notebook 01 trains besides the main run: ``SSB_VARIANTS`` and one
    symmetric + eps variant per value of the profile's eps grid (``profiles.eps_grid``)."""
    grid = [eps_variant(profile, e) for e in eps_grid(profile)]
    return list(dict.fromkeys([*SSB_VARIANTS, *grid]))


@dataclass
class Corpus:
    tokenizer: object
    train_blocks: np.ndarray     # (n_train, max_len) token ids
    eval_blocks: np.ndarray      # (n_eval, max_len)
    stats: dict = field(default_factory=dict)

    @functools.cached_property
    def fingerprints(self) -> tuple[str, str]:
        """``pretrain.data_fingerprints`` of this corpus, hashed on first use and kept (also
        across the pickling to pre-training workers): every run and check of it reuses them."""
        return data_fingerprints(self.tokenizer, self.train_blocks, self.eval_blocks)


def corpus(profile, data_dir=None, force: bool = False, progress: bool = True, *, tokenizer=None,
           max_len: int | None = None) -> Corpus:
    """Articles -> tokenizer -> token blocks, cached in runs/<profile>/corpus/.

    ``tokenizer``: a checkpoint's own tokenizer instead of ours (``backbone_corpus``): the same
    articles encoded with it into blocks of ``max_len`` tokens (None: the profile's), cached in
    runs/<profile>/corpus-<vocabulary fingerprint>/ -- one entry per tokenizer, never in place of
    ours."""
    articles = load_corpus(profile.corpus, data_dir, n_articles=profile.n_articles,
                           max_words=profile.corpus_max_words, seed=profile.seed)
    cfg = {k: getattr(profile, k) for k in CORPUS_FIELDS} | {"text": text_fingerprint(articles),
                                                             "vocabulary": VOCABULARY_LEARNER}
    if tokenizer is not None:
        missing = [name for name in ("cls_token_id", "sep_token_id", "pad_token_id", "mask_token_id", "unk_token_id")
                   if getattr(tokenizer, name, None) is None]
        if missing:
            raise ValueError(f"the checkpoint's tokenizer has no {', '.join(m[:-9] for m in missing)} token: token "
                             "blocks need [CLS] ... [SEP] with [PAD], and the token probe needs [MASK] and [UNK]")
        fingerprint = vocabulary_fingerprint(tokenizer)
        cfg |= {"tokenizer": f"checkpoint:{type(tokenizer).__name__}", "vocab_size": len(tokenizer),
                "max_len": int(max_len or profile.max_len), "vocabulary": fingerprint}
        cache = runs_dir(profile) / f"corpus-{fingerprint[:16]}"
    else:
        if profile.tokenizer == "bert-base-uncased":      # a copy staged later replaces the WordPiece fallback
            cfg["bert_local"] = (resolve_data_dir(data_dir) / "bert-base-uncased").is_dir()
        cache = runs_dir(profile) / "corpus"
    cached = None if force else _load_corpus_cache(cache, cfg)
    if cached is not None:
        return cached
    if tokenizer is None:
        tokenizer = build_tokenizer(profile, articles, allow_download=network_available(),
                                    data_dir=resolve_data_dir(data_dir))
    blocks = encode_corpus(articles, tokenizer, cfg["max_len"], mode=profile.sequences, progress=progress)
    train, held = split_blocks(blocks, profile.eval_fraction, profile.seed)
    counts = np.bincount(train.ravel(), minlength=len(tokenizer))
    counts[list(tokenizer.all_special_ids)] = 0
    stats = {
        "articles": len(articles),
        "words": int(sum(len(a.split()) for a in articles)),
        "vocab_size": len(tokenizer),
        "blocks_train": int(len(train)), "blocks_eval": int(len(held)),
        "tokens_train": int(train.size),
        "vocab_used": int((counts > 0).sum()),
        "unk_rate": float((train == tokenizer.unk_token_id).mean()),
    }
    with atomic.atomic_dir(cache) as tmp:
        tokenizer.save_pretrained(tmp / "tokenizer")
        with atomic.atomic_path(tmp / "blocks.npz", suffix=".npz") as f:
            np.savez(f, train=train, eval=held)
        atomic.write_json(tmp / "stats.json", stats)
        atomic.write_json(tmp / "corpus_config.json", cfg)
        atomic.write_checksums(tmp, ["blocks.npz", "stats.json", "corpus_config.json"]
                               + [str(p.relative_to(tmp)) for p in sorted((tmp / "tokenizer").rglob("*")) if p.is_file()])
    return Corpus(tokenizer, train, held, stats)


def _load_corpus_cache(cache: Path, cfg: dict) -> Corpus | None:
    """The cached corpus when its configuration is ``cfg``; None when absent or of another
    configuration.  A cache that cannot be read (truncated blocks.npz, corrupt JSON, a broken
    tokenizer) is deleted with a one-line warning naming it, and None returned: it is rebuilt."""
    config_file = cache / "corpus_config.json"
    if not config_file.exists():
        return None
    try:
        if json.loads(config_file.read_text()) != cfg:
            return None
        changed = atomic.changed_files(cache)
        if changed:
            raise ValueError("no readable checksums.json (written before content checksums were recorded)"
                             if changed == [atomic.CHECKSUMS_FILE] else
                             f"the content of {', '.join(changed)} differs from the checksum recorded when it was written")
        tokenizer = load_tokenizer(cache / "tokenizer")
        with np.load(cache / "blocks.npz") as f:
            train, held = f["train"], f["eval"]
        stats = json.loads((cache / "stats.json").read_text())
        return Corpus(tokenizer, train, held, stats)
    except Exception as err:  # noqa: BLE001 - any unreadable part: rebuild the whole cache
        warn_cache(f"corpus cache {cache} cannot be read ({type(err).__name__}: {err}); deleted, rebuilding",
                   stacklevel=4)
        shutil.rmtree(cache, ignore_errors=True)
        return None


def pretrained(profile, variant: str = "main", data_dir=None, force: bool = False, progress: bool = True,
               corpus_: Corpus | None = None, on_step=None) -> PretrainRun:
    """The pre-trained BERT-6 of a variant, reused from runs/<profile>/pretrain/<variant>/ if its
    configuration matches, resumed if interrupted, trained otherwise. "random" is an alias of
    "main" (the same run, the same directory). on_step: see ``pretrain.pretrain``."""
    c = corpus_ or corpus(profile, data_dir, progress=progress)
    name, run_args = _variant_run(profile, variant)
    return pretrain(profile, runs_dir(profile) / "pretrain" / name, c.tokenizer, c.train_blocks, c.eval_blocks,
                    force=force, progress=progress, desc=f"pretrain[{name}]", on_step=on_step,
                    fingerprints=c.fingerprints, **run_args)


def _variant_run(profile, variant: str) -> tuple[str, dict]:
    """(run directory name, ``pretrain`` keyword arguments) of a variant.  A variant of the eps
    grid (``eps_variant``) is symmetric_eps with its own eps."""
    eps = variant_eps(profile, variant) if variant.startswith(EPS_VARIANT_PREFIX) else None
    if variant not in VARIANTS and eps is None:
        raise ValueError(f"unknown variant {variant!r}; choose one of {sorted(VARIANTS)} or "
                         f"{EPS_VARIANT_PREFIX}<eps> (the eps grid: {', '.join(ssb_variants(profile))})")
    init, steps_field, dropout = VARIANTS["symmetric_eps" if eps is not None else variant]
    if isinstance(dropout, str):
        dropout = getattr(profile, dropout)
    name = VARIANT_ALIASES.get(variant, variant)
    steps = getattr(profile, steps_field)
    # profile.snapshots: the main run keeps its weights on the study's log grid, so that
    # `python -m ssb.bench learning evaluate --snapshots runs/<profile>/pretrain/main/snapshots`
    # measures every gate along this very run (no second long pre-training)
    snapshot_steps = snapshot_grid(steps) if profile.snapshots and name == "main" else ()
    return name, {"init": init, "steps": steps, "dropout": dropout, "snapshot_steps": snapshot_steps,
                  **({"eps": eps} if eps is not None else {})}


def pretrained_runs(profile, variants, data_dir=None, force: bool = False, progress: bool = True,
                    corpus_: Corpus | None = None, workers: int | None = None) -> dict[str, PretrainRun]:
    """``pretrained`` for several variants (a dict in the order given), the unfinished ones
    trained in parallel.

    On the CPU, ``workers`` processes (None: ``profile.pretrain_workers``; 0: the usable cores //
    ``profile.pretrain_threads``, at most one per unfinished run) each train one run at a time
    on ``profile.pretrain_threads`` threads, longest run first.  Two one-thread runs on two cores
    do more steps per second than one two-thread run: the quick model's matrices are too small
    to keep two threads busy (docs/benchmarks.md).  The weights are those of a run trained alone,
    because every run uses the same fixed thread count.  On CUDA, or with one worker, the runs
    train one after another in this process.  Every run resumes from its own checkpoint, so an
    interrupted call continues where each run stopped; an interruption stops every worker."""
    c = corpus_ or corpus(profile, data_dir, progress=progress)
    variants = list(dict.fromkeys(variants))
    names = list(dict.fromkeys(_variant_run(profile, v)[0] for v in variants))
    pending = names if force else [n for n in names if not _finished(profile, n, c)]
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    threads = profile.pretrain_threads or cores
    n_workers = workers if workers is not None else profile.pretrain_workers
    if n_workers < 0:
        raise ValueError(f"workers must be >= 0 (0: one per core), got {n_workers}")
    n_workers = min(len(pending), n_workers or max(1, cores // threads))
    if len(pending) > 1 and n_workers > 1 and resolve_device(profile.device).type == "cpu":
        _train_in_parallel(profile, pending, c, force, progress, n_workers)
        force = False                                   # retrained just now: load what the workers wrote
    runs, retrained = {}, set()
    for v in variants:                                  # force: each run directory is deleted once
        name = _variant_run(profile, v)[0]
        runs[v] = pretrained(profile, v, data_dir, force=force and name not in retrained, progress=progress, corpus_=c)
        retrained.add(name)
    return runs


def _run_steps(profile, name: str) -> int:
    return _variant_run(profile, name)[1]["steps"]


def _finished(profile, name: str, c: Corpus) -> bool:
    """Whether runs/<profile>/pretrain/<name>/final holds a finished run of this configuration."""
    run_args = _variant_run(profile, name)[1]
    return pretrain_finished(profile, runs_dir(profile) / "pretrain" / name, c.tokenizer, c.train_blocks,
                             c.eval_blocks, init=run_args["init"], steps=run_args["steps"], dropout=run_args["dropout"],
                             eps=run_args.get("eps"), fingerprints=c.fingerprints)


# Relative cost of a step on the CPU (main run = 1), for sharing runs among workers: the
# symmetric variants' head-exact backward loops over heads, node_symmetric's over every node
# (measured on quick, one thread: 0.70, 0.77-0.82 and 1.12 s a step; docs/benchmarks.md).
RUN_COST_PER_STEP = {"symmetric": 1.15, "symmetric_eps": 1.15, "symmetric_dropout": 1.15, "node_symmetric": 1.6}


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
        import itertools
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


def _train_in_parallel(profile, names: list[str], c: Corpus, force: bool, progress: bool, n_workers: int) -> None:
    """Train ``names`` in ``n_workers`` spawned processes (each gets the corpus ``c``); a progress
    bar over all their steps."""
    import multiprocessing
    from concurrent.futures import FIRST_EXCEPTION, ProcessPoolExecutor, wait
    from concurrent.futures.process import BrokenProcessPool

    ctx = multiprocessing.get_context("spawn")             # no fork of a process with threads running
    costs = {n: _run_steps(profile, n) * RUN_COST_PER_STEP.get(
        "symmetric_eps" if n.startswith(EPS_VARIANT_PREFIX) else n, 1.0) for n in names}
    plan = worker_plan(costs, n_workers)                   # one list of runs per worker, balanced
    slot = {n: i for i, n in enumerate(names)}
    done_steps = ctx.Array("l", len(names), lock=False)    # steps finished, per run (workers write)
    total = sum(_run_steps(profile, n) for n in names)
    bar = None
    if progress:
        from tqdm.auto import tqdm
        bar = tqdm(total=total, unit="step",
                   desc=f"pretrain {len(names)} runs on {len(plan)} processes x {profile.pretrain_threads} thread(s)")
    start = time.perf_counter()
    pool = ProcessPoolExecutor(len(plan), mp_context=ctx, initializer=_worker_init, initargs=(done_steps,))
    try:
        futures = {pool.submit(_train_in_turn, profile, runs, [slot[n] for n in runs], c, force): runs for runs in plan}
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
                bar.n = int(sum(done_steps))
                bar.refresh()
        pool.shutdown()
        if bar is not None:
            bar.n = total
            # a saved notebook keeps only the bar's first frame: say in text what was done
            print(f"pre-trained {', '.join(names)}: {total} steps in {time.perf_counter() - start:.0f} s on "
                  f"{len(plan)} processes x {profile.pretrain_threads} thread(s) ({' | '.join(map(' + '.join, plan))})")
    except BaseException:                                   # KeyboardInterrupt included: stop every worker
        for proc in list(getattr(pool, "_processes", {}).values()):
            proc.terminate()
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    finally:
        if bar is not None:
            bar.close()


_WORKER_STEPS = None


def _worker_init(done_steps) -> None:
    global _WORKER_STEPS
    _WORKER_STEPS = done_steps


def _train_in_turn(profile, names: list[str], slots: list[int], c: Corpus, force: bool) -> list[str]:
    """One worker's share of ``_train_in_parallel``: its runs one after another (weights on disk)."""
    for name, slot in zip(names, slots):
        def report(done: int, slot: int = slot) -> None:
            _WORKER_STEPS[slot] = done

        pretrained(profile, name, force=force, progress=False, corpus_=c, on_step=report)
    return names


@dataclass
class MaskedPositions:
    """Probe inputs drawn from token blocks: ``input_ids`` (M, T) are blocks with [MASK] at every
    position a mask draw selected; ``where`` (M, T) marks the probe positions among them (row-major
    order = the order of ``tokens``); ``draw`` and ``block`` (M,) say which draw of which block each
    row is."""
    input_ids: np.ndarray
    where: np.ndarray
    tokens: np.ndarray
    draw: np.ndarray
    block: np.ndarray
    available: int                   # probe positions the draws offered before subsampling


def _draw_generator(seed: int, stream: int, draw: int, chunk: int):
    state = np.random.SeedSequence([seed, stream, draw, chunk]).generate_state(1, dtype=np.uint64)[0]
    return torch.Generator().manual_seed(int(state) & ((1 << 63) - 1))


def _masked_positions(blocks: np.ndarray, spec: MaskingSpec, seed: int, stream: int, limit: int | None,
                      draws: int = 1, keep: np.ndarray | None = None) -> MaskedPositions:
    """Masked probe positions spread over ALL of ``blocks``.

    Each of ``draws`` seeded mask draws selects positions over every block (MLM selection,
    then [MASK] at each selected position).  A selected position is a probe position when its
    token is kept (``keep``: boolean over the vocabulary; None keeps every token).  With a
    ``limit``, whole (draw, block) rows are taken in a seeded random order until ``limit``
    probe positions are reached (the last row is cut there), so the positions spread evenly
    over the split at the forward-pass cost of the rows used.  Rows come back sorted by
    (draw, block).  Everything is a function of (blocks, spec, seed, stream, limit, draws, keep).
    """
    if draws < 1:
        raise ValueError(f"draws must be at least 1, got {draws}")
    if limit is not None and limit < 1:
        raise ValueError(f"limit must be positive (or None for every position), got {limit}")
    blocks = np.asarray(blocks)
    n, chunk = len(blocks), 256
    selected = np.zeros((draws, n, blocks.shape[1]), dtype=bool)
    for d in range(draws):
        for i, s in enumerate(range(0, n, chunk)):
            _, y = mask_tokens(as_tensor(blocks[s:s + chunk]), spec, _draw_generator(seed, stream, d, i), all_mask=True)
            selected[d, s:s + chunk] = (y != -100).numpy()
    probe = selected & keep[blocks][None] if keep is not None else selected
    counts = probe.sum(-1).reshape(-1)                      # (draws * n,) probe positions per row
    available = int(counts.sum())
    rows = np.flatnonzero(counts)
    cut_row, cut_at = -1, 0
    if limit is not None and available > limit:
        order = np.random.default_rng([seed, stream, draws, 7]).permutation(rows)
        total = np.cumsum(counts[order])
        last = int(np.searchsorted(total, limit))       # first row where the running total reaches limit
        cut_row, cut_at = int(order[last]), int(limit - (total[last - 1] if last else 0))
        rows = np.sort(order[:last + 1])
    draw, block = np.divmod(rows, n)
    where = probe[draw, block].copy()
    if cut_row >= 0:                                      # keep the first cut_at probe positions of the cut row
        r = int(np.searchsorted(rows, cut_row))
        cols = np.flatnonzero(where[r])
        where[r, cols[cut_at:]] = False
    x = blocks[block].copy()
    x[selected[draw, block]] = spec.mask_id
    return MaskedPositions(x, where, blocks[block][where], draw, block, available)


def token_class_ids(train_blocks: np.ndarray, tokenizer, k: int) -> np.ndarray:
    """The token ids that are the probe's classes, in class order.

    k = 0: the whole vocabulary (class = token id).  k > 0: the k most frequent tokens of the
    training blocks (special tokens excluded), most frequent first, ties to the lower id."""
    vocab = len(tokenizer)
    if k < 0 or k > vocab:
        raise ValueError(f"token_classes must be in 0..{vocab} (0 = the whole vocabulary), got {k}")
    if k == 0:
        return np.arange(vocab)
    counts = np.bincount(np.asarray(train_blocks).ravel(), minlength=vocab)[:vocab].astype(np.int64)
    counts[list(tokenizer.all_special_ids)] = -1
    order = np.lexsort((np.arange(vocab), -counts))
    if counts[order[k - 1]] <= 0:
        raise ValueError(f"token_classes={k}, but only {int((counts > 0).sum())} tokens occur in the training blocks")
    return order[:k]


def token_class_counts(corpus_: Corpus, probe: Probe) -> np.ndarray:
    """Training-split frequency of each of the probe's classes, (n_classes,) (APT's frequency axis)."""
    counts = np.bincount(corpus_.train_blocks.ravel(), minlength=len(corpus_.tokenizer))
    ids = probe.class_token_ids if probe.class_token_ids is not None else np.arange(probe.n_classes)
    return counts[ids]


def blocks_through(blocks: list[int]) -> list[int]:
    """Every block from 1 to the deepest requested one.  Node vectors of all of them cost one
    forward pass up to the deepest block, so probes always cache the whole range: a notebook
    asking for block 6 then reuses what another computed for blocks 1..6."""
    if not blocks:
        raise ValueError("no block requested")
    return list(range(1, max(int(b) for b in blocks) + 1))


def extraction_options(profile) -> tuple[dict, dict]:
    """(node_vectors keyword arguments, extra cache-key parts) for the profile's device: on CUDA
    large batches and, with mixed_precision "bf16", bfloat16 autocast (float32 node vectors
    stored); on the CPU the defaults, and no extra key (existing CPU caches stay valid)."""
    device = resolve_device(profile.device)
    if device.type == "cpu":
        return {"device": device}, {}
    bf16 = profile.mixed_precision == "bf16"
    return {"device": device, "bf16": bf16, "batch_size": 512}, ({"autocast": "bf16"} if bf16 else {})


def token_probe(profile, backbone, tokenizer, corpus_: Corpus, blocks: list[int], force: bool = False,
                progress: bool = True, *, classes: int | None = None, examples: int | None = None,
                draws: int | None = None) -> Probe:
    """Node vectors of ``backbone`` (a frozen ``BertModel``, or a checkpoint directory) at masked
    positions ([MASK] in the input) and the tokens hidden there.

    Classes: ``profile.token_classes`` (``classes`` overrides): 0 = every vocabulary token
    (class = token id); K = the K most frequent training tokens, class c = the c-th most
    frequent.  Training AND test positions are then only those whose token is a class
    (``Probe.classes_note`` says so).
    Training positions: ``profile.token_examples`` of them (``examples``), subsampled with a
    seed over ``profile.token_mask_draws`` mask draws (``draws``) of the WHOLE training split
    (``_masked_positions``).  Test positions: every probe position of the same number of
    draws over every held-out block."""
    k = profile.token_classes if classes is None else int(classes)
    n_train = profile.token_examples if examples is None else int(examples)
    draws = profile.token_mask_draws if draws is None else int(draws)
    model = load_backbone(backbone) if isinstance(backbone, (str, Path)) else backbone
    blocks = blocks_through(blocks)
    spec = MaskingSpec.from_tokenizer(tokenizer, profile.mask_prob)
    cfg = model.config
    if len(tokenizer) > cfg.vocab_size:
        raise ValueError(f"the tokenizer has {len(tokenizer)} tokens but the checkpoint's vocabulary has "
                         f"{cfg.vocab_size}: tokenizer and checkpoint do not belong together")
    n_heads = cfg.num_attention_heads
    class_ids = token_class_ids(corpus_.train_blocks, tokenizer, k)
    lookup = np.full(len(tokenizer), -1, dtype=np.int64)
    lookup[class_ids] = np.arange(len(class_ids))
    keep = lookup >= 0
    fp = weights_fingerprint(model)
    options, key_extra = extraction_options(profile)
    out = {}
    for part, blocks_arr, stream, limit in (("train", corpus_.train_blocks, 4, n_train),
                                            ("test", corpus_.eval_blocks, 5, None)):
        pos = _masked_positions(blocks_arr, spec, profile.seed, stream, limit, draws=draws, keep=keep)
        if not pos.where.any():
            raise ValueError(f"no {part} position holds one of the {len(class_ids)} probe classes")
        am = (pos.input_ids != tokenizer.pad_token_id).astype(np.int64)
        key = {"weights": fp, "inputs": array_fingerprint(pos.input_ids, pos.where), "blocks": sorted(blocks),
               "select": "masked"} | key_extra
        z = cached_node_vectors(runs_dir(profile) / "cache", key,
                                lambda allocate: node_vectors(model, pos.input_ids, am, blocks, select=pos.where,
                                                              progress=progress, desc=f"node vectors ({part})",
                                                              allocate=allocate, **options),
                                force=force)
        out[part] = (z, lookup[pos.tokens], pos, node_vector_cache_key(key))
    vocab = tokenizer.convert_ids_to_tokens([int(t) for t in class_ids])
    test = out["test"][2]
    rows, cols = np.nonzero(test.where)                   # row-major: the order of the test items
    scope = "every vocabulary token" if k == 0 else f"the {k} most frequent training tokens"
    note = (f"{len(out['train'][1])} training positions (of {out['train'][2].available} offered by {draws} mask "
            f"draw(s) over all {len(corpus_.train_blocks)} training blocks) and {len(test.tokens)} held-out "
            f"positions ({draws} draw(s) over {len(corpus_.eval_blocks)} held-out blocks); classes: {scope}"
            + ("" if k == 0 else "; only positions holding one of them are used, for training and for evaluation"))
    return Probe(out["train"][0], out["train"][1], out["test"][0], out["test"][1], len(class_ids), vocab,
                 n_heads, cfg.hidden_size // n_heads, fp, train_key=out["train"][3], task="tokens",
                 class_token_ids=class_ids,
                 classes_note=note, test_input_ids=test.input_ids, test_where=test.where,
                 test_sequences=test.block[rows], test_keys=test.block[rows] * test.where.shape[1] + cols)


def mlm_head_predictions(checkpoint, probe: Probe, batch_size: int = 64, progress: bool = False) -> np.ndarray:
    """The pre-trained model's own MLM head at the token probe's test positions, restricted to the
    probe's classes: (N_test,) class indices, comparable item by item with the probe's predictions.

    ``checkpoint``: the BertForMaskedLM directory the probe's backbone was loaded from (or the
    model itself).  Its encoder must be the probe's backbone (weights fingerprint), else ValueError."""
    if probe.task != "tokens" or probe.test_input_ids is None:
        raise ValueError("mlm_head_predictions needs a token probe made by token_probe (with its test inputs)")
    model = checkpoint if not isinstance(checkpoint, (str, Path)) else \
        BertForMaskedLM.from_pretrained(str(checkpoint), local_files_only=True)
    if not hasattr(model, "cls"):
        raise ValueError(f"{type(model).__name__} has no MLM head (expected a BertForMaskedLM checkpoint)")
    if probe.checkpoint_fp and weights_fingerprint(model.bert) != probe.checkpoint_fp:
        raise ValueError("this MLM checkpoint's encoder is not the backbone the probe's node vectors came from")
    ids = probe.class_token_ids if probe.class_token_ids is not None else np.arange(probe.n_classes)
    cls_ids = torch.from_numpy(np.asarray(ids, dtype=np.int64))
    x, where = probe.test_input_ids, probe.test_where
    am = (x != model.config.pad_token_id).astype(np.int64) if model.config.pad_token_id is not None else np.ones_like(x)
    out = []
    starts = range(0, len(x), batch_size)
    if progress:
        from tqdm import tqdm
        starts = tqdm(starts, desc="MLM head", unit="batch")
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            for s in starts:
                h = model.bert(input_ids=as_tensor(x[s:s + batch_size]),
                               attention_mask=as_tensor(am[s:s + batch_size])).last_hidden_state
                logits = model.cls(h[as_tensor(where[s:s + batch_size])])          # (m, V)
                out.append(logits[:, cls_ids].argmax(-1).numpy())
    finally:
        model.train(was_training)
    return np.concatenate(out) if out else np.zeros(0, dtype=np.int64)


def probe_baselines(probe: Probe, probe_predictions: np.ndarray, mlm_predictions: np.ndarray | None = None) -> dict:
    """The token probe against the constant predictor (most frequent training class) and the
    model's own MLM head, on the same test positions and classes.

    Returns {"table": DataFrame (predictor, accuracy, ci_low, ci_high; Wilson 95 %),
    "gate": stats.probe_gate(...) of the probe against the constant predictor,
    "mlm_vs_constant" / "probe_vs_mlm": stats.paired_accuracy_test records (None without MLM),
    "classes_note": probe.classes_note}."""
    y = np.asarray(probe.y_test)
    pred = np.asarray(probe_predictions)
    if pred.shape != y.shape:
        raise ValueError(f"{len(pred)} probe predictions for {len(y)} test positions")
    constant = int(np.bincount(np.asarray(probe.y_train), minlength=probe.n_classes).argmax())
    rows = [("probe (full aperture)", pred == y), ("constant predictor", y == constant)]
    if mlm_predictions is not None:
        mlm = np.asarray(mlm_predictions)
        if mlm.shape != y.shape:
            raise ValueError(f"{len(mlm)} MLM predictions for {len(y)} test positions")
        rows.append(("model's MLM head", mlm == y))
    table = pd.DataFrame([{"predictor": name, "accuracy": float(c.mean()), "correct": int(c.sum()), "n": len(c),
                           "ci_low": stats.proportion_ci(int(c.sum()), len(c))[0],
                           "ci_high": stats.proportion_ci(int(c.sum()), len(c))[1]} for name, c in rows])
    out = {"table": table, "gate": stats.probe_gate(y, pred, probe.y_train), "classes_note": probe.classes_note,
           "mlm_vs_constant": None, "probe_vs_mlm": None}
    if mlm_predictions is not None:
        out["mlm_vs_constant"] = stats.paired_accuracy_test(rows[2][1], rows[1][1])
        out["probe_vs_mlm"] = stats.paired_accuracy_test(rows[0][1], rows[2][1])
    return out


def fewrel_probe(profile, backbone, tokenizer, split, blocks: list[int], pooling: str | None = None,
                 force: bool = False, progress: bool = True) -> Probe:
    """Node vectors of FewRel sentences at [CLS] or averaged over real tokens (``pooling``, default
    ``profile.pooling``), per block, read through ``backbone`` (a frozen ``BertModel``, or a
    checkpoint directory).  ``fewrel_probes`` gives several poolings from one forward pass."""
    pooling = pooling or profile.pooling
    return fewrel_probes(profile, backbone, tokenizer, split, blocks, (pooling,), force=force, progress=progress)[pooling]


def fewrel_probes(profile, backbone, tokenizer, split, blocks: list[int], poolings=("cls", "mean"),
                  force: bool = False, progress: bool = True) -> dict[str, Probe]:
    """``fewrel_probe`` for each pooling in ``poolings``: pooling -> Probe.  Each pooling's node
    vectors are cached on their own, under the same key as ``fewrel_probe``'s; those not cached
    yet (all of them with ``force``) come from one forward pass per split
    (``node_vectors.pooled_node_vectors``), not one per pooling."""
    model = load_backbone(backbone) if isinstance(backbone, (str, Path)) else backbone
    poolings = list(dict.fromkeys(poolings))
    blocks = blocks_through(blocks)
    max_len = min(profile.max_len, model.config.max_position_embeddings)
    fp = weights_fingerprint(model)
    options, key_extra = extraction_options(profile)
    z, keys = {}, {}
    for part, texts in (("train", split.train_texts), ("test", split.test_texts)):
        ids, am = encode_sentences(tokenizer, texts, max_len)
        if ids.max() >= model.config.vocab_size:
            raise ValueError(f"the tokenizer produces ids up to {ids.max()} but the checkpoint's vocabulary "
                             f"has {model.config.vocab_size} entries: tokenizer and checkpoint do not belong together")
        inputs = array_fingerprint(ids, am)
        keys[part] = {pool: {"weights": fp, "inputs": inputs, "blocks": sorted(blocks), "select": pool} | key_extra
                      for pool in poolings}

        def compute(allocators, ids=ids, am=am, part=part):
            return pooled_node_vectors(model, ids, am, blocks, list(allocators), progress=progress,
                                       desc=f"node vectors ({part}, {' + '.join(allocators)})",
                                       allocate=lambda pool, block, shape: allocators[pool](block, shape), **options)

        z[part] = cached_node_vector_entries(runs_dir(profile) / "cache", keys[part], compute, force=force)
    n_heads = model.config.num_attention_heads
    return {pool: Probe(z["train"][pool], split.train_labels, z["test"][pool], split.test_labels, split.n_labels(),
                        list(split.label_names), n_heads, model.config.hidden_size // n_heads, fp,
                        train_key=node_vector_cache_key(keys["train"][pool]))
            for pool in poolings}


def eps_divergence(profile, runs: dict[str, PretrainRun], corpus_: Corpus) -> tuple[dict, pd.DataFrame] | None:
    """C3's functional divergence (``pretrain.divergence_check``) of the core symmetric + eps
    run (``ssb_eps``) against the symmetric run, on every held-out block with the backbone gate's
    fixed masks; the two models at step 0 (rebuilt from the seed, nothing trained) are read
    beside them.  None when either run is missing.  Returns (check record, table)."""
    if "symmetric" not in runs or "symmetric_eps" not in runs:
        return None
    from .pretrain import divergence_check

    arch = dict(n_layers=profile.n_layers, n_heads=profile.n_heads, d_head=profile.d_head, max_len=profile.max_len,
                dropout=0.0, pad_token_id=corpus_.tokenizer.pad_token_id)
    initial = tuple(build_bert6(len(corpus_.tokenizer), seed=profile.seed, init=init, eps=profile.ssb_eps,
                                **arch).eval() for init in ("symmetric", "symmetric_eps"))
    spec = MaskingSpec.from_tokenizer(corpus_.tokenizer, profile.mask_prob)
    return divergence_check(runs["symmetric"].model, runs["symmetric_eps"].model, corpus_.eval_blocks, spec,
                            eps=profile.ssb_eps, seed=profile.seed, initial=initial)


def pretrain_stats(run: PretrainRun) -> dict:
    """Steps, tokens seen, wall time and throughput of a finished run (from its run_config.json),
    and the backbone gate (``pretrain.backbone_evaluation``: held-out masked-token accuracy on
    every held-out block against the most-frequent-token baseline, exact McNemar, p < ALPHA)."""
    cfg = json.loads((run.final_dir / "run_config.json").read_text())
    seconds = float(cfg.get("train_seconds") or 0.0)
    tokens = int(cfg.get("tokens_seen") or 0)
    evaluation = run.backbone or {}
    return {"steps": int(cfg["steps"]), "tokens_seen": tokens, "train_seconds": seconds,
            "tokens_per_second": tokens / seconds if seconds > 0 else None,
            "mlm_accuracy": evaluation.get("mlm_accuracy"), "baseline_accuracy": evaluation.get("baseline_accuracy"),
            "heldout_positions": evaluation.get("n_positions"), "gate": evaluation.get("gate")}


@dataclass
class Backbone:
    """A frozen BERT backbone with its tokenizer and where it came from."""
    model: object
    tokenizer: object
    source: str
    variant: str | None = None       # our runs: the variant; None: a checkpoint (``is_checkpoint``)
    gate: dict | None = None         # our runs: the backbone gate recorded with the checkpoint (runs/...)

    @property
    def is_checkpoint(self) -> bool:
        """A checkpoint this project did not train (``backbone(..., checkpoint=...)``)."""
        return self.variant is None

    @property
    def n_blocks(self) -> int:
        return int(self.model.config.num_hidden_layers)

    @property
    def blocks(self) -> list[int]:
        """Every block 1..n_blocks of this backbone (its config's, not the profile's)."""
        return list(range(1, self.n_blocks + 1))

    def check_block(self, block: int) -> None:
        """ValueError naming ``-p block`` when ``block`` is not one of this backbone's blocks."""
        if not 1 <= int(block) <= self.n_blocks:
            raise ValueError(f"-p block {block}: {self.source} has {self.n_blocks} blocks; choose a block from 1 to "
                             f"{self.n_blocks} (e.g. -p block {self.n_blocks})")


def backbone(profile, variant: str = "main", data_dir=None, checkpoint: str | None = None,
             force: bool = False, progress: bool = True) -> Backbone:
    """Our pre-trained variant, or -- when ``checkpoint`` is given -- any BertModel-compatible
    local directory (or Hub id when online) with its own tokenizer."""
    if checkpoint:
        allow = network_available()
        local = Path(str(checkpoint)).expanduser()
        if local.is_dir():                             # refused before AutoTokenizer can invent a tokenizer
            checkpoint = str(local.absolute())
            if not any((local / name).is_file() for name in TOKENIZER_FILES):
                raise FileNotFoundError(f"checkpoint {checkpoint} has no tokenizer files (one of "
                                        f"{', '.join(TOKENIZER_FILES)}); save the tokenizer next to the model "
                                        "(tokenizer.save_pretrained(directory))")
        model = load_backbone(checkpoint, allow_download=allow)
        try:
            from transformers import AutoTokenizer
            tok = AutoTokenizer.from_pretrained(str(checkpoint), local_files_only=not allow)
        except Exception as err:                       # noqa: BLE001 - unreadable tokenizer files
            raise FileNotFoundError(f"checkpoint {checkpoint}: its tokenizer cannot be loaded "
                                    f"({type(err).__name__}: {err})") from None
        if len(tok) > model.config.vocab_size:
            raise ValueError(f"checkpoint {checkpoint}: tokenizer has {len(tok)} entries but the model's "
                             f"vocabulary has {model.config.vocab_size}")
        cfg = model.config
        if progress:
            print(f"checkpoint {checkpoint}: {cfg.num_hidden_layers} blocks, {cfg.num_attention_heads} heads x "
                  f"d_h {cfg.hidden_size // cfg.num_attention_heads} (hidden {cfg.hidden_size}), "
                  f"vocabulary {cfg.vocab_size}, tokenizer {len(tok)} entries")
        return Backbone(model, tok, str(checkpoint), None)
    run = pretrained(profile, variant, data_dir, force=force, progress=progress)
    return Backbone(load_backbone(run.final_dir), run.tokenizer, str(run.final_dir), variant,
                    (run.backbone or {}).get("gate"))


def untrained_backbone(profile, data_dir=None) -> Backbone:
    """The untrained-backbone control: BERT-6 of the profile's architecture built by
    ``model.build_bert6`` with the profile's seed and init "random", 0 training steps, with the
    main run's tokenizer (``corpus``).  Its ``model`` is a frozen ``BertModel`` like
    ``node_vectors.load_backbone`` returns, so ``token_probe`` / ``fewrel_probe`` take it as they take
    a trained backbone."""
    c = corpus(profile, data_dir, progress=False)
    tok = c.tokenizer
    mlm = build_bert6(len(tok), seed=profile.seed, init="random", n_layers=profile.n_layers, n_heads=profile.n_heads,
                      d_head=profile.d_head, max_len=profile.max_len, dropout=0.0, pad_token_id=tok.pad_token_id)
    model = mlm.bert
    attention_projections(model)
    model.eval().requires_grad_(False)
    return Backbone(model, tok, "untrained (random init, 0 steps)", "untrained")


def backbone_corpus(profile, bb: Backbone, data_dir=None, force: bool = False, progress: bool = True) -> Corpus:
    """The corpus a backbone reads: ours (``corpus``) for our own runs; for a checkpoint the same
    articles encoded with the checkpoint's tokenizer, in blocks of the profile's ``max_len`` or
    the checkpoint's position limit if that is shorter (cached per tokenizer)."""
    if not bb.is_checkpoint:
        return corpus(profile, data_dir, force=force, progress=progress)
    max_len = min(profile.max_len, int(bb.model.config.max_position_embeddings))
    return corpus(profile, data_dir, force=force, progress=progress, tokenizer=bb.tokenizer, max_len=max_len)


def untrained_controls(profile, bb: Backbone, data_dir=None) -> list[Backbone]:
    """The untrained controls of a backbone, as a list.

    Our own runs: one, ``untrained_backbone`` -- the main run's own initialisation (same
    architecture and seed, 0 steps), a valid paired control.  A checkpoint: it has no
    initialisation we know, and one random network of another seed is no valid control (two
    random networks differ by more than node or item intervals allow: docs/calibration.md), so
    ``profile.untrained_seeds`` = K random initialisations of the checkpoint's own configuration
    (seeds profile.seed, +1, ..., +K-1; ``BertModel(config)``'s initialiser), each read with the
    checkpoint's tokenizer; ``recognition.claim_stats(untrained_controls=...)`` compares the
    checkpoint with their spread."""
    if not bb.is_checkpoint:
        return [untrained_backbone(profile, data_dir)]
    from transformers import BertModel

    out = []
    for i in range(profile.untrained_seeds):
        seed = profile.seed + i
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            model = BertModel(bb.model.config.__class__.from_dict(bb.model.config.to_dict()), add_pooling_layer=False)
        attention_projections(model)
        model.eval().requires_grad_(False)
        out.append(Backbone(model, bb.tokenizer, f"untrained control {i + 1} of {profile.untrained_seeds}: "
                            f"{bb.source}'s configuration, random init seed {seed}", "untrained"))
    return out


def variant_token_probe(profile, variant: str, corpus_: Corpus, blocks: list[int], data_dir=None,
                        force: bool = False, progress: bool = True) -> Probe:
    """Token probe (node vectors at masked positions) of one pre-trained variant."""
    run = pretrained(profile, variant, data_dir, force=force, progress=progress, corpus_=corpus_)
    return token_probe(profile, load_backbone(run.final_dir), corpus_.tokenizer, corpus_, blocks, progress=progress)


def variant_fewrel_probe(profile, variant: str, split, blocks: list[int], data_dir=None, pooling: str | None = None,
                         force: bool = False, progress: bool = True) -> Probe:
    """FewRel probe (sentence node vectors) of one pre-trained variant."""
    run = pretrained(profile, variant, data_dir, force=force, progress=progress)
    return fewrel_probe(profile, load_backbone(run.final_dir), run.tokenizer, split, blocks, pooling=pooling,
                        progress=progress)
