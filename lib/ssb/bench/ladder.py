"""The scale ladder: does single-node SSB strengthen as the backbone learns?

    python -m ssb.bench ladder [--data-dir D] [--rung NAME=DIR ...] [--max-new N] [--out docs/scale_ladder]

Rungs, from no learning to a real pretrained BERT (a missing one is skipped and named, with the
command that makes it):

- ``untrained``: a BERT-6 at initialisation (the standard study run's configuration and
  tokenizer, random weights of seed ``seed + untrained_seeds``: not one of the controls below);
- ``quick``: the quick profile's model, 300 steps (``python -m ssb.bench learning train
  --profile quick --steps 300 --eval-every 50``: its last snapshot);
- ``standard@100``, ``@400``, ``@1600``, ``@2400``: the standard study run's snapshots, the
  learning-budget study's machinery (``python -m ssb.bench learning train --profile standard
  --steps 2400 --eval-every 200``);
- ``all-MiniLM-L6-v2``: the staged real pretrained BERT (``python -m ssb.data stage-checkpoint
  all-MiniLM-L6-v2``);
- ``--rung NAME=DIR``: any BERT-family checkpoint with its tokenizer.

Every rung is read the same way, by ONE analysis profile (``--profile``, quick's probe settings by
default), as a checkpoint (``backbones.backbone(checkpoint=...)``: its own tokenizer and config),
against ``untrained_seeds`` = K random initialisations of its own configuration
(``backbones.untrained_controls``; for every BERT-6 rung the same K networks):

- the learning axis: the token probe (top-K tokens, masked positions) and the FewRel label probe,
  each against the constant predictor (``stats.probe_gate``) and against the controls
  (``stats.beyond_controls``: a 95 % prediction interval), tokens at blocks ``--token-blocks``
  (3 and 6), labels at ``--label-block`` (6);
- the C1/C2 order parameters at the same blocks (``recognition.claim_stats`` with the controls):
  the fraction of single nodes beyond their permutation null (Wilson), that fraction beyond the
  controls' (prediction interval), median and mean |R| per node and per head (bootstrap over
  nodes / heads), node specificity against the swap null, the mean pairwise Jaccard of the heads'
  recognised sets (bootstrap over heads);
- C6: ⟨APT⟩ at each token block (bootstrap over tokens).

Each rung's numbers are cached in ``runs/ladder-<profile>/<rung>.json`` (keyed by the rung's
weights, the analysis profile and ``VERSION``), so the command resumes after an interruption and
adds a new rung without redoing the others.  Writes ``<out>.csv``, ``.md``, ``.png`` atomically.

The trend rule, fixed before any rung was measured: an order parameter "strengthens with
learning" when, over the rungs, its Spearman correlation with the learning axis (the probe's margin
over the controls) is positive with an exact permutation p < 0.05 AND the most-learned rung's
95 % interval lies entirely above the untrained rung's; "weakens" mirrors it; anything else is
"no clear trend".
"""
from __future__ import annotations

import argparse
import dataclasses
import itertools
import json
import math
import os
from pathlib import Path

import numpy as np

from .. import atomic, profiles
from ._args import positive_int, profile_name
from ..results import repo_root, runs_dir

VERSION = 1
DEFAULT_STANDARD_STEPS = (100, 400, 1600, 2400)
MINILM = "all-MiniLM-L6-v2"


@dataclasses.dataclass(frozen=True)
class Rung:
    name: str
    source: Path | None          # a checkpoint directory (None: not available)
    random_init: bool = False    # True: the source's configuration and tokenizer with random weights
    missing: str = ""            # how to make it, when source is None


