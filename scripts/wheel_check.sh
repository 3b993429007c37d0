#!/usr/bin/env bash
# Build a wheel, install it (not editable, core dependencies only: no lerobot, no torch) into a
# fresh Python 3.12 venv, and convert a small generated bag from a folder outside the checkout:
# the profiles and everything else a user needs must be inside the wheel.
# Needs .venv (scripts/setup.sh) to generate the bag. Usage: scripts/wheel_check.sh
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/spill2lerobot-wheel.XXXXXX")
trap 'rm -rf "$work"' EXIT
.venv/bin/python -m pip wheel . --no-deps --quiet -w "$work/dist"
"$(scripts/find_python.sh)" -m venv "$work/venv"
"$work/venv/bin/python" -m pip install --quiet "$work"/dist/spill2lerobot-*.whl
.venv/bin/python scripts/gen_kuavo_bag.py "$work/sample.bag" --seconds 3 --size 64x48 >/dev/null
cd "$work"  # outside the checkout: only the wheel is importable
"$work/venv/bin/python" -c 'import spill2lerobot, sys; assert "'"$root"'" not in spill2lerobot.__file__, spill2lerobot.__file__'
"$work/venv/bin/spill2lerobot" convert sample.bag out --set rosbag.chunk_size=20 \
  --set dataset.resize.width=64 --set dataset.resize.height=48 -q
test -f out/meta/info.json && test -f out/README.md && test -f out/meta/spill2lerobot_provenance.json
echo "wheel check: installed wheel converted the sample bag"
