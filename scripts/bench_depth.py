#!/usr/bin/env python3
"""Depth: a generated bag with three colour and three depth cameras (640x480), converted with
native depth, against its floor (bench_floor.py: decode the used JPEGs and depth PNGs, encode
them with the same settings) and against the same bag converted with `dataset.use_depth=false`;
runs interleaved, medians. Called by bench.py (its depth row); alone:

    .venv/bin/python scripts/bench_depth.py [--seconds 20] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import gen_kuavo_bag
from benchutil import Measured, folder_size, measure, typical

SCRIPTS = Path(__file__).resolve().parent


def make_depth_bag(workdir: Path, seconds: int) -> Path:
    bag = workdir / f"kuavo-{seconds}s-depth-scene.bag"
    if not bag.exists():
        gen_kuavo_bag.write_kuavo_bag(bag, float(seconds), seed=0, content="scene", depth=True)
    return bag


def bench_depth(workdir: Path, seconds: int = 20, repeat: int = 3, extra: list[str] | None = None) -> dict:
    """``extra``: more --set options for every row (e.g. video.depth_preset=null for today's)."""
    bag = make_depth_bag(workdir, seconds)
    python, exe = sys.executable, str(Path(sys.executable).with_name("spill2lerobot"))
    options = [*(extra or [])]
    outs = {name: workdir / f"{bag.stem}-{name}" for name in ("depth", "no-depth", "floor")}
    commands = {
        "depth": [exe, "convert", str(bag), str(outs["depth"]), *options],
        "no-depth": [exe, "convert", str(bag), str(outs["no-depth"]), *options, "--set", "dataset.use_depth=false"],
        "floor": [python, str(SCRIPTS / "bench_floor.py"), str(bag), str(outs["floor"]), *options],
    }
    runs: dict[str, list[Measured]] = {name: [] for name in commands}
    for round_ in range(repeat):  # interleaved, the order turning, so a noisy moment hits every row alike
        names = list(commands)
        for name in names[round_ % 3 :] + names[: round_ % 3]:
            shutil.rmtree(outs[name], ignore_errors=True)
            measured = measure(commands[name])
            if name == "floor":  # the floor's own timing of decode + encode
                timed = json.loads(measured.stdout.strip().splitlines()[-1])
                measured.wall, measured.cpu = timed["wall"], timed["cpu"]
            runs[name].append(measured)
    typ = {name: typical(runs[name]) for name in commands}
    print(f"{bag.name} ({bag.stat().st_size / 1e6:.0f} MB), 3 colour + 3 depth cameras, median of {repeat}")
    print(f"  {'':<9} {'wall s':>8} {'cpu s':>8} {'peak MB':>9} {'out MB':>8}")
    for name, m in typ.items():
        size = folder_size(outs[name]) / 1e6
        print(f"  {name:<9} {m.wall:8.1f} {m.cpu:8.1f} {m.peak_rss / 1e6:9.0f} {size:8.1f}")
    depth = typ["depth"]
    print(
        f"  depth/floor wall {depth.wall / typ['floor'].wall:.2f}, depth/no-depth wall "
        f"{depth.wall / typ['no-depth'].wall:.2f}, peak RSS {depth.peak_rss / 1e6:.0f} MB"
    )
    print("  wall of each run: " + "; ".join(f"{n}: " + ", ".join(f"{m.wall:.1f}" for m in runs[n]) for n in runs))
    for out in outs.values():
        shutil.rmtree(out, ignore_errors=True)
    return typ


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="profile option, every row")
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/spill2lerobot-bench"))
    args = parser.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    bench_depth(args.workdir, args.seconds, args.repeat, [x for kv in args.set for x in ("--set", kv)])


if __name__ == "__main__":
    main()
