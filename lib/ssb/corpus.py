"""The corpus: Wikipedia articles -> tokenizer -> fixed-length token sequences, cached.

    c = corpus.prepare(profile)      # Corpus: tokenizer, train/held-out sequences, statistics
    c.train_sequences                   # (n_train, max_len) token ids

The cache (runs/<profile>/corpus/, or corpus-<vocabulary fingerprint>/ for a checkpoint's own
tokenizer) is reused while its configuration (``CORPUS_FIELDS``, the articles' text and the
vocabulary learner) matches and its content checksums hold; otherwise it is rebuilt.
"""
from __future__ import annotations

import functools
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import atomic
from .cache_keys import text_fingerprint, vocabulary_fingerprint
from .data import load_corpus, network_available, resolve_data_dir
from .mlm import encode_corpus, split_sequences
from .cache_entry import check_entry, discard
from .pretrain import data_fingerprints
from .results import runs_dir
from .tokenizer import build_tokenizer, load_tokenizer

CORPUS_FIELDS = ("corpus", "n_articles", "corpus_max_words", "tokenizer", "vocab_size", "max_len",
                 "sequences", "eval_fraction", "seed")

# statistics of caches written before the token sequences had their name -> today's names
STATS_RENAMED = {"blocks_train": "sequences_train", "blocks_eval": "sequences_eval"}

# what a complete corpus cache holds besides corpus_config.json (the token sequences keep the
# file's first name, blocks.npz, so existing caches stay valid)
CACHE_FILES = ("tokenizer", "blocks.npz", "stats.json")

# bump when tokenizer.learn_vocabulary changes, so cached corpora are rebuilt
VOCABULARY_LEARNER = "counts-v1"


@dataclass
class Corpus:
    tokenizer: object
    train_sequences: np.ndarray     # (n_train, max_len) token ids
    eval_sequences: np.ndarray      # (n_eval, max_len)
    stats: dict = field(default_factory=dict)

    @functools.cached_property
    def fingerprints(self) -> tuple[str, str]:
        """``pretrain.data_fingerprints`` of this corpus, hashed on first use and kept (also
        across the pickling to pre-training workers): every run and check of it reuses them."""
        return data_fingerprints(self.tokenizer, self.train_sequences, self.eval_sequences)


def prepare(profile, data_dir=None, force: bool = False, progress: bool = True, *, tokenizer=None,
           max_len: int | None = None) -> Corpus:
    """Articles -> tokenizer -> token sequences, cached in runs/<profile>/corpus/.

    ``tokenizer``: a checkpoint's own tokenizer instead of ours (``backbones.backbone_corpus``): the same
    articles encoded with it into sequences of ``max_len`` tokens (None: the profile's), cached in
    runs/<profile>/corpus-<vocabulary fingerprint>/ -- one entry per tokenizer, never in place of
    ours."""
    articles = load_corpus(profile.corpus, data_dir, n_articles=profile.n_articles,
                           max_words=profile.corpus_max_words, seed=profile.seed)
    cfg = {k: getattr(profile, k) for k in CORPUS_FIELDS} | {"text": text_fingerprint(articles),
                                                             "vocabulary": VOCABULARY_LEARNER}
    if tokenizer is not None:
        missing = [name for name in ("cls_token_id", "sep_token_id", "pad_token_id", "mask_token_id", "unk_token_id")
                   if getattr(tokenizer, name, None) is None]
        if missing:
            raise ValueError(f"the checkpoint's tokenizer has no {', '.join(m[:-9] for m in missing)} token: token "
                             "sequences need [CLS] ... [SEP] with [PAD], and the token probe needs [MASK] and [UNK]")
        fingerprint = vocabulary_fingerprint(tokenizer)
        cfg |= {"tokenizer": f"checkpoint:{type(tokenizer).__name__}", "vocab_size": len(tokenizer),
                "max_len": int(max_len or profile.max_len), "vocabulary": fingerprint}
        cache = runs_dir(profile) / f"corpus-{fingerprint[:16]}"
    else:
        if profile.tokenizer == "bert-base-uncased":      # a copy staged later replaces the WordPiece fallback
            cfg["bert_local"] = (resolve_data_dir(data_dir) / "bert-base-uncased").is_dir()
        cache = runs_dir(profile) / "corpus"
    cached = None if force else _load_corpus_cache(cache, cfg)
    if cached is not None:
        return cached
    if tokenizer is None:
        tokenizer = build_tokenizer(profile, articles, allow_download=network_available(),
                                    data_dir=resolve_data_dir(data_dir))
    sequences = encode_corpus(articles, tokenizer, cfg["max_len"], mode=profile.sequences, progress=progress)
    train, held = split_sequences(sequences, profile.eval_fraction, profile.seed)
    counts = np.bincount(train.ravel(), minlength=len(tokenizer))
    counts[list(tokenizer.all_special_ids)] = 0
    stats = {
        "articles": len(articles),
        "words": int(sum(len(a.split()) for a in articles)),
        "vocab_size": len(tokenizer),
        "sequences_train": int(len(train)), "sequences_eval": int(len(held)),
        "tokens_train": int(train.size),
        "vocab_used": int((counts > 0).sum()),
        "unk_rate": float((train == tokenizer.unk_token_id).mean()),
    }
    with atomic.atomic_dir(cache) as tmp:
        tokenizer.save_pretrained(tmp / "tokenizer")
        # the file keeps its first name, blocks.npz (the token sequences), so existing caches stay valid
        with atomic.atomic_path(tmp / "blocks.npz", suffix=".npz") as f:
            np.savez(f, train=train, eval=held)
        atomic.write_json(tmp / "stats.json", stats)
        atomic.write_json(tmp / "corpus_config.json", cfg)
        atomic.write_checksums(tmp, ["blocks.npz", "stats.json", "corpus_config.json"]
                               + [str(p.relative_to(tmp)) for p in sorted((tmp / "tokenizer").rglob("*")) if p.is_file()])
    return Corpus(tokenizer, train, held, stats)


def _load_corpus_cache(cache: Path, cfg: dict) -> Corpus | None:
    """The cached corpus when its configuration is ``cfg`` (``cache_entry.check_entry``); None when
    absent or of another configuration.  A cache that cannot be read or is incomplete (truncated
    blocks.npz, corrupt JSON, a broken tokenizer, content that differs from its checksums) is
    deleted with a one-line warning naming it and why, and None returned: it is rebuilt."""
    check = check_entry(cache, cfg, config_file="corpus_config.json", required=CACHE_FILES, load=_read_corpus)
    if check.hit:
        return check.value
    discard(check, "corpus cache", "rebuilding", stacklevel=5)
    return None


def _read_corpus(cache: Path) -> Corpus:
    tokenizer = load_tokenizer(cache / "tokenizer")
    with np.load(cache / "blocks.npz") as f:
        train, held = f["train"], f["eval"]
    stats = {STATS_RENAMED.get(k, k): v for k, v in json.loads((cache / "stats.json").read_text()).items()}
    return Corpus(tokenizer, train, held, stats)
