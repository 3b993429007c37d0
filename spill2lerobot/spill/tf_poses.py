"""Poses from ``/tf`` and ``/tf_static``: frame A in frame B at each frame time (generic profiles'
TF parts, ``{frame: hand, relative_to: base}``).

Each transform (parent ``header.frame_id`` -> ``child_frame_id``) is an edge of the TF tree. The
pose of A in B chains the edges from the tree's root down to A and to B:
``T_B_A = inverse(T_root_B) * T_root_A``. A dynamic edge's value at a frame time is interpolated
between its two transforms around it, the translation linearly and the rotation by slerp (as the
``linear``/``slerp`` alignment modes do, and as tf2's lookup does); before its first or after its
last transform it holds that one. Static edges are constant. A transform's time is its message's
record time, or with ``dataset.timing: header`` its ``header.stamp`` (the frame times' clock).

Memory stays bounded by what the requested poses need: ``/tf`` is read twice, streaming: once for
the tree's shape (child -> parent names), once keeping only the edges on the requested chains, as
arrays of 8 numbers a transform.
"""

from __future__ import annotations

from array import array
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from spill2lerobot.bag.base import Bag
from spill2lerobot.errors import UserError
from spill2lerobot.profiles.interpolate import euler_xyz

TF, TF_STATIC = "/tf", "/tf_static"
Floats = npt.NDArray[np.float64]
Pose = tuple[Floats, Floats]  # (frames x 3 translations, frames x 4 quaternions x y z w)
Edge = tuple[str, str]  # (parent, child)


def _transforms(bag: Bag, topic: str) -> Iterable[tuple[int, Any]]:
    """(time, TransformStamped) of every transform on ``topic``, streaming."""
    for msg in bag.messages([topic]):
        for transform in bag.deserialize(msg).transforms:  # type: ignore[attr-defined]
            yield msg.time_ns, transform


def _stamp(transform: Any) -> int:
    return int(transform.header.stamp.sec) * 1_000_000_000 + int(transform.header.stamp.nanosec)


class _EdgeSeries:
    """One edge's transforms: time, translation, rotation (8 numbers each)."""

    def __init__(self) -> None:
        self.times = array("q")
        self.values = array("d")

    def add(self, time_ns: int, transform: Any) -> None:
        t, r = transform.transform.translation, transform.transform.rotation
        self.times.append(time_ns)
        self.values.extend((t.x, t.y, t.z, r.x, r.y, r.z, r.w))

    def at(self, targets: npt.NDArray[np.int64]) -> Pose:
        """Translation linear, rotation slerp between the transforms around each target."""
        unsorted = np.frombuffer(self.times, dtype=np.int64)
        order = np.argsort(unsorted, kind="stable")
        times = unsorted[order]
        values: Floats = np.frombuffer(self.values, dtype=np.float64).reshape(-1, 7)[order]
        after = np.clip(np.searchsorted(times, targets, side="right"), 1, max(len(times) - 1, 1))
        before = after - 1
        if len(times) == 1:
            return np.repeat(values[:1, :3], len(targets), 0), np.repeat(values[:1, 3:], len(targets), 0)
        span = (times[after] - times[before]).astype(np.float64)
        weight = np.clip((targets - times[before]) / np.where(span > 0, span, 1.0), 0.0, 1.0)
        w = weight[:, None]
        translation = values[before, :3] + w * (values[after, :3] - values[before, :3])
        return translation, _slerp(values[before, 3:], values[after, 3:], weight)


def _slerp(q0: Floats, q1: Floats, weight: Floats) -> Floats:
    """Row-wise slerp of unit quaternions (x, y, z, w) along the shorter arc."""
    q0 = q0 / np.linalg.norm(q0, axis=1, keepdims=True)
    q1 = q1 / np.linalg.norm(q1, axis=1, keepdims=True)
    dot = np.sum(q0 * q1, axis=1)
    q1 = np.where((dot < 0)[:, None], -q1, q1)
    dot = np.clip(np.abs(dot), 0.0, 1.0)
    theta = np.arccos(dot)
    sin = np.sin(theta)
    close = sin < 1e-9
    safe = np.where(close, 1.0, sin)
    a = np.where(close, 1.0 - weight, np.sin((1.0 - weight) * theta) / safe)
    b = np.where(close, weight, np.sin(weight * theta) / safe)
    out: Floats = a[:, None] * q0 + b[:, None] * q1
    unit: Floats = out / np.linalg.norm(out, axis=1, keepdims=True)
    return unit


def _multiply(q1: Floats, q2: Floats) -> Floats:
    x1, y1, z1, w1 = q1.T
    x2, y2, z2, w2 = q2.T
    return np.stack(
        [
            w1 * x2 + x1 * w2 + y1 * z2 - z1 * y2,
            w1 * y2 - x1 * z2 + y1 * w2 + z1 * x2,
            w1 * z2 + x1 * y2 - y1 * x2 + z1 * w2,
            w1 * w2 - x1 * x2 - y1 * y2 - z1 * z2,
        ],
        axis=1,
    )


