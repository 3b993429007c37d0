#!/usr/bin/env bash
# Create .venv (Python 3.12, which lerobot 0.6.1 needs) and install spill2lerobot into it.
# Usage: scripts/setup.sh [EXTRAS]   e.g. scripts/setup.sh test,lerobot
set -euo pipefail
cd "$(dirname "$0")/.."
extras="${1:-}"

find_python() {
  if [ -n "${PYTHON:-}" ]; then echo "$PYTHON"; return; fi
  for candidate in python3.12 "$HOME/.pyenv/versions/3.12.1/bin/python3.12"; do
    if command -v "$candidate" >/dev/null 2>&1 && "$candidate" -c 'import sys; assert sys.version_info[:2] == (3, 12)' 2>/dev/null; then
      echo "$candidate"; return
    fi
  done
  if command -v pyenv >/dev/null 2>&1; then
    version=$(pyenv versions --bare | grep -E '^3\.12' | tail -n 1 || true)
    if [ -n "$version" ]; then echo "$(pyenv root)/versions/$version/bin/python3.12"; return; fi
  fi
  echo "error: Python 3.12 not found (lerobot 0.6.1 needs it); set PYTHON=/path/to/python3.12" >&2
  exit 1
}

if [ ! -x .venv/bin/python ]; then
  "$(find_python)" -m venv .venv
  .venv/bin/python -m pip install --quiet --upgrade pip
fi
spec="."
[ -n "$extras" ] && spec=".[${extras}]"
.venv/bin/python -m pip install --quiet -e "$spec"
