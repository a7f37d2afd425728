"""One cache convention (``ssb.cache_entry``) and the device resolved once per session.

``check_entry`` says of a cache entry whether it is of this configuration, complete and
readable, and if not, why: which fields differ, what is missing, what error reading it gave.
The five caches (corpus, pre-training runs, node vectors, heads, fine-tuning) all ask it; their
own healing tests are in test_checkpoints.py, test_heads.py and test_finiteness.py."""
from __future__ import annotations

import json
import logging

import numpy as np
import pytest
import torch

from ssb import atomic, cache_entry, probes, profiles, session
from ssb.cache_entry import check_entry


def _entry(tmp_path, cfg: dict, files: dict[str, str]):
    path = tmp_path / "entry"
    with atomic.atomic_dir(path) as tmp:
        atomic.write_json(tmp / "config.json", cfg)
        for name, text in files.items():
            (tmp / name).write_text(text)
        atomic.write_checksums(tmp, ["config.json", *files])
    return path


def test_a_hit_returns_what_load_read(tmp_path):
    path = _entry(tmp_path, {"steps": 3, "lr": 0.1}, {"data.txt": "42"})
    check = check_entry(path, {"lr": 0.1, "steps": 3}, config_file="config.json", required=("data.txt",),
                        load=lambda p: int((p / "data.txt").read_text()))
    assert check.hit and check.value == 42 and check.reason == ""


def test_every_miss_says_why(tmp_path):
    assert check_entry(tmp_path / "nothing", {}).reason == "there is no such entry"
    path = _entry(tmp_path, {"steps": 3, "lr": 0.1, "seed": 0}, {"data.txt": "42"})
    other = check_entry(path, {"steps": 4, "lr": 0.1, "seed": 0, "eps": 0.0}, config_file="config.json")
    assert other.status == cache_entry.OTHER_CONFIGURATION
    assert other.reason == "it is of another configuration (differs in: eps, steps)"
    # subset: the record may hold more (a run's train_seconds); only the asked keys count
    assert check_entry(path, {"steps": 3}, config_file="config.json", subset=True).hit
    assert check_entry(path, {"steps": 3}, config_file="config.json").detail == "lr, seed"
    incomplete = check_entry(path, {"steps": 3, "lr": 0.1, "seed": 0}, config_file="config.json",
                             required=("data.txt", "weights.bin"))
    assert incomplete.reason == "it is incomplete (no weights.bin)"
    (path / "data.txt").write_text("43")
    changed = check_entry(path, {"steps": 3, "lr": 0.1, "seed": 0}, config_file="config.json")
    assert changed.status == cache_entry.UNREADABLE
    assert changed.reason.startswith("it cannot be read (CacheContentChanged: the content of data.txt differs")
    (path / "config.json").write_text('{"steps": 3,')
    broken = check_entry(path, {"steps": 3}, config_file="config.json")
    assert broken.status == cache_entry.UNREADABLE and broken.detail.startswith("config.json: JSONDecodeError")
    failing = check_entry(_entry(tmp_path, {}, {}), {}, config_file="config.json",
                          load=lambda p: json.loads("not json"))
    assert failing.status == cache_entry.UNREADABLE and failing.detail.startswith("JSONDecodeError: ")


def test_a_single_file_entry_compares_the_configuration_it_records(tmp_path):
    path = tmp_path / "full-x.json"
    atomic.write_json_verified(path, {"accuracy": 0.5, "config": {"steps": 2}})
    read = dict(stored_config=lambda r: r["config"], checksums=False, load=atomic.read_json_verified)
    assert check_entry(path, {"steps": 2}, **read).value["accuracy"] == 0.5
    assert check_entry(path, {"steps": 3}, **read).reason == "it is of another configuration (differs in: steps)"


