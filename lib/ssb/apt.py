"""Accuracy per token (APT, C6) and the token confusion matrix's strong matches.

APT of token t = M[t,t] / Σ_j M[t,j] over its masked test occurrences; ⟨APT⟩ is the mean
over tokens with at least ``min_count`` occurrences (docs/method.md, "Measurements").

    table = apt_table(y_true, y_pred, train_counts, n_classes, min_count=5)
    rho = frequency_correlation(table)                # Spearman(APT, training frequency)
    clusters = strong_match_clusters(y_true, y_pred, n_classes, min_count=5)
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy import stats
from scipy.sparse.csgraph import connected_components

from . import stats as stats_
from .readouts import fit_readout, predict
from .metrics import apt, confusion_matrix, label_counts


def apt_table(y_true: np.ndarray, y_pred: np.ndarray, train_counts: np.ndarray, n_classes: int,
              min_count: int, token_names=None) -> pd.DataFrame:
    """One row per token with at least ``min_count`` test occurrences: its training frequency,
    test count and APT."""
    counts = label_counts(y_true, y_pred, n_classes)
    per_token, _ = apt(counts, min_count)
    keep = np.flatnonzero(~np.isnan(per_token))
    names = np.asarray(token_names, dtype=object)[keep] if token_names is not None else keep.astype(str)
    return pd.DataFrame({"token_id": keep, "token": names, "train_count": np.asarray(train_counts)[keep],
                         "test_count": counts.row[keep], "apt": per_token[keep]})


def frequency_correlation(table: pd.DataFrame) -> float:
    """Spearman rank correlation between a token's training frequency and its APT."""
    if len(table) < 3:
        return float("nan")
    return float(stats.spearmanr(table["train_count"], table["apt"]).statistic)


def apt_by_frequency_bins(table: pd.DataFrame, n_bins: int = 8) -> pd.DataFrame:
    """Mean APT in log-spaced bins of training frequency (the curve drawn over the scatter)."""
    f = table["train_count"].clip(lower=1).to_numpy(float)
    edges = np.unique(np.geomspace(f.min(), f.max() * 1.0001, n_bins + 1))
    which = np.clip(np.digitize(f, edges) - 1, 0, len(edges) - 2)
    rows = []
    for b in range(len(edges) - 1):
        sel = which == b
        if sel.any():
            rows.append({"freq_low": edges[b], "freq_high": edges[b + 1], "freq_center": float(np.sqrt(edges[b] * edges[b + 1])),
                         "mean_apt": float(table["apt"].to_numpy()[sel].mean()), "n_tokens": int(sel.sum())})
    return pd.DataFrame(rows)


def strong_match_clusters(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int, min_count: int,
                          threshold: float = 0.2, max_tokens: int = 40) -> tuple[list[np.ndarray], np.ndarray]:
    """Groups of tokens mistaken for one another.

    A strong match i -> j (i != j) is a confusion holding at least ``threshold`` of token i's
    test occurrences (i with ≥ ``min_count`` occurrences).  Clusters are the connected
    components of the strong-match graph with two or more tokens, largest first, cut at
    ``max_tokens`` tokens in all (a component too large keeps its most frequent tokens).  Returns (clusters, row-normalised confusion among the
    tokens of the clusters in cluster order).
    """
    m = confusion_matrix(y_true, y_pred, n_classes, sparse=True).tocsr().astype(np.float64)
    rows = np.asarray(m.sum(axis=1)).ravel()
    frequent = rows >= min_count
    norm = m.multiply(1.0 / np.maximum(rows, 1)[:, None]).tocsr()
    coo = norm.tocoo()
    strong = (coo.row != coo.col) & (coo.data >= threshold) & frequent[coo.row]
    if not strong.any():
        return [], np.zeros((0, 0))
    graph = sp.coo_matrix((np.ones(strong.sum()), (coo.row[strong], coo.col[strong])), shape=m.shape)
    _, comp = connected_components(graph, directed=False)
    involved = np.unique(np.concatenate([coo.row[strong], coo.col[strong]]))
    groups: dict[int, list[int]] = {}
    for t in involved:
        groups.setdefault(int(comp[t]), []).append(int(t))
    ordered = sorted((np.array(sorted(g, key=lambda t: -rows[t])) for g in groups.values() if len(g) >= 2),
                     key=lambda g: (-len(g), int(g[0])))
    clusters, total = [], 0
    for g in ordered:                      # a component larger than the room left keeps its most
        room = max_tokens - total          # frequent tokens (a weak model's confusions form one big
        if room < 2:                       # star around the most frequent token)
            break
        clusters.append(g[:room])
        total += len(clusters[-1])
    if not clusters:
        return [], np.zeros((0, 0))
    tokens = np.concatenate(clusters)
    return clusters, norm[tokens][:, tokens].toarray()


