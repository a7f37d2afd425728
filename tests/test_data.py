"""ssb.data: data directory, network probe, WikiText parsing, downloads, FewRel validation."""
from __future__ import annotations

import functools
import hashlib
import http.server
import json
import re
import os
import socket
import sys
import threading
import types
from pathlib import Path

import pytest

import ssb
from ssb import data
from ssb.data import DataError

REPO = Path(__file__).resolve().parents[1]


def shared_data_dir() -> Path | None:
    """The offline data copies ($SSB_DATA_DIR or ../shared/data), or None."""
    for candidate in (os.environ.get("SSB_DATA_DIR", ""), str(REPO.parent / "shared" / "data")):
        if candidate and Path(candidate).is_dir():
            return Path(candidate)
    return None


SHARED = shared_data_dir()
needs_shared = pytest.mark.skipif(SHARED is None, reason="offline data copies not found ($SSB_DATA_DIR or ../shared/data)")


@pytest.fixture(autouse=True)
def data_offline(monkeypatch):
    """Every test starts offline with a fresh network cache, so nothing touches the network."""
    monkeypatch.setenv("SSB_OFFLINE", "1")
    monkeypatch.setattr(data, "_network_cache", None)


# ---------------------------------------------------------------------------
# data directory and network probe
# ---------------------------------------------------------------------------

def test_resolve_data_dir_order(monkeypatch, tmp_path):
    monkeypatch.setenv("SSB_DATA_DIR", str(tmp_path / "env"))
    assert data.resolve_data_dir(tmp_path / "arg") == tmp_path / "arg"
    assert data.resolve_data_dir() == tmp_path / "env"
    assert data.resolve_data_dir("") == tmp_path / "env"
    monkeypatch.delenv("SSB_DATA_DIR")
    checkout = Path(ssb.__file__).resolve().parents[2]
    expected = checkout / "data" if (checkout / "pyproject.toml").is_file() else Path.cwd() / "data"
    assert data.resolve_data_dir() == expected
    monkeypatch.setenv("HOME", str(tmp_path))
    assert data.resolve_data_dir("~/d") == tmp_path / "d"
    monkeypatch.chdir(tmp_path)
    assert data.resolve_data_dir("rel").is_absolute()


def test_network_available_respects_offline_env(monkeypatch):
    def fail(*args, **kwargs):
        raise AssertionError("must not probe the network when offline is requested")

    monkeypatch.setattr(socket, "create_connection", fail)
    assert data.network_available() is False
    monkeypatch.delenv("SSB_OFFLINE")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert data.network_available() is False


def test_network_available_probes_once(monkeypatch):
    monkeypatch.delenv("SSB_OFFLINE")
    for var in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE"):
        monkeypatch.delenv(var, raising=False)
    calls = []

    def refuse(address, timeout):
        calls.append((address, timeout))
        raise OSError("unreachable")

    monkeypatch.setattr(socket, "create_connection", refuse)
    assert data.network_available(timeout=0.5) is False
    assert data.network_available() is False
    assert calls == [(("github.com", 443), 0.5)]

    class Conn:
        def close(self):
            pass

    monkeypatch.setattr(data, "_network_cache", None)
    monkeypatch.setattr(socket, "create_connection", lambda address, timeout: Conn())
    assert data.network_available() is True


# ---------------------------------------------------------------------------
# WikiText
# ---------------------------------------------------------------------------

VALID = """
 = First Article = 

 Alpha beta gamma . 
 The 2 @,@ 000 pound well @-@ known <unk> cost 1 @.@ 5 dollars . 

 = = Section = = 

 Delta epsilon . 
 = 1 rad / s and a nominal impedance k = 
 zeta eta . 

 = = = Subsection = = = 

 Theta . 

 = Second Article = 

 Iota kappa lambda mu . 

"""

TEST = """
 = Third Article = 

 Nu xi . 

 = Title Only = 

"""


def write_wikitext(root: Path, valid: str = VALID, test: str = TEST) -> Path:
    folder = root / "wikitext-103"
    folder.mkdir(parents=True)
    (folder / "wiki.valid.tokens").write_text(valid, encoding="utf-8")
    (folder / "wiki.test.tokens").write_text(test, encoding="utf-8")
    return root


