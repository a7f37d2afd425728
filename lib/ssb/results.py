"""Where results land: ``figures/<profile>/`` (PNG figures, CSV tables, ``summary.json``)
and ``runs/<profile>/`` (checkpoints and caches, never committed).

Every notebook adds its own section to ``summary.json`` with ``update_summary``; values
are converted to plain JSON (NaN -> null) and written atomically with sorted keys, so
the same numbers always give the same bytes.

``SSB_OUTPUT_DIR`` moves ``runs/``, ``figures/`` and ``reports/`` under another root
(the reproducibility tests run the pipeline twice side by side this way).
"""
from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

import numpy as np

from . import atomic

# Wall-clock measurements: the only values of summary.json that may differ between two
# runs of the same profile and seed (the reproducibility test ignores exactly these).
TIMING_KEYS = frozenset({"tokens_per_second", "wall_seconds", "train_seconds"})


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
    return profile if isinstance(profile, str) else profile.name


def runs_dir(profile) -> Path:
    return output_root() / "runs" / profile_name(profile)


def figures_dir(profile) -> Path:
    d = output_root() / "figures" / profile_name(profile)
    d.mkdir(parents=True, exist_ok=True)
    return d


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


def load_summary(profile) -> dict:
    path = summary_path(profile)
    if not path.exists():
        return {}
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise ValueError(f"{path} is not valid JSON ({err}); delete it and re-run the notebooks") from None


def update_summary(profile, section: str, values: Any) -> dict:
    """Set ``summary[section] = values`` (and ``summary['profile']``), atomically."""
    summary = load_summary(profile)
    summary["profile"] = profile_name(profile)
    summary[section] = to_jsonable(values)
    atomic.write_json(summary_path(profile), summary)
    return summary


def strip_timings(obj: Any) -> Any:
    """``obj`` without the wall-clock keys in TIMING_KEYS (at any depth)."""
    if isinstance(obj, dict):
        return {k: strip_timings(v) for k, v in obj.items() if k not in TIMING_KEYS}
    if isinstance(obj, list):
        return [strip_timings(v) for v in obj]
    return obj


def save_figure(fig, profile, name: str, dpi: int = 120) -> Path:
    """Save a matplotlib figure as figures/<profile>/<name>.png (atomically, no timestamp)."""
    path = figures_dir(profile) / f"{name}.png"
    with atomic.atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, dpi=dpi, bbox_inches="tight", format="png", metadata={"Software": None})
    return path


def save_table(df, profile, name: str) -> Path:
    """Save a pandas DataFrame as figures/<profile>/<name>.csv (atomically)."""
    path = figures_dir(profile) / f"{name}.csv"
    with atomic.atomic_path(path, suffix=".csv") as tmp:
        df.to_csv(tmp, index=False, float_format="%.6g")
    return path
