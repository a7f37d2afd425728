"""One writer at a time, nothing lost on failure (issue 23, item 5): summary.json is updated
under a lock; a failed or interrupted run never replaces the last good report, figure or
claims table; Ctrl-C ends with one "interrupted" line, exit 130, and timings.json saying so."""
from __future__ import annotations

import json
import multiprocessing

import pytest

from ssb import results


def _update_sections(root: str, tag: str, n: int) -> None:
    import os

    os.environ["SSB_OUTPUT_DIR"] = root
    for i in range(n):
        results.update_summary("smoke", f"{tag}{i}", {"i": i})


def test_two_processes_updating_summary_sections_lose_nothing(tmp_path, monkeypatch):
    monkeypatch.setenv("SSB_OUTPUT_DIR", str(tmp_path))
    ctx = multiprocessing.get_context("fork")
    n = 150
    procs = [ctx.Process(target=_update_sections, args=(str(tmp_path), tag, n)) for tag in ("a", "b")]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=240)
    assert [p.exitcode for p in procs] == [0, 0]
    summary = json.loads((tmp_path / "figures" / "smoke" / "summary.json").read_text())
    missing = [f"{t}{i}" for t in "ab" for i in range(n) if f"{t}{i}" not in summary]
    assert not missing, f"{len(missing)} updates lost, e.g. {missing[:5]}"


def test_nested_locks_of_one_process_do_not_wait_for_themselves(tmp_path):
    from ssb import atomic

    target = tmp_path / "summary.json"
    with atomic.locked(target, timeout=2):
        with atomic.locked(target, timeout=2):
            atomic.write_json(target, {"ok": True})
    assert json.loads(target.read_text()) == {"ok": True}


# ----------------------------------------------------------------------------- failed and interrupted runs

from ssb import runner  # noqa: E402
from test_runner import make_notebook, out_root  # noqa: E402,F401  (fixture)

WRITES = '''
import pandas as pd
from ssb import results
results.update_summary("smoke", "measured", {{"value": {value}}})
results.save_table(pd.DataFrame({{"value": [{value}]}}), "smoke", "table")
{then}
'''


def _run_once(nbs, value, then=""):
    make_notebook(nbs, "01_measure", extra_source=WRITES.format(value=value, then=then))
    return runner.main(["--profile", "smoke", "--notebooks-dir", str(nbs)])


def test_a_failed_run_keeps_the_last_good_report_figures_and_claims(tmp_path, out_root, capsys):
    nbs = tmp_path / "nbs"
    nbs.mkdir()
    assert _run_once(nbs, 1) == 0
    reports, figures = out_root / "reports" / "smoke", out_root / "figures" / "smoke"
    good = {p: p.read_bytes() for p in (reports / "01_measure.html", reports / "01_measure.ipynb",
                                       figures / "table.csv", figures / "claims.md")}
    assert json.loads((figures / "summary.json").read_text())["measured"]["value"] == 1
    capsys.readouterr()

    assert _run_once(nbs, 2, then="raise RuntimeError('boom-after-writing')") == 1
    out = capsys.readouterr().out
    assert "FAILED: 01_measure (see reports/smoke/01_measure.failed.html) (its last good report is kept)" in out
    for path, content in good.items():
        assert path.read_bytes() == content, f"{path.name} was replaced by the failed run"
    assert json.loads((figures / "summary.json").read_text())["measured"]["value"] == 1
    assert "boom-after-writing" in (reports / "01_measure.failed.html").read_text()
    assert json.loads((reports / "timings.json").read_text())["01_measure"]["status"] == "failed"
    index = (reports / "index.html").read_text()
    assert "01_measure.failed.html" in index and "the last good run" in index
    assert not [p for p in figures.iterdir() if p.name.startswith(".staging")]

    assert _run_once(nbs, 3) == 0                                   # the next good run replaces both
    assert json.loads((figures / "summary.json").read_text())["measured"]["value"] == 3
    assert not (reports / "01_measure.failed.html").exists()


def test_ctrl_c_ends_with_one_line_exit_130_and_timings_saying_so(tmp_path, out_root, capsys, monkeypatch):
    nbs = tmp_path / "nbs"
    nbs.mkdir()
    assert _run_once(nbs, 1) == 0
    reports = out_root / "reports" / "smoke"
    good_page = (reports / "01_measure.html").read_bytes()
    make_notebook(nbs, "02_later")
    capsys.readouterr()

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(runner, "execute_notebook", interrupted)
    rc = runner.main(["--profile", "smoke", "--notebooks-dir", str(nbs)])
    err = capsys.readouterr().err
    assert rc == 130
    assert [line for line in err.splitlines() if line.strip()] == [
        "interrupted (Ctrl-C): the last good reports and figures of smoke are kept; timings.json records the "
        "interruption"]
    timings = json.loads((reports / "timings.json").read_text())
    assert timings["01_measure"]["status"] == "interrupted" and timings["02_later"]["status"] == "skipped"
    assert (reports / "01_measure.html").read_bytes() == good_page
    assert not list(reports.glob("*.attempt.ipynb"))
