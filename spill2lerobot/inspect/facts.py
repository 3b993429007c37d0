"""The facts ``inspect`` reports: per bag, per topic, per image, the profile check, the suggestion."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

GAP_FACTOR = 3  # an interval longer than this many median intervals counts as a gap


@dataclass
class ImageInfo:
    format: str  # CompressedImage.format or Image.encoding, as recorded
    codec: str | None  # what the bytes are: jpeg, png, raw (Image), or None if unknown
    width: int | None
    height: int | None
    error: str | None = None  # why the size could not be read


@dataclass
class TopicFacts:
    topic: str
    type: str  # ROS1 naming: sensor_msgs/CompressedImage
    count: int
    first_ns: int | None
    last_ns: int | None
    start_s: float | None  # first message, seconds after the bag's start
    end_s: float | None
    rate_hz: float | None  # (count - 1) / (last - first)
    median_interval_s: float | None
    max_gap_s: float | None  # largest interval between consecutive record times
    max_gap_at_s: float | None  # where it starts, seconds after the bag's start
    gaps: int | None  # intervals longer than GAP_FACTOR x the median interval
    image: ImageInfo | None = None


@dataclass
class TopicCheck:
    role: str  # e.g. "joint states", "arm trajectory"
    topic: str
    status: str  # ok | missing | empty | wrong type
    type: str | None  # what the bag has (ROS1 naming)
    expected: str | None  # what the profile expects (ROS1 naming)

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def describe(self) -> str:
        if self.status == "wrong type":
            return f"{self.topic} carries {self.type}, expected {self.expected}"
        if self.status == "empty":
            return f"{self.topic} has no messages"
        return f"{self.topic} {self.status}"


@dataclass
class FeatureCheck:
    feature: str  # observation.images.head_cam_h, observation.state, action, timeline
    topics: list[TopicCheck]

    @property
    def ok(self) -> bool:
        return all(t.ok for t in self.topics)


@dataclass
class ProfileCheck:
    source: str
    overrides: list[str]
    settings: dict[str, str]  # the robot's own settings (Kuavo: eef_type, which_arm); generic: none
    main_timeline: str
    main_timeline_fps: int
    train_hz: int
    sample_drop: int
    features: list[FeatureCheck]
    frames: int | None  # frames the profile's timeline gives this bag, None if it cannot convert
    reason: str | None  # why there are no frames
    notes: list[str] = field(default_factory=list)  # what the rules do to the timeline (Robot.timeline_notes)

    @property
    def ok(self) -> bool:
        return self.frames is not None

    @property
    def problems(self) -> list[TopicCheck]:
        seen: dict[str, TopicCheck] = {}
        for feature in self.features:
            for check in feature.topics:
                if not check.ok:
                    seen.setdefault(check.topic, check)
        return list(seen.values())


@dataclass
class Inferred:
    key: str  # dotted profile key
    value: Any
    why: str


@dataclass
class Suggestion:
    values: list[Inferred]
    warnings: list[str]
    frames: int | None  # frames the suggested profile gives this bag
    reason: str | None
    overrides: list[str] = field(default_factory=list)  # --set arguments from the profile checked to this
    yaml: str = ""


@dataclass
class BagFacts:
    path: str
    size_bytes: int
    chunks: int
    compression: list[str]  # of the first, middle and last chunks (distinct)
    indexed: bool
    recovery: str | None
    start_ns: int
    end_ns: int
    duration_s: float
    messages: int
    topics: list[TopicFacts]
    profile: ProfileCheck
    suggestion: Suggestion
    bytes_read: int = 0
    seconds: float = 0.0

    def to_json(self, with_yaml: bool) -> dict[str, Any]:
        data: dict[str, Any] = dataclasses.asdict(self)
        data["profile"]["ok"] = self.profile.ok
        data["profile"]["missing"] = [c.topic for c in self.profile.problems if c.status in ("missing", "empty")]
        data["profile"]["wrong_types"] = [
            {"topic": c.topic, "type": c.type, "expected": c.expected}
            for c in self.profile.problems
            if c.status == "wrong type"
        ]
        for feature, checked in zip(data["profile"]["features"], self.profile.features, strict=True):
            feature["ok"] = checked.ok
        if not with_yaml:
            del data["suggestion"]["yaml"]
        return data