def test_wikitext_articles_headings_and_escapes(tmp_path):
    articles = data.load_corpus("wikitext103", write_wikitext(tmp_path))
    assert articles == [
        "Alpha beta gamma .\n"
        "The 2,000 pound well-known <unk> cost 1.5 dollars .\n"
        "Delta epsilon .\n"
        "= 1 rad / s and a nominal impedance k =\n"   # not a heading: no blank lines around it
        "zeta eta .\n"
        "Theta .",
        "Iota kappa lambda mu .",
        "Nu xi .",                                     # test file follows validation
    ]


def test_wikitext_n_articles_and_max_words(tmp_path):
    root = write_wikitext(tmp_path)
    assert data.load_corpus("wikitext103", root, n_articles=2)[-1] == "Iota kappa lambda mu ."
    assert len(data.load_corpus("wikitext103", root, n_articles=1)) == 1
    # whole paragraphs: stop after the paragraph at which the count reaches max_words
    assert data.load_corpus("wikitext103", root, max_words=4) == ["Alpha beta gamma ."]
    assert data.load_corpus("wikitext103", root, max_words=5) == [
        "Alpha beta gamma .\nThe 2,000 pound well-known <unk> cost 1.5 dollars ."
    ]
    assert len(data.load_corpus("wikitext103", root, max_words=32)) == 1   # first article: 32 words
    two = data.load_corpus("wikitext103", root, max_words=33)
    assert len(two) == 2 and two[1] == "Iota kappa lambda mu ."


def test_wikitext_empty_corpus_names_files(tmp_path):
    root = write_wikitext(tmp_path, valid="\n = Only Title = \n\n", test="\n\n")
    with pytest.raises(DataError, match="wiki.valid.tokens") as err:
        data.load_corpus("wikitext103", root)
    assert "wiki.test.tokens" in str(err.value)


def test_wikitext_missing_offline(tmp_path, monkeypatch):
    monkeypatch.setattr(data, "network_available", lambda timeout=3.0: False)
    (tmp_path / "wikitext-103").mkdir()
    (tmp_path / "wikitext-103" / "wiki.valid.tokens").write_text(VALID)
    with pytest.raises(DataError) as err:
        data.load_corpus("wikitext103", tmp_path)
    message = str(err.value)
    assert "wiki.test.tokens" in message and "wiki.valid.tokens" in message
    assert str(tmp_path / "wikitext-103") in message
    assert ("set SSB_DATA_DIR, --data-dir (run_all.sh, python -m ssb.runner) or the notebooks' data_dir "
            "parameter to a directory containing wikitext-103/wiki.valid.tokens") in message


def test_wikitext_missing_online_uses_datasets(tmp_path, monkeypatch):
    """Online, the same lines come from Salesforce/wikitext (rows end with a newline)."""
    calls = []

    def load_dataset(name, config, split):
        calls.append((name, config, split))
        text = VALID if split == "validation" else TEST
        return [{"text": line + "\n" if line else ""} for line in text.split("\n")]

    monkeypatch.setitem(sys.modules, "datasets", types.SimpleNamespace(load_dataset=load_dataset))
    monkeypatch.setattr(data, "network_available", lambda timeout=3.0: True)
    online = data.load_corpus("wikitext103", tmp_path)
    assert calls == [("Salesforce/wikitext", "wikitext-103-v1", "validation"),
                     ("Salesforce/wikitext", "wikitext-103-v1", "test")]
    assert online == data.load_corpus("wikitext103", write_wikitext(tmp_path / "local"))


def test_other_corpora(tmp_path, monkeypatch):
    monkeypatch.setattr(data, "network_available", lambda timeout=3.0: False)
    with pytest.raises(DataError, match="network") as err:
        data.load_corpus("wikipedia", tmp_path, n_articles=10)
    message = str(err.value)          # names the local layout and every way to set the data directory
    assert str(tmp_path / "wikipedia") in message and "save_to_disk" in message and "*.txt" in message
    assert "SSB_DATA_DIR" in message and "--data-dir" in message and "data_dir parameter" in message
    with pytest.raises(ValueError, match="unknown corpus"):
        data.load_corpus("books", tmp_path)


