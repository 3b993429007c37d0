#!/usr/bin/env python3
"""Reading: bytes read and cold-cache wall time of `convert`, now against a commit REF.

For a generated 80 s bag, uncompressed and lz4 (3 cameras 640x480, camera-like content), runs
`python -m spill2lerobot convert` with this checkout's package and with REF's (a worktree, as
`bench.py --against` makes it), interleaved. Before every run the bag's pages are dropped from
the page cache (`posix_fadvise(DONTNEED)` on the file), so each run reads from the disk as a
bag on network storage or an external disk would. Bytes read are `read_chars` of the process
tree: a shell runs the command and then reports its own /proc/PID/io, which includes every
reaped child (Python's own start-up reads, a few MB, are in both columns alike).

    .venv/bin/python scripts/bench_read.py --ref REF [--seconds 80] [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import gen_kuavo_bag
from bench import ROOT, digest, worktree
from benchutil import Measured, measure, typical

# Our own files beside lerobot's: the report says what was read, the provenance and the card
# (OUT/README.md) name the tool's version and run; older commits may not write them at all.
OURS = ("meta/spill2lerobot_report.json", "meta/spill2lerobot_provenance.json", "README.md")
# Runs the command, then prints the shell's own I/O counters (reaped children included).
_WITH_IO = '"$@"; status=$?; cat /proc/$$/io; exit $status'


def drop_from_page_cache(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


def read_chars(stdout: str) -> int:
    for line in stdout.splitlines():
        if line.startswith("rchar:"):  # psutil calls it read_chars
            return int(line.split()[1])
    raise SystemExit("no rchar in the output: /proc/PID/io unavailable?")


def make_bag(workdir: Path, seconds: int, compression: str | None) -> Path:
    bag = workdir / f"kuavo-{seconds}s-scene-{compression or 'none'}.bag"
    if not bag.exists():
        gen_kuavo_bag.write_kuavo_bag(bag, float(seconds), seed=0, content="scene", compression=compression)
    return bag


def bench_reading(ref: str, bag: Path, workdir: Path, repeat: int, codec: str) -> None:
    trees = {"now": ROOT, ref: worktree(ref, workdir)}
    outs = {name: workdir / f"{bag.stem}-read-{i}" for i, name in enumerate(trees)}
    runs: dict[str, list[Measured]] = {name: [] for name in trees}
    reads: dict[str, list[int]] = {name: [] for name in trees}
    for round_ in range(repeat):
        for name in list(trees) if round_ % 2 == 0 else list(trees)[::-1]:
            shutil.rmtree(outs[name], ignore_errors=True)
            drop_from_page_cache(bag)
            env = {**os.environ, "PYTHONPATH": str(trees[name])}
            convert = [sys.executable, "-m", "spill2lerobot", "convert", str(bag), str(outs[name])]
            command = ["sh", "-c", _WITH_IO, "sh", *convert, "--set", f"video.codec={codec}"]
            measured = measure(command, env=env, cwd=trees[name])  # `python -m` imports from the cwd first
            runs[name].append(measured)
            reads[name].append(read_chars(measured.stdout))
    size = bag.stat().st_size
    print(f"{bag.name} ({size / 1e6:.0f} MB), {codec}, cold page cache, median of {repeat}")
    print(f"  {'':<12} {'wall s':>8} {'peak MB':>8} {'read MB':>8} {'read/file':>9}")
    typ = {name: typical(runs[name]) for name in trees}
    for name in trees:
        read, m = sorted(reads[name])[len(reads[name]) // 2], typ[name]
        print(f"  {name[:12]:<12} {m.wall:8.1f} {m.peak_rss / 1e6:8.0f} {read / 1e6:8.1f} {read / size:9.3f}")
    dataset = {name: {k: v for k, v in digest(outs[name]).items() if k not in OURS} for name in trees}
    now, old = dataset["now"], dataset[ref]
    differ = sorted(k for k in now.keys() | old.keys() if now.get(k) != old.get(k))
    print(
        f"  now / {ref}: wall {typ['now'].wall / typ[ref].wall:.3f}; data, videos, lerobot's metadata "
        f"byte-identical: {not differ}" + (f" (differ: {', '.join(differ)})" if differ else "")
    )
    print("  wall of each run: " + "; ".join(f"{n}: " + ", ".join(f"{m.wall:.1f}" for m in runs[n]) for n in trees))
    for out in outs.values():
        shutil.rmtree(out, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ref", required=True, help="git commit to compare with (reading every message)")
    parser.add_argument("--seconds", type=int, default=80)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--codec", default="libsvtav1")
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/spill2lerobot-bench"))
    args = parser.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    for compression in (None, "lz4"):
        bench_reading(
            args.ref, make_bag(args.workdir, args.seconds, compression), args.workdir, args.repeat, args.codec
        )


if __name__ == "__main__":
    main()
