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
import warnings
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

# a checkpoint directory needs one of these, or AutoTokenizer builds a near-empty tokenizer
TOKENIZER_FILES = ("tokenizer.json", "vocab.txt", "spiece.model", "sentencepiece.bpe.model", "tokenizer.model")

CORPUS_FIELDS = ("corpus", "n_articles", "corpus_max_words", "tokenizer", "vocab_size", "max_len",
                 "sequences", "eval_fraction", "seed")

# bump when tokenizer.learn_vocabulary changes, so cached corpora are rebuilt
VOCABULARY_LEARNER = "counts-v1"

# variant -> (init, steps field, dropout or None for the profile's)
VARIANTS = {
    "main": ("random", "steps", None),
    "random": ("random", "ssb_steps", 0.0),
    "symmetric": ("symmetric", "ssb_steps", 0.0),
    "symmetric_eps": ("symmetric_eps", "ssb_steps", 0.0),
    "stochastic": ("random", "ssb_steps", 0.1),
}


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
    cached = None if force else _load_corpus_cache(cache, cfg)
    if cached is not None:
        return cached
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


def _load_corpus_cache(cache: Path, cfg: dict) -> Corpus | None:
    """The cached corpus when its configuration is ``cfg``; None when absent or of another
    configuration.  A cache that cannot be read (truncated blocks.npz, corrupt JSON, a broken
    tokenizer) is deleted with a one-line warning naming it, and None returned: it is rebuilt."""
    config_file = cache / "corpus_config.json"
    if not config_file.exists():
        return None
    try:
        if json.loads(config_file.read_text()) != cfg:
            return None
        tokenizer = load_tokenizer(cache / "tokenizer")
        with np.load(cache / "blocks.npz") as f:
            train, held = f["train"], f["eval"]
        stats = json.loads((cache / "stats.json").read_text())
        return Corpus(tokenizer, train, held, stats)
    except Exception as err:  # noqa: BLE001 - any unreadable part: rebuild the whole cache
        warnings.warn(f"corpus cache {cache} cannot be read ({type(err).__name__}: {err}); deleted, rebuilding",
                      stacklevel=3)
        shutil.rmtree(cache, ignore_errors=True)
        return None


def pretrained(profile, variant: str = "main", data_dir=None, force: bool = False, progress: bool = True,
               corpus_: Corpus | None = None) -> PretrainRun:
    """The pre-trained BERT-6 of a variant, reused from runs/<profile>/pretrain/<variant>/ if its
    configuration matches, resumed if interrupted, trained otherwise."""
    if variant not in VARIANTS:
        raise ValueError(f"unknown variant {variant!r}; choose one of {sorted(VARIANTS)}")
    init, steps_field, dropout = VARIANTS[variant]
    c = corpus_ or corpus(profile, data_dir, progress=progress)
    return pretrain(profile, runs_dir(profile) / "pretrain" / variant, c.tokenizer, c.train_blocks, c.eval_blocks,
                    init=init, steps=getattr(profile, steps_field), dropout=dropout, force=force,
                    progress=progress, desc=f"pretrain[{variant}]")


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
    and the last held-out masked-token accuracy against the most-frequent-token baseline."""
    cfg = json.loads((run.final_dir / "run_config.json").read_text())
    seconds = float(cfg.get("train_seconds") or 0.0)
    tokens = int(cfg.get("tokens_seen") or 0)
    return {"steps": int(cfg["steps"]), "tokens_seen": tokens, "train_seconds": seconds,
            "tokens_per_second": tokens / seconds if seconds > 0 else None,
            "mlm_accuracy": run.last("eval_accuracy"), "baseline_accuracy": run.last("baseline_accuracy")}


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
        local = Path(str(checkpoint)).expanduser()
        if local.is_dir():                             # refused before AutoTokenizer can invent a tokenizer
            checkpoint = str(local.absolute())
            if not any((local / name).is_file() for name in TOKENIZER_FILES):
                raise FileNotFoundError(f"checkpoint {checkpoint} has no tokenizer files (one of "
                                        f"{', '.join(TOKENIZER_FILES)}); save the tokenizer next to the model "
                                        "(tokenizer.save_pretrained(directory))")
        model = load_backbone(checkpoint, allow_download=allow)
        try:
            from transformers import AutoTokenizer
            tok = AutoTokenizer.from_pretrained(str(checkpoint), local_files_only=not allow)
        except Exception as err:                       # noqa: BLE001 - unreadable tokenizer files
            raise FileNotFoundError(f"checkpoint {checkpoint}: its tokenizer cannot be loaded "
                                    f"({type(err).__name__}: {err})") from None
        if len(tok) > model.config.vocab_size:
            raise ValueError(f"checkpoint {checkpoint}: tokenizer has {len(tok)} entries but the model's "
                             f"vocabulary has {model.config.vocab_size}")
        cfg = model.config
        if progress:
            print(f"checkpoint {checkpoint}: {cfg.num_hidden_layers} blocks, {cfg.num_attention_heads} heads x "
                  f"d_h {cfg.hidden_size // cfg.num_attention_heads} (hidden {cfg.hidden_size}), "
                  f"vocabulary {cfg.vocab_size}, tokenizer {len(tok)} entries")
        return Backbone(model, tok, str(checkpoint), None)
    run = pretrained(profile, variant, data_dir, force=force, progress=progress)
    return Backbone(load_backbone(run.final_dir), run.tokenizer, str(run.final_dir), variant)


def untrained_backbone(profile, data_dir=None) -> Backbone:
    """The untrained-backbone control: BERT-6 of the profile's architecture built by
    ``model.build_bert6`` with the profile's seed and init "random", 0 training steps, with the
    main run's tokenizer (``corpus``).  Its ``model`` is a frozen ``BertModel`` like
    ``nodes.load_backbone`` returns, so ``token_probe`` / ``fewrel_probe`` take it as they take
    a trained backbone."""
    from .model import build_bert6
    from .nodes import attention_projections

    c = corpus(profile, data_dir, progress=False)
    tok = c.tokenizer
    mlm = build_bert6(len(tok), seed=profile.seed, init="random", n_layers=profile.n_layers, n_heads=profile.n_heads,
                      d_head=profile.d_head, max_len=profile.max_len, dropout=0.0, pad_token_id=tok.pad_token_id)
    model = mlm.bert
    attention_projections(model)
    model.eval().requires_grad_(False)
    return Backbone(model, tok, "untrained (random init, 0 steps)", "untrained")


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
