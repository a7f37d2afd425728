"""Where results land: ``figures/<profile>/`` (PNG figures, CSV tables, ``summary.json``)
and ``runs/<profile>/`` (checkpoints and caches, never committed).

Every notebook adds its own section to ``summary.json`` with ``update_summary``; values
are converted to plain JSON (NaN -> null) and written atomically with sorted keys, so
the same numbers always give the same bytes.

``SSB_OUTPUT_DIR`` moves ``runs/``, ``figures/`` and ``reports/`` under another root
(the reproducibility tests run the pipeline twice side by side this way).

Results belong to their run (docs/method.md, "Profiles" and "Verdicts"):

- A profile with overrides writes to its own folder, ``figures/<results name>/``, where the
  results name is the profile name plus the sorted overrides (``quick-block5``,
  ``quick-block5-steps800``; ``results_name``).  ``figures/<profile>/`` changes only when the
  profile itself is run.  Checkpoints stay in ``runs/<profile>/`` (their caches are keyed by
  the fields they depend on).  ``summary.json`` records the overrides (``"overrides"``).
- Every section that ``update_summary`` writes is stamped ``section["written_by"] =
  {"run_id", "time", "results_name"}``.  A run of ``ssb.runner`` gives all its notebooks one
  run id (``SSB_RUN_ID``, set by ``run_context``); ``current_run_sections`` keeps the
  sections of one run, ``stale_sections`` names the others with their time.  Outside a
  runner (JupyterLab) each kernel process has its own id and nothing is filtered.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import re
import time
from pathlib import Path
from typing import Any

import numpy as np

from . import atomic, schema

# Wall-clock measurements: the only values of summary.json that may differ between two
# runs of the same profile and seed (the reproducibility test ignores exactly these).
TIMING_KEYS = frozenset({"tokens_per_second", "wall_seconds", "train_seconds"})
# The stamp of the run that wrote a section: differs between runs by construction.
STAMP_KEY = "written_by"
# Set by ``run_context`` (ssb.runner) for the notebooks' kernels: one id and one results
# folder for every notebook of a run, whatever the notebook passes as its profile.
RUN_ID_ENV = "SSB_RUN_ID"
RESULTS_NAME_ENV = "SSB_RESULTS_NAME"
RESULTS_OVERRIDES_ENV = "SSB_RESULTS_OVERRIDES"     # JSON of the runner's overrides
# Parameters that are not profile fields but change the results (notebooks 04-07).
RESULT_PARAMETERS = ("checkpoint",)
_MAX_NAME = 80
# Set by the runner while a notebook runs: the directory where that notebook's figures, tables
# and summary sections are staged until it finishes (``commit_staged``); a notebook that fails
# or is interrupted never replaces the last good results (``discard_staged``).
STAGING_ENV = "SSB_STAGING_DIR"
_PROCESS_RUN_ID: str | None = None


def repo_root() -> Path:
    """The project root: the directory holding pyproject.toml above this package, else cwd."""
    here = Path(__file__).resolve()
    for parent in here.parents:
        if (parent / "pyproject.toml").exists() and (parent / "lib" / "ssb").exists():
            return parent
    return Path.cwd()


def output_root() -> Path:
    env = os.environ.get("SSB_OUTPUT_DIR")
    return Path(env).expanduser().resolve() if env else repo_root()


def profile_name(profile) -> str:
    """The base profile's name ("quick"), also for a Profile with overrides."""
    return profile if isinstance(profile, str) else profile.name


def runs_dir(profile) -> Path:
    return output_root() / "runs" / profile_name(profile)


def profile_overrides(profile) -> dict[str, Any]:
    """The fields of a Profile that differ from its named base profile ({} for a name)."""
    if isinstance(profile, str):
        return {}
    from .profiles import PROFILES

    base = PROFILES.get(profile.name)
    if base is None:
        return {}
    mine, theirs = profile.to_dict(), base.to_dict()
    return {k: v for k, v in sorted(mine.items()) if k != "name" and v != theirs.get(k)}


def _slug(value: Any) -> str:
    """A short, file-name-safe spelling of an override's value."""
    if isinstance(value, bool):
        return str(value).lower()
    text = str(value)
    if "/" in text or os.sep in text:                  # a path: its last part + a hash of the whole
        digest = hashlib.sha1(text.encode()).hexdigest()[:6]
        text = f"{Path(text).name}.{digest}"
    return re.sub(r"[^A-Za-z0-9.+]+", "_", text).strip("_") or "_"


