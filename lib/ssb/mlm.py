"""Masked-language-model data: corpus -> fixed-length token sequences -> seeded masks.

Masking (docs/method.md): 15 % of non-special positions are selected; of those 80 % become
[MASK], 10 % a random token and 10 % stay. Every mask is a function of (seed, step) only,
so a resumed run draws exactly the masks an uninterrupted run would.

The token probe's inputs come from the same masking (``masked_positions``): seeded mask draws
over every sequence of a split, every selected position [MASK], subsampled to a fixed number of
probe positions.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch


def encode_corpus(articles: list[str], tokenizer, max_len: int, mode: str = "chunks",
                  progress: bool = False) -> np.ndarray:
    """Token sequences of shape (n_sequences, max_len): [CLS] w_1 .. w_{max_len-2} [SEP].

    mode "chunks": each article's token stream cut into consecutive sequences (a short tail
    is dropped) -- used on the small WikiText corpus so that every token is seen.
    mode "first": the first max_len-2 tokens of each article, as the authors did on
    Wikipedia; shorter articles are padded.
    """
    if mode not in ("chunks", "first"):
        raise ValueError(f"mode must be 'chunks' or 'first', got {mode!r}")
    if max_len < 3:
        raise ValueError(f"max_len must be >= 3 ([CLS], one token, [SEP]), got {max_len}")
    body = max_len - 2
    cls, sep, pad = tokenizer.cls_token_id, tokenizer.sep_token_id, tokenizer.pad_token_id
    texts = [a.replace("<unk>", tokenizer.unk_token) for a in articles]
    sequences: list[list[int]] = []
    iterator = range(0, len(texts), 256)
    if progress:
        from tqdm import tqdm
        iterator = tqdm(iterator, desc="tokenize", unit_scale=256)
    for start in iterator:
        enc = tokenizer(texts[start:start + 256], add_special_tokens=False)["input_ids"]
        for ids in enc:
            if mode == "first":
                ids = ids[:body]
                if ids:
                    sequences.append([cls, *ids, sep] + [pad] * (body - len(ids)))
            else:
                for i in range(0, len(ids) - body + 1, body):
                    sequences.append([cls, *ids[i:i + body], sep])
    if not sequences:
        raise ValueError("the corpus produced no token sequences: it is empty or shorter than max_len")
    return np.asarray(sequences, dtype=np.int64)


def split_sequences(sequences: np.ndarray, eval_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Seeded split into (train, held-out) sequences, each in the original order.

    The held-out part has round(eval_fraction * n) sequences (at least 1, at most n - 1)."""
    if not 0.0 < eval_fraction < 1.0:
        raise ValueError(f"eval_fraction must be in (0, 1), got {eval_fraction}")
    order = np.random.default_rng([seed, 1]).permutation(len(sequences))
    n_eval = max(1, int(round(eval_fraction * len(sequences))))
    if n_eval >= len(sequences):
        raise ValueError(f"only {len(sequences)} sequences: too few to hold out {eval_fraction:.0%}")
    return sequences[np.sort(order[n_eval:])], sequences[np.sort(order[:n_eval])]


@dataclass(frozen=True)
class MaskingSpec:
    """What ``mask_tokens`` needs: the vocabulary size (random replacements are drawn from
    0..vocab_size-1), the [MASK] id, the ids never selected (every special token, [PAD]
    included) and the three probabilities."""
    vocab_size: int
    mask_id: int
    special_ids: tuple[int, ...]
    pad_id: int = 0
    mask_prob: float = 0.15
    replace_mask: float = 0.8
    replace_random: float = 0.1

    def __post_init__(self):
        if not 0.0 < self.mask_prob < 1.0:
            raise ValueError(f"mask_prob must be in (0, 1), got {self.mask_prob}")
        if not (0.0 <= self.replace_mask and 0.0 <= self.replace_random and self.replace_mask + self.replace_random <= 1.0):
            raise ValueError(f"replace_mask ({self.replace_mask}) and replace_random ({self.replace_random}) must be "
                             "non-negative with a sum of at most 1")
        if not 0 <= self.mask_id < self.vocab_size:
            raise ValueError(f"mask_id must be in 0..{self.vocab_size - 1}, got {self.mask_id}")

    @classmethod
    def from_tokenizer(cls, tokenizer, mask_prob: float = 0.15) -> "MaskingSpec":
        return cls(vocab_size=len(tokenizer), mask_id=tokenizer.mask_token_id,
                   special_ids=tuple(sorted(set(tokenizer.all_special_ids))),
                   pad_id=tokenizer.pad_token_id, mask_prob=mask_prob)


def step_generator(seed: int, stream: int, step: int) -> torch.Generator:
    """A generator determined by (seed, stream, step) alone."""
    state = np.random.SeedSequence([seed, stream, step]).generate_state(1, dtype=np.uint64)[0]
    return torch.Generator().manual_seed(int(state) & ((1 << 63) - 1))


