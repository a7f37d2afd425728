"""ssb.fewrel: seeded per-relation splits, entity markers, relation names."""
from __future__ import annotations

import json
import os
import warnings
from pathlib import Path

import numpy as np
import pytest

from ssb import data
from ssb.data import DataError, load_relation_names
from ssb.fewrel import FewRelSplit, instance_text, load_split, split_fewrel
from ssb.profiles import get_profile

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def data_offline(monkeypatch):
    """Every test starts offline, so nothing touches the network."""
    monkeypatch.setenv("SSB_OFFLINE", "1")
    monkeypatch.setattr(data, "_network_cache", None)


def make_instance(tokens: list[str], head: list[int], tail: list[int]) -> dict:
    return {"tokens": tokens, "h": ["h", "Q1", [head]], "t": ["t", "Q2", [tail]]}


def make_data(n_relations: int = 3, n_instances: int = 20) -> dict[str, list[dict]]:
    """Relations P<r> whose instances have unique sentences "r<r> i<i> ..."."""
    return {
        f"P{r}": [make_instance([f"r{r}", f"i{i}", "x", "y"], [0], [2]) for i in range(n_instances)]
        for r in (5, 17, 2)[:n_relations]
    }


# ---------------------------------------------------------------------------
# splits
# ---------------------------------------------------------------------------

def test_split_sizes_labels_and_order():
    split = split_fewrel(make_data(), n_train=12, n_test=5, seed=0)
    assert isinstance(split, FewRelSplit)
    assert split.relation_ids == ["P17", "P2", "P5"] and split.label_names == split.relation_ids
    assert split.n_labels() == 3
    assert len(split.train_texts) == 36 and len(split.test_texts) == 15
    assert split.train_labels.dtype == np.int64 and split.test_labels.dtype == np.int64
    assert np.bincount(split.train_labels).tolist() == [12, 12, 12]
    assert np.bincount(split.test_labels).tolist() == [5, 5, 5]
    for texts, labels in ((split.train_texts, split.train_labels), (split.test_texts, split.test_labels)):
        for text, label in zip(texts, labels):
            assert text.startswith(f"r{split.relation_ids[label][1:]} ")


def test_split_deterministic_disjoint_and_seeded():
    dataset = make_data()
    a = split_fewrel(dataset, 12, 5, seed=3)
    b = split_fewrel(dataset, 12, 5, seed=3)
    assert a.train_texts == b.train_texts and a.test_texts == b.test_texts
    assert not set(a.train_texts) & set(a.test_texts)
    c = split_fewrel(dataset, 12, 5, seed=4)
    assert c.train_texts != a.train_texts
    # the shuffle of one relation does not depend on the other relations
    alone = split_fewrel({"P17": dataset["P17"]}, 12, 5, seed=3)
    assert alone.train_texts == a.train_texts[:12]  # P17 is label 0 in both


def test_split_too_few_instances():
    dataset = make_data(n_instances=20)
    dataset["P2"] = dataset["P2"][:16]
    with pytest.raises(DataError) as err:
        split_fewrel(dataset, n_train=12, n_test=5, seed=0)
    message = str(err.value)
    assert "'P2'" in message and "16 instances" in message and "12 train + 5 test = 17" in message


def test_split_uses_names_and_markers():
    names = {"P2": "two", "P5": "five", "P17": "seventeen"}
    split = split_fewrel(make_data(), 2, 1, seed=0, entity_markers=True, names=names)
    assert split.label_names == ["seventeen", "two", "five"]
    assert all(t.split()[0] == "@" and t.split()[4] == "#" for t in split.train_texts)


# ---------------------------------------------------------------------------
# entity markers
# ---------------------------------------------------------------------------

TOKENS = ["The", "Cape", "Girardeau", "Bridge", "crosses", "the", "Mississippi", "River", "."]


def test_instance_text_plain():
    assert instance_text(make_instance(TOKENS, [1, 2, 3], [6, 7])) == " ".join(TOKENS)


