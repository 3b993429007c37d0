"""``inspect --suggest`` on a non-Kuavo ROS2 bag with raw ``Image`` cameras: colour and depth
cameras are proposed (a raw Image beside its ``/compressed`` twin is left to the twin), and the
suggested profile converts the bag."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml
from rosbags.rosbag2 import StoragePlugin, Writer
from rosbags.typesys import Stores, get_typestore
from support import run_cli

from spill2lerobot.bag.base import TopicInfo
from spill2lerobot.inspect.suggest_generic import image_topics

START = 1_700_000_000 * 10**9
COLOUR, DEPTH, JOINTS = "/camera/color/image_raw", "/camera/depth/image_rect_raw", "/joint_states"


def write_bag(folder: Path, seconds: float = 3.0) -> None:
    store = get_typestore(Stores.ROS2_HUMBLE)
    types = store.types
    msgtypes = {COLOUR: "sensor_msgs/msg/Image", DEPTH: "sensor_msgs/msg/Image", JOINTS: "sensor_msgs/msg/JointState"}
    rates = {COLOUR: 30, DEPTH: 30, JOINTS: 100}
    events = sorted(
        (START + int(k * 1e9 / rate) + offset, topic, k)
        for offset, (topic, rate) in enumerate(rates.items())
        for k in range(int(seconds * rate))
    )
    rng = np.random.default_rng(0)
    with Writer(folder, version=9, storage_plugin=StoragePlugin.MCAP) as writer:
        conns = {topic: writer.add_connection(topic, msgtype, typestore=store) for topic, msgtype in msgtypes.items()}
        for t_ns, topic, k in events:
            stamp = types["builtin_interfaces/msg/Time"](sec=t_ns // 10**9, nanosec=t_ns % 10**9)
            header = types["std_msgs/msg/Header"](stamp=stamp, frame_id="cam")
            if topic == COLOUR:
                pixels = rng.integers(0, 256, (48, 64, 3), dtype=np.uint8)
                msg = types[msgtypes[topic]](header, 48, 64, "rgb8", 0, 192, pixels.ravel())
            elif topic == DEPTH:
                depth = np.full((48, 64), 500 + k, np.uint16)
                msg = types[msgtypes[topic]](header, 48, 64, "16UC1", 0, 128, depth.view(np.uint8).ravel())
            else:
                position = np.array([0.1 * k, -0.2 * k])
                msg = types[msgtypes[topic]](header, ["a", "b"], position, np.zeros(2), np.zeros(2))
            writer.write(conns[topic], t_ns, store.serialize_cdr(msg, msgtypes[topic]))


def test_image_topics_sort_colour_from_depth():
    info = TopicInfo("sensor_msgs/msg/Image", 1, (1,))
    compressed = TopicInfo("sensor_msgs/msg/CompressedImage", 1, (2,))
    present = {
        "/a/image_raw": info,
        "/a/image_raw/compressed": compressed,
        "/b/depth/image_raw": info,
        "/b/depth/image_raw/compressedDepth": compressed,
        "/c/image_raw": info,
        "/d/depth": info,
    }
    assert image_topics(present) == (
        ["/a/image_raw/compressed", "/c/image_raw"],
        ["/b/depth/image_raw/compressedDepth", "/d/depth"],
    )


@pytest.mark.slow
def test_suggest_proposes_raw_and_depth_cameras_that_convert(tmp_path):
    bag = tmp_path / "bag"
    write_bag(bag)
    text = run_cli("inspect", str(bag), "--suggest").stdout
    config = tmp_path / "robot.yaml"
    config.write_text(text)
    features = yaml.safe_load(text)["features"]
    assert list(features["cameras"].values()) == [COLOUR]
    assert list(features["depth"].values()) == [DEPTH]
    out = tmp_path / "out"
    run_cli("convert", str(bag), str(out), "--config", str(config))
    info = json.loads((out / "meta" / "info.json").read_text())
    depth_key = f"observation.{next(iter(features['depth']))}"
    assert info["features"][depth_key]["info"]["is_depth_map"] is True
    assert info["total_frames"] > 0