def mask_tokens(input_ids: torch.Tensor, spec: MaskingSpec, generator: torch.Generator,
                all_mask: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """Return (masked input_ids, labels), both shaped like ``input_ids`` (B, T).

    Each non-special position is selected with probability ``mask_prob``; labels hold the
    original token there and -100 elsewhere. A selected position becomes [MASK] with
    probability ``replace_mask``, a uniformly drawn token of the vocabulary with
    probability ``replace_random`` and stays otherwise.

    all_mask=True replaces every selected position by [MASK] (the probe data for node
    vectors: the node sees [MASK] where it must name the token). The selection is the
    same as without all_mask for the same generator state.
    """
    special = torch.isin(input_ids, torch.tensor(spec.special_ids, dtype=input_ids.dtype))
    u = torch.rand(input_ids.shape, generator=generator)
    selected = (u < spec.mask_prob) & ~special
    labels = torch.where(selected, input_ids, torch.full_like(input_ids, -100))
    out = input_ids.clone()
    if all_mask:
        out[selected] = spec.mask_id
        return out, labels
    v = torch.rand(input_ids.shape, generator=generator)
    to_mask = selected & (v < spec.replace_mask)
    to_random = selected & (v >= spec.replace_mask) & (v < spec.replace_mask + spec.replace_random)
    random_tokens = torch.randint(spec.vocab_size, input_ids.shape, generator=generator, dtype=input_ids.dtype)
    out[to_mask] = spec.mask_id
    out[to_random] = random_tokens[to_random]
    return out, labels


def batch_indices(n_sequences: int, batch_size: int, step: int, seed: int) -> np.ndarray:
    """Block indices of global batch ``step`` (0-based): epoch-wise seeded permutations, a
    function of (n_sequences, batch_size, seed, step) only (resume-exact).

    An epoch is ``n_sequences // batch_size`` batches of one permutation; the
    ``n_sequences % batch_size`` sequences left at its end sit out that epoch (a new permutation
    each epoch, so no sequence sits out systematically). With fewer sequences than
    ``batch_size`` every batch is the whole (permuted) set.
    """
    if n_sequences < 1 or batch_size < 1 or step < 0:
        raise ValueError(f"need n_sequences >= 1, batch_size >= 1 and step >= 0; got n_sequences={n_sequences}, "
                         f"batch_size={batch_size}, step={step}")
    steps_per_epoch = max(1, n_sequences // batch_size)
    epoch, pos = divmod(step, steps_per_epoch)
    order = np.random.default_rng([seed, 2, epoch]).permutation(n_sequences)
    return order[pos * batch_size:(pos + 1) * batch_size]


@dataclass
class MaskedPositions:
    """Probe inputs drawn from token sequences (``masked_positions``): ``input_ids`` (M, T) are
    sequences with [MASK] at every position a mask draw selected; ``where`` (M, T) marks the probe
    positions among them (row-major order = the order of ``tokens``); ``draw`` and ``sequence``
    (M,) say which draw of which sequence each row is."""
    input_ids: np.ndarray
    where: np.ndarray
    tokens: np.ndarray
    draw: np.ndarray
    sequence: np.ndarray
    available: int                   # probe positions the draws offered before subsampling


def _draw_generator(seed: int, stream: int, draw: int, chunk: int):
    state = np.random.SeedSequence([seed, stream, draw, chunk]).generate_state(1, dtype=np.uint64)[0]
    return torch.Generator().manual_seed(int(state) & ((1 << 63) - 1))


def masked_positions(sequences: np.ndarray, spec: MaskingSpec, seed: int, stream: int, limit: int | None,
                      draws: int = 1, keep: np.ndarray | None = None) -> MaskedPositions:
    """Masked probe positions spread over ALL of ``sequences``.

    Each of ``draws`` seeded mask draws selects positions over every sequence (MLM selection,
    then [MASK] at each selected position).  A selected position is a probe position when its
    token is kept (``keep``: boolean over the vocabulary; None keeps every token).  With a
    ``limit``, whole (draw, sequence) rows are taken in a seeded random order until ``limit``
    probe positions are reached (the last row is cut there), so the positions spread evenly
    over the split at the forward-pass cost of the rows used.  Rows come back sorted by
    (draw, sequence).  Everything is a function of (sequences, spec, seed, stream, limit, draws, keep).
    """
    if draws < 1:
        raise ValueError(f"draws must be at least 1, got {draws}")
    if limit is not None and limit < 1:
        raise ValueError(f"limit must be positive (or None for every position), got {limit}")
    sequences = np.asarray(sequences)
    n, chunk = len(sequences), 256
    selected = np.zeros((draws, n, sequences.shape[1]), dtype=bool)
    for d in range(draws):
        for i, s in enumerate(range(0, n, chunk)):
            rows = torch.from_numpy(np.ascontiguousarray(sequences[s:s + chunk]))
            _, y = mask_tokens(rows, spec, _draw_generator(seed, stream, d, i), all_mask=True)
            selected[d, s:s + chunk] = (y != -100).numpy()
    probe = selected & keep[sequences][None] if keep is not None else selected
    counts = probe.sum(-1).reshape(-1)                      # (draws * n,) probe positions per row
    available = int(counts.sum())
    rows = np.flatnonzero(counts)
    cut_row, cut_at = -1, 0
    if limit is not None and available > limit:
        order = np.random.default_rng([seed, stream, draws, 7]).permutation(rows)
        total = np.cumsum(counts[order])
        last = int(np.searchsorted(total, limit))       # first row where the running total reaches limit
        cut_row, cut_at = int(order[last]), int(limit - (total[last - 1] if last else 0))
        rows = np.sort(order[:last + 1])
    draw, sequence = np.divmod(rows, n)
    where = probe[draw, sequence].copy()
    if cut_row >= 0:                                      # keep the first cut_at probe positions of the cut row
        r = int(np.searchsorted(rows, cut_row))
        cols = np.flatnonzero(where[r])
        where[r, cols[cut_at:]] = False
    x = sequences[sequence].copy()
    x[selected[draw, sequence]] = spec.mask_id
    return MaskedPositions(x, where, sequences[sequence][where], draw, sequence, available)
