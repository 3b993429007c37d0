"""ROS1 bags (format 2.0): ``Ros1Bag``, a streaming, index-aware reader with flat memory.

By job: ``records`` (record layout and parsing), ``file`` (counted reads, chunks), ``walk``
(a decompressed chunk's records), ``index`` (queries answered from the index), ``recovery``
(a scan for bags without a usable index), ``reader`` (``Ros1Bag``: opening and streaming).
"""

from spill2lerobot.bag.base import BagError, Message, Recovery, TopicInfo
from spill2lerobot.bag.ros1.reader import Ros1Bag
from spill2lerobot.bag.ros1.records import MAGIC, ChunkInfo, Connection, parse_header, ros1_to_rosbags_type

__all__ = [
    "MAGIC",
    "BagError",
    "ChunkInfo",
    "Connection",
    "Message",
    "Recovery",
    "Ros1Bag",
    "TopicInfo",
    "parse_header",
    "ros1_to_rosbags_type",
]
