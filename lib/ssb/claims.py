"""The claims table: each claim of the paper (C1-C6, docs/method.md) against what this run measured.

Every verdict is built from the gate and check records (``ssb.stats.check`` / ``ssb.stats.gate``)
that the notebooks store in ``summary.json`` under ``<section>.stats`` (and
``pretrain.variants.<v>.gate``).  No number is typed here; thresholds are fixed from principles
in ``ssb.stats`` (ALPHA = 0.05 two-sided intervals, GATE_ALPHA = 0.01 probe gate, FDR = 0.05).

Verdicts
--------
One of "holds", "partly", "does not hold", "not testable", "not measured" (``verdict``):

- the claim's summary section is missing                                   -> "not measured";
- any gate failed or is missing (the model or the probe learned nothing)  -> "not testable"
  (a gate with scope "check" vetoes only its own check, which is then left out);
- an invariant check (direction "equal") failed                           -> "does not hold";
- every check passed                                                      -> "holds";
- no check passed                                                         -> "does not hold";
- otherwise                                                               -> "partly".

A check passes only when its whole interval lies on the claimed side of its null (``stats.check``),
so "holds" always rests on intervals that exclude the null.  A check whose value or interval is
missing counts as not passed; when every check is missing the claim is "not testable".

The rules
---------
Gates shared by several claims: **backbone** = ``pretrain.variants.main.gate`` (held-out MLM
accuracy above the most-frequent-token baseline, exact paired McNemar, p < 0.05); it applies to
C2/C4/C5 only when the FewRel probe runs on our own backbone (``finetune.checkpoint`` "ours").
**probe** = ``<section>.stats.gates.probe`` (full-aperture head above the constant predictor,
exact paired McNemar, p < 0.01).

- **C1** (``nodes_pretrain``, tokens). Gates: backbone, probe.  Checks (``stats.checks``):
  ``beyond_permutation_null``: fraction of single nodes whose |R| exceeds the 95th percentile of
  their label-permutation null (>= 200 seeded permutations), Wilson interval, null 0.05, greater;
  ``node_specific``: mean pairwise node Jaccard minus the frequency-matched null's, bootstrap over
  nodes, null 0, less; ``small_sets``: mean |R(node)| / |R(all nodes)|, bootstrap, null 0.5, less;
  ``beyond_untrained``: fraction beyond the null, trained minus untrained backbone (same
  architecture and seed, 0 steps), Newcombe interval, null 0, greater.
- **C2** (``nodes_finetune``, labels). Gates: backbone (our checkpoint only), probe.  Checks: as C1.
- **C3** (``ssb``; ``nodes_pretrain`` / ``nodes_finetune``). Gates: ``pretrain.variants.<v>.gate``
  for v = symmetric, symmetric_eps (and node_symmetric when its check exists): the variants left
  the loss plateau.  For each node section holding ``head_order_parameter``, its
  ``stats.gates.probe_random`` and ``probe_symmetric`` gate THAT check only (scope "check"): when
  one fails, the check is "not testable" and left out of the verdict, while the weight-level
  checks, gated by the variants' backbones, still decide.  Checks: ``ssb.stats.checks.symmetric_exact``
  (head gap of the symmetric variant == 0, invariant), ``node_symmetric_exact`` (node-level gap
  == 0, invariant), ``eps_amplified`` (growth rate of g(t) of symmetric+eps, t-interval, null 0,
  greater); ``<nodes_*>.stats.checks.head_order_parameter`` (mean pairwise head Jaccard of
  recognised sets, symmetric minus random, bootstrap over heads, null 0, greater).
  ``ssb.gap_final`` (incl. symmetric_dropout) is descriptive.
- **C4** (``crossover``, labels). Gates: backbone (our checkpoint only), ``crossover.stats.gates.probe``.
  Checks: ``cooperation_R`` (kappa_R at the largest n < n_nodes, bootstrap over sets, null 1,
  greater); ``cooperation_A`` (kappa_A, null 1, greater); ``dip_across`` and ``dip_in_head``
  (min(A(first), A(last)) - min interior A, paired bootstrap over items and sets, null 0,
  greater).  ``crossover.tokens`` (same names) is reported beside it, not part of the verdict.
- **C5** (``hull``). Gates: backbone (our checkpoint only), ``hull.stats.gates.probe``.  Checks:
  ``no_violations`` (violations == 0, invariant: a violation is a bug -> "does not hold");
  ``gap_grows`` (slope of U - |R| against log n where U < C, bootstrap, null 0, greater);
  ``efficiency_falls`` (slope of eta against log n where U < C, bootstrap, null 0, less).
- **C6** (``apt``). Gates: backbone, the deepest block's ``apt.stats.gates.probe_block_<l>``.
  Checks: ``frequency`` (Spearman(APT, train frequency) minus the unigram/constant predictor's,
  bootstrap over tokens, null 0, greater); ``grows_along_blocks`` (Spearman of <APT> with the block
  index over gated blocks, bootstrap over tokens, null 0, greater).

``claims_summary(summary)`` gives the ``claims`` / ``claims_stats`` dicts the runner stores in
summary.json: per claim its verdict and the gate and check records behind it (each with its
summary path).  Summary keys are read through ``ssb.schema``.  This module decides; ``ssb.report``
draws the claims for a reader (claims.md, the HTML table, ``report.show_claims`` in a notebook).
"""
from __future__ import annotations

