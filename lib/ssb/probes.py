"""Probes: node vectors of a frozen backbone with the labels a readout learns to name.

    probe = probes.token_probe(profile, bb.model, bb.tokenizer, corpus, [6])    # masked tokens
    probe = probes.fewrel_probe(profile, bb.model, bb.tokenizer, split, [6])    # FewRel relations
    probes.fewrel_probes(profile, bb.model, bb.tokenizer, split, [6], ("cls", "mean"))  # one pass
    probes.probe_baselines(probe, predictions, probes.mlm_head_predictions(checkpoint, probe))

A ``Probe`` holds, per block, the training and test node vectors (``node_vectors``: read through
forward hooks, cached on disk under the fingerprints of weights and inputs) and their classes:
the K most frequent training tokens at [MASK] positions (``mlm.masked_positions``), or FewRel's
relations.  The backbone is a frozen ``BertModel`` or the path of a checkpoint directory that
``backbones.load_backbone`` loads.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from transformers import BertForMaskedLM

from . import backbones, stats
from .cache_keys import array_fingerprint, weights_fingerprint
from .corpus import Corpus
from .fewrel import encode_sentences
from .mlm import MaskingSpec, masked_positions
from .node_vectors import (as_tensor, cached_node_vector_entries, cached_node_vectors, node_vector_cache_key,
                           node_vectors, pooled_node_vectors)
from .profiles import profile_device, resolve_device
from .results import runs_dir


@dataclass
class Probe:
    """Node vectors and labels of a classification probe, per block.

    Token probes (``task="tokens"``) also carry ``class_token_ids`` (the token id of each class:
    the K most frequent training tokens, or the whole vocabulary), ``classes_note`` (which
    positions the probe trains and evaluates on, in words) and the held-out inputs
    (``test_input_ids``, ``test_where``) so that the model's own MLM head can be evaluated at
    exactly the probe's test positions (``mlm_head_predictions``)."""
    z_train: dict[int, np.ndarray]   # block -> (N_train, D)
    y_train: np.ndarray              # (N_train,)
    z_test: dict[int, np.ndarray]    # block -> (N_test, D)
    y_test: np.ndarray               # (N_test,)
    n_classes: int
    label_names: list[str]
    n_heads: int
    d_head: int
    checkpoint_fp: str = ""          # cache_keys.weights_fingerprint of the backbone
    train_key: str = ""              # node_vector_cache_key of z_train's cache entry ("": none; heads then hash
                                     # z_train's content).  A Probe with other z_train must not keep it.
    task: str = "labels"             # "tokens" (masked positions) | "labels" (FewRel sentences)
    class_token_ids: np.ndarray | None = None   # tokens: (n_classes,) token id of each class
    classes_note: str = ""
    test_input_ids: np.ndarray | None = None    # tokens: (M, T) held-out probe inputs ([MASK] at every draw's selection)
    test_where: np.ndarray | None = None        # tokens: (M, T) bool, the test positions in row-major order
    test_sequences: np.ndarray | None = None    # tokens: (N_test,) the held-out sequence of each test item (the
                                                # independent unit: positions of one sequence are correlated)
    test_keys: np.ndarray | None = None         # tokens: (N_test,) sequence * T + position: an item masked in
                                                # several draws has one key (``stats.first_occurrence``)

    @property
    def test_clusters(self) -> np.ndarray | None:
        """The independent unit of each test item: its sequence (tokens), None (labels: every
        FewRel sentence is its own unit)."""
        return self.test_sequences

    def require_block(self, block: int) -> None:
        """ValueError naming the available blocks when ``block`` has no node vectors here."""
        if block not in self.z_train:
            raise ValueError(f"block {block} has no cached node vectors; available blocks: {sorted(self.z_train)}")


def token_class_ids(train_sequences: np.ndarray, tokenizer, k: int) -> np.ndarray:
    """The token ids that are the probe's classes, in class order.

    k = 0: the whole vocabulary (class = token id).  k > 0: the k most frequent tokens of the
    training sequences (special tokens excluded), most frequent first, ties to the lower id."""
    vocab = len(tokenizer)
    if k < 0 or k > vocab:
        raise ValueError(f"token_classes must be in 0..{vocab} (0 = the whole vocabulary), got {k}")
    if k == 0:
        return np.arange(vocab)
    counts = np.bincount(np.asarray(train_sequences).ravel(), minlength=vocab)[:vocab].astype(np.int64)
    counts[list(tokenizer.all_special_ids)] = -1
    order = np.lexsort((np.arange(vocab), -counts))
    if counts[order[k - 1]] <= 0:
        raise ValueError(f"token_classes={k}, but only {int((counts > 0).sum())} tokens occur in the training sequences")
    return order[:k]


