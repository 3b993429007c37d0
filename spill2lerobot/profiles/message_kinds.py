"""Common message types in generic profiles without naming fields: a part's ``type``.

A part ``{topic: /imu, type: imu}`` stands for the parts of a documented default set of fields
of that message type (``values`` picks some of them), each named ``<topic's last part>.<value>.<axis>``
(``imu.orientation.x``). The set must be known from the profile alone: merge names the features
without any bag. ``GenericRobot`` expands such a part into plain field parts (``expand``); the
bag's message type is checked against the kind before any message is read (``kind_problem``).

=============  ==========================================  =======================================
type           message types                               values (default: all but joint_state's)
=============  ==========================================  =======================================
imu            sensor_msgs/Imu                             orientation (x y z w), angular_velocity
                                                           (x y z), linear_acceleration (x y z)
odometry       nav_msgs/Odometry                           position, orientation, linear, angular
pose           geometry_msgs/Pose, PoseStamped             position (x y z), orientation (x y z w)
twist          geometry_msgs/Twist, TwistStamped           linear (x y z), angular (x y z)
wrench         geometry_msgs/Wrench, WrenchStamped         force (x y z), torque (x y z)
joy            sensor_msgs/Joy                             axes or buttons (one; slice/indices/names
                                                           give how many; default axes)
joint_state    sensor_msgs/JointState                      position (default), velocity, effort of
                                                           ``joints`` (by name)
=============  ==========================================  =======================================
"""

from __future__ import annotations

from dataclasses import dataclass

from spill2lerobot.profiles.options import FieldPart

XYZ = ("x", "y", "z")
XYZW = ("x", "y", "z", "w")


@dataclass(frozen=True)
class Kind:
    """One ``type``: the message types it reads and its values."""

    msgtypes: tuple[str, ...]
    values: dict[str, tuple[str, tuple[str, ...]]]  # value -> (field path, axes; () = a list)
    default: tuple[str, ...] = ()  # () = every value


# A stamped message type -> the field holding the plain message (read through it: ``unwrap``).
STAMPED = {
    "geometry_msgs/msg/PoseStamped": "pose",
    "geometry_msgs/msg/TwistStamped": "twist",
    "geometry_msgs/msg/WrenchStamped": "wrench",
}


def _kind(msgtypes: tuple[str, ...], values: dict[str, tuple[str, tuple[str, ...]]], **more: object) -> Kind:
    default = more.get("default", tuple(values))
    return Kind(msgtypes, values, default)  # type: ignore[arg-type]


KINDS: dict[str, Kind] = {
    "imu": _kind(
        ("sensor_msgs/msg/Imu",),
        {
            "orientation": ("orientation", XYZW),
            "angular_velocity": ("angular_velocity", XYZ),
            "linear_acceleration": ("linear_acceleration", XYZ),
        },
    ),
    "odometry": _kind(
        ("nav_msgs/msg/Odometry",),
        {
            "position": ("pose.pose.position", XYZ),
            "orientation": ("pose.pose.orientation", XYZW),
            "linear": ("twist.twist.linear", XYZ),
            "angular": ("twist.twist.angular", XYZ),
        },
    ),
    "pose": _kind(
        ("geometry_msgs/msg/Pose", "geometry_msgs/msg/PoseStamped"),
        {"position": ("position", XYZ), "orientation": ("orientation", XYZW)},
    ),
    "twist": _kind(
        ("geometry_msgs/msg/Twist", "geometry_msgs/msg/TwistStamped"),
        {"linear": ("linear", XYZ), "angular": ("angular", XYZ)},
    ),
    "wrench": _kind(
        ("geometry_msgs/msg/Wrench", "geometry_msgs/msg/WrenchStamped"),
        {"force": ("force", XYZ), "torque": ("torque", XYZ)},
    ),
    "joy": _kind(("sensor_msgs/msg/Joy",), {"axes": ("axes", ()), "buttons": ("buttons", ())}, default=("axes",)),
    "joint_state": _kind(
        ("sensor_msgs/msg/JointState",),
        {"position": ("position", ()), "velocity": ("velocity", ()), "effort": ("effort", ())},
        default=("position",),
    ),
}


