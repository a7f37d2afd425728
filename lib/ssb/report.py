"""Everything a reader sees of a run: the claims (text, Markdown, HTML), reports/<name>/index.html,
the notebook pages and the combined report.

The claims for a reader: ``claims_table`` (one row of text per claim, from the verdicts and
records that ``ssb.claims`` decides; nothing here decides), ``claims_text``, ``claims_markdown``
and ``write_claims_markdown`` (figures/<name>/claims.md), ``claims_html`` and ``show_claims``
(the claim check in a notebook).

``<name>`` is the run's results name (``results.results_name``: the profile, plus its
overrides, e.g. ``quick-block5``).  The index, from top to bottom:

0. the effective parameters (``effective_parameters_html``: the overrides highlighted, every
   profile field folded below) and, for a run with overrides, the claims it measured beside
   the base profile's verdicts and core checks (``comparison_html``, read from
   figures/<profile>/summary.json), a differing verdict highlighted;
1. the claims table (``claims_table`` of figures/<name>/summary.json), verdicts
   coloured, each row linking to the notebook sections that measure the claim (the cells that
   call ``report.show_claims``, anchored ``#claim-C3``); the claims not measured share one line.  With a run id only that run's sections are
   used; sections left from earlier runs are named with their time (``results.stale_sections``);
2. the notebook reports present in reports/<name>/ (``NN_name.html``), each with its status
   and wall-clock seconds from ``timings.json`` (written by ``ssb.runner``), and the combined
   printable report ``all_notebooks.html``;
3. the figures figures/<name>/*.png grouped by claim (as in claims.md) as uniform thumbnails
   that open the full-size figure, each captioned with the sentence of its notebook's "What to
   look for" paragraph that names the claim (``figure_captions``, ``look_for_sentence``), and
   the tables figures/<name>/*.csv as links.

Notebook pages (``render_notebook_html``): the title names the notebook, a bar on top links
back to the index, every claim check has an anchor.  Reader mode (the default page) removes
the cells tagged ``bookkeeping`` and papermill's ``injected-parameters`` cell with nbconvert's
TagRemovePreprocessor, and tqdm's "IProgress not found" warning; ``NN_name.all-cells.html``
keeps every cell, as does the executed ``.ipynb``.  ``write_combined`` joins the reader-mode
notebooks into one page with a table of contents, for reading on paper.

Reader pages show the same effective-parameters box below the parameters cell (papermill's
injected cell is hidden there), from the parameters papermill recorded.  No page names a folder
of this machine (``make_portable``, ``results.portable_text``).

Links are relative, so the output root (reports/ and figures/ together) can be copied or
served anywhere.  The page carries no timestamp: the same results give the same bytes, except
for the measured seconds.  Every text is HTML-escaped; the file is written atomically.
"""
from __future__ import annotations

import copy
import html
import json
import math
import os
import re
import struct
import urllib.parse
from pathlib import Path
from typing import Any, Sequence

from . import atomic, claims, results, schema

# Cells removed in reader mode: bookkeeping (writing summary.json and the like) and the cell
# papermill injects with the run's parameters (it repeats absolute paths).
READER_REMOVE_TAGS = ("bookkeeping", "injected-parameters")
FULL_SUFFIX = ".all-cells"          # NN_name.all-cells.html: every cell
COMBINED_PAGE = "all_notebooks.html"
INDEX_PAGE = "index.html"
_CLAIM_CALL = re.compile(r"(?:report\.show_claims|claims\.show)\([^\n]*?\[([^\]]*)\]")
_CLAIM_NAME = re.compile(r"C[1-9]")
_NOISE = re.compile(r"^.*IProgress not found.*$\n?(^\s*from \.autonotebook import.*$\n?)?", re.M)

VERDICT_COLOURS = {
    "holds": "#1a7f37",
    "partly": "#9a6700",
    "inconclusive": "#57606a",
    "does not hold": "#cf222e",
    "not testable": "#8250df",
    "not measured": "#6e7781",
}

STATUS_TEXT = {
    "ok": "ok",
    "failed": "failed",
    "skipped": "not run (a notebook before it failed); report from an earlier run",
}