def test_discard_deletes_what_cannot_be_used_and_logs_another_configuration(tmp_path, caplog):
    path = _entry(tmp_path, {"steps": 3}, {})
    with caplog.at_level(logging.INFO, logger="ssb.cache"):
        cache_entry.discard(check_entry(path, {"steps": 4}, config_file="config.json"), "test cache", "rebuilding")
    assert path.exists() and "test cache" in caplog.text and "differs in: steps" in caplog.text
    with pytest.warns(UserWarning, match=r"test cache .*entry is incomplete \(no a.bin\); deleted, rebuilding"):
        cache_entry.discard(check_entry(path, {"steps": 3}, config_file="config.json", required=("a.bin",)),
                            "test cache", "rebuilding")
    assert not path.exists()


def test_a_corpus_cache_of_another_configuration_names_the_fields(tmp_path, monkeypatch, data_dir, caplog):
    from ssb import corpus

    monkeypatch.setenv("SSB_OUTPUT_DIR", str(tmp_path))
    profile = profiles.get_profile("smoke", corpus_max_words=3000, vocab_size=300, max_len=16)
    first = corpus.prepare(profile, data_dir, progress=False)
    with caplog.at_level(logging.INFO, logger="ssb.cache"):
        again = corpus.prepare(profile.replace(max_len=12), data_dir, progress=False)
    assert again.train_sequences.shape[1] == 12 != first.train_sequences.shape[1]
    assert "differs in: max_len" in caplog.text


def test_an_incomplete_finished_run_is_trained_again(tmp_path, data):
    """final/ without its train_log.json (deleted by hand) is named as incomplete and trained
    again to the same weights, where it used to stop with a FileNotFoundError."""
    from tiny_pretraining import run, state

    first = run(data, tmp_path / "main", steps=3)
    (tmp_path / "main" / "final" / "train_log.json").unlink()
    with pytest.warns(UserWarning, match=r"final is incomplete \(no train_log\.json\); that run is trained again"):
        again = run(data, tmp_path / "main", steps=3)
    assert (tmp_path / "main" / "final" / "train_log.json").exists()
    for name, t in state(first.model).items():
        assert torch.equal(t, state(again.model)[name]), name


def test_the_session_resolves_the_device_once(monkeypatch):
    calls = []
    real = profiles.resolve_device

    def counting(*args, **kwargs):
        calls.append(args)
        return real(*args, **kwargs)

    monkeypatch.setattr(profiles, "resolve_device", counting)
    monkeypatch.setattr(profiles, "_RESOLVED_DEVICES", {})
    s = session.start({"profile": "smoke"}, quiet=True, accepts=(), record=False)
    assert isinstance(s.device, torch.device) and len(calls) == 1
    kwargs, _ = probes.extraction_options(s.profile)
    assert kwargs["device"] is s.device and profiles.profile_device(s.profile) is s.device
    assert len(calls) == 1                                   # every later stage reuses it
    # a direct caller's device= still wins
    assert probes.extraction_options(s.profile, device="cpu")[0]["device"] == torch.device("cpu")


def test_a_node_vector_entry_written_before_is_read_as_it_is(tmp_path):
    """The layout is unchanged: an entry with key_parts.json, block-<b>.npy and checksums.json
    (as the writer of every earlier version left it) is a hit, not recomputed."""
    from ssb.cache_keys import cache_key, canonical
    from ssb.node_vectors import cached_node_vectors

    key = {"weights": "w", "inputs": "i", "blocks": [2]}
    path = tmp_path / f"nodes-{cache_key(canonical(key))}"
    path.mkdir()
    np.save(path / "block-2.npy", np.ones((3, 4), dtype=np.float32))
    (path / "key_parts.json").write_text(json.dumps(canonical(key), sort_keys=True))
    atomic.write_checksums(path, ["block-2.npy"])
    z = cached_node_vectors(tmp_path, key, lambda allocate: pytest.fail("recomputed"))
    assert np.array_equal(z[2], np.ones((3, 4), dtype=np.float32))