def default_rungs(data_dir=None, extra: dict[str, str] | None = None) -> list[Rung]:
    """The ladder's rungs in order of learning (see the module docstring); unavailable ones carry
    the command that makes them."""
    from .learning import snapshot_dirs, study_dir
    from ..checkpoint_staging import checkpoint_dir

    std = profiles.get_profile("standard")
    std_snaps = snapshot_dirs(study_dir(std) / "pretrain" / "snapshots")
    if not std_snaps:                                        # the standard run's own snapshots, if it kept them
        std_snaps = snapshot_dirs(runs_dir(std) / "pretrain" / "main" / "snapshots")
    make_std = "python -m ssb.bench learning train --profile standard --steps 2400 --eval-every 200"
    quick_snaps = snapshot_dirs(study_dir(profiles.get_profile("quick")) / "pretrain" / "snapshots")
    rungs = [Rung("untrained", std_snaps[min(std_snaps)] if std_snaps else None, random_init=True, missing=make_std),
             Rung("quick", quick_snaps.get(300),
                  missing="python -m ssb.bench learning train --profile quick --steps 300 --eval-every 50")]
    rungs += [Rung(f"standard@{s}", std_snaps.get(s), missing=make_std) for s in DEFAULT_STANDARD_STEPS]
    minilm = checkpoint_dir(MINILM, data_dir)
    rungs.append(Rung(MINILM, minilm if (minilm / "config.json").is_file() else None,
                      missing=f"python -m ssb.data stage-checkpoint {MINILM}"))
    for name, path in (extra or {}).items():
        p = Path(path).expanduser()
        if not (p / "config.json").is_file():
            raise FileNotFoundError(f"--rung {name}={path}: no config.json in {p} (a rung is a checkpoint directory)")
        rungs.append(Rung(name, p.absolute()))
    return rungs


def _interval_of(x, seed: int) -> dict:
    from .. import stats
    x = np.asarray(x, dtype=float)
    if len(x) < 2:
        return {"value": float(x.mean()) if len(x) else None, "lo": None, "hi": None}
    m, ci = stats.mean_ci(x, seed=seed)
    return {"value": m, "lo": ci[0], "hi": ci[1]}


def _head_jaccard_rows(res) -> np.ndarray:
    from ..metrics import pairwise_jaccard
    j = pairwise_jaccard(res.heads.recognized)
    np.fill_diagonal(j, 0.0)
    return j.sum(1) / max(1, res.n_heads - 1)


def order_parameters(task: str, block: int, res, controls: list, profile, n_permutations: int, *,
                     predictions=None, probe=None) -> dict:
    """One row: the learning axis and the order parameters of one task at one block (see the
    module docstring), each with its interval."""
    from .. import apt, recognition
    st, _ = recognition.claim_stats(res, untrained_controls=controls, n_permutations=n_permutations,
                                    seed=profile.seed, what=task)
    g, gu, c = st.gates["probe"], st.gates.get("probe_untrained", {}), st.checks
    row = {"task": task, "block": block, "classes": res.n_classes, "nodes": res.n_nodes, "heads": res.n_heads,
           "probe_accuracy": g["value"], "constant_accuracy": g["null"],
           "margin_over_constant": g.get("difference"), "margin_over_constant_lo": (g.get("ci") or [None, None])[0],
           "margin_over_constant_hi": (g.get("ci") or [None, None])[1], "probe_gate": g["passed"],
           "margin_over_untrained": gu.get("difference"), "margin_over_untrained_lo": (gu.get("ci") or [None, None])[0],
           "margin_over_untrained_hi": (gu.get("ci") or [None, None])[1], "probe_untrained_gate": gu.get("passed"),
           "controls_accuracy": gu.get("null")}
    for key, name in (("beyond_permutation_null", "fraction_beyond_null"), ("beyond_untrained", "beyond_untrained"),
                      ("node_specific", "node_specific"), ("heads_beyond_null", "heads_beyond_null")):
        rec = c.get(key, {})
        ci = rec.get("ci") or [None, None]
        row.update({name: rec.get("value"), f"{name}_lo": ci[0], f"{name}_hi": ci[1]})
    for what, counts in (("node", res.singles.n_recognized), ("head", res.heads.n_recognized)):
        iv = _interval_of(counts, profile.seed)
        row.update({f"mean_R_{what}": iv["value"], f"mean_R_{what}_lo": iv["lo"], f"mean_R_{what}_hi": iv["hi"],
                    f"median_R_{what}": float(np.median(counts))})
    iv = _interval_of(_head_jaccard_rows(res), profile.seed)
    row.update({"head_jaccard": iv["value"], "head_jaccard_lo": iv["lo"], "head_jaccard_hi": iv["hi"]})
    if predictions is not None:
        bands = apt.block_apt_bands(probe.y_test, {block: predictions}, probe.n_classes, profile.min_count,
                                    seed=profile.seed, clusters=probe.test_clusters)
        r = bands.iloc[0]
        row.update({"mean_apt": float(r["mean_apt"]), "mean_apt_lo": float(r["mean_apt_lo"]),
                    "mean_apt_hi": float(r["mean_apt_hi"])})
    return row


