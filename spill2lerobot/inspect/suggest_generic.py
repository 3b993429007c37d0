"""`inspect --suggest` for bags that are not Kuavo recordings: a starting generic profile.

Cameras are the bag's CompressedImage and raw Image topics (the fastest one defines the
timeline; a raw Image with a ``/compressed`` twin is left out), depth cameras its compressedDepth
topics and raw Images named ``depth``; the state
is a sensor_msgs/JointState topic's positions, by joint name (read from its first message); the
action is the command-like topics (``cmd``/``command`` in the name: JointState positions,
Float64MultiArray data, Float64 data). With ``/tf`` (or ``/tf_static``), the state also takes
the pose of each leaf frame of the TF tree in its root (learnt from the first ``TF_SAMPLE``
transform messages). Whatever cannot be inferred is a WARNING in the YAML's
header; the result always loads as a profile.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from spill2lerobot.bag.base import Bag, TopicInfo
from spill2lerobot.bag.wire import COMPRESSED_IMAGE, RAW_IMAGE
from spill2lerobot.inspect.facts import TopicFacts
from spill2lerobot.profiles import (
    MAX_CAMERAS,
    MAX_LABEL,
    MAX_NAME,
    MAX_VALUES,
    FeatureOptions,
    FieldPart,
    Profile,
    part_names,
)

JOINT_STATE = "sensor_msgs/msg/JointState"
ARRAY_TYPES = {"std_msgs/msg/Float64MultiArray": "data", "std_msgs/msg/Float32MultiArray": "data"}
SCALAR_TYPES = {"std_msgs/msg/Float64": "data", "std_msgs/msg/Float32": "data"}
TF_TOPICS = ("/tf_static", "/tf")
TF_SAMPLE = 500  # transform messages read to learn the tree: dynamic edges repeat, so few suffice
MAX_TF_POSES = 4
PLACEHOLDER = "/EDIT_ME"  # keeps a suggestion loadable where the bag gives nothing to infer
_NOISE = {"camera", "cam", "image", "image_raw", "image_rect", "image_color", "color", "compressed", "rgb", "raw"}


def camera_names(topics: list[str]) -> dict[str, str]:
    """'/camera/front/image_raw/compressed' -> 'front' (unique, letters/digits/_ only)."""
    out: dict[str, str] = {}
    for i, topic in enumerate(topics[:MAX_CAMERAS]):
        words = [w for w in topic.strip("/").split("/") if w.lower() not in _NOISE]
        name = re.sub(r"[^A-Za-z0-9_]", "_", "_".join(words))[: MAX_NAME - 8] or f"cam{i}"
        while name in out:
            name = f"{name[: MAX_NAME - 8]}_{i}"
        out[name] = topic
    return out


def _first_message(bag: Bag, topic: str, first_ns: int | None) -> Any:
    if first_ns is None:  # the index has no time for it (a damaged bag)
        raise ValueError(f"{topic}: no first message")
    for msg in bag.messages([topic], start_ns=first_ns, stop_ns=first_ns):
        return bag.deserialize_raw(msg.data, msg.connection.msgtype)
    return None


def _part(bag: Bag, topic: str, msgtype: str, first_ns: int | None, warnings: list[str]) -> FieldPart | None:
    base = re.sub(r"[^A-Za-z0-9_]", "_", topic.strip("/").rsplit("/", 1)[-1]) or "value"
    if msgtype in SCALAR_TYPES:
        return FieldPart(topic=topic, field=SCALAR_TYPES[msgtype], names=[base])
    try:
        msg = _first_message(bag, topic, first_ns)
    except Exception as err:  # rosbags raises many types for damaged bytes
        warnings.append(f"{topic}: first message unreadable ({type(err).__name__}); left out")
        return None
    if msg is None:
        return None
    if msgtype == JOINT_STATE:
        names = [str(n) for n in msg.name]
        usable = len(names) <= MAX_VALUES and all(len(n) <= MAX_LABEL for n in names)
        if usable and names and len(set(names)) == len(names) and len(names) == len(msg.position):
            return FieldPart(topic=topic, field="position", joints=names)
        count = min(len(msg.position), MAX_VALUES)
        return FieldPart(topic=topic, field="position", slice=[0, count]) if count else None
    values = min(len(getattr(msg, ARRAY_TYPES[msgtype])), MAX_VALUES)
    return FieldPart(topic=topic, field=ARRAY_TYPES[msgtype], slice=[0, values]) if values else None


def suggest_features(
    bag: Bag, topics: Mapping[str, TopicInfo], facts: Mapping[str, TopicFacts], warnings: list[str]
) -> tuple[FeatureOptions, str]:
    """(features, main camera name or None) for a non-Kuavo bag; appends what it could not infer."""
    present = {t: info for t, info in topics.items() if info.count > 0}
    colour, depth = image_topics(present)
    cams = camera_names(colour)
    if not cams:
        warnings.append(f"no colour image topic: replace the {PLACEHOLDER} camera of features.cameras")
    joint_states = sorted(
        (t for t, info in present.items() if info.msgtype == JOINT_STATE),
        key=lambda t: ("cmd" in t or "command" in t, "joint_states" not in t, t),
    )
    state: list[FieldPart] = []
    if joint_states and not ("cmd" in joint_states[0] or "command" in joint_states[0]):
        part = _part(bag, joint_states[0], JOINT_STATE, facts[joint_states[0]].first_ns, warnings)
        if part is not None:
            state.append(part)
    action: list[FieldPart] = []
    for topic, info in sorted(present.items()):
        commanded = "cmd" in topic or "command" in topic
        if commanded and info.msgtype in (JOINT_STATE, *ARRAY_TYPES, *SCALAR_TYPES):
            part = _part(bag, topic, info.msgtype, facts[topic].first_ns, warnings)
            if part is not None:
                action.append(part)
    names = [n for p in action for n in part_names(p)]
    if len(set(names)) != len(names):  # same joint names in several commands: make them unique
        for part in action:
            if part.joints is not None:
                base = part.topic.strip("/").replace("/", "_")
                part.names = [f"{base}.{j}" for j in part.joints]
    state += tf_parts(bag, present, warnings)
    if not state:
        warnings.append(f"no sensor_msgs/JointState topic: replace the {PLACEHOLDER} part of features.state")
        state = [FieldPart(topic=PLACEHOLDER, field="position", slice=[0, 1])]
    if not action:
        warnings.append("no command topic (cmd/command in its name): features.action copies the state; edit it")
        action = [p.model_copy() for p in state]
    if cams:
        rates = {name: facts[topic].rate_hz or 0.0 for name, topic in cams.items()}
        main = max(sorted(cams), key=lambda name: rates[name])
    else:
        cams, main = {"camera": f"{PLACEHOLDER}/compressed"}, "camera"
    depth_names = {f"depth_{name}": topic for name, topic in camera_names(depth).items()}
    return FeatureOptions(cameras=cams, state=state, action=action, depth=depth_names), main


def tf_parts(bag: Bag, present: Mapping[str, TopicInfo], warnings: list[str]) -> list[FieldPart]:
    """Poses of the TF tree's leaf frames in its root (``frame``/``relative_to`` parts)."""
    topics = [t for t in TF_TOPICS if t in present]
    if not topics:
        return []
    parent: dict[str, str] = {}
    try:
        for i, msg in enumerate(bag.messages(topics)):
            if i >= TF_SAMPLE:
                break
            for transform in bag.deserialize(msg).transforms:  # type: ignore[attr-defined]
                parent[str(transform.child_frame_id).lstrip("/")] = str(transform.header.frame_id).lstrip("/")
    except Exception as err:  # rosbags raises many types for damaged bytes
        warnings.append(f"/tf: unreadable ({type(err).__name__}); no TF poses proposed")
        return []
    parents = set(parent.values())
    parts = []
    for leaf in sorted(set(parent) - parents)[:MAX_TF_POSES]:
        root = leaf
        for _ in range(len(parent)):  # a loop in a broken tree ends here
            root = parent.get(root, root)
        if root != leaf and len(leaf) <= MAX_LABEL and len(root) <= MAX_LABEL:
            parts.append(FieldPart(frame=leaf, relative_to=root))
    if len(set(parent) - parents) > MAX_TF_POSES:
        warnings.append(f"/tf: more than {MAX_TF_POSES} leaf frames; proposed the first {MAX_TF_POSES}, edit the rest")
    return parts


def image_topics(present: Mapping[str, TopicInfo]) -> tuple[list[str], list[str]]:
    """(colour, depth) image topics: compressedDepth topics and raw Images named ``depth`` are
    depth; a raw Image whose ``/compressed`` twin is in the bag is left to the twin."""
    colour: list[str] = []
    depth: list[str] = []
    for topic, info in sorted(present.items()):
        if info.msgtype == COMPRESSED_IMAGE:
            (depth if topic.endswith("/compressedDepth") else colour).append(topic)
        elif (
            info.msgtype == RAW_IMAGE
            and f"{topic}/compressed" not in present
            and f"{topic}/compressedDepth" not in present
        ):
            (depth if "depth" in topic.lower() else colour).append(topic)
    return colour, depth


def generic_base(base: Profile, features: FeatureOptions, main: str) -> Profile:
    ds = base.dataset.model_copy(update={"resize": base.dataset.resize.model_copy()})
    ds.main_timeline = main
    ds.repo_id, ds.robot_type, ds.task_description = "local/robot", "robot", "robot task"
    return base.model_copy(update={"dataset": ds, "features": features})
