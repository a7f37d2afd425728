"""Cache keys: what a cached artifact depends on, hashed by content.

Every on-disk cache of the pipeline (node vectors, probe readouts, the full fine-tuning
reference, the corpus) is keyed by ``cache_key(parts)``, a hash of a JSON-able dict of
everything the artifact depends on.  Data enters ``parts`` through the fingerprints below,
each a sha256 over the full content -- never a prefix, a file date or a path alone:

    key = cache_key({"weights": weights_fingerprint(model), "inputs": array_fingerprint(ids, mask),
                     "blocks": [1, 2, 3], "select": "cls"})

    array_fingerprint(*arrays)     dtype, shape and every byte of each array
    weights_fingerprint(model)     name, shape and bytes of every parameter and buffer
    text_fingerprint(texts)        every text, in order
    files_fingerprint(paths)       name and bytes of every file (weights on disk)
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import torch

DIGEST_CHARS = 20          # hex characters kept of every sha256 digest (80 bits)
_FILE_CHUNK = 1 << 20


def _digest(h) -> str:
    return h.hexdigest()[:DIGEST_CHARS]


def array_fingerprint(*arrays) -> str:
    """sha256 over the dtype, shape and every byte of each array, in order."""
    h = hashlib.sha256()
    for a in arrays:
        a = np.ascontiguousarray(np.asarray(a))
        h.update(str((a.dtype.str, a.shape)).encode())
        h.update(a.tobytes())
    return _digest(h)


def weights_fingerprint(model: torch.nn.Module) -> str:
    """sha256 over every parameter and buffer of ``model`` (names, shapes, bytes)."""
    h = hashlib.sha256()
    for name, t in sorted(model.state_dict().items()):
        h.update(name.encode())
        h.update(str(tuple(t.shape)).encode())
        h.update(t.detach().cpu().contiguous().view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return _digest(h)


def text_fingerprint(texts) -> str:
    """sha256 over every text of the sequence, in order (each length-prefixed, so no
    separator inside a text can make two different lists hash alike)."""
    h = hashlib.sha256()
    for t in texts:
        b = str(t).encode()
        h.update(len(b).to_bytes(8, "little"))
        h.update(b)
    return _digest(h)


def vocabulary_fingerprint(tokenizer) -> str:
    """sha256 over a tokenizer's whole vocabulary (every (token, id) pair, in id order)."""
    return text_fingerprint([json.dumps(sorted(tokenizer.get_vocab().items(), key=lambda kv: kv[1]))])


def files_fingerprint(paths) -> str:
    """sha256 over the name and every byte of each file, in the given order."""
    h = hashlib.sha256()
    for p in paths:
        p = Path(p)
        h.update(p.name.encode() + b"\x00")
        with open(p, "rb") as f:
            for chunk in iter(lambda: f.read(_FILE_CHUNK), b""):
                h.update(chunk)
    return _digest(h)


def canonical(parts: dict) -> dict:
    """``parts`` as its JSON form (keys sorted, non-JSON values as str): what a cache file
    stores and compares against the parts it is asked for."""
    return json.loads(json.dumps(parts, sort_keys=True, default=str))


def cache_key(parts: dict) -> str:
    """The key of a cached artifact: sha256 of the canonical JSON of ``parts``."""
    return _digest(hashlib.sha256(json.dumps(canonical(parts), sort_keys=True).encode()))