def _rung_backbone(profile, rung: Rung, data_dir):
    import torch
    from transformers import BertModel
    from .. import backbones
    from ..node_vectors import attention_projections

    bb = backbones.backbone(profile, "main", data_dir, checkpoint=str(rung.source), progress=False)
    if rung.random_init:
        seed = profile.seed + profile.untrained_seeds            # not one of the controls' seeds
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            model = BertModel(bb.model.config.__class__.from_dict(bb.model.config.to_dict()), add_pooling_layer=False)
        attention_projections(model)
        model.eval().requires_grad_(False)
        bb = dataclasses.replace(bb, model=model, source=f"{bb.source}'s configuration, random init seed {seed}")
    return bb


def measure_rung(profile, rung: Rung, data_dir, split, token_blocks, label_block: int, n_permutations: int) -> list[dict]:
    """The rows of one rung: tokens at each of ``token_blocks``, labels at ``label_block``."""
    from .. import backbones, controls, probes, recognition
    from ..readouts import fit_readout, predict

    bb = _rung_backbone(profile, rung, data_dir)
    n_blocks = int(bb.model.config.num_hidden_layers)
    token_blocks = [b for b in token_blocks if b <= n_blocks]
    label_block = min(label_block, n_blocks)
    corpus = backbones.backbone_corpus(profile, bb, data_dir, progress=False)
    rows = []
    probe_of = lambda b: probes.token_probe(profile, b.model, b.tokenizer, corpus, token_blocks, progress=False)  # noqa: E731
    probe = probe_of(bb)
    for block in token_blocks:
        fitted = controls.fit(profile, bb, probe_of, data_dir, block=block, progress=False)
        head = fit_readout(profile, probe, block, progress=False)
        res = recognition.recognize(head, probe, block, profile)
        rows.append(order_parameters("tokens", block, res, fitted.results, profile, n_permutations,
                                     predictions=predict(head, probe.z_test[block]), probe=probe))
    label_of = lambda b: probes.fewrel_probe(profile, b.model, b.tokenizer, split, [label_block], progress=False)  # noqa: E731
    lprobe = label_of(bb)
    fitted = controls.fit(profile, bb, label_of, data_dir, block=label_block, progress=False)
    res = recognition.recognize(fit_readout(profile, lprobe, label_block, progress=False), lprobe, label_block, profile)
    rows.append(order_parameters("labels", label_block, res, fitted.results, profile, n_permutations))
    for r in rows:
        r.update(rung=rung.name, source=_display(rung.source) + (" (random init)" if rung.random_init else ""))
    return rows


def _display(path) -> str:
    try:
        return str(Path(path).resolve().relative_to(repo_root()))
    except ValueError:
        data = os.environ.get("SSB_DATA_DIR")
        if data:
            try:
                return "$SSB_DATA_DIR/" + str(Path(path).resolve().relative_to(Path(data).resolve()))
            except ValueError:
                pass
        return Path(path).name


