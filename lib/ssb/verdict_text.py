"""The claims as a reader reads them: one row of text per claim, from the verdicts and records
that ``ssb.claims`` decides (nothing here decides), as plain text, Markdown and
figures/<name>/claims.md.

- ``claims_table``: one row per claim (paper, measured, gate, statistic, interval, null, verdict)
  with ``why``, its one-line reason: the evidence checks ✓/✗/○/– (``check_marks``), or for
  "not testable" the gate that failed and the profile that trains long enough to try again;
- ``select_rows``, ``claims_text`` (plain text), ``claims_markdown`` and
  ``write_claims_markdown`` (figures/<name>/claims.md, the figures grouped by claim:
  ``figures_by_claim``);
- ``headline``: a claim's core check on one line; ``fmt``: a summary value as a short string.

The same rows as HTML (the index's dashboard, ``report.show_claims`` in a notebook) are drawn
by ``ssb.report``.
"""
from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any, Sequence

from . import atomic, claims, results, schema

# Which notebooks' figures illustrate which claim (by the figure name's "NN_" prefix).
CLAIM_NOTEBOOKS: dict[str, tuple[str, ...]] = {
    "C1": ("03",), "C2": ("04", "05"), "C3": ("01",), "C4": ("06",), "C5": ("07",), "C6": ("02",),
}
# where a claim is not testable on a profile, the profile that is sized to test it
LARGER_PROFILE = {"smoke": "quick", "quick": "standard", "standard": "paper"}
_SIDE = {"greater": ">", "less": "<", "equal": "=="}


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


def _gate_text(g: dict) -> str:
    if g.get("missing"):
        return f"{g['name']}: missing"
    state = {True: "passed", False: "FAILED", None: "n/a"}[g.get("passed")]
    detail = f"{fmt(g.get('value'))} vs {fmt(g.get('null'))}"
    if g.get("p") is not None:
        detail += f", p {fmt(g.get('p'))}"
    scope = " (gates only its own check)" if g.get("scope") == "check" else ""
    return f"{g['name']}: {state} ({detail}){scope}"


def _role(c: dict) -> str:
    role = c.get("role", "evidence")
    return "" if role == "evidence" else f"[{role}] "


def _interval_text(c: dict) -> str:
    if c.get("superseded"):
        return f"{_role(c)}{c['name']} {fmt(c.get('value'))}: missing ({c['superseded']})"
    if c.get("missing"):
        return f"{_role(c)}{c['name']}: missing"
    if c.get("gated_out"):
        return f"{c['name']} {fmt(c.get('value'))}: not testable (its probe gate failed; left out of the verdict)"
    lo, hi = (c.get("ci") or [None, None])[:2]
    ci = "" if c.get("direction") == "equal" else f" [{fmt(lo)}, {fmt(hi)}]"
    state = {True: "passed", False: "not passed", None: "n/a"}[c.get("passed")]
    if c.get("role", "evidence") in ("evidence", "requirement") and claims.contradicts(c):
        state = "against"
    if c.get("role") == "sanity" and c.get("passed") is False:
        state = "FAILED: a bug, please report it"
    return f"{_role(c)}{c['name']} {fmt(c.get('value'))}{ci} ({state})"


def check_marks(checks: Sequence[dict], core: str | None = None) -> str:
    """The evidence checks and requirements of a claim at a glance: name ✓ (passed), ✗ (interval on
    the wrong side of its null), ○ (not passed, inconclusive) or – (missing, or left out by its own
    gate); the core check first, marked "core", then the other evidence, then the requirements."""
    ev = [c for c in checks if c.get("role", "evidence") in ("evidence", "requirement")]
    ev.sort(key=lambda c: (c.get("name") != core, c.get("role", "evidence") != "evidence"))

    def mark(c):
        if c.get("missing") or c.get("gated_out") or (c.get("passed") is None and c.get("value") is None):
            return "–"
        if claims.contradicts(c):
            return "✗"
        return "✓" if c.get("passed") is True else "○"
    return " · ".join(f"{c['name'].replace('_', ' ')}{' (core)' if c.get('name') == core else ''} {mark(c)}"
                      for c in ev)


