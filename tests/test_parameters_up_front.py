"""Every parameter is validated before a kernel starts; bad values exit 2 naming the parameter
(issue 23, item 6): the notebooks' own parameters, the device, path parameters, and the
``python -m ssb.bench`` commands' arguments."""
from __future__ import annotations

import json

import pytest

from ssb import notebooks_meta, profiles, runner
from test_runner import REPO, make_notebook, out_root, read_log  # noqa: F401  (fixture)

OWN = 'profile = "quick"\ndata_dir = None\nforce = False\ncheckpoint = None\nfewrel_file = None\n' \
      'n_seeds = 3\nn_permutations = 200\nblocks_along = None\n'


@pytest.mark.parametrize("argv, message", [
    (["-p", "n_seeds", "0"], "-p n_seeds 0: readouts trained with seeds"),
    (["-p", "n_seeds", "2.5"], "-p n_seeds 2.5: "),
    (["-p", "n_permutations", "abc"], "-p n_permutations 'abc': label permutations of the null; allowed: an integer >= 20"),
    (["-p", "n_permutations", "0"], "-p n_permutations 0: "),
    (["-p", "n_permutations", "5"], "allowed: an integer >= 20"),
    (["-p", "blocks_along", "[9]"], "-p blocks_along [9]: the blocks of \"SSB along the blocks\""),
    (["-p", "blocks_along", "[2, 2]"], "from 1 to the profile's block (6)"),
    (["-p", "blocks_along", "[]"], "-p blocks_along []"),
])
def test_a_notebooks_own_parameter_is_checked_before_any_kernel(tmp_path, out_root, capsys, argv, message):
    nbs = tmp_path / "nbs"
    nbs.mkdir()
    make_notebook(nbs, "03_own", parameters=OWN)
    rc = runner.main(["--notebooks-dir", str(nbs), *argv])
    assert rc == 2 and message in capsys.readouterr().err
    assert not (out_root / "reports").exists() and not read_log(out_root)


def test_good_values_of_the_own_parameters_pass():
    quick = profiles.get_profile("quick")
    for name, value in [("n_seeds", 1), ("n_permutations", 200), ("blocks_along", None), ("blocks_along", [2, 6])]:
        assert notebooks_meta.check_notebook_parameter(name, value, quick) == value


def test_every_own_parameter_of_the_real_notebooks_is_declared_and_its_default_passes():
    import ast

    quick = profiles.get_profile("quick")
    for nb in sorted((REPO / "notebooks").glob("[0-9][0-9]_*.ipynb")):
        own = runner.declared_parameters(nb) - runner.EVERY_NOTEBOOK_TAKES
        assert own <= set(notebooks_meta.NOTEBOOK_PARAMETERS), (nb.name, own)
        cells = json.loads(nb.read_text())["cells"]
        source = "".join(next(c for c in cells if "parameters" in c["metadata"].get("tags", []))["source"])
        defaults = {node.targets[0].id: ast.literal_eval(node.value) for node in ast.parse(source).body
                    if isinstance(node, ast.Assign) and node.targets[0].id in own}
        for name, value in defaults.items():
            notebooks_meta.check_notebook_parameter(name, value, quick)


def test_cuda_on_a_machine_without_a_gpu_is_refused_up_front(tmp_path, out_root, capsys, monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    nbs = tmp_path / "nbs"
    nbs.mkdir()
    make_notebook(nbs, "01_any")
    rc = runner.main(["--notebooks-dir", str(nbs), "-p", "device", "cuda"])
    assert rc == 2 and "-p device cuda: device='cuda' but torch sees no CUDA GPU" in capsys.readouterr().err
    assert not read_log(out_root)


def test_path_parameters_of_the_wrong_kind_are_refused_up_front(tmp_path, out_root, capsys):
    nbs = tmp_path / "nbs"
    nbs.mkdir()
    make_notebook(nbs, "04_any", parameters=OWN)
    (tmp_path / "bert").mkdir()
    (tmp_path / "bert" / "config.json").write_text("{}")
    rc = runner.main(["--notebooks-dir", str(nbs), "-p", "checkpoint", str(tmp_path / "bert" / "config.json")])
    assert rc == 2 and f"is a file; a checkpoint is the directory holding config.json and the weights: " \
        f"-p checkpoint {tmp_path / 'bert'}" in capsys.readouterr().err
    rc = runner.main(["--notebooks-dir", str(nbs), "-p", "fewrel_file", str(tmp_path / "bert")])
    assert rc == 2 and "is a directory; give the FewRel JSON file itself" in capsys.readouterr().err
    assert not read_log(out_root)
