"""What the symmetric pre-training variants show (C3), read from their runs (notebook 01).

    records = {v: symmetry_runs.variant_record(run) for v, run in runs.items()}
    table = symmetry_runs.gap_table(runs, records)          # one row per run: gaps, held-out accuracy, gate
    section = symmetry_runs.ssb_section(runs, eps=P.ssb_eps, ssb_steps=P.ssb_steps, divergence=...)

- ``eps_growth_check``: does a tiny asymmetry eps grow?  The growth rate of the dense head gap
  g(t) of a symmetric + eps run, by stretches of the run (``stats.block_growth_rate``).
- ``divergence_check``: do the eps model's held-out predictions leave the symmetric model's,
  beyond what the same eps perturbation does unamplified?  Sequences resampled.
- ``ssb_section``: the ``ssb`` section of summary.json -- the exactness of the symmetric runs
  (sanity) and the checks above (evidence).
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from . import stats
from .mlm import MaskingSpec, mask_tokens, step_generator
from .heldout import GATE_CHUNK, GATE_MASK_STREAM, mlm_logits_at_masks
from .pretrain import BACKBONE_EVAL, PretrainRun
from .profiles import EPS_VARIANT_PREFIX, eps_check_name

# --------------------------------------------------------------------------- C3 summaries (notebook 01)

def variant_record(run: PretrainRun) -> dict:
    """``pretrain.variants.<v>`` of summary.json: mlm_accuracy, baseline_accuracy (every held-out
    sequence, fixed masks), steps and the backbone gate record."""
    evaluation = run.backbone
    if evaluation is None:
        raise ValueError(f"{run.final_dir} has no {BACKBONE_EVAL}: load the run through pretrain()")
    return {"mlm_accuracy": evaluation["mlm_accuracy"], "baseline_accuracy": evaluation["baseline_accuracy"],
            "steps": int(run.config["steps"]), "gate": evaluation["gate"]}


def gap_table(runs: dict, records: dict) -> pd.DataFrame:
    """Notebook 01's table of the pre-training runs, one row per run (index: the variant, in the
    order of ``runs``): steps, the head gap g at the first and last logged step, the final node
    gap (None when not logged), held-out masked-token accuracy against its baseline, and the
    backbone gate's p and outcome; ``records``: ``variant_record`` of each run."""
    return pd.DataFrame({v: {"steps": records[v]["steps"], "g(0)": r.log[0]["gap"], "g(final)": r.log[-1]["gap"],
                             "node gap (final)": r.log[-1].get("node_gap"),
                             "held-out accuracy": records[v]["mlm_accuracy"],
                             "baseline": records[v]["baseline_accuracy"],
                             "gate p": records[v]["gate"]["p"], "gate passed": records[v]["gate"]["passed"]}
                         for v, r in runs.items()}).T


def log_series(log: list[dict], key: str) -> tuple[np.ndarray, np.ndarray]:
    """(steps, values) of one key of a training log, rows without the key left out."""
    rows = [r for r in log if r.get(key) is not None]
    return np.array([r["step"] for r in rows], dtype=float), np.array([r[key] for r in rows], dtype=float)


def gap_series(log: list[dict]) -> tuple[np.ndarray, np.ndarray]:
    """The dense head gap g(t) of a training log: every evaluation's ``gap`` and the
    ``gap_trace`` points logged between evaluations (every ``gap_every`` steps), by step."""
    points = []
    for r in log:
        points += [(float(s), float(g)) for s, g in r.get("gap_trace") or ()]
        if r.get("gap") is not None:
            points.append((float(r["step"]), float(r["gap"])))
    points.sort()
    return np.array([p[0] for p in points]), np.array([p[1] for p in points])


def eps_growth_check(log: list[dict], eps: float) -> dict:
    """``ssb.stats.checks.eps_amplified`` (and ``eps_amplified_<eps>`` of the eps grid):
    exponential growth rate of the head gap g(t) of a symmetric + eps run on its dense series
    (``gap_series``): the run cut into ``stats.GROWTH_BLOCKS`` consecutive stretches, each
    stretch's rate of log g per step, Student's t over the stretches (``stats.block_growth_rate``:
    neighbouring points of one run are not independent, and the increments of its log g are
    positively correlated), null 0, direction "greater".  ``g_final / eps`` is kept as the
    amplification factor."""
    t, g = gap_series(log)
    fit = stats.block_growth_rate(t, g)
    return stats.check("eps amplified", "growth rate of log g(t) per step of a symmetric + eps run, g every few steps "
                       f"(mean of the rates of {stats.GROWTH_BLOCKS} consecutive stretches of the run, Student t "
                       "over the stretches, 95 %)", fit["rate"], fit["ci"], 0.0, "greater",
                       points=fit["points"], blocks=fit["blocks"], block_rates=fit["block_rates"], eps=eps,
                       g_final=float(g[-1]) if len(g) else None,
                       amplification=float(g[-1] / eps) if len(g) and eps > 0 else None)


