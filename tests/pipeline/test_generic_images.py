"""Generic profiles with raw ``sensor_msgs/Image`` colour cameras and depth cameras (raw 16UC1
and compressedDepth PNG), from ROS1 bags and their rosbag2 conversions.

Oracles: ``validate --against`` decodes each sampled frame from the bag on its own and compares
it with what lerobot decodes from the dataset (colour within the video codec's error, depth in
millimetres within lerobot's quantisation); the ROS1 bag and its ROS2 conversion give the same
dataset; lerobot 0.6.1 loads it with its depth features.
"""

from __future__ import annotations

import json
from pathlib import Path

import gen_kuavo_bag
import gen_ros2_bag
import pytest
import yaml
from compare import assert_same_dataset
from lerobot.datasets.lerobot_dataset import LeRobotDataset
from support import run_cli

from spill2lerobot.errors import UserError
from spill2lerobot.profiles import load_profile

STATE = [{"topic": "/sensors_data_raw", "field": "joint_data.joint_q", "slice": [12, 19]}]
ACTION = [{"topic": "/joint_cmd", "field": "joint_q", "slice": [12, 19]}]


def profile(cameras: dict[str, str], depth: dict[str, str], **dataset: object) -> dict:
    return {
        "rosbag": {"chunk_size": 10},
        "dataset": {"main_timeline": "head", "resize": {"width": 64, "height": 48}, "repo_id": "local/gen", **dataset},
        "features": {"cameras": cameras, "depth": depth, "state": STATE, "action": ACTION},
    }


def convert_and_check(bag: Path, config: Path, out: Path) -> dict:
    run_cli("convert", str(bag), str(out), "--config", str(config))
    checked = json.loads(run_cli("validate", str(out), "--against", str(bag), "--config", str(config), "--json").stdout)
    assert checked["ok"] is True, checked
    return json.loads((out / "meta" / "info.json").read_text())


@pytest.mark.slow
def test_raw_colour_and_raw_depth_from_ros1_and_ros2(tmp_path):
    ros1 = tmp_path / "raw.bag"
    gen_kuavo_bag.write_kuavo_bag(
        ros1, 3.0, seed=2, width=64, height=48, depth=True, depth_encoding="16UC1", image_format="rgb8"
    )
    ros2 = gen_ros2_bag.convert_ros1_bag(ros1, tmp_path / "raw_ros2")
    config = tmp_path / "gen.yaml"
    depth = {
        "depth_head": gen_kuavo_bag.RAW_DEPTH_TOPICS["cam_h"],
        "depth_left": gen_kuavo_bag.RAW_DEPTH_TOPICS["cam_l"],
    }
    config.write_text(yaml.safe_dump(profile({"head": gen_kuavo_bag.RAW_CAMERA_TOPICS["cam_h"]}, depth)))
    info = convert_and_check(ros1, config, tmp_path / "from_ros1")
    convert_and_check(ros2, config, tmp_path / "from_ros2")
    assert_same_dataset(tmp_path / "from_ros1", tmp_path / "from_ros2", same_sources=False)
    features = info["features"]
    assert features["observation.images.head"]["info"]["is_depth_map"] is False
    for key in ("observation.depth_head", "observation.depth_left"):
        assert features[key]["shape"] == [48, 64, 1] and features[key]["info"]["is_depth_map"] is True
    dataset = LeRobotDataset("local/gen", root=tmp_path / "from_ros2")
    item = dataset[3]
    assert tuple(item["observation.depth_head"].shape)[-2:] == (48, 64)
    assert tuple(item["observation.images.head"].shape) == (3, 48, 64)


@pytest.mark.slow
def test_compressed_depth_in_rgb8_form(tmp_path):
    ros1 = tmp_path / "png.bag"
    gen_kuavo_bag.write_kuavo_bag(ros1, 3.0, seed=4, width=64, height=48, depth=True)
    config = tmp_path / "gen.yaml"
    cameras = {"head": gen_kuavo_bag.CAMERA_TOPICS["cam_h"]}
    config.write_text(
        yaml.safe_dump(profile(cameras, {"depth_r": gen_kuavo_bag.DEPTH_TOPICS["cam_r"]}, depth_mode="rgb8"))
    )
    info = convert_and_check(ros1, config, tmp_path / "out")
    assert info["features"]["observation.depth_r"]["shape"] == [48, 64, 3]


@pytest.mark.parametrize(
    ("depth", "message"),
    [
        ({"head": "/cam_h/depth/image_raw"}, "profile key 'features.depth.head'"),
        ({"bad name": "/d"}, "profile key 'features.depth.bad name'"),
        ({"d": "/cam_h/color/image_raw/compressed"}, "is given to two cameras"),
    ],
)
def test_bad_depth_cameras_are_one_line(tmp_path, depth, message):
    config = tmp_path / "p.yaml"
    config.write_text(yaml.safe_dump(profile({"head": "/cam_h/color/image_raw/compressed"}, depth)))
    with pytest.raises(UserError) as err:
        load_profile(config)
    assert message in str(err.value) and "\n" not in str(err.value)


@pytest.mark.slow
def test_a_depth_topic_of_the_wrong_type_is_one_line(tmp_path):
    bag = tmp_path / "k.bag"
    gen_kuavo_bag.write_kuavo_bag(bag, 2.0, width=64, height=48)
    config = tmp_path / "p.yaml"
    config.write_text(yaml.safe_dump(profile({"head": gen_kuavo_bag.CAMERA_TOPICS["cam_h"]}, {"d": "/joint_cmd"})))
    result = run_cli("convert", str(bag), str(tmp_path / "out"), "--config", str(config), check=False)
    assert result.returncode == 2
    last = result.stderr.strip().splitlines()[-1]
    assert "/joint_cmd" in last and "sensor_msgs" in last
