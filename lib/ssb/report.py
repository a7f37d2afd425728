"""What a reader opens first: reports/<name>/index.html, and the claim check in a notebook
(``show_claims``: the claims table as HTML, text elsewhere).

``<name>`` is the run's results name (``results.results_name``: the profile, plus its
overrides, e.g. ``quick-block5``).  The index, from top to bottom:

0. the effective parameters (``effective_parameters_html``: the overrides highlighted, every
   profile field folded below) and, for a run with overrides, the claims it measured beside
   the base profile's verdicts and core checks (``comparison_html``, read from
   figures/<profile>/summary.json), a differing verdict highlighted;
1. the claims table (``verdict_text.claims_table`` of figures/<name>/summary.json), verdicts
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

The claims' words (rows, reasons, claims.md) come from ``ssb.verdict_text``; the notebook pages,
all_notebooks.html and the effective-parameters box from ``ssb.notebook_pages``.

Links are relative, so the output root (reports/ and figures/ together) can be copied or
served anywhere.  The page carries no timestamp: the same results give the same bytes, except
for the measured seconds.  Every text is HTML-escaped; the file is written atomically.
"""
from __future__ import annotations

import json
import os
import re
import struct
import urllib.parse
from pathlib import Path
from typing import Sequence

from . import atomic, claims, results, schema
from .notebook_pages import (COMBINED_PAGE, INDEX_PAGE, claim_anchor, claims_checked, effective_parameters_html, esc,
                             full_page, load_timings, notebook_stems, reports_dir)
from .verdict_text import claims_text, figures_by_claim, headline, select_rows
from .verdict_text import write_claims_markdown  # noqa: F401  (bench.rejudge calls report.write_claims_markdown)

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


def _href(target: Path, start: Path) -> str:
    """A relative, URL-quoted link from directory ``start`` to ``target``."""
    rel = os.path.relpath(target.resolve(), start.resolve())
    return esc(urllib.parse.quote(Path(rel).as_posix()))


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


# ----------------------------------------------------------------------------- the index


