"""Masked-language-model pre-training of BERT-6, readable top to bottom.

    run = pretrain(profile, out_dir, tokenizer, train_sequences, eval_sequences, init="random")

- Deterministic by default (dropout 0, seeded order and masks,
  ``torch.use_deterministic_algorithms(True)``): the same seed gives identical weights.
- The batch order and every mask are functions of (seed, step) only, so a run resumed
  from its last checkpoint is identical to an uninterrupted one.
- Loss and accuracy only at the masked positions (the vocabulary projection of the other
  85 % of positions is never computed).
- Under ``torchrun --nproc_per_node N`` each process takes a 1/N slice of the same global
  batch and masks; the loss is normalised by the global masked count, so the update is
  the single-process one.
- One step is ``global_batch`` (the masked batch of a step) then ``train_step`` (forward,
  loss, backward, clipping, AdamW) then ``set_learning_rate``; ``ssb.bench.pretrain``
  times exactly these functions against a ``transformers.Trainer``.
- Output layout of ``out_dir``: ``final/`` (``save_pretrained`` safetensors, tokenizer,
  ``run_config.json``, ``train_log.json``, ``backbone_eval.json``) and, while training,
  ``checkpoint/``.
- The backbone gate (``heldout.backbone_evaluation``): the final model's masked-token predictions
  on EVERY held-out sequence (fixed masks) against the most-frequent-token baseline on the same
  positions, exact one-sided McNemar test, passed at p < ``stats.ALPHA``.

Length (about 620 lines): the training loop with what makes it reproducible -- its run configuration,
reuse of a finished run, resume from a checkpoint, the precision policy of the symmetric variants and the
process group of a multi-GPU run.
"""
from __future__ import annotations

import contextlib
import json
import math
import os
import shutil
import time
import warnings
from dataclasses import dataclass, replace as _replace
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from . import atomic
from .cache_entry import INCOMPLETE, OTHER_CONFIGURATION, UNREADABLE, EntryCheck, check_entry
from .cache_keys import array_fingerprint, vocabulary_fingerprint
from .heldout import backbone_evaluation, evaluate_mlm, mlm_logits_at_masks, most_frequent_token
from .mlm import MaskingSpec, batch_indices, mask_tokens, step_generator
from .model import build_bert6, head_gap, node_gap, profile_shape
from .profiles import profile_device, resolve_device

# profile fields a run's weights or log depend on (``checkpoint_every`` is not one of them)
TRAINING_FIELDS = ("seed", "n_blocks", "n_heads", "d_head", "max_len", "batch_size", "lr",
                   "warmup_steps", "weight_decay", "mask_prob", "mixed_precision",
                   "eval_every", "eval_batches", "pretrain_threads", "gap_every")


# initialisations whose symmetry must stay exact in training without dropout (a symmetric run
# with dropout, symmetric_dropout, breaks it on purpose), and the gap (log key) that measures it.
# ``pretrain`` stops such a run at the first evaluation where the gap is not 0; under bf16
# autocast on a GPU it trains the run again in float32 and records that (``precision_fallback``).
EXACT_SYMMETRY = {"symmetric": "gap", "node_symmetric": "node_gap"}


class SymmetryBroken(RuntimeError):
    """A symmetric variant's heads (or nodes) stopped being bit-identical during training."""


def bf16_autocast(profile, device) -> bool:
    """Whether training runs under bfloat16 autocast: the profile asks for it and the device is a GPU."""
    return profile.mixed_precision == "bf16" and device.type == "cuda"


class Interrupted(RuntimeError):
    """Raised by ``pretrain(..., stop_after=k)``: simulates a run killed after step k."""


@dataclass
class PretrainRun:
    out_dir: Path
    model: torch.nn.Module
    tokenizer: object
    log: list[dict]
    config: dict

    @property
    def final_dir(self) -> Path:
        return self.out_dir / "final"

    def last(self, key: str):
        values = [r[key] for r in self.log if r.get(key) is not None]
        return values[-1] if values else None

    @property
    def backbone(self) -> dict | None:
        """The final model's backbone evaluation (``backbone_evaluation``), if written."""
        f = self.final_dir / BACKBONE_EVAL
        return json.loads(f.read_text()) if f.exists() else None