def _null_text(c: dict) -> str:
    if c.get("missing"):
        return f"{c['name']}: missing"
    return f"{c['name']}: {_SIDE.get(c.get('direction'), '?')} {fmt(c.get('null'))}"


def _statistic_text(c: dict) -> str:
    return f"{c['name']}: {c.get('statistic') or 'missing'}"


# C1 and C2's context numbers: (section, what it recognises, its recognised-by-all-nodes key)
_NODE_CONTEXT = {"C1": (schema.NodesPretrain, "tokens", "tokens_recognized_full"),
                 "C2": (schema.NodesFinetune, "labels", "labels_recognized_full")}


def _descriptive(summary: dict, claim: str) -> str:
    """Context numbers beside the checks (the earlier rule's counts, the untrained control, ...)."""
    parts = []
    if claim in _NODE_CONTEXT:
        sec, what, full_key = _NODE_CONTEXT[claim]

        def value(key: str) -> str:
            return fmt(claims.lookup(summary, sec.path(key)))

        parts.append(f"median {what} recognized per node {value(f'median_{what}_recognized_node')} "
                     f"(DC > 1/C rule: {value(f'median_{what}_recognized_node_chance_rule')}), "
                     f"per head {value(f'median_{what}_recognized_head')}")
        full = claims.lookup(summary, sec.path(full_key))
        if full is not None:
            parts.append(f"all nodes {fmt(full)}")
        u = claims.lookup(summary, sec.path("stats", "nulls", "untrained", "fraction_beyond_null"))
        b = claims.lookup(summary, sec.path("stats", "checks", "beyond_permutation_null", "value"))
        if b is not None:
            parts.append(f"nodes beyond null: trained {fmt(b)}, untrained {fmt(u)}")
        seeds = claims.lookup(summary, sec.path("stats", "seeds", "fraction_beyond_null"))
        if isinstance(seeds, dict) and seeds.get("mean") is not None:
            lo, hi = seeds.get("range", [None, None])
            parts.append(f"across probe seeds {fmt(seeds['mean'])} (range {fmt(lo)}-{fmt(hi)})")
        pre = claims.lookup(summary, sec.path("stats", "nulls", "backbone_seeds"))
        if isinstance(pre, dict) and isinstance(pre.get("fraction_beyond_null"), dict):
            fb, diff = pre["fraction_beyond_null"], pre.get("beyond_untrained") or {}
            lo, hi = fb.get("range", [None, None])
            d_lo, d_hi = diff.get("ci") or [None, None]
            parts.append(f"across {len(pre.get('seeds', []))} pre-training seeds {fmt(fb.get('mean'))} (range "
                         f"{fmt(lo)}-{fmt(hi)}), beyond their untrained inits {fmt(diff.get('mean'))} "
                         f"[{fmt(d_lo)}, {fmt(d_hi)}]")
    elif claim == "C3":
        gaps = claims.lookup(summary, schema.Ssb.path("gap_final"))
        if isinstance(gaps, dict):
            parts.append("final head gap g: " + ", ".join(f"{k} {fmt(v)}" for k, v in gaps.items()))
    elif claim == "C4":
        tokens = claims.tokens_crossover_verdict(summary)
        if tokens is not None:
            parts.append(f"tokens (not in the verdict): {tokens}")
    elif claim == "C6":
        rho = claims.lookup(summary, schema.Apt.path("spearman_freq"))
        if rho is not None:
            parts.append(f"Spearman(APT, frequency) {fmt(rho)}")
    return "; ".join(parts)


def _why(summary: dict, decided: dict) -> str:
    """The one-line reason of a verdict: its evidence checks ✓/✗ (``check_marks``) and, for
    "not testable", which gate failed or went missing, on which profile, and which profile
    trains long enough to try again."""
    v = decided["verdict"]
    if v == "not measured":
        return ""
    if v != "not testable":
        marks = check_marks(decided["checks"], decided.get("core"))
        errors = decided.get("errors") or []
        bug = f"; SANITY CHECK FAILED (a bug): {', '.join(errors)}" if errors else ""
        return f"{marks}{bug}" if marks else decided.get("reason", "")
    reason = decided.get("reason") or "no check could be computed"
    profile = str(summary.get("profile") or "")
    base = profile.split("-")[0]              # results names of runs with overrides: quick-block5
    text = f"not testable on {profile}: {reason}" if profile else f"not testable: {reason}"
    failed, _ = claims.blocking_gates(decided.get("gates") or [])
    if base in LARGER_PROFILE and failed:     # a missing gate is not cured by training longer
        text += f"; the `{LARGER_PROFILE[base]}` profile trains longer (figures/{LARGER_PROFILE[base]}/claims.md)"
    return text