def apt_by_block(profile, probe, train_counts: np.ndarray, progress: bool = False):
    """A token readout on every block's node vectors: per block accuracy, ⟨APT⟩, the number of
    tokens averaged, the Spearman correlation of APT with frequency and the probe gate
    (``gate_passed``, ``gate_p``: the readout against the constant predictor, ``stats.probe_gate``).

    Returns (summary DataFrame, {block: apt_table}, {block: test predictions})."""
    rows, tables, preds = [], {}, {}
    for block in sorted(probe.z_train):
        readout = fit_readout(profile, probe, block, progress=progress)
        pred = predict(readout, probe.z_test[block])
        table = apt_table(probe.y_test, pred, train_counts, probe.n_classes, profile.min_count, probe.label_names)
        tables[block], preds[block] = table, pred
        rows.append({"block": block, "accuracy": float((pred == probe.y_test).mean()),
                     "mean_apt": float(table["apt"].mean()) if len(table) else float("nan"),
                     "tokens": len(table), "spearman_freq": frequency_correlation(table)})
        gate = stats_.probe_gate(probe.y_test, pred, probe.y_train)
        rows[-1].update(gate_passed=gate["passed"], gate_p=gate["p"])
    return pd.DataFrame(rows), tables, preds


def probe_beyond_controls_by_block(profile, probe, predictions: dict, control_probes: list) -> pd.DataFrame:
    """A checkpoint's token probe along its blocks against the constant predictor and against
    its random-init controls (``backbones.untrained_controls``), on the same test positions.

    ``predictions``: {block: the checkpoint's full-aperture test predictions} (``apt_by_block``);
    ``control_probes``: one token probe per control, over the same blocks and positions.  Per
    block: the accuracy, the constant predictor's, each control's probe accuracy, and
    ``stats.beyond_controls`` (difference from the controls' mean, 95 % prediction interval,
    one-sided p; clustered by sequence, a position masked in several draws counted once)."""
    y = np.asarray(probe.y_test)
    keep = stats_.first_occurrence(probe.test_keys) if probe.test_keys is not None else np.ones(len(y), dtype=bool)
    clusters = None if probe.test_clusters is None else np.asarray(probe.test_clusters)[keep]
    constant = int(np.bincount(np.asarray(probe.y_train), minlength=probe.n_classes).argmax())
    rows = []
    for block in sorted(predictions):
        correct = (np.asarray(predictions[block]) == y)[keep]
        accs = []
        for cp in control_probes:
            if not np.array_equal(np.asarray(cp.y_test), y):
                raise ValueError("a control's token probe was evaluated on other test positions than the checkpoint's")
            accs.append(float((predict(fit_readout(profile, cp, block, progress=False), cp.z_test[block]) == y)[keep].mean()))
        r = stats_.beyond_controls(float(correct.mean()), stats_.accuracy_se(correct, clusters), accs)
        rows.append({"block": block, "accuracy": float(correct.mean()), "constant": float((y[keep] == constant).mean()),
                     "controls_mean": r["controls_mean"], "controls_sd": r["controls_sd"],
                     "controls": [round(a, 4) for a in accs], "difference": r["difference"],
                     "ci_low": r["ci"][0], "ci_high": r["ci"][1], "p": r["p"],
                     "beyond_controls": r["p"] is not None and r["p"] < stats_.GATE_ALPHA})
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------- statistics (C6)
#
#   gates = block_gates(probe.y_test, preds, probe.y_train)            # {block: stats.probe_gate}
#   checks, nulls, bands = apt_stats(probe.y_test, preds, train_counts, probe.y_train, n_classes, min_count, block)
#
# A block's ⟨APT⟩ counts only if its token readout beats the constant predictor (the probe
# gate).  The frequency correlation is compared with that of a *unigram sampler*: test
# predictions drawn at random from the training distribution (seeded), which by itself gives
# frequent tokens a higher APT.  (The unigram predictor that always outputs the most frequent
# token is the constant predictor; its correlation is reported beside it.)

N_NULL_DRAWS = 20          # unigram-sampler draws averaged in the frequency null
MIN_GATED_BLOCKS = 3       # a Spearman trend over fewer blocks says nothing


def tokens_averaged(y_true: np.ndarray, n_classes: int, min_count: int) -> np.ndarray:
    """Token ids with at least ``min_count`` test occurrences (the tokens ⟨APT⟩ averages)."""
    if int(min_count) < 1:
        raise ValueError(f"min_count must be at least 1, got {min_count}")
    return np.flatnonzero(np.bincount(np.asarray(y_true), minlength=n_classes) >= min_count)


