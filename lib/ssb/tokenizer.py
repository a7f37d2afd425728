"""Tokenizers: ``bert-base-uncased`` when it can be had (paper profile), otherwise a
WordPiece vocabulary learned on the pre-training corpus (deterministically, by counting;
see ``learn_vocabulary``) and run by the ``tokenizers`` library's WordPiece model.

The tokenizer is saved with every checkpoint (``save_pretrained``) and reused for FewRel.
"""
from __future__ import annotations

import os
import warnings
from pathlib import Path

SPECIAL_TOKENS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


def learn_vocabulary(articles: list[str], vocab_size: int, word_share: float = 0.75) -> list[str]:
    """A WordPiece vocabulary learned by counting, deterministically.

    The ``tokenizers`` WordPiece trainer is not deterministic across processes (hash-map
    order decides ties: huggingface/tokenizers#1794), so two runs from scratch would get
    different vocabularies, token sequences and weights.  This learner only counts and sorts:

    1. words = BERT-normalised (lower-cased, accents stripped), BERT-pre-tokenised corpus;
    2. the vocabulary holds the special tokens, every character ``c`` and ``##c``, then
    3. the most frequent whole words (``word_share`` of the remaining budget), then
    4. the most frequent word-initial prefixes (2-6 characters) and word-final ``##``
       suffixes (2-5 characters) of the words left out, weighted by word count.

    Ties are broken by the token string, so the same corpus always gives the same list.
    WordPiece's greedy longest-match encoding then splits a rare word into a frequent prefix
    and frequent suffixes or characters."""
    from collections import Counter

    from tokenizers import normalizers, pre_tokenizers

    normalizer = normalizers.BertNormalizer(lowercase=True)
    splitter = pre_tokenizers.BertPreTokenizer()
    words: Counter = Counter()
    for article in articles:
        text = normalizer.normalize_str(article.replace("<unk>", " "))
        words.update(w for w, _ in splitter.pre_tokenize_str(text))
    chars = sorted({ch for w in words for ch in w})
    vocab = list(SPECIAL_TOKENS) + chars + ["##" + ch for ch in chars]
    budget = vocab_size - len(vocab)
    if budget <= 0:
        return vocab[:vocab_size]
    ranked = sorted(((-c, w) for w, c in words.items() if len(w) > 1 and c >= 2))
    n_words = min(len(ranked), int(budget * word_share))
    chosen = [w for _, w in ranked[:n_words]]
    taken = set(chosen)
    pieces: Counter = Counter()
    for w, c in words.items():
        if w in taken or len(w) < 3:
            continue
        for i in range(2, min(len(w), 7)):
            pieces[w[:i]] += c
        for j in range(max(1, len(w) - 5), len(w) - 1):
            pieces["##" + w[j:]] += c
    known = set(vocab) | taken
    extra = [p for _, p in sorted((-c, p) for p, c in pieces.items() if p not in known)]
    return vocab + chosen + extra[:vocab_size - len(vocab) - len(chosen)]


def train_wordpiece(articles: list[str], vocab_size: int):
    """A lower-casing BERT WordPiece tokenizer with a vocabulary learned on ``articles`` by
    ``learn_vocabulary`` (deterministic: the same corpus gives the same tokenizer)."""
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors
    from transformers import BertTokenizerFast

    vocab = learn_vocabulary(articles, vocab_size)
    tok = Tokenizer(models.WordPiece({t: i for i, t in enumerate(vocab)}, unk_token="[UNK]", max_input_chars_per_word=100))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.decoder = decoders.WordPiece()
    cls_id, sep_id = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", cls_id), ("[SEP]", sep_id)])
    return BertTokenizerFast(tokenizer_object=tok, unk_token="[UNK]", pad_token="[PAD]",
                             cls_token="[CLS]", sep_token="[SEP]", mask_token="[MASK]", do_lower_case=True)


BERT_BASE_UNCASED = "bert-base-uncased"


def load_bert_base_uncased(allow_download: bool, data_dir: str | Path | None = None):
    """bert-base-uncased from ``<data_dir>/bert-base-uncased/`` (a directory with vocab.txt or
    tokenizer.json, e.g. saved by ``huggingface_hub.snapshot_download``) first, then the local
    Hugging Face cache, then the Hub when allowed; None if none of them has it."""
    from transformers import BertTokenizerFast

    if data_dir is not None:
        local = Path(data_dir) / BERT_BASE_UNCASED
        if local.is_dir():
            if not ((local / "vocab.txt").is_file() or (local / "tokenizer.json").is_file()):
                raise FileNotFoundError(f"{local} holds no tokenizer (expected vocab.txt or tokenizer.json); "
                                        f"stage it with huggingface_hub.snapshot_download('{BERT_BASE_UNCASED}', "
                                        f"local_dir='{local}') or remove the directory")
            return BertTokenizerFast.from_pretrained(str(local), local_files_only=True)
    try:
        return BertTokenizerFast.from_pretrained(BERT_BASE_UNCASED, local_files_only=True)
    except Exception:
        pass
    if allow_download:
        try:
            return BertTokenizerFast.from_pretrained(BERT_BASE_UNCASED)
        except Exception as err:  # network trouble: fall back, but say so
            warnings.warn(f"could not download bert-base-uncased ({err}); training a WordPiece vocabulary instead")
    return None


def build_tokenizer(profile, articles: list[str], allow_download: bool = False, data_dir: str | Path | None = None):
    """The profile's tokenizer. ``bert-base-uncased`` is read from ``<data_dir>/bert-base-uncased/``
    first (``load_bert_base_uncased``); one that cannot be had becomes a locally trained WordPiece
    vocabulary of the same size (30,522), with a warning."""
    if profile.tokenizer == BERT_BASE_UNCASED:
        tok = load_bert_base_uncased(allow_download, data_dir)
        if tok is not None:
            return tok
        where = f" nor in {Path(data_dir) / BERT_BASE_UNCASED}" if data_dir is not None else ""
        warnings.warn(f"bert-base-uncased is not in the local cache{where} and cannot be downloaded: "
                      f"training a {profile.vocab_size}-entry WordPiece vocabulary on the corpus instead")
    return train_wordpiece(articles, profile.vocab_size)


def load_tokenizer(path: str | Path):
    from transformers import AutoTokenizer

    path = Path(path)
    if not (path / "tokenizer.json").exists() and not (path / "vocab.txt").exists():
        raise FileNotFoundError(f"no tokenizer in {path} (expected tokenizer.json or vocab.txt)")
    return AutoTokenizer.from_pretrained(str(path), local_files_only=True)