def results_name(profile, overrides: dict[str, Any] | None = None) -> str:
    """The folder name of a run's results: the profile name, then ``<field><value>`` for every
    override in sorted order (``quick-block5-steps800``); the profile name alone without
    overrides.  ``overrides`` adds to those read off a Profile (e.g. ``checkpoint``).  Inside a
    run of ``ssb.runner`` (``SSB_RESULTS_NAME`` set for the same profile) that run's name.
    Names longer than 80 characters end in a hash of the overrides instead."""
    base = profile_name(profile)
    env = os.environ.get(RESULTS_NAME_ENV)
    if env and (env == base or env.startswith(base + "-")):
        return env
    items = {**profile_overrides(profile), **(overrides or {})}
    items = {k: v for k, v in items.items() if v is not None and k not in ("name", "profile")}
    if not items:
        return base
    name = "-".join([base] + [f"{k}{_slug(v)}" for k, v in sorted(items.items())])
    if len(name) > _MAX_NAME:
        digest = hashlib.sha1(json.dumps(to_jsonable(items), sort_keys=True).encode()).hexdigest()[:10]
        name = f"{base}-{'-'.join(sorted(items))}"[: _MAX_NAME - 11].rstrip("-") + f"-{digest}"
    return name


def figures_dir(profile) -> Path:
    """figures/<results_name(profile)>/, created if missing."""
    d = output_root() / "figures" / results_name(profile)
    d.mkdir(parents=True, exist_ok=True)
    return d


# ----------------------------------------------------------------------------- runs


def new_run_id() -> str:
    """A fresh run id: UTC time and process id, e.g. ``20260512T093015Z-4711``."""
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()) + f"-{os.getpid()}"


def current_run_id() -> str:
    """``SSB_RUN_ID`` inside a runner's run; else one id for this process (a Lab kernel)."""
    global _PROCESS_RUN_ID
    env = os.environ.get(RUN_ID_ENV)
    if env:
        return env
    if _PROCESS_RUN_ID is None:
        _PROCESS_RUN_ID = new_run_id()
    return _PROCESS_RUN_ID


@contextlib.contextmanager
def run_context(run_id: str, name: str, overrides: dict[str, Any] | None = None):
    """Within the block, this process and the kernels it starts share ``run_id``, write to
    figures/<name>/ and record ``overrides``; the variables are restored afterwards."""
    keys = (RUN_ID_ENV, RESULTS_NAME_ENV, RESULTS_OVERRIDES_ENV)
    saved = {k: os.environ.get(k) for k in keys}
    os.environ[RUN_ID_ENV], os.environ[RESULTS_NAME_ENV] = run_id, name
    os.environ[RESULTS_OVERRIDES_ENV] = json.dumps(to_jsonable(overrides or {}), sort_keys=True)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def section_stamp(summary: dict, section: str) -> dict | None:
    """The ``written_by`` stamp of a section, None when it has none (written before stamps)."""
    value = summary.get(section)
    stamp = value.get(STAMP_KEY) if isinstance(value, dict) else None
    return stamp if isinstance(stamp, dict) else None


def _sections(summary: dict) -> list[str]:
    return [k for k, v in summary.items() if isinstance(v, dict) and k != "overrides"]


def current_run_sections(summary: dict, run_id: str | None = None) -> dict:
    """``summary`` with only the sections written by run ``run_id`` (default: ``SSB_RUN_ID``,
    the runner's run).  Without a run id (interactive use) ``summary`` is returned whole.
    Plain top-level values (``profile``, ``overrides``) are kept."""
    run_id = run_id if run_id is not None else os.environ.get(RUN_ID_ENV)
    if not run_id:
        return dict(summary)
    stale = stale_sections(summary, run_id)
    return {k: v for k, v in summary.items() if k not in stale}


def stale_sections(summary: dict, run_id: str | None = None) -> dict[str, dict | None]:
    """{section: its stamp (None if unstamped)} for every section NOT written by ``run_id``
    (default ``SSB_RUN_ID``); {} without a run id."""
    run_id = run_id if run_id is not None else os.environ.get(RUN_ID_ENV)
    if not run_id:
        return {}
    out = {}
    for section in _sections(summary):
        stamp = section_stamp(summary, section)
        if stamp is None or stamp.get("run_id") != run_id:
            out[section] = stamp
    return out


def describe_stale(stale: dict[str, dict | None]) -> str:
    """One line naming the sections of earlier runs and when they were written ("" if none)."""
    if not stale:
        return ""
    parts = [f"{k} ({v.get('time', '?')}, run {v.get('run_id', '?')})" if v else f"{k} (time unknown)"
             for k, v in sorted(stale.items())]
    return "Left out, from earlier runs: " + "; ".join(parts) + "."


