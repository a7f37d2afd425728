"""Node-level analysis: a classifier head on one block's cached node vectors, and what
single nodes, single heads and any node set still recognise through the limited aperture.

    head = fit_head(profile, probe, block=6)                 # cached under runs/<profile>/heads/
    res = nodal_analysis(head, probe, block=6, profile=profile)
    res.singles.n_recognized          # (D,)  |R({k})| for every node k
    res.heads.recognized              # (H, C) recognised labels of each head's d_h nodes
    nodal_summary(res)                # medians, Jaccard overlaps, diagonal confidence

The symmetric-initialisation control (C3) trains the head with ``tied=True``: its per-head
column blocks start as copies of head 0's (docs/method.md, "Symmetric controls").
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from .aperture import ApertureResult, evaluate_sets, head_sets, silent_prediction, single_node_sets
from .heads import load_head, save_head, train_head
from .metrics import mean_pairwise_jaccard, pairwise_jaccard
from .results import runs_dir


def _check_block(probe, block: int) -> None:
    if block not in probe.z_train:
        raise ValueError(f"block {block} has no cached node vectors; available blocks: {sorted(probe.z_train)}")


def head_epochs(profile, probe) -> int:
    """Token heads (vocabulary-sized outputs) get ``token_head_epochs``, label heads ``head_epochs``."""
    return profile.token_head_epochs if getattr(probe, "task", "labels") == "tokens" else profile.head_epochs


def head_config(profile, probe, block: int, tied: bool, layers: int | None = None) -> dict:
    """Everything a trained head depends on: its data (fingerprint) and its hyper-parameters."""
    _check_block(probe, block)
    z, y = probe.z_train[block], probe.y_train
    return {
        "weights": probe.checkpoint_fp, "block": int(block), "n_train": int(len(y)), "n_in": int(z.shape[1]),
        "n_classes": int(probe.n_classes), "tied": bool(tied), "layers": int(layers or profile.head_layers),
        "hidden": profile.head_hidden, "epochs": head_epochs(profile, probe), "lr": profile.head_lr,
        "batch": profile.head_batch, "patience": profile.head_patience, "seed": profile.seed,
        "data": hashlib.sha256(np.ascontiguousarray(y).tobytes() + np.ascontiguousarray(z[:256]).tobytes()).hexdigest()[:16],
    }


def fit_head(profile, probe, block: int | None = None, *, tied: bool = False, layers: int | None = None,
             force: bool = False, progress: bool = True, cache_dir: str | Path | None = None):
    """Train (or load the cached) classifier head on ``probe``'s node vectors of ``block``."""
    block = profile.block if block is None else block
    cfg = head_config(profile, probe, block, tied, layers)
    key = hashlib.sha256(json.dumps(cfg, sort_keys=True).encode()).hexdigest()[:20]
    path = Path(cache_dir or runs_dir(profile) / "heads") / f"head-{key}"
    if path.exists() and not force:
        return load_head(path, n_in=cfg["n_in"])
    head, history = train_head(
        probe.z_train[block], probe.y_train, probe.n_classes, layers=cfg["layers"], hidden=profile.head_hidden,
        epochs=cfg["epochs"], lr=profile.head_lr, batch_size=profile.head_batch,
        patience=profile.head_patience, seed=profile.seed,
        tied_blocks=(probe.n_heads, probe.d_head) if tied else None, progress=progress)
    save_head(head, path, extra={"config": cfg, "history": history})
    return head


@dataclass
class NodalResult:
    """The aperture evaluated on every single node, every head, all nodes, and none."""
    singles: ApertureResult      # D sets {k}
    heads: ApertureResult        # n_heads sets of d_h nodes each
    full: ApertureResult         # the one set of all D nodes
    silent_accuracy: float       # A(∅): every node silenced, the head predicts a constant
    n_heads: int
    d_head: int
    n_classes: int
    label_names: list

    @property
    def n_nodes(self) -> int:
        return self.n_heads * self.d_head


def nodal_analysis(head, probe, block: int, profile, progress: bool = False) -> NodalResult:
    """Single nodes, heads and the full block of one trained head, on the held-out split."""
    _check_block(probe, block)
    z, y = probe.z_test[block], probe.y_test
    n_nodes = z.shape[1]
    if n_nodes != probe.n_heads * probe.d_head:
        raise ValueError(f"node vectors have {n_nodes} entries but the checkpoint has "
                         f"{probe.n_heads} heads x {probe.d_head} = {probe.n_heads * probe.d_head}")
    kw = dict(n_classes=probe.n_classes, min_hits=profile.min_hits, progress=progress)
    singles = evaluate_sets(head, z, y, single_node_sets(n_nodes), **kw)
    heads = evaluate_sets(head, z, y, head_sets(probe.n_heads, probe.d_head), **kw)
    full = evaluate_sets(head, z, y, [np.arange(n_nodes)], keep_predictions=True, **kw)
    silent = float((y == silent_prediction(head)).mean())
    return NodalResult(singles, heads, full, silent, probe.n_heads, probe.d_head, probe.n_classes, list(probe.label_names))


