#!/usr/bin/env bash
# Run notebooks 01-07 headless and render their HTML reports (set up .venv first if missing).
#   ./run_all.sh                              # profile quick, all notebooks
#   ./run_all.sh --profile smoke --only 01,03 -p steps 100 --force
# Options: python -m ssb.runner --help (lib/ssb/runner.py).  Reports: reports/<profile>/index.html
# Relative paths (--data-dir, -p checkpoint, -p fewrel_file) mean what they mean from the
# directory this is run from: the script never changes directory.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$repo/tools/ensure_venv.sh"
# this checkout's package first, whichever checkout the venv was installed from
export PYTHONPATH="$repo/lib${PYTHONPATH:+:$PYTHONPATH}"
exec "$repo/.venv/bin/python" -m ssb.runner "$@"
