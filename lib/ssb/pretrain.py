"""Masked-language-model pre-training of BERT-6, readable top to bottom.

    run = pretrain(profile, out_dir, tokenizer, train_blocks, eval_blocks, init="random")

- Deterministic by default (dropout 0, seeded order and masks,
  ``torch.use_deterministic_algorithms(True)``): the same seed gives identical weights.
- The batch order and every mask are functions of (seed, step) only, so a run resumed
  from its last checkpoint is identical to an uninterrupted one.
- Loss and accuracy only at the masked positions (the vocabulary projection of the other
  85 % of positions is never computed).
- Under ``torchrun --nproc_per_node N`` each process takes a 1/N slice of the same global
  batch and masks; the loss is normalised by the global masked count, so the update is
  the single-process one.
- Output layout of ``out_dir``: ``final/`` (``save_pretrained`` safetensors, tokenizer,
  ``run_config.json``, ``train_log.json``) and, while training, ``checkpoint/``.
"""
from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from . import atomic
from .mlm import MaskingSpec, batch_indices, mask_tokens, step_generator
from .model import build_bert6, head_gap

TRAINING_FIELDS = ("seed", "n_layers", "n_heads", "d_head", "max_len", "batch_size", "lr",
                   "warmup_steps", "weight_decay", "mask_prob", "mixed_precision")


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


def blocks_fingerprint(*arrays: np.ndarray) -> str:
    h = hashlib.sha256()
    for a in arrays:
        h.update(np.ascontiguousarray(a).tobytes())
        h.update(str(a.shape).encode())
    return h.hexdigest()[:16]


def tokenizer_fingerprint(tokenizer) -> str:
    vocab = sorted(tokenizer.get_vocab().items(), key=lambda kv: kv[1])
    return hashlib.sha256(json.dumps(vocab).encode()).hexdigest()[:16]


def run_config(profile, *, init: str, steps: int, dropout: float, data_fp: str, tok_fp: str) -> dict:
    cfg = {k: getattr(profile, k) for k in TRAINING_FIELDS}
    cfg.update(init=init, steps=steps, dropout=dropout, data=data_fp, tokenizer=tok_fp,
               eps=profile.ssb_eps if init == "symmetric_eps" else 0.0)
    return cfg


def set_deterministic(enabled: bool = True) -> None:
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.use_deterministic_algorithms(enabled, warn_only=False)


def linear_schedule(step: int, warmup: int, total: int) -> float:
    if step < warmup:
        return (step + 1) / max(1, warmup)
    return max(0.0, (total - step) / max(1, total - warmup))


def most_frequent_token(blocks: np.ndarray, special_ids) -> int:
    counts = np.bincount(blocks.ravel())
    counts[list(special_ids)] = 0
    return int(counts.argmax())


