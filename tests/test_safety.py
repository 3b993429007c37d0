"""Users' files are sacred: what the tool removes, where it refuses to work, one writer per spill."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from compare import assert_same_dataset
from support import run_cli

from spill2lerobot.errors import UserError
from spill2lerobot.lock import FolderLock
from spill2lerobot.safety import SPILL_MARKER, check_locations, remove_owned, spill_name_is_ours

SMALL = ["--set", "dataset.resize.width=64", "--set", "dataset.resize.height=48", "--set", "rosbag.chunk_size=8"]
SMALL += ["--set", "video.codec=libx264", "--set", "video.preset=ultrafast"]


def tree_digest(root: Path) -> dict[str, str]:
    """Every entry under ``root`` (links not followed) with its content hash or link target."""
    found = {}
    for path in sorted(root.rglob("*")):
        rel = str(path.relative_to(root))
        if path.is_symlink():
            found[rel] = "link:" + os.readlink(path)
        elif path.is_file():
            found[rel] = hashlib.sha256(path.read_bytes()).hexdigest()
        else:
            found[rel] = "dir"
    return found


@pytest.fixture
def project(bags, tmp_path) -> Path:
    """proj/bags/a.bag and a user's notes beside it."""
    root = tmp_path / "proj"
    (root / "bags").mkdir(parents=True)
    (root / "bags" / "a.bag").write_bytes(bags["b"].read_bytes())
    (root / "notes.txt").write_text("my notes\n")
    return root


def assert_refused(result: subprocess.CompletedProcess, *fragments: str) -> None:
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("error: ")
    for fragment in fragments:
        assert fragment in last, last


def test_restart_on_the_bags_parent_folder_is_refused_and_deletes_nothing(project):
    before = tree_digest(project)
    result = run_cli("stage1", str(project / "bags"), str(project), "--restart", *SMALL, check=False)
    assert_refused(result, "inside SPILL")
    assert tree_digest(project) == before


def test_restart_on_a_folder_that_is_not_our_spill_is_refused(project, bags, tmp_path):
    user = tmp_path / "user"
    (user / "bags").mkdir(parents=True)
    (user / "bags" / "keep.txt").write_text("mine")
    before = tree_digest(user)
    result = run_cli(
        "convert", str(bags["b"]), str(tmp_path / "out"), "--spill", str(user), "--restart", *SMALL, check=False
    )
    assert_refused(result, "not a spill of spill2lerobot", "--restart")
    assert tree_digest(user) == before
    assert not (tmp_path / "out").exists()


@pytest.mark.slow
def test_unrelated_done_and_spill_folders_beside_out_survive_convert(bags, tmp_path):
    for name in ("out.spill.done", "other.spill"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "data.txt").write_text(name)
    (tmp_path / "other.spill.done").mkdir()
    before = {name: tree_digest(tmp_path / name) for name in ("out.spill.done", "other.spill", "other.spill.done")}
    run_cli("convert", str(bags["b"]), str(tmp_path / "out"), *SMALL)
    assert (tmp_path / "out" / "meta" / "info.json").exists()
    assert not (tmp_path / "out.spill").exists()  # our own spill is removed when done
    assert {name: tree_digest(tmp_path / name) for name in before} == before


def test_locations_that_could_touch_inputs_or_each_other_are_refused(tmp_path):
    bag = tmp_path / "spill" / "x.bag"
    bag.parent.mkdir()
    bag.write_bytes(b"")
    cases = [
        ([bag], tmp_path / "spill", None),  # input inside SPILL
        ([tmp_path / "out" / "x.bag"], None, tmp_path / "out"),  # input inside OUT
        ([], tmp_path / "d", tmp_path / "d"),  # the same folder
        ([], tmp_path / "out" / "spill", tmp_path / "out"),  # SPILL inside OUT
        ([], tmp_path / "s", tmp_path / "s" / "out"),  # OUT inside SPILL
        ([], tmp_path / "o.partial", tmp_path / "o"),  # SPILL is where merge builds OUT
    ]
    for inputs, spill, out in cases:
        with pytest.raises(UserError):
            check_locations(inputs, spill, out)
    check_locations([bag], tmp_path / "elsewhere", tmp_path / "out")  # apart: fine


def test_out_as_a_dangling_link_is_refused_before_any_work(bags, tmp_path):
    out = tmp_path / "out"
    out.symlink_to(tmp_path / "nowhere")
    result = run_cli("convert", str(bags["b"]), str(out), *SMALL, check=False)
    assert_refused(result, "symbolic link")
    assert out.is_symlink() and not (tmp_path / "nowhere").exists()
    assert not (tmp_path / "out.spill").exists()


