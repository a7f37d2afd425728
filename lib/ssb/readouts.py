"""Classifier readouts trained on cached node vectors (docs/method.md, "Nodes and the limited aperture").

    readout, history = train_readout(z_train, y_train, n_classes)          # z (N, D), y (N,)
    logits = readout(torch.from_numpy(z_test))                           # (N, C)
    save_readout(readout, "runs/quick/heads/head-abc", extra={"history": history})
    readout = load_readout("runs/quick/heads/head-abc", n_in=D)

On a probe (what the notebooks do), with the profile's hyper-parameters, cached on disk:

    readout = fit_readout(profile, probe, block=6)      # runs/<profile>/heads/head-<cache key of readout_config>
    predict(readout, probe.z_test[6])                # (N,) labels, every node active
    accuracy_by_block(profile, {"cls": probe})    # one readout per block

1 FC layer (default): logits = W z + b with W = fc1.weight (C, D).
2 FC layers: logits = fc2(relu(fc1(z))), fc1.weight (hidden, D).
In both, node k enters only through column k of fc1.weight, so silencing node k (the
limited aperture) is zeroing that column; ``ssb.aperture`` does it in a batched way.
A readout trained with ``standardize=True`` has its per-node scale folded into fc1, so this
stays exact (see ``train_readout``).

Training is deterministic: the initial weights, the validation split and every shuffle
come from ``seed``; the global torch RNG is left untouched.
"""
from __future__ import annotations

import copy
import json
import math
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from . import atomic
from .cache_keys import array_fingerprint, cache_key
from .cache_entry import CacheContentChanged, check_entry, discard, warn_cache
from .node_vectors import as_tensor
from .probes import Probe
from .model import headwise_linear
from .profiles import profile_device, resolve_device
from .results import runs_dir


class Readout(torch.nn.Module):
    """z (B, D) -> logits (B, C) with 1 or 2 fully connected layers."""

    def __init__(self, n_in: int, n_classes: int, layers: int = 1, hidden: int = 256):
        super().__init__()
        if layers not in (1, 2):
            raise ValueError(f"layers must be 1 or 2, got {layers}")
        if n_in < 1 or n_classes < 1 or (layers == 2 and hidden < 1):
            raise ValueError(f"n_in, n_classes and hidden must be positive, got {n_in}, {n_classes}, {hidden}")
        self.config = {"n_in": int(n_in), "n_classes": int(n_classes), "layers": int(layers),
                       "hidden": int(hidden) if layers == 2 else 0}
        if layers == 1:
            self.fc1 = torch.nn.Linear(n_in, n_classes)           # weight (C, D)
            self.fc2 = None
        else:
            self.fc1 = torch.nn.Linear(n_in, hidden)              # weight (hidden, D)
            self.fc2 = torch.nn.Linear(hidden, n_classes)         # weight (C, hidden)

    @property
    def n_in(self) -> int:
        return self.config["n_in"]

    @property
    def n_classes(self) -> int:
        return self.config["n_classes"]

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        h = self.fc1(z)
        if self.fc2 is not None:
            h = self.fc2(torch.relu(h))
        return h


def tie_blocks(readout: Readout, n_heads: int, d_head: int) -> None:
    """Copy fc1's column block of attention head 0 (columns 0:d_head) onto every head's block."""
    if n_heads * d_head != readout.n_in:
        raise ValueError(f"tied_blocks {n_heads} heads x {d_head} = {n_heads * d_head} "
                         f"!= the readout's input size {readout.n_in}")
    with torch.no_grad():
        w = readout.fc1.weight                                        # (C or hidden, D)
        for h in range(1, n_heads):
            w[:, h * d_head:(h + 1) * d_head] = w[:, :d_head]


