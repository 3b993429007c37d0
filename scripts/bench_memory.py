#!/usr/bin/env python3
"""Peak memory of `spill2lerobot convert` against bag length: flat memory, shown in one run.

Generates Kuavo bags (30 s and 120 s at 640x480; 30 s and 15 min with 64x48 images, the long one
over a million messages) and an unindexed copy of the 120 s bag (``write_unindexed_copy``: what a
crashed ``rosbag record`` leaves, read by one scan of the chunk headers), converts each in its own
process and samples the resident memory of the whole process tree (psutil, every 50 ms; children
included). Prints one row per bag and the ratios to the 30 s bag of the same image size (and, for
the unindexed copy, to the indexed bag). Run it on an otherwise idle machine if you can; figures
are compared as ratios within one run because the machine may be shared.

    .venv/bin/python scripts/bench_memory.py [--workdir /tmp/bench] [--quick]
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import gen_kuavo_bag
from benchutil import measure

CASES = [  # name, seconds, width, height, baseline name
    ("30s-640x480", 30, 640, 480, "30s-640x480"),
    ("120s-640x480", 120, 640, 480, "30s-640x480"),
    ("120s-unindexed", 120, 640, 480, "30s-640x480"),  # .bag.active copy of 120s-640x480
    ("30s-64x48", 30, 64, 48, "30s-64x48"),
    ("15min-64x48", 900, 64, 48, "30s-64x48"),
]


UNINDEXED = {"120s-unindexed": "120s-640x480"}  # unindexed copy -> the indexed bag it copies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/spill2lerobot-bench"))
    parser.add_argument(
        "--quick", action="store_true", help="shorter bags (8 s / 32 s (+ unindexed) / 8 s / 120 s) for a smoke run"
    )
    parser.add_argument(
        "--content", choices=gen_kuavo_bag.CONTENTS, default="scene", help="image content (see scripts/bench.py)"
    )
    args = parser.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    cases = CASES
    if args.quick:
        cases = [(n, s, w, h, b) for (n, _, w, h, b), s in zip(CASES, (8, 32, 32, 8, 120), strict=True)]
    exe = str(Path(sys.executable).with_name("spill2lerobot"))
    rows = {}
    print(f"{'bag':<14} {'messages':>10} {'size MB':>9} {'frames':>7} {'wall s':>8} {'peak RSS MB':>12}  ratio")
    for name, seconds, width, height, baseline in cases:
        bag = args.workdir / f"{name}-{args.content}.bag"
        if name in UNINDEXED:
            bag = args.workdir / f"{name}-{args.content}.bag.active"
            gen_kuavo_bag.write_unindexed_copy(args.workdir / f"{UNINDEXED[name]}-{args.content}.bag", bag)
            messages = -1  # the same messages as the indexed bag
        elif not bag.exists():
            summary = gen_kuavo_bag.write_kuavo_bag(
                bag, float(seconds), width=width, height=height, content=args.content
            )
            messages = summary.message_count
        else:
            messages = -1  # bag from an earlier run: not counted again
        out = args.workdir / f"{name}.out"
        shutil.rmtree(out, ignore_errors=True)
        measured = measure(
            [
                exe,
                "convert",
                str(bag),
                str(out),
                "--set",
                f"dataset.resize.width={width}",
                "--set",
                f"dataset.resize.height={height}",
            ]
        )
        wall, peak = measured.wall, measured.peak_rss
        frames = json.loads((out / "meta/info.json").read_text())["total_frames"]
        rows[name] = peak
        ratio = peak / rows[baseline]
        print(
            f"{name:<14} {messages:>10} {bag.stat().st_size / 1e6:>9.0f} {frames:>7} {wall:>8.1f} "
            f"{peak / 1e6:>12.0f}  {ratio:.3f} x {baseline}"
            + (f", {peak / rows[UNINDEXED[name]]:.3f} x {UNINDEXED[name]} (indexed)" if name in UNINDEXED else ""),
            flush=True,
        )
        shutil.rmtree(out, ignore_errors=True)
    worst = max(rows[n] / rows[b] for n, _, _, _, b in cases)
    print(f"largest ratio to the 30 s bag of the same image size: {worst:.3f} (target <= 1.10)")


if __name__ == "__main__":
    main()