# ---------------------------------------------------------------------------
# local Wikipedia copies and a local bert-base-uncased (machines without network)
# ---------------------------------------------------------------------------

WIKI_ARTICLES = [f"Article {i} first paragraph about topic {i}.\nSecond paragraph {i} with more words." for i in range(7)]


def stage_wikipedia(root: Path, layout: str) -> Path:
    """A tiny <root>/wikipedia/ in one of the three layouts load_corpus reads offline."""
    folder = root / "wikipedia"
    rows = {"id": [str(i) for i in range(len(WIKI_ARTICLES))], "title": [f"T{i}" for i in range(len(WIKI_ARTICLES))],
            "text": WIKI_ARTICLES}
    if layout == "save_to_disk":
        import datasets
        datasets.Dataset.from_dict(rows).save_to_disk(str(folder))
    elif layout == "parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq
        (folder / "20231101.en").mkdir(parents=True)
        table = pa.table(rows)
        pq.write_table(table.slice(0, 4), folder / "20231101.en" / "train-00000-of-00002.parquet")
        pq.write_table(table.slice(4), folder / "20231101.en" / "train-00001-of-00002.parquet")
    else:
        folder.mkdir(parents=True)
        for i, text in enumerate(WIKI_ARTICLES):
            (folder / f"{i:03d}.txt").write_text(text + "\n", encoding="utf-8")
    return root


@pytest.mark.parametrize("layout", ["save_to_disk", "parquet", "text"])
def test_wikipedia_local_copy_in_each_layout(tmp_path, layout, monkeypatch):
    """Every layout gives the same articles (same seeded choice), offline, without touching the network."""
    root = stage_wikipedia(tmp_path, layout)
    monkeypatch.setattr(data, "network_available", lambda timeout=3.0: pytest.fail("network probed"))
    every = data.load_corpus("wikipedia", root)
    assert sorted(every) == sorted(WIKI_ARTICLES)                      # paragraphs joined by newlines
    some = data.load_corpus("wikipedia", root, n_articles=3, seed=5)
    assert len(some) == 3 and set(some) <= set(WIKI_ARTICLES)
    assert some == data.load_corpus("wikipedia", root, n_articles=3, seed=5)          # deterministic
    assert some == data.load_corpus("wikipedia", stage_wikipedia(tmp_path / "txt", "text"), n_articles=3, seed=5)
    assert data.load_corpus("wikipedia", root, n_articles=3, seed=6) != some


def test_wikipedia_local_folder_in_no_known_layout(tmp_path):
    (tmp_path / "wikipedia").mkdir()
    (tmp_path / "wikipedia" / "notes.md").write_text("nothing")
    with pytest.raises(DataError, match="no Wikipedia copy in a known layout") as err:
        data.load_corpus("wikipedia", tmp_path, n_articles=3)
    assert "parquet" in str(err.value) and "save_to_disk" in str(err.value)


def stage_bert_tokenizer(root: Path) -> Path:
    """<root>/bert-base-uncased/ with a tiny vocab.txt (a stand-in for the real 30,522 entries)."""
    from transformers import BertTokenizerFast
    folder = root / "bert-base-uncased"
    folder.mkdir(parents=True)
    words = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "article", "paragraph", "topic", "first", "second",
             "about", "with", "more", "words", "."] + [str(i) for i in range(10)]
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers
    backend = Tokenizer(models.WordPiece({w: i for i, w in enumerate(words)}, unk_token="[UNK]"))
    backend.normalizer = normalizers.BertNormalizer(lowercase=True)
    backend.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    BertTokenizerFast(tokenizer_object=backend, unk_token="[UNK]", pad_token="[PAD]", cls_token="[CLS]",
                      sep_token="[SEP]", mask_token="[MASK]", do_lower_case=True).save_pretrained(str(folder))
    return folder


