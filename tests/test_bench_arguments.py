"""``python -m ssb.bench`` commands answer bad arguments with a usage error (exit 2) naming the
option, never a traceback (issue 23, item 6)."""
from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from test_runner import REPO


@pytest.mark.parametrize("argv, message", [
    (["learning", "evaluate", "--profile", "nope"], "argument --profile: unknown profile 'nope'"),
    (["learning", "train", "--steps", "0"], "argument --steps: expected an integer >= 1, got '0'"),
    (["aperture", "--n-test", "0"], "argument --n-test: expected an integer >= 1, got '0'"),
    (["aperture", "--n-heads", "0"], "argument --n-heads: expected an integer >= 1, got '0'"),
    (["aperture", "--naive-repeats", "0"], "argument --naive-repeats: expected an integer >= 1, got '0'"),
    (["pretrain", "--steps", "0"], "argument --steps: expected an integer >= 1, got '0'"),
    (["pretrain", "--profile", "nope"], "unknown profile 'nope'"),
    (["cache_check", "--megabytes", "nan"], "argument --megabytes: expected a finite number > 0"),
])
def test_bad_bench_arguments_are_usage_errors(argv, message, capsys):
    from ssb.bench.__main__ import main

    with pytest.raises(SystemExit) as stop:
        main(argv)
    err = capsys.readouterr().err
    assert stop.value.code == 2 and message in err and "Traceback" not in err


@pytest.mark.parametrize("content, message", [
    ('{"a": ', "cannot be read as JSON"),
    ("[1, 2]", "holds a JSON list, not a summary"),
])
def test_fidelity_on_a_file_that_is_no_summary_is_a_usage_error(tmp_path, content, message, capsys):
    from ssb.bench.fidelity import main

    bad = tmp_path / "summary.json"
    bad.write_text(content)
    with pytest.raises(SystemExit) as stop:
        main([str(bad), str(bad)])
    assert stop.value.code == 2 and message in capsys.readouterr().err


def test_bench_from_the_command_line_prints_no_traceback(tmp_path):
    bad = tmp_path / "s.json"
    bad.write_text("[]")
    proc = subprocess.run([sys.executable, "-m", "ssb.bench", "fidelity", str(bad), str(bad)], capture_output=True,
                          text=True, timeout=120, cwd=REPO, env={"PYTHONPATH": str(REPO / "lib"), "PATH": "/usr/bin:/bin"})
    assert proc.returncode == 2 and "holds a JSON list" in proc.stderr and "Traceback" not in proc.stderr


def test_naive_time_is_the_median_of_its_runs(monkeypatch):
    from ssb.bench import aperture as bench

    clock = iter([0.0, 5.0, 10.0, 11.0, 20.0, 23.0])                  # runs of 5, 1 and 3 s
    monkeypatch.setattr(bench.time, "perf_counter", lambda: next(clock))
    monkeypatch.setattr(bench, "naive_predictions", lambda head, z, sets: np.zeros((1, 1), dtype=np.int32))
    t, preds, runs = bench._time_naive(None, None, None, threads=1, repeats=3)
    assert runs == [5.0, 1.0, 3.0] and t == 3.0 and preds.shape == (1, 1)
