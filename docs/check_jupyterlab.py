"""Open a notebook in JupyterLab in headless Chromium; check it is not marked modified.

    python docs/check_jupyterlab.py [--python .venv/bin/python] [--notebook notebooks/03_nodes_pretrain.ipynb]
                                    [--screenshot reports/jupyterlab_check.png]

What it does (a script, not part of the test suite; ``docs/check_jupyterlab.sh`` wraps it):

1. copies the repository's notebooks into a temporary root (JupyterLab may write, the
   repository is never touched) and starts ``jupyter lab`` there, headless, with a token;
2. starts Chromium from the system packages (``chromium``, ``--headless``) and drives it
   through the DevTools protocol (``websocket-client``, installed with jupyterlab);
3. opens the notebook, waits until its kernel is connected and idle, then checks that the
   notebook's tab is not marked modified (``jp-mod-dirty``) and that the kernel shown is the
   project's (``ssb.notebooks_meta.KERNEL_DISPLAY_NAME``); runs a cell with a tqdm bar and
   checks it renders as a widget (a ``progress`` element), not as text with a warning;
4. saves a screenshot and exits 0 when every check passed, 1 otherwise.

Needs: the interpreter given by --python with jupyterlab, ipywidgets and the ``ssb`` kernel spec
(README, "Interactive use"), and ``chromium`` on PATH (``apt-get install -y chromium``).
"""
from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "lib"))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from devtools import Page as DevToolsPage, free_port, wait_for  # noqa: E402  (docs/devtools.py)
from ssb.notebooks_meta import INSTALL_COMMAND, KERNEL_DISPLAY_NAME, KERNEL_NAME  # noqa: E402

PROGRESS_CELL = "from tqdm.auto import tqdm\nfor _ in tqdm(range(3), desc='widget-check'):\n    pass"


