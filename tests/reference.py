"""A straightforward in-memory implementation of the original Kuavo converter's rules.

It loads every message of the bag (with rosbags' own reader, not ours), builds the timeline
with numpy and picks each topic's nearest message by ``argmin`` over all of them, exactly as the
original ``align_frame_data`` does; then builds state and action per kuavo-bags.md. Tests
compare the streaming pipeline against it. Times are integer nanoseconds.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from rosbags.rosbag1 import Reader

from spill2lerobot.bag.msgdef import typestore_for

CAMERA_TOPICS = {
    "head_cam_h": "/cam_h/color/image_raw/compressed",
    "wrist_cam_l": "/cam_l/color/image_raw/compressed",
    "wrist_cam_r": "/cam_r/color/image_raw/compressed",
}
CAMERA_INDEX = {"head_cam_h": 0, "wrist_cam_l": 1, "wrist_cam_r": 2}  # generator's camera index
LOWDIM = ["/sensors_data_raw", "/joint_cmd", "/kuavo_arm_traj", "/leju_claw_state", "/leju_claw_command"]


@dataclass
class Reference:
    targets_ns: np.ndarray
    picks: dict[str, np.ndarray]  # topic -> index of the chosen message, per frame
    times: dict[str, np.ndarray]  # topic -> all record times
    state: np.ndarray  # (frames, d) float32
    action: np.ndarray
    images: dict[str, list[bytes]]  # camera topic -> raw JPEG of every message

    def __len__(self) -> int:
        return len(self.targets_ns)

    def camera_frame(self, camera: str, frame: int) -> int:
        """Per-camera frame number (as the generator numbers them) shown in aligned frame ``frame``."""
        return int(self.picks[CAMERA_TOPICS[camera]][frame])


def load_reference(path, *, sample_drop=10, main_fps=30, train_hz=10, which_arm="both") -> Reference:
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
    min_end = min(ts[-1] for ts in arrays.values())
    timeline = timeline[timeline < min_end]
    cams = (
        ["head_cam_h"]
        + ([] if which_arm == "right" else ["wrist_cam_l"])
        + ([] if which_arm == "left" else ["wrist_cam_r"])
    )
    topics = [CAMERA_TOPICS[c] for c in cams] + LOWDIM
    picks = {topic: np.array([int(np.argmin(np.abs(arrays[topic] - t))) for t in timeline]) for topic in topics}
    states, actions = [], []
    hands = ["left", "right"] if which_arm == "both" else [which_arm]
    for frame in range(len(timeline)):
        m = {topic: msgs[topic][picks[topic][frame]] for topic in LOWDIM}
        q = np.asarray(m["/sensors_data_raw"].joint_data.joint_q)
        cmd = np.array(m["/joint_cmd"].joint_q, dtype=np.float64)
        traj = np.deg2rad(np.asarray(m["/kuavo_arm_traj"].position))
        claw_s = np.asarray(m["/leju_claw_state"].data.position) / 100
        claw_c = np.asarray(m["/leju_claw_command"].data.position) / 100
        cmd[12:26] = traj
        state, action = [], []
        for hand in hands:
            arm = slice(12, 19) if hand == "left" else slice(19, 26)
            h = 0 if hand == "left" else 1
            state += [*q[arm], claw_s[h]]
            action += [*cmd[arm], claw_c[h]]
        states.append(state)
        actions.append(action)
    return Reference(
        targets_ns=timeline,
        picks=picks,
        times=arrays,
        state=np.asarray(states, dtype=np.float32),
        action=np.asarray(actions, dtype=np.float32),
        images={t: msgs[t] for t in (CAMERA_TOPICS[c] for c in cams)},
    )
