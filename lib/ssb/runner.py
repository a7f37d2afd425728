"""Headless runner: execute the notebooks NN_*.ipynb in order with papermill and render HTML.

    python -m ssb.runner [--profile quick] [--data-dir DIR] [--only 01,03] [--force]
                         [-p NAME VALUE ...] [--notebooks-dir DIR] [--no-html]

(``./run_all.sh`` sets up ``.venv`` and calls this.)  Every notebook gets the papermill
parameters ``profile``, ``data_dir``, ``force`` and each ``-p NAME VALUE`` (a profile field, or
``checkpoint``).  Values given with ``-p`` are parsed: for a profile field, to the field's type
(int, float, bool, str); otherwise "None"/"null" -> None, "true"/"false" -> bool, integers ->
int, decimals -> float, anything else stays a string.  The profile name and every override are
validated (``profiles.get_profile``: every field's range) before any notebook runs; so are the
paths, resolved against the directory the command was run from and passed on absolute
(``--data-dir``, ``-p checkpoint``, ``-p fewrel_file``; ``$SSB_OUTPUT_DIR``, ``$SSB_DATA_DIR``),
the output directories (writable), and ``-p checkpoint`` (refused when a selected notebook does
not declare it in its parameters cell).  Stale temporary files
of an interrupted run in ``reports/<profile>/`` are removed at the start.

Outputs, under ``results.output_root()`` (``$SSB_OUTPUT_DIR``, else the repository):

- ``reports/<name>/NN_name.ipynb``  the executed copy (written even when the notebook fails);
- ``reports/<name>/NN_name.html``   its HTML in reader mode (no bookkeeping cells, no injected
  parameters; ``ssb.notebook_pages``), which shows the error of a failure;
- ``reports/<name>/NN_name.all-cells.html``  the same with every cell;
- ``reports/<name>/all_notebooks.html``      every notebook on one printable page, with contents;
- ``reports/<name>/timings.json``   per notebook: wall seconds, status, parameters;
- ``reports/<name>/index.html``     claims table, notebook list, figures (``ssb.report``);
- ``figures/<name>/``               figures, tables, ``summary.json`` and ``claims.md``.

``<name>`` is the profile's name, or with overrides the profile plus the sorted overrides
(``quick-block5``, ``results.results_name``): a run with overrides never writes into
``figures/<profile>/``.  All notebooks of one invocation share a run id (``results.run_context``)
that stamps the summary sections they write; the index shows only that run's values.

While a notebook runs, a line at least every 15 s names it, the time since it started and the
cell it is executing with the Markdown heading above it (``Heartbeat``; ``$SSB_HEARTBEAT_S``
sets the interval, 0 turns it off).

The first failing notebook stops the run: ``FAILED: NN_name (see reports/<profile>/NN_name.html)``
and exit status 1.  Bad options exit with status 2 before anything runs.

Kernel: papermill's "python3" kernel must run *this* interpreter (the venv's, where ``ssb`` is
installed).  jupyter_client launches a kernel spec whose argv[0] is a bare "python" with
``sys.executable``, which is what ipykernel's own spec says; when the "python3" spec found
points at another interpreter (a user-level spec, say), ``kernel_name_for_this_python`` writes
a private spec for ``sys.executable`` inside the venv and puts it first on ``JUPYTER_PATH``
for this process only; the user's Jupyter configuration is never touched.

Length (about 800 lines): one idea, running the notebooks as a reader expects, in its steps -- parameters
checked before any kernel starts, each notebook executed with a heartbeat, the results name and the pages
written. The parsing of ``-p`` values could be a module of its own; it is not split yet.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import importlib.util
import logging
import os
import sys
import tempfile
import threading
import time
import traceback
from dataclasses import dataclass, field
from html import escape
from pathlib import Path
from typing import Any, Sequence

from . import atomic, claims, notebook_pages, notebooks_meta, profiles, report, results, verdict_text

# Parameters every notebook accepts besides the profile fields; set by options, not by -p.
DEDICATED_OPTIONS = {"profile": "--profile", "name": "--profile", "data_dir": "--data-dir", "force": "--force"}
# Parameters that are not profile fields but that the notebooks accept through -p.
EXTRA_PARAMETERS = ("checkpoint",)
# Parameters holding a path.  They are resolved against the directory the command was run
# from (the notebooks run in the notebooks directory) and passed on as absolute paths: one that
# exists there, or that is written as a path (./x, ../x, ~/x, /x); a bare word that does not
# exist stays as it is (a FewRel file name in the data directory, a Hub id).
PATH_PARAMETERS = ("checkpoint", "fewrel_file")
# Parameters every notebook gets, declared in its parameters cell or not (``ssb.session.start``
# picks them out of the namespace).
EVERY_NOTEBOOK_TAKES = profiles.FIELD_NAMES | set(EXTRA_PARAMETERS) | {"profile", "data_dir", "force"}
# Temporary files of an interrupted run in reports/<profile>/ (atomic.atomic_path of a notebook)
REPORT_TEMPORARIES = ".[0-9][0-9]_*.ipynb.*"

# Exit status of a run stopped with Ctrl-C (128 + SIGINT, as a shell reports it).
INTERRUPTED = 130

PRIVATE_KERNEL_NAME = "ssb-python"
# The kernel's own log goes to this terminal (not into the notebook); keep it to errors so the
# progress lines stay readable (ipykernel warns on every start that it uses plain TCP locally).
KERNEL_ARGUMENTS = ["--IPKernelApp.log_level=ERROR"]


# ----------------------------------------------------------------------------- parameters


def parse_value(text: str) -> Any:
    """A command-line value that is no profile field, as None, bool, int, float, a list (JSON,
    e.g. ``[4, 6]``), or (otherwise) the string itself (the words and number formats of
    ``profiles``).  ValueError for a list that is not valid JSON."""
    word = text.strip().lower()
    if word.startswith("["):
        try:
            value = json.loads(text)
        except json.JSONDecodeError as err:
            raise ValueError(f"{text!r} looks like a list but is not valid JSON ({err.msg}); e.g. [4, 6]") from None
        if not isinstance(value, list):
            raise ValueError(f"{text!r} is not a list")
        return value
    if word in profiles.NONE_WORDS:
        return None
    if word == "true":
        return True
    if word == "false":
        return False
    if profiles.INTEGER_TEXT.fullmatch(text.strip()):
        return int(text)
    if profiles.NUMBER_TEXT.fullmatch(text.strip()):
        return float(text)
    return text


def coerce_parameter(name: str, text: str, notebook_parameters: Sequence[str] = ()) -> Any:
    """``-p NAME VALUE`` to a Python value: by ``profiles.coerce_field`` when NAME is a profile
    field (strict: a bad value is a ValueError naming the field, the value and the expected type),
    else by ``parse_value``; "none"/"null" is None (the profile's value).  ``notebook_parameters``:
    names the selected notebooks' parameters cells declare themselves (e.g. ``n_permutations``),
    accepted too.  Raises ValueError naming NAME for unknown names and bad values."""
    if name in DEDICATED_OPTIONS:
        raise ValueError(f"-p {name} is not accepted; use {DEDICATED_OPTIONS[name]} instead")
    if name in profiles.FIELD_NAMES:
        return profiles.coerce_field(name, text)
    if name not in EXTRA_PARAMETERS and name not in notebook_parameters:
        known = sorted(profiles.FIELD_NAMES - set(DEDICATED_OPTIONS)) + list(EXTRA_PARAMETERS) + \
            sorted(set(notebook_parameters) - profiles.FIELD_NAMES - set(EXTRA_PARAMETERS))
        raise ValueError(f"unknown parameter -p {name}{profiles.did_you_mean(name, known)}: not a profile field "
                         f"(all are defined in lib/ssb/profiles.py, described in docs/method.md); "
                         f"known: {', '.join(known)}")
    return parse_value(text)


def resolve_path_parameter(name: str, value: Any, cwd: str | os.PathLike | None = None) -> Any:
    """A path parameter resolved against ``cwd`` (default: the current directory), as an absolute
    path; ValueError when it is written as a path but does not exist.  A bare word that does not
    exist from ``cwd`` is returned unchanged (a FewRel name in the data directory, a Hub id)."""
    if not isinstance(value, str) or not value.strip():
        return value
    base = Path(cwd) if cwd is not None else Path.cwd()
    given = Path(value).expanduser()
    candidate = given if given.is_absolute() else base / given
    looks_like_path = given.is_absolute() or value.startswith(("./", "../", "~", ".\\", "..\\")) \
        or value in (".", "..")
    if candidate.exists():
        resolved = Path(os.path.normpath(candidate.absolute()))
        if name == "checkpoint" and resolved.is_file():
            raise ValueError(f"-p checkpoint {value}: {resolved} is a file; a checkpoint is the directory holding "
                             f"config.json and the weights: -p checkpoint {resolved.parent}")
        if name == "fewrel_file" and resolved.is_dir():
            raise ValueError(f"-p fewrel_file {value}: {resolved} is a directory; give the FewRel JSON file itself")
        return str(resolved)
    if looks_like_path:
        raise ValueError(f"-p {name} {value}: {candidate} does not exist (relative paths are resolved "
                         f"against the directory the command was run from, {base})")
    return value


def declared_parameters(notebook: Path) -> set[str] | None:
    """Names the notebook's cell tagged "parameters" assigns; None when it has no such cell
    or it cannot be read (papermill reports that itself)."""
    import ast
    import json

    try:
        nb = json.loads(notebook.read_text(encoding="utf-8"))
        cells = [c for c in nb.get("cells", []) if "parameters" in c.get("metadata", {}).get("tags", [])]
        if not cells:
            return None
        source = "".join(cells[0]["source"]) if isinstance(cells[0]["source"], list) else cells[0]["source"]
        names: set[str] = set()
        for node in ast.parse(source).body:
            targets = node.targets if isinstance(node, ast.Assign) else \
                [node.target] if isinstance(node, (ast.AnnAssign, ast.AugAssign)) else []
            names.update(t.id for t in targets if isinstance(t, ast.Name))
        return names
    except (OSError, ValueError, SyntaxError, KeyError, TypeError, AttributeError):
        return None


def parameters_for(notebook: Path, parameters: dict[str, Any]) -> dict[str, Any]:
    """The run's parameters as one notebook gets them: a notebook's own parameter (one that is
    not a profile field, e.g. ``n_permutations``) only goes to the notebooks that declare it."""
    declared = declared_parameters(notebook)
    if declared is None:
        return dict(parameters)
    return {k: v for k, v in parameters.items() if k in EVERY_NOTEBOOK_TAKES or k in declared}


def notebook_own_parameters(notebooks: list[Path]) -> set[str]:
    """Every name the selected notebooks' parameters cells assign (profile fields included)."""
    names: set[str] = set()
    for nb in notebooks:
        names |= declared_parameters(nb) or set()
    return names


def check_notebooks_accept(notebooks: list[Path], overrides: dict[str, Any]) -> None:
    """Every parameter that is not a profile field (``checkpoint``) must be declared by every
    selected notebook: a notebook that does not declare it would ignore it silently."""
    extra = [k for k, v in overrides.items() if k in EXTRA_PARAMETERS and v is not None]
    for name in extra:
        refusing = [nb.stem for nb in notebooks if (declared := declared_parameters(nb)) is not None
                    and name not in declared]
        if refusing:
            accepting = [nb.name[:2] for nb in notebooks if nb.stem not in refusing]
            hint = f"; run only the notebooks that take it: --only {','.join(accepting)}" if accepting else ""
            raise ValueError(f"-p {name} is not accepted by {', '.join(refusing)} (they would ignore it and "
                             f"analyse our own pre-trained BERT-6){hint}")


def check_device(setting: str) -> None:
    """ValueError naming ``-p device`` when the device cannot be had here (``cuda`` without a GPU);
    torch is imported only for ``cuda``."""
    if setting in ("auto", "cpu"):
        return
    try:
        profiles.resolve_device(setting)
    except ValueError as err:
        raise ValueError(f"-p device {setting}: {err}") from None


def check_writable(directory: Path) -> None:
    """ValueError, in one line naming ``directory``, when it cannot be created or written."""
    try:
        directory.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=directory, prefix=".write-test-"):
            pass
    except OSError as err:
        raise ValueError(f"output directory {directory} is not writable ({err.strerror or err}); "
                         f"set SSB_OUTPUT_DIR to a writable directory") from None


