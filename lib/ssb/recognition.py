"""What single nodes and single heads recognise (C1, C2, C3): a trained readout
(``readouts.fit_readout``) on one block's node vectors, through the limited aperture.

    readout = readouts.fit_readout(profile, probe, block=6)     # cached under runs/<profile>/heads/
    res = recognize(readout, probe, block=6, profile=profile)
    res.singles.n_recognized          # (D,)  |R({k})| for every node k
    res.heads.recognized              # (H, C) recognised labels of each head's d_h nodes
    summarize(res)                # medians, Jaccard overlaps, diagonal confidence

The symmetric-initialisation control (C3) trains the readout with ``tied=True``: its per-head
column blocks start as copies of head 0's (docs/method.md, "Symmetric controls").

Statistics behind C1/C2/C3 (``claim_stats``, records of ``ssb.stats``):

    null = permutation_null(res.singles, 200, seed)     # (P, D) |R(node)| under permuted y_test
    beyond_null(res.singles.n_recognized, null)         # nodes above their null's 95th percentile
    jaccard_null(res.singles.recognized, 200, seed)     # frequency-matched random sets
    claim_stats(res, untrained=res_untrained)           # gates.probe + the four C1/C2 checks
    head_order_parameter(control["symmetric"], control["random"])   # C3, functional
    seed_replicates(profile, probe, block, seeds)       # headline numbers across probe seeds
    ssb_along_blocks(profile, probe, blocks)            # single-node statistics per block

Length (about 600 lines): recognition and its nulls -- what single nodes and heads recognise, the
permutation, untrained and swap nulls, and the records of C1-C3 -- one idea measured several ways.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
import pandas as pd
import torch

from . import stats
from .aperture import ApertureResult, evaluate_sets, naive_predictions, silent_accuracy
from .readouts import fit_readout
from .metrics import base_rate, hits_diagonal, mean_pairwise_jaccard, pairwise_jaccard
from .node_sets import all_nodes_set, head_sets, single_node_sets
from .probes import Probe
from .profiles import profile_device

N_PERMUTATIONS = 200       # label permutations of the C1/C2 null (default; at least 20, notebooks_meta)
N_NULL_DRAWS = 200         # frequency-matched random set draws of the Jaccard null
N_SEEDS = 3                # readout seeds: seed, seed + 1, seed + 2


@dataclass
class RecognitionResult:
    """The aperture evaluated on every single node, every head, all nodes, and none."""
    singles: ApertureResult      # D sets {k}
    heads: ApertureResult        # n_heads sets of d_h nodes each
    full: ApertureResult         # the one set of all D nodes
    silent_accuracy: float       # A(∅): every node silenced, the readout predicts a constant
    n_heads: int
    d_head: int
    n_classes: int
    label_names: list
    y_train: np.ndarray | None = None   # the readout's training labels (the probe gate's constant predictor)
    clusters: np.ndarray | None = None  # tokens: the sequence of each test item (``Probe.test_clusters``)
    keys: np.ndarray | None = None      # tokens: sequence * T + position of each test item
    # fraction_beyond's results, by (n_permutations, seed): a null is drawn once per result
    nulls: dict = field(default_factory=dict, init=False, repr=False, compare=False)

    @property
    def n_nodes(self) -> int:
        return self.n_heads * self.d_head


def recognize(readout, probe: Probe, block: int, profile, progress: bool = False) -> RecognitionResult:
    """Single nodes, heads and the full block of one trained readout, on the held-out split."""
    probe.require_block(block)
    z, y = probe.z_test[block], probe.y_test
    n_nodes = z.shape[1]
    if n_nodes != probe.n_heads * probe.d_head:
        raise ValueError(f"node vectors have {n_nodes} entries but the checkpoint has "
                         f"{probe.n_heads} heads x {probe.d_head} = {probe.n_heads * probe.d_head}")
    kw = dict(n_classes=probe.n_classes, min_hits=profile.min_hits, progress=progress, device=profile_device(profile))
    singles = evaluate_sets(readout, z, y, single_node_sets(n_nodes), keep_predictions=True, **kw)
    heads = evaluate_sets(readout, z, y, head_sets(probe.n_heads, probe.d_head), keep_predictions=True, **kw)
    full = evaluate_sets(readout, z, y, [all_nodes_set(n_nodes)], keep_predictions=True, **kw)
    return RecognitionResult(singles, heads, full, silent_accuracy(readout, y), probe.n_heads, probe.d_head, probe.n_classes,
                       list(probe.label_names), np.asarray(probe.y_train), probe.test_clusters, probe.test_keys)


def node_table(res: RecognitionResult) -> pd.DataFrame:
    """One row per single node: its head, accuracy, |P|, |R| and mean diagonal confidence."""
    s = res.singles
    return pd.DataFrame({
        "node": np.arange(res.n_nodes), "head": np.arange(res.n_nodes) // res.d_head,
        "accuracy": s.accuracy, "predicted": s.n_predicted, "recognized": s.n_recognized, "mean_dc": s.mean_dc,
    })


def head_table(res: RecognitionResult, max_labels: int = 8) -> pd.DataFrame:
    """One row per head: accuracy, |P|, |R|, mean DC and the first recognised labels by name."""
    h = res.heads
    names = np.asarray(res.label_names, dtype=object)
    return pd.DataFrame({
        "head": np.arange(res.n_heads), "accuracy": h.accuracy, "predicted": h.n_predicted,
        "recognized": h.n_recognized, "mean_dc": h.mean_dc,
        "recognized_labels": [", ".join(map(str, names[np.flatnonzero(r)][:max_labels])) + (" ..." if r.sum() > max_labels else "")
                              for r in h.recognized],
    })


def node_jaccard(res: RecognitionResult, which: str = "singles") -> float:
    """Mean pairwise Jaccard overlap of the recognised sets of single nodes (or heads) that
    recognise at least one label (empty sets are excluded: their overlap is meaningless)."""
    r = getattr(res, which).recognized
    r = r[r.any(axis=1)]
    return float(mean_pairwise_jaccard(r)) if len(r) >= 2 else float("nan")


def head_jaccard(res: RecognitionResult) -> float:
    """Mean pairwise Jaccard of the 12 heads' recognised sets, empty sets included (two empty
    sets count as identical, so a fully symmetric model scores exactly 1)."""
    return float(mean_pairwise_jaccard(res.heads.recognized))


def head_jaccard_matrix(res: RecognitionResult) -> np.ndarray:
    return pairwise_jaccard(res.heads.recognized)


def summarize(res: RecognitionResult) -> dict:
    """The numbers notebooks 03 and 05 record in summary.json."""
    s = res.singles
    dc = s.mean_dc[s.n_predicted > 0]
    return {
        "median_recognized_node": float(np.median(s.n_recognized)),
        "median_recognized_head": float(np.median(res.heads.n_recognized)),
        "median_predicted_node": float(np.median(s.n_predicted)),
        "recognized_full": int(res.full.n_recognized[0]),
        "accuracy_full": float(res.full.accuracy[0]),
        "silent_accuracy": res.silent_accuracy,
        "mean_jaccard_nodes": node_jaccard(res),
        "mean_diagonal_confidence_node": float(np.nanmean(dc)) if len(dc) else float("nan"),
        "head_jaccard": head_jaccard(res),
        "n_classes": res.n_classes,
        # the earlier DC > 1/C rule, for comparison only
        "median_recognized_node_chance_rule": float(np.median(s.n_recognized_chance_rule)),
        "median_recognized_head_chance_rule": float(np.median(res.heads.n_recognized_chance_rule)),
        "recognized_full_chance_rule": int(res.full.n_recognized_chance_rule[0]),
    }


def top_labels_by_frequency(y: np.ndarray, n: int) -> np.ndarray:
    """The ``n`` most frequent labels of ``y``, most frequent first (ties: lower label first)."""
    counts = np.bincount(y)
    order = np.lexsort((np.arange(len(counts)), -counts))
    return order[:min(n, int((counts > 0).sum()))]


def symmetry_control(profile, probe_for, variants=("random", "symmetric", "symmetric_eps"), block: int | None = None,
                     progress: bool = False) -> dict:
    """C3 at the node level: for each pre-training variant, a readout on its node vectors and the
    aperture over heads and single nodes.  Symmetric variants get a tied readout (per-head column
    blocks copied from head 0, docs/method.md: symmetric_eps and symmetric_dropout too, so that
    only the backbone can break their heads' symmetry); the others a standard one.

    ``probe_for(variant) -> Probe`` supplies the node vectors (token or FewRel task)."""
    block = profile.block if block is None else block
    out = {}
    for variant in variants:
        probe = probe_for(variant)
        readout = fit_readout(profile, probe, block, tied=variant.startswith("symmetric"), progress=progress)
        out[variant] = recognize(readout, probe, block, profile)
    return out


def control_table(control: dict) -> pd.DataFrame:
    """One row per variant: head Jaccard, node Jaccard, median |R| per node and per head, accuracy."""
    rows = []
    for variant, res in control.items():
        s = summarize(res)
        rows.append({"variant": variant, "head_jaccard": s["head_jaccard"], "node_jaccard": s["mean_jaccard_nodes"],
                     "median_recognized_node": s["median_recognized_node"],
                     "median_recognized_head": s["median_recognized_head"], "accuracy_full": s["accuracy_full"]})
    return pd.DataFrame(rows)


# ----------------------------------------------------------------------------- nulls and checks (C1, C2, C3)

def permutation_null(singles: ApertureResult, n_permutations: int = N_PERMUTATIONS, seed: int = 0,
                     q: float | None = None) -> np.ndarray:
    """|R| of every set of ``singles`` under ``n_permutations`` seeded permutations of y_test:
    (P, S) counts.  Predictions do not depend on the labels, and a permutation keeps every
    label's base rate and every set's column sums, so only the hits are recounted
    (``metrics.hits_diagonal``)."""
    if singles.predictions is None:
        raise ValueError("permutation_null needs the sets' predictions: evaluate_sets(..., keep_predictions=True)")
    if n_permutations < 1:
        raise ValueError(f"n_permutations must be positive, got {n_permutations}")
    preds = singles.predictions
    rate = base_rate(singles.row)
    rng = np.random.default_rng(seed)
    out = np.empty((n_permutations, preds.shape[0]), dtype=np.int32)
    q = stats.FDR if q is None else q
    for i in range(n_permutations):
        diag = hits_diagonal(preds, rng.permutation(singles.y_true), singles.n_classes)
        out[i] = stats.recognized_by_base_rate(diag, singles.col, rate, min_hits=singles.min_hits, q=q).sum(1)
    return out


def null_thresholds(null: np.ndarray) -> np.ndarray:
    """Each set's 95th percentile of its permutation null, (S,)."""
    return np.quantile(np.asarray(null, dtype=float), 1 - stats.ALPHA, axis=0)


def beyond_null(observed: np.ndarray, null: np.ndarray) -> np.ndarray:
    """(S,) booleans: the set's observed |R| exceeds its null's 95th percentile."""
    return np.asarray(observed) > null_thresholds(null)


def jaccard_rows(masks: np.ndarray) -> np.ndarray:
    """Each non-empty set's mean Jaccard to the other non-empty sets (K,), K = sets with |R| > 0;
    their mean is the mean pairwise Jaccard (``node_jaccard``)."""
    m = np.asarray(masks, dtype=bool)
    m = m[m.any(axis=1)]
    if len(m) < 2:
        return np.zeros(0)
    j = pairwise_jaccard(m)
    np.fill_diagonal(j, 0.0)
    return j.sum(1) / (len(m) - 1)


def jaccard_null(recognized: np.ndarray, n_draws: int = N_NULL_DRAWS, seed: int = 0) -> np.ndarray:
    """Null of node-specificity: the node x item recognition matrix swap-randomised
    (``stats.swap_randomized``: every non-empty set keeps its size, every item the number of
    sets recognising it) ``n_draws`` times.  Returns (n_draws, K) per-set mean Jaccard to the
    others, K = sets with |R| > 0.

    An earlier null redrew each set from a pool weighted by the observed sets, its own items
    included; that inflated the null's overlap by about (1 - J)/K, so structureless sets passed
    as "node-specific" in most draws.  This one keeps the margins exactly and holds no set's
    own items twice (its false-pass rate on independent sets: ``docs/calibration.md``)."""
    m = np.asarray(recognized, dtype=bool)
    m = m[m.any(axis=1)]
    k = len(m)
    if k < 2:
        return np.zeros((n_draws, 0))
    m = m[:, m.any(axis=0)]
    rng = np.random.default_rng([seed, 17])
    out = np.empty((n_draws, k))
    current = m
    for d in range(n_draws):
        current = stats.swap_randomized(current, rng)          # a chain: each draw continues the last
        out[d] = jaccard_rows(current)
    return out


def probe_gate(res: RecognitionResult, name: str = "probe learned") -> dict:
    """``stats.probe_gate`` of the full-aperture readout of ``res`` (all nodes active)."""
    if res.y_train is None or res.full.predictions is None:
        raise ValueError("the probe gate needs the training labels and the full set's predictions (recognize keeps both)")
    return stats.probe_gate(res.full.y_true, res.full.predictions[0], res.y_train, name=name,
                            clusters=res.clusters, keys=res.keys)


def probe_beyond_untrained(res: RecognitionResult, untrained: RecognitionResult, name: str = "probe beyond the untrained backbone") -> dict:
    """The trained backbone's full-aperture probe against the untrained backbone's, on the same
    test items (``stats.paired_gate``; clustered by sequence for tokens): did pre-training add
    anything a random network's features do not already give?"""
    if untrained.full.predictions is None or res.full.predictions is None:
        raise ValueError("probe_beyond_untrained needs the full set's predictions (recognize keeps them)")
    if not np.array_equal(res.full.y_true, untrained.full.y_true):
        raise ValueError("the trained and untrained probes were evaluated on different test items")
    y = res.full.y_true
    return stats.paired_gate(name, "accuracy of the full-aperture readout minus the untrained backbone's readout",
                             res.full.predictions[0] == y, untrained.full.predictions[0] == y,
                             clusters=res.clusters, keys=res.keys)


def fraction_beyond(res: RecognitionResult, n_permutations: int = N_PERMUTATIONS, seed: int = 0) -> dict:
    """Nodes beyond their permutation null: count, fraction, Wilson interval, and the null.
    Computed once per result, permutation count and seed (kept in ``res.nulls``: the claim's
    records, its seeds and its blocks ask for the same null of the same result)."""
    key = (int(n_permutations), int(seed))
    if key not in res.nulls:
        null = permutation_null(res.singles, n_permutations, seed)
        beyond = beyond_null(res.singles.n_recognized, null)
        k, n = int(beyond.sum()), len(beyond)
        res.nulls[key] = {"beyond": beyond, "null": null, "k": k, "n": n, "fraction": k / n,
                          "ci": stats.proportion_ci(k, n)}
    return dict(res.nulls[key])


EACH_NODE = 0.5    # "each node recognises ...": a majority of nodes beyond the null (lower 95 % bound above one half)


def claim_stats(res: RecognitionResult, untrained: RecognitionResult | None = None, *, n_permutations: int = N_PERMUTATIONS,
                n_draws: int = N_NULL_DRAWS, seed: int = 0, what: str = "labels",
                backbone_gate: dict | None = None,
                untrained_controls: Sequence[RecognitionResult] | None = None) -> tuple[dict, np.ndarray]:
    """The C1/C2 ``stats`` sub-dict of a node section: gates (``probe``; ``probe_untrained`` when
    the untrained control ran) and the checks, each beside a null that a no-information model
    could pass (docs/method.md, "Verdicts"):

    - ``beyond_permutation_null``: fraction of single nodes whose |R| exceeds their label
      permutation null's 95th percentile (Wilson), null 0.05;
    - ``each_node``: the same fraction against EACH_NODE = 0.5 ("each node" needs a majority);
    - ``heads_beyond_null``: fraction of heads beyond their own permutation null, null 0.05;
    - ``node_specific``: mean pairwise Jaccard of the nodes' recognised sets minus that of the
      swap-randomised matrix (same set sizes and item counts), less than 0;
    - ``small_sets``: mean |R(node)| / |R(all nodes)|, less than 0.5 (context: an empty set is small);
    - ``beyond_untrained``: the fraction beyond the null, trained minus the untrained backbone
      (Newcombe), greater than 0 -- the core check: what pre-training added.

    ``backbone_gate``: the backbone gate recorded with the checkpoint the probe used
    (``backbones.Backbone.gate``), kept as ``gates.backbone`` so that a result directory without
    the pre-training section still knows it.

    ``untrained_controls`` (instead of ``untrained``): a checkpoint's K random-init controls of
    its own configuration (``backbones.untrained_controls``).  A foreign checkpoint has no
    initialisation of its own to compare with, and one random network of another seed is no
    valid null (two random networks differ by more than node or item intervals allow), so
    ``beyond_untrained`` and the ``probe_untrained`` gate then ask whether the checkpoint lies
    outside the controls' population (``stats.beyond_controls``: a prediction interval).
    Returns (stats, the trained readout's permutation null (P, D)) -- the null for its figure."""
    if untrained is not None and untrained_controls:
        raise ValueError("pass either untrained (our own run's initialisation) or untrained_controls (a checkpoint's "
                         "random-init controls), not both")
    trained = fraction_beyond(res, n_permutations, seed)
    frac_stat = (f"fraction of single nodes whose |R| ({what}) exceeds the 95th percentile of their "
                 f"{n_permutations}-permutation null (Wilson interval)")
    checks = {"beyond_permutation_null": stats.check(
        "beyond_permutation_null", frac_stat, trained["fraction"], trained["ci"], stats.ALPHA, "greater",
        k=trained["k"], n=trained["n"])}
    checks["each_node"] = stats.check(
        "each_node", frac_stat + f"; 'each node' needs more than {EACH_NODE:g} of them", trained["fraction"],
        trained["ci"], EACH_NODE, "greater", k=trained["k"], n=trained["n"])
    head_null = permutation_null(res.heads, n_permutations, seed)
    head_beyond = beyond_null(res.heads.n_recognized, head_null)
    hk, hn = int(head_beyond.sum()), len(head_beyond)
    checks["heads_beyond_null"] = stats.check(
        "heads_beyond_null", f"fraction of heads whose |R| ({what}) exceeds the 95th percentile of their "
        f"{n_permutations}-permutation null (Wilson interval)", hk / hn, stats.proportion_ci(hk, hn), stats.ALPHA,
        "greater", k=hk, n=hn)

    rows = jaccard_rows(res.singles.recognized)
    null_rows = jaccard_null(res.singles.recognized, n_draws, seed)
    if len(rows) >= 2:
        diff = rows - null_rows.mean(0)
        value, ci = stats.mean_ci(diff, seed=seed)
        observed, null_mean = float(rows.mean()), float(null_rows.mean())
    else:
        value, ci, observed, null_mean = None, None, None, None
    checks["node_specific"] = stats.check(
        "node_specific", "mean pairwise Jaccard of the nodes' recognised sets minus that of the swap-randomised "
        "node x item matrix (set sizes and item counts kept; bootstrap over nodes)", value, ci, 0.0, "less",
        observed=observed, null_mean=null_mean, nodes=int(len(rows)))

    full = int(res.full.n_recognized[0])
    if full > 0:
        share = res.singles.n_recognized / full
        value, ci = stats.mean_ci(share, seed=seed)
    else:
        value, ci = None, None
    checks["small_sets"] = stats.check(
        "small_sets", "mean over nodes of |R(node)| / |R(all nodes)| (bootstrap over nodes)", value, ci, 0.5, "less",
        recognized_full=full)

    nulls = {"permutations": n_permutations, "null_95th_median": float(np.median(null_thresholds(trained["null"]))),
             "null_mean_recognized_node": float(trained["null"].mean()),
             "jaccard_null": "swap randomisation", "jaccard_null_draws": n_draws, "jaccard_null_mean": null_mean}
    gates = {"probe": probe_gate(res)}
    if backbone_gate is not None:
        gates["backbone"] = backbone_gate
    if untrained_controls:
        _controls_stats(res, list(untrained_controls), trained, checks, gates, nulls, n_permutations, seed)
    elif untrained is not None:
        u = fraction_beyond(untrained, n_permutations, seed)
        value, ci = stats.newcombe_ci(trained["k"], trained["n"], u["k"], u["n"])
        checks["beyond_untrained"] = stats.check(
            "beyond_untrained", "fraction beyond the permutation null, trained minus untrained backbone "
            "(same architecture and seed, 0 steps; Newcombe interval)", value, ci, 0.0, "greater",
            trained=trained["fraction"], untrained=u["fraction"])
        if np.array_equal(res.full.y_true, untrained.full.y_true):
            gates["probe_untrained"] = probe_beyond_untrained(res, untrained)
        else:                         # not paired: the gate cannot be taken (C1 then says it is missing)
            gates["probe_untrained"] = {"name": "probe beyond the untrained backbone", "missing": True, "passed": None,
                                        "reason": "the untrained probe was evaluated on other test items"}
        nulls["untrained"] = {"fraction_beyond_null": u["fraction"], "fraction_beyond_null_ci": u["ci"],
                              "median_recognized_node": float(np.median(untrained.singles.n_recognized)),
                              "recognized_full": int(untrained.full.n_recognized[0]),
                              "accuracy_full": float(untrained.full.accuracy[0]),
                              "mean_jaccard_nodes": node_jaccard(untrained),
                              "probe_gate": probe_gate(untrained)}
    else:
        checks["beyond_untrained"] = stats.check("beyond_untrained", "untrained-backbone control not run",
                                                 None, None, 0.0, "greater", missing=True)
    return stats.ClaimStats(gates, checks, nulls), trained["null"]


def _controls_stats(res: RecognitionResult, controls: list[RecognitionResult], trained: dict, checks: dict, gates: dict,
                    nulls: dict, n_permutations: int, seed: int) -> None:
    """``beyond_untrained`` and the ``probe_untrained`` gate of a checkpoint against its K
    random-init controls (``stats.beyond_controls``), written into ``checks`` / ``gates`` / ``nulls``."""
    fractions = [fraction_beyond(c, n_permutations, seed) for c in controls]
    pop = stats.beyond_controls(trained["fraction"], stats.proportion_se(trained["k"], trained["n"]),
                                [u["fraction"] for u in fractions])
    checks["beyond_untrained"] = stats.check(
        "beyond_untrained", f"fraction beyond the permutation null, checkpoint minus the mean of {len(controls)} "
        "random initialisations of its configuration (95 % prediction interval over the controls' spread)",
        pop["difference"], pop["ci"], 0.0, "greater", trained=trained["fraction"], controls_mean=pop["controls_mean"],
        controls_sd=pop["controls_sd"], controls=len(controls))
    paired = all(np.array_equal(res.full.y_true, c.full.y_true) for c in controls)
    if paired:
        y = res.full.y_true
        correct = res.full.predictions[0] == y
        keep = stats.first_occurrence(res.keys) if res.keys is not None else np.ones(len(y), dtype=bool)
        clusters = None if res.clusters is None else np.asarray(res.clusters)[keep]
        accs = [float((c.full.predictions[0] == y)[keep].mean()) for c in controls]
        acc = float(correct[keep].mean())
        g = stats.beyond_controls(acc, stats.accuracy_se(correct[keep], clusters), accs)
        gates["probe_untrained"] = stats.gate(
            "probe beyond the untrained backbone", f"accuracy of the full-aperture readout minus the mean of {len(controls)} "
            "random initialisations of the checkpoint's configuration (one-sided Student t over the controls' spread, "
            "prediction interval)", acc, g["controls_mean"], g["p"], stats.GATE_ALPHA, difference=g["difference"],
            ci=g["ci"], controls=accs)
    else:
        gates["probe_untrained"] = {"name": "probe beyond the untrained backbone", "missing": True, "passed": None,
                                    "reason": "the controls' probes were evaluated on other test items"}
    nulls["untrained"] = {"controls": len(controls),
                          "fraction_beyond_null": float(np.mean([u["fraction"] for u in fractions])),
                          "fraction_beyond_null_by_control": [u["fraction"] for u in fractions],
                          "median_recognized_node": float(np.median(controls[0].singles.n_recognized)),
                          "recognized_full": int(controls[0].full.n_recognized[0]),
                          "accuracy_full": float(np.mean([c.full.accuracy[0] for c in controls])),
                          "accuracy_full_by_control": [float(c.full.accuracy[0]) for c in controls],
                          "mean_jaccard_nodes": node_jaccard(controls[0]),
                          "probe_gate": probe_gate(controls[0])}


def head_order_parameter(symmetric: RecognitionResult, random: RecognitionResult, seed: int = 0) -> dict:
    """C3, functional: mean pairwise Jaccard of the heads' recognised sets (empty sets count as
    equal), symmetric minus random, with a bootstrap interval over heads (paired by head index)."""
    if symmetric.n_heads != random.n_heads:
        raise ValueError(f"head counts differ: {symmetric.n_heads} vs {random.n_heads}")
    if symmetric.n_heads < 2:
        return stats.check("head_order_parameter", "needs at least two heads", None, None, 0.0, "greater")

    sym, rnd = _head_rows(symmetric), _head_rows(random)
    value, ci = stats.mean_ci(sym - rnd, seed=seed)
    return stats.check("head_order_parameter", "mean pairwise head Jaccard of recognised sets, symmetric minus "
                       "random (bootstrap over heads)", value, ci, 0.0, "greater",
                       symmetric=float(sym.mean()), random=float(rnd.mean()),
                       symmetric_heads_recognizing=int(symmetric.heads.recognized.any(1).sum()),
                       random_heads_recognizing=int(random.heads.recognized.any(1).sum()))


def _head_rows(res: RecognitionResult) -> np.ndarray:
    """Each head's mean Jaccard to the other heads' recognised sets (empty sets count as equal)."""
    j = pairwise_jaccard(res.heads.recognized)
    np.fill_diagonal(j, 0.0)
    return j.sum(1) / (res.n_heads - 1)


def _heads_differ(model: RecognitionResult, random: RecognitionResult, key: str, name: str, statistic: str,
                  seed: int) -> dict:
    """The check that ``model``'s heads recognise different sets: its per-head mean pairwise
    Jaccard minus 1 (the tied symmetric value), bootstrap over heads, less than 0; the random
    model's mean Jaccard and the number of heads recognising anything kept beside it."""
    rows, rnd = _head_rows(model), _head_rows(random)
    value, ci = stats.mean_ci(rows - 1.0, seed=seed)
    return stats.check(f"the {name} model's heads recognise different sets", f"mean pairwise head Jaccard of the "
                       f"{statistic} minus 1 (the tied symmetric value); bootstrap over heads", value, ci, 0.0, "less",
                       **{f"{key}_jaccard": float(rows.mean()), "random_jaccard": float(rnd.mean()),
                          f"{key}_heads_recognizing": int(model.heads.recognized.any(1).sum())})


def symmetry_checks(control: dict, seed: int = 0) -> stats.ClaimStats:
    """C3 at the node level, from ``symmetry_control``'s results: its gates and checks.

    Gates (each vetoes only its check): the probes of the random and symmetric_eps variants.
    Checks:
    - ``tied_heads_identical`` (sanity): the tied symmetric model's mean pairwise head Jaccard
      equals 1 -- true by construction under deterministic training;
    - ``eps_heads_differ`` (evidence): the symmetric + eps model's per-head mean Jaccard minus 1
      (bootstrap over heads), less than 0: its heads recognise different sets, i.e. the tiny
      perturbation was amplified up to what a reader can see.  A perturbation that stayed
      tiny gives exactly 1 and fails.  The random model's value is kept beside it;
    - ``dropout_heads_differ`` (context, when the symmetric + dropout variant ran; gated by its
      probe): the same statistic for the symmetric model trained with dropout -- stochastic
      dynamics, the comparison the paper draws; it shows, never decides (C3 is about
      deterministic dynamics)."""
    missing = [v for v in ("random", "symmetric_eps") if v not in control]
    gates, checks = {}, {}
    for v in ("random", "symmetric_eps"):
        if v in control:
            gates[f"probe_{v}"] = probe_gate(control[v], f"probe learned ({v} variant)")
    if "symmetric" in control and control["symmetric"].n_heads >= 2:
        checks["tied_heads_identical"] = stats.check(
            "tied symmetric heads recognise identical sets", "mean pairwise head Jaccard of the tied symmetric model "
            "(1 by construction)", head_jaccard(control["symmetric"]), None, 1.0, "equal")
    if missing or control["symmetric_eps"].n_heads < 2:
        checks["eps_heads_differ"] = stats.check("eps heads differ", f"variants missing: {missing}", None, None, 0.0,
                                                 "less", missing=True)
    else:
        checks["eps_heads_differ"] = _heads_differ(control["symmetric_eps"], control["random"], "eps", "symmetric + eps",
                                                   "symmetric + eps model", seed)
    if "symmetric_dropout" in control and "random" in control and control["symmetric_dropout"].n_heads >= 2:
        gates["probe_symmetric_dropout"] = probe_gate(control["symmetric_dropout"],
                                                      "probe learned (symmetric_dropout variant)")
        checks["dropout_heads_differ"] = _heads_differ(control["symmetric_dropout"], control["random"], "dropout",
                                                       "symmetric + dropout", "symmetric model trained with dropout",
                                                       seed)
    return stats.ClaimStats(gates, checks)


def headline_numbers(res: RecognitionResult, n_permutations: int, seed: int) -> dict:
    """The single-node numbers reported per seed and per block."""
    fb = fraction_beyond(res, n_permutations, seed)
    s = res.singles
    return {"fraction_beyond_null": fb["fraction"], "fraction_beyond_null_lo": fb["ci"][0],
            "fraction_beyond_null_hi": fb["ci"][1], "median_recognized_node": float(np.median(s.n_recognized)),
            "mean_recognized_node": float(np.mean(s.n_recognized)),
            "fraction_recognizing": float(np.mean(np.asarray(s.n_recognized) > 0)),
            "mean_dc_node": float(np.nanmean(s.mean_dc)), "node_jaccard": node_jaccard(res),
            "recognized_full": int(res.full.n_recognized[0]), "accuracy_full": float(res.full.accuracy[0]),
            "probe_gate": bool(probe_gate(res)["passed"])}


def seed_replicates(profile, probe, block: int | None = None, n_seeds: int = N_SEEDS,
                    n_permutations: int = N_PERMUTATIONS, progress: bool = False,
                    first: RecognitionResult | None = None) -> pd.DataFrame:
    """Probe readouts trained with seeds seed, seed + 1, ... on the same node vectors: one row per
    seed with the headline single-node numbers (``headline_numbers``).  ``first``: the result of
    the profile's own seed, ``recognize(fit_readout(profile, probe, block), probe, block, profile)``,
    when the caller has it (the notebooks' main result): it is not evaluated again."""
    block = profile.block if block is None else block
    rows = []
    for s in range(profile.seed, profile.seed + n_seeds):
        p = profile.replace(seed=s)
        res = first if first is not None and s == profile.seed else \
            recognize(fit_readout(p, probe, block, progress=progress), probe, block, p)
        rows.append({"seed": s, **headline_numbers(res, n_permutations, s)})
    return pd.DataFrame(rows)


def across_seeds(table: pd.DataFrame, columns=("fraction_beyond_null", "median_recognized_node", "node_jaccard",
                                                 "accuracy_full")) -> dict:
    """Mean, range and 95 % t-interval across seeds of the headline columns of ``seed_replicates``."""
    from scipy import stats as st
    out = {"seeds": [int(s) for s in table["seed"]]}
    for c in columns:
        x = table[c].astype(float).to_numpy()
        x = x[np.isfinite(x)]
        if len(x) == 0:
            out[c] = {"mean": None, "range": [None, None], "ci": [None, None]}
            continue
        m = float(x.mean())
        if len(x) > 1:
            half = float(st.t.ppf(1 - stats.ALPHA / 2, len(x) - 1) * x.std(ddof=1) / np.sqrt(len(x)))
            ci = [m - half, m + half]
        else:
            ci = [None, None]
        out[c] = {"mean": m, "range": [float(x.min()), float(x.max())], "ci": ci, "values": x.tolist()}
    return out


def ssb_along_blocks(profile, probe, blocks=None, n_permutations: int = N_PERMUTATIONS,
                     progress: bool = False, first: RecognitionResult | None = None) -> pd.DataFrame:
    """SSB along the blocks (issue 11, item 5): for every block with cached node vectors, a readout
    and the single-node statistics (median and mean |R|, the fraction of nodes recognising
    anything, mean DC, node Jaccard, fraction beyond the permutation null with its Wilson
    interval, probe gate).  ``first``: the result at ``profile.block``,
    ``recognize(fit_readout(profile, probe), probe, profile.block, profile)``, when the caller has
    it (the notebooks' main result): that block is not evaluated again."""
    if blocks is None:
        blocks = sorted(probe.z_train)
    elif isinstance(blocks, (int, np.integer)):
        blocks = [int(blocks)]
    elif isinstance(blocks, str) or not all(isinstance(b, (int, np.integer)) for b in blocks):
        raise ValueError(f"blocks must be None, a block number or a list of block numbers, got {blocks!r}")
    for b in blocks:
        probe.require_block(int(b))
    rows = []
    for b in blocks:
        res = first if first is not None and int(b) == profile.block else \
            recognize(fit_readout(profile, probe, b, progress=progress), probe, b, profile)
        rows.append({"block": int(b), **headline_numbers(res, n_permutations, profile.seed)})
    return pd.DataFrame(rows)


def checks_table(section_stats) -> pd.DataFrame:
    """The gates and checks of a ``stats`` record (``stats.ClaimStats`` or its dict) as one table."""
    if isinstance(section_stats, stats.ClaimStats):
        return section_stats.table()
    rows = []
    for kind in ("gates", "checks"):
        for name, r in section_stats.get(kind, {}).items():
            ci = r.get("ci") or [None, None]
            rows.append({"kind": kind[:-1], "name": name, "value": r.get("value"), "ci_lo": ci[0], "ci_hi": ci[1],
                         "null": r.get("null"), "direction": r.get("direction", "greater"), "p": r.get("p"),
                         "passed": r.get("passed")})
    return pd.DataFrame(rows)


def aperture_demo(readout, probe: Probe, block: int, node: int) -> dict:
    """The aperture definition on one node, spelled out: copy the readout, zero every fc1 weight
    column except ``node``'s (the silenced nodes), run the copy on the full held-out node
    vectors and take the argmax (``aperture.naive_predictions``) -- against the engine
    (``aperture.evaluate_sets``) on the set
    {node}.  Returns {"node", "naive", "engine" (predictions, (N,) int), "n_zeroed_columns",
    "agree" (bool), "n_differ"}; ``agree`` must be True (docs/method.md, "Nodes and the limited
    aperture")."""
    probe.require_block(block)
    z, y = probe.z_test[block], probe.y_test
    n_nodes = z.shape[1]
    if not 0 <= int(node) < n_nodes:
        raise ValueError(f"node {node} is outside 0..{n_nodes - 1}")
    with torch.no_grad():
        naive = naive_predictions(readout, z, [np.array([int(node)])])[0].astype(np.int64)
    engine = evaluate_sets(readout, z, y, [np.array([int(node)])], keep_predictions=True).predictions[0].astype(np.int64)
    differ = int((naive != engine).sum())
    return {"node": int(node), "naive": naive, "engine": engine, "n_zeroed_columns": n_nodes - 1,
            "agree": differ == 0, "n_differ": differ}