def claims_table(summary: dict) -> list[dict]:
    """One row per claim C1..C6: {"claim", "title", "paper", "why", "measured", "gate",
    "statistic", "interval", "null", "verdict"}, strings built from the verdicts and records of
    ``claims.claims_summary``."""
    decided = claims.claims_summary(summary)["stats"]
    summary = schema.with_current_keys(summary)
    rows = []
    for claim, (title, paper) in claims.CLAIMS.items():
        v, gates, checks = decided[claim]["verdict"], decided[claim]["gates"], decided[claim]["checks"]
        if v == "not measured":
            rows.append({"claim": claim, "title": title, "paper": paper, "why": "",
                         "measured": "not measured in this run",
                         "gate": "", "statistic": "", "interval": "", "null": "", "verdict": v})
            continue
        rows.append({"claim": claim, "title": title, "paper": paper, "why": _why(summary, decided[claim]),
                     "measured": _descriptive(summary, claim) or "; ".join(_interval_text(c) for c in checks),
                     "gate": "; ".join(_gate_text(g) for g in gates) or "none",
                     "statistic": "; ".join(_statistic_text(c) for c in checks),
                     "interval": "; ".join(_interval_text(c) for c in checks),
                     "null": "; ".join(_null_text(c) for c in checks),
                     "verdict": v})
    return rows


def select_rows(summary: dict, which: Sequence[str] | None = None) -> list[dict]:
    """claims_table rows of the claims named in ``which`` ("C1".."C6"), in table order."""
    rows = claims_table(summary)
    if which is None:
        return rows
    which = [which] if isinstance(which, str) else list(which)
    unknown = [c for c in which if c not in claims.CLAIMS]
    if unknown:
        raise ValueError(f"unknown claim(s) {unknown}; choose from {list(claims.CLAIMS)}")
    return [r for r in rows if r["claim"] in which]


def claims_text(summary: dict, which: Sequence[str] | None = None) -> str:
    """The rows of the claims in ``which`` (default all) as plain text, one paragraph each."""
    rows = select_rows(summary, which)
    return "\n".join(f"{r['claim']} {r['title']}: {r['verdict'].upper()}"
                     + (f" ({r['why']})" if r.get("why") else "") + f"\n  paper:     {r['paper']}\n"
                     f"  measured:  {r['measured']}\n  gate:      {r['gate']}\n  statistic: {r['statistic']}\n"
                     f"  interval:  {r['interval']}\n  null:      {r['null']}" for r in rows)


def _md_cell(text: str) -> str:
    """Text safe inside a Markdown table cell: no pipes, newlines or raw HTML."""
    text = str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


def _markdown_table(rows: list[dict], decided: dict) -> str:
    """The dashboard: claim, verdict, why (the evidence checks ✓/✗/○/–, or the gate that failed)
    and the core check with its interval -- four short columns that fit a page; the details
    follow in ``_markdown_details``."""
    lines = ["| claim | verdict | why: evidence checks (core first) | core check |", "|---|---|---|---|"]
    for r in rows:
        lines.append(f"| [**{r['claim']}**](#{r['claim'].lower()}-details) {_md_cell(r['title'])} | **{r['verdict']}** | "
                     f"{_md_cell(r.get('why') or '')} | {_md_cell(headline(decided[r['claim']]))} |")
    return "\n".join(lines)


def _markdown_details(rows: list[dict]) -> list[str]:
    """Per claim, below the dashboard: the paper's words, what was measured, the gates, and every
    check's statistic, interval and pass rule."""
    lines = ["", "## Details per claim"]
    for r in rows:
        lines += ["", f"### {r['claim']} details", "", f"**{r['title']}: {r['verdict']}.**", ""]
        if r["verdict"] == "not measured":
            lines.append("Not measured in this run.")
            continue
        for key, label in (("paper", "The paper"), ("measured", "Measured"), ("gate", "Gates"),
                           ("statistic", "Statistics"), ("interval", "Values and 95 % intervals"),
                           ("null", "Pass if")):
            lines.append(f"- **{label}:** {_md_cell(r.get(key, ''))}")
    return lines


