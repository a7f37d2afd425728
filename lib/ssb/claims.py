"""The claims table: each claim of the paper (C1-C6, docs/method.md) against what this run measured.

Every verdict is built from the gate and check records (``ssb.stats.check`` / ``ssb.stats.gate``)
that the notebooks store in ``summary.json`` under ``<section>.stats`` (and
``pretrain.variants.<v>.gate``).  No number is typed here; thresholds are fixed from principles
in ``ssb.stats`` (ALPHA = 0.05 two-sided intervals, GATE_ALPHA = 0.01 probe gate, FDR = 0.05).

Verdicts
--------
One of "holds", "partly", "does not hold", "not testable", "not measured" (``verdict``):

- the claim's summary section is missing                                   -> "not measured";
- any gate failed or is missing (the model or the probe learned nothing)  -> "not testable"
  (a gate with scope "check" vetoes only its own check, which is then left out);
- an invariant check (direction "equal") failed                           -> "does not hold";
- every check passed                                                      -> "holds";
- no check passed                                                         -> "does not hold";
- otherwise                                                               -> "partly".

A check passes only when its whole interval lies on the claimed side of its null (``stats.check``),
so "holds" always rests on intervals that exclude the null.  A check whose value or interval is
missing counts as not passed; when every check is missing the claim is "not testable".

The rules
---------
Gates shared by several claims: **backbone** = ``pretrain.variants.main.gate`` (held-out MLM
accuracy above the most-frequent-token baseline, exact paired McNemar, p < 0.05); it applies to
C2/C4/C5 only when the FewRel probe runs on our own backbone (``finetune.checkpoint`` "ours").
**probe** = ``<section>.stats.gates.probe`` (full-aperture head above the constant predictor,
exact paired McNemar, p < 0.01).

- **C1** (``nodes_pretrain``, tokens). Gates: backbone, probe.  Checks (``stats.checks``):
  ``beyond_permutation_null``: fraction of single nodes whose |R| exceeds the 95th percentile of
  their label-permutation null (>= 200 seeded permutations), Wilson interval, null 0.05, greater;
  ``node_specific``: mean pairwise node Jaccard minus the frequency-matched null's, bootstrap over
  nodes, null 0, less; ``small_sets``: mean |R(node)| / |R(all nodes)|, bootstrap, null 0.5, less;
  ``beyond_untrained``: fraction beyond the null, trained minus untrained backbone (same
  architecture and seed, 0 steps), Newcombe interval, null 0, greater.
- **C2** (``nodes_finetune``, labels). Gates: backbone (our checkpoint only), probe.  Checks: as C1.
- **C3** (``ssb``; ``nodes_pretrain`` / ``nodes_finetune``). Gates: ``pretrain.variants.<v>.gate``
  for v = symmetric, symmetric_eps (and node_symmetric when its check exists): the variants left
  the loss plateau.  For each node section holding ``head_order_parameter``, its
  ``stats.gates.probe_random`` and ``probe_symmetric`` gate THAT check only (scope "check"): when
  one fails, the check is "not testable" and left out of the verdict, while the weight-level
  checks, gated by the variants' backbones, still decide.  Checks: ``ssb.stats.checks.symmetric_exact``
  (head gap of the symmetric variant == 0, invariant), ``node_symmetric_exact`` (node-level gap
  == 0, invariant), ``eps_amplified`` (growth rate of g(t) of symmetric+eps, t-interval, null 0,
  greater); ``<nodes_*>.stats.checks.head_order_parameter`` (mean pairwise head Jaccard of
  recognised sets, symmetric minus random, bootstrap over heads, null 0, greater).
  ``ssb.gap_final`` (incl. symmetric_dropout) is descriptive.
- **C4** (``crossover``, labels). Gates: backbone (our checkpoint only), ``crossover.stats.gates.probe``.
  Checks: ``cooperation_R`` (kappa_R at the largest n < n_nodes, bootstrap over sets, null 1,
  greater); ``cooperation_A`` (kappa_A, null 1, greater); ``dip_across`` and ``dip_in_head``
  (min(A(first), A(last)) - min interior A, paired bootstrap over items and sets, null 0,
  greater).  ``crossover.tokens`` (same names) is reported beside it, not part of the verdict.
- **C5** (``hull``). Gates: backbone (our checkpoint only), ``hull.stats.gates.probe``.  Checks:
  ``no_violations`` (violations == 0, invariant: a violation is a bug -> "does not hold");
  ``gap_grows`` (slope of U - |R| against log n where U < C, bootstrap, null 0, greater);
  ``efficiency_falls`` (slope of eta against log n where U < C, bootstrap, null 0, less).
- **C6** (``apt``). Gates: backbone, the deepest block's ``apt.stats.gates.probe_block_<l>``.
  Checks: ``frequency`` (Spearman(APT, train frequency) minus the unigram/constant predictor's,
  bootstrap over tokens, null 0, greater); ``grows_along_blocks`` (Spearman of <APT> with the block
  index over gated blocks, bootstrap over tokens, null 0, greater).

``claims_table(summary)`` gives one row per claim with ``claim``, ``title``, ``paper``,
``measured``, ``gate``, ``statistic``, ``interval``, ``null``, ``verdict``;
``claims_summary(summary)`` the ``claims`` / ``stats`` dicts stored in summary.json;
``claims_markdown`` / ``write_claims_markdown`` write figures/<profile>/claims.md;
``report.show_claims(summary, ["C3"])`` displays some rows in a notebook (the claim check).
"""
from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any, Sequence

