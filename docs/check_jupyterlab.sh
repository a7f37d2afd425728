#!/usr/bin/env bash
# JupyterLab check (not part of ./run_tests.sh): opens a notebook in JupyterLab in headless
# Chromium, checks it is not marked modified and that progress bars render as widgets, and
# saves a screenshot under reports/.  Needs chromium (apt-get install -y chromium) and the
# ssb kernel spec (README, "Interactive use").  Options: python docs/check_jupyterlab.py --help
set -euo pipefail
cd "$(dirname "$0")/.."
exec "${PYTHON:-.venv/bin/python}" docs/check_jupyterlab.py --python "${PYTHON:-.venv/bin/python}" "$@"
