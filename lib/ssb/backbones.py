"""The backbones the analyses read: our pre-trained variants, a checkpoint, the untrained controls.

    bb = backbones.backbone(profile, "main")             # trained here (or reused), with its gate
    bb = backbones.backbone(profile, checkpoint="dir")   # any BERT checkpoint, verified on load
    backbones.untrained_controls(profile, bb)            # the same architecture, 0 steps
    backbones.pretrained_runs(profile, ["main", *backbones.ssb_variants(profile)])   # notebook 01

A variant (``VARIANTS``) is a pre-training run: an initialisation, a number of steps and a
dropout; its checkpoint lives in runs/<profile>/pretrain/<variant>/ and is reused while its
configuration matches, resumed when interrupted.  Unfinished runs train in parallel worker
processes on the CPU (``pretrain_workers``).  ``load_backbone`` reads any checkpoint directory as
a frozen ``BertModel`` and refuses what the node analysis cannot read.
"""
from __future__ import annotations

import functools
import json
import os
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import torch

from .corpus import Corpus, prepare as prepare_corpus
from .data import network_available
from .mlm import MaskingSpec
from .model import build_bert6, profile_shape
from .node_vectors import attention_projections
from .pretrain import PretrainRun, pretrain, pretrain_finished, snapshot_grid
from .pretrain_workers import train_in_parallel
from .profiles import EPS_VARIANT_PREFIX, eps_grid, eps_variant, profile_device, variant_eps
from .results import runs_dir

# a checkpoint directory needs one of these, or AutoTokenizer builds a near-empty tokenizer
TOKENIZER_FILES = ("tokenizer.json", "vocab.txt", "spiece.model", "sentencepiece.bpe.model", "tokenizer.model")

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
# the variants notebook 01 trains and gates besides the main run (C3); ``ssb_variants`` adds the eps grid's
SSB_VARIANTS = ("symmetric", "symmetric_eps", "symmetric_dropout", "node_symmetric")
# the main run pre-trained again with another seed (profile.backbone_seeds): main_seed<seed>
SEED_VARIANT_PREFIX = "main_seed"


def ssb_variants(profile) -> list[str]:
    """The C3 variants notebook 01 trains besides the main run: ``SSB_VARIANTS`` and one
    symmetric + eps variant per value of the profile's eps grid (``profiles.eps_grid``)."""
    grid = [eps_variant(profile, e) for e in eps_grid(profile)]
    return list(dict.fromkeys([*SSB_VARIANTS, *grid]))


def seed_variants(profile) -> list[str]:
    """The main run's replicates over pre-training seeds (``profile.backbone_seeds`` - 1 of them):
    main_seed<seed> for seed = profile.seed + 1, +2, ...; the same initialisation scheme, steps and
    data, another seed for the weights, the batch order and the masks."""
    return [f"{SEED_VARIANT_PREFIX}{profile.seed + i}" for i in range(1, profile.backbone_seeds)]


def split_seed_replicates(runs: dict) -> tuple[dict, dict]:
    """(the runs without the seed replicates, the seed replicates main_seed<s>) of a
    ``pretrained_runs`` dict, each in its order: the replicates are no C3 variant."""
    replicates = {v: r for v, r in runs.items() if v.startswith(SEED_VARIANT_PREFIX)}
    return {v: r for v, r in runs.items() if v not in replicates}, replicates


def variant_seed(profile, variant: str) -> int:
    """The pre-training seed of a variant: its own for main_seed<seed>, else the profile's."""
    if not variant.startswith(SEED_VARIANT_PREFIX):
        return profile.seed
    text = variant[len(SEED_VARIANT_PREFIX):]
    if not text.isdigit():
        raise ValueError(f"unknown variant {variant!r}: {SEED_VARIANT_PREFIX}<seed> needs a seed (a whole number >= 0)")
    return int(text)


