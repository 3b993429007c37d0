"""Kill -9 at seeded random moments of stage 1 and merge; re-run until done; same dataset."""

from __future__ import annotations

import random
import subprocess

import pytest
from compare import assert_same_dataset
from support import kill_after, kill_after_progress, run_cli, spawn_cli

pytestmark = pytest.mark.slow

OPTIONS = ["--set", "dataset.resize.width=320", "--set", "dataset.resize.height=240", "--set", "rosbag.chunk_size=5"]


def _finish(proc: subprocess.Popen) -> None:
    _, stderr = proc.communicate(timeout=600)
    assert proc.returncode == 0, stderr.decode()[-2000:]


def test_convert_killed_20_times_gives_the_uninterrupted_dataset(bags, tmp_path):
    inputs = [str(bags["a"]), str(bags["b"])]
    reference = tmp_path / "reference"
    run_cli("convert", *inputs, str(reference), *OPTIONS)

    out = tmp_path / "out"
    partial = out.with_name(out.name + ".partial")
    rng = random.Random(20261129)
    kills = {"stage1": 0, "merge": 0}
    while kills["stage1"] < 14 and not partial.exists() and not out.exists():
        # Short runs: each resumes stage 1 and is killed a little further on (or as merge starts).
        proc = spawn_cli("convert", *inputs, str(out), *OPTIONS)
        if kill_after_progress(proc, out.with_name("out.spill"), rng.uniform(0.0, 0.2), stop_at=partial):
            kills["merge" if partial.exists() else "stage1"] += 1
        else:
            _finish(proc)
    while kills["merge"] < 8 and not out.exists():
        # Kill at a random moment of merge's file writes.
        proc = spawn_cli("convert", *inputs, str(out), *OPTIONS)
        if kill_after(proc, rng.uniform(0.0, 0.08), when_exists=partial):
            kills["merge"] += 1
        else:
            _finish(proc)
    if not out.exists():
        _finish(spawn_cli("convert", *inputs, str(out), *OPTIONS))
    print("kills:", kills)
    assert kills["stage1"] >= 10 and kills["merge"] >= 3 and sum(kills.values()) >= 20, kills
    assert_same_dataset(reference, out)
    assert not out.with_name("out.spill").exists()


def test_stage1_and_merge_killed_separately_give_the_uninterrupted_dataset(bags, tmp_path):
    inputs = [str(bags["a"]), str(bags["b"])]
    reference = tmp_path / "reference"
    run_cli("convert", *inputs, str(reference), *OPTIONS)

    spill, out = tmp_path / "spill", tmp_path / "out"
    rng = random.Random(7)
    kills = {"stage1": 0, "merge": 0}
    while kills["stage1"] < 14:
        proc = spawn_cli("stage1", *inputs, str(spill), *OPTIONS)
        if kill_after_progress(proc, spill, rng.uniform(0.0, 0.2), stop_at=tmp_path / "never"):
            kills["stage1"] += 1
        else:
            _finish(proc)
            break  # stage 1 finished before the next kill
    run_cli("stage1", *inputs, str(spill), *OPTIONS)
    partial = out.with_name(out.name + ".partial")
    for _ in range(8):
        if kill_after(spawn_cli("merge", str(spill), str(out)), rng.uniform(0.0, 0.08), when_exists=partial):
            kills["merge"] += 1
            assert not out.exists()  # never a half dataset under the final name
    if not out.exists():
        run_cli("merge", str(spill), str(out))
    print("kills:", kills)
    assert kills["stage1"] >= 10 and kills["merge"] >= 3 and sum(kills.values()) >= 20, kills
    assert_same_dataset(reference, out)