from typing import Any, Sequence

from . import schema
from .schema import Apt, Crossover, Finetune, Hull, NodesFinetune, NodesPretrain, Pretrain, Section, Ssb

VERDICTS = ("holds", "partly", "does not hold", "not testable", "not measured")

NODE_CHECKS = ("beyond_permutation_null", "node_specific", "small_sets", "beyond_untrained")
SSB_CHECKS = ("symmetric_exact", "node_symmetric_exact", "eps_amplified")
CROSSOVER_CHECKS = ("cooperation_R", "cooperation_A", "dip_across", "dip_in_head")
HULL_CHECKS = ("no_violations", "gap_grows", "efficiency_falls")
APT_CHECKS = ("frequency", "grows_along_blocks")

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
           "As the number n of active nodes grows, accuracy drops as the silenced head guesses among more outputs "
           "and rises through nodal cooperation; a node set recognizes jointly more labels than its nodes individually."),
    "C5": ("Convex hull",
           "For a linear head, the labels a node set can output are bounded by the convex hull of its weights; "
           "learning reaches part of that bound, and the gap grows with n."),
    "C6": ("APT",
           "Accuracy per token grows with the token's frequency, and its average over tokens grows along the blocks."),
}

# ----------------------------------------------------------------------------- reading the summary


def lookup(summary: Any, path: str) -> Any:
    """summary["a"]["b"]... for path "a.b..." (``schema.Section.path``), None where any level is missing."""
    node = summary
    for key in path.split("."):
        if not isinstance(node, dict) or key not in node:
            return None
        node = node[key]
    return node


def section(summary: dict, cls: type[Section]) -> dict | None:
    """The section ``cls`` of ``summary``; None when it is missing or empty."""
    value = summary.get(cls.section) if isinstance(summary, dict) else None
    return value if isinstance(value, dict) and value else None


def record(summary: dict, path: str, label: str | None = None) -> dict:
    """The gate/check record at ``path`` with its path and label; a stand-in when missing."""
    rec = lookup(summary, path)
    name = label or path.rsplit(".", 1)[-1]
    if not isinstance(rec, dict):
        return {"name": name, "path": path, "missing": True, "passed": None}
    return {**rec, "name": name, "path": path}


# ----------------------------------------------------------------------------- the rules


def verdict(gates: Sequence[dict], checks: Sequence[dict]) -> str:
    """The verdict rule of the module docstring, from gate and check records."""
    if any(g.get("passed") is not True for g in gates if g.get("scope") != "check"):
        return "not testable"
    checks = [c for c in checks if not c.get("gated_out")]        # its own gate failed: excluded
    if any(c.get("direction") == "equal" and c.get("passed") is False for c in checks):
        return "does not hold"
    passed = [c.get("passed") for c in checks]
    if not checks or all(p is None for p in passed):
        return "not testable"
    if all(p is True for p in passed):
        return "holds"
    if not any(p is True for p in passed):
        return "does not hold"
    return "partly"


def failed_gates(gates: Sequence[dict]) -> list[str]:
    """The names of the gates that make a claim "not testable" (failed or missing; a gate with
    scope "check" vetoes only its own check and is not among them)."""
    return [g["name"] for g in gates if g.get("passed") is not True and g.get("scope") != "check"]


def _ours(summary: dict) -> bool:
    """The label probes ran on our own pre-trained backbone (not another checkpoint)."""
    return lookup(summary, Finetune.path("checkpoint")) in (None, "ours")


def _backbone(summary: dict, labels: bool) -> list[dict]:
    if labels and not _ours(summary):
        return []
    return [record(summary, Pretrain.path("variants", "main", "gate"), "backbone")]


def _probe_gate(summary: dict, cls: type[Section]) -> dict:
    return record(summary, cls.path("stats", "gates", "probe"), "probe")


def _checks(summary: dict, cls: type[Section], names: Sequence[str]) -> list[dict]:
    return [record(summary, cls.path("stats", "checks", c)) for c in names]


