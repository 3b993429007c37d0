#!/usr/bin/env python3
"""Merge at scale: peak memory and time of `spill2lerobot merge` for many one-second bags.

Generates N one-second Kuavo bags (64x48 images), spills them once (stage1 --jobs J), then merges
the first SMALL bags' spill and all LARGE bags' spill, each in its own process, and prints one
JSON line per size and the ratios: {"bags": n, "merge_s": s, "merge_peak_mb": mb,
"merge_maxrss_mb": mb} and {"peak_ratio": large/small, "time_per_bag_ratio": ...}.
``merge_peak_mb`` polls the process tree's RSS every 50 ms; ``merge_maxrss_mb`` is the merge
process's own high-water mark (``/usr/bin/time -v``, where installed): exact, never missed
between polls, and what ``peak_ratio`` uses when present. The issue's figure: 1,000 bags,
merge peak RSS within 10% of 40 bags' (peak_ratio <= 1.10), time linear in episodes
(time_per_bag_ratio near 1; the fixed start-up cost makes it fall below 1).

    .venv/bin/python scripts/scale_merge.py WORK_DIR [--small 40] [--large 1000] [--jobs 2]
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from benchutil import measure
from gen_kuavo_bag import write_kuavo_bag

SMALL = ("--set", "dataset.resize.width=64", "--set", "dataset.resize.height=48")


def make_bags(folder: Path, count: int) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    bags = []
    for number in range(count):
        bag = folder / f"bag{number:05d}.bag"
        if not bag.exists():
            write_kuavo_bag(bag, 1.0, seed=number, width=64, height=48)
        bags.append(bag)
    return bags


def spilled(work: Path, bags: list[Path], jobs: int) -> Path:
    spill = work / f"spill-{len(bags)}"
    cli = [sys.executable, "-m", "spill2lerobot"]
    measure([*cli, "stage1", "-q", *map(str, bags), str(spill), *SMALL, "--jobs", str(jobs)])
    return spill


TIME = Path("/usr/bin/time")


def merged(work: Path, spill: Path, bags: int) -> dict[str, float]:
    out = work / f"out-{bags}"
    shutil.rmtree(out, ignore_errors=True)
    timed = [str(TIME), "-v"] if TIME.exists() else []  # its own RSS (~2 MB) is in the polled figure
    run = measure([*timed, sys.executable, "-m", "spill2lerobot", "merge", "-q", str(spill), str(out)])
    result = {"bags": bags, "merge_s": round(run.wall, 2), "merge_peak_mb": round(run.peak_rss / 1024**2, 1)}
    maxrss = re.search(r"Maximum resident set size \(kbytes\): (\d+)", run.stderr)
    if maxrss:
        result["merge_maxrss_mb"] = round(int(maxrss.group(1)) / 1024, 1)
    return result


def ratios(small: dict[str, float], large: dict[str, float]) -> dict[str, float]:
    peak = "merge_maxrss_mb" if "merge_maxrss_mb" in small and "merge_maxrss_mb" in large else "merge_peak_mb"
    per_bag = (large["merge_s"] / large["bags"]) / (small["merge_s"] / small["bags"])
    return {"peak_ratio": round(large[peak] / small[peak], 3), "time_per_bag_ratio": round(per_bag, 3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("work", type=Path)
    parser.add_argument("--small", type=int, default=40)
    parser.add_argument("--large", type=int, default=1000)
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args()
    bags = make_bags(args.work / "bags", args.large)
    results = []
    for count in (args.small, args.large):
        spill = spilled(args.work, bags[:count], args.jobs)  # resumes (nothing to do) when already spilled
        results.append(merged(args.work, spill, count))
        print(json.dumps(results[-1]), flush=True)
    print(json.dumps(ratios(*results)))


if __name__ == "__main__":
    main()
