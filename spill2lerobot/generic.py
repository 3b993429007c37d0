"""Shim: generic profiles moved to ``spill2lerobot.profiles.generic`` (removed at the end)."""

from spill2lerobot.profiles.generic import *  # noqa: F403  (shim, removed at the end)
from spill2lerobot.profiles.generic import CAMERA_TYPES, CONVERSIONS, GenericRoles, field_value
from spill2lerobot.profiles.generic import GenericRobot as GenericExtractor
from spill2lerobot.profiles.generic_check import *  # noqa: F403
from spill2lerobot.profiles.generic_check import (
    MAX_CAMERAS,
    MAX_INDEX,
    MAX_LABEL,
    MAX_NAME,
    MAX_PARTS,
    MAX_TOPIC,
    MAX_VALUES,
    check_features,
    part_names,
    part_size,
)
from spill2lerobot.profiles.generic_check import path_steps as _path_steps

__all__ = [
    "CAMERA_TYPES", "CONVERSIONS", "MAX_CAMERAS", "MAX_INDEX", "MAX_LABEL", "MAX_NAME", "MAX_PARTS", "MAX_TOPIC",
    "MAX_VALUES", "GenericExtractor", "GenericRoles", "_path_steps", "check_features", "field_value",
    "part_names", "part_size",
]  # fmt: skip
