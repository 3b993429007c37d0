"""Sample ROS2 bags (rosbag2, ``.mcap`` or ``.db3``) of a generic arm, for the generic profile.

A 'ROS2 arm' (see ``configs/ros2_arm.yaml``), written with ``rosbags.rosbag2.Writer`` (CDR,
standard message types, their definitions stored in the bag):

- ``/joint_states`` sensor_msgs/JointState at 200 Hz: 6 arm joints (rad) + the gripper (m),
  ``position = joint_position_at(t)``;
- ``/arm_controller/commands`` std_msgs/Float64MultiArray at 100 Hz: 6 values in DEGREES,
  ``data = arm_command_deg_at(t)``;
- ``/gripper_controller/command`` std_msgs/Float64 at 50 Hz: the gripper opening in MILLIMETRES,
  ``data = gripper_command_mm_at(t)``;
- ``/camera/front/image_raw/compressed`` and ``/camera/wrist/image_raw/compressed``
  sensor_msgs/CompressedImage JPEG at 30 Hz: frame ``k`` of camera ``c`` (0 front, 1 wrist)
  carries the code ``(c, k)`` of ``gen_kuavo_bag.read_frame_code``.

``t`` = seconds since ``start_ns``; record times have seeded jitter (``record_times``);
``header.stamp`` = record time - 1 ms.

Usage: ``python scripts/gen_ros2_bag.py OUT [--storage mcap|sqlite3] [--seconds 10] [--size 320x240]``
(OUT is a rosbag2 folder holding ``OUT.mcap`` or ``OUT.db3`` and ``metadata.yaml``).
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from rosbags.rosbag2 import CompressionFormat, CompressionMode, StoragePlugin, Writer
from rosbags.typesys import Stores, get_typestore
from rosbags.typesys.store import Typestore

sys.path.insert(0, str(Path(__file__).resolve().parent))

from gen_kuavo_bag import _JpegEncoder, frame_yuv

JOINT_STATES = "/joint_states"
ARM_COMMAND = "/arm_controller/commands"
GRIPPER_COMMAND = "/gripper_controller/command"
CAMERA_TOPICS = {
    "front": "/camera/front/image_raw/compressed",
    "wrist": "/camera/wrist/image_raw/compressed",
}
CAMERA_INDEX = {"front": 0, "wrist": 1}
JOINT_NAMES = ("joint_1", "joint_2", "joint_3", "joint_4", "joint_5", "joint_6", "gripper")
RATES = {JOINT_STATES: 200, ARM_COMMAND: 100, GRIPPER_COMMAND: 50, **dict.fromkeys(CAMERA_TOPICS.values(), 30)}
OFFSETS_MS = {  # first message's offset from start_ns, jitter half-width
    JOINT_STATES: (0.0, 0.3),
    ARM_COMMAND: (1.3, 0.5),
    GRIPPER_COMMAND: (2.9, 1.0),
    CAMERA_TOPICS["front"]: (4.1, 3.0),
    CAMERA_TOPICS["wrist"]: (15.7, 3.0),
}
MSGTYPES = {
    JOINT_STATES: "sensor_msgs/msg/JointState",
    ARM_COMMAND: "std_msgs/msg/Float64MultiArray",
    GRIPPER_COMMAND: "std_msgs/msg/Float64",
    **dict.fromkeys(CAMERA_TOPICS.values(), "sensor_msgs/msg/CompressedImage"),
}
DEFAULT_START_NS = 1_750_000_000 * 10**9
LATENCY_NS = 1_000_000
_J = np.arange(6, dtype=np.float64)


def joint_position_at(t: float) -> np.ndarray:
    """``/joint_states`` position: 6 joints (rad), then the gripper (m, 0..0.08)."""
    arm = 0.3 * _J - 0.8 + 0.6 * np.sin(0.8 * t + _J) + 0.04 * np.sin(25.0 * t + 0.3 * _J)
    gripper = 0.04 + 0.035 * np.sin(0.6 * t)
    return np.append(arm, gripper)


def arm_command_deg_at(t: float) -> np.ndarray:
    """``/arm_controller/commands`` data: the arm 50 ms ahead, in degrees."""
    return np.degrees(joint_position_at(t + 0.05)[:6])


def gripper_command_mm_at(t: float) -> float:
    """``/gripper_controller/command`` data: the gripper opening in millimetres."""
    return float(1000.0 * (0.04 + 0.035 * np.sin(0.6 * (t + 0.05))))


def record_times(topic: str, duration_s: float, seed: int = 0, start_ns: int = DEFAULT_START_NS) -> np.ndarray:
    rate = RATES[topic]
    offset_ms, jitter_ms = OFFSETS_MS[topic]
    duration_ns = round(duration_s * 1e9)
    n = np.arange(duration_ns * rate // 10**9 + 2, dtype=np.int64)
    rng = np.random.default_rng([seed, *topic.encode()])
    jitter = np.rint(rng.uniform(-jitter_ms, jitter_ms, len(n)) * 1e6).astype(np.int64)
    if offset_ms == 0:
        jitter[0] = 0
    rel = round(offset_ms * 1e6) + n * 10**9 // rate + jitter
    return start_ns + rel[rel < duration_ns]


@dataclass
class Ros2BagSummary:
    path: Path  # the rosbag2 folder
    storage_file: Path  # its .mcap / .db3
    start_ns: int
    times: dict[str, np.ndarray]  # topic -> record times, message order


def write_ros2_bag(
    path: str | Path,
    duration_s: float = 10.0,
    *,
    storage: str = "mcap",
    seed: int = 0,
    width: int = 320,
    height: int = 240,
    start_ns: int = DEFAULT_START_NS,
    compression: str | None = None,
) -> Ros2BagSummary:
    """Write the sample arm bag to the rosbag2 folder ``path`` (must not exist); ``compression``:
    None, 'message' or 'file' (zstd, as rosbag2 records with --compression-mode)."""
    path = Path(path)
    plugin = {"mcap": StoragePlugin.MCAP, "sqlite3": StoragePlugin.SQLITE3}[storage]
    store = get_typestore(Stores.ROS2_HUMBLE)
    JointState = store.types["sensor_msgs/msg/JointState"]
    Float64MultiArray = store.types["std_msgs/msg/Float64MultiArray"]
    MultiArrayLayout = store.types["std_msgs/msg/MultiArrayLayout"]
    Float64 = store.types["std_msgs/msg/Float64"]
    CompressedImage = store.types["sensor_msgs/msg/CompressedImage"]
    Header = store.types["std_msgs/msg/Header"]
    Time = store.types["builtin_interfaces/msg/Time"]

    def header(t_ns: int, frame_id: str):
        stamp = t_ns - LATENCY_NS
        return Header(stamp=Time(sec=stamp // 10**9, nanosec=stamp % 10**9), frame_id=frame_id)

    times = {topic: record_times(topic, duration_s, seed, start_ns) for topic in MSGTYPES}
    events = sorted((int(t), topic, k) for topic, ts in times.items() for k, t in enumerate(ts))
    encoders = {name: _JpegEncoder(width, height) for name in CAMERA_TOPICS}
    camera_of = {topic: name for name, topic in CAMERA_TOPICS.items()}
    writer = Writer(path, version=9, storage_plugin=plugin)
    if compression is not None:
        mode = {"message": CompressionMode.MESSAGE, "file": CompressionMode.FILE}[compression]
        writer.set_compression(mode, CompressionFormat.ZSTD)
    with writer:
        conns = {topic: writer.add_connection(topic, msgtype, typestore=store) for topic, msgtype in MSGTYPES.items()}
        for t_ns, topic, k in events:
            t = (t_ns - start_ns) / 1e9
            if topic == JOINT_STATES:
                msg = JointState(
                    header=header(t_ns, "base_link"),
                    name=list(JOINT_NAMES),
                    position=joint_position_at(t),
                    velocity=np.zeros(7),
                    effort=np.zeros(7),
                )
            elif topic == ARM_COMMAND:
                msg = Float64MultiArray(layout=MultiArrayLayout(dim=[], data_offset=0), data=arm_command_deg_at(t))
            elif topic == GRIPPER_COMMAND:
                msg = Float64(data=gripper_command_mm_at(t))
            else:
                name = camera_of[topic]
                jpeg = encoders[name].encode(frame_yuv(CAMERA_INDEX[name], k, width, height, seed))
                msg = CompressedImage(
                    header=header(t_ns, f"{name}_optical_frame"),
                    format="rgb8; jpeg compressed bgr8",
                    data=np.frombuffer(jpeg, np.uint8),
                )
            writer.write(conns[topic], t_ns, store.serialize_cdr(msg, MSGTYPES[topic]))
    suffix = ".mcap" if storage == "mcap" else ".db3"
    if compression == "file":
        suffix += ".zstd"
    return Ros2BagSummary(path, path / f"{path.name}{suffix}", start_ns, times)


class _Ros1Source:
    """What rosbags-convert's connection and converter builder reads of its source reader."""

    is2 = False

    def __init__(self, typestore: Typestore) -> None:
        self.typestore = typestore


