"""Judge a committed run again under today's verdict rules, without running it again.

    python -m ssb.bench rejudge --profile standard

Reads figures/<name>/summary.json, recomputes ``claims`` / ``claims_stats`` with
``claims.claims_summary`` and rewrites claims.md, with a banner that says so: the numbers are
the run's, the rules are today's, and every check added to the rules since that run is
*missing* (so the claim is at most "partly", or "not testable" where a gate or core check is
missing).  Use it when the rules change and the run is too long to repeat; rerun the profile
to measure the new checks.
"""
from __future__ import annotations

import argparse
import subprocess
from pathlib import Path

from .. import atomic, claims, report, results


def _commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                              cwd=Path(__file__).resolve().parent, check=True).stdout.strip()
    except Exception:                    # noqa: BLE001 - not a git checkout
        return "unknown"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m ssb.bench rejudge", description=__doc__.split("\n\n")[0])
    ap.add_argument("--profile", required=True, help="the results name (figures/<name>/summary.json)")
    args = ap.parse_args(argv)
    name = results.profile_name(args.profile)
    path = results.summary_path(name)
    if not Path(path).is_file():
        ap.error(f"{path} does not exist: run the profile first")
    with atomic.locked(path):
        summary = results.load_summary(name)
        before = dict(summary.get("claims") or {})
        verdicts = claims.claims_summary(summary)
        results.update_summary(name, "claims", verdicts["claims"])
        results.update_summary(name, "claims_stats", verdicts["stats"])
        out = report.write_claims_markdown(name)
    stamps = sorted({str(v.get(results.STAMP_KEY, {}).get("time")) for v in summary.values()
                     if isinstance(v, dict) and isinstance(v.get(results.STAMP_KEY), dict)} - {"None"})
    banner = (f"> **Re-judged, not re-run.** The numbers are those of the run of {stamps[-1] if stamps else 'unknown date'}; "
              f"the verdicts come from the rules of commit {_commit()} (`python -m ssb.bench rejudge --profile {name}`). "
              "Checks added to the rules since that run are *missing*: such a claim is at most \"partly\", and "
              "\"not testable\" where a gate or its core check is missing. Rerun the profile to measure them.\n")
    text = Path(out).read_text()
    head, rest = text.split("\n\n", 1)
    atomic.write_text(out, f"{head}\n\n{banner}\n{rest}")
    for c in claims.CLAIMS:
        print(f"{c}: {before.get(c, '-')} -> {verdicts['claims'][c]} ({verdicts['stats'][c]['reason']})")
    print(f"wrote {out}")
    return 0
