"""Measuring a command in its own process: wall time, CPU time, peak RSS of the process tree."""

from __future__ import annotations

import contextlib
import resource
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import psutil


@dataclass
class Measured:
    wall: float  # seconds
    cpu: float  # user + system seconds of the process and its children
    peak_rss: int  # bytes, sampled every 50 ms over the whole process tree
    stdout: str
    stderr: str


def tree_rss(process: psutil.Process) -> int:
    total = 0
    for proc in [process, *process.children(recursive=True)]:
        with contextlib.suppress(psutil.NoSuchProcess):
            total += proc.memory_info().rss
    return total


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def measure(args: list[str], env: dict | None = None, cwd: Path | None = None) -> Measured:
    """Run ``args`` (in ``cwd``: ``python -m`` imports the package found there first)."""
    cpu_before = _children_cpu()
    started = time.monotonic()
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, cwd=cwd)
    watched = psutil.Process(proc.pid)
    peak = 0
    while proc.poll() is None:
        with contextlib.suppress(psutil.NoSuchProcess):
            peak = max(peak, tree_rss(watched))
        time.sleep(0.05)
    stdout, stderr = proc.communicate()
    wall = time.monotonic() - started
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed ({proc.returncode}):\n{stderr.decode()[-3000:]}")
    return Measured(wall, _children_cpu() - cpu_before, peak, stdout.decode(), stderr.decode())


def typical(runs: list[Measured]) -> Measured:
    """Median wall and CPU time of repeated runs (a shared machine is noisy), highest peak RSS."""
    ordered = sorted(runs, key=lambda m: m.wall)
    middle = ordered[len(ordered) // 2]
    cpu = sorted(m.cpu for m in runs)[len(runs) // 2]
    return Measured(middle.wall, cpu, max(m.peak_rss for m in runs), middle.stdout, middle.stderr)


def folder_size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