BACKBONE_EVAL = "backbone_eval.json"
def snapshot_grid(steps: int, first: int = 25) -> list[int]:
    """first, 2*first, 4*first, ... below ``steps``, and ``steps`` itself."""
    grid, s = [], first
    while s < steps:
        grid.append(s)
        s *= 2
    return grid + [steps]


def run_config(profile, *, init: str, steps: int, dropout: float, data_fp: str, tok_fp: str) -> dict:
    cfg = {k: getattr(profile, k) for k in TRAINING_FIELDS}
    cfg.update(init=init, steps=steps, dropout=dropout, data=data_fp, tokenizer=tok_fp,
               eps=profile.ssb_eps if init.endswith("_eps") else 0.0)
    return cfg


def set_deterministic(enabled: bool = True) -> None:
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.use_deterministic_algorithms(enabled, warn_only=False)


def linear_schedule(step: int, warmup: int, total: int) -> float:
    """Learning-rate factor of 0-based ``step``: (step+1)/warmup while warming up, then a
    linear decay from 1 at ``warmup`` to 0 at ``total``."""
    if step < warmup:
        return (step + 1) / max(1, warmup)
    return max(0.0, (total - step) / max(1, total - warmup))


def _save_model(model, tokenizer, directory: Path) -> None:
    module = getattr(model, "module", model)
    module.save_pretrained(directory, safe_serialization=True)
    tokenizer.save_pretrained(directory)


def join_process_group() -> tuple[int, int]:
    """(world size, rank) of this process.  Under torchrun (WORLD_SIZE > 1) it joins the process
    group, once: NCCL on the GPU ``LOCAL_RANK`` (made the current device), else gloo.  The one
    DDP set-up, used by ``pretrain`` and ``pretrain_cli``."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1 and torch.cuda.is_available():       # NCCL collectives run on the current device
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", 0)))
    if world > 1 and not torch.distributed.is_initialized():
        backend = "nccl" if torch.cuda.is_available() else "gloo"
        torch.distributed.init_process_group(backend)
    rank = torch.distributed.get_rank() if world > 1 else 0
    return world, rank


def global_batch(train_sequences: np.ndarray, spec: MaskingSpec, *, batch_size: int, step: int,
                 seed: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Global batch ``step``: (masked input_ids, attention_mask, labels), each (B, T) int64.

    A function of (sequences, seed, step) only -- the batch order of ``batch_indices`` and
    the masks of ``mask_tokens`` with the generator of stream 1 -- so every process of a
    DDP run, a resumed run and the benchmark all see the same batch for the same step.
    ``attention_mask`` is 1 on the original non-[PAD] positions; ``labels`` is -100
    outside the selected positions.
    """
    idx = batch_indices(len(train_sequences), batch_size, step, seed)
    ids = torch.from_numpy(train_sequences[idx])                                   # (B, T)
    inputs, labels = mask_tokens(ids, spec, step_generator(seed, 1, step))
    return inputs, (ids != spec.pad_id).long(), labels


def make_optimizer(model: torch.nn.Module, lr: float, weight_decay: float) -> torch.optim.AdamW:
    """AdamW over every parameter (tied embedding/decoder weight once), weight decay on all.

    The default implementation, not ``fused=True``: the fused CPU kernel is ~4x faster
    (~10 ms -> ~2.5 ms a step for the quick profile, ~2 % of the step) but rounds the
    vector tail of a tensor differently from its body, which breaks the exact head
    symmetry for odd d_head (docs/method.md, "Symmetric controls").
    """
    return torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)


def set_learning_rate(optimizer: torch.optim.Optimizer, base_lr: float, step: int, warmup: int, total: int) -> None:
    """Learning rate of step ``step`` (0-based) under the linear warm-up/decay schedule."""
    for group in optimizer.param_groups:
        group["lr"] = base_lr * linear_schedule(step, warmup, total)


