"""The claims table: each claim of the paper (C1-C6, docs/method.md) against what this run measured.

Every verdict is built from the gate and check records (``ssb.stats.check`` / ``ssb.stats.gate``)
that the notebooks store in ``summary.json`` under ``<section>.stats`` (and
``pretrain.variants.<v>.gate``).  No number is typed here; thresholds are fixed from principles
in ``ssb.stats`` (ALPHA = 0.05 two-sided intervals, GATE_ALPHA = 0.01 probe gate, FDR = 0.05).

Roles
-----
Each claim's records have one of four roles, fixed here before any number is seen:

- **gate**: did the model and the probe learn at all?  A failed or missing gate makes the claim
  "not testable" (a gate with scope "check" vetoes only its own check);
- **sanity**: what holds by construction (exact symmetry under tied training, hull containment).
  Shown; a failed one is an error (``errors``: a bug to report), but it never moves a verdict;
- **context**: a statistic a no-information model passes too (an empty set is "small", the hull
  gap grows with n by geometry alone, κ at the largest n meets a ceiling).  Shown, never evidence;
- **evidence**: a check beside a null that a no-information model could pass, and that such a
  model passes in at most 5 % of seeds (docs/calibration.md).  One of them is the claim's **core**
  check, the one without which the claim's words are not shown; for what training does (C1, C2,
  C4, C5) it compares the trained model with the untrained backbone on the same data;
- **requirement**: a level the claim's own words need (single nodes beyond their permutation
  null, "each node" -- a majority, heads beyond theirs, a set beyond its independent voters,
  reach beyond random readouts).  An untrained network with informative random features meets some
  of them, so a requirement never supports a verdict on its own; but "holds" needs it, and its
  interval on the wrong side contradicts the claim.

Verdicts
--------
One of "holds", "partly", "inconclusive", "does not hold", "not testable", "not measured":

- the claim's summary section is missing                                   -> "not measured";
- a gate failed, a gate is missing, or the core check is missing            -> "not testable"
  (the reason says which, and says "missing" for a record that is not there);
- an evidence check's or requirement's interval lies on the wrong side      -> "does not hold";
- every evidence check and requirement passes (none missing)               -> "holds";
- the core check passes, not all do, none contradicts                      -> "partly"
  (also the most a claim with a missing evidence check can get; the reason names it);
- otherwise (nothing passes, or the core check does not)                   -> "inconclusive".

A check passes only when its whole interval lies on the claimed side of its null (``stats.check``);
it contradicts when its whole interval lies on the other side (``contradicts``).

The rules
---------
Shared gates: **backbone** = ``pretrain.variants.main.gate`` (held-out MLM accuracy above the
most-frequent-token baseline, exact paired McNemar, p < 0.05), or, in a result directory without
the pre-training section (``--only 04,...``), the same record that notebooks 04-07 copy from the
checkpoint they used (``<section>.stats.gates.backbone``); for the label claims it applies only
when the FewRel probe runs on our own backbone (``finetune.checkpoint`` "ours").
**probe** = ``<section>.stats.gates.probe`` (full-aperture readout above the constant predictor,
p < 0.01; token probes clustered by sequence).

- **C1** (``nodes_pretrain``, tokens). Gates: backbone, probe, and ``probe_untrained`` (the probe
  beats the untrained backbone's probe on the same positions).  Evidence: ``beyond_untrained``
  (core), ``beyond_permutation_null``, ``each_node``, ``heads_beyond_null``, ``node_specific``.
  Context: ``small_sets``.  A checkpoint run (``inputs.checkpoint``; C1 and C6): no backbone gate
  of ours; ``probe_untrained`` and ``beyond_untrained`` compare it with ``untrained_seeds``
  random initialisations of its configuration (``stats.beyond_controls``, a prediction interval).
- **C2** (``nodes_finetune``, labels). Gates: backbone (ours only), probe.  Evidence: as C1, plus
  ``probe_untrained`` (as evidence: a random network's features already separate relations), but
  ``node_specific`` is context: C2's words ("each head and each single node recognizes a small set
  of relation labels with above-chance confidence") say nothing of node-specificity, C1's do.  (A
  rule change made after the calibration study was seen: docs/method.md, "Evidence checks".)
  Context too: ``beyond_untrained_across_seeds`` (``seed_replication``: the core check repeated on
  every pre-training seed, Student t over seeds; fixed as context before any value was seen).
- **C3** (``ssb``; ``nodes_*``). Gates: the backbone gates of the symmetric variants.  Sanity:
  ``symmetric_exact``, ``node_symmetric_exact``, ``tied_heads_identical[nodes_*]``.  Evidence:
  ``eps_amplified`` (core: growth rate of the dense g(t) of the run with the profile's ε,
  ``ssb_eps``; Student t over 8 consecutive stretches of the run), ``eps_amplified_<ε>`` for every
  other ε of the profile's grid (``ssb_eps_grid``: they must agree with the core; each gated by
  its own variant's backbone gate), ``eps_diverges`` (the ε model's held-out predictions leave the
  symmetric model's: TV distance minus that of the same ε perturbation unamplified, sequences
  resampled) and ``eps_heads_differ[nodes_*]`` (the ε model's heads recognise different sets; each
  gated by its own probes).  Context: ``dropout_heads_differ[nodes_*]`` (the same for the symmetric model
  trained with dropout: stochastic dynamics, shown beside, never deciding) and ``head_order_parameter`` of older summaries (tied symmetric vs random: 1
  by construction).  A checkpoint run: "not testable" (``CHECKPOINT_C3_REASON``: no symmetric
  variants of a model trained elsewhere).
- **C4** (``crossover``, labels). Gates: backbone (ours only), probe.  Evidence:
  ``cooperation_beyond_untrained`` (core: A(S) minus the independent voters' accuracy, trained
  minus untrained backbone, sets inside one head), ``cooperation_beyond_voters``,
  ``kappa_R_beyond_untrained``, ``dip_depth_across_beyond_untrained``,
  ``dip_depth_in_head_beyond_untrained`` (the cross-fitted dip depth, trained minus untrained), and
  against a readout trained on shuffled labels ``dip_depth_*_beyond_shuffled`` (evidence) and
  ``kappa_R_beyond_shuffled`` (requirement).  Context: ``cooperation_R``, ``cooperation_A``,
  ``dip_depth_across``, ``dip_depth_in_head``.  (The dip statistic changed after the quick values
  were seen: docs/method.md, "Evidence checks".)
- **C5** (``hull``). Gates: backbone (ours only), probe.  Sanity: ``no_violations``.  Evidence:
  ``reach_beyond_untrained`` (core: η = |R|/U of the readout on the trained backbone minus the readout
  on the untrained one, same sets), ``reach_beyond_random`` (η minus random readouts of the same
  shape and row norms) and ``efficiency_falls_beyond_random`` (slope of η against log n, trained
  minus random).  Context:
  ``gap_grows``, ``efficiency_falls``.
- **C6** (``apt``). Gates: backbone, the probe of the block where ``frequency`` is measured
  (``apt.block``: the profile's block; the deepest block's when a summary does not record it).
  Evidence: ``frequency`` (core:
  Spearman(APT, frequency) minus that of the model's own predictions shuffled across items) and
  ``grows_along_blocks``.

``claims_summary(summary)`` gives the ``claims`` / ``claims_stats`` dicts the runner stores in
summary.json: per claim its verdict, its reason, its core check and every record with its role
and summary path.  This module decides; ``ssb.report`` draws.

Length (about 510 lines): one rule per claim, and half of the module is the rules written out in
words above, which must stay beside the code that applies them.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Sequence

from . import schema
from .schema import Apt, Crossover, Finetune, Hull, Inputs, NodesFinetune, NodesPretrain, Pretrain, Section, Ssb

VERDICTS = ("holds", "partly", "inconclusive", "does not hold", "not testable", "not measured")
ROLES = ("evidence", "requirement", "sanity", "context")

# (check name, role) per section, in display order; the core check of each claim is CORE[claim]
NODE_CHECKS = (("beyond_untrained", "evidence"), ("beyond_permutation_null", "requirement"),
               ("each_node", "requirement"), ("heads_beyond_null", "requirement"), ("node_specific", "evidence"),
               ("small_sets", "context"))
SSB_CHECKS = (("eps_amplified", "evidence"), ("eps_diverges", "evidence"), ("symmetric_exact", "sanity"),
              ("node_symmetric_exact", "sanity"))
# The dip records are the cross-fitted dip *depth* (crossover.crossfit_dip; 0 for a curve without a dip,
# whatever its slope).  The earlier signed dip (dip_across*, dip_in_head*) read a rising curve as a negative
# dip and contradicted C4 in 25-50 % of no-information worlds; its records are no longer read (missing).
TOKEN_CROSSOVER_CHECKS = (("cooperation_beyond_untrained", "evidence"), ("cooperation_beyond_voters", "requirement"),
                          ("kappa_R_beyond_untrained", "evidence"), ("dip_depth_across_beyond_untrained", "evidence"),
                          ("dip_depth_in_head_beyond_untrained", "evidence"), ("cooperation_R", "context"),
                          ("cooperation_A", "context"), ("dip_depth_across", "context"),
                          ("dip_depth_in_head", "context"))
# C4 (labels) also against a readout trained on shuffled labels: the dip and kappa_R beyond it.
# kappa_R beyond it is a requirement, not evidence: the calibration study found worlds without
# information passing it in 30-70 % of seeds (a shuffled-label readout recognises almost nothing).
CROSSOVER_CHECKS = TOKEN_CROSSOVER_CHECKS[:5] + (
    ("kappa_R_beyond_shuffled", "requirement"), ("dip_depth_across_beyond_shuffled", "evidence"),
    ("dip_depth_in_head_beyond_shuffled", "evidence")) + TOKEN_CROSSOVER_CHECKS[5:]
HULL_CHECKS = (("reach_beyond_untrained", "evidence"), ("reach_beyond_random", "requirement"),
               ("efficiency_falls_beyond_random", "requirement"),
               ("no_violations", "sanity"), ("gap_grows", "context"), ("efficiency_falls", "context"))
# C2 (labels): node_specific is context -- C2's words claim recognition above chance by each head and
# node, not node-specificity (C1's words); changed after the calibration study was seen (docs/method.md)
LABEL_NODE_CHECKS = tuple((c, "context" if c == "node_specific" else role) for c, role in NODE_CHECKS)
# ... and the fraction beyond the null, trained minus untrained, across pre-training seeds
# (seed_replication): context, fixed before any value was seen (the calibration does not cover it)
LABEL_NODE_CHECKS += (("beyond_untrained_across_seeds", "context"),)
APT_CHECKS = (("frequency", "evidence"), ("grows_along_blocks", "evidence"))
CORE = {"C1": "beyond_untrained", "C2": "beyond_untrained", "C3": "eps_amplified",
        "C4": "cooperation_beyond_untrained", "C5": "reach_beyond_untrained", "C6": "frequency"}

CLAIMS: dict[str, tuple[str, str]] = {
    "C1": ("Pre-training SSB",
           "After MLM pre-training, each attention head of the last block and each single node in it "
           "recognizes only a small, node-specific set of tokens, and different nodes recognize different sets."),
    "C2": ("Fine-tuning SSB",
           "After fine-tuning on FewRel, each head and each single node recognizes a small set of relation "
           "labels with above-chance confidence."),
    "C3": ("Deterministic dynamics",
           "The breaking needs no training noise and is seeded by the random initial weights alone: heads that "
           "start identical and train deterministically stay identical, and a tiny perturbation is amplified."),
    "C4": ("Crossover",
           "As the number n of active nodes grows, accuracy drops as the silenced readout guesses among more outputs "
           "and rises through nodal cooperation; a node set recognizes jointly more labels than its nodes individually."),
    "C5": ("Convex hull",
           "For a linear readout, the labels a node set can output are bounded by the convex hull of its weights; "
           "learning reaches part of that bound, and the gap grows with n."),
    "C6": ("APT",
           "Accuracy per token grows with the token's frequency, and its average over tokens grows along the blocks."),
}

# ----------------------------------------------------------------------------- reading the summary


def lookup(summary: Any, path: str) -> Any:
    """summary["a"]["b"]... for path "a.b..." (``schema.Section.path``), None where any level is missing."""
    node = summary
    for key in path.split("."):
        if not isinstance(node, Mapping) or key not in node:
            return None
        node = node[key]
    return node


def section(summary: dict, cls: type[Section]) -> dict | None:
    """The section ``cls`` of ``summary``; None when it is missing or empty."""
    value = summary.get(cls.section) if isinstance(summary, dict) else None
    return value if isinstance(value, dict) and value else None


# Records measured with a method these rules no longer accept, recognised by their own statistic
# text (each record says how it was computed): they count as missing, never as evidence.
SUPERSEDED = {
    "node_specific": [("frequency-matched", "the pool null (biased: it counted each set's own items)")],
    "frequency": [("drawn from the training distribution", "the unigram-sampler null (it penalised knowing rare tokens)"),
                  ("bootstrap over tokens", "a bootstrap over tokens (positions of one sequence are not independent)"),
                  ("minus that of its own predictions shuffled", "a difference of two correlations (not paired by token: "
                                                                  "50 % power on a planted effect)")],
    "grows_along_blocks": [("bootstrap over tokens", "a bootstrap over tokens (positions of one sequence are not "
                                                    "independent)")],
    "eps_amplified": [("95 % t-interval", "an i.i.d. t-interval on a few autocorrelated points"),
                      ("Newey-West", "a Newey-West interval of the increments (3 lags on ~40 points: it passed trendless "
                                     "g(t) with positively correlated increments, like the measured ones, in 7.6 % "
                                     "of 1,000 paths)")],
}


def record(summary: dict, path: str, label: str | None = None, role: str | None = None) -> dict:
    """The gate/check record at ``path`` with its path, label and role; a stand-in marked
    ``missing`` when the summary does not hold it, or holds it measured by a superseded method
    (``SUPERSEDED``; its values are kept for display, ``superseded`` says why)."""
    rec = lookup(summary, path)
    key = path.rsplit(".", 1)[-1]
    name = label or key
    extra = {} if role is None else {"role": role}
    if not isinstance(rec, dict) or rec.get("missing"):
        return {**(rec if isinstance(rec, dict) else {}), "name": name, "path": path, "missing": True,
                "passed": None, **extra}
    for marker, why in SUPERSEDED.get(key, []):
        if marker in str(rec.get("statistic", "")):
            return {**rec, "name": name, "path": path, "missing": True, "passed": None,
                    "superseded": f"measured with {why}; rerun to measure it", **extra}
    return {**rec, "name": name, "path": path, **extra}


def gate_as_check(rec: dict) -> dict:
    """A gate record (A beats B, paired) read as an evidence check: its difference, the
    difference's interval, null 0, direction greater."""
    if rec.get("missing"):
        return {**rec, "role": "evidence"}
    ci = rec.get("ci") or [None, None]
    diff = rec.get("difference")
    return {**rec, "value": diff, "ci": list(ci), "null": 0.0, "direction": "greater", "role": "evidence",
            "accuracy": rec.get("value"), "accuracy_null": rec.get("null")}


