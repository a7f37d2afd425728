"""The token probe: masked positions spread over the whole split (seeded, several draws),
top-K token classes, and the constant / MLM-head baselines at the same test positions."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from transformers import BertConfig, BertForMaskedLM

from conftest import word_tokenizer
from ssb import mlm, probes
from ssb.corpus import Corpus
from ssb.mlm import MaskingSpec
from ssb.profiles import get_profile

pytestmark = pytest.mark.usefixtures("one_thread")

WORDS = [f"w{i}" for i in range(40)]


def zipf_sequences(n: int, t: int, vocab_lo: int, vocab_hi: int, seed: int = 0) -> np.ndarray:
    """[CLS] ... [SEP] sequences of Zipf-distributed word ids in vocab_lo..vocab_hi-1."""
    rng = np.random.default_rng(seed)
    ranks = np.arange(1, vocab_hi - vocab_lo + 1)
    p = (1.0 / ranks) / (1.0 / ranks).sum()
    body = vocab_lo + rng.choice(len(ranks), size=(n, t - 2), p=p)
    tok = word_tokenizer(WORDS)
    return np.concatenate([np.full((n, 1), tok.cls_token_id), body, np.full((n, 1), tok.sep_token_id)], axis=1)


@pytest.fixture(scope="module")
def tok():
    return word_tokenizer(WORDS)


@pytest.fixture(scope="module")
def spec(tok):
    return MaskingSpec.from_tokenizer(tok, 0.15)


def test_positions_are_deterministic_and_seeded(tok, spec):
    sequences = zipf_sequences(300, 16, 5, len(tok))
    a = mlm.masked_positions(sequences, spec, seed=0, stream=4, limit=200, draws=3)
    b = mlm.masked_positions(sequences, spec, seed=0, stream=4, limit=200, draws=3)
    for field in ("input_ids", "where", "tokens", "draw", "sequence"):
        assert np.array_equal(getattr(a, field), getattr(b, field)), field
    c = mlm.masked_positions(sequences, spec, seed=1, stream=4, limit=200, draws=3)
    assert not np.array_equal(a.sequence, c.sequence)


def test_positions_spread_over_the_whole_split_and_all_draws(tok, spec):
    sequences = zipf_sequences(2000, 16, 5, len(tok), seed=1)
    pos = mlm.masked_positions(sequences, spec, seed=0, stream=4, limit=1000, draws=3)
    assert pos.where.sum() == len(pos.tokens) == 1000                   # exactly `limit` positions
    assert pos.available > 3 * 1000                                     # so this is a real subsample
    deciles = np.bincount(pos.sequence * 10 // len(sequences), minlength=10)
    assert (deciles > 0.5 * deciles.mean()).all(), deciles               # every tenth of the split is used
    assert set(pos.draw.tolist()) == {0, 1, 2}
    order = pos.draw * len(sequences) + pos.sequence
    assert (np.diff(order) > 0).all()                                    # rows sorted by (draw, sequence), no repeats
    # every probe position is a [MASK] over the original token, and the rows are the named sequences
    assert (pos.input_ids[pos.where] == spec.mask_id).all()
    assert np.array_equal(sequences[pos.sequence][pos.where], pos.tokens)
    unmasked = pos.input_ids != spec.mask_id
    assert np.array_equal(pos.input_ids[unmasked], sequences[pos.sequence][unmasked])


def test_draws_differ_and_no_limit_takes_everything(tok, spec):
    sequences = zipf_sequences(200, 16, 5, len(tok), seed=2)
    pos = mlm.masked_positions(sequences, spec, seed=0, stream=5, limit=None, draws=2)
    assert pos.where.sum() == pos.available
    first, second = pos.where[pos.draw == 0], pos.where[pos.draw == 1]
    b0, b1 = pos.sequence[pos.draw == 0], pos.sequence[pos.draw == 1]
    common = np.intersect1d(b0, b1)
    assert not np.array_equal(first[np.isin(b0, common)], second[np.isin(b1, common)])   # two different mask draws
    huge = mlm.masked_positions(sequences, spec, seed=0, stream=5, limit=10 ** 9, draws=2)
    assert np.array_equal(huge.where, pos.where)
    with pytest.raises(ValueError, match="draws"):
        mlm.masked_positions(sequences, spec, seed=0, stream=5, limit=None, draws=0)


def test_top_k_classes(tok):
    sequences = np.array([[2, 10, 10, 11, 12, 12, 3], [2, 12, 10, 1, 1, 1, 3]])     # 1 = [UNK]: special, never a class
    assert list(probes.token_class_ids(sequences, tok, 2)) == [10, 12]             # 10 and 12 tie: lower id first
    assert list(probes.token_class_ids(sequences, tok, 3)) == [10, 12, 11]
    assert np.array_equal(probes.token_class_ids(sequences, tok, 0), np.arange(len(tok)))
    with pytest.raises(ValueError, match="only 3 tokens occur"):
        probes.token_class_ids(sequences, tok, 4)
    with pytest.raises(ValueError, match="token_classes must be in"):
        probes.token_class_ids(sequences, tok, -1)


def tiny_mlm(vocab: int, seed: int = 0) -> BertForMaskedLM:
    torch.manual_seed(seed)
    cfg = BertConfig(vocab_size=vocab, hidden_size=16, num_hidden_layers=2, num_attention_heads=4,
                     intermediate_size=32, max_position_embeddings=16, hidden_dropout_prob=0.0,
                     attention_probs_dropout_prob=0.0)
    return BertForMaskedLM(cfg).eval()


@pytest.fixture(scope="module")
def setup(tok, tmp_path_factory):
    import os
    out = tmp_path_factory.mktemp("out")
    old = os.environ.get("SSB_OUTPUT_DIR")
    os.environ["SSB_OUTPUT_DIR"] = str(out)
    corpus = Corpus(tok, zipf_sequences(400, 16, 5, len(tok), seed=3), zipf_sequences(60, 16, 5, len(tok), seed=4))
    model = tiny_mlm(len(tok))
    profile = get_profile("smoke", token_examples=300, token_mask_draws=2, token_classes=6)
    yield profile, corpus, model
    if old is None:
        os.environ.pop("SSB_OUTPUT_DIR")
    else:
        os.environ["SSB_OUTPUT_DIR"] = old


def test_token_probe_restricted_to_top_k(setup, tok):
    profile, corpus, model = setup
    probe = probes.token_probe(profile, model.bert, tok, corpus, [2], progress=False)
    top = probes.token_class_ids(corpus.train_sequences, tok, 6)
    assert probe.n_classes == 6 and np.array_equal(probe.class_token_ids, top)
    assert probe.label_names == tok.convert_ids_to_tokens(top.tolist())
    assert len(probe.y_train) == 300 and probe.z_train[2].shape == (300, 16) and sorted(probe.z_train) == [1, 2]
    assert probe.y_train.max() < 6 and probe.y_test.max() < 6
    # test positions: every position of 2 draws over the held-out sequences whose token is a class
    true_tokens = probe.test_input_ids.copy()
    assert (true_tokens[probe.test_where] == tok.mask_token_id).all()
    pos = mlm.masked_positions(corpus.eval_sequences, MaskingSpec.from_tokenizer(tok, profile.mask_prob),
                                     profile.seed, 5, None, draws=2)
    in_k = np.isin(pos.tokens, top)
    assert np.array_equal(top[probe.y_test], pos.tokens[in_k])           # class -> token id is the hidden token
    assert len(probe.y_test) == in_k.sum() < len(pos.tokens)             # other tokens' positions are left out
    assert "6 most frequent training tokens" in probe.classes_note and "300 training positions" in probe.classes_note
    again = probes.token_probe(profile, model.bert, tok, corpus, [2], progress=False, force=True)
    assert np.array_equal(again.y_train, probe.y_train) and np.array_equal(again.z_test[2], probe.z_test[2])
    counts = probes.token_class_counts(corpus, probe)
    assert np.array_equal(counts, np.bincount(corpus.train_sequences.ravel(), minlength=len(tok))[top])
    assert (np.diff(counts) <= 0).all()


def test_whole_vocabulary_keeps_token_ids_as_classes(setup, tok):
    profile, corpus, model = setup
    probe = probes.token_probe(profile, model.bert, tok, corpus, [1], progress=False, classes=0, examples=100, draws=1)
    assert probe.n_classes == len(tok) and np.array_equal(probe.class_token_ids, np.arange(len(tok)))
    assert len(probe.y_train) == 100 and "every vocabulary token" in probe.classes_note


def test_mlm_head_at_the_same_positions_and_the_baselines(setup, tok):
    profile, corpus, model = setup
    probe = probes.token_probe(profile, model.bert, tok, corpus, [2], progress=False)
    mlm = probes.mlm_head_predictions(model, probe, batch_size=7)
    with torch.no_grad():                                                 # reference: full logits, then restrict
        ids = torch.from_numpy(probe.test_input_ids)
        logits = model(input_ids=ids, attention_mask=(ids != tok.pad_token_id).long()).logits
        ref = logits[torch.from_numpy(probe.test_where)][:, torch.from_numpy(probe.class_token_ids)].argmax(-1).numpy()
    assert np.array_equal(mlm, ref) and mlm.max() < probe.n_classes
    other = tiny_mlm(len(tok), seed=1)
    with pytest.raises(ValueError, match="not the backbone"):
        probes.mlm_head_predictions(other, probe)

    constant = int(np.bincount(probe.y_train).argmax())
    perfect = probe.y_test.copy()
    out = probes.probe_baselines(probe, perfect, mlm)
    table = out["table"].set_index("predictor")
    assert table.loc["probe (full aperture)", "accuracy"] == 1.0
    assert table.loc["constant predictor", "accuracy"] == pytest.approx((probe.y_test == constant).mean())
    assert table.loc["model's MLM head", "accuracy"] == pytest.approx((mlm == probe.y_test).mean())
    assert out["gate"]["passed"] is True and out["gate"]["constant_label"] == constant
    assert out["probe_vs_mlm"]["accuracy_a"] == 1.0 and out["classes_note"] == probe.classes_note
    silent = probes.probe_baselines(probe, np.full_like(probe.y_test, constant))
    assert silent["gate"]["passed"] is False and silent["mlm_vs_constant"] is None
    with pytest.raises(ValueError, match="predictions for"):
        probes.probe_baselines(probe, perfect[:-1])
