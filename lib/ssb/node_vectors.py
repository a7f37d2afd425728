"""Node vectors: the input of a block's attention output projection W_O, read through
forward hooks (no model surgery), and their on-disk cache.

For block ℓ the node vector z ∈ R^(n_heads·d_head) is the concatenation of the heads'
attention contexts softmax(QKᵀ/√d_h)·V, i.e. the input of
``encoder.layer[ℓ-1].attention.output.dense``.  Node k belongs to head k // d_head.

    model = backbones.load_backbone("runs/quick/pretrain/random/final")
    z = node_vectors(model, input_ids, attention_mask, blocks=[6], select="cls")[6]  # (N, D)
    both = pooled_node_vectors(model, input_ids, attention_mask, [6], ("cls", "mean"))   # one pass

The forward pass stops right after the deepest requested block: blocks after it are
never run.  ``cached_node_vectors`` stores results on disk under a ``cache_keys.cache_key``
of the weights' and inputs' content fingerprints and the parameters, so a changed
checkpoint or parameter never reuses a stale cache (``cached_node_vector_entries`` fills
several entries, e.g. both poolings, from one computation).  ``probes`` wraps them with their
labels into the ``Probe`` every analysis reads.
"""
from __future__ import annotations

import warnings
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from . import atomic
from .cache_entry import CacheContentChanged, EntryCheck, check_entry, discard, warn_cache  # noqa: F401 - re-exported
from .cache_keys import cache_key, canonical
from .profiles import resolve_device


class _StopForward(Exception):
    pass


def attention_projections(model: torch.nn.Module) -> list[torch.nn.Linear]:
    """W_O of every block (``encoder.layer[i].attention.output.dense``); a clear error otherwise."""
    bert = getattr(model, "bert", model)
    layers = getattr(getattr(bert, "encoder", None), "layer", None)
    try:
        return [layer.attention.output.dense for layer in layers]
    except (TypeError, AttributeError):
        raise ValueError(f"{type(model).__name__} has no BERT attention layers "
                         "(expected encoder.layer[i].attention.output.dense); "
                         "node vectors need a BertModel-compatible checkpoint") from None


def head_geometry(model: torch.nn.Module) -> tuple[int, int, int]:
    """(n_blocks, n_heads, d_head) from the model's config."""
    cfg = model.config
    n_heads = cfg.num_attention_heads
    return cfg.num_hidden_layers, n_heads, cfg.hidden_size // n_heads


def node_vectors(model: torch.nn.Module, input_ids: np.ndarray, attention_mask: np.ndarray,
                 blocks: list[int], select: str | np.ndarray = "cls", batch_size: int = 64,
                 progress: bool = True, desc: str = "node vectors", device=None,
                 bf16: bool = False, allocate: Callable[[int, tuple], np.ndarray] | None = None,
                 ) -> dict[int, np.ndarray]:
    """Node vectors of each requested block (1-based), as float32 arrays.  ``pooled_node_vectors``
    reads several selections ("cls" and "mean") in the same forward pass.

    select: "cls" -> z at position 0, shape (N, D); "mean" -> mean of z over real tokens,
    (N, D); a boolean array (N, T) -> z at those positions in row-major order, (M, D).
    device: where the forward passes run (a torch.device, or "auto" / "cpu" / "cuda" as in
    ``profiles.resolve_device``; None: the model's own device).  The model is moved there for
    the call and back afterwards; batches run in inference mode.  bf16: bfloat16 autocast on
    CUDA (ignored on the CPU); the stored node vectors are float32 either way.

    Each block's output is allocated once at its final size and filled batch by batch, so
    the host holds the result and one batch, never a list of pieces and their concatenation.
    ``allocate(block, shape)`` returns the float32 array to fill (default ``np.empty``; the
    cache passes a memory-mapped ``.npy`` file, so the result streams to disk).
    """
    wrapped = None if allocate is None else (lambda _select, block, shape: allocate(block, shape))
    return _extract(model, input_ids, attention_mask, blocks, [select], batch_size, progress, desc, device, bf16,
                    wrapped)[0]


