"""Learning-budget study: how many pre-training steps does each gate of the claims table need?

    python -m ssb.bench learning train    [--profile quick] [--steps 6000]   # one long run, snapshots
    python -m ssb.bench learning evaluate [--profile quick] [--snapshots DIR] [--token-probe]
    python -m ssb.bench learning evaluate --profile standard --token-probe   # the standard run's own snapshots

``train`` runs ONE long pre-training of the profile's model (same corpus, tokenizer, seed and
learning rate as the profile; only ``steps`` is longer) and keeps its weights at a log-spaced
grid of steps (``pretrain(..., snapshot_steps=...)``). It resumes after an interruption, like
every pre-training here. Note: snapshot t of a T-step run has not had its learning rate decayed
to zero, so it slightly under-states what a t-step run of its own reaches.

``evaluate`` measures, at every snapshot found (re-runnable: each snapshot's result is cached in
``runs/study-<profile>/evaluations/step_NNNNNN.json`` and skipped afterwards):

- the backbone gate: held-out masked-token accuracy on every held-out sequence (fixed masks)
  against the most-frequent-token baseline, exact McNemar, p < ALPHA, with the 95 % interval
  of the paired difference (``heldout.backbone_evaluation``);
- the head gap g(t) of the snapshot (the random variant's order parameter) and its node gap;
- the FewRel label probe at ``profile.block`` ([CLS], the profile's 1-FC readout, ``heads.fit_readout``)
  against the constant predictor (``stats.probe_gate``, p < GATE_ALPHA) and chance 1/C;
- with ``--token-probe``: the token probe (``probes.token_probe``, the profile's head settings)
  against the constant predictor, for the profile's K most frequent tokens (``token_classes``) at
  every block 1..L, and for K in ``TOKEN_CLASS_GRID`` (64, 256) at
  ``profile.block``. Columns ``token<K>_b<block>_*``; ``token_*`` is the profile's K at its block.

and writes ``docs/learning_budget_<profile>.{csv,md,png}`` (atomic writes): one row per snapshot and the
first step (and tokens) at which each gate passes.
"""
from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import numpy as np

from .. import atomic, profiles
from ._args import non_negative_int, positive_int, profile_name
from ..results import repo_root, runs_dir

# token-probe class counts measured at the analysed block besides the profile's own K (0 = all; left out:
# a 4,096-class head on 80k positions costs ~10 min a snapshot on one core)
TOKEN_CLASS_GRID = (64, 256)
# bump when what ``evaluate_snapshot`` measures changes, so cached evaluations are redone
EVALUATION_VERSION = 2


def study_dir(profile):
    return runs_dir(profile).parent / f"study-{profile.name}"


def train(profile, data_dir=None, progress: bool = True):
    from ..corpus import prepare as prepare_corpus
    from ..pretrain import pretrain, snapshot_grid
    corpus = prepare_corpus(profile, data_dir, progress=progress)
    grid = snapshot_grid(profile.steps)
    return pretrain(profile, study_dir(profile) / "pretrain", corpus.tokenizer, corpus.train_sequences,
                    corpus.eval_sequences, init="random", progress=progress, desc="study pretrain",
                    snapshot_steps=grid)


def snapshot_dirs(snapshots: Path) -> dict[int, Path]:
    """step -> snapshot directory (``step_NNNNNN`` holding a finished ``save_pretrained``)."""
    out = {}
    for d in sorted(Path(snapshots).glob("step_*")):
        if (d / "model.safetensors").exists() and (d / "run_config.json").exists():
            out[int(d.name.split("_")[1])] = d
    return out


def _probe_row(prefix: str, probe, head_pred, block: int) -> dict:
    from .. import stats
    g = stats.probe_gate(probe.y_test, head_pred, probe.y_train, name=f"{prefix} probe learned")
    return {f"{prefix}_accuracy": g["value"], f"{prefix}_constant": g["null"], f"{prefix}_chance": 1.0 / probe.n_classes,
            f"{prefix}_ci_lo": g["ci"][0], f"{prefix}_ci_hi": g["ci"][1], f"{prefix}_p": g["p"],
            f"{prefix}_gate": g["passed"], f"{prefix}_block": block}