def to_jsonable(x: Any) -> Any:
    """Plain JSON values: numpy scalars and arrays to Python, NaN and inf to None."""
    if isinstance(x, dict):
        return {str(k): to_jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [to_jsonable(v) for v in x]
    if isinstance(x, np.ndarray):
        return to_jsonable(x.tolist())
    if isinstance(x, (np.bool_, bool)):
        return bool(x)
    if isinstance(x, (np.integer,)):
        return int(x)
    if isinstance(x, (np.floating, float)):
        x = float(x)
        return x if math.isfinite(x) else None
    return x


def summary_path(profile) -> Path:
    return figures_dir(profile) / "summary.json"


def staging_dir() -> Path | None:
    """Where the running notebook stages its outputs (``SSB_STAGING_DIR``), None outside a runner."""
    env = os.environ.get(STAGING_ENV, "").strip()
    return Path(env) if env else None


def _output_path(profile, file_name: str) -> Path:
    """figures/<name>/<file_name>, or its staged copy while a runner's notebook runs."""
    staged = staging_dir()
    if staged is None:
        return figures_dir(profile) / file_name
    staged.mkdir(parents=True, exist_ok=True)
    return staged / file_name


def _read_summary_file(path: Path) -> dict:
    if not path.exists():
        return {}
    try:
        return schema.with_current_keys(json.loads(path.read_text()))
    except json.JSONDecodeError as err:
        raise ValueError(f"{path} is not valid JSON ({err}); delete it and re-run the notebooks") from None


def load_summary(profile) -> dict:
    """The profile's summary.json ({} when absent), keys renamed since it was written under
    their current names (``schema.with_current_keys``); inside a runner's notebook, with the
    sections that notebook has staged so far on top."""
    summary = _read_summary_file(summary_path(profile))
    staged = staging_dir()
    if staged is not None:
        summary.update(_read_summary_file(staged / "summary.json"))
    return summary


def commit_staged(profile, staged: Path) -> list[str]:
    """Move what a finished notebook staged into figures/<name>/: its summary sections merged into
    summary.json under the lock, every other file renamed into place.  Returns the names moved."""
    staged = Path(staged)
    if not staged.is_dir():
        return []
    moved = []
    sections = _read_summary_file(staged / "summary.json")
    if sections:
        with atomic.locked(summary_path(profile)):
            summary = _read_summary_file(summary_path(profile))
            summary.update(sections)
            atomic.write_json(summary_path(profile), summary)
        moved.append("summary.json")
    target = figures_dir(profile)
    for item in sorted(staged.iterdir()):
        if item.name != "summary.json" and item.is_file():
            os.replace(item, target / item.name)
            moved.append(item.name)
    discard_staged(staged)
    return moved


def discard_staged(staged: Path) -> None:
    """Drop what a failed or interrupted notebook staged: the last good results stay as they were."""
    import shutil

    shutil.rmtree(staged, ignore_errors=True)


def update_summary(profile, section: str, values: Any) -> dict:
    """Set ``summary[section] = values`` (and ``summary['profile']``, ``summary['overrides']``),
    stamp a dict section with the run that wrote it (``written_by``), atomically and under the
    file's lock (``atomic.locked``): processes updating sections at once lose nothing.

    ``values``: a ``schema.Section`` (whose name must be ``section``) or plain JSON-able values."""
    if isinstance(values, schema.Section):
        if values.section != section:
            raise ValueError(f"a schema.{type(values).__name__} is the section {values.section!r}, not {section!r}")
        values = values.as_dict()
    values = portable_paths(to_jsonable(values))
    if isinstance(values, dict):
        values[STAMP_KEY] = {"run_id": current_run_id(), "results_name": results_name(profile),
                             "time": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())}
    staged = staging_dir()
    path = staged / "summary.json" if staged is not None else summary_path(profile)
    with atomic.locked(path):                           # read-modify-write: no concurrent update is lost
        summary = _read_summary_file(path)
        summary["profile"] = profile_name(profile)
        summary["overrides"] = portable_paths(to_jsonable(_recorded_overrides(profile)))
        summary[section] = values
        atomic.write_json(path, summary)
    return load_summary(profile) if staged is not None else summary


def _recorded_overrides(profile) -> dict[str, Any]:
    """The overrides that name this run's results folder: a Profile's changed fields, else
    those the runner recorded for its results name (``SSB_RESULTS_OVERRIDES``)."""
    found = profile_overrides(profile)
    env = os.environ.get(RESULTS_OVERRIDES_ENV)
    if env:
        try:
            found = {**json.loads(env), **found}
        except json.JSONDecodeError:
            pass
    return dict(sorted(found.items()))