STYLE = """
body { font-family: -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; margin: 2em auto; max-width: 1200px;
       padding: 0 1em; color: #1f2328; }
table { border-collapse: collapse; margin: 1em 0; }
th, td { border: 1px solid #d0d7de; padding: 0.4em 0.6em; text-align: left; vertical-align: top; }
th { background: #f6f8fa; }
td.verdict { font-weight: bold; white-space: nowrap; }
td.verdict small.why { display: block; white-space: normal; min-width: 14em; max-width: 20em; font-weight: normal; }
table.claims { width: 100%; table-layout: fixed; }
table.claims td, table.claims th { overflow-wrap: anywhere; }
table.claims col.claim { width: 16%; } table.claims col.verdict { width: 11%; }
table.claims col.why { width: 38%; } table.claims col.headline { width: 25%; } table.claims col.where { width: 10%; }
table.claims tr.details td { background: #f6f8fa; font-size: 0.9em; }
table.claims details > summary { cursor: pointer; color: #0969da; }
.gallery { display: grid; grid-template-columns: repeat(auto-fill, minmax(260px, 1fr)); gap: 1em; }
.gallery figure { margin: 0; min-width: 0; border: 1px solid #d0d7de; border-radius: 6px; padding: 0.5em;
                  display: flex; flex-direction: column; }
.gallery a.thumb { display: block; height: 190px; background: #fff; }
.gallery img { width: 100%; height: 100%; object-fit: contain; display: block; }
.gallery figcaption { font-size: 0.85em; margin-top: 0.4em; overflow-wrap: anywhere; }
.gallery figcaption .file { display: block; font-family: ui-monospace, monospace; color: #57606a; }
.gallery figcaption details > summary { cursor: pointer; color: #0969da; }
.params { border: 1px solid #d0d7de; border-radius: 6px; padding: 0.5em 0.8em; margin: 1em 0;
          background: #f6f8fa; font-size: 0.9em; }
.params .override { background: #fff8c5; border: 1px solid #d4a72c; border-radius: 4px; padding: 0 0.3em;
                    font-weight: bold; }
.params ul.all { columns: 16em; list-style: none; padding: 0; margin: 0.5em 0 0 0; }
.params ul.all li { overflow-wrap: anywhere; }
.params code { white-space: normal; }
table.compare { width: 100%; table-layout: fixed; }
table.compare td, table.compare th { overflow-wrap: anywhere; }
table.compare td.changed { background: #fff8c5; }
tr.unmeasured td { color: #6e7781; }
.failed { color: #cf222e; font-weight: bold; }
.stale { color: #6e7781; font-size: 0.9em; }
nav.back { font-size: 0.9em; }
""".strip()


def reports_dir(name: str) -> Path:
    """reports/<name>/ (``name``: a results name, see ``results.results_name``)."""
    return results.output_root() / "reports" / results.results_name(name)


def load_timings(name: str) -> dict:
    """{notebook stem: {"seconds": float | None, "status": str, "parameters": dict}}, {} if absent."""
    path = reports_dir(name) / "timings.json"
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError:
        return {}
    return data if isinstance(data, dict) else {}


def _esc(x) -> str:
    return html.escape(str(x), quote=True)


def _href(target: Path, start: Path) -> str:
    """A relative, URL-quoted link from directory ``start`` to ``target``."""
    rel = os.path.relpath(target.resolve(), start.resolve())
    return _esc(urllib.parse.quote(Path(rel).as_posix()))


def _notebook_status(executed: Path, timing: dict | None) -> str:
    """From timings.json when recorded, else from papermill's metadata in the executed copy."""
    if timing and timing.get("status"):
        return str(timing["status"])
    if executed.is_file():
        try:
            meta = json.loads(executed.read_text()).get("metadata", {}).get("papermill", {})
        except (json.JSONDecodeError, AttributeError):
            return "unknown"
        return "failed" if meta.get("exception") else "ok"
    return "unknown"


# ----------------------------------------------------------------------------- notebook pages


def notebook_heading(nb) -> str:
    """The text of the notebook's first Markdown heading ("" when it has none)."""
    for cell in nb.cells:
        if cell.cell_type != "markdown":
            continue
        for line in cell.source.splitlines():
            if line.startswith("#"):
                return line.lstrip("#").strip()
    return ""


def notebook_title(stem: str, nb) -> str:
    """``"03_nodes_pretrain — <first heading>"``: what a browser tab shows."""
    heading = notebook_heading(nb)
    return f"{stem} — {heading}" if heading else stem


def claims_checked(nb) -> list[str]:
    """The claims ("C1".."C6") whose check a notebook shows, in order: the lists passed to
    ``report.show_claims(..., ["C1", "C3"])`` in its code cells."""
    found: list[str] = []
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        for match in _CLAIM_CALL.finditer(cell.source):
            for claim in _CLAIM_NAME.findall(match.group(1)):
                if claim not in found:
                    found.append(claim)
    return found


def claim_anchor(claim: str, prefix: str = "") -> str:
    return f"{prefix}claim-{claim}"


def _anchor_cell(ids: list[str]):
    import nbformat

    return nbformat.v4.new_markdown_cell("".join(f'<a id="{_esc(i)}"></a>' for i in ids))


def _drop_progress_noise(nb) -> None:
    """Remove tqdm's "IProgress not found" warning (and the line it quotes) from stderr outputs."""
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        kept = []
        for out in cell.get("outputs", []):
            if out.get("output_type") == "stream" and out.get("name") == "stderr":
                out["text"] = _NOISE.sub("", out.get("text", ""))
                if not out["text"].strip():
                    continue
            kept.append(out)
        cell["outputs"] = kept


_OUTPUT_TEXT_TYPES = ("text/plain", "text/html", "text/markdown", "text/latex")


