"""Sample Kuavo ROS1 bags whose content a test can check exactly.

The bags look like real Kuavo teleoperation recordings (``rosbag record`` of the robot's
cameras, joint states and commands, arm trajectory and claws): real ROS1 bag files written
with ``rosbags.rosbag1.Writer``, whose connection records carry the ``kuavo_msgs``
definitions byte for byte as ``rosbag record`` stores them (genmsg full text) with their
genmsg md5 sums.

Every value is a known function of the message's record time or frame number:

- numeric topics: ``joint_q_at(t)`` and friends, ``t`` = seconds since ``start_ns`` (the
  record time of the first message); ``header.stamp`` = record time - ``LATENCY_NS``.
- colour images: frame ``k`` of camera ``c`` (``CAMERAS.index``) carries ``(c, k)`` as a
  4x8 grid of dark/bright cells over a noise texture; ``read_frame_code`` reads it back from
  any RGB image (after JPEG or video round trips, resized).
- depth images: ``expected_depth_mm(c, k, width, height)`` exactly.

Variants (all off by default, which keeps the default bags byte for byte): ``eef_type``
(leju_claw, qiangnao dexterous hands, rq2f85 grippers), ``eef_levels`` (effector values stepping
through ``EEF_LEVELS`` to hit thresholds exactly), ``task4`` (walking while manipulating: also
``/kuavo_arm_traj_synced`` and ``/cmd_pose_world_synced``), several gaps per topic in ``Faults``.

Usage: ``python scripts/gen_kuavo_bag.py OUT.bag [--seconds 30] [--size 640x480] [--depth]
[--compression lz4] [--seed 0] [--content noise|scene] [--eef-type qiangnao] [--eef-levels]
[--task4]``.
"""

from __future__ import annotations

import argparse
import os
import struct
import sys
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from fractions import Fraction
from functools import cache, partial
from pathlib import Path

import av
import numpy as np
from rosbags.interfaces import Connection
from rosbags.rosbag1 import Writer
from rosbags.typesys.store import Typestore

from spill2lerobot.bag.msgdef import typestore_for

# --------------------------------------------------------------------------------------------
# Topics and constants
# --------------------------------------------------------------------------------------------

CAMERAS: tuple[str, ...] = ("cam_h", "cam_l", "cam_r")  # camera index = position here
CAMERA_TOPICS: dict[str, str] = {cam: f"/{cam}/color/image_raw/compressed" for cam in CAMERAS}
# Colour cameras recorded uncompressed (image_format rgb8/bgr8/mono8): sensor_msgs/Image here.
RAW_CAMERA_TOPICS: dict[str, str] = {cam: f"/{cam}/color/image_raw" for cam in CAMERAS}
IMAGE_FORMATS = ("jpeg", "png", "rgb8", "bgr8", "mono8")  # CompressedImage jpeg/png, or raw Image
RAW_FORMATS = ("rgb8", "bgr8", "mono8")
DEPTH_TOPICS: dict[str, str] = {
    "cam_h": "/cam_h/depth/image_raw/compressedDepth",
    "cam_l": "/cam_l/depth/image_rect_raw/compressedDepth",
    "cam_r": "/cam_r/depth/image_rect_raw/compressedDepth",
}
# The same depth images uncompressed (sensor_msgs/Image, 16UC1 millimetres or 32FC1 metres).
RAW_DEPTH_TOPICS: dict[str, str] = {cam: topic.rsplit("/", 1)[0] for cam, topic in DEPTH_TOPICS.items()}
DEPTH_ENCODINGS = ("png", "16UC1", "32FC1")  # compressedDepth PNG, or raw Image encodings
SENSORS_TOPIC = "/sensors_data_raw"
JOINT_CMD_TOPIC = "/joint_cmd"
ARM_TRAJ_TOPIC = "/kuavo_arm_traj"
CLAW_STATE_TOPIC = "/leju_claw_state"
CLAW_CMD_TOPIC = "/leju_claw_command"
DEXHAND_STATE_TOPIC = "/dexhand/state"  # qiangnao dexterous hands
DEXHAND_CMD_TOPIC = "/control_robot_hand_position"
GRIPPER_STATE_TOPIC = "/gripper/state"  # rq2f85 grippers
GRIPPER_CMD_TOPIC = "/gripper/command"
ARM_TRAJ_SYNCED_TOPIC = "/kuavo_arm_traj_synced"  # task 4 (walking while manipulating)
CMD_POSE_TOPIC = "/cmd_pose_world_synced"
EEF_TYPES: tuple[str, ...] = ("leju_claw", "qiangnao", "rq2f85")
EEF_TOPICS: dict[str, tuple[str, str]] = {  # eef_type -> (state topic, command topic)
    "leju_claw": (CLAW_STATE_TOPIC, CLAW_CMD_TOPIC),
    "qiangnao": (DEXHAND_STATE_TOPIC, DEXHAND_CMD_TOPIC),
    "rq2f85": (GRIPPER_STATE_TOPIC, GRIPPER_CMD_TOPIC),
}

SENSORS_TYPE = "kuavo_msgs/msg/sensorsData"
JOINT_CMD_TYPE = "kuavo_msgs/msg/jointCmd"
CLAW_STATE_TYPE = "kuavo_msgs/msg/lejuClawState"
CLAW_CMD_TYPE = "kuavo_msgs/msg/lejuClawCommand"
HAND_POSITION_TYPE = "kuavo_msgs/msg/robotHandPosition"
TWIST_STAMPED_TYPE = "geometry_msgs/msg/TwistStamped"
JOINT_STATE_TYPE = "sensor_msgs/msg/JointState"
COMPRESSED_IMAGE_TYPE = "sensor_msgs/msg/CompressedImage"
IMAGE_TYPE = "sensor_msgs/msg/Image"

COLOR_FORMAT = "rgb8; jpeg compressed bgr8"
PNG_COLOR_FORMAT = "rgb8; png compressed bgr8"
DEPTH_FORMAT = "16UC1; compressedDepth png"
# compressed_depth_image_transport's ConfigHeader: int32 format (0), float32 depthParam[2].
DEPTH_CONFIG_HEADER = struct.pack("<iff", 0, 0.0, 0.0)

CAMERA_HZ = 30
SENSORS_HZ = 500
JOINT_CMD_HZ = 500
ARM_TRAJ_HZ = 100
CLAW_HZ = 50
DEXHAND_HZ = 50
GRIPPER_HZ = 50
ARM_TRAJ_SYNCED_HZ = 100
CMD_POSE_HZ = 50

DEFAULT_START_NS = 1_700_000_000 * 10**9
LATENCY_NS = 1_000_000  # header.stamp = record time - LATENCY_NS, every topic
DEFAULT_CHUNK_THRESHOLD = 768 * 1024  # rosbag record's default

N_JOINTS = 28  # 12 legs, 14 arms (12..25), 2 head
N_ARM_JOINTS = 14
ARM_JOINT_NAMES: tuple[str, ...] = tuple(f"arm_joint_{i}" for i in range(1, N_ARM_JOINTS + 1))
CLAW_NAMES: tuple[str, str] = ("left_claw", "right_claw")
N_DEX = 6  # qiangnao fingers per hand
DEXHAND_NAMES: tuple[str, ...] = tuple(
    f"{hand}_qiangnao_{i}" for hand in ("left", "right") for i in range(1, N_DEX + 1)
)
GRIPPER_NAMES: tuple[str, str] = ("left_gripper", "right_gripper")
SENSORS_FRAME_ID = "world"

# Constant fields (functions of nothing): jointCmd gains and modes, claw velocity/effort.
JOINT_CMD_TAU_MAX = np.full(N_JOINTS, 100.0)
JOINT_CMD_TAU_RATIO = np.ones(N_JOINTS)
JOINT_CMD_KP = np.array([150.0] * 12 + [40.0] * 14 + [10.0, 10.0])
JOINT_CMD_KD = np.array([5.0] * 12 + [2.0] * 14 + [0.5, 0.5])
JOINT_CMD_CONTROL_MODES = np.array([2] * 12 + [0] * 14 + [2, 2], dtype=np.int32)
CLAW_VELOCITY = np.array([50.0, 50.0])
CLAW_EFFORT = np.array([1.0, 1.0])

# Stepped effector values (``eef_levels``), keyed by (eef_type, "state" | "command"): raw values
# just below, at and above the binarisation thresholds (50; rq2f85 state 0.4, command 70).
EEF_LEVELS: dict[tuple[str, str], tuple[float, ...]] = {
    ("leju_claw", "state"): (10.0, 49.0, 50.0, 50.5, 51.0, 90.0),
    ("leju_claw", "command"): (10.0, 49.0, 50.0, 50.5, 51.0, 90.0),
    ("qiangnao", "state"): (10.0, 49.0, 50.0, 50.5, 51.0, 90.0),
    ("qiangnao", "command"): (10, 49, 50, 51, 90, 100),  # uint8
    ("rq2f85", "state"): (0.1, 0.39, 0.4, 0.41, 0.7, 0.4000001),
    ("rq2f85", "command"): (10.0, 70.0, 70.5, 71.0, 127.0, 200.0),
}
LEVEL_HOLD_S = 0.5  # each level lasts this long (record time)

# Code grid of the images: 24 bits frame number, 2 bits camera, 6 check bits.
CODE_ROWS, CODE_COLS = 4, 8
_FRAME_BITS, _CAMERA_BITS, _CHECK_BITS = 24, 2, 6
MAX_FRAME_NUMBER = (1 << _FRAME_BITS) - 1
_CHECK_XOR = 0b101011  # so that all-dark / all-bright images are not valid codes
_DARK_Y, _BRIGHT_Y = 60, 190  # luma of the cells (full range)
_DEPTH_NEAR_MM, _DEPTH_FAR_MM = 450, 1150
_N_TEXTURES = 6  # noise textures / sensor-grain planes, cycled
_JPEG_QSCALE = 4
# Image content. "noise": every frame a different random texture under the code; encoders find
# nothing to predict, which makes it the hard case for exact frame checks (tests). "scene": a
# camera panning over a smooth scene with sensor grain, coherent in time like real footage
# (benchmarks). SVT-AV1's temporal filter (on in lerobot's settings) can, rarely, leave a code
# cell of the previous frame in a "scene" frame (seen once, in a 12 s bag at 160x120).
CONTENTS = ("noise", "scene")
_SCENE_JPEG_QSCALE = 2  # camera drivers' high JPEG quality (~60 KB at 640x480)

# Per-topic record-time schedule: (offset of message 0 in ms, jitter half-width in ms).
# Offsets > jitter keep every message at or after start_ns; the sensors stream starts exactly
# at start_ns. Jitter < period / 2 never reorders a topic's messages.
_SCHEDULE_MS: dict[str, tuple[float, float]] = {
    SENSORS_TOPIC: (0.0, 0.2),
    JOINT_CMD_TOPIC: (0.9, 0.2),
    ARM_TRAJ_TOPIC: (3.1, 1.0),
    CLAW_STATE_TOPIC: (7.3, 2.0),
    CLAW_CMD_TOPIC: (13.7, 2.0),
    DEXHAND_STATE_TOPIC: (8.9, 2.0),
    DEXHAND_CMD_TOPIC: (15.3, 2.0),
    GRIPPER_STATE_TOPIC: (9.7, 2.0),
    GRIPPER_CMD_TOPIC: (16.1, 2.0),
    ARM_TRAJ_SYNCED_TOPIC: (5.3, 1.0),
    CMD_POSE_TOPIC: (11.9, 2.0),
    **{CAMERA_TOPICS[c]: (4.1 + 11.0 * i, 3.0) for i, c in enumerate(CAMERAS)},
    **{DEPTH_TOPICS[c]: (6.4 + 11.0 * i, 3.0) for i, c in enumerate(CAMERAS)},
    **{RAW_DEPTH_TOPICS[c]: (6.4 + 11.0 * i, 3.0) for i, c in enumerate(CAMERAS)},
}
_CALLERIDS: dict[str, str] = {
    SENSORS_TOPIC: "/nodelet_manager",
    JOINT_CMD_TOPIC: "/nodelet_manager",
    ARM_TRAJ_TOPIC: "/ik_ros_uni",
    CLAW_STATE_TOPIC: "/nodelet_manager",
    CLAW_CMD_TOPIC: "/quest3_node",
    DEXHAND_STATE_TOPIC: "/dexhand_node",
    DEXHAND_CMD_TOPIC: "/quest3_node",
    GRIPPER_STATE_TOPIC: "/gripper_node",
    GRIPPER_CMD_TOPIC: "/quest3_node",
    ARM_TRAJ_SYNCED_TOPIC: "/ik_ros_uni",
    CMD_POSE_TOPIC: "/quest3_node",
    **{CAMERA_TOPICS[c]: f"/{c}/realsense2_camera_manager" for c in CAMERAS},
    **{RAW_CAMERA_TOPICS[c]: f"/{c}/realsense2_camera_manager" for c in CAMERAS},
    **{DEPTH_TOPICS[c]: f"/{c}/realsense2_camera_manager" for c in CAMERAS},
    **{RAW_DEPTH_TOPICS[c]: f"/{c}/realsense2_camera_manager" for c in CAMERAS},
}

