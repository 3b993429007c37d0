"""Generator variants (end effectors, stepped levels, task 4, several gaps) and the reference's rules on them."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import gen_kuavo_bag as gen
import numpy as np
import pytest
from reference import gap_frames, load_reference, reference_names
from rosbags.highlevel import AnyReader
from rosbags.rosbag1 import Reader

from spill2lerobot.bag.msgdef import typestore_for

W, H = 64, 48
START = gen.DEFAULT_START_NS
CAMS = set(gen.CAMERA_TOPICS.values())
BASE = {gen.SENSORS_TOPIC, gen.JOINT_CMD_TOPIC, gen.ARM_TRAJ_TOPIC, *CAMS}
TRAJ_GAPS = ((1.0, 1.3), (3.0, 3.6))  # seconds with no /kuavo_arm_traj message in the task-4 bags


class Bag:
    """A generated bag read back: connections and (record time, message) per topic."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.msgs: dict[str, list[tuple[int, Any]]] = {}
        with Reader(path) as reader:
            self.conns = {c.topic: c for c in reader.connections}
            store = typestore_for({c.msgtype: c.msgdef.data for c in reader.connections})
            for conn, t, raw in reader.messages():
                self.msgs.setdefault(conn.topic, []).append((t, store.deserialize_ros1(raw, conn.msgtype)))

    @property
    def topics(self) -> set[str]:
        return set(self.conns)

    def t(self, topic: str) -> np.ndarray:
        """Record times of a topic in seconds since the start."""
        return (np.array([t for t, _ in self.msgs[topic]], dtype=np.int64) - START) / 1e9

    def stack(self, topic: str, get) -> np.ndarray:
        return np.array([get(m) for _, m in self.msgs[topic]])


def _write(tmp_path_factory, name: str, seconds: float = 3.0, **kwargs) -> Path:
    path = tmp_path_factory.mktemp("variants") / f"{name}.bag"
    gen.write_kuavo_bag(path, seconds, seed=kwargs.pop("seed", 7), width=W, height=H, **kwargs)
    return path


@pytest.fixture(scope="module")
def default_bag(tmp_path_factory) -> Bag:
    return Bag(_write(tmp_path_factory, "default", 6.0))


@pytest.fixture(scope="module")
def qiangnao_bag(tmp_path_factory) -> Bag:
    return Bag(_write(tmp_path_factory, "qiangnao", 6.0, eef_type="qiangnao"))


@pytest.fixture(scope="module")
def rq2f85_bag(tmp_path_factory) -> Bag:
    return Bag(_write(tmp_path_factory, "rq2f85", 6.0, eef_type="rq2f85"))


@pytest.fixture(scope="module")
def level_bags(tmp_path_factory) -> dict[str, Bag]:
    return {
        eef: Bag(_write(tmp_path_factory, f"levels-{eef}", 6.0, eef_type=eef, eef_levels=True)) for eef in gen.EEF_TYPES
    }


@pytest.fixture(scope="module")
def task4_bags(tmp_path_factory) -> dict[str, Bag]:
    """Task-4 bags (qiangnao hands) with TRAJ_GAPS in /kuavo_arm_traj, with and without the synced topic."""
    faults = gen.Faults(gaps={gen.ARM_TRAJ_TOPIC: TRAJ_GAPS, gen.DEXHAND_STATE_TOPIC: ((0.5, 0.7), (2.0, 2.2))})
    kwargs = {"eef_type": "qiangnao", "task4": True, "faults": faults}
    return {
        "synced": Bag(_write(tmp_path_factory, "task4", 6.0, **kwargs)),
        "unsynced": Bag(_write(tmp_path_factory, "task4-unsynced", 6.0, synced=False, **kwargs)),
        "no_walking": Bag(_write(tmp_path_factory, "task4-no-walking", 3.0, walking=False, **kwargs)),
    }


# ---- the generator --------------------------------------------------------------------------