def claim_sections(out_dir: Path) -> dict[str, list[str]]:
    """{claim: [notebook stems whose page shows its check]}, read from the executed notebooks."""
    import nbformat

    found: dict[str, list[str]] = {}
    for stem in notebook_stems(out_dir):
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
        cells = (f"<td id=\"{esc(r['claim'])}\"><b>{esc(r['claim'])}</b> {esc(r['title'])}</td>"
                 f"<td class=\"verdict\" style=\"color: {colour}\">{esc(r['verdict'])}</td>"
                 f"<td><small class=\"why\">{esc(r.get('why') or '')}</small></td>"
                 f"<td>{esc(headline(decided[r['claim']]))}</td>")
        if linked:
            cells += f"<td>{'<br>'.join(_section_links(r['claim'], sections, out_dir))}</td>"
        rows.append(f"<tr>{cells}</tr>")
        if r["verdict"] != "not measured":
            detail = "".join(f"<p><b>{k}</b>: {esc(r.get(k, ''))}</p>"
                             for k in ("paper", "measured", "gate", "statistic", "interval", "null"))
            rows.append(f"<tr class=\"details\"><td colspan=\"{len(cols)}\"><details><summary>{esc(r['claim'])}: "
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
        links.append(f"<a href=\"{esc(target)}\">{esc(stem)}</a>" if page is None or page.is_file() else esc(stem))
    return links


def _unmeasured_text(names: Sequence[str], links: dict[str, list[str]] | None = None) -> str:
    links = links or {}
    listed = ", ".join(f"<span id=\"{esc(c)}\">{esc(c)}</span> {esc(claims.CLAIMS[c][0])}"
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
    return (f"<td{css}><b style=\"color: {colour}\">{esc(v)}</b>"
            + (f"<br><small>{esc(line)}</small>" if line else "") + "</td>")


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
            f"<tr><th>claim</th><th>this run ({esc(changes) or 'overrides'})</th>"
            f"<th>base profile <code>{esc(base_name)}</code> (figures/{esc(base_name)}/summary.json)</th></tr>"]
    for c in measured:
        other = theirs.get(c) or {"verdict": "not measured"}
        changed = other.get("verdict") != mine[c]["verdict"]
        css = " class=\"changed\"" if changed else ""
        rows.append(f"<tr><td><a href=\"#{esc(c)}\"><b>{esc(c)}</b></a> {esc(claims.CLAIMS[c][0])}</td>"
                    f"{_verdict_cell(mine[c], css)}{_verdict_cell(other, css)}</tr>")
    rows.append("</table>")
    return "\n".join(rows)


# ----------------------------------------------------------------------------- notebook list and figure gallery


def notebooks_html(name: str) -> str:
    out_dir = reports_dir(name)
    timings = load_timings(name)
    # a notebook that failed is listed with its failure page (NN.failed.html) beside its last good report
    stems = sorted(set(notebook_stems(out_dir)) | {p.name[:-len(".failed.html")] for p in out_dir.glob("[0-9][0-9]_*.failed.html")})
    if not stems:
        return "<p>No notebook reports yet: run <code>./run_all.sh</code>.</p>"
    rows = ["<table class=\"notebooks\">", "<tr><th>notebook</th><th>status</th><th>seconds</th><th>parameters</th></tr>"]
    for stem in stems:
        timing = timings.get(stem) if isinstance(timings.get(stem), dict) else None
        status = _notebook_status(out_dir / f"{stem}.ipynb", timing)
        page = out_dir / f"{stem}.html"
        name_html = f"<a href=\"{_href(page, out_dir)}\">{esc(stem)}</a>" if page.is_file() else esc(stem)
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
        rows.append(f"<tr><td>{name_html}</td><td{css}>{esc(STATUS_TEXT.get(status, status))}</td>"
                    f"<td>{esc(seconds_text)}</td><td><code>{esc(params_text)}</code></td></tr>")
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
    executed = [out_dir / f"{s}.ipynb" for s in notebook_stems(out_dir) if (out_dir / f"{s}.ipynb").is_file()]
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
            parts.append(f"<h3>{esc(heading)}</h3>")
            parts.append("<div class=\"gallery\">")
            for p in group:
                href = _href(p, start)
                paragraph = captions.get(p.stem, "")
                sentence = look_for_sentence(paragraph) if paragraph else ""
                caption = f"<span class=\"file\">{esc(p.name)}</span>"
                if sentence:
                    caption += esc(sentence)
                    if len(paragraph) > len(sentence) + 40:
                        caption += (f"<details><summary>what to look for</summary>"
                                    f"{esc(look_for_paragraph(paragraph))}</details>")
                parts.append(f"<figure><a class=\"thumb\" href=\"{href}\" title=\"open {esc(p.name)} full size\">"
                             f"<img src=\"{href}\" alt=\"{esc(p.stem)}\" loading=\"lazy\"></a>"
                             f"<figcaption>{caption}</figcaption></figure>")
            parts.append("</div>")
    else:
        parts.append("<p>No figures yet.</p>")
    parts.append("<h2>Tables</h2>")
    if csvs:
        parts.append("<ul>" + "".join(f"<li><a href=\"{_href(p, start)}\">{esc(p.name)}</a></li>" for p in csvs) + "</ul>")
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
        summary, summary_note = {}, f"<p class=\"failed\">{esc(err)}</p>"
    current = results.current_run_sections(summary, run_id) if run_id else summary
    stale = results.describe_stale(results.stale_sections(summary, run_id)) if run_id else ""
    if stale:
        summary_note += f"<p class=\"stale\">{esc(stale)}</p>"
    overrides = summary.get("overrides") or {}
    overrides_text = (" with overrides <code>" + esc(", ".join(f"{k}={v!r}" for k, v in sorted(overrides.items())))
                      + "</code>") if isinstance(overrides, dict) and overrides else ""
    method = results.repo_root() / "docs" / "method.md"
    profile = str(summary.get("profile") or name).split("-")[0]      # a summary may carry the results name
    base = base_summary(name)
    compare = comparison_html(current, base[0], base[1], overrides if isinstance(overrides, dict) else {}) \
        if base is not None else ""
    if compare:
        compare = (f"<h2>Measured in this run, beside the profile <code>{esc(base[0])}</code></h2>\n" + compare +
                   f"<p class=\"stale\">Highlighted: a verdict that differs from the base profile's. The base "
                   f"numbers are those of figures/{esc(base[0])}/summary.json as its last run left them.</p>")
    elif name != profile:
        compare = (f"<p class=\"stale\">No base numbers to compare with: figures/{esc(profile)}/summary.json "
                   f"is absent, or this run measured no claim.</p>")
    return "\n".join([
        "<!DOCTYPE html>",
        "<html lang=\"en\">",
        "<head>",
        "<meta charset=\"utf-8\">",
        f"<title>{esc(title)}</title>",
        f"<style>\n{STYLE}\n</style>",
        "</head>",
        "<body>",
        f"<h1>{esc(title)}</h1>",
        f"<p>Companion to <i>Single-Nodal Spontaneous Symmetry Breaking in NLP Models</i> (arXiv 2601.20582). "
        f"Profile <code>{esc(profile)}</code>{overrides_text}; "
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