@dataclass
class Plan:
    """What one invocation will do, validated before anything runs."""
    profile: str
    notebooks: list[Path]
    notebooks_dir: Path
    parameters: dict[str, Any]          # passed to every notebook
    html: bool = True
    overrides: dict[str, Any] = field(default_factory=dict)
    run_id: str = field(default_factory=results.new_run_id)

    @property
    def results_name(self) -> str:
        """figures/<results_name>/ and reports/<results_name>/: the profile, plus the overrides."""
        return results.results_name(self.profile, {k: v for k, v in self.overrides.items() if v is not None})


def find_notebooks(notebooks_dir: Path, only: str | None) -> list[Path]:
    """The NN_*.ipynb of ``notebooks_dir`` in order, restricted to the numbers in ``only``."""
    if not notebooks_dir.is_dir():
        raise ValueError(f"notebooks directory {notebooks_dir} does not exist")
    found = sorted(notebooks_dir.glob("[0-9][0-9]_*.ipynb"))
    if not found:
        raise ValueError(f"no notebooks NN_*.ipynb in {notebooks_dir}")
    if only is None:
        return found
    wanted = []
    for item in only.split(","):
        item = item.strip()
        if not item:
            continue
        if not item.isdigit() or len(item) > 2:
            raise ValueError(f"--only takes notebook numbers such as 01,03; got {item!r}")
        wanted.append(item.zfill(2))
    available = [p.name[:2] for p in found]
    missing = [w for w in wanted if w not in available]
    if missing or not wanted:
        raise ValueError(f"--only {only!r}: no notebook numbered {', '.join(missing) or '(none given)'}; "
                         f"available: {', '.join(available)}")
    return [p for p in found if p.name[:2] in wanted]


