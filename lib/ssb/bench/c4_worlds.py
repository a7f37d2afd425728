"""Worlds tried for C4's planted target: a dip of A(n) planted through the study's trained readout
(rounds one and two), then with the main readout planted too (round three).

``python -m ssb.bench c4_worlds --seeds 4`` puts each world of ``TRIALS`` through the calibration's
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

Options added for the second round (issue 21; every default keeps the first round's worlds draw for
draw): ``nuisance_law`` "sign" makes u_h = +-1 per item (a fixed size, so a leak below a
prediction's margin never flips it and one above always does); ``flat_direction`` gives v_h entries
+-1/sqrt(d); ``specialised`` adds, in every head, that size to node j for the items of its own label
(the head's j-th label in a seeded order): each node alone detects one label (the mechanism of issue
21: balanced labels, single nodes that output only their own label, so that independent voters do
badly); ``lucky`` / ``lucky_strength`` / ``lucky_recall`` give the *untrained* features (and so the
trained ones too) that share of nodes each firing with that strength on that share of the items of
one non-frequent label (what the untrained backbone's single nodes recognise, so that kappa_R is
defined for it; 0 on every other item); ``centred`` subtracts from the codes their mean over the
label frequencies, so the codes add nothing to the mean node vector (silencing a node to 0 then
removes no offset: with a frequent label the uncentred codes shift the silenced logits of every
readout, the shuffled-label readout's included).

Round three (issue 21, ``PLANTED_TRIALS``): the main readout planted, not trained
(``calibration.planted_c4_probes`` and ``planted_c4_readout`` with a ``calibration.C4Plant``; the
controls' readouts trained as in rounds one and two, the calibration's own profile): Hadamard codes
in features and weights alike, a nuisance of one sign per item on all of a head's nodes, which the
codes cancel over the whole head, label 0 the silenced readout's guess, and one owner node per head.
The last row is ``calibration.PLANTED_C4``, the world that became the calibration's planted_c4; the
others each change one of its choices back to what was tried before it.
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
    nuisance_law: str = "normal"    # "normal": u ~ N(0, 1); "sign": u = +-1
    flat_direction: bool = False    # v_h entries +-1/sqrt(d_head) instead of a random unit vector
    centred: bool = False           # codes centred on the label frequencies (mean node vector 0)
    specialised: float = 0.0        # node j of a head: + this for the items of its own label
    lucky: float = 0.0              # share of the nodes that fire for one non-frequent label (untrained features)
    lucky_strength: float = 3.0
    lucky_recall: float = 1.0       # share of that label's items on which a lucky node fires

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
    # second round (issue 21): balanced labels, single nodes specialised on their own label
    Trial("d16_balanced_specialised3_signal2_nuisance4", frequent=0.125, specialised=3.0, signal=2.0, nuisance=4.0),
    Trial("d16_balanced_specialised3_signal2_nuisance12", frequent=0.125, specialised=3.0, signal=2.0, nuisance=12.0),
    Trial("d64x2_balanced_lucky0.5_signal4_sign20_centred", n_heads=2, d_head=64, frequent=0.125, weak=0.0, signal=4.0,
          nuisance=20.0, nuisance_law="sign", flat_direction=True, centred=True, lucky=0.5, lucky_strength=6.0),
    # ... and a frequent label on 64-node heads with a nuisance of fixed size
    Trial("d64x2_frequent0.5_lucky0.1_signal4_sign4", n_heads=2, d_head=64, frequent=0.5, weak=0.0, signal=4.0,
          nuisance=4.0, nuisance_law="sign", flat_direction=True, lucky=0.1),
    Trial("d64x2_frequent0.5_lucky0.1_signal4_sign20_centred", n_heads=2, d_head=64, frequent=0.5, weak=0.0, signal=4.0,
          nuisance=20.0, nuisance_law="sign", flat_direction=True, centred=True, lucky=0.1),
    Trial("d64x2_frequent0.5_lucky0.1_signal4_sign28_centred", n_heads=2, d_head=64, frequent=0.5, weak=0.0, signal=4.0,
          nuisance=28.0, nuisance_law="sign", flat_direction=True, centred=True, lucky=0.1),
    Trial("d64x2_frequent0.3_lucky0.1_signal4_sign14_centred", n_heads=2, d_head=64, frequent=0.3, weak=0.0, signal=4.0,
          nuisance=14.0, nuisance_law="sign", flat_direction=True, centred=True, lucky=0.1),
    Trial("d64x2_frequent0.4_lucky0.15x0.3_signal4_sign20_centred", n_heads=2, d_head=64, frequent=0.4, weak=0.0,
          signal=4.0, nuisance=20.0, nuisance_law="sign", flat_direction=True, centred=True, lucky=0.15,
          lucky_strength=5.0, lucky_recall=0.3),
    # ... with lucky nodes strong enough that even the shuffled-label readout's single nodes recognise a label
    Trial("d64x2_frequent0.4_lucky0.15x0.3s30_signal4_sign20_centred", n_heads=2, d_head=64, frequent=0.4, weak=0.0,
          signal=4.0, nuisance=20.0, nuisance_law="sign", flat_direction=True, centred=True, lucky=0.15,
          lucky_strength=30.0, lucky_recall=0.3),
    Trial("d64x2_frequent0.4_lucky0.1x0.3s15_signal4_sign24_centred", n_heads=2, d_head=64, frequent=0.4, weak=0.0,
          signal=4.0, nuisance=24.0, nuisance_law="sign", flat_direction=True, centred=True, lucky=0.1,
          lucky_strength=15.0, lucky_recall=0.3),
)


@dataclasses.dataclass(frozen=True)
class PlantedTrial:
    """A round-three world: planted_c4's construction with its readout planted (``calibration.C4Plant``)."""
    name: str
    plant: calibration.C4Plant = calibration.PLANTED_C4
    signal: float = calibration.PLANTED_C4_WORLD.signal

    def world(self) -> calibration.World:
        return dataclasses.replace(calibration.PLANTED_C4_WORLD, signal=self.signal)


