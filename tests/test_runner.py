"""The headless runner (ssb.runner) on tiny dummy notebooks in tmp_path.

Each dummy notebook has a parameters cell like the real ones and a cell that appends what it
received (parameters, interpreter, ssb's location) to a JSON-lines log, so the tests see the
order of execution, the parameter types and the kernel's interpreter.  Kernel starts are the
cost, so the cases share runs: three kernels in all.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from ssb import runner

REPO = Path(__file__).resolve().parents[1]

PARAMETERS_CELL = 'profile = "quick"\ndata_dir = None\nforce = False\ncheckpoint = None\n'

RECORD_CELL = '''
import json, os, sys
import ssb
record = {{"notebook": {name!r}, "executable": sys.executable, "ssb_file": ssb.__file__,
          "cwd": os.getcwd(), "mplbackend": os.environ.get("MPLBACKEND"),
          "parameters": {{k: v for k, v in globals().items()
                         if k in ("profile", "data_dir", "force", "steps", "lr", "ssb_stochastic",
                                  "fewrel_file", "checkpoint", "seed")}}}}
with open(os.path.join(os.environ["SSB_OUTPUT_DIR"], "log.jsonl"), "a") as f:
    f.write(json.dumps(record) + "\\n")
'''


def make_notebook(directory: Path, name: str, extra_source: str = "", parameters: str = PARAMETERS_CELL) -> Path:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    params = nbformat.v4.new_code_cell(parameters)
    params.metadata["tags"] = ["parameters"]
    nb.cells = [nbformat.v4.new_markdown_cell(f"# {name}"), params,
                nbformat.v4.new_code_cell(RECORD_CELL.format(name=name))]
    if extra_source:
        nb.cells.append(nbformat.v4.new_code_cell(extra_source))
    path = directory / f"{name}.ipynb"
    nbformat.write(nb, path)
    return path


def read_log(root: Path) -> list[dict]:
    path = root / "log.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


@pytest.fixture
def out_root(tmp_path, monkeypatch):
    """SSB_OUTPUT_DIR in tmp_path; the variables the runner sets are restored afterwards."""
    root = tmp_path / "out"
    root.mkdir()
    monkeypatch.setenv("SSB_OUTPUT_DIR", str(root))
    for key in ("TOKENIZERS_PARALLELISM", "MPLBACKEND", "PYTHONPATH", "JUPYTER_PATH"):
        original = os.environ.get(key)
        monkeypatch.setenv(key, "x")          # registers the original value (or its absence) for restoring
        if original is None:
            monkeypatch.delenv(key)
        else:
            monkeypatch.setenv(key, original)
    monkeypatch.delenv("SSB_DATA_DIR", raising=False)
    return root


def test_runs_selected_notebooks_in_order_with_typed_parameters(tmp_path, out_root, monkeypatch, capsys):
    nbs = tmp_path / "nbs"
    nbs.mkdir()
    make_notebook(nbs, "03_gamma")
    make_notebook(nbs, "01_alpha", extra_source=(
        "from ssb import results\n"
        "results.update_summary(profile, 'apt', {'mean_by_layer': [0.1, 0.2, 0.35], 'spearman_freq': 0.42})\n"))
    make_notebook(nbs, "02_beta")
    monkeypatch.chdir(tmp_path)
    (tmp_path / "my_data").mkdir()
    (tmp_path / "ckpt").mkdir()

    rc = runner.main(["--profile", "smoke", "--notebooks-dir", str(nbs), "--only", "03,1", "--force",
                      "--data-dir", "my_data", "-p", "steps", "7", "-p", "lr", "5e-3", "-p", "ssb_stochastic", "true",
                      "-p", "fewrel_file", "123", "-p", "checkpoint", "ckpt", "-p", "seed", "None"])
    out = capsys.readouterr().out
    assert rc == 0, out

    log = read_log(out_root)
    assert [r["notebook"] for r in log] == ["01_alpha", "03_gamma"]       # in order; 02 filtered out
    params = log[0]["parameters"]
    assert params == log[1]["parameters"]
    assert params["profile"] == "smoke" and params["force"] is True
    assert params["data_dir"] == str(tmp_path / "my_data")                 # made absolute
    assert params["steps"] == 7 and type(params["steps"]) is int
    assert params["lr"] == 0.005 and type(params["lr"]) is float
    assert params["ssb_stochastic"] is True
    assert params["fewrel_file"] == "123"                                  # a str field stays a string
    assert params["checkpoint"] == str(tmp_path / "ckpt")                  # existing relative path -> absolute
    assert params["seed"] is None
    # the kernel runs this interpreter, imports this checkout's ssb, and starts in the notebooks dir
    assert os.path.abspath(log[0]["executable"]) == os.path.abspath(sys.executable)
    assert Path(log[0]["ssb_file"]).resolve() == (REPO / "lib" / "ssb" / "__init__.py").resolve()
    assert Path(log[0]["cwd"]).resolve() == nbs.resolve()
    assert log[0]["mplbackend"] in (None, "module://matplotlib_inline.backend_inline")  # inline: figures reach the reports

    [reports] = list((out_root / "reports").iterdir())
    name = reports.name
    assert name.startswith("smoke-checkpointckpt.") and name.endswith("-fewrel_file123-lr0.005-ssb_stochastictrue-steps7")
    for stem in ("01_alpha", "03_gamma"):
        assert (reports / f"{stem}.ipynb").is_file() and (reports / f"{stem}.html").is_file(), stem
        assert stem in out
    assert not (reports / "02_beta.ipynb").exists()
    assert "<html" in (reports / "01_alpha.html").read_text().lower()
    executed = nbformat.read(reports / "03_gamma.ipynb", as_version=4)
    assert any("injected-parameters" in c.metadata.get("tags", []) for c in executed.cells)

    timings = json.loads((reports / "timings.json").read_text())
    assert set(timings) == {"01_alpha", "03_gamma"}
    assert all(t["status"] == "ok" and t["seconds"] > 0 for t in timings.values())

    index = (reports / "index.html").read_text()
    assert 'href="01_alpha.html"' in index and 'href="03_gamma.html"' in index and "02_beta" not in index
    # the summary section written inside the kernel (SSB_OUTPUT_DIR honoured) reaches the claims table
    assert "C6" in index and "0.42" in index and "not testable" in index   # no gates recorded: never "holds"
    claims_md = (out_root / "figures" / name / "claims.md").read_text()
    c6_row = next(line for line in claims_md.splitlines() if line.startswith("| [**C6**](#c6-details) APT"))
    assert "**not testable**" in c6_row and "missing" in c6_row and "not passed" not in c6_row
    assert "trains longer" not in c6_row                                    # a missing gate is not a short run
    assert "Spearman(APT, frequency) 0.42" in claims_md and "**not measured**" in claims_md


def test_failing_notebook_stops_the_run_and_is_reported(tmp_path, out_root, capsys):
    nbs = tmp_path / "nbs"
    nbs.mkdir()
    make_notebook(nbs, "01_breaks", extra_source="raise RuntimeError('boom-marker-xyz')")
    make_notebook(nbs, "02_after")
    reports = out_root / "reports" / "smoke"
    reports.mkdir(parents=True)
    stale = [reports / ".01_breaks.ipynb.k3j2a_x9.ipynb",            # older naming, after a SIGKILL
             reports / f".02_after.ipynb.{2**22 + 12345}-abcd.ipynb"]  # a process id that is gone
    for path in stale:
        path.write_text("{}")
    keep = reports / f".02_after.ipynb.{os.getpid()}-live.ipynb"      # a running writer's: kept
    keep.write_text("{}")

    rc = runner.main(["--profile", "smoke", "--notebooks-dir", str(nbs), "--no-html"])
    out = capsys.readouterr().out
    assert rc != 0
    assert not any(p.exists() for p in stale) and keep.exists()
    assert "removed .01_breaks.ipynb.k3j2a_x9.ipynb" in out
    assert "FAILED: 01_breaks (see reports/smoke/01_breaks.failed.html)" in out
    assert "boom-marker-xyz" in out
    assert [r["notebook"] for r in read_log(out_root)] == ["01_breaks"]     # 02 never started

    assert "boom-marker-xyz" in (reports / "01_breaks.failed.html").read_text()   # rendered despite --no-html
    assert not (reports / "01_breaks.html").exists() and not (reports / "02_after.ipynb").exists()
    timings = json.loads((reports / "timings.json").read_text())
    assert timings["01_breaks"]["status"] == "failed"
    assert timings["02_after"]["status"] == "skipped"
    index = (reports / "index.html").read_text()
    assert "01_breaks.failed.html" in index and "failed" in index


@pytest.mark.parametrize("argv, message", [
    (["--profile", "no_such_profile"], "no_such_profile"),
    (["-p", "no_such_field", "3"], "no_such_field"),
    (["-p", "steps", "many"], "steps"),
    (["-p", "block", "99"], "block"),
    (["-p", "data_dir", "/x"], "--data-dir"),
    (["--only", "09"], "09"),
    (["--data-dir", "no_such_data_dir"], "no_such_data_dir does not exist"),
    (["-p", "checkpoint", "./no_such_ckpt"], "no_such_ckpt does not exist"),
    (["-p", "fewrel_file", "../no_such.json"], "no_such.json does not exist"),
    (["-p", "eval_every", "0"], "field eval_every = 0: allowed >= 1"),
])
def test_bad_options_fail_fast_before_running(tmp_path, out_root, capsys, monkeypatch, argv, message):
    monkeypatch.chdir(tmp_path)
    nbs = tmp_path / "nbs"
    nbs.mkdir()
    make_notebook(nbs, "01_never")
    rc = runner.main(["--notebooks-dir", str(nbs), *argv])
    err = capsys.readouterr().err
    assert rc == 2
    assert message in err
    assert not (out_root / "reports").exists() and not read_log(out_root)


def test_run_all_sh_rejects_an_unknown_profile(tmp_path):
    env = {**os.environ, "SSB_OUTPUT_DIR": str(tmp_path)}
    proc = subprocess.run([str(REPO / "run_all.sh"), "--profile", "no_such_profile"], env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and "no_such_profile" in proc.stderr
    assert not (tmp_path / "reports").exists()


def test_parse_value():
    assert runner.parse_value("12") == 12 and type(runner.parse_value("12")) is int
    assert runner.parse_value("-3") == -3
    assert runner.parse_value("1e-4") == 1e-4 and runner.parse_value("0.5") == 0.5
    assert runner.parse_value("True") is True and runner.parse_value("false") is False
    assert runner.parse_value("None") is None and runner.parse_value("null") is None
    assert runner.parse_value("val_wiki.json") == "val_wiki.json"
    assert runner.parse_value("1.2.3") == "1.2.3"
    assert runner.parse_value("[4, 6]") == [4, 6] and runner.parse_value("[6]") == [6]   # e.g. -p blocks_along [6]
    with pytest.raises(ValueError, match="looks like a list but is not valid JSON"):
        runner.parse_value("[4, 6")


def test_coerce_parameter_uses_the_field_type():
    assert runner.coerce_parameter("dropout", "0") == 0.0 and type(runner.coerce_parameter("dropout", "0")) is float
    assert runner.coerce_parameter("pooling", "mean") == "mean"
    assert runner.coerce_parameter("tokenizer", "1") == "1"
    assert runner.coerce_parameter("entity_markers", "yes") is True
    assert runner.coerce_parameter("checkpoint", "/tmp/bert") == "/tmp/bert"
    with pytest.raises(ValueError, match="steps"):
        runner.coerce_parameter("steps", "1.5")
    with pytest.raises(ValueError, match="entity_markers"):
        runner.coerce_parameter("entity_markers", "maybe")


def test_private_kernel_spec_when_python3_points_elsewhere(tmp_path, monkeypatch):
    """A user-level "python3" spec for another interpreter is not used: the runner writes its
    own spec for sys.executable and puts it first on JUPYTER_PATH (this process only)."""
    from jupyter_client.kernelspec import KernelSpecManager

    foreign = tmp_path / "foreign" / "kernels" / "python3"
    foreign.mkdir(parents=True)
    (foreign / "kernel.json").write_text(json.dumps(
        {"argv": ["/opt/other/bin/python", "-m", "ipykernel_launcher", "-f", "{connection_file}"],
         "display_name": "other", "language": "python"}))
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "foreign"))
    assert KernelSpecManager().get_kernel_spec("python3").argv[0] == "/opt/other/bin/python"

    name = runner.kernel_name_for_this_python(spec_root=tmp_path / "private")
    assert name == runner.PRIVATE_KERNEL_NAME
    spec = KernelSpecManager().get_kernel_spec(name)
    assert spec.argv[0] == sys.executable
    assert os.environ["JUPYTER_PATH"].split(os.pathsep)[0] == str(tmp_path / "private")


def test_python3_kernel_used_when_it_runs_this_interpreter(tmp_path, monkeypatch):
    assert runner._runs_this_python(["python", "-m", "ipykernel_launcher"])   # jupyter_client substitutes it
    assert runner._runs_this_python([sys.executable])
    assert not runner._runs_this_python(["/opt/other/bin/python"])
    own = tmp_path / "own" / "kernels" / "python3"
    own.mkdir(parents=True)
    (own / "kernel.json").write_text(json.dumps(
        {"argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
         "display_name": "this", "language": "python"}))
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "own"))
    assert runner.kernel_name_for_this_python(spec_root=tmp_path / "private") == "python3"
    assert not (tmp_path / "private").exists()
    assert os.environ["JUPYTER_PATH"] == str(tmp_path / "own")


def test_unreadable_notebook_fails_with_an_error_page(tmp_path, out_root, capsys):
    """Papermill cannot even read the input: no kernel starts, the HTML report is the error."""
    nbs = tmp_path / "nbs"
    nbs.mkdir()
    (nbs / "01_broken.ipynb").write_text("{ this is not json")
    make_notebook(nbs, "02_after")
    reports = out_root / "reports" / "smoke"
    reports.mkdir(parents=True)
    (reports / "01_broken.ipynb").write_text("stale copy from an earlier run")

    rc = runner.main(["--profile", "smoke", "--notebooks-dir", str(nbs)])
    assert rc == 1
    assert "FAILED: 01_broken (see reports/smoke/01_broken.failed.html) (its last good report is kept)" \
        in capsys.readouterr().out
    page = (reports / "01_broken.failed.html").read_text()
    assert "01_broken failed" in page and "stale copy" not in page
    assert (reports / "01_broken.ipynb").read_text() == "stale copy from an earlier run"   # left as it was
    assert not read_log(out_root) and not (reports / "02_after.ipynb").exists()


def test_checkpoint_refused_by_notebooks_that_do_not_declare_it(tmp_path, out_root, capsys):
    """01-03 analyse our own BERT-6: -p checkpoint would be ignored there, so it is refused."""
    nbs = tmp_path / "nbs"
    nbs.mkdir()
    make_notebook(nbs, "01_own", parameters='profile = "quick"\ndata_dir = None\nforce = False\n')
    make_notebook(nbs, "04_any")
    (tmp_path / "ckpt").mkdir()
    rc = runner.main(["--notebooks-dir", str(nbs), "-p", "checkpoint", str(tmp_path / "ckpt")])
    err = capsys.readouterr().err
    assert rc == 2 and "-p checkpoint is not accepted by 01_own" in err and "--only 04" in err
    assert not (out_root / "reports").exists() and not read_log(out_root)
    assert runner.declared_parameters(nbs / "04_any.ipynb") == {"profile", "data_dir", "force", "checkpoint"}


def test_every_real_notebook_declares_checkpoint():
    """01 loads a checkpoint (and trains nothing), 02/03 and 06 read tokens through it, 04-07 labels."""
    for number in ("01", "02", "03", "04", "05", "06", "07"):
        nb = next((REPO / "notebooks").glob(f"{number}_*.ipynb"))
        assert "checkpoint" in runner.declared_parameters(nb), nb.name


def test_unwritable_output_directory_is_one_line(tmp_path, monkeypatch, capsys):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a directory")
    monkeypatch.setenv("SSB_OUTPUT_DIR", str(blocker / "out"))
    rc = runner.main(["--profile", "smoke", "--only", "01"])
    err = capsys.readouterr().err
    assert rc == 2
    assert err.strip().count("\n") == 0 and "not writable" in err and str(blocker / "out") in err


def test_run_all_sh_resolves_relative_paths_against_the_callers_directory(tmp_path):
    """From another directory, --data-dir, -p checkpoint and -p fewrel_file mean paths there
    (run_all.sh used to cd into the repository first), and reach the notebook absolute."""
    caller = tmp_path / "caller"
    (caller / "data").mkdir(parents=True)
    (caller / "models" / "bert").mkdir(parents=True)
    (caller / "mine.json").write_text("{}")
    nbs = tmp_path / "nbs"
    nbs.mkdir()
    make_notebook(nbs, "04_record")
    root = tmp_path / "out"
    env = {k: v for k, v in os.environ.items() if k != "SSB_DATA_DIR"}
    env.update({"SSB_OUTPUT_DIR": "out_rel"})                   # relative too: against the caller's directory
    proc = subprocess.run([str(REPO / "run_all.sh"), "--profile", "smoke", "--notebooks-dir", str(nbs), "--no-html",
                           "--data-dir", "data", "-p", "checkpoint", "models/bert", "-p", "fewrel_file", "mine.json"],
                          cwd=caller, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    log = read_log(caller / "out_rel")
    assert not root.exists()
    params = log[0]["parameters"]
    assert params["data_dir"] == str(caller / "data")
    assert params["checkpoint"] == str(caller / "models" / "bert")
    assert params["fewrel_file"] == str(caller / "mine.json")


def test_a_notebooks_own_parameter_is_accepted_and_goes_only_to_the_notebooks_declaring_it(tmp_path):
    """-p n_permutations 300: known because a selected notebook declares it; other notebooks do
    not get it (session.start would refuse an unknown name); a misspelt one is still an error."""
    nbs = tmp_path / "nbs"
    nbs.mkdir()
    make_notebook(nbs, "01_own", parameters=PARAMETERS_CELL)
    make_notebook(nbs, "03_nodes", parameters=PARAMETERS_CELL + "n_permutations = 200\n")
    args = runner.build_parser().parse_args(["--profile", "smoke", "--notebooks-dir", str(nbs),
                                             "-p", "n_permutations", "300", "-p", "block", "2"])
    plan = runner.build_plan(args)
    assert plan.parameters["n_permutations"] == 300
    first, third = plan.notebooks
    assert "n_permutations" not in runner.parameters_for(first, plan.parameters)
    assert runner.parameters_for(third, plan.parameters)["n_permutations"] == 300
    assert runner.parameters_for(first, plan.parameters)["block"] == 2
    bad = runner.build_parser().parse_args(["--profile", "smoke", "--notebooks-dir", str(nbs), "-p", "n_permutatons", "3"])
    with pytest.raises(ValueError, match="did you mean n_permutations"):
        runner.build_plan(bad)


def test_a_kernel_that_dies_while_starting_is_started_again(tmp_path, monkeypatch, capsys):
    """Two runs starting kernels at the same moment can pick the same TCP port (jupyter_client's
    free-port race: 'Address already in use', then 'Kernel died before replying to kernel_info');
    nothing ran, so the kernel is started again.  An error after a cell ran is never retried."""
    target = tmp_path / "01_x.ipynb"
    calls = []

    def once(source, target_, parameters, kernel_name, cwd, *, ran: bool, fail_times: int):
        calls.append(1)
        if len(calls) <= fail_times:
            if ran:
                target_.write_text(json.dumps({"cells": [{"cell_type": "code", "execution_count": 1}]}))
            return RuntimeError("Kernel died before replying to kernel_info"), ran
        return None, True

    monkeypatch.setattr(runner.time, "sleep", lambda s: None)
    monkeypatch.setattr(runner, "_execute_once", lambda *a: once(*a, ran=False, fail_times=1))
    assert runner.execute_notebook(tmp_path / "src.ipynb", target, {}, "python3", tmp_path) == (None, True)
    assert len(calls) == 2 and "the kernel did not start" in capsys.readouterr().out

    calls.clear()                                     # never starting: the error after KERNEL_STARTS tries
    monkeypatch.setattr(runner, "_execute_once", lambda *a: once(*a, ran=False, fail_times=99))
    error, _ = runner.execute_notebook(tmp_path / "src.ipynb", target, {}, "python3", tmp_path)
    assert "kernel_info" in str(error) and len(calls) == runner.KERNEL_STARTS

    calls.clear()                                     # a cell ran: reported, not retried
    monkeypatch.setattr(runner, "_execute_once", lambda *a: once(*a, ran=True, fail_times=1))
    error, written = runner.execute_notebook(tmp_path / "src.ipynb", target, {}, "python3", tmp_path)
    assert error is not None and written and len(calls) == 1


def test_heartbeat_names_the_cell_and_the_section_it_is_in():
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("# Title\n\n## Loading"), nbformat.v4.new_code_cell("a = 1"),
                nbformat.v4.new_markdown_cell("text\n### Permutation null"), nbformat.v4.new_code_cell("b = 2"),
                nbformat.v4.new_code_cell("c = 3")]
    beat = runner.Heartbeat("03_x", interval=0)
    assert beat.line().endswith("03_x: 0 s, starting the kernel")
    beat.cell_started(nb, 1)
    assert beat.line().endswith('cell 1 of 3 ("Loading")')
    beat.cell_started(nb, 4)
    assert beat.line().endswith('cell 3 of 3 ("Permutation null")')
    beat.start -= 3725
    assert "03_x: 1 h 02 min, cell 3 of 3" in beat.line()


def test_heartbeat_prints_while_a_notebook_runs(tmp_path, out_root, capsys):
    """A cell that takes 2.5 s with a 0.4 s heartbeat: lines naming the notebook, the elapsed time
    and the cell being run (the slow one, under its heading), then the run's outcome on its own line."""
    nbs = tmp_path / "nbs"
    nbs.mkdir()
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    params = nbformat.v4.new_code_cell(PARAMETERS_CELL)
    params.metadata["tags"] = ["parameters"]
    nb.cells = [nbformat.v4.new_markdown_cell("# Slow"), params, nbformat.v4.new_markdown_cell("## The slow part"),
                nbformat.v4.new_code_cell("import time\ntime.sleep(2.5)")]
    nbformat.write(nb, nbs / "01_slow.ipynb")
    os.environ[runner.HEARTBEAT_ENV] = "0.4"
    try:
        assert runner.main(["--notebooks-dir", str(nbs), "--no-html"]) == 0
    finally:
        del os.environ[runner.HEARTBEAT_ENV]
    out = capsys.readouterr().out
    beats = [line for line in out.splitlines() if line.startswith("    ... 01_slow: ")]
    assert len(beats) >= 3, out
    assert any(b.endswith('("The slow part")') and "cell 3 of 3" in b for b in beats), beats
    assert "\n[1/1] 01_slow ok (" in out, out
