"""Every Kuavo option of the original (#13): whole-body recordings (walking command, arm-trajectory
gaps and their 999 marker), the synced trajectory, relative_start / delta_action, and is_binary's
exact thresholds. Converted datasets are compared with tests/reference.py, which applies the
rules to the bag's messages with rosbags and numpy, not through the package.
"""

from __future__ import annotations

import json

import numpy as np
import pyarrow.parquet as pq
import pytest
from compare import assert_same_dataset
from gen_kuavo_bag import EEF_LEVELS, Faults, write_kuavo_bag
from reference import load_reference, reference_names
from support import kill_after_progress, run_cli, spawn_cli

pytestmark = pytest.mark.slow

CHUNK = 20  # frames 0-19 end near 2.24 s, frame 20 is near 2.34 s: the first gap straddles them
SMALL = ["--set", "dataset.resize.width=64", "--set", "dataset.resize.height=48", "--set", f"rosbag.chunk_size={CHUNK}"]
WHOLE_BODY = ["--set", "dataset.only_arm=false"]
# Holes in /kuavo_arm_traj (seconds): the first straddles chunks 0/1, the third is just over the
# 0.15 s threshold and the last just under it (not a gap).
HOLES = ((2.0, 2.6), (5.05, 5.4), (7.0, 7.16), (8.0, 8.1))


def write_bag(path, **kwargs):
    kwargs.setdefault("seed", 3)
    write_kuavo_bag(path, kwargs.pop("seconds", 10.0), width=64, height=48, **kwargs)
    return path


@pytest.fixture(scope="module")
def task4_bags(tmp_path_factory):
    folder = tmp_path_factory.mktemp("task4")
    faults = Faults(gaps={"/kuavo_arm_traj": HOLES})
    return {
        "unsynced": write_bag(folder / "unsynced.bag", task4=True, synced=False, faults=faults),
        "synced": write_bag(folder / "synced.bag", task4=True, faults=faults, seed=4),
    }


