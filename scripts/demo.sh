#!/usr/bin/env bash
# Fresh machine to dataset: set up, generate a 20 s sample Kuavo bag, convert it.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
mkdir -p demo
[ -f demo/sample.bag ] || .venv/bin/python scripts/gen_kuavo_bag.py demo/sample.bag --seconds 20
rm -rf demo/lerobot_sample
.venv/bin/spill2lerobot convert demo/sample.bag demo/lerobot_sample --set rosbag.chunk_size=100
echo "dataset written to demo/lerobot_sample"
