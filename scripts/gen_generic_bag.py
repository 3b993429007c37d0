"""A sample ROS1 bag of a non-Kuavo robot (a 6-joint arm with a gripper), written with rosbags'
own ROS1 writer and standard message types, for the generic profile ``configs/generic_arm.yaml``.

Topics (``t`` = seconds since ``start_ns``; record times on an exact grid plus a fixed offset per
topic, so a test can tell which message each frame takes; ``header.stamp`` = record time - 1 ms):

- ``/camera/front/image_raw``, ``/camera/wrist/image_raw``: ``sensor_msgs/Image`` rgb8 at 30 Hz;
  message ``k`` of camera ``c`` (front 0, wrist 1) is ``gen_kuavo_bag.frame_rgb(c, k, ...)``,
  which carries the code ``(c, k)`` (``gen_kuavo_bag.read_frame_code``);
- ``/camera/depth/image_raw``: ``sensor_msgs/Image`` 16UC1 (millimetres) at 30 Hz, message ``k``
  is ``gen_kuavo_bag.expected_depth_mm(2, k, ...)`` (code ``(2, k)``, ``read_depth_code``);
- ``/joint_states``: ``sensor_msgs/JointState`` at 200 Hz, ``JOINT_NAMES``,
  ``position = gen_ros2_bag.joint_position_at(t)``, ``velocity = joint_velocity_at(t)``;
- ``/arm/command``: ``std_msgs/Float64MultiArray`` at 100 Hz, ``data = command_at(t)``;
- ``/imu``: ``sensor_msgs/Imu`` at 100 Hz, ``orientation = imu_orientation_at(t)`` (x, y, z, w),
  ``angular_velocity = imu_angular_velocity_at(t)``, ``linear_acceleration = imu_acceleration_at(t)``;
- ``/tf``: ``tf2_msgs/TFMessage`` at 50 Hz, the chain ``TF_CHAIN`` (base_link -> shoulder_link ->
  forearm_link -> tool0), each transform ``tf_transform_at(i, t)``.

Beside the bag, ``NAME.task.yaml`` (the per-bag task file) holds ``TASK`` and two ``SUBTASKS``.

Usage: ``python scripts/gen_generic_bag.py OUT.bag [--seconds 4] [--size 64x48] [--seed 0]``
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml
from rosbags.rosbag1 import Writer
from rosbags.typesys import Stores, get_types_from_msg, get_typestore

sys.path.insert(0, str(Path(__file__).resolve().parent))

from gen_kuavo_bag import expected_depth_mm, frame_rgb
from gen_ros2_bag import JOINT_NAMES, joint_position_at

FRONT, WRIST, DEPTH = "/camera/front/image_raw", "/camera/wrist/image_raw", "/camera/depth/image_raw"
CAMERA_INDEX = {FRONT: 0, WRIST: 1, DEPTH: 2}
JOINT_STATES, COMMAND, IMU, TF = "/joint_states", "/arm/command", "/imu", "/tf"
RATES = {FRONT: 30, WRIST: 30, DEPTH: 30, JOINT_STATES: 200, COMMAND: 100, IMU: 100, TF: 50}
OFFSETS_NS = {FRONT: 4_100_000, WRIST: 9_700_000, DEPTH: 6_300_000, JOINT_STATES: 0, COMMAND: 1_300_000,
              IMU: 2_900_000, TF: 3_700_000}  # fmt: skip
MSGTYPES = {
    FRONT: "sensor_msgs/msg/Image",
    WRIST: "sensor_msgs/msg/Image",
    DEPTH: "sensor_msgs/msg/Image",
    JOINT_STATES: "sensor_msgs/msg/JointState",
    COMMAND: "std_msgs/msg/Float64MultiArray",
    IMU: "sensor_msgs/msg/Imu",
    TF: "tf2_msgs/msg/TFMessage",
}
TF_CHAIN = (("base_link", "shoulder_link"), ("shoulder_link", "forearm_link"), ("forearm_link", "tool0"))
TASK = "put the cube in the bin"
SUBTASKS = ({"start": 0.0, "text": "grasp the cube"}, {"start": 1.5, "text": "drop it in the bin"})
DEFAULT_START_NS = 1_760_000_000 * 10**9
LATENCY_NS = 1_000_000


def joint_velocity_at(t: float) -> np.ndarray:
    """``/joint_states`` velocity: 7 values (rad/s and m/s)."""
    return np.cos(0.7 * t + np.arange(7, dtype=np.float64))


def command_at(t: float) -> np.ndarray:
    """``/arm/command`` data: the 7 joint positions 50 ms ahead."""
    return joint_position_at(t + 0.05)


def imu_orientation_at(t: float) -> np.ndarray:
    """``/imu`` orientation (x, y, z, w): a yaw of 0.3 sin(0.5 t) about z."""
    yaw = 0.3 * np.sin(0.5 * t)
    return np.array([0.0, 0.0, np.sin(yaw / 2), np.cos(yaw / 2)])


def imu_angular_velocity_at(t: float) -> np.ndarray:
    return np.array([0.01 * np.sin(t), -0.02 * np.cos(t), 0.15 * np.cos(0.5 * t)])


def imu_acceleration_at(t: float) -> np.ndarray:
    return np.array([0.2 * np.sin(1.1 * t), 0.1 * np.cos(0.9 * t), 9.81 + 0.05 * np.sin(3.0 * t)])


def tf_transform_at(link: int, t: float) -> tuple[np.ndarray, np.ndarray]:
    """Transform ``link`` of ``TF_CHAIN`` (child in parent): translation (m) and a rotation
    about z of angle 0.4 sin(0.6 t + link), as a quaternion (x, y, z, w)."""
    translation = np.array([0.1 + 0.05 * link, 0.02 * np.sin(t + link), 0.3 - 0.1 * link])
    angle = 0.4 * np.sin(0.6 * t + link)
    return translation, np.array([0.0, 0.0, np.sin(angle / 2), np.cos(angle / 2)])


def record_times(topic: str, duration_s: float, start_ns: int = DEFAULT_START_NS) -> np.ndarray:
    """Message ``k`` of ``topic`` at ``start_ns + offset + k / rate`` (integer ns), before the
    end of the span (``duration_s`` seconds after ``start_ns``)."""
    period_ns = 10**9 / RATES[topic]
    count = int(np.ceil((duration_s * 1e9 - OFFSETS_NS[topic]) / period_ns))
    return start_ns + OFFSETS_NS[topic] + np.floor(np.arange(count) * period_ns).astype(np.int64)


@dataclass
class GenericBag:
    path: Path
    task_file: Path
    start_ns: int
    times: dict[str, np.ndarray]  # topic -> record times, message order
    width: int
    height: int

    def seconds(self, topic: str) -> np.ndarray:
        """Each message's ``t`` (what the generator's functions were given)."""
        return (self.times[topic] - self.start_ns) / 1e9


class _Messages:
    """Builds each topic's message ``k`` at record time ``t_ns``."""

    def __init__(self, width: int, height: int, seed: int, start_ns: int) -> None:
        self.store = get_typestore(Stores.ROS1_NOETIC)
        # rosbags' noetic store has no tf2_msgs: its one message, as tf2_msgs defines it
        self.store.register(get_types_from_msg("geometry_msgs/TransformStamped[] transforms", "tf2_msgs/msg/TFMessage"))
        self.types = self.store.types
        self.width, self.height, self.seed, self.start_ns = width, height, seed, start_ns

    def header(self, t_ns: int, frame_id: str) -> object:
        stamp = t_ns - LATENCY_NS
        time = self.types["builtin_interfaces/msg/Time"](sec=stamp // 10**9, nanosec=stamp % 10**9)
        return self.types["std_msgs/msg/Header"](seq=0, stamp=time, frame_id=frame_id)

    def vector3(self, values: np.ndarray) -> object:
        return self.types["geometry_msgs/msg/Vector3"](x=float(values[0]), y=float(values[1]), z=float(values[2]))

    def quaternion(self, q: np.ndarray) -> object:
        return self.types["geometry_msgs/msg/Quaternion"](x=float(q[0]), y=float(q[1]), z=float(q[2]), w=float(q[3]))

    def image(self, topic: str, k: int, t_ns: int) -> object:
        index = CAMERA_INDEX[topic]
        if topic == DEPTH:
            pixels, encoding, step = expected_depth_mm(index, k, self.width, self.height), "16UC1", 2 * self.width
            data = pixels.astype("<u2").tobytes()
        else:
            pixels = frame_rgb(index, k, self.width, self.height, self.seed)
            encoding, step, data = "rgb8", 3 * self.width, np.ascontiguousarray(pixels, np.uint8).tobytes()
        return self.types["sensor_msgs/msg/Image"](
            header=self.header(t_ns, topic.split("/")[2] + "_optical_frame"),
            height=self.height,
            width=self.width,
            encoding=encoding,
            is_bigendian=0,
            step=step,
            data=np.frombuffer(data, np.uint8),
        )

    def build(self, topic: str, k: int, t_ns: int) -> object:
        t = (t_ns - self.start_ns) / 1e9
        if topic in CAMERA_INDEX:
            return self.image(topic, k, t_ns)
        if topic == JOINT_STATES:
            return self.types["sensor_msgs/msg/JointState"](
                header=self.header(t_ns, ""),
                name=list(JOINT_NAMES),
                position=joint_position_at(t),
                velocity=joint_velocity_at(t),
                effort=np.zeros(len(JOINT_NAMES)),
            )
        if topic == COMMAND:
            layout = self.types["std_msgs/msg/MultiArrayLayout"](dim=[], data_offset=0)
            return self.types["std_msgs/msg/Float64MultiArray"](layout=layout, data=command_at(t))
        if topic == IMU:
            return self.imu(t, t_ns)
        return self.tf(t, t_ns)

    def imu(self, t: float, t_ns: int) -> object:
        covariance = np.zeros(9)
        return self.types["sensor_msgs/msg/Imu"](
            header=self.header(t_ns, "imu_link"),
            orientation=self.quaternion(imu_orientation_at(t)),
            orientation_covariance=covariance,
            angular_velocity=self.vector3(imu_angular_velocity_at(t)),
            angular_velocity_covariance=covariance,
            linear_acceleration=self.vector3(imu_acceleration_at(t)),
            linear_acceleration_covariance=covariance,
        )

    def tf(self, t: float, t_ns: int) -> object:
        transforms = []
        for link, (parent, child) in enumerate(TF_CHAIN):
            translation, rotation = tf_transform_at(link, t)
            transform = self.types["geometry_msgs/msg/Transform"](
                translation=self.vector3(translation), rotation=self.quaternion(rotation)
            )
            transforms.append(
                self.types["geometry_msgs/msg/TransformStamped"](
                    header=self.header(t_ns, parent), child_frame_id=child, transform=transform
                )
            )
        return self.types["tf2_msgs/msg/TFMessage"](transforms=transforms)


def write_task_file(bag: Path) -> Path:
    """``NAME.task.yaml`` beside ``NAME.bag``: TASK and its two SUBTASKS."""
    path = bag.with_name(bag.name.removesuffix(".bag") + ".task.yaml")
    path.write_text(yaml.safe_dump({"task": TASK, "subtasks": [dict(sub) for sub in SUBTASKS]}, sort_keys=False))
    return path


def write_generic_bag(
    path: str | Path,
    duration_s: float = 4.0,
    *,
    width: int = 64,
    height: int = 48,
    seed: int = 0,
    start_ns: int = DEFAULT_START_NS,
) -> GenericBag:
    """Write the sample arm bag to ``path`` (must not exist) and its task file beside it."""
    path = Path(path)
    times = {topic: record_times(topic, duration_s, start_ns) for topic in MSGTYPES}
    events = sorted((int(t), topic, k) for topic, ts in times.items() for k, t in enumerate(ts))
    messages = _Messages(width, height, seed, start_ns)
    with Writer(path) as writer:
        connections = {
            topic: writer.add_connection(topic, MSGTYPES[topic], typestore=messages.store) for topic in MSGTYPES
        }
        for t_ns, topic, k in events:
            data = messages.store.serialize_ros1(messages.build(topic, k, t_ns), MSGTYPES[topic])
            writer.write(connections[topic], t_ns, data)
    return GenericBag(path, write_task_file(path), start_ns, times, width, height)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path, help="the .bag to write (its NAME.task.yaml is written beside it)")
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--size", default="64x48", help="WIDTHxHEIGHT of the cameras")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.split("x"))
    bag = write_generic_bag(args.out, args.seconds, width=width, height=height, seed=args.seed)
    print(f"{bag.path}: {sum(len(ts) for ts in bag.times.values())} messages; task file {bag.task_file}")


if __name__ == "__main__":
    main()
