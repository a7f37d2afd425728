"""The pipeline's artifacts, each computed once and reused while its configuration matches.

Every notebook calls these, so each notebook runs on its own: 03 asks for the pre-trained
model and gets 01's checkpoint if it exists (and matches the profile), or trains it.

    corpus(profile)                 -> tokenizer, train/held-out token blocks, corpus stats
    pretrained(profile, variant)    -> a PretrainRun ("main", "random", "symmetric", ...)
    token_probe(profile, run, ...)  -> node vectors at masked positions + their tokens
    fewrel_probe(profile, ...)      -> node vectors of FewRel sentences + relation labels
"""
from __future__ import annotations

import hashlib
import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import atomic
from .data import load_corpus, network_available
from .mlm import MaskingSpec, encode_corpus, mask_tokens, split_blocks, step_generator
from .nodes import array_fingerprint, cached_node_vectors, load_backbone, node_vectors, weights_fingerprint
from .pretrain import PretrainRun, pretrain
from .results import runs_dir
from .tokenizer import build_tokenizer, load_tokenizer

CORPUS_FIELDS = ("corpus", "n_articles", "corpus_max_words", "tokenizer", "vocab_size", "max_len",
                 "sequences", "eval_fraction", "seed")

# bump when tokenizer.learn_vocabulary changes, so cached corpora are rebuilt
VOCABULARY_LEARNER = "counts-v1"

# variant -> (init, steps field, dropout: a value, a profile field name, or None for the profile's)
# "random" is not trained on its own: it IS the main run (same init, same steps; VARIANT_ALIASES).
# The C3 variants train ``ssb_steps`` steps each; "stochastic" is the main run with dropout.
VARIANTS = {
    "main": ("random", "steps", None),
    "random": ("random", "steps", None),
    "symmetric": ("symmetric", "ssb_steps", 0.0),
    "symmetric_eps": ("symmetric_eps", "ssb_steps", 0.0),
    "symmetric_dropout": ("symmetric", "ssb_steps", "ssb_dropout"),
    "node_symmetric": ("node_symmetric", "ssb_steps", 0.0),
    "stochastic": ("random", "steps", "ssb_dropout"),
}
VARIANT_ALIASES = {"random": "main"}
# the variants notebook 01 trains and gates besides the main run (C3)
SSB_VARIANTS = ("symmetric", "symmetric_eps", "symmetric_dropout", "node_symmetric")


@dataclass
class Corpus:
    tokenizer: object
    train_blocks: np.ndarray     # (n_train, max_len) token ids
    eval_blocks: np.ndarray      # (n_eval, max_len)
    stats: dict = field(default_factory=dict)


def corpus(profile, data_dir=None, force: bool = False, progress: bool = True) -> Corpus:
    """Articles -> tokenizer -> token blocks, cached in runs/<profile>/corpus/."""
    articles = load_corpus(profile.corpus, data_dir, n_articles=profile.n_articles,
                           max_words=profile.corpus_max_words, seed=profile.seed)
    text_fp = hashlib.sha256("\x00".join(articles).encode()).hexdigest()[:16]
    cfg = {k: getattr(profile, k) for k in CORPUS_FIELDS} | {"text": text_fp, "vocabulary": VOCABULARY_LEARNER}
    cache = runs_dir(profile) / "corpus"
    if not force and (cache / "corpus_config.json").exists() and json.loads((cache / "corpus_config.json").read_text()) == cfg:
        tokenizer = load_tokenizer(cache / "tokenizer")
        with np.load(cache / "blocks.npz") as f:
            train, held = f["train"], f["eval"]
        stats = json.loads((cache / "stats.json").read_text())
        return Corpus(tokenizer, train, held, stats)
    tokenizer = build_tokenizer(profile, articles, allow_download=network_available())
    blocks = encode_corpus(articles, tokenizer, profile.max_len, mode=profile.sequences, progress=progress)
    train, held = split_blocks(blocks, profile.eval_fraction, profile.seed)
    counts = np.bincount(train.ravel(), minlength=len(tokenizer))
    counts[list(tokenizer.all_special_ids)] = 0
    stats = {
        "articles": len(articles),
        "words": int(sum(len(a.split()) for a in articles)),
        "vocab_size": len(tokenizer),
        "blocks_train": int(len(train)), "blocks_eval": int(len(held)),
        "tokens_train": int(train.size),
        "vocab_used": int((counts > 0).sum()),
        "unk_rate": float((train == tokenizer.unk_token_id).mean()),
    }
    with atomic.atomic_dir(cache) as tmp:
        tokenizer.save_pretrained(tmp / "tokenizer")
        with atomic.atomic_path(tmp / "blocks.npz", suffix=".npz") as f:
            np.savez(f, train=train, eval=held)
        atomic.write_json(tmp / "stats.json", stats)
        atomic.write_json(tmp / "corpus_config.json", cfg)
    return Corpus(tokenizer, train, held, stats)