def pooled_node_vectors(model: torch.nn.Module, input_ids: np.ndarray, attention_mask: np.ndarray,
                        blocks: list[int], poolings=("cls", "mean"), batch_size: int = 64, progress: bool = True,
                        desc: str = "node vectors", device=None, bf16: bool = False,
                        allocate: Callable[[str, int, tuple], np.ndarray] | None = None,
                        ) -> dict[str, dict[int, np.ndarray]]:
    """``node_vectors`` of every pooling in ``poolings`` ("cls", "mean") from one forward pass:
    pooling -> block -> (N, D) float32, each equal to what ``node_vectors(..., select=pooling)``
    returns (the same batches through the same model).  ``allocate(pooling, block, shape)``
    as in ``node_vectors``, per pooling."""
    poolings = list(dict.fromkeys(poolings))
    if not poolings or any(not isinstance(p, str) for p in poolings):
        raise ValueError(f"poolings must name at least one of 'cls', 'mean', got {poolings!r}")
    out = _extract(model, input_ids, attention_mask, blocks, poolings, batch_size, progress, desc, device, bf16,
                   allocate)
    return dict(zip(poolings, out))


def _extract(model, input_ids, attention_mask, blocks, selects: list, batch_size: int, progress: bool, desc: str,
             device, bf16: bool, allocate) -> list[dict[int, np.ndarray]]:
    """The forward passes of ``node_vectors``: one dict block -> array per selection in ``selects``
    (all "cls" / "mean", or one position mask), filled from the same batches."""
    projections = attention_projections(model)
    n_blocks = len(projections)
    blocks = sorted(set(int(b) for b in blocks))
    if not blocks:
        raise ValueError("no block requested")
    bad = [b for b in blocks if not 1 <= b <= n_blocks]
    if bad:
        raise ValueError(f"block(s) {bad} out of range: this checkpoint has blocks 1..{n_blocks}")
    input_ids = np.asarray(input_ids)
    attention_mask = np.asarray(attention_mask)
    positions = None
    for select in selects:
        if isinstance(select, str):
            if select not in ("cls", "mean"):
                raise ValueError(f"select must be 'cls', 'mean' or a boolean position mask, got {select!r}")
        else:
            positions = np.asarray(select, dtype=bool)
            if positions.shape != input_ids.shape or len(selects) > 1:
                raise ValueError(f"position mask shape {positions.shape} != input shape {input_ids.shape}"
                                 if positions.shape != input_ids.shape else "a position mask is read alone")

    captured: dict[int, torch.Tensor] = {}
    deepest = blocks[-1]

    def make_hook(block):
        def hook(module, args):
            captured[block] = args[0]                       # (B, T, D): concatenated head contexts
            if block == deepest:
                raise _StopForward
        return hook

    home = next(model.parameters()).device
    device = home if device is None else resolve_device(device)
    autocast = bool(bf16) and device.type == "cuda"
    n_rows = int(positions.sum()) if positions is not None else len(input_ids)
    d_model = projections[0].in_features
    allocate = allocate or (lambda select, block, shape: np.empty(shape, dtype=np.float32))
    outs = [{b: allocate(select, b, (n_rows, d_model)) for b in blocks} for select in selects]
    for out in outs:
        for b, arr in out.items():
            if arr.shape != (n_rows, d_model) or arr.dtype != np.float32:
                raise ValueError(f"allocate returned {arr.dtype} {arr.shape} for block {b}; "
                                 f"expected float32 {(n_rows, d_model)}")
    handles = [projections[b - 1].register_forward_pre_hook(make_hook(b)) for b in blocks]
    row = 0                                                          # first output row of this batch
    starts = range(0, len(input_ids), batch_size)
    if progress:
        from tqdm import tqdm
        starts = tqdm(starts, desc=desc, unit="batch")
    was_training = model.training
    model.eval().to(device)
    try:
        with torch.inference_mode():
            for s in starts:
                ids = torch.from_numpy(input_ids[s:s + batch_size]).to(device)
                am = torch.from_numpy(attention_mask[s:s + batch_size]).to(device)
                captured.clear()
                try:
                    bert = getattr(model, "bert", model)
                    with torch.autocast(device.type, dtype=torch.bfloat16, enabled=autocast):
                        bert(input_ids=ids, attention_mask=am)
                except _StopForward:
                    pass
                for b in blocks:
                    z = captured[b].float()                      # (B, T, D)
                    for select, out in zip(selects, outs):
                        if positions is not None:
                            sel = torch.from_numpy(positions[s:s + batch_size]).to(device)
                            rows = z[sel]                        # (M_batch, D)
                        elif select == "cls":
                            rows = z[:, 0]                       # (B, D)
                        else:
                            w = am.unsqueeze(-1).float()
                            rows = (z * w).sum(1) / w.sum(1).clamp(min=1)
                        if not bool(torch.isfinite(rows).all()):    # stop: nothing non-finite is ever cached
                            source = getattr(model.config, "_name_or_path", "") or "(in memory)"
                            raise FloatingPointError(
                                f"node-vector extraction: block {b} gives NaN or infinite node vectors for input "
                                f"rows {s}..{s + len(ids) - 1} (checkpoint {source}); nothing was cached. Check the "
                                "checkpoint's weights (load_backbone refuses non-finite ones), or run on the CPU "
                                "without bf16 (-p mixed_precision no)")
                        out[b][row:row + len(rows)] = rows.cpu().numpy()
                row += len(rows)
    finally:
        for h in handles:
            h.remove()
        model.train(was_training).to(home)
    return outs


