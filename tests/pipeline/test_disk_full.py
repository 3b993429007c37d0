"""A disk that fills up mid-stage1 and mid-merge, on a real (tmpfs) filesystem: one clear line,
exit code 4, no OUT/, and the same command, once space is back, resumes to the dataset an
uninterrupted run gives. Needs root (CI runs as root): a failing mount fails the test."""

from __future__ import annotations

import os
import subprocess

import pytest
from compare import assert_same_dataset
from support import run_cli

pytestmark = pytest.mark.slow

OPTIONS = ["--set", "dataset.resize.width=320", "--set", "dataset.resize.height=240", "--set", "rosbag.chunk_size=10"]
DISK_MB = 96


def tree_size(path) -> int:
    """Bytes of the files in ``path``, but for the lock file (it holds the process id: its length varies)."""
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and p.name != ".spill2lerobot.lock")


@pytest.fixture
def disk(tmp_path):
    """A small tmpfs at tmp_path/disk, unmounted afterwards."""
    mount_point = tmp_path / "disk"
    mount_point.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={DISK_MB}m", "tmpfs", str(mount_point)], check=True)
    try:
        yield mount_point
    finally:
        if subprocess.run(["umount", str(mount_point)], check=False).returncode != 0:
            subprocess.run(["umount", "-l", str(mount_point)], check=True)


def fill(disk, leave: int):
    """Take all free space of ``disk`` but ``leave`` bytes; returns the filler file."""
    filler = disk / "filler"
    stat = os.statvfs(disk)
    free = stat.f_bavail * stat.f_frsize
    assert free > leave, (free, leave)
    with open(filler, "wb") as handle:
        remaining = free - leave
        block = b"\xff" * (1 << 20)
        while remaining > 0:
            handle.write(block[: min(len(block), remaining)])
            remaining -= len(block)
    return filler


@pytest.fixture(scope="module")
def reference(bags, tmp_path_factory):
    """The uninterrupted run, its spill kept to learn how much space stage 1 and merge need."""
    folder = tmp_path_factory.mktemp("disk_reference")
    out, spill = folder / "out", folder / "spill"
    run_cli("convert", str(bags["a"]), str(out), "--spill", str(spill), *OPTIONS)
    chunks = len((spill / "bags/0000/journal.jsonl").read_text().splitlines())
    sizes = {"spill": tree_size(spill), "dataset": tree_size(out), "chunks": chunks}
    assert sizes["spill"] + sizes["dataset"] < (DISK_MB - 8) * 2**20 // 2, sizes
    return out, sizes


def error_lines(stderr: str) -> list[str]:
    assert "Traceback" not in stderr, stderr[-3000:]
    return [line for line in stderr.splitlines() if line.startswith("error:")]


@pytest.mark.parametrize(("where", "room"), [("stage1", 0.25), ("stage1", 0.6), ("merge", 0.5)])
def test_disk_full_stops_cleanly_and_the_same_command_resumes(bags, reference, disk, where, room):
    expected, sizes = reference
    out = disk / "out"
    # stage1: room for part of the spill; merge: for the whole spill and part of the dataset
    leave = int(sizes["spill"] * room) if where == "stage1" else sizes["spill"] + int(sizes["dataset"] * room)
    filler = fill(disk, leave)
    command = ["convert", str(bags["a"]), str(out), *OPTIONS]
    result = run_cli(*command, check=False)
    assert result.returncode == 4, result.stderr[-3000:]
    (line,) = error_lines(result.stderr)
    print(line)
    assert line.startswith("error: disk full while writing ") and line.endswith(
        "; free some space and run the same command to resume"
    )
    assert str(disk) in line
    assert not out.exists()
    spill = disk / "out.spill"
    journal = spill / "bags/0000/journal.jsonl"
    done = len(journal.read_text().splitlines()) if journal.exists() else 0
    if where == "stage1":
        assert 0 < done < sizes["chunks"] and 0 < tree_size(spill) < sizes["spill"]
    else:
        assert done == sizes["chunks"]
        assert tree_size(spill) == sizes["spill"]  # stage 1 finished
        assert not (disk / "out.partial").exists()  # merge's half-written output is removed
    filler.unlink()
    resumed = run_cli(*command)
    if where == "stage1":  # resumed: only the chunks not journalled are written
        assert f"({sizes['chunks'] - done} written now" in resumed.stderr
    assert_same_dataset(expected, out)
    assert not spill.exists()
