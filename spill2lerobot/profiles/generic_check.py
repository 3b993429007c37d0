"""Generic profiles' ``features`` section: its bounds, field paths and part sizes, and its checks.

A profile with a ``features`` section (see ``configs/ros2_arm.yaml``) names its cameras
(``name: topic``, ``sensor_msgs/CompressedImage`` JPEG/PNG) and builds ``observation.state`` and
``action`` by concatenating parts, each the values of one message field (see ``generic.py``).
"""

from __future__ import annotations

import re

from spill2lerobot.errors import UserError
from spill2lerobot.profiles.checks import check_range, check_text, quote, shorten
from spill2lerobot.profiles.message_kinds import expand, typed_problem
from spill2lerobot.profiles.options import MAX_PATH_TEXT, MAX_SKEW_MS, FeatureOptions, FieldPart, Profile

_NAME = re.compile(r"^[A-Za-z0-9_]+$")  # camera names become file names and feature keys
# Sane bounds of a generic profile (its values size lists, arrays and file names).
MAX_CAMERAS = 64
MAX_NAME = 64  # characters of a camera name
MAX_TOPIC = 1000  # characters of a topic
MAX_PARTS = 256  # parts of one feature
MAX_VALUES = 10_000  # values of one feature (state or action)
MAX_INDEX = 100_000  # message array indices (slice, indices, field path) are below this
MAX_LABEL = 256  # characters of a field path, a value name or a joint name
TF_POSITION, TF_QUATERNION, TF_EULER = ("x", "y", "z"), ("qx", "qy", "qz", "qw"), ("roll", "pitch", "yaw")
_DECODER = re.compile(r"^(?:[A-Za-z_][\w.]*|[^:\n]{1,4000}\.py):[A-Za-z_]\w*$")
_STEP = re.compile(r"^(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?P<index>(?:\[\d+\])*)$")


def path_steps(path: str) -> list[tuple[str, list[int]]] | None:
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
    if part.frame is not None:
        return 6 if part.euler else 7
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
    if part.frame is not None:  # a pose from /tf
        return [f"{part.frame}.{axis}" for axis in (*TF_POSITION, *(TF_EULER if part.euler else TF_QUATERNION))]
    base = part.topic.rstrip("/").rsplit("/", 1)[-1] or part.topic
    sources = part.indices if part.indices is not None else range(*(part.slice or ()))
    return [f"{base}.{part.field}.{i}" for i in sources]


def check_features(profile: Profile) -> None:
    """Validate a generic profile; each problem is one line naming the key."""
    features = profile.features
    assert features is not None  # called for generic profiles only
    _check_cameras(features)
    if profile.dataset.main_timeline not in features.cameras:
        known = shorten(" | ".join(map(repr, features.cameras)), 120)
        raise UserError(
            f"profile key 'dataset.main_timeline' must be one of the cameras ({known}), "
            f"got {quote(profile.dataset.main_timeline)}"
        )
    for key in ("state", "action"):
        _check_feature(features, key)
    _check_align(features)


def _check_align(features: FeatureOptions) -> None:
    used = {part.topic for part in (*features.state, *features.action)}
    for topic, align in features.align.items():
        if topic not in used:
            known = shorten(" | ".join(sorted(used)) or "none", 120)
            raise UserError(
                f"profile key 'features.align' names {quote(topic)}, which no state or action part reads; "
                f"use one of: {known}"
            )
        if align.max_skew_ms is not None and not 0 <= align.max_skew_ms <= MAX_SKEW_MS:
            raise UserError(
                f"profile key 'features.align[{shorten(topic)}].max_skew_ms' must be between 0 and {MAX_SKEW_MS} "
                f"(or null), got {quote(align.max_skew_ms)}"
            )


def _check_cameras(features: FeatureOptions) -> None:
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
    for name, topic in features.depth.items():
        if not _NAME.match(name) or len(name) > MAX_NAME or name in features.cameras:
            raise UserError(
                f"profile key 'features.depth.{shorten(name)}': depth camera names may use letters, digits and _ "
                f"only (at most {MAX_NAME}), and differ from the colour cameras' names"
            )
        _check_topic(f"features.depth.{name}", topic)
    repeated = _first_repeat([*features.cameras.values(), *features.depth.values()])
    if repeated is not None:
        raise UserError(
            f"profile key 'features.cameras': topic {shorten(repeated)} is given to two cameras; give each its own"
        )


