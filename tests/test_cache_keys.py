"""Cache keys hash the full content of what a cached artifact depends on (lib/ssb/cache_keys.py)."""
from __future__ import annotations

import os

import numpy as np
import torch

from ssb import cache_keys
from ssb.readouts import readout_config
from ssb.probes import Probe
from ssb.profiles import get_profile


def test_array_fingerprint_reads_every_element_dtype_and_shape():
    a = np.zeros((600, 8), dtype=np.float32)
    base = cache_keys.array_fingerprint(a)
    late = a.copy()
    late[599, 7] = 1e-7                                     # far past any prefix
    assert cache_keys.array_fingerprint(late) != base
    assert cache_keys.array_fingerprint(a.astype(np.float64)) != base
    assert cache_keys.array_fingerprint(a.reshape(300, 16)) != base
    assert cache_keys.array_fingerprint(a.copy()) == base


def test_text_fingerprint_and_cache_key():
    assert cache_keys.text_fingerprint(["ab", "c"]) != cache_keys.text_fingerprint(["a", "bc"])
    assert cache_keys.text_fingerprint(["a\x00b"]) != cache_keys.text_fingerprint(["a", "b"])
    assert cache_keys.cache_key({"a": 1, "b": [1, 2]}) == cache_keys.cache_key({"b": [1, 2], "a": 1})
    assert cache_keys.cache_key({"a": 1}) != cache_keys.cache_key({"a": 2})
    assert cache_keys.canonical({"p": cache_keys}) == {"p": str(cache_keys)}


def test_weights_and_files_fingerprints_follow_content_not_dates(tmp_path):
    torch.manual_seed(0)
    model = torch.nn.Linear(4, 3)
    fp = cache_keys.weights_fingerprint(model)
    with torch.no_grad():
        model.weight[2, 3] += 1.0
    assert cache_keys.weights_fingerprint(model) != fp
    f = tmp_path / "model.safetensors"
    f.write_bytes(b"\x01" * 5000)
    before = cache_keys.files_fingerprint([f])
    os.utime(f, (1, 1))                                     # another date, the same bytes
    assert cache_keys.files_fingerprint([f]) == before
    f.write_bytes(b"\x01" * 4999 + b"\x02")
    assert cache_keys.files_fingerprint([f]) != before


def test_head_config_keys_every_training_vector():
    """A head's cache key changes when any training node vector changes (it once hashed z[:256] only)."""
    rng = np.random.default_rng(0)
    z = rng.normal(size=(400, 8)).astype(np.float32)
    y = rng.integers(0, 3, 400)

    def probe(z_train):
        return Probe({6: z_train}, y, {6: z_train[:10]}, y[:10], 3, ["a", "b", "c"], 2, 4, checkpoint_fp="w")
    profile = get_profile("smoke")
    late = z.copy()
    late[399, 0] += 1.0
    key = cache_keys.cache_key(readout_config(profile, probe(z), 6, tied=False))
    assert cache_keys.cache_key(readout_config(profile, probe(late), 6, tied=False)) != key
    assert cache_keys.cache_key(readout_config(profile, probe(z.copy()), 6, tied=False)) == key


def test_head_config_keys_on_the_node_vector_cache_key_without_reading_the_vectors(monkeypatch):
    """With the key of its node-vector cache, a probe's head key hashes only the labels: it
    changes with that key, the labels and the head's settings, and never reads z_train."""
    rng = np.random.default_rng(1)
    z = rng.normal(size=(400, 8)).astype(np.float32)
    y = rng.integers(0, 3, 400)

    def probe(train_key, labels=y):
        return Probe({6: z}, labels, {6: z[:10]}, y[:10], 3, ["a", "b", "c"], 2, 4, checkpoint_fp="w",
                     train_key=train_key)
    profile = get_profile("smoke")
    hashed = []
    fingerprint = cache_keys.array_fingerprint
    monkeypatch.setattr("ssb.readouts.array_fingerprint", lambda *a: hashed.extend(x.size for x in a) or fingerprint(*a))
    key = cache_keys.cache_key(readout_config(profile, probe("k1"), 6, tied=False))
    assert hashed == [400]                                            # the labels only
    assert cache_keys.cache_key(readout_config(profile, probe("k1"), 6, tied=False)) == key
    assert cache_keys.cache_key(readout_config(profile, probe("k2"), 6, tied=False)) != key
    assert cache_keys.cache_key(readout_config(profile, probe("k1", np.roll(y, 1)), 6, tied=False)) != key
    assert cache_keys.cache_key(readout_config(profile, probe("k1"), 6, tied=True)) != key
    assert cache_keys.cache_key(readout_config(profile.replace(readout_lr=0.5), probe("k1"), 6, tied=False)) != key
    assert cache_keys.cache_key(readout_config(profile, probe(""), 6, tied=False)) != key   # no key: the content