# ----------------------------------------------------------------------------- the rules


def contradicts(c: dict) -> bool:
    """The check's whole interval lies on the wrong side of its null: evidence against."""
    ci, null, d = c.get("ci") or [None, None], c.get("null"), c.get("direction")
    if c.get("missing") or c.get("gated_out") or null is None or ci[0] is None or ci[1] is None:
        return False
    if d == "greater":
        return ci[1] < null
    if d == "less":
        return ci[0] > null
    return False


def _missing(c: dict) -> bool:
    return bool(c.get("missing")) or (c.get("passed") is None and c.get("value") is None)


def blocking_gates(gates: Sequence[dict]) -> tuple[list[str], list[str]]:
    """(failed, missing): the names of the claim-wide gates (scope other than "check") that were
    measured and did not pass, and of those not recorded at all."""
    blocking = [g for g in gates if g.get("scope") != "check"]
    return ([g["name"] for g in blocking if not g.get("missing") and g.get("passed") is not True],
            [g["name"] for g in blocking if g.get("missing")])


def decide(gates: Sequence[dict], checks: Sequence[dict], core: str | None = None) -> tuple[str, str]:
    """(verdict, reason) by the rules of the module docstring.  ``checks`` carry their role;
    only "evidence" ones decide, ``core`` names the core check."""
    failed, missing_gates = blocking_gates(gates)
    if failed or missing_gates:
        parts = ([f"gate {', '.join(failed)} not passed"] if failed else []) + \
                ([f"gate {', '.join(missing_gates)} missing (not recorded in this result directory)"]
                 if missing_gates else [])
        return "not testable", "; ".join(parts)
    evidence = [c for c in checks if c.get("role", "evidence") == "evidence" and not c.get("gated_out")]
    required = [c for c in checks if c.get("role") == "requirement" and not c.get("gated_out")]
    core_rec = next((c for c in evidence if c.get("name") == core), None) if core else None
    if core and (core_rec is None or _missing(core_rec)):
        return "not testable", f"core check {core} missing"
    present = [c for c in evidence + required if not _missing(c)]
    missing = [c["name"] for c in evidence + required if _missing(c)]
    if not any(not _missing(c) for c in evidence):
        return "not testable", "no evidence check could be computed"
    against = [c["name"] for c in present if contradicts(c)]
    passed = [c["name"] for c in present if c.get("passed") is True]
    not_passed = [c["name"] for c in present if c.get("passed") is not True]
    if against:
        return "does not hold", f"evidence against: {', '.join(against)}"
    if not missing and len(passed) == len(present):
        return "holds", "every evidence check and requirement passed"
    core_ok = core is None or core_rec.get("passed") is True
    evidence_passed = [c["name"] for c in evidence if not _missing(c) and c.get("passed") is True]
    if core_ok and evidence_passed:
        why = [f"not passed: {', '.join(not_passed)}"] if not_passed else []
        why += [f"missing: {', '.join(missing)}"] if missing else []
        return "partly", "; ".join(why)
    if not evidence_passed:
        return "inconclusive", "no evidence check passed, none contradicts"
    return "inconclusive", f"core check {core} not passed"


