"""Calibration of the verdict machine on cases without information and on planted effects.

    python -m ssb.bench calibration [--seeds 20] [--out docs/calibration.md]

Runs ``ssb.calibration.run`` (every case, every seed, through the notebooks' own check
functions and ``claims.decide``), writes the rates as a Markdown report (and a CSV beside it),
and exits 1 when a no-information case passes an evidence check in more than 5 % of the seeds
whose gates passed, or gets "holds"/"partly" at all (``calibration.failures``).
"""
from __future__ import annotations

import argparse
import platform
import sys
import time
from pathlib import Path

from .. import atomic, calibration
from ._args import positive_int

CASE_TEXT = {
    "planted": "planted effect (C2's planted world; its C4 and C5 rows are diagnostics): every node carries a signed signal for two labels of its own, added by "
               "'training' to the untrained features (each head's four nodes cover the eight labels: recognition "
               "by every node and head, cooperation beyond independent voters; no dip, no joint recognition "
               "beyond the nodes' own sets, no falling efficiency); for C3, g(t) amplified 10-fold over the run on the smooth "
               "path of no_growth_smooth (every eps of the grid) and prediction distances 3 times the "
               "unamplified perturbation's",
    "planted_c4": "C4's planted world (its size above; `calibration.C4Plant`, docs/c4_dip_worlds.md): its main "
                  "readout is planted, not trained (the controls' readouts are trained as everywhere). Label 0 is the "
                  "frequent label and the silenced readout's guess (its bias, the threshold); in every head each "
                  "other label is a Hadamard code of the head's nodes in weights and features alike; every node of a "
                  "head carries a nuisance of one sign per item, which the codes cancel over the whole head and leak "
                  "from part of one; one owner node per head also fires on part of its own label's items. A single "
                  "node outputs label 0 (its owner's label at the far end), a few nodes push wrong labels over the "
                  "threshold (A(n) dips), the whole head tells every label apart (cooperation, kappa_R). Its C2 and "
                  "C5 rows are diagnostics of a readout built for C4 alone ('does not hold' for C2 is that world's "
                  "answer: its single nodes are built to recognise nothing but one owner label per head)",
    "planted_c5": "C5's planted world (32 labels, signal 2): the features carry the label's group only (4 groups, "
                  "label c in group c mod 4, one label per group 10 times as frequent as each other): the untrained "
                  "features weak random features of the group, the main model planted's signal on the groups on "
                  "top -- more labels than the information covers, so |R| stops near 4 while the bound U keeps "
                  "growing with n. Its C2 and C4 rows are diagnostics",
    "untrained_as_main": "the untrained backbone as the main model, through the profile (its control is itself)",
    "untrained_as_main_c5": "planted_c5's world (32 labels in 4 groups) without the planted signal: its untrained "
                            "features as the main model (its control is itself), the no-information case of that world",
    "untrained_as_checkpoint": "a randomly initialised BERT passed as a checkpoint (a checkpoint has no "
                               "untrained control of its own)",
    "shuffled_labels": "planted features, the head trained on labels shuffled across the training items",
    "random_readouts": "planted features read by a random readout of the same shape and row norms",
    "noise": "node vectors without any information, control the same",
    "control_of_another_seed": "diagnostic: an untrained main model against an untrained control of "
                               "another seed (not a pipeline case; see the note)",
    "no_growth_smooth": "C3: log g(t) smooth and trendless, like the measured symmetric + eps runs (increments "
                        "AR(1), phi 0.5, sd 0.01 per logged point; one path per eps of the grid); the eps model's "
                        "prediction distances drawn from the same law as the unamplified perturbation's",
    "no_growth": "C3: log g(t) wanders as a rough stationary AR(1) (phi 0.8, innovations 0.15, 25 times the measured "
                 "size), no trend; divergence as in no_growth_smooth",
    "planted_noisy_wander": "C3 diagnostic: 0.01 per step of growth on top of the rough wander of no_growth (the "
                            "old planted world; see the note)",
    "identical_models": "C3: the eps model identical to the symmetric one (prediction distance 0): eps_diverges "
                        "must fail",
    "random": "C6: predictions drawn from the true token frequencies, unrelated to the item",
    "constant": "C6: the constant predictor (most frequent token)",
    "independent_sets": "node-specificity: 43 independent random recognised sets over 60 items of one popularity",
    "planted_design": "node-specificity planted: the lines of the projective plane of order 3 (any two nodes "
                      "share exactly one item: less overlap than their margins give by chance)",
    "planted_dip": "C4: a trained A(n) that dips (0.50, 0.40, 0.34, 0.40, 0.52, 0.60) against a flat reference",
    "flat_curves": "C4: trained and reference A(n) both flat",
    "rising_curves": "C4: no dip: a trained A(n) rising steadily (0.20 to 0.38, as informative random features give) "
                     "against a reference flat at chance (as a head trained on shuffled labels gives)",
    "planted_efficiency": "C5: a head realising 60 % of its bound at n = 1, falling to 20 % at n = 8; random readouts ~2 %",
    "random_reach": "C5: a head realising what random readouts realise",
}


