"""Tokenizers: ``bert-base-uncased`` when it can be had (paper profile), otherwise a
WordPiece vocabulary trained on the pre-training corpus with the ``tokenizers`` library.

The tokenizer is saved with every checkpoint (``save_pretrained``) and reused for FewRel.
"""
from __future__ import annotations

import os
import warnings
from pathlib import Path

SPECIAL_TOKENS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


def train_wordpiece(articles: list[str], vocab_size: int):
    """A lower-casing BERT WordPiece tokenizer trained on ``articles`` (deterministic)."""
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
    from transformers import BertTokenizerFast

    tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.decoder = decoders.WordPiece()
    trainer = trainers.WordPieceTrainer(vocab_size=vocab_size, special_tokens=SPECIAL_TOKENS,
                                        min_frequency=2, show_progress=False)
    tok.train_from_iterator((a.replace("<unk>", " ") for a in articles), trainer=trainer)
    cls_id, sep_id = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", cls_id), ("[SEP]", sep_id)])
    return BertTokenizerFast(tokenizer_object=tok, unk_token="[UNK]", pad_token="[PAD]",
                             cls_token="[CLS]", sep_token="[SEP]", mask_token="[MASK]", do_lower_case=True)


def load_bert_base_uncased(allow_download: bool):
    """bert-base-uncased from the local Hugging Face cache, or the Hub when allowed; None if neither."""
    from transformers import BertTokenizerFast

    try:
        return BertTokenizerFast.from_pretrained("bert-base-uncased", local_files_only=True)
    except Exception:
        pass
    if allow_download:
        try:
            return BertTokenizerFast.from_pretrained("bert-base-uncased")
        except Exception as err:  # network trouble: fall back, but say so
            warnings.warn(f"could not download bert-base-uncased ({err}); training a WordPiece vocabulary instead")
    return None


def build_tokenizer(profile, articles: list[str], allow_download: bool = False):
    """The profile's tokenizer. ``bert-base-uncased`` that cannot be had becomes a locally
    trained WordPiece vocabulary of the same size (30,522), with a warning."""
    if profile.tokenizer == "bert-base-uncased":
        tok = load_bert_base_uncased(allow_download)
        if tok is not None:
            return tok
        warnings.warn("bert-base-uncased is not in the local cache and cannot be downloaded: "
                      f"training a {profile.vocab_size}-entry WordPiece vocabulary on the corpus instead")
    return train_wordpiece(articles, profile.vocab_size)


def load_tokenizer(path: str | Path):
    from transformers import AutoTokenizer

    path = Path(path)
    if not (path / "tokenizer.json").exists() and not (path / "vocab.txt").exists():
        raise FileNotFoundError(f"no tokenizer in {path} (expected tokenizer.json or vocab.txt)")
    return AutoTokenizer.from_pretrained(str(path), local_files_only=True)
