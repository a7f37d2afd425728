"""Worlds tried for C4's planted target: a dip of A(n) planted through the study's trained readout.

``python -m ssb.bench c4_worlds --seeds 3`` puts each world of ``TRIALS`` through the calibration's
own C4 records (``calibration.label_records`` with the world's probes, the calibration's smoke
profile with the trial's crossover grid) and writes every C4 check's pass / contradict outcome per
seed to docs/c4_dip_worlds.md and .csv.  None of these worlds is a calibration case; they record
what was tried (docs/method.md, "Calibration").

The world (``nuisance_probes``): D = n_heads x d_head nodes, C labels, label 0 ``frequent`` of the
items (the silenced readout's guess).  The untrained control: weak random features of the label
(``calibration._weak``).  The trained model adds, in every head h, ``signal`` times the label's
code (a seeded random unit direction of the head's nodes orthogonal to v_h) and ``nuisance`` times
a per-item standard normal u_h along a seeded unit direction v_h of the head.  The nuisance carries
nothing about the label, so the readout of the whole block learns weights orthogonal to v_h: with a
head's nodes all open it cancels; with n of its d nodes open it leaks u_h times a partial sum whose
variance over random sets grows as n(d - n)/(d - 1) -- meant to push mid-size sets off the frequent
label onto wrong ones while single nodes stay with it and whole heads tell every label apart.
"""
from __future__ import annotations

import argparse
import dataclasses
import time
from pathlib import Path

import numpy as np
import pandas as pd

from .. import atomic, calibration, claims
from ._args import positive_int

C4_CHECKS = ("cooperation_beyond_untrained", "cooperation_beyond_voters", "kappa_R_beyond_untrained",
             "dip_depth_across_beyond_untrained", "dip_depth_in_head_beyond_untrained", "kappa_R_beyond_shuffled",
             "dip_depth_across_beyond_shuffled", "dip_depth_in_head_beyond_shuffled")


@dataclasses.dataclass(frozen=True)
class Trial:
    """One world tried: its size, label frequencies, planted signal and nuisance, and its crossover grid."""
    name: str
    n_heads: int = 4
    d_head: int = 16
    frequent: float = 0.6           # share of label 0
    signal: float = 1.5             # norm of a label's code in each head, in noise standard deviations
    nuisance: float = 4.0           # size of the per-item nuisance along v_h
    weak: float = 0.35              # the untrained control's random features of the label
    crossover_points: int = 8
    crossover_sets: int = 12
    n_classes: int = 8
    n_train: int = 2000
    n_test: int = 400

    def world(self) -> calibration.World:
        """The calibration ``World`` of this trial's size, signal and untrained features."""
        return calibration.World(n_heads=self.n_heads, d_head=self.d_head, n_classes=self.n_classes,
                                 n_train=self.n_train, n_test=self.n_test, signal=self.signal, weak=self.weak)


TRIALS = (
    Trial("d16_weak0.35"),
    Trial("d16_weak0.15", weak=0.15),
    Trial("d16_signal3_nuisance8", signal=3.0, nuisance=8.0),
    Trial("d16_weak0.15_signal3_nuisance6_grid4", weak=0.15, signal=3.0, nuisance=6.0, crossover_points=4),
    Trial("d16_weak1_signal3_nuisance20", weak=1.0, signal=3.0, nuisance=20.0),
    Trial("d8x8_weak0.2_signal2.5_nuisance5", n_heads=8, d_head=8, weak=0.2, signal=2.5, nuisance=5.0),
    Trial("d16_weak0.15_test1600", weak=0.15, n_test=1600),
    Trial("d16_weak0.15_frequent0.7_signal2_nuisance3_test1600", weak=0.15, frequent=0.7, signal=2.0, nuisance=3.0,
          n_test=1600),
    Trial("d16_weak0.2_frequent0.5_signal2_test1600", weak=0.2, frequent=0.5, signal=2.0, n_test=1600),
    Trial("d16_weak0.15_frequent0.8", weak=0.15, frequent=0.8),
)