def token_class_counts(corpus_: Corpus, probe: Probe) -> np.ndarray:
    """Training-split frequency of each of the probe's classes, (n_classes,) (APT's frequency axis)."""
    counts = np.bincount(corpus_.train_sequences.ravel(), minlength=len(corpus_.tokenizer))
    ids = probe.class_token_ids if probe.class_token_ids is not None else np.arange(probe.n_classes)
    return counts[ids]


def blocks_through(blocks: list[int]) -> list[int]:
    """Every block from 1 to the deepest requested one.  Node vectors of all of them cost one
    forward pass up to the deepest block, so probes always cache the whole range: a notebook
    asking for block 6 then reuses what another computed for blocks 1..6."""
    if not blocks:
        raise ValueError("no block requested")
    return list(range(1, max(int(b) for b in blocks) + 1))


def extraction_options(profile, device=None) -> tuple[dict, dict]:
    """(node_vectors keyword arguments, extra cache-key parts) for ``device`` (None: the profile's,
    resolved once per process, ``profiles.profile_device``): on CUDA large batches and, with
    mixed_precision "bf16", bfloat16 autocast (float32 node vectors stored); on the CPU the
    defaults, and no extra key (existing CPU caches stay valid)."""
    device = profile_device(profile) if device is None else resolve_device(device)
    if device.type == "cpu":
        return {"device": device}, {}
    bf16 = profile.mixed_precision == "bf16"
    return {"device": device, "bf16": bf16, "batch_size": 512}, ({"autocast": "bf16"} if bf16 else {})


def token_probe(profile, backbone, tokenizer, corpus_: Corpus, blocks: list[int], force: bool = False,
                progress: bool = True, *, classes: int | None = None, examples: int | None = None,
                draws: int | None = None) -> Probe:
    """Node vectors of ``backbone`` (a frozen ``BertModel``, or a checkpoint directory) at masked
    positions ([MASK] in the input) and the tokens hidden there.

    Classes: ``profile.token_classes`` (``classes`` overrides): 0 = every vocabulary token
    (class = token id); K = the K most frequent training tokens, class c = the c-th most
    frequent.  Training AND test positions are then only those whose token is a class
    (``Probe.classes_note`` says so).
    Training positions: ``profile.token_examples`` of them (``examples``), subsampled with a
    seed over ``profile.token_mask_draws`` mask draws (``draws``) of the WHOLE training split
    (``mlm.masked_positions``).  Test positions: every probe position of the same number of
    draws over every held-out sequence."""
    k = profile.token_classes if classes is None else int(classes)
    n_train = profile.token_examples if examples is None else int(examples)
    draws = profile.token_mask_draws if draws is None else int(draws)
    model = backbones.load_backbone(backbone) if isinstance(backbone, (str, Path)) else backbone
    blocks = blocks_through(blocks)
    spec = MaskingSpec.from_tokenizer(tokenizer, profile.mask_prob)
    cfg = model.config
    if len(tokenizer) > cfg.vocab_size:
        raise ValueError(f"the tokenizer has {len(tokenizer)} tokens but the checkpoint's vocabulary has "
                         f"{cfg.vocab_size}: tokenizer and checkpoint do not belong together")
    n_heads = cfg.num_attention_heads
    class_ids = token_class_ids(corpus_.train_sequences, tokenizer, k)
    lookup = np.full(len(tokenizer), -1, dtype=np.int64)
    lookup[class_ids] = np.arange(len(class_ids))
    keep = lookup >= 0
    fp = weights_fingerprint(model)
    options, key_extra = extraction_options(profile)
    out = {}
    for part, sequences, stream, limit in (("train", corpus_.train_sequences, 4, n_train),
                                            ("test", corpus_.eval_sequences, 5, None)):
        pos = masked_positions(sequences, spec, profile.seed, stream, limit, draws=draws, keep=keep)
        if not pos.where.any():
            raise ValueError(f"no {part} position holds one of the {len(class_ids)} probe classes")
        am = (pos.input_ids != tokenizer.pad_token_id).astype(np.int64)
        key = {"weights": fp, "inputs": array_fingerprint(pos.input_ids, pos.where), "blocks": sorted(blocks),
               "select": "masked"} | key_extra
        z = cached_node_vectors(runs_dir(profile) / "cache", key,
                                lambda allocate: node_vectors(model, pos.input_ids, am, blocks, select=pos.where,
                                                              progress=progress, desc=f"node vectors ({part})",
                                                              allocate=allocate, **options),
                                force=force)
        out[part] = (z, lookup[pos.tokens], pos, node_vector_cache_key(key))
    vocab = tokenizer.convert_ids_to_tokens([int(t) for t in class_ids])
    test = out["test"][2]
    rows, cols = np.nonzero(test.where)                   # row-major: the order of the test items
    scope = "every vocabulary token" if k == 0 else f"the {k} most frequent training tokens"
    note = (f"{len(out['train'][1])} training positions (of {out['train'][2].available} offered by {draws} mask "
            f"draw(s) over all {len(corpus_.train_sequences)} training sequences) and {len(test.tokens)} held-out "
            f"positions ({draws} draw(s) over {len(corpus_.eval_sequences)} held-out sequences); classes: {scope}"
            + ("" if k == 0 else "; only positions holding one of them are used, for training and for evaluation"))
    return Probe(out["train"][0], out["train"][1], out["test"][0], out["test"][1], len(class_ids), vocab,
                 n_heads, cfg.hidden_size // n_heads, fp, train_key=out["train"][3], task="tokens",
                 class_token_ids=class_ids,
                 classes_note=note, test_input_ids=test.input_ids, test_where=test.where,
                 test_sequences=test.sequence[rows], test_keys=test.sequence[rows] * test.where.shape[1] + cols)


