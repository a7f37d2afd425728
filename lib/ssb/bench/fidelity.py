"""Fidelity across machines: do two runs of one profile reach the same verdicts?

    python -m ssb.bench fidelity RUN_A/summary.json RUN_B/summary.json [--out docs/fidelity_quick.md]

Two runs of the same profile and seed on machines of the same kind (or with different
``OMP_NUM_THREADS``) differ in the last bits of their floats; their numbers then drift apart
through training. What must not change is the verdicts: each rests on a gate, a null and an
interval (``ssb.claims``), and a verdict should not flip on rounding noise. This compares, claim by
claim, the verdicts and every gate and check record behind them: value, interval and outcome of
each run, and whether the outcomes agree. Exit status 1 when a verdict differs.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from .. import atomic, claims, results


def _records(summary: dict) -> dict[tuple[str, str], dict]:
    """(claim, record path) -> the gate or check record, for every claim's rule."""
    out = {}
    stats = claims.claims_summary(results.current_run_sections(summary))["stats"]
    for claim, entry in stats.items():
        for kind in ("gates", "checks"):
            for rec in entry[kind]:
                out[(claim, rec["path"])] = {**rec, "kind": kind[:-1]}
    return out


def compare(a: dict, b: dict):
    """(verdicts, records): two DataFrames comparing summaries ``a`` and ``b``.

    verdicts: claim, verdict_a, verdict_b, same.  records: claim, kind (gate/check), path,
    value_a/value_b, ci_a/ci_b, passed_a/passed_b, same (outcomes agree)."""
    import pandas as pd
    va = claims.claims_summary(results.current_run_sections(a))["claims"]
    vb = claims.claims_summary(results.current_run_sections(b))["claims"]
    verdicts = pd.DataFrame([{"claim": c, "verdict_a": va[c], "verdict_b": vb.get(c), "same": va[c] == vb.get(c)}
                             for c in va])
    ra, rb = _records(a), _records(b)
    rows = []
    for key in list(ra) + [k for k in rb if k not in ra]:
        x, y = ra.get(key, {}), rb.get(key, {})
        rows.append({"claim": key[0], "kind": x.get("kind") or y.get("kind"), "path": key[1],
                     "value_a": x.get("value"), "value_b": y.get("value"),
                     "ci_a": x.get("ci"), "ci_b": y.get("ci"),
                     "passed_a": x.get("passed"), "passed_b": y.get("passed"),
                     "same": x.get("passed") == y.get("passed")})
    return verdicts, pd.DataFrame(rows)


def _fmt(v) -> str:
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_fmt(x) for x in v) + "]"
    if isinstance(v, float):
        return f"{v:.4g}"
    return "" if v is None else str(v)


def markdown(verdicts, records, label_a: str, label_b: str) -> str:
    lines = [f"# Fidelity: {label_a} (a) against {label_b} (b)", "",
             f"Verdicts agree on {int(verdicts['same'].sum())} of {len(verdicts)} claims; gate and check "
             f"outcomes agree on {int(records['same'].sum())} of {len(records)} records.", "",
             "| claim | verdict a | verdict b | same |", "|---|---|---|---|"]
    lines += [f"| {r.claim} | {r.verdict_a} | {r.verdict_b} | {'yes' if r.same else '**no**'} |"
              for r in verdicts.itertuples()]
    lines += ["", "| claim | record | value a | value b | interval a | interval b | passed a | passed b | same |",
              "|---|---|---|---|---|---|---|---|---|"]
    lines += [f"| {r.claim} | {r.kind} `{r.path}` | {_fmt(r.value_a)} | {_fmt(r.value_b)} | {_fmt(r.ci_a)} | "
              f"{_fmt(r.ci_b)} | {_fmt(r.passed_a)} | {_fmt(r.passed_b)} | {'yes' if r.same else '**no**'} |"
              for r in records.itertuples()]
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m ssb.bench fidelity", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("a", help="summary.json of run a")
    ap.add_argument("b", help="summary.json of run b")
    ap.add_argument("--label-a", default=None)
    ap.add_argument("--label-b", default=None)
    ap.add_argument("--out", default=None, help="also write the comparison as Markdown here")
    args = ap.parse_args(argv)
    loaded = []
    for path in (args.a, args.b):
        p = Path(path)
        if not p.is_file():
            raise SystemExit(f"no summary at {p}: give the summary.json of a finished run (figures/<run>/summary.json)")
        loaded.append(json.loads(p.read_text()))
    verdicts, records = compare(*loaded)
    text = markdown(verdicts, records, args.label_a or args.a, args.label_b or args.b)
    print(text)
    if args.out:
        atomic.write_text(Path(args.out), text)
    return 0 if bool(verdicts["same"].all()) else 1