_PLANT = calibration.PLANTED_C4
PLANTED_TRIALS = (
    # a Gaussian nuisance, no owner: the readout trained on shuffled labels learns to cancel it over a whole head
    # too, and dips inside a head about as deeply as the planted readout
    PlantedTrial("planted_normal_nuisance24_threshold2_frequent0.4_signal8_no_owner",
                 dataclasses.replace(_PLANT, nuisance_law="normal", nuisance=24.0, threshold=2.0, frequent=0.4,
                                     owner_signal=0.0, owner_tilt=0.0), signal=8.0),
    # a nuisance of fixed size, no owner, a threshold a single node's codes and leak reach at its ends: there its
    # labels tie and the lowest wins, so single nodes recognise labels and the union is as large as a set's |R|
    PlantedTrial("planted_nuisance32_threshold3.5_frequent0.3_no_owner",
                 dataclasses.replace(_PLANT, nuisance=32.0, threshold=3.5, frequent=0.3, owner_signal=0.0,
                                     owner_tilt=0.0)),
    # no owner node: single nodes recognise nothing, so kappa_R is nowhere defined
    PlantedTrial("planted_no_owner", dataclasses.replace(_PLANT, owner_signal=0.0, owner_tilt=0.0)),
    # the owner on every item of its label with a larger tilt: it fires beyond its label's items too, and its
    # label 0 rises above its share among the rest (recognised): a union of 2 where the untrained one is often 1
    PlantedTrial("planted_owner_recall1_tilt1", dataclasses.replace(_PLANT, owner_recall=1.0, owner_tilt=1.0)),
    # a smaller nuisance and threshold with weaker codes (the setting before the last)
    PlantedTrial("planted_nuisance48_threshold5_signal20", dataclasses.replace(_PLANT, nuisance=48.0, threshold=5.0),
                 signal=20.0),
    PlantedTrial("planted_frequent0.3", dataclasses.replace(_PLANT, frequent=0.3)),
    PlantedTrial("planted_c4", _PLANT),
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
    if trial.lucky > 0:
        init = _lucky_nodes(trial, seed, init, (y_tr, y_te))
    code_rng = np.random.default_rng([seed, 40])
    v = code_rng.normal(0, 1, (trial.n_heads, trial.d_head))
    if trial.flat_direction:
        v = np.sign(v)
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    codes = code_rng.normal(0, 1, (trial.n_heads, trial.n_classes, trial.d_head))
    codes -= np.einsum("hcd,hd->hc", codes, v)[:, :, None] * v[:, None, :]
    codes /= np.linalg.norm(codes, axis=2, keepdims=True)
    if trial.centred:
        codes -= np.einsum("c,hcd->hd", p, codes)[:, None, :]
    own = _own_labels(trial, seed)
    main = []
    for z, y in zip(init, (y_tr, y_te)):
        u = rng.normal(0, 1, (len(y), trial.n_heads, 1))
        if trial.nuisance_law == "sign":
            u = np.sign(u)
        extra = trial.signal * codes[:, y, :].transpose(1, 0, 2) + trial.nuisance * u * v[None]
        if trial.specialised:
            extra = extra + trial.specialised * (own[None] == y[:, None, None])
        main.append((z + extra.reshape(len(y), world.n_nodes)).astype(np.float32))
    return (calibration.synthetic_probe(world, y_tr, y_te, *main, f"c4-worlds-{trial.name}-{seed}-main"),
            calibration.synthetic_probe(world, y_tr, y_te, *init, f"c4-worlds-{trial.name}-{seed}-init"))


def _own_labels(trial: Trial, seed: int) -> np.ndarray:
    """(n_heads, d_head): the label node j of head h detects with ``specialised`` -- the head's
    j-th label (mod C) in a seeded order, so the nodes of a head cover every label."""
    rng = np.random.default_rng([seed, 42])
    return np.stack([rng.permutation(trial.n_classes)[np.arange(trial.d_head) % trial.n_classes]
                     for _ in range(trial.n_heads)])


def _lucky_nodes(trial: Trial, seed: int, init: list, labels: tuple) -> list:
    """The untrained features with ``lucky`` of the nodes each firing (``lucky_strength``) on
    ``lucky_recall`` of the items of one non-frequent label (seeded); 0 on every other item, so
    silencing one removes no offset (they are not centred)."""
    rng = np.random.default_rng([seed, 41])
    n_nodes = trial.n_heads * trial.d_head
    nodes = rng.choice(n_nodes, int(round(trial.lucky * n_nodes)), replace=False)
    targets = rng.integers(1, trial.n_classes, len(nodes))
    out = []
    for z, y in zip(init, labels):
        z = z.copy()
        for k, a in zip(nodes, targets):
            fire = (y == a) & (rng.random(len(y)) < trial.lucky_recall)
            z[:, k] += trial.lucky_strength * fire
        out.append(z)
    return out


def trial_rows(trial: Trial | PlantedTrial, seed: int, profile) -> list[dict]:
    """C4's verdict and every C4 check of one trial and seed: passed, against, value, the trained (round
    three: planted) and reference values of the dip checks."""
    world = trial.world()
    if isinstance(trial, PlantedTrial):
        records = calibration.label_records(world, "c4_worlds", seed, profile,
                                            probes=calibration.planted_c4_probes(world, seed, trial.plant),
                                            readout=calibration.planted_c4_readout(world, seed, trial.plant))
    else:
        profile = dataclasses.replace(profile, crossover_points=trial.crossover_points,
                                      crossover_sets=trial.crossover_sets)
        records = calibration.label_records(world, "c4_worlds", seed, profile, probes=nuisance_probes(trial, seed))
    gates, checks = records["C4"]
    verdict, _ = claims.decide(gates, checks, claims.CORE.get("C4"))
    by_name = {c["name"]: c for c in checks}
    return [{"trial": trial.name, "seed": seed, "check": name, "verdict": verdict,
             "passed": by_name[name].get("passed") is True, "against": claims.contradicts(by_name[name]),
             "missing": by_name[name].get("value") is None,
             "value": by_name[name].get("value"), "trained": by_name[name].get("trained"),
             "reference": by_name[name].get("untrained")} for name in C4_CHECKS]


def report(table: pd.DataFrame, seeds: int, seconds: float) -> str:
    rates = (table.groupby(["trial", "check"], sort=False)
             .agg(passed=("passed", "mean"), against=("against", "mean"), missing=("missing", "mean")).reset_index())
    verdicts = table.drop_duplicates(["trial", "seed"]).groupby("trial", sort=False)["verdict"]
    lines = ["# Worlds tried for C4's planted dip", "",
             f"Generated by `python -m ssb.bench c4_worlds --seeds {seeds}` ({seconds:.0f} s); every number is "
             "measured by that command (`lib/ssb/bench/c4_worlds.py`: the worlds and why they were tried). "
             "Rounds one and two (the first 20 rows) train the main readout with the study's trainer; round three "
             "(`PLANTED_TRIALS`, the rows named planted_*) plants it, and its last row is the calibration's "
             "`planted_c4` (docs/calibration.md reads it over 20 seeds). The controls' readouts are trained in "
             "every row.", "",
             "| trial | C4 verdicts | " + " | ".join(C4_CHECKS) + " |",
             "|---|---|" + "---|" * len(C4_CHECKS)]
    for name, v in verdicts:
        shares = v.value_counts(normalize=True)
        cells = []
        for check in C4_CHECKS:
            r = rates[(rates["trial"] == name) & (rates["check"] == check)].iloc[0]
            cells.append(f"{r.passed:.0%} / {r.against:.0%}" + (f" / {r.missing:.0%}" if r.missing else ""))
        lines.append(f"| {name} | " + ", ".join(f"{k} {s:.0%}" for k, s in shares.items()) + " | "
                     + " | ".join(cells) + " |")
    lines += ["", "Cells: passes / contradicts, share of the seeds; a third share, where there is one: not computed "
              "(kappa_R: no set where both readouts' single nodes recognise a label).", "",
              "Cross-fitted dip depths, mean over the seeds (trained readout, round three: planted; the untrained "
              "backbone's readout; "
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
    lines += ["", "Cooperation beyond independent voters (A(S) minus the plurality of the set's single-node "
              "predictions, sets inside one head), mean over the seeds:", "",
              "| trial | trained (round three: planted) readout | untrained backbone's readout |", "|---|---|---|"]
    for name in table["trial"].unique():
        coop = table[(table["trial"] == name) & (table["check"] == "cooperation_beyond_untrained")]
        lines.append(f"| {name} | {coop['trained'].mean():.3f} | {coop['reference'].mean():.3f} |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m ssb.bench c4_worlds", description=__doc__.split("\n\n")[0])
    ap.add_argument("--seeds", type=positive_int, default=4)
    ap.add_argument("--out", type=Path, default=Path("docs/c4_dip_worlds.md"))
    args = ap.parse_args(argv)
    profile = calibration.study_profile()
    start = time.time()
    table = pd.DataFrame([row for trial in TRIALS + PLANTED_TRIALS for seed in range(args.seeds)
                          for row in trial_rows(trial, seed, profile)])
    atomic.write_text(args.out, report(table, args.seeds, time.time() - start))
    atomic.write_text(args.out.with_suffix(".csv"), table.to_csv(index=False))
    return 0
