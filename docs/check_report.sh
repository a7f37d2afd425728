#!/usr/bin/env bash
# Report check (a sibling of check_jupyterlab.sh; tests/test_report_browser.py runs it on a
# synthetic run): opens reports/<name>/index.html in headless Chromium at 1,400 px, saves a
# full-page screenshot and fails on horizontal overflow, a broken link or image, or a figure
# wider than its column.  Needs chromium (apt-get install -y chromium).
#   docs/check_report.sh reports/quick            # or reports/quick/index.html; several allowed
#   docs/check_report.sh --help
set -euo pipefail
cd "$(dirname "$0")/.."
exec "${PYTHON:-.venv/bin/python}" docs/check_report.py "$@"
