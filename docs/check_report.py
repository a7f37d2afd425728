"""Open run reports in headless Chromium at 1,400 px; check that they read at a glance.

    python docs/check_report.py [reports/quick | reports/quick/index.html ...] [--width 1400]
                                [--screenshot-dir reports/_check] [--chromium chromium]

For every page given (a reports/<name>/ folder means its index.html):

1. loads it from disk in headless Chromium (``--headless=new``), driven through the DevTools
   protocol (``websocket-client``, installed with jupyterlab), at ``--width`` CSS pixels;
   lazy images are made eager and awaited;
2. fails on: horizontal overflow (the document wider than the window); an image that did not
   load; a figure (an image in the gallery) wider than its column, or a gallery figure wider
   than the gallery; a link to a file that does not exist, or to an anchor (``#C1``,
   ``03_nodes.html#claim-C1``) that the target page lacks.  Links to other sites are listed as
   not checked;
3. saves a full-page screenshot ``<screenshot-dir>/<name>.png`` (default: beside the page,
   ``index.check.png``) and prints one line per finding.

Exit status 0 when every page passed, 1 otherwise, 2 when Chromium cannot be started.
"""
from __future__ import annotations

import argparse
import base64
import json
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.parse
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from devtools import Page as DevToolsPage, free_port, wait_for  # noqa: E402  (docs/devtools.py)

# Measured in the page: what overflows, what failed to load, every link.
PROBE = r"""
(() => {
  const doc = document.documentElement;
  const out = {scrollWidth: doc.scrollWidth, clientWidth: doc.clientWidth, images: [], wide: [], links: [],
               ids: Array.from(document.querySelectorAll('[id]')).map(e => e.id),
               names: Array.from(document.querySelectorAll('a[name]')).map(e => e.name)};
  for (const img of document.images) {
    if (!img.complete || img.naturalWidth === 0) out.images.push(img.getAttribute('src'));
  }
  for (const fig of document.querySelectorAll('figure')) {
    const f = fig.getBoundingClientRect();
    const col = fig.parentElement.getBoundingClientRect();
    if (f.width > col.width + 1 || f.right > col.right + 1)
      out.wide.push({what: 'figure', name: fig.querySelector('img')?.getAttribute('alt') || '?',
                     width: Math.round(f.width), column: Math.round(col.width)});
    for (const img of fig.querySelectorAll('img')) {
      const r = img.getBoundingClientRect();
      if (r.width > f.width + 1 || r.right > f.right + 1 || r.left < f.left - 1)
        out.wide.push({what: 'image', name: img.getAttribute('alt') || '?', width: Math.round(r.width),
                       column: Math.round(f.width)});
    }
  }
  for (const a of document.querySelectorAll('a[href]')) out.links.push(a.getAttribute('href'));
  return JSON.stringify(out);
})()
"""

EAGER = """
(() => { for (const img of document.images) { img.loading = 'eager'; const s = img.src; img.src = ''; img.src = s; }
         return document.images.length; })()
"""
LOADED = "Array.from(document.images).every(i => i.complete) && document.readyState === 'complete'"


class Page(DevToolsPage):
    """A DevTools page that also waits for a JavaScript condition."""

    def wait(self, expression: str, seconds: float) -> bool:
        deadline = time.time() + seconds
        while time.time() < deadline:
            if self.js(expression):
                return True
            time.sleep(0.1)
        return False


def page_ids(path: Path) -> set[str]:
    """The ids and anchor names in an HTML file (for links into another page)."""
    import re

    try:
        text = path.read_text(errors="replace")
    except OSError:
        return set()
    return set(re.findall(r"""\b(?:id|name)\s*=\s*["']([^"']+)["']""", text))


def check_links(page: Path, links: list[str], own_ids: set[str]) -> tuple[list[str], list[str]]:
    """(broken links, links to other sites), relative links resolved against ``page``'s folder."""
    broken, external = [], []
    cache: dict[Path, set[str]] = {}
    for href in links:
        parsed = urllib.parse.urlsplit(href)
        if parsed.scheme in ("http", "https", "mailto"):
            external.append(href)
            continue
        if parsed.scheme not in ("", "file"):
            broken.append(f"{href} (scheme {parsed.scheme})")
            continue
        target = page if not parsed.path else (
            Path(urllib.parse.unquote(parsed.path)) if parsed.scheme == "file" or parsed.path.startswith("/")
            else page.parent / urllib.parse.unquote(parsed.path))
        if not target.exists():
            broken.append(f"{href} (no file {target})")
            continue
        if parsed.fragment:
            ids = own_ids if target == page else cache.setdefault(target, page_ids(target))
            if parsed.fragment not in ids and urllib.parse.unquote(parsed.fragment) not in ids:   # as browsers do
                broken.append(f"{href} (no anchor #{parsed.fragment} in {target.name})")
    return broken, external


