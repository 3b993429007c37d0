"""Profiles: the only place that knows a particular robot.

``load_profile`` reads a YAML profile into ``Profile`` (the options); ``robot_for(profile)``
gives its ``Robot`` (the Kuavo rules, or a generic profile's features): the topics a profile
needs, its cameras (``Camera``), a bag's topics by role (``Roles``), and one frame's state and
action. Code outside this package uses only what is exported here.
"""

from spill2lerobot.profiles.base import Camera, FeatureSource, Robot, Roles, Vector
from spill2lerobot.profiles.checks import check_range, check_text, quote, shorten
from spill2lerobot.profiles.generic_check import MAX_CAMERAS, MAX_LABEL, MAX_NAME, MAX_VALUES, part_names
from spill2lerobot.profiles.kuavo import looks_like_kuavo
from spill2lerobot.profiles.kuavo_suggest import KuavoFit, fit_kuavo_profile
from spill2lerobot.profiles.loading import DEFAULT_PROFILE, load_profile, parse_override, profile_from_dict
from spill2lerobot.profiles.options import (
    MAX_FPS,
    MAX_IMAGE_PIXELS,
    MAX_SIDE,
    MIN_SIDE,
    DatasetOptions,
    FaultOptions,
    FeatureOptions,
    FieldPart,
    Profile,
    image_pixel_limit,
)
from spill2lerobot.profiles.robots import robot_for

__all__ = [
    "DEFAULT_PROFILE",
    "MAX_CAMERAS",
    "MAX_FPS",
    "MAX_IMAGE_PIXELS",
    "MAX_LABEL",
    "MAX_NAME",
    "MAX_SIDE",
    "MAX_VALUES",
    "MIN_SIDE",
    "Camera",
    "DatasetOptions",
    "FaultOptions",
    "FeatureOptions",
    "FeatureSource",
    "FieldPart",
    "KuavoFit",
    "Profile",
    "Robot",
    "Roles",
    "Vector",
    "check_range",
    "check_text",
    "fit_kuavo_profile",
    "image_pixel_limit",
    "load_profile",
    "looks_like_kuavo",
    "parse_override",
    "part_names",
    "profile_from_dict",
    "quote",
    "robot_for",
    "shorten",
]
