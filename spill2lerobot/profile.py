"""Shim: the profile options and their reading moved to ``spill2lerobot.profiles`` (removed at the end)."""

from spill2lerobot.profiles.checks import *  # noqa: F403  (shim, removed at the end)
from spill2lerobot.profiles.checks import QUOTE_LIMIT, check_range, check_text, quote, shorten
from spill2lerobot.profiles.coerce import _coerce, _type_name
from spill2lerobot.profiles.coerce import build as _build
from spill2lerobot.profiles.loading import *  # noqa: F403
from spill2lerobot.profiles.loading import (
    DEFAULT_PROFILE,
    MAX_PROFILE_BYTES,
    MAX_YAML_DEPTH,
    MAX_YAML_SCALAR,
    MAX_YAML_VALUES,
    _merge,
    _read_profile_text,
    _Refused,
    _screen,
    _show_path,
    _yaml_load,
    load_profile,
    parse_override,
    profile_from_dict,
)
from spill2lerobot.profiles.options import *  # noqa: F403
from spill2lerobot.profiles.options import (
    MAX_BAGS,
    MAX_CHUNK_SIZE,
    MAX_DEPTH_MM,
    MAX_FPS,
    MAX_GOP,
    MAX_IMAGE_PIXELS,
    MAX_PATH_TEXT,
    MAX_SAMPLE_DROP,
    MAX_SIDE,
    MAX_SKEW_MS,
    MAX_TEXT,
    MIN_SIDE,
    SVTAV1_PRESETS,
    X264_PRESETS,
    DatasetOptions,
    FaultOptions,
    FeatureOptions,
    FieldPart,
    Profile,
    ResizeOptions,
    RosbagOptions,
    VideoOptions,
    image_pixel_limit,
)

__all__ = [
    "DEFAULT_PROFILE", "MAX_BAGS", "MAX_CHUNK_SIZE", "MAX_DEPTH_MM", "MAX_FPS", "MAX_GOP", "MAX_IMAGE_PIXELS",
    "MAX_PATH_TEXT", "MAX_PROFILE_BYTES", "MAX_SAMPLE_DROP", "MAX_SIDE", "MAX_SKEW_MS", "MAX_TEXT",
    "MAX_YAML_DEPTH", "MAX_YAML_SCALAR", "MAX_YAML_VALUES", "MIN_SIDE", "QUOTE_LIMIT", "SVTAV1_PRESETS",
    "X264_PRESETS", "DatasetOptions", "FaultOptions", "FeatureOptions", "FieldPart", "Profile", "ResizeOptions",
    "RosbagOptions", "VideoOptions", "_Refused", "_build", "_coerce", "_merge", "_read_profile_text", "_screen",
    "_show_path", "_type_name", "_yaml_load", "check_range", "check_text", "image_pixel_limit", "load_profile",
    "parse_override", "profile_from_dict", "quote", "shorten",
]  # fmt: skip
