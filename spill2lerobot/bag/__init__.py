"""Bag readers behind one interface (``base.Bag``): ROS1 (``ros1.Ros1Bag``), ROS2 (``ros2.Ros2Bag``)."""

from __future__ import annotations

from pathlib import Path

from spill2lerobot.bag.base import Bag, BagError, Message, Recovery, TopicInfo
from spill2lerobot.bag.ros1 import Ros1Bag
from spill2lerobot.bag.ros2 import Ros2Bag, is_ros2_bag

__all__ = ["Bag", "BagError", "Message", "Recovery", "Ros1Bag", "Ros2Bag", "TopicInfo", "is_ros2_bag", "open_bag"]


def open_bag(path: str | Path, recover: bool = False) -> Ros1Bag | Ros2Bag:
    """ROS2 for ``.mcap``/``.db3`` files and rosbag2 folders (``metadata.yaml``), else ROS1."""
    path = Path(path)
    if path.exists() and not (path.is_file() or path.is_dir()):  # a FIFO would block, a device never end
        raise BagError(f"{path}: not a regular file (a pipe, socket or device); pass a bag file or folder")
    if is_ros2_bag(path):
        return Ros2Bag(path, recover=recover)
    return Ros1Bag(path, recover=recover)