def _rung_key(profile, rung: Rung, token_blocks, label_block, n_permutations) -> dict:
    from ..checkpoint_staging import sha256_of
    weights = rung.source / "model.safetensors"
    return {"version": VERSION, "profile": profile.to_dict(), "random_init": rung.random_init,
            "weights": sha256_of(weights) if weights.is_file() else str(rung.source),
            "token_blocks": list(token_blocks), "label_block": label_block, "n_permutations": n_permutations}


# ----------------------------------------------------------------------------- the trend rule


def exact_spearman(x, y) -> tuple[float | None, float | None, float | None]:
    """Spearman's rho of x and y with its one-sided permutation p-values (greater, less): exact
    over all n! orders for n <= 8, else 20,000 seeded permutations.  (None, None, None) under 3
    points or without spread."""
    from scipy.stats import rankdata
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    ok = np.isfinite(x) & np.isfinite(y)
    x, y = x[ok], y[ok]
    n = len(x)
    if n < 3 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return None, None, None
    rx, ry = rankdata(x), rankdata(y)
    rx, ry = rx - rx.mean(), ry - ry.mean()
    scale = np.sqrt((rx ** 2).sum() * (ry ** 2).sum())
    rho = float(rx @ ry / scale)
    if n <= 8:
        perms = np.array(list(itertools.permutations(ry)))
    else:
        rng = np.random.default_rng(0)
        perms = np.array([rng.permutation(ry) for _ in range(20_000)])
    null = perms @ rx / scale
    return rho, float((null >= rho - 1e-12).mean()), float((null <= rho + 1e-12).mean())


def trend(rows: list[dict], parameter: str, axis: str = "margin_over_untrained") -> dict:
    """The trend rule of the module docstring for one order parameter over one task/block's rungs."""
    rows = [r for r in rows if r.get(parameter) is not None and r.get(axis) is not None]
    if len(rows) < 3:
        return {"parameter": parameter, "verdict": "not enough rungs", "rho": None, "p": None}
    rho, p_up, p_down = exact_spearman([r[axis] for r in rows], [r[parameter] for r in rows])
    untrained = next((r for r in rows if r["rung"] == "untrained"), min(rows, key=lambda r: r[axis]))
    top = max(rows, key=lambda r: r[axis])
    lo, hi = f"{parameter}_lo", f"{parameter}_hi"
    above = None not in (top.get(lo), untrained.get(hi)) and top[lo] > untrained[hi]
    below = None not in (top.get(hi), untrained.get(lo)) and top[hi] < untrained[lo]
    if rho is None:
        verdict = "no clear trend"
    elif rho > 0 and p_up < 0.05 and above:
        verdict = "strengthens"
    elif rho < 0 and p_down < 0.05 and below:
        verdict = "weakens"
    else:
        verdict = "no clear trend"
    return {"parameter": parameter, "verdict": verdict, "rho": rho, "p": p_up if (rho or 0) >= 0 else p_down,
            "top": top["rung"], "untrained": untrained["rung"]}


PARAMETERS = {"fraction_beyond_null": "fraction of nodes beyond their permutation null",
              "beyond_untrained": "that fraction minus the controls'",
              "mean_R_node": "mean |R| per node", "mean_R_head": "mean |R| per head",
              "node_specific": "node Jaccard minus swap null (negative: specific)",
              "head_jaccard": "mean pairwise Jaccard of heads' sets", "mean_apt": "⟨APT⟩"}