def test_default_bag_is_unchanged(default_bag, tmp_path):
    bag = default_bag
    assert bag.topics == BASE | {gen.CLAW_STATE_TOPIC, gen.CLAW_CMD_TOPIC}
    t = bag.t(gen.CLAW_STATE_TOPIC)
    np.testing.assert_allclose(bag.stack(gen.CLAW_STATE_TOPIC, lambda m: m.data.position), gen.claw_state_at(t))
    t = bag.t(gen.CLAW_CMD_TOPIC)
    np.testing.assert_allclose(bag.stack(gen.CLAW_CMD_TOPIC, lambda m: m.data.position), gen.claw_cmd_at(t))
    t = bag.t(gen.ARM_TRAJ_TOPIC)
    np.testing.assert_allclose(bag.stack(gen.ARM_TRAJ_TOPIC, lambda m: m.position), gen.arm_traj_deg_at(t))
    # The new options at their defaults write the very same bytes.
    kwargs = {"seed": 3, "width": W, "height": H, "cameras": ["cam_h"]}
    plain = gen.write_kuavo_bag(tmp_path / "plain.bag", 0.6, **kwargs)
    explicit = gen.write_kuavo_bag(
        tmp_path / "explicit.bag",
        0.6,
        eef_type="leju_claw",
        eef_levels=False,
        task4=False,
        faults=gen.Faults(gaps={"/nowhere": ((0.1, 0.2), (0.3, 0.4))}),
        **kwargs,
    )
    assert plain.path.read_bytes() == explicit.path.read_bytes()


def test_qiangnao_topics_types_and_values(qiangnao_bag):
    bag = qiangnao_bag
    assert bag.topics == BASE | {gen.DEXHAND_STATE_TOPIC, gen.DEXHAND_CMD_TOPIC}
    assert bag.conns[gen.DEXHAND_STATE_TOPIC].msgtype == "sensor_msgs/msg/JointState"
    cmd_conn = bag.conns[gen.DEXHAND_CMD_TOPIC]
    assert cmd_conn.msgtype == "kuavo_msgs/msg/robotHandPosition"
    text = "Header header\nuint8[] left_hand_position\nuint8[] right_hand_position\n"
    assert cmd_conn.msgdef.data.startswith(text + "\n" + "=" * 80 + "\nMSG: std_msgs/Header\n")
    assert cmd_conn.digest == gen.md5sum(gen.HAND_POSITION_TYPE)
    state = bag.msgs[gen.DEXHAND_STATE_TOPIC]
    names = [f"{hand}_qiangnao_{i}" for hand in ("left", "right") for i in range(1, 7)]
    assert all(list(m.name) == names for _, m in state)
    position = bag.stack(gen.DEXHAND_STATE_TOPIC, lambda m: m.position)
    assert position.shape == (len(state), 12) and position.min() >= 0 and position.max() <= 100
    np.testing.assert_allclose(position, gen.dexhand_state_at(bag.t(gen.DEXHAND_STATE_TOPIC)))
    left = bag.stack(gen.DEXHAND_CMD_TOPIC, lambda m: m.left_hand_position)
    right = bag.stack(gen.DEXHAND_CMD_TOPIC, lambda m: m.right_hand_position)
    assert left.dtype == right.dtype == np.uint8 and left.shape[1] == right.shape[1] == 6
    expected = gen.dexhand_cmd_at(bag.t(gen.DEXHAND_CMD_TOPIC))
    np.testing.assert_array_equal(np.concatenate([left, right], axis=1), expected)
    assert expected.max() <= 100 and len(np.unique(expected)) > 20  # smooth, moving
    assert len(state) == pytest.approx(gen.DEXHAND_HZ * 6.0, abs=1)


def test_rq2f85_topics_and_values(rq2f85_bag):
    bag = rq2f85_bag
    assert bag.topics == BASE | {gen.GRIPPER_STATE_TOPIC, gen.GRIPPER_CMD_TOPIC}
    for topic, at, top in (
        (gen.GRIPPER_STATE_TOPIC, gen.gripper_state_at, 0.8),
        (gen.GRIPPER_CMD_TOPIC, gen.gripper_cmd_at, 255),
    ):
        assert bag.conns[topic].msgtype == "sensor_msgs/msg/JointState"
        values = bag.stack(topic, lambda m: m.position)
        assert values.shape == (len(bag.msgs[topic]), 2) and values.dtype == np.float64
        assert values.min() >= 0 and values.max() <= top and values.max() - values.min() > top / 2
        np.testing.assert_allclose(values, at(bag.t(topic)))
        assert len(values) == pytest.approx(gen.GRIPPER_HZ * 6.0, abs=1)


