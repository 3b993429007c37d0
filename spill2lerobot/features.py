"""The seam between a profile and the pipeline: which topics feed which features, and how.

Stage 1, merge and validate ask an extractor (``extractor_for(profile)``) for the cameras, the
state/action names, a bag's topics and one frame's state and action. The Kuavo rules
(``kuavo.py``, the default profile) and generic profiles (``generic.py``) both go through it,
so both share the same reader, aligner, spill and merge.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

import numpy as np

from spill2lerobot import kuavo
from spill2lerobot.kuavo import Camera
from spill2lerobot.profile import Profile


class Roles(Protocol):
    """A bag's topics by role: ``cameras``, ``main_camera``, ``lowdim`` topics and ``all``."""

    cameras: tuple[Camera, ...]
    main_camera: Camera

    @property
    def lowdim(self) -> tuple[str, ...]: ...

    @property
    def all(self) -> tuple[str, ...]: ...


class Extractor(Protocol):
    def cameras(self) -> tuple[Camera, ...]: ...
    def state_names(self) -> list[str]: ...
    def action_names(self) -> list[str]: ...
    def resolve_topics(self, bag_topics: Mapping[str, object]) -> Roles: ...
    def cutoff_topics(self, roles: Roles, present: set[str]) -> list[str]: ...
    def expected_types(self, roles: Roles) -> Mapping[str, str]: ...
    def check_fields(self, roles: Roles, msgtypes: Mapping[str, str], typestore, where: str) -> None: ...
    def state_and_action(self, roles: Roles, msgs: Mapping[str, object]) -> tuple[np.ndarray, np.ndarray]: ...


class KuavoExtractor:
    """The Kuavo rules of ``kuavo.py``, unchanged."""

    def __init__(self, profile: Profile) -> None:
        self._profile = profile

    def cameras(self) -> tuple[Camera, ...]:
        return kuavo.cameras(self._profile)

    def state_names(self) -> list[str]:
        return kuavo.feature_names(self._profile)

    def action_names(self) -> list[str]:
        return kuavo.feature_names(self._profile)

    def resolve_topics(self, bag_topics: Mapping[str, object]) -> kuavo.TopicRoles:
        return kuavo.resolve_topics(self._profile, bag_topics)

    def cutoff_topics(self, roles: kuavo.TopicRoles, present: set[str]) -> list[str]:
        # Every topic the original reads, whether or not the chosen features use it; a camera
        # read from its raw topic stands in for the compressed one.
        return [topic for topic in dict.fromkeys((*kuavo.KNOWN_TOPICS, *roles.all)) if topic in present]

    def expected_types(self, roles: kuavo.TopicRoles) -> Mapping[str, str]:
        return kuavo.EXPECTED_TYPES

    def check_fields(self, roles, msgtypes, typestore, where) -> None:
        return None  # the expected message types fix every field the rules read

    def state_and_action(self, roles: kuavo.TopicRoles, msgs: Mapping[str, object]) -> tuple[np.ndarray, np.ndarray]:
        return kuavo.state_and_action(self._profile, roles, msgs)


def extractor_for(profile: Profile) -> Extractor:
    if profile.features is not None:
        from spill2lerobot.generic import GenericExtractor

        return GenericExtractor(profile)
    return KuavoExtractor(profile)