from . import atomic, results

VERDICTS = ("holds", "partly", "does not hold", "not testable", "not measured")

NODE_CHECKS = ("beyond_permutation_null", "node_specific", "small_sets", "beyond_untrained")
SSB_CHECKS = ("symmetric_exact", "node_symmetric_exact", "eps_amplified")
CROSSOVER_CHECKS = ("cooperation_R", "cooperation_A", "dip_across", "dip_in_head")
HULL_CHECKS = ("no_violations", "gap_grows", "efficiency_falls")
APT_CHECKS = ("frequency", "grows_along_blocks")

CLAIMS: dict[str, tuple[str, str]] = {
    "C1": ("Pre-training SSB",
           "After MLM pre-training, each attention head of the last block and each single node in it "
           "recognizes only a small, node-specific set of tokens, and different nodes recognize different sets."),
    "C2": ("Fine-tuning SSB",
           "After fine-tuning on FewRel, each head and each single node recognizes a small set of relation "
           "labels with above-chance confidence."),
    "C3": ("Deterministic dynamics",
           "The breaking needs no training noise and is seeded by the random initial weights alone: heads that "
           "start identical and train deterministically stay identical, and a tiny perturbation is amplified."),
    "C4": ("Crossover",
           "As the number n of active nodes grows, accuracy drops as the silenced head guesses among more outputs "
           "and rises through nodal cooperation; a node set recognizes jointly more labels than its nodes individually."),
    "C5": ("Convex hull",
           "For a linear head, the labels a node set can output are bounded by the convex hull of its weights; "
           "learning reaches part of that bound, and the gap grows with n."),
    "C6": ("APT",
           "Accuracy per token grows with the token's frequency, and its average over tokens grows along the blocks."),
}

# Which notebooks' figures illustrate which claim (by the figure name's "NN_" prefix).
CLAIM_NOTEBOOKS: dict[str, tuple[str, ...]] = {
    "C1": ("03",), "C2": ("04", "05"), "C3": ("01",), "C4": ("06",), "C5": ("07",), "C6": ("02",),
}

# ----------------------------------------------------------------------------- helpers


def fmt(x: Any) -> str:
    """A summary value as a short string: ints as ints, floats to 3 significant digits."""
    if x is None:
        return "n/a"
    if isinstance(x, bool):
        return "yes" if x else "no"
    if isinstance(x, int):
        return str(x)
    if isinstance(x, float):
        if math.isnan(x):
            return "n/a"
        if x.is_integer() and abs(x) < 1e6:
            return str(int(x))
        return f"{x:.3g}"
    return str(x)


def _get(summary: Any, path: str) -> Any:
    """summary["a"]["b"]... for path "a.b...", None where any level is missing."""
    node = summary
    for key in path.split("."):
        if not isinstance(node, dict) or key not in node:
            return None
        node = node[key]
    return node