def write_report(rows: list[dict], skipped: list[Rung], out: Path, command: str, profile) -> list[dict]:
    """``out``.csv/.md/.png from the rungs' rows; returns the trend verdicts."""
    import pandas as pd
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    df = pd.DataFrame(rows)
    order = {r: i for i, r in enumerate(dict.fromkeys(df["rung"]))}
    df = df.sort_values(["task", "block", "rung"], key=lambda s: s.map(order) if s.name == "rung" else s)
    out.parent.mkdir(parents=True, exist_ok=True)
    with atomic.atomic_path(out.with_suffix(".csv"), suffix=".csv") as f:
        df.to_csv(f, index=False, float_format="%.6g")
    groups = [(t, int(b)) for t, b in dict.fromkeys(zip(df["task"], df["block"]))]
    trends = []
    for task, block in groups:
        part = [r for r in rows if r["task"] == task and r["block"] == block]
        for p in PARAMETERS:
            if any(r.get(p) is not None for r in part):
                trends.append({"task": task, "block": block, **trend(part, p)})
    # figure: each order parameter against the learning axis, one colour per task/block
    params = [p for p in PARAMETERS if p in df and df[p].notna().any()]
    ncol = 4
    nrow = math.ceil((len(params) + 1) / ncol)
    fig, axes = plt.subplots(nrow, ncol, figsize=(4.2 * ncol, 3.4 * nrow), squeeze=False)
    axes = axes.ravel()
    markers = dict(zip(order, "o^sDv<>pP*XhH"))
    for ax, p in zip(axes, ["probe_accuracy"] + params):
        for i, (task, block) in enumerate(groups):
            part = df[(df["task"] == task) & (df["block"] == block)]
            x = part["margin_over_untrained"].astype(float)
            y = part[p].astype(float)
            lo = part.get(f"{p}_lo", pd.Series([np.nan] * len(part), index=part.index)).astype(float)
            hi = part.get(f"{p}_hi", pd.Series([np.nan] * len(part), index=part.index)).astype(float)
            colour = f"C{i}"
            ax.plot(x, y, color=colour, lw=0.8, alpha=0.5)
            yerr = np.vstack([(y - lo).clip(lower=0).fillna(0), (hi - y).clip(lower=0).fillna(0)])
            xerr = np.vstack([(x - part["margin_over_untrained_lo"].astype(float)).clip(lower=0).fillna(0),
                              (part["margin_over_untrained_hi"].astype(float) - x).clip(lower=0).fillna(0)])
            for j, (_, r) in enumerate(part.iterrows()):
                ax.errorbar(x.iloc[j], y.iloc[j], yerr=yerr[:, j:j + 1], xerr=xerr[:, j:j + 1], color=colour,
                            marker=markers.get(r["rung"], "o"), ms=5, capsize=2, lw=0.8,
                            label=f"{task}, block {block}" if j == 0 else None)
        ax.axvline(0, color="gray", ls=":", lw=0.8)
        verdicts = [t for t in trends if t["parameter"] == p]
        title = PARAMETERS.get(p, "probe accuracy")
        ax.set_title(title, fontsize=9)
        if verdicts:
            ax.text(0.02, 0.98, "\n".join(f"{t['task'][0]}{t['block']}: {t['verdict']}" for t in verdicts),
                    transform=ax.transAxes, fontsize=7, va="top")
        ax.set_xlabel("probe margin over untrained controls", fontsize=8)
    for ax in axes[len(params) + 1:]:
        ax.axis("off")
    handles = [plt.Line2D([], [], color="k", marker=m, ls="", label=r) for r, m in markers.items()]
    axes[0].legend(fontsize=7, loc="lower right")
    fig.legend(handles=handles, loc="lower right", fontsize=7, ncol=2, title="rung")
    fig.suptitle(f"Scale ladder: single-node order parameters against what the backbone learned "
                 f"(analysis profile {profile.name}; bars: 95 % intervals)", fontsize=10)
    fig.tight_layout(rect=(0, 0, 1, 0.96))
    with atomic.atomic_path(out.with_suffix(".png"), suffix=".png") as f:
        fig.savefig(f, format="png", dpi=110)
    plt.close(fig)
    atomic.write_text(out.with_suffix(".md"), _markdown(df, trends, skipped, out, command, profile))
    return trends


