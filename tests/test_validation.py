"""Up-front validation (issue 12): every profile field is range-checked in one place, and the
runner refuses nonsense values with exit status 2, naming field, value and allowed range,
before any notebook starts."""
from __future__ import annotations

import os
import subprocess
import time
from dataclasses import fields
from pathlib import Path

import pytest

from ssb import runner, session
from ssb.profiles import PROFILES, Profile, get_profile

REPO = Path(__file__).resolve().parents[1]

# field -> (a value outside its allowed range, words the error must contain)
BAD_VALUES = {
    "seed": (-1, ">= 0"), "corpus": ("books", "wikitext103"), "n_articles": (-5, ">= 0"),
    "corpus_max_words": (-1, ">= 0"), "tokenizer": ("gpt2", "wordpiece"), "vocab_size": (3, ">= 100"),
    "sequences": ("all", "chunks"), "eval_fraction": (0.0, "> 0"), "n_blocks": (0, ">= 1"),
    "n_heads": (0, ">= 1"), "d_head": (0, ">= 1"), "max_len": (4, ">= 8"), "steps": (0, ">= 1"),
    "batch_size": (0, ">= 1"), "lr": (-1.0, "> 0"), "warmup_steps": (-1, ">= 0"),
    "weight_decay": (-0.1, ">= 0"), "dropout": (1.0, "< 1"), "mask_prob": (0.0, "> 0"),
    "eval_every": (0, ">= 1"), "eval_batches": (0, ">= 1"), "checkpoint_every": (0, ">= 1"),
    "mixed_precision": ("fp16", "bf16"), "ssb_steps": (0, ">= 1"), "ssb_eps": (0.0, "> 0"),
    "ssb_stochastic": ("maybe", "boolean"), "block": (7, "<= 6"), "pooling": ("max", "cls"),
    "readout_layers": (3, "1, 2"), "readout_hidden": (0, ">= 1"), "readout_epochs": (0, ">= 1"),
    "token_readout_epochs": (0, ">= 1"), "readout_lr": (0.0, "> 0"), "readout_batch": (0, ">= 1"),
    "readout_patience": (0, ">= 1"), "token_examples": (0, ">= 1"), "min_hits": (0, ">= 1"),
    "min_count": (0, ">= 1"), "fewrel_file": ("  ", "FewRel"), "n_train_per_relation": (0, ">= 1"),
    "n_test_per_relation": (0, ">= 1"), "entity_markers": ("perhaps", "boolean"),
    "finetune_steps": (0, ">= 1"), "finetune_lr": (2.0, "<= 1"), "finetune_batch": (0, ">= 1"),
    "crossover_sets": (0, ">= 1"), "crossover_points": (1, ">= 2"), "hull_max_sets": (0, ">= 1"),
    "hull_max_n": (0, ">= 1"), "token_mask_draws": (0, ">= 1"), "token_classes": (-1, ">= 0"),
    "device": ("tpu", "auto"), "readout_lr_decay": (0.0, "> 0"), "readout_standardize": ("sometimes", "boolean"), "snapshots": ("often", "boolean"), "ssb_dropout": (1.0, "< 1"),
}


def test_every_profile_is_valid():
    for name in PROFILES:
        assert get_profile(name).name == name


@pytest.mark.parametrize("field_name", sorted(BAD_VALUES))
def test_bad_value_of_every_field_is_refused_naming_field_value_and_range(field_name):
    value, words = BAD_VALUES[field_name]
    with pytest.raises(ValueError) as err:
        get_profile("smoke", **{field_name: value})
    message = str(err.value)
    assert field_name in message and words in message, message
    if not isinstance(value, str):
        assert repr(value) in message or str(value) in message, message


def test_every_field_refuses_a_value_of_the_wrong_type():
    """Generic checks that also cover fields added later: type and finiteness."""
    for f in fields(Profile):
        if f.name == "name":
            continue
        wrong = 1.5 if f.type in ("int", "bool") else ["list"] if f.type == "str" else "text"
        with pytest.raises(ValueError, match=f.name):
            get_profile("smoke", **{f.name: wrong})


@pytest.mark.parametrize("value", ["1e999", "nan", "-inf"])
def test_non_finite_numbers_are_refused(value):
    with pytest.raises(ValueError, match="lr.*finite"):
        get_profile("smoke", lr=value)


def test_strict_coercion_of_command_line_strings():
    p = get_profile("smoke", steps="7", lr="5e-3", entity_markers="off", ssb_stochastic="1")
    assert (p.steps, p.lr, p.entity_markers, p.ssb_stochastic) == (7, 5e-3, False, True)
    assert type(p.lr) is float and type(p.steps) is int
    with pytest.raises(ValueError, match="steps"):
        get_profile("smoke", steps=True)
    with pytest.raises(ValueError, match="steps"):
        get_profile("smoke", steps=2.5)


