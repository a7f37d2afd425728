"""The claims table: each claim of the paper (C1-C6, docs/method.md) against what this run measured.

``claims_table(summary)`` turns a ``summary.json`` (see ``results.update_summary``) into one
row per claim with

- ``claim``:    "C1" ... "C6" and a short title;
- ``paper``:    what the paper states, one sentence (docs/method.md, "Claims C1-C6");
- ``measured``: a short string built only from values in ``summary`` (no number is typed here);
- ``verdict``:  "holds", "partly", "does not hold" or "not measured".

Verdict rules
-------------
Each claim is split into checks; a check is True, False, or None (its input is missing).
Unless a claim says otherwise, the checks combine as (``combine_checks``):

- the summary section is missing, or every check is None  -> "not measured";
- every check is True                                     -> "holds";
- no check is True (each is False or None)                -> "does not hold";
- anything else (some True, some False or None)           -> "partly".

The checks, with the summary section each reads:

- **C1** (``nodes_pretrain``): (a) the median single node recognizes a small, non-empty set:
  0 < median |R(node)| < 1 % of the vocabulary (``vocab_size``, else ``n_tokens_evaluated``);
  without a vocabulary size, < 10 % of the tokens the full node set recognizes
  (``tokens_recognized_full``); (b) nodes recognize different sets: ``mean_jaccard_nodes`` < 0.5.
- **C2** (``nodes_finetune``, labels from there or ``finetune``): (a) 0 < median |R(node)| <
  n_labels / 2; (b) mean diagonal confidence of the nodes > 1 / n_labels (chance).
- **C3** (``ssb``, ``nodes_pretrain``, ``nodes_finetune``): (a) head gap of the symmetric run is
  exactly 0 (float-exact); (b) the symmetric + eps gap exceeds eps (``ssb.eps``; > 0 when eps
  is unknown): the perturbation was amplified; (c) the random gap exceeds the symmetric + eps
  gap; (d) for each of nodes_pretrain / nodes_finetune where it was measured: the symmetric
  model's per-head recognized sets are identical (head Jaccard == 1) and the random model's
  differ (head Jaccard < 1).  Node-level checks that were not measured are left out, not
  counted as None.
- **C4** (``crossover``): (a) A(n) has an interior minimum (``has_dip`` is True); (b) at the
  largest n, the labels the set recognizes jointly exceed the union of its nodes' individual
  recognized sets (``recognized_mean`` > ``union_individual_mean``).
- **C5** (``hull``): (a) no predicted label outside the achievable set (``violations`` == 0);
  (b) single node: realized |R| <= observed-box bound <= unrestricted bound (medians);
  (c) learning efficiency eta falls with n (eta at the largest n < eta at the smallest n).
  Rule: violations > 0 -> "does not hold" (a violation is a bug); violations == 0 -> "holds"
  when (b) and (c) are True, else "partly"; violations unknown -> the default rule.
- **C6** (``apt``): (a) APT grows with token frequency (``spearman_freq`` > 0); (b) <APT> grows
  from the first to the last block (``mean_by_layer[-1] > mean_by_layer[0]``).

``claims_markdown`` renders the table (and optional figure links) as Markdown;
``write_claims_markdown`` writes it for a profile, by default to figures/<profile>/claims.md;
``show(summary, ["C3"])`` displays some rows in a notebook (the notebooks' claim check).
"""
from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any, Callable, Sequence

from . import atomic, results

VERDICTS = ("holds", "partly", "does not hold", "not measured")

# Thresholds of the rules above, named once.
C1_SMALL_FRACTION_OF_VOCAB = 0.01
C1_SMALL_FRACTION_OF_FULL = 0.10
C1_MAX_NODE_JACCARD = 0.5

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


def _num(x: Any) -> float | None:
    """A finite number, or None (missing, null, NaN, bool or not a number)."""
    if isinstance(x, bool) or not isinstance(x, (int, float)):
        return None
    return float(x) if math.isfinite(x) else None


def _compare(a: Any, b: Any, op: Callable[[float, float], bool]) -> bool | None:
    """op(a, b) when both are numbers, else None (unmeasured)."""
    a, b = _num(a), _num(b)
    return None if a is None or b is None else bool(op(a, b))