def test_schedules_are_distinct():
    offsets = [gen._SCHEDULE_MS[t][0] for t in gen._RECORDS]
    assert len(set(offsets)) == len(offsets)
    for topic in set(gen._RECORDS) - {gen.SENSORS_TOPIC}:  # the sensors start the bag at offset 0
        offset, jitter = gen._SCHEDULE_MS[topic]
        assert jitter < offset < 1000 / gen._RATES[topic]


def test_level_constants():
    assert gen.LEVEL_HOLD_S == 0.5
    assert gen.EEF_LEVELS[("qiangnao", "command")] == (10, 49, 50, 51, 90, 100)
    assert gen.EEF_LEVELS[("rq2f85", "state")] == (0.1, 0.39, 0.4, 0.41, 0.7, 0.4000001)
    assert gen.EEF_LEVELS[("rq2f85", "command")] == (10.0, 70.0, 70.5, 71.0, 127.0, 200.0)
    for eef in ("leju_claw", "qiangnao"):
        assert gen.EEF_LEVELS[(eef, "state")] == (10.0, 49.0, 50.0, 50.5, 51.0, 90.0)
    assert gen.EEF_LEVELS[("leju_claw", "command")] == (10.0, 49.0, 50.0, 50.5, 51.0, 90.0)


def _level(eef: str, which: str, t: float, hand: int, k: int) -> float:
    levels = gen.EEF_LEVELS[(eef, which)]
    return levels[(math.floor(t / gen.LEVEL_HOLD_S) + hand + k) % len(levels)]


def _eef_messages(bag: Bag, eef: str, which: str) -> tuple[np.ndarray, np.ndarray]:
    """(times s, values (n, hands * components)) of an effector topic."""
    state_topic, cmd_topic = gen.EEF_TOPICS[eef]
    topic = state_topic if which == "state" else cmd_topic
    if eef == "leju_claw":
        values = bag.stack(topic, lambda m: m.data.position)
    elif topic == gen.DEXHAND_CMD_TOPIC:
        values = bag.stack(topic, lambda m: np.concatenate([m.left_hand_position, m.right_hand_position]))
    else:
        values = bag.stack(topic, lambda m: m.position)
    return bag.t(topic), values


@pytest.mark.parametrize("eef", gen.EEF_TYPES)
@pytest.mark.parametrize("which", ["state", "command"])
def test_levels_step_through_the_table(level_bags, eef, which):
    bag = level_bags[eef]
    times, values = _eef_messages(bag, eef, which)
    per_hand = 6 if eef == "qiangnao" else 1
    expected = [[_level(eef, which, t, h, k) for h in (0, 1) for k in range(per_hand)] for t in times.tolist()]
    np.testing.assert_array_equal(values, np.array(expected, dtype=values.dtype))
    np.testing.assert_array_equal(values, gen.eef_levels_at(eef, which, times))
    assert set(values[:, 0].tolist()) == set(gen.EEF_LEVELS[(eef, which)])  # every level shows up
    if eef == "qiangnao" and which == "command":
        assert values.dtype == np.uint8