def _node_rule(summary: dict, cls: type[Section], labels: bool) -> tuple[list, list]:
    return _backbone(summary, labels) + [_probe_gate(summary, cls)], _checks(summary, cls, NODE_CHECKS)


def _c3_rule(summary: dict) -> tuple[list, list] | None:
    gates, checks = [], []
    if section(summary, Ssb) is not None:
        node_level = isinstance(lookup(summary, Ssb.path("stats", "checks", "node_symmetric_exact")), dict)
        for v in ("symmetric", "symmetric_eps") + (("node_symmetric",) if node_level else ()):
            gates.append(record(summary, Pretrain.path("variants", v, "gate"), f"backbone[{v}]"))
        checks += _checks(summary, Ssb, SSB_CHECKS)
    for cls in (NodesPretrain, NodesFinetune):
        order = cls.path("stats", "checks", "head_order_parameter")
        if isinstance(lookup(summary, order), dict):
            # the functional order parameter's own gates: a failed probe makes THIS check not
            # testable (excluded), not the weight-level checks above, which have their own gates
            own = [{**record(summary, cls.path("stats", "gates", f"probe_{v}"), f"probe[{cls.section}, {v}]"),
                    "scope": "check"} for v in ("random", "symmetric")]
            gates += own
            check = record(summary, order, f"head_order_parameter[{cls.section}]")
            if any(g.get("passed") is not True for g in own):
                check = {**check, "passed": None, "gated_out": True}
            checks.append(check)
    return (gates, checks) if checks else None


def _deepest_apt_gate(summary: dict) -> list[dict]:
    gates = lookup(summary, Apt.path("stats", "gates"))
    prefix = "probe_block_"
    blocks = [int(k[len(prefix):]) for k in (gates if isinstance(gates, dict) else ())
              if k.startswith(prefix) and k[len(prefix):].isdigit()]
    if not blocks:
        return [record(summary, Apt.path("stats", "gates", f"{prefix}<deepest>"), "probe[deepest block]")]
    b = max(blocks)
    return [record(summary, Apt.path("stats", "gates", f"{prefix}{b}"), f"probe[block {b}]")]


def rule(summary: dict, claim: str) -> tuple[list, list] | None:
    """(gates, checks) records of a claim, None when its section is missing (not measured)."""
    if claim == "C1":
        return _node_rule(summary, NodesPretrain, labels=False) if section(summary, NodesPretrain) else None
    if claim == "C2":
        return _node_rule(summary, NodesFinetune, labels=True) if section(summary, NodesFinetune) else None
    if claim == "C3":
        return _c3_rule(summary)
    if claim == "C4":
        if section(summary, Crossover) is None:
            return None
        return (_backbone(summary, True) + [_probe_gate(summary, Crossover)],
                _checks(summary, Crossover, CROSSOVER_CHECKS))
    if claim == "C5":
        if section(summary, Hull) is None:
            return None
        return _backbone(summary, True) + [_probe_gate(summary, Hull)], _checks(summary, Hull, HULL_CHECKS)
    if claim == "C6":
        if section(summary, Apt) is None:
            return None
        return _backbone(summary, False) + _deepest_apt_gate(summary), _checks(summary, Apt, APT_CHECKS)
    raise ValueError(f"unknown claim {claim!r}")


def tokens_crossover_verdict(summary: dict) -> str | None:
    """C4's rule applied to ``crossover.tokens`` (the token head; reported beside C4, not part of
    its verdict); None when the summary has no token crossover."""
    if not isinstance(lookup(summary, Crossover.path("tokens", "stats")), dict):
        return None
    gates = [record(summary, Crossover.path("tokens", "stats", "gates", "probe"), "probe")]
    checks = [record(summary, Crossover.path("tokens", "stats", "checks", c)) for c in CROSSOVER_CHECKS]
    return verdict(gates, checks)


def claims_summary(summary: dict) -> dict:
    """{"claims": {C1..C6: verdict}, "stats": {Ck: {"verdict", "gates": [...], "checks": [...]}}}:
    what the runner stores in summary.json (each record with its summary path).  Keys renamed
    since ``summary`` was written are read under their current names (``schema.with_current_keys``)."""
    if not isinstance(summary, dict):
        raise ValueError(f"summary must be a dict (the content of summary.json), got {type(summary).__name__}")
    summary = schema.with_current_keys(summary)
    out = {"claims": {}, "stats": {}}
    for claim in CLAIMS:
        found = rule(summary, claim)
        if found is None:
            out["claims"][claim] = "not measured"
            out["stats"][claim] = {"verdict": "not measured", "gates": [], "checks": []}
            continue
        gates, checks = found
        v = verdict(gates, checks)
        assert v in VERDICTS, v
        out["claims"][claim] = v
        out["stats"][claim] = {"verdict": v, "gates": gates, "checks": checks}
    return out
