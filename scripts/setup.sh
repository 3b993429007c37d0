#!/usr/bin/env bash
# Create .venv (Python 3.12, which lerobot 0.6.1 needs) and install spill2lerobot into it.
# Usage: scripts/setup.sh [EXTRAS]   e.g. scripts/setup.sh test,lerobot
set -euo pipefail
cd "$(dirname "$0")/.."
extras="${1:-}"

if [ ! -x .venv/bin/python ]; then
  "$(scripts/find_python.sh)" -m venv .venv
  .venv/bin/python -m pip install --quiet --upgrade pip
fi
spec="."
[ -n "$extras" ] && spec=".[${extras}]"
.venv/bin/python -m pip install --quiet -e "$spec"