def test_task4_topics_types_and_values(task4_bags):
    bag = task4_bags["synced"]
    new = {gen.ARM_TRAJ_SYNCED_TOPIC, gen.CMD_POSE_TOPIC, gen.DEXHAND_STATE_TOPIC, gen.DEXHAND_CMD_TOPIC}
    assert bag.topics == BASE | new
    assert bag.conns[gen.ARM_TRAJ_SYNCED_TOPIC].msgtype == "sensor_msgs/msg/JointState"
    t = bag.t(gen.ARM_TRAJ_SYNCED_TOPIC)
    synced = bag.stack(gen.ARM_TRAJ_SYNCED_TOPIC, lambda m: m.position)
    np.testing.assert_allclose(synced, np.degrees(gen.joint_q_at(t + 0.05)[:, 12:26]) - 0.7)
    np.testing.assert_allclose(synced, gen.arm_traj_synced_deg_at(t))
    assert len(t) == pytest.approx(gen.ARM_TRAJ_SYNCED_HZ * 6.0, abs=1)
    conn = bag.conns[gen.CMD_POSE_TOPIC]
    assert conn.msgtype == "geometry_msgs/msg/TwistStamped"
    assert conn.digest == "98d34b0043a2093cf9d9345ab6eef12e"  # ROS Noetic's
    assert gen.md5sum("geometry_msgs/msg/Twist") == "9f195f881246fdfa2798d1d3eebca84a"
    assert conn.msgdef.data.startswith(
        "# A twist with reference coordinate frame and timestamp\nHeader header\nTwist twist\n"
    )
    assert gen.full_text(gen.TWIST_STAMPED_TYPE) == conn.msgdef.data
    t = bag.t(gen.CMD_POSE_TOPIC)
    twist = bag.stack(
        gen.CMD_POSE_TOPIC,
        lambda m: [
            m.twist.linear.x,
            m.twist.linear.y,
            m.twist.linear.z,
            m.twist.angular.x,
            m.twist.angular.y,
            m.twist.angular.z,
        ],
    )
    expected = np.stack(
        [0.2 * np.sin(0.3 * t), 0.1 * np.cos(0.2 * t), np.full_like(t, 0.01), 0 * t, 0 * t, 0.3 * np.sin(0.25 * t)],
        axis=1,
    )
    np.testing.assert_allclose(twist, expected, atol=1e-15)
    np.testing.assert_allclose(twist, gen.cmd_pose_at(t))
    assert len(t) == pytest.approx(gen.CMD_POSE_HZ * 6.0, abs=1)
    assert task4_bags["unsynced"].topics == BASE | new - {gen.ARM_TRAJ_SYNCED_TOPIC}
    assert task4_bags["no_walking"].topics == BASE | new - {gen.CMD_POSE_TOPIC}


def test_several_gaps_per_topic(task4_bags):
    bag = task4_bags["synced"]
    for topic, gaps in ((gen.ARM_TRAJ_TOPIC, TRAJ_GAPS), (gen.DEXHAND_STATE_TOPIC, ((0.5, 0.7), (2.0, 2.2)))):
        t = bag.t(topic)
        period = 1 / gen._RATES[topic]
        for t0, t1 in gaps:
            assert not np.any((t >= t0) & (t < t1)), (topic, t0, t1)
            assert np.any((t >= t0 - 2 * period) & (t < t0)) and np.any((t >= t1) & (t < t1 + 2 * period))
        assert len(t) == pytest.approx(gen._RATES[topic] * (6.0 - sum(b - a for a, b in gaps)), abs=2)
    synced = bag.t(gen.ARM_TRAJ_SYNCED_TOPIC)  # the synced topic has no gap
    assert np.any((synced >= 3.0) & (synced < 3.6)) and np.diff(synced).max() < 0.015
    assert gen.gap_intervals((3.0, 3.6)) == ((3.0, 3.6),)
    assert gen.gap_intervals(((1, 2), (3.0, 3.5))) == ((1.0, 2.0), (3.0, 3.5))


def test_any_reader_reads_the_new_types(task4_bags, rq2f85_bag):
    for bag in (task4_bags["synced"], rq2f85_bag):
        with AnyReader([bag.path]) as reader:
            count = 0
            for conn, _, raw in reader.messages():
                reader.deserialize(raw, conn.msgtype)
                count += 1
        assert count == sum(len(v) for v in bag.msgs.values())


def test_cli_variants(tmp_path, capsys):
    out = tmp_path / "cli.bag"
    args = [str(out), "--seconds", "1.2", "--size", "64x48", "--eef-type", "rq2f85", "--task4", "--eef-levels"]
    assert gen.main(args) == 0
    capsys.readouterr()
    bag = Bag(out)
    assert bag.topics == BASE | {
        gen.GRIPPER_STATE_TOPIC,
        gen.GRIPPER_CMD_TOPIC,
        gen.ARM_TRAJ_SYNCED_TOPIC,
        gen.CMD_POSE_TOPIC,
    }
    times, values = _eef_messages(bag, "rq2f85", "command")
    np.testing.assert_array_equal(values, gen.eef_levels_at("rq2f85", "command", times))


def test_bad_eef_type(tmp_path):
    with pytest.raises(ValueError, match="eef_type"):
        gen.write_kuavo_bag(tmp_path / "x.bag", 1.0, eef_type="suction")


