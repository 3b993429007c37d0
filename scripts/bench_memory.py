#!/usr/bin/env python3
"""Peak memory of `spill2lerobot convert` against bag length: flat memory, shown in one run.

Generates Kuavo bags (30 s and 120 s at 640x480; 30 s and 15 min with 64x48 images, the long one
over a million messages) and an unindexed copy of the 120 s bag (``write_unindexed_copy``: what a
crashed ``rosbag record`` leaves, read by one scan of the chunk headers), converts each in its own
process and samples the resident memory of the whole process tree (psutil, every 50 ms; children
included). Each bag is converted --repeat times (in rounds over the bags) and its highest peak
counts: SVT-AV1's pictures in flight, and so its memory, vary by tens of MB between runs of the
same bag. Prints one row per bag and the ratios to the 30 s bag of the same image size (and, for
the unindexed copy, to the indexed bag). Run it on an otherwise idle machine if you can; figures
are compared as ratios within one run because the machine may be shared.

    .venv/bin/python scripts/bench_memory.py [--workdir /tmp/bench] [--quick] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import gen_kuavo_bag
from benchutil import Measured, measure, typical

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
    parser.add_argument(
        "--repeat", type=int, default=3, help="runs per bag, in rounds; the highest peak is shown (default 3)"
    )
    args = parser.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    cases = CASES
    if args.quick:
        cases = [(n, s, w, h, b) for (n, _, w, h, b), s in zip(CASES, (8, 32, 32, 8, 120), strict=True)]
    bags = {
        name: prepare_bag(args.workdir, name, seconds, width, height, args.content)
        for name, seconds, width, height, _ in cases
    }
    runs: dict[str, list[Measured]] = {name: [] for name, *_ in cases}
    frames: dict[str, int] = {}
    for _ in range(args.repeat):  # rounds: a machine's slow spell touches every bag alike
        for name, _, width, height, _ in cases:
            measured, frames[name] = convert(args.workdir, bags[name][0], name, width, height)
            runs[name].append(measured)
    print(
        f"{'bag':<14} {'messages':>10} {'size MB':>9} {'frames':>7} {'wall s':>8} {'peak RSS MB':>12}"
        "  ratio   (peaks of the runs)"
    )
    peaks = {name: max(m.peak_rss for m in measured) for name, measured in runs.items()}
    for name, _, _, _, baseline in cases:
        bag, messages = bags[name]
        each = ", ".join(f"{m.peak_rss / 1e6:.0f}" for m in runs[name])
        extra = (
            f", {peaks[name] / peaks[UNINDEXED[name]]:.3f} x {UNINDEXED[name]} (indexed)" if name in UNINDEXED else ""
        )
        print(
            f"{name:<14} {messages:>10} {bag.stat().st_size / 1e6:>9.0f} {frames[name]:>7} "
            f"{typical(runs[name]).wall:>8.1f} {peaks[name] / 1e6:>12.0f}  "
            f"{peaks[name] / peaks[baseline]:.3f} x {baseline}"
            f"{extra}   ({each})",
            flush=True,
        )
    worst = max(peaks[n] / peaks[b] for n, _, _, _, b in cases)
    print(f"largest ratio to the 30 s bag of the same image size: {worst:.3f} (target <= 1.10)")
    print(f"peak RSS: the highest of {args.repeat} runs per bag (SVT-AV1's pictures in flight vary between runs)")


def prepare_bag(workdir: Path, name: str, seconds: int, width: int, height: int, content: str) -> tuple[Path, int]:
    """The bag of a case, generated unless an earlier run left it; its message count (-1: not counted)."""
    if name in UNINDEXED:
        bag = workdir / f"{name}-{content}.bag.active"
        gen_kuavo_bag.write_unindexed_copy(workdir / f"{UNINDEXED[name]}-{content}.bag", bag)
        return bag, -1  # the same messages as the indexed bag
    bag = workdir / f"{name}-{content}.bag"
    if bag.exists():
        return bag, -1
    summary = gen_kuavo_bag.write_kuavo_bag(bag, float(seconds), width=width, height=height, content=content)
    return bag, summary.message_count


def convert(workdir: Path, bag: Path, name: str, width: int, height: int) -> tuple[Measured, int]:
    exe = str(Path(sys.executable).with_name("spill2lerobot"))
    out = workdir / f"{name}.out"
    shutil.rmtree(out, ignore_errors=True)
    size = ["--set", f"dataset.resize.width={width}", "--set", f"dataset.resize.height={height}"]
    measured = measure([exe, "convert", str(bag), str(out), *size])
    frames = json.loads((out / "meta/info.json").read_text())["total_frames"]
    shutil.rmtree(out, ignore_errors=True)
    return measured, frames


if __name__ == "__main__":
    main()