def check_page(page: Page, path: Path, width: int, screenshot: Path) -> list[str]:
    """The findings for one page (empty when it passed); the screenshot is saved either way."""
    page.call("Emulation.setDeviceMetricsOverride", width=width, height=900, deviceScaleFactor=1, mobile=False)
    page.call("Page.navigate", url=path.resolve().as_uri())
    page.wait("document.readyState === 'complete'", 30)
    page.js(EAGER)
    if not page.wait(LOADED, 30):
        pass                                     # reported below as images that did not load
    time.sleep(0.2)
    found = json.loads(page.js(PROBE))
    problems = []
    if found["scrollWidth"] > found["clientWidth"]:
        problems.append(f"horizontal overflow: the page is {found['scrollWidth']} px wide in a "
                        f"{found['clientWidth']} px window")
    problems += [f"broken image: {src}" for src in found["images"]]
    problems += [f"{w['what']} wider than its column: {w['name']} {w['width']} px in {w['column']} px"
                 for w in found["wide"]]
    broken, external = check_links(path.resolve(), found["links"], set(found["ids"]) | set(found["names"]))
    problems += [f"broken link: {b}" for b in broken]
    height = page.js("Math.max(document.documentElement.scrollHeight, document.body.scrollHeight)") or 900
    page.call("Emulation.setDeviceMetricsOverride", width=width, height=int(min(height, 16000)),
              deviceScaleFactor=1, mobile=False)
    shot = page.call("Page.captureScreenshot", format="png")
    screenshot.parent.mkdir(parents=True, exist_ok=True)
    screenshot.write_bytes(base64.b64decode(shot["data"]))
    print(f"{path}: {len(found['links'])} links ({len(external)} to other sites, not checked), "
          f"{len(found['ids'])} anchors, page {found['scrollWidth']} x {height} px; screenshot {screenshot}", flush=True)
    return problems


def pages_of(items: list[str]) -> list[Path]:
    pages = []
    for item in items:
        p = Path(item)
        pages.append(p / "index.html" if p.is_dir() else p)
    return pages


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("pages", nargs="*", default=["reports/quick"], help="reports/<name>/ or a page (default reports/quick)")
    ap.add_argument("--width", type=int, default=1400, help="window width in CSS pixels (default 1400)")
    ap.add_argument("--screenshot-dir", default=None, help="where the screenshots go (default: beside each page)")
    ap.add_argument("--chromium", default=shutil.which("chromium") or shutil.which("chromium-browser") or "chromium")
    args = ap.parse_args(argv)
    pages = pages_of(args.pages)
    missing = [p for p in pages if not p.is_file()]
    if missing:
        print(f"no such page: {', '.join(map(str, missing))}", file=sys.stderr)
        return 2
    work = Path(tempfile.mkdtemp(prefix="ssb-report-check-"))
    port = free_port()
    try:
        browser = subprocess.Popen([args.chromium, "--headless=new", "--no-sandbox", "--disable-gpu",
                                    "--allow-file-access-from-files", "--hide-scrollbars",
                                    f"--remote-debugging-port={port}", f"--user-data-dir={work / 'chrome'}",
                                    f"--window-size={args.width},900", "about:blank"],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    except OSError as err:
        print(f"cannot start Chromium ({args.chromium}): {err}; apt-get install -y chromium", file=sys.stderr)
        return 2
    failed = 0
    try:
        try:
            targets = json.loads(wait_for(f"http://127.0.0.1:{port}/json/list", 60))
        except TimeoutError as err:
            print(f"Chromium did not answer: {err}", file=sys.stderr)
            return 2
        ws = next(t["webSocketDebuggerUrl"] for t in targets if t.get("type") == "page")
        page = Page(ws, strict=True)
        page.call("Page.enable")
        for path in pages:
            label = path.parent.name if path.name == "index.html" else f"{path.parent.name}-{path.stem}"
            shot = (Path(args.screenshot_dir) / f"{label}.png") if args.screenshot_dir else path.with_suffix(".check.png")
            problems = check_page(page, path, args.width, shot)
            for problem in problems:
                print(f"  FAIL {problem}", flush=True)
            print(f"{'FAILED' if problems else 'ok'}: {path}", flush=True)
            failed += bool(problems)
    finally:
        browser.terminate()
        try:
            browser.wait(10)
        except subprocess.TimeoutExpired:
            browser.kill()
        shutil.rmtree(work, ignore_errors=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
