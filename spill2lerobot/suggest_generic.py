"""Moved to ``spill2lerobot.inspect.suggest_generic`` (shim, removed at the end)."""

from spill2lerobot.inspect.suggest_generic import *  # noqa: F403  (shim, removed at the end)
from spill2lerobot.inspect.suggest_generic import (
    ARRAY_TYPES,
    JOINT_STATE,
    PLACEHOLDER,
    SCALAR_TYPES,
    camera_names,
    generic_base,
    looks_like_kuavo,
    suggest_features,
)

__all__ = [
    "ARRAY_TYPES",
    "JOINT_STATE",
    "PLACEHOLDER",
    "SCALAR_TYPES",
    "camera_names",
    "generic_base",
    "looks_like_kuavo",
    "suggest_features",
]