def test_removal_keeps_what_is_not_ours_and_never_follows_links(tmp_path):
    sentinel = tmp_path / "sentinel"
    sentinel.mkdir()
    (sentinel / "chunk-00000.parquet").write_text("user's")
    spill = tmp_path / "spill"
    (spill / "bags" / "0000").mkdir(parents=True)
    (spill / SPILL_MARKER).write_text("ours")
    (spill / "spill.json").write_text("{}")
    (spill / "bags" / "0000" / "chunk-00000.parquet").write_text("ours")
    (spill / "bags" / "0000" / "notes.txt").write_text("user's")
    (spill / "bags" / "0001").symlink_to(sentinel)
    before = tree_digest(sentinel)
    left = remove_owned(spill, SPILL_MARKER, spill_name_is_ours)
    assert tree_digest(sentinel) == before
    assert left == [spill / "bags" / "0000" / "notes.txt", spill / "bags" / "0001"]  # we never make links
    assert (spill / "bags" / "0000" / "notes.txt").exists()
    assert not (spill / "bags" / "0000" / "chunk-00000.parquet").exists()
    assert (spill / "bags" / "0001").is_symlink()
    with pytest.raises(UserError, match="not made by spill2lerobot"):
        remove_owned(sentinel, SPILL_MARKER, spill_name_is_ours)


@pytest.mark.slow
def test_resume_through_a_linked_bag_folder_touches_nothing_outside(bags, tmp_path):
    spill = tmp_path / "spill"
    run_cli("stage1", str(bags["b"]), str(spill), *SMALL)
    sentinel = tmp_path / "sentinel"
    sentinel.mkdir()
    for name in ("chunk-00099.parquet", "x.tmp", "chunk-00000.stats.json"):
        (sentinel / name).write_text("user's")
    folder = spill / "bags" / "0000"
    for path in folder.iterdir():
        path.unlink()
    folder.rmdir()
    folder.symlink_to(sentinel)
    before = tree_digest(sentinel)
    for command in (("stage1", str(bags["b"]), str(spill), *SMALL), ("merge", str(spill), str(tmp_path / "out"))):
        result = run_cli(*command, check=False)
        assert_refused(result, "symbolic link")
    assert tree_digest(sentinel) == before


def test_a_second_writer_is_refused_naming_the_holder_and_a_dead_holder_is_taken_over(tmp_path):
    folder = tmp_path / "spill"
    folder.mkdir()
    busy = rf"in use by process {os.getpid()} \(stage 1\)"
    with FolderLock(folder, "stage 1"), pytest.raises(UserError, match=busy):
        FolderLock(folder, "merge").acquire()
    # A holder killed with SIGKILL leaves its lock file; the kernel has dropped its lock.
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            f"from spill2lerobot.lock import FolderLock; import time; "
            f"FolderLock(__import__('pathlib').Path({str(folder)!r}), 'stage 1').acquire(); print('held', flush=True); "
            "time.sleep(60)",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout.readline().strip() == "held"
    with pytest.raises(UserError, match=rf"process {holder.pid}"):
        FolderLock(folder, "merge").acquire()
    holder.kill()
    holder.wait()
    with FolderLock(folder, "merge"):
        assert (folder / ".spill2lerobot.lock").read_text().startswith(f"pid {os.getpid()}")


@pytest.mark.slow
def test_two_concurrent_stage1_runs_one_completes_the_other_is_refused(bags, tmp_path):
    options = [
        "--set",
        "dataset.resize.width=320",
        "--set",
        "dataset.resize.height=240",
        "--set",
        "rosbag.chunk_size=5",
    ]
    spill = tmp_path / "spill"
    first = subprocess.Popen(
        [sys.executable, "-m", "spill2lerobot", "stage1", str(bags["a"]), str(spill), *options],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    lock = spill / ".spill2lerobot.lock"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not (lock.exists() and lock.read_text().startswith("pid")):
        time.sleep(0.01)
    second = run_cli("stage1", str(bags["a"]), str(spill), *options, check=False)
    assert first.poll() is None, "the first run ended before the second started; use a longer bag"
    assert_refused(second, "in use by process", str(first.pid), "stage 1")
    _, stderr = first.communicate(timeout=600)
    assert first.returncode == 0, stderr
    run_cli("merge", str(spill), str(tmp_path / "out"))
    run_cli("convert", str(bags["a"]), str(tmp_path / "reference"), *options)
    assert_same_dataset(tmp_path / "out", tmp_path / "reference", same_sources=True)


@pytest.mark.slow
def test_merge_refuses_a_partial_folder_that_is_not_ours(bags, tmp_path):
    spill = tmp_path / "spill"
    run_cli("stage1", str(bags["b"]), str(spill), *SMALL)
    partial = tmp_path / "out.partial"
    partial.mkdir()
    (partial / "mine.txt").write_text("user's")
    result = run_cli("merge", str(spill), str(tmp_path / "out"), check=False)
    assert_refused(result, "not made by spill2lerobot")
    assert (partial / "mine.txt").read_text() == "user's"
    assert not (tmp_path / "out").exists()