def _check_feature(features: FeatureOptions, key: str) -> None:
    parts: list[FieldPart] = getattr(features, key)
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
        raise UserError(f"profile key 'features.{key}': the name {quote(duplicate)} is used twice; give unique names")


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
    if part.frame is not None or part.relative_to is not None:
        return _check_tf(part, key)
    _check_topic(f"{key}.topic", part.topic)
    if part.type is not None:
        return _check_typed(part, key)
    if part.values is not None:
        raise UserError(
            f"profile key '{key}.values' needs a type (imu, odometry, pose, twist, wrench, joy, joint_state)"
        )
    if part.decoder is not None and not _DECODER.match(part.decoder[: MAX_PATH_TEXT + 1]):
        raise UserError(
            f"profile key '{key}.decoder' must be module:function or file.py:function, got {quote(part.decoder)}"
        )
    whole = part.decoder is not None and part.field == ""  # the decoder gets the whole message
    steps = [] if whole else path_steps(part.field) if part.field and len(part.field) <= MAX_LABEL else None
    if steps is None or any(i >= MAX_INDEX for _, indices in steps for i in indices):
        raise UserError(
            f"profile key '{key}.field' must be a field path such as position or joint_data.joint_q "
            f"(indices below {MAX_INDEX}), got {quote(part.field)}"
        )
    if sum(x is not None for x in (part.slice, part.indices, part.joints)) > 1:
        raise UserError(f"profile key '{key}': give one of slice, indices and joints")
    _check_lists(part, key)
    _check_selection(part, key)
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


def _check_tf(part: FieldPart, key: str) -> list[str]:
    """A pose from /tf: both frames, nothing a topic part has."""
    if not part.frame or not part.relative_to:
        raise UserError(f"profile key '{key}': a pose from /tf needs frame and relative_to (frame names)")
    others = ("topic", "field", "type", "decoder", "slice", "indices", "joints", "values")
    given = [name for name in others if getattr(part, name)]
    if given:
        raise UserError(f"profile key '{key}': a pose from /tf (frame, relative_to) takes no {given[0]}")
    for name in ("frame", "relative_to"):
        check_text(f"{key}.{name}", getattr(part, name), MAX_LABEL)
    size = part_size(part)
    if part.names is not None and len(part.names) != size:
        raise UserError(f"profile key '{key}.names' has {len(part.names)} names for {size} values")
    return part_names(part)


def _check_typed(part: FieldPart, key: str) -> list[str]:
    """A part with a ``type`` (message_kinds.py): its keys, then the names it generates."""
    _check_lists(part, key)
    _check_selection(part, key)
    problem = typed_problem(part)
    if problem is not None:
        raise UserError(f"profile key '{key}': {problem}")
    names = [name for plain in expand(part) for name in part_names(plain)]
    if len(names) > MAX_VALUES:
        raise UserError(f"profile key '{key}' gives {len(names)} values; at most {MAX_VALUES}")
    return names


def _check_lists(part: FieldPart, key: str) -> None:
    """``joints``, ``names`` and ``indices``: bounded lengths, joints distinct, labels short."""
    for name in ("joints", "names", "indices"):
        values = getattr(part, name)
        if values is not None and len(values) > MAX_VALUES:
            raise UserError(f"profile key '{key}.{name}' lists {len(values)} values; at most {MAX_VALUES}")
    if part.joints is not None and (not part.joints or len(set(part.joints)) != len(part.joints)):
        raise UserError(f"profile key '{key}.joints' must be a non-empty list of distinct joint names")
    for name in ("joints", "names"):
        for i, label in enumerate(getattr(part, name) or ()):
            check_text(f"{key}.{name}[{i}]", label, MAX_LABEL)


def _check_selection(part: FieldPart, key: str) -> None:
    """``slice`` and ``indices`` within the bounds of a message array."""
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
