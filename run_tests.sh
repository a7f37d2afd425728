#!/usr/bin/env bash
# Set up .venv if missing, then run the test suite.
#   ./run_tests.sh                 # everything (about 11 minutes on 2 CPU cores)
#   ./run_tests.sh -m "not slow"   # skip the end-to-end papermill / DDP runs (they start in the
#                                  # background at collection: tests/background_runs.py)
#   ./run_tests.sh tests/test_aperture.py -k naive
# Tests read data from $SSB_DATA_DIR, else ../shared/data, else ./data; the end-to-end
# tests are skipped (with the reason) when FewRel or WikiText-103 is absent.
set -euo pipefail
cd "$(dirname "$0")"
repo="$(pwd)"
source "$repo/tools/ensure_venv.sh"
if [ -z "${SSB_DATA_DIR:-}" ] && [ -d ../shared/data ]; then
  export SSB_DATA_DIR="$(cd ../shared/data && pwd)"
fi
# this checkout's package first, whichever checkout the venv was installed from
export PYTHONPATH="$repo/lib${PYTHONPATH:+:$PYTHONPATH}"
export TOKENIZERS_PARALLELISM=false MPLBACKEND=Agg OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-PASSIVE}
exec .venv/bin/python -m pytest "$@"
