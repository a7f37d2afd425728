#!/usr/bin/env bash
# Run notebooks 01-07 headless and render their HTML reports (set up .venv first if missing).
#   ./run_all.sh                              # profile quick, all notebooks
#   ./run_all.sh --profile smoke --only 01,03 -p steps 100 --force
# Options: python -m ssb.runner --help (lib/ssb/runner.py).  Reports: reports/<profile>/index.html
set -euo pipefail
cd "$(dirname "$0")"
if [ ! -x .venv/bin/python ]; then
  echo "setting up .venv: python3 -m venv .venv, then pip install -r requirements.lock (pinned versions) and -e . (this package)"
  python3 -m venv .venv
  .venv/bin/pip install -r requirements.lock
  .venv/bin/pip install --no-deps -e .
fi
exec .venv/bin/python -m ssb.runner "$@"
