#!/usr/bin/env bash
# Set up with the test, lerobot, preview and ray extras (and Chromium, for the preview tests' headless
# browser), then lint, type-check (mypy --strict) and run every test (lerobot ones included).
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v chromium >/dev/null 2>&1; then
  sudo=""; [ "$(id -u)" -ne 0 ] && sudo="sudo"
  $sudo apt-get update -q && $sudo apt-get install -y -q --no-install-recommends chromium
fi
scripts/setup.sh test,lerobot,preview,ray
.venv/bin/ruff check spill2lerobot tests scripts
.venv/bin/mypy
.venv/bin/python -m pytest -q "$@"
