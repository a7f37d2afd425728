"""FewRel relation classification as a supervised task (docs/method.md, "Data").

Each relation's 700 instances are split by a seeded shuffle into ``n_train`` training
and ``n_test`` test sentences; labels index the relation ids in sorted order.  Optional
entity markers wrap the head in ``@ ... @`` and the tail in ``# ... #``: punctuation that
every vocabulary (bert-base-uncased and the locally trained WordPiece) already holds.
"""
from __future__ import annotations

import json
import os
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import numpy as np

from .cache_keys import cache_key, text_fingerprint
from .data import DataError, fewrel_path, load_fewrel, load_relation_names

__all__ = ["FewRelSplit", "instance_text", "split_fewrel", "load_split", "encode_sentences", "HEAD_MARKER",
           "TAIL_MARKER"]

HEAD_MARKER = "@"
TAIL_MARKER = "#"
MIN_RELATIONS = 2                 # fewer: a "classifier" with one answer, accuracy 1.0


@dataclass
class FewRelSplit:
    """Train/test sentences and labels of a FewRel split; label i is ``relation_ids[i]``."""

    relation_ids: list[str]
    label_names: list[str]
    train_texts: list[str]
    train_labels: np.ndarray
    test_texts: list[str]
    test_labels: np.ndarray

    def n_labels(self) -> int:
        return len(self.relation_ids)


def _first_span(entity: list[Any]) -> tuple[int, int]:
    """(first, last) token position of an entity's first mention."""
    span = entity[2][0]
    return min(span), max(span)


def instance_text(instance: dict, entity_markers: bool = False) -> str:
    """The instance's sentence: its tokens joined by spaces.

    With ``entity_markers``, ``"@ "`` precedes and ``" @"`` follows the head's first
    mention and ``"# "``/``" #"`` wrap the tail's, e.g. ``"@ Cape Girardeau Bridge @
    crosses the # Mississippi River #"``. Either entity may come first; spans that nest
    or share a token are wrapped so that the outer span opens first and closes last.
    """
    tokens = instance["tokens"]
    if not entity_markers:
        return " ".join(tokens)
    spans = [(HEAD_MARKER, *_first_span(instance["h"])), (TAIL_MARKER, *_first_span(instance["t"]))]
    # open longer spans first and close later-opened spans first, so spans nest properly
    opening = sorted(range(2), key=lambda k: (-spans[k][2], k))
    closing = sorted(range(2), key=lambda k: (-spans[k][1], -k))
    before: dict[int, list[str]] = {}
    after: dict[int, list[str]] = {}
    for k in opening:
        before.setdefault(spans[k][1], []).append(spans[k][0])
    for k in closing:
        after.setdefault(spans[k][2], []).append(spans[k][0])
    out: list[str] = []
    for i, token in enumerate(tokens):
        out.extend(before.get(i, ()))
        out.append(token)
        out.extend(after.get(i, ()))
    return " ".join(out)


def split_fewrel(
    data: dict[str, list[dict]],
    n_train: int,
    n_test: int,
    seed: int,
    entity_markers: bool = False,
    names: dict[str, str] | None = None,
) -> FewRelSplit:
    """Split every relation's instances into ``n_train`` train and ``n_test`` test ones.

    Relation ``k`` (in sorted id order) is shuffled with ``np.random.default_rng([seed,
    k])``; the first ``n_train`` shuffled instances train, the next ``n_test`` test.
    Texts are grouped by relation in label order.
    """
    if n_train < 0 or n_test < 0:
        raise ValueError(f"n_train and n_test must be non-negative, got {n_train} and {n_test}")
    relation_ids = sorted(data)
    names = names or {}
    train_texts: list[str] = []
    test_texts: list[str] = []
    train_labels: list[int] = []
    test_labels: list[int] = []
    for label, relation in enumerate(relation_ids):
        instances = data[relation]
        if len(instances) < n_train + n_test:
            raise DataError(
                f"FewRel relation {relation!r} has {len(instances)} instances, fewer than the "
                f"requested {n_train} train + {n_test} test = {n_train + n_test}; lower "
                f"n_train_per_relation / n_test_per_relation or use a complete FewRel file."
            )
        order = np.random.default_rng([seed, label]).permutation(len(instances))
        for index in order[:n_train]:
            train_texts.append(instance_text(instances[index], entity_markers))
        for index in order[n_train:n_train + n_test]:
            test_texts.append(instance_text(instances[index], entity_markers))
        train_labels += [label] * n_train
        test_labels += [label] * n_test
    return FewRelSplit(
        relation_ids=relation_ids,
        label_names=[names.get(relation, relation) for relation in relation_ids],
        train_texts=train_texts,
        train_labels=np.asarray(train_labels, dtype=np.int64),
        test_texts=test_texts,
        test_labels=np.asarray(test_labels, dtype=np.int64),
    )