def build_plan(args: argparse.Namespace) -> Plan:
    """Everything validated against the directory the command was run from, before anything
    runs: parameters (types, every profile field's range), paths (made absolute), notebooks."""
    notebooks_dir = Path(args.notebooks_dir).expanduser().absolute() if args.notebooks_dir \
        else results.repo_root() / "notebooks"
    notebooks = find_notebooks(notebooks_dir, args.only)
    own = notebook_own_parameters(notebooks) - profiles.FIELD_NAMES - set(EXTRA_PARAMETERS)
    overrides: dict[str, Any] = {}
    for name, text in args.param or []:
        value = coerce_parameter(name, text, sorted(own))
        overrides[name] = resolve_path_parameter(name, value) if name in PATH_PARAMETERS else value
    profile_fields = {k: v for k, v in overrides.items() if k not in EXTRA_PARAMETERS and k not in own}
    profile = profiles.get_profile(args.profile, **profile_fields)  # unknown names, bad values: ValueError
    for name, value in overrides.items():                         # the notebooks' own parameters (n_seeds, ...)
        if name in own:
            notebooks_meta.check_notebook_parameter(name, value, profile)
    check_device(profile.device)
    data_dir = args.data_dir or os.environ.get("SSB_DATA_DIR") or None
    if data_dir is not None and str(data_dir).strip():
        given = data_dir
        data_dir = str(Path(os.path.normpath(Path(data_dir).expanduser().absolute())))
        if not Path(data_dir).is_dir():
            source = "--data-dir" if args.data_dir else "$SSB_DATA_DIR"
            raise ValueError(f"{source} {given}: data directory {data_dir} does not exist "
                             f"(relative paths are resolved against {Path.cwd()})")
    else:
        data_dir = None
    check_notebooks_accept(notebooks, overrides)
    parameters = {"profile": args.profile, "data_dir": data_dir, "force": bool(args.force), **overrides}
    return Plan(args.profile, notebooks, notebooks_dir, parameters, html=not args.no_html, overrides=overrides)