def rows(out) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(episode_index, state, action) of every row of the dataset, in order."""
    tables = [pq.read_table(p) for p in sorted((out / "data").rglob("*.parquet"))]
    episode = np.concatenate([t.column("episode_index").to_numpy() for t in tables])
    state = np.concatenate([np.stack(t.column("observation.state").to_numpy(zero_copy_only=False)) for t in tables])
    action = np.concatenate([np.stack(t.column("action").to_numpy(zero_copy_only=False)) for t in tables])
    return episode, state.astype(np.float32), action.astype(np.float32)


def convert(bags, out, *extra, episodes="bag"):
    run_cli("convert", *map(str, bags), str(out), *SMALL, "--episodes", episodes, *extra)
    return out


def assert_equals_reference(out, refs, exact=True):
    _, state, action = rows(out)
    want_state = np.concatenate([r.state for r in refs])
    want_action = np.concatenate([r.action for r in refs])
    assert state.shape == want_state.shape and action.shape == want_action.shape
    if exact:
        np.testing.assert_array_equal(state, want_state)
        np.testing.assert_array_equal(action, want_action)
    else:  # relative values: float64 differences of float32 values against float64 ones
        np.testing.assert_allclose(state, want_state, rtol=0, atol=2e-6)
        np.testing.assert_allclose(action, want_action, rtol=0, atol=2e-6)


def gaps_in(ref) -> int:
    """Holes in /kuavo_arm_traj longer than 0.15 s (train_hz 10)."""
    return int(np.count_nonzero(np.diff(ref.times["/kuavo_arm_traj"]) > 150_000_000))


def test_reference_has_the_gaps_this_test_needs(task4_bags):
    ref = load_reference(task4_bags["unsynced"], only_arm=False)
    flag = ref.action[:, -1]
    assert gaps_in(ref) == 3  # the 0.1 s hole is no gap
    assert ref.gap_count == np.count_nonzero(flag == 1.0)
    marked = np.flatnonzero(flag == 1.0)
    assert CHUNK - 1 in marked and CHUNK in marked  # the gap straddles the chunk boundary
    assert len(marked) > 5 and len(marked) < len(flag) - 10


def test_whole_body_both_episode_modes_equal_reference(task4_bags, tmp_path):
    bags = [task4_bags["synced"], task4_bags["unsynced"]]  # episodes follow the bags' names
    refs = [load_reference(b, only_arm=False) for b in bags]
    for mode in ("bag", "chunk"):
        out = convert(bags, tmp_path / mode, *WHOLE_BODY, episodes=mode)
        assert_equals_reference(out, refs)
        info = json.loads((out / "meta" / "info.json").read_text())
        state_names, action_names = reference_names(False, "leju_claw", "both", 1)
        assert info["features"]["action"]["shape"] == [20]
        assert info["features"]["action"]["names"] == action_names
        assert info["features"]["observation.state"]["names"] == state_names
    synced, unsynced = refs
    gap = unsynced.action[:, -1] == 1.0
    # without the synced trajectory the arm joints carry the marker; with it only the flag does
    assert np.all(unsynced.action[gap][:, [*range(7), *range(8, 15)]] == 999.0)
    assert synced.action[:, -1].any() and not np.any(synced.action == 999.0)


def test_kill_and_resume_inside_a_gap(task4_bags, tmp_path):
    bag = task4_bags["unsynced"]
    whole = convert([bag], tmp_path / "whole", *WHOLE_BODY)
    out, spill = tmp_path / "resumed", tmp_path / "resumed.spill"
    args = ["convert", str(bag), str(out), "--spill", str(spill), *SMALL, *WHOLE_BODY]
    proc = spawn_cli(*args)
    assert kill_after_progress(proc, spill, 0.0, stop_at=out)  # right after chunk 0: chunk 1 starts in a gap
    journal = (next(spill.glob("bags/*/journal.jsonl"))).read_text().splitlines()
    assert len(journal) == 1
    run_cli(*args)
    assert_same_dataset(whole, out)
    assert_equals_reference(out, [load_reference(bag, only_arm=False)])


@pytest.mark.parametrize(
    "options",
    [("relative_start",), ("delta_action",), ("relative_start", "delta_action")],
)
def test_relative_start_and_delta_action(task4_bags, tmp_path, options):
    bag = task4_bags["unsynced"]
    sets = [arg for name in options for arg in ("--set", f"dataset.{name}=true")]
    kwargs = {name: True for name in options}
    refs = [load_reference(bag, only_arm=False, **kwargs)]
    for mode in ("bag", "chunk"):  # the bag's first frame is the reference in both modes
        out = convert([bag], tmp_path / mode, *WHOLE_BODY, *sets, episodes=mode)
        assert_equals_reference(out, refs, exact=False)
    if options == ("relative_start",):
        _, state, _ = rows(out)
        np.testing.assert_array_equal(state[0, [*range(7), *range(8, 15)]], 0.0)


EFFECTORS = ["leju_claw", "qiangnao", "rq2f85"]


@pytest.mark.parametrize("eef_type", EFFECTORS)
def test_is_binary_thresholds(tmp_path, eef_type):
    bag = write_bag(tmp_path / f"{eef_type}.bag", eef_type=eef_type, eef_levels=True, seconds=8.0)
    sets = ["--set", f"dataset.eef_type={eef_type}", "--set", "dataset.is_binary=true"]
    ref = load_reference(bag, eef_type=eef_type, is_binary=True)
    scaled = load_reference(bag, eef_type=eef_type)
    out = convert([bag], tmp_path / "out", *sets)
    assert_equals_reference(out, [ref])
    # the bag's raw values sit at and on either side of each threshold, and the frames see them
    eef = [7, 15]  # leju_claw / rq2f85 / qiangnao with dex_dof_needed 1: one value per hand
    scale = {"leju_claw": (100, 100), "qiangnao": (100, 100), "rq2f85": (0.8, 255)}[eef_type]
    threshold = {"leju_claw": (50, 50), "qiangnao": (50, 50), "rq2f85": (0.4, 70)}[eef_type]
    for which, values, binary, div, limit in (
        ("state", scaled.state, ref.state, scale[0], threshold[0]),
        ("command", scaled.action, ref.action, scale[1], threshold[1]),
    ):
        raw = values[:, eef].astype(np.float64) * div  # float32 scaled values: relative error < 1e-7
        at = np.abs(raw - limit) <= 1e-7 * limit
        assert at.any(), (which, sorted(set(raw.ravel())))
        assert np.any(raw[~at] > limit) and np.any(raw[~at] < limit)
        np.testing.assert_array_equal(binary[:, eef][at], 0.0)  # strictly greater only
        np.testing.assert_array_equal(binary[:, eef][~at], (raw[~at] > limit).astype(np.float32))
        just_above = [v for v in EEF_LEVELS[(eef_type, which)] if limit < v <= limit * 1.03]
        assert just_above and np.any(np.abs(raw - just_above[0]) <= 1e-7 * just_above[0])


def test_qiangnao_several_fingers(tmp_path):
    bag = write_bag(tmp_path / "dex.bag", eef_type="qiangnao", seconds=6.0)
    sets = ["--set", "dataset.eef_type=qiangnao", "--set", "dataset.dex_dof_needed=3"]
    out = convert([bag], tmp_path / "out", *sets)
    assert_equals_reference(out, [load_reference(bag, eef_type="qiangnao", dex_dof_needed=3)])


def test_whole_body_without_walking_command_is_one_line(tmp_path):
    bag = write_bag(tmp_path / "nowalk.bag", task4=True, walking=False, seconds=4.0)
    out = tmp_path / "out"
    result = run_cli("convert", str(bag), str(out), *SMALL, *WHOLE_BODY, check=False)
    assert result.returncode != 0
    lines = [line for line in result.stderr.splitlines() if line.startswith("error:")]  # after progress lines
    assert len(lines) == 1 and "/cmd_pose_world_synced" in lines[0] and str(bag) in lines[0]
    assert "Traceback" not in result.stderr and not out.exists()


def test_inspect_reports_the_gaps(task4_bags):
    bag = task4_bags["unsynced"]
    ref = load_reference(bag, only_arm=False)
    frames = int(np.count_nonzero(ref.action[:, -1] == 1.0))
    result = run_cli("inspect", str(bag), *WHOLE_BODY)
    line = f"{gaps_in(ref)} gaps in /kuavo_arm_traj, {frames} frames will carry the 999 marker"
    assert line in result.stdout
    assert "/cmd_pose_world_synced" in result.stdout
    # with the default profile, the walking command makes inspect suggest the whole-body option
    assert "--set dataset.only_arm=false" in run_cli("inspect", str(bag)).stdout


def test_lerobot_loads_a_whole_body_dataset(task4_bags, tmp_path):
    from lerobot.datasets.lerobot_dataset import LeRobotDataset

    bag = task4_bags["unsynced"]
    out = convert([bag], tmp_path / "out", *WHOLE_BODY)
    ref = load_reference(bag, only_arm=False)
    ds = LeRobotDataset("local/kuavo", root=out)
    assert ds.meta.features["action"]["shape"] == (20,)
    assert ds.meta.features["action"]["names"][-4:] == ["cmd_pos_x", "cmd_pos_y", "cmd_pos_yaw", "ctrl_change_cmd"]
    assert len(ds) == len(ref)
    for k in (0, CHUNK - 1, CHUNK, len(ref) - 1):
        item = ds[k]
        np.testing.assert_array_equal(item["action"].numpy(), ref.action[k])
        np.testing.assert_array_equal(item["observation.state"].numpy(), ref.state[k])