def as_tensor(z) -> torch.Tensor:
    """An array (node vectors (N, D), token ids, masks) as a torch tensor of its dtype, sharing
    its memory when it is contiguous (a tensor is returned as it is).  A read-only, memory-mapped cache is wrapped without torch's
    "not writable" warning: the analyses read node vectors, never write them."""
    if isinstance(z, torch.Tensor):
        return z
    z = np.ascontiguousarray(z)
    if z.flags.writeable:
        return torch.from_numpy(z)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="The given NumPy array is not writable")
        return torch.from_numpy(z)


_CACHE_KEYS_FILE = "key_parts.json"


def _block_file(block: int) -> str:
    return f"block-{int(block)}.npy"


def _read_blocks(path: Path, blocks) -> dict[int, np.ndarray]:
    """The block files of a node-vector entry, memory-mapped read-only; ValueError when they are
    of unequal length or not float32 (N, D)."""
    z = {int(b): np.load(path / _block_file(b), mmap_mode="r") for b in blocks}
    shapes = {a.shape[0] for a in z.values()}
    if len(shapes) != 1 or any(a.ndim != 2 or a.dtype != np.float32 for a in z.values()):
        raise ValueError(f"blocks of unequal length or type: {[(a.dtype, a.shape) for a in z.values()]}")
    return z


def _check_cache(path: Path, parts: dict, verify: bool = True) -> EntryCheck:
    """Whether ``path`` is the node-vector entry of ``parts`` (its ``key_parts.json``), complete
    and readable (``cache_entry.check_entry``; ``verify``: also its checksums); on a hit the
    value is the blocks, memory-mapped read-only."""
    return check_entry(path, parts, config_file=_CACHE_KEYS_FILE, required=[_block_file(b) for b in parts["blocks"]],
                       checksums=verify, load=lambda p: _read_blocks(p, parts["blocks"]))


def node_vector_cache_key(key_parts: dict) -> str:
    """The key a node-vector cache entry is stored under (``nodes-<key>/``): ``cache_key`` of
    its canonical parts, which fingerprint the weights and inputs by content."""
    return cache_key(key_parts)


