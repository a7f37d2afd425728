"""Our MLM training loop against a plain ``transformers.Trainer`` on identical work.

    python -m ssb.bench pretrain [--profile quick] [--steps 30] [--warmup-steps 3]
                                 [--rounds 2] [--threads N] [--data-dir DIR | --synthetic]

Both sides train the same freshly built BertForMaskedLM (``ssb.model.build_bert6``, same
seed, so the same initial weights) on the same pre-masked global batches
(``ssb.pretrain.global_batch``: same sequences, order and masks), with the same AdamW, linear
schedule, gradient clipping (1.0) and batch size, on the CPU, one process:

- ours: ``ssb.pretrain.train_step`` + ``set_learning_rate`` per batch, exactly the step of
  ``ssb.pretrain.pretrain`` (logits and loss at the masked positions only);
- Trainer: ``TrainingArguments(report_to="none", no eval, no saving, no logging,
  dataloader_num_workers=0, use_cpu=True, train_sampling_strategy="sequential")`` on a
  Dataset of the same examples in the same order, given the same optimizer and schedule
  (``optimizers=(AdamW, LambdaLR(linear_schedule))``); the model computes the vocabulary
  logits at every position and the loss over the masked ones, as stock BERT does.

Each side runs ``--warmup-steps`` untimed steps, then ``--steps`` timed ones; the two
sides alternate for ``--rounds`` rounds (fresh models each round), so that load from other
processes on a shared machine hits both alike. Every step is timed end to end (for the
Trainer: from one ``on_step_end`` to the next, so data loading and its bookkeeping count).
Printed per round and overall: tokens/s = batch x max_len / median wall-clock step (also
from the mean step, and per CPU-second of this process, which other processes' load
disturbs less), the ratio ours/Trainer, and the correctness check: after the same
steps both models must hold nearly the same weights (they differ only by float rounding:
logits computed for all positions versus the masked ones).

On a shared machine, other processes' load makes OpenMP threads spin-wait: a step can
take 4x longer with 2 threads than with 1 (``OMP_WAIT_POLICY=PASSIVE`` avoids most of it).
Compare the two sides of one run, not runs taken at different times.

Data: the profile's real token sequences through ``ssb.corpus.prepare`` when a data
directory is given (``--data-dir`` or ``$SSB_DATA_DIR``), else synthetic token sequences of
Zipf-distributed random tokens with the profile's vocabulary size and length.
"""
from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time

import numpy as np
import torch

from ..mlm import MaskingSpec
from ._args import positive_int, profile_name
from ..model import build_bert6, profile_shape
from ..pretrain import (MaskedLMObjective, global_batch, linear_schedule, make_optimizer, set_deterministic,
                        set_learning_rate, train_step)
from ..profiles import get_profile


def synthetic_sequences(n_sequences: int, max_len: int, vocab_size: int, seed: int) -> np.ndarray:
    """(n_sequences, max_len) [CLS] t_1 .. t_{max_len-2} [SEP] with Zipf-distributed ordinary
    ids 5..vocab_size-1 (ids 0..4 are [PAD] [UNK] [CLS] [SEP] [MASK])."""
    rng = np.random.default_rng(seed)
    ranks = np.arange(1, vocab_size - 5 + 1)
    p = 1.0 / ranks
    sequences = 5 + rng.choice(vocab_size - 5, size=(n_sequences, max_len), p=p / p.sum())
    sequences[:, 0], sequences[:, -1] = 2, 3
    return sequences.astype(np.int64)


def load_data(profile, data_dir: str | None, synthetic: bool):
    """(train_sequences, MaskingSpec, description)."""
    data_dir = data_dir or os.environ.get("SSB_DATA_DIR") or None
    if data_dir and not synthetic:
        from ..corpus import prepare as prepare_corpus

        c = prepare_corpus(profile, data_dir, progress=False)
        return c.train_sequences, MaskingSpec.from_tokenizer(c.tokenizer, profile.mask_prob), \
            f"{profile.corpus} from {data_dir}: {len(c.train_sequences)} training sequences, vocabulary {len(c.tokenizer)}"
    sequences = synthetic_sequences(4096, profile.max_len, profile.vocab_size, profile.seed)
    spec = MaskingSpec(vocab_size=profile.vocab_size, mask_id=4, special_ids=(0, 1, 2, 3, 4), pad_id=0,
                       mask_prob=profile.mask_prob)
    return sequences, spec, f"synthetic Zipf sequences: {len(sequences)}, vocabulary {profile.vocab_size}"