def train_step(net: torch.nn.Module, model: torch.nn.Module, optimizer: torch.optim.Optimizer,
               inputs: torch.Tensor, attention_mask: torch.Tensor, labels: torch.Tensor, *,
               n_masked_global: int, world: int = 1, use_bf16: bool = False,
               max_grad_norm: float = 1.0) -> tuple[torch.Tensor, int, int]:
    """One optimizer step on this process's slice of a global batch.

    net:     ``MaskedLMObjective(model)``, or its ``DistributedDataParallel`` wrapper.
    inputs, attention_mask, labels: (b, T) on the model's device; b = B / world.
    n_masked_global: masked positions in the whole global batch (all processes).

    The loss is the cross-entropy summed over this slice's masked positions divided by
    ``n_masked_global``, times ``world`` because DDP averages gradients over processes:
    the update is that of the mean masked-token loss of the global batch, whatever
    ``world`` is. Gradients are clipped to norm ``max_grad_norm`` (as the HF Trainer does).

    Returns (summed cross-entropy of the slice as a detached 0-d tensor, correct argmax
    predictions, masked positions of the slice).
    """
    with torch.autocast(inputs.device.type, dtype=torch.bfloat16, enabled=use_bf16):
        logits, y = net(inputs, attention_mask, labels)                         # (n_masked, V), (n_masked,)
    ce_sum = F.cross_entropy(logits.float(), y, reduction="sum")
    loss = ce_sum * (world / max(1, n_masked_global))
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), max_grad_norm)
    optimizer.step()
    with torch.no_grad():
        correct = int((logits.argmax(-1) == y).sum())
    return ce_sum.detach(), correct, int(y.numel())


def _all_reduce_train_stats(stats: list[float], world: int, rank: int, device) -> list[float]:
    """[loss_sum, correct, count] summed over processes; rank 0 keeps the totals, the other
    ranks restart from zero (so a later reduction never counts a step twice). ``device``:
    this process's (NCCL reduces CUDA tensors only)."""
    if world == 1:
        return stats
    t = torch.tensor(stats, dtype=torch.float64, device=device)
    torch.distributed.all_reduce(t)
    return [float(v) for v in t] if rank == 0 else [0.0, 0.0, 0.0]


def pretrain_finished(profile, out_dir, tokenizer, train_sequences: np.ndarray, eval_sequences: np.ndarray, *,
                      init: str = "random", steps: int | None = None, dropout: float | None = None,
                      eps: float | None = None, fingerprints: tuple[str, str] | None = None) -> bool:
    """Whether ``out_dir/final`` holds a finished run of this configuration (``pretrain`` would
    load it).  eps, fingerprints: as in ``pretrain``."""
    profile = _with_eps(profile, eps)
    cfg = _data_run_config(profile, tokenizer, train_sequences, eval_sequences, init=init,
                           steps=profile.steps if steps is None else steps,
                           dropout=profile.dropout if dropout is None else dropout, fingerprints=fingerprints)
    return _finished_config(Path(out_dir) / "final", cfg, init) is not None


def _float32_fallback(cfg: dict) -> dict:
    """The configuration of a symmetric run retrained in float32 because bf16 broke its symmetry."""
    return {**cfg, "mixed_precision": "no", "precision_fallback": cfg["mixed_precision"]}


def _finished_config(final: Path, cfg: dict, init: str) -> dict | None:
    """The configuration ``final`` was trained with when it is this run's (``cfg``, or for a
    symmetric variant its float32 fallback) and it is complete, else None (``_run_entry``)."""
    check = _run_entry(final, cfg)
    if check.hit:
        return cfg
    if (check.status == OTHER_CONFIGURATION and init in EXACT_SYMMETRY and cfg["dropout"] == 0
            and cfg["mixed_precision"] == "bf16" and _run_entry(final, _float32_fallback(cfg)).hit):
        return _float32_fallback(cfg)
    return None


def data_fingerprints(tokenizer, train_sequences: np.ndarray, eval_sequences: np.ndarray) -> tuple[str, str]:
    """(token sequences, vocabulary) content fingerprints: what a run's configuration records of its data."""
    return array_fingerprint(train_sequences, eval_sequences), vocabulary_fingerprint(tokenizer)


def _data_run_config(profile, tokenizer, train_sequences, eval_sequences, *, init: str, steps: int, dropout: float,
                     fingerprints: tuple[str, str] | None = None) -> dict:
    """``run_config`` of a run on these sequences with this tokenizer (their content hashes:
    ``fingerprints`` when given, else ``data_fingerprints``)."""
    data_fp, tok_fp = fingerprints or data_fingerprints(tokenizer, train_sequences, eval_sequences)
    return run_config(profile, init=init, steps=steps, dropout=dropout, data_fp=data_fp, tok_fp=tok_fp)


