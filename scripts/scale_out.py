#!/usr/bin/env python3
"""Scale-out figures of issue 15, each in one run (this machine is shared: ratios within a run).

`memory`: four generated 80 s bags (camera-like `scene` content) converted under --max-memory
600MB, 1GB and 2GB; the peak resident memory of the whole process tree (psutil, every 50 ms)
against each budget, and whether the three datasets are the same byte for byte.

`ray`: four 20 s bags, `convert --executor ray` on an already running local Ray cluster
(`ray start --head --num-cpus C`, started and stopped here) against `convert --jobs 2`, runs
alternating, medians, and whether the outputs are the same.

    .venv/bin/python scripts/scale_out.py memory|ray [--workdir DIR] [--repeat 3]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import statistics
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import gen_kuavo_bag
from benchutil import measure

EXE = str(Path(sys.executable).with_name("spill2lerobot"))
OURS = ("meta/spill2lerobot_provenance.json",)  # holds the command line and run times


def make_bags(workdir: Path, seconds: int) -> list[Path]:
    bags = []
    for seed in range(4):
        bag = workdir / f"kuavo-{seconds}s-seed{seed}-scene.bag"
        if not bag.exists():
            gen_kuavo_bag.write_kuavo_bag(bag, float(seconds), seed=seed, content="scene")
        bags.append(bag)
    return bags


def digest(folder: Path) -> dict[str, str]:
    files = (p for p in sorted(folder.rglob("*")) if p.is_file() and str(p.relative_to(folder)) not in OURS)
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest() for p in files}


def convert(bags: list[Path], out: Path, options: list[str]) -> tuple[float, int, dict[str, str]]:
    shutil.rmtree(out, ignore_errors=True)
    m = measure([EXE, "convert", *map(str, bags), str(out), "-q", *options])
    found = digest(out)
    shutil.rmtree(out, ignore_errors=True)
    return m.wall, m.peak_rss, found


def bench_memory(workdir: Path, repeat: int) -> None:
    bags = make_bags(workdir, 80)
    budgets = {"600MB": 600 * 1024**2, "1GB": 1024**3, "2GB": 2 * 1024**3}
    peaks: dict[str, list[int]] = {name: [] for name in budgets}
    digests = {}
    for _ in range(repeat):
        for name in budgets:
            wall, peak, digests[name] = convert(bags, workdir / f"budget-{name}", ["--max-memory", name])
            peaks[name].append(peak)
            print(f"  --max-memory {name}: {wall:.1f} s, peak {peak / 1e6:.0f} MB", flush=True)
    print(f"four 80 s bags, highest peak of {repeat} runs (process tree, psutil every 50 ms):")
    for name, limit in budgets.items():
        top = max(peaks[name])
        print(f"  --max-memory {name}: peak {top / 1024**2:.0f} MiB = {top / limit:.2f} of the budget")
    print(f"  the three datasets byte-identical: {len({tuple(d.items()) for d in digests.values()}) == 1}")


def bench_ray(workdir: Path, repeat: int, cpus: int) -> None:
    bags = make_bags(workdir, 20)
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")  # a local cluster of our own, no token
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0"}
    ray = str(Path(sys.executable).with_name("ray"))
    subprocess.run([ray, "start", "--head", f"--num-cpus={cpus}", "--port=6399"], check=True, env=env)
    try:
        options = {
            "jobs 2": ["--jobs", "2"],
            "ray": ["--executor", "ray", "--ray-address", "127.0.0.1:6399"],
        }
        walls: dict[str, list[float]] = {name: [] for name in options}
        digests = {}
        for round_ in range(repeat):
            names = list(options) if round_ % 2 == 0 else list(options)[::-1]
            for name in names:
                wall, _, digests[name] = convert(bags, workdir / f"ray-{name.replace(' ', '')}", options[name])
                walls[name].append(wall)
        typical = {name: statistics.median(times) for name, times in walls.items()}
        print(f"four 20 s bags, medians of {repeat} alternating runs, Ray cluster of {cpus} CPUs already running:")
        for name, times in walls.items():
            print(f"  {name}: {typical[name]:.1f} s (runs {', '.join(f'{t:.1f}' for t in times)})")
        print(
            f"  ray / jobs 2: {typical['ray'] / typical['jobs 2']:.2f}; outputs byte-identical: "
            f"{digests['ray'] == digests['jobs 2']}"
        )
    finally:
        subprocess.run([ray, "stop", "--force"], check=False, env=env, capture_output=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("what", choices=("memory", "ray"))
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/spill2lerobot-bench"))
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--cpus", type=int, default=2, help="ray: the local cluster's CPUs")
    args = parser.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    if args.what == "memory":
        bench_memory(args.workdir, args.repeat)
    else:
        bench_ray(args.workdir, args.repeat, args.cpus)


if __name__ == "__main__":
    main()