def _rotate(q: Floats, v: Floats) -> Floats:
    """Vectors ``v`` rotated by ``q`` (row-wise): v + 2 w (u x v) + 2 u x (u x v)."""
    u, w = q[:, :3], q[:, 3:]
    c = np.cross(u, v)
    out: Floats = v + 2.0 * w * c + 2.0 * np.cross(u, c)
    return out


def _compose(a: Pose, b: Pose) -> Pose:
    return a[0] + _rotate(a[1], b[0]), _multiply(a[1], b[1])


def _inverse(a: Pose) -> Pose:
    conjugate = a[1] * np.array([-1.0, -1.0, -1.0, 1.0])
    return -_rotate(conjugate, a[0]), conjugate


class TfTree:
    """The TF tree of a bag, then the series of the edges the requested poses need."""

    def __init__(self, bag: Bag, header_timing: bool) -> None:
        self._bag, self._header = bag, header_timing
        topics = bag.topics()
        if not topics.get(TF) and not topics.get(TF_STATIC):
            raise UserError(f"{bag.path}: the profile reads poses from /tf, the bag has neither /tf nor /tf_static")
        self._present = [topic for topic in (TF_STATIC, TF) if topic in topics and topics[topic].count]
        self.parent: dict[str, str] = {}
        self._static: dict[Edge, Pose] = {}
        for topic in self._present:
            for time_ns, transform in _transforms(bag, topic):
                edge = (str(transform.header.frame_id).lstrip("/"), str(transform.child_frame_id).lstrip("/"))
                self.parent[edge[1]] = edge[0]
                if topic == TF_STATIC:
                    series = _EdgeSeries()
                    series.add(time_ns, transform)
                    self._static[edge] = series.at(np.zeros(1, dtype=np.int64))

    def chain(self, frame: str) -> list[Edge]:
        """The edges from the root down to ``frame``."""
        frame = frame.lstrip("/")  # as the bag's names are read
        edges: list[Edge] = []
        seen = {frame}
        while frame in self.parent:
            edges.append((self.parent[frame], frame))
            frame = self.parent[frame]
            if frame in seen:
                raise UserError(f"{self._bag.path}: /tf has a loop through frame {frame}; the bag's TF tree is broken")
            seen.add(frame)
        return edges[::-1]

    def poses(self, requests: Sequence[tuple[str, str]], targets: npt.NDArray[np.int64]) -> list[Pose]:
        """Pose of each (frame, relative_to) at the targets."""
        chains = {}
        for frame, relative_to in requests:
            for name in (frame, relative_to):
                chains[name] = self.chain(name)
            root_a = chains[frame][0][0] if chains[frame] else frame
            root_b = chains[relative_to][0][0] if chains[relative_to] else relative_to
            if root_a != root_b:
                raise UserError(
                    f"{self._bag.path}: /tf does not connect frame {frame!r} to {relative_to!r} "
                    f"(roots {root_a!r} and {root_b!r}); check the frame names (inspect shows them)"
                )
        needed = {edge for edges in chains.values() for edge in edges if edge not in self._static}
        values = self._edge_values(needed, targets)
        values.update({edge: _repeat(pose, len(targets)) for edge, pose in self._static.items()})
        return [_relative(_root_pose(chains[b], values, targets), _root_pose(chains[a], values, targets))
                for a, b in requests]  # fmt: skip

    def _edge_values(self, needed: set[Edge], targets: npt.NDArray[np.int64]) -> dict[Edge, Pose]:
        series = {edge: _EdgeSeries() for edge in needed}
        if needed and TF in self._present:
            for time_ns, transform in _transforms(self._bag, TF):
                edge = (str(transform.header.frame_id).lstrip("/"), str(transform.child_frame_id).lstrip("/"))
                if edge in series:
                    series[edge].add(_stamp(transform) if self._header else time_ns, transform)
        return {edge: s.at(targets) for edge, s in series.items()}


def _repeat(pose: Pose, n: int) -> Pose:
    return np.repeat(pose[0], n, 0), np.repeat(pose[1], n, 0)


def _root_pose(edges: list[Edge], values: dict[Edge, Pose], targets: npt.NDArray[np.int64]) -> Pose:
    pose: Pose = (np.zeros((len(targets), 3)), np.tile([0.0, 0.0, 0.0, 1.0], (len(targets), 1)))
    for edge in edges:
        pose = _compose(pose, values[edge])
    return pose


def _relative(root_b: Pose, root_a: Pose) -> Pose:
    """A in B from both in the root's frame."""
    return _compose(_inverse(root_b), root_a)


def pose_values(pose: Pose, euler: bool = False) -> Floats:
    """Frames x values: x y z qx qy qz qw, or x y z roll pitch yaw."""
    return np.concatenate([pose[0], euler_xyz(pose[1]) if euler else pose[1]], axis=1)