def evaluate_snapshot(profile, directory: Path, corpus, split=None, token_probe: bool = False,
                      progress: bool = False) -> dict:
    """One row of the study: the backbone gate, g(t), and the probes of one snapshot."""
    from .. import probes
    from ..backbones import load_backbone
    from ..readouts import fit_readout, predict
    from ..mlm import MaskingSpec
    from ..model import head_gap, node_gap
    from ..heldout import backbone_evaluation, most_frequent_token
    from transformers import BertForMaskedLM

    cfg = json.loads((directory / "run_config.json").read_text())
    step = int(cfg["snapshot_step"])
    model = BertForMaskedLM.from_pretrained(directory).eval()
    spec = MaskingSpec.from_tokenizer(corpus.tokenizer, profile.mask_prob)
    ev = backbone_evaluation(model, corpus.eval_sequences, spec, seed=profile.seed,
                             baseline_token=most_frequent_token(corpus.train_sequences, spec.special_ids))
    g = ev["gate"]
    row = {"step": step, "tokens": step * int(cfg["batch_size"]) * int(cfg["max_len"]),
           "train_seconds": float(cfg.get("elapsed") or 0.0), "lr": float(cfg["lr"]),
           "mlm_accuracy": g["value"], "baseline_accuracy": g["null"], "mlm_ci_lo": g["ci"][0], "mlm_ci_hi": g["ci"][1],
           "mlm_p": g["p"], "backbone_gate": g["passed"], "heldout_positions": ev["n_positions"],
           "head_gap": head_gap(model), "node_gap": node_gap(model)}
    backbone = load_backbone(directory)
    if split is not None:
        probe = probes.fewrel_probe(profile, backbone, corpus.tokenizer, split, [profile.block], progress=progress)
        head = fit_readout(profile, probe, profile.block, progress=progress)
        row.update(_probe_row("fewrel", probe, predict(head, probe.z_test[profile.block]), profile.block))
    if token_probe:
        # the profile's K (profile.token_classes) at every block: the gate and SSB along the blocks;
        # at the analysed block also the other K of TOKEN_CLASS_GRID (0 = the whole vocabulary)
        blocks = list(range(1, profile.n_blocks + 1))
        vocab = len(corpus.tokenizer)           # a K not below the vocabulary is the whole vocabulary (0)
        own = profile.token_classes if profile.token_classes < vocab else 0
        for k in dict.fromkeys(k if k < vocab else 0 for k in (own, *TOKEN_CLASS_GRID)):
            at = blocks if k == own else [profile.block]
            probe = probes.token_probe(profile, backbone, corpus.tokenizer, corpus, at, progress=progress, classes=k)
            for b in at:
                head = fit_readout(profile, probe, b, progress=progress)
                label = f"token{k or 'all'}_b{b}"
                row.update(_probe_row(label, probe, predict(head, probe.z_test[b]), b))
        main_label = f"token{own or 'all'}_b{profile.block}"
        row.update({k.replace(main_label, "token"): v for k, v in row.items() if k.startswith(main_label + "_")})
        row["token_classes"] = own or "all"
    return row


def first_passing(rows: list[dict], gate: str) -> dict | None:
    """The first snapshot from which ``gate`` passes at every later snapshot too (None: never)."""
    rows = sorted((r for r in rows if r.get(gate) is not None), key=lambda r: r["step"])
    for i, r in enumerate(rows):
        if all(x[gate] for x in rows[i:]):
            return {"step": r["step"], "tokens": r["tokens"]}
    return None


