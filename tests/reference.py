"""A straightforward in-memory implementation of the original Kuavo converter's rules.

It loads every message of the bag (with rosbags' own reader, not ours), builds the timeline
with numpy and picks each topic's nearest message by ``argmin`` over all of them, exactly as the
original ``align_frame_data`` does; then builds state and action per kuavo-bags.md. Tests
compare the streaming pipeline against it. Times are integer nanoseconds.

Options as the original's: ``eef_type`` (leju_claw, qiangnao, rq2f85), ``dex_dof_needed``,
``is_binary``, ``only_arm`` (False: Kuavo task 4, walking command and arm-trajectory gaps in the
action), ``relative_start`` and ``delta_action``. It does not import the code under test's rules.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Any

import numpy as np
from rosbags.rosbag1 import Reader

from spill2lerobot.bag.msgdef import typestore_for

CAMERA_TOPICS = {
    "head_cam_h": "/cam_h/color/image_raw/compressed",
    "wrist_cam_l": "/cam_l/color/image_raw/compressed",
    "wrist_cam_r": "/cam_r/color/image_raw/compressed",
}
RAW_CAMERA_TOPICS = {name: topic.removesuffix("/compressed") for name, topic in CAMERA_TOPICS.items()}
CAMERA_INDEX = {"head_cam_h": 0, "wrist_cam_l": 1, "wrist_cam_r": 2}  # generator's camera index
LOWDIM = ["/sensors_data_raw", "/joint_cmd", "/kuavo_arm_traj", "/leju_claw_state", "/leju_claw_command"]
SENSORS = "/sensors_data_raw"
JOINT_CMD = "/joint_cmd"
ARM_TRAJ = "/kuavo_arm_traj"
ARM_TRAJ_SYNCED = "/kuavo_arm_traj_synced"
CMD_POSE = "/cmd_pose_world_synced"
EEF_TOPICS = {  # eef_type -> (state topic, command topic)
    "leju_claw": ("/leju_claw_state", "/leju_claw_command"),
    "qiangnao": ("/dexhand/state", "/control_robot_hand_position"),
    "rq2f85": ("/gripper/state", "/gripper/command"),
}
# Raw effector value -> 0..1: divide by this, per (eef_type, "state" | "command").
EEF_SCALE = {
    ("leju_claw", "state"): 100.0,
    ("leju_claw", "command"): 100.0,
    ("qiangnao", "state"): 100.0,
    ("qiangnao", "command"): 100.0,
    ("rq2f85", "state"): 0.8,
    ("rq2f85", "command"): 255.0,
}
# is_binary: 1.0 where the RAW value is strictly greater than this, else 0.0.
EEF_THRESHOLD = {
    ("leju_claw", "state"): 50.0,
    ("leju_claw", "command"): 50.0,
    ("qiangnao", "state"): 50.0,
    ("qiangnao", "command"): 50.0,
    ("rq2f85", "state"): 0.4,
    ("rq2f85", "command"): 70.0,
}
# The topics the original reads: the timeline ends before the earliest last message of those the
# bag has (depth cameras are not among them).
CUTOFF_LOWDIM = (SENSORS, JOINT_CMD, ARM_TRAJ, ARM_TRAJ_SYNCED, CMD_POSE, *(t for p in EEF_TOPICS.values() for t in p))
GAP_MARKER = 999.0  # arm-trajectory values of a frame inside a gap of /kuavo_arm_traj (task 4)
GAP_LIMIT_NS_HZ = 1_500_000_000  # a gap: delta_ns * train_hz > this (0.15 * 10 / train_hz seconds)
WALKING_NAMES = ["cmd_pos_x", "cmd_pos_y", "cmd_pos_yaw", "ctrl_change_cmd"]
ARM = {"left": slice(12, 19), "right": slice(19, 26)}  # into the 28-joint vectors
HAND = {"left": 0, "right": 1}


@dataclass
class Reference:
    targets_ns: np.ndarray
    picks: dict[str, np.ndarray]  # topic -> index of the chosen message, per frame
    times: dict[str, np.ndarray]  # topic -> all record times
    state: np.ndarray  # (frames, d) float32
    action: np.ndarray
    images: dict[str, list[bytes]]  # camera topic -> raw JPEG of every message
    # per frame: inside a gap of /kuavo_arm_traj (only_arm=False only; else all False)
    gap_mask: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))

    def __len__(self) -> int:
        return len(self.targets_ns)

    @property
    def gap_count(self) -> int:
        """Frames inside a gap of /kuavo_arm_traj (ctrl_change_cmd 1.0; 0 when only_arm)."""
        return int(np.count_nonzero(self.gap_mask))

    def camera_frame(self, camera: str, frame: int) -> int:
        """Per-camera frame number (as the generator numbers them) shown in aligned frame ``frame``."""
        return int(self.picks[CAMERA_TOPICS[camera]][frame])


def _hands(which_arm: str) -> list[str]:
    return ["left", "right"] if which_arm == "both" else [which_arm]


def _eef_dof(eef_type: str, dex_dof_needed: int) -> int:
    return dex_dof_needed if eef_type == "qiangnao" else 1


def reference_names(
    only_arm: bool = True, eef_type: str = "leju_claw", which_arm: str = "both", dex_dof_needed: int = 1
) -> tuple[list[str], list[str]]:
    """(state names, action names): per hand 7 arm joints then the effector values; the action of
    ``only_arm=False`` adds the walking command and ``ctrl_change_cmd``."""
    names = []
    for hand in _hands(which_arm):
        names += [f"{hand}_arm_joint_{i}" for i in range(1, 8)]
        names += [f"{hand}_{eef_type}_{i}" for i in range(1, _eef_dof(eef_type, dex_dof_needed) + 1)]
    return names, names + ([] if only_arm else WALKING_NAMES)


def gap_frames(traj_times_ns: Any, targets_ns: Any, train_hz: int) -> np.ndarray:
    """Per target: strictly between two consecutive arm-trajectory messages that are more than
    0.15 * 10 / train_hz seconds apart (``delta_ns * train_hz > 1_500_000_000``)."""
    times = [int(t) for t in traj_times_ns]
    targets = [int(t) for t in targets_ns]
    inside = np.zeros(len(targets), dtype=bool)
    for before, after in pairwise(times):
        if (after - before) * train_hz > GAP_LIMIT_NS_HZ:
            for i, target in enumerate(targets):
                if before < target < after:
                    inside[i] = True
    return inside


def _eef_raw(eef_type: str, msg: Any, command: bool, dof: int) -> dict[str, np.ndarray]:
    """Raw effector values per hand (float64): the first ``dof`` fingers for qiangnao, else one."""
    if eef_type == "leju_claw":
        pos = np.asarray(msg.data.position, dtype=np.float64)
        return {hand: pos[h : h + 1] for hand, h in HAND.items()}
    if eef_type == "qiangnao":
        if command:
            left = np.asarray(msg.left_hand_position, dtype=np.float64)
            right = np.asarray(msg.right_hand_position, dtype=np.float64)
        else:
            pos = np.asarray(msg.position, dtype=np.float64)
            left, right = pos[:6], pos[6:12]
        return {"left": left[:dof], "right": right[:dof]}
    if eef_type == "rq2f85":
        pos = np.asarray(msg.position, dtype=np.float64)
        return {hand: pos[h : h + 1] for hand, h in HAND.items()}
    raise ValueError(f"unknown eef_type {eef_type!r}")


def _eef_values(eef_type: str, msg: Any, command: bool, dof: int, is_binary: bool) -> dict[str, np.ndarray]:
    key = (eef_type, "command" if command else "state")
    raw = _eef_raw(eef_type, msg, command, dof)
    if is_binary:
        return {hand: np.where(v > EEF_THRESHOLD[key], 1.0, 0.0) for hand, v in raw.items()}
    return {hand: v / EEF_SCALE[key] for hand, v in raw.items()}


def _cutoff_topics(present: set[str]) -> list[str]:
    """The original's topics this bag has; a camera recorded raw stands in for its compressed topic."""
    cams = [t if t in present else RAW_CAMERA_TOPICS[name] for name, t in CAMERA_TOPICS.items()]
    return [t for t in (*cams, *CUTOFF_LOWDIM) if t in present]