def mlm_head_predictions(checkpoint, probe: Probe, batch_size: int = 64, progress: bool = False) -> np.ndarray:
    """The pre-trained model's own MLM head at the token probe's test positions, restricted to the
    probe's classes: (N_test,) class indices, comparable item by item with the probe's predictions.

    ``checkpoint``: the BertForMaskedLM directory the probe's backbone was loaded from (or the
    model itself).  Its encoder must be the probe's backbone (weights fingerprint), else ValueError."""
    if probe.task != "tokens" or probe.test_input_ids is None:
        raise ValueError("mlm_head_predictions needs a token probe made by token_probe (with its test inputs)")
    model = checkpoint if not isinstance(checkpoint, (str, Path)) else \
        BertForMaskedLM.from_pretrained(str(checkpoint), local_files_only=True)
    if not hasattr(model, "cls"):
        raise ValueError(f"{type(model).__name__} has no MLM head (expected a BertForMaskedLM checkpoint)")
    if probe.checkpoint_fp and weights_fingerprint(model.bert) != probe.checkpoint_fp:
        raise ValueError("this MLM checkpoint's encoder is not the backbone the probe's node vectors came from")
    ids = probe.class_token_ids if probe.class_token_ids is not None else np.arange(probe.n_classes)
    cls_ids = torch.from_numpy(np.asarray(ids, dtype=np.int64))
    x, where = probe.test_input_ids, probe.test_where
    am = (x != model.config.pad_token_id).astype(np.int64) if model.config.pad_token_id is not None else np.ones_like(x)
    out = []
    starts = range(0, len(x), batch_size)
    if progress:
        from tqdm import tqdm
        starts = tqdm(starts, desc="MLM head", unit="batch")
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            for s in starts:
                h = model.bert(input_ids=as_tensor(x[s:s + batch_size]),
                               attention_mask=as_tensor(am[s:s + batch_size])).last_hidden_state
                logits = model.cls(h[as_tensor(where[s:s + batch_size])])          # (m, V)
                out.append(logits[:, cls_ids].argmax(-1).numpy())
    finally:
        model.train(was_training)
    return np.concatenate(out) if out else np.zeros(0, dtype=np.int64)


def probe_baselines(probe: Probe, probe_predictions: np.ndarray, mlm_predictions: np.ndarray | None = None) -> dict:
    """The token probe against the constant predictor (most frequent training class) and the
    model's own MLM head, on the same test positions and classes.

    Returns {"table": DataFrame (predictor, accuracy, ci_low, ci_high; Wilson 95 %),
    "gate": stats.probe_gate(...) of the probe against the constant predictor,
    "mlm_vs_constant" / "probe_vs_mlm": stats.paired_accuracy_test records (None without MLM),
    "classes_note": probe.classes_note}."""
    y = np.asarray(probe.y_test)
    pred = np.asarray(probe_predictions)
    if pred.shape != y.shape:
        raise ValueError(f"{len(pred)} probe predictions for {len(y)} test positions")
    constant = int(np.bincount(np.asarray(probe.y_train), minlength=probe.n_classes).argmax())
    rows = [("probe (full aperture)", pred == y), ("constant predictor", y == constant)]
    if mlm_predictions is not None:
        mlm = np.asarray(mlm_predictions)
        if mlm.shape != y.shape:
            raise ValueError(f"{len(mlm)} MLM predictions for {len(y)} test positions")
        rows.append(("model's MLM head", mlm == y))
    table = pd.DataFrame([{"predictor": name, "accuracy": float(c.mean()), "correct": int(c.sum()), "n": len(c),
                           "ci_low": stats.proportion_ci(int(c.sum()), len(c))[0],
                           "ci_high": stats.proportion_ci(int(c.sum()), len(c))[1]} for name, c in rows])
    out = {"table": table, "gate": stats.probe_gate(y, pred, probe.y_train), "classes_note": probe.classes_note,
           "mlm_vs_constant": None, "probe_vs_mlm": None}
    if mlm_predictions is not None:
        out["mlm_vs_constant"] = stats.paired_accuracy_test(rows[2][1], rows[1][1])
        out["probe_vs_mlm"] = stats.paired_accuracy_test(rows[0][1], rows[2][1])
    return out