def verdict(gates: Sequence[dict], checks: Sequence[dict], core: str | None = None) -> str:
    """The verdict of ``decide``."""
    return decide(gates, checks, core)[0]


def sanity_errors(checks: Sequence[dict]) -> list[str]:
    """Names of the sanity checks that failed: each one is a bug, never a finding."""
    return [c["name"] for c in checks if c.get("role") == "sanity" and c.get("passed") is False]


def failed_gates(gates: Sequence[dict]) -> list[str]:
    """The names of the gates that make a claim "not testable" (failed or missing; a gate with
    scope "check" vetoes only its own check and is not among them)."""
    return [g["name"] for g in gates if g.get("passed") is not True and g.get("scope") != "check"]


def _ours(summary: dict) -> bool:
    """The label probes ran on our own pre-trained backbone (not another checkpoint)."""
    return lookup(summary, Finetune.path("checkpoint")) in (None, "ours")


def checkpoint_run(summary: dict) -> str | None:
    """The checkpoint a result directory analysed (``inputs.checkpoint``, written by every
    notebook's session; a run with ``-p checkpoint`` has a result directory of its own), None
    for our own BERT-6."""
    value = lookup(summary, Inputs.path("checkpoint"))
    return value if isinstance(value, str) and value else None


# C3 on a checkpoint: why it cannot be tested
CHECKPOINT_C3_REASON = ("a checkpoint run: C3 needs symmetric variants pre-trained from symmetric initial weights on "
                        "the same data, and a checkpoint trained elsewhere has none (notebook 01 trains nothing for it)")


