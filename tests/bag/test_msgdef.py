"""Bag message definitions -> rosbags types, checked against md5 sums computed independently.

The md5 oracle below follows genmsg (what ``rosbag record`` stores): constants as
``type name=value``, then fields as ``type name``, a nested type replaced by its own md5
(without array brackets), comments and blank lines dropped.
"""

from __future__ import annotations

import hashlib
import struct

from support import ROOT

from spill2lerobot.bag.msgdef import types_from_definition, typestore_for
from spill2lerobot.bag.ros1 import Ros1Bag

KUAVO_MSGS = ROOT / "tests" / "data" / "kuavo_msgs"
KUAVO_BAG = ROOT / "tests" / "data" / "real-bags" / "kuavo_vr_session_group1.bag"
SEPARATOR = "\n" + "=" * 80 + "\n"
BUILTINS = {
    "bool", "byte", "char", "int8", "uint8", "int16", "uint16", "int32", "uint32", "int64",
    "uint64", "float32", "float64", "string", "time", "duration",
}  # fmt: skip
STD_DEFS = {  # what rosbags' ROS1 store has too; comments left out, they do not change md5
    "std_msgs/Header": "uint32 seq\ntime stamp\nstring frame_id\n",
    "geometry_msgs/Vector3": "float64 x\nfloat64 y\nfloat64 z\n",
    "geometry_msgs/Quaternion": "float64 x\nfloat64 y\nfloat64 z\nfloat64 w\n",
}


def _full_name(pkg: str, name: str) -> str:
    if name == "Header":
        return "std_msgs/Header"
    return name if "/" in name else f"{pkg}/{name}"


def _ros_md5(msgtype: str, defs: dict[str, str]) -> str:
    """genmsg's md5 of a 'pkg/Type' given every definition text it depends on."""
    pkg = msgtype.split("/")[0]
    constants, fields = [], []
    for raw in defs[msgtype].splitlines():
        line = raw.split("#", 1)[0].strip()  # no string constants in these types
        if not line:
            continue
        ftype, rest = line.split(None, 1)
        if "=" in rest:
            name, value = (part.strip() for part in rest.split("=", 1))
            constants.append(f"{ftype} {name}={value}")
        elif ftype.split("[")[0] in BUILTINS:
            fields.append(f"{ftype} {rest.strip()}")
        else:
            sub = _ros_md5(_full_name(pkg, ftype.split("[")[0]), defs)
            fields.append(f"{sub} {rest.strip()}")
    return hashlib.md5("\n".join(constants + fields).encode()).hexdigest()


def _kuavo_defs() -> dict[str, str]:
    defs = dict(STD_DEFS)
    for path in KUAVO_MSGS.glob("*.msg"):
        defs[f"kuavo_msgs/{path.stem}"] = path.read_text()
    return defs


def _dependencies(msgtype: str, defs: dict[str, str], seen: list[str]) -> list[str]:
    pkg = msgtype.split("/")[0]
    for raw in defs[msgtype].splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line or "=" in line:
            continue
        base = line.split()[0].split("[")[0]
        if base not in BUILTINS:
            dep = _full_name(pkg, base)
            if dep not in seen:
                seen.append(dep)
                _dependencies(dep, defs, seen)
    return seen


def _bag_style_definition(msgtype: str, defs: dict[str, str]) -> str:
    """The text ``rosbag record`` stores: the type, then each dependency under 'MSG: x'."""
    parts = [defs[msgtype]]
    parts += [f"MSG: {dep}\n{defs[dep]}" for dep in _dependencies(msgtype, defs, [])]
    return SEPARATOR.join(parts)


def _sections(definition: str) -> dict[str, str]:
    """Split a stored definition back into {'pkg/Type' or '': text}."""
    out = {}
    for part in definition.split(SEPARATOR):
        if part.startswith("MSG: "):
            name, _, text = part[5:].partition("\n")
            out[name.strip()] = text
        else:
            out[""] = part
    return out


def test_lower_case_constants_are_constants():
    definition = _bag_style_definition("kuavo_msgs/lejuClawState", _kuavo_defs())
    types = types_from_definition("kuavo_msgs/msg/lejuClawState", definition)
    consts, fields = types["kuavo_msgs/msg/lejuClawState"]
    assert [name for name, _ in fields] == ["header", "state", "data"]
    assert [(name, value) for name, _, value in consts] == [
        ("kError", -1),
        ("kUnknown", 0),
        ("kMoving", 1),
        ("kReached", 2),
        ("kGrabbed", 3),
    ]


def test_leju_claw_state_md5_and_layout():
    defs = _kuavo_defs()
    definition = _bag_style_definition("kuavo_msgs/lejuClawState", defs)
    store = typestore_for({"kuavo_msgs/msg/lejuClawState": definition})
    md5 = store.generate_msgdef("kuavo_msgs/msg/lejuClawState")[1]
    assert md5 == _ros_md5("kuavo_msgs/lejuClawState", defs)
    # header (seq, stamp, frame_id 'w'), state [-1, 3], data (one name, empty arrays)
    raw = struct.pack("<IIII1s", 7, 100, 5, 1, b"w")
    raw += struct.pack("<Ibb", 2, -1, 3)
    raw += struct.pack("<II4sIII", 1, 4, b"left", 0, 0, 0)
    msg = store.deserialize_ros1(raw, "kuavo_msgs/msg/lejuClawState")
    assert msg.state.tolist() == [-1, 3]
    assert msg.data.name == ["left"]
    assert store.serialize_ros1(msg, "kuavo_msgs/msg/lejuClawState").tobytes() == raw


def test_md5_of_real_bag_definitions():
    with Ros1Bag(KUAVO_BAG) as bag:
        connections = {c.msgtype: c for c in bag.connections}
    store = typestore_for({t: c.msgdef for t, c in connections.items()})
    sensors = connections["kuavo_msgs/msg/sensorsData"]
    joints = connections["sensor_msgs/msg/JointState"]
    assert sensors.md5sum == "54439d3ac2ef33d46fd7cf6d324860c3"
    assert store.generate_msgdef("kuavo_msgs/msg/sensorsData")[1] == sensors.md5sum
    assert store.generate_msgdef("sensor_msgs/msg/JointState")[1] == joints.md5sum
    # The oracle agrees on the stored text. That recording predates today's jointData
    # (joint_current, now joint_torque), so the published .msg files hash differently.
    stored = _sections(sensors.msgdef)
    stored["kuavo_msgs/sensorsData"] = stored.pop("")
    assert _ros_md5("kuavo_msgs/sensorsData", stored) == sensors.md5sum
    assert "joint_current" in stored["kuavo_msgs/jointData"]
    assert _ros_md5("kuavo_msgs/sensorsData", _kuavo_defs()) != sensors.md5sum
