"""Reports of a run: reports/<name>/index.html, the notebook pages and the combined report.

``<name>`` is the run's results name (``results.results_name``: the profile, plus its
overrides, e.g. ``quick-block5``).  The index, from top to bottom:

1. the claims table (``claims.claims_table`` of figures/<name>/summary.json), verdicts
   coloured, each row linking to the notebook sections that measure the claim (the cells that
   call ``report.show_claims``, anchored ``#claim-C3``).  With a run id only that run's sections are
   used; sections left from earlier runs are named with their time (``results.stale_sections``);
2. the notebook reports present in reports/<name>/ (``NN_name.html``), each with its status
   and wall-clock seconds from ``timings.json`` (written by ``ssb.runner``), and the combined
   printable report ``all_notebooks.html``;
3. the figures figures/<name>/*.png grouped by claim (as in claims.md; a thumbnail opens the
   full-size figure), and the tables figures/<name>/*.csv as links.

Notebook pages (``render_notebook_html``): the title names the notebook, a bar on top links
back to the index, every claim check has an anchor.  Reader mode (the default page) removes
the cells tagged ``bookkeeping`` and papermill's ``injected-parameters`` cell with nbconvert's
TagRemovePreprocessor, and tqdm's "IProgress not found" warning; ``NN_name.all-cells.html``
keeps every cell, as does the executed ``.ipynb``.  ``write_combined`` joins the reader-mode
notebooks into one page with a table of contents, for reading on paper.

Links are relative, so the output root (reports/ and figures/ together) can be copied or
served anywhere.  The page carries no timestamp: the same results give the same bytes, except
for the measured seconds.  Every text is HTML-escaped; the file is written atomically.
"""
from __future__ import annotations

import copy
import html
import json
import os
import re
import struct
import urllib.parse
from pathlib import Path
from typing import Sequence