def _section(summary: dict, name: str) -> dict | None:
    value = summary.get(name) if isinstance(summary, dict) else None
    return value if isinstance(value, dict) and value else None


def _record(summary: dict, path: str, label: str | None = None) -> dict:
    """The gate/check record at ``path`` with its path and label; a stand-in when missing."""
    rec = _get(summary, path)
    name = label or path.rsplit(".", 1)[-1]
    if not isinstance(rec, dict):
        return {"name": name, "path": path, "missing": True, "passed": None}
    return {**rec, "name": name, "path": path}


def verdict(gates: Sequence[dict], checks: Sequence[dict]) -> str:
    """The verdict rule of the module docstring, from gate and check records."""
    if any(g.get("passed") is not True for g in gates if g.get("scope") != "check"):
        return "not testable"
    checks = [c for c in checks if not c.get("gated_out")]        # its own gate failed: excluded
    if any(c.get("direction") == "equal" and c.get("passed") is False for c in checks):
        return "does not hold"
    passed = [c.get("passed") for c in checks]
    if not checks or all(p is None for p in passed):
        return "not testable"
    if all(p is True for p in passed):
        return "holds"
    if not any(p is True for p in passed):
        return "does not hold"
    return "partly"


def _ours(summary: dict) -> bool:
    """The label probes ran on our own pre-trained backbone (not another checkpoint)."""
    ck = _get(summary, "finetune.checkpoint")
    return ck in (None, "ours")


def _backbone(summary: dict, labels: bool) -> list[dict]:
    return [_record(summary, "pretrain.variants.main.gate", "backbone")] if not labels or _ours(summary) else []


def _node_rule(summary: dict, section: str, labels: bool) -> tuple[list, list]:
    gates = _backbone(summary, labels) + [_record(summary, f"{section}.stats.gates.probe", "probe")]
    checks = [_record(summary, f"{section}.stats.checks.{c}") for c in NODE_CHECKS]
    return gates, checks


def _c3_rule(summary: dict) -> tuple[list, list] | None:
    gates, checks = [], []
    if _section(summary, "ssb") is not None:
        node_level = isinstance(_get(summary, "ssb.stats.checks.node_symmetric_exact"), dict)
        for v in ("symmetric", "symmetric_eps") + (("node_symmetric",) if node_level else ()):
            gates.append(_record(summary, f"pretrain.variants.{v}.gate", f"backbone[{v}]"))
        checks += [_record(summary, f"ssb.stats.checks.{c}") for c in SSB_CHECKS]
    for section in ("nodes_pretrain", "nodes_finetune"):
        if isinstance(_get(summary, f"{section}.stats.checks.head_order_parameter"), dict):
            # the functional order parameter's own gates: a failed probe makes THIS check not
            # testable (excluded), not the weight-level checks above, which have their own gates
            own = [{**_record(summary, f"{section}.stats.gates.probe_{v}", f"probe[{section}, {v}]"), "scope": "check"}
                   for v in ("random", "symmetric")]
            gates += own
            check = _record(summary, f"{section}.stats.checks.head_order_parameter", f"head_order_parameter[{section}]")
            if any(g.get("passed") is not True for g in own):
                check = {**check, "passed": None, "gated_out": True}
            checks.append(check)
    return (gates, checks) if checks else None


def _deepest_apt_gate(summary: dict) -> list[dict]:
    gates = _get(summary, "apt.stats.gates")
    blocks = []
    if isinstance(gates, dict):
        for k in gates:
            if k.startswith("probe_block_") and k[len("probe_block_"):].isdigit():
                blocks.append(int(k[len("probe_block_"):]))
    if not blocks:
        return [_record(summary, "apt.stats.gates.probe_block_<deepest>", "probe[deepest block]")]
    b = max(blocks)
    return [_record(summary, f"apt.stats.gates.probe_block_{b}", f"probe[block {b}]")]


