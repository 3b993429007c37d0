"""The Kuavo rules' numbers: one frame's state and action from its messages, and the options that
make a bag's values relative to its first frame.

Per hand the layout is [7 arm joints, effector values], left block then right block. Whole-body
recordings (``only_arm: false``, Kuavo task 4) append the walking command and the arm
trajectory's gap flag to the action, like the original converter.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from spill2lerobot.profiles.base import Between, Matrix, Vector
from spill2lerobot.profiles.options import Profile


class KuavoTopics(Protocol):
    """The topics the value rules read (``kuavo.TopicRoles``)."""

    @property
    def sensors(self) -> str: ...
    @property
    def joint_cmd(self) -> str: ...
    @property
    def arm_traj(self) -> str: ...
    @property
    def eef_state(self) -> str: ...
    @property
    def eef_cmd(self) -> str: ...
    @property
    def gap_traj(self) -> str | None: ...
    @property
    def cmd_pose(self) -> str | None: ...


ARM_SLICES = {"left": slice(12, 19), "right": slice(19, 26)}  # into the 28-joint vectors
TRAJ_SLICES = {"left": slice(0, 7), "right": slice(7, 14)}  # into the 14 arm-trajectory values
HAND_INDEX = {"left": 0, "right": 1}
ARM_JOINTS = 7
GAP_MARKER = 999.0  # the original's arm-trajectory value for frames inside a gap
WALKING_NAMES = ("cmd_pos_x", "cmd_pos_y", "cmd_pos_yaw", "ctrl_change_cmd")
# is_binary: 1 where the raw value is strictly greater, as the original: (eef_type, command?).
BINARY_THRESHOLDS = {
    ("leju_claw", False): 50.0,
    ("leju_claw", True): 50.0,
    ("qiangnao", False): 50.0,
    ("qiangnao", True): 50.0,
    ("rq2f85", False): 0.4,
    ("rq2f85", True): 70.0,
}
# Raw value -> dataset value (before any is_binary): (eef_type, command?) -> divisor.
EEF_SCALE = {
    ("leju_claw", False): 100.0,
    ("leju_claw", True): 100.0,
    ("qiangnao", False): 100.0,
    ("qiangnao", True): 100.0,
    ("rq2f85", False): 0.8,
    ("rq2f85", True): 255.0,
}

F64 = npt.NDArray[np.float64]


def hands(profile: Profile) -> tuple[str, ...]:
    arm = profile.dataset.which_arm
    return ("left", "right") if arm == "both" else (arm,)


def _eef_dof(profile: Profile) -> int:
    return profile.dataset.dex_dof_needed if profile.dataset.eef_type == "qiangnao" else 1


def state_names(profile: Profile) -> list[str]:
    """Names of the state entries: per hand, 7 arm joints then the effector."""
    names = []
    for hand in hands(profile):
        names += [f"{hand}_arm_joint_{i}" for i in range(1, ARM_JOINTS + 1)]
        names += [f"{hand}_{profile.dataset.eef_type}_{i}" for i in range(1, _eef_dof(profile) + 1)]
    return names


def action_names(profile: Profile) -> list[str]:
    """The state's layout, plus the walking command and gap flag for whole-body recordings."""
    return state_names(profile) + ([] if profile.dataset.only_arm else list(WALKING_NAMES))


def joint_positions(profile: Profile) -> list[int]:
    """Where the arm joints are in state (and, the same, in action)."""
    block = ARM_JOINTS + _eef_dof(profile)
    return [h * block + j for h in range(len(hands(profile))) for j in range(ARM_JOINTS)]


def in_gap(enclosing: tuple[int, int] | None, train_hz: int) -> bool:
    """Whether a frame lies in a gap of the arm trajectory: strictly between two consecutive
    messages more than 0.15 x 10 / train_hz seconds apart (the original's threshold)."""
    if enclosing is None:
        return False
    before, after = enclosing
    return (after - before) * train_hz > 1_500_000_000  # ns x Hz: exact, no float rounding


def gap_summary(
    traj_times_ns: npt.NDArray[np.int64], targets_ns: npt.NDArray[np.int64], train_hz: int
) -> tuple[int, int]:
    """(gaps in the trajectory, frames inside one): ``in_gap`` over a whole bag, vectorised."""
    times = np.asarray(traj_times_ns, dtype=np.int64)
    targets = np.asarray(targets_ns, dtype=np.int64)
    gaps = int(np.count_nonzero(np.diff(times) * train_hz > 1_500_000_000))
    after = np.searchsorted(times, targets, side="right")
    inside = (after > 0) & (after < len(times))
    before_t = times[np.clip(after - 1, 0, None)[inside]]
    after_t = times[after[inside]]
    t = targets[inside]
    frames = (before_t < t) & (t < after_t) & ((after_t - before_t) * train_hz > 1_500_000_000)
    return gaps, int(np.count_nonzero(frames))