def apt_of_tokens(y_true: np.ndarray, y_pred: np.ndarray, tokens: np.ndarray, n_classes: int) -> np.ndarray:
    """APT of each token in ``tokens``: its share of correctly predicted test occurrences."""
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    if y_true.shape != y_pred.shape:
        raise ValueError(f"y_true and y_pred must have the same shape, got {y_true.shape} and {y_pred.shape}")
    rows = np.bincount(y_true, minlength=n_classes).astype(float)
    hits = np.bincount(y_true[y_true == y_pred], minlength=n_classes).astype(float)
    tokens = np.asarray(tokens, dtype=np.int64)
    with np.errstate(invalid="ignore", divide="ignore"):
        return hits[tokens] / rows[tokens]


def resampled_apt(y_true: np.ndarray, y_preds: list, tokens: np.ndarray, n_classes: int, clusters, n_boot: int,
                  seed) -> list[np.ndarray]:
    """APT of ``tokens`` for each prediction vector of ``y_preds`` in B resamples of the test
    SEQUENCES (``stats.cluster_resamples``: positions of one sequence are drawn together, the
    same resamples for every prediction vector).  Returns one (B, T) array per prediction
    vector; NaN where a resample holds no occurrence of the token."""
    y_true = np.asarray(y_true)
    tokens = np.asarray(tokens, dtype=np.int64)
    group, counts = stats_.cluster_resamples(clusters, n_boot, seed)                  # (N,), (B, G)
    column = np.full(n_classes, -1, dtype=np.int64)
    column[tokens] = np.arange(len(tokens))
    t = column[y_true]
    keep = t >= 0
    n_groups, n_tokens = counts.shape[1], len(tokens)
    cell = group[keep] * n_tokens + t[keep]
    rows = np.bincount(cell, minlength=n_groups * n_tokens).reshape(n_groups, n_tokens)
    rows_b = counts @ rows                                                                # (B, T)
    out = []
    for y_pred in y_preds:
        hit = (np.asarray(y_pred) == y_true)[keep]
        hits = np.bincount(cell[hit], minlength=n_groups * n_tokens).reshape(n_groups, n_tokens)
        with np.errstate(invalid="ignore", divide="ignore"):
            out.append(np.where(rows_b > 0, (counts @ hits) / rows_b, np.nan))
    return out


def unigram_sampler_predictions(train_counts: np.ndarray, n: int, seed: int) -> np.ndarray:
    """n predictions drawn independently from the training frequency distribution (seeded)."""
    p = np.asarray(train_counts, dtype=float)
    if p.ndim != 1 or p.sum() <= 0 or np.any(p < 0):
        raise ValueError("train_counts must be a 1-D array of non-negative counts with a positive sum")
    return np.random.default_rng([int(seed), 6]).choice(len(p), size=int(n), p=p / p.sum())


def block_gates(y_test: np.ndarray, predictions: dict, y_train: np.ndarray, *, clusters=None, keys=None) -> dict:
    """{block: stats.probe_gate}: each block's token readout against the constant predictor
    (clustered by sequence when ``clusters`` is given)."""
    return {int(b): stats_.probe_gate(y_test, predictions[b], y_train, name=f"token readout of block {b} learned",
                                      clusters=clusters, keys=keys)
            for b in sorted(predictions)}


def shuffled_predictions(y_pred: np.ndarray, seed: int) -> np.ndarray:
    """The model's own predictions permuted across the test items (seeded): the same prediction
    distribution, no link to the item.  Its APT of token t is about how often the model predicts
    t, so a model that knows rare tokens is not penalised by this null."""
    return np.random.default_rng([int(seed), 9]).permutation(np.asarray(y_pred))


def _spearman(x: np.ndarray, y: np.ndarray) -> float:
    """Spearman correlation; NaN where either side is constant."""
    if len(x) < 3 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return float("nan")
    return float(stats.spearmanr(x, y).statistic)


