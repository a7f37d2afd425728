"""The locally learned WordPiece vocabulary is deterministic across processes (the
`tokenizers` trainer is not: huggingface/tokenizers#1794) and encodes sensibly."""
from __future__ import annotations

import subprocess
import sys

from ssb.tokenizer import SPECIAL_TOKENS, learn_vocabulary, train_wordpiece

ARTICLES = ["The quick brown fox jumps over the lazy dog . Foxes are quick ; dogs are lazier .",
            "Attention heads specialise : a head recognises few tokens , another head recognises others .",
            "Symmetric heads stay symmetric under deterministic training , unbelievably so ."] * 20

SCRIPT = """
import hashlib, json, sys
from ssb.tokenizer import train_wordpiece
articles = json.loads(sys.stdin.read())
tok = train_wordpiece(articles, 120)
print(hashlib.sha256(json.dumps(sorted(tok.get_vocab().items())).encode()).hexdigest())
"""


def test_vocabulary_is_identical_across_processes():
    import json
    digests = set()
    for hash_seed in ("1", "2", "3"):
        out = subprocess.run([sys.executable, "-c", SCRIPT], input=json.dumps(ARTICLES), capture_output=True,
                             text=True, check=True, env={"PYTHONHASHSEED": hash_seed, "PATH": "/usr/bin:/bin"})
        digests.add(out.stdout.strip())
    assert len(digests) == 1


def test_vocabulary_content_and_size():
    vocab = learn_vocabulary(ARTICLES, 120)
    assert len(vocab) == len(set(vocab)) <= 120
    assert vocab[:len(SPECIAL_TOKENS)] == SPECIAL_TOKENS
    assert "the" in vocab and "##s" in vocab and "q" in vocab and "##q" in vocab
    assert learn_vocabulary(ARTICLES, 8) == SPECIAL_TOKENS + sorted(set("".join(ARTICLES).lower()) - {" "})[:3]


def test_encoding_has_no_unknowns_and_round_trips():
    tok = train_wordpiece(ARTICLES, 120)
    text = "the lazy foxes recognise symmetric heads"
    pieces = tok.tokenize(text)
    assert "[UNK]" not in pieces
    assert tok.decode(tok(text, add_special_tokens=False)["input_ids"]) == text
    ids = tok(text)["input_ids"]
    assert ids[0] == tok.cls_token_id and ids[-1] == tok.sep_token_id