class Page(DevToolsPage):
    """A DevTools page that also sends keys and waits for JupyterLab."""

    def key(self, key: str, code: str, key_code: int, modifiers: int = 0) -> None:
        for kind in ("rawKeyDown", "keyUp"):
            self.call("Input.dispatchKeyEvent", type=kind, key=key, code=code, windowsVirtualKeyCode=key_code,
                      modifiers=modifiers)

    def until(self, expression: str, seconds: float, what: str):
        deadline = time.time() + seconds
        while time.time() < deadline:
            value = self.js(expression)
            if value:
                return value
            time.sleep(0.5)
        raise TimeoutError(f"JupyterLab: {what} not seen within {seconds:.0f} s")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--python", default=str(REPO / ".venv" / "bin" / "python"),
                    help="interpreter with jupyterlab installed (default .venv/bin/python)")
    ap.add_argument("--notebook", default="notebooks/03_nodes_pretrain.ipynb", help="relative to the repository")
    ap.add_argument("--screenshot", default=str(REPO / "reports" / "jupyterlab_check.png"))
    ap.add_argument("--chromium", default=shutil.which("chromium") or shutil.which("chromium-browser") or "chromium")
    ap.add_argument("--timeout", type=float, default=120)
    ap.add_argument("--apply-kernelspec", action="store_true",
                    help="give the copies the project's kernelspec first (python -m ssb.notebooks_meta)")
    args = ap.parse_args(argv)

    specs = json.loads(subprocess.run([args.python, "-m", "jupyter", "kernelspec", "list", "--json"],
                                      capture_output=True, text=True, check=True).stdout)["kernelspecs"]
    if KERNEL_NAME not in specs:
        print(f"error: no kernel spec {KERNEL_NAME!r} for {args.python}; install it with:\n  {INSTALL_COMMAND}")
        return 2
    work = Path(tempfile.mkdtemp(prefix="ssb-lab-check-"))
    root = work / "repo"
    shutil.copytree(REPO / "notebooks", root / "notebooks")
    shutil.copy(REPO / "README.md", root / "README.md")
    notebook = root / args.notebook
    if args.apply_kernelspec:
        from ssb.notebooks_meta import set_kernelspec
        set_kernelspec(sorted((root / "notebooks").glob("*.ipynb")))
    before = notebook.read_bytes()
    port, cdp_port, token = free_port(), free_port(), secrets.token_hex(16)
    env = {**os.environ, "JUPYTER_CONFIG_DIR": str(work / "config"), "JUPYTER_RUNTIME_DIR": str(work / "runtime"),
           "PYTHONPATH": str(REPO / "lib")}
    lab = subprocess.Popen([args.python, "-m", "jupyter", "lab", "--no-browser", f"--port={port}", "--ip=127.0.0.1",
                            f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root}",
                            "--LabApp.news_url=", "--ServerApp.open_browser=False", "--allow-root"],
                           env=env, stdout=open(work / "lab.log", "w"), stderr=subprocess.STDOUT)
    browser = None
    failures = []
    try:
        wait_for(f"http://127.0.0.1:{port}/api/status?token={token}", args.timeout)
        browser = subprocess.Popen([args.chromium, "--headless=new", "--no-sandbox", "--disable-gpu",
                                    f"--remote-debugging-port={cdp_port}", f"--user-data-dir={work / 'chrome'}",
                                    "--window-size=1400,900", "about:blank"],
                                   stdout=subprocess.DEVNULL, stderr=open(work / "chrome.log", "w"))
        wait_for(f"http://127.0.0.1:{cdp_port}/json/version", 30)
        targets = json.loads(wait_for(f"http://127.0.0.1:{cdp_port}/json/list", 30))
        page = Page(next(t for t in targets if t["type"] == "page")["webSocketDebuggerUrl"])
        page.call("Page.enable")
        page.call("Page.navigate", url=f"http://127.0.0.1:{port}/lab/tree/{args.notebook}?token={token}")
        page.until("document.querySelectorAll('.jp-Notebook .jp-Cell').length > 0", args.timeout, "the notebook's cells")
        kernel = page.until(
            "(() => { const b = document.querySelector('.jp-NotebookPanel-toolbar .jp-Toolbar-kernelName');"
            " const s = document.querySelector('.jp-NotebookPanel-toolbar .jp-Notebook-ExecutionIndicator');"
            " const name = b ? b.textContent.trim() : '';"
            " return name && name !== 'No Kernel' && s && s.getAttribute('data-status') === 'idle' ? name : null; })()",
            args.timeout, "an idle kernel")
        time.sleep(3)                                   # anything Lab writes after connecting has happened
        dirty = page.js("document.querySelectorAll('.jp-mod-dirty').length")
        print(f"kernel shown: {kernel!r}; modified markers: {dirty}")
        if kernel != KERNEL_DISPLAY_NAME:
            failures.append(f"kernel shown is {kernel!r}, not {KERNEL_DISPLAY_NAME!r}")
        if dirty:
            failures.append("the notebook is marked modified right after opening")
        shot = Path(args.screenshot)
        shot.parent.mkdir(parents=True, exist_ok=True)
        import base64
        shot.write_bytes(base64.b64decode(page.call("Page.captureScreenshot", format="png")["data"]))
        print(f"screenshot: {shot}")
        # progress bars as widgets: a new cell above the first one (typed as a user would), run it
        page.js("document.querySelector('.jp-NotebookPanel-toolbar .jp-Toolbar-kernelName') && "
                "document.querySelector('.jp-Notebook .jp-Cell .jp-InputPrompt').click()")
        time.sleep(0.5)
        page.key("Escape", "Escape", 27)
        page.key("a", "KeyA", 65)                       # command mode: insert a cell above
        time.sleep(0.5)
        page.key("Enter", "Enter", 13)                  # edit it
        page.call("Input.insertText", text=PROGRESS_CELL)
        page.key("Enter", "Enter", 13, modifiers=8)     # Shift+Enter: run
        ran = "ran"
        if ran == "ran":
            try:
                found = page.until("document.querySelectorAll('.jp-OutputArea-output progress, .widget-hprogress, .widget-progress').length"
                               " || (document.body.innerText.includes('IProgress not found') ? -1 : 0)",
                                   60, "the progress bar's output")
            except TimeoutError as err:
                found = 0
                failures.append(str(err))
            print(f"progress widget elements: {found}")
            if found == -1:
                failures.append("tqdm fell back to text: 'IProgress not found' (ipywidgets missing)")
            shot2 = shot.with_name(shot.stem + "_widget.png")
            shot2.write_bytes(base64.b64decode(page.call("Page.captureScreenshot", format="png")["data"]))
            print(f"screenshot: {shot2}")
        else:
            print(f"progress-bar check skipped: {ran}")
    finally:
        if browser is not None:
            browser.terminate()
        lab.terminate()
        lab.wait(20)
    if notebook.read_bytes() != before:
        failures.append(f"{args.notebook} changed on disk")
    for f in failures:
        print(f"FAILED: {f}")
    if not failures:
        print("ok: the notebook opens unmodified")
        shutil.rmtree(work, ignore_errors=True)
    else:
        print(f"logs in {work}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