def cached_node_vectors(cache_dir: str | Path, key_parts: dict,
                        compute: Callable[[Callable[[int, tuple], np.ndarray]], dict[int, np.ndarray]],
                        force: bool = False) -> dict[int, np.ndarray]:
    """Node vectors cached under ``cache_keys.cache_key(key_parts)`` (weights and data
    fingerprints, ``blocks``, selection...), computed and stored on a miss.

    The cache is a directory ``nodes-<key>/`` with ``key_parts.json``, one float32
    ``block-<b>.npy`` per block and ``checksums.json``, the content digest of every block file
    (``atomic.write_checksums``), verified on every read: a file whose bytes changed on disk is
    a warning naming the entry (also on the terminal), and the entry is recomputed.  ``compute(allocate)`` fills the arrays that ``allocate(block,
    shape)`` hands it (``node_vectors(..., allocate=allocate)``): memory-mapped files in a
    temporary directory, swapped into place when complete, so the node vectors stream to disk
    and an interrupted run leaves no half-written cache.  What comes back is memory-mapped and
    read-only: the host holds only the pages an analysis reads (at paper scale 7.4 GB per
    backbone stay on disk; see docs/benchmarks.md), and a cache that cannot be read is deleted
    with a warning and recomputed.  ``cached_node_vector_entries`` fills several entries from
    one computation."""
    return cached_node_vector_entries(cache_dir, {None: key_parts},
                                      lambda allocators: {None: compute(allocators[None])}, force)[None]


def cached_node_vector_entries(cache_dir: str | Path, key_parts: dict,
                               compute: Callable[[dict], dict], force: bool = False) -> dict:
    """Several ``cached_node_vectors`` entries, the missing ones computed together.

    key_parts: name -> the entry's key parts (each stored exactly as ``cached_node_vectors``
    stores it, so either finds what the other wrote).  Every entry found (and readable) is
    read; ``compute(allocators)`` gets name -> ``allocate(block, shape)`` for the missing ones
    only and returns name -> block -> array for each of them (e.g. ``pooled_node_vectors``:
    cls and mean pooling from one forward pass).  Returns name -> block -> array for all."""
    import contextlib
    import json

    parts = {name: canonical(p) for name, p in key_parts.items()}
    if any("blocks" not in p for p in parts.values()):
        raise ValueError("key_parts must name the cached 'blocks'")
    paths = {name: Path(cache_dir) / f"nodes-{cache_key(p)}" for name, p in parts.items()}
    found = {}
    for name, path in paths.items():
        if force:
            continue
        check = _check_cache(path, parts[name])
        if check.hit:
            found[name] = check.value
        else:                                       # a truncated, modified or foreign entry: recompute it
            discard(check, "node-vector cache", "recomputing")
    missing = [name for name in parts if name not in found]
    if not missing:
        return found
    for name in missing:
        atomic.remove_stale_temporaries(paths[name].parent, f".{paths[name].name}.*")
    with contextlib.ExitStack() as stack:
        tmps = {name: stack.enter_context(atomic.atomic_dir(paths[name])) for name in missing}

        def allocator(tmp: Path) -> Callable[[int, tuple], np.ndarray]:
            def allocate(block: int, shape: tuple) -> np.ndarray:
                if 0 in shape:                      # nothing to map (np.save stores it below)
                    return np.empty(shape, dtype=np.float32)
                return np.lib.format.open_memmap(tmp / _block_file(block), mode="w+", dtype=np.float32, shape=shape)
            return allocate

        computed = compute({name: allocator(tmps[name]) for name in missing})
        for name in missing:
            z, tmp, blocks = computed.pop(name), tmps[name], parts[name]["blocks"]
            if sorted(z) != sorted(int(b) for b in blocks):
                raise ValueError(f"computed blocks {sorted(z)} differ from the key's {blocks}")
            for block, arr in z.items():
                if isinstance(arr, np.memmap):
                    arr.flush()
                else:                               # compute did not use allocate: store what it returned
                    np.save(tmp / _block_file(block), np.asarray(arr, dtype=np.float32))
            z = arr = None                          # no open map while the files are hashed
            atomic.write_checksums(tmp, [_block_file(b) for b in blocks])
            (tmp / _CACHE_KEYS_FILE).write_text(json.dumps(parts[name], sort_keys=True))
        del computed
    for name in missing:                           # just written and hashed: read as they are
        found[name] = _read_blocks(paths[name], parts[name]["blocks"])
    return {name: found[name] for name in parts}