def fresh_model(profile, vocab_size: int):
    return build_bert6(vocab_size, seed=profile.seed, **profile_shape(profile, dropout=profile.dropout, pad_token_id=0))


def run_ours(profile, vocab_size: int, batches, warmup: int) -> tuple[list[float], torch.nn.Module]:
    """(steps, 2) wall and CPU seconds of each step after ``warmup`` (>= 1), and the trained model."""
    model = fresh_model(profile, vocab_size).train()
    optimizer = make_optimizer(model, profile.lr, profile.weight_decay)
    objective = MaskedLMObjective(model)
    total = len(batches)
    set_learning_rate(optimizer, profile.lr, 0, profile.warmup_steps, total)
    ends = []                                                   # (wall, CPU) clock after each step
    for step, (inputs, attention_mask, labels) in enumerate(batches):
        train_step(objective, model, optimizer, inputs, attention_mask, labels,
                   n_masked_global=int((labels != -100).sum()))
        set_learning_rate(optimizer, profile.lr, step + 1, profile.warmup_steps, total)
        ends.append(_clock())
    return np.diff(ends[warmup - 1:], axis=0), model           # step k timed from the end of step k-1


def _clock() -> tuple[float, float]:
    """(wall seconds, CPU seconds of this process, all its threads)"""
    return time.perf_counter(), time.process_time()


class PreMaskedExamples(torch.utils.data.Dataset):
    """The examples of the pre-masked global batches, batch after batch: example i is row
    i % B of batch i // B, as a dict of (T,) tensors."""

    def __init__(self, batches):
        self.inputs = torch.cat([b[0] for b in batches])                 # (steps * B, T)
        self.attention_mask = torch.cat([b[1] for b in batches])
        self.labels = torch.cat([b[2] for b in batches])

    def __len__(self) -> int:
        return len(self.inputs)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        return {"input_ids": self.inputs[i], "attention_mask": self.attention_mask[i], "labels": self.labels[i]}