def pretrained(profile, variant: str = "main", data_dir=None, force: bool = False, progress: bool = True,
               corpus_: Corpus | None = None) -> PretrainRun:
    """The pre-trained BERT-6 of a variant, reused from runs/<profile>/pretrain/<variant>/ if its
    configuration matches, resumed if interrupted, trained otherwise. "random" is an alias of
    "main" (the same run, the same directory)."""
    if variant not in VARIANTS:
        raise ValueError(f"unknown variant {variant!r}; choose one of {sorted(VARIANTS)}")
    init, steps_field, dropout = VARIANTS[variant]
    if isinstance(dropout, str):
        dropout = getattr(profile, dropout)
    c = corpus_ or corpus(profile, data_dir, progress=progress)
    name = VARIANT_ALIASES.get(variant, variant)
    return pretrain(profile, runs_dir(profile) / "pretrain" / name, c.tokenizer, c.train_blocks, c.eval_blocks,
                    init=init, steps=getattr(profile, steps_field), dropout=dropout, force=force,
                    progress=progress, desc=f"pretrain[{name}]")


@dataclass
class Probe:
    """Node vectors and labels of a classification probe, per block."""
    z_train: dict[int, np.ndarray]   # block -> (N_train, D)
    y_train: np.ndarray              # (N_train,)
    z_test: dict[int, np.ndarray]    # block -> (N_test, D)
    y_test: np.ndarray               # (N_test,)
    n_classes: int
    label_names: list[str]
    n_heads: int
    d_head: int
    checkpoint_fp: str = ""
    task: str = "labels"             # "tokens" (masked positions) | "labels" (FewRel sentences)


def _masked_positions(blocks: np.ndarray, spec: MaskingSpec, seed: int, stream: int, limit: int | None):
    """All-[MASK] probe inputs over ``blocks`` (in chunks of 256) until ``limit`` positions."""
    inputs, labels, total = [], [], 0
    for i, s in enumerate(range(0, len(blocks), 256)):
        ids = torch_from(blocks[s:s + 256])
        x, y = mask_tokens(ids, spec, step_generator(seed, stream, i), all_mask=True)
        inputs.append(x.numpy())
        labels.append(y.numpy())
        total += int((y != -100).sum())
        if limit is not None and total >= limit:
            break
    x, y = np.concatenate(inputs), np.concatenate(labels)
    if limit is not None:                                   # cut at exactly `limit` positions
        flat = np.flatnonzero(y.ravel() != -100)
        if len(flat) > limit:
            y = y.copy().ravel()
            y[flat[limit:]] = -100
            y = y.reshape(x.shape)
    return x, y


def blocks_through(blocks: list[int]) -> list[int]:
    """Every block from 1 to the deepest requested one.  Node vectors of all of them cost one
    forward pass up to the deepest block, so probes always cache the whole range: a notebook
    asking for block 6 then reuses what another computed for blocks 1..6."""
    if not blocks:
        raise ValueError("no block requested")
    return list(range(1, max(int(b) for b in blocks) + 1))


def torch_from(a):  # noqa: D103 - numpy -> torch without a copy when contiguous
    import torch
    return torch.from_numpy(np.ascontiguousarray(a))


