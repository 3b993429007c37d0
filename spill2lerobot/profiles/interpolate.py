"""Values between two messages (generic profiles' ``linear`` and ``slerp`` alignment), and
message fields read as numbers (a Quaternion is its x, y, z, w; a Pose its position then
orientation)."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import numpy.typing as npt

Floats = npt.NDArray[np.float64]
QUATERNION_FIELDS = ("x", "y", "z", "w")
# Above this cosine the two rotations are so close that the normalised linear blend equals slerp
# to float64 precision (and avoids dividing by a vanishing sine).
_NEARLY_PARALLEL = 0.9995


def numbers(value: Any) -> Floats:
    """A field's value as a flat float64 vector: a number, a list of numbers, or a message whose
    fields are all numbers, lists of numbers or such messages, in their order (a Pose is its
    position x, y, z then orientation x, y, z, w; a Twist linear then angular)."""
    names = _field_names(value)
    if names is None:
        values = np.asarray(value, dtype=np.float64)
        return values.reshape(1) if values.ndim == 0 else values
    try:
        parts = [numbers(getattr(value, name)).ravel() for name in names]
    except (TypeError, ValueError):
        raise ValueError(f"{type(value).__name__} has fields that are not numbers") from None
    return np.concatenate(parts) if parts else np.zeros(0)


def is_quaternion(value: Any) -> bool:
    return _field_names(value) == QUATERNION_FIELDS


def _field_names(value: Any) -> tuple[str, ...] | None:
    """A deserialized message's fields in order (its class variables such as __msgtype__ left out)."""
    if not dataclasses.is_dataclass(value) or isinstance(value, type):
        return None
    return tuple(f.name for f in dataclasses.fields(value) if not f.name.startswith("__"))


def euler_xyz(q: Floats) -> Floats:
    """Roll, pitch, yaw (rad; fixed axes x, y, z, as ROS's RPY) of quaternions x, y, z, w (rows)."""
    x, y, z, w = np.atleast_2d(q).T
    roll = np.arctan2(2.0 * (w * x + y * z), 1.0 - 2.0 * (x * x + y * y))
    pitch = np.arcsin(np.clip(2.0 * (w * y - z * x), -1.0, 1.0))
    yaw = np.arctan2(2.0 * (w * z + x * y), 1.0 - 2.0 * (y * y + z * z))
    out: Floats = np.stack([roll, pitch, yaw], axis=1)
    return out


def linear(before: Floats, after: Floats, weight: float) -> Floats:
    return before + weight * (after - before)


def slerp(before: Floats, after: Floats, weight: float) -> Floats:
    """Spherical linear interpolation of unit quaternions (x, y, z, w) along the shorter arc;
    the result is a unit quaternion."""
    q0 = before / np.linalg.norm(before)
    q1 = after / np.linalg.norm(after)
    dot = float(np.dot(q0, q1))
    if dot < 0.0:  # q and -q are one rotation: take the shorter way round
        q1, dot = -q1, -dot
    if dot > _NEARLY_PARALLEL:
        out: Floats = q0 + weight * (q1 - q0)
        return out / np.linalg.norm(out)
    theta = np.arccos(min(dot, 1.0))
    sin = np.sin(theta)
    result: Floats = (np.sin((1.0 - weight) * theta) / sin) * q0 + (np.sin(weight * theta) / sin) * q1
    return result