# ----------------------------------------------------------------------------- kernel


def _runs_this_python(argv: Sequence[str]) -> bool:
    """Whether a kernel spec's argv starts this interpreter (symlinks not followed: a venv's
    python links to the base interpreter, which lacks the venv's packages)."""
    if not argv:
        return False
    bare = {"python", f"python{sys.version_info[0]}", "python%d.%d" % sys.version_info[:2]}
    if argv[0] in bare:                    # jupyter_client substitutes sys.executable for these
        return True
    return os.path.abspath(argv[0]) == os.path.abspath(sys.executable)


def kernel_name_for_this_python(spec_root: str | os.PathLike | None = None) -> str:
    """The kernel name that runs ``sys.executable``: "python3" when that spec already does,
    else a private spec written under ``spec_root`` (default <sys.prefix>/share/ssb/jupyter)
    and put first on this process's JUPYTER_PATH."""
    if importlib.util.find_spec("ipykernel") is None:
        raise ValueError(f"ipykernel is not installed in {sys.executable}; "
                         f"install the pinned environment: .venv/bin/pip install -r requirements.lock")
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    try:
        spec = KernelSpecManager().get_kernel_spec("python3")
        if _runs_this_python(spec.argv):
            return "python3"
    except NoSuchKernel:
        pass
    root = Path(spec_root) if spec_root is not None else Path(sys.prefix) / "share" / "ssb" / "jupyter"
    kernel_json = {"argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
                   "display_name": f"Python ({sys.prefix})", "language": "python"}
    try:
        atomic.write_json(root / "kernels" / PRIVATE_KERNEL_NAME / "kernel.json", kernel_json)
    except OSError:                        # read-only prefix: a temporary directory instead
        root = Path(tempfile.mkdtemp(prefix="ssb-kernel-"))
        atomic.write_json(root / "kernels" / PRIVATE_KERNEL_NAME / "kernel.json", kernel_json)
    old = os.environ.get("JUPYTER_PATH")
    os.environ["JUPYTER_PATH"] = str(root) + (os.pathsep + old if old else "")
    return PRIVATE_KERNEL_NAME


