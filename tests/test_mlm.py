"""MLM data: token sequences, the seeded split, the batch order and the 15 % / 80-10-10
masking of docs/method.md ("Model and training")."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from ssb.mlm import MaskingSpec, batch_indices, encode_corpus, mask_tokens, split_sequences, step_generator
from conftest import word_tokenizer
from ssb.tokenizer import SPECIAL_TOKENS

PAD, UNK, CLS, SEP, MASK = range(5)                 # ids of SPECIAL_TOKENS
V = 1000                                            # large: a random replacement rarely hits a given id
SPEC = MaskingSpec(vocab_size=V, mask_id=MASK, special_ids=(PAD, UNK, CLS, SEP, MASK), pad_id=PAD)


def random_sequences(n: int, length: int, seed: int = 0) -> torch.Tensor:
    """(n, length) sequences [CLS] tokens.. [SEP] [PAD]..: ordinary ids 5..V-1, a random number of
    trailing pads, an [UNK] now and then."""
    rng = np.random.default_rng(seed)
    ids = rng.integers(5, V, size=(n, length))
    ids[rng.random((n, length)) < 0.02] = UNK
    ids[:, 0] = CLS
    for row, n_pad in zip(ids, rng.integers(0, length // 2, size=n)):
        row[length - 1 - n_pad] = SEP
        row[length - n_pad:] = PAD
    return torch.from_numpy(ids)


# ---------------------------------------------------------------------------- masking

def test_masking_statistics():
    ids = random_sequences(2000, 64)                                   # ~110k maskable tokens
    out, labels = mask_tokens(ids, SPEC, step_generator(0, 1, 0))
    special = torch.isin(ids, torch.tensor(SPEC.special_ids))
    selected = labels != -100
    n_maskable = int((~special).sum())
    assert int(selected.sum()) / n_maskable == pytest.approx(0.15, abs=0.005)
    n_sel = int(selected.sum())
    as_mask = int((out[selected] == MASK).sum()) / n_sel
    kept = int((out[selected] == ids[selected]).sum()) / n_sel
    other = 1 - as_mask - kept
    assert as_mask == pytest.approx(0.8, abs=0.015)
    assert kept == pytest.approx(0.1, abs=0.01)
    assert other == pytest.approx(0.1, abs=0.01)
    # random replacements are spread over the vocabulary
    replaced = out[selected & (out != MASK) & (out != ids)]
    assert len(torch.unique(replaced)) > 0.6 * V


def test_specials_and_padding_never_masked_and_labels():
    ids = random_sequences(300, 32, seed=1)
    out, labels = mask_tokens(ids, SPEC, step_generator(5, 1, 3))
    special = torch.isin(ids, torch.tensor(SPEC.special_ids))
    assert special[ids == PAD].all() and special[ids == UNK].all()
    assert (labels[special] == -100).all()
    assert torch.equal(out[special], ids[special])                  # [CLS], [SEP], [PAD], [UNK] untouched
    selected = labels != -100
    assert torch.equal(labels[selected], ids[selected])             # label = the original token
    assert torch.equal(out[~selected], ids[~selected])              # nothing else changes
    assert set(torch.unique(labels[~selected]).tolist()) == {-100}


def test_same_generator_seed_same_masks():
    ids = random_sequences(50, 32)
    a = mask_tokens(ids, SPEC, step_generator(7, 1, 12))
    b = mask_tokens(ids, SPEC, step_generator(7, 1, 12))
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    for other in (step_generator(7, 1, 13), step_generator(8, 1, 12), step_generator(7, 3, 12)):
        c = mask_tokens(ids, SPEC, other)
        assert not torch.equal(a[1], c[1])


def test_all_mask_mode():
    ids = random_sequences(200, 32)
    out, labels = mask_tokens(ids, SPEC, step_generator(0, 4, 0), all_mask=True)
    selected = labels != -100
    assert (out[selected] == MASK).all()
    assert torch.equal(out[~selected], ids[~selected])
    # the same selection as the 80/10/10 mode under the same generator state
    _, labels_80 = mask_tokens(ids, SPEC, step_generator(0, 4, 0))
    assert torch.equal(labels, labels_80)


def test_masking_spec_validation():
    with pytest.raises(ValueError, match="mask_prob"):
        MaskingSpec(vocab_size=V, mask_id=MASK, special_ids=(0,), mask_prob=0.0)
    with pytest.raises(ValueError, match="replace_mask"):
        MaskingSpec(vocab_size=V, mask_id=MASK, special_ids=(0,), replace_mask=0.95, replace_random=0.1)
    with pytest.raises(ValueError, match="mask_id"):
        MaskingSpec(vocab_size=4, mask_id=MASK, special_ids=(0,))


def test_masking_spec_from_tokenizer():
    tok = word_tokenizer(["alpha", "beta"])
    spec = MaskingSpec.from_tokenizer(tok, mask_prob=0.2)
    assert spec.vocab_size == 7 and spec.mask_id == MASK and spec.pad_id == PAD and spec.mask_prob == 0.2
    assert set(spec.special_ids) == {PAD, UNK, CLS, SEP, MASK}


# ---------------------------------------------------------------------------- batch order

def test_batch_indices_cover_each_epoch_once():
    n, bs = 103, 10                                                  # 10 batches per epoch, 3 sequences sit out
    for epoch in range(3):
        batches = [batch_indices(n, bs, epoch * 10 + k, seed=4) for k in range(10)]
        assert all(len(b) == bs for b in batches)
        seen = np.concatenate(batches)
        assert len(set(seen.tolist())) == 100 and seen.min() >= 0 and seen.max() < n
    epoch0 = np.concatenate([batch_indices(n, bs, k, seed=4) for k in range(10)])
    epoch1 = np.concatenate([batch_indices(n, bs, 10 + k, seed=4) for k in range(10)])
    assert not np.array_equal(epoch0, epoch1)                         # a new permutation each epoch


def test_batch_indices_depend_on_seed_and_step_only():
    assert np.array_equal(batch_indices(50, 8, 17, seed=1), batch_indices(50, 8, 17, seed=1))
    assert not np.array_equal(batch_indices(50, 8, 17, seed=1), batch_indices(50, 8, 17, seed=2))
    assert not np.array_equal(batch_indices(50, 8, 17, seed=1), batch_indices(50, 8, 18, seed=1))


def test_batch_indices_small_corpus_and_bad_input():
    b = batch_indices(5, 8, 0, seed=0)
    assert sorted(b.tolist()) == [0, 1, 2, 3, 4]
    for args in ((0, 8, 0), (5, 0, 0), (5, 8, -1)):
        with pytest.raises(ValueError):
            batch_indices(*args, seed=0)


# ---------------------------------------------------------------------------- sequences and split

WORDS = ["the", "cat", "sat", "on", "mat", "a", "dog", "ran"]


def test_encode_corpus_chunks():
    tok = word_tokenizer(WORDS)
    articles = ["the cat sat on the mat " * 3, "a dog ran", "a dog ran on a mat the cat sat"]
    sequences = encode_corpus(articles, tok, max_len=6)                # body of 4 tokens
    # 18 tokens -> 4 sequences (2 dropped), 3 tokens -> none, 9 tokens -> 2 sequences (1 dropped)
    assert sequences.shape == (6, 6) and sequences.dtype == np.int64
    assert (sequences[:, 0] == CLS).all() and (sequences[:, -1] == SEP).all()
    stream = tok(articles[0], add_special_tokens=False)["input_ids"]
    assert sequences[:4, 1:-1].ravel().tolist() == stream[:16]
    stream = tok(articles[2], add_special_tokens=False)["input_ids"]
    assert sequences[4:, 1:-1].ravel().tolist() == stream[:8]
    assert PAD not in sequences


def test_encode_corpus_first_and_unk():
    tok = word_tokenizer(WORDS)
    articles = ["the cat and the dog sat on a mat", "a dog", ""]
    sequences = encode_corpus(articles, tok, max_len=8, mode="first")
    assert sequences.shape == (2, 8)                                   # the empty article gives no sequence
    first = tok(articles[0], add_special_tokens=False)["input_ids"][:6]
    assert sequences[0].tolist() == [CLS, *first, SEP]
    assert UNK in first                                             # "and" is not in the vocabulary
    assert sequences[1].tolist() == [CLS, WORDS.index("a") + 5, WORDS.index("dog") + 5, SEP, PAD, PAD, PAD, PAD]
    wikitext_unk = encode_corpus(["the <unk> sat"], tok, max_len=5, mode="first")
    assert wikitext_unk[0].tolist() == [CLS, WORDS.index("the") + 5, UNK, WORDS.index("sat") + 5, SEP]


def test_encode_corpus_errors():
    tok = word_tokenizer(WORDS)
    with pytest.raises(ValueError, match="mode"):
        encode_corpus(["the cat"], tok, 8, mode="sentences")
    with pytest.raises(ValueError, match="no token sequences"):
        encode_corpus(["the cat"], tok, 8, mode="chunks")            # shorter than one block
    with pytest.raises(ValueError, match="max_len"):
        encode_corpus(["the cat"], tok, 2)


def test_split_sequences_seeded():
    sequences = np.arange(200, dtype=np.int64).reshape(100, 2)
    train, held = split_sequences(sequences, 0.1, seed=0)
    assert len(held) == 10 and len(train) == 90
    assert sorted(np.concatenate([train, held])[:, 0].tolist()) == sequences[:, 0].tolist()   # a partition
    assert (np.diff(train[:, 0]) > 0).all() and (np.diff(held[:, 0]) > 0).all()            # original order
    again = split_sequences(sequences, 0.1, seed=0)
    assert np.array_equal(again[0], train) and np.array_equal(again[1], held)
    assert not np.array_equal(split_sequences(sequences, 0.1, seed=1)[1], held)
    assert held[:, 0].tolist() != list(range(0, 20, 2))                                  # not the first ten
    with pytest.raises(ValueError, match="too few"):
        split_sequences(sequences[:1], 0.1, seed=0)
    with pytest.raises(ValueError, match="eval_fraction"):
        split_sequences(sequences, 1.0, seed=0)