def mlm_logits_at_masks(model, input_ids, attention_mask, labels):
    """Vocabulary logits at masked positions only: (n_masked, V), and their labels."""
    hidden = model.bert(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
    where = labels != -100
    return model.cls(hidden[where]), labels[where]


@torch.no_grad()
def evaluate_mlm(model, eval_blocks: np.ndarray, spec: MaskingSpec, *, seed: int, batch_size: int,
                 n_batches: int, baseline_token: int, device) -> dict:
    """Held-out masked-token accuracy (fixed masks) and the most-frequent-token baseline."""
    model.eval()
    correct = baseline = total = 0
    loss_sum = 0.0
    for i in range(n_batches):
        ids = torch.from_numpy(eval_blocks[i * batch_size:(i + 1) * batch_size])
        if len(ids) == 0:
            break
        inputs, labels = mask_tokens(ids, spec, step_generator(seed, 3, i))
        logits, y = mlm_logits_at_masks(model, inputs.to(device), (ids != spec.pad_id).to(device), labels.to(device))
        loss_sum += float(F.cross_entropy(logits.float(), y, reduction="sum"))
        correct += int((logits.argmax(-1) == y).sum())
        baseline += int((y == baseline_token).sum())
        total += len(y)
    model.train()
    total = max(total, 1)
    return {"eval_loss": loss_sum / total, "eval_accuracy": correct / total, "baseline_accuracy": baseline / total}


def _save_model(model, tokenizer, directory: Path) -> None:
    module = getattr(model, "module", model)
    module.save_pretrained(directory, safe_serialization=True)
    tokenizer.save_pretrained(directory)


def _dist():
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1 and not torch.distributed.is_initialized():
        backend = "nccl" if torch.cuda.is_available() else "gloo"
        torch.distributed.init_process_group(backend)
    rank = torch.distributed.get_rank() if world > 1 else 0
    return world, rank


def pretrain(profile, out_dir, tokenizer, train_blocks: np.ndarray, eval_blocks: np.ndarray, *,
             init: str = "random", steps: int | None = None, dropout: float | None = None,
             force: bool = False, progress: bool = True, stop_after: int | None = None,
             desc: str | None = None) -> PretrainRun:
    """Pre-train (or reuse, or resume) one BERT-6 and return it with its log."""
    from transformers import BertForMaskedLM

    out_dir = Path(out_dir)
    steps = profile.steps if steps is None else steps
    dropout = profile.dropout if dropout is None else dropout
    cfg = run_config(profile, init=init, steps=steps, dropout=dropout,
                     data_fp=blocks_fingerprint(train_blocks, eval_blocks), tok_fp=tokenizer_fingerprint(tokenizer))
    final, ckpt = out_dir / "final", out_dir / "checkpoint"
    world, rank = _dist()

    if force and rank == 0:
        shutil.rmtree(out_dir, ignore_errors=True)
    if _matches(final, cfg):                          # reuse a finished run of this configuration
        model = BertForMaskedLM.from_pretrained(final)
        return PretrainRun(out_dir, model, tokenizer, json.loads((final / "train_log.json").read_text()), cfg)

    set_deterministic(True)
    device = torch.device(f"cuda:{int(os.environ.get('LOCAL_RANK', 0))}" if torch.cuda.is_available() else "cpu")
    spec = MaskingSpec.from_tokenizer(tokenizer, profile.mask_prob)
    model = build_bert6(len(tokenizer), seed=profile.seed, init=init, eps=profile.ssb_eps,
                        n_layers=profile.n_layers, n_heads=profile.n_heads, d_head=profile.d_head,
                        max_len=profile.max_len, dropout=dropout, pad_token_id=tokenizer.pad_token_id)
    optimizer = torch.optim.AdamW(model.parameters(), lr=profile.lr, weight_decay=profile.weight_decay)
    start, log = 0, []
    if _matches(ckpt, cfg):                           # resume after an interruption
        model = BertForMaskedLM.from_pretrained(ckpt)
        optimizer = torch.optim.AdamW(model.parameters(), lr=profile.lr, weight_decay=profile.weight_decay)
        state = torch.load(ckpt / "trainer_state.pt", weights_only=False)
        optimizer.load_state_dict(state["optimizer"])
        start, log = state["step"], state["log"]
    model.to(device).train()
    for group in optimizer.param_groups:
        group["lr"] = profile.lr * linear_schedule(start, profile.warmup_steps, steps)
    objective = MaskedLMObjective(model)
    net = objective
    if world > 1:
        net = torch.nn.parallel.DistributedDataParallel(objective, device_ids=[device.index] if device.type == "cuda" else None)
    baseline_token = most_frequent_token(train_blocks, spec.special_ids)
    use_bf16 = profile.mixed_precision == "bf16" and device.type == "cuda"

    def evaluate(step, extra):
        row = {"step": step, **extra, **evaluate_mlm(model, eval_blocks, spec, seed=profile.seed,
               batch_size=profile.batch_size, n_batches=profile.eval_batches, baseline_token=baseline_token, device=device),
               "gap": head_gap(model), "lr": optimizer.param_groups[0]["lr"]}
        log.append(row)

    if start == 0 and rank == 0:
        evaluate(0, {"loss": None, "train_accuracy": None, "elapsed": 0.0})
    bar = None
    if progress and rank == 0:
        from tqdm.auto import tqdm
        bar = tqdm(total=steps, initial=start, desc=desc or f"pretrain[{init}]", unit="step")
    elapsed_before = log[-1]["elapsed"] if log else 0.0
    t0, loss_sum, correct, count = time.perf_counter(), 0.0, 0, 0
    for step in range(start, steps):
        # the global batch and its masks depend on (seed, step) only; each process takes its slice
        idx = batch_indices(len(train_blocks), profile.batch_size, step, profile.seed)
        ids = torch.from_numpy(train_blocks[idx])                               # (B, T)
        inputs, labels = mask_tokens(ids, spec, step_generator(profile.seed, 1, step))
        n_masked_global = max(1, int((labels != -100).sum()))
        inputs, labels, ids = inputs[rank::world], labels[rank::world], ids[rank::world]
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=use_bf16):
            logits, y = net(inputs.to(device), (ids != tokenizer.pad_token_id).to(device), labels.to(device))
        ce_sum = F.cross_entropy(logits.float(), y, reduction="sum")              # (n_masked_local,) summed
        loss = ce_sum * (world / n_masked_global)   # DDP averages gradients over processes
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        for group in optimizer.param_groups:
            group["lr"] = profile.lr * linear_schedule(step + 1, profile.warmup_steps, steps)
        loss_sum += float(ce_sum.detach())
        correct += int((logits.argmax(-1) == y).sum())
        count += len(y)
        done = step + 1
        if bar is not None:
            bar.update(1)
            bar.set_postfix(loss=f"{float(ce_sum.detach()) / max(1, len(y)):.3f}")
        if rank == 0 and (done % profile.eval_every == 0 or done == steps):
            evaluate(done, {"loss": loss_sum / max(1, count), "train_accuracy": correct / max(1, count),
                            "elapsed": elapsed_before + time.perf_counter() - t0})
            loss_sum, correct, count = 0.0, 0, 0
        if rank == 0 and done < steps and done % profile.checkpoint_every == 0:
            _save_checkpoint(model, tokenizer, optimizer, done, log, cfg, ckpt)
        if stop_after is not None and done >= stop_after:
            if bar is not None:
                bar.close()
            raise Interrupted(f"stopped after step {done} (simulated interruption)")
    if bar is not None:
        bar.close()
    train_seconds = elapsed_before + time.perf_counter() - t0
    if rank == 0:
        with atomic.atomic_dir(final) as tmp:
            _save_model(model, tokenizer, tmp)
            atomic.write_json(tmp / "train_log.json", log)
            atomic.write_json(tmp / "run_config.json", {**cfg, "train_seconds": train_seconds,
                                                        "tokens_seen": steps * profile.batch_size * profile.max_len})
        shutil.rmtree(ckpt, ignore_errors=True)
    if world > 1:
        torch.distributed.barrier()
    return PretrainRun(out_dir, model.cpu(), tokenizer, log, cfg)


class MaskedLMObjective(torch.nn.Module):
    """BERT encoder + MLM head evaluated at the masked positions only (wrapped by DDP)."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, input_ids, attention_mask, labels):
        return mlm_logits_at_masks(self.model, input_ids, attention_mask, labels)


def _matches(directory: Path, cfg: dict) -> bool:
    f = directory / "run_config.json"
    if not f.exists():
        return False
    saved = json.loads(f.read_text())
    return all(saved.get(k) == v for k, v in cfg.items())


def _save_checkpoint(model, tokenizer, optimizer, step: int, log: list, cfg: dict, ckpt: Path) -> None:
    with atomic.atomic_dir(ckpt) as tmp:
        _save_model(model, tokenizer, tmp)
        torch.save({"optimizer": optimizer.state_dict(), "step": step, "log": log}, tmp / "trainer_state.pt")
        atomic.write_json(tmp / "run_config.json", cfg)