def _rule(summary: dict, claim: str) -> tuple[list, list] | None:
    """(gates, checks) records of a claim, None when its section is missing (not measured)."""
    if claim == "C1":
        return _node_rule(summary, "nodes_pretrain", labels=False) if _section(summary, "nodes_pretrain") else None
    if claim == "C2":
        return _node_rule(summary, "nodes_finetune", labels=True) if _section(summary, "nodes_finetune") else None
    if claim == "C3":
        return _c3_rule(summary)
    if claim == "C4":
        if _section(summary, "crossover") is None:
            return None
        return (_backbone(summary, True) + [_record(summary, "crossover.stats.gates.probe", "probe")],
                [_record(summary, f"crossover.stats.checks.{c}") for c in CROSSOVER_CHECKS])
    if claim == "C5":
        if _section(summary, "hull") is None:
            return None
        return (_backbone(summary, True) + [_record(summary, "hull.stats.gates.probe", "probe")],
                [_record(summary, f"hull.stats.checks.{c}") for c in HULL_CHECKS])
    if claim == "C6":
        if _section(summary, "apt") is None:
            return None
        return (_backbone(summary, False) + _deepest_apt_gate(summary),
                [_record(summary, f"apt.stats.checks.{c}") for c in APT_CHECKS])
    raise ValueError(f"unknown claim {claim!r}")


# ----------------------------------------------------------------------------- strings for the table

_SIDE = {"greater": ">", "less": "<", "equal": "=="}


def _gate_text(g: dict) -> str:
    if g.get("missing"):
        return f"{g['name']}: missing"
    state = {True: "passed", False: "FAILED", None: "n/a"}[g.get("passed")]
    detail = f"{fmt(g.get('value'))} vs {fmt(g.get('null'))}"
    if g.get("p") is not None:
        detail += f", p {fmt(g.get('p'))}"
    scope = " (gates only its own check)" if g.get("scope") == "check" else ""
    return f"{g['name']}: {state} ({detail}){scope}"


def _interval_text(c: dict) -> str:
    if c.get("missing"):
        return f"{c['name']}: missing"
    if c.get("gated_out"):
        return f"{c['name']} {fmt(c.get('value'))}: not testable (its probe gate failed; left out of the verdict)"
    lo, hi = (c.get("ci") or [None, None])[:2]
    ci = "" if c.get("direction") == "equal" else f" [{fmt(lo)}, {fmt(hi)}]"
    state = {True: "passed", False: "not passed", None: "n/a"}[c.get("passed")]
    return f"{c['name']} {fmt(c.get('value'))}{ci} ({state})"


def _null_text(c: dict) -> str:
    if c.get("missing"):
        return f"{c['name']}: missing"
    return f"{c['name']}: {_SIDE.get(c.get('direction'), '?')} {fmt(c.get('null'))}"


def _statistic_text(c: dict) -> str:
    return f"{c['name']}: {c.get('statistic') or 'missing'}"


def _descriptive(summary: dict, claim: str) -> str:
    """Context numbers beside the checks (the earlier rule's counts, the untrained control, ...)."""
    parts = []
    if claim in ("C1", "C2"):
        sec, what = ("nodes_pretrain", "tokens") if claim == "C1" else ("nodes_finetune", "labels")
        s = _section(summary, sec) or {}
        parts.append(f"median {what} recognized per node {fmt(s.get(f'median_{what}_recognized_node'))} "
                     f"(DC > 1/C rule: {fmt(s.get(f'median_{what}_recognized_node_chance_rule'))}), "
                     f"per head {fmt(s.get(f'median_{what}_recognized_head'))}")
        full = s.get("tokens_recognized_full") if claim == "C1" else s.get("labels_recognized_full")
        if full is not None:
            parts.append(f"all nodes {fmt(full)}")
        u = _get(summary, f"{sec}.stats.nulls.untrained.fraction_beyond_null")
        b = _get(summary, f"{sec}.stats.checks.beyond_permutation_null.value")
        if b is not None:
            parts.append(f"nodes beyond null: trained {fmt(b)}, untrained {fmt(u)}")
        seeds = _get(summary, f"{sec}.stats.seeds.fraction_beyond_null")
        if isinstance(seeds, dict) and seeds.get("mean") is not None:
            lo, hi = seeds.get("range", [None, None])
            parts.append(f"across probe seeds {fmt(seeds['mean'])} (range {fmt(lo)}-{fmt(hi)})")
    elif claim == "C3":
        gaps = _get(summary, "ssb.gap_final")
        if isinstance(gaps, dict):
            parts.append("final head gap g: " + ", ".join(f"{k} {fmt(v)}" for k, v in gaps.items()))
    elif claim == "C4":
        tok = _get(summary, "crossover.tokens.stats")
        if isinstance(tok, dict):
            g = [_record(summary, "crossover.tokens.stats.gates.probe", "probe")]
            c = [_record(summary, f"crossover.tokens.stats.checks.{n}") for n in CROSSOVER_CHECKS]
            parts.append(f"tokens (not in the verdict): {verdict(g, c)}")
    elif claim == "C6":
        rho = _get(summary, "apt.spearman_freq")
        if rho is not None:
            parts.append(f"Spearman(APT, frequency) {fmt(rho)}")
    return "; ".join(parts)