@pytest.mark.parametrize(
    "head, tail, expected",
    [
        ([1, 2, 3], [6, 7], "The @ Cape Girardeau Bridge @ crosses the # Mississippi River # ."),
        ([6, 7], [1, 2, 3], "The # Cape Girardeau Bridge # crosses the @ Mississippi River @ ."),
        ([0], [8], "@ The @ Cape Girardeau Bridge crosses the Mississippi River # . #"),
        ([1, 2, 3], [4], "The @ Cape Girardeau Bridge @ # crosses # the Mississippi River ."),
        ([4], [1, 2, 3], "The # Cape Girardeau Bridge # @ crosses @ the Mississippi River ."),
        ([1, 2, 3], [2], "The @ Cape # Girardeau # Bridge @ crosses the Mississippi River ."),
        ([3], [1, 2, 3], "The # Cape Girardeau @ Bridge @ # crosses the Mississippi River ."),
        ([6, 7], [6, 7], "The Cape Girardeau Bridge crosses the @ # Mississippi River # @ ."),
    ],
    ids=["head-first", "tail-first", "sentence-ends", "adjacent", "adjacent-tail-first",
         "tail-inside-head", "shared-end", "same-span"],
)
def test_instance_text_markers(head, tail, expected):
    assert instance_text(make_instance(TOKENS, head, tail), entity_markers=True) == expected


def test_instance_text_uses_first_mention():
    instance = make_instance(TOKENS, [6, 7], [1, 2, 3])
    instance["h"][2].append([0])
    assert instance_text(instance, entity_markers=True).startswith("The # Cape")


# ---------------------------------------------------------------------------
# relation names
# ---------------------------------------------------------------------------

def write_pid2name(root: Path) -> Path:
    (root / "fewrel").mkdir(parents=True, exist_ok=True)
    path = root / "fewrel" / "pid2name.json"
    path.write_text(json.dumps({"P2": ["two", "the second"], "P5": ["five", "the fifth"]}))
    return root


def test_relation_names_present(tmp_path):
    root = write_pid2name(tmp_path)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert load_relation_names(root, ["P5", "P2"]) == {"P5": "five", "P2": "two"}
    assert load_relation_names(root) == {"P2": "two", "P5": "five"}


def test_relation_names_partly_unknown_warns(tmp_path):
    root = write_pid2name(tmp_path)
    with pytest.warns(UserWarning, match="P99"):
        assert load_relation_names(root, ["P2", "P99"]) == {"P2": "two", "P99": "P99"}


def test_relation_names_all_unknown_is_one_note_not_an_error(tmp_path):
    """FewRel 2.0's domain-adaptation files name relations by text: they are named by their ids."""
    root = write_pid2name(tmp_path)
    ids = ["biological_process_involves_gene_product", "gene_plays_role_in_process", "P99"]
    with pytest.warns(UserWarning) as caught:
        assert load_relation_names(root, ids) == {rid: rid for rid in ids}
    notes = [str(w.message) for w in caught]
    assert len(notes) == 1 and "3 of the 3 relation ids" in notes[0] and "named by their ids" in notes[0]


def test_relation_names_without_file(tmp_path):
    assert load_relation_names(tmp_path, ["P1", "P2"]) == {"P1": "P1", "P2": "P2"}
    assert load_relation_names(tmp_path) == {}


# ---------------------------------------------------------------------------
# load_split
# ---------------------------------------------------------------------------

def test_load_split_from_data_dir(tmp_path):
    root = write_pid2name(tmp_path)
    (root / "fewrel" / "val_wiki.json").write_text(json.dumps(make_data()))
    profile = get_profile("smoke", entity_markers=True, n_train_per_relation=4, n_test_per_relation=2)
    with pytest.warns(UserWarning, match="P17"):
        split = load_split(profile, data_dir=root)
    assert split.label_names == ["P17", "two", "five"]
    assert len(split.train_texts) == 12 and len(split.test_texts) == 6
    assert split.train_texts[0].startswith("@ r17 @ ")
    other = tmp_path / "other.json"
    other.write_text(json.dumps({"P2": make_data()["P2"], "P5": make_data()["P5"]}))
    assert load_split(profile, data_dir=root, fewrel_file=str(other)).relation_ids == ["P2", "P5"]


def test_load_split_refuses_a_single_relation(tmp_path):
    single = tmp_path / "single.json"
    single.write_text(json.dumps({"P2": make_data()["P2"]}))
    profile = get_profile("smoke", n_train_per_relation=4, n_test_per_relation=2)
    with pytest.raises(DataError, match=r"single\.json holds 1 relation \(P2\).*at least 2"):
        load_split(profile, data_dir=tmp_path, fewrel_file=str(single))