def _fmt(v, lo=None, hi=None) -> str:
    if v is None or (isinstance(v, float) and not np.isfinite(v)):
        return "–"
    s = f"{v:.3g}"
    if lo is not None and hi is not None and np.isfinite(lo) and np.isfinite(hi):
        s += f" [{lo:.3g}, {hi:.3g}]"
    return s


def _markdown(df, trends, skipped, out: Path, command: str, profile) -> str:
    lines = ["# Scale ladder: single-node SSB against how much the backbone learned", "",
             f"Generated by `{command}`; do not edit by hand. Table: `{out.name}.csv`, figure: `{out.name}.png`. "
             f"Every rung is read by the `{profile.name}` profile's probes (top {profile.token_classes} tokens, "
             f"{profile.token_examples:,} training positions; FewRel {profile.fewrel_file}), against "
             f"{profile.untrained_seeds} random initialisations of its own configuration. Intervals are 95 %: "
             "Wilson for fractions, prediction intervals over the controls for margins over them, bootstrap "
             "(over nodes, heads or tokens) for means.", "",
             "How to read it: the learning axis is the probe's margin over the untrained controls (what "
             "pre-training added that a random network of the same shape does not give). An order parameter "
             "**strengthens with learning** when its Spearman correlation with that axis is positive (exact "
             "permutation p < 0.05) and the most-learned rung's interval lies above the untrained rung's; "
             "**weakens** mirrors it; anything else is **no clear trend**. The rule was fixed before any rung "
             "was measured.", ""]
    if skipped:
        lines += ["Rungs not available here (and the command that makes each):", ""]
        lines += [f"- `{r.name}`: `{r.missing}`" for r in skipped]
        lines.append("")
    lines += ["## Trends", "", "| task | block | order parameter | Spearman ρ | p | verdict |", "|---|---|---|---|---|---|"]
    for t in trends:
        lines.append(f"| {t['task']} | {t['block']} | {PARAMETERS[t['parameter']]} | {_fmt(t['rho'])} | "
                     f"{_fmt(t['p'])} | **{t['verdict']}** |")
    lines.append("")
    for (task, block), part in df.groupby(["task", "block"], sort=False):
        lines += [f"## {task.capitalize()}, block {block}", "",
                  "| rung | probe acc. | margin over constant | margin over untrained | beyond null | beyond "
                  "controls | mean R node | median R node | mean R head | node-specific | head Jaccard"
                  + (" | ⟨APT⟩" if task == "tokens" else "") + " |",
                  "|---" * (11 + (task == "tokens")) + "|"]
        for _, r in part.iterrows():
            cells = [r["rung"], _fmt(r["probe_accuracy"]),
                     _fmt(r["margin_over_constant"], r["margin_over_constant_lo"], r["margin_over_constant_hi"]),
                     _fmt(r["margin_over_untrained"], r["margin_over_untrained_lo"], r["margin_over_untrained_hi"]),
                     _fmt(r["fraction_beyond_null"], r["fraction_beyond_null_lo"], r["fraction_beyond_null_hi"]),
                     _fmt(r["beyond_untrained"], r["beyond_untrained_lo"], r["beyond_untrained_hi"]),
                     _fmt(r["mean_R_node"], r["mean_R_node_lo"], r["mean_R_node_hi"]), _fmt(r["median_R_node"]),
                     _fmt(r["mean_R_head"], r["mean_R_head_lo"], r["mean_R_head_hi"]),
                     _fmt(r["node_specific"], r["node_specific_lo"], r["node_specific_hi"]),
                     _fmt(r["head_jaccard"], r["head_jaccard_lo"], r["head_jaccard_hi"])]
            if task == "tokens":
                cells.append(_fmt(r.get("mean_apt"), r.get("mean_apt_lo"), r.get("mean_apt_hi")))
            lines.append("| " + " | ".join(str(c) for c in cells) + " |")
        lines.append("")
    return "\n".join(lines)