def _backbone(summary: dict, labels: bool, cls: type[Section] | None = None) -> list[dict]:
    if labels and not _ours(summary):
        return []
    if not labels and checkpoint_run(summary):
        # a checkpoint has no backbone gate of ours (its MLM head, if any, is not what we trained); its token
        # claims are gated by the probe against the constant predictor and against its random-init controls
        return []
    main = record(summary, Pretrain.path("variants", "main", "gate"), "backbone")
    if main.get("missing") and cls is not None:
        # a result directory made by --only 04,...: the gate recorded with the checkpoint it used
        carried = record(summary, cls.path("stats", "gates", "backbone"), "backbone")
        if not carried.get("missing"):
            return [carried]
        for other in (Finetune, NodesFinetune, Crossover, Hull):
            carried = record(summary, other.path("stats", "gates", "backbone"), "backbone")
            if not carried.get("missing"):
                return [carried]
    return [main]


def _probe_gate(summary: dict, cls: type[Section]) -> dict:
    return record(summary, cls.path("stats", "gates", "probe"), "probe")


def _checks(summary: dict, cls: type[Section], names) -> list[dict]:
    return [record(summary, cls.path("stats", "checks", c), role=role) for c, role in names]


def _node_rule(summary: dict, cls: type[Section], labels: bool) -> tuple[list, list]:
    gates = _backbone(summary, labels, cls) + [_probe_gate(summary, cls)]
    checks = _checks(summary, cls, LABEL_NODE_CHECKS if labels else NODE_CHECKS)
    untrained = record(summary, cls.path("stats", "gates", "probe_untrained"), "probe_untrained")
    if labels:
        checks.insert(1, gate_as_check(untrained))
    else:
        gates.append(untrained)
    return gates, checks


