"""reports/<profile>/index.html: one page to read a run.

From top to bottom:

1. the claims table (``claims.claims_table`` of figures/<profile>/summary.json), verdicts coloured;
2. the notebook reports present in reports/<profile>/ (``NN_name.html``), each with its status
   and wall-clock seconds from ``timings.json`` (written by ``ssb.runner``);
3. the figures figures/<profile>/*.png as thumbnails linking to the full image, and the tables
   figures/<profile>/*.csv as links.

Links are relative, so the output root (reports/ and figures/ together) can be copied or
served anywhere.  The page carries no timestamp: the same results give the same bytes, except
for the measured seconds.  Every text is HTML-escaped; the file is written atomically.
"""
from __future__ import annotations

import html
import json
import os
import urllib.parse
from pathlib import Path

from . import atomic, claims, results

VERDICT_COLOURS = {
    "holds": "#1a7f37",
    "partly": "#9a6700",
    "does not hold": "#cf222e",
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
.thumbs { display: flex; flex-wrap: wrap; gap: 1em; }
.thumbs figure { margin: 0; width: 280px; }
.thumbs img { width: 280px; border: 1px solid #d0d7de; }
.thumbs figcaption { font-size: 0.85em; word-break: break-all; }
.failed { color: #cf222e; font-weight: bold; }
""".strip()


def reports_dir(profile_name: str) -> Path:
    return results.output_root() / "reports" / results.profile_name(profile_name)


def load_timings(profile_name: str) -> dict:
    """{notebook stem: {"seconds": float | None, "status": str, "parameters": dict}}, {} if absent."""
    path = reports_dir(profile_name) / "timings.json"
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


def claims_html(summary: dict, which=None) -> str:
    """The claims table (or the rows of the claims in ``which``) as an HTML table."""
    rows = ["<table class=\"claims\">", "<tr><th>claim</th><th>paper</th><th>measured</th><th>verdict</th></tr>"]
    for r in claims.select_rows(summary, which):
        colour = VERDICT_COLOURS[r["verdict"]]
        rows.append(f"<tr><td><b>{_esc(r['claim'])}</b> {_esc(r['title'])}</td><td>{_esc(r['paper'])}</td>"
                    f"<td>{_esc(r['measured'])}</td>"
                    f"<td class=\"verdict\" style=\"color: {colour}\">{_esc(r['verdict'])}</td></tr>")
    rows.append("</table>")
    return "\n".join(rows)


def notebooks_html(profile_name: str) -> str:
    out_dir = reports_dir(profile_name)
    timings = load_timings(profile_name)
    stems = sorted({p.stem for p in out_dir.glob("[0-9][0-9]_*.html")} | {p.stem for p in out_dir.glob("[0-9][0-9]_*.ipynb")})
    if not stems:
        return "<p>No notebook reports yet: run <code>./run_all.sh</code>.</p>"
    rows = ["<table class=\"notebooks\">", "<tr><th>notebook</th><th>status</th><th>seconds</th><th>parameters</th></tr>"]
    for stem in stems:
        timing = timings.get(stem) if isinstance(timings.get(stem), dict) else None
        status = _notebook_status(out_dir / f"{stem}.ipynb", timing)
        page = out_dir / f"{stem}.html"
        name = f"<a href=\"{_href(page, out_dir)}\">{_esc(stem)}</a>" if page.is_file() else _esc(stem)
        executed = out_dir / f"{stem}.ipynb"
        if executed.is_file():
            name += f" (<a href=\"{_href(executed, out_dir)}\">ipynb</a>)"
        seconds = timing.get("seconds") if timing else None
        seconds_text = f"{seconds:.1f}" if isinstance(seconds, (int, float)) else ""
        params = timing.get("parameters") if timing else None
        params_text = ", ".join(f"{k}={v!r}" for k, v in sorted(params.items())) if isinstance(params, dict) else ""
        css = " class=\"failed\"" if status == "failed" else ""
        rows.append(f"<tr><td>{name}</td><td{css}>{_esc(STATUS_TEXT.get(status, status))}</td>"
                    f"<td>{_esc(seconds_text)}</td><td><code>{_esc(params_text)}</code></td></tr>")
    rows.append("</table>")
    return "\n".join(rows)


def figures_html(profile_name: str, start: Path) -> str:
    fig_dir = results.figures_dir(profile_name)
    pngs = sorted(fig_dir.glob("*.png"))
    csvs = sorted(fig_dir.glob("*.csv"))
    parts = []
    if pngs:
        parts.append("<div class=\"thumbs\">")
        for p in pngs:
            href = _href(p, start)
            parts.append(f"<figure><a href=\"{href}\"><img src=\"{href}\" alt=\"{_esc(p.stem)}\" loading=\"lazy\"></a>"
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


def index_html(profile_name: str) -> str:
    name = results.profile_name(profile_name)
    out_dir = reports_dir(name)
    title = f"Single-nodal SSB — profile {name}"
    try:
        summary, summary_note = results.load_summary(name), ""
    except ValueError as err:   # a corrupt summary.json: say so instead of failing the whole page
        summary, summary_note = {}, f"<p class=\"failed\">{_esc(err)}</p>"
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
        f"Profile <code>{_esc(name)}</code>; definitions in METHOD.md, verdict rules in <code>lib/ssb/claims.py</code>.</p>",
        "<h2>Claims</h2>",
        summary_note + claims_html(summary),
        "<h2>Notebook reports</h2>",
        notebooks_html(name),
        "<h2>Figures</h2>",
        figures_html(name, out_dir),
        "</body>",
        "</html>",
        "",
    ])


def write_index(profile_name: str) -> Path:
    """Write reports/<profile>/index.html (atomically) and return its path."""
    path = reports_dir(profile_name) / "index.html"
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic.write_text(path, index_html(profile_name))
    return path