def test_bert_base_uncased_from_the_data_directory(tmp_path, monkeypatch):
    from ssb.tokenizer import load_bert_base_uncased
    folder = stage_bert_tokenizer(tmp_path)
    tok = load_bert_base_uncased(allow_download=False, data_dir=tmp_path)
    assert len(tok) == 25 and tok.convert_tokens_to_ids("topic") == 7
    (folder / "tokenizer.json").unlink()
    with pytest.raises(FileNotFoundError, match="snapshot_download"):
        load_bert_base_uncased(allow_download=False, data_dir=tmp_path)


def test_paper_corpus_from_a_staged_directory_offline(tmp_path, monkeypatch):
    """The paper profile's corpus step with no network: local Wikipedia and local bert-base-uncased."""
    from ssb import corpus
    from ssb.profiles import get_profile
    root = stage_wikipedia(tmp_path / "data", "parquet")
    stage_bert_tokenizer(root)
    monkeypatch.setenv("SSB_OUTPUT_DIR", str(tmp_path / "out"))
    monkeypatch.setattr(data, "network_available", lambda timeout=3.0: pytest.fail("network probed"))
    monkeypatch.setattr(corpus, "network_available", lambda timeout=3.0: False)
    profile = get_profile("paper", n_articles=5, eval_fraction=0.2)
    c = corpus.prepare(profile, root, progress=False)
    assert c.stats["articles"] == 5 and c.stats["vocab_size"] == 25
    assert c.train_sequences.shape[1] == 128 and len(c.train_sequences) + len(c.eval_sequences) == 5


@needs_shared
def test_real_wikitext():
    valid = data.load_corpus("wikitext103", SHARED, n_articles=60)
    everything = data.load_corpus("wikitext103", SHARED)
    # WikiText-103 has 60 validation and 60 test articles; the two " = ... = " lines inside a
    # test-set paragraph (Constant k filter) are not headings.
    assert len(everything) == 120
    assert valid[0].startswith("Homarus gammarus , known as the European lobster")
    assert 400_000 < sum(len(a.split()) for a in everything) < 460_000
    assert not any("@-@" in a or "\n\n" in a for a in everything)
    small = data.load_corpus("wikitext103", SHARED, max_words=60_000)
    assert 60_000 <= sum(len(a.split()) for a in small) < 62_000


# ---------------------------------------------------------------------------
# downloads against a local HTTP server
# ---------------------------------------------------------------------------

@pytest.fixture
def data_http_server(tmp_path, monkeypatch):
    """Serve tmp_path/served on 127.0.0.1; yields (base url, served directory)."""
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    served = tmp_path / "served"
    served.mkdir()

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(served)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", served
    server.shutdown()
    server.server_close()


def test_download_verifies_sha256(data_http_server, tmp_path):
    base, served = data_http_server
    payload = b'{"P1": []}' * 1000
    (served / "file.json").write_bytes(payload)
    good = hashlib.sha256(payload).hexdigest()
    out = tmp_path / "out"

    dest = data.download(f"{base}/file.json", out / "file.json", good, timeout=5)
    assert dest.read_bytes() == payload

    with pytest.raises(DataError) as err:
        data.download(f"{base}/file.json", out / "bad.json", "0" * 64, timeout=5)
    assert "0" * 64 in str(err.value) and good in str(err.value)
    assert sorted(p.name for p in out.iterdir()) == ["file.json"]   # no bad.json, no temp file

    with pytest.warns(UserWarning, match="no pinned sha256"):
        data.download(f"{base}/file.json", out / "unpinned.json", None, timeout=5)
    assert (out / "unpinned.json").read_bytes() == payload


def test_download_network_error(data_http_server, tmp_path):
    base, _ = data_http_server
    with pytest.raises(DataError, match="missing.json"):
        data.download(f"{base}/missing.json", tmp_path / "out" / "missing.json", None, timeout=5)
    assert list((tmp_path / "out").iterdir()) == []