def fewrel_probe(profile, backbone, tokenizer, split, blocks: list[int], pooling: str | None = None,
                 force: bool = False, progress: bool = True) -> Probe:
    """Node vectors of FewRel sentences at [CLS] or averaged over real tokens (``pooling``, default
    ``profile.pooling``), per block, read through ``backbone`` (a frozen ``BertModel``, or a
    checkpoint directory).  ``fewrel_probes`` gives several poolings from one forward pass."""
    pooling = pooling or profile.pooling
    return fewrel_probes(profile, backbone, tokenizer, split, blocks, (pooling,), force=force, progress=progress)[pooling]


def fewrel_probes(profile, backbone, tokenizer, split, blocks: list[int], poolings=("cls", "mean"),
                  force: bool = False, progress: bool = True) -> dict[str, Probe]:
    """``fewrel_probe`` for each pooling in ``poolings``: pooling -> Probe.  Each pooling's node
    vectors are cached on their own, under the same key as ``fewrel_probe``'s; those not cached
    yet (all of them with ``force``) come from one forward pass per split
    (``node_vectors.pooled_node_vectors``), not one per pooling."""
    model = backbones.load_backbone(backbone) if isinstance(backbone, (str, Path)) else backbone
    poolings = list(dict.fromkeys(poolings))
    blocks = blocks_through(blocks)
    max_len = min(profile.max_len, model.config.max_position_embeddings)
    fp = weights_fingerprint(model)
    options, key_extra = extraction_options(profile)
    z, keys = {}, {}
    for part, texts in (("train", split.train_texts), ("test", split.test_texts)):
        ids, am = encode_sentences(tokenizer, texts, max_len)
        if ids.max() >= model.config.vocab_size:
            raise ValueError(f"the tokenizer produces ids up to {ids.max()} but the checkpoint's vocabulary "
                             f"has {model.config.vocab_size} entries: tokenizer and checkpoint do not belong together")
        inputs = array_fingerprint(ids, am)
        keys[part] = {pool: {"weights": fp, "inputs": inputs, "blocks": sorted(blocks), "select": pool} | key_extra
                      for pool in poolings}

        def compute(allocators, ids=ids, am=am, part=part):
            return pooled_node_vectors(model, ids, am, blocks, list(allocators), progress=progress,
                                       desc=f"node vectors ({part}, {' + '.join(allocators)})",
                                       allocate=lambda pool, block, shape: allocators[pool](block, shape), **options)

        z[part] = cached_node_vector_entries(runs_dir(profile) / "cache", keys[part], compute, force=force)
    n_heads = model.config.num_attention_heads
    return {pool: Probe(z["train"][pool], split.train_labels, z["test"][pool], split.test_labels, split.n_labels(),
                        list(split.label_names), n_heads, model.config.hidden_size // n_heads, fp,
                        train_key=node_vector_cache_key(keys["train"][pool]))
            for pool in poolings}


def variant_token_probe(profile, variant: str, corpus_: Corpus, blocks: list[int], data_dir=None,
                        force: bool = False, progress: bool = True) -> Probe:
    """Token probe (node vectors at masked positions) of one pre-trained variant."""
    run = backbones.pretrained(profile, variant, data_dir, force=force, progress=progress, corpus_=corpus_)
    return token_probe(profile, backbones.load_backbone(run.final_dir), corpus_.tokenizer, corpus_, blocks, progress=progress)


def variant_fewrel_probe(profile, variant: str, split, blocks: list[int], data_dir=None, pooling: str | None = None,
                         force: bool = False, progress: bool = True) -> Probe:
    """FewRel probe (sentence node vectors) of one pre-trained variant."""
    run = backbones.pretrained(profile, variant, data_dir, force=force, progress=progress)
    return fewrel_probe(profile, backbones.load_backbone(run.final_dir), run.tokenizer, split, blocks, pooling=pooling,
                        progress=progress)