def frequency_check(y_true, y_pred, train_counts, n_classes: int, min_count: int, *, n_null: int = N_NULL_DRAWS,
                    n_boot: int = 1000, seed: int = 0, clusters=None) -> tuple[dict, dict]:
    """C6 (a) as a check record: does the accuracy a model adds *beyond its own prediction
    distribution* grow with the token's training frequency?  The statistic is the mean over
    k = 1..``n_null`` of Spearman(APT(t) - APT_k(t), count(t)) over the tokens with >= min_count
    test occurrences, where APT_k is the APT of the model's predictions shuffled across the test
    items (copy k: the same prediction distribution, no link to the item; a model that predicts
    frequent tokens often gets them right by chance, and a model that knows rare tokens is not
    penalised); null 0, direction "greater".  Each term compares the model with *one* shuffled
    copy, so without information the two are exchangeable and the statistic is symmetric about
    0 (against the mean of the copies, rare tokens' skewed APT noise biased it negative).

    Why the excess and not the difference of two correlations (the earlier statistic,
    Spearman(APT, count) minus Spearman(APT_null, count)): the excess is paired token by token
    (the model and its shuffled copy are scored on the same test items of each token), while the
    difference compares two rankings that each carry their own noise; on the calibration
    study's planted world the difference passed in 50 % of seeds, the excess in every seed
    (docs/calibration.md).

    Interval: percentile bootstrap over test sequences (``clusters``, the tokens fixed:
    ``resampled_apt``; replicate b recomputes the model's and every null copy's APT on the
    same resampled sequences), else over tokens.  A resample on which the excess is constant
    has no correlation: 0.  Returns (check, nulls)."""
    tokens = tokens_averaged(y_true, n_classes, min_count)
    freq = np.asarray(train_counts, dtype=float)[tokens]
    observed = apt_of_tokens(y_true, y_pred, tokens, n_classes)
    shuffled = [shuffled_predictions(y_pred, seed * 1000 + k) for k in range(n_null)]
    null_apt = np.stack([apt_of_tokens(y_true, s, tokens, n_classes) for s in shuffled])
    unigram_apt = apt_of_tokens(y_true, unigram_sampler_predictions(train_counts, len(y_true), seed * 1000), tokens,
                                n_classes)
    constant = np.full(len(y_true), int(np.argmax(train_counts)))
    rho_constant = _spearman(apt_of_tokens(y_true, constant, tokens, n_classes), freq)
    null_rho = np.nan_to_num(np.array([_spearman(a, freq) for a in null_apt]), nan=0.0)
    rho = _spearman(observed, freq)
    excess = observed[None, :] - null_apt                                   # (n_null, tokens)

    def excess_rho(exc, f) -> float:
        """Mean over the null copies of Spearman(APT - that copy's APT, count); 0 where constant."""
        vals = []
        for e in exc:
            ok = np.isfinite(e)
            vals.append(float(np.nan_to_num(_spearman(e[ok], f[ok]), nan=0.0)))
        return float(np.mean(vals)) if vals else 0.0

    value = excess_rho(excess, freq) if np.isfinite(rho) and n_null else None
    ci = None
    if value is not None and clusters is not None:
        obs_b, *null_b = resampled_apt(y_true, [y_pred, *shuffled], tokens, n_classes, clusters, n_boot, [int(seed), 7])
        null_b = np.stack(null_b)                                               # (n_null, n_boot, tokens)
        reps = [excess_rho(obs_b[b][None, :] - null_b[:, b], freq) for b in range(n_boot)]
        ci = list(np.quantile(reps, [stats_.ALPHA / 2, 1 - stats_.ALPHA / 2])) if reps else None
    elif value is not None:
        rng = np.random.default_rng([int(seed), 7])
        reps = []
        for _ in range(n_boot):
            i = rng.integers(0, len(tokens), len(tokens))
            reps.append(excess_rho(excess[:, i], freq[i]))
        ci = list(np.quantile(reps, [stats_.ALPHA / 2, 1 - stats_.ALPHA / 2])) if reps else None
    unit = "bootstrap over test sequences (tokens fixed)" if clusters is not None else "bootstrap over tokens"
    check = stats_.check("APT beyond the model's own shuffled predictions grows with token frequency",
                         "Spearman(APT - APT of its own predictions shuffled across the test items, training count) "
                         f"(the excess over the same prediction distribution); {unit}", value, ci, 0.0,
                         "greater", tokens=int(len(tokens)))
    nulls = {"spearman_observed": rho, "spearman_shuffled_predictions": float(null_rho.mean()),
             "spearman_shuffled_draws": int(n_null),
             "spearman_unigram_sampler": np.nan_to_num(_spearman(unigram_apt, freq), nan=0.0).item(),
             "spearman_constant_predictor": rho_constant,
             "mean_excess_apt": float(np.nanmean(excess)) if excess.size else None}
    return check, nulls