def markdown_table(df) -> str:
    """A pipe table of ``df`` (floats to 4 significant digits)."""
    def cell(v):
        if isinstance(v, (float, np.floating)):
            return "" if not np.isfinite(v) else f"{v:.4g}"
        return "" if v is None else str(v)
    head = "| " + " | ".join(df.columns) + " |"
    rule = "|" + "|".join("---" for _ in df.columns) + "|"
    body = ["| " + " | ".join(cell(v) for v in row) + " |" for row in df.itertuples(index=False)]
    return "\n".join([head, rule, *body])


GATES = {"backbone_gate": "backbone: held-out MLM accuracy > most-frequent-token baseline (McNemar p < 0.05)",
         "fewrel_gate": "FewRel label probe > constant predictor (McNemar p < 0.01)",
         "token_gate": "token probe > constant predictor (McNemar p < 0.01)"}


def _token_column_order(column: str):
    """token<K>_b<block>_accuracy sorted by K (64, 256, ..., all last), then block."""
    k, block = column[len("token"):].split("_b")
    return (float("inf") if k == "all" else int(k), int(block.split("_")[0]))


def write_report(rows: list[dict], profile, out_stem: Path, command: str) -> dict:
    """docs/learning_budget.{csv,md,png} from the study's rows; returns {gate: first passing}."""
    import pandas as pd
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    df = pd.DataFrame(sorted(rows, key=lambda r: r["step"]))
    firsts = {g: first_passing(rows, g) for g in GATES if g in df}
    out_stem.parent.mkdir(parents=True, exist_ok=True)
    with atomic.atomic_path(out_stem.with_suffix(".csv"), suffix=".csv") as f:
        df.to_csv(f, index=False, float_format="%.6g")
    token_cols = sorted((c for c in df if c.startswith("token") and c.endswith("_accuracy") and "_b" in c),
                        key=_token_column_order)
    own = str(df["token_classes"].iloc[-1]) if "token_classes" in df else str(profile.token_classes or "all")
    per_block = [c for c in token_cols if c.startswith(f"token{own}_b")]
    fig, axes = plt.subplots(1, 3 if per_block else 2, figsize=(16 if per_block else 11, 4))
    ax = axes[0]
    ax.plot(df["step"], df["mlm_accuracy"], marker="o", label="held-out MLM accuracy")
    ax.fill_between(df["step"], df["baseline_accuracy"] + df["mlm_ci_lo"], df["baseline_accuracy"] + df["mlm_ci_hi"],
                    alpha=0.25, label="95 % interval (paired)")
    ax.plot(df["step"], df["baseline_accuracy"], ls="--", color="gray", label="most-frequent-token baseline")
    if "token_accuracy" in df:
        ax.plot(df["step"], df["token_accuracy"], marker="s", label=f"token probe (block {profile.block})")
        ax.plot(df["step"], df["token_constant"], ls=":", color="C2", label="token constant predictor")
    ax.set(xscale="log", xlabel="pre-training step", ylabel="accuracy", title="Backbone and token probe")
    ax.legend(fontsize=7)
    ax = axes[1]
    if "fewrel_accuracy" in df:
        ax.plot(df["step"], df["fewrel_accuracy"], marker="o", color="C1", label=f"FewRel probe (block {profile.block})")
        ax.fill_between(df["step"], df["fewrel_constant"] + df["fewrel_ci_lo"], df["fewrel_constant"] + df["fewrel_ci_hi"],
                        color="C1", alpha=0.25)
        ax.plot(df["step"], df["fewrel_chance"], ls="--", color="gray", label="chance 1/C")
        ax.plot(df["step"], df["fewrel_constant"], ls=":", color="k", label="constant predictor")
    ax.set(xscale="log", xlabel="pre-training step", ylabel="accuracy", title="FewRel label probe")
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=7)
    if per_block:
        ax = axes[2]
        blocks = [int(c.split("_b")[1].split("_")[0]) for c in per_block]
        cmap = plt.get_cmap("viridis")
        for i, (_, r) in enumerate(df.iterrows()):
            gain = [r[c] - r[c.replace("_accuracy", "_constant")] for c in per_block]
            ax.plot(blocks, gain, marker="o", color=cmap(i / max(1, len(df) - 1)), label=f"step {int(r['step'])}")
        ax.axhline(0, color="gray", ls="--", lw=1)
        ax.set(xlabel="block", ylabel="probe accuracy - constant predictor", xticks=blocks,
               title=f"Token probe along the blocks (top {own} tokens)")
        ax.legend(fontsize=7, ncol=2)
    lrs = ", ".join(f"{v:g}" for v in sorted(set(df["lr"])))
    fig.suptitle(f"Learning budget, profile {profile.name} (study run's peak lr {lrs}, d_head {profile.d_head}, "
                 f"{profile.batch_size}x{profile.max_len} tokens a step)", fontsize=9)
    fig.tight_layout()
    with atomic.atomic_path(out_stem.with_suffix(".png"), suffix=".png") as f:
        fig.savefig(f, format="png", dpi=110)
    plt.close(fig)
    cols = [c for c in ("step", "tokens", "lr", "train_seconds", "mlm_accuracy", "baseline_accuracy", "mlm_ci_lo", "mlm_ci_hi",
                        "mlm_p", "backbone_gate", "head_gap", "fewrel_accuracy", "fewrel_constant", "fewrel_chance",
                        "fewrel_p", "fewrel_gate", "token_accuracy", "token_constant", "token_p", "token_gate")
            if c in df]
    lines = [f"# Learning budget ({profile.name} profile)", "",
             "Generated by `" + command + "`; do not edit by hand. "
             f"Table: `{out_stem.name}.csv`, figure: `{out_stem.name}.png`.", "",
             "mlm_ci_lo/hi: 95 % interval of the paired accuracy difference model - baseline. train_seconds: the "
             "pre-training's own wall time up to that snapshot (its machine and threads, not this report's).", "",
             "## First step from which each gate passes (and keeps passing)", ""]
    for g, text in GATES.items():
        if g in firsts:
            f = firsts[g]
            lines.append(f"- {text}: " + (f"step {f['step']} ({f['tokens']:,} tokens)" if f else
                                          f"not passed up to step {int(df['step'].max())}"))
        else:
            lines.append(f"- {text}: not measured")
    lines += ["", "## Per snapshot", "", markdown_table(df[cols]), ""]
    if token_cols:
        lines += ["## Token probe by block and class count", "",
                  "Each cell: probe accuracy / constant predictor's accuracy on the same test positions, "
                  "`*` where the probe beats the constant predictor (McNemar p < 0.01).", ""]
        table = pd.DataFrame({"step": df["step"]})
        for c in token_cols:
            stem = c[: -len("_accuracy")]
            table[stem] = [f"{a:.3f} / {k:.3f}" + (" *" if bool(g) else "")
                           for a, k, g in zip(df[c], df[stem + "_constant"], df[stem + "_gate"])]
        lines += [markdown_table(table), ""]
    atomic.write_text(out_stem.with_suffix(".md"), "\n".join(lines))
    return firsts


