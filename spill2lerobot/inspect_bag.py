"""Moved to the package ``spill2lerobot.inspect`` (shim, removed at the end)."""

from spill2lerobot.inspect import *  # noqa: F403  (shim, removed at the end)
from spill2lerobot.inspect.check import check_profile
from spill2lerobot.inspect.command import inspect_command
from spill2lerobot.inspect.images import _decoded_size, compressed_image_info, first_images, image_info
from spill2lerobot.inspect.report import inspect_bag, report_lines
from spill2lerobot.inspect.suggest import _train_hz, suggest
from spill2lerobot.inspect.topics import IndexView, _all_topic_times, topic_facts

__all__ = [
    "IndexView",
    "_all_topic_times",
    "_decoded_size",
    "_train_hz",
    "check_profile",
    "compressed_image_info",
    "first_images",
    "image_info",
    "inspect_bag",
    "inspect_command",
    "report_lines",
    "suggest",
    "topic_facts",
]