class _ProfileFieldsAreKnown(logging.Filter):
    """Drop papermill's "Passed unknown parameter: X" for the parameters every notebook takes
    through ``ssb.session.start`` (profile fields, checkpoint) without declaring them."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        prefix = "Passed unknown parameter: "
        if not message.startswith(prefix):
            return True
        name = message[len(prefix):].strip()
        return name not in profiles.FIELD_NAMES | set(EXTRA_PARAMETERS)


def prepare_environment() -> None:
    """Environment the kernels inherit: no tokenizer thread pools after fork, a headless
    matplotlib backend, and this package importable whatever the working directory."""
    os.environ["TOKENIZERS_PARALLELISM"] = "false"
    # Kernels keep IPython's inline matplotlib backend (MPLBACKEND=Agg would drop every
    # figure from the reports); tqdm bars are off in headless runs (they would fill the HTML
    # with carriage-return frames) unless the caller set TQDM_DISABLE itself.
    os.environ.pop("MPLBACKEND", None)
    os.environ.setdefault("TQDM_DISABLE", "1")
    # OpenMP threads that spin while waiting make every op 2-4x slower on a loaded machine
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    # the kernels start in the notebooks directory: relative locations must not change meaning
    for name in ("SSB_OUTPUT_DIR", "SSB_DATA_DIR"):
        value = os.environ.get(name, "").strip()
        if value and not os.path.isabs(os.path.expanduser(value)):
            os.environ[name] = str(Path(value).expanduser().absolute())
    papermill_log = logging.getLogger("papermill")
    if not any(isinstance(f, _ProfileFieldsAreKnown) for f in papermill_log.filters):
        papermill_log.addFilter(_ProfileFieldsAreKnown())
    package_parent = str(Path(__file__).resolve().parents[1])
    path = os.environ.get("PYTHONPATH", "")
    if package_parent not in path.split(os.pathsep):
        os.environ["PYTHONPATH"] = package_parent + (os.pathsep + path if path else "")


# ----------------------------------------------------------------------------- heartbeat

# While a notebook runs, a line at least this often (seconds): the notebook, the time since it
# started and the cell it is executing (``Heartbeat``).  ``$SSB_HEARTBEAT_S`` changes it; 0 turns it off.
HEARTBEAT_SECONDS = 15.0
HEARTBEAT_ENV = "SSB_HEARTBEAT_S"
HEARTBEAT_ENGINE = "ssb-heartbeat"


def heartbeat_interval() -> float:
    """``$SSB_HEARTBEAT_S`` (seconds, 0 = off), else ``HEARTBEAT_SECONDS``."""
    text = os.environ.get(HEARTBEAT_ENV, "").strip()
    try:
        return max(0.0, float(text)) if text else HEARTBEAT_SECONDS
    except ValueError:
        return HEARTBEAT_SECONDS


def _duration(seconds: float) -> str:
    seconds = int(seconds)
    if seconds < 60:
        return f"{seconds} s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {seconds:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


class Heartbeat:
    """Progress of one notebook's execution, printed from a daemon thread every ``interval``
    seconds: ``... 03_nodes_pretrain: 2 min 05 s, cell 12 of 40 ("Permutation null")``, the
    cell counted among the code cells, the quoted text the last Markdown heading above it.
    Papermill's engine reports each cell as it starts (``_HeartbeatEngine``)."""

    def __init__(self, stem: str, interval: float = HEARTBEAT_SECONDS, stream=None):
        self.stem, self.interval, self.stream = stem, float(interval), stream
        self.start = time.monotonic()
        self.cell: int | None = None           # 1-based among the code cells
        self.cells: int | None = None
        self.section = ""
        self.printed = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def cell_started(self, nb, cell_index: int | None) -> None:
        """The engine starts cell ``cell_index`` (of all cells) of ``nb``."""
        if cell_index is None:
            return
        code = [i for i, c in enumerate(nb.cells) if c.get("cell_type") == "code"]
        self.cells = len(code)
        self.cell = sum(1 for i in code if i <= cell_index)
        self.section = ""
        for cell in reversed(nb.cells[:cell_index]):
            if cell.get("cell_type") != "markdown":
                continue
            headings = [line.lstrip("#").strip() for line in str(cell.get("source", "")).splitlines()
                        if line.startswith("#")]
            if headings:
                self.section = headings[-1]
                break

    def line(self) -> str:
        where = "starting the kernel" if self.cell is None else f"cell {self.cell} of {self.cells}"
        if self.section:
            where += f' ("{self.section}")'
        return f"    ... {self.stem}: {_duration(time.monotonic() - self.start)}, {where}"

    def _beat(self) -> None:
        while not self._stop.wait(self.interval):
            print(("\n" if not self.printed else "") + self.line(), file=self.stream or sys.stdout, flush=True)
            self.printed += 1

    def __enter__(self):
        global _HEARTBEAT
        _HEARTBEAT = self
        if self.interval > 0:
            self._thread = threading.Thread(target=self._beat, name=f"heartbeat-{self.stem}", daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc):
        global _HEARTBEAT
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        if _HEARTBEAT is self:
            _HEARTBEAT = None
        return False


_HEARTBEAT: Heartbeat | None = None


def _heartbeat_engine():
    """Papermill's nbclient engine, telling the running ``Heartbeat`` (if any) each cell it starts
    (registered as ``HEARTBEAT_ENGINE``)."""
    from papermill.engines import NBClientEngine, papermill_engines

    class _HeartbeatEngine(NBClientEngine):
        @classmethod
        def execute_managed_notebook(cls, nb_man, kernel_name, **kwargs):
            cell_start = nb_man.cell_start

            def reporting_cell_start(cell, cell_index=None, **kw):
                beat = _HEARTBEAT
                if beat is not None:
                    try:
                        beat.cell_started(nb_man.nb, cell_index)
                    except Exception:      # noqa: BLE001 - progress must never break a run
                        pass
                return cell_start(cell, cell_index, **kw)

            nb_man.cell_start = reporting_cell_start
            return super().execute_managed_notebook(nb_man, kernel_name, **kwargs)

    papermill_engines.register(HEARTBEAT_ENGINE, _HeartbeatEngine)
    return HEARTBEAT_ENGINE


