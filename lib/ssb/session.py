"""Notebook set-up: one call after the parameters cell.

    S = ssb.session.start(globals())

picks ``profile``, ``data_dir``, ``force`` and any profile field that papermill injected
(``run_all.sh -p steps 100`` sets ``steps = 100``) out of the notebook's namespace,
builds the Profile, fixes seeds and the plotting style, and prints what the run uses.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, fields

from .profiles import Profile, get_profile


@dataclass
class Session:
    profile: Profile
    data_dir: str | None
    force: bool

    @property
    def name(self) -> str:
        return self.profile.name


def start(namespace: dict, quiet: bool = False) -> Session:
    import matplotlib
    import torch

    known = {f.name for f in fields(Profile)} - {"name"}
    overrides = {k: namespace[k] for k in known if k in namespace and namespace[k] is not None}
    profile = get_profile(namespace.get("profile", "quick"), **overrides)
    data_dir = namespace.get("data_dir") or os.environ.get("SSB_DATA_DIR") or None
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    from transformers.utils import logging as hf_logging
    hf_logging.set_verbosity_error()          # no "UNEXPECTED keys" tables when a BertModel loads an MLM checkpoint
    hf_logging.disable_progress_bar()         # nor "Loading weights" bars; our own tqdm bars stay
    torch.manual_seed(profile.seed)
    matplotlib.rcParams.update({"figure.dpi": 100, "figure.figsize": (7, 4), "axes.grid": True,
                                "grid.alpha": 0.3, "axes.spines.top": False, "axes.spines.right": False})
    if not quiet:
        changed = {k: v for k, v in overrides.items()}
        print(f"profile {profile.name!r}: hidden {profile.hidden_size} = {profile.n_heads} heads x d_h {profile.d_head}, "
              f"{profile.n_layers} blocks, max_len {profile.max_len}, vocab {profile.vocab_size}")
        if changed:
            print(f"overrides: {changed}")
        print(f"data dir: {data_dir or '(default ./data)'}")
    return Session(profile, data_dir, bool(namespace.get("force", False)))
