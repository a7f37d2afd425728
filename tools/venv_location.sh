#!/usr/bin/env bash
# Sourced by tools/ensure_venv.sh (and the tests): is a virtual environment where its files say
# it is?  A venv copied or moved with its checkout (cp -a, mv) keeps the old folder in its
# script shebangs (bin/pip), bin/activate, pyvenv.cfg, the Jupyter kernel spec and the editable
# install of this package: its scripts then run the old checkout's interpreter, or none at all.
# A venv reached through a symbolic link (a git worktree sharing another checkout's .venv) is
# where it says, once the link is resolved.

# The folders a venv's own files record as its location, one per line (duplicates possible).
venv_recorded_locations() {
  local venv="$1" script
  sed -n 's/^command = .* -m venv\( --[a-z-]*\)* \(.*\)$/\2/p' "$venv/pyvenv.cfg" 2>/dev/null
  sed -n 's/^ *VIRTUAL_ENV=["'\'']\{0,1\}\(\/[^"'\'']*\)["'\'']\{0,1\} *$/\1/p' "$venv/bin/activate" 2>/dev/null | head -1
  for script in "$venv/bin/pip" "$venv/bin/jupyter" "$venv/bin/pytest"; do
    [ -f "$script" ] && head -1 "$script" | sed -n 's|^#!\(/.*\)/bin/python[0-9.]*$|\1|p'
  done
  return 0
}

# Prints what points away from the venv and returns 0 when something does ("moved"); returns 1
# when the venv is where its files say.  $1: the venv, $2: the checkout it serves (optional:
# then its editable install of this package must point into the checkout the venv lives in).
venv_recorded_elsewhere() {
  local venv="$1" repo="${2:-}" own loc real found=1 pth line
  own="$(cd "$venv" 2>/dev/null && pwd -P)" || return 1
  while IFS= read -r loc; do
    [ -n "$loc" ] || continue
    real="$(cd "$loc" 2>/dev/null && pwd -P)" || real="$loc"
    if [ "$real" != "$own" ]; then
      echo "$loc"
      found=0
    fi
  done < <(venv_recorded_locations "$venv" | sort -u)
  if [ -n "$repo" ]; then
    for pth in "$venv"/lib/python*/site-packages/__editable__.ssb-*.pth; do
      [ -f "$pth" ] || continue
      while IFS= read -r line; do
        case "$line" in /*) ;; *) continue ;; esac
        real="$(cd "$(dirname "$line")" 2>/dev/null && pwd -P)" || real=""
        if [ "$real" != "$(dirname "$own")" ]; then
          echo "editable install: $line"
          found=0
        fi
      done < "$pth"
    done
  fi
  return $found
}

# Rewrite the recorded old locations to the venv's own, in bin/ (shebangs, activate scripts),
# pyvenv.cfg and the kernel specs.  Returns non-zero when the venv's python cannot run.
venv_rewrite_locations() {
  local venv="$1" own old
  own="$(cd "$venv" && pwd -P)"
  "$venv/bin/python" -c 'import sys' 2>/dev/null || return 1
  for old in $(venv_recorded_locations "$venv" | sort -u); do
    [ "$old" = "$own" ] && continue
    "$venv/bin/python" - "$venv" "$old" "$own" <<'PY'
import pathlib, sys
venv, old, new = pathlib.Path(sys.argv[1]), sys.argv[2], sys.argv[3]
files = [p for p in (venv / "bin").iterdir() if p.is_file() and not p.is_symlink()]
files += [venv / "pyvenv.cfg"] + list((venv / "share" / "jupyter" / "kernels").glob("*/kernel.json"))
for path in files:
    try:
        data = path.read_bytes()
    except OSError:
        continue
    if b"\0" in data[:1024] or old.encode() not in data:
        continue                            # a binary, or nothing to change
    text = data.decode("utf-8", "surrogateescape")
    if path.parent.name == "bin" and not path.name.startswith("activate") and not path.name.startswith("Activate"):
        first, _, rest = text.partition("\n")         # a script: only its shebang
        text = first.replace(old, new) + "\n" + rest if rest or text.endswith("\n") else first.replace(old, new)
    else:
        text = text.replace(old, new)
    path.write_bytes(text.encode("utf-8", "surrogateescape"))
PY
  done
}