def pretrained(profile, variant: str = "main", data_dir=None, force: bool = False, progress: bool = True,
               corpus_: Corpus | None = None, on_step=None) -> PretrainRun:
    """The pre-trained BERT-6 of a variant, reused from runs/<profile>/pretrain/<variant>/ if its
    configuration matches, resumed if interrupted, trained otherwise. "random" is an alias of
    "main" (the same run, the same directory). on_step: see ``pretrain.pretrain``."""
    c = corpus_ or prepare_corpus(profile, data_dir, progress=progress)
    name, run_args = _variant_run(profile, variant)
    return pretrain(_run_profile(profile, variant), runs_dir(profile) / "pretrain" / name, c.tokenizer, c.train_sequences, c.eval_sequences,
                    force=force, progress=progress, desc=f"pretrain[{name}]", on_step=on_step,
                    fingerprints=c.fingerprints, **run_args)


def _variant_run(profile, variant: str) -> tuple[str, dict]:
    """(run directory name, ``pretrain`` keyword arguments) of a variant.  A variant of the eps
    grid (``eps_variant``) is symmetric_eps with its own eps."""
    eps = variant_eps(profile, variant) if variant.startswith(EPS_VARIANT_PREFIX) else None
    seeded = variant.startswith(SEED_VARIANT_PREFIX)
    if seeded:
        variant_seed(profile, variant)                  # a malformed seed is refused here, with its reason
    if variant not in VARIANTS and eps is None and not seeded:
        raise ValueError(f"unknown variant {variant!r}; choose one of {sorted(VARIANTS)}, "
                         f"{EPS_VARIANT_PREFIX}<eps> (the eps grid: {', '.join(ssb_variants(profile))}) or "
                         f"{SEED_VARIANT_PREFIX}<seed>")
    init, steps_field, dropout = VARIANTS["symmetric_eps" if eps is not None else "main" if seeded else variant]
    if isinstance(dropout, str):
        dropout = getattr(profile, dropout)
    name = VARIANT_ALIASES.get(variant, variant)
    steps = getattr(profile, steps_field)
    # profile.snapshots: the main run keeps its weights on the study's log grid, so that
    # `python -m ssb.bench learning evaluate --snapshots runs/<profile>/pretrain/main/snapshots`
    # measures every gate along this very run (no second long pre-training)
    snapshot_steps = snapshot_grid(steps) if profile.snapshots and name == "main" else ()
    return name, {"init": init, "steps": steps, "dropout": dropout, "snapshot_steps": snapshot_steps,
                  **({"eps": eps} if eps is not None else {})}