def eps_grid_variants(summary: dict) -> list[str]:
    """The symmetric + eps variants of C3's eps grid besides the core ``symmetric_eps``, for the
    profile and overrides the summary was written with (``profiles.eps_grid``), and any further
    grid variant whose check the summary holds.  A summary written before the grid expects the
    profile's grid: its checks are then missing."""
    from .profiles import PROFILES, eps_grid, eps_variant, get_profile

    try:
        p = get_profile(summary.get("profile") or "quick", **(summary.get("overrides") or {}))
    except (ValueError, TypeError):
        p = PROFILES["quick"]
    core = lookup(summary, Ssb.path("eps"))
    if isinstance(core, (int, float)) and not isinstance(core, bool) and core > 0:
        p = p.replace(ssb_eps=float(core))
    names = [eps_variant(p, e) for e in eps_grid(p)]
    present = lookup(summary, Ssb.path("stats", "checks"))
    names += ["symmetric_eps" + k[len("eps_amplified"):] for k in (present if isinstance(present, dict) else ())
              if k.startswith("eps_amplified_")]
    return [v for v in dict.fromkeys(names) if v != "symmetric_eps"]


def _c3_rule(summary: dict) -> tuple[list, list] | None:
    gates, checks = [], []
    if section(summary, Ssb) is not None:
        node_level = isinstance(lookup(summary, Ssb.path("stats", "checks", "node_symmetric_exact")), dict)
        for v in ("symmetric", "symmetric_eps") + (("node_symmetric",) if node_level else ()):
            gates.append(record(summary, Pretrain.path("variants", v, "gate"), f"backbone[{v}]"))
        found = [c for c in _checks(summary, Ssb, SSB_CHECKS)
                 if not (c.get("missing") and c["name"] == "node_symmetric_exact")]
        checks += found[:1]
        # the eps grid: each other eps is evidence that must agree with the core's, gated by its own variant
        for v in eps_grid_variants(summary):
            name = "eps_amplified" + v[len("symmetric_eps"):]
            own = {**record(summary, Pretrain.path("variants", v, "gate"), f"backbone[{v}]"), "scope": "check"}
            check = record(summary, Ssb.path("stats", "checks", name), role="evidence")
            if not own.get("missing") and own.get("passed") is not True:
                check = {**check, "passed": None, "gated_out": True}
            gates.append(own)
            checks.append(check)
        checks += found[1:]
    for cls in (NodesPretrain, NodesFinetune):
        for name, role, variants in (("eps_heads_differ", "evidence", ("random", "symmetric_eps")),
                                     ("tied_heads_identical", "sanity", ()),
                                     ("dropout_heads_differ", "context", ("random", "symmetric_dropout")),
                                     ("head_order_parameter", "context", ())):
            path = cls.path("stats", "checks", name)
            if not isinstance(lookup(summary, path), dict):
                continue
            own = [{**record(summary, cls.path("stats", "gates", f"probe_{v}"), f"probe[{cls.section}, {v}]"),
                    "scope": "check"} for v in variants]
            listed = {g["path"] for g in gates}
            gates += [g for g in own if g["path"] not in listed]     # one gate, listed once (the random probe gates two)
            check = record(summary, path, f"{name}[{cls.section}]", role=role)
            if any(g.get("passed") is not True for g in own):
                check = {**check, "passed": None, "gated_out": True}
            checks.append(check)
    return (gates, checks) if checks else None


