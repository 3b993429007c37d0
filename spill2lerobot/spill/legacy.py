"""Shim (removed at the end): the type check of ``check_topics`` for callers that still pass the
expected types instead of the profile's Robot (inspect, validate)."""

from __future__ import annotations

from collections.abc import Mapping

from spill2lerobot.profiles import Roles
from spill2lerobot.profiles.kuavo import EXPECTED_TYPES, accepts_msgtype


class ExpectedTypes:
    """``Robot.accepts_msgtype`` over the Kuavo camera rule and the given expected types."""

    def __init__(self, expected_types: Mapping[str, str] | None) -> None:
        self._expected = EXPECTED_TYPES if expected_types is None else expected_types

    def accepts_msgtype(self, roles: Roles, topic: str, msgtype: str) -> tuple[bool, str]:
        return accepts_msgtype(topic, msgtype, self._expected)