# --------------------------------------------------------------------------------------------
# Message definitions, as `rosbag record` stores them
# --------------------------------------------------------------------------------------------

# kuavo_msgs .msg files byte for byte (kuavo-ros-opensource, src/kuavo_msgs/msg/), with their
# trailing spaces and missing final newlines.
KUAVO_MSG_TEXTS: dict[str, str] = {
    "kuavo_msgs/endEffectorData": ("string[] name  \nfloat64[] position\nfloat64[] velocity  \nfloat64[] effort\n"),
    "kuavo_msgs/imuData": (
        "geometry_msgs/Vector3 gyro    #陀螺仪数据\n"
        "geometry_msgs/Vector3 acc     #加速计数据\n"
        "geometry_msgs/Vector3 free_acc    #无重力加速度数据\n"
        "geometry_msgs/Quaternion quat    #四元数数据\n"
    ),
    "kuavo_msgs/jointCmd": (
        "std_msgs/Header header\n"
        "float64[] joint_q  \n"
        "float64[] joint_v  \n"
        "float64[] tau  \n"
        "float64[] tau_max\n"
        "float64[] tau_ratio  \n"
        "float64[] joint_kp  \n"
        "float64[] joint_kd\n"
        "int32[] control_modes  \n"
    ),
    "kuavo_msgs/jointData": (
        "float64[] joint_q  \nfloat64[] joint_v  \nfloat64[] joint_vd    \nfloat64[] joint_torque  \n"
    ),
    "kuavo_msgs/lejuClawCommand": (
        "# kuavo_msgs/endEffectorData:\n"
        "# string[] name  \n"
        "# float64[] position\n"
        "# float64[] velocity  \n"
        "# float64[] effort\n"
        "# \n"
        "# ** For the Topic Notes **\n"
        "# \n"
        "# name     : 'left_claw' , 'right_claw'\n"
        "# position : 0 ~ 100, the percentage of the claw's opening angle\n"
        "#            0: closed, 100: open   \n"
        "# velocity : 0 ~ 100, if size is 0, will use default `50.0`.\n"
        "# effort   : torque/current, better 1A ~ 2A, if size is 0, will use default `1.0`.\n"
        "# \n"
        "# ** Example **\n"
        "# data:\n"
        "#   - name: ['left_claw', 'right_claw']\n"
        "#     position: [20.0, 20.0]\n"
        "#     velocity: [50.0, 50.0]\n"
        "#     effort: [1.0, 1.0]\n"
        "\n"
        "std_msgs/Header header\n"
        "kuavo_msgs/endEffectorData data"
    ),
    "kuavo_msgs/lejuClawState": (
        "std_msgs/Header header\n"
        "\n"
        "int8 kError = -1                \n"
        "int8 kUnknown = 0              \n"
        "int8 kMoving = 1              \n"
        "int8 kReached = 2            \n"
        "int8 kGrabbed = 3         \n"
        "\n"
        "int8[] state # 0:; left; 1: right\n"
        "kuavo_msgs/endEffectorData data"
    ),
    "kuavo_msgs/sensorsData": (
        "std_msgs/Header header\n"
        "time sensor_time\n"
        "kuavo_msgs/jointData joint_data\n"
        "kuavo_msgs/imuData imu_data\n"
        "kuavo_msgs/endEffectorData end_effector_data\n"
    ),
}

# kuavo_msgs types of the other end effectors (not vendored under tests/data/kuavo_msgs).
KUAVO_HAND_MSG_TEXTS: dict[str, str] = {
    "kuavo_msgs/robotHandPosition": "Header header\nuint8[] left_hand_position\nuint8[] right_hand_position\n",
}

# Standard messages as ROS Noetic bags carry them (Header, Vector3, Quaternion and JointState
# copied from a real Kuavo bag; CompressedImage is common_msgs 1.13.1's text).
STD_MSG_TEXTS: dict[str, str] = {
    "std_msgs/Header": (
        "# Standard metadata for higher-level stamped data types.\n"
        "# This is generally used to communicate timestamped data \n"
        "# in a particular coordinate frame.\n"
        "# \n"
        "# sequence ID: consecutively increasing ID \n"
        "uint32 seq\n"
        "#Two-integer timestamp that is expressed as:\n"
        "# * stamp.sec: seconds (stamp_secs) since epoch (in Python the variable is called"
        " 'secs')\n"
        "# * stamp.nsec: nanoseconds since stamp_secs (in Python the variable is called"
        " 'nsecs')\n"
        "# time-handling sugar is provided by the client library\n"
        "time stamp\n"
        "#Frame this data is associated with\n"
        "string frame_id\n"
    ),
    "geometry_msgs/Vector3": (
        "# This represents a vector in free space. \n"
        "# It is only meant to represent a direction. Therefore, it does not\n"
        "# make sense to apply a translation to it (e.g., when applying a \n"
        "# generic rigid transformation to a Vector3, tf2 will only apply the\n"
        "# rotation). If you want your data to be translatable too, use the\n"
        "# geometry_msgs/Point message instead.\n"
        "\n"
        "float64 x\n"
        "float64 y\n"
        "float64 z"
    ),
    "geometry_msgs/Quaternion": (
        "# This represents an orientation in free space in quaternion form.\n"
        "\n"
        "float64 x\n"
        "float64 y\n"
        "float64 z\n"
        "float64 w\n"
    ),
    "sensor_msgs/JointState": (
        "# This is a message that holds data to describe the state of a set of torque"
        " controlled joints. \n"
        "#\n"
        "# The state of each joint (revolute or prismatic) is defined by:\n"
        "#  * the position of the joint (rad or m),\n"
        "#  * the velocity of the joint (rad/s or m/s) and \n"
        "#  * the effort that is applied in the joint (Nm or N).\n"
        "#\n"
        "# Each joint is uniquely identified by its name\n"
        "# The header specifies the time at which the joint states were recorded. All the"
        " joint states\n"
        "# in one message have to be recorded at the same time.\n"
        "#\n"
        "# This message consists of a multiple arrays, one for each part of the joint"
        " state. \n"
        "# The goal is to make each of the fields optional. When e.g. your joints have no\n"
        "# effort associated with them, you can leave the effort array empty. \n"
        "#\n"
        "# All arrays in this message should have the same size, or be empty.\n"
        "# This is the only way to uniquely associate the joint name with the correct\n"
        "# states.\n"
        "\n"
        "\n"
        "Header header\n"
        "\n"
        "string[] name\n"
        "float64[] position\n"
        "float64[] velocity\n"
        "float64[] effort\n"
    ),
    "sensor_msgs/CompressedImage": (
        "# This message contains a compressed image\n"
        "\n"
        "Header header        # Header timestamp should be acquisition time of image\n"
        "                     # Header frame_id should be optical frame of camera\n"
        "                     # origin of frame should be optical center of camera\n"
        "                     # +x should point to the right in the image\n"
        "                     # +y should point down in the image\n"
        "                     # +z should point into to plane of the image\n"
        "\n"
        "string format        # Specifies the format of the data\n"
        "                     #   Acceptable values:\n"
        "                     #     jpeg, png\n"
        "uint8[] data         # Compressed image buffer\n"
    ),
    "sensor_msgs/Image": (
        "# This message contains an uncompressed image\n"
        "# (0, 0) is at top-left corner of image\n"
        "#\n"
        "\n"
        "Header header        # Header timestamp should be acquisition time of image\n"
        "                     # Header frame_id should be optical frame of camera\n"
        "                     # origin of frame should be optical center of camera\n"
        "                     # +x should point to the right in the image\n"
        "                     # +y should point down in the image\n"
        "                     # +z should point into to plane of the image\n"
        "                     # If the frame_id here and the frame_id of the CameraInfo\n"
        "                     # message associated with the image conflict\n"
        "                     # the behavior is undefined\n"
        "\n"
        "uint32 height         # image height, that is, number of rows\n"
        "uint32 width          # image width, that is, number of columns\n"
        "\n"
        "# The legal values for encoding are in file src/image_encodings.cpp\n"
        "# If you want to standardize a new string format, join\n"
        "# ros-users@lists.sourceforge.net and send an email proposing a new encoding.\n"
        "\n"
        "string encoding       # Encoding of pixels -- channel meaning, ordering, size\n"
        "                      # taken from the list of strings in include/sensor_msgs/image_encodings.h\n"
        "\n"
        "uint8 is_bigendian    # is this data bigendian?\n"
        "uint32 step           # Full row length in bytes\n"
        "uint8[] data          # actual matrix data, size is (step * rows)\n"
    ),
    # common_msgs (Noetic) geometry_msgs, for /cmd_pose_world_synced.
    "geometry_msgs/Twist": (
        "# This expresses velocity in free space broken into its linear and angular parts.\n"
        "Vector3  linear\n"
        "Vector3  angular\n"
    ),
    "geometry_msgs/TwistStamped": (
        "# A twist with reference coordinate frame and timestamp\nHeader header\nTwist twist\n"
    ),
}
MSG_TEXTS: dict[str, str] = {**STD_MSG_TEXTS, **KUAVO_MSG_TEXTS, **KUAVO_HAND_MSG_TEXTS}

_BUILTIN_TYPES = frozenset(
    {"bool", "byte", "char", "string", "time", "duration", "float32", "float64"}
    | {f"{sign}int{bits}" for sign in ("", "u") for bits in (8, 16, 32, 64)}
)


def _field_types(name: str, texts: Mapping[str, str]) -> list[str]:
    """Message types of the fields of ``pkg/Type`` (constants and builtins skipped)."""
    package = name.split("/")[0]
    types = []
    for line in texts[name].splitlines():
        statement = line.split("#", 1)[0].strip()
        if not statement or "=" in statement:  # blank, comment or constant
            continue
        typ = statement.split()[0].split("[")[0]
        if typ in _BUILTIN_TYPES:
            continue
        if typ == "Header":
            typ = "std_msgs/Header"
        elif "/" not in typ:
            typ = f"{package}/{typ}"
        types.append(typ)
    return types


def _dependencies(name: str, texts: Mapping[str, str]) -> list[str]:
    """All dependencies, depth first in order of first appearance (genmsg's order)."""
    result: list[str] = []
    for dep in _field_types(name, texts):
        for item in (dep, *_dependencies(dep, texts)):
            if item not in result:
                result.append(item)
    return result