# ----------------------------------------------------------------------------- execution


def _error_html(title: str, text: str) -> str:
    return (f"<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{escape(title)}</title></head>"
            f"<body><h1>{escape(title)} failed</h1><pre>{escape(text)}</pre></body></html>\n")


# A kernel that fails while starting, before any cell ran, is started again (at most this many
# starts in all).  jupyter_client picks a kernel's TCP ports by binding free ports and releasing
# them, so kernels started at the same moment by two runs can pick the same port ("Address
# already in use", then "Kernel died before replying to kernel_info"); a heavily loaded machine
# can also miss the start-up timeout.
KERNEL_STARTS = 3
_KERNEL_START_ERRORS = ("Kernel died before replying to kernel_info", "Kernel didn't respond in")


def _kernel_did_not_start(error: BaseException | None, target: Path, written: bool) -> bool:
    """Whether ``error`` is a kernel start-up failure and no cell ran (``target``, when this
    attempt ``written`` it, has no executed cell)."""
    if error is None or not any(text in str(error) for text in _KERNEL_START_ERRORS):
        return False
    if not written:
        return True
    try:
        cells = json.loads(target.read_text())["cells"]
    except (OSError, ValueError, KeyError):
        return True
    return all(cell.get("execution_count") is None for cell in cells if cell.get("cell_type") == "code")


def execute_notebook(source: Path, target: Path, parameters: dict, kernel_name: str,
                     cwd: Path, heartbeat: Heartbeat | None = None) -> tuple[BaseException | None, bool]:
    """Run ``source`` into ``target`` (atomically).  Returns (error or None, whether ``target``
    was written by this run).

    On a failure inside the notebook papermill has already written the executed cells and the
    traceback into the output notebook, which is kept; when papermill wrote nothing (unreadable
    input, no kernel), ``target`` is left as it was and the second value is False.  A kernel
    that dies while starting, before any cell ran, is started again (``KERNEL_STARTS``), with a
    line saying so.  ``heartbeat``: prints the progress while the notebook runs (``Heartbeat``)."""
    with heartbeat if heartbeat is not None else contextlib.nullcontext():
        return _execute_with_retries(source, target, parameters, kernel_name, cwd)


def _execute_with_retries(source: Path, target: Path, parameters: dict, kernel_name: str,
                          cwd: Path) -> tuple[BaseException | None, bool]:
    for start in range(1, KERNEL_STARTS):
        error, written = _execute_once(source, target, parameters, kernel_name, cwd)
        if not _kernel_did_not_start(error, target, written):
            return error, written
        print(f"    the kernel did not start ({str(error).splitlines()[0]}); starting it again "
              f"({start + 1} of {KERNEL_STARTS})", flush=True)
        time.sleep(1.0 * start)
    return _execute_once(source, target, parameters, kernel_name, cwd)


def _execute_once(source: Path, target: Path, parameters: dict, kernel_name: str,
                  cwd: Path) -> tuple[BaseException | None, bool]:
    import papermill

    error: BaseException | None = None
    written = False
    try:
        with atomic.atomic_path(target, suffix=".ipynb") as tmp:
            try:
                papermill.execute_notebook(str(source), str(tmp), parameters=parameters, kernel_name=kernel_name,
                                           progress_bar=False, log_output=False, cwd=str(cwd),
                                           engine_name=_heartbeat_engine(),
                                           extra_arguments=list(KERNEL_ARGUMENTS))
            except Exception as err:       # noqa: BLE001 - any failure is reported, not raised
                error = err
                if tmp.stat().st_size == 0:
                    raise
        written = True
    except Exception as err:               # noqa: BLE001
        error = error or err
    return error, written


def _make_portable(executed: Path) -> None:
    """The executed copy without this machine's folders (``notebook_pages.make_portable_file``); a notebook
    that cannot be read is left as papermill wrote it."""
    try:
        notebook_pages.make_portable_file(executed)
    except Exception as err:               # noqa: BLE001 - the report matters more than its paths
        print(f"    (paths left as they are in {executed.name}: {_short_error(err)})", flush=True)


def render_html(executed: Path, target: Path, exporter=None) -> None:
    """HTML of an executed notebook (atomically): ``target`` in reader mode and
    ``notebook_pages.full_page(target)`` with every cell (``notebook_pages.render_notebook_html``); a plain
    error page when it cannot be rendered."""
    for page, reader in ((target, True), (notebook_pages.full_page(target), False)):
        try:
            notebook_pages.render_notebook_html(executed, page, exporter, reader=reader)
        except Exception as err:           # noqa: BLE001
            body = _error_html(executed.stem, f"HTML rendering of {executed} failed:\n{''.join(traceback.format_exception(err))}")
            atomic.write_text(page, body)