def claims_markdown(summary: dict, figures: list[str] | None = None) -> str:
    """The claims table as Markdown, then (optionally) the figures grouped by claim.

    ``figures``: paths relative to where the Markdown will live, e.g. "03_node_token_map.png";
    a figure goes under the claim whose notebook number (its name's "NN_" prefix) is listed
    in CLAIM_NOTEBOOKS, the rest under "Other figures".
    """
    rows = claims_table(summary)
    decided = claims.claims_summary(summary)["stats"]
    profile = summary.get("profile")
    lines = [f"# Claims check{f' — profile `{profile}`' if profile else ''}", "",
             "Every measured value comes from `summary.json` of the run; the verdict rules are in "
             "`lib/ssb/claims.py` and docs/method.md (\"Verdicts\"). *Evidence* checks decide: each beside a "
             "null that a model without information could pass, one of them the claim's core check. "
             "*Requirements* (levels the claim's words need, e.g. \"each node\") never support a verdict on "
             "their own, but \"holds\" needs them and they can contradict. Sanity checks (true by "
             "construction) and context are shown, marked, and never decide. "
             "A check passes when its whole 95 % interval lies on the claimed side of its null (✓), "
             "contradicts when it lies on the other side (✗); ○ inconclusive, – missing. A failed or "
             "missing gate, or a missing core check, makes the claim \"not testable\".", "",
             _markdown_table(rows, decided)] + _markdown_details(rows)
    if figures:
        lines += ["", "## Figures"]
        for heading, group in figures_by_claim([Path(f) for f in figures]):
            lines += ["", f"### {heading}", ""]
            lines += [f"![{f.stem}]({f.as_posix()})" for f in group]
    return "\n".join(lines) + "\n"


def write_claims_markdown(profile_name: str, path: str | os.PathLike | None = None) -> Path:
    """Write the claims Markdown of a profile's summary.json, with every PNG of
    figures/<profile>/ linked relative to ``path`` (default figures/<profile>/claims.md)."""
    name = results.profile_name(profile_name)
    fig_dir = results.figures_dir(name)
    path = Path(path) if path is not None else fig_dir / "claims.md"
    figures = [os.path.relpath(p, path.parent.resolve()) for p in sorted(fig_dir.resolve().glob("*.png"))]
    text = claims_markdown(results.current_run_sections(results.load_summary(name)), figures)
    atomic.write_text(path, results.portable_text(text))
    return path


# ----------------------------------------------------------------------------- shared with the HTML (ssb.report)


def headline(decided: dict) -> str:
    """A claim's core check as one line: name, value, 95 % interval and what it is held against."""
    core = next((c for c in decided.get("checks", []) if c.get("name") == decided.get("core")), None)
    if core is None:
        return ""
    if core.get("missing"):
        return f"{core['name']}: missing" + (f" ({core['superseded']})" if core.get("superseded") else "")
    lo, hi = (core.get("ci") or [None, None])[:2]
    side = _SIDE.get(core.get("direction"), "?")
    return f"{core['name']} {fmt(core.get('value'))} [{fmt(lo)}, {fmt(hi)}], pass if {side} {fmt(core.get('null'))}"


def figures_by_claim(pngs: list[Path]) -> list[tuple[str, list[Path]]]:
    """[(heading, figures)] grouped as in claims.md: by the claim whose notebooks (their
    "NN_" prefix, ``CLAIM_NOTEBOOKS``) drew them; the rest under "Other figures"."""
    remaining = list(pngs)
    groups = []
    for claim, prefixes in CLAIM_NOTEBOOKS.items():
        mine = [p for p in remaining if p.name[:2] in prefixes]
        if mine:
            groups.append((f"{claim} {claims.CLAIMS[claim][0]}", mine))
            remaining = [p for p in remaining if p not in mine]
    if remaining:
        groups.append(("Other figures", remaining))
    return groups