# --------------------------------------------------------------------------- C3: functional divergence

@torch.no_grad()
def predictive_distance(model_a, model_b, eval_sequences: np.ndarray, spec: MaskingSpec, *, seed: int,
                        device="cpu", batch_size: int = 64) -> dict:
    """Two models' predictions at the masked positions of EVERY held-out sequence, with the fixed
    masks of the backbone gate (``heldout.heldout_predictions``): per position the total-variation
    distance 1/2 sum_v |p_a(v) - p_b(v)| of their predictive distributions (float64 softmax),
    whether their top tokens differ, and the held-out sequence (its index) it belongs to.
    Returns {"tv", "disagree", "sequence"}, each (N,)."""
    models = [m.eval() for m in (model_a, model_b)]
    tv, disagree, sequence = [], [], []
    for c, start in enumerate(range(0, len(eval_sequences), GATE_CHUNK)):
        ids = torch.from_numpy(np.ascontiguousarray(eval_sequences[start:start + GATE_CHUNK]))
        inputs, labels = mask_tokens(ids, spec, step_generator(seed, GATE_MASK_STREAM, c))
        for b in range(0, len(ids), batch_size):
            sl = slice(b, b + batch_size)
            attention = (ids[sl] != spec.pad_id).to(device)
            logp = [F.log_softmax(mlm_logits_at_masks(m, inputs[sl].to(device), attention, labels[sl].to(device))[0]
                                  .double(), -1) for m in models]
            tv.append((0.5 * (logp[0].exp() - logp[1].exp()).abs().sum(-1)).cpu().numpy())
            disagree.append((logp[0].argmax(-1) != logp[1].argmax(-1)).cpu().numpy())
            sequence.append(start + b + torch.nonzero(labels[sl] != -100)[:, 0].numpy())
    return {"tv": np.concatenate(tv), "disagree": np.concatenate(disagree), "sequence": np.concatenate(sequence)}


def unamplified(model, eps: float, seed: int):
    """The null of ``divergence_check``: a copy of the trained symmetric model moved by the
    perturbation its symmetric + eps twin started with -- the same random directions
    (``model.symmetrize_heads`` with the same seed), of the same relative size eps, now against
    the trained readouts.  What the perturbation does to the predictions had training not
    amplified it, read at the same point of training (the same sensitivity of the outputs)."""
    import copy

    from .model import symmetrize_heads
    null = copy.deepcopy(model).eval()
    symmetrize_heads(null, eps=eps, seed=seed)
    return null


def divergence_interval(tv_model, tv_null, sequence, *, seed: int, n_boot: int = stats.N_BOOTSTRAP,
                        alpha: float = stats.ALPHA) -> tuple[float, list[float], int]:
    """``eps_diverges``' statistic: the mean over positions of tv_model - tv_null (per-position
    distances to the same reference model), with a percentile interval that resamples whole
    sequences (``stats.cluster_resamples``; positions of one sequence share its context).
    Returns (value, [lo, hi], number of sequences)."""
    d = np.asarray(tv_model, dtype=float) - np.asarray(tv_null, dtype=float)
    group, counts = stats.cluster_resamples(sequence, n_boot, [seed, 21])
    sums, sizes = np.bincount(group, weights=d), np.bincount(group).astype(float)
    boot = (counts @ sums) / (counts @ sizes)
    lo, hi = np.quantile(boot, [alpha / 2, 1 - alpha / 2])
    return float(d.mean()), [float(lo), float(hi)], int(len(sizes))