def test_one_strict_coercion_for_every_entry_point():
    """profiles.coerce_field is the one coercion: get_profile (notebooks, pretrain_cli) and the
    runner's -p give the same values and the same errors naming field, value and expected type."""
    from ssb.profiles import coerce_field

    assert coerce_field("steps", " 7 ") == 7 and coerce_field("steps", 7.0) == 7 and type(coerce_field("steps", 7.0)) is int
    assert coerce_field("lr", 1) == 1.0 and type(coerce_field("lr", 1)) is float
    assert coerce_field("snapshots", "On") is True and coerce_field("snapshots", 0) is False
    assert coerce_field("steps", "null") is None and coerce_field("not_a_field", "x") == "x"
    for name, value, expected in [("steps", 7.5, "an integer"), ("steps", "1_000", "an integer"),
                                  ("lr", "inf", "a finite number"), ("snapshots", "maybe", "a boolean"),
                                  ("snapshots", 2, "a boolean"), ("lr", True, "a finite number"),
                                  ("pooling", 3, "a string")]:
        with pytest.raises(ValueError) as err:
            coerce_field(name, value)
        assert name in str(err.value) and repr(value) in str(err.value) and expected in str(err.value)
        if isinstance(value, str):
            with pytest.raises(ValueError) as from_runner:
                runner.coerce_parameter(name, value)
            assert str(from_runner.value) == str(err.value)
    assert get_profile("smoke", steps="none").steps == PROFILES["smoke"].steps


def test_unused_field_is_gone():
    assert "token_test_fraction" not in {f.name for f in fields(Profile)}


# ----------------------------------------------------------------------------- the runner


ISSUE_CASES = [("eval_every", "0"), ("checkpoint_every", "0"), ("eval_batches", "0"), ("seed", "-1"),
               ("vocab_size", "3"), ("finetune_batch", "0"), ("lr", "-1"), ("lr", "1e999"),
               ("token_examples", "0"), ("readout_epochs", "0"), ("readout_batch", "0"), ("crossover_points", "0"),
               ("crossover_sets", "0"), ("hull_max_n", "0")]


@pytest.mark.parametrize("name, value", ISSUE_CASES)
def test_runner_refuses_bad_values_before_any_notebook(tmp_path, monkeypatch, capsys, name, value):
    monkeypatch.setenv("SSB_OUTPUT_DIR", str(tmp_path / "out"))
    rc = runner.main(["--profile", "smoke", "-p", name, value])
    err = capsys.readouterr().err
    assert rc == 2
    assert f"field {name} = " in err and ("allowed" in err or "finite" in err), err
    assert len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "out" / "reports").exists()


def test_run_all_sh_refuses_eval_every_0_within_seconds(tmp_path):
    env = {**os.environ, "SSB_OUTPUT_DIR": str(tmp_path / "out")}
    start = time.perf_counter()
    proc = subprocess.run([str(REPO / "run_all.sh"), "--profile", "smoke", "-p", "eval_every", "0"],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    seconds = time.perf_counter() - start
    assert proc.returncode == 2, proc.stderr
    assert "field eval_every = 0: allowed >= 1" in proc.stderr
    assert "[1/" not in proc.stdout and not (tmp_path / "out" / "reports").exists()
    assert seconds < 60


# ----------------------------------------------------------------------------- session


def test_session_refuses_a_parameter_the_notebook_does_not_accept(tmp_path, monkeypatch):
    monkeypatch.setenv("SSB_OUTPUT_DIR", str(tmp_path))
    with pytest.raises(ValueError, match="does not take checkpoint"):
        session.start({"profile": "smoke", "checkpoint": "/some/bert"}, quiet=True, accepts=())
    s = session.start({"profile": "smoke", "checkpoint": None}, quiet=True, accepts=())
    assert s.checkpoint is None


def test_session_makes_paths_absolute_and_records_them(tmp_path, monkeypatch):
    import json
    monkeypatch.setenv("SSB_OUTPUT_DIR", str(tmp_path / "out"))
    monkeypatch.chdir(tmp_path)
    (tmp_path / "d").mkdir()
    (tmp_path / "ck").mkdir()
    s = session.start({"profile": "smoke", "data_dir": "d", "checkpoint": "ck", "fewrel_file": "./f.json"},
                      quiet=True, accepts=("checkpoint",))
    assert s.data_dir == str(tmp_path / "d") and s.checkpoint == str(tmp_path / "ck")
    assert s.profile.fewrel_file == str(tmp_path / "f.json")
    [path] = (tmp_path / "out" / "figures").glob("smoke-fewrel_file*/summary.json")   # overrides: own folder
    summary = json.loads(path.read_text())
    summary["inputs"].pop("written_by")                  # the run stamp of the section
    assert summary["inputs"] == {"data_dir": str(tmp_path / "d"), "checkpoint": str(tmp_path / "ck"),
                                 "fewrel_file": str(tmp_path / "f.json")}
    session.start({"profile": "smoke", "data_dir": "d"}, quiet=True)
    summary = json.loads((tmp_path / "out" / "figures" / "smoke" / "summary.json").read_text())
    assert summary["inputs"]["fewrel_file"] == str(tmp_path / "d" / "fewrel" / "val_wiki.json")


def test_a_renamed_field_is_refused_naming_its_new_name():
    """n_layers became n_blocks (profiles.RENAMED_FIELDS): the old name is an error that names the new one."""
    with pytest.raises(ValueError, match=r"'n_layers' \(renamed: did you mean 'n_blocks'\?\)"):
        get_profile("smoke", n_layers=2)
    assert get_profile("smoke", n_blocks=2, block=2).n_blocks == 2