def write_run_reports(plan: "Plan", succeeded: bool = True) -> None:
    """After the notebooks: claims.md, the combined report (unless --no-html) and the index,
    all for this run's results name; the index uses only the sections this run wrote.
    The verdicts of this run's sections are stored in summary.json: ``claims`` {C1..C6: verdict}
    and ``claims_stats`` {Ck: verdict, gates, checks} (``claims.claims_summary``).

    A run that failed or was interrupted (``succeeded`` False) replaces none of the last good
    results: claims.md, the verdicts in summary.json and all_notebooks.html stay as they were;
    only the index is rewritten, marking what failed and showing the claims of the last run
    that finished (the one that wrote summary.json's ``claims``)."""
    name = plan.results_name
    if not succeeded:
        with results.run_context(plan.run_id, name, plan.overrides):
            last_good = results.section_stamp(results.load_summary(name), "claims") or {}
            print(f"index: {report.write_index(name, last_good.get('run_id'))} (the claims of the last run that "
                  f"finished{', ' + str(last_good.get('time')) if last_good else ': none yet'})", flush=True)
        return
    with results.run_context(plan.run_id, name, plan.overrides):
        with atomic.locked(results.summary_path(name)):        # read the sections and store the verdicts as one
            current = results.current_run_sections(results.load_summary(name))
            verdicts = claims.claims_summary(current)
            results.update_summary(name, "claims", verdicts["claims"])
            results.update_summary(name, "claims_stats", verdicts["stats"])
            verdict_text.write_claims_markdown(name)
    if plan.html:
        try:
            combined = notebook_pages.write_combined(name)
        except Exception as err:           # noqa: BLE001 - the index matters more than this page
            print(f"error: the combined report failed: {_short_error(err)}", file=sys.stderr, flush=True)
        else:
            if combined is not None:
                print(f"combined report: {combined}", flush=True)
    print(f"index: {report.write_index(name, plan.run_id)}", flush=True)


def _short_error(error: BaseException) -> str:
    ename, evalue = getattr(error, "ename", None), getattr(error, "evalue", None)
    if ename:
        return f"{ename}: {evalue}"
    return f"{type(error).__name__}: {error}"


def _write_timings(plan: Plan, timings: dict) -> None:
    """This run's entries merged into timings.json under its lock (another run's entries are kept)."""
    path = notebook_pages.reports_dir(plan.results_name) / "timings.json"
    with atomic.locked(path):
        atomic.write_json(path, results.portable_paths({**notebook_pages.load_timings(plan.results_name), **timings}))


def failure_page(reports_dir: Path, stem: str) -> Path:
    """NN_name.failed.html: the report of a notebook that failed, beside its last good NN_name.html."""
    return reports_dir / f"{stem}.failed.html"


def run(plan: Plan, kernel_name: str) -> int:
    """Execute the plan; 0 when every notebook ran, 1 at the first failure."""
    with results.run_context(plan.run_id, plan.results_name, plan.overrides):
        return _run(plan, kernel_name)


