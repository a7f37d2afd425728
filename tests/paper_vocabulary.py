"""A tokenizer of the `paper` shape without downloading bert-base-uncased, shared by the paper
profile test (test_paper_profile.py) and the paper-shape rehearsal (test_paper_rehearsal.py):
a WordPiece trained on a few sentences and filled up to 30,522 entries with [unused*] tokens, as
bert-base's own vocabulary is."""
from __future__ import annotations

from ssb.tokenizer import train_wordpiece

TEXT = ("the paper pre-trains bert with masked language modelling and fine-tunes it on relation "
        "classification . single attention nodes recognise a few tokens each . ") * 40


def paper_tokenizer(tmp_path, size: int = 30_522):
    from tokenizers import models
    from transformers import BertTokenizerFast

    small = train_wordpiece([TEXT], 200)
    vocab = dict(small.get_vocab())
    vocab.update({f"[unused{i}]": len(vocab) + i for i in range(size - len(vocab))})
    backend = small.backend_tokenizer
    backend.model = models.WordPiece(vocab, unk_token="[UNK]")
    tok = BertTokenizerFast(tokenizer_object=backend, unk_token="[UNK]", pad_token="[PAD]", cls_token="[CLS]",
                            sep_token="[SEP]", mask_token="[MASK]", do_lower_case=True)
    assert len(tok) == size
    return tok
