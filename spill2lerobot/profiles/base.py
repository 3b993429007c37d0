"""The profile interface: the neutral camera type, a bag's topics by role, and a robot's rules.

Stage 1, merge, validate and inspect ask a ``Robot`` (``robot_for(profile)``) for the cameras,
the state/action names, a bag's topics and one frame's state and action. The Kuavo rules and
generic profiles both implement it, so both share the same reader, aligner, spill and merge.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from spill2lerobot.align import TopicAlign

Vector = npt.NDArray[np.float32]  # one frame's observation.state or action
Matrix = npt.NDArray[np.float32]  # frames x values


def tf_key(frame: str, relative_to: str) -> str:
    """Where a frame's pose of ``frame`` in ``relative_to`` (x y z qx qy qz qw) is among its messages."""
    return f"tf:{relative_to}>{frame}"


# Topic -> record times of the two consecutive messages strictly around a frame's time.
Between = Mapping[str, tuple[int, int]]
# Which topics fill a feature: (feature key, [(role shown to the user, topic), ...]).
FeatureSource = tuple[str, list[tuple[str, str]]]


@dataclass(frozen=True)
class Camera:
    name: str
    topic: str
    kind: str = "color"  # color | depth_png (compressedDepth) | depth_raw (sensor_msgs/Image)

    @property
    def is_depth(self) -> bool:
        return self.kind != "color"

    @property
    def key(self) -> str:
        return f"observation.{self.name}" if self.is_depth else f"observation.images.{self.name}"


class Roles(Protocol):
    """A bag's topics by role: ``cameras``, ``main_camera``, ``lowdim`` topics and ``all``."""

    @property
    def cameras(self) -> tuple[Camera, ...]: ...

    @property
    def main_camera(self) -> Camera: ...

    @property
    def lowdim(self) -> tuple[str, ...]: ...

    @property
    def all(self) -> tuple[str, ...]: ...


class Robot(Protocol):
    """What a profile means for the pipeline; ``Roles`` passed in come from ``resolve_topics``."""

    def cameras(self) -> tuple[Camera, ...]: ...

    def state_names(self) -> list[str]: ...

    def action_names(self) -> list[str]: ...

    def resolve_topics(self, bag_topics: Mapping[str, object]) -> Roles:
        """Pick this bag's topics; the caller checks that each exists."""
        ...

    def cutoff_topics(self, roles: Roles, present: set[str]) -> list[str]:
        """The topics whose earliest last message ends the timeline."""
        ...

    def expected_types(self, roles: Roles) -> Mapping[str, str]: ...

    def accepts_msgtype(self, roles: Roles, topic: str, msgtype: str) -> tuple[bool, str]:
        """Whether ``topic`` may carry ``msgtype``, and the expected type(s) as text for an error
        (empty when the profile expects nothing of the topic)."""
        ...

    def check_fields(self, roles: Roles, msgtypes: Mapping[str, str], typestore: Any, where: str) -> None:
        """Each field the rules read against the bag's message types (before any message is read)."""
        ...

    def depth_camera_names(self) -> list[str]: ...

    def settings(self) -> dict[str, str]:
        """The robot's own settings, as ``inspect`` shows them (empty for a generic profile)."""
        ...

    def feature_sources(self, roles: Roles) -> list[FeatureSource]:
        """Each feature with the topics that fill it, for ``inspect``'s profile check."""
        ...

    def depth_cameras(self, topics: Collection[str]) -> tuple[Camera, ...]:
        """The depth cameras (``depth_png`` kind, on their compressed topics) whose compressed or raw
        topic is among ``topics``, e.g. a bag plan's topics."""
        ...

    def tf_requests(self) -> list[tuple[str, str]]:
        """Poses from /tf the features take: (frame, relative_to) pairs; their values come in
        ``state_and_action``'s messages under ``tf_key`` (generic profiles' TF parts)."""
        ...

    def span_topics(self, roles: Roles) -> tuple[str, ...]:
        """Topics whose messages around each frame time the rules need (``Between``)."""
        ...

    def alignment(self, roles: Roles) -> Mapping[str, TopicAlign]:
        """Topics not aligned by nearest message, or with their own gap limit (generic profiles)."""
        ...

    def state_and_action(self, roles: Roles, msgs: Mapping[str, Any], between: Between) -> tuple[Vector, Vector]:
        """One frame's values from its picked messages; ``between`` for the ``span_topics``."""
        ...

    def timeline_notes(self, roles: Roles, topic_times: Callable[[str], Any], targets_ns: Any) -> list[str]:
        """What the rules will do to this bag's timeline, for ``inspect`` (e.g. gap markers)."""
        ...

    def rebases(self) -> bool:
        """Whether values are made relative to the bag's first frame (``rebase``)."""
        ...

    def rebase(self, state: Matrix, action: Matrix, first_state: Vector, first_action: Vector) -> tuple[Matrix, Matrix]:
        """Frames of one bag made relative to its first frame (its raw values given), at merge."""
        ...
