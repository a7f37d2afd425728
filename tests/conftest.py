"""Shared fixtures: where the offline data lives, and skipping (with the reason) without it."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch

from ssb.mlm import encode_corpus, split_sequences
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


# ---------------------------------------------------------------- end-to-end runs in the background

_BACKGROUND = pytest.StashKey()


def pytest_collection_modifyitems(config, items):
    """Tests that read background runs go last, so the rest of the suite runs while they work."""
    items.sort(key=lambda item: item.get_closest_marker("background") is not None)


def pytest_collection_finish(session):
    """Start the end-to-end runs the selected tests ask for (tests/background_runs.py) now, in
    the background, when the offline data is there (else their tests skip)."""
    import background_runs

    names = background_runs.requested(session.items)
    data = shared_data_dir()
    if names and data is not None and not session.config.option.collectonly:
        runs = background_runs.BackgroundRuns(data)
        session.config.stash[_BACKGROUND] = runs
        for name in names:
            runs.start(name)


def pytest_sessionfinish(session):
    runs = session.config.stash.get(_BACKGROUND, None)
    if runs is not None:
        runs.close()


@pytest.fixture(scope="session")
def background(request, data_dir):
    """The background end-to-end runs (started at collection; started here if not)."""
    import background_runs

    runs = request.config.stash.get(_BACKGROUND, None)
    if runs is None:
        runs = request.config.stash[_BACKGROUND] = background_runs.BackgroundRuns(data_dir)
    return runs


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


# ---------------------------------------------------------------- tiny MLM corpus (pre-training tests)

NOUNS = ["cat", "dog", "bird", "fish", "horse", "mouse", "cow", "fox"]
VERBS = ["sees", "likes", "chases", "finds"]
ADJS = ["small", "big", "red", "old"]


def tiny_corpus(n_articles: int = 120, seed: int = 0) -> list[str]:
    """Articles of sentences 'the ADJ NOUN VERB the NOUN .' with Zipf-distributed nouns:
    learnable structure ('the', '.') and a clear most-frequent token."""
    rng = np.random.default_rng(seed)
    zipf = 1.0 / np.arange(1, len(NOUNS) + 1)
    zipf /= zipf.sum()
    articles = []
    for _ in range(n_articles):
        sentences = [f"the {rng.choice(ADJS)} {rng.choice(NOUNS, p=zipf)} {rng.choice(VERBS)} the "
                     f"{rng.choice(NOUNS, p=zipf)} ." for _ in range(rng.integers(3, 8))]
        articles.append(" ".join(sentences))
    return articles


@pytest.fixture(scope="module")
def data():
    """(tokenizer, train_sequences, eval_sequences) of a tiny synthetic corpus: ~500 sequences of 16 tokens."""
    tok = word_tokenizer(["the", ".", *NOUNS, *VERBS, *ADJS])
    sequences = encode_corpus(tiny_corpus(), tok, max_len=16)
    train, held = split_sequences(sequences, 0.1, seed=0)
    return tok, train, held


@pytest.fixture
def out_root(tmp_path, monkeypatch):
    """SSB_OUTPUT_DIR in tmp_path, and no run stamp or results name inherited from the environment."""
    from ssb import results
    monkeypatch.setenv("SSB_OUTPUT_DIR", str(tmp_path))
    for key in (results.RUN_ID_ENV, results.RESULTS_NAME_ENV, results.RESULTS_OVERRIDES_ENV):
        monkeypatch.delenv(key, raising=False)
    return tmp_path