def _eef_raw(profile: Profile, msg: Any, command: bool) -> dict[str, F64]:
    """Per-hand raw effector values as the bag has them."""
    eef = profile.dataset.eef_type
    if eef == "leju_claw":
        pos = np.asarray(msg.data.position, dtype=np.float64)
        return {hand: pos[HAND_INDEX[hand] : HAND_INDEX[hand] + 1] for hand in ("left", "right")}
    if eef == "qiangnao":
        dof = profile.dataset.dex_dof_needed
        if command:  # kuavo_msgs/robotHandPosition, uint8 0..100
            left = np.asarray(msg.left_hand_position, dtype=np.float64)
            right = np.asarray(msg.right_hand_position, dtype=np.float64)
        else:  # sensor_msgs/JointState, 6 values per hand
            pos = np.asarray(msg.position, dtype=np.float64)
            left, right = pos[:6], pos[6:12]
        return {"left": left[:dof], "right": right[:dof]}
    pos = np.asarray(msg.position, dtype=np.float64)  # rq2f85
    return {hand: pos[HAND_INDEX[hand] : HAND_INDEX[hand] + 1] for hand in ("left", "right")}


def eef_values(profile: Profile, msg: Any, command: bool) -> dict[str, F64]:
    """Per-hand effector values: scaled to 0..1, or 0/1 with ``is_binary`` (on the raw values)."""
    key = (profile.dataset.eef_type, command)
    raw = _eef_raw(profile, msg, command)
    if profile.dataset.is_binary:
        return {hand: (values > BINARY_THRESHOLDS[key]).astype(np.float64) for hand, values in raw.items()}
    return {hand: values / EEF_SCALE[key] for hand, values in raw.items()}


def state_and_action(
    profile: Profile, roles: KuavoTopics, msgs: Mapping[str, Any], between: Between
) -> tuple[Vector, Vector]:
    """One frame's ``observation.state`` and ``action`` (float32) from its deserialized messages."""
    joint_q = np.asarray(msgs[roles.sensors].joint_data.joint_q, dtype=np.float64)
    command = np.array(msgs[roles.joint_cmd].joint_q, dtype=np.float64)
    gap = roles.gap_traj is not None and in_gap(between.get(roles.gap_traj), profile.dataset.train_hz)
    traj_rad: F64
    if gap and roles.arm_traj == roles.gap_traj:
        traj_rad = np.full(14, GAP_MARKER)  # the marker replaces the radians, as in the original
    else:
        traj_rad = np.deg2rad(np.asarray(msgs[roles.arm_traj].position, dtype=np.float64))
    eef_state = eef_values(profile, msgs[roles.eef_state], command=False)
    eef_cmd = eef_values(profile, msgs[roles.eef_cmd], command=True)
    state_parts: list[F64] = []
    action_parts: list[F64] = []
    for hand in hands(profile):
        command[ARM_SLICES[hand]] = traj_rad[TRAJ_SLICES[hand]]
        state_parts += [joint_q[ARM_SLICES[hand]], eef_state[hand]]
        action_parts += [command[ARM_SLICES[hand]], eef_cmd[hand]]
    if roles.cmd_pose is not None:
        twist = msgs[roles.cmd_pose].twist
        action_parts.append(np.array([twist.linear.x, twist.linear.y, twist.angular.z, 1.0 if gap else 0.0]))
    return (
        np.concatenate(state_parts).astype(np.float32),
        np.concatenate(action_parts).astype(np.float32),
    )


def rebase(
    profile: Profile, state: Matrix, action: Matrix, first_state: Vector, first_action: Vector
) -> tuple[Matrix, Matrix]:
    """``relative_start``: joints minus their value in the bag's first frame; then ``delta_action``:
    action joints minus state joints. Effector and walking values stay; 999.0 markers stay, and a
    marker in the first frame is no reference (that joint is not shifted)."""
    joints = joint_positions(profile)
    marker = action[:, joints] == np.float32(GAP_MARKER)
    state64, action64 = state.astype(np.float64), action.astype(np.float64)  # one rounding, at the end
    if profile.dataset.relative_start:
        state64[:, joints] -= first_state[joints]
        first = first_action[joints].astype(np.float64)
        action64[:, joints] -= np.where(first == GAP_MARKER, 0.0, first)
    if profile.dataset.delta_action:
        action64[:, joints] -= state64[:, joints]
    action64[:, joints] = np.where(marker, GAP_MARKER, action64[:, joints])
    return state64.astype(np.float32), action64.astype(np.float32)