def nuisance_probes(trial: Trial, seed: int) -> tuple:
    """(main, untrained control) ``Probe`` of the world of ``trial`` (module docstring), on the same labels."""
    world = trial.world()
    rng = np.random.default_rng([seed, 1])
    p = np.full(trial.n_classes, (1 - trial.frequent) / (trial.n_classes - 1))
    p[0] = trial.frequent
    y_tr, y_te = (rng.choice(trial.n_classes, n, p=p) for n in (trial.n_train, trial.n_test))
    proj = np.random.default_rng([seed, 2, 0]).normal(0, 1, (trial.n_classes, world.n_nodes))
    init = [calibration._weak(world, rng, y, proj) for y in (y_tr, y_te)]
    code_rng = np.random.default_rng([seed, 40])
    v = code_rng.normal(0, 1, (trial.n_heads, trial.d_head))
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    codes = code_rng.normal(0, 1, (trial.n_heads, trial.n_classes, trial.d_head))
    codes -= np.einsum("hcd,hd->hc", codes, v)[:, :, None] * v[:, None, :]
    codes /= np.linalg.norm(codes, axis=2, keepdims=True)
    main = []
    for z, y in zip(init, (y_tr, y_te)):
        u = rng.normal(0, 1, (len(y), trial.n_heads, 1))
        extra = trial.signal * codes[:, y, :].transpose(1, 0, 2) + trial.nuisance * u * v[None]
        main.append((z + extra.reshape(len(y), world.n_nodes)).astype(np.float32))
    return (calibration.synthetic_probe(world, y_tr, y_te, *main, f"c4-worlds-{trial.name}-{seed}-main"),
            calibration.synthetic_probe(world, y_tr, y_te, *init, f"c4-worlds-{trial.name}-{seed}-init"))


def trial_rows(trial: Trial, seed: int, profile) -> list[dict]:
    """C4's verdict and every C4 check of one trial and seed: passed, against, value, the trained and
    reference values of the dip checks."""
    world = trial.world()
    profile = dataclasses.replace(profile, crossover_points=trial.crossover_points,
                                  crossover_sets=trial.crossover_sets)
    gates, checks = calibration.label_records(world, "c4_worlds", seed, profile,
                                              probes=nuisance_probes(trial, seed))["C4"]
    verdict, _ = claims.decide(gates, checks, claims.CORE.get("C4"))
    by_name = {c["name"]: c for c in checks}
    return [{"trial": trial.name, "seed": seed, "check": name, "verdict": verdict,
             "passed": by_name[name].get("passed") is True, "against": claims.contradicts(by_name[name]),
             "value": by_name[name].get("value"), "trained": by_name[name].get("trained"),
             "reference": by_name[name].get("untrained")} for name in C4_CHECKS]


def report(table: pd.DataFrame, seeds: int, seconds: float) -> str:
    rates = (table.groupby(["trial", "check"], sort=False)
             .agg(passed=("passed", "mean"), against=("against", "mean")).reset_index())
    verdicts = table.drop_duplicates(["trial", "seed"]).groupby("trial", sort=False)["verdict"]
    lines = ["# Worlds tried for C4's planted dip", "",
             f"Generated by `python -m ssb.bench c4_worlds --seeds {seeds}` ({seconds:.0f} s); every number is "
             "measured by that command (`lib/ssb/bench/c4_worlds.py`: the worlds and why they were tried). "
             "None is a calibration case.", "",
             "| trial | C4 verdicts | " + " | ".join(C4_CHECKS) + " |",
             "|---|---|" + "---|" * len(C4_CHECKS)]
    for name, v in verdicts:
        shares = v.value_counts(normalize=True)
        cells = []
        for check in C4_CHECKS:
            r = rates[(rates["trial"] == name) & (rates["check"] == check)].iloc[0]
            cells.append(f"{r.passed:.0%} / {r.against:.0%}")
        lines.append(f"| {name} | " + ", ".join(f"{k} {s:.0%}" for k, s in shares.items()) + " | "
                     + " | ".join(cells) + " |")
    lines += ["", "Cells: passes / contradicts, share of the seeds.", "",
              "Cross-fitted dip depths, mean over the seeds (trained readout; the untrained backbone's readout; "
              "the readout trained on shuffled labels):", "",
              "| trial | across: trained / untrained / shuffled | in each head: trained / untrained / shuffled |",
              "|---|---|---|"]
    for name in table["trial"].unique():
        cells = []
        for family in ("across", "in_head"):
            mine = table[(table["trial"] == name) & table["check"].str.startswith(f"dip_depth_{family}_beyond")]
            ref = {c: mine[mine["check"] == f"dip_depth_{family}_beyond_{c}"]["reference"].mean()
                   for c in ("untrained", "shuffled")}
            cells.append(f"{mine['trained'].mean():.3f} / {ref['untrained']:.3f} / {ref['shuffled']:.3f}")
        lines.append(f"| {name} | {cells[0]} | {cells[1]} |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m ssb.bench c4_worlds", description=__doc__.split("\n\n")[0])
    ap.add_argument("--seeds", type=positive_int, default=4)
    ap.add_argument("--out", type=Path, default=Path("docs/c4_dip_worlds.md"))
    args = ap.parse_args(argv)
    profile = calibration.study_profile()
    start = time.time()
    table = pd.DataFrame([row for trial in TRIALS for seed in range(args.seeds)
                          for row in trial_rows(trial, seed, profile)])
    atomic.write_text(args.out, report(table, args.seeds, time.time() - start))
    atomic.write_text(args.out.with_suffix(".csv"), table.to_csv(index=False))
    return 0
