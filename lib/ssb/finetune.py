"""Full fine-tuning reference: ``BertForSequenceClassification`` from a pre-trained
checkpoint, every weight trainable, a short deterministic run on the FewRel split.

Notebook 04 sets it beside the frozen-backbone heads as a reference (on a small budget it can end below them).

    ref = full_finetune(profile, checkpoint_dir, tokenizer, split)
    ref["accuracy"], ref["log"]
"""
from __future__ import annotations

import time
from pathlib import Path

import torch
import torch.nn.functional as F

from . import atomic
from .cache_keys import array_fingerprint, cache_key, files_fingerprint, text_fingerprint
from .fewrel import encode_sentences
from .backbones import non_finite_weights
from .cache_entry import check_entry, discard
from .pretrain import linear_schedule, set_deterministic
from .profiles import profile_device, resolve_device
from .results import runs_dir


@torch.no_grad()
def _accuracy(model, ids, am, y, batch=256) -> float:
    model.eval()
    device = next(model.parameters()).device
    correct = 0
    for s in range(0, len(ids), batch):
        logits = model(input_ids=ids[s:s + batch].to(device), attention_mask=am[s:s + batch].to(device)).logits
        correct += int((logits.argmax(-1).cpu() == y[s:s + batch]).sum())
    return correct / max(1, len(ids))


def _read_result(path: Path) -> dict:
    """A cached fine-tuning result, its content checked against the digest recorded with it."""
    cached = atomic.read_json_verified(path)
    if not isinstance(cached, dict) or "accuracy" not in cached:
        raise ValueError("no accuracy in it")
    return cached


def checkpoint_files(checkpoint: Path) -> list[Path]:
    """The files ``from_pretrained`` builds the model from: config.json and every weights file
    (single or sharded, safetensors or PyTorch), sorted by name.  FileNotFoundError without weights."""
    checkpoint = Path(checkpoint)
    weights = sorted(p for pattern in ("model*.safetensors", "pytorch_model*.bin", "*.index.json")
                     for p in checkpoint.glob(pattern))
    if not weights:
        raise FileNotFoundError(f"checkpoint {checkpoint} has no weights file (model.safetensors, pytorch_model.bin)")
    return sorted([p for p in [checkpoint / "config.json"] if p.is_file()] + weights, key=lambda p: p.name)


def full_finetune(profile, checkpoint: str | Path, tokenizer, split, *, steps: int | None = None,
                  lr: float | None = None, batch_size: int | None = None, force: bool = False,
                  progress: bool = True, device=None) -> dict:
    """Fine-tune the whole model for ``steps`` steps (AdamW, linear schedule, deterministic
    seeded batches); returns {"accuracy", "steps", "log", "train_seconds"}, cached by config.
    device: where it trains (a torch.device, or "auto" / "cpu" / "cuda"); None: the profile's,
    resolved once per process (``profiles.profile_device``)."""
    from transformers import BertForSequenceClassification

    steps = profile.finetune_steps if steps is None else steps
    lr = profile.finetune_lr if lr is None else lr
    batch_size = profile.finetune_batch if batch_size is None else batch_size
    checkpoint = Path(checkpoint)
    cfg = {"weights": files_fingerprint(checkpoint_files(checkpoint)),
           "steps": steps, "lr": lr, "batch": batch_size, "seed": profile.seed, "max_len": profile.max_len,
           "train": [text_fingerprint(split.train_texts), array_fingerprint(split.train_labels)],
           "test": [text_fingerprint(split.test_texts), array_fingerprint(split.test_labels)]}
    device = profile_device(profile) if device is None else resolve_device(device)
    use_bf16 = device.type == "cuda" and profile.mixed_precision == "bf16"
    if device.type != "cpu":                          # keyed only off the CPU
        cfg["device"] = device.type + ("-bf16" if use_bf16 else "")
    path = runs_dir(profile) / "finetune" / f"full-{cache_key(cfg)}.json"
    if not force:
        check = check_entry(path, cfg, stored_config=lambda cached: cached["config"], checksums=False, load=_read_result)
        if check.hit:
            return check.value
        discard(check, "fine-tuning cache", "recomputing")   # truncated, foreign, changed or unverifiable

    set_deterministic(True)
    torch.manual_seed(profile.seed)
    try:
        model = BertForSequenceClassification.from_pretrained(checkpoint, num_labels=split.n_labels(), local_files_only=True)
    except Exception as err:                          # noqa: BLE001 - truncated or foreign weights
        raise ValueError(f"checkpoint {checkpoint} cannot be loaded for fine-tuning ({type(err).__name__}: {err})") from None
    bad = non_finite_weights(model.bert)
    if bad:
        raise FloatingPointError(f"full fine-tuning: checkpoint {checkpoint} holds NaN or infinite weights "
                                 f"({', '.join(bad[:3])}); nothing was trained or cached. Use another checkpoint")
    max_len = min(profile.max_len, model.config.max_position_embeddings)
    ids, am = map(torch.from_numpy, encode_sentences(tokenizer, split.train_texts, max_len))
    y = torch.as_tensor(split.train_labels)
    tids, tam = map(torch.from_numpy, encode_sentences(tokenizer, split.test_texts, max_len))
    ty = torch.as_tensor(split.test_labels)
    model.to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=profile.weight_decay)
    warmup = max(1, steps // 10)
    gen = torch.Generator().manual_seed(profile.seed)
    order = torch.randperm(len(ids), generator=gen)
    log, t0, pos = [], time.perf_counter(), 0
    it = range(steps)
    if progress:
        from tqdm import tqdm
        it = tqdm(it, desc="full fine-tuning", unit="step")
    for step in it:
        model.train()
        if pos + batch_size > len(order):
            order, pos = torch.randperm(len(ids), generator=gen), 0
        idx = order[pos:pos + batch_size]
        pos += batch_size
        for g in optimizer.param_groups:
            g["lr"] = lr * linear_schedule(step, warmup, steps)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=use_bf16):
            logits = model(input_ids=ids[idx].to(device), attention_mask=am[idx].to(device)).logits
        loss = F.cross_entropy(logits.float(), y[idx].to(device))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        if not torch.isfinite(loss):                  # stop: no NaN result is ever cached
            raise FloatingPointError(f"full fine-tuning of checkpoint {checkpoint}: the loss is {loss.item()} at step "
                                     f"{step + 1} of {steps} (finetune_lr {lr}); nothing was cached. Lower "
                                     f"finetune_lr (-p finetune_lr {lr / 10:g}) or check the checkpoint's weights")
        log.append({"step": step + 1, "loss": loss.item()})
    bad = non_finite_weights(model)
    if bad:
        raise FloatingPointError(f"full fine-tuning of checkpoint {checkpoint}: the weights {', '.join(bad[:3])} "
                                 f"hold NaN or infinite values after {steps} steps; nothing was cached. Lower "
                                 f"finetune_lr (-p finetune_lr {lr / 10:g})")
    result = {"accuracy": _accuracy(model, tids, tam, ty), "steps": steps, "log": log,
              "train_seconds": time.perf_counter() - t0, "config": cfg}
    atomic.write_json_verified(path, result)
    return result