def _with_eps(profile, eps: float | None):
    """``profile`` with its perturbation ``ssb_eps`` set to ``eps`` (None: unchanged).  A run's
    configuration records the eps it used (``run_config``), so the core eps's run keeps its
    cache key and each value of the eps grid gets its own."""
    return profile if eps is None or eps == profile.ssb_eps else _replace(profile, ssb_eps=float(eps))


def pretrain(profile, out_dir, tokenizer, train_sequences: np.ndarray, eval_sequences: np.ndarray, *,
             init: str = "random", steps: int | None = None, dropout: float | None = None,
             eps: float | None = None, force: bool = False, progress: bool = True, stop_after: int | None = None,
             desc: str | None = None, snapshot_steps=(), on_step=None,
             fingerprints: tuple[str, str] | None = None, device=None) -> PretrainRun:
    """Pre-train (or reuse, or resume) one BERT-6 and return it (in eval mode) with its log.

    train_sequences, eval_sequences: (n, max_len) int64 token sequences (``encode_corpus``).
    init: "random" | "symmetric" | "symmetric_eps" (``build_bert6``).
    steps, dropout: override the profile's ``steps`` and ``dropout``; eps its ``ssb_eps`` (C3's eps grid).
    force: delete ``out_dir`` and train from scratch.
    stop_after: raise ``Interrupted`` after that many steps, before ``final/`` is written
    (checkpoints written so far stay), to test resuming.
    snapshot_steps: steps after which the weights are also kept in ``snapshots/step_NNNNNN/``
    (``save_pretrained`` layout with the log so far): the learning-budget study reads them.
    They do not change the weights, so they are not part of the run's configuration.
    on_step: called with the number of finished steps after every step (a progress report for
    ``backbones.pretrained_runs``' parallel workers).
    fingerprints: ``data_fingerprints(tokenizer, train_sequences, eval_sequences)`` when the caller
    already has them (``corpus.Corpus.fingerprints``: the corpus is hashed once, not once per
    run and check); None: computed here.
    device: where it trains (a torch.device, or "auto" / "cpu" / "cuda" as in
    ``profiles.resolve_device``); None: the profile's, resolved once per process
    (``profiles.profile_device``; under torchrun the GPU ``LOCAL_RANK``).

    On the CPU, training runs on ``profile.pretrain_threads`` intra-op threads (torch's
    setting is restored afterwards): float rounding depends on the thread count, so fixing it
    makes the weights the same on machines with different numbers of cores.

    A finished run whose ``run_config.json`` matches this configuration is loaded, not
    retrained; a ``checkpoint/`` of this configuration is resumed. The log is a list of
    rows, one per evaluation (step 0, every ``eval_every`` steps and the last step), with
    keys step, loss, train_accuracy (over the steps since the previous row), eval_loss,
    eval_accuracy, baseline_accuracy (most frequent training token), gap (``head_gap``),
    node_gap (``node_gap``), lr and elapsed (seconds of training so far; the only key that
    differs between runs). ``final/backbone_eval.json`` holds ``backbone_evaluation`` of the
    final model (``PretrainRun.backbone``); a finished run without it gets it on reuse.
    """
    out_dir = Path(out_dir)
    profile = _with_eps(profile, eps)
    steps = profile.steps if steps is None else steps
    dropout = profile.dropout if dropout is None else dropout
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    if stop_after is not None and not 1 <= stop_after:
        raise ValueError(f"stop_after must be >= 1 (or None), got {stop_after}")
    cfg = _data_run_config(profile, tokenizer, train_sequences, eval_sequences, init=init, steps=steps, dropout=dropout,
                           fingerprints=fingerprints)
    world, rank = join_process_group()
    if profile.batch_size < world:
        raise ValueError(f"batch_size {profile.batch_size} is smaller than the {world} processes: "
                         "every process needs at least one sequence of the global batch")

    if force and rank == 0:
        shutil.rmtree(out_dir, ignore_errors=True)
    if world > 1:
        torch.distributed.barrier()                   # no rank may see the run that ``force`` deletes
    spec = MaskingSpec.from_tokenizer(tokenizer, profile.mask_prob)
    baseline_token = most_frequent_token(train_sequences, spec.special_ids)
    finished = _finished_config(out_dir / "final", cfg, init)
    if finished is not None:                          # reuse a finished run of this configuration
        return _load_finished(profile, out_dir, tokenizer, eval_sequences, spec, baseline_token, finished, rank)

    set_deterministic(True)
    device = (profile_device(profile, index=int(os.environ.get("LOCAL_RANK", 0))) if device is None
              else resolve_device(device))
    job = TrainingJob(out_dir, tokenizer, train_sequences, eval_sequences, init=init, steps=steps, dropout=dropout, cfg=cfg,
                      device=device, spec=spec, baseline_token=baseline_token, world=world, rank=rank,
                      progress=progress, stop_after=stop_after, desc=desc, snapshot_steps=tuple(snapshot_steps),
                      on_step=on_step)
    with cpu_threads(profile.pretrain_threads if device.type == "cpu" else 0):
        return _train_keeping_symmetry(profile, job)


