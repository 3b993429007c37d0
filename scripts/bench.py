#!/usr/bin/env python3
"""Speed and memory in one run: spill2lerobot against lerobot's own writer and the floor.

For each generated bag (default 20 s and 80 s, 3 cameras 640x480) and each codec (libsvtav1,
lerobot's default, and libx264), in separate processes:
  (a) ours      `spill2lerobot convert BAG OUT`
  (b) lerobot   scripts/bench_lerobot_baseline.py: LeRobotDataset.create(streaming_encoding=True)
                + add_frame + save_episode + finalize, fed by a message-by-message reader
  (c) floor     scripts/bench_floor.py: decode exactly the JPEGs the output uses and encode them
                with the same settings, one thread per camera (timed part only)
Prints wall and CPU seconds, CPU/wall, peak RSS of the process tree, output size and frames,
and the ratios ours/lerobot and ours/floor; each row is the median of --repeat runs (default 3,
interleaved). Then `--jobs 2` against `--jobs 1` on four 20 s
bags (identical output, wall times), and merge memory for ~200 episodes against 1. Figures are
only comparable within one run. Images are camera-like by default (`--content scene`: a camera
panning over a smooth scene with sensor grain); `--content noise` gives every frame a new random
texture, which no encoder can predict.

    .venv/bin/python scripts/bench.py [--seconds 20 80] [--codecs libsvtav1 libx264] [--workdir DIR]
        [--content scene|noise]

Then the depth row (bench_depth.py: 3 colour + 3 depth cameras, --depth-seconds, default 20 s:
native depth against its floor and against `use_depth: false`), and, with `--read-ref REF`, the
reading rows (bench_read.py: bytes read and cold-page-cache wall time of the 80 s bag,
uncompressed and lz4, against commit REF; e.g. c9401e0, which reads every message).
`--depth-only` runs the depth row alone.

`--against REF` instead compares ours with ours at git commit REF (a worktree in WORKDIR run by
the same interpreter), interleaved, and says whether both outputs are byte-identical:

    .venv/bin/python scripts/bench.py --against cbef33c --seconds 80 --codecs libsvtav1
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from statistics import mean

sys.path.insert(0, str(Path(__file__).resolve().parent))
import gen_kuavo_bag
from bench_depth import bench_depth
from benchutil import Measured, folder_size, measure, typical

SCRIPTS = Path(__file__).resolve().parent
ROOT = SCRIPTS.parent


CONTENT = "scene"  # set from --content


def make_bag(workdir: Path, seconds: int, seed: int = 0) -> Path:
    bag = workdir / f"kuavo-{seconds}s-seed{seed}-{CONTENT}.bag"
    if not bag.exists():
        gen_kuavo_bag.write_kuavo_bag(bag, float(seconds), seed=seed, content=CONTENT)
    return bag


def frames_of(out: Path) -> int:
    return json.loads((out / "meta/info.json").read_text())["total_frames"]


def row(label: str, m: Measured, size: int | None, frames: int | None) -> str:
    size_text = f"{size / 1e6:8.1f}" if size is not None else "       -"
    return (
        f"  {label:<9} {m.wall:8.1f} {m.cpu:8.1f} {m.cpu / m.wall:6.2f} {m.peak_rss / 1e6:9.0f} {size_text} "
        f"{frames if frames is not None else '-':>7}"
    )


def bench_bag(bag: Path, codec: str, workdir: Path, repeat: int = 1) -> dict:
    options = ["--set", f"video.codec={codec}"]
    python, exe = sys.executable, str(Path(sys.executable).with_name("spill2lerobot"))
    outs = {name: workdir / f"{bag.stem}-{codec}-{name}" for name in ("ours", "lerobot", "floor")}
    commands = {
        "ours": [exe, "convert", str(bag), str(outs["ours"]), *options],
        "lerobot": [python, str(SCRIPTS / "bench_lerobot_baseline.py"), str(bag), str(outs["lerobot"]), *options],
        "floor": [python, str(SCRIPTS / "bench_floor.py"), str(bag), str(outs["floor"]), *options],
    }
    runs: dict[str, list[Measured]] = {name: [] for name in commands}
    for _ in range(repeat):  # interleaved, so that a noisy moment hits every row alike
        for name, command in commands.items():
            shutil.rmtree(outs[name], ignore_errors=True)
            shutil.rmtree(outs[name].with_name(outs[name].name + ".spill"), ignore_errors=True)
            measured = measure(command)
            if name == "floor":  # the floor's own timing of decode + encode
                timed = json.loads(measured.stdout.strip().splitlines()[-1])
                measured.wall, measured.cpu = timed["wall"], timed["cpu"]
            runs[name].append(measured)
    ours, baseline, floor = (typical(runs[name]) for name in commands)
    timed = json.loads(floor.stdout.strip().splitlines()[-1])
    split = re.search(r"stage1 ([\d.]+) s, merge ([\d.]+) s", ours.stderr)
    print(f"{bag.name} ({bag.stat().st_size / 1e6:.0f} MB), {codec}, median of {repeat}")
    print(f"  {'':<9} {'wall s':>8} {'cpu s':>8} {'cpu/w':>6} {'peak MB':>9} {'out MB':>8} {'frames':>7}")
    print(row("ours", ours, folder_size(outs["ours"]), frames_of(outs["ours"])))
    print(row("lerobot", baseline, folder_size(outs["lerobot"]), frames_of(outs["lerobot"])))
    print(row("floor", floor, folder_size(outs["floor"]), timed["frames"]))
    stage1_s, merge_s = (float(split.group(1)), float(split.group(2))) if split else (float("nan"),) * 2
    print(
        f"  ours/lerobot wall {ours.wall / baseline.wall:.2f} (lerobot/ours {baseline.wall / ours.wall:.2f}x), "
        f"ours/floor wall {ours.wall / floor.wall:.2f}, merge/stage1 {merge_s / stage1_s:.3f}",
        flush=True,
    )
    for out in outs.values():
        shutil.rmtree(out, ignore_errors=True)
    return {"ours": ours, "lerobot": baseline, "floor": floor}


def digest(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def bench_jobs(workdir: Path, repeat: int = 1) -> None:
    """--jobs 2 against --jobs 1 on four 20 s bags, at least 5 runs each, the order alternating
    (the two are within a few % of each other on 2 cores, about the machine's noise)."""
    bags = [make_bag(workdir, 20, seed) for seed in range(4)]
    exe = str(Path(sys.executable).with_name("spill2lerobot"))
    runs: dict[int, list[Measured]] = {1: [], 2: []}
    digests = {}
    for round_ in range(max(5, repeat)):
        for jobs in (1, 2) if round_ % 2 == 0 else (2, 1):
            out = workdir / f"jobs{jobs}"
            shutil.rmtree(out, ignore_errors=True)
            runs[jobs].append(measure([exe, "convert", *map(str, bags), str(out), "--jobs", str(jobs)]))
            digests[jobs] = digest(out)
    results = {jobs: (typical(runs[jobs]), digests[jobs]) for jobs in (1, 2)}
    same = results[1][1] == results[2][1]
    print(
        f"--jobs on four 20 s bags: --jobs 1 {results[1][0].wall:.1f} s, --jobs 2 {results[2][0].wall:.1f} s "
        f"(speed-up {results[1][0].wall / results[2][0].wall:.2f}x, medians of {len(runs[1])}; "
        f"means {mean(m.wall for m in runs[1]):.1f} and {mean(m.wall for m in runs[2]):.1f} s); "
        f"output byte-identical: {same}"
    )
    for jobs in (1, 2):
        print(f"  --jobs {jobs} runs: " + ", ".join(f"{m.wall:.1f}" for m in runs[jobs]))
    for jobs in (1, 2):
        shutil.rmtree(workdir / f"jobs{jobs}", ignore_errors=True)


def bench_merge_episodes(workdir: Path) -> None:
    """Merge memory against episode count: the same spill (80 s bag, 4-frame chunks, x264) merged
    as ~200 one-chunk episodes and as one episode."""
    exe = str(Path(sys.executable).with_name("spill2lerobot"))
    bag, spill = make_bag(workdir, 80), workdir / "merge-spill"
    shutil.rmtree(spill, ignore_errors=True)
    options = ["--set", "rosbag.chunk_size=4", "--set", "video.codec=libx264", "--set", "video.preset=ultrafast"]
    measure([exe, "stage1", str(bag), str(spill), *options])
    for mode in ("chunk", "bag"):
        out = workdir / f"merge-{mode}"
        shutil.rmtree(out, ignore_errors=True)
        m = measure([exe, "merge", str(spill), str(out), "--episodes", mode])
        episodes = json.loads((out / "meta/info.json").read_text())["total_episodes"]
        print(f"merge --episodes {mode}: {episodes} episodes, {m.wall:.1f} s, peak RSS {m.peak_rss / 1e6:.0f} MB")
        shutil.rmtree(out, ignore_errors=True)
    shutil.rmtree(spill, ignore_errors=True)


def worktree(ref: str, workdir: Path) -> Path:
    """A checkout of commit ``ref`` in ``workdir`` (made once, kept for later runs)."""
    git = ["git", "-C", str(ROOT)]
    sha = subprocess.run([*git, "rev-parse", ref], capture_output=True, text=True, check=True).stdout.strip()
    path = workdir / f"ref-{sha[:12]}"
    if not path.exists():
        subprocess.run([*git, "worktree", "add", "--detach", str(path), sha], check=True)
    return path


def bench_against(ref: str, bags: list[Path], codecs: list[str], workdir: Path, repeat: int) -> None:
    """Ours now against ours at ``ref``: `python -m spill2lerobot convert`, the package taken from
    this checkout or from the ref's worktree (PYTHONPATH), runs alternating; medians and ratios."""
    trees = {"now": ROOT, ref: worktree(ref, workdir)}
    print(f"ours now ({ROOT}) against ours at {ref} ({trees[ref]}), median of {repeat}")
    print(f"  {'':<9} {'wall s':>8} {'cpu s':>8} {'cpu/wall':>6} {'peak MB':>9} {'out MB':>8} {'frames':>7}")
    for bag in bags:
        for codec in codecs:
            runs: dict[str, list[Measured]] = {name: [] for name in trees}
            outs = {name: workdir / f"{bag.stem}-{codec}-against-{i}" for i, name in enumerate(trees)}
            for round_ in range(repeat):
                for name in list(trees) if round_ % 2 == 0 else list(trees)[::-1]:
                    shutil.rmtree(outs[name], ignore_errors=True)
                    # run in the tree: `python -m` imports the package from the current folder first
                    env = {**os.environ, "PYTHONPATH": str(trees[name])}
                    command = [sys.executable, "-m", "spill2lerobot", "convert", str(bag), str(outs[name])]
                    runs[name].append(measure([*command, "--set", f"video.codec={codec}"], env=env, cwd=trees[name]))
            print(f"{bag.name}, {codec}:")
            typ = {name: typical(runs[name]) for name in trees}
            for name in trees:
                print(row(name[:9], typ[name], folder_size(outs[name]), frames_of(outs[name])))
            now, old = typ["now"], typ[ref]
            same = digest(outs["now"]) == digest(outs[ref])
            print(
                f"  now / {ref}: wall {now.wall / old.wall:.3f}, peak RSS {now.peak_rss / old.peak_rss:.3f};"
                f" outputs byte-identical: {same}"
            )
            walls = {name: ", ".join(f"{m.wall:.1f}" for m in runs[name]) for name in trees}
            print("  wall of each run: " + "; ".join(f"{name}: {text}" for name, text in walls.items()))
            for out in outs.values():
                shutil.rmtree(out, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=int, nargs="+", default=[20, 80])
    parser.add_argument("--codecs", nargs="+", default=["libsvtav1", "libx264"])
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/spill2lerobot-bench"))
    parser.add_argument("--no-jobs", action="store_true", help="skip the --jobs comparison")
    parser.add_argument("--repeat", type=int, default=3, help="runs per row; the median is shown (default 3)")
    parser.add_argument(
        "--content",
        choices=gen_kuavo_bag.CONTENTS,
        default="scene",
        help="image content: scene (camera-like, coherent in time; default) or noise (a new random texture "
        "every frame, ~4x slower to encode with SVT-AV1)",
    )
    parser.add_argument("--against", metavar="REF", help="compare ours with ours at git commit REF, nothing else")
    parser.add_argument("--depth-seconds", type=int, default=20, help="the depth row's bag (0: no depth row)")
    parser.add_argument("--depth-only", action="store_true", help="only the depth row")
    parser.add_argument("--read-ref", metavar="REF", help="add the reading rows, against git commit REF")
    args = parser.parse_args()
    global CONTENT
    CONTENT = args.content
    args.workdir.mkdir(parents=True, exist_ok=True)
    if args.against:
        bags = [make_bag(args.workdir, seconds) for seconds in args.seconds]
        bench_against(args.against, bags, args.codecs, args.workdir, args.repeat)
        return
    if args.depth_only:
        bench_depth(args.workdir, args.depth_seconds, args.repeat)
        return
    for codec in args.codecs:
        peaks = {}
        for seconds in args.seconds:
            measured = bench_bag(make_bag(args.workdir, seconds), codec, args.workdir, args.repeat)
            peaks[seconds] = measured["ours"].peak_rss
        shortest = min(peaks)
        for seconds, peak in peaks.items():
            print(f"{codec}: peak RSS of ours, {seconds} s bag / {shortest} s bag = {peak / peaks[shortest]:.3f}")
    if not args.no_jobs:
        bench_jobs(args.workdir, args.repeat)
    bench_merge_episodes(args.workdir)
    if args.depth_seconds:
        bench_depth(args.workdir, args.depth_seconds, args.repeat)
    if args.read_ref:
        import bench_read  # imports this module: only when asked for

        for compression in (None, "lz4"):
            bag = bench_read.make_bag(args.workdir, 80, compression)
            bench_read.bench_reading(args.read_ref, bag, args.workdir, args.repeat, args.codecs[0])


if __name__ == "__main__":
    main()
