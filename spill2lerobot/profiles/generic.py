"""Generic profiles: any robot's topics and message fields mapped onto the dataset's features.

A profile with a ``features`` section (see ``configs/ros2_arm.yaml``) names its cameras
(``name: topic``, ``sensor_msgs/CompressedImage`` JPEG/PNG or raw ``Image``), its depth cameras
(``depth``), how each topic meets the frame times (``align``: nearest, previous, linear, slerp)
and builds ``observation.state`` and
``action`` by concatenating parts, each the values of one message field::

    features:
      cameras: {front: /front/image_raw/compressed}
      state:
        - {topic: /joint_states, field: position, slice: [0, 6], names: [j1, j2, j3, j4, j5, j6]}
      action:
        - {topic: /arm/command, field: data, slice: [0, 6], convert: deg2rad}

A part may instead name a common message ``type`` (``message_kinds.py``: imu, odometry, pose,
twist, wrench, joy, joint_state) or a pose from /tf (``frame``, ``relative_to``: its values come
per frame from ``spill/tf_poses.py`` under ``tf_key``).

Everything else (timeline camera ``dataset.main_timeline`` and its fps, ``train_hz``,
``sample_drop``, resize, video, faults) means what it means for Kuavo; the timeline ends before
the earliest last message of any topic the profile uses. The checks are ``generic_check.py``.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from spill2lerobot.align import Blend, TopicAlign
from spill2lerobot.bag.wire import COMPRESSED_IMAGE, IMAGE_TYPES, RAW_IMAGE
from spill2lerobot.errors import UserError
from spill2lerobot.profiles.base import Between, Camera, FeatureSource, Matrix, Roles, Vector, tf_key
from spill2lerobot.profiles.checks import quote, shorten
from spill2lerobot.profiles.decoders import run_decoder
from spill2lerobot.profiles.generic_check import part_names, part_size, path_steps
from spill2lerobot.profiles.interpolate import euler_xyz, is_quaternion, linear, numbers, slerp
from spill2lerobot.profiles.kuavo import accepts_msgtype as kuavo_accepts_msgtype
from spill2lerobot.profiles.message_kinds import expand, kind_problem, unwrap, unwrapped_field
from spill2lerobot.profiles.options import FeatureOptions, FieldPart, Profile

CAMERA_TYPES = (COMPRESSED_IMAGE,)
CONVERSIONS = {
    "none": 1.0,
    "deg2rad": np.pi / 180.0,
    "rad2deg": 180.0 / np.pi,
    "mm2m": 1e-3,
    "m2mm": 1e3,
    "percent": 1e-2,
}
Indexer = npt.NDArray[np.intp] | slice | None  # which values of a field a part takes


@dataclass(frozen=True)
class GenericRoles:
    """The topics of a generic profile (the same for every bag)."""

    cameras: tuple[Camera, ...]
    main_camera: Camera
    lowdim: tuple[str, ...]

    @property
    def all(self) -> tuple[str, ...]:
        return (*(c.topic for c in self.cameras), *self.lowdim)


def field_value(msg: object, path: str) -> Any:
    """The value at a dotted field path (``a.b``, ``a[2].b``) of a deserialized message."""
    value: Any = msg
    for name, indices in path_steps(path) or []:
        if not hasattr(value, name):
            have = shorten(", ".join(getattr(type(value), "__dataclass_fields__", {})) or "none", 120)
            raise ValueError(f"no field {name!r} in {path!r} (fields there: {have})")
        value = getattr(value, name)
        for i in indices:
            value = value[i]
    return value


class GenericRobot:
    """State, action and cameras of a generic profile (the counterpart of the Kuavo rules)."""

    def __init__(self, profile: Profile) -> None:
        assert profile.features is not None  # robot_for chooses this robot for generic profiles only
        self._profile = profile
        self._features: FeatureOptions = profile.features
        given = {"state": list(self._features.state), "action": list(self._features.action)}
        # typed parts (``type: imu``) stand for plain field parts (message_kinds.py); each plain
        # part remembers the profile's part it came from, for errors and the bag's type check
        self._origins = {
            key: [(i, part) for i, part in enumerate(parts) for _ in expand(part)] for key, parts in given.items()
        }
        self._parts = {key: [plain for part in parts for plain in expand(part)] for key, parts in given.items()}
        self._typed = {
            id(plain)
            for key in given
            for plain, (_, part) in zip(self._parts[key], self._origins[key], strict=True)
            if part.type is not None
        }
        self._sizes = {key: [part_size(p) for p in parts] for key, parts in self._parts.items()}
        self._indexers = {key: [_indexer(p) for p in parts] for key, parts in self._parts.items()}
        self._joint_cache: dict[tuple[int, tuple[Any, ...]], npt.NDArray[np.intp]] = {}

    def cameras(self) -> tuple[Camera, ...]:
        return tuple(Camera(name, topic) for name, topic in self._features.cameras.items())

    def state_names(self) -> list[str]:
        return [name for part in self._parts["state"] for name in part_names(part)]

    def action_names(self) -> list[str]:
        return [name for part in self._parts["action"] for name in part_names(part)]

    def _depth(self) -> tuple[Camera, ...]:
        """The depth cameras: compressedDepth by their topic's name, else raw Image."""
        return tuple(
            Camera(name, topic, "depth_png" if topic.endswith("/compressedDepth") else "depth_raw")
            for name, topic in self._features.depth.items()
        )

    def resolve_topics(self, bag_topics: Mapping[str, object]) -> GenericRoles:
        cams = (*self.cameras(), *self._depth())
        main = next(c for c in cams if c.name == self._profile.dataset.main_timeline)
        camera_topics = {c.topic for c in cams}
        lowdim: list[str] = []
        for part in (*self._parts["state"], *self._parts["action"]):
            if part.frame is not None:
                continue  # a pose from /tf: computed per bag (spill/tf_poses.py), not aligned
            if part.topic not in lowdim and part.topic not in camera_topics:
                lowdim.append(part.topic)
        return GenericRoles(cams, main, tuple(lowdim))

    def cutoff_topics(self, roles: Roles, present: set[str]) -> list[str]:
        return [topic for topic in roles.all if topic in present]

    def expected_types(self, roles: Roles) -> dict[str, str]:
        expected = dict.fromkeys((c.topic for c in roles.cameras), CAMERA_TYPES[0])
        expected.update({c.topic: RAW_IMAGE for c in roles.cameras if c.kind == "depth_raw"})
        return expected

    def accepts_msgtype(self, roles: Roles, topic: str, msgtype: str) -> tuple[bool, str]:
        if topic in self._features.cameras.values():  # colour: compressed (JPEG/PNG) or raw Image
            return msgtype in IMAGE_TYPES, " or ".join(IMAGE_TYPES)
        return kuavo_accepts_msgtype(topic, msgtype, self.expected_types(roles))

    def check_fields(self, roles: Roles, msgtypes: Mapping[str, str], typestore: Any, where: str) -> None:
        """Each part's field path against the message type (before any message is read)."""
        for key, parts in self._parts.items():
            for part, (i, given) in zip(parts, self._origins[key], strict=True):
                if part.frame is not None:
                    continue  # /tf is checked when the poses are read
                msgtype = msgtypes[part.topic]
                field = unwrapped_field(msgtype, part.field) if id(part) in self._typed else part.field
                problem = kind_problem(given, msgtype) or _path_problem(typestore, msgtype, field)
                if problem:
                    what = ("type", "type") if given.type is not None else ("field", "field path")
                    raise UserError(
                        f"{where}: profile key 'features.{key}[{i}].{what[0]}': {shorten(part.topic)} carries "
                        f"{shorten(msgtype)}, {problem}; fix the {what[1]}"
                    )

    def settings(self) -> dict[str, str]:
        return {}

    def feature_sources(self, roles: Roles) -> list[FeatureSource]:
        sources: list[FeatureSource] = [(cam.key, [("images", cam.topic)]) for cam in roles.cameras]
        for key, parts in (("observation.state", self._parts["state"]), ("action", self._parts["action"])):
            sources.append((key, [_source(part) for part in parts]))
        return sources

    def depth_camera_names(self) -> list[str]:
        return list(self._features.depth)

    def depth_cameras(self, topics: Collection[str]) -> tuple[Camera, ...]:
        return tuple(cam for cam in self._depth() if cam.topic in topics)

    def alignment(self, roles: Roles) -> dict[str, TopicAlign]:
        return {topic: TopicAlign(a.mode, a.max_skew_ms) for topic, a in self._features.align.items()}

    def tf_requests(self) -> list[tuple[str, str]]:
        pairs = [(p.frame, p.relative_to) for parts in self._parts.values() for p in parts if p.frame is not None]
        return list(dict.fromkeys((a, b) for a, b in pairs if b is not None))

    def span_topics(self, roles: Roles) -> tuple[str, ...]:
        # read whole: the frames need the messages around their times, not the nearest ones
        return tuple(topic for topic, a in self._features.align.items() if a.mode != "nearest")

    def state_and_action(self, roles: Roles, msgs: Mapping[str, Any], between: Between) -> tuple[Vector, Vector]:
        return self._vector("state", msgs), self._vector("action", msgs)

    def timeline_notes(self, roles: Roles, topic_times: Callable[[str], Any], targets_ns: Any) -> list[str]:
        return []

    def rebases(self) -> bool:
        return False

    def rebase(self, state: Matrix, action: Matrix, first_state: Vector, first_action: Vector) -> tuple[Matrix, Matrix]:
        return state, action

    def _vector(self, key: str, msgs: Mapping[str, Any]) -> Vector:
        out = []
        for part, size, index in zip(self._parts[key], self._sizes[key], self._indexers[key], strict=True):
            if part.frame is not None and part.relative_to is not None:
                pose = np.asarray(msgs[tf_key(part.frame, part.relative_to)], dtype=np.float64)
                out.append(
                    self._finish(part, np.concatenate([pose[:3], euler_xyz(pose[3:])[0]]) if part.euler else pose)
                )
                continue
            msg = self._message(part, msgs[part.topic])
            if not isinstance(msg, Blend):
                out.append(self._part_values(part, size, index, msg))
                continue
            before = self._part_values(part, size, index, msg.before, final=False)
            after = self._part_values(part, size, index, msg.after, final=False)
            mode = self._features.align[part.topic].mode
            quaternion = mode == "slerp" and is_quaternion(field_value(msg.before, part.field))
            blended = (slerp if quaternion else linear)(before, after, msg.weight)
            out.append(self._finish(part, blended))
        vector: Vector = np.concatenate(out).astype(np.float32)
        return vector

    def _message(self, part: FieldPart, msg: Any) -> Any:
        """What a part reads: a typed part reads a stamped message's plain one (its pose)."""
        if id(part) not in self._typed:
            return msg
        if isinstance(msg, Blend):
            return Blend(unwrap(msg.before), unwrap(msg.after), msg.weight)
        return unwrap(msg)

    def _part_values(self, part: FieldPart, size: int | None, index: Indexer, msg: object, final: bool = True) -> Any:
        """One part's values of one message (``final``: units, scale and threshold applied)."""
        raw = field_value(msg, part.field)
        if part.decoder is not None:
            raw = run_decoder(part.decoder, raw)
        if part.joints is not None:
            index = self._joint_index(part, msg)
        values = numbers(raw)
        if values.ndim != 1:
            raise ValueError(f"{shorten(part.topic)} {part.field} is not a list of numbers")
        n = len(values)
        if index is not None:
            needed = index.stop if isinstance(index, slice) else max(index) + 1  # slice: part.slice's stop
            if n < needed:
                raise ValueError(
                    f"{shorten(part.topic)} {part.field} has {n} values, the profile takes up to index {needed - 1}"
                )
            values = values[index]
        if len(values) != size:
            where = f"{shorten(part.topic)} {part.field}"
            raise ValueError(f"{where} has {len(values)} values, the profile names {size}")
        return self._finish(part, values) if final else values

    @staticmethod
    def _finish(part: FieldPart, values: Any) -> Any:
        values = values * (CONVERSIONS[part.convert] * part.scale) + part.offset
        if part.threshold is not None:
            values = (values >= part.threshold).astype(np.float64)
        return values

    def _joint_index(self, part: FieldPart, msg: object) -> npt.NDArray[np.intp]:
        """Positions of ``part.joints`` in the message's ``name`` list (cached per name list)."""
        assert part.joints is not None  # called for joint parts only
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


def _source(part: FieldPart) -> tuple[str, str]:
    """A part as inspect shows it: (field, topic)."""
    if part.frame is not None:
        return f"pose of {part.frame} in {part.relative_to}", "/tf"
    return part.field, part.topic


def _indexer(part: FieldPart) -> Indexer:
    if part.indices is not None:
        return np.asarray(part.indices, dtype=np.intp)
    if part.slice is not None:
        return slice(*part.slice)
    return None


def _path_problem(typestore: Any, msgtype: str, path: str) -> str | None:
    """Why ``path`` is not a field of ``msgtype`` in the typestore, or None if it is."""
    from rosbags.interfaces import Nodetype

    current: str | None = msgtype
    for name, indices in path_steps(path) or []:
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