def test_fewrel_path_downloads_when_online(data_http_server, tmp_path, monkeypatch):
    base, served = data_http_server
    payload = json.dumps(fewrel_record()).encode()
    (served / "val_wiki.json").write_bytes(payload)
    monkeypatch.setattr(data, "network_available", lambda timeout=3.0: True)
    monkeypatch.setattr(data, "FEWREL_URL", base + "/{name}")
    monkeypatch.setitem(data.FEWREL_SHA256, "val_wiki.json", hashlib.sha256(payload).hexdigest())
    path = data.fewrel_path("val_wiki.json", tmp_path / "d")
    assert path == tmp_path / "d" / "fewrel" / "val_wiki.json" and path.read_bytes() == payload


# ---------------------------------------------------------------------------
# FewRel files
# ---------------------------------------------------------------------------

def fewrel_instance(n_tokens: int = 5, head=(0,), tail=(3, 4)) -> dict:
    return {
        "tokens": [f"w{i}" for i in range(n_tokens)],
        "h": ["head", "Q1", [list(head)]],
        "t": ["tail", "Q2", [list(tail)]],
    }


def fewrel_record(n_relations: int = 2, n_instances: int = 3) -> dict:
    return {f"P{r + 1}": [fewrel_instance() for _ in range(n_instances)] for r in range(n_relations)}


def write_json(path: Path, obj) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj))
    return path


def test_fewrel_path_lookup(tmp_path, monkeypatch):
    monkeypatch.setattr(data, "network_available", lambda timeout=3.0: False)
    explicit = write_json(tmp_path / "elsewhere" / "mine.json", fewrel_record())
    assert data.fewrel_path(explicit) == explicit
    monkeypatch.chdir(tmp_path)
    assert data.fewrel_path("elsewhere/mine.json") == explicit
    in_dir = write_json(tmp_path / "d" / "fewrel" / "val_wiki.json", fewrel_record())
    assert data.fewrel_path("val_wiki.json", tmp_path / "d") == in_dir
    with pytest.raises(DataError, match=r"nowhere/val_wiki\.json not found"):
        data.fewrel_path("nowhere/val_wiki.json", tmp_path / "d")


def test_fewrel_path_missing_offline(tmp_path, monkeypatch):
    monkeypatch.setattr(data, "network_available", lambda timeout=3.0: False)
    with pytest.raises(DataError) as err:
        data.fewrel_path("train_wiki.json", tmp_path)
    message = str(err.value)
    assert f"FewRel file train_wiki.json not found in {tmp_path / 'fewrel'}; offline" in message
    assert "github.com/thunlp/FewRel (data/train_wiki.json)" in message and "SSB_DATA_DIR" in message
    assert not (tmp_path / "fewrel").exists()


def test_load_fewrel_valid(tmp_path):
    record = fewrel_record()
    assert data.load_fewrel(write_json(tmp_path / "f.json", record)) == record


@pytest.mark.parametrize(
    "mutate, expected",
    [
        (lambda r: r["P2"][1].pop("tokens"), "lacks key(s) ['tokens']"),
        (lambda r: r["P2"][1].pop("h"), "lacks key(s) ['h']"),
        (lambda r: r["P2"][1].pop("t"), "lacks key(s) ['t']"),
        (lambda r: r["P2"][1].update(tokens=[]), "non-empty list of strings"),
        (lambda r: r["P2"][1]["t"][2][0].append(5), "outside the sentence of 5 tokens"),
        (lambda r: r["P2"][1]["h"][2][0].__setitem__(0, -1), "outside the sentence"),
        (lambda r: r["P2"][1].update(h=["x", "Q"]), "[name, id, [[positions"),
        (lambda r: r["P2"][1]["h"][2][0].__setitem__(0, "0"), "not a non-empty list of integers"),
    ],
)
def test_load_fewrel_bad_instance(tmp_path, mutate, expected):
    record = fewrel_record()
    mutate(record)
    path = write_json(tmp_path / "f.json", record)
    with pytest.raises(DataError) as err:
        data.load_fewrel(path)
    message = str(err.value)
    assert str(path) in message and "relation 'P2', instance 1" in message and expected in message


