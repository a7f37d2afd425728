"""Portable results: no folder of the machine that ran them in summary.json, claims.md or the
reports (``results.portable_path``/``portable_text``, ``notebook_pages.make_portable``), and a copied
virtual environment recognised and repaired (tools/venv_location.sh, used by tools/ensure_venv.sh)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from ssb import notebook_pages, report, results, verdict_text

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def roots(tmp_path, monkeypatch):
    data, out = tmp_path / "data", tmp_path / "out"
    data.mkdir()
    out.mkdir()
    monkeypatch.setenv("SSB_DATA_DIR", str(data))
    monkeypatch.setenv("SSB_OUTPUT_DIR", str(out))
    for key in (results.RUN_ID_ENV, results.RESULTS_NAME_ENV, results.RESULTS_OVERRIDES_ENV, results.STAGING_ENV):
        monkeypatch.delenv(key, raising=False)
    return data, out


def test_portable_path_spells_the_known_folders_portably(roots):
    data, out = roots
    assert results.portable_path(data / "fewrel" / "val_wiki.json") == "$SSB_DATA_DIR/fewrel/val_wiki.json"
    assert results.portable_path(str(data)) == "$SSB_DATA_DIR"
    assert results.portable_path(out / "runs" / "quick" / "ckpt") == "runs/quick/ckpt"
    assert results.portable_path(REPO / "lib" / "ssb" / "x.py") == "lib/ssb/x.py"
    assert results.portable_path(Path(sys.prefix) / "lib" / "x.py") == ".venv/lib/x.py"
    assert results.portable_path("relative/x") == "relative/x"
    sibling = str(data) + "2/x"                       # a folder whose name only starts like the data dir
    assert results.portable_path(sibling) == sibling


def test_portable_text_replaces_folders_in_tracebacks_and_printed_lines(roots):
    data, _ = roots
    text = (f'File "{REPO}/lib/ssb/session.py", line 3\ndata dir: {data}\n'
            f'\x1b[0;32m{sys.prefix}/lib/a.py\x1b[0m and {data}2/x')
    got = results.portable_text(text)
    assert got == (f'File "lib/ssb/session.py", line 3\ndata dir: $SSB_DATA_DIR\n'
                   f'\x1b[0;32m.venv/lib/a.py\x1b[0m and {data}2/x')


def test_summary_records_paths_portably(roots):
    data, out = roots
    results.update_summary("quick", "inputs", {"data_dir": str(data), "checkpoint": str(out / "runs" / "ck"),
                                               "fewrel_file": str(data / "fewrel" / "val_wiki.json")})
    text = (out / "figures" / "quick" / "summary.json").read_text()
    inputs = json.loads(text)["inputs"]
    assert inputs["data_dir"] == "$SSB_DATA_DIR" and inputs["checkpoint"] == "runs/ck"
    assert inputs["fewrel_file"] == "$SSB_DATA_DIR/fewrel/val_wiki.json"
    assert str(data.parent) not in text


def test_index_claims_md_and_notebook_pages_carry_no_machine_folder(roots):
    data, out = roots
    results.update_summary("quick", "inputs", {"data_dir": str(data)})
    rdir = notebook_pages.reports_dir("quick")
    rdir.mkdir(parents=True)
    (rdir / "timings.json").write_text(json.dumps({"01_x": {"seconds": 1.0, "status": "ok",
                                                            "parameters": {"data_dir": str(data)}}}))
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell(f'data_dir = "{data}"')
    cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text=f"data dir: {data}\n"),
                    nbformat.v4.new_output("error", ename="E", evalue=f"{REPO}/x",
                                           traceback=[f"\x1b[31m{REPO}/lib/ssb/a.py\x1b[0m"])]
    nb.cells = [nbformat.v4.new_markdown_cell("# X"), cell]
    nb.metadata["papermill"] = {"input_path": str(REPO / "notebooks" / "01_x.ipynb"), "parameters": {"data_dir": str(data)}}
    nbformat.write(nb, rdir / "01_x.ipynb")
    notebook_pages.make_portable_file(rdir / "01_x.ipynb")
    notebook_pages.render_notebook_html(rdir / "01_x.ipynb", rdir / "01_x.html")
    verdict_text.write_claims_markdown("quick")
    report.write_index("quick")
    for path in (rdir / "index.html", rdir / "01_x.html", rdir / "01_x.ipynb", out / "figures" / "quick" / "claims.md"):
        text = path.read_text()
        assert str(data.parent) not in text and str(REPO) not in text, path
    assert "$SSB_DATA_DIR" in (rdir / "01_x.ipynb").read_text()


# ----------------------------------------------------------------------------- a copied venv

def _bash(command: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", "-c", f'source "{REPO}/tools/venv_location.sh"; {command}'], cwd=cwd,
                          capture_output=True, text=True)


def test_a_copied_venv_is_recognised_and_its_paths_rewritten(tmp_path):
    """A tiny venv (no pip), with a console script like pip's, copied with ``cp -a``: the copy's
    files name the original folder; a venv reached through a symbolic link (a worktree sharing
    another checkout's .venv) is not taken for a copy."""
    original, copy, linked = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    original.mkdir()
    linked.mkdir()
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(original / ".venv")], check=True)
    script = original / ".venv" / "bin" / "pip"
    script.write_text(f"#!{original}/.venv/bin/python\nprint('from the venv')\n")
    script.chmod(0o755)
    subprocess.run(["cp", "-a", str(original), str(copy)], check=True)
    (linked / ".venv").symlink_to(original / ".venv")

    assert _bash("venv_recorded_elsewhere a/.venv a", tmp_path).returncode == 1
    assert _bash("venv_recorded_elsewhere c/.venv c", tmp_path).returncode == 1
    moved = _bash("venv_recorded_elsewhere b/.venv b", tmp_path)
    assert moved.returncode == 0 and moved.stdout.strip() == f"{original}/.venv"

    assert _bash("venv_rewrite_locations b/.venv", tmp_path).returncode == 0
    assert _bash("venv_recorded_elsewhere b/.venv b", tmp_path).returncode == 1
    assert (copy / ".venv" / "bin" / "pip").read_text().startswith(f"#!{copy}/.venv/bin/python\n")
    assert f'VIRTUAL_ENV="{copy}/.venv"' in (copy / ".venv" / "bin" / "activate").read_text()
    assert str(original) not in (copy / ".venv" / "pyvenv.cfg").read_text()
    assert subprocess.run([str(copy / ".venv" / "bin" / "pip")], capture_output=True, text=True).stdout == "from the venv\n"
    assert _bash("venv_recorded_elsewhere a/.venv a", tmp_path).returncode == 1      # the original untouched


def test_an_editable_install_of_another_checkout_is_recognised(tmp_path):
    venv = tmp_path / "b" / ".venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    site = next((venv / "lib").glob("python*")) / "site-packages"
    (site / "__editable__.ssb-0.1.0.pth").write_text(f"{tmp_path}/a/lib\n")
    moved = _bash("venv_recorded_elsewhere b/.venv b", tmp_path)
    assert moved.returncode == 0 and f"editable install: {tmp_path}/a/lib" in moved.stdout
    (site / "__editable__.ssb-0.1.0.pth").write_text(f"{tmp_path}/b/lib\n")
    assert _bash("venv_recorded_elsewhere b/.venv b", tmp_path).returncode == 1


def test_ensure_venv_repairs_a_copied_checkout():
    text = (REPO / "tools" / "ensure_venv.sh").read_text()
    assert "venv_recorded_elsewhere" in text and "venv_rewrite_locations" in text and 'rm -rf "$repo/.venv"' in text