PERCENT = ("pass_rate", "against_rate", "pass_rate_gated", "against_rate_gated")


def _md_table(df, columns) -> str:
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for r in df.itertuples():
        cells = [f"{getattr(r, c):.0%}" if c in PERCENT else str(getattr(r, c)) for c in columns]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _world_text() -> str:
    """The worlds' sizes, from ``calibration.World`` and the worlds built for one claim."""
    w, c4, c5 = calibration.World(), calibration.PLANTED_C4_WORLD, calibration.PLANTED_C5_WORLD
    return (f"{w.n_nodes} nodes ({w.n_heads} heads x {w.d_head}; {c4.n_nodes}, {c4.n_heads} x {c4.d_head}, in "
            f"`planted_c4`), {w.n_classes} labels ({c5.n_classes} in `planted_c5`), {w.n_train} training and "
            f"{w.n_test} test items ({c4.n_test:,} test items in `planted_c4`)")


def report(summary, seeds: int, seconds: float, failures: list[str]) -> str:
    verdict_rows = summary[summary["role"] == "verdict"]
    check_rows = summary[summary["role"].isin(["evidence", "requirement", "gate", "comparison"])]
    shortfalls = calibration.planted_shortfalls(summary)
    parts = [
        "# Calibration of the verdict machine",
        "",
        f"Generated by `python -m ssb.bench calibration --seeds {seeds}` ({seconds:.0f} s on "
        f"{platform.machine()}, Python {platform.python_version()}); the numbers below are measured by that "
        "command, nothing here is typed in. Each case is a small world in which the truth is known "
        "(`lib/ssb/calibration.py`): " + _world_text() + ". Every "
        "world goes through the notebooks' own functions (`recognition.claim_stats`, "
        "`crossover.crossover_experiment`, `hull.hull_claim_stats`, `symmetry_runs.eps_growth_check`'s "
        "rate by stretches (`stats.block_growth_rate`), `symmetry_runs.divergence_interval`, `apt.frequency_check`) and the verdict rule `claims.decide`.",
        "",
        "**Targets.** No-information cases: no verdict 'holds' or 'partly'; no *evidence* check passing in "
        "more than 5 % of the seeds whose gates passed (where it could move a verdict). *Requirements* (levels "
        "the claim's words need: nodes beyond their permutation null, 'each node', heads beyond theirs, a set "
        "beyond its independent voters, reach beyond random readouts) are listed too: a no-information model may "
        "meet them, which is why they never support a verdict on their own (docs/method.md). Planted effects: "
        "their claim reads 'holds' in at least 80 % of the seeds, each claim in the planted world built for it "
        "(`calibration.PLANTED_FOR`: C2, C3 and C6 -- `planted`; C4 -- `planted_c4`; C5 -- `planted_c5`; the other "
        "planted worlds' rows of a claim are diagnostics).",
        "",
        "**Outcome.** " + ("Every no-information target is met." if not failures else
                           "No-information targets missed:\n\n" + "\n".join(f"- {f}" for f in failures)),
        "",
        ("No evidence check contradicts its claim in more than 5 % of the gated seeds of a world whose main model "
         "does no worse than its reference (`calibration.contradictions`)." if not calibration.contradictions(summary) else
         "Evidence checks contradicting their claim in more than 5 % of the gated seeds of a world whose main model "
         "does no worse than its reference (`calibration.contradictions`; a 'does not hold' they give is not "
         "evidence):\n\n"
         + "\n".join(f"- {f}" for f in calibration.contradictions(summary))),
        "",
        ("Every planted claim reads 'holds' in at least 80 % of the seeds." if not shortfalls else
         "Planted targets missed ('holds' in at least 80 % of the seeds; see \"Reading it\" for why):\n\n"
         + "\n".join(f"- {f}" for f in shortfalls)),
        "",
        "## The cases",
        "",
        "\n".join(f"- **{k}**: {v}" for k, v in CASE_TEXT.items()),
        "",
        "## Verdicts per case and claim",
        "",
        "`pass_rate` here is the share of seeds whose verdict was 'holds' or 'partly'; `against_rate` the "
        "share with 'does not hold'.",
        "",
        _md_table(verdict_rows, ["case", "claim", "seeds", "pass_rate", "against_rate", "verdicts"]),
        "",
        "## Every evidence check and gate",
        "",
        "`pass_rate`: passed in this share of all seeds. `pass_rate_gated`: among the `seeds_gated` seeds "
        "whose gates passed (a check behind a failed gate cannot move a verdict). `against_rate`: its "
        "interval lay on the wrong side of its null; `against_rate_gated`: the same among the seeds whose gates "
        "passed (where it could make a verdict 'does not hold').",
        "",
        _md_table(check_rows, ["case", "claim", "check", "role", "seeds", "pass_rate", "seeds_gated",
                               "pass_rate_gated", "against_rate", "against_rate_gated"]),
        "",
        "## Reading it",
        "",
        "- The requirements that a model with informative *random* features meets (nodes beyond their "
        "permutation null, heads beyond theirs, cooperation beyond independent voters, reach beyond random "
        "heads) are true statements about that model, not evidence of training. That is why they are "
        "requirements, and why each claim about training has a core check against the untrained backbone: "
        "with the control of our own runs (the main run's initialisation, same seed) the no-information "
        "cases never get 'holds' or 'partly'.",
        "- `control_of_another_seed` shows why the control must be the main model's own initialisation: two "
        "different random networks differ by more than the node- or item-level intervals allow for, so a "
        "comparison across seeds can pass or contradict by chance. A checkpoint therefore gets no core "
        "verdict until it has a same-architecture control over several seeds (not built yet): its label "
        "claims say 'not testable: core check missing'.",
        "- Each claim's planted target is read in the world built for it. `planted` (C2's) plants node-level "
        "recognition above chance and cooperation beyond independent voters, not a dip of A(n), not joint "
        "recognition beyond the nodes' own sets and not a falling efficiency: its C4 and C5 rows are diagnostics "
        "('does not hold' where those parts are contradicted -- the correct answers for that world). "
        "`planted_c5` plants what C5's words say through the study's trained readout: a reach beyond the untrained "
        "backbone and beyond random readouts, and an efficiency eta = |R|/U that falls with n faster than random "
        "readouts' (|R| stops near the 4 groups the features tell apart while U grows). `planted_c4` plants "
        "what C4's words say, with a main readout that is planted, not trained: the worlds tried that plant a dip "
        "through the study's trained readout lost cooperation beyond independent voters or beyond the untrained "
        "backbone (docs/c4_dip_worlds.md, docs/method.md, \"Calibration\"). A planted case tests the verdict "
        "machine's power -- given a readout and node vectors in which the claim's words are true, does it say "
        "'holds'? -- so its controls (the untrained backbone's readout and the shuffled-label readout) are "
        "trained exactly as in every other case. The power of the dip check alone is shown on curves that dip "
        "(`planted_dip`); of node_specific on `planted_design`; of the "
        "efficiency checks alone on `planted_efficiency`.",
        "- C4's dip is the cross-fitted dip depth (docs/method.md): n* picked on one half of the test items, "
        "the dip measured on the other, swapped and averaged, 0 where negative. The earlier signed dip, "
        "min(A(first n), A(last n)) - A(n*), read a steadily rising A(n) -- what informative random features "
        "give -- as a negative dip: against a head trained on shuffled labels (flat at chance) it contradicted "
        "C4 in 40 % (across the block) and 20 % (inside each head) of 30 seeds of the untrained backbone as the "
        "main model, and in 37-40 % / 3-20 % of the random-init checkpoint worlds (measured with the earlier code); "
        "the earlier table read C4 'does not hold' in 65 % of those worlds' seeds. The worlds have three grid points, one interior: no choice of n* was involved, "
        "the slope was the cause. `rising_curves` keeps that case in the table; a rule change made after the "
        "quick values were seen (docs/method.md).",
        "- C2 reads 'holds' where its core check passes: `node_specific` is context for C2 (its words claim "
        "no node-specificity; a rule change made after these results were seen, docs/method.md). It read "
        "'partly' in 90 % of the seeds before, for want of that check alone.",
        "- C3's growth test: the measured dense g(t) of the symmetric + eps runs is smooth (its increments of log "
        "g positively correlated). On 1,000 such trendless paths (`no_growth_smooth`, seeds 0-999) the earlier "
        "Newey-West interval (3 lags on 40 increments) passed in 7.6 %, the rate by 8 stretches with a Student t "
        "over them in 4.6 % (tests/test_calibrated_verdicts.py checks both; 20 seeds, as in the table above, "
        "are too few to show it). `planted_noisy_wander` is the earlier planted world: a rough wander 25 times "
        "the measured size, where an interval that must also hold for a random-walk wander has little power "
        "(on 1,000 paths: Newey-West 78 %, stretches 57 %); it is shown, not a target. A no-information world passes the core check at "
        "the test's level (nominally 2.5 %, one-sided), and then reads 'partly': over 20 seeds that can happen "
        "once by chance.",
        "",
    ]
    return "\n".join(parts)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m ssb.bench calibration", description=__doc__.split("\n\n")[0])
    ap.add_argument("--seeds", type=positive_int, default=20, help="seeds per case (default 20)")
    ap.add_argument("--out", default="docs/calibration.md", help="the Markdown report (a .csv is written beside it)")
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    table = calibration.run(args.seeds)
    summary = calibration.rates(table)
    seconds = time.perf_counter() - t0
    failures = calibration.failures(summary)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic.write_text(out, report(summary, args.seeds, seconds, failures))
    atomic.write_text(out.with_suffix(".csv"), summary.to_csv(index=False))
    print(f"wrote {out} and {out.with_suffix('.csv')} ({seconds:.0f} s)")
    for f in failures:
        print(f"target missed: {f}", file=sys.stderr)
    return 1 if failures else 0