def _load_finished(profile, out_dir: Path, tokenizer, eval_sequences, spec: MaskingSpec, baseline_token: int, cfg: dict,
                   rank: int) -> PretrainRun:
    """The finished run in ``out_dir/final`` (trained with ``cfg``); its backbone evaluation is
    written first when a run of an older version lacks it."""
    from transformers import BertForMaskedLM

    final = out_dir / "final"
    try:
        model = BertForMaskedLM.from_pretrained(final).eval()
    except Exception as err:                          # noqa: BLE001 - truncated or corrupt weights
        raise RuntimeError(f"checkpoint {final} cannot be loaded ({type(err).__name__}: {err}); retrain it: "
                           f"python -m ssb.pretrain_cli --profile {profile.name} --variant {out_dir.name} --force") from None
    if rank == 0 and not (final / BACKBONE_EVAL).exists():
        atomic.write_json(final / BACKBONE_EVAL, backbone_evaluation(
            model, eval_sequences, spec, seed=profile.seed, baseline_token=baseline_token))
    return PretrainRun(out_dir, model, tokenizer, json.loads((final / "train_log.json").read_text()), cfg)


@dataclass
class TrainingJob:
    """Everything one training of ``pretrain`` needs besides the profile: the data, the variant
    (init, steps, dropout), its run configuration ``cfg`` (what ``run_config.json`` records),
    where it runs (device; process ``rank`` of ``world``) and how it reports (see ``pretrain``)."""
    out_dir: Path
    tokenizer: object
    train_sequences: np.ndarray         # (n_train, max_len) token ids
    eval_sequences: np.ndarray          # (n_eval, max_len)
    init: str
    steps: int
    dropout: float
    cfg: dict
    device: torch.device
    spec: MaskingSpec
    baseline_token: int
    world: int = 1
    rank: int = 0
    progress: bool = True
    stop_after: int | None = None
    desc: str | None = None
    snapshot_steps: tuple = ()
    on_step: object = None

    @property
    def final(self) -> Path:
        return self.out_dir / "final"

    @property
    def checkpoint(self) -> Path:
        return self.out_dir / "checkpoint"


def _train_keeping_symmetry(profile, job: TrainingJob) -> PretrainRun:
    """``_train``, with the precision policy of the symmetric variants: a variant whose symmetry
    must stay exact (``EXACT_SYMMETRY``, no dropout) and that broke it under bf16 autocast on a
    GPU is trained again from step 0 in float32 (its ``cfg`` then records ``precision_fallback``);
    broken without mixed precision, it is an error naming the way out."""
    cfg, device = job.cfg, job.device
    fallback = (_float32_fallback(cfg) if job.init in EXACT_SYMMETRY and job.dropout == 0
                and cfg["mixed_precision"] == "bf16" else None)
    if fallback is None or not _run_entry(job.checkpoint, fallback).hit:   # (else: resume an interrupted fallback below)
        try:
            return _train(profile, job)
        except SymmetryBroken as err:
            if fallback is None or not bf16_autocast(profile, device):
                way_out = ("train the symmetric variants on the CPU, where it is exact (-p device cpu)"
                           if device.type != "cpu" else "on the CPU this is a bug (tests/test_pretrain.py "
                           "checks exactness): please report it with this run's configuration")
                raise SymmetryBroken(f"{err}, without mixed precision: exact symmetry cannot be kept with "
                                     f"{device}'s kernels; {way_out}") from None
            warnings.warn(f"{err} under bf16 autocast on {device}: the {job.init} variant is trained again from "
                          "step 0 in float32 (mixed_precision 'no', recorded as precision_fallback 'bf16' in "
                          "its run_config.json)", stacklevel=3)
            if job.rank == 0:
                shutil.rmtree(job.checkpoint, ignore_errors=True)     # the bf16 run's checkpoint, if any
    return _train(_replace(profile, mixed_precision="no"), _replace(job, cfg=fallback))