def block_apt_bands(y_true, predictions: dict, n_classes: int, min_count: int, *, n_boot: int = 1000,
                    seed: int = 0, clusters=None) -> pd.DataFrame:
    """Per block: ⟨APT⟩ with a 95 % percentile-bootstrap interval: over the test sequences
    (``clusters``: the sequence of each position; the tokens fixed, ``resampled_apt``), else
    over tokens."""
    tokens = tokens_averaged(y_true, n_classes, min_count)
    blocks = sorted(predictions)
    rows = []
    if clusters is not None and len(tokens):
        reps = resampled_apt(y_true, [predictions[b] for b in blocks], tokens, n_classes, clusters, n_boot, [int(seed), 9])
    for i, b in enumerate(blocks):
        a = apt_of_tokens(y_true, predictions[b], tokens, n_classes)
        if not len(a):
            m, ci = float("nan"), [float("nan")] * 2
        elif clusters is not None:
            m = float(a.mean())
            ci = [float(v) for v in np.quantile(np.nanmean(reps[i], axis=1), [stats_.ALPHA / 2, 1 - stats_.ALPHA / 2])]
        else:
            m, ci = stats_.mean_ci(a, n_boot=n_boot, seed=seed)
        rows.append({"block": int(b), "mean_apt": m, "mean_apt_lo": ci[0], "mean_apt_hi": ci[1]})
    return pd.DataFrame(rows)


def grows_along_blocks_check(y_true, predictions: dict, gates: dict, n_classes: int, min_count: int, *,
                             n_boot: int = 1000, seed: int = 0, clusters=None) -> dict:
    """C6 (b) as a check record: Spearman of ⟨APT⟩ with the block index over the blocks whose
    probe gate passed, with a percentile bootstrap over tokens (the same resampled tokens
    for every block), or with ``clusters`` over the test sequences (the same resampled sequences
    for every block, tokens fixed); null 0, greater.  Fewer than MIN_GATED_BLOCKS gated blocks: None."""
    tokens = tokens_averaged(y_true, n_classes, min_count)
    gated = [int(b) for b in sorted(predictions) if gates.get(int(b), {}).get("passed")]
    unit = "bootstrap over test sequences (tokens fixed)" if clusters is not None else "bootstrap over tokens"
    statistic = f"Spearman of <APT> with the block index over blocks whose readout beats the constant predictor; {unit}"
    name = "<APT> grows along the blocks"
    if len(gated) < MIN_GATED_BLOCKS or len(tokens) == 0:
        return stats_.check(name, statistic, None, None, 0.0, "greater", blocks=gated,
                            reason=f"{len(gated)} block(s) pass the probe gate; at least {MIN_GATED_BLOCKS} are needed")
    m = np.stack([apt_of_tokens(y_true, predictions[b], tokens, n_classes) for b in gated])        # (L, T)
    x = np.asarray(gated, dtype=float)
    value = _spearman(x, m.mean(1))
    if clusters is not None:
        per_block = resampled_apt(y_true, [predictions[b] for b in gated], tokens, n_classes, clusters, n_boot,
                                  [int(seed), 8])
        means = np.stack([np.nanmean(a, axis=1) for a in per_block], axis=1)                  # (B, L)
        reps = [_spearman(x, means[b]) for b in range(n_boot)]
    else:
        rng = np.random.default_rng([int(seed), 8])
        reps = [_spearman(x, m[:, rng.integers(0, m.shape[1], m.shape[1])].mean(1)) for _ in range(n_boot)]
    reps = np.asarray(reps)[np.isfinite(reps)]
    ci = list(np.quantile(reps, [stats_.ALPHA / 2, 1 - stats_.ALPHA / 2])) if len(reps) else None
    return stats_.check(name, statistic, value, ci, 0.0, "greater", blocks=gated, reason=None)


def apt_stats(y_test, predictions: dict, train_counts, y_train, n_classes: int, min_count: int, block: int, *,
              n_boot: int = 1000, seed: int = 0, clusters=None, keys=None) -> dict:
    """``apt.stats`` of summary.json: {"gates": {"probe_block_<l>"}, "checks": {"frequency"
    (at ``block``), "grows_along_blocks"}, "nulls": {...}}."""
    gates = block_gates(y_test, predictions, y_train, clusters=clusters, keys=keys)
    freq, nulls = frequency_check(y_test, predictions[block], train_counts, n_classes, min_count, n_boot=n_boot, seed=seed,
                                  clusters=clusters)
    trend = grows_along_blocks_check(y_test, predictions, gates, n_classes, min_count, n_boot=n_boot, seed=seed,
                                     clusters=clusters)
    return stats_.ClaimStats({f"probe_block_{b}": g for b, g in gates.items()},
                             {"frequency": {**freq, "block": int(block)}, "grows_along_blocks": trend},
                             {**nulls, "blocks_gated": trend["blocks"]})