def _series(values: Any) -> list[float | None] | None:
    """A per-block / per-n series given as a list, or as a dict keyed by (numeric) strings."""
    if isinstance(values, dict):
        try:
            items = sorted(values.items(), key=lambda kv: float(kv[0]))
        except ValueError:
            return None
        return [_num(v) for _, v in items]
    if isinstance(values, (list, tuple)):
        return [_num(v) for v in values]
    return None


def _keyed_series(values: Any) -> list[tuple[float, float]] | None:
    """(key, value) pairs, sorted by key, of a dict keyed by numbers-as-strings (finite values only)."""
    if not isinstance(values, dict):
        return None
    try:
        pairs = sorted((float(k), _num(v)) for k, v in values.items())
    except (TypeError, ValueError):
        return None
    return [(k, v) for k, v in pairs if v is not None]


def combine_checks(checks: Sequence[bool | None]) -> str:
    """The default verdict rule (module docstring)."""
    known = [c for c in checks if c is not None]
    if not known:
        return "not measured"
    if len(known) == len(checks) and all(known):
        return "holds"
    if not any(known):
        return "does not hold"
    return "partly"


def _section(summary: dict, name: str) -> dict | None:
    value = summary.get(name) if isinstance(summary, dict) else None
    return value if isinstance(value, dict) and value else None


# ----------------------------------------------------------------------------- one function per claim
# Each returns (measured: str, verdict: str).


def _c1(summary: dict) -> tuple[str, str]:
    s = _section(summary, "nodes_pretrain")
    if s is None:
        return "", "not measured"
    node = _num(s.get("median_tokens_recognized_node"))
    head = s.get("median_tokens_recognized_head")
    jaccard = _num(s.get("mean_jaccard_nodes"))
    vocab = _num(s.get("vocab_size")) or _num(s.get("n_tokens_evaluated"))
    full = _num(s.get("tokens_recognized_full"))
    parts = [f"median tokens recognized per node {fmt(s.get('median_tokens_recognized_node'))}, "
             f"per head {fmt(head)}"]
    if vocab is not None:
        parts.append(f"of {fmt(s.get('vocab_size', s.get('n_tokens_evaluated')))} tokens")
        limit = C1_SMALL_FRACTION_OF_VOCAB * vocab
    elif full is not None:
        parts.append(f"all nodes together {fmt(s.get('tokens_recognized_full'))}")
        limit = C1_SMALL_FRACTION_OF_FULL * full
    else:
        limit = None
    parts.append(f"mean node Jaccard {fmt(s.get('mean_jaccard_nodes'))}")
    small = None if node is None or limit is None else bool(0 < node < limit)
    distinct = None if jaccard is None else jaccard < C1_MAX_NODE_JACCARD
    return "; ".join(parts), combine_checks([small, distinct])


def _n_labels(summary: dict) -> float | None:
    for section in ("nodes_finetune", "finetune", "hull"):
        s = _section(summary, section)
        if s is not None and _num(s.get("n_labels")) is not None:
            return _num(s.get("n_labels"))
    return None


def _c2(summary: dict) -> tuple[str, str]:
    s = _section(summary, "nodes_finetune")
    if s is None:
        return "", "not measured"
    n_labels = _n_labels(summary)
    node = _num(s.get("median_labels_recognized_node"))
    dc = _num(s.get("mean_diagonal_confidence_node"))
    measured = (f"median labels recognized per node {fmt(s.get('median_labels_recognized_node'))}, "
                f"per head {fmt(s.get('median_labels_recognized_head'))}, of {fmt(n_labels)} labels; "
                f"mean node diagonal confidence {fmt(s.get('mean_diagonal_confidence_node'))}")
    if n_labels:
        measured += f" (chance {fmt(1.0 / n_labels)})"
    small = None if node is None or not n_labels else bool(0 < node < n_labels / 2)
    above_chance = None if dc is None or not n_labels else dc > 1.0 / n_labels
    return measured, combine_checks([small, above_chance])