@contextlib.contextmanager
def cpu_threads(n: int):
    """Run the enclosed code on ``n`` intra-op threads (0: leave torch's setting), then restore it."""
    before = torch.get_num_threads()
    if n > 0:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


@dataclass
class _Progress:
    """Where a training stands: the next step, the log so far, the training statistics since the
    last log row ([summed cross-entropy, correct, masked positions]), the seconds trained before
    this process started, and the trainer state a resumed run continues from (None: fresh)."""
    start: int = 0
    log: list = None
    stats: list = None
    elapsed_before: float = 0.0
    state: dict | None = None


def _resume(job: TrainingJob, model) -> _Progress:
    """The progress of an interrupted run of this configuration (its checkpoint's weights loaded
    into ``model``, the RNG restored), or a fresh start."""
    from transformers import BertForMaskedLM

    if not _run_entry(job.checkpoint, job.cfg).hit:
        return _Progress(0, [], [0.0, 0.0, 0.0])
    # the checkpoint's weights into the model built by the caller (keeps its modules: exact_heads)
    model.load_state_dict(BertForMaskedLM.from_pretrained(job.checkpoint).state_dict())
    state = torch.load(job.checkpoint / "trainer_state.pt", weights_only=False)
    torch.set_rng_state(state["rng_cpu"])             # dropout draws continue where they stopped
    if job.device.type == "cuda" and state.get("rng_cuda") is not None:
        torch.cuda.set_rng_state(state["rng_cuda"], job.device)
    stats = list(state["train_stats"]) if job.rank == 0 else [0.0, 0.0, 0.0]
    return _Progress(state["step"], state["log"], stats, state["elapsed"], state)


def _train(profile, job: TrainingJob) -> PretrainRun:
    """The training of ``pretrain`` (fresh or resumed), on ``job.device``; see there.  One loop
    read top to bottom, kept whole on purpose (its parts: ``_resume``, ``_Evaluator``,
    ``_save_snapshot``, ``_save_checkpoint``, ``_save_final``)."""
    steps, rank, world, device = job.steps, job.rank, job.world, job.device
    model = build_bert6(len(job.tokenizer), seed=profile.seed, init=job.init, eps=profile.ssb_eps,
                        **profile_shape(profile, dropout=job.dropout, pad_token_id=job.tokenizer.pad_token_id))
    at = _resume(job, model)
    model.to(device).train()
    optimizer = make_optimizer(model, profile.lr, profile.weight_decay)
    if at.state is not None:
        optimizer.load_state_dict(at.state["optimizer"])   # moves the moments to the parameters' device
    set_learning_rate(optimizer, profile.lr, at.start, profile.warmup_steps, steps)
    net = objective = MaskedLMObjective(model)
    if world > 1:
        net = torch.nn.parallel.DistributedDataParallel(objective, device_ids=[device.index] if device.type == "cuda" else None)
    use_bf16 = bf16_autocast(profile, device)
    evaluator = _Evaluator(profile, job, model, optimizer, at.log)
    if at.start == 0 and rank == 0:
        evaluator(0, {"loss": None, "train_accuracy": None, "elapsed": 0.0})
    bar = None
    if job.progress and rank == 0:
        from tqdm.auto import tqdm
        bar = tqdm(total=steps, initial=at.start, desc=job.desc or f"pretrain[{job.init}]", unit="step")
    stats, t0 = at.stats, time.perf_counter()
    for step in range(at.start, steps):
        # the global batch and its masks depend on (seed, step) only; each process takes its slice
        inputs, attention_mask, labels = global_batch(job.train_sequences, job.spec, batch_size=profile.batch_size,
                                                      step=step, seed=profile.seed)   # (B, T) each
        n_masked_global = int((labels != -100).sum())
        inputs, attention_mask, labels = (t[rank::world].to(device) for t in (inputs, attention_mask, labels))
        ce_sum, correct, count = train_step(net, model, optimizer, inputs, attention_mask, labels,
                                            n_masked_global=n_masked_global, world=world, use_bf16=use_bf16)
        set_learning_rate(optimizer, profile.lr, step + 1, profile.warmup_steps, steps)
        ce_sum = float(ce_sum)
        if not math.isfinite(ce_sum):                 # stop here: no NaN weights become a checkpoint or final
            raise FloatingPointError(f"pre-training loss is {ce_sum} at step {step + 1} of {steps} (lr {profile.lr}); "
                                     f"nothing of this step was saved: lower lr or check the data")
        stats = [stats[0] + ce_sum, stats[1] + correct, stats[2] + count]
        done = step + 1
        if bar is not None:
            bar.update(1)
            bar.set_postfix(loss=f"{ce_sum / max(1, count):.3f}")
        if job.on_step is not None:
            job.on_step(done)
        is_eval = done % profile.eval_every == 0 or done == steps
        if rank == 0 and not is_eval and profile.gap_every and done % profile.gap_every == 0:
            evaluator.trace.append([done, head_gap(model)])
        is_checkpoint = done < steps and done % profile.checkpoint_every == 0
        if is_eval or is_checkpoint:
            stats = _all_reduce_train_stats(stats, world, rank, device)
        elapsed = at.elapsed_before + time.perf_counter() - t0
        if rank == 0 and is_eval:
            evaluator(done, {"loss": stats[0] / max(1, stats[2]), "train_accuracy": stats[1] / max(1, stats[2]),
                             "elapsed": elapsed})
            stats = [0.0, 0.0, 0.0]
        if rank == 0 and done in job.snapshot_steps:
            _save_snapshot(model, job, done, evaluator.log, elapsed)
        if rank == 0 and is_checkpoint:
            _save_checkpoint(model, job.tokenizer, optimizer, done, evaluator.log, job.cfg, job.checkpoint,
                             train_stats=stats, elapsed=elapsed)
        if job.stop_after is not None and done >= job.stop_after:
            if bar is not None:
                bar.close()
            raise Interrupted(f"stopped after step {done} (simulated interruption)")
    if bar is not None:
        bar.close()
    if rank == 0:
        _save_final(profile, job, model, evaluator.log, train_seconds=at.elapsed_before + time.perf_counter() - t0)
    if world > 1:
        torch.distributed.barrier()
    return PretrainRun(job.out_dir, model.cpu().eval(), job.tokenizer, evaluator.log, job.cfg)


