#!/usr/bin/env bash
# Set up with the test, lerobot and preview extras, then lint, type-check (mypy --strict) and run every
# test (lerobot ones included).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh test,lerobot,preview
.venv/bin/ruff check spill2lerobot tests scripts
.venv/bin/mypy
.venv/bin/python -m pytest -q "$@"
