"""Shared fixtures: where the offline data lives, and skipping (with the reason) without it."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def shared_data_dir() -> Path | None:
    """$SSB_DATA_DIR, else ../shared/data next to the repo; None when FewRel/WikiText are absent."""
    candidates = [os.environ.get("SSB_DATA_DIR"), str(REPO.parent / "shared" / "data")]
    for c in candidates:
        if c and (Path(c) / "fewrel" / "val_wiki.json").is_file() and (Path(c) / "wikitext-103" / "wiki.valid.tokens").is_file():
            return Path(c).resolve()
    return None


@pytest.fixture(scope="session")
def data_dir() -> Path:
    d = shared_data_dir()
    if d is None:
        pytest.skip("offline data not found: set SSB_DATA_DIR to a directory holding "
                    "fewrel/val_wiki.json and wikitext-103/wiki.{valid,test}.tokens (or place it at ../shared/data)")
    return d
