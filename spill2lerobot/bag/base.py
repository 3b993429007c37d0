"""What every bag reader offers (``Bag``) and the types they share.

Stage 1, ``inspect`` and ``validate`` read bags only through ``Bag``: index queries (topics,
record times), time-ordered streaming of chosen topics, deserialisation and cutting image
payloads out of serialized messages. ``Ros1Bag`` (``bag.ros1``) and ``Ros2Bag`` (``bag.ros2``)
implement it; ``bag.open_bag`` picks one for a path.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, NamedTuple, Protocol, Self

import numpy as np
import numpy.typing as npt

if TYPE_CHECKING:
    from rosbags.typesys.store import Typestore

    from spill2lerobot.bag.wire import RawImage

# Record times of one topic, int64 nanoseconds, sorted.
Times = npt.NDArray[np.int64]
# Cuts what a camera worker needs out of one serialized image message.
ImageCutter = Callable[[bytes | memoryview], "bytes | RawImage"]


class BagError(Exception):
    """A bag cannot be read; the message is one line naming the file and what to do."""


class MessageConnection(Protocol):
    """What a message says of the connection it came on (ROS1 ``Connection``, rosbags' for ROS2)."""

    @property
    def topic(self) -> str: ...

    @property
    def msgtype(self) -> str: ...


class TopicInfo(NamedTuple):
    msgtype: str
    # A field named like tuple.count: mypy objects, but callers (and tests) read .count and compare to tuples.
    count: int  # type: ignore[assignment]
    connection_ids: tuple[int, ...]


Chosen = Mapping[str, Times]  # topic -> record times of the messages wanted (``Bag.messages(only=...)``)


def keep_chosen(messages: Iterable[Message], only: Chosen) -> Iterator[Message]:
    """``messages`` without those of an ``only`` topic at a time it does not list."""
    keep = {topic: frozenset(np.asarray(times).tolist()) for topic, times in only.items()}
    return (m for m in messages if m.topic not in keep or m.time_ns in keep[m.topic])


class Message(NamedTuple):
    topic: str
    time_ns: int  # record (receive) time, not header.stamp
    data: bytes  # raw serialized message (a copy, so holding it pins no chunk)
    connection: MessageConnection


@dataclass(frozen=True)
class Recovery:
    """What ``Ros1Bag(path, recover=True)`` made of a bag whose index was missing or unusable."""

    reason: str  # why the index was not used, and where (if anywhere) the scan stopped
    chunks: int  # complete chunks recovered
    messages: int  # messages in them
    bytes_used: int  # the file up to here was understood; the rest is ignored
    bytes_total: int  # file size
    dropped_bytes: int  # bytes_total - bytes_used
    decompressed: int  # chunks the scan had to decompress (the others were known from IndexData)

    @property
    def fraction(self) -> float:
        """Share of the file that was recovered (0..1)."""
        return self.bytes_used / self.bytes_total if self.bytes_total else 0.0

    def __str__(self) -> str:
        return (
            f"recovered {self.chunks:,} chunks, {self.messages:,} messages,"
            f" {100 * self.fraction:.1f}% of the file ({self.reason})"
        )


class Bag(Protocol):
    """A bag opened for index queries and time-ordered streaming of chosen topics."""

    @property
    def path(self) -> Path: ...

    @property
    def serialization(self) -> str:
        """How messages are encoded: "ros1" or "cdr"."""
        ...

    @property
    def bytes_read(self) -> int:
        """Bytes read so far (what a test uses to prove that a query reads little)."""
        ...

    @property
    def recovery(self) -> Recovery | None:
        """What a recovery scan found (None: the bag was read through its index)."""
        ...

    @property
    def start_ns(self) -> int: ...

    @property
    def end_ns(self) -> int: ...

    @property
    def chunks(self) -> Sequence[object]: ...

    def topics(self) -> dict[str, TopicInfo]: ...

    def message_count(self, topic: str) -> int: ...

    def topic_times(self, topic: str) -> Times: ...

    def topics_times(self, topics: Iterable[str]) -> dict[str, Times]:
        """``topic_times`` of several topics with messages, the index read once."""
        ...

    def last_time(self, topic: str) -> int: ...

    def messages(
        self,
        topics: Iterable[str],
        start_ns: int = 0,
        stop_ns: int | None = None,
        only: Mapping[str, Times] | None = None,
    ) -> Iterator[Message]:
        """Messages of ``topics`` in [start_ns, stop_ns] in record-time order; for the topics in
        ``only``, just those at the given record times (the others need not be read)."""
        ...

    def typestore(self) -> Typestore: ...

    def deserialize(self, msg: Message) -> object: ...

    def deserialize_raw(self, data: bytes | memoryview, msgtype: str) -> object: ...

    def image_of(self, msgtype: str) -> ImageCutter:
        """What the camera worker needs of one message of an image topic of ``msgtype``."""
        ...

    def compressions(self) -> list[str]:
        """Compressions of (some of) the bag's chunks, each named once."""
        ...

    def size_bytes(self) -> int: ...

    def close(self) -> None: ...

    def __enter__(self) -> Self: ...

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None: ...


class TopicIndex(Protocol):
    """The index-only queries stage 1's planning uses (a ``Bag``, or inspect's cached view)."""

    @property
    def path(self) -> Path: ...

    def topics(self) -> dict[str, TopicInfo]: ...

    def topic_times(self, topic: str) -> Times: ...

    def last_time(self, topic: str) -> int: ...
