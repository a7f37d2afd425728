"""The kernel the notebooks carry, and the command that sets it.

JupyterLab marks a notebook modified as soon as it opens when the notebook's kernel spec
differs from the kernel it starts.  The README's set-up installs one kernel spec into the
project's environment::

    .venv/bin/python -m ipykernel install --sys-prefix --name ssb --display-name "Python 3 (ssb)"

and every notebook carries the same name and display name (``KERNELSPEC``).  To (re)write the
notebooks' metadata, keeping cells untouched::

    python -m ssb.notebooks_meta [notebooks/*.ipynb]      # default: notebooks/NN_*.ipynb
    python -m ssb.notebooks_meta --check                  # exit 1 if any notebook differs
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Sequence

from . import atomic, results

KERNEL_NAME = "ssb"
KERNEL_DISPLAY_NAME = "Python 3 (ssb)"
KERNELSPEC = {"display_name": KERNEL_DISPLAY_NAME, "language": "python", "name": KERNEL_NAME}
# What ipykernel reports on connecting and Lab writes into the notebook: carried as is, so
# that opening changes nothing.  "version" is the kernel's Python (sys.version.split()[0], as
# ipykernel spells it): run this module with the project's interpreter; a kernel of another
# Python patch version marks the notebook modified once (its language_info.version changes).
LANGUAGE_INFO = {"codemirror_mode": {"name": "ipython", "version": 3}, "file_extension": ".py",
                 "mimetype": "text/x-python", "name": "python", "nbconvert_exporter": "python",
                 "pygments_lexer": "ipython3", "version": sys.version.split()[0]}
INSTALL_COMMAND = (f'.venv/bin/python -m ipykernel install --sys-prefix --name {KERNEL_NAME} '
                   f'--display-name "{KERNEL_DISPLAY_NAME}"')


def with_project_kernel(nb: dict) -> dict:
    """``nb`` (notebook JSON) with the project's kernelspec and language_info; cells unchanged."""
    meta = nb.setdefault("metadata", {})
    meta["kernelspec"] = dict(KERNELSPEC)
    meta["language_info"] = dict(LANGUAGE_INFO)
    return nb


def needs_update(path: Path) -> bool:
    meta = json.loads(Path(path).read_text()).get("metadata", {})
    return meta.get("kernelspec") != KERNELSPEC or meta.get("language_info") != LANGUAGE_INFO


def set_kernelspec(paths: Sequence[Path]) -> list[Path]:
    """Rewrite the notebooks whose kernelspec or language_info differs (indent 1, as Jupyter writes them);
    returns the ones changed."""
    changed = []
    for path in paths:
        path = Path(path)
        if not needs_update(path):
            continue
        nb = with_project_kernel(json.loads(path.read_text()))
        atomic.write_text(path, json.dumps(nb, indent=1, ensure_ascii=False) + "\n")
        changed.append(path)
    return changed


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m ssb.notebooks_meta", description=__doc__.split("\n\n")[0])
    ap.add_argument("paths", nargs="*", type=Path, help="notebooks (default notebooks/NN_*.ipynb)")
    ap.add_argument("--check", action="store_true", help="only report; exit 1 if any notebook differs")
    args = ap.parse_args(argv)
    paths = args.paths or sorted((results.repo_root() / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    if args.check:
        stale = [p for p in paths if needs_update(p)]
        for p in stale:
            print(f"{p}: kernelspec is not {KERNELSPEC}")
        return 1 if stale else 0
    for p in set_kernelspec(paths):
        print(f"set kernel {KERNEL_NAME!r} in {p}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
