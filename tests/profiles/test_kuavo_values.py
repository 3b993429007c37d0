"""The Kuavo value rules alone: the gap threshold, is_binary's raw thresholds and the relative
options, on hand-made messages and values (the pipeline tests check whole bags)."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
from reference import gap_frames

from spill2lerobot.profiles import load_profile, robot_for
from spill2lerobot.profiles.kuavo_values import gap_summary, in_gap


@pytest.mark.parametrize("train_hz", [10, 30, 5])
def test_gap_threshold_is_strictly_more_than_0_15_s_at_10_hz(train_hz):
    limit_ns = 150_000_000 * 10 // train_hz  # 0.15 x 10 / train_hz seconds
    assert not in_gap((0, limit_ns), train_hz)
    assert in_gap((0, limit_ns + 1), train_hz)
    assert not in_gap(None, train_hz)


@pytest.mark.parametrize("seed", range(4))
def test_gap_summary_matches_the_reference_loop(seed):
    rng = np.random.default_rng(seed)
    steps = rng.choice([10_000_000, 100_000_000, 150_000_000, 150_000_001, 400_000_000], 300)
    times = np.cumsum(steps).astype(np.int64)
    targets = np.sort(rng.integers(0, int(times[-1]) + 10**9, 500)).astype(np.int64)
    targets[:5] = times[10:15]  # frames exactly on a message are not inside a gap
    gaps, frames = gap_summary(times, targets, 10)
    assert gaps == int(np.count_nonzero(np.diff(times) > 150_000_000))
    assert frames == int(np.count_nonzero(gap_frames(times, targets, 10)))


def _messages(eef_state, eef_cmd, traj_deg=0.0, twist=(0.0, 0.0, 0.0)):
    leju = SimpleNamespace(data=SimpleNamespace(position=eef_state))
    return {
        "/sensors_data_raw": SimpleNamespace(joint_data=SimpleNamespace(joint_q=np.arange(28) / 10)),
        "/joint_cmd": SimpleNamespace(joint_q=np.zeros(28)),
        "/kuavo_arm_traj": SimpleNamespace(position=np.full(14, traj_deg)),
        "/leju_claw_state": leju,
        "/leju_claw_command": SimpleNamespace(data=SimpleNamespace(position=eef_cmd)),
        "/gripper/state": SimpleNamespace(position=eef_state),
        "/gripper/command": SimpleNamespace(position=eef_cmd),
        "/cmd_pose_world_synced": SimpleNamespace(
            twist=SimpleNamespace(linear=SimpleNamespace(x=twist[0], y=twist[1]), angular=SimpleNamespace(z=twist[2]))
        ),
    }


@pytest.mark.parametrize(
    ("eef_type", "state", "command", "want_state", "want_command"),
    [
        ("leju_claw", [50.0, 50.01], [50.0, 51.0], [0, 1], [0, 1]),
        ("rq2f85", [0.4, 0.41], [70.0, 71.0], [0, 1], [0, 1]),
        ("rq2f85", [0.39, 0.8], [127.0, 69.9], [0, 1], [1, 0]),  # >= 0.5 after scaling would say 0 for 127
    ],
)
def test_is_binary_thresholds_on_raw_values(eef_type, state, command, want_state, want_command):
    profile = load_profile(None, [f"dataset.eef_type={eef_type}", "dataset.is_binary=true"])
    robot = robot_for(profile)
    roles = robot.resolve_topics(dict.fromkeys(_messages(state, command)))
    got_state, got_action = robot.state_and_action(roles, _messages(state, command), {})
    assert got_state[[7, 15]].tolist() == want_state
    assert got_action[[7, 15]].tolist() == want_command


def test_whole_body_marker_flag_and_walking_values():
    profile = load_profile(None, ["dataset.only_arm=false"])
    robot = robot_for(profile)
    msgs = _messages([10.0, 20.0], [30.0, 40.0], traj_deg=90.0, twist=(0.5, -0.25, 0.125))
    roles = robot.resolve_topics(dict.fromkeys(msgs))
    assert robot.span_topics(roles) == ("/kuavo_arm_traj",)
    assert robot.action_names()[-4:] == ["cmd_pos_x", "cmd_pos_y", "cmd_pos_yaw", "ctrl_change_cmd"]
    _, outside = robot.state_and_action(roles, msgs, {"/kuavo_arm_traj": (0, 150_000_000)})
    _, inside = robot.state_and_action(roles, msgs, {"/kuavo_arm_traj": (0, 150_000_001)})
    np.testing.assert_allclose(outside[:7], np.float32(np.pi / 2))
    assert outside[-4:].tolist() == [0.5, -0.25, 0.125, 0.0]
    assert inside[:7].tolist() == [999.0] * 7 and inside[8:15].tolist() == [999.0] * 7
    assert inside[-4:].tolist() == [0.5, -0.25, 0.125, 1.0]
    assert inside[[7, 15]].tolist() == pytest.approx([0.3, 0.4])  # effector commands unchanged


def test_rebase_joints_only_markers_kept():
    profile = load_profile(None, ["dataset.only_arm=false", "dataset.relative_start=true", "dataset.delta_action=true"])
    robot = robot_for(profile)
    joints = [*range(7), *range(8, 15)]
    state = np.tile(np.arange(16, dtype=np.float32), (3, 1)) + np.array([[0], [1], [2]], dtype=np.float32)
    action = np.zeros((3, 20), dtype=np.float32)
    action[:, :16] = 10 * state
    action[:, 16:] = [[1, 2, 3, 0], [1, 2, 3, 1], [1, 2, 3, 0]]
    action[1, joints] = 999.0  # frame 1 inside a gap
    first_action = action[0].copy()
    first_action[joints[:2]] = 999.0  # a first frame whose first two joints carry the marker
    new_state, new_action = robot.rebase(state, action, state[0], first_action)
    # state joints: minus frame 0; effectors stay
    np.testing.assert_array_equal(new_state[:, joints], np.array([[0] * 14, [1] * 14, [2] * 14], dtype=np.float32))
    np.testing.assert_array_equal(new_state[:, [7, 15]], state[:, [7, 15]])
    # action joints: (action - reference) - rebased state; the first two joints have no reference
    for frame in (0, 2):
        for j in joints:
            reference = 0.0 if j in joints[:2] else action[0, j]
            assert new_action[frame, j] == pytest.approx(action[frame, j] - reference - new_state[frame, j])
    assert new_action[1, joints].tolist() == [999.0] * 14
    np.testing.assert_array_equal(new_action[:, [7, 15, 16, 17, 18, 19]], action[:, [7, 15, 16, 17, 18, 19]])