def evaluate(profile, snapshots: Path, cache: Path, out_stem: Path, data_dir=None, fewrel: bool = True,
             token_probe: bool = False, progress: bool = True, command: str = "", max_new: int | None = None) -> dict:
    """Evaluate every snapshot not yet in ``cache`` (one JSON per snapshot; at most ``max_new``
    of them, 0 = report from the cache only), rewriting the report after each one."""
    from .. import fewrel as fewrel_mod
    from ..corpus import prepare as prepare_corpus
    found = snapshot_dirs(snapshots)
    if not found:
        raise FileNotFoundError(f"no snapshots under {snapshots}: run `python -m ssb.bench learning train` first")
    corpus = prepare_corpus(profile, data_dir, progress=progress)
    split = fewrel_mod.load_split(profile, data_dir) if fewrel else None
    rows, new = [], 0
    for step, directory in sorted(found.items()):
        f = cache / f"step_{step:06d}.json"
        key = {"version": EVALUATION_VERSION, "fewrel": fewrel, "token_probe": token_probe,
               "snapshot": json.loads((directory / "run_config.json").read_text())}
        if f.exists() and json.loads(f.read_text()).get("key") == key:
            rows.append(json.loads(f.read_text())["row"])
            continue
        if max_new is not None and new >= max_new:
            continue
        new += 1
        if progress:
            print(f"evaluating snapshot step {step} ...", flush=True)
        row = evaluate_snapshot(profile, directory, corpus, split, token_probe=token_probe, progress=False)
        atomic.write_json(f, {"key": key, "row": row})
        rows.append(row)
        write_report(rows, profile, out_stem, command)
    if not rows:
        raise FileNotFoundError(f"no snapshot evaluated yet in {cache}")
    return write_report(rows, profile, out_stem, command)


