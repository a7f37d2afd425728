"""docs/check_report.py in headless Chromium on small synthetic runs (skipped without chromium):
a good index passes at 1,400 px; horizontal overflow, a broken image, a broken link and a
figure wider than its column each fail it."""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from ssb import notebook_pages, report, results, runner, verdict_text

from summaries import holding_summary  # noqa: E402
from test_report import write_png  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (apt-get install -y chromium)")


def synthetic_run(root: Path, name: str) -> Path:
    """reports/<name>/index.html of a run with every claim, a notebook page, and three figures
    (one wide, one tall, one small); returns the index."""
    summary = holding_summary()
    fig_dir = root / "figures" / name
    for stem, (w, h) in {"03_node_token_map": (1500, 400), "02_apt_by_block": (500, 900), "07_efficiency": (200, 150)}.items():
        write_png(fig_dir / f"{stem}.png", w, h)
    for section, values in summary.items():
        if section != "profile":
            results.update_summary(name, section, values)
    out_dir = notebook_pages.reports_dir(name)
    out_dir.mkdir(parents=True, exist_ok=True)
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    check = nbformat.v4.new_code_cell('report.show_claims(s, ["C1"])\nresults.save_figure(fig, P, "03_node_token_map")')
    nb.cells = [nbformat.v4.new_markdown_cell("# Nodes"), check,
                nbformat.v4.new_markdown_cell("**What to look for.** Rows: nodes. C1 predicts a sparse map.")]
    nbformat.write(nb, out_dir / "03_nodes.ipynb")
    runner.render_html(out_dir / "03_nodes.ipynb", out_dir / "03_nodes.html")
    notebook_pages.write_combined(name)
    verdict_text.write_claims_markdown(name)
    return report.write_index(name)


def run_check(*pages: Path, shots: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(REPO / "docs" / "check_report.py"), *map(str, pages),
                           "--screenshot-dir", str(shots)], capture_output=True, text=True, timeout=300)


def test_check_report_passes_a_good_index_and_fails_each_defect(tmp_path, monkeypatch):
    root = tmp_path / "out"
    monkeypatch.setenv("SSB_OUTPUT_DIR", str(root))
    monkeypatch.delenv("SSB_DATA_DIR", raising=False)
    good = synthetic_run(root, "smoke")
    pages = {"good": good}
    for defect in ("overflow", "image", "link", "figure"):
        shutil.copytree(root / "reports" / "smoke", root / "reports" / defect)   # same depth: its links still work
        pages[defect] = root / "reports" / defect / "index.html"
    html = good.read_text()
    pages["overflow"].write_text(html.replace("<h2>Claims</h2>", '<h2>Claims</h2><pre>' + "x" * 400 + "</pre>"))
    pages["image"].write_text(html.replace("07_efficiency.png", "07_missing.png"))
    pages["link"].write_text(html.replace('href="03_nodes.html#claim-C1"', 'href="03_nodes.html#claim-C9"'))
    pages["figure"].write_text(html.replace("</style>", ".gallery img { width: 700px !important; }\n</style>"))

    done = run_check(*pages.values(), shots=tmp_path / "shots")
    out = done.stdout + done.stderr
    assert done.returncode == 1, out
    verdicts = {line.split(": ", 1)[1]: line.split(":")[0] for line in done.stdout.splitlines()
                if line.startswith(("ok: ", "FAILED: "))}
    assert verdicts == {str(p): ("ok" if k == "good" else "FAILED") for k, p in pages.items()}, out
    assert "FAIL horizontal overflow" in out and "FAIL broken image: ../../figures/image/07_missing.png" not in out
    assert "FAIL broken image: " in out and "07_missing.png" in out
    assert "FAIL broken link: 03_nodes.html#claim-C9 (no anchor #claim-C9 in 03_nodes.html)" in out
    assert "FAIL image wider than its column: 03_node_token_map" in out
    shot = tmp_path / "shots" / "smoke.png"
    assert shot.is_file() and report.png_size(shot)[0] == 1400
    assert report.png_size(shot)[1] > 900                       # the full page, not only the window
