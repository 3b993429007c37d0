"""A small ROS2 bag (rosbag2 ``.mcap``) with a TF tree, for poses from ``/tf``.

- ``/cam/compressed`` sensor_msgs/CompressedImage JPEG at 30 Hz (the timeline);
- ``/tf_static``: ``world -> base`` once, ``static_transform()``;
- ``/tf`` tf2_msgs/TFMessage: ``base -> arm`` at ``ARM_HZ`` and ``arm -> hand`` at ``HAND_HZ``,
  each in its own messages, plus an unrelated ``world -> other`` edge in the hand's messages;
  edge ``e`` at time ``t`` (s since ``START_NS``) is ``edge_transform(e, t)`` (``constant``: fixed
  transforms, ``CONSTANT``).

Record time = the transform's stamp + 2 ms. ``write_tf_bag`` returns each edge's stamps.

Usage: ``python scripts/gen_tf_bag.py OUT [--seconds 4]``
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from rosbags.rosbag2 import StoragePlugin, Writer
from rosbags.typesys import Stores, get_typestore

sys.path.insert(0, str(Path(__file__).resolve().parent))

from gen_kuavo_bag import _JpegEncoder, frame_yuv

START_NS = 1_700_000_000 * 10**9
CAMERA = "/cam/compressed"
CAMERA_HZ, ARM_HZ, HAND_HZ = 30.0, 20.0, 50.0
LATENCY_NS = 2_000_000
EDGES = (("base", "arm"), ("arm", "hand"))


def static_transform() -> tuple[list[float], list[float]]:
    """world -> base: translation, quaternion x y z w (90 degrees about z)."""
    return [0.5, -1.0, 0.2], [0.0, 0.0, float(np.sin(np.pi / 4)), float(np.cos(np.pi / 4))]


# Edges that do not move (``constant=True``): base -> arm 90 degrees about z, arm -> hand 90
# degrees about x, numbers a test can chain by hand.
HALF = float(np.sqrt(0.5))
CONSTANT = {
    ("base", "arm"): ([1.0, 0.0, 0.0], [0.0, 0.0, HALF, HALF]),
    ("arm", "hand"): ([0.0, 2.0, 0.0], [HALF, 0.0, 0.0, HALF]),
}


def edge_transform(edge: tuple[str, str], t: float, constant: bool = False) -> tuple[list[float], list[float]]:
    """A dynamic edge at ``t``: translation, quaternion x y z w (a unit quaternion, turning with t)."""
    if constant:
        return CONSTANT[edge]
    if edge == ("base", "arm"):
        angle, axis = 0.8 * t, np.array([0.0, 0.0, 1.0])
        translation = [0.1 * t, 0.3, 1.0 - 0.05 * t]
    else:
        angle, axis = 1.5 * t + 0.2, np.array([1.0, 1.0, 0.0]) / np.sqrt(2.0)
        translation = [0.0, 0.25 + 0.1 * np.sin(t), 0.4]
    q = [*(np.sin(angle / 2) * axis), np.cos(angle / 2)]
    return translation, [float(v) for v in q]


def _times(hz: float, seconds: float, offset_ns: int) -> np.ndarray:
    return (START_NS + offset_ns + np.arange(int(seconds * hz)) * (1e9 / hz)).astype(np.int64)


def write_tf_bag(folder: Path, seconds: float = 4.0, constant: bool = False) -> dict[tuple[str, str], np.ndarray]:
    store = get_typestore(Stores.ROS2_HUMBLE)
    types = store.types
    stamps = {("base", "arm"): _times(ARM_HZ, seconds, 3_000_000), ("arm", "hand"): _times(HAND_HZ, seconds, 1_000_000)}
    cam = _times(CAMERA_HZ, seconds, 0)

    def header(t_ns: int, frame: str):
        return types["std_msgs/msg/Header"](
            stamp=types["builtin_interfaces/msg/Time"](sec=t_ns // 10**9, nanosec=t_ns % 10**9), frame_id=frame
        )

    def transform(t_ns: int, parent: str, child: str, translation: list[float], rotation: list[float]):
        inner = types["geometry_msgs/msg/Transform"](
            types["geometry_msgs/msg/Vector3"](*translation), types["geometry_msgs/msg/Quaternion"](*rotation)
        )
        return types["geometry_msgs/msg/TransformStamped"](header(t_ns, parent), child, inner)

    events: list[tuple[int, str, object]] = [(START_NS, "/tf_static", None)]
    events += [(int(t), CAMERA, k) for k, t in enumerate(cam)]
    events += [(int(t), "/tf", edge) for edge, ts in stamps.items() for t in ts]
    encoder = _JpegEncoder(64, 48)
    tfm = "tf2_msgs/msg/TFMessage"
    with Writer(folder, version=9, storage_plugin=StoragePlugin.MCAP) as writer:
        conns = {
            CAMERA: writer.add_connection(CAMERA, "sensor_msgs/msg/CompressedImage", typestore=store),
            "/tf": writer.add_connection("/tf", tfm, typestore=store),
            "/tf_static": writer.add_connection("/tf_static", tfm, typestore=store),
        }
        for t_ns, topic, what in sorted(events, key=lambda e: (e[0], e[1])):
            if topic == CAMERA:
                jpeg = encoder.encode(frame_yuv(0, int(what), 64, 48))  # type: ignore[call-overload]
                msg = types["sensor_msgs/msg/CompressedImage"](
                    header(t_ns, "cam"), "jpeg", np.frombuffer(jpeg, np.uint8)
                )
                data = store.serialize_cdr(msg, "sensor_msgs/msg/CompressedImage")
            elif topic == "/tf_static":
                msg = types[tfm]([transform(t_ns, "world", "base", *static_transform())])
                data = store.serialize_cdr(msg, tfm)
            else:
                parent, child = what  # type: ignore[misc]
                found = [
                    transform(t_ns, parent, child, *edge_transform((parent, child), (t_ns - START_NS) / 1e9, constant))
                ]
                if child == "hand":
                    found.append(transform(t_ns, "world", "other", [9.0, 9.0, 9.0], [0.0, 0.0, 0.0, 1.0]))
                data = store.serialize_cdr(types[tfm](found), tfm)
            writer.write(conns[topic], t_ns + LATENCY_NS, data)
    return stamps


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--seconds", type=float, default=4.0)
    args = parser.parse_args(argv)
    write_tf_bag(args.out, args.seconds)
    return 0


if __name__ == "__main__":
    sys.exit(main())