def make_portable(nb) -> None:
    """The notebook's sources and text outputs without this machine's folders (in place;
    ``results.portable_text``): printed paths, tracebacks, papermill's injected parameters."""
    def text(value):
        if isinstance(value, list):
            return [results.portable_text(v) if isinstance(v, str) else v for v in value]
        return results.portable_text(value) if isinstance(value, str) else value

    papermill = nb.metadata.get("papermill")
    if isinstance(papermill, dict):                   # input_path, output_path, parameters.data_dir
        nb.metadata["papermill"] = results.portable_paths(papermill)
    for cell in nb.cells:
        cell["source"] = text(cell.get("source", ""))
        for out in cell.get("outputs", []) if cell.get("cell_type") == "code" else []:
            if "text" in out:
                out["text"] = text(out["text"])
            for kind in _OUTPUT_TEXT_TYPES:
                if kind in out.get("data", {}):
                    out["data"][kind] = text(out["data"][kind])
            if "traceback" in out:
                out["traceback"] = text(out["traceback"])
            if "evalue" in out:
                out["evalue"] = text(out["evalue"])


def make_portable_file(path: Path) -> None:
    """Rewrite an executed notebook without this machine's folders (``make_portable``), atomically."""
    import nbformat

    nb = nbformat.read(path, as_version=4)
    make_portable(nb)
    atomic.write_text(path, nbformat.writes(nb))


def prepare_for_reading(nb, stem: str, *, reader: bool = True, anchor_prefix: str = "", nav: str | None = None):
    """A copy of an executed notebook ready to render: claim anchors before each claim check,
    an optional navigation cell on top, and in reader mode without the bookkeeping and
    injected-parameters cells (nbconvert's TagRemovePreprocessor) and tqdm's widget warning."""
    from nbconvert.preprocessors import TagRemovePreprocessor

    nb = copy.deepcopy(nb)
    make_portable(nb)
    nb.metadata["title"] = notebook_title(stem, nb)
    if reader:
        remover = TagRemovePreprocessor(remove_cell_tags=set(READER_REMOVE_TAGS), enabled=True)
        nb, _ = remover.preprocess(nb, {})
        _drop_progress_noise(nb)
    box = _papermill_parameters_box(nb) if reader else None
    cells = []
    for cell in nb.cells:
        if cell.cell_type == "code":
            ids = [claim_anchor(c, anchor_prefix) for c in claims_checked(_single(cell))]
            if ids:
                cells.append(_anchor_cell(ids))
        cells.append(cell)
        if box and "parameters" in cell.get("metadata", {}).get("tags", []):
            import nbformat
            cells.append(nbformat.v4.new_markdown_cell(box))   # the parameters cell says None; this, what ran
            box = None
    if nav:
        import nbformat
        cells.insert(0, nbformat.v4.new_markdown_cell(nav))
    nb.cells = cells
    return nb


def _single(cell):
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.cells = [cell]
    return nb


def _nav_html(stem: str, reader: bool) -> str:
    other = (f'<a href="{_esc(stem + FULL_SUFFIX)}.html">every cell</a>' if reader
             else f'<a href="{_esc(stem)}.html">reader mode</a>')
    return (f'<nav class="back">← <a href="{INDEX_PAGE}">index of this run</a> · '
            f'<a href="{COMBINED_PAGE}">all notebooks</a> · {other} · '
            f'<a href="{_esc(stem)}.ipynb">executed notebook</a></nav>')


def render_notebook_html(executed: Path, target: Path, exporter=None, *, reader: bool = True) -> None:
    """The HTML page of an executed notebook (see ``prepare_for_reading``), atomically."""
    import nbformat
    from nbconvert import HTMLExporter

    nb = nbformat.read(executed, as_version=4)
    page = prepare_for_reading(nb, executed.stem, reader=reader, nav=_nav_html(executed.stem, reader))
    body, _ = (exporter or HTMLExporter()).from_notebook_node(page, resources={"metadata": {"name": page.metadata["title"]}})
    atomic.write_text(target, body)


def full_page(page: Path) -> Path:
    """NN_name.all-cells.html beside NN_name.html."""
    return page.with_name(page.stem + FULL_SUFFIX + page.suffix)


def _notebook_stems(out_dir: Path) -> list[str]:
    stems = {p.stem for p in out_dir.glob("[0-9][0-9]_*.html")} | {p.stem for p in out_dir.glob("[0-9][0-9]_*.ipynb")}
    return sorted(s for s in stems if "." not in s)


def combined_notebook(executed: list[Path], title: str):
    """One notebook of the reader-mode cells of ``executed`` (in order), each under a heading
    with an anchor and a page break, after a table of contents."""
    import nbformat

    combined = nbformat.v4.new_notebook()
    combined.metadata["title"] = title
    toc = [f"# {title}", "", "Contents:", ""]
    body = []
    for path in executed:
        nb = nbformat.read(path, as_version=4)
        stem = path.stem
        page = prepare_for_reading(nb, stem, reader=True, anchor_prefix=f"{stem}-")
        heading = notebook_title(stem, nb)
        toc.append(f'1. <a href="#{_esc(stem)}">{_esc(heading)}</a>')
        body.append(nbformat.v4.new_markdown_cell(
            f'<div class="page-break" style="break-before: page; page-break-before: always"></div>'
            f'<a id="{_esc(stem)}"></a>\n\n<p style="color: #6e7781">notebook {_esc(stem)}</p>'))
        for i, cell in enumerate(page.cells):        # ids unique across the notebooks
            cell["id"] = f"{stem}-{i}"[:64]
        body.extend(page.cells)
        for key in ("kernelspec", "language_info"):
            if key in nb.metadata and key not in combined.metadata:
                combined.metadata[key] = copy.deepcopy(nb.metadata[key])
    nav = f'<nav class="back">← <a href="{INDEX_PAGE}">index of this run</a></nav>'
    combined.cells = [nbformat.v4.new_markdown_cell(nav + "\n\n" + "\n".join(toc))] + body
    return combined