def full_text(msgtype: str, texts: Mapping[str, str] = MSG_TEXTS) -> str:
    """genmsg's full definition of ``pkg/msg/Type`` (what ``rosbag record`` stores).

    The type's own .msg text, then for each dependency ``"=" * 80``, ``MSG: pkg/Type`` and its
    text, each piece followed by a newline, without the very last newline.
    """
    name = msgtype.replace("/msg/", "/")
    parts = [texts[name] + "\n"]
    for dep in _dependencies(name, texts):
        parts.append("=" * 80 + "\n" + f"MSG: {dep}\n" + texts[dep] + "\n")
    return "".join(parts)[:-1]


BAG_MSGTYPES = (
    SENSORS_TYPE,
    JOINT_CMD_TYPE,
    CLAW_STATE_TYPE,
    CLAW_CMD_TYPE,
    JOINT_STATE_TYPE,
    COMPRESSED_IMAGE_TYPE,
    IMAGE_TYPE,
    HAND_POSITION_TYPE,
    TWIST_STAMPED_TYPE,
)
MSG_DEFINITIONS: dict[str, str] = {msgtype: full_text(msgtype) for msgtype in BAG_MSGTYPES}


@cache
def typestore() -> Typestore:
    """A rosbags typestore that (de)serializes every type in the sample bags correctly."""
    return typestore_for(MSG_DEFINITIONS)


def md5sum(msgtype: str) -> str:
    """genmsg md5 of a message type in the sample bags."""
    return typestore().generate_msgdef(msgtype)[1]


# --------------------------------------------------------------------------------------------
# Values as functions of the record time t (seconds since start_ns), vectorised over t
# --------------------------------------------------------------------------------------------

_J = np.arange(N_JOINTS, dtype=np.float64)
_CLAW_PHASE = np.array([0.0, 1.3])


def _col(t: float | np.ndarray) -> np.ndarray:
    return np.asarray(t, dtype=np.float64)[..., None]


def joint_q_at(t: float | np.ndarray) -> np.ndarray:
    """``/sensors_data_raw`` ``joint_data.joint_q`` (28 radians) at record time ``t``."""
    t = _col(t)
    return 0.05 * _J - 0.6 + 0.5 * np.sin(0.7 * t + _J) + 0.05 * np.sin(40.0 * t + 0.5 * _J)


def joint_v_at(t: float | np.ndarray) -> np.ndarray:
    """``joint_data.joint_v``: the time derivative of ``joint_q_at``."""
    t = _col(t)
    return 0.35 * np.cos(0.7 * t + _J) + 2.0 * np.cos(40.0 * t + 0.5 * _J)


def joint_vd_at(t: float | np.ndarray) -> np.ndarray:
    """``joint_data.joint_vd``: the time derivative of ``joint_v_at``."""
    t = _col(t)
    return -0.245 * np.sin(0.7 * t + _J) - 80.0 * np.sin(40.0 * t + 0.5 * _J)


def joint_torque_at(t: float | np.ndarray) -> np.ndarray:
    """``joint_data.joint_torque`` (28, Nm)."""
    t = _col(t)
    return 5.0 * np.sin(0.3 * t + 0.7 * _J) + 0.5 * np.cos(9.0 * t + _J)


def imu_at(t: float | np.ndarray) -> np.ndarray:
    """``imu_data`` as 13 values: gyro xyz, acc xyz, free_acc xyz, quat xyzw."""
    t = np.asarray(t, dtype=np.float64)
    angle = 0.05 * np.sin(0.2 * t)
    free_acc = np.stack([0.3 * np.sin(0.5 * t), 0.2 * np.cos(0.4 * t), 0.05 * np.sin(3.0 * t)])
    gravity = np.stack([np.zeros_like(t), np.zeros_like(t), np.full_like(t, 9.81)])
    values = [
        0.01 * np.sin(1.1 * t),
        0.01 * np.cos(0.9 * t),
        0.002 * np.sin(2.3 * t),
        *(free_acc + gravity),
        *free_acc,
        np.zeros_like(t),
        np.sin(angle / 2),
        np.zeros_like(t),
        np.cos(angle / 2),
    ]
    return np.stack(values, axis=-1)


def joint_cmd_at(t: float | np.ndarray) -> np.ndarray:
    """``/joint_cmd`` ``joint_q`` (28 radians): the state 30 ms ahead, plus 0.02."""
    return joint_q_at(np.asarray(t, dtype=np.float64) + 0.03) + 0.02


def joint_cmd_v_at(t: float | np.ndarray) -> np.ndarray:
    """``/joint_cmd`` ``joint_v``."""
    return joint_v_at(np.asarray(t, dtype=np.float64) + 0.03)


def joint_cmd_tau_at(t: float | np.ndarray) -> np.ndarray:
    """``/joint_cmd`` ``tau``."""
    return joint_torque_at(np.asarray(t, dtype=np.float64) + 0.03)


def arm_traj_deg_at(t: float | np.ndarray) -> np.ndarray:
    """``/kuavo_arm_traj`` ``position`` (14 arm joints, DEGREES)."""
    q = joint_q_at(np.asarray(t, dtype=np.float64) + 0.1)[..., 12:26]
    return np.degrees(q) + 1.5


def claw_state_at(t: float | np.ndarray) -> np.ndarray:
    """``/leju_claw_state`` ``data.position`` (left, right; 0..100)."""
    t = _col(t)
    return 50.0 + 40.0 * np.sin(0.9 * t + _CLAW_PHASE) + 5.0 * np.sin(17.0 * t + 2 * _CLAW_PHASE)


def claw_status_at(t: float | np.ndarray) -> np.ndarray:
    """``/leju_claw_state`` ``state`` (int8 x2): kMoving (1) or kReached (2)."""
    moving = np.abs(np.cos(0.9 * _col(t) + _CLAW_PHASE)) > 0.2
    return np.where(moving, 1, 2).astype(np.int8)


def claw_cmd_at(t: float | np.ndarray) -> np.ndarray:
    """``/leju_claw_command`` ``data.position`` (left, right; 0..100)."""
    t = _col(t)
    return 50.0 + 45.0 * np.sin(0.9 * t + 0.15 + _CLAW_PHASE) + 3.0 * np.cos(23.0 * t)


_DEX_PHASE = 0.45 * np.arange(2 * N_DEX, dtype=np.float64)


def dexhand_state_at(t: float | np.ndarray) -> np.ndarray:
    """``/dexhand/state`` ``position`` (12: left fingers 1..6, then right; 0..100)."""
    t = _col(t)
    return 50.0 + 40.0 * np.sin(0.8 * t + _DEX_PHASE) + 5.0 * np.sin(13.0 * t + 2 * _DEX_PHASE)


def dexhand_cmd_at(t: float | np.ndarray) -> np.ndarray:
    """``/control_robot_hand_position`` (12 uint8: ``left_hand_position`` then ``right_...``; 0..100)."""
    t = _col(t)
    return np.rint(50.0 + 45.0 * np.sin(0.8 * t + 0.15 + _DEX_PHASE)).astype(np.uint8)


def gripper_state_at(t: float | np.ndarray) -> np.ndarray:
    """``/gripper/state`` ``position`` (left, right; 0..0.8)."""
    t = _col(t)
    return 0.4 + 0.35 * np.sin(0.7 * t + _CLAW_PHASE) + 0.03 * np.sin(11.0 * t + 2 * _CLAW_PHASE)


def gripper_cmd_at(t: float | np.ndarray) -> np.ndarray:
    """``/gripper/command`` ``position`` (left, right; 0..255 as float64)."""
    t = _col(t)
    return 127.5 + 120.0 * np.sin(0.7 * t + 0.15 + _CLAW_PHASE) + 5.0 * np.cos(19.0 * t)


def eef_levels_at(eef_type: str, which: str, t: float | np.ndarray) -> np.ndarray:
    """Stepped effector values (``eef_levels``): hand h, component k (finger for qiangnao, else 0)
    at ``t`` is ``levels[(floor(t / LEVEL_HOLD_S) + h + k) % len(levels)]``.

    Shape (..., 12) for qiangnao (left fingers, then right), else (..., 2); uint8 for the
    qiangnao command, else float64. ``which``: "state" or "command".
    """
    levels = np.asarray(EEF_LEVELS[(eef_type, which)])
    per_hand = N_DEX if eef_type == "qiangnao" else 1
    hand = np.repeat(np.arange(2), per_hand)
    component = np.tile(np.arange(per_hand), 2)
    step = np.floor(np.asarray(t, dtype=np.float64) / LEVEL_HOLD_S).astype(np.int64)[..., None]
    values = levels[(step + hand + component) % len(levels)]
    return values.astype(np.uint8 if (eef_type, which) == ("qiangnao", "command") else np.float64)


def arm_traj_synced_deg_at(t: float | np.ndarray) -> np.ndarray:
    """``/kuavo_arm_traj_synced`` ``position`` (14 arm joints, DEGREES)."""
    q = joint_q_at(np.asarray(t, dtype=np.float64) + 0.05)[..., 12:26]
    return np.degrees(q) - 0.7


def cmd_pose_at(t: float | np.ndarray) -> np.ndarray:
    """``/cmd_pose_world_synced`` ``twist``: linear x, y, z, angular x, y, z."""
    t = np.asarray(t, dtype=np.float64)
    zeros = np.zeros_like(t)
    values = [0.2 * np.sin(0.3 * t), 0.1 * np.cos(0.2 * t), np.full_like(t, 0.01), zeros, zeros, 0.3 * np.sin(0.25 * t)]
    return np.stack(values, axis=-1)


# --------------------------------------------------------------------------------------------
# Image codes
# --------------------------------------------------------------------------------------------


def _crc6(payload: int) -> int:
    """CRC-6 (x^6 + x + 1) of the 26 payload bits, MSB first, xor'ed with a constant."""
    crc = 0
    for i in range(_FRAME_BITS + _CAMERA_BITS - 1, -1, -1):
        top = (crc >> 5) & 1
        crc = (crc << 1) & 0x3F
        if top ^ ((payload >> i) & 1):
            crc ^= 0x03
    return crc ^ _CHECK_XOR


def _code_bits(camera_index: int, frame_number: int) -> np.ndarray:
    """The 32 cell values (row-major) encoding (camera, frame number)."""
    if not 0 <= camera_index < (1 << _CAMERA_BITS):
        raise ValueError(f"camera index {camera_index} out of range 0..3")
    if not 0 <= frame_number <= MAX_FRAME_NUMBER:
        raise ValueError(f"frame number {frame_number} out of range 0..{MAX_FRAME_NUMBER}")
    payload = frame_number | (camera_index << _FRAME_BITS)
    word = payload | (_crc6(payload) << (_FRAME_BITS + _CAMERA_BITS))
    return ((word >> np.arange(CODE_ROWS * CODE_COLS)) & 1).astype(bool)


def _decode_bits(bits: np.ndarray) -> tuple[int, int]:
    word = int(np.sum(bits.astype(np.int64) << np.arange(CODE_ROWS * CODE_COLS)))
    payload = word & ((1 << (_FRAME_BITS + _CAMERA_BITS)) - 1)
    if word >> (_FRAME_BITS + _CAMERA_BITS) != _crc6(payload):
        raise ValueError("no valid frame code in image (check bits do not match)")
    return payload >> _FRAME_BITS, payload & MAX_FRAME_NUMBER


def _cell_means(plane: np.ndarray) -> np.ndarray:
    """Mean of the central half (in each direction) of every code cell, row-major."""
    height, width = plane.shape
    means = np.empty(CODE_ROWS * CODE_COLS)
    for row in range(CODE_ROWS):
        y0 = int((row + 0.25) * height / CODE_ROWS)
        y1 = max(y0 + 1, int(np.ceil((row + 0.75) * height / CODE_ROWS)))
        for col in range(CODE_COLS):
            x0 = int((col + 0.25) * width / CODE_COLS)
            x1 = max(x0 + 1, int(np.ceil((col + 0.75) * width / CODE_COLS)))
            means[row * CODE_COLS + col] = plane[y0:y1, x0:x1].mean()
    return means