def _apt_gate(summary: dict) -> list[dict]:
    """C6's probe gate: the probe of the block where its core check (``frequency``) was measured
    (``apt.block``, the profile's block); the deepest block's for a summary that does not say."""
    gates = lookup(summary, Apt.path("stats", "gates"))
    prefix = "probe_block_"
    block = lookup(summary, Apt.path("block"))
    if isinstance(block, int):
        return [record(summary, Apt.path("stats", "gates", f"{prefix}{block}"), f"probe[block {block}]")]
    blocks = [int(k[len(prefix):]) for k in (gates if isinstance(gates, dict) else ())
              if k.startswith(prefix) and k[len(prefix):].isdigit()]
    if not blocks:
        return [record(summary, Apt.path("stats", "gates", f"{prefix}<deepest>"), "probe[deepest block]")]
    b = max(blocks)
    return [record(summary, Apt.path("stats", "gates", f"{prefix}{b}"), f"probe[block {b}]")]


def rule(summary: dict, claim: str) -> tuple[list, list] | None:
    """(gates, checks) records of a claim (each check with its role), None when its section is
    missing (not measured)."""
    if claim == "C1":
        return _node_rule(summary, NodesPretrain, labels=False) if section(summary, NodesPretrain) else None
    if claim == "C2":
        return _node_rule(summary, NodesFinetune, labels=True) if section(summary, NodesFinetune) else None
    if claim == "C3":
        return None if checkpoint_run(summary) else _c3_rule(summary)
    if claim == "C4":
        if section(summary, Crossover) is None:
            return None
        return (_backbone(summary, True, Crossover) + [_probe_gate(summary, Crossover)],
                _checks(summary, Crossover, CROSSOVER_CHECKS))
    if claim == "C5":
        if section(summary, Hull) is None:
            return None
        return _backbone(summary, True, Hull) + [_probe_gate(summary, Hull)], _checks(summary, Hull, HULL_CHECKS)
    if claim == "C6":
        if section(summary, Apt) is None:
            return None
        return _backbone(summary, False) + _apt_gate(summary), _checks(summary, Apt, APT_CHECKS)
    raise ValueError(f"unknown claim {claim!r}")


