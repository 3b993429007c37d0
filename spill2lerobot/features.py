"""Shim: the robot interface moved to ``spill2lerobot.profiles`` (removed at the end)."""

from spill2lerobot.profiles.base import Camera, Roles
from spill2lerobot.profiles.base import Robot as Extractor
from spill2lerobot.profiles.kuavo import KuavoRobot as KuavoExtractor
from spill2lerobot.profiles.robots import robot_for as extractor_for

__all__ = ["Camera", "Extractor", "KuavoExtractor", "Roles", "extractor_for"]