def encode_sentences(tokenizer, texts: list[str], max_len: int) -> tuple[np.ndarray, np.ndarray]:
    """FewRel sentences as the encoder reads them: (input_ids, attention_mask), each
    (len(texts), max_len) int64, truncated and padded to ``max_len``.  The one encoding of the
    frozen-backbone probe (``probes.fewrel_probe``) and of full fine-tuning (``finetune``).

    A notebook reads the same sentences through the same tokenizer once per backbone (05: a
    dozen probes), so the last few encodings are kept for the process, keyed by the
    tokenizer's whole pipeline (``_encoding_key``) and every text; each call gets its own copy."""
    key = _encoding_key(tokenizer, texts, max_len)
    if key is not None and key in _ENCODED:
        _ENCODED.move_to_end(key)
    else:
        enc = tokenizer(list(texts), max_length=max_len, truncation=True, padding="max_length", return_tensors="np")
        encoded = enc["input_ids"].astype(np.int64), enc["attention_mask"].astype(np.int64)
        if key is None:
            return encoded
        _ENCODED[key] = encoded
        while len(_ENCODED) > ENCODINGS_KEPT:
            _ENCODED.popitem(last=False)
    return tuple(a.copy() for a in _ENCODED[key])


ENCODINGS_KEPT = 4                # (train, test) of two tokenizers or splits; 11 MB each on quick
_ENCODED: OrderedDict = OrderedDict()


def _encoding_key(tokenizer, texts, max_len: int) -> str | None:
    """What an encoding depends on: a fast tokenizer's serialised pipeline (vocabulary, normaliser,
    pre-tokeniser, post-processor; not its truncation and padding, which every call sets from its
    own arguments), the wrapper's padding and truncation sides and pad token,
    ``max_len`` and every text.  None (not kept) for a tokenizer without a serialisable pipeline."""
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is None or not hasattr(backend, "to_str"):
        return None
    pipeline = json.loads(backend.to_str())
    for call_setting in ("truncation", "padding"):        # set by each call from its arguments (max_len)
        pipeline.pop(call_setting, None)
    settings = {"class": type(tokenizer).__name__, "pipeline": pipeline, "max_len": int(max_len),
                "pad": getattr(tokenizer, "pad_token_id", None), "padding_side": getattr(tokenizer, "padding_side", None),
                "truncation_side": getattr(tokenizer, "truncation_side", None)}
    return cache_key({"tokenizer": text_fingerprint([json.dumps(settings, sort_keys=True, default=str)]),
                      "texts": text_fingerprint(texts)})


def load_split(profile: Any, data_dir: str | os.PathLike | None = None, fewrel_file: str | None = None) -> FewRelSplit:
    """The FewRel split a profile asks for: its file (or ``fewrel_file``), sizes, seed and markers."""
    path = fewrel_path(fewrel_file or profile.fewrel_file, data_dir)
    data = load_fewrel(path)
    if len(data) < MIN_RELATIONS:
        raise DataError(
            f"FewRel file {path} holds {len(data)} relation ({', '.join(sorted(data))}); relation "
            f"classification needs at least {MIN_RELATIONS} (one relation gives accuracy 1.0 and "
            f"meaningless claims). Use a file with several relations, such as val_wiki.json."
        )
    names = load_relation_names(data_dir, sorted(data))
    return split_fewrel(
        data,
        n_train=profile.n_train_per_relation,
        n_test=profile.n_test_per_relation,
        seed=profile.seed,
        entity_markers=profile.entity_markers,
        names=names,
    )