def run_trainer(profile, vocab_size: int, batches, warmup: int) -> tuple[list[float], torch.nn.Module]:
    """(steps, 2) wall and CPU seconds of each step after ``warmup`` under a plain Trainer,
    and the trained model."""
    from transformers import Trainer, TrainerCallback, TrainingArguments
    from transformers.trainer_callback import PrinterCallback

    total = len(batches)
    ends: list[tuple[float, float]] = []

    class StepTimer(TrainerCallback):
        def on_step_end(self, args, state, control, **kwargs):
            ends.append(_clock())

    model = fresh_model(profile, vocab_size)
    optimizer = make_optimizer(model, profile.lr, profile.weight_decay)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: linear_schedule(step, profile.warmup_steps, total))
    with tempfile.TemporaryDirectory() as tmp:
        args = TrainingArguments(
            output_dir=tmp, per_device_train_batch_size=len(batches[0][0]), max_steps=total,
            report_to="none", eval_strategy="no", save_strategy="no", logging_strategy="no",
            dataloader_num_workers=0, use_cpu=True, train_sampling_strategy="sequential",
            max_grad_norm=1.0, seed=profile.seed, disable_tqdm=True)
        trainer = Trainer(model=model, args=args, train_dataset=PreMaskedExamples(batches),
                          optimizers=(optimizer, schedule), callbacks=[StepTimer()])
        trainer.remove_callback(PrinterCallback)            # its end-of-training metrics line
        trainer.train()
    if len(ends) != total:
        raise RuntimeError(f"the Trainer ran {len(ends)} steps, expected {total}")
    return np.diff(ends[warmup - 1:], axis=0), model


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="python -m ssb.bench pretrain", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--profile", type=profile_name, default="quick")
    ap.add_argument("--steps", type=positive_int, default=30, help="timed steps per side (default 30)")
    ap.add_argument("--warmup-steps", type=positive_int, default=3, help="untimed steps first (default 3, at least 1)")
    ap.add_argument("--rounds", type=positive_int, default=2, help="alternating rounds of both sides (default 2)")
    ap.add_argument("--threads", type=positive_int, default=None, help="torch threads (default: torch's choice)")
    ap.add_argument("--data-dir", default=None, help="real corpus from here (default: $SSB_DATA_DIR)")
    ap.add_argument("--synthetic", action="store_true", help="synthetic token sequences even with a data dir")
    args = ap.parse_args(argv)
    profile = get_profile(args.profile)
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    set_deterministic(True)                       # as in ssb.pretrain.pretrain, for both sides

    train_sequences, spec, described = load_data(profile, args.data_dir, args.synthetic)
    total = args.warmup_steps + args.steps
    batches = [global_batch(train_sequences, spec, batch_size=profile.batch_size, step=s, seed=profile.seed)
               for s in range(total)]
    tokens_per_step = profile.batch_size * profile.max_len
    print(f"profile {profile.name}: {profile.n_blocks} layers x {profile.n_heads} heads x d_head {profile.d_head}, "
          f"batch {profile.batch_size} x {profile.max_len} tokens; {described}")
    print(f"{args.rounds} rounds of {args.warmup_steps} warm-up + {args.steps} timed steps per side; "
          f"torch {torch.__version__}, {torch.get_num_threads()} threads, {platform.processor() or platform.machine()}")

    def rates(step_seconds: np.ndarray) -> dict[str, float]:
        """tokens/s from the median and the mean wall-clock step, and per CPU-second"""
        wall, cpu = step_seconds[:, 0], step_seconds[:, 1]
        return {"median": tokens_per_step / float(np.median(wall)), "mean": tokens_per_step / float(np.mean(wall)),
                "cpu": tokens_per_step / float(np.mean(cpu))}

    def describe(ours: dict, trainer: dict) -> str:
        return "  ".join(f"{k} {ours[k]:6.0f}/{trainer[k]:6.0f} = {ours[k] / trainer[k]:.2f}" for k in ours)

    all_ours, all_trainer = [], []
    print("tokens/s, ours/Trainer = ratio (median wall step, mean wall step, per CPU-second):")
    for r in range(args.rounds):
        ours_steps, ours_model = run_ours(profile, spec.vocab_size, batches, args.warmup_steps)
        trainer_steps, trainer_model = run_trainer(profile, spec.vocab_size, batches, args.warmup_steps)
        all_ours.append(ours_steps)
        all_trainer.append(trainer_steps)
        print(f"round {r + 1}: {describe(rates(ours_steps), rates(trainer_steps))}")
    ours, trainer = rates(np.concatenate(all_ours)), rates(np.concatenate(all_trainer))
    print(f"all:     {describe(ours, trainer)}")
    print(f"ours     {ours['median']:8.0f} tokens/s (median step {1000 * tokens_per_step / ours['median']:.0f} ms)")
    print(f"Trainer  {trainer['median']:8.0f} tokens/s (median step {1000 * tokens_per_step / trainer['median']:.0f} ms)")
    print(f"ratio ours/Trainer: {ours['median'] / trainer['median']:.2f} (median wall step), "
          f"{ours['cpu'] / trainer['cpu']:.2f} (CPU time)")

    init = fresh_model(profile, spec.vocab_size).state_dict()
    a, b = ours_model.state_dict(), trainer_model.state_dict()
    moved = max(float((a[k] - init[k]).abs().max()) for k in a)
    diff = max(float((a[k] - b[k]).abs().max()) for k in a)
    ok = diff <= 1e-2 * moved
    print(f"check: max |w_ours - w_Trainer| = {diff:.2e} against a largest update of {moved:.2e} "
          f"-> {'same training' if ok else 'DIFFERENT TRAINING'}")
    return 0 if ok else 1
