"""Shared fixtures: where the offline data lives, and skipping (with the reason) without it."""
from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

from ssb.tokenizer import SPECIAL_TOKENS

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


@pytest.fixture
def one_thread():
    """Tiny tensors run as fast on one thread, and one thread is immune to OpenMP spin-waiting
    when other processes load the machine (test_pretrain.py: 10 s instead of 80 s on a busy
    2-core box).  Use with ``pytestmark = pytest.mark.usefixtures("one_thread")``."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def word_tokenizer(words: list[str]):
    """A BERT WordPiece tokenizer with the fixed vocabulary SPECIAL_TOKENS + words (no
    training, so the same ids in every process)."""
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers
    from transformers import BertTokenizerFast

    vocab = {t: i for i, t in enumerate([*SPECIAL_TOKENS, *words])}
    tok = Tokenizer(models.WordPiece(vocab, unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    return BertTokenizerFast(tokenizer_object=tok, unk_token="[UNK]", pad_token="[PAD]", cls_token="[CLS]",
                             sep_token="[SEP]", mask_token="[MASK]")