from . import atomic, claims, results

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
.thumbs { display: flex; flex-wrap: wrap; gap: 1em; align-items: flex-start; }
.thumbs figure { margin: 0; width: 380px; }
.thumbs figure.wide { width: 100%; max-width: 1160px; }
.thumbs img { width: 100%; border: 1px solid #d0d7de; }
.thumbs figcaption { font-size: 0.85em; word-break: break-all; }
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


def prepare_for_reading(nb, stem: str, *, reader: bool = True, anchor_prefix: str = "", nav: str | None = None):
    """A copy of an executed notebook ready to render: claim anchors before each claim check,
    an optional navigation cell on top, and in reader mode without the bookkeeping and
    injected-parameters cells (nbconvert's TagRemovePreprocessor) and tqdm's widget warning."""
    from nbconvert.preprocessors import TagRemovePreprocessor

    nb = copy.deepcopy(nb)
    nb.metadata["title"] = notebook_title(stem, nb)
    if reader:
        remover = TagRemovePreprocessor(remove_cell_tags=set(READER_REMOVE_TAGS), enabled=True)
        nb, _ = remover.preprocess(nb, {})
        _drop_progress_noise(nb)
    cells = []
    for cell in nb.cells:
        if cell.cell_type == "code":
            ids = [claim_anchor(c, anchor_prefix) for c in claims_checked(_single(cell))]
            if ids:
                cells.append(_anchor_cell(ids))
        cells.append(cell)
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


def claims_html(summary: dict, which=None, sections: dict[str, list[str]] | None = None,
                out_dir: Path | None = None) -> str:
    """The claims table (or the rows of the claims in ``which``) as an HTML table.  With
    ``sections`` ({claim: [notebook stems]}) a column links each claim to the notebook sections
    that measure it (pages NN_name.html#claim-Cn in ``out_dir``)."""
    linked = sections is not None
    header = ("<tr><th>claim</th><th>verdict</th><th>paper</th><th>measured</th><th>gate</th><th>statistic</th>"
              "<th>interval</th><th>null</th>") + \
             ("<th>measured in</th>" if linked else "") + "</tr>"
    rows = ["<table class=\"claims\">", header]
    for r in claims.select_rows(summary, which):
        colour = VERDICT_COLOURS.get(r["verdict"], "#1f2328")
        cells = (f"<td id=\"{_esc(r['claim'])}\"><b>{_esc(r['claim'])}</b> {_esc(r['title'])}</td>"
                 + f"<td class=\"verdict\" style=\"color: {colour}\">{_esc(r['verdict'])}"
                 + (f"<br><small class=\"why\">{_esc(r['why'])}</small>" if r.get("why") else "") + "</td>"
                 + f"<td>{_esc(r['paper'])}</td><td>{_esc(r['measured'])}</td>"
                 + "".join(f"<td class=\"rule\">{_esc(r.get(k, ''))}</td>" for k in ("gate", "statistic", "interval", "null")))
        if linked:
            links = []
            for stem in sections.get(r["claim"], []):
                page = (out_dir / f"{stem}.html") if out_dir is not None else None
                target = f"{stem}.html#{claim_anchor(r['claim'])}"
                links.append(f"<a href=\"{_esc(target)}\">{_esc(stem)}</a>" if page is None or page.is_file()
                             else _esc(stem))
            cells += f"<td>{'<br>'.join(links)}</td>"
        rows.append(f"<tr>{cells}</tr>")
    rows.append("</table>")
    return "\n".join(rows)


def notebooks_html(name: str) -> str:
    out_dir = reports_dir(name)
    timings = load_timings(name)
    stems = _notebook_stems(out_dir)
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
    "NN_" prefix, ``claims.CLAIM_NOTEBOOKS``) drew them; the rest under "Other figures"."""
    remaining = list(pngs)
    groups = []
    for claim, prefixes in claims.CLAIM_NOTEBOOKS.items():
        mine = [p for p in remaining if p.name[:2] in prefixes]
        if mine:
            groups.append((f"{claim} {claims.CLAIMS[claim][0]}", mine))
            remaining = [p for p in remaining if p not in mine]
    if remaining:
        groups.append(("Other figures", remaining))
    return groups


def figures_html(name: str, start: Path) -> str:
    fig_dir = results.figures_dir(name)
    pngs = sorted(fig_dir.glob("*.png"))
    csvs = sorted(fig_dir.glob("*.csv"))
    parts = []
    if pngs:
        for heading, group in figures_by_claim(pngs):
            parts.append(f"<h3>{_esc(heading)}</h3>")
            parts.append("<div class=\"thumbs\">")
            for p in group:
                href = _href(p, start)
                size = png_size(p)
                wide = " class=\"wide\"" if size and size[0] > 2 * size[1] else ""
                parts.append(f"<figure{wide}><a href=\"{href}\" title=\"open full size\"><img src=\"{href}\" "
                             f"alt=\"{_esc(p.stem)}\" loading=\"lazy\"></a>"
                             f"<figcaption>{_esc(p.name)}</figcaption></figure>")
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
        f"Profile <code>{_esc(results.profile_name(summary.get('profile') or name.split('-')[0]))}</code>{overrides_text}; "
        f"definitions in <a href=\"{_href(method, out_dir)}\">docs/method.md</a>, "
        f"verdict rules in <code>lib/ssb/claims.py</code>.</p>",
        "<h2>Claims</h2>",
        summary_note + claims_html(current, sections=claim_sections(out_dir), out_dir=out_dir),
        "<h2>Notebook reports</h2>",
        notebooks_html(name),
        "<h2>Figures</h2>",
        figures_html(name, out_dir),
        "</body>",
        "</html>",
        "",
    ])


def write_index(name: str, run_id: str | None = None) -> Path:
    """Write reports/<name>/index.html (atomically) and return its path."""
    path = reports_dir(name) / INDEX_PAGE
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic.write_text(path, index_html(name, run_id))
    return path


def show_claims(summary: dict, which: Sequence[str] | None = None) -> None:
    """Display the claim check of the claims in ``which``: an HTML table in a notebook (with a
    plain-text fallback), printed text elsewhere."""
    note = results.describe_stale(results.stale_sections(summary))   # values of earlier runs are left out
    summary = results.current_run_sections(summary)
    rows = claims.select_rows(summary, which)
    names = [r["claim"] for r in rows]
    text = claims.claims_text(summary, names) + (f"\n{note}" if note else "")
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
