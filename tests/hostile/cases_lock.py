"""One writer per spill: a second writer is refused naming the process that holds the lock; a
lock left by a dead process (SIGKILL) is taken over.

The first writer works on sixteen 3-second bags (several seconds of stage 1), so that the second
one starts and finishes while the first is still running; each case checks that it did.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

import psutil
import pyarrow.parquet as pq
import pytest
from assets import Assets, put_bag
from harness import FAST_ARGS, Case, CaseDir, Watched, registrar, wait_for

CASES: list[Case] = []
case = registrar(CASES, "lock")
BAGS = 16  # enough for the second writer to start and finish while the first runs, on a busy machine


def many_bags(c: CaseDir, a: Assets, folder: str = "bags") -> str:
    for i in range(BAGS):
        put_bag(c, a.bag("a" if i % 2 == 0 else "b"), f"{folder}/r{i}.bag")
    return folder


def journal_lines(spill: Path) -> int:
    return sum(len(p.read_text().splitlines()) for p in spill.glob("bags/*/journal.jsonl"))


def start_writer(c: CaseDir, *args: str, spill: str = "sp") -> Watched:
    """Start a long stage 1 and wait until it has spilled its first chunk."""
    first = c.start(*args)
    wait_for(lambda: journal_lines(c.path(spill)) > 0 or not first.running(), what="the first chunk")
    if not first.running():
        pytest.fail(f"set-up: the first writer ended before the second started\n{first.wait().describe()}", False)
    return first


def still_running(first: Watched) -> None:
    if not first.running():
        result = first.wait()
        pytest.fail(f"set-up: the first writer ended before the second did (no race)\n{result.describe()}", False)


def _second_writer(second: tuple[str, ...], out: str | None) -> Callable[[CaseDir, Assets], None]:
    def run(c: CaseDir, a: Assets) -> None:
        many_bags(c, a)
        first = start_writer(c, "stage1", "bags", "sp", *FAST_ARGS)
        c.cli(*second, allowed={2}, error_has=[str(first.pid)], out=out)
        still_running(first)
        c.finish(first, allowed={0})
        c.cli("merge", "sp", "merged", allowed={0})

    return run


for _name, _second, _out in (
    ("stage1", ("stage1", "bags", "sp", *FAST_ARGS), None),
    ("stage1-restart", ("stage1", "bags", "sp", "--restart", *FAST_ARGS), None),
    ("convert-spill", ("convert", "bags", "out", "--spill", "sp", *FAST_ARGS), "out"),
    ("merge", ("merge", "sp", "out"), "out"),
):
    CASES.append(Case("lock", f"second-{_name}-while-stage1-runs", _second_writer(_second, _out)))


def _same_dataset(left: Path, right: Path) -> list[str]:
    """Differences between two datasets made from the same bags (the report names paths; the
    provenance records how each run went: its commands and times)."""
    problems = []
    for path in sorted(left.rglob("*")):
        rel = path.relative_to(left)
        other = right / rel
        if path.is_dir() or rel.name in ("spill2lerobot_report.json", "spill2lerobot_provenance.json"):
            continue
        if not other.exists():
            problems.append(f"{rel} missing")
        elif path.suffix == ".parquet":
            if not pq.read_table(path).equals(pq.read_table(other)):
                problems.append(f"{rel} differs")
        elif path.read_bytes() != other.read_bytes():
            problems.append(f"{rel} differs")
    return problems


@case("two-stage1-one-wins-and-merges-like-one-run")
def _(c: CaseDir, a: Assets) -> None:
    many_bags(c, a)
    first = start_writer(c, "stage1", "bags", "sp", *FAST_ARGS)
    c.cli("stage1", "bags", "sp", *FAST_ARGS, allowed={2}, error_has=[str(first.pid)])
    still_running(first)
    c.finish(first, allowed={0})
    c.cli("merge", "sp", "raced", allowed={0})
    c.cli("convert", "bags", "alone", *FAST_ARGS, allowed={0})
    problems = _same_dataset(c.path("alone"), c.path("raced"))
    if problems:
        pytest.fail(f"the raced spill merges differently from an uninterrupted run: {problems}", pytrace=False)


@case("second-convert-while-convert-runs")
def _(c: CaseDir, a: Assets) -> None:
    many_bags(c, a)
    first = start_writer(c, "convert", "bags", "out", *FAST_ARGS, spill="out.spill")
    c.cli("convert", "bags", "out", *FAST_ARGS, allowed={2}, error_has=[str(first.pid)])
    still_running(first)
    c.finish(first, allowed={0})


def _killed_then(rerun: tuple[str, ...], spill: str, first: tuple[str, ...], dead_pid: bool = False):
    def run(c: CaseDir, a: Assets) -> None:
        many_bags(c, a)
        writer = start_writer(c, *first, spill=spill)
        writer.kill()
        writer.wait()
        if dead_pid:
            plant_dead_pid(c.path(spill))
        c.cli(*rerun, allowed={0})
        if rerun[0] == "stage1":
            c.cli("merge", spill, "out", allowed={0})

    return run


def plant_dead_pid(spill: Path) -> None:
    """Rewrite the pid in any lock file the killed writer left with one no process has."""
    dead = next(pid for pid in range(4_000_000, 4_100_000) if not psutil.pid_exists(pid))
    for path in spill.iterdir():
        if "lock" not in path.name.lower() or not path.is_file():
            continue
        text = path.read_text(errors="replace")
        try:
            record = json.loads(text)
        except ValueError:
            path.write_text(re.sub(r"\d+", str(dead), text, count=1) if re.search(r"\d", text) else f"{dead}\n")
            continue
        if isinstance(record, dict) and "pid" in record:
            record["pid"] = dead
            path.write_text(json.dumps(record))
        elif isinstance(record, int):
            path.write_text(str(dead))


_STAGE1 = ("stage1", "bags", "sp", *FAST_ARGS)
_CONVERT = ("convert", "bags", "out", *FAST_ARGS)
for _name, _rerun, _spill, _first, _dead in (
    ("stage1-killed-then-stage1", _STAGE1, "sp", _STAGE1, False),
    ("stage1-killed-then-convert-spill", ("convert", "bags", "out", "--spill", "sp", *FAST_ARGS), "sp", _STAGE1, False),
    ("convert-killed-then-convert", _CONVERT, "out.spill", _CONVERT, False),
    ("stage1-killed-lock-names-dead-pid-then-stage1", _STAGE1, "sp", _STAGE1, True),
):
    CASES.append(Case("lock", f"stale-{_name}", _killed_then(_rerun, _spill, _first, _dead)))


@case("stale-lock-then-merge-says-unfinished")
def _(c: CaseDir, a: Assets) -> None:
    many_bags(c, a)
    writer = start_writer(c, *_STAGE1)
    writer.kill()
    writer.wait()
    run = c.cli("merge", "sp", "out", allowed={2}, out="out")
    if "in use" in run.last_line or str(writer.pid) in run.last_line:
        pytest.fail(f"a dead writer's lock still refuses merge: {run.last_line}", pytrace=False)
