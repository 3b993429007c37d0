#!/usr/bin/env bash
# Print the path of a Python 3.12 (lerobot 0.6.1 needs it): $PYTHON, python3.12, pyenv's 3.12.
set -euo pipefail
if [ -n "${PYTHON:-}" ]; then echo "$PYTHON"; exit 0; fi
for candidate in python3.12 "$HOME/.pyenv/versions/3.12.1/bin/python3.12"; do
  if command -v "$candidate" >/dev/null 2>&1 && "$candidate" -c 'import sys; assert sys.version_info[:2] == (3, 12)' 2>/dev/null; then
    echo "$candidate"; exit 0
  fi
done
if command -v pyenv >/dev/null 2>&1; then
  version=$(pyenv versions --bare | grep -E '^3\.12' | tail -n 1 || true)
  if [ -n "$version" ]; then echo "$(pyenv root)/versions/$version/bin/python3.12"; exit 0; fi
fi
echo "error: Python 3.12 not found (lerobot 0.6.1 needs it); set PYTHON=/path/to/python3.12" >&2
exit 1
