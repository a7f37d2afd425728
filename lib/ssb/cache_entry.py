"""One cache convention: is this cache entry of this configuration, readable and complete?

Every on-disk cache of the pipeline -- the corpus (``corpus.prepare``), pre-training runs and
their resume checkpoints (``pretrain``), node vectors (``node_vectors.cached_node_vector_entries``),
readouts (``readouts.fit_readout``) and full fine-tuning (``finetune.full_finetune``) -- asks
``check_entry`` before it reuses what is on disk, and gets one of four answers:

    check = check_entry(path, cfg, config_file="corpus_config.json", required=("blocks.npz",),
                        load=read_corpus)
    check.hit                # True: check.value is what ``load`` returned
    check.reason             # otherwise why not, in words:
                             #   absent               "there is no such entry"
                             #   other configuration  "it is of another configuration (differs in: steps, lr)"
                             #   incomplete           "it is incomplete (no blocks.npz)"
                             #   unreadable           "it cannot be read (CacheContentChanged: the content of ...)"

The checks, in order: the entry exists; its recorded configuration (``config_file``, read by
``stored_config``) can be read and equals ``config`` (``subset=True``: every key of ``config``
has the recorded value, the record may hold more, e.g. a run's ``train_seconds``); every
``required`` file is there; the content checksums recorded when it was written
(``atomic.write_checksums``) still hold; ``load(path)`` succeeds.  Configurations are compared in
their JSON form (``cache_keys.canonical``), which is what the record holds.

What a cache does with an entry that is not reused is its own: an unreadable or incomplete one
is usually deleted with a warning (``discard``: one line naming the entry and why, also on the
terminal, ``warn_cache``) and rebuilt; one of another configuration is replaced silently where it
sits at a fixed path (the corpus, a run's ``final/``), and its reason logged (logger
``ssb.cache``, level INFO).  Writing stays atomic (``atomic.atomic_dir`` / ``atomic_path``):
an entry is either complete or absent, unless damaged afterwards.
"""
from __future__ import annotations

import json
import logging
import shutil
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping

from . import atomic
from .cache_keys import canonical

HIT = "hit"
ABSENT = "absent"
OTHER_CONFIGURATION = "other configuration"
INCOMPLETE = "incomplete"
UNREADABLE = "unreadable"

LOG = logging.getLogger("ssb.cache")


class CacheContentChanged(ValueError):
    """A cache file's bytes differ from the checksum recorded when it was written (or the
    checksums themselves are missing or unreadable, so the content cannot be verified)."""


@dataclass(frozen=True)
class EntryCheck:
    """What ``check_entry`` found at ``path``: ``status`` (``HIT``, ``ABSENT``,
    ``OTHER_CONFIGURATION``, ``INCOMPLETE``, ``UNREADABLE``), ``detail`` (which fields differ, what
    is missing, or the error as "Type: message") and, on a hit, ``value`` (what ``load`` returned)."""

    path: Path
    status: str
    detail: str = ""
    value: Any = None

    @property
    def hit(self) -> bool:
        return self.status == HIT

    @property
    def reason(self) -> str:
        """Why the entry is not reused, as a phrase ("it is incomplete (no blocks.npz)"); "" on a hit."""
        return {HIT: "", ABSENT: "there is no such entry",
                OTHER_CONFIGURATION: f"it is of another configuration (differs in: {self.detail})",
                INCOMPLETE: f"it is incomplete ({self.detail})",
                UNREADABLE: f"it cannot be read ({self.detail})"}[self.status]


def differing_fields(stored: Mapping[str, Any], wanted: Mapping[str, Any], *, subset: bool = False) -> list[str]:
    """The keys whose values differ between a recorded configuration and the wanted one, sorted
    (a key present on one side only differs).  ``subset``: only the keys of ``wanted`` count."""
    missing = object()
    keys = set(wanted) if subset else set(wanted) | set(stored)
    return sorted(k for k in keys if stored.get(k, missing) != wanted.get(k, missing))


def verify_checksums(path: str | Path) -> None:
    """CacheContentChanged, saying why, unless every file of ``path``'s ``checksums.json`` still
    has the content recorded when it was written (``atomic.changed_files``)."""
    changed = atomic.changed_files(path)
    if changed == [atomic.CHECKSUMS_FILE]:
        raise CacheContentChanged(f"it has no readable {atomic.CHECKSUMS_FILE} (written before content checksums "
                                  "were recorded, or damaged), so its content cannot be verified")
    if changed:
        raise CacheContentChanged(f"the content of {', '.join(changed)} differs from the checksum recorded when "
                                  "it was written (the file was modified or damaged on disk)")