def load_reference(
    path: str | os.PathLike[str],
    *,
    sample_drop: int = 10,
    main_fps: int = 30,
    train_hz: int = 10,
    which_arm: str = "both",
    only_arm: bool = True,
    eef_type: str = "leju_claw",
    dex_dof_needed: int = 1,
    is_binary: bool = False,
    relative_start: bool = False,
    delta_action: bool = False,
) -> Reference:
    """The original converter's frames of one bag (see the module docstring)."""
    with Reader(path) as reader:
        store = typestore_for({c.msgtype: c.msgdef.data for c in reader.connections})
        times: dict[str, list[int]] = {}
        msgs: dict[str, list] = {}
        for conn, t, raw in reader.messages():
            times.setdefault(conn.topic, []).append(t)
            if "compressed" in conn.topic:
                msgs.setdefault(conn.topic, []).append(bytes(store.deserialize_ros1(raw, conn.msgtype).data))
            else:
                msgs.setdefault(conn.topic, []).append(store.deserialize_ros1(raw, conn.msgtype))
    arrays = {topic: np.array(ts, dtype=np.int64) for topic, ts in times.items()}
    main = arrays[CAMERA_TOPICS["head_cam_h"]]
    timeline = main[sample_drop:-sample_drop] if sample_drop > 0 else main
    timeline = timeline[:: main_fps // train_hz]
    min_end = min(arrays[topic][-1] for topic in _cutoff_topics(set(arrays)))
    timeline = timeline[timeline < min_end]

    if eef_type not in EEF_TOPICS:
        raise ValueError(f"unknown eef_type {eef_type!r}")
    traj_topic = ARM_TRAJ_SYNCED if ARM_TRAJ_SYNCED in arrays else ARM_TRAJ
    eef_state_topic, eef_cmd_topic = EEF_TOPICS[eef_type]
    used = [SENSORS, JOINT_CMD, traj_topic, eef_state_topic, eef_cmd_topic] + ([] if only_arm else [CMD_POSE])
    missing = [topic for topic in used if topic not in arrays]
    if missing:
        raise ValueError(f"{path}: no messages on {missing}")
    cams = (
        ["head_cam_h"]
        + ([] if which_arm == "right" else ["wrist_cam_l"])
        + ([] if which_arm == "left" else ["wrist_cam_r"])
    )
    topics = [CAMERA_TOPICS[c] for c in cams] + [t for t in dict.fromkeys([*LOWDIM, *used]) if t in arrays]
    picks = {topic: np.array([int(np.argmin(np.abs(arrays[topic] - t))) for t in timeline]) for topic in topics}

    gaps = np.zeros(len(timeline), dtype=bool)
    if not only_arm:
        gaps = gap_frames(arrays.get(ARM_TRAJ, np.zeros(0, np.int64)), timeline, train_hz)
    dof = _eef_dof(eef_type, dex_dof_needed)
    hands = _hands(which_arm)
    block = 7 + dof  # per hand: arm joints, then effector values
    joints = np.array([h * block + j for h in range(len(hands)) for j in range(7)])

    states, actions = [], []
    marker = np.zeros((len(timeline), len(hands) * block + (0 if only_arm else 4)), dtype=bool)
    for frame in range(len(timeline)):
        m = {topic: msgs[topic][picks[topic][frame]] for topic in used}
        q = np.asarray(m[SENSORS].joint_data.joint_q, dtype=np.float64)
        cmd = np.array(m[JOINT_CMD].joint_q, dtype=np.float64)
        traj = np.deg2rad(np.asarray(m[traj_topic].position, dtype=np.float64))
        if gaps[frame] and traj_topic == ARM_TRAJ:
            traj[:] = GAP_MARKER  # replaces the radians
            marker[frame, joints] = True
        cmd[12:26] = traj
        eef_s = _eef_values(eef_type, m[eef_state_topic], False, dof, is_binary)
        eef_c = _eef_values(eef_type, m[eef_cmd_topic], True, dof, is_binary)
        state: list[np.ndarray] = []
        action: list[np.ndarray] = []
        for hand in hands:
            state += [q[ARM[hand]], eef_s[hand]]
            action += [cmd[ARM[hand]], eef_c[hand]]
        if not only_arm:
            twist = m[CMD_POSE].twist
            action.append(np.array([twist.linear.x, twist.linear.y, twist.angular.z, float(gaps[frame])]))
        states.append(np.concatenate(state))
        actions.append(np.concatenate(action))
    width = len(hands) * block
    state_arr = np.array(states, dtype=np.float64).reshape(len(timeline), width)
    action_arr = np.array(actions, dtype=np.float64).reshape(len(timeline), marker.shape[1])

    if relative_start and len(timeline):
        state_arr[:, joints] -= state_arr[0, joints]
        for j in joints:
            if not marker[0, j]:  # a marker is never a reference
                keep = ~marker[:, j]
                action_arr[keep, j] -= action_arr[0, j]
    if delta_action:
        for j in joints:
            keep = ~marker[:, j]
            action_arr[keep, j] -= state_arr[keep, j]
    return Reference(
        targets_ns=timeline,
        picks=picks,
        times=arrays,
        state=state_arr.astype(np.float32),
        action=action_arr.astype(np.float32),
        images={t: msgs[t] for t in (CAMERA_TOPICS[c] for c in cams)},
        gap_mask=gaps,
    )