def tokens_crossover_verdict(summary: dict) -> str | None:
    """C4's rule applied to ``crossover.tokens`` (the token readout; reported beside C4, not part of
    its verdict); None when the summary has no token crossover."""
    if not isinstance(lookup(summary, Crossover.path("tokens", "stats")), dict):
        return None
    gates = [record(summary, Crossover.path("tokens", "stats", "gates", "probe"), "probe")]
    checks = [record(summary, Crossover.path("tokens", "stats", "checks", c), role=role)
              for c, role in TOKEN_CROSSOVER_CHECKS]
    return verdict(gates, checks, CORE["C4"])


def claims_summary(summary: dict) -> dict:
    """{"claims": {C1..C6: verdict}, "stats": {Ck: {"verdict", "reason", "core", "gates", "checks",
    "evidence", "sanity", "context", "errors"}}}: what the runner stores in summary.json.  Every
    record carries its summary path; ``checks`` holds every check with its role, ``evidence`` /
    ``sanity`` / ``context`` their names by role, ``errors`` the failed sanity checks (bugs).
    Keys renamed since ``summary`` was written are read under their current names."""
    if not isinstance(summary, dict):
        raise ValueError(f"summary must be a dict (the content of summary.json), got {type(summary).__name__}")
    summary = schema.with_current_keys(summary)
    out = {"claims": {}, "stats": {}}
    for claim in CLAIMS:
        found = rule(summary, claim)
        if found is None and claim == "C3" and checkpoint_run(summary):
            out["claims"][claim] = "not testable"
            out["stats"][claim] = {"verdict": "not testable", "reason": CHECKPOINT_C3_REASON, "core": CORE[claim],
                                   "gates": [], "checks": [], "evidence": [], "sanity": [], "context": [], "errors": []}
            continue
        if found is None:
            out["claims"][claim] = "not measured"
            out["stats"][claim] = {"verdict": "not measured", "reason": "its notebook did not run in this result directory",
                                   "core": CORE[claim], "gates": [], "checks": [], "evidence": [], "sanity": [],
                                   "context": [], "errors": []}
            continue
        gates, checks = found
        v, reason = decide(gates, checks, CORE[claim])
        assert v in VERDICTS, v
        out["claims"][claim] = v
        out["stats"][claim] = {"verdict": v, "reason": reason, "core": CORE[claim], "gates": gates, "checks": checks,
                               **{role: [c["name"] for c in checks if c.get("role", "evidence") == role]
                                  for role in ROLES},
                               "errors": sanity_errors(checks)}
    return out