def pretrained_runs(profile, variants, data_dir=None, force: bool = False, progress: bool = True,
                    corpus_: Corpus | None = None, workers: int | None = None) -> dict[str, PretrainRun]:
    """``pretrained`` for several variants (a dict in the order given), the unfinished ones
    trained in parallel.

    On the CPU, ``workers`` processes (None: ``profile.pretrain_workers``; 0: the usable cores //
    ``profile.pretrain_threads``, at most one per unfinished run) each train one run at a time
    on ``profile.pretrain_threads`` threads, longest run first.  Two one-thread runs on two cores
    do more steps per second than one two-thread run: the quick model's matrices are too small
    to keep two threads busy (docs/benchmarks.md).  The weights are those of a run trained alone,
    because every run uses the same fixed thread count.  On CUDA, or with one worker, the runs
    train one after another in this process.  Every run resumes from its own checkpoint, so an
    interrupted call continues where each run stopped; an interruption stops every worker."""
    c = corpus_ or prepare_corpus(profile, data_dir, progress=progress)
    variants = list(dict.fromkeys(variants))
    names = list(dict.fromkeys(_variant_run(profile, v)[0] for v in variants))
    pending = names if force else [n for n in names if not _finished(profile, n, c)]
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    threads = profile.pretrain_threads or cores
    n_workers = workers if workers is not None else profile.pretrain_workers
    if n_workers < 0:
        raise ValueError(f"workers must be >= 0 (0: one per core), got {n_workers}")
    n_workers = min(len(pending), n_workers or max(1, cores // threads))
    if len(pending) > 1 and n_workers > 1 and profile_device(profile).type == "cpu":
        steps = {n: _run_steps(profile, n) for n in pending}
        costs = {n: steps[n] * RUN_COST_PER_STEP.get("symmetric_eps" if n.startswith(EPS_VARIANT_PREFIX) else n, 1.0)
                 for n in pending}
        train_in_parallel(functools.partial(_train_variant, profile, c, force), steps, costs, n_workers,
                          threads=profile.pretrain_threads, progress=progress)
        force = False                                   # retrained just now: load what the workers wrote
    runs, retrained = {}, set()
    for v in variants:                                  # force: each run directory is deleted once
        name = _variant_run(profile, v)[0]
        runs[v] = pretrained(profile, v, data_dir, force=force and name not in retrained, progress=progress, corpus_=c)
        retrained.add(name)
    return runs


def _run_profile(profile, variant: str):
    """The profile a variant's run trains with: the profile itself, or for main_seed<seed> the
    same with that seed (the seed is part of the run's configuration: pretrain.TRAINING_FIELDS)."""
    seed = variant_seed(profile, variant)
    return profile if seed == profile.seed else profile.replace(seed=seed)


def _run_steps(profile, name: str) -> int:
    return _variant_run(profile, name)[1]["steps"]


def _finished(profile, name: str, c: Corpus) -> bool:
    """Whether runs/<profile>/pretrain/<name>/final holds a finished run of this configuration."""
    run_args = _variant_run(profile, name)[1]
    return pretrain_finished(_run_profile(profile, name), runs_dir(profile) / "pretrain" / name, c.tokenizer, c.train_sequences,
                             c.eval_sequences, init=run_args["init"], steps=run_args["steps"], dropout=run_args["dropout"],
                             eps=run_args.get("eps"), fingerprints=c.fingerprints)


# Relative cost of a step on the CPU (main run = 1), for sharing runs among workers: the
# symmetric variants' head-exact backward loops over heads, node_symmetric's over every node
# (measured on quick, one thread: 0.70, 0.77-0.82 and 1.12 s a step; docs/benchmarks.md).
RUN_COST_PER_STEP = {"symmetric": 1.15, "symmetric_eps": 1.15, "symmetric_dropout": 1.15, "node_symmetric": 1.6}


def _train_variant(profile, c: Corpus, force: bool, name: str, on_step) -> None:
    """One run of ``pretrained_runs``' workers (``pretrain_workers.train_in_parallel``)."""
    pretrained(profile, name, force=force, progress=False, corpus_=c, on_step=on_step)


# model_type values whose checkpoints load as a BertModel with every weight in place and whose
# node vectors are the input of encoder.layer[i].attention.output.dense.  RoBERTa (offset
# position ids), DistilBERT, ALBERT, ELECTRA... have other layouts and are refused.
SUPPORTED_MODEL_TYPES = ("bert",)
# weights a BertModel may leave unused: MLM/NSP heads, a task classifier, the pooler, buffers
_UNUSED_WEIGHT_PREFIXES = ("cls.", "classifier.", "pooler.", "bert.pooler.", "qa_outputs.")
_WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin", "model.safetensors.index.json",
                 "pytorch_model.bin.index.json")


# What the analysis assumes of the encoder (docs/method.md): bidirectional self-attention over
# one sentence, absolute position embeddings read at positions 0..T-1, every head of width
# hidden_size / num_attention_heads.  A config field that computes something else is refused;
# transformers 5 would otherwise ignore some of them (position_embedding_type) and run another model.
def encoder_config_problems(config) -> list[str]:
    """Why a BERT config's encoder computes something other than what the node analysis assumes
    ([] when nothing)."""
    problems = []
    if getattr(config, "is_decoder", False):
        problems.append("is_decoder is true (causal attention: each position sees only the ones before it)")
    if getattr(config, "add_cross_attention", False):
        problems.append("add_cross_attention is true (a decoder's cross-attention blocks)")
    if getattr(config, "is_encoder_decoder", False):
        problems.append("is_encoder_decoder is true")
    position = getattr(config, "position_embedding_type", "absolute")
    if position not in (None, "absolute"):
        problems.append(f"position_embedding_type is {position!r} (the analysis reads absolute position "
                        "embeddings; this transformers version would silently run absolute ones instead)")
    heads, hidden = getattr(config, "num_attention_heads", 0), getattr(config, "hidden_size", 0)
    if not heads or hidden % heads:
        problems.append(f"hidden_size {hidden} is not a multiple of num_attention_heads {heads} "
                        "(node k belongs to head k // d_head)")
    if getattr(config, "pruned_heads", None):
        problems.append(f"pruned_heads {config.pruned_heads} (blocks of unequal width)")
    return problems


def _weights_files(path: Path) -> list[str]:
    return [name for name in _WEIGHT_FILES if (path / name).is_file()] or list(_WEIGHT_FILES[:1])


def non_finite_weights(model: torch.nn.Module) -> list[str]:
    """Names of the parameters and buffers holding NaN or infinite values."""
    tensors = list(model.named_parameters()) + list(model.named_buffers())
    return [name for name, t in tensors if t.is_floating_point() and not bool(torch.isfinite(t).all())]


def load_backbone(checkpoint: str | Path, allow_download: bool = False):
    """A frozen ``BertModel`` from a local directory (ours or any BERT checkpoint), or from the
    Hub when ``allow_download``, verified rather than trusted:

    - ``model_type`` must be one of SUPPORTED_MODEL_TYPES (ValueError naming the type);
    - every backbone weight must be in the file (ValueError listing the first missing ones);
      unused heads (MLM, classifier, pooler) are fine, any other unexpected weight is an error;
    - the geometry is the loaded model's (``model.config``), which then matches the file;
    - the config computes what the analysis assumes (``encoder_config_problems``: no decoder,
      no cross-attention, absolute positions, equal heads), ValueError naming the field;
    - every weight is finite (ValueError naming the first tensors holding NaN or inf).

    FileNotFoundError when the directory, its config.json or its weights are missing; ValueError
    naming the file when they cannot be read (a truncated model.safetensors, say)."""
    from transformers import AutoConfig, BertModel

    path = Path(str(checkpoint)).expanduser()
    if path.is_file() and path.parent.is_dir() and path.name in ("config.json", *_WEIGHT_FILES):
        raise FileNotFoundError(f"checkpoint {path} is a file; pass the directory that holds it: "
                                f"-p checkpoint {path.parent}")
    if path.exists():
        if not path.is_dir():
            raise FileNotFoundError(f"checkpoint {path} is a file, not a model directory "
                                    "(a directory with config.json and model weights)")
        if not (path / "config.json").is_file():
            raise FileNotFoundError(f"{path} is not a model checkpoint: no config.json in it")
        if not any((path / name).is_file() for name in _WEIGHT_FILES):
            raise FileNotFoundError(f"checkpoint {path} has no weights file ({', '.join(_WEIGHT_FILES[:2])})")
        source, local, label = str(path), True, str(path.absolute())
    elif allow_download:
        source, local, label = str(checkpoint), False, str(checkpoint)
    else:
        raise FileNotFoundError(f"checkpoint {checkpoint!r} not found locally and downloads are off "
                                "(offline); pass a local directory with config.json and model weights")
    try:
        config = AutoConfig.from_pretrained(source, local_files_only=local)
    except (OSError, ValueError, KeyError) as err:
        raise ValueError(f"checkpoint {label}: config.json cannot be read ({type(err).__name__}: {err})") from None
    model_type = getattr(config, "model_type", None)
    if model_type not in SUPPORTED_MODEL_TYPES:
        raise ValueError(f"checkpoint {label} has model_type {model_type!r}; supported: "
                         f"{', '.join(SUPPORTED_MODEL_TYPES)} (BertModel layout: node vectors are the input of "
                         "encoder.layer[i].attention.output.dense, absolute position ids from 0)")
    problems = encoder_config_problems(config)
    if problems:
        raise ValueError(f"checkpoint {label}: its config.json describes an encoder that computes something other "
                         f"than the analysed BERT encoder: {'; '.join(problems)}. Use a plain bidirectional "
                         "BERT encoder checkpoint (or fix config.json if these fields are wrong)")
    try:
        model, info = BertModel.from_pretrained(source, local_files_only=local, add_pooling_layer=False,
                                                output_loading_info=True)
    except Exception as err:  # noqa: BLE001 - safetensors raises its own SafetensorError, torch RuntimeError...
        where = ", ".join(str(path / name) for name in _weights_files(path)) if local else label
        raise ValueError(f"checkpoint {label}: the weights file {where} cannot be loaded as a BertModel "
                         f"({type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}); it is "
                         "probably truncated or corrupt: copy or save the checkpoint again") from None
    missing = sorted(info.get("missing_keys") or ())
    if missing:
        raise ValueError(f"checkpoint {label}: {len(missing)} backbone weight(s) missing from the weights file "
                         f"(they would be random), e.g. {', '.join(missing[:5])}")
    unexpected = sorted(k for k in (info.get("unexpected_keys") or ())
                        if not k.startswith(_UNUSED_WEIGHT_PREFIXES) and not k.endswith("position_ids"))
    mismatched = [str(k) for k in (info.get("mismatched_keys") or ())]
    if unexpected or mismatched:
        raise ValueError(f"checkpoint {label}: weights that do not fit its config.json "
                         f"({len(unexpected)} unexpected, {len(mismatched)} of another shape), e.g. "
                         f"{', '.join((unexpected + mismatched)[:5])}")
    attention_projections(model)
    bad = non_finite_weights(model)
    if bad:
        raise ValueError(f"checkpoint {label}: {len(bad)} weight tensor(s) hold NaN or infinite values, e.g. "
                         f"{', '.join(bad[:5])}; every node vector would be garbage. The training that wrote "
                         "it diverged or the file is damaged: use another checkpoint")
    model.eval().requires_grad_(False)
    return model



def eps_divergence(profile, runs: dict[str, PretrainRun], corpus_: Corpus) -> tuple[dict, pd.DataFrame] | None:
    """C3's functional divergence (``symmetry_runs.divergence_check``) of the core symmetric + eps
    run (``ssb_eps``) against the symmetric run, on every held-out sequence with the backbone gate's
    fixed masks; the two models at step 0 (rebuilt from the seed, nothing trained) are read
    beside them.  None when either run is missing.  Returns (check record, table)."""
    if "symmetric" not in runs or "symmetric_eps" not in runs:
        return None
    from .symmetry_runs import divergence_check

    arch = profile_shape(profile, dropout=0.0, pad_token_id=corpus_.tokenizer.pad_token_id)
    initial = tuple(build_bert6(len(corpus_.tokenizer), seed=profile.seed, init=init, eps=profile.ssb_eps,
                                **arch).eval() for init in ("symmetric", "symmetric_eps"))
    spec = MaskingSpec.from_tokenizer(corpus_.tokenizer, profile.mask_prob)
    return divergence_check(runs["symmetric"].model, runs["symmetric_eps"].model, corpus_.eval_sequences, spec,
                            eps=profile.ssb_eps, seed=profile.seed, initial=initial)


def pretrain_stats(run: PretrainRun) -> dict:
    """Steps, tokens seen, wall time and throughput of a finished run (from its run_config.json),
    and the backbone gate (``heldout.backbone_evaluation``: held-out masked-token accuracy on
    every held-out sequence against the most-frequent-token baseline, exact McNemar, p < ALPHA)."""
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
    variant: str | None = None       # our runs: the variant; None: a checkpoint (``is_checkpoint``)
    gate: dict | None = None         # our runs: the backbone gate recorded with the checkpoint (runs/...)

    @property
    def is_checkpoint(self) -> bool:
        """A checkpoint this project did not train (``backbone(..., checkpoint=...)``)."""
        return self.variant is None

    @property
    def n_blocks(self) -> int:
        return int(self.model.config.num_hidden_layers)

    @property
    def blocks(self) -> list[int]:
        """Every block 1..n_blocks of this backbone (its config's, not the profile's)."""
        return list(range(1, self.n_blocks + 1))

    def check_block(self, block: int) -> None:
        """ValueError naming ``-p block`` when ``block`` is not one of this backbone's blocks."""
        if not 1 <= int(block) <= self.n_blocks:
            raise ValueError(f"-p block {block}: {self.source} has {self.n_blocks} blocks; choose a block from 1 to "
                             f"{self.n_blocks} (e.g. -p block {self.n_blocks})")


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
    return Backbone(load_backbone(run.final_dir), run.tokenizer, str(run.final_dir), variant,
                    (run.backbone or {}).get("gate"))


def untrained_backbone(profile, data_dir=None, seed: int | None = None) -> Backbone:
    """The untrained-backbone control: BERT-6 of the profile's architecture built by
    ``model.build_bert6`` with init "random" and the weights' ``seed`` (None: the profile's), 0
    training steps, with the main run's tokenizer (``corpus.prepare`` of ``profile``).  Its ``model``
    is a frozen ``BertModel`` like ``load_backbone`` returns, so ``probes.token_probe`` /
    ``probes.fewrel_probe`` take it as they take a trained backbone.

    ``seed``: the control of a seed replicate main_seed<seed>, that run's own initialisation -- the
    run reads the profile's corpus and tokenizer (``pretrained``) and takes only its weights from
    its seed, and so does its control.  (Preparing the corpus of ``profile.replace(seed=seed)``
    instead would split it anew, and for a seed-dependent article sample learn another tokenizer,
    replacing the main run's corpus cache each time.)"""
    c = prepare_corpus(profile, data_dir, progress=False)
    tok = c.tokenizer
    seed = profile.seed if seed is None else int(seed)
    mlm = build_bert6(len(tok), seed=seed, init="random", **profile_shape(profile, dropout=0.0,
                                                                           pad_token_id=tok.pad_token_id))
    model = mlm.bert
    attention_projections(model)
    model.eval().requires_grad_(False)
    return Backbone(model, tok, "untrained (random init, 0 steps)", "untrained")


def backbone_corpus(profile, bb: Backbone | None, data_dir=None, force: bool = False, progress: bool = True) -> Corpus:
    """The corpus a backbone reads: ours (``corpus.prepare``) for our own runs and for ``bb``
    None (before any run is trained); for a checkpoint the same articles encoded with the
    checkpoint's tokenizer, in sequences of the profile's ``max_len`` or the checkpoint's position
    limit if that is shorter (cached per tokenizer)."""
    if bb is None or not bb.is_checkpoint:
        return prepare_corpus(profile, data_dir, force=force, progress=progress)
    max_len = min(profile.max_len, int(bb.model.config.max_position_embeddings))
    return prepare_corpus(profile, data_dir, force=force, progress=progress, tokenizer=bb.tokenizer, max_len=max_len)


def untrained_controls(profile, bb: Backbone, data_dir=None) -> list[Backbone]:
    """The untrained controls of a backbone, as a list.

    Our own runs: one, ``untrained_backbone`` -- the main run's own initialisation (same
    architecture and seed, 0 steps), a valid paired control.  A checkpoint: it has no
    initialisation we know, and one random network of another seed is no valid control (two
    random networks differ by more than node or item intervals allow: docs/calibration.md), so
    ``profile.untrained_seeds`` = K random initialisations of the checkpoint's own configuration
    (seeds profile.seed, +1, ..., +K-1; ``BertModel(config)``'s initialiser), each read with the
    checkpoint's tokenizer; ``recognition.claim_stats(untrained_controls=...)`` compares the
    checkpoint with their spread."""
    if not bb.is_checkpoint:
        return [untrained_backbone(profile, data_dir)]
    from transformers import BertModel

    out = []
    for i in range(profile.untrained_seeds):
        seed = profile.seed + i
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            model = BertModel(bb.model.config.__class__.from_dict(bb.model.config.to_dict()), add_pooling_layer=False)
        attention_projections(model)
        model.eval().requires_grad_(False)
        out.append(Backbone(model, bb.tokenizer, f"untrained control {i + 1} of {profile.untrained_seeds}: "
                            f"{bb.source}'s configuration, random init seed {seed}", "untrained"))
    return out
