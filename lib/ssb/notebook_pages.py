"""The pages of the executed notebooks in reports/<name>/ (``reports_dir``; ``<name>`` is the
run's results name, ``results.results_name``): one HTML page per notebook in reader mode and
one with every cell, and all_notebooks.html, every notebook on one printable page.

Notebook pages (``render_notebook_html``): the title names the notebook, a bar on top links
back to the index, every claim check has an anchor.  Reader mode (the default page) removes
the cells tagged ``bookkeeping`` and papermill's ``injected-parameters`` cell with nbconvert's
TagRemovePreprocessor, and tqdm's "IProgress not found" warning; ``NN_name.all-cells.html``
keeps every cell, as does the executed ``.ipynb``.  ``write_combined`` joins the reader-mode
notebooks into one page with a table of contents, for reading on paper.

Reader pages show the effective-parameters box (``effective_parameters_html``, which the index
of ``ssb.report`` shows too) below the parameters cell (papermill's injected cell is hidden
there), from the parameters papermill recorded.  No page names a folder of this machine
(``make_portable``, ``results.portable_text``).
"""
from __future__ import annotations

import copy
import html
import json
import re
from pathlib import Path

from . import atomic, results


# Cells removed in reader mode: bookkeeping (writing summary.json and the like) and the cell
# papermill injects with the run's parameters (it repeats absolute paths).
READER_REMOVE_TAGS = ("bookkeeping", "injected-parameters")
FULL_SUFFIX = ".all-cells"          # NN_name.all-cells.html: every cell
COMBINED_PAGE = "all_notebooks.html"
INDEX_PAGE = "index.html"
_CLAIM_CALL = re.compile(r"(?:report\.show_claims|claims\.show)\([^\n]*?\[([^\]]*)\]")
_CLAIM_NAME = re.compile(r"C[1-9]")
_NOISE = re.compile(r"^.*IProgress not found.*$\n?(^\s*from \.autonotebook import.*$\n?)?", re.M)


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


def esc(x) -> str:
    """Any value as HTML text, quotes escaped too."""
    return html.escape(str(x), quote=True)


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

    return nbformat.v4.new_markdown_cell("".join(f'<a id="{esc(i)}"></a>' for i in ids))


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
    other = (f'<a href="{esc(stem + FULL_SUFFIX)}.html">every cell</a>' if reader
             else f'<a href="{esc(stem)}.html">reader mode</a>')
    return (f'<nav class="back">← <a href="{INDEX_PAGE}">index of this run</a> · '
            f'<a href="{COMBINED_PAGE}">all notebooks</a> · {other} · '
            f'<a href="{esc(stem)}.ipynb">executed notebook</a></nav>')


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


def notebook_stems(out_dir: Path) -> list[str]:
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
        toc.append(f'1. <a href="#{esc(stem)}">{esc(heading)}</a>')
        body.append(nbformat.v4.new_markdown_cell(
            f'<div class="page-break" style="break-before: page; page-break-before: always"></div>'
            f'<a id="{esc(stem)}"></a>\n\n<p style="color: #6e7781">notebook {esc(stem)}</p>'))
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
    executed = [out_dir / f"{s}.ipynb" for s in notebook_stems(out_dir) if (out_dir / f"{s}.ipynb").is_file()]
    if not executed:
        return None
    title = f"Single-nodal SSB — all notebooks — {results.results_name(name)}"
    nb = combined_notebook(executed, title)
    body, _ = (exporter or HTMLExporter()).from_notebook_node(nb, resources={"metadata": {"name": title}})
    path = out_dir / COMBINED_PAGE
    atomic.write_text(path, body)
    return path


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
        return f"<div class=\"params\"><b>Effective parameters</b>: profile <code>{esc(profile)}</code> ({esc(err)})</div>"
    mark = ("background: #fff8c5; border: 1px solid #d4a72c; border-radius: 4px; padding: 0 0.3em; "
            "font-weight: bold")
    shown = []
    for k, v in sorted(overrides.items()):
        was = f" (profile: {base[k]!r})" if k in base else ""
        shown.append(f"<span class=\"override\" style=\"{mark}\">{esc(k)} = {esc(repr(results.portable_paths(v)))}"
                     f"</span>{esc(was)}")
    head = (f"<b>Effective parameters</b>: profile <code>{esc(profile)}</code>, "
            + ("overrides: " + " · ".join(shown) if shown else "no overrides"))
    if extras:
        head += "; " + ", ".join(f"{esc(k)} = <code>{esc(repr(results.portable_paths(v)))}</code>"
                                 for k, v in sorted(extras.items()))
    items = "".join(f"<li>" + (f"<span class=\"override\" style=\"{mark}\">" if k in overrides else "<span>")
                    + f"{esc(k)} = {esc(repr(v))}</span></li>" for k, v in effective.items() if k != "name")
    return (f"<div class=\"params\" style=\"border: 1px solid #d0d7de; border-radius: 6px; padding: 0.5em 0.8em; "
            f"background: #f6f8fa; font-size: 0.9em; margin: 1em 0\">{head}"
            f"<details><summary>all {len(effective) - 1} profile fields</summary>"
            f"<ul class=\"all\" style=\"columns: 16em; list-style: none; padding: 0; margin: 0.5em 0 0 0\">{items}</ul>"
            f"</details></div>")


def _papermill_parameters_box(nb) -> str | None:
    """The effective-parameters box of an executed notebook, from the parameters papermill injected."""
    params = (nb.metadata.get("papermill") or {}).get("parameters")
    if not isinstance(params, dict) or not params.get("profile"):
        return None
    overrides = {k: v for k, v in params.items() if k not in ("profile", "data_dir", "force") and v is not None}
    extras = {k: params[k] for k in ("data_dir", "force") if params.get(k) not in (None, False)}
    return effective_parameters_html(str(params["profile"]), overrides, extras)
