"""What verifying the node-vector caches costs: content-digest speed against a run's cache sizes.

    python -m ssb.bench cache_check [--profile quick] [--megabytes 256] [--cache-dir DIR]
                                    [--run-seconds S] [--reads N]

Every node-vector cache entry records a digest of each block file when it is written
(``ssb.atomic.write_checksums``) and checks it on every read (``ssb.atomic.changed_files``).
Measured here, on this machine:

- the digest speed in MB/s of ``atomic.file_digest`` (xxh3-128 when xxhash is installed,
  and blake2b for comparison) over a file of ``--megabytes`` random float32, read from the page
  cache as a cache read is;
- the cost of one verified read through ``node_vectors.cached_node_vectors`` against an
  unverified one, on the same entry;
- the node-vector bytes of a run: measured under ``--cache-dir`` (default
  runs/<profile>/cache) when it holds entries, else counted from the profile (rows x nodes x
  4 bytes x blocks for the token and FewRel probes of every backbone; an upper bound, marked so);
- the overhead: bytes x ``--reads`` / digest speed, as a share of the run's wall time
  (``--run-seconds``; default the sum of reports/<profile>/timings.json when present).
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from ssb import atomic, profiles, results
from ssb.bench._args import positive_float, positive_int, profile_name
from ssb.node_vectors import cached_node_vectors

# backbones whose probes a full run extracts: the five pre-training variants and the untrained one
_BACKBONES = 6


def digest_speed(path: Path, algorithm: str, repeats: int = 3) -> float:
    """MB/s of ``atomic.file_digest(path, algorithm)``, the best of ``repeats`` (page cache warm)."""
    size = path.stat().st_size
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        atomic.file_digest(path, algorithm)
        best = min(best, time.perf_counter() - start)
    return size / 1e6 / best


def measured_cache_bytes(cache_dir: Path) -> int:
    return sum(p.stat().st_size for p in cache_dir.glob("nodes-*/block-*.npy"))


def profile_cache_bytes(p: profiles.Profile, n_relations: int = 16) -> int:
    """Upper bound of a run's node-vector bytes from the profile: token probe (training and as
    many held-out positions) and FewRel probe, every block, every backbone."""
    rows = 2 * p.token_examples + n_relations * (p.n_train_per_relation + p.n_test_per_relation)
    return rows * p.hidden_size * 4 * p.n_blocks * _BACKBONES


def verified_read_cost(directory: Path, megabytes: float) -> tuple[float, float]:
    """Seconds of one read of a cache entry of ``megabytes`` through ``cached_node_vectors``:
    (verified, unverified) -- the second with the verification switched off for the measurement."""
    from ssb import node_vectors as nv

    rows = max(1, int(megabytes * 1e6 / (192 * 4)))
    data = np.random.default_rng(0).normal(size=(rows, 192)).astype(np.float32)

    def compute(allocate):
        out = allocate(6, data.shape)
        out[:] = data
        return {6: out}

    key = {"bench": "cache_check", "blocks": [6]}
    cached_node_vectors(directory, key, compute)
    timings = {}
    real = atomic.changed_files
    for label, check in (("verified", real), ("unverified", lambda d: [])):
        nv.atomic.changed_files = check
        try:
            best = float("inf")
            for _ in range(3):
                start = time.perf_counter()
                cached_node_vectors(directory, key, lambda allocate: (_ for _ in ()).throw(AssertionError("recomputed")))
                best = min(best, time.perf_counter() - start)
            timings[label] = best
        finally:
            nv.atomic.changed_files = real
    return timings["verified"], timings["unverified"]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m ssb.bench cache_check", description=__doc__.split("\n\n")[0])
    ap.add_argument("--profile", type=profile_name, default="quick")
    ap.add_argument("--megabytes", type=positive_float, default=256.0, help="size of the hashed file (default 256)")
    ap.add_argument("--cache-dir", default=None, help="measure the entries here (default runs/<profile>/cache)")
    ap.add_argument("--run-seconds", type=positive_float, default=None,
                    help="the run's wall time (default: the sum of reports/<profile>/timings.json)")
    ap.add_argument("--reads", type=positive_int, default=6,
                    help="times each entry is read in a run (default 6: at most once per analysis notebook)")
    args = ap.parse_args(argv)
    profile = profiles.get_profile(args.profile)

    with tempfile.TemporaryDirectory(prefix="ssb-cache-check-") as tmp:
        tmp = Path(tmp)
        sample = tmp / "sample.bin"
        sample.write_bytes(np.random.default_rng(1).bytes(int(args.megabytes * 1e6)))
        in_use = atomic.digest_algorithm()
        speeds = {algorithm: digest_speed(sample, algorithm) for algorithm in dict.fromkeys((in_use, "blake2b"))}
        sample.unlink()
        verified, unverified = verified_read_cost(tmp / "cache", min(args.megabytes, 64.0))

    cache_dir = Path(args.cache_dir) if args.cache_dir else results.runs_dir(profile) / "cache"
    measured = measured_cache_bytes(cache_dir) if cache_dir.is_dir() else 0
    size, source = (measured, f"measured in {cache_dir}") if measured else \
        (profile_cache_bytes(profile), f"upper bound from profile {profile.name!r} (no entries in {cache_dir})")
    timings_file = results.output_root() / "reports" / profile.name / "timings.json"
    run_seconds, run_source = args.run_seconds, "--run-seconds"
    if run_seconds is None and timings_file.is_file():
        times = [t.get("seconds") for t in json.loads(timings_file.read_text()).values() if isinstance(t, dict)]
        run_seconds, run_source = sum(t for t in times if t) or None, str(timings_file)

    print(f"digest speed ({args.megabytes:g} MB from the page cache, best of 3):")
    for algorithm, speed in speeds.items():
        print(f"  {algorithm:9s} {speed:8.0f} MB/s" + ("   <- in use" if algorithm == in_use else ""))
    print(f"one read of a {min(args.megabytes, 64.0):g} MB entry: {verified * 1e3:.1f} ms verified, "
          f"{unverified * 1e3:.1f} ms unverified")
    seconds = size * args.reads / 1e6 / speeds[in_use]
    print(f"node-vector caches of {profile.name}: {size / 1e6:.0f} MB ({source}); "
          f"verifying {args.reads} reads of each: {seconds:.2f} s")
    if run_seconds:
        print(f"overhead: {100 * seconds / run_seconds:.2f} % of the run's {run_seconds:.0f} s ({run_source})")
    else:
        print(f"overhead: no run time known (no {timings_file}); pass --run-seconds")
    return 0


if __name__ == "__main__":
    sys.exit(main())
