"""Held-out masked-token evaluation and the backbone gate: did pre-training learn anything?

    evaluation = heldout.backbone_evaluation(model, eval_sequences, spec, seed=P.seed, baseline_token=t)
    evaluation["gate"]      # passed when the model beats the most-frequent-token baseline (McNemar)

``evaluate_mlm`` is the periodic evaluation of the training log (the first batches, fixed
masks of stream 3); ``heldout_predictions`` reads EVERY held-out sequence with masks fixed per
chunk of ``GATE_CHUNK`` sequences (stream ``GATE_MASK_STREAM``), so every model of a profile --
variants, snapshots, checkpoints -- is judged on the same positions.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from . import stats
from .mlm import MaskingSpec, mask_tokens, step_generator

# mask stream of the backbone gate's held-out masks (1: training, 3: periodic evaluation)
GATE_MASK_STREAM = 6
GATE_CHUNK = 256


def most_frequent_token(sequences: np.ndarray, special_ids) -> int:
    """The most frequent non-special token of ``sequences`` (the held-out accuracy baseline)."""
    counts = np.bincount(sequences.ravel(), minlength=max(special_ids, default=0) + 1)
    counts[list(special_ids)] = 0
    return int(counts.argmax())


def mlm_logits_at_masks(model, input_ids, attention_mask, labels):
    """Vocabulary logits at masked positions only: (n_masked, V), and their labels."""
    hidden = model.bert(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
    where = labels != -100
    return model.cls(hidden[where]), labels[where]


@torch.no_grad()
def evaluate_mlm(model, eval_sequences: np.ndarray, spec: MaskingSpec, *, seed: int, batch_size: int,
                 n_batches: int, baseline_token: int, device) -> dict:
    """Held-out masked-token accuracy (fixed masks, stream 3) and the most-frequent-token
    baseline over the first ``n_batches`` batches of ``eval_sequences`` (n_eval, T)."""
    was_training = model.training
    model.eval()
    correct = baseline = total = 0
    loss_sum = 0.0
    for i in range(n_batches):
        ids = torch.from_numpy(eval_sequences[i * batch_size:(i + 1) * batch_size])
        if len(ids) == 0:
            break
        inputs, labels = mask_tokens(ids, spec, step_generator(seed, 3, i))
        logits, y = mlm_logits_at_masks(model, inputs.to(device), (ids != spec.pad_id).to(device), labels.to(device))
        loss_sum += float(F.cross_entropy(logits.float(), y, reduction="sum"))
        correct += int((logits.argmax(-1) == y).sum())
        baseline += int((y == baseline_token).sum())
        total += len(y)
    model.train(was_training)
    total = max(total, 1)
    return {"eval_loss": loss_sum / total, "eval_accuracy": correct / total, "baseline_accuracy": baseline / total}


@torch.no_grad()
def heldout_predictions(model, eval_sequences: np.ndarray, spec: MaskingSpec, *, seed: int, baseline_token: int,
                        device="cpu", batch_size: int = 64) -> dict:
    """Per-position correctness of the model and of the most-frequent-token baseline at the
    masked positions of EVERY held-out sequence (n_eval, T).

    The masks are fixed: chunk c of ``GATE_CHUNK`` sequences is masked with the generator of
    (seed, stream ``GATE_MASK_STREAM``, c), whatever ``batch_size`` is, so every model of a
    profile (variants, snapshots) is judged on the same positions. Returns model_correct and
    baseline_correct (N,) booleans, the labels (N,) and the mean cross-entropy."""
    was_training = model.training
    model.eval()
    model_correct, baseline_correct, labels_all, loss_sum = [], [], [], 0.0
    for c, start in enumerate(range(0, len(eval_sequences), GATE_CHUNK)):
        ids = torch.from_numpy(np.ascontiguousarray(eval_sequences[start:start + GATE_CHUNK]))
        inputs, labels = mask_tokens(ids, spec, step_generator(seed, GATE_MASK_STREAM, c))
        for b in range(0, len(ids), batch_size):
            sl = slice(b, b + batch_size)
            logits, y = mlm_logits_at_masks(model, inputs[sl].to(device), (ids[sl] != spec.pad_id).to(device),
                                            labels[sl].to(device))
            loss_sum += float(F.cross_entropy(logits.float(), y, reduction="sum"))
            model_correct.append((logits.argmax(-1) == y).cpu().numpy())
            baseline_correct.append((y == baseline_token).cpu().numpy())
            labels_all.append(y.cpu().numpy())
    model.train(was_training)
    y = np.concatenate(labels_all)
    return {"model_correct": np.concatenate(model_correct), "baseline_correct": np.concatenate(baseline_correct),
            "labels": y, "eval_loss": loss_sum / max(1, len(y))}


def backbone_gate(model_correct, baseline_correct) -> dict:
    """The backbone gate: held-out masked-token accuracy above the most-frequent-token
    baseline on the same positions, exact one-sided McNemar test at level ``stats.ALPHA``."""
    t = stats.paired_accuracy_test(model_correct, baseline_correct)
    return stats.gate("backbone learned", "held-out masked-token accuracy minus the most-frequent-token "
                      "baseline's on the same positions (paired, exact McNemar)",
                      t["accuracy_a"], t["accuracy_b"], t["p"], stats.ALPHA, difference=t["difference"],
                      ci=t["ci"], n=t["n"], only_model=t["only_a"], only_baseline=t["only_b"])


def backbone_evaluation(model, eval_sequences: np.ndarray, spec: MaskingSpec, *, seed: int, baseline_token: int,
                        device="cpu") -> dict:
    """``heldout_predictions`` summarised: mlm_accuracy, baseline_accuracy, eval_loss,
    n_positions and the ``backbone_gate`` record (JSON-ready)."""
    pred = heldout_predictions(model, eval_sequences, spec, seed=seed, baseline_token=baseline_token, device=device)
    g = backbone_gate(pred["model_correct"], pred["baseline_correct"])
    return {"mlm_accuracy": g["value"], "baseline_accuracy": g["null"], "eval_loss": pred["eval_loss"],
            "n_positions": int(len(pred["labels"])), "baseline_token": int(baseline_token), "gate": g}