def write_combined(name: str, exporter=None) -> Path | None:
    """reports/<name>/all_notebooks.html: every executed notebook of the run in reader mode,
    one after the other, with a table of contents.  None when no notebook was executed."""
    from nbconvert import HTMLExporter

    out_dir = reports_dir(name)
    executed = [out_dir / f"{s}.ipynb" for s in _notebook_stems(out_dir) if (out_dir / f"{s}.ipynb").is_file()]
    if not executed:
        return None
    title = f"Single-nodal SSB — all notebooks — {results.results_name(name)}"
    nb = combined_notebook(executed, title)
    body, _ = (exporter or HTMLExporter()).from_notebook_node(nb, resources={"metadata": {"name": title}})
    path = out_dir / COMBINED_PAGE
    atomic.write_text(path, body)
    return path


# ----------------------------------------------------------------------------- the claims for a reader
#
# The verdicts and the records behind them come from ``claims.claims_summary``; what follows
# only turns them into rows of text, Markdown (claims.md) and, further down, HTML.

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
    if base in LARGER_PROFILE:
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
             "Every measured value comes from `summary.json` of the run; the verdict rules are in "
             "`lib/ssb/claims.py` and docs/method.md (\"Verdicts\"). *Evidence* checks decide: each beside a "
             "null that a model without information could pass, one of them the claim's core check. "
             "*Requirements* (levels the claim's words need, e.g. \"each node\") never support a verdict on "
             "their own, but \"holds\" needs them and they can contradict. Sanity checks (true by "
             "construction) and context are shown, marked, and never decide. "
             "A check passes when its whole 95 % interval lies on the claimed side of its null (✓), "
             "contradicts when it lies on the other side (✗); ○ inconclusive, – missing. A failed or "
             "missing gate, or a missing core check, makes the claim \"not testable\".", "",
             _markdown_table(rows)]
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


# ----------------------------------------------------------------------------- the index


def claim_sections(out_dir: Path) -> dict[str, list[str]]:
    """{claim: [notebook stems whose page shows its check]}, read from the executed notebooks."""
    import nbformat

    found: dict[str, list[str]] = {}
    for stem in _notebook_stems(out_dir):
        path = out_dir / f"{stem}.ipynb"
        if not path.is_file():
            continue
        try:
            nb = nbformat.read(path, as_version=4)
        except Exception:                  # noqa: BLE001 - an unreadable notebook links nowhere
            continue
        for claim in claims_checked(nb):
            found.setdefault(claim, []).append(stem)
    return found


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


def claims_html(summary: dict, which=None, sections: dict[str, list[str]] | None = None,
                out_dir: Path | None = None, fold_unmeasured: bool = False) -> str:
    """The claims dashboard (or the rows of the claims in ``which``) as an HTML table that fits
    the page: claim, verdict (coloured), its reason (evidence checks ✓/✗, or the gate that failed),
    the core check with its interval and, with ``sections`` ({claim: [notebook stems]}), links to
    the notebook sections that measure it (pages NN_name.html#claim-Cn in ``out_dir``).  The
    paper's words, gates, statistics, intervals and nulls unfold below each row.
    ``fold_unmeasured``: the claims this run did not measure share one line at the end."""
    linked = sections is not None
    unmeasured: list[str] = []
    decided = claims.claims_summary(summary)["stats"]
    cols = ["claim", "verdict", "why", "headline"] + (["where"] if linked else [])
    header = ("<colgroup>" + "".join(f"<col class=\"{c}\">" for c in cols) + "</colgroup>"
              "<tr><th>claim</th><th>verdict</th><th>why: evidence checks (core first)</th><th>core check</th>"
              + ("<th>measured in</th>" if linked else "") + "</tr>")
    rows = ["<table class=\"claims\">", header]
    for r in select_rows(summary, which):
        if fold_unmeasured and r["verdict"] == "not measured":
            unmeasured.append(r["claim"])
            continue
        colour = VERDICT_COLOURS.get(r["verdict"], "#1f2328")
        cells = (f"<td id=\"{_esc(r['claim'])}\"><b>{_esc(r['claim'])}</b> {_esc(r['title'])}</td>"
                 f"<td class=\"verdict\" style=\"color: {colour}\">{_esc(r['verdict'])}</td>"
                 f"<td><small class=\"why\">{_esc(r.get('why') or '')}</small></td>"
                 f"<td>{_esc(headline(decided[r['claim']]))}</td>")
        if linked:
            cells += f"<td>{'<br>'.join(_section_links(r['claim'], sections, out_dir))}</td>"
        rows.append(f"<tr>{cells}</tr>")
        if r["verdict"] != "not measured":
            detail = "".join(f"<p><b>{k}</b>: {_esc(r.get(k, ''))}</p>"
                             for k in ("paper", "measured", "gate", "statistic", "interval", "null"))
            rows.append(f"<tr class=\"details\"><td colspan=\"{len(cols)}\"><details><summary>{_esc(r['claim'])}: "
                        f"the paper's words, gates, statistics, intervals and nulls</summary>{detail}</details></td></tr>")
    if unmeasured:
        links = {c: _section_links(c, sections, out_dir) for c in unmeasured} if linked else {}
        rows.append(f"<tr class=\"unmeasured\"><td colspan=\"{len(cols)}\">{_unmeasured_text(unmeasured, links)}</td></tr>")
    rows.append("</table>")
    return "\n".join(rows)