def run(profile, data_dir=None, extra: dict | None = None, out: Path | None = None, token_blocks=(3, 6),
        label_block: int = 6, n_permutations: int = 200, max_new: int | None = None, command: str = "",
        rungs: list[Rung] | None = None, progress: bool = True) -> list[dict]:
    """Measure every available rung not yet cached (at most ``max_new``), then write the report."""
    from .. import fewrel
    rungs = default_rungs(data_dir, extra) if rungs is None else rungs
    cache = runs_dir(profile).parent / f"ladder-{profile.name}"
    split = fewrel.load_split(profile, data_dir)
    rows, skipped, new = [], [], 0
    for rung in rungs:
        if rung.source is None:
            skipped.append(rung)
            if progress:
                print(f"rung {rung.name}: not available ({rung.missing})", flush=True)
            continue
        key = _rung_key(profile, rung, token_blocks, label_block, n_permutations)
        f = cache / f"{rung.name.replace('/', '_')}.json"
        if f.exists():
            try:
                saved = json.loads(f.read_text())
            except json.JSONDecodeError:
                saved = {}
            if saved.get("key") == key:
                rows += saved["rows"]
                continue
        if max_new is not None and new >= max_new:
            skipped.append(dataclasses.replace(rung, missing="not measured yet (--max-new)"))
            continue
        new += 1
        if progress:
            print(f"rung {rung.name}: measuring {_display(rung.source)} ...", flush=True)
        measured = measure_rung(profile, rung, data_dir, split, token_blocks, label_block, n_permutations)
        atomic.write_json(f, {"key": key, "rows": measured})
        rows += measured
    if not rows:
        raise FileNotFoundError("no rung available: " + "; ".join(f"{r.name}: {r.missing}" for r in skipped))
    out = out or repo_root() / "docs" / "scale_ladder"
    return write_report(rows, skipped, out, command or "python -m ssb.bench ladder", profile)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(prog="python -m ssb.bench ladder", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--profile", type=profile_name, default="quick", help="the analysis profile (probe settings)")
    ap.add_argument("--data-dir", default=os.environ.get("SSB_DATA_DIR"))
    ap.add_argument("--rung", action="append", default=[], metavar="NAME=DIR", help="another checkpoint as a rung")
    ap.add_argument("--token-blocks", default="3,6", help="blocks of the token analysis (default 3,6)")
    ap.add_argument("--label-block", type=positive_int, default=6)
    ap.add_argument("--n-permutations", type=positive_int, default=200)
    ap.add_argument("--max-new", type=int, default=None, help="measure at most this many new rungs (0: report only)")
    ap.add_argument("--out", default=None, help="output stem (default docs/scale_ladder)")
    a = ap.parse_args(argv)
    extra = {}
    for item in a.rung:
        name, sep, path = item.partition("=")
        if not sep or not name or not path:
            ap.error(f"--rung expects NAME=DIR, got {item!r}")
        extra[name] = path
    try:
        blocks = tuple(int(b) for b in a.token_blocks.split(","))
    except ValueError:
        ap.error(f"--token-blocks expects block numbers like 3,6, got {a.token_blocks!r}")
    if a.n_permutations < 20:
        ap.error("--n-permutations must be at least 20")
    profile = profiles.get_profile(a.profile)
    from transformers.utils import logging as hf_logging
    hf_logging.set_verbosity_error()       # no "UNEXPECTED keys" tables: load_backbone checks the keys itself
    command = "python -m ssb.bench ladder" + "".join(f" --rung {r}" for r in a.rung)
    trends = run(profile, a.data_dir, extra, Path(a.out) if a.out else None, blocks, a.label_block, a.n_permutations,
                 a.max_new, command)
    for t in trends:
        print(f"{t['task']} block {t['block']}: {PARAMETERS[t['parameter']]}: {t['verdict']}")


if __name__ == "__main__":
    main()
