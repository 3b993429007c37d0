"""Header-stamp faults: duplicate, out-of-order and skewed ``header.stamp`` values, per topic.

Alignment uses bag record times, like the original converter; ``header.stamp`` is only checked.
For every streamed message of a topic whose type starts with a ``std_msgs/Header`` the stamp is
read from the serialized bytes (``bag.wire.header_stamp``: no deserialization) and counted:

- ``duplicate_stamps``: the same stamp as the topic's previous message;
- ``out_of_order_stamps``: a stamp earlier than the topic's previous message's;
- ``skewed_stamps``: a stamp farther than ``faults.max_skew_ms`` from the message's record time.

A stamp of 0 (header never filled in) is not compared. Counts belong to chunks by record time:
chunk ``c`` counts the messages recorded in ``[T(c-1), T(c))``, ``T(c)`` the target time of its
last frame (the first chunk from the bag's start, the last one up to where reading stops). A
message's predecessor is always read again when a run resumes (the resume point lies before
every topic's last message before ``T(c-1)``), so a resumed run counts exactly what an
uninterrupted one does.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING

from spill2lerobot.bag.wire import header_stamp

if TYPE_CHECKING:
    from rosbags.interfaces.typing import Typesdict

HEADER_TYPE = "std_msgs/msg/Header"
KINDS = ("duplicate_stamps", "out_of_order_stamps", "skewed_stamps")


def stamped_topics(msgtypes: Mapping[str, str], fielddefs: Typesdict) -> set[str]:
    """Topics whose message type's first field is a ``std_msgs/Header``."""
    out: set[str] = set()
    for topic, msgtype in msgtypes.items():
        fields = fielddefs.get(msgtype, ((), ()))[1]
        if fields and fields[0][1][1] == HEADER_TYPE:
            out.add(topic)
    return out


class StampCounter:
    """Counts header-stamp faults of the messages stage 1 streams, per chunk and topic."""

    def __init__(self, topics: Iterable[str], chunk_ends_ns: list[int], first_chunk: int, max_skew_ns: int) -> None:
        """``chunk_ends_ns[c]``: target time of chunk c's last frame; counting starts at ``first_chunk``."""
        self._topics = set(topics)
        self._ends = chunk_ends_ns
        self._chunk = first_chunk
        self._count_from = chunk_ends_ns[first_chunk - 1] if first_chunk > 0 else None
        self._max_skew = max_skew_ns
        self._previous: dict[str, int] = {}
        self._counts: dict[int, dict[str, dict[str, int]]] = {}

    def push(self, topic: str, time_ns: int, payload: bytes | memoryview) -> None:
        if topic not in self._topics:
            return
        stamp = header_stamp(payload)
        if not stamp:  # too short for a header, or a stamp never filled in
            return
        previous = self._previous.get(topic)
        self._previous[topic] = stamp
        if self._count_from is not None:
            if time_ns < self._count_from:
                return  # before this run's first chunk: only the predecessor matters
            self._count_from = None
        ends = self._ends
        while self._chunk < len(ends) - 1 and time_ns >= ends[self._chunk]:
            self._chunk += 1
        if previous is not None:
            if stamp == previous:
                self._add("duplicate_stamps", topic)
            elif stamp < previous:
                self._add("out_of_order_stamps", topic)
        if abs(stamp - time_ns) > self._max_skew:
            self._add("skewed_stamps", topic)

    def _add(self, kind: str, topic: str) -> None:
        counts = self._counts.setdefault(self._chunk, {}).setdefault(kind, {})
        counts[topic] = counts.get(topic, 0) + 1

    def take(self, chunk: int) -> dict[str, dict[str, int]]:
        """Counts of ``chunk`` (complete once its last frame is out: later messages are later)."""
        return self._counts.pop(chunk, {})