def test_load_fewrel_bad_files(tmp_path):
    broken = tmp_path / "broken.json"
    broken.write_text('{"P1": [\n  {"tokens": ["a"],\n')
    with pytest.raises(DataError, match=r"broken\.json is not valid JSON: .* line 3, column 1"):
        data.load_fewrel(broken)

    listed = write_json(tmp_path / "list.json", [fewrel_instance()])
    with pytest.raises(DataError, match=r"list\.json holds a JSON list, not an object"):
        data.load_fewrel(listed)

    empty = write_json(tmp_path / "empty.json", {"P1": [fewrel_instance()], "P9": []})
    with pytest.raises(DataError, match=r"empty\.json, relation 'P9' has no instances"):
        data.load_fewrel(empty)

    with pytest.raises(DataError, match="nothing.json"):
        data.load_fewrel(tmp_path / "nothing.json")


@needs_shared
def test_real_fewrel_files_match_pins():
    for name in ("val_wiki.json", "pid2name.json"):
        digest = hashlib.sha256((SHARED / "fewrel" / name).read_bytes()).hexdigest()
        assert digest == data.FEWREL_SHA256[name]
    val = data.load_fewrel(data.fewrel_path("val_wiki.json", SHARED, download_missing=False))
    assert len(val) == 16 and {len(v) for v in val.values()} == {700}


# --- issue 23: FewRel input is checked, not trusted -------------------------------------------


def test_load_fewrel_refuses_a_duplicated_relation_id_naming_both(tmp_path):
    one, two = json.dumps([fewrel_instance()] * 3), json.dumps([fewrel_instance()] * 2)
    path = tmp_path / "mine.json"
    path.write_text(f'{{"P1": {one}, "P2": {one}, "P1": {two}}}')    # json.loads would keep the last P1
    with pytest.raises(DataError) as err:
        data.load_fewrel(path)
    message = str(err.value)
    assert "'P1' twice" in message and "entry 1 (3 instances)" in message and "entry 3 (2 instances)" in message
    assert str(path) in message


@pytest.mark.parametrize("tokens, head, problem", [
    (["", "", ""], (0,), "only blank tokens"),
    (["a", " ", "\n", "b"], (1, 2), "'h' span [1, 2] whose tokens are all blank"),
])
def test_load_fewrel_refuses_blank_sentences_and_blank_entities(tmp_path, tokens, head, problem):
    record = fewrel_record()
    record["P2"][1] = {"tokens": tokens, "h": ["x", "Q1", [list(head)]], "t": ["y", "Q2", [[len(tokens) - 1]]]}
    path = write_json(tmp_path / "mine.json", record)
    with pytest.raises(DataError, match=r"relation 'P2', instance 1 has .*" + re.escape(problem)):
        data.load_fewrel(path)


def test_load_fewrel_keeps_sentences_with_some_blank_tokens(tmp_path):
    """FewRel's own val_wiki.json has 178 sentences holding a blank token ('\\xa0', '\\n'): fine."""
    record = fewrel_record()
    record["P1"][0]["tokens"][2] = "\xa0"
    assert data.load_fewrel(write_json(tmp_path / "mine.json", record)) == record


def test_advice_for_a_custom_fewrel_file_points_to_no_upstream_file(tmp_path, monkeypatch):
    monkeypatch.setattr(data, "network_available", lambda timeout=3.0: True)
    broken = tmp_path / "mine.json"
    broken.write_text('{"P1": [')
    with pytest.raises(DataError) as err:
        data.load_fewrel(broken)
    assert "thunlp" not in str(err.value) and "pass another FewRel-format file" in str(err.value)
    with pytest.raises(DataError) as err:                    # not downloaded from a URL that has no such file
        data.fewrel_path("mine_elsewhere.json", tmp_path)
    assert "thunlp" not in str(err.value) and "none of FewRel's own files" in str(err.value)
    official = write_json(tmp_path / "val_wiki.json", {"P1": []})
    with pytest.raises(DataError, match=r"github\.com/thunlp/FewRel, data/val_wiki\.json"):
        data.load_fewrel(official)


def test_fewrel_path_to_a_directory_says_so(tmp_path):
    (tmp_path / "fewrel").mkdir()
    with pytest.raises(DataError, match=r"is a directory, not a FewRel JSON file"):
        data.fewrel_path(tmp_path / "fewrel")