def read_frame_code(rgb: np.ndarray) -> tuple[int, int]:
    """(camera index, frame number) of a sample colour image, any size, after lossy coding.

    Raises:
        ValueError: the image carries no valid code.
    """
    rgb = np.asarray(rgb)
    if rgb.ndim != 3 or rgb.shape[2] < 3 or rgb.shape[0] < CODE_ROWS or rgb.shape[1] < CODE_COLS:
        raise ValueError(f"expected an HxWx3 image of at least 8x4 pixels, got {rgb.shape}")
    rgb = rgb[..., :3].astype(np.float32)
    luma = rgb @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
    return _decode_bits(_cell_means(luma) > (_DARK_Y + _BRIGHT_Y) / 2)


def read_depth_code(depth_mm: np.ndarray) -> tuple[int, int]:
    """(camera index, frame number) of a sample depth image (uint16 millimetres)."""
    depth_mm = np.asarray(depth_mm)
    if depth_mm.ndim != 2:
        raise ValueError(f"expected an HxW depth image, got {depth_mm.shape}")
    threshold = (_DEPTH_NEAR_MM + _DEPTH_FAR_MM + 66) / 2
    return _decode_bits(_cell_means(depth_mm.astype(np.float32)) > threshold)


@cache
def _cell_map(width: int, height: int) -> np.ndarray:
    """Cell index (row-major) of every pixel, int8 (height, width)."""
    rows = (np.arange(height) * CODE_ROWS // height).astype(np.int8)
    cols = (np.arange(width) * CODE_COLS // width).astype(np.int8)
    cells = rows[:, None] * CODE_COLS + cols[None, :]
    cells.flags.writeable = False
    return cells


@cache
def _depth_base(width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
    y, x = np.mgrid[0:height, 0:width].astype(np.uint32)
    ramp = ((3 * x + 2 * y) // 4).astype(np.int64)
    hashed = x * np.uint32(0x9E3779B1) ^ y * np.uint32(0x85EBCA77)
    for arr in (ramp, hashed):
        arr.flags.writeable = False
    return ramp, hashed


def expected_depth_mm(camera_index: int, frame_number: int, width: int, height: int) -> np.ndarray:
    """The depth image (uint16 mm, 450..1216) of frame ``frame_number`` of a camera.

    Cells of the code grid are near (450 mm) or far (1150 mm), plus a sloped sawtooth ramp
    (0..63 mm) and pseudo-random sensor noise (0..3 mm), all functions of the arguments.
    """
    bits = _code_bits(camera_index, frame_number)
    cells = _cell_map(width, height)
    ramp, hashed = _depth_base(width, height)
    base = np.where(bits, _DEPTH_FAR_MM, _DEPTH_NEAR_MM).astype(np.uint16)[cells]
    ramp = ((ramp + 7 * frame_number + 31 * camera_index) & 63).astype(np.uint16)
    key = np.uint32((frame_number * 0xC2B2AE3D + camera_index * 0x27D4EB2F) & 0xFFFFFFFF)
    noise = (((hashed ^ key) * np.uint32(0x165667B1)) >> np.uint32(30)).astype(np.uint16)
    return base + ramp + noise


@dataclass(frozen=True)
class _Textures:
    """Pre-generated frames minus their code: dark and bright luma planes, chroma planes."""

    dark: np.ndarray  # (n, h, w) uint8
    bright: np.ndarray  # (n, h, w) uint8
    chroma: np.ndarray  # (n, h * w // 2) uint8, U plane then V plane


@cache
def _textures(width: int, height: int, seed: int) -> _Textures:
    rng = np.random.default_rng([seed, width, height, 0x7E7])
    cells = _cell_map(width, height)
    n_cells = CODE_ROWS * CODE_COLS

    def noise(h: int, w: int, scales: Sequence[tuple[int, float]]) -> np.ndarray:
        out = np.zeros((h, w), np.float32)
        for scale, amplitude in scales:
            coarse = rng.standard_normal((-(-h // scale), -(-w // scale))).astype(np.float32)
            out += amplitude * np.repeat(np.repeat(coarse, scale, 0), scale, 1)[:h, :w]
        return out

    dark, bright, chroma = [], [], []
    for _ in range(_N_TEXTURES):
        luma = noise(height, width, [(1, 9.0), (2, 7.0), (4, 7.0), (16, 9.0)])
        # Zero mean in every cell: each cell's mean luma is exactly its code level.
        sums = np.bincount(cells.ravel(), weights=luma.ravel(), minlength=n_cells)
        counts = np.bincount(cells.ravel(), minlength=n_cells)
        luma -= (sums / counts).astype(np.float32)[cells]
        dark.append(np.clip(np.rint(luma + _DARK_Y), 0, 255).astype(np.uint8))
        bright.append(np.clip(np.rint(luma + _BRIGHT_Y), 0, 255).astype(np.uint8))
        uv = noise(height, width // 2, [(2, 4.0), (8, 8.0), (32, 10.0)])
        chroma.append(np.clip(np.rint(uv + 128), 0, 255).astype(np.uint8).ravel())
    return _Textures(np.stack(dark), np.stack(bright), np.stack(chroma))


@cache
def _cell_slices(width: int, height: int) -> tuple[tuple[slice, slice], ...]:
    """(rows, columns) of every code cell, row-major, as ``_cell_map`` draws them."""
    rows = np.arange(height) * CODE_ROWS // height
    cols = np.arange(width) * CODE_COLS // width
    row_edges = np.searchsorted(rows, np.arange(CODE_ROWS + 1)).tolist()
    col_edges = np.searchsorted(cols, np.arange(CODE_COLS + 1)).tolist()
    return tuple(
        (slice(row_edges[r], row_edges[r + 1]), slice(col_edges[c], col_edges[c + 1]))
        for r in range(CODE_ROWS)
        for c in range(CODE_COLS)
    )


def _noise_frame_yuv(camera_index: int, frame_number: int, width: int, height: int, seed: int = 0) -> np.ndarray:
    """The "noise" content: a different random texture every frame (no temporal coherence)."""
    tex = _textures(width, height, seed)
    which = (frame_number + 2 * camera_index) % _N_TEXTURES
    bits = _code_bits(camera_index, frame_number).tolist()
    out = np.empty((height * 3 // 2, width), np.uint8)
    luma, dark, bright = out[:height], tex.dark[which], tex.bright[which]
    for bit, (rows, cols) in zip(bits, _cell_slices(width, height), strict=True):
        luma[rows, cols] = (bright if bit else dark)[rows, cols]
    out[height:] = tex.chroma[which].reshape(-1, width)
    return out


@dataclass(frozen=True)
class _Scene:
    """The "scene" content: a smooth static scene larger than the frame, which each camera pans
    over, plus per-frame sensor grain. Like real footage it is coherent in time, so a video
    encoder predicts much of a frame from its neighbours; the "noise" content, a different random
    texture every frame, makes SVT-AV1 ~4x slower than this."""

    luma: np.ndarray  # (height + PAN, width + PAN) float32, zero-mean detail
    chroma: np.ndarray  # (2, (height + PAN) // 2, (width + PAN) // 2) uint8, U and V
    grain: np.ndarray  # (n, height, width) float32 sensor noise


_PAN = 96  # how far (pixels) the cameras pan over the scene, back and forth
_FINE, _GRAIN = 2.0, 3.0  # amplitude (luma levels) of the scene's fine texture and of the sensor grain


def _smooth_noise(rng: np.random.Generator, height: int, width: int, scales: Sequence[tuple[int, float]]) -> np.ndarray:
    """Sum of bilinearly upsampled Gaussian noise fields: smooth blobs of the given sizes."""
    out = np.zeros((height, width), np.float32)
    for scale, amplitude in scales:
        coarse = rng.standard_normal((height // scale + 2, width // scale + 2)).astype(np.float32)
        ys, xs = np.arange(height) / scale, np.arange(width) / scale
        y0, x0 = ys.astype(int), xs.astype(int)
        fy, fx = (ys - y0)[:, None].astype(np.float32), (xs - x0)[None, :].astype(np.float32)
        top = coarse[y0][:, x0] * (1 - fx) + coarse[y0][:, x0 + 1] * fx
        bottom = coarse[y0 + 1][:, x0] * (1 - fx) + coarse[y0 + 1][:, x0 + 1] * fx
        out += amplitude * (top * (1 - fy) + bottom * fy)
    return out


@cache
def _scene(width: int, height: int, seed: int) -> _Scene:
    rng = np.random.default_rng([seed, width, height, 0x7E7])
    big_h, big_w = height + _PAN, width + _PAN
    luma = _smooth_noise(rng, big_h, big_w, [(8, 6.0), (32, 14.0), (128, 20.0)])
    luma += _FINE * rng.standard_normal((big_h, big_w)).astype(np.float32)  # fine static texture
    chroma = np.stack([_smooth_noise(rng, big_h // 2, big_w // 2, [(16, 6.0), (64, 12.0)]) for _ in range(2)])
    grain = _GRAIN * rng.standard_normal((_N_TEXTURES, height, width)).astype(np.float32)
    for arr in (luma, chroma, grain):
        arr.flags.writeable = False
    return _Scene(luma, np.clip(np.rint(chroma + 128), 0, 255).astype(np.uint8), grain)


def _pan_offset(camera_index: int, frame_number: int) -> tuple[int, int]:
    """(row, column) of the frame's window in the scene: a slow back-and-forth pan, even
    offsets so that the half-resolution chroma moves with the luma."""
    step = (frame_number + 40 * camera_index) % _PAN
    step = step if step < _PAN // 2 else _PAN - step
    return 2 * (step // 3), 2 * step


def frame_yuv(
    camera_index: int, frame_number: int, width: int, height: int, seed: int = 0, content: str = "noise"
) -> np.ndarray:
    """Frame ``frame_number`` of a camera as a yuvj420p array ((height * 3 // 2, width)).

    ``content``: "noise" (default, for tests) or "scene" (camera-like, for benchmarks); see CONTENTS.
    """
    if content == "noise":
        return _noise_frame_yuv(camera_index, frame_number, width, height, seed)
    if content != "scene":
        raise ValueError(f"content must be one of {CONTENTS}, not {content!r}")
    scene = _scene(width, height, seed)
    row, col = _pan_offset(camera_index, frame_number)
    luma = (
        scene.luma[row : row + height, col : col + width] + scene.grain[(frame_number + 2 * camera_index) % _N_TEXTURES]
    )
    # Zero mean in every cell: each cell's mean luma is exactly its code level.
    cells = _cell_map(width, height)
    sums = np.bincount(cells.ravel(), weights=luma.ravel(), minlength=CODE_ROWS * CODE_COLS)
    luma -= (sums / _cell_sizes(width, height)).astype(np.float32)[cells]
    levels = np.where(_code_bits(camera_index, frame_number), _BRIGHT_Y, _DARK_Y).astype(np.float32)
    out = np.empty((height * 3 // 2, width), np.uint8)
    out[:height] = np.clip(np.rint(luma + levels[cells]), 0, 255)
    half_h, half_w = height // 2, width // 2
    window = scene.chroma[:, row // 2 : row // 2 + half_h, col // 2 : col // 2 + half_w]
    out[height:] = window.reshape(-1, width)
    return out


@cache
def _cell_sizes(width: int, height: int) -> np.ndarray:
    return np.bincount(_cell_map(width, height).ravel(), minlength=CODE_ROWS * CODE_COLS)


def frame_rgb(
    camera_index: int, frame_number: int, width: int, height: int, seed: int = 0, content: str = "noise"
) -> np.ndarray:
    """Frame ``frame_number`` of a camera as RGB, before JPEG compression."""
    yuv = frame_yuv(camera_index, frame_number, width, height, seed, content)
    frame = av.VideoFrame.from_ndarray(yuv, format="yuvj420p")
    return frame.to_ndarray(format="rgb24")


class _JpegEncoder:
    def __init__(self, width: int, height: int, qscale: int = _JPEG_QSCALE) -> None:
        ctx = av.CodecContext.create("mjpeg", "w")
        ctx.width, ctx.height = width, height
        ctx.pix_fmt = "yuvj420p"
        ctx.time_base = Fraction(1, CAMERA_HZ)
        ctx.qmin = ctx.qmax = qscale
        ctx.open()
        self.ctx = ctx
        self.pts = 0

    def encode(self, yuv: np.ndarray) -> bytes:
        frame = av.VideoFrame.from_ndarray(yuv, format="yuvj420p")
        frame.pts = self.pts
        self.pts += 1
        return b"".join(bytes(packet) for packet in self.ctx.encode(frame))


class _RgbPngEncoder:
    """Colour PNG (rgb24), as image_transport's png plugin stores a colour camera."""

    def __init__(self, width: int, height: int) -> None:
        ctx = av.CodecContext.create("png", "w")
        ctx.width, ctx.height = width, height
        ctx.pix_fmt = "rgb24"
        ctx.time_base = Fraction(1, CAMERA_HZ)
        ctx.options = {"compression_level": "1"}
        ctx.open()
        self.ctx = ctx
        self.pts = 0

    def encode(self, rgb: np.ndarray) -> bytes:
        frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
        frame.pts = self.pts
        self.pts += 1
        return b"".join(bytes(packet) for packet in self.ctx.encode(frame))


class _PngEncoder:
    def __init__(self, width: int, height: int) -> None:
        ctx = av.CodecContext.create("png", "w")
        ctx.width, ctx.height = width, height
        ctx.pix_fmt = "gray16be"
        ctx.time_base = Fraction(1, CAMERA_HZ)
        ctx.options = {"compression_level": "1", "pred": "up"}  # fast, ~180 KB at 640x480
        ctx.open()
        self.ctx = ctx
        self.pts = 0

    def encode(self, depth_mm: np.ndarray) -> bytes:
        frame = av.VideoFrame.from_ndarray(depth_mm, format="gray16le").reformat(format="gray16be")
        frame.pts = self.pts
        self.pts += 1
        return b"".join(bytes(packet) for packet in self.ctx.encode(frame))


# --------------------------------------------------------------------------------------------
# Serialization: whole runs of messages at once, with numpy (ROS1 is little-endian, arrays and
# strings uint32-length-prefixed, time = uint32 sec + uint32 nsec)
# --------------------------------------------------------------------------------------------


def _ros_string(text: str) -> bytes:
    data = text.encode()
    return struct.pack("<I", len(data)) + data


def _ros_strings(texts: Sequence[str]) -> bytes:
    return struct.pack("<I", len(texts)) + b"".join(_ros_string(t) for t in texts)


def _blob(data: bytes) -> np.ndarray:
    return np.frombuffer(data, np.uint8)


def _header_fields(frame_id: str) -> list[tuple]:
    return [
        ("seq", "<u4"),
        ("sec", "<u4"),
        ("nsec", "<u4"),
        ("frame_id", "u1", (len(frame_id) + 4,)),
    ]


def _array_field(name: str, dtype: str, n: int) -> list[tuple]:
    return [(f"{name}_len", "<u4"), (name, dtype, (n,))]


def _fill_header(rec: np.ndarray, seq: np.ndarray, stamp_ns: np.ndarray, frame_id: str) -> None:
    rec["seq"] = seq
    rec["sec"] = stamp_ns // 10**9
    rec["nsec"] = stamp_ns % 10**9
    rec["frame_id"] = _blob(_ros_string(frame_id))


def _fill_array(rec: np.ndarray, name: str, values: np.ndarray) -> None:
    rec[f"{name}_len"] = values.shape[-1]
    rec[name] = values


_EEF_NAMES = _ros_strings(CLAW_NAMES)

SENSORS_DTYPE = np.dtype(
    [
        *_header_fields(SENSORS_FRAME_ID),
        ("sensor_sec", "<u4"),
        ("sensor_nsec", "<u4"),
        *_array_field("joint_q", "<f8", N_JOINTS),
        *_array_field("joint_v", "<f8", N_JOINTS),
        *_array_field("joint_vd", "<f8", N_JOINTS),
        *_array_field("joint_torque", "<f8", N_JOINTS),
        ("imu", "<f8", (13,)),
        ("end_effector_data", "<u4", (4,)),  # four empty arrays
    ]
)
JOINT_CMD_DTYPE = np.dtype(
    [
        *_header_fields(""),
        *_array_field("joint_q", "<f8", N_JOINTS),
        *_array_field("joint_v", "<f8", N_JOINTS),
        *_array_field("tau", "<f8", N_JOINTS),
        *_array_field("tau_max", "<f8", N_JOINTS),
        *_array_field("tau_ratio", "<f8", N_JOINTS),
        *_array_field("joint_kp", "<f8", N_JOINTS),
        *_array_field("joint_kd", "<f8", N_JOINTS),
        *_array_field("control_modes", "<i4", N_JOINTS),
    ]
)


def _joint_state_dtype(names: Sequence[str]) -> np.dtype:
    """``sensor_msgs/JointState`` with ``names`` and as many positions, no velocity or effort."""
    return np.dtype(
        [
            *_header_fields(""),
            ("name", "u1", (len(_ros_strings(names)),)),
            *_array_field("position", "<f8", len(names)),
            ("velocity_effort", "<u4", (2,)),  # two empty arrays
        ]
    )


ARM_TRAJ_DTYPE = _joint_state_dtype(ARM_JOINT_NAMES)
DEXHAND_STATE_DTYPE = _joint_state_dtype(DEXHAND_NAMES)
GRIPPER_DTYPE = _joint_state_dtype(GRIPPER_NAMES)
HAND_POSITION_DTYPE = np.dtype(
    [
        *_header_fields(""),
        *_array_field("left_hand_position", "u1", N_DEX),
        *_array_field("right_hand_position", "u1", N_DEX),
    ]
)
TWIST_STAMPED_DTYPE = np.dtype([*_header_fields(""), ("twist", "<f8", (6,))])  # linear xyz, angular xyz
_EEF_FIELDS = [
    ("data_name", "u1", (len(_EEF_NAMES),)),
    *_array_field("position", "<f8", 2),
    *_array_field("velocity", "<f8", 2),
    *_array_field("effort", "<f8", 2),
]
CLAW_STATE_DTYPE = np.dtype([*_header_fields(""), *_array_field("state", "<i1", 2), *_EEF_FIELDS])
CLAW_CMD_DTYPE = np.dtype([*_header_fields(""), *_EEF_FIELDS])


def _seconds(times_ns: np.ndarray, start_ns: int) -> np.ndarray:
    return (times_ns - start_ns) / 1e9


def sensors_records(times_ns: np.ndarray, seq: np.ndarray, start_ns: int) -> np.ndarray:
    """Serialized ``sensorsData`` messages recorded at ``times_ns`` (one record each)."""
    t = _seconds(times_ns, start_ns)
    stamp = times_ns - LATENCY_NS
    rec = np.zeros(len(times_ns), SENSORS_DTYPE)
    _fill_header(rec, seq, stamp, SENSORS_FRAME_ID)
    rec["sensor_sec"] = stamp // 10**9
    rec["sensor_nsec"] = stamp % 10**9
    _fill_array(rec, "joint_q", joint_q_at(t))
    _fill_array(rec, "joint_v", joint_v_at(t))
    _fill_array(rec, "joint_vd", joint_vd_at(t))
    _fill_array(rec, "joint_torque", joint_torque_at(t))
    rec["imu"] = imu_at(t)
    return rec


def joint_cmd_records(times_ns: np.ndarray, seq: np.ndarray, start_ns: int) -> np.ndarray:
    """Serialized ``jointCmd`` messages."""
    t = _seconds(times_ns, start_ns)
    rec = np.zeros(len(times_ns), JOINT_CMD_DTYPE)
    _fill_header(rec, seq, times_ns - LATENCY_NS, "")
    _fill_array(rec, "joint_q", joint_cmd_at(t))
    _fill_array(rec, "joint_v", joint_cmd_v_at(t))
    _fill_array(rec, "tau", joint_cmd_tau_at(t))
    _fill_array(rec, "tau_max", JOINT_CMD_TAU_MAX)
    _fill_array(rec, "tau_ratio", JOINT_CMD_TAU_RATIO)
    _fill_array(rec, "joint_kp", JOINT_CMD_KP)
    _fill_array(rec, "joint_kd", JOINT_CMD_KD)
    _fill_array(rec, "control_modes", JOINT_CMD_CONTROL_MODES)
    return rec


def _joint_state_records(
    times_ns: np.ndarray, seq: np.ndarray, dtype: np.dtype, names: Sequence[str], position: np.ndarray
) -> np.ndarray:
    rec = np.zeros(len(times_ns), dtype)
    _fill_header(rec, seq, times_ns - LATENCY_NS, "")
    rec["name"] = _blob(_ros_strings(names))
    _fill_array(rec, "position", position)
    return rec


def arm_traj_records(times_ns: np.ndarray, seq: np.ndarray, start_ns: int) -> np.ndarray:
    """Serialized ``sensor_msgs/JointState`` messages (arm trajectory, degrees)."""
    position = arm_traj_deg_at(_seconds(times_ns, start_ns))
    return _joint_state_records(times_ns, seq, ARM_TRAJ_DTYPE, ARM_JOINT_NAMES, position)


def arm_traj_synced_records(times_ns: np.ndarray, seq: np.ndarray, start_ns: int) -> np.ndarray:
    """Serialized ``sensor_msgs/JointState`` messages (synced arm trajectory, degrees)."""
    position = arm_traj_synced_deg_at(_seconds(times_ns, start_ns))
    return _joint_state_records(times_ns, seq, ARM_TRAJ_DTYPE, ARM_JOINT_NAMES, position)


def cmd_pose_records(times_ns: np.ndarray, seq: np.ndarray, start_ns: int) -> np.ndarray:
    """Serialized ``geometry_msgs/TwistStamped`` messages (walking command)."""
    rec = np.zeros(len(times_ns), TWIST_STAMPED_DTYPE)
    _fill_header(rec, seq, times_ns - LATENCY_NS, "")
    rec["twist"] = cmd_pose_at(_seconds(times_ns, start_ns))
    return rec


def _fill_eef(rec: np.ndarray, position: np.ndarray) -> None:
    rec["data_name"] = _blob(_EEF_NAMES)
    _fill_array(rec, "position", position)
    _fill_array(rec, "velocity", CLAW_VELOCITY)
    _fill_array(rec, "effort", CLAW_EFFORT)


def claw_state_records(times_ns: np.ndarray, seq: np.ndarray, start_ns: int, levels: bool = False) -> np.ndarray:
    """Serialized ``lejuClawState`` messages (``levels``: positions from ``eef_levels_at``)."""
    t = _seconds(times_ns, start_ns)
    rec = np.zeros(len(times_ns), CLAW_STATE_DTYPE)
    _fill_header(rec, seq, times_ns - LATENCY_NS, "")
    _fill_array(rec, "state", claw_status_at(t))
    _fill_eef(rec, eef_levels_at("leju_claw", "state", t) if levels else claw_state_at(t))
    return rec


def claw_cmd_records(times_ns: np.ndarray, seq: np.ndarray, start_ns: int, levels: bool = False) -> np.ndarray:
    """Serialized ``lejuClawCommand`` messages."""
    t = _seconds(times_ns, start_ns)
    rec = np.zeros(len(times_ns), CLAW_CMD_DTYPE)
    _fill_header(rec, seq, times_ns - LATENCY_NS, "")
    _fill_eef(rec, eef_levels_at("leju_claw", "command", t) if levels else claw_cmd_at(t))
    return rec


def dexhand_state_records(times_ns: np.ndarray, seq: np.ndarray, start_ns: int, levels: bool = False) -> np.ndarray:
    """Serialized ``sensor_msgs/JointState`` messages (qiangnao hands, 12 positions)."""
    t = _seconds(times_ns, start_ns)
    position = eef_levels_at("qiangnao", "state", t) if levels else dexhand_state_at(t)
    return _joint_state_records(times_ns, seq, DEXHAND_STATE_DTYPE, DEXHAND_NAMES, position)


def dexhand_cmd_records(times_ns: np.ndarray, seq: np.ndarray, start_ns: int, levels: bool = False) -> np.ndarray:
    """Serialized ``kuavo_msgs/robotHandPosition`` messages (6 uint8 per hand)."""
    t = _seconds(times_ns, start_ns)
    values = eef_levels_at("qiangnao", "command", t) if levels else dexhand_cmd_at(t)
    rec = np.zeros(len(times_ns), HAND_POSITION_DTYPE)
    _fill_header(rec, seq, times_ns - LATENCY_NS, "")
    _fill_array(rec, "left_hand_position", values[..., :N_DEX])
    _fill_array(rec, "right_hand_position", values[..., N_DEX:])
    return rec


def gripper_state_records(times_ns: np.ndarray, seq: np.ndarray, start_ns: int, levels: bool = False) -> np.ndarray:
    """Serialized ``sensor_msgs/JointState`` messages (rq2f85 grippers, left and right)."""
    t = _seconds(times_ns, start_ns)
    position = eef_levels_at("rq2f85", "state", t) if levels else gripper_state_at(t)
    return _joint_state_records(times_ns, seq, GRIPPER_DTYPE, GRIPPER_NAMES, position)


def gripper_cmd_records(times_ns: np.ndarray, seq: np.ndarray, start_ns: int, levels: bool = False) -> np.ndarray:
    """Serialized ``sensor_msgs/JointState`` messages (rq2f85 commands, 0..255)."""
    t = _seconds(times_ns, start_ns)
    position = eef_levels_at("rq2f85", "command", t) if levels else gripper_cmd_at(t)
    return _joint_state_records(times_ns, seq, GRIPPER_DTYPE, GRIPPER_NAMES, position)


def compressed_image(seq: int, stamp_ns: int, frame_id: str, fmt: str, data: bytes) -> bytes:
    """A serialized ``sensor_msgs/CompressedImage``."""
    sec, nsec = divmod(stamp_ns, 10**9)
    return b"".join(
        (
            struct.pack("<III", seq, sec, nsec),
            _ros_string(frame_id),
            _ros_string(fmt),
            struct.pack("<I", len(data)),
            data,
        )
    )


def raw_image(
    seq: int,
    stamp_ns: int,
    frame_id: str,
    encoding: str,
    pixels: np.ndarray,
    row_padding: int = 0,
    data_bytes: int | None = None,
) -> bytes:
    """A serialized ``sensor_msgs/Image`` of ``pixels`` (HxW or HxWxC uint8); each row is
    followed by ``row_padding`` filler bytes (``step`` = width * channels + row_padding).
    ``data_bytes``: keep only that many bytes of ``data`` (a damaged image)."""
    height, width = pixels.shape[:2]
    rows = pixels.reshape(height, width * (pixels.shape[2] if pixels.ndim == 3 else 1))
    if row_padding:
        rows = np.concatenate([rows, np.full((height, row_padding), 0xA5, np.uint8)], axis=1)
    data = rows.tobytes()[:data_bytes]
    sec, nsec = divmod(stamp_ns, 10**9)
    return b"".join(
        (
            struct.pack("<III", seq, sec, nsec),
            _ros_string(frame_id),
            struct.pack("<II", height, width),
            _ros_string(encoding),
            struct.pack("<BI", 0, rows.shape[1]),
            struct.pack("<I", len(data)),
            data,
        )
    )


def raw_depth_image(
    seq: int, stamp_ns: int, frame_id: str, depth_mm: np.ndarray, encoding: str, bigendian: bool, row_pad: int
) -> bytes:
    """A serialized ``sensor_msgs/Image`` of a depth image: 16UC1 millimetres or 32FC1 metres,
    little- or big-endian, each row followed by ``row_pad`` padding bytes (``step`` says so)."""
    height, width = depth_mm.shape
    if encoding == "16UC1":
        pixels = depth_mm.astype(">u2" if bigendian else "<u2")
    else:  # 32FC1, metres
        pixels = (depth_mm.astype(np.float32) / np.float32(1000)).astype(">f4" if bigendian else "<f4")
    rows = pixels.view(np.uint8).reshape(height, -1)
    if row_pad:
        rows = np.concatenate([rows, np.full((height, row_pad), 0xA5, np.uint8)], axis=1)
    data = rows.tobytes()
    sec, nsec = divmod(stamp_ns, 10**9)
    return b"".join(
        (
            struct.pack("<III", seq, sec, nsec),
            _ros_string(frame_id),
            struct.pack("<II", height, width),
            _ros_string(encoding),
            struct.pack("<BI", int(bigendian), rows.shape[1]),
            struct.pack("<I", len(data)),
            data,
        )
    )


def raw_pixels(encoding: str, camera_index: int, frame_number: int, width: int, height: int, seed: int = 0):
    """The pixels of a colour frame as a raw image of ``encoding`` carries them."""
    if encoding == "mono8":  # the frame's luma: its code reads back from the grey picture
        return frame_yuv(camera_index, frame_number, width, height, seed)[:height]
    rgb = frame_rgb(camera_index, frame_number, width, height, seed)
    return rgb if encoding == "rgb8" else np.ascontiguousarray(rgb[..., ::-1])


# --------------------------------------------------------------------------------------------
# Streams and the bag
# --------------------------------------------------------------------------------------------

_RECORDS: dict[str, Callable[[np.ndarray, np.ndarray, int], np.ndarray]] = {
    SENSORS_TOPIC: sensors_records,
    JOINT_CMD_TOPIC: joint_cmd_records,
    ARM_TRAJ_TOPIC: arm_traj_records,
    CLAW_STATE_TOPIC: claw_state_records,
    CLAW_CMD_TOPIC: claw_cmd_records,
    DEXHAND_STATE_TOPIC: dexhand_state_records,
    DEXHAND_CMD_TOPIC: dexhand_cmd_records,
    GRIPPER_STATE_TOPIC: gripper_state_records,
    GRIPPER_CMD_TOPIC: gripper_cmd_records,
    ARM_TRAJ_SYNCED_TOPIC: arm_traj_synced_records,
    CMD_POSE_TOPIC: cmd_pose_records,
}
_EEF_LEVEL_RECORDS = frozenset(topic for pair in EEF_TOPICS.values() for topic in pair)  # take ``levels``
_RATES: dict[str, int] = {
    SENSORS_TOPIC: SENSORS_HZ,
    JOINT_CMD_TOPIC: JOINT_CMD_HZ,
    ARM_TRAJ_TOPIC: ARM_TRAJ_HZ,
    CLAW_STATE_TOPIC: CLAW_HZ,
    CLAW_CMD_TOPIC: CLAW_HZ,
    DEXHAND_STATE_TOPIC: DEXHAND_HZ,
    DEXHAND_CMD_TOPIC: DEXHAND_HZ,
    GRIPPER_STATE_TOPIC: GRIPPER_HZ,
    GRIPPER_CMD_TOPIC: GRIPPER_HZ,
    ARM_TRAJ_SYNCED_TOPIC: ARM_TRAJ_SYNCED_HZ,
    CMD_POSE_TOPIC: CMD_POSE_HZ,
    **dict.fromkeys(CAMERA_TOPICS.values(), CAMERA_HZ),
    **dict.fromkeys(DEPTH_TOPICS.values(), CAMERA_HZ),
    **dict.fromkeys(RAW_DEPTH_TOPICS.values(), CAMERA_HZ),
}
_MSGTYPES: dict[str, str] = {
    SENSORS_TOPIC: SENSORS_TYPE,
    JOINT_CMD_TOPIC: JOINT_CMD_TYPE,
    ARM_TRAJ_TOPIC: JOINT_STATE_TYPE,
    CLAW_STATE_TOPIC: CLAW_STATE_TYPE,
    CLAW_CMD_TOPIC: CLAW_CMD_TYPE,
    DEXHAND_STATE_TOPIC: JOINT_STATE_TYPE,
    DEXHAND_CMD_TOPIC: HAND_POSITION_TYPE,
    GRIPPER_STATE_TOPIC: JOINT_STATE_TYPE,
    GRIPPER_CMD_TOPIC: JOINT_STATE_TYPE,
    ARM_TRAJ_SYNCED_TOPIC: JOINT_STATE_TYPE,
    CMD_POSE_TOPIC: TWIST_STAMPED_TYPE,
    **dict.fromkeys(CAMERA_TOPICS.values(), COMPRESSED_IMAGE_TYPE),
    **dict.fromkeys(RAW_CAMERA_TOPICS.values(), IMAGE_TYPE),
    **dict.fromkeys(DEPTH_TOPICS.values(), COMPRESSED_IMAGE_TYPE),
    **dict.fromkeys(RAW_DEPTH_TOPICS.values(), IMAGE_TYPE),
}


def lowdim_topics(eef_type: str = "leju_claw", *, synced: bool = False, walking: bool = False) -> list[str]:
    """The numeric topics a bag carries, in the order their streams are made."""
    if eef_type not in EEF_TOPICS:
        raise ValueError(f"eef_type must be one of {EEF_TYPES}, not {eef_type!r}")
    topics = [SENSORS_TOPIC, JOINT_CMD_TOPIC, ARM_TRAJ_TOPIC]
    topics += [ARM_TRAJ_SYNCED_TOPIC] if synced else []
    topics += EEF_TOPICS[eef_type]
    topics += [CMD_POSE_TOPIC] if walking else []
    return topics


def record_times(topic: str, duration_s: float, seed: int = 0, start_ns: int = DEFAULT_START_NS):
    """Record times (int64 ns) of a topic's messages: rate, phase offset, seeded jitter."""
    rate = _RATES[topic]
    offset_ms, jitter_ms = _SCHEDULE_MS[topic]
    duration_ns = round(duration_s * 1e9)
    count = duration_ns * rate // 10**9 + 2
    n = np.arange(count, dtype=np.int64)
    rng = np.random.default_rng([seed, *topic.encode()])
    jitter = np.rint(rng.uniform(-jitter_ms, jitter_ms, count) * 1e6).astype(np.int64)
    if offset_ms == 0:
        jitter[0] = 0  # the bag starts exactly at start_ns
    rel = round(offset_ms * 1e6) + n * 10**9 // rate + jitter
    return start_ns + rel[rel < duration_ns]


GapSpec = tuple[float, float] | tuple[tuple[float, float], ...]


def gap_intervals(spec: GapSpec) -> tuple[tuple[float, float], ...]:
    """A ``Faults.gaps`` value as a tuple of (t0, t1) pairs (one pair or several)."""
    pairs = np.asarray(spec, dtype=np.float64).reshape(-1, 2)  # one pair: shape (2,)
    return tuple((float(t0), float(t1)) for t0, t1 in pairs)


@dataclass(frozen=True)
class Faults:
    """Per-frame faults real recordings have, for the converter's fault tests."""

    # camera -> garbage JPEGs; "<camera>/depth" -> garbage compressedDepth images
    corrupt_frames: dict[str, tuple[int, ...]] = field(default_factory=dict)
    # topic -> (t0, t1), or ((t0, t1), (t2, t3), ...): seconds since start with no messages
    gaps: dict[str, GapSpec] = field(default_factory=dict)
    duplicate_frames: dict[str, tuple[int, ...]] = field(default_factory=dict)  # camera -> recorded twice
    # Header-stamp faults (record times unchanged), topic -> message numbers (after the time
    # faults above). Camera topics are named as in CAMERA_TOPICS whatever the image format.
    duplicate_stamps: dict[str, tuple[int, ...]] = field(default_factory=dict)  # stamp = previous one's
    stamp_offsets_ms: dict[str, dict[int, float]] = field(default_factory=dict)  # stamp moved by ms


def _apply_stamp_faults(topic: str, times: np.ndarray, faults: Faults) -> np.ndarray:
    """Header stamps of a topic's messages: record time - LATENCY_NS, then the stamp faults."""
    stamps = times - LATENCY_NS
    for k, offset_ms in faults.stamp_offsets_ms.get(topic, {}).items():
        stamps[k] += round(offset_ms * 1e6)
    for k in sorted(faults.duplicate_stamps.get(topic, ())):
        stamps[k] = stamps[k - 1]
    return stamps


def _apply_time_faults(topic: str, times: np.ndarray, start_ns: int, faults: Faults) -> np.ndarray:
    if topic in faults.gaps:
        rel = (times - start_ns) / 1e9
        keep = np.ones(len(times), dtype=bool)
        for t0, t1 in gap_intervals(faults.gaps[topic]):
            keep &= (rel < t0) | (rel >= t1)
        times = times[keep]
    camera = next((c for c, t in CAMERA_TOPICS.items() if t == topic), None)
    for k in sorted(faults.duplicate_frames.get(camera, ()), reverse=True):
        times = np.insert(times, k + 1, times[k])  # message k+1 has message k's time
    return times


@dataclass
class BagSummary:
    """What ``write_kuavo_bag`` wrote."""

    path: Path
    start_ns: int  # record time of the first message (= the start_ns argument)
    end_ns: int  # record time of the last message
    counts: dict[str, int]  # messages per topic
    width: int
    height: int
    compression: str | None
    image_bytes: dict[str, int] = field(default_factory=dict)  # msg.data bytes per image topic
    seconds: float = 0.0  # wall time taken

    @property
    def message_count(self) -> int:
        return sum(self.counts.values())

    @property
    def duration_s(self) -> float:
        return (self.end_ns - self.start_ns) / 1e9

    def line(self) -> str:
        topics = [t for t in CAMERA_TOPICS.values() if self.counts.get(t)]
        jpeg = [self.image_bytes[t] / self.counts[t] for t in topics]
        mean_jpeg = f", mean JPEG {sum(jpeg) / len(jpeg) / 1024:.1f} KiB" if jpeg else ""
        size = self.path.stat().st_size / 2**20 if self.path.exists() else 0.0
        return (
            f"{self.path}: {self.duration_s:.1f} s, {self.message_count} messages on "
            f"{len(self.counts)} topics, {self.width}x{self.height}{mean_jpeg}, "
            f"compression {self.compression or 'none'}, {size:.1f} MiB, written in "
            f"{self.seconds:.1f} s"
        )


@dataclass
class _Stream:
    topic: str
    times: np.ndarray  # int64 record times
    make: Callable[[int, int], Sequence[bytes | memoryview]]  # payloads of messages lo..hi-1
    overhead: int = 0  # bytes of each image message that are not image data


def _numeric_stream(
    topic: str,
    times: np.ndarray,
    start_ns: int,
    stamps: np.ndarray | None = None,
    build: Callable[[np.ndarray, np.ndarray, int], np.ndarray] | None = None,
) -> _Stream:
    build = build or _RECORDS[topic]

    def make(lo: int, hi: int) -> Sequence[memoryview]:
        rec = build(times[lo:hi], np.arange(lo, hi, dtype=np.uint32), start_ns)
        if stamps is not None:  # header stamps with faults (values only: the layout is the same)
            rec["sec"] = stamps[lo:hi] // 10**9
            rec["nsec"] = stamps[lo:hi] % 10**9
        size = rec.dtype.itemsize
        view = memoryview(rec.view(np.uint8))
        return [view[i : i + size] for i in range(0, len(view), size)]

    return _Stream(topic, times, make)


def _camera_stream(
    topic: str,
    times: np.ndarray,
    camera_index: int,
    size: tuple[int, int],
    seed: int,
    depth: bool,
    corrupt: frozenset[int] = frozenset(),
    stamps: np.ndarray | None = None,
    image_format: str = "jpeg",
    row_padding: int = 0,
    content: str = "noise",
) -> _Stream:
    """Colour (JPEG, PNG or raw) or depth (PNG) images of one camera; ``make`` is called block
    after block. ``stamps``: header stamps (default record time - LATENCY_NS)."""
    width, height = size
    camera = CAMERAS[camera_index]
    kind = "depth" if depth else "color"
    frame_id = f"{camera}_{kind}_optical_frame"
    fmt = DEPTH_FORMAT if depth else PNG_COLOR_FORMAT if image_format == "png" else COLOR_FORMAT
    raw = not depth and image_format in RAW_FORMATS
    encoder: list[_JpegEncoder | _PngEncoder | _RgbPngEncoder] = []  # created on first use, then reused
    if stamps is None:
        stamps = times - LATENCY_NS

    def image(k: int) -> bytes:
        if k in corrupt:  # a JPEG start marker, then garbage: no decoder makes a picture of it
            return b"\xff\xd8\xff\xe0" + bytes(np.random.default_rng(k).integers(0, 256, 200, dtype=np.uint8))
        if depth:
            return DEPTH_CONFIG_HEADER + encoder[0].encode(expected_depth_mm(camera_index, k, width, height))
        if image_format == "png":
            return encoder[0].encode(frame_rgb(camera_index, k, width, height, seed, content))
        return encoder[0].encode(frame_yuv(camera_index, k, width, height, seed, content))

    def raw_message(k: int, stamp: int) -> bytes:
        pixels = raw_pixels(image_format, camera_index, k, width, height, seed)
        cut = 200 if k in corrupt else None  # data far shorter than step * height: no picture
        return raw_image(k, stamp, frame_id, image_format, pixels, row_padding, cut)

    def make(lo: int, hi: int) -> Sequence[bytes]:
        block_stamps = stamps[lo:hi].tolist()
        if raw:
            return [raw_message(k, stamp) for k, stamp in zip(range(lo, hi), block_stamps, strict=True)]
        if not encoder:
            png = _PngEncoder if depth else _RgbPngEncoder if image_format == "png" else None
            qscale = _SCENE_JPEG_QSCALE if content == "scene" else _JPEG_QSCALE
            encoder.append(png(width, height) if png else _JpegEncoder(width, height, qscale))
        return [
            compressed_image(k, stamp, frame_id, fmt, image(k))
            for k, stamp in zip(range(lo, hi), block_stamps, strict=True)
        ]

    if raw:
        overhead = len(raw_image(0, 0, frame_id, image_format, np.zeros((1, 1), np.uint8), data_bytes=0))
    else:
        overhead = len(compressed_image(0, 0, frame_id, fmt, b""))
    return _Stream(topic, times, make, overhead)


def _raw_depth_stream(
    topic: str, times: np.ndarray, camera_index: int, size: tuple[int, int], encoding: str, bigendian: bool, pad: int
) -> _Stream:
    """Uncompressed depth images (``sensor_msgs/Image``) of one camera."""
    width, height = size
    frame_id = f"{CAMERAS[camera_index]}_depth_optical_frame"

    def make(lo: int, hi: int) -> Sequence[bytes]:
        stamps = (times[lo:hi] - LATENCY_NS).tolist()
        return [
            raw_depth_image(
                k, stamp, frame_id, expected_depth_mm(camera_index, k, width, height), encoding, bigendian, pad
            )
            for k, stamp in zip(range(lo, hi), stamps, strict=True)
        ]

    return _Stream(topic, times, make)


class _Writer(Writer):
    """rosbags' ``Writer`` whose ``write`` makes the same bytes with less work per message.

    A message record is its header (op, conn, time) + uint32 size + data; the header bytes up
    to the time are the same for every message of a connection.
    """

    _TIME_AND_SIZE = struct.Struct("<III")

    def __init__(self, path: Path | str) -> None:
        super().__init__(path)
        self._prefixes: dict[int, bytes] = {}

    def add_connection(
        self,
        topic: str,
        msgtype: str,
        *,
        typestore: Typestore | None = None,
        msgdef: str | None = None,
        md5sum: str | None = None,
        callerid: str | None = None,
        latching: int | None = None,
    ) -> Connection:
        connection = super().add_connection(
            topic,
            msgtype,
            typestore=typestore,
            msgdef=msgdef,
            md5sum=md5sum,
            callerid=callerid,
            latching=latching,
        )
        fields = [b"op=\x02", b"conn=" + struct.pack("<I", connection.id)]
        head = b"".join(struct.pack("<I", len(f)) + f for f in fields)
        head += struct.pack("<I", 13) + b"time="
        self._prefixes[connection.id] = struct.pack("<I", len(head) + 8) + head
        return connection

    def write(self, connection: Connection, timestamp: int, data: bytes | memoryview) -> None:
        prefix = self._prefixes.get(connection.id)
        if prefix is None or not self.bio or connection.owner is not self:
            super().write(connection, timestamp, data)
            return
        chunk = self.chunks[-1]
        bio = chunk.data
        chunk.connections[connection.id].append((timestamp, bio.tell()))
        chunk.start = min(timestamp, chunk.start)
        chunk.end = max(timestamp, chunk.end)
        sec, nsec = divmod(timestamp, 1_000_000_000)
        bio.write(prefix + self._TIME_AND_SIZE.pack(sec, nsec, len(data)))
        bio.write(data)
        if bio.tell() > self.chunk_threshold:
            self.write_chunk(chunk)

    def write_many(self, messages: Iterable[tuple[Connection, int, bytes | memoryview]]) -> None:
        """``write`` each (connection, timestamp, data), in order: the same bytes, faster."""
        prefixes, pack = self._prefixes, self._TIME_AND_SIZE.pack
        chunk = self.chunks[-1]
        for connection, timestamp, data in messages:
            if connection.owner is not self or connection.id not in prefixes:
                self.write(connection, timestamp, data)
                chunk = self.chunks[-1]
                continue
            bio = chunk.data
            chunk.connections[connection.id].append((timestamp, bio.tell()))
            if timestamp < chunk.start:
                chunk.start = timestamp
            if timestamp > chunk.end:
                chunk.end = timestamp
            sec, nsec = divmod(timestamp, 1_000_000_000)
            bio.write(prefixes[connection.id] + pack(sec, nsec, len(data)))
            bio.write(data)
            if bio.tell() > self.chunk_threshold:
                self.write_chunk(chunk)
                chunk = self.chunks[-1]


_BLOCK_NS = 10**9  # messages are generated one second of bag time at a time


def _blocks(streams: list[_Stream], start_ns: int, end_ns: int) -> list[list[tuple[int, int]]]:
    """[(lo, hi) per stream] of the messages of consecutive blocks of bag time."""
    edges = np.arange(start_ns, end_ns + _BLOCK_NS + 1, _BLOCK_NS, dtype=np.int64)
    bounds = [np.searchsorted(s.times, edges).tolist() for s in streams]
    return [[(b[i], b[i + 1]) for b in bounds] for i in range(len(edges) - 1)]


def write_kuavo_bag(
    path: str | os.PathLike[str],
    duration_s: float = 10.0,
    *,
    seed: int = 0,
    width: int = 640,
    height: int = 480,
    cameras: Sequence[str] = CAMERAS,
    depth: bool = False,
    depth_encoding: str = "png",
    depth_bigendian: bool = False,
    depth_row_pad: int = 0,
    compression: str | None = None,
    chunk_threshold: int = DEFAULT_CHUNK_THRESHOLD,
    start_ns: int = DEFAULT_START_NS,
    faults: Faults | None = None,
    image_format: str | Mapping[str, str] = "jpeg",
    row_padding: int = 0,
    content: str = "noise",
    eef_type: str = "leju_claw",
    eef_levels: bool = False,
    task4: bool = False,
    synced: bool | None = None,
    walking: bool | None = None,
) -> BagSummary:
    """Write a sample Kuavo bag of ``duration_s`` seconds to ``path`` (must not exist).

    Args:
        path: the bag to create.
        duration_s: record times span [start_ns, start_ns + duration_s).
        seed: seeds the timing jitter and the image textures.
        width, height: image size (even, at least 16x8).
        cameras: which of ``CAMERAS`` to record (colour, plus depth with ``depth``).
        depth: also record the depth cameras.
        depth_encoding: 'png' (compressedDepth topics), or '16UC1' (uint16 mm) / '32FC1'
            (float32 metres) raw ``sensor_msgs/Image`` on ``RAW_DEPTH_TOPICS``.
        depth_bigendian, depth_row_pad: raw depth only: byte order, padding bytes after each row.
        compression: None, 'lz4' or 'bz2' chunk compression.
        chunk_threshold: uncompressed chunk size in bytes.
        start_ns: record time of the first message.
        faults: corrupt images, gaps, duplicated stamps to inject (see ``Faults``).
        image_format: how colour cameras are recorded, for all (a string) or per camera (a
            mapping; missing cameras: jpeg): ``jpeg`` or ``png`` CompressedImage on
            ``CAMERA_TOPICS``, or raw ``sensor_msgs/Image`` (``rgb8``, ``bgr8``, ``mono8``) on
            ``RAW_CAMERA_TOPICS`` with the same record times and frame content.
        row_padding: raw images only: filler bytes after each row (``step`` > width * channels).
        content: colour image content, "noise" or "scene" (see ``CONTENTS``).
        eef_type: end-effector topics (``EEF_TOPICS``): 'leju_claw', 'qiangnao' or 'rq2f85'.
        eef_levels: effector values step through ``EEF_LEVELS`` (``eef_levels_at``) instead of
            the smooth functions.
        task4: a task-4 bag (walking while manipulating): also ``ARM_TRAJ_SYNCED_TOPIC`` and
            ``CMD_POSE_TOPIC``.
        synced, walking: write ``ARM_TRAJ_SYNCED_TOPIC`` / ``CMD_POSE_TOPIC`` (None: as ``task4``).
    """
    started = time.perf_counter()
    path = Path(path)
    if width % 2 or height % 2 or width < 16 or height < 8:
        raise ValueError(f"image size must be even and at least 16x8, got {width}x{height}")
    unknown = set(cameras) - set(CAMERAS)
    if unknown:
        raise ValueError(f"unknown cameras {sorted(unknown)}; choose from {CAMERAS}")
    if depth_encoding not in DEPTH_ENCODINGS:
        raise ValueError(f"depth_encoding must be one of {DEPTH_ENCODINGS}, not {depth_encoding!r}")
    if compression not in (None, "lz4", "bz2"):
        raise ValueError(f"compression must be None, 'lz4' or 'bz2', not {compression!r}")
    if duration_s <= 0:
        raise ValueError("duration_s must be positive")
    if content not in CONTENTS:
        raise ValueError(f"content must be one of {CONTENTS}, not {content!r}")
    if start_ns < LATENCY_NS or start_ns + duration_s * 1e9 >= 2**32 * 10**9:
        raise ValueError(f"start_ns {start_ns} out of the range of ROS time (uint32 seconds)")

    formats = {c: image_format for c in CAMERAS} if isinstance(image_format, str) else dict(image_format)
    bad_formats = {f for f in formats.values() if f not in IMAGE_FORMATS}
    if bad_formats or set(formats) - set(CAMERAS):
        raise ValueError(f"image_format must map cameras {CAMERAS} to one of {IMAGE_FORMATS}, got {image_format!r}")
    faults = faults or Faults()

    def times(topic: str) -> np.ndarray:
        return _apply_time_faults(topic, record_times(topic, duration_s, seed, start_ns), start_ns, faults)

    def stamps(topic: str, topic_times: np.ndarray) -> np.ndarray | None:
        if topic in faults.duplicate_stamps or topic in faults.stamp_offsets_ms:
            return _apply_stamp_faults(topic, topic_times, faults)
        return None

    synced = task4 if synced is None else synced
    walking = task4 if walking is None else walking
    streams = []
    for topic in lowdim_topics(eef_type, synced=synced, walking=walking):
        topic_times = times(topic)
        build = partial(_RECORDS[topic], levels=True) if eef_levels and topic in _EEF_LEVEL_RECORDS else None
        streams.append(_numeric_stream(topic, topic_times, start_ns, stamps(topic, topic_times), build))
    for index, camera in enumerate(CAMERAS):
        if camera not in cameras:
            continue
        topic = CAMERA_TOPICS[camera]
        corrupt = frozenset(faults.corrupt_frames.get(camera, ()))
        fmt = formats.get(camera, "jpeg")
        topic_times = times(topic)
        stream = _camera_stream(
            topic,
            topic_times,
            index,
            (width, height),
            seed,
            False,
            corrupt,
            stamps(topic, topic_times),
            fmt,
            row_padding,
            content,
        )
        if fmt in RAW_FORMATS:  # same schedule, on the raw topic
            stream.topic = RAW_CAMERA_TOPICS[camera]
        streams.append(stream)
        if depth and depth_encoding == "png":
            topic = DEPTH_TOPICS[camera]
            corrupt = frozenset(faults.corrupt_frames.get(f"{camera}/depth", ()))
            streams.append(_camera_stream(topic, times(topic), index, (width, height), seed, True, corrupt))
        elif depth:
            topic = RAW_DEPTH_TOPICS[camera]
            streams.append(
                _raw_depth_stream(
                    topic, times(topic), index, (width, height), depth_encoding, depth_bigendian, depth_row_pad
                )
            )
    streams = [s for s in streams if len(s.times)]
    streams.sort(key=lambda s: int(s.times[0]))  # connections in order of first message
    end_ns = max(int(s.times[-1]) for s in streams)

    writer = _Writer(path)
    if compression:
        writer.set_compression(Writer.CompressionFormat[compression.upper()])
    writer.chunk_threshold = chunk_threshold
    image_bytes = {s.topic: 0 for s in streams if _MSGTYPES[s.topic] in (COMPRESSED_IMAGE_TYPE, IMAGE_TYPE)}

    with writer, ThreadPoolExecutor(max_workers=max(1, min(4, os.cpu_count() or 1))) as pool:
        connections = [
            writer.add_connection(
                s.topic,
                _MSGTYPES[s.topic],
                msgdef=MSG_DEFINITIONS[_MSGTYPES[s.topic]],
                md5sum=md5sum(_MSGTYPES[s.topic]),
                callerid=_CALLERIDS[s.topic],
            )
            for s in streams
        ]

        def submit(ranges: list[tuple[int, int]]) -> list[Future[Sequence[bytes | memoryview]]]:
            pairs = zip(streams, ranges, strict=True)
            return [pool.submit(s.make, lo, hi) for s, (lo, hi) in pairs]

        # Images of the next block are encoded while this block is written.
        blocks = _blocks(streams, start_ns, end_ns)
        pending = submit(blocks[0])
        for b, ranges in enumerate(blocks):
            payloads = [f.result() for f in pending]
            if b + 1 < len(blocks):
                pending = submit(blocks[b + 1])
            _write_block(writer, streams, connections, ranges, payloads, image_bytes)

    return BagSummary(
        path=path,
        start_ns=min(int(s.times[0]) for s in streams),
        end_ns=end_ns,
        counts={s.topic: len(s.times) for s in streams},
        width=width,
        height=height,
        compression=compression,
        image_bytes=image_bytes,
        seconds=time.perf_counter() - started,
    )


def _write_block(
    writer: _Writer,
    streams: list[_Stream],
    connections: list[Connection],
    ranges: list[tuple[int, int]],
    payloads: list[Sequence[bytes | memoryview]],
    image_bytes: dict[str, int],
) -> None:
    """Write one block's messages of all streams merged in record-time order."""
    pairs = list(zip(streams, ranges, strict=True))
    times = np.concatenate([s.times[lo:hi] for s, (lo, hi) in pairs])
    which = np.concatenate([np.full(hi - lo, i, np.int32) for i, (lo, hi) in enumerate(ranges)])
    offsets = np.concatenate([np.arange(hi - lo) for lo, hi in ranges])
    order = np.argsort(times, kind="stable")
    for stream, payload in zip(streams, payloads, strict=True):
        if stream.topic in image_bytes:
            image_bytes[stream.topic] += sum(len(p) for p in payload) - stream.overhead * len(payload)
    which_sorted = which[order].tolist()
    writer.write_many(
        zip(
            [connections[i] for i in which_sorted],
            times[order].tolist(),
            [payloads[i][j] for i, j in zip(which_sorted, offsets[order].tolist(), strict=True)],
            strict=True,
        )
    )


# --------------------------------------------------------------------------------------------
# CLI
# Faults: what crashed recordings look like ---------------------------------------------------


def _index_pos_offset(data: bytes | bytearray) -> int:
    """Byte offset of the bag header's ``index_pos`` value."""
    (header_len,) = struct.unpack_from("<I", data, 13)
    return 17 + bytes(data[17 : 17 + header_len]).index(b"index_pos=") + len(b"index_pos=")


def write_unindexed_copy(src: str | Path, dst: str | Path) -> Path:
    """What `rosbag record` leaves when it dies between chunks (.bag.active): index_pos 0, no index."""
    data = bytearray(Path(src).read_bytes())
    offset = _index_pos_offset(data)
    (index_pos,) = struct.unpack_from("<Q", data, offset)
    del data[index_pos:]
    struct.pack_into("<Q", data, offset, 0)
    Path(dst).write_bytes(data)
    return Path(dst)


def write_truncated_copy(src: str | Path, dst: str | Path, fraction: float) -> Path:
    """The first ``fraction`` of the file, as a crash or a full disk leaves it."""
    data = Path(src).read_bytes()
    Path(dst).write_bytes(data[: int(len(data) * fraction)])
    return Path(dst)


# --------------------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path, help="bag to write (must not exist)")
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--size", default="640x480", help="image WIDTHxHEIGHT")
    parser.add_argument("--depth", action="store_true", help="also write depth images")
    parser.add_argument(
        "--depth-encoding", choices=DEPTH_ENCODINGS, default="png", help="compressedDepth png, or raw 16UC1 / 32FC1"
    )
    parser.add_argument("--compression", choices=["none", "lz4", "bz2"], default="none")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--cameras", default=",".join(CAMERAS), help="comma-separated")
    parser.add_argument("--content", choices=CONTENTS, default="noise", help="colour image content (see CONTENTS)")
    parser.add_argument("--image-format", choices=IMAGE_FORMATS, default="jpeg", help="colour cameras")
    parser.add_argument("--eef-type", choices=EEF_TYPES, default="leju_claw", help="end-effector topics")
    parser.add_argument("--eef-levels", action="store_true", help="effector values step through EEF_LEVELS")
    parser.add_argument("--task4", action="store_true", help="walking while manipulating: synced arm traj, cmd pose")
    args = parser.parse_args(argv)
    try:
        width, height = (int(v) for v in args.size.lower().split("x"))
    except ValueError:
        parser.error(f"--size must be WIDTHxHEIGHT, not {args.size!r}")
    summary = write_kuavo_bag(
        args.out,
        args.seconds,
        seed=args.seed,
        width=width,
        height=height,
        cameras=[c for c in args.cameras.split(",") if c],
        depth=args.depth,
        depth_encoding=args.depth_encoding,
        compression=None if args.compression == "none" else args.compression,
        content=args.content,
        image_format=args.image_format,
        eef_type=args.eef_type,
        eef_levels=args.eef_levels,
        task4=args.task4,
    )
    print(summary.line())
    return 0


if __name__ == "__main__":
    sys.exit(main())