# ---- the reference on these bags ------------------------------------------------------------


def _picked(ref, topic: str) -> np.ndarray:
    """Record time (s since start) of the message the reference picked for each frame."""
    return (ref.times[topic][ref.picks[topic]] - START) / 1e9


def test_reference_names():
    state, action = reference_names()
    assert (
        state
        == action
        == [
            *(f"left_arm_joint_{i}" for i in range(1, 8)),
            "left_leju_claw_1",
            *(f"right_arm_joint_{i}" for i in range(1, 8)),
            "right_leju_claw_1",
        ]
    )
    state, action = reference_names(False, "qiangnao", "right", 3)
    right = [*(f"right_arm_joint_{i}" for i in range(1, 8)), "right_qiangnao_1", "right_qiangnao_2", "right_qiangnao_3"]
    assert state == right and action == [*right, "cmd_pos_x", "cmd_pos_y", "cmd_pos_yaw", "ctrl_change_cmd"]
    state, _ = reference_names(True, "rq2f85", "left", 6)
    assert state[-1] == "left_rq2f85_1" and len(state) == 8


def test_gap_frames_plain_cases():
    s = 10**9
    traj = [0, s // 10, 4 * s // 10, 4 * s // 10 + 150_000_000, 4 * s // 10 + 300_000_001]
    targets = [0, s // 10, s // 10 + 1, 3 * s // 10, 4 * s // 10, 5 * s // 10, 6 * s // 10, 7 * s // 10]
    targets += [7 * s // 10 + 1, 8 * s // 10]
    # 100 -> 400 ms: a gap; 400 -> 550 ms: exactly 0.15 s, not one; 550 -> 700.000001 ms: a gap.
    expected = [False, False, True, True, False, False, True, True, False, False]
    assert gap_frames(traj, targets, 10).tolist() == expected
    assert not gap_frames(traj, targets, 5).any()  # at 5 Hz a gap is > 0.3 s
    assert gap_frames([], targets, 10).tolist() == [False] * len(targets)


def test_reference_default_rules_on_the_value_functions(default_bag):
    ref = load_reference(default_bag.path)
    assert ref.state.shape == ref.action.shape == (len(ref), 16) and ref.state.dtype == np.float32
    assert ref.gap_count == 0
    q = gen.joint_q_at(_picked(ref, gen.SENSORS_TOPIC))
    cmd = gen.joint_cmd_at(_picked(ref, gen.JOINT_CMD_TOPIC))
    cmd[:, 12:26] = np.deg2rad(gen.arm_traj_deg_at(_picked(ref, gen.ARM_TRAJ_TOPIC)))
    claw_s = gen.claw_state_at(_picked(ref, gen.CLAW_STATE_TOPIC)) / 100
    claw_c = gen.claw_cmd_at(_picked(ref, gen.CLAW_CMD_TOPIC)) / 100
    state = np.concatenate([q[:, 12:19], claw_s[:, :1], q[:, 19:26], claw_s[:, 1:]], axis=1)
    action = np.concatenate([cmd[:, 12:19], claw_c[:, :1], cmd[:, 19:26], claw_c[:, 1:]], axis=1)
    np.testing.assert_allclose(ref.state, state.astype(np.float32), rtol=1e-6)
    np.testing.assert_allclose(ref.action, action.astype(np.float32), rtol=1e-6)


def test_reference_cutoff_ignores_depth_but_reads_effector_topics(tmp_path_factory):
    faults = gen.Faults(gaps={gen.DEPTH_TOPICS["cam_l"]: (2.0, 99.0)})
    ref = load_reference(_write(tmp_path_factory, "depth", 5.0, depth=True, faults=faults))
    assert (ref.targets_ns[-1] - START) / 1e9 > 4.0  # depth ending at 2 s does not end the timeline
    faults = gen.Faults(gaps={gen.DEXHAND_CMD_TOPIC: (3.0, 99.0)})
    path = _write(tmp_path_factory, "hand-ends", 5.0, eef_type="qiangnao", faults=faults)
    ref = load_reference(path, eef_type="qiangnao")
    last_ns = ref.times[gen.DEXHAND_CMD_TOPIC][-1]
    assert (last_ns - START) / 1e9 < 3.0
    assert ref.targets_ns[-1] < last_ns < ref.targets_ns[-1] + 100_000_000  # the last frame before it
    with pytest.raises(ValueError, match="leju_claw"):  # a bag without the effector topics asked for
        load_reference(path)


@pytest.mark.parametrize("eef", gen.EEF_TYPES)
def test_reference_effectors(level_bags, eef):
    bag = level_bags[eef]
    dof = 6 if eef == "qiangnao" else 1
    scale = {"leju_claw": (100, 100), "qiangnao": (100, 100), "rq2f85": (0.8, 255)}[eef]
    threshold = {"leju_claw": (50, 50), "qiangnao": (50, 50), "rq2f85": (0.4, 70)}[eef]
    plain = load_reference(bag.path, eef_type=eef, dex_dof_needed=dof)
    binary = load_reference(bag.path, eef_type=eef, dex_dof_needed=dof, is_binary=True)
    assert plain.state.shape == (len(plain), 2 * (7 + dof))
    for w, which in enumerate(("state", "command")):
        topic = gen.EEF_TOPICS[eef][w]
        raw = gen.eef_levels_at(eef, which, _picked(plain, topic)).astype(np.float64)
        for h in (0, 1):
            cols = slice(h * (7 + dof) + 7, (h + 1) * (7 + dof))
            hand_raw = raw[:, h * raw.shape[1] // 2 :][:, :dof]
            got = (plain.state if which == "state" else plain.action)[:, cols]
            np.testing.assert_array_equal(got, (hand_raw / scale[w]).astype(np.float32))
            got = (binary.state if which == "state" else binary.action)[:, cols]
            np.testing.assert_array_equal(got, (hand_raw > threshold[w]).astype(np.float32))
            at = hand_raw == threshold[w]  # a level sits exactly on the threshold: 0.0 (strictly greater)
            assert at.any() and not got[at].any()
            assert got.any() and not got.all()
        joints = np.r_[0:7, 7 + dof : 14 + dof]
        np.testing.assert_array_equal(binary.state[:, joints], plain.state[:, joints])
    dof1 = load_reference(bag.path, eef_type=eef)
    assert dof1.state.shape == (len(dof1), 16)


def _traj_hole_frames(bag: Bag, targets_ns: np.ndarray) -> np.ndarray:
    """Frames strictly between the last /kuavo_arm_traj message before a TRAJ_GAPS hole and the first after."""
    t = bag.t(gen.ARM_TRAJ_TOPIC)
    targets = (targets_ns - START) / 1e9
    inside = np.zeros(len(targets), dtype=bool)
    for t0, t1 in TRAJ_GAPS:
        inside |= (targets > t[t < t0].max()) & (targets < t[t >= t1].min())
    return inside


def test_reference_task4_without_synced_marks_gaps(task4_bags):
    bag = task4_bags["unsynced"]
    ref = load_reference(bag.path, only_arm=False, eef_type="qiangnao")
    inside = _traj_hole_frames(bag, ref.targets_ns)
    assert 6 <= inside.sum() <= 12 and ref.gap_count == inside.sum()
    np.testing.assert_array_equal(ref.gap_mask, inside)
    assert ref.action.shape == (len(ref), 2 * 8 + 4)
    joints = np.r_[0:7, 8:15]
    assert np.all(ref.action[inside][:, joints] == 999.0)
    assert np.all(ref.action[:, -1] == inside.astype(np.float32))
    traj = np.deg2rad(gen.arm_traj_deg_at(_picked(ref, gen.ARM_TRAJ_TOPIC)))
    np.testing.assert_allclose(ref.action[~inside][:, joints], traj[~inside].astype(np.float32), rtol=1e-6)
    assert not np.any(ref.action[~inside] == 999.0)
    twist = gen.cmd_pose_at(_picked(ref, gen.CMD_POSE_TOPIC))[:, [0, 1, 5]]
    np.testing.assert_allclose(ref.action[:, -4:-1], twist.astype(np.float32), rtol=1e-6)
    q = gen.joint_q_at(_picked(ref, gen.SENSORS_TOPIC))
    np.testing.assert_allclose(ref.state[:, 0:7], q[:, 12:19].astype(np.float32), rtol=1e-6)
    assert not np.any(ref.state == 999.0)
    only_arm = load_reference(bag.path, eef_type="qiangnao")  # no task-4 rules: nearest message
    assert only_arm.gap_count == 0 and not np.any(only_arm.action == 999.0)


def test_reference_task4_with_synced_flags_gaps_only(task4_bags):
    bag = task4_bags["synced"]
    ref = load_reference(bag.path, only_arm=False, eef_type="qiangnao")
    inside = _traj_hole_frames(bag, ref.targets_ns)
    assert inside.sum() >= 6 and ref.gap_count == inside.sum()
    assert np.all(ref.action[:, -1] == inside.astype(np.float32)) and not np.any(ref.action == 999.0)
    synced = np.deg2rad(gen.arm_traj_synced_deg_at(_picked(ref, gen.ARM_TRAJ_SYNCED_TOPIC)))
    np.testing.assert_allclose(ref.action[:, np.r_[0:7, 8:15]], synced.astype(np.float32), rtol=1e-6)
    only_arm = load_reference(bag.path, eef_type="qiangnao")  # the synced topic feeds only_arm too
    np.testing.assert_array_equal(only_arm.action, ref.action[:, :-4])
    with pytest.raises(ValueError, match="cmd_pose_world_synced"):
        load_reference(task4_bags["no_walking"].path, only_arm=False, eef_type="qiangnao")


def test_reference_relative_start_and_delta_action(task4_bags):
    bag = task4_bags["unsynced"]
    kwargs = {"only_arm": False, "eef_type": "qiangnao"}
    base = load_reference(bag.path, **kwargs)
    rel = load_reference(bag.path, relative_start=True, **kwargs)
    joints = np.r_[0:7, 8:15]
    others = np.r_[7, 15, 16:20]  # effector and walking values
    assert not base.gap_mask[0]
    assert np.all(rel.state[0, joints] == 0) and np.all(rel.action[0, joints] == 0)
    marker = base.action == 999.0
    np.testing.assert_allclose(rel.state[:, joints], base.state[:, joints] - base.state[0, joints], atol=1e-6)
    expect = np.where(marker, 999.0, base.action.astype(np.float64) - base.action[0].astype(np.float64))
    np.testing.assert_allclose(rel.action[:, joints], expect[:, joints], atol=1e-6)
    assert marker.any() and np.all(rel.action[marker] == 999.0)
    np.testing.assert_array_equal(rel.action[:, others], base.action[:, others])
    np.testing.assert_array_equal(rel.state[:, [7, 15]], base.state[:, [7, 15]])

    both = load_reference(bag.path, relative_start=True, delta_action=True, **kwargs)
    np.testing.assert_array_equal(both.state, rel.state)
    expect = np.where(marker[:, joints], 999.0, rel.action[:, joints].astype(np.float64) - rel.state[:, joints])
    np.testing.assert_allclose(both.action[:, joints], expect, atol=1e-6)
    np.testing.assert_array_equal(both.action[:, others], base.action[:, others])
    delta = load_reference(bag.path, delta_action=True, **kwargs)
    expect = np.where(marker[:, joints], 999.0, base.action[:, joints].astype(np.float64) - base.state[:, joints])
    np.testing.assert_allclose(delta.action[:, joints], expect, atol=1e-6)


def test_reference_relative_start_never_uses_a_marker(tmp_path_factory):
    """Frame 0 inside a /kuavo_arm_traj gap: its action joints are markers and shift nothing."""
    faults = gen.Faults(gaps={gen.ARM_TRAJ_TOPIC: ((0.2, 0.7), (2.0, 2.5))})
    path = _write(tmp_path_factory, "gap-at-start", 4.0, task4=True, synced=False, faults=faults)
    base = load_reference(path, only_arm=False)
    rel = load_reference(path, only_arm=False, relative_start=True)
    assert base.gap_mask[0] and base.gap_count > base.gap_mask[:6].sum()
    joints = np.r_[0:7, 8:15]
    np.testing.assert_array_equal(rel.action[:, joints], base.action[:, joints])
    assert np.all(rel.action[base.gap_mask][:, joints] == 999.0)
    assert np.all(rel.state[0, joints] == 0)
