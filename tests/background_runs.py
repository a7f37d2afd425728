"""The long end-to-end runs (all notebooks through ``ssb.runner``), started together in the
background as soon as pytest knows which tests it will run, so that they share the two cores
with the rest of the suite instead of queueing after it.

A test module registers how to stage and start a run; a test marked
``@pytest.mark.background("name", ...)`` asks for its results with the ``background``
fixture, which waits for that run:

    @background_runs.register("smoke-a")
    def smoke_a(root: Path, data_dir: Path) -> list[str]:       # stage files under root, return argv
        return runner_argv("--profile", "smoke")

    @pytest.mark.background("smoke-a")
    def test_smoke(background):
        proc = background.result("smoke-a")                      # subprocess.CompletedProcess
        root = background.root("smoke-a")                        # its SSB_OUTPUT_DIR

Every run gets its own output root (``SSB_OUTPUT_DIR``) and runs offline; what it printed
is kept in ``<root>/stdout.txt`` and ``stderr.txt``.  Selecting a single test (``-k``, a file)
starts only the runs it names; ``-m "not slow"`` starts none.  Runs still going when pytest
ends (an interruption, a failed test) are killed with their notebook kernels.
"""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

REPO = Path(__file__).resolve().parents[1]
# name -> (stage(root, data_dir) -> argv, timeout in seconds, environment variables to unset)
_REGISTERED: dict[str, tuple[Callable[[Path, Path], list[str]], float, tuple[str, ...]]] = {}


def register(name: str, timeout: float = 1800.0, unset: tuple[str, ...] = ()):
    """Decorator: ``stage(root, data_dir) -> argv`` starts the run ``name`` (argv without the
    interpreter, e.g. ``["-m", "ssb.runner", ...]``), with at most ``timeout`` seconds and
    without the environment variables ``unset`` (e.g. SSB_DATA_DIR for a staged directory)."""
    def decorate(stage):
        _REGISTERED[name] = (stage, timeout, tuple(unset))
        return stage
    return decorate


def runner_argv(*args: str) -> list[str]:
    return ["-m", "ssb.runner", *args]


class BackgroundRuns:
    def __init__(self, data_dir: Path | None):
        self.data_dir = data_dir
        self.base = Path(tempfile.mkdtemp(prefix="ssb-end-to-end-"))
        self.processes: dict[str, subprocess.Popen] = {}
        self.deadlines: dict[str, float] = {}
        self.results: dict[str, subprocess.CompletedProcess] = {}

    def root(self, name: str) -> Path:
        return self.base / name

    def start(self, name: str) -> None:
        if name in self.processes:
            return
        if name not in _REGISTERED:
            raise KeyError(f"no background run {name!r} is registered (known: {sorted(_REGISTERED)})")
        stage, timeout, unset = _REGISTERED[name]
        root = self.root(name)
        root.mkdir(parents=True)
        argv = stage(root, self.data_dir)
        env = {**os.environ, "SSB_OUTPUT_DIR": str(root), "SSB_OFFLINE": "1", "HF_HUB_OFFLINE": "1",
               "SSB_DATA_DIR": str(self.data_dir)}
        for key in unset:
            env.pop(key, None)
        with open(root / "stdout.txt", "w") as out, open(root / "stderr.txt", "w") as err:
            self.processes[name] = subprocess.Popen([sys.executable, *argv], cwd=REPO, env=env, stdout=out,
                                                    stderr=err, start_new_session=True)
        self.deadlines[name] = time.monotonic() + timeout

    def result(self, name: str) -> subprocess.CompletedProcess:
        """The finished run (started now if it was not): return code and what it printed."""
        if name not in self.results:
            self.start(name)
            proc = self.processes[name]
            try:
                proc.wait(timeout=max(1.0, self.deadlines[name] - time.monotonic()))
            except subprocess.TimeoutExpired:
                self._kill(proc)
                raise TimeoutError(f"background run {name} did not finish within its time") from None
            root = self.root(name)
            self.results[name] = subprocess.CompletedProcess(proc.args, proc.returncode,
                                                             (root / "stdout.txt").read_text(),
                                                             (root / "stderr.txt").read_text())
        return self.results[name]

    @staticmethod
    def _kill(proc: subprocess.Popen) -> None:
        if proc.poll() is None:
            try:
                os.killpg(proc.pid, signal.SIGKILL)        # the runner, its kernels and their workers
            except ProcessLookupError:
                pass
            proc.wait()

    def close(self) -> None:
        for proc in self.processes.values():
            self._kill(proc)
        shutil.rmtree(self.base, ignore_errors=True)


def requested(items) -> list[str]:
    """The background runs the selected test items name, in order, once each."""
    names = [n for item in items for marker in item.iter_markers("background") for n in marker.args]
    return list(dict.fromkeys(names))
