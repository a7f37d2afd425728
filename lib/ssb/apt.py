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
from scipy import stats
from scipy.sparse.csgraph import connected_components

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
    import scipy.sparse as sp
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
    """A token head on every block's node vectors: per block accuracy, ⟨APT⟩, the number of
    tokens averaged and the Spearman correlation of APT with frequency.

    Returns (summary DataFrame, {block: apt_table}, {block: test predictions})."""
    from .nodal import fit_head, predict
    rows, tables, preds = [], {}, {}
    for block in sorted(probe.z_train):
        head = fit_head(profile, probe, block, progress=progress)
        pred = predict(head, probe.z_test[block])
        table = apt_table(probe.y_test, pred, train_counts, probe.n_classes, profile.min_count, probe.label_names)
        tables[block], preds[block] = table, pred
        rows.append({"block": block, "accuracy": float((pred == probe.y_test).mean()),
                     "mean_apt": float(table["apt"].mean()) if len(table) else float("nan"),
                     "tokens": len(table), "spearman_freq": frequency_correlation(table)})
    return pd.DataFrame(rows), tables, preds