def _c3(summary: dict) -> tuple[str, str]:
    ssb = _section(summary, "ssb")
    gaps = ssb.get("gap_final") if ssb else None
    gaps = gaps if isinstance(gaps, dict) else {}
    eps = _num(ssb.get("eps")) if ssb else None
    checks: list[bool | None] = []
    parts = []
    if ssb is not None:
        sym, sym_eps, rnd = (gaps.get(k) for k in ("symmetric", "symmetric_eps", "random"))
        parts.append(f"final head gap g: symmetric {fmt(sym)}, symmetric+eps {fmt(sym_eps)}"
                     + (f" (eps {fmt(ssb.get('eps'))})" if eps is not None else "") + f", random {fmt(rnd)}")
        checks.append(None if _num(sym) is None else _num(sym) == 0.0)
        checks.append(_compare(sym_eps, eps if eps is not None else 0.0, lambda a, b: a > b))
        checks.append(_compare(rnd, sym_eps, lambda a, b: a > b))
    for section, what in (("nodes_pretrain", "tokens"), ("nodes_finetune", "labels")):
        s = _section(summary, section)
        if s is None:
            continue
        sym_j, rnd_j = _num(s.get("symmetric_head_jaccard")), _num(s.get("random_head_jaccard"))
        if sym_j is None and rnd_j is None:
            continue
        parts.append(f"head Jaccard of recognized {what}: symmetric {fmt(s.get('symmetric_head_jaccard'))}, "
                     f"random {fmt(s.get('random_head_jaccard'))}")
        if sym_j is not None:
            checks.append(sym_j == 1.0)
        if rnd_j is not None:
            checks.append(rnd_j < 1.0)
    if not checks:
        return "", "not measured"
    return "; ".join(parts), combine_checks(checks)


def _c4(summary: dict) -> tuple[str, str]:
    s = _section(summary, "crossover")
    if s is None:
        return "", "not measured"
    n = _series(s.get("n")) or []
    acc = _series(s.get("accuracy_mean")) or []
    joint = _series(s.get("recognized_mean")) or []
    union = _series(s.get("union_individual_mean")) or []
    has_dip = s.get("has_dip")
    dip = None if not isinstance(has_dip, bool) else has_dip
    n_min = _num(s.get("n_min"))
    parts = []
    if dip:
        at = f" at n = {fmt(n_min)}"
        if n_min in n and len(acc) == len(n):
            at += f" (A {fmt(acc[n.index(n_min)])})"
        parts.append("accuracy dip" + at)
    elif dip is False:
        parts.append("no interior accuracy minimum")
    if acc and n and len(acc) == len(n):
        parts.append(f"A(n = {fmt(n[0])}) {fmt(acc[0])}, A(n = {fmt(n[-1])}) {fmt(acc[-1])}, "
                     f"silent A {fmt(s.get('silent_accuracy'))}")
    cooperation = None
    if n and len(joint) == len(n) and len(union) == len(n):
        i = max(range(len(n)), key=lambda j: n[j] if n[j] is not None else -math.inf)
        cooperation = _compare(joint[i], union[i], lambda a, b: a > b)
        parts.append(f"at n = {fmt(n[i])}: jointly recognized {fmt(joint[i])} "
                     f"vs union of individuals {fmt(union[i])}")
    return "; ".join(parts), combine_checks([dip, cooperation])


def _c5(summary: dict) -> tuple[str, str]:
    s = _section(summary, "hull")
    if s is None:
        return "", "not measured"
    violations = _num(s.get("violations"))
    realized, observed, bound = (_num(s.get(k)) for k in (
        "single_node_realized_median", "single_node_bound_observed_median", "single_node_bound_median"))
    ordered = None if None in (realized, observed, bound) else realized <= observed <= bound
    eta = _keyed_series(s.get("efficiency_by_n"))
    falls = None if not eta or len(eta) < 2 else eta[-1][1] < eta[0][1]
    parts = [f"violations {fmt(s.get('violations'))}",
             f"single node (medians): recognized {fmt(s.get('single_node_realized_median'))} <= observed-box bound "
             f"{fmt(s.get('single_node_bound_observed_median'))} <= bound {fmt(s.get('single_node_bound_median'))}"]
    if eta:
        parts.append(f"efficiency eta(n = {fmt(eta[0][0])}) {fmt(eta[0][1])}, eta(n = {fmt(eta[-1][0])}) {fmt(eta[-1][1])}")
    if violations is not None and violations > 0:
        return "; ".join(parts), "does not hold"
    if violations == 0:
        return "; ".join(parts), "holds" if ordered and falls else "partly"
    return "; ".join(parts), combine_checks([None, ordered, falls])