class _Evaluator:
    """The log rows of a training: ``evaluator(step, extra)`` appends one row -- held-out MLM loss
    and accuracy (``evaluate_mlm``), the head and node gaps, the learning rate and ``trace`` (the
    dense g(t) points since the previous row) -- and stops a variant whose symmetry must stay
    exact (deterministic dynamics in one process; several: the final check) when it broke."""

    def __init__(self, profile, job: TrainingJob, model, optimizer, log: list):
        self.profile, self.job, self.model, self.optimizer, self.log = profile, job, model, optimizer, log
        self.trace = []      # [step, g(t)] every ``gap_every`` steps between evaluations (C3's dense g(t))
        self.exact = EXACT_SYMMETRY.get(job.init) if job.world == 1 and job.dropout == 0 else None

    def __call__(self, step: int, extra: dict) -> None:
        p, job, model = self.profile, self.job, self.model
        row = {"step": step, **extra, "gap_trace": list(self.trace),
               **evaluate_mlm(model, job.eval_sequences, job.spec, seed=p.seed, batch_size=p.batch_size,
                              n_batches=p.eval_batches, baseline_token=job.baseline_token, device=job.device),
               "gap": head_gap(model), "node_gap": node_gap(model), "lr": self.optimizer.param_groups[0]["lr"]}
        self.trace.clear()
        self.log.append(row)
        if self.exact and row[self.exact] != 0.0:     # stop at once: nothing broken is saved
            raise SymmetryBroken(f"the {job.init} variant's {'heads' if self.exact == 'gap' else 'nodes'} stopped "
                                 f"being bit-identical at step {step} ({self.exact} {row[self.exact]:.3g})")


def _save_snapshot(model, job: TrainingJob, done: int, log: list, elapsed: float) -> None:
    """The weights after step ``done`` in snapshots/step_NNNNNN/ (``pretrain``'s snapshot_steps)."""
    snap = job.out_dir / "snapshots" / f"step_{done:06d}"
    with atomic.atomic_dir(snap) as tmp:
        _save_model(model, job.tokenizer, tmp)
        atomic.write_json(tmp / "train_log.json", log)
        atomic.write_json(tmp / RUN_CONFIG, {**job.cfg, "snapshot_step": done, "elapsed": elapsed})