def test_load_split_text_named_relations_with_pid2name(tmp_path):
    """A FewRel-format file keyed by relation names (not Wikidata ids) loads with the usual
    data directory (pid2name.json present): labels are the names, one note."""
    root = write_pid2name(tmp_path)
    data = make_data()
    texts = {"located in": data["P17"], "part of": data["P2"], "founded by": data["P5"]}
    path = root / "fewrel" / "val_pubmed_like.json"
    path.write_text(json.dumps(texts))
    profile = get_profile("smoke", n_train_per_relation=4, n_test_per_relation=2)
    with pytest.warns(UserWarning, match="named by their ids"):
        split = load_split(profile, data_dir=root, fewrel_file="val_pubmed_like.json")
    assert split.label_names == ["founded by", "located in", "part of"] == split.relation_ids
    assert len(split.train_texts) == 12 and set(split.train_labels.tolist()) == {0, 1, 2}


def test_load_split_missing_file_offline(tmp_path):
    with pytest.raises(DataError, match=r"FewRel file val_wiki\.json not found in .*offline"):
        load_split(get_profile("smoke"), data_dir=tmp_path)


def _shared() -> Path | None:
    for candidate in (os.environ.get("SSB_DATA_DIR", ""), str(REPO.parent / "shared" / "data")):
        if candidate and (Path(candidate) / "fewrel" / "val_wiki.json").is_file():
            return Path(candidate)
    return None


@pytest.mark.skipif(_shared() is None, reason="offline FewRel copy not found ($SSB_DATA_DIR or ../shared/data)")
def test_load_split_real_val_wiki():
    split = load_split(get_profile("quick", entity_markers=True), data_dir=_shared())
    assert split.n_labels() == 16 and len(split.train_texts) == 16 * 630 and len(split.test_texts) == 16 * 70
    assert split.label_names[split.relation_ids.index("P177")] == "crosses"
    assert all(t.split().count("@") >= 2 and t.split().count("#") >= 2 for t in split.train_texts)


class _CountingTokenizer:
    """A tokenizer that counts its calls (the encodings ``encode_sentences`` actually makes)."""

    def __init__(self, tok):
        self.tok, self.calls = tok, 0
        self.backend_tokenizer, self.pad_token_id = tok.backend_tokenizer, tok.pad_token_id
        self.padding_side, self.truncation_side = tok.padding_side, tok.truncation_side

    def __call__(self, *args, **kwargs):
        self.calls += 1
        return self.tok(*args, **kwargs)


def test_encode_sentences_encodes_the_same_sentences_once_per_tokenizer():
    from ssb import fewrel
    from ssb.tokenizer import train_wordpiece
    corpus = ["the cat sat on the mat", "a dog ran in the park", "the bird sang a song"] * 20
    texts = ["the cat ran in the park", "a bird sat on the dog", "the mat sang"]
    tok = _CountingTokenizer(train_wordpiece(corpus, 120))
    direct = tok.tok(texts, max_length=8, truncation=True, padding="max_length", return_tensors="np")
    ids, am = fewrel.encode_sentences(tok, texts, 8)
    np.testing.assert_array_equal(ids, direct["input_ids"])
    np.testing.assert_array_equal(am, direct["attention_mask"])
    ids[:] = -1                                                        # the caller's copy, not the kept one
    again = fewrel.encode_sentences(_CountingTokenizer(train_wordpiece(corpus, 120)), texts, 8)  # same pipeline
    np.testing.assert_array_equal(again[0], direct["input_ids"])
    assert tok.calls == 1
    # another length, other texts or another vocabulary: encoded anew, never read from another's entry
    assert fewrel.encode_sentences(tok, texts, 6)[0].shape == (3, 6) and tok.calls == 2
    fewrel.encode_sentences(tok, texts[:2], 8)
    assert tok.calls == 3
    other = _CountingTokenizer(train_wordpiece(corpus[:1] * 5, 40))
    mine = other.tok(texts, max_length=8, truncation=True, padding="max_length", return_tensors="np")["input_ids"]
    assert not np.array_equal(mine, direct["input_ids"])
    np.testing.assert_array_equal(fewrel.encode_sentences(other, texts, 8)[0], mine)
    assert other.calls == 1
