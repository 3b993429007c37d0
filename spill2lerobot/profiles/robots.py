"""The one place that chooses a profile's robot: the Kuavo rules, or a generic profile's features."""

from __future__ import annotations

from spill2lerobot.profiles.base import Robot
from spill2lerobot.profiles.generic import GenericRobot
from spill2lerobot.profiles.generic_check import check_features
from spill2lerobot.profiles.kuavo import KuavoRobot, check_options
from spill2lerobot.profiles.options import Profile


def robot_for(profile: Profile) -> Robot:
    """The rules that turn ``profile``'s bags into features (a ``features`` section: generic)."""
    if profile.features is not None:
        return GenericRobot(profile)
    return KuavoRobot(profile)


def check_robot_options(profile: Profile) -> None:
    """The chosen robot's own option checks (after the options every profile has)."""
    if profile.features is not None:
        check_features(profile)
    else:
        check_options(profile)
