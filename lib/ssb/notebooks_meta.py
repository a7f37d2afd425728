"""The notebooks' own parameters (type and range, checked by the runner before any kernel
starts), the kernel the notebooks carry, and the command that sets it.

``NOTEBOOK_PARAMETERS`` declares every parameter a notebook takes besides the profile fields
and ``checkpoint`` (``n_seeds``, ``n_permutations``, ``blocks_along``): the runner
(``ssb.runner``) checks ``-p NAME VALUE`` against it with ``check_notebook_parameter`` and
exits with status 2 naming the parameter, so no kernel fails late on a bad value.

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

from dataclasses import dataclass
from typing import Any, Callable

from . import atomic, results


@dataclass(frozen=True)
class NotebookParameter:
    """A notebook's own parameter: what it means, what it allows (in words) and the check."""
    name: str
    meaning: str
    allowed: str
    ok: Callable[[Any, Any], bool]          # (value, profile) -> allowed?


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _blocks_ok(value: Any, profile: Any) -> bool:
    if value is None:
        return True
    return (isinstance(value, list) and bool(value) and all(_is_int(b) for b in value)
            and len(set(value)) == len(value) and all(1 <= b <= profile.block for b in value))


# The lower bound of n_permutations: a 95th percentile needs at least 20 draws to lie inside the
# null's range (200, the default, resolves it well; docs/method.md).
MIN_PERMUTATIONS = 20
MAX_SEEDS = 100

NOTEBOOK_PARAMETERS: dict[str, NotebookParameter] = {p.name: p for p in (
    NotebookParameter("n_seeds", "readouts trained with seeds seed, seed+1, ...: the spread of the headline numbers",
                      f"an integer from 1 to {MAX_SEEDS}", lambda v, profile: _is_int(v) and 1 <= v <= MAX_SEEDS),
    NotebookParameter("n_permutations", "label permutations of the null",
                      f"an integer >= {MIN_PERMUTATIONS}", lambda v, profile: _is_int(v) and v >= MIN_PERMUTATIONS),
    NotebookParameter("blocks_along", "the blocks of \"SSB along the blocks\" (None: every block 1..block)",
                      "None or a list of distinct block numbers from 1 to the profile's block, e.g. [2, 4, 6]",
                      _blocks_ok),
)}


def check_notebook_parameter(name: str, value: Any, profile: Any) -> Any:
    """``value`` when it is allowed for notebook parameter ``name`` under ``profile``; ValueError
    naming the parameter, the value and what is allowed otherwise (names not declared here pass)."""
    rule = NOTEBOOK_PARAMETERS.get(name)
    if rule is None or rule.ok(value, profile):
        return value
    allowed = rule.allowed.replace("the profile's block", f"the profile's block ({profile.block})")
    raise ValueError(f"-p {name} {value!r}: {rule.meaning}; allowed: {allowed}")

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
