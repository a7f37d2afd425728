"""Notebook parameters: an unknown name (a misspelt field injected by papermill) is a clear error."""
from __future__ import annotations

import types

import pytest

from ssb import session


def test_misspelt_parameter_is_an_error_naming_the_close_field():
    with pytest.raises(session.UnknownParameter) as err:
        session.start({"profile": "smoke", "blok": 5}, quiet=True, accepts=(), record=False)
    text = str(err.value)
    assert "'blok'" in text and "did you mean 'block'" in text and "lib/ssb/profiles.py" in text


def test_known_fields_and_accepted_parameters_pass():
    namespace = {"profile": "smoke", "data_dir": None, "force": False, "block": 1, "seed": None, "n_seeds": 2,
                 "np": types.ModuleType("numpy"), "display": print, "In": [""], "Out": {}, "_": 3}
    s = session.start(namespace, quiet=True, accepts=("n_seeds",), record=False)
    assert s.profile.block == 1


def test_notebook_parameter_not_accepted_here_is_unknown():
    with pytest.raises(session.UnknownParameter, match="n_permutations"):
        session.start({"profile": "smoke", "n_permutations": 200}, quiet=True, accepts=("n_seeds",), record=False)


def test_unknown_parameters_lists_only_plain_values():
    namespace = {"blok": 5, "typo_list": [1], "module": types, "func": len, "_hidden": 1, "block": 2}
    assert session.unknown_parameters(namespace, ()) == ["blok", "typo_list"]


def test_rerun_of_the_setup_cell_does_not_trip_on_later_variables():
    first = session.start({"profile": "smoke"}, quiet=True, accepts=(), record=False)
    later = {"profile": "smoke", "session": first, "blocks": [1, 2], "k": 3}
    assert session.start(later, quiet=True, accepts=(), record=False).profile.name == "smoke"


def test_runner_refuses_a_misspelt_parameter_with_a_hint():
    from ssb import runner

    with pytest.raises(ValueError) as err:
        runner.coerce_parameter("blok", "5")
    assert "unknown parameter -p blok (did you mean block or n_blocks?)" in str(err.value)
    assert "lib/ssb/profiles.py" in str(err.value)
    assert runner.coerce_parameter("block", "5") == 5


def test_a_profile_with_a_staged_checkpoint_reads_it_or_names_the_staging_command(tmp_path):
    """profile "pretrained" reads <data_dir>/checkpoints/all-MiniLM-L6-v2 unless -p checkpoint is
    given; not staged: a FileNotFoundError naming the command, nothing downloaded."""
    with pytest.raises(FileNotFoundError, match="stage-checkpoint all-MiniLM-L6-v2"):
        session.start({"profile": "pretrained", "data_dir": str(tmp_path)}, quiet=True, accepts=(), record=False)
    staged = tmp_path / "checkpoints" / "all-MiniLM-L6-v2"
    staged.mkdir(parents=True)
    (staged / "config.json").write_text("{}")
    s = session.start({"profile": "pretrained", "data_dir": str(tmp_path)}, quiet=True, accepts=(), record=False)
    assert s.checkpoint == str(staged) and s.profile.block == 3
    other = tmp_path / "mine"
    s = session.start({"profile": "pretrained", "data_dir": str(tmp_path), "checkpoint": str(other)}, quiet=True,
                      accepts=("checkpoint",), record=False)
    assert s.checkpoint == str(other)                          # -p checkpoint wins
    assert session.start({"profile": "smoke", "data_dir": str(tmp_path)}, quiet=True, accepts=(),
                         record=False).checkpoint is None


@pytest.mark.parametrize("name", ["../x", "a/b", " x"])
def test_a_staged_checkpoint_is_a_bare_name(name):
    from ssb.profiles import get_profile
    with pytest.raises(ValueError, match="staged_checkpoint"):
        get_profile("quick", staged_checkpoint=name)


def test_a_checkpoint_session_does_not_print_the_profiles_own_architecture(tmp_path, capsys):
    """With a checkpoint the profile's BERT-6 shape (hidden, heads, vocabulary) is not what the session
    reads: the header says so instead of printing a shape the checkpoint does not have."""
    s = session.start({"profile": "smoke", "checkpoint": str(tmp_path)}, accepts=("checkpoint",), record=False)
    out = capsys.readouterr().out
    assert s.checkpoint and "a checkpoint's own architecture" in out and "heads x d_h" not in out
    session.start({"profile": "smoke"}, accepts=(), record=False)
    assert "heads x d_h" in capsys.readouterr().out
