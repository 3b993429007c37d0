"""Streaming nearest-in-time alignment onto the target timeline.

The original converter loads every message, builds the target timeline from the main camera
(drop ``sample_drop`` frames at each end, keep every ``main_fps // train_hz``-th, keep only
times before the earliest last message of any topic), then picks for each target time the
message of every topic nearest in time (``argmin |t - target|``: on a tie the earlier message).

Here the timeline comes from the bag index, and messages stream past once in time order: a
topic's choice for a target is settled as soon as the first message at or after the target
arrives, so only one message per topic (the previous one) is ever held.

Generic profiles may align a topic otherwise (``TopicAlign``): ``previous`` holds the last message
at or before the target, ``linear``/``slerp`` take it and the next one (``Pick.after``) with the
target's place between them; the decision point is the same, so resuming works alike.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray


def target_times(main_times_ns: NDArray[Any], sample_drop: int, stride: int, cutoff_ns: int) -> NDArray[Any]:
    """The original's timeline: main-camera times, ends dropped, every ``stride``-th, < cutoff."""
    times = np.asarray(main_times_ns, dtype=np.int64)
    if sample_drop > 0:
        times = times[sample_drop:-sample_drop]
    times = times[::stride]
    return times[times < cutoff_ns]


@dataclass
class Pick:
    """The message a topic contributes to one target frame. An interpolating topic (``linear``,
    ``slerp``) also gives the next message (``after``) and the frame's place between the two
    (``weight``: 0 at this message, 1 at ``after``)."""

    time_ns: int
    payload: Any
    after: Pick | None = None
    weight: float = 0.0


@dataclass(frozen=True)
class TopicAlign:
    """How a topic's messages meet the frame times (generic profiles; the default everywhere):
    ``nearest`` (the original's argmin), ``previous`` (the last message at or before the frame
    time: hold), ``linear`` / ``slerp`` (between the messages around it); ``max_skew_ms``: this
    topic's gap limit (None: ``faults.max_skew_ms``)."""

    mode: str = "nearest"
    max_skew_ms: int | None = None


@dataclass(frozen=True)
class Blend:
    """Two decoded messages and the frame's place between them (``Pick.after``, ``Pick.weight``)."""

    before: Any
    after: Any
    weight: float


def skew_ns(pick: Pick, target_ns: int, mode: str) -> int:
    """How far a pick's data is from the frame time, for the gap check: the held message's age
    (``previous``), else the nearer of the messages used."""
    if mode == "previous":
        return abs(target_ns - pick.time_ns)
    if pick.after is not None:
        return min(abs(target_ns - pick.time_ns), abs(pick.after.time_ns - target_ns))
    return abs(pick.time_ns - target_ns)


@dataclass
class AlignedFrame:
    index: int  # position on the target timeline of this bag
    target_ns: int
    picks: dict[str, Pick]
    # For each topic, the time of the message before its pick's decision point: reading the bag
    # again from min(resume_from_ns) reproduces every later frame exactly (see resume_point).
    resume_from_ns: dict[str, int] = field(default_factory=dict)
    # For the watched topics (``span_topics``): the record times of the two consecutive messages
    # whose times enclose the target strictly, when there are such messages.
    between: dict[str, tuple[int, int]] = field(default_factory=dict)


class _TopicCursor:
    """One topic's walk over the targets: the previous message and the next unsettled target."""

    __slots__ = ("next_target", "prev")

    def __init__(self, first_target: int) -> None:
        self.next_target = first_target
        self.prev: Pick | None = None


