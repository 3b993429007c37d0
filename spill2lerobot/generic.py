"""Generic profiles: any robot's topics and message fields mapped onto the dataset's features.

A profile with a ``features`` section (see ``configs/ros2_arm.yaml``) names its cameras
(``name: topic``, ``sensor_msgs/CompressedImage`` JPEG/PNG) and builds ``observation.state`` and
``action`` by concatenating parts, each the values of one message field::

    features:
      cameras: {front: /front/image_raw/compressed}
      state:
        - {topic: /joint_states, field: position, slice: [0, 6], names: [j1, j2, j3, j4, j5, j6]}
      action:
        - {topic: /arm/command, field: data, slice: [0, 6], convert: deg2rad}

Everything else (timeline camera ``dataset.main_timeline`` and its fps, ``train_hz``,
``sample_drop``, resize, video, faults) means what it means for Kuavo; the timeline ends before
the earliest last message of any topic the profile uses.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from spill2lerobot.errors import UserError
from spill2lerobot.kuavo import Camera
from spill2lerobot.profile import FieldPart, Profile, check_range, check_text, quote, shorten

CAMERA_TYPES = ("sensor_msgs/msg/CompressedImage",)
CONVERSIONS = {
    "none": 1.0,
    "deg2rad": np.pi / 180.0,
    "rad2deg": 180.0 / np.pi,
    "mm2m": 1e-3,
    "m2mm": 1e3,
    "percent": 1e-2,
}
_NAME = re.compile(r"^[A-Za-z0-9_]+$")  # camera names become file names and feature keys
# Sane bounds of a generic profile (its values size lists, arrays and file names).
MAX_CAMERAS = 64
MAX_NAME = 64  # characters of a camera name
MAX_TOPIC = 1000  # characters of a topic
MAX_PARTS = 256  # parts of one feature
MAX_VALUES = 10_000  # values of one feature (state or action)
MAX_INDEX = 100_000  # message array indices (slice, indices, field path) are below this
MAX_LABEL = 256  # characters of a field path, a value name or a joint name
_STEP = re.compile(r"^(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?P<index>(?:\[\d+\])*)$")


def _path_steps(path: str) -> list[tuple[str, list[int]]] | None:
    """'poses[0].position' -> [('poses', [0]), ('position', [])]; None if malformed."""
    steps = []
    for part in path.split("."):
        match = _STEP.match(part)
        if match is None:
            return None
        steps.append((match["name"], [int(i) for i in re.findall(r"\d+", match["index"])]))
    return steps


def part_size(part: FieldPart) -> int | None:
    """Number of values a part gives, when the profile alone says it."""
    if part.indices is not None:
        return len(part.indices)
    if part.joints is not None:
        return len(part.joints)
    if part.slice is not None:
        return len(range(*part.slice))
    if part.names is not None:
        return len(part.names)
    return None


def part_names(part: FieldPart) -> list[str]:
    if part.names is not None:
        return list(part.names)
    if part.joints is not None:
        return list(part.joints)
    base = part.topic.rstrip("/").rsplit("/", 1)[-1] or part.topic
    sources = part.indices if part.indices is not None else range(*part.slice)
    return [f"{base}.{part.field}.{i}" for i in sources]


def check_features(profile: Profile) -> None:
    """Validate a generic profile; each problem is one line naming the key."""
    features = profile.features
    if not features.cameras:
        raise UserError("profile key 'features.cameras' must name at least one camera (name: topic)")
    if len(features.cameras) > MAX_CAMERAS:
        raise UserError(f"profile key 'features.cameras' names {len(features.cameras)} cameras; at most {MAX_CAMERAS}")
    for name, topic in features.cameras.items():
        if not _NAME.match(name) or len(name) > MAX_NAME:
            raise UserError(
                f"profile key 'features.cameras.{shorten(name)}': camera names may use letters, digits and _ only "
                f"(at most {MAX_NAME})"
            )
        _check_topic(f"features.cameras.{name}", topic)
    repeated = _first_repeat(list(features.cameras.values()))
    if repeated is not None:
        raise UserError(
            f"profile key 'features.cameras': topic {shorten(repeated)} is given to two cameras; give each its own"
        )
    if profile.dataset.main_timeline not in features.cameras:
        known = shorten(" | ".join(map(repr, features.cameras)), 120)
        raise UserError(
            f"profile key 'dataset.main_timeline' must be one of the cameras ({known}), "
            f"got {quote(profile.dataset.main_timeline)}"
        )
    for key in ("state", "action"):
        parts = getattr(features, key)
        if not parts:
            raise UserError(f"profile key 'features.{key}' must list at least one part (topic, field, ...)")
        if len(parts) > MAX_PARTS:
            raise UserError(f"profile key 'features.{key}' lists {len(parts)} parts; at most {MAX_PARTS}")
        names: list[str] = []
        for i, part in enumerate(parts):
            names += _check_part(part, f"features.{key}[{i}]")
            if len(names) > MAX_VALUES:
                raise UserError(f"profile key 'features.{key}' gives more than {MAX_VALUES} values")
            if part.topic in features.cameras.values():
                raise UserError(f"profile key 'features.{key}[{i}].topic': {shorten(part.topic)} is a camera topic")
        duplicate = _first_repeat(names)
        if duplicate is not None:
            raise UserError(
                f"profile key 'features.{key}': the name {quote(duplicate)} is used twice; give unique names"
            )


def _first_repeat(items: list[str]) -> str | None:
    """The first item seen twice (linear: a profile may name thousands of values)."""
    seen: set[str] = set()
    for item in items:
        if item in seen:
            return item
        seen.add(item)
    return None


def _check_topic(key: str, topic: str) -> None:
    if not topic.startswith("/") or len(topic) > MAX_TOPIC:
        raise UserError(
            f"profile key '{key}' must be a topic (starting with /, at most {MAX_TOPIC} characters), got {quote(topic)}"
        )


def _check_part(part: FieldPart, key: str) -> list[str]:
    _check_topic(f"{key}.topic", part.topic)
    steps = _path_steps(part.field) if part.field and len(part.field) <= MAX_LABEL else None
    if steps is None or any(i >= MAX_INDEX for _, indices in steps for i in indices):
        raise UserError(
            f"profile key '{key}.field' must be a field path such as position or joint_data.joint_q "
            f"(indices below {MAX_INDEX}), got {quote(part.field)}"
        )
    if sum(x is not None for x in (part.slice, part.indices, part.joints)) > 1:
        raise UserError(f"profile key '{key}': give one of slice, indices and joints")
    for name in ("joints", "names", "indices"):
        values = getattr(part, name)
        if values is not None and len(values) > MAX_VALUES:
            raise UserError(f"profile key '{key}.{name}' lists {len(values)} values; at most {MAX_VALUES}")
    if part.joints is not None and (not part.joints or len(set(part.joints)) != len(part.joints)):
        raise UserError(f"profile key '{key}.joints' must be a non-empty list of distinct joint names")
    for name in ("joints", "names"):
        for i, label in enumerate(getattr(part, name) or ()):
            check_text(f"{key}.{name}[{i}]", label, MAX_LABEL)
    if part.slice is not None:
        ok = len(part.slice) in (2, 3) and 0 <= part.slice[0] < part.slice[1] <= MAX_INDEX
        if not ok or (len(part.slice) == 3 and not 0 < part.slice[2] <= MAX_INDEX):
            raise UserError(
                f"profile key '{key}.slice' must be [start, stop] or [start, stop, step] with 0 <= start < stop "
                f"<= {MAX_INDEX}, 0 < step; got {quote(part.slice)}"
            )
    if part.indices is not None:
        if not part.indices:
            raise UserError(f"profile key '{key}.indices' must be a non-empty list of indices >= 0")
        for i, index in enumerate(part.indices):
            check_range(f"{key}.indices[{i}]", index, 0, MAX_INDEX - 1)
    size = part_size(part)
    if size is not None and size > MAX_VALUES:
        raise UserError(f"profile key '{key}' gives {size} values; at most {MAX_VALUES}")
    if size is None:
        raise UserError(
            f"profile key '{key}': give names (one per value), slice, indices or joints so the size is known"
        )
    if part.names is not None and len(part.names) != size:
        raise UserError(f"profile key '{key}.names' has {len(part.names)} names for {size} values")
    return part_names(part)


@dataclass(frozen=True)
class GenericRoles:
    """The topics of a generic profile (the same for every bag)."""

    cameras: tuple[Camera, ...]
    main_camera: Camera
    lowdim: tuple[str, ...]

    @property
    def all(self) -> tuple[str, ...]:
        return (*(c.topic for c in self.cameras), *self.lowdim)


def field_value(msg: object, path: str) -> object:
    """The value at a dotted field path (``a.b``, ``a[2].b``) of a deserialized message."""
    value = msg
    for name, indices in _path_steps(path) or []:
        if not hasattr(value, name):
            have = shorten(", ".join(getattr(type(value), "__dataclass_fields__", {})) or "none", 120)
            raise ValueError(f"no field {name!r} in {path!r} (fields there: {have})")
        value = getattr(value, name)
        for i in indices:
            value = value[i]
    return value


class GenericExtractor:
    """State, action and cameras of a generic profile (the counterpart of ``kuavo``'s rules)."""

    def __init__(self, profile: Profile) -> None:
        self._profile = profile
        self._features = profile.features
        self._parts = {"state": list(self._features.state), "action": list(self._features.action)}
        self._sizes = {key: [part_size(p) for p in parts] for key, parts in self._parts.items()}
        self._indexers = {key: [_indexer(p) for p in parts] for key, parts in self._parts.items()}
        self._joint_cache: dict[tuple, np.ndarray] = {}

    def cameras(self) -> tuple[Camera, ...]:
        return tuple(Camera(name, topic) for name, topic in self._features.cameras.items())

    def state_names(self) -> list[str]:
        return [name for part in self._parts["state"] for name in part_names(part)]

    def action_names(self) -> list[str]:
        return [name for part in self._parts["action"] for name in part_names(part)]

    def resolve_topics(self, bag_topics: Mapping[str, object]) -> GenericRoles:
        cams = self.cameras()
        main = next(c for c in cams if c.name == self._profile.dataset.main_timeline)
        camera_topics = {c.topic for c in cams}
        lowdim: list[str] = []
        for part in (*self._parts["state"], *self._parts["action"]):
            if part.topic not in lowdim and part.topic not in camera_topics:
                lowdim.append(part.topic)
        return GenericRoles(cams, main, tuple(lowdim))

    def cutoff_topics(self, roles: GenericRoles, present: set[str]) -> list[str]:
        return [topic for topic in roles.all if topic in present]

    def expected_types(self, roles: GenericRoles) -> dict[str, str]:
        return dict.fromkeys((c.topic for c in roles.cameras), CAMERA_TYPES[0])

    def check_fields(self, roles: GenericRoles, msgtypes: Mapping[str, str], typestore, where: str) -> None:
        """Each part's field path against the message type (before any message is read)."""
        for key, parts in self._parts.items():
            for i, part in enumerate(parts):
                problem = _path_problem(typestore, msgtypes[part.topic], part.field)
                if problem:
                    raise UserError(
                        f"{where}: profile key 'features.{key}[{i}].field': {shorten(part.topic)} carries "
                        f"{shorten(msgtypes[part.topic])}, {problem}; fix the field path"
                    )

    def state_and_action(self, roles: GenericRoles, msgs: Mapping[str, object]) -> tuple[np.ndarray, np.ndarray]:
        return self._vector("state", msgs), self._vector("action", msgs)

    def _vector(self, key: str, msgs: Mapping[str, object]) -> np.ndarray:
        out = []
        for part, size, index in zip(self._parts[key], self._sizes[key], self._indexers[key], strict=True):
            raw = field_value(msgs[part.topic], part.field)
            if part.joints is not None:
                index = self._joint_index(part, msgs[part.topic])
            values = np.asarray(raw, dtype=np.float64)
            if values.ndim == 0:
                values = values.reshape(1)
            if values.ndim != 1:
                raise ValueError(f"{shorten(part.topic)} {part.field} is not a list of numbers")
            n = len(values)
            if index is not None:
                needed = max(index) + 1 if part.slice is None else part.slice[1]
                if n < needed:
                    raise ValueError(
                        f"{shorten(part.topic)} {part.field} has {n} values, the profile takes up to index {needed - 1}"
                    )
                values = values[index]
            if len(values) != size:
                where = f"{shorten(part.topic)} {part.field}"
                raise ValueError(f"{where} has {len(values)} values, the profile names {size}")
            values = values * (CONVERSIONS[part.convert] * part.scale) + part.offset
            if part.threshold is not None:
                values = (values >= part.threshold).astype(np.float64)
            out.append(values)
        return np.concatenate(out).astype(np.float32)

    def _joint_index(self, part: FieldPart, msg: object) -> np.ndarray:
        """Positions of ``part.joints`` in the message's ``name`` list (cached per name list)."""
        parent, _, _ = part.field.rpartition(".")
        names = tuple(field_value(msg, f"{parent}.name" if parent else "name"))
        key = (id(part), names)
        index = self._joint_cache.get(key)
        if index is None:
            where = {name: i for i, name in enumerate(names)}
            lacking = [j for j in part.joints if j not in where]
            if lacking:
                have = shorten(", ".join(map(str, names)) or "none", 120)  # names come from the bag
                raise ValueError(f"{shorten(part.topic)} has no joint {quote(lacking[0])} (joints: {have})")
            index = self._joint_cache[key] = np.asarray([where[j] for j in part.joints], dtype=np.intp)
        return index


def _indexer(part: FieldPart):
    if part.indices is not None:
        return np.asarray(part.indices, dtype=np.intp)
    if part.slice is not None:
        return slice(*part.slice)
    return None


def _path_problem(typestore, msgtype: str, path: str) -> str | None:
    """Why ``path`` is not a field of ``msgtype`` in the typestore, or None if it is."""
    from rosbags.typesys.store import Nodetype

    current = msgtype
    for name, indices in _path_steps(path) or []:
        if current is None:
            return f"whose field before {name!r} is not a message"
        fields = dict(typestore.fielddefs[current][1]) if current in typestore.fielddefs else {}
        if name not in fields:
            return f"which has no field {name!r} (fields: {shorten(', '.join(fields) or 'none', 120)})"
        node, args = fields[name]
        current = None
        if node == Nodetype.NAME:
            current = args
        elif node in (Nodetype.ARRAY, Nodetype.SEQUENCE):
            inner = args[0]
            if indices and inner[0] == Nodetype.NAME:
                current = inner[1]
            elif not indices:
                current = None  # an array: fine as the last step only
    return None