def _section_links(claim: str, sections: dict[str, list[str]] | None, out_dir: Path | None) -> list[str]:
    """Links to the notebook sections that show a claim's check (NN_name.html#claim-Cn)."""
    links = []
    for stem in (sections or {}).get(claim, []):
        page = (out_dir / f"{stem}.html") if out_dir is not None else None
        target = f"{stem}.html#{claim_anchor(claim)}"
        links.append(f"<a href=\"{_esc(target)}\">{_esc(stem)}</a>" if page is None or page.is_file() else _esc(stem))
    return links


def _unmeasured_text(names: Sequence[str], links: dict[str, list[str]] | None = None) -> str:
    links = links or {}
    listed = ", ".join(f"<span id=\"{_esc(c)}\">{_esc(c)}</span> {_esc(claims.CLAIMS[c][0])}"
                       + (f" ({', '.join(links[c])})" if links.get(c) else "") for c in names)
    return f"Not measured in this run ({len(names)} of {len(claims.CLAIMS)}; their notebooks did not run): {listed}"


# ----------------------------------------------------------------------------- runs with overrides


def base_summary(name: str) -> tuple[str, dict] | None:
    """(base profile, its summary) for a results name with overrides (``quick-block5`` -> the
    profile ``quick``'s figures/quick/summary.json), None for a profile's own run or when the base
    profile has no summary.json."""
    base = name.split("-")[0]
    if base == name:
        return None
    path = results.output_root() / "figures" / base / "summary.json"
    if not path.is_file():
        return None
    try:
        return base, schema.with_current_keys(json.loads(path.read_text()))
    except (json.JSONDecodeError, ValueError):
        return None


def _decided(summary: dict) -> dict:
    """The verdicts and records of a summary: those stored by its last finished run
    (``claims_stats``), else decided now."""
    stored = summary.get("claims_stats")
    if isinstance(stored, dict) and all(isinstance(stored.get(c), dict) for c in claims.CLAIMS):
        return stored
    return claims.claims_summary(summary)["stats"]


def _verdict_cell(decided: dict, css: str = "") -> str:
    v = decided.get("verdict", "not measured")
    colour = VERDICT_COLOURS.get(v, "#1f2328")
    line = headline(decided)
    return (f"<td{css}><b style=\"color: {colour}\">{_esc(v)}</b>"
            + (f"<br><small>{_esc(line)}</small>" if line else "") + "</td>")


def comparison_html(summary: dict, base_name: str, base: dict, overrides: dict | None = None) -> str:
    """The claims measured in a run with overrides beside the base profile's verdicts and core
    checks (its summary.json); a verdict that differs is highlighted.  "" when the run measured no claim."""
    mine, theirs = claims.claims_summary(summary)["stats"], _decided(base)
    measured = [c for c in claims.CLAIMS if mine[c]["verdict"] != "not measured"]
    if not measured:
        return ""
    changes = ", ".join(f"{k} = {v!r}" for k, v in sorted((overrides or {}).items()))
    rows = ["<table class=\"compare\">",
            "<colgroup><col style=\"width: 20%\"><col style=\"width: 40%\"><col style=\"width: 40%\"></colgroup>",
            f"<tr><th>claim</th><th>this run ({_esc(changes) or 'overrides'})</th>"
            f"<th>base profile <code>{_esc(base_name)}</code> (figures/{_esc(base_name)}/summary.json)</th></tr>"]
    for c in measured:
        other = theirs.get(c) or {"verdict": "not measured"}
        changed = other.get("verdict") != mine[c]["verdict"]
        css = " class=\"changed\"" if changed else ""
        rows.append(f"<tr><td><a href=\"#{_esc(c)}\"><b>{_esc(c)}</b></a> {_esc(claims.CLAIMS[c][0])}</td>"
                    f"{_verdict_cell(mine[c], css)}{_verdict_cell(other, css)}</tr>")
    rows.append("</table>")
    return "\n".join(rows)


# ----------------------------------------------------------------------------- effective parameters