def convert_ros1_bag(src: str | Path, dst: str | Path, storage: str = "mcap", limit: int | None = None) -> Path:
    """The ROS1 bag ``src`` as the rosbag2 folder ``dst``, converted by rosbags-convert's own
    code (``create_connections_converters``: CDR converters, ROS2 Header, connections).

    Not ``rosbags.convert.convert`` itself: its reader parses the bag's definitions without the
    lower-case constants Kuavo's ``lejuClawState`` declares, so it refuses real Kuavo bags with a
    hash mismatch; here the definitions are parsed as spill2lerobot parses them (``bag.msgdef``).
    ``limit``: only the first ``limit`` messages (in the ROS1 bag's time order, the order written).
    """
    from rosbags.convert.converter import create_connections_converters
    from rosbags.rosbag1 import Reader as Ros1Reader

    from spill2lerobot.bag.msgdef import typestore_for

    plugin = {"mcap": StoragePlugin.MCAP, "sqlite3": StoragePlugin.SQLITE3}[storage]
    with Ros1Reader(Path(src)) as reader, Writer(Path(dst), version=8, storage_plugin=plugin) as writer:
        source = _Ros1Source(typestore_for({c.msgtype: c.msgdef.data for c in reader.connections}))
        connmap, convmap = create_connections_converters(
            reader.connections,
            None,
            source,  # type: ignore[arg-type]  # the two attributes it reads
            writer,
        )
        for count, (conn, t_ns, data) in enumerate(reader.messages()):
            if limit is not None and count >= limit:
                break
            writer.write(connmap[(conn.id, conn.owner)], t_ns, bytes(convmap[conn.msgtype](data)))
    return Path(dst)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path, help="rosbag2 folder to write (must not exist)")
    parser.add_argument("--storage", choices=["mcap", "sqlite3"], default="mcap")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--size", default="320x240", help="image WIDTHxHEIGHT")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--compression", choices=["none", "message", "file"], default="none", help="zstd")
    args = parser.parse_args(argv)
    width, height = (int(v) for v in args.size.lower().split("x"))
    compression = None if args.compression == "none" else args.compression
    summary = write_ros2_bag(
        args.out,
        args.seconds,
        storage=args.storage,
        seed=args.seed,
        width=width,
        height=height,
        compression=compression,
    )
    count = sum(len(t) for t in summary.times.values())
    print(f"{summary.storage_file}: {args.seconds:.1f} s, {count} messages on {len(summary.times)} topics")
    return 0


if __name__ == "__main__":
    sys.exit(main())
