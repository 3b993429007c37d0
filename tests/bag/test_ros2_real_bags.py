"""The rosbag2 bags ROS 2's own tools wrote (tests/data/real-bags/ros2/, from ../shared): ``inspect`` reads
every one, and its topics, types and counts are those of the bag's ``metadata.yaml``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from support import ROOT, run_cli

REAL_ROS2 = ROOT / "tests" / "data" / "real-bags" / "ros2"  # copied from ../shared/data/real-bags/ros2
BAGS = sorted(p.name for p in REAL_ROS2.iterdir() if (p / "metadata.yaml").is_file())


def from_metadata(folder: Path) -> dict[str, tuple[str, int]]:
    """topic -> (type in ROS1 naming, as inspect shows it; message count), from metadata.yaml."""
    info = yaml.safe_load((folder / "metadata.yaml").read_text())["rosbag2_bagfile_information"]
    out = {}
    for entry in info["topics_with_message_count"]:
        meta = entry["topic_metadata"]
        package, _, name = meta["type"].split("/")
        out[meta["name"]] = (f"{package}/{name}", entry["message_count"])
    return out


def test_every_real_ros2_bag_is_here():
    assert len(BAGS) == 5, BAGS


@pytest.mark.slow
@pytest.mark.parametrize("name", BAGS)
def test_inspect_reads_a_real_ros2_bag_as_its_metadata_says(name):
    folder = REAL_ROS2 / name
    result = run_cli("inspect", str(folder), "--json")
    found = json.loads(result.stdout)
    assert found["recovery"] is None
    assert {t["topic"]: (t["type"], t["count"]) for t in found["topics"]} == from_metadata(folder)
    assert found["messages"] == sum(count for _, count in from_metadata(folder).values())