def effective_parameters_html(profile: str, overrides: dict | None = None, extras: dict | None = None) -> str:
    """A small box: the overrides highlighted (with the profile's own value), then every effective
    profile field folded below.  ``overrides``: {field: value} that the run changed (non-profile
    names such as ``checkpoint`` are shown as overrides too); ``extras``: other run parameters
    shown plainly (``data_dir``).  Inline styles, so that it reads the same inside a notebook page."""
    from . import profiles

    overrides = {k: v for k, v in (overrides or {}).items() if v is not None}
    fields = {k: v for k, v in overrides.items() if k in profiles.FIELD_NAMES}
    try:
        base = profiles.get_profile(profile).to_dict()
        effective = profiles.get_profile(profile, **fields).to_dict()
    except (KeyError, ValueError, TypeError) as err:
        return f"<div class=\"params\"><b>Effective parameters</b>: profile <code>{_esc(profile)}</code> ({_esc(err)})</div>"
    mark = ("background: #fff8c5; border: 1px solid #d4a72c; border-radius: 4px; padding: 0 0.3em; "
            "font-weight: bold")
    shown = []
    for k, v in sorted(overrides.items()):
        was = f" (profile: {base[k]!r})" if k in base else ""
        shown.append(f"<span class=\"override\" style=\"{mark}\">{_esc(k)} = {_esc(repr(results.portable_paths(v)))}"
                     f"</span>{_esc(was)}")
    head = (f"<b>Effective parameters</b>: profile <code>{_esc(profile)}</code>, "
            + ("overrides: " + " · ".join(shown) if shown else "no overrides"))
    if extras:
        head += "; " + ", ".join(f"{_esc(k)} = <code>{_esc(repr(results.portable_paths(v)))}</code>"
                                 for k, v in sorted(extras.items()))
    items = "".join(f"<li>" + (f"<span class=\"override\" style=\"{mark}\">" if k in overrides else "<span>")
                    + f"{_esc(k)} = {_esc(repr(v))}</span></li>" for k, v in effective.items() if k != "name")
    return (f"<div class=\"params\" style=\"border: 1px solid #d0d7de; border-radius: 6px; padding: 0.5em 0.8em; "
            f"background: #f6f8fa; font-size: 0.9em; margin: 1em 0\">{head}"
            f"<details><summary>all {len(effective) - 1} profile fields</summary>"
            f"<ul class=\"all\" style=\"columns: 16em; list-style: none; padding: 0; margin: 0.5em 0 0 0\">{items}</ul>"
            f"</details></div>")


def _papermill_parameters_box(nb) -> str | None:
    """The effective-parameters box of an executed notebook, from the parameters papermill injected."""
    from . import profiles

    params = (nb.metadata.get("papermill") or {}).get("parameters")
    if not isinstance(params, dict) or not params.get("profile"):
        return None
    overrides = {k: v for k, v in params.items() if k not in ("profile", "data_dir", "force") and v is not None}
    extras = {k: params[k] for k in ("data_dir", "force") if params.get(k) not in (None, False)}
    return effective_parameters_html(str(params["profile"]), overrides, extras)


def notebooks_html(name: str) -> str:
    out_dir = reports_dir(name)
    timings = load_timings(name)
    # a notebook that failed is listed with its failure page (NN.failed.html) beside its last good report
    stems = sorted(set(_notebook_stems(out_dir)) | {p.name[:-len(".failed.html")] for p in out_dir.glob("[0-9][0-9]_*.failed.html")})
    if not stems:
        return "<p>No notebook reports yet: run <code>./run_all.sh</code>.</p>"
    rows = ["<table class=\"notebooks\">", "<tr><th>notebook</th><th>status</th><th>seconds</th><th>parameters</th></tr>"]
    for stem in stems:
        timing = timings.get(stem) if isinstance(timings.get(stem), dict) else None
        status = _notebook_status(out_dir / f"{stem}.ipynb", timing)
        page = out_dir / f"{stem}.html"
        name_html = f"<a href=\"{_href(page, out_dir)}\">{_esc(stem)}</a>" if page.is_file() else _esc(stem)
        extras = []
        if full_page(page).is_file():
            extras.append(f"<a href=\"{_href(full_page(page), out_dir)}\">every cell</a>")
        executed = out_dir / f"{stem}.ipynb"
        if executed.is_file():
            extras.append(f"<a href=\"{_href(executed, out_dir)}\">ipynb</a>")
        failure = out_dir / f"{stem}.failed.html"
        if status in ("failed", "interrupted") and failure.is_file():
            extras.append(f"<a href=\"{_href(failure, out_dir)}\">the failure</a>")
        if status in ("failed", "interrupted") and page.is_file():
            extras.append("the link shows the last good run")
        if extras:
            name_html += " (" + ", ".join(extras) + ")"
        seconds = timing.get("seconds") if timing else None
        seconds_text = f"{seconds:.1f}" if isinstance(seconds, (int, float)) else ""
        params = timing.get("parameters") if timing else None
        params_text = ", ".join(f"{k}={v!r}" for k, v in sorted(params.items())) if isinstance(params, dict) else ""
        css = " class=\"failed\"" if status == "failed" else ""
        rows.append(f"<tr><td>{name_html}</td><td{css}>{_esc(STATUS_TEXT.get(status, status))}</td>"
                    f"<td>{_esc(seconds_text)}</td><td><code>{_esc(params_text)}</code></td></tr>")
    rows.append("</table>")
    combined = out_dir / COMBINED_PAGE
    if combined.is_file():
        rows.append(f"<p>All notebooks on one printable page, with a table of contents: "
                    f"<a href=\"{_href(combined, out_dir)}\">{COMBINED_PAGE}</a></p>")
    return "\n".join(rows)