# where a claim is not testable on a profile, the profile that is sized to test it
LARGER_PROFILE = {"smoke": "quick", "quick": "standard", "standard": "paper"}


def _why_not_testable(summary: dict, gates: Sequence[dict], checks: Sequence[dict], v: str) -> str:
    """For a "not testable" verdict: which gates failed (or went missing), on which profile, and
    which profile trains long enough to try again; "" for the other verdicts."""
    if v != "not testable":
        return ""
    failed = [g["name"] for g in gates if g.get("passed") is not True and g.get("scope") != "check"]
    reason = (f"gate {', '.join(failed)} not passed" if failed else "no check could be computed")
    profile = str(summary.get("profile") or "")
    base = profile.split("-")[0]              # results names of runs with overrides: quick-block5
    text = f"not testable on {profile}: {reason}" if profile else f"not testable: {reason}"
    if base in LARGER_PROFILE:
        text += f"; the `{LARGER_PROFILE[base]}` profile trains longer (figures/{LARGER_PROFILE[base]}/claims.md)"
    return text


# ----------------------------------------------------------------------------- public API


def claims_table(summary: dict) -> list[dict]:
    """One row per claim C1..C6: {"claim", "title", "paper", "measured", "gate", "statistic",
    "interval", "null", "verdict"} (strings built from the records in ``summary``)."""
    if not isinstance(summary, dict):
        raise ValueError(f"summary must be a dict (the content of summary.json), got {type(summary).__name__}")
    rows = []
    for claim, (title, paper) in CLAIMS.items():
        rule = _rule(summary, claim)
        if rule is None:
            rows.append({"claim": claim, "title": title, "paper": paper, "why": "", "measured": "not measured in this run",
                         "gate": "", "statistic": "", "interval": "", "null": "", "verdict": "not measured"})
            continue
        gates, checks = rule
        v = verdict(gates, checks)
        assert v in VERDICTS, v
        rows.append({"claim": claim, "title": title, "paper": paper, "why": _why_not_testable(summary, gates, checks, v),
                     "measured": _descriptive(summary, claim) or "; ".join(_interval_text(c) for c in checks),
                     "gate": "; ".join(_gate_text(g) for g in gates) or "none",
                     "statistic": "; ".join(_statistic_text(c) for c in checks),
                     "interval": "; ".join(_interval_text(c) for c in checks),
                     "null": "; ".join(_null_text(c) for c in checks),
                     "verdict": v})
    return rows


def claims_summary(summary: dict) -> dict:
    """{"claims": {C1..C6: verdict}, "stats": {Ck: {"verdict", "gates": [...], "checks": [...]}}}:
    what the runner stores in summary.json (each record with its summary path)."""
    if not isinstance(summary, dict):
        raise ValueError(f"summary must be a dict (the content of summary.json), got {type(summary).__name__}")
    out = {"claims": {}, "stats": {}}
    for claim in CLAIMS:
        rule = _rule(summary, claim)
        if rule is None:
            out["claims"][claim] = "not measured"
            out["stats"][claim] = {"verdict": "not measured", "gates": [], "checks": []}
            continue
        gates, checks = rule
        v = verdict(gates, checks)
        out["claims"][claim] = v
        out["stats"][claim] = {"verdict": v, "gates": gates, "checks": checks}
    return out