def token_probe(profile, checkpoint, tokenizer, corpus_: Corpus, blocks: list[int], force: bool = False,
                progress: bool = True) -> Probe:
    """Node vectors at masked positions ([MASK] in the input) and the tokens hidden there.
    Training positions come from the training blocks (``profile.token_examples`` of them);
    test positions from every held-out block."""
    model = checkpoint if not isinstance(checkpoint, (str, Path)) else load_backbone(checkpoint)
    blocks = blocks_through(blocks)
    spec = MaskingSpec.from_tokenizer(tokenizer, profile.mask_prob)
    cfg = model.config
    n_heads = cfg.num_attention_heads
    fp = weights_fingerprint(model)
    out = {}
    for part, blocks_arr, stream, limit in (("train", corpus_.train_blocks, 4, profile.token_examples),
                                            ("test", corpus_.eval_blocks, 5, None)):
        x, y = _masked_positions(blocks_arr, spec, profile.seed, stream, limit)
        where = y != -100
        am = (x != tokenizer.pad_token_id).astype(np.int64)
        z = cached_node_vectors(runs_dir(profile) / "cache",
                                {"weights": fp, "inputs": array_fingerprint(x, where), "blocks": sorted(blocks), "select": "masked"},
                                lambda: node_vectors(model, x, am, blocks, select=where, progress=progress,
                                                     desc=f"node vectors ({part})"), force=force)
        out[part] = (z, y[where])
    vocab = tokenizer.convert_ids_to_tokens(list(range(len(tokenizer))))
    return Probe(out["train"][0], out["train"][1], out["test"][0], out["test"][1], len(tokenizer), vocab,
                 n_heads, cfg.hidden_size // n_heads, fp, task="tokens")


def encode_sentences(tokenizer, texts: list[str], max_len: int) -> tuple[np.ndarray, np.ndarray]:
    enc = tokenizer(texts, max_length=max_len, truncation=True, padding="max_length", return_tensors="np")
    return enc["input_ids"].astype(np.int64), enc["attention_mask"].astype(np.int64)


def fewrel_probe(profile, checkpoint, tokenizer, split, blocks: list[int], pooling: str | None = None,
                 force: bool = False, progress: bool = True) -> Probe:
    """Node vectors of FewRel sentences at [CLS] or averaged over real tokens, per block."""
    model = checkpoint if not isinstance(checkpoint, (str, Path)) else load_backbone(checkpoint)
    pooling = pooling or profile.pooling
    blocks = blocks_through(blocks)
    max_len = min(profile.max_len, model.config.max_position_embeddings)
    fp = weights_fingerprint(model)
    out = {}
    for part, texts in (("train", split.train_texts), ("test", split.test_texts)):
        ids, am = encode_sentences(tokenizer, texts, max_len)
        if ids.max() >= model.config.vocab_size:
            raise ValueError(f"the tokenizer produces ids up to {ids.max()} but the checkpoint's vocabulary "
                             f"has {model.config.vocab_size} entries: tokenizer and checkpoint do not belong together")
        out[part] = cached_node_vectors(runs_dir(profile) / "cache",
                                        {"weights": fp, "inputs": array_fingerprint(ids, am), "blocks": sorted(blocks), "select": pooling},
                                        lambda: node_vectors(model, ids, am, blocks, select=pooling, progress=progress,
                                                             desc=f"node vectors ({part})"), force=force)
    n_heads = model.config.num_attention_heads
    return Probe(out["train"], split.train_labels, out["test"], split.test_labels, split.n_labels(),
                 list(split.label_names), n_heads, model.config.hidden_size // n_heads, fp)


def pretrain_stats(run: PretrainRun) -> dict:
    """Steps, tokens seen, wall time and throughput of a finished run (from its run_config.json),
    and the backbone gate (``pretrain.backbone_evaluation``: held-out masked-token accuracy on
    every held-out block against the most-frequent-token baseline, exact McNemar, p < ALPHA)."""
    cfg = json.loads((run.final_dir / "run_config.json").read_text())
    seconds = float(cfg.get("train_seconds") or 0.0)
    tokens = int(cfg.get("tokens_seen") or 0)
    evaluation = run.backbone or {}
    return {"steps": int(cfg["steps"]), "tokens_seen": tokens, "train_seconds": seconds,
            "tokens_per_second": tokens / seconds if seconds > 0 else None,
            "mlm_accuracy": evaluation.get("mlm_accuracy"), "baseline_accuracy": evaluation.get("baseline_accuracy"),
            "heldout_positions": evaluation.get("n_positions"), "gate": evaluation.get("gate")}


@dataclass
class Backbone:
    """A frozen BERT backbone with its tokenizer and where it came from."""
    model: object
    tokenizer: object
    source: str
    variant: str | None = None


def backbone(profile, variant: str = "main", data_dir=None, checkpoint: str | None = None,
             force: bool = False, progress: bool = True) -> Backbone:
    """Our pre-trained variant, or -- when ``checkpoint`` is given -- any BertModel-compatible
    local directory (or Hub id when online) with its own tokenizer."""
    if checkpoint:
        allow = network_available()
        model = load_backbone(checkpoint, allow_download=allow)
        try:
            from transformers import AutoTokenizer
            tok = AutoTokenizer.from_pretrained(str(checkpoint), local_files_only=not allow)
        except Exception as err:                       # a checkpoint without tokenizer files
            raise FileNotFoundError(f"checkpoint {checkpoint!r} has no tokenizer files (tokenizer.json / vocab.txt); "
                                    "save the tokenizer next to the model") from err
        if len(tok) > model.config.vocab_size:
            raise ValueError(f"checkpoint {checkpoint!r}: tokenizer has {len(tok)} entries but the model's "
                             f"vocabulary has {model.config.vocab_size}")
        return Backbone(model, tok, str(checkpoint), None)
    run = pretrained(profile, variant, data_dir, force=force, progress=progress)
    return Backbone(load_backbone(run.final_dir), run.tokenizer, str(run.final_dir), variant)


def variant_token_probe(profile, variant: str, corpus_: Corpus, blocks: list[int], data_dir=None,
                        force: bool = False, progress: bool = True) -> Probe:
    """Token probe (node vectors at masked positions) of one pre-trained variant."""
    run = pretrained(profile, variant, data_dir, force=force, progress=progress, corpus_=corpus_)
    return token_probe(profile, load_backbone(run.final_dir), corpus_.tokenizer, corpus_, blocks, progress=progress)


def variant_fewrel_probe(profile, variant: str, split, blocks: list[int], data_dir=None, pooling: str | None = None,
                         force: bool = False, progress: bool = True) -> Probe:
    """FewRel probe (sentence node vectors) of one pre-trained variant."""
    run = pretrained(profile, variant, data_dir, force=force, progress=progress)
    return fewrel_probe(profile, load_backbone(run.final_dir), run.tokenizer, split, blocks, pooling=pooling,
                        progress=progress)