def png_size(path: Path) -> tuple[int, int] | None:
    """(width, height) from a PNG's header, None if it is not a PNG."""
    try:
        with open(path, "rb") as f:
            head = f.read(24)
    except OSError:
        return None
    if len(head) < 24 or head[:8] != b"\x89PNG\r\n\x1a\n":
        return None
    return struct.unpack(">II", head[16:24])


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


_LOOK_FOR = "What to look for"
_FIGURE_NAME = re.compile(r"""["'](\d\d_[A-Za-z0-9_]+)["']""")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z(])")


def figure_captions(notebooks: Sequence[Path]) -> dict[str, str]:
    """{figure name: its "What to look for" paragraph} from the notebooks: the Markdown cell that
    starts with it describes the figures whose names ("NN_name") the code cells above it, since
    the previous such paragraph, mention (``results.save_figure(fig, P, "03_node_token_map")``)."""
    import nbformat

    found: dict[str, str] = {}
    for path in notebooks:
        try:
            nb = nbformat.read(path, as_version=4)
        except Exception:                  # noqa: BLE001 - a notebook that cannot be read gives no captions
            continue
        pending: list[str] = []
        for cell in nb.cells:
            if cell.cell_type == "code":
                pending += [n for n in _FIGURE_NAME.findall(cell.source) if n not in pending]
            elif cell.cell_type == "markdown" and _LOOK_FOR in cell.source:
                paragraph = " ".join(cell.source.split())
                for name in pending:
                    found.setdefault(name, paragraph)
                pending = []
    return found


def look_for_sentence(paragraph: str) -> str:
    """The sentence of a "What to look for" paragraph that says what the claim predicts (the first
    naming a claim "Cn", else the first sentence), without Markdown emphasis."""
    text = re.sub(r"\*\*?What to look for\.?\*\*?\s*", "", paragraph).replace("**", "").replace("`", "")
    sentences = [x.strip() for x in _SENTENCE_END.split(text) if x.strip()]
    if not sentences:
        return ""
    claim = next((x for x in sentences if re.search(r"\bC[1-6]\b", x)), None)
    return claim or sentences[0]


def look_for_paragraph(paragraph: str) -> str:
    """The whole paragraph without its "What to look for." lead and Markdown emphasis."""
    return re.sub(r"\*\*?What to look for\.?\*\*?\s*", "", paragraph).replace("**", "").replace("`", "")