class StreamingAligner:
    """Feed messages in record-time order; get complete frames back in timeline order."""

    def __init__(
        self,
        targets_ns: NDArray[Any],
        topics: list[str],
        first_target: int = 0,
        span_topics: tuple[str, ...] = (),
        modes: Mapping[str, str] | None = None,
    ) -> None:
        """``span_topics``: topics whose enclosing messages each frame records (``AlignedFrame.between``);
        ``modes``: topic -> ``TopicAlign.mode`` (others: nearest)."""
        self._targets = [int(t) for t in targets_ns]
        self._topics = list(topics)
        self._modes = {topic: mode for topic, mode in (modes or {}).items() if mode != "nearest"}
        self._span_topics = frozenset(span_topics)
        self._cursors = {topic: _TopicCursor(first_target) for topic in self._topics}
        self._pending: dict[int, AlignedFrame] = {}
        self._next_out = first_target

    @property
    def targets(self) -> list[int]:
        return self._targets

    def push(self, topic: str, time_ns: int, payload: Any) -> list[AlignedFrame]:
        cursor = self._cursors[topic]
        targets = self._targets
        j = cursor.next_target
        prev = cursor.prev
        # Of several messages with the same time, argmin takes the first: keep that one.
        same_time = prev is not None and prev.time_ns == time_ns
        if j >= len(targets) or targets[j] > time_ns:
            if not same_time:
                cursor.prev = Pick(time_ns, payload)  # the common case: nothing settled yet
            return []
        current = prev if same_time and prev is not None else Pick(time_ns, payload)
        while j < len(targets) and targets[j] <= time_ns:
            target = targets[j]
            if topic in self._modes:
                pick = self._held(self._modes[topic], prev, current, target)
            # Nearest wins; a tie goes to the earlier message, like numpy's argmin.
            elif prev is not None and target - prev.time_ns <= time_ns - target:
                pick = prev
            else:
                pick = current
            resume = prev.time_ns if prev is not None else time_ns
            self._settle(j, topic, pick, resume)
            if topic in self._span_topics and prev is not None and prev.time_ns < target < time_ns:
                self._pending[j].between[topic] = (prev.time_ns, time_ns)
            j += 1
        cursor.next_target = j
        cursor.prev = current
        return self._pop_complete()

    @staticmethod
    def _held(mode: str, prev: Pick | None, current: Pick, target: int) -> Pick:
        """A non-nearest topic's pick for a target with ``prev.time < target <= current.time``:
        the message at or before the target (the first message if none is), and for
        interpolation the one after it."""
        if current.time_ns == target or prev is None:
            return current
        if mode == "previous":
            return prev
        weight = (target - prev.time_ns) / (current.time_ns - prev.time_ns)
        return Pick(prev.time_ns, prev.payload, current, weight)

    def finish(self) -> list[AlignedFrame]:
        """End of stream: remaining targets take each topic's last message."""
        for topic, cursor in self._cursors.items():
            if cursor.prev is None:
                continue
            for j in range(cursor.next_target, len(self._targets)):
                self._settle(j, topic, cursor.prev, cursor.prev.time_ns)
            cursor.next_target = len(self._targets)
        return self._pop_complete()

    def _settle(self, j: int, topic: str, pick: Pick, resume_ns: int) -> None:
        frame = self._pending.get(j)
        if frame is None:
            frame = self._pending[j] = AlignedFrame(j, self._targets[j], {})
        frame.picks[topic] = pick
        frame.resume_from_ns[topic] = resume_ns

    def _pop_complete(self) -> list[AlignedFrame]:
        out: list[AlignedFrame] = []
        while True:
            frame = self._pending.get(self._next_out)
            if frame is None or len(frame.picks) < len(self._topics):
                return out
            del self._pending[self._next_out]
            out.append(frame)
            self._next_out += 1


def nearest_indices(times_ns: NDArray[Any], targets_ns: NDArray[Any]) -> NDArray[np.int64]:
    """For each target, the index of the message of ``times_ns`` (sorted) the original picks:
    argmin |t - target|, a tie to the earlier message, of equal times the first (vectorised)."""
    times = np.asarray(times_ns, dtype=np.int64)
    targets = np.asarray(targets_ns, dtype=np.int64)
    after = np.clip(np.searchsorted(times, targets, side="left"), 1, len(times) - 1) if len(times) > 1 else None
    if after is None:
        return np.zeros(len(targets), dtype=np.int64)
    before = after - 1
    take_before = targets - times[before] <= times[after] - targets
    picked = np.where(take_before, before, after)
    first: NDArray[np.int64] = np.searchsorted(times, times[picked], side="left").astype(np.int64)
    return first  # of equal times, the first


def enclosing(times_ns: NDArray[Any], target_ns: int) -> tuple[int, int] | None:
    """The record times of the two consecutive messages strictly around ``target_ns`` (sorted
    ``times_ns``), or None: what ``AlignedFrame.between`` holds, from a topic's index times."""
    after = int(np.searchsorted(times_ns, target_ns, side="right"))
    if after == 0 or after == len(times_ns) or int(times_ns[after - 1]) == target_ns:
        return None
    return int(times_ns[after - 1]), int(times_ns[after])


def resume_point(last_frame_before: AlignedFrame) -> int:
    """Where to start reading the bag again to rebuild every frame after ``last_frame_before``.

    Each topic's pick for a later target is that topic's last message at or before the target
    or a later one; both are at or after the message held when this frame was settled.
    """
    return min(last_frame_before.resume_from_ns.values())