def divergence_check(symmetric, perturbed, eval_sequences: np.ndarray, spec: MaskingSpec, *, eps: float, seed: int,
                     initial: tuple | None = None, device="cpu", n_boot: int = stats.N_BOOTSTRAP) -> tuple[dict, "object"]:
    """``ssb.stats.checks.eps_diverges`` (C3, evidence): the symmetric + eps model's predictions
    leave the symmetric model's, beyond what the unamplified perturbation would do.

    On every held-out masked position (fixed masks, ``predictive_distance``):
    d_i = TV(symmetric + eps, symmetric)_i - TV(unamplified, symmetric)_i, with ``unamplified``
    the trained symmetric model moved by the same eps perturbation (same directions, same
    relative size).  Value: the mean of d over positions; 95 % percentile interval resampling
    whole held-out sequences (``stats.cluster_resamples``); null 0, direction "greater".  Two
    identical models give TV 0 against a positive null: the check fails (its interval lies
    below 0).  ``initial``: the two models at step 0, whose distance (of order eps) is reported
    beside it, as is the share of positions whose top token differs.

    symmetric, perturbed: the trained symmetric and symmetric + eps models (same seed, data,
    order and masks).  Returns (check record, table: one row per comparison)."""
    import pandas as pd

    run = predictive_distance(perturbed, symmetric, eval_sequences, spec, seed=seed, device=device)
    null = predictive_distance(unamplified(symmetric, eps, seed), symmetric, eval_sequences, spec, seed=seed,
                               device=device)
    value, (lo, hi), n_sequences = divergence_interval(run["tv"], null["tv"], run["sequence"], seed=seed,
                                                       n_boot=n_boot)
    rows = [("symmetric + eps vs symmetric, end of training", run),
            ("symmetric + the same eps, unamplified, vs symmetric, end of training (null)", null)]
    start = None
    if initial is not None:
        start = predictive_distance(initial[1], initial[0], eval_sequences, spec, seed=seed, device=device)
        rows.append(("symmetric + eps vs symmetric, step 0", start))
    table = pd.DataFrame([{"comparison": name, "mean TV distance": float(r["tv"].mean()),
                           "top token differs (share of positions)": float(r["disagree"].mean()),
                           "positions": int(len(r["tv"]))} for name, r in rows])
    check = stats.check(
        "eps model's predictions leave the symmetric model's",
        "mean over held-out masked positions of TV(symmetric + eps, symmetric) minus TV(the same eps perturbation "
        "unamplified on the trained symmetric model, symmetric); 95 % percentile interval resampling held-out "
        "sequences", value, [lo, hi], 0.0, "greater", eps=eps,
        tv_eps=float(run["tv"].mean()), tv_unamplified=float(null["tv"].mean()),
        tv_step0=None if start is None else float(start["tv"].mean()),
        disagree_eps=float(run["disagree"].mean()), disagree_unamplified=float(null["disagree"].mean()),
        disagree_step0=None if start is None else float(start["disagree"].mean()),
        positions=int(len(run["tv"])), sequences=n_sequences)
    return check, table


def ssb_section(runs: dict[str, PretrainRun], eps: float, ssb_steps: int, divergence: dict | None = None) -> dict:
    """The ``ssb`` section of summary.json from the main run and the C3 variants.

    runs: variant -> run; "main" (the random variant) and any of symmetric, symmetric_eps,
    symmetric_eps_<eps> (the eps grid), symmetric_dropout, node_symmetric, stochastic.
    divergence: ``divergence_check``'s record (stored as ``eps_diverges``).  Returns gap_final
    per variant ("random" is the main run), node_gap_final (node_symmetric), eps, steps, the
    variants' backbone gates and the checks symmetric_exact, node_symmetric_exact, eps_amplified
    (core: the profile's eps), eps_amplified_<eps> for every other eps of the grid and
    eps_diverges (a check whose variant is missing is left out)."""
    if "main" not in runs:
        raise ValueError("ssb_section needs the main run (the random variant)")
    gap_final = {("random" if v == "main" else v): r.log[-1]["gap"] for v, r in runs.items()}
    checks = {}
    if "symmetric" in runs:
        checks["symmetric_exact"] = stats.check(
            "symmetric heads stay identical", "head gap g of the symmetric variant after training (float-exact)",
            runs["symmetric"].log[-1]["gap"], None, 0.0, "equal")
    node_final = None
    if "node_symmetric" in runs:
        node_final = runs["node_symmetric"].log[-1].get("node_gap")
        checks["node_symmetric_exact"] = stats.check(
            "symmetric nodes stay identical", "node gap of the node_symmetric variant after training (float-exact)",
            node_final, None, 0.0, "equal")
    for v, r in runs.items():
        if v == "symmetric_eps" or v.startswith(EPS_VARIANT_PREFIX):
            checks[eps_check_name(v)] = eps_growth_check(r.log, eps if v == "symmetric_eps" else float(r.config["eps"]))
    if divergence is not None:
        checks["eps_diverges"] = divergence
    gates = {v: r.backbone["gate"] for v, r in runs.items() if r.backbone is not None}
    return {"gap_final": gap_final, "node_gap_final": node_final, "eps": eps, "steps": ssb_steps,
            "stats": stats.ClaimStats(gates, checks, {"gap": 0.0, "node_gap": 0.0})}
