#!/usr/bin/env python3
"""--jobs 2 against --jobs 1 on one bag: units, not bags, so one long bag uses both workers.

Generates a Kuavo bag (scripts/gen_kuavo_bag.py, camera-like `scene` content), runs ``stage1``
on it with --jobs 1 and --jobs N, --repeat times in alternating order (chunk_size 200, one
encoder thread per worker: `video.single_thread=true` and `video.encoder_threads=1`, so that a
worker uses one core; `--threads-per-camera`: one thread per camera instead), checks the spills
are byte for byte the same and prints one JSON line: {"seconds": bag length, "jobs_1": median s,
"jobs_n": median s, "speedup": x, "identical": bool, "runs": ...}. The issue's figure: an 80 s
bag, --jobs 2 at least 1.7x faster than --jobs 1.

    .venv/bin/python scripts/scale_jobs.py WORK_DIR [--seconds 80] [--jobs 2] [--chunk-size 200] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from gen_kuavo_bag import write_kuavo_bag

LOCK = ".spill2lerobot.lock"  # names the process that held the spill: differs between runs


def spill_bytes(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file() and p.name != LOCK}


def timed_stage1(bag: Path, spill: Path, jobs: int, chunk_size: int, single_thread: bool) -> float:
    command = [sys.executable, "-m", "spill2lerobot", "stage1", "-q", str(bag), str(spill), "--jobs", str(jobs)]
    command += ["--set", f"rosbag.chunk_size={chunk_size}", "--set", "video.encoder_threads=1", "--restart"]
    command += ["--set", f"video.single_thread={'true' if single_thread else 'false'}"]
    started = time.monotonic()
    subprocess.run(command, check=True)
    return time.monotonic() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("work", type=Path, help="folder for the bag and the two spills")
    parser.add_argument("--seconds", type=float, default=80.0, help="bag length")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--chunk-size", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=3, help="runs of each, alternating; medians")
    parser.add_argument("--threads-per-camera", action="store_true", help="video.single_thread=false")
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    bag = args.work / f"kuavo_{args.seconds:g}s_scene.bag"
    if not bag.exists():
        write_kuavo_bag(bag, args.seconds, seed=1, content="scene")
    single = not args.threads_per_camera
    runs: dict[int, list[float]] = {1: [], args.jobs: []}
    for round_ in range(args.repeat):
        for jobs in (1, args.jobs) if round_ % 2 == 0 else (args.jobs, 1):
            runs[jobs].append(timed_stage1(bag, args.work / f"spill-{jobs}", jobs, args.chunk_size, single))
    identical = spill_bytes(args.work / "spill-1") == spill_bytes(args.work / f"spill-{args.jobs}")
    one, many = statistics.median(runs[1]), statistics.median(runs[args.jobs])
    result = {"seconds": args.seconds, "jobs": args.jobs, "single_thread": single}
    result |= {"jobs_1": round(one, 2), "jobs_n": round(many, 2), "speedup": round(one / many, 3)}
    walls = {jobs: [round(wall, 1) for wall in times] for jobs, times in runs.items()}
    print(json.dumps({**result, "identical": identical, "runs": walls}))


if __name__ == "__main__":
    main()