def _save_final(profile, job: TrainingJob, model, log: list, train_seconds: float) -> None:
    """final/ of a finished run: weights, tokenizer, log, configuration and the backbone gate's
    evaluation; the resume checkpoint is then removed.  Non-finite weights are never written."""
    if not all(bool(torch.isfinite(t).all()) for t in model.parameters()):
        raise FloatingPointError(f"pre-training ended with non-finite weights after step {job.steps}; "
                                 f"{job.final} was not written: lower lr")
    evaluation = backbone_evaluation(model, job.eval_sequences, job.spec, seed=profile.seed,
                                     baseline_token=job.baseline_token, device=job.device)
    with atomic.atomic_dir(job.final) as tmp:
        _save_model(model, job.tokenizer, tmp)
        atomic.write_json(tmp / BACKBONE_EVAL, evaluation)
        atomic.write_json(tmp / "train_log.json", log)
        atomic.write_json(tmp / RUN_CONFIG, {**job.cfg, "train_seconds": train_seconds,
                                             "tokens_seen": job.steps * profile.batch_size * profile.max_len})
    shutil.rmtree(job.checkpoint, ignore_errors=True)


class MaskedLMObjective(torch.nn.Module):
    """BERT encoder + MLM head evaluated at the masked positions only (wrapped by DDP)."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, input_ids, attention_mask, labels):
        return mlm_logits_at_masks(self.model, input_ids, attention_mask, labels)


# run_config.json keys written before a field was renamed (``profiles.RENAMED_FIELDS``): a run
# trained then is still this configuration's run
RUN_CONFIG_RENAMED = {"n_layers": "n_blocks"}


RUN_CONFIG = "run_config.json"
# what a finished run (final/) and a resume checkpoint (checkpoint/) hold besides their weights
FINAL_FILES = ("config.json", "train_log.json")
CHECKPOINT_FILES = ("config.json", "trainer_state.pt")


def _run_entry(directory: Path, cfg: dict) -> EntryCheck:
    """Whether ``directory`` (a run's ``final/`` or ``checkpoint/``) holds a complete run of
    configuration ``cfg`` (``cache_entry.check_entry``: every key of ``cfg`` has the value its
    ``run_config.json`` records, which also holds the run's train_seconds and tokens_seen).
    An unreadable record or a missing file is a warning saying so: that run is trained again (its
    directory is replaced when the new one is written); another configuration, silently."""
    check = check_entry(directory, cfg, config_file=RUN_CONFIG,
                        stored_config=lambda record: {RUN_CONFIG_RENAMED.get(k, k): v for k, v in record.items()},
                        subset=True, required=CHECKPOINT_FILES if directory.name == "checkpoint" else FINAL_FILES,
                        checksums=False)
    if check.status == UNREADABLE:                    # (without checksums and load, only the record can be)
        warnings.warn(f"{directory / RUN_CONFIG} cannot be read ({check.detail.split(': ', 1)[-1]}); "
                      "that run is trained again", stacklevel=3)
    elif check.status == INCOMPLETE:
        warnings.warn(f"{directory} is incomplete ({check.detail}); that run is trained again", stacklevel=3)
    return check


def _save_checkpoint(model, tokenizer, optimizer, step: int, log: list, cfg: dict, ckpt: Path, *,
                     train_stats: list[float], elapsed: float) -> None:
    """Everything a resumed run needs to continue bit-exactly: weights, optimizer state, the
    step, the log so far, the training statistics since the last log row and the RNG state
    (dropout draws; rank 0's, which every rank restores)."""
    state = {"optimizer": optimizer.state_dict(), "step": step, "log": log, "train_stats": list(train_stats),
             "elapsed": elapsed, "rng_cpu": torch.get_rng_state(),
             "rng_cuda": torch.cuda.get_rng_state() if torch.cuda.is_available() else None}
    with atomic.atomic_dir(ckpt) as tmp:
        _save_model(model, tokenizer, tmp)
        torch.save(state, tmp / "trainer_state.pt")
        atomic.write_json(tmp / RUN_CONFIG, cfg)