def _caption_sources(name: str) -> list[Path]:
    """The executed notebooks of the run (they hold the paragraphs as they ran), else the repository's."""
    out_dir = reports_dir(name)
    executed = [out_dir / f"{s}.ipynb" for s in _notebook_stems(out_dir) if (out_dir / f"{s}.ipynb").is_file()]
    return executed or sorted((results.repo_root() / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def figures_html(name: str, start: Path) -> str:
    """The gallery: uniform thumbnails grouped by claim, each opening the full-size figure and
    captioned with the sentence of its "What to look for" paragraph that names the claim (the
    whole paragraph unfolds below it); then the tables and summary.json."""
    fig_dir = results.figures_dir(name)
    pngs = sorted(fig_dir.glob("*.png"))
    csvs = sorted(fig_dir.glob("*.csv"))
    captions = figure_captions(_caption_sources(name)) if pngs else {}
    parts = []
    if pngs:
        for heading, group in figures_by_claim(pngs):
            parts.append(f"<h3>{_esc(heading)}</h3>")
            parts.append("<div class=\"gallery\">")
            for p in group:
                href = _href(p, start)
                paragraph = captions.get(p.stem, "")
                sentence = look_for_sentence(paragraph) if paragraph else ""
                caption = f"<span class=\"file\">{_esc(p.name)}</span>"
                if sentence:
                    caption += _esc(sentence)
                    if len(paragraph) > len(sentence) + 40:
                        caption += (f"<details><summary>what to look for</summary>"
                                    f"{_esc(look_for_paragraph(paragraph))}</details>")
                parts.append(f"<figure><a class=\"thumb\" href=\"{href}\" title=\"open {_esc(p.name)} full size\">"
                             f"<img src=\"{href}\" alt=\"{_esc(p.stem)}\" loading=\"lazy\"></a>"
                             f"<figcaption>{caption}</figcaption></figure>")
            parts.append("</div>")
    else:
        parts.append("<p>No figures yet.</p>")
    parts.append("<h2>Tables</h2>")
    if csvs:
        parts.append("<ul>" + "".join(f"<li><a href=\"{_href(p, start)}\">{_esc(p.name)}</a></li>" for p in csvs) + "</ul>")
    else:
        parts.append("<p>No tables yet.</p>")
    summary = fig_dir / "summary.json"
    if summary.is_file():
        parts.append(f"<p>All measured numbers: <a href=\"{_href(summary, start)}\">summary.json</a></p>")
    return "\n".join(parts)


def index_html(name: str, run_id: str | None = None) -> str:
    """The index page of the run whose results name is ``name``; with ``run_id``, the claims
    use only the summary sections that run wrote."""
    name = results.results_name(name)
    out_dir = reports_dir(name)
    title = f"Single-nodal SSB — {name}"
    try:
        summary, summary_note = results.load_summary(name), ""
    except ValueError as err:   # a corrupt summary.json: say so instead of failing the whole page
        summary, summary_note = {}, f"<p class=\"failed\">{_esc(err)}</p>"
    current = results.current_run_sections(summary, run_id) if run_id else summary
    stale = results.describe_stale(results.stale_sections(summary, run_id)) if run_id else ""
    if stale:
        summary_note += f"<p class=\"stale\">{_esc(stale)}</p>"
    overrides = summary.get("overrides") or {}
    overrides_text = (" with overrides <code>" + _esc(", ".join(f"{k}={v!r}" for k, v in sorted(overrides.items())))
                      + "</code>") if isinstance(overrides, dict) and overrides else ""
    method = results.repo_root() / "docs" / "method.md"
    profile = str(summary.get("profile") or name).split("-")[0]      # a summary may carry the results name
    base = base_summary(name)
    compare = comparison_html(current, base[0], base[1], overrides if isinstance(overrides, dict) else {}) \
        if base is not None else ""
    if compare:
        compare = (f"<h2>Measured in this run, beside the profile <code>{_esc(base[0])}</code></h2>\n" + compare +
                   f"<p class=\"stale\">Highlighted: a verdict that differs from the base profile's. The base "
                   f"numbers are those of figures/{_esc(base[0])}/summary.json as its last run left them.</p>")
    elif name != profile:
        compare = (f"<p class=\"stale\">No base numbers to compare with: figures/{_esc(profile)}/summary.json "
                   f"is absent, or this run measured no claim.</p>")
    return "\n".join([
        "<!DOCTYPE html>",
        "<html lang=\"en\">",
        "<head>",
        "<meta charset=\"utf-8\">",
        f"<title>{_esc(title)}</title>",
        f"<style>\n{STYLE}\n</style>",
        "</head>",
        "<body>",
        f"<h1>{_esc(title)}</h1>",
        f"<p>Companion to <i>Single-Nodal Spontaneous Symmetry Breaking in NLP Models</i> (arXiv 2601.20582). "
        f"Profile <code>{_esc(profile)}</code>{overrides_text}; "
        f"definitions in {_method_link(method, out_dir)}, "
        f"verdict rules in <code>lib/ssb/claims.py</code>.</p>",
        effective_parameters_html(profile, overrides if isinstance(overrides, dict) else {}),
        compare,
        "<h2>Claims</h2>",
        summary_note + claims_html(current, sections=claim_sections(out_dir), out_dir=out_dir, fold_unmeasured=True),
        "<h2>Notebook reports</h2>",
        notebooks_html(name),
        "<h2>Figures</h2>",
        figures_html(name, out_dir),
        "</body>",
        "</html>",
        "",
    ])


def _method_link(method: Path, out_dir: Path) -> str:
    """docs/method.md linked relatively when it lies under the output root with the reports (the
    usual layout); else named only, as a link would lead through this machine's folders."""
    root = results.output_root().resolve()
    if method.resolve().is_relative_to(root):
        return f"<a href=\"{_href(method, out_dir)}\">docs/method.md</a>"
    return "<code>docs/method.md</code> (in the repository)"


def write_index(name: str, run_id: str | None = None) -> Path:
    """Write reports/<name>/index.html (atomically) and return its path."""
    path = reports_dir(name) / INDEX_PAGE
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic.write_text(path, results.portable_text(index_html(name, run_id)))
    return path


def show_claims(summary: dict, which: Sequence[str] | None = None) -> None:
    """Display the claim check of the claims in ``which``: an HTML table in a notebook (with a
    plain-text fallback), printed text elsewhere."""
    note = results.describe_stale(results.stale_sections(summary))   # values of earlier runs are left out
    summary = results.current_run_sections(summary)
    rows = select_rows(summary, which)
    names = [r["claim"] for r in rows]
    text = claims_text(summary, names) + (f"\n{note}" if note else "")
    try:
        from IPython import get_ipython
        from IPython.display import display
    except ImportError:
        get_ipython = None
    if get_ipython is not None and get_ipython() is not None:
        html = claims_html(summary, names) + (f"<p><i>{note}</i></p>" if note else "")
        display({"text/html": html, "text/plain": text}, raw=True)
    else:
        print(text)
