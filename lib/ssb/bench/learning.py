"""Learning-budget study: how many pre-training steps does each gate of the claims table need?

    python -m ssb.bench learning train    [--profile quick] [--steps 6000]   # one long run, snapshots
    python -m ssb.bench learning evaluate [--profile quick]                  # probes at every snapshot

``train`` runs ONE long pre-training of the profile's model (same corpus, tokenizer, seed and
learning rate as the profile; only ``steps`` is longer) and keeps its weights at a log-spaced
grid of steps (``pretrain(..., snapshot_steps=...)``). It resumes after an interruption, like
every pre-training here. Note: snapshot t of a T-step run has not had its learning rate decayed
to zero, so it slightly under-states what a t-step run of its own reaches.

Output: ``runs/study-<profile>/pretrain/`` (weights), then ``docs/learning_budget.{csv,md,png}``.
"""
from __future__ import annotations

import argparse
import os

from .. import profiles
from ..results import runs_dir


def snapshot_grid(steps: int, first: int = 25) -> list[int]:
    """first, 2*first, 4*first, ... below ``steps``, and ``steps`` itself."""
    grid, s = [], first
    while s < steps:
        grid.append(s)
        s *= 2
    return grid + [steps]


def study_dir(profile):
    return runs_dir(profile).parent / f"study-{profile.name}"


def train(profile, data_dir=None, progress: bool = True):
    from .. import pipeline
    from ..pretrain import pretrain
    corpus = pipeline.corpus(profile, data_dir, progress=progress)
    grid = snapshot_grid(profile.steps)
    return pretrain(profile, study_dir(profile) / "pretrain", corpus.tokenizer, corpus.train_blocks,
                    corpus.eval_blocks, init="random", progress=progress, desc="study pretrain",
                    snapshot_steps=grid)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(prog="python -m ssb.bench learning", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("phase", choices=["train"])
    ap.add_argument("--profile", default="quick")
    ap.add_argument("--steps", type=int, default=6000)
    ap.add_argument("--eval-every", type=int, default=100)
    ap.add_argument("--data-dir", default=os.environ.get("SSB_DATA_DIR"))
    a = ap.parse_args(argv)
    p = profiles.get_profile(a.profile, steps=a.steps, eval_every=a.eval_every, checkpoint_every=200)
    if a.phase == "train":
        run = train(p, a.data_dir)
        print(f"study run: {run.out_dir} ({a.steps} steps); snapshots {snapshot_grid(a.steps)}")


if __name__ == "__main__":
    main()
