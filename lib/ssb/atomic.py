"""Write files atomically: to a temporary file in the same directory, then rename.

A reader never sees a half-written file, and an interrupted run leaves either the old
file or nothing, never a truncated one.  Concurrent writers of one target are safe: every
temporary name is unique (it holds the writer's process id), a directory swap that loses a
race with another writer is retried, and the last writer wins with a complete copy.

Temporary names look like ``.<target name>.<pid>-<random><suffix>``;
``remove_stale_temporaries`` deletes those whose process is gone (after a SIGKILL).

What is on disk is verified, not trusted: ``write_checksums`` records a content digest of
files (xxh3-128 when ``xxhash`` is installed, else blake2b) and ``changed_files`` names the
ones whose bytes differ now (``python -m ssb.bench cache_check`` measures what it costs).
Shared files that several processes update (``summary.json``) are read, modified and written
inside ``locked(path)``, an advisory lock on ``<dir>/.<name>.lock``, so no update is lost.
"""
from __future__ import annotations

import contextlib
import errno
import json
import os
import re
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any, Iterator

# how often a directory swap that lost a race to another writer is tried again
_SWAP_ATTEMPTS = 200
_TEMPORARY = re.compile(r"^\..+?\.(\d+)-")


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _prefix(path: Path) -> str:
    return f".{path.name}.{os.getpid()}-"


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, suffix: str = "") -> Iterator[Path]:
    """Yield a temporary path next to ``path``; rename it onto ``path`` on success.

    On an exception the temporary file is removed and ``path`` is untouched.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=_prefix(path), suffix=suffix or ".tmp", dir=path.parent)
    os.chmod(tmp, 0o666 & ~_umask())            # mkstemp makes 0600; give the file normal permissions
    os.close(fd)
    tmp = Path(tmp)
    try:
        yield tmp
        os.replace(tmp, path)                   # atomic, also against a concurrent writer's rename
    finally:
        if tmp.exists():
            tmp.unlink()


def _swap_in(tmp: Path, path: Path) -> None:
    """Put directory ``tmp`` at ``path``, replacing what is there; retried when another
    writer swaps its own copy in at the same moment."""
    for attempt in range(_SWAP_ATTEMPTS):
        try:
            os.replace(tmp, path)                # succeeds when path is absent (or an empty directory)
            return
        except OSError as err:
            if err.errno not in (errno.ENOTEMPTY, errno.EEXIST, errno.EISDIR, errno.ENOTDIR):
                raise
        old = Path(tempfile.mkdtemp(prefix=_prefix(path) + "old-", dir=path.parent))
        try:
            os.replace(path, old)                # move the current copy aside (onto the empty dir)
        except FileNotFoundError:
            old.rmdir()                          # another writer moved it first: try again
        except OSError:
            old.rmdir()
            time.sleep(0.001 * (attempt + 1))
            continue
        else:
            shutil.rmtree(old, ignore_errors=True)
    raise OSError(f"could not replace {path} after {_SWAP_ATTEMPTS} attempts (concurrent writers)")


@contextlib.contextmanager
def atomic_dir(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary directory next to ``path``; swap it into place on success."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=_prefix(path), dir=path.parent))
    os.chmod(tmp, 0o777 & ~_umask())
    try:
        yield tmp
        _swap_in(tmp, path)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)


def _process_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:                      # someone else's process
        return True
    return True


def remove_stale_temporaries(directory: str | os.PathLike, pattern: str = ".*") -> list[Path]:
    """Delete the temporary files and directories matching ``pattern`` (a glob of hidden names)
    in ``directory`` that no running process writes: those whose name holds the id of a process
    that is gone, and those of the older naming without a process id.  Returns what was deleted."""
    directory = Path(directory)
    removed: list[Path] = []
    if not directory.is_dir():
        return removed
    for entry in sorted(directory.glob(pattern)):
        if not entry.name.startswith("."):
            continue
        match = _TEMPORARY.match(entry.name)
        if match and _process_alive(int(match.group(1))):
            continue
        try:
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
            else:
                entry.unlink()
            removed.append(entry)
        except FileNotFoundError:
            pass
    return removed


def write_bytes(path: str | os.PathLike, data: bytes) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def write_text(path: str | os.PathLike, text: str) -> None:
    write_bytes(path, text.encode("utf-8"))


def write_json(path: str | os.PathLike, obj: Any) -> None:
    """Canonical JSON (sorted keys, 2-space indent, trailing newline), written atomically."""
    write_text(path, json.dumps(obj, indent=2, sort_keys=True, allow_nan=True) + "\n")


# ----------------------------------------------------------------------------- content checksums

CHECKSUMS_FILE = "checksums.json"
_HASH_CHUNK = 8 << 20


def digest_algorithm() -> str:
    """The content digest in use: "xxh3_128" (fast, when the xxhash package is installed), else "blake2b"."""
    try:
        import xxhash  # noqa: F401
    except ImportError:
        return "blake2b"
    return "xxh3_128"


def _hasher(algorithm: str):
    if algorithm == "xxh3_128":
        import xxhash
        return xxhash.xxh3_128()
    if algorithm == "blake2b":
        import hashlib
        return hashlib.blake2b(digest_size=16)
    raise ValueError(f"unknown digest algorithm {algorithm!r}")


def file_digest(path: str | os.PathLike, algorithm: str | None = None) -> str:
    """The content digest of every byte of ``path``."""
    h = _hasher(algorithm or digest_algorithm())
    with open(path, "rb") as f:
        while chunk := f.read(_HASH_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def write_checksums(directory: str | os.PathLike, names: list[str]) -> Path:
    """Record the digest of each file ``names`` of ``directory`` in ``directory/checksums.json``."""
    directory = Path(directory)
    algorithm = digest_algorithm()
    record = {"algorithm": algorithm, "files": {n: file_digest(directory / n, algorithm) for n in sorted(names)}}
    write_json(directory / CHECKSUMS_FILE, record)
    return directory / CHECKSUMS_FILE


def changed_files(directory: str | os.PathLike) -> list[str]:
    """The files of ``directory`` whose bytes differ from its ``checksums.json`` (missing files
    included); ``[CHECKSUMS_FILE]`` when that record is missing or unreadable; [] when all match."""
    directory = Path(directory)
    try:
        record = json.loads((directory / CHECKSUMS_FILE).read_text())
        algorithm, files = record["algorithm"], dict(record["files"])
        _hasher(algorithm)
    except (OSError, ValueError, KeyError, TypeError):
        return [CHECKSUMS_FILE]
    changed = []
    for name, digest in sorted(files.items()):
        try:
            if file_digest(directory / name, algorithm) != digest:
                changed.append(name)
        except OSError:
            changed.append(name)
    return changed


def _json_digest(obj: Any) -> str:
    h = _hasher(digest_algorithm())
    h.update(json.dumps(obj, sort_keys=True, allow_nan=True).encode())
    return f"{digest_algorithm()}:{h.hexdigest()}"


def write_json_verified(path: str | os.PathLike, obj: Any) -> None:
    """Write ``obj`` as JSON with a digest of its content (``read_json_verified`` checks it)."""
    write_json(path, {"content": obj, "digest": _json_digest(obj)})


def read_json_verified(path: str | os.PathLike) -> Any:
    """The content written by ``write_json_verified``; ValueError naming the file when it has no
    digest (written before digests were recorded) or its content no longer matches it."""
    record = json.loads(Path(path).read_text())
    if not isinstance(record, dict) or "digest" not in record or "content" not in record:
        raise ValueError(f"{path} records no content digest (written before digests were recorded)")
    algorithm = str(record["digest"]).split(":", 1)[0]
    h = _hasher(algorithm)
    h.update(json.dumps(record["content"], sort_keys=True, allow_nan=True).encode())
    if f"{algorithm}:{h.hexdigest()}" != record["digest"]:
        raise ValueError(f"the content of {path} differs from the digest recorded when it was written")
    return record["content"]


# ----------------------------------------------------------------------------- one writer at a time


_LOCKS: dict[str, Any] = {}


def _file_lock(lock_file: Path):
    """One ``filelock.FileLock`` per lock file and process, so that nested ``locked`` blocks of one
    process re-enter it instead of waiting for themselves."""
    from filelock import FileLock

    key = os.path.abspath(lock_file)
    if key not in _LOCKS:
        _LOCKS[key] = FileLock(key)
    return _LOCKS[key]


@contextlib.contextmanager
def locked(path: str | os.PathLike, timeout: float = 600.0) -> Iterator[None]:
    """Hold an exclusive advisory lock for ``path`` (on ``.<name>.lock`` beside it) for the block:
    read-modify-write a shared file inside it and no concurrent update is lost.  Re-entrant within
    a process (``filelock``); TimeoutError naming the lock file after ``timeout`` seconds."""
    from filelock import Timeout

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    lock_file = path.parent / f".{path.name}.lock"
    try:
        with _file_lock(lock_file).acquire(timeout=timeout):
            yield
    except Timeout:
        raise TimeoutError(f"{path} is locked by another process (lock file {lock_file}) for more than "
                           f"{timeout:.0f} s; if no other run is going on, delete the lock file") from None