def _display_path(path: Path) -> str:
    """``path`` relative to the repository where it lies inside it (reports name no home folders)."""
    try:
        return str(Path(path).resolve().relative_to(repo_root()))
    except ValueError:
        return str(path)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(prog="python -m ssb.bench learning", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("phase", choices=["train", "evaluate"])
    ap.add_argument("--profile", type=profile_name, default="quick")
    ap.add_argument("--steps", type=positive_int, default=6000)
    ap.add_argument("--eval-every", type=positive_int, default=100)
    ap.add_argument("--data-dir", default=os.environ.get("SSB_DATA_DIR"))
    ap.add_argument("--snapshots", default=None,
                    help="evaluate: snapshot folder (default: the main run's, runs/<profile>/pretrain/main/snapshots, "
                         "for a profile with snapshots=true; else the train phase's)")
    ap.add_argument("--token-probe", action="store_true", help="evaluate: also the token probes (slow)")
    ap.add_argument("--no-fewrel", action="store_true", help="evaluate: skip the FewRel probe")
    ap.add_argument("--out", default=None, help="evaluate: output stem (default docs/learning_budget_<profile>)")
    ap.add_argument("--max-new", type=non_negative_int, default=None, help="evaluate: at most this many new snapshots (0: report only)")
    a = ap.parse_args(argv)
    p = profiles.get_profile(a.profile, steps=a.steps, eval_every=a.eval_every, checkpoint_every=200)
    # the evaluate phase reads the snapshots with the profile as it is (block, probe settings)
    if a.phase == "train":
        from ..pretrain import snapshot_grid
        run = train(p, a.data_dir)
        print(f"study run: {run.out_dir} ({a.steps} steps); snapshots {snapshot_grid(a.steps)}")
    else:
        base = profiles.get_profile(a.profile)
        if a.snapshots:
            snapshots = Path(a.snapshots)
        elif base.snapshots and not (study_dir(p) / "pretrain" / "snapshots").exists():
            snapshots = runs_dir(base) / "pretrain" / "main" / "snapshots"
        else:
            snapshots = study_dir(p) / "pretrain" / "snapshots"
        out = Path(a.out) if a.out else repo_root() / "docs" / f"learning_budget_{a.profile}"
        command = (f"python -m ssb.bench learning evaluate --profile {a.profile}" + (" --token-probe" if a.token_probe else "")
                   + f"  # snapshots: {_display_path(snapshots)}")
        firsts = evaluate(base, snapshots, study_dir(p) / "evaluations", out, a.data_dir, fewrel=not a.no_fewrel,
                          token_probe=a.token_probe, command=command, max_new=a.max_new)
        for g, f in firsts.items():
            print(f"{g}: " + (f"passes from step {f['step']} ({f['tokens']:,} tokens)" if f else "never passes"))


if __name__ == "__main__":
    main()