def _c6(summary: dict) -> tuple[str, str]:
    s = _section(summary, "apt")
    if s is None:
        return "", "not measured"
    rho = _num(s.get("spearman_freq"))
    layers = [v for v in (_series(s.get("mean_by_layer")) or []) if v is not None]
    grows = layers[-1] > layers[0] if len(layers) >= 2 else None
    parts = [f"Spearman(APT, frequency) {fmt(s.get('spearman_freq'))}"]
    if layers:
        parts.append(f"mean APT block 1 {fmt(layers[0])} → block {len(layers)} {fmt(layers[-1])}")
    return "; ".join(parts), combine_checks([None if rho is None else rho > 0, grows])


_RULES: dict[str, Callable[[dict], tuple[str, str]]] = {
    "C1": _c1, "C2": _c2, "C3": _c3, "C4": _c4, "C5": _c5, "C6": _c6,
}


# ----------------------------------------------------------------------------- public API


def claims_table(summary: dict) -> list[dict]:
    """One row per claim C1..C6: {"claim", "title", "paper", "measured", "verdict"}."""
    if not isinstance(summary, dict):
        raise ValueError(f"summary must be a dict (the content of summary.json), got {type(summary).__name__}")
    rows = []
    for claim, (title, paper) in CLAIMS.items():
        measured, verdict = _RULES[claim](summary)
        assert verdict in VERDICTS, verdict
        rows.append({"claim": claim, "title": title, "paper": paper,
                     "measured": measured or "not measured in this run", "verdict": verdict})
    return rows


def claims_text(summary: dict, which: Sequence[str] | None = None) -> str:
    """The rows of the claims in ``which`` (default all) as plain text, one paragraph each."""
    rows = select_rows(summary, which)
    return "\n".join(f"{r['claim']} {r['title']}: {r['verdict'].upper()}\n  paper:    {r['paper']}\n"
                     f"  measured: {r['measured']}" for r in rows)


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


def show(summary: dict, which: Sequence[str] | None = None) -> None:
    """Display the claim check of the claims in ``which``: an HTML table in a notebook (with a
    plain-text fallback), printed text elsewhere."""
    from . import report        # imported here: report imports this module

    rows = select_rows(summary, which)
    text = claims_text(summary, [r["claim"] for r in rows])
    try:
        from IPython import get_ipython
        from IPython.display import display
    except ImportError:
        get_ipython = None
    if get_ipython is not None and get_ipython() is not None:
        display({"text/html": report.claims_html(summary, [r["claim"] for r in rows]), "text/plain": text}, raw=True)
    else:
        print(text)


def _md_cell(text: str) -> str:
    """Text safe inside a Markdown table cell: no pipes, newlines or raw HTML."""
    text = str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


def claims_markdown(summary: dict, figures: list[str] | None = None) -> str:
    """The claims table as Markdown, then (optionally) the figures grouped by claim.

    ``figures``: paths relative to where the Markdown will live, e.g. "03_node_token_map.png";
    a figure goes under the claim whose notebook number (its name's "NN_" prefix) is listed
    in CLAIM_NOTEBOOKS, the rest under "Other figures".
    """
    rows = claims_table(summary)
    profile = summary.get("profile")
    lines = [f"# Claims check{f' — profile `{profile}`' if profile else ''}", "",
             "Every measured value comes from `summary.json` of the run; the verdict rules are in "
             "`lib/ssb/claims.py`.", "",
             "| claim | paper | measured | verdict |", "|---|---|---|---|"]
    for r in rows:
        lines.append(f"| **{r['claim']}** {_md_cell(r['title'])} | {_md_cell(r['paper'])} | "
                     f"{_md_cell(r['measured'])} | **{r['verdict']}** |")
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
    atomic.write_text(path, claims_markdown(results.load_summary(name), figures))
    return path