def claims_text(summary: dict, which: Sequence[str] | None = None) -> str:
    """The rows of the claims in ``which`` (default all) as plain text, one paragraph each."""
    rows = select_rows(summary, which)
    return "\n".join(f"{r['claim']} {r['title']}: {r['verdict'].upper()}"
                     + (f" ({r['why']})" if r.get("why") else "") + f"\n  paper:     {r['paper']}\n"
                     f"  measured:  {r['measured']}\n  gate:      {r['gate']}\n  statistic: {r['statistic']}\n"
                     f"  interval:  {r['interval']}\n  null:      {r['null']}" for r in rows)


def select_rows(summary: dict, which: Sequence[str] | None = None) -> list[dict]:
    """claims_table rows of the claims named in ``which`` ("C1".."C6"), in table order."""
    rows = claims_table(summary)
    if which is None:
        return rows
    which = [which] if isinstance(which, str) else list(which)
    unknown = [c for c in which if c not in CLAIMS]
    if unknown:
        raise ValueError(f"unknown claim(s) {unknown}; choose from {list(CLAIMS)}")
    return [r for r in rows if r["claim"] in which]


def _md_cell(text: str) -> str:
    """Text safe inside a Markdown table cell: no pipes, newlines or raw HTML."""
    text = str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


def _markdown_table(rows: list[dict]) -> str:
    """The verdict comes right after the claim: a reader sees it without scrolling."""
    lines = ["| claim | verdict | paper | measured | gate | statistic | interval | null |",
             "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| **{r['claim']}** {_md_cell(r['title'])} | **{r['verdict']}**"
                     + (f"<br>{_md_cell(r['why'])}" if r.get("why") else "") + f" | {_md_cell(r['paper'])} | "
                     f"{_md_cell(r['measured'])} | {_md_cell(r['gate'])} | {_md_cell(r['statistic'])} | "
                     f"{_md_cell(r['interval'])} | {_md_cell(r['null'])} |")
    return "\n".join(lines)


def claims_markdown(summary: dict, figures: list[str] | None = None) -> str:
    """The claims table as Markdown, then (optionally) the figures grouped by claim.

    ``figures``: paths relative to where the Markdown will live, e.g. "03_node_token_map.png";
    a figure goes under the claim whose notebook number (its name's "NN_" prefix) is listed
    in CLAIM_NOTEBOOKS, the rest under "Other figures".
    """
    rows = claims_table(summary)
    profile = summary.get("profile")
    lines = [f"# Claims check{f' — profile `{profile}`' if profile else ''}", "",
             "Every measured value comes from `summary.json` of the run; the verdict rules (gate, null, "
             "statistic, threshold of each claim) are in `lib/ssb/claims.py`. A check passes only when its "
             "interval excludes its null; a failed gate makes the claim \"not testable\".", "",
             _markdown_table(rows)]
    if figures:
        remaining = list(figures)
        lines += ["", "## Figures"]
        for claim, prefixes in CLAIM_NOTEBOOKS.items():
            mine = [f for f in remaining if Path(f).name[:2] in prefixes]
            if not mine:
                continue
            remaining = [f for f in remaining if f not in mine]
            lines += ["", f"### {claim} {CLAIMS[claim][0]}", ""]
            lines += [f"![{Path(f).stem}]({Path(f).as_posix()})" for f in mine]
        if remaining:
            lines += ["", "### Other figures", ""]
            lines += [f"![{Path(f).stem}]({Path(f).as_posix()})" for f in remaining]
    return "\n".join(lines) + "\n"


def write_claims_markdown(profile_name: str, path: str | os.PathLike | None = None) -> Path:
    """Write the claims Markdown of a profile's summary.json, with every PNG of
    figures/<profile>/ linked relative to ``path`` (default figures/<profile>/claims.md)."""
    name = results.profile_name(profile_name)
    fig_dir = results.figures_dir(name)
    path = Path(path) if path is not None else fig_dir / "claims.md"
    figures = [os.path.relpath(p, path.parent.resolve()) for p in sorted(fig_dir.resolve().glob("*.png"))]
    atomic.write_text(path, claims_markdown(results.current_run_sections(results.load_summary(name)), figures))
    return path