def _forward(readout: Readout, z: torch.Tensor, d_block: int | None) -> torch.Tensor:
    """readout(z), with the block-wise fc1 weight gradient when training a tied readout.

    One big ``gᵀ z`` product (B, C)ᵀ x (B, D) may round the D output columns differently
    (the BLAS kernel vectorises edge tiles differently), which breaks the exact equality of
    tied blocks after a few steps; ``model.headwise_linear`` computes every block's gradient
    by a separate product of identical shape, so identical blocks of z give bit-identical
    gradients."""
    if d_block is None:
        return readout(z)
    h = headwise_linear(z, readout.fc1.weight, readout.fc1.bias, n_heads=z.shape[1] // d_block, head_axis=1)
    return h if readout.fc2 is None else readout.fc2(torch.relu(h))


def _checked(z, y, n_classes: int) -> tuple[np.ndarray, torch.Tensor]:
    """z as a float32 (N, D) array (not copied when it is one already: a memory-mapped cache
    stays on disk) and y as int64 labels, both checked."""
    z = z if isinstance(z, np.ndarray) and z.dtype == np.float32 else np.asarray(z, dtype=np.float32)
    y = torch.as_tensor(np.asarray(y).astype(np.int64))
    if z.ndim != 2 or y.ndim != 1 or len(z) != len(y):
        raise ValueError(f"expected z (N, D) and y (N,), got {tuple(z.shape)} and {tuple(y.shape)}")
    if len(y) == 0:
        raise ValueError("no training examples")
    if int(y.min()) < 0 or int(y.max()) >= n_classes:
        raise ValueError(f"labels must lie in 0..{n_classes - 1}, got range {int(y.min())}..{int(y.max())}")
    return z, y


# rows read from the host array at once (node scales: a float64 buffer of 25 MB at D = 768;
# filling a device copy: 13 MB of float32)
CHUNK_ROWS = 4096


class NodeRows:
    """Rows of z (N, D), divided by ``scale`` when given, gathered a batch at a time.

    On the CPU every batch is read from z itself (a memory-mapped cache reads only those
    rows), so the host holds one batch, never a copy of z.  On another device z is copied
    there once, ``CHUNK_ROWS`` rows at a time, and batches are gathered on the device.  A
    batch is ``z[idx] / scale`` either way: the same numbers as indexing a scaled copy of z."""

    def __init__(self, z: np.ndarray, scale: torch.Tensor | None, device: torch.device,
                 copy: bool | None = None):
        """``copy``: hold z on ``device`` (default: when it is not the CPU; True on the CPU runs
        the GPU's code path there, for the tests)."""
        self.z, self.scale, self.device = z, scale, device
        self.on_device = None
        if device.type != "cpu" if copy is None else copy:
            self.on_device = torch.empty(z.shape, dtype=torch.float32, device=device)
            for s in range(0, len(z), CHUNK_ROWS):
                chunk = self._scaled(torch.from_numpy(np.array(z[s:s + CHUNK_ROWS])))
                self.on_device[s:s + CHUNK_ROWS] = chunk.to(device)

    def _scaled(self, rows: torch.Tensor) -> torch.Tensor:
        return rows if self.scale is None else rows / self.scale

    def __getitem__(self, idx: torch.Tensor) -> torch.Tensor:
        """(len(idx), D) float32 on the device, for int64 row indices idx (a CPU tensor)."""
        if self.on_device is not None:
            return self.on_device[idx.to(self.device)]
        return self._scaled(torch.from_numpy(self.z[idx.numpy()]))


@torch.no_grad()
def _evaluate(readout: Readout, rows: NodeRows, idx: torch.Tensor, y: torch.Tensor,
              batch: int) -> tuple[float, float]:
    """(mean cross-entropy, accuracy) on the rows ``idx`` of z, with labels y[idx]."""
    loss, hits = 0.0, 0
    for s in range(0, len(idx), batch):
        logits = readout(rows[idx[s:s + batch]])
        y_batch = y[idx[s:s + batch]].to(logits.device)
        loss += float(torch.nn.functional.cross_entropy(logits, y_batch, reduction="sum"))
        hits += int((logits.argmax(-1) == y_batch).sum())
    return loss / len(idx), hits / len(idx)


def train_readout(z_train, y_train, n_classes: int, *, layers: int = 1, hidden: int = 256, epochs: int = 30,
               lr: float = 3e-3, batch_size: int = 512, patience: int = 8, val_fraction: float = 0.1,
               weight_decay: float = 0.0, seed: int = 0, tied_blocks: tuple[int, int] | None = None,
               standardize: bool = False, lr_decay: float = 1.0, device=None,
               progress: bool = True) -> tuple[Readout, list[dict]]:
    """Train a readout with AdamW and cross-entropy on z_train (N, D), y_train (N,).

    A seeded ``val_fraction`` of the examples is held out for early stopping: training stops
    after ``patience`` epochs without a lower validation loss and the weights of the best
    epoch are restored (val_fraction=0: no validation, the last weights are kept).
    ``training_outcome(history, patience)`` says whether it stopped there (converged) or ran
    out of ``epochs``.  ``lr_decay`` < 1 multiplies the learning rate by it after every epoch
    without a lower validation loss, so the last epochs before stopping take smaller steps
    (1 = a constant learning rate).

    ``standardize=True`` trains on z_k / s_k, with s_k the root mean square of node k over
    z_train (``node_scales``; 1 for a node that is always 0), then folds the scale
    into the first layer: fc1.weight[:, k] <- fc1.weight[:, k] / s_k.  The returned readout takes
    raw z and computes exactly the standardised readout's function.  There is no centring, so
    silencing node k (z_k = 0, i.e. zeroing column k of fc1, docs/method.md, "Nodes and the limited aperture") is
    z_k / s_k = 0 in the units the readout was trained in: the limited aperture keeps its meaning.

    ``tied_blocks=(n_heads, d_head)`` is the symmetric-initialisation control: fc1's per-head
    column blocks start as copies of head 0's.  Nothing re-imposes the tie afterwards: fc1's
    weight gradient is computed block by block (``model.headwise_linear``), so when the node
    vectors' head blocks are identical too, every gradient and AdamW update treats the
    blocks bit-identically and they stay exactly equal (tests/test_readouts.py); when z's
    blocks differ, the blocks drift apart as they should (symmetry breaking).

    ``device``: where the readout trains ("auto" / "cpu" / "cuda" or a torch.device as in
    ``profiles.resolve_device``; None = the CPU).  Split, initial weights and batch order are
    drawn on the CPU, so every device trains the same readout up to float rounding; the readout
    comes back on the CPU.

    Returns (readout in eval mode, history: one dict per epoch with epoch, train_loss,
    val_loss, val_accuracy, lr; NaN validation values when there is no validation slice).
    """
    if epochs < 1 or batch_size < 1 or patience < 1:
        raise ValueError(f"epochs, batch_size and patience must be positive, got {epochs}, {batch_size}, {patience}")
    if not 0.0 < lr_decay <= 1.0:
        raise ValueError(f"lr_decay must be in (0, 1], got {lr_decay}")
    if not 0.0 <= val_fraction < 1.0:
        raise ValueError(f"val_fraction must be in [0, 1), got {val_fraction}")
    z, y = _checked(z_train, y_train, n_classes)
    n = len(y)

    # Seeded split and initial weights; the global RNG state is restored afterwards.
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    n_val = min(n - 1, int(round(n * val_fraction))) if val_fraction > 0 else 0
    val_idx, train_idx = order[:n_val], order[n_val:]
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        readout = Readout(z.shape[1], n_classes, layers=layers, hidden=hidden)
    d_block = None
    if tied_blocks is not None:
        tie_blocks(readout, *tied_blocks)
        d_block = int(tied_blocks[1])

    scale = torch.from_numpy(node_scales(z)) if standardize else None    # over every example passed in
    device = resolve_device(device) if device is not None else torch.device("cpu")
    readout.to(device)
    rows = NodeRows(z, scale, device)               # batches of z (scaled), never a copy of z on the host
    opt = torch.optim.AdamW(readout.parameters(), lr=lr, weight_decay=weight_decay)
    shuffle = torch.Generator().manual_seed(seed + 1)
    history: list[dict] = []
    best_loss, best_state, stale = math.inf, None, 0

    epoch_iter = range(1, epochs + 1)
    if progress:
        from tqdm.auto import tqdm
        epoch_iter = tqdm(epoch_iter, desc="readout", unit="epoch", leave=False)
    for epoch in epoch_iter:
        readout.train()
        epoch_lr = opt.param_groups[0]["lr"]
        perm = torch.randperm(len(train_idx), generator=shuffle)
        total = 0.0
        for s in range(0, len(perm), batch_size):
            idx = train_idx[perm[s:s + batch_size]]                      # rows of z in this batch
            loss = torch.nn.functional.cross_entropy(_forward(readout, rows[idx], d_block), y[idx].to(device))
            if not torch.isfinite(loss):        # stop: a NaN readout is never kept nor cached
                bad_rows = not bool(torch.isfinite(rows[idx]).all())
                raise FloatingPointError(
                    f"readout training: the loss is {float(loss.detach())} in epoch {epoch} "
                    + ("because the node vectors of this batch hold NaN or infinite values (the backbone or "
                       "its cached node vectors are broken: rerun with force=True, or use another checkpoint)"
                       if bad_rows else f"(lr {lr}); lower readout_lr (-p readout_lr {lr / 10:g})"))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total += float(loss.detach()) * len(idx)
        readout.eval()
        val_loss, val_acc = _evaluate(readout, rows, val_idx, y, 4096) if n_val else (float("nan"), float("nan"))
        history.append({"epoch": epoch, "train_loss": total / len(train_idx), "val_loss": val_loss,
                        "val_accuracy": val_acc, "lr": epoch_lr})
        if progress:
            epoch_iter.set_postfix(loss=f"{total / len(train_idx):.3f}", val=f"{val_loss:.3f}")
        if n_val:
            if val_loss < best_loss:
                best_loss, best_state, stale = val_loss, copy.deepcopy(readout.state_dict()), 0
            else:
                stale += 1
                for group in opt.param_groups:
                    group["lr"] *= lr_decay
                if stale >= patience:
                    break
    if best_state is not None:
        readout.load_state_dict(best_state)
    readout.cpu()
    if scale is not None:
        with torch.no_grad():
            readout.fc1.weight.div_(scale[None, :])                  # fold: W'(z / s) == (W' / s) z
    return readout.eval(), history


def node_scales(z: np.ndarray) -> np.ndarray:
    """Root mean square of each node over the rows of z (N, D), float32 (D,); 1 where it is 0.

    Computed column by column in float64 with the same operations for every column, so
    identical columns get bit-identical scales (the tied-block control stays exact)."""
    z = np.asarray(z)
    if z.ndim != 2 or len(z) == 0:
        raise ValueError(f"node_scales needs z of shape (N, D) with N > 0, got {z.shape}")
    # The sum of squares in float64, CHUNK_ROWS rows at a time (the host holds one buffer):
    # buffer = [running sum; this chunk's squares], reduced over axis 0, adds row after row in
    # order: the same additions as one reduction over all of z (np.mean(z * z, axis=0)).
    buffer = np.empty((min(CHUNK_ROWS, len(z)) + 1, z.shape[1]), dtype=np.float64)
    buffer[0] = 0.0
    for s in range(0, len(z), CHUNK_ROWS):
        rows = buffer[1:1 + len(z[s:s + CHUNK_ROWS])]
        rows[:] = z[s:s + CHUNK_ROWS]
        np.multiply(rows, rows, out=rows)
        buffer[0] = np.add.reduce(buffer[:1 + len(rows)], axis=0)
    total = buffer[0]
    rms = np.sqrt(total / len(z))
    return np.where(rms > 0, rms, 1.0).astype(np.float32)


def training_outcome(history: list[dict], patience: int) -> dict:
    """Best epoch, epochs run and whether training converged in the early-stopping sense: the
    last ``patience`` epochs brought no lower validation loss (the best epoch's weights were
    restored).  ``converged`` is None without a validation split."""
    if not history:
        raise ValueError("empty training history")
    losses = [h["val_loss"] for h in history]
    if any(not math.isfinite(v) for v in losses):
        return {"best_epoch": None, "epochs_run": len(history), "converged": None}
    best = int(np.argmin(losses))
    return {"best_epoch": history[best]["epoch"], "epochs_run": len(history),
            "best_val_loss": float(losses[best]), "best_val_accuracy": float(history[best]["val_accuracy"]),
            "converged": bool(len(history) - 1 - best >= patience)}


# the on-disk layout keeps its earlier names (runs/<profile>/heads/head-<key>/head.safetensors, the
# config's "head" record), so readouts cached before the word changed are still read
_WEIGHTS, _CONFIG = "head.safetensors", "config.json"


def save_readout(readout: Readout, path: str | Path, extra: dict | None = None) -> Path:
    """Write ``path/head.safetensors`` and ``path/config.json`` (readout config + ``extra``) atomically."""
    from safetensors.torch import save_file

    path = Path(path)
    with atomic.atomic_dir(path) as tmp:
        save_file({k: v.detach().contiguous() for k, v in readout.state_dict().items()}, str(tmp / _WEIGHTS))
        atomic.write_json(tmp / _CONFIG, {"head": readout.config, "extra": extra or {}})
        atomic.write_checksums(tmp, [_WEIGHTS, _CONFIG])          # what is read back is verified
    return path


class UnreadableReadout(ValueError):
    """A saved readout whose files cannot be read (truncated, corrupt); its directory is deleted,
    so the caller retrains it."""


def _read_head(path: Path) -> Readout:
    """The readout saved in ``path`` (no checksum check); any error when its files cannot be read or
    its weights do not fit its config.json."""
    from safetensors.torch import load_file

    cfg = json.loads((path / _CONFIG).read_text())["head"]
    state = load_file(str(path / _WEIGHTS))
    readout = Readout(int(cfg["n_in"]), int(cfg["n_classes"]), layers=int(cfg["layers"]),
                          hidden=int(cfg["hidden"] or 1))
    readout.load_state_dict(state)                       # RuntimeError: weights of another shape than its config says
    return readout.eval()


def load_readout(path: str | Path, n_in: int | None = None, n_classes: int | None = None) -> Readout:
    """A readout saved by ``save_readout``, in eval mode.  ValueError when its input size (or class
    count) differs from the expected ``n_in`` (``n_classes``).  Files that cannot be read, or whose
    content differs from the checksums recorded when they were written, are a cache gone bad: the
    directory is deleted with a one-line warning naming it and why, and ``UnreadableReadout`` raised
    (``fit_readout`` then trains the readout again)."""
    path = Path(path)
    if not (path / _WEIGHTS).is_file() or not (path / _CONFIG).is_file():
        raise FileNotFoundError(f"{path} holds no saved readout (expected {_WEIGHTS} and {_CONFIG})")
    check = check_entry(path, None, required=(_WEIGHTS, _CONFIG), load=_read_head)
    if not check.hit:
        # garbage with an intact header loads fine: the bytes are checked (CacheContentChanged)
        changed = check.detail.startswith(CacheContentChanged.__name__ + ": ")
        why = check.detail.split(": ", 1)[1] if changed else check.detail
        message = f"readout cache {path} cannot be {'trusted' if changed else 'read'} ({why}); deleted, retraining"
        warn_cache(message)
        shutil.rmtree(path, ignore_errors=True)
        raise UnreadableReadout(message)
    readout = check.value
    if n_in is not None and readout.n_in != n_in:
        raise ValueError(f"readout at {path} takes {readout.n_in} node inputs but the node vectors have D = {n_in}; "
                         "it was trained on another block/model geometry")
    if n_classes is not None and readout.n_classes != n_classes:
        raise ValueError(f"readout at {path} has {readout.n_classes} classes, expected {n_classes}")
    return readout


def load_readout_extra(path: str | Path) -> dict:
    """The ``extra`` dict stored by ``save_readout`` (e.g. config and training history)."""
    return json.loads((Path(path) / _CONFIG).read_text())["extra"]


# ----------------------------------------------------------------------------- readouts on a probe, cached

def readout_epochs_for(profile, probe: Probe) -> int:
    """Token readouts (vocabulary-sized outputs) get ``token_readout_epochs``, label readouts ``readout_epochs``."""
    return profile.token_readout_epochs if probe.task == "tokens" else profile.readout_epochs


def readout_config(profile, probe: Probe, block: int, tied: bool, layers: int | None = None) -> dict:
    """Everything a trained readout depends on: its data and its hyper-parameters.

    The training node vectors enter through the key of their node-vector cache
    (``probe.train_key``, which fingerprints the backbone's weights, the inputs, the blocks and
    the selection by content), so a lookup reads none of them; the labels (small) are hashed.
    A probe without that key (built in memory) is keyed on the content of every training node
    vector and label instead."""
    probe.require_block(block)
    z, y = probe.z_train[block], probe.y_train
    data = ({"node_vectors": probe.train_key, "labels": array_fingerprint(y)} if probe.train_key
            else {"data": array_fingerprint(z, y)})
    options = {}                       # training options, keyed only when not the default (stable cache keys)
    if profile.readout_standardize:
        options["standardize"] = True
    if profile.readout_lr_decay != 1.0:
        options["lr_decay"] = profile.readout_lr_decay
    return options | {
        "weights": probe.checkpoint_fp, "block": int(block), "n_train": int(len(y)), "n_in": int(z.shape[1]),
        "n_classes": int(probe.n_classes), "tied": bool(tied), "layers": int(layers or profile.readout_layers),
        "hidden": profile.readout_hidden, "epochs": readout_epochs_for(profile, probe), "lr": profile.readout_lr,
        "batch": profile.readout_batch, "patience": profile.readout_patience, "seed": profile.seed,
    } | data


def fit_readout(profile, probe: Probe, block: int | None = None, *, tied: bool = False, layers: int | None = None,
             force: bool = False, progress: bool = True, cache_dir: str | Path | None = None,
             device=None) -> Readout:
    """Train (or load the cached) classifier readout on ``probe``'s node vectors of ``block``
    (``profile.block`` by default), cached under the ``cache_key`` of its ``readout_config``.
    device: where it trains (as in ``train_readout``); None: the profile's, resolved once per
    process (``profiles.profile_device``)."""
    block = profile.block if block is None else block
    cfg = readout_config(profile, probe, block, tied, layers)
    path = Path(cache_dir or runs_dir(profile) / "heads") / f"head-{cache_key(cfg)}"
    if not force:
        check = check_entry(path, cfg, config_file=_CONFIG, stored_config=lambda record: record["extra"]["config"],
                            required=(_WEIGHTS,), load=_read_head)
        if check.hit:
            return check.value
        discard(check, "readout cache", "retraining")        # unreadable or incomplete: deleted, with a warning
    try:
        readout, history = train_readout(
            probe.z_train[block], probe.y_train, probe.n_classes, layers=cfg["layers"], hidden=profile.readout_hidden,
            epochs=cfg["epochs"], lr=profile.readout_lr, batch_size=profile.readout_batch,
            patience=profile.readout_patience, seed=profile.seed,
            tied_blocks=(probe.n_heads, probe.d_head) if tied else None, progress=progress,
            standardize=profile.readout_standardize, lr_decay=profile.readout_lr_decay,
            device=profile_device(profile) if device is None else device)
    except FloatingPointError as err:
        raise FloatingPointError(f"{err} [{probe.task} probe, block {block}, backbone weights "
                                 f"{probe.checkpoint_fp or 'unknown'}; nothing was cached]") from None
    save_readout(readout, path, extra={"config": cfg, "history": history})
    return readout


@torch.no_grad()
def predict(readout: torch.nn.Module, z: np.ndarray, batch: int = 8192) -> np.ndarray:
    """Argmax predictions of a readout with every node active, (N,) int64."""
    out = [readout(as_tensor(z[s:s + batch])).argmax(-1).numpy()
           for s in range(0, len(z), batch)]
    return np.concatenate(out) if out else np.zeros(0, dtype=np.int64)


def accuracy_by_block(profile, probes: dict, progress: bool = False) -> pd.DataFrame:
    """Test accuracy of a readout on every block's node vectors, for each pooling's probe.
    ``probes``: pooling name -> Probe holding all blocks."""
    rows = []
    for pooling, probe in probes.items():
        for block in sorted(probe.z_train):
            readout = fit_readout(profile, probe, block, progress=progress)
            acc = float((predict(readout, probe.z_test[block]) == probe.y_test).mean())
            rows.append({"pooling": pooling, "block": block, "accuracy": acc})
    return pd.DataFrame(rows)