# ----------------------------------------------------------------------------- portable paths
#
# Nothing a run writes for a reader (summary.json, claims.md, the reports) names a folder of the
# machine it ran on: a path under the data directory is written ``$SSB_DATA_DIR/...``, one under
# the output root or the repository relative to it (``figures/quick/x.png``, ``lib/ssb/x.py``),
# one in the virtual environment ``.venv/...``, one under the home directory ``~/...``.  A path
# under none of these stays as it is (it has no portable spelling).
DATA_DIR_TOKEN = "$SSB_DATA_DIR"


def _portable_roots() -> list[tuple[str, str]]:
    """[(absolute root, its portable spelling)], the longest root first; each root both as given
    and with its symbolic links resolved."""
    import sys

    pairs: list[tuple[str | None, str]] = []
    data = os.environ.get("SSB_DATA_DIR", "").strip()
    if data:
        pairs.append((os.path.expanduser(data), DATA_DIR_TOKEN))
    pairs += [(str(output_root()), ""), (str(repo_root()), ""), (sys.prefix, ".venv"),
              (os.path.expanduser("~"), "~")]
    roots: dict[str, str] = {}
    for root, token in pairs:
        if not root or not os.path.isabs(root):
            continue
        for spelling in (os.path.normpath(os.path.abspath(root)), os.path.realpath(root)):
            if spelling != os.sep:
                roots.setdefault(spelling, token)
    return sorted(roots.items(), key=lambda item: -len(item[0]))


def _join(token: str, rest: str) -> str:
    rest = rest.lstrip("/")
    if not token:
        return rest or "."
    return f"{token}/{rest}" if rest else token


def portable_path(path: str | os.PathLike) -> str:
    """``path`` without this machine's folders: ``$SSB_DATA_DIR/fewrel/val_wiki.json``,
    ``figures/quick/summary.json`` (relative to the output root or the repository),
    ``.venv/...``, ``~/...``; a relative path, or an absolute one under none of these, unchanged.
    This is what ``ssb.session.start`` should record as ``inputs`` (``update_summary`` applies it
    to every path-like string anyway)."""
    text = os.fspath(path)
    if not os.path.isabs(text):
        return text
    normal = os.path.normpath(text)
    for root, token in _portable_roots():
        if normal == root or normal.startswith(root + os.sep):
            return _join(token, normal[len(root):])
    return text


def portable_paths(obj: Any) -> Any:
    """``obj`` (plain JSON values) with every string that is an absolute path made portable
    (``portable_path``)."""
    if isinstance(obj, dict):
        return {k: portable_paths(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [portable_paths(v) for v in obj]
    if isinstance(obj, str) and obj.startswith("/") and "\n" not in obj:
        return portable_path(obj)
    return obj


def portable_text(text: str) -> str:
    """Free text (printed lines, tracebacks, HTML) with every occurrence of this machine's folders
    replaced as in ``portable_path``."""
    if not text or "/" not in text:
        return text
    roots = [(root, token) for root, token in _portable_roots() if root in text]
    if not roots:
        return text
    parts = _ANSI.split(text)                  # colour codes of tracebacks kept, the text between them changed
    for i in range(0, len(parts), 2):
        for root, token in roots:
            if root in parts[i]:
                parts[i] = re.sub(r"(?<![\w.~$/-])" + re.escape(root) + r"(?=/|(?![\w.-]))(/?)",
                                  lambda m, t=token: (t + "/" if t else "") if m.group(1) else (t or "."), parts[i])
    return "".join(parts)


_ANSI = re.compile(r"(\x1b\[[0-9;]*[A-Za-z])")


def strip_timings(obj: Any) -> Any:
    """``obj`` without the wall-clock keys in TIMING_KEYS and the run stamps (at any depth)."""
    if isinstance(obj, dict):
        return {k: strip_timings(v) for k, v in obj.items() if k not in TIMING_KEYS and k != STAMP_KEY}
    if isinstance(obj, list):
        return [strip_timings(v) for v in obj]
    return obj


def save_figure(fig, profile, name: str, dpi: int = 120) -> Path:
    """Save a matplotlib figure as figures/<profile>/<name>.png (atomically, no timestamp)."""
    path = _output_path(profile, f"{name}.png")
    with atomic.atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, dpi=dpi, bbox_inches="tight", format="png", metadata={"Software": None})
    return path


def save_table(df, profile, name: str) -> Path:
    """Save a pandas DataFrame as figures/<profile>/<name>.csv (atomically)."""
    path = _output_path(profile, f"{name}.csv")
    with atomic.atomic_path(path, suffix=".csv") as tmp:
        df.to_csv(tmp, index=False, float_format="%.6g")
    return path