def chosen_values(part: FieldPart) -> list[str]:
    assert part.type is not None  # typed parts only
    return list(part.values) if part.values is not None else list(KINDS[part.type].default)


def typed_problem(part: FieldPart) -> str | None:
    """What is wrong with a typed part's keys (profile alone), or None."""
    assert part.type is not None  # typed parts only
    kind = KINDS[part.type]
    if part.field:
        return f"give either type or field, not both (type {part.type} reads its own fields)"
    if part.decoder is not None:
        return "a typed part takes no decoder"
    values = chosen_values(part)
    unknown = [v for v in values if v not in kind.values]
    if unknown or not values or len(set(values)) != len(values):
        return f"values must be distinct values of {part.type}: {', '.join(kind.values)}"
    lists = [v for v in values if not kind.values[v][1]]
    if part.type == "joint_state" and part.joints is None:
        return "type joint_state needs joints (the joint names to take)"
    if part.type == "joy" and (len(values) != 1 or (part.slice is None and part.indices is None)):
        return "type joy takes one of axes or buttons, and a slice or indices (how many values)"
    if not lists and any(x is not None for x in (part.slice, part.indices, part.joints)):
        return f"type {part.type} takes no slice, indices or joints"
    if part.names is not None and len(part.names) != len(expanded_names(part)):
        return f"names lists {len(part.names)} names for {len(expanded_names(part))} values"
    return None


def expand(part: FieldPart) -> list[FieldPart]:
    """The plain field parts a part stands for (itself when it has no ``type``); their fields are
    of the plain message (a stamped one is read through ``unwrap``)."""
    if part.type is None:
        return [part]
    kind = KINDS[part.type]
    names = iter(part.names or expanded_names(part))
    out = []
    for value in chosen_values(part):
        path, axes = kind.values[value]
        size = len(axes) if axes else len(_selection_names(part))
        update = {"type": None, "values": None, "field": path, "names": [next(names) for _ in range(size)]}
        out.append(part.model_copy(update=update))
    return out


def expanded_names(part: FieldPart) -> list[str]:
    """Generated value names: ``<topic's last part>.<value>.<axis or index>`` (joint_state:
    ``<joint>`` for position alone, else ``<joint>.<value>``)."""
    assert part.type is not None  # typed parts only
    kind = KINDS[part.type]
    base = part.topic.rstrip("/").rsplit("/", 1)[-1] or part.topic
    values = chosen_values(part)
    names: list[str] = []
    for value in values:
        axes = kind.values[value][1]
        if part.type == "joint_state":
            names += [j if values == ["position"] else f"{j}.{value}" for j in part.joints or ()]
        else:
            names += [f"{base}.{value}.{axis}" for axis in axes or _selection_names(part)]
    return names


def _selection_names(part: FieldPart) -> list[str]:
    if part.joints is not None:
        return list(part.joints)
    if part.indices is not None:
        return [str(i) for i in part.indices]
    return [str(i) for i in range(*(part.slice or (0,)))]


def kind_problem(part: FieldPart, msgtype: str) -> str | None:
    """Why the bag's type of the topic does not fit a typed part, or None."""
    if part.type is None or msgtype in KINDS[part.type].msgtypes:
        return None
    return f"type {part.type} reads {' or '.join(KINDS[part.type].msgtypes)}"


def unwrap(msg: object) -> object:
    """The plain message inside a stamped one (a PoseStamped's pose), else the message."""
    wrapped = STAMPED.get(getattr(msg, "__msgtype__", ""))
    return getattr(msg, wrapped) if wrapped else msg


def unwrapped_field(msgtype: str, field: str) -> str:
    """A plain message's field path as a path of ``msgtype`` (stamped or not), for checks."""
    wrapped = STAMPED.get(msgtype)
    return f"{wrapped}.{field}" if wrapped else field
