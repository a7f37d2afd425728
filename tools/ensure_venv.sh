#!/usr/bin/env bash
# Sourced by run_all.sh and run_tests.sh: make sure $repo/.venv holds the pinned environment.
# (Re)installs when .venv is missing or requirements.lock changed since it was installed, and
# registers the "ssb" Jupyter kernel inside the venv (the kernel the notebooks name).
# A .venv copied or moved with its checkout (its files name another folder: tools/venv_location.sh)
# is repaired in place (paths rewritten, this package installed again in editable mode, the kernel
# registered again), else rebuilt.
source "$repo/tools/venv_location.sh"
if [ -x "$repo/.venv/bin/python" ] && moved=$(venv_recorded_elsewhere "$repo/.venv" "$repo"); then
  echo "$repo/.venv records another location ($(echo $moved)): it was copied or moved; repairing it ..."
  if venv_rewrite_locations "$repo/.venv" \
     && "$repo/.venv/bin/python" -m pip install --quiet --no-deps --no-build-isolation -e "$repo" \
     && "$repo/.venv/bin/python" -m ipykernel install --sys-prefix --name ssb --display-name "Python 3 (ssb)" >/dev/null \
     && ! venv_recorded_elsewhere "$repo/.venv" "$repo" >/dev/null; then
    echo "repaired $repo/.venv"
  else
    echo "could not repair $repo/.venv; building it again"
    rm -rf "$repo/.venv"
  fi
fi
lock_sum=$(sha256sum "$repo/requirements.lock" | cut -c1-16)
if [ ! -x "$repo/.venv/bin/python" ] || [ "$(cat "$repo/.venv/.requirements.sha" 2>/dev/null)" != "$lock_sum" ]; then
  echo "setting up $repo/.venv: pinned versions of requirements.lock (torch==2.13.0 CPU build here), then this package ..."
  [ -x "$repo/.venv/bin/python" ] || python3 -m venv "$repo/.venv"
  "$repo/.venv/bin/pip" install --quiet -r "$repo/requirements.lock"
  "$repo/.venv/bin/pip" install --quiet --no-deps -e "$repo"
  "$repo/.venv/bin/python" -m ipykernel install --sys-prefix --name ssb --display-name "Python 3 (ssb)" >/dev/null
  echo "$lock_sum" > "$repo/.venv/.requirements.sha"
fi
