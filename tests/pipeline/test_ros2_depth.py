"""Depth cameras in ROS2 bags: a rosbag2 converted from a generated ROS1 Kuavo bag with depth gives
the dataset the ROS1 bag gives (rows, decoded frames, metadata, statistics), in both depth modes,
for compressedDepth PNG and raw 16UC1/32FC1 ``sensor_msgs/Image`` (padded rows, big endian).

The ROS1 bag's depth path is itself checked against the generator's known millimetres
(tests/spill/test_depth.py), so equality here carries that check over to ROS2.
"""

from __future__ import annotations

import json
from pathlib import Path

import gen_kuavo_bag
import gen_ros2_bag
import numpy as np
import pytest
from compare import assert_same_dataset
from rosbags.typesys import Stores, get_typestore
from support import run_cli

from spill2lerobot.bag import open_bag
from spill2lerobot.bag.wire import CompressedPayload, RawImage, depth_cutter
from spill2lerobot.spill.depth import DepthDecoder

SMALL = ["--set", "dataset.resize.width=160", "--set", "dataset.resize.height=120", "--set", "rosbag.chunk_size=10"]
DEPTH_KEYS = {"observation.depth_h", "observation.depth_l", "observation.depth_r"}


@pytest.mark.slow
@pytest.mark.parametrize(
    ("encoding", "storage", "mode", "variant"),
    [
        ("png", "mcap", "native", {}),
        ("16UC1", "sqlite3", "rgb8", {"depth_bigendian": True, "depth_row_pad": 6}),
        ("32FC1", "mcap", "native", {"depth_row_pad": 4}),
    ],
)
def test_a_ros2_bag_with_depth_gives_the_ros1_bags_dataset(tmp_path, encoding, storage, mode, variant):
    ros1 = tmp_path / "kuavo.bag"
    gen_kuavo_bag.write_kuavo_bag(
        ros1, 3.0, seed=5, width=160, height=120, depth=True, depth_encoding=encoding, **variant
    )
    ros2 = gen_ros2_bag.convert_ros1_bag(ros1, tmp_path / "kuavo_ros2", storage)
    options = [*SMALL, "--set", f"dataset.depth_mode={mode}"]
    run_cli("convert", str(ros1), str(tmp_path / "from_ros1"), *options)
    run_cli("convert", str(ros2), str(tmp_path / "from_ros2"), *options)
    info = json.loads((tmp_path / "from_ros2" / "meta" / "info.json").read_text())
    assert set(info["features"]) >= DEPTH_KEYS
    assert all((info["features"][key]["info"] or {}).get("is_depth_map") is (mode == "native") for key in DEPTH_KEYS)
    assert_same_dataset(tmp_path / "from_ros1", tmp_path / "from_ros2", same_sources=False)
    checked = run_cli("validate", str(tmp_path / "from_ros2"), "--against", str(ros2), "--json")
    assert json.loads(checked.stdout)["ok"] is True


def _cdr_depth_messages() -> tuple[bytes, bytes, np.ndarray]:
    """A 16UC1 raw Image (rows padded, big endian) and a compressedDepth message, as CDR."""
    store = get_typestore(Stores.ROS2_HUMBLE)
    header = store.types["std_msgs/msg/Header"](
        stamp=store.types["builtin_interfaces/msg/Time"](sec=1, nanosec=2), frame_id="depth_frame"
    )
    depth = np.arange(12, dtype=np.uint16).reshape(3, 4) * 100 + 7
    rows = np.zeros((3, 4 * 2 + 2), np.uint8)  # 2 bytes of padding per row
    rows[:, :8] = depth.astype(">u2").view(np.uint8).reshape(3, 8)
    image = store.types["sensor_msgs/msg/Image"](
        header=header, height=3, width=4, encoding="16UC1", is_bigendian=1, step=10, data=rows.ravel()
    )
    raw = bytes(store.serialize_cdr(image, "sensor_msgs/msg/Image"))
    compressed = store.types["sensor_msgs/msg/CompressedImage"](
        header=header, format="16UC1; compressedDepth png", data=np.frombuffer(b"\0" * 12 + b"PNGDATA", np.uint8)
    )
    return raw, bytes(store.serialize_cdr(compressed, "sensor_msgs/msg/CompressedImage")), depth


def test_cdr_depth_messages_are_cut_without_deserialising():
    raw, compressed, depth = _cdr_depth_messages()
    image = depth_cutter("cdr", "sensor_msgs/msg/Image")(raw)
    assert isinstance(image, RawImage)
    assert (image.width, image.height, image.encoding, image.step, image.bigendian) == (4, 3, "16UC1", 10, True)
    np.testing.assert_array_equal(DepthDecoder.decode_cut(image, raw=True), depth)
    cut = depth_cutter("cdr", "sensor_msgs/msg/CompressedImage")(compressed)
    assert cut == CompressedPayload("16UC1; compressedDepth png", b"\0" * 12 + b"PNGDATA")


@pytest.mark.parametrize("msgtype", ["sensor_msgs/msg/Image", "sensor_msgs/msg/CompressedImage"])
def test_a_cdr_depth_message_cut_short_is_an_undecodable_image(msgtype):
    raw, compressed, _ = _cdr_depth_messages()
    payload = raw if msgtype.endswith("/Image") else compressed
    cut = depth_cutter("cdr", msgtype)
    for end in range(0, len(payload) - 1, 3):
        image = cut(payload[:end])
        with pytest.raises(ValueError):
            DepthDecoder.decode_cut(image, raw=msgtype.endswith("/Image"))


def test_a_ros1_depth_message_goes_to_the_worker_whole(tmp_path):
    bag_path = tmp_path / "d.bag"
    gen_kuavo_bag.write_kuavo_bag(bag_path, 1.0, width=64, height=48, depth=True, depth_encoding="16UC1")
    with open_bag(bag_path) as bag:
        msg = next(iter(bag.messages([gen_kuavo_bag.RAW_DEPTH_TOPICS["cam_h"]])))
        assert depth_cutter("ros1", "sensor_msgs/msg/Image")(msg.data) == msg.data


def test_the_converter_keeps_kuavo_lower_case_constants(tmp_path):
    """rosbags-convert's reader refuses Kuavo bags (their lower-case constants); ours reads the
    converted bag's lejuClawState with the ROS1 bag's values."""
    ros1 = tmp_path / "k.bag"
    gen_kuavo_bag.write_kuavo_bag(ros1, 1.0, width=64, height=48)
    ros2 = gen_ros2_bag.convert_ros1_bag(ros1, tmp_path / "k_ros2")
    values = []
    for path in (ros1, ros2):
        with open_bag(path) as bag:
            msg = next(iter(bag.messages([gen_kuavo_bag.CLAW_STATE_TOPIC])))
            state = bag.deserialize(msg)
            values.append((list(state.state), list(state.data.position)))
    assert values[0] == values[1]
    assert values[0][0] in ([1, 1], [2, 2], [1, 2], [2, 1])  # kMoving / kReached, as generated


def test_convert_ros1_bag_writes_every_message(tmp_path):
    ros1 = tmp_path / "k.bag"
    gen_kuavo_bag.write_kuavo_bag(ros1, 1.0, width=64, height=48, depth=True)
    ros2 = gen_ros2_bag.convert_ros1_bag(ros1, tmp_path / "k_ros2", "sqlite3")
    with open_bag(ros1) as a, open_bag(Path(ros2)) as b:
        assert {t: i.count for t, i in a.topics().items()} == {t: i.count for t, i in b.topics().items()}