def node_table(res: NodalResult) -> pd.DataFrame:
    """One row per single node: its head, accuracy, |P|, |R| and mean diagonal confidence."""
    s = res.singles
    return pd.DataFrame({
        "node": np.arange(res.n_nodes), "head": np.arange(res.n_nodes) // res.d_head,
        "accuracy": s.accuracy, "predicted": s.n_predicted, "recognized": s.n_recognized, "mean_dc": s.mean_dc,
    })


def head_table(res: NodalResult, max_labels: int = 8) -> pd.DataFrame:
    """One row per head: accuracy, |P|, |R|, mean DC and the first recognised labels by name."""
    h = res.heads
    names = np.asarray(res.label_names, dtype=object)
    return pd.DataFrame({
        "head": np.arange(res.n_heads), "accuracy": h.accuracy, "predicted": h.n_predicted,
        "recognized": h.n_recognized, "mean_dc": h.mean_dc,
        "recognized_labels": [", ".join(map(str, names[np.flatnonzero(r)][:max_labels])) + (" ..." if r.sum() > max_labels else "")
                              for r in h.recognized],
    })


def node_jaccard(res: NodalResult, which: str = "singles") -> float:
    """Mean pairwise Jaccard overlap of the recognised sets of single nodes (or heads) that
    recognise at least one label (empty sets are excluded: their overlap is meaningless)."""
    r = getattr(res, which).recognized
    r = r[r.any(axis=1)]
    return float(mean_pairwise_jaccard(r)) if len(r) >= 2 else float("nan")


def head_jaccard(res: NodalResult) -> float:
    """Mean pairwise Jaccard of the 12 heads' recognised sets, empty sets included (two empty
    sets count as identical, so a fully symmetric model scores exactly 1)."""
    return float(mean_pairwise_jaccard(res.heads.recognized))


def head_jaccard_matrix(res: NodalResult) -> np.ndarray:
    return pairwise_jaccard(res.heads.recognized)


def nodal_summary(res: NodalResult) -> dict:
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
    }


def top_labels_by_frequency(y: np.ndarray, n: int) -> np.ndarray:
    """The ``n`` most frequent labels of ``y``, most frequent first (ties: lower label first)."""
    counts = np.bincount(y)
    order = np.lexsort((np.arange(len(counts)), -counts))
    return order[:min(n, int((counts > 0).sum()))]


def predict(head, z: np.ndarray, batch: int = 8192) -> np.ndarray:
    """Argmax predictions of a head with every node active, (N,) int64."""
    import torch
    out = []
    with torch.no_grad():
        for s in range(0, len(z), batch):
            out.append(head(torch.from_numpy(np.ascontiguousarray(z[s:s + batch]))).argmax(-1).numpy())
    return np.concatenate(out) if out else np.zeros(0, dtype=np.int64)


def symmetry_control(profile, probe_for, variants=("random", "symmetric"), block: int | None = None,
                     progress: bool = False) -> dict:
    """C3 at the node level: for each pre-training variant, a head on its node vectors and the
    aperture over heads and single nodes.  Symmetric variants get a tied head (per-head column
    blocks copied from head 0, docs/method.md); the others a standard one.

    ``probe_for(variant) -> Probe`` supplies the node vectors (token or FewRel task)."""
    block = profile.block if block is None else block
    out = {}
    for variant in variants:
        probe = probe_for(variant)
        head = fit_head(profile, probe, block, tied=(variant == "symmetric"), progress=progress)
        out[variant] = nodal_analysis(head, probe, block, profile)
    return out


def control_table(control: dict) -> pd.DataFrame:
    """One row per variant: head Jaccard, node Jaccard, median |R| per node and per head, accuracy."""
    rows = []
    for variant, res in control.items():
        s = nodal_summary(res)
        rows.append({"variant": variant, "head_jaccard": s["head_jaccard"], "node_jaccard": s["mean_jaccard_nodes"],
                     "median_recognized_node": s["median_recognized_node"],
                     "median_recognized_head": s["median_recognized_head"], "accuracy_full": s["accuracy_full"]})
    return pd.DataFrame(rows)


def accuracy_by_block(profile, probes: dict, progress: bool = False) -> pd.DataFrame:
    """Test accuracy of a head on every block's node vectors, for each pooling's probe.
    ``probes``: pooling name -> Probe holding all blocks."""
    rows = []
    for pooling, probe in probes.items():
        for block in sorted(probe.z_train):
            head = fit_head(profile, probe, block, progress=progress)
            acc = float((predict(head, probe.z_test[block]) == probe.y_test).mean())
            rows.append({"pooling": pooling, "block": block, "accuracy": acc})
    return pd.DataFrame(rows)
