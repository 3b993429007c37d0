"""Shim: the Kuavo rules moved to ``spill2lerobot.profiles.kuavo`` (removed at the end)."""

from spill2lerobot.profiles.base import Camera
from spill2lerobot.profiles.kuavo import *  # noqa: F403  (shim, removed at the end)
from spill2lerobot.profiles.kuavo import (
    ARM_SLICES,
    ARM_TRAJ,
    ARM_TRAJ_SYNCED,
    CAMERA_TOPIC_SET,
    CAMERA_TOPICS,
    CMD_POSE_WORLD,
    DEPTH_TOPICS,
    EEF_TOPICS,
    EXPECTED_TYPES,
    HAND_INDEX,
    IMAGE_TYPES,
    JOINT_CMD,
    KNOWN_TOPICS,
    RAW_CAMERA_TOPICS,
    SENSORS,
    TRAJ_SLICES,
    TopicRoles,
    cameras,
    depth_camera_names,
    depth_cameras,
    feature_names,
    hands,
    resolve_topics,
    state_and_action,
    type_accepted,
)

__all__ = [
    "ARM_SLICES", "ARM_TRAJ", "ARM_TRAJ_SYNCED", "CAMERA_TOPICS", "CAMERA_TOPIC_SET", "CMD_POSE_WORLD",
    "DEPTH_TOPICS", "EEF_TOPICS", "EXPECTED_TYPES", "HAND_INDEX", "IMAGE_TYPES", "JOINT_CMD", "KNOWN_TOPICS",
    "RAW_CAMERA_TOPICS", "SENSORS", "TRAJ_SLICES", "Camera", "TopicRoles", "cameras", "depth_camera_names",
    "depth_cameras", "feature_names", "hands", "resolve_topics", "state_and_action", "type_accepted",
]  # fmt: skip