def _error(err: BaseException) -> str:
    return f"{type(err).__name__}: {err}"


def check_entry(path: str | Path, config: Mapping[str, Any] | None, *, config_file: str | None = None,
                stored_config: Callable[[Any], Mapping[str, Any]] | None = None, subset: bool = False,
                required: Iterable[str] = (), checksums: bool = True,
                load: Callable[[Path], Any] | None = None) -> EntryCheck:
    """Whether the cache entry at ``path`` (a directory, or a single file that ``load`` reads) is
    of configuration ``config`` (None: not compared), complete and readable; see the module
    docstring.  config_file: the JSON record of its configuration inside the directory; None:
    the configuration is read from what ``load`` returned (a single-file entry); stored_config:
    the configuration from that record (default: all of it); subset: only the keys of ``config``
    are compared; required: files (relative paths) that must be there; checksums: verify the
    directory's ``checksums.json``; load: reads the entry (any exception: unreadable)."""
    path = Path(path)
    if not path.exists():
        return EntryCheck(path, ABSENT)
    if config_file is not None:
        record = path / config_file
        if not record.is_file():
            return EntryCheck(path, INCOMPLETE, f"no {config_file}")
        try:
            stored = _configuration(json.loads(record.read_text()), stored_config)
        except Exception as err:  # noqa: BLE001 - truncated JSON, a foreign record
            return EntryCheck(path, UNREADABLE, f"{config_file}: {_error(err)}")
        differ = _differing(stored, config, subset)
        if differ:
            return EntryCheck(path, OTHER_CONFIGURATION, differ)
    missing = [name for name in required if not (path / name).exists()]
    if missing:
        return EntryCheck(path, INCOMPLETE, "no " + ", ".join(missing))
    try:
        if checksums:
            verify_checksums(path)
        value = load(path) if load is not None else None
        stored = _configuration(value, stored_config) if config_file is None and config is not None else None
    except Exception as err:  # noqa: BLE001 - any unreadable part: the entry is not reused
        return EntryCheck(path, UNREADABLE, _error(err))
    differ = _differing(stored, config, subset) if stored is not None else ""
    if differ:
        return EntryCheck(path, OTHER_CONFIGURATION, differ)
    return EntryCheck(path, HIT, value=value)


def _configuration(record: Any, stored_config: Callable[[Any], Mapping[str, Any]] | None) -> Mapping[str, Any]:
    stored = stored_config(record) if stored_config is not None else record
    if not isinstance(stored, Mapping):
        raise ValueError(f"its configuration is a JSON {type(stored).__name__}, not an object")
    return stored


def _differing(stored: Mapping[str, Any], config: Mapping[str, Any] | None, subset: bool) -> str:
    """The fields in which ``stored`` differs from ``config``, comma-separated ("" when none, or
    when there is no configuration to compare with)."""
    if config is None:
        return ""
    return ", ".join(differing_fields(canonical(dict(stored)), canonical(dict(config)), subset=subset))


def warn_cache(message: str, stacklevel: int = 3) -> None:
    """A cache warning, shown where the code runs and also on the terminal: inside a notebook
    kernel the warning lands in the notebook, so it is also written to the process's own stderr
    (the runner's terminal)."""
    import sys

    warnings.warn(message, stacklevel=stacklevel)
    terminal = sys.__stderr__
    if terminal is not None and terminal is not sys.stderr:
        try:
            print(f"warning: {message}", file=terminal, flush=True)
        except (OSError, ValueError):
            pass


def discard(check: EntryCheck, what: str, action: str, *, stacklevel: int = 4) -> None:
    """Act on an entry that is not reused, saying why: unreadable or incomplete, it is deleted
    with a warning ("<what> <path> cannot be read (<detail>); deleted, <action>"); of another
    configuration, the reason is logged (the caller's rebuild replaces it); absent or a hit, nothing."""
    if check.status in (UNREADABLE, INCOMPLETE):
        verb = "cannot be read" if check.status == UNREADABLE else "is incomplete"
        warn_cache(f"{what} {check.path} {verb} ({check.detail}); deleted, {action}", stacklevel=stacklevel)
        if check.path.is_dir() and not check.path.is_symlink():
            shutil.rmtree(check.path, ignore_errors=True)
        else:
            check.path.unlink(missing_ok=True)
    elif check.status == OTHER_CONFIGURATION:
        LOG.info("%s %s not reused: %s; %s", what, check.path, check.reason, action)