def _run(plan: Plan, kernel_name: str) -> int:
    """Each notebook executes into ``NN_name.attempt.ipynb`` with its figures, tables and summary
    sections staged (``results.STAGING_ENV``); only a notebook that finishes replaces
    ``NN_name.ipynb``/``.html`` and moves its staged results into figures/<name>/.  A failure
    keeps the last good ones and is reported beside them (``NN_name.failed.ipynb``/``.html``);
    Ctrl-C (KeyboardInterrupt) discards the notebook's attempt and is re-raised after timings.json
    records it as "interrupted"."""
    from nbconvert import HTMLExporter

    reports_dir = notebook_pages.reports_dir(plan.results_name)
    reports_dir.mkdir(parents=True, exist_ok=True)
    for stale in atomic.remove_stale_temporaries(reports_dir, REPORT_TEMPORARIES):
        print(f"removed {stale.name} (temporary file of an interrupted run)", flush=True)
    figures = results.output_root() / "figures" / plan.results_name
    for stale in atomic.remove_stale_temporaries(figures, ".staging-*"):
        print(f"removed {stale.name} (results staged by an interrupted run)", flush=True)
    exporter = HTMLExporter() if plan.html else None
    timings: dict = {}
    total = len(plan.notebooks)
    for i, source in enumerate(plan.notebooks, start=1):
        stem = source.stem
        executed = reports_dir / source.name
        attempt = reports_dir / f"{stem}.attempt.ipynb"
        failed = reports_dir / f"{stem}.failed.ipynb"
        staged = figures / f".staging-{stem}.{os.getpid()}-{plan.run_id}"
        print(f"[{i}/{total}] {stem} ...", end="", flush=True)
        start = time.perf_counter()
        os.environ[results.STAGING_ENV] = str(staged)
        try:
            heartbeat = Heartbeat(stem, heartbeat_interval())
            error, written = execute_notebook(source, attempt, parameters_for(source, plan.parameters), kernel_name,
                                              plan.notebooks_dir, heartbeat)
            if heartbeat.printed:                       # the outcome on its own line, after the progress lines
                print(f"[{i}/{total}] {stem}", end="", flush=True)
            if getattr(error, "ename", None) == "KeyboardInterrupt":    # the kernel got the Ctrl-C first
                raise KeyboardInterrupt
        except KeyboardInterrupt:
            results.discard_staged(staged)
            attempt.unlink(missing_ok=True)
            timings[stem] = {"seconds": round(time.perf_counter() - start, 2), "status": "interrupted",
                             "parameters": plan.parameters}
            for later in plan.notebooks[i:]:
                timings[later.stem] = {"seconds": None, "status": "skipped", "parameters": plan.parameters}
            _write_timings(plan, timings)
            raise
        finally:
            os.environ.pop(results.STAGING_ENV, None)
        seconds = time.perf_counter() - start
        timings[stem] = {"seconds": round(seconds, 2), "status": "failed" if error else "ok",
                         "parameters": plan.parameters}
        if error is None:
            results.commit_staged(plan.results_name, staged)
            _make_portable(attempt)
            os.replace(attempt, executed)
            failure = failure_page(reports_dir, stem)
            for leftover in (failed, failure, notebook_pages.full_page(failure)):
                leftover.unlink(missing_ok=True)
            if plan.html:
                render_html(executed, reports_dir / f"{stem}.html", exporter)
            _write_timings(plan, timings)
            print(f" ok ({seconds:.1f} s)", flush=True)
            continue
        results.discard_staged(staged)
        page = failure_page(reports_dir, stem)
        if written:
            _make_portable(attempt)
            os.replace(attempt, failed)
            render_html(failed, page, exporter)          # a failure is always rendered, to be readable
        else:                                            # nothing executed: the error itself is the report
            atomic.write_text(page, _error_html(stem, "".join(traceback.format_exception(error))))
        print(f" failed ({seconds:.1f} s)", flush=True)
        print(f"  {_short_error(error)}", flush=True)
        for later in plan.notebooks[i:]:
            timings[later.stem] = {"seconds": None, "status": "skipped", "parameters": plan.parameters}
        _write_timings(plan, timings)
        kept = " (its last good report is kept)" if executed.is_file() else ""
        print(f"FAILED: {stem} (see reports/{plan.results_name}/{page.name}){kept}", flush=True)
        return 1
    return 0


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="run_all.sh", description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--profile", default="quick", help=f"one of {', '.join(sorted(profiles.PROFILES))} (default quick)")
    ap.add_argument("--data-dir", default=None, help="data directory (default $SSB_DATA_DIR, else ./data)")
    ap.add_argument("--only", default=None, help="comma-separated notebook numbers, e.g. 01,03")
    ap.add_argument("--force", action="store_true", help="retrain instead of reusing matching checkpoints")
    ap.add_argument("-p", dest="param", nargs=2, action="append", metavar=("NAME", "VALUE"),
                    help="a profile field (or checkpoint) forwarded to every notebook, or a notebook's own parameter (e.g. n_permutations) forwarded to the notebooks that declare it; repeatable")
    ap.add_argument("--notebooks-dir", default=None, help="directory of the NN_*.ipynb (default <repo>/notebooks)")
    ap.add_argument("--no-html", action="store_true", help="skip the HTML of successful notebooks")
    return ap


def main(argv: Sequence[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as stop:             # --help, or a usage error argparse already printed
        return int(stop.code or 0)
    try:
        plan = build_plan(args)
        prepare_environment()
        for directory in (notebook_pages.reports_dir(plan.results_name),
                          results.output_root() / "figures" / plan.results_name,
                          results.output_root() / "runs" / plan.profile):
            check_writable(directory)
        kernel_name = kernel_name_for_this_python()
        if plan.parameters.get("data_dir"):     # what the run writes spells it $SSB_DATA_DIR (results.portable_path)
            os.environ["SSB_DATA_DIR"] = plan.parameters["data_dir"]
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr, flush=True)
        return 2
    print(f"profile {plan.profile!r}: {len(plan.notebooks)} notebook(s) from {plan.notebooks_dir}, "
          f"reports in {notebook_pages.reports_dir(plan.results_name)}", flush=True)
    if plan.overrides:
        print(f"overrides: {plan.overrides}", flush=True)
    status = 1
    try:
        status = run(plan, kernel_name)
    except KeyboardInterrupt:
        status = INTERRUPTED
    try:
        write_run_reports(plan, succeeded=status == 0)
    except KeyboardInterrupt:
        status = INTERRUPTED
    except (OSError, ValueError) as err:       # reported, without hiding the run's own outcome
        print(f"error: writing the index failed: {err}", file=sys.stderr, flush=True)
        status = status or 1
    if status == INTERRUPTED:
        print(f"\ninterrupted (Ctrl-C): the last good reports and figures of {plan.results_name} are kept; "
              f"timings.json records the interruption", file=sys.stderr, flush=True)
    return status


if __name__ == "__main__":
    sys.exit(main())
