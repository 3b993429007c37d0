"""A streaming, index-aware reader for ROS1 bags (format 2.0) with flat memory.

rosbags' reader loads the index of every message up front (~180 bytes each, about 1 GB for an
hour of a busy robot) and its AnyReader refuses Kuavo bags. This reader keeps only the
connection and chunk-info records in memory (a few hundred bytes per chunk) and reads
everything else on demand:

* counts, topic lists and message times come from the index (``index``), so such queries
  never touch message data;
* ``messages()`` reads and decompresses one chunk at a time, skips the chunks that cannot hold
  a wanted message, and merges chunks that overlap in time so that messages come out in
  record-time order (ties: file order);
* every byte read is counted and bounds-checked (``file``); chunks are decompressed with a
  bound (``bounded``).

``Ros1Bag(path, recover=True)`` also reads bags whose index is missing or unusable
(``recovery``).
"""

from __future__ import annotations

import heapq
import struct
from bisect import bisect_right
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from operator import itemgetter
from pathlib import Path
from typing import TYPE_CHECKING, cast

import numpy as np
import numpy.typing as npt

from spill2lerobot.bag.base import BagError, ImageCutter, Message, Recovery, Times
from spill2lerobot.bag.ros1.index import IndexUnusable, Ros1Index, parse_index_entries, parse_index_section
from spill2lerobot.bag.ros1.records import (
    MAGIC,
    OP_BAG_HEADER,
    U32,
    U64,
    ChunkInfo,
    Connection,
    parse_header,
    record_op,
)
from spill2lerobot.bag.ros1.recovery import recover as recover_index
from spill2lerobot.bag.ros1.walk import walk_chunk
from spill2lerobot.bag.wire import image_of

if TYPE_CHECKING:
    from rosbags.typesys.store import Typestore

# An index section (Connection and ChunkInfo records) larger than this is taken for a damaged
# index_pos; 256 MiB would index about 2.5 million chunks (some 2 TB of bag). The recovery scan
# (streaming) still reads such a bag.
_MAX_INDEX_BYTES = 256 << 20
# Messages of chunks overlapping in time are held until they can be yielded in time order; real
# bags overlap by a few messages at chunk boundaries. More than this held at once is a damaged
# index or a crafted bag (many small chunks each claiming the whole time range).
_MAX_HELD = 384 << 20

# Selective reads (``messages(only=...)``) skip a stretch of an uncompressed chunk only when it
# is at least this long (about one 320x240 JPEG): shorter holes are read through, one request.
_SKIP_AT_LEAST = 16 << 10

_message_time = itemgetter(1)

__all__ = ["BagError", "ChunkInfo", "Connection", "Message", "Recovery", "Ros1Bag"]


class Ros1Bag(Ros1Index):
    """A ROS1 bag opened for index queries and time-ordered streaming of chosen topics."""

    serialization = "ros1"  # how messages are encoded (``Ros2Bag``: "cdr")

    def __init__(self, path: str | Path, recover: bool = False) -> None:
        """Open a bag and read its index.

        With ``recover=True`` a bag without a usable index (unindexed ``.bag.active``, index
        cut off or damaged) is scanned instead of refused; ``recovery`` then reports what was
        found (it is None for a bag read through its index).
        """
        super().__init__(path)
        self.recovery: Recovery | None = None
        self.start_ns = self.end_ns = 0
        self._typestore: Typestore | None = None
        try:
            self._read_index(recover)
        except BaseException:
            self.close()
            raise

    def _read_index(self, recover: bool) -> None:
        head = self._read_at(0, min(4096, self._size))
        if not head.startswith(MAGIC):
            if head.startswith(b"#ROSBAG V"):
                version = head[9:].split(b"\n", 1)[0].decode("latin-1")
                raise self._fail(
                    f"ROS bag format {version} is not supported; pass a V2.0 bag (convert old bags with `rosbag fix`)"
                )
            raise self._fail("not a ROS1 bag (no '#ROSBAG V2.0' magic); pass a .bag file")
        try:
            (hlen,) = U32.unpack_from(head, len(MAGIC))
            start = len(MAGIC) + 4
            if start + hlen > len(head):
                raise ValueError("bag header runs past the file")
            fields = parse_header(head[start : start + hlen])
            if record_op(fields) != OP_BAG_HEADER:
                raise ValueError("first record is not a bag header")
            index_pos = U64.unpack(fields["index_pos"])[0]
            conn_count = U32.unpack(fields["conn_count"])[0]
            chunk_count = U32.unpack(fields["chunk_count"])[0]
        except (ValueError, KeyError, struct.error) as err:
            raise self._fail(f"bag header is damaged ({err}); pass an intact .bag file") from None
        if fields.get("encryptor"):
            raise self._fail("bag is encrypted; decrypt it with `rosbag decrypt` first")
        try:
            self._load_index(index_pos, conn_count, chunk_count)
        except IndexUnusable as unusable:
            if not recover:
                raise self._fail(unusable.message) from None
            # The first record follows the bag header's data (padding up to 4096 bytes).
            pad_at = start + hlen
            pad = U32.unpack_from(head, pad_at)[0] if pad_at + 4 <= len(head) else 0
            self.recovery = recover_index(self, unusable.reason, pad_at + 4 + pad)
        self.start_ns = min((c.start_ns for c in self.chunks), default=0)
        self.end_ns = max((c.end_ns for c in self.chunks), default=0)
        if self.chunks:  # fail early on an unknown codec rather than mid-conversion
            self._chunk_data_span(self.chunks[0])

    def _load_index(self, index_pos: int, conn_count: int, chunk_count: int) -> None:
        """Read the connection and chunk-info records at ``index_pos``, or raise IndexUnusable."""
        if index_pos == 0:
            raise IndexUnusable(
                "unindexed (index_pos=0)",
                "bag is not indexed (e.g. a .bag.active left by a crash); run `rosbag reindex`"
                " on it (or `rosbag fix`) and pass the result",
            )
        if index_pos > self._size:
            raise IndexUnusable(
                f"index_pos={index_pos} lies past the end of the file",
                f"file is truncated (index at offset {index_pos}, file has {self._size} bytes); copy the bag again",
            )
        if self._size - index_pos > _MAX_INDEX_BYTES:
            raise IndexUnusable(
                f"index_pos={index_pos} leaves {self._size - index_pos} bytes of index, more than any real bag has",
                f"bag index at offset {index_pos} is implausibly large (index_pos damaged?); run `rosbag reindex`",
            )
        tail = self._read_at(index_pos, self._size - index_pos)
        connections, infos = parse_index_section(tail, index_pos, conn_count, chunk_count)
        # Each chunk's IndexData records end where the next chunk (or the index) begins.
        positions = sorted(info.pos for info in infos)
        ends = [*positions[1:], index_pos] if positions else []  # a bag without chunks has no blocks
        self._use_index(connections, infos, dict(zip(positions, ends, strict=True)))

    # -- streaming ---------------------------------------------------------------------------

    def _load_chunk(
        self, chunk: ChunkInfo, wanted: dict[int, Connection], start_ns: int, stop_ns: int, chosen: _Chosen
    ) -> list[Message]:
        """The wanted messages of one chunk within [start_ns, stop_ns], sorted by time; of the
        connections in ``chosen`` only those at the chosen times."""
        try:
            span = self._chunk_data_span(chunk)
            data_pos, data_len, compression, size = span
            if chosen and chunk.pos not in self._no_index and compression == "none" and data_len == size:
                out = self._load_selected(chunk, data_pos, data_len, wanted, start_ns, stop_ns, chosen)
                out.sort(key=_message_time)
                return out
            out = walk_chunk(self._chunk_buffer(chunk, span), wanted, start_ns, stop_ns)
        except (ValueError, KeyError, struct.error) as err:
            raise self._fail(f"chunk at offset {chunk.pos} is damaged ({err})") from None
        if chosen:
            out = _keep_chosen(out, chosen)
        out.sort(key=_message_time)  # stable: equal times keep file order
        return out

    def _load_selected(
        self,
        chunk: ChunkInfo,
        data_pos: int,
        data_len: int,
        wanted: dict[int, Connection],
        start_ns: int,
        stop_ns: int,
        chosen: _Chosen,
    ) -> list[Message]:
        """An uncompressed chunk read in pieces: only the records of the wanted messages (the
        index gives every record's offset; a record ends where the next one starts), holes
        shorter than ``_SKIP_AT_LEAST`` read through."""
        entries = parse_index_entries(self._index_block(chunk), len(chunk.counts))
        starts = np.sort(np.concatenate([e["offset"] for _, e in entries]).astype(np.int64))
        if len(starts) and int(starts[-1]) >= data_len:
            raise ValueError(f"index gives a message at offset {int(starts[-1])} of a {data_len}-byte chunk")
        needed = [_needed_offsets(cid, e, start_ns, stop_ns, chosen) for cid, e in entries if cid in wanted]
        offsets = np.unique(np.concatenate(needed)) if needed else np.zeros(0, np.int64)
        if not len(offsets):
            return []
        following = np.searchsorted(starts, offsets, side="right")
        ends = np.where(following < len(starts), starts[np.minimum(following, len(starts) - 1)], data_len)
        out: list[Message] = []
        for lo, hi in _coalesce(offsets.tolist(), ends.tolist()):
            out += walk_chunk(self._read_at(data_pos + lo, hi - lo), wanted, start_ns, stop_ns)
        return _keep_chosen(out, chosen)

    def messages(
        self,
        topics: Iterable[str],
        start_ns: int = 0,
        stop_ns: int | None = None,
        only: Mapping[str, Times] | None = None,
    ) -> Iterator[Message]:
        """Messages of ``topics`` with start_ns <= time <= stop_ns, in record-time order.

        Reads chunks one at a time in order of their start time, skipping (never reading)
        chunks without a wanted connection or outside the time range. A chunk is loaded once
        the next message to yield is not earlier than its start, so chunks that overlap in
        time are merged correctly while memory stays bounded by the overlapping chunks.
        Ties in time come out in file order (chunk position, then position in the chunk).

        ``only``: for these topics, just the messages at the given record times; from an
        uncompressed chunk only their bytes are read (a compressed chunk is read whole, once).
        """
        if isinstance(topics, str):
            topics = [topics]
        ids = frozenset().union(*(self._conn_ids(t) for t in topics))
        wanted = {cid: self._conn_by_id[cid] for cid in ids}
        stop = (1 << 64) if stop_ns is None else stop_ns
        chosen = _chosen_times(wanted, only or {})
        todo = [c for c in self._chunks_with(ids) if c.end_ns >= start_ns and c.start_ns <= stop]
        todo = [c for c in todo if _may_hold(c, ids, chosen)]
        return self._merge(todo, wanted, start_ns, stop, chosen)

    def _merge(
        self, todo: list[ChunkInfo], wanted: dict[int, Connection], start_ns: int, stop_ns: int, chosen: _Chosen
    ) -> Iterator[Message]:
        # Heap of cursors into loaded chunks: (time of next message, chunk pos, index, messages).
        heap: list[tuple[int, int, int, list[Message]]] = []
        held: dict[int, int] = {}  # chunk pos -> bytes of its messages, until all are yielded
        nxt = 0
        while heap or nxt < len(todo):
            # Load every chunk whose messages could precede the head of the heap.
            while nxt < len(todo) and (not heap or (todo[nxt].start_ns, todo[nxt].pos) < heap[0][:2]):
                chunk = todo[nxt]
                nxt += 1
                msgs = self._load_chunk(chunk, wanted, start_ns, stop_ns, chosen)
                if msgs:
                    held[chunk.pos] = sum(len(m.data) for m in msgs)
                    if sum(held.values()) > _MAX_HELD:
                        raise self._fail(
                            f"chunks overlapping in time (up to the one at offset {chunk.pos}) hold more than"
                            f" {_MAX_HELD >> 20} MiB of messages at once; the bag is damaged, run `rosbag reindex`"
                        )
                    heapq.heappush(heap, (msgs[0].time_ns, chunk.pos, 0, msgs))
            if not heap:
                continue
            _, pos, i, msgs = heapq.heappop(heap)
            # Yield this chunk's messages up to the earliest competitor (another loaded
            # chunk's next message or the next chunk's start); a competitor in an earlier
            # chunk wins ties, a later one loses them.
            limits = [(heap[0][0], heap[0][1])] if heap else []
            if nxt < len(todo):
                limits.append((todo[nxt].start_ns, todo[nxt].pos))
            if limits:
                limit_t, limit_pos = min(limits)
                last_t = limit_t if pos < limit_pos else limit_t - 1
                j = bisect_right(msgs, last_t, lo=i, key=_message_time)
            else:
                j = len(msgs)
            for k in range(i, j):
                yield msgs[k]
            if j < len(msgs):
                heapq.heappush(heap, (msgs[j].time_ns, pos, j, msgs))
            else:
                del held[pos]

    # -- deserialization ---------------------------------------------------------------------

    def typestore(self) -> Typestore:
        """A typestore built from the definitions stored in this bag (cached)."""
        if self._typestore is None:
            from spill2lerobot.bag.msgdef import typestore_for

            self._typestore = typestore_for({c.msgtype: c.msgdef for c in self.connections})
        return self._typestore

    def deserialize(self, msg: Message) -> object:
        return self.deserialize_raw(msg.data, msg.connection.msgtype)

    def deserialize_raw(self, data: bytes | memoryview, msgtype: str) -> object:
        return self.typestore().deserialize_ros1(data, msgtype)

    def image_of(self, msgtype: str) -> ImageCutter:
        """What the camera worker needs of one message of an image topic (a slice of it)."""
        return image_of(msgtype)


@dataclass(frozen=True)
class _Times:
    """One connection's chosen record times: sorted (range queries) and as a set (membership)."""

    sorted: Times
    members: frozenset[int]


_Chosen = dict[int, _Times]  # connection id -> its chosen times


def _chosen_times(wanted: dict[int, Connection], only: Mapping[str, Times]) -> _Chosen:
    out: _Chosen = {}
    for cid, conn in wanted.items():
        if conn.topic in only:
            times = np.sort(np.asarray(only[conn.topic], dtype=np.int64))
            out[cid] = _Times(times, frozenset(times.tolist()))
    return out


def _may_hold(chunk: ChunkInfo, ids: frozenset[int], chosen: _Chosen) -> bool:
    """Whether a chunk can hold a wanted message: a connection read whole, or a chosen time
    within the chunk's time range."""
    for cid in ids.intersection(chunk.counts):
        times = chosen.get(cid)
        if times is None:
            return True
        i = int(np.searchsorted(times.sorted, chunk.start_ns, side="left"))
        if i < len(times.sorted) and times.sorted[i] <= chunk.end_ns:
            return True
    return False


def _needed_offsets(
    cid: int, entries: npt.NDArray[np.void], start_ns: int, stop_ns: int, chosen: _Chosen
) -> npt.NDArray[np.int64]:
    """Chunk offsets of one connection's records to read: in the time range, and chosen."""
    times = entries["sec"].astype(np.int64) * 1_000_000_000 + entries["nsec"]
    keep = (times >= start_ns) & (times <= stop_ns)
    if cid in chosen:
        keep &= np.isin(times, chosen[cid].sorted)
    return np.asarray(entries["offset"][keep], dtype=np.int64)


def _coalesce(starts: list[int], ends: list[int]) -> list[tuple[int, int]]:
    """Byte ranges covering the records [starts[i], ends[i]) (sorted), holes shorter than
    ``_SKIP_AT_LEAST`` included: fewer, larger reads."""
    spans: list[tuple[int, int]] = []
    for lo, hi in zip(starts, ends, strict=True):
        if spans and lo - spans[-1][1] < _SKIP_AT_LEAST:
            spans[-1] = (spans[-1][0], max(spans[-1][1], hi))
        else:
            spans.append((lo, hi))
    return spans


def _keep_chosen(msgs: list[Message], chosen: _Chosen) -> list[Message]:
    """The messages not filtered by ``chosen``: other connections', and chosen ones at a chosen time."""
    out = []
    for msg in msgs:
        times = chosen.get(cast(Connection, msg.connection).id)  # ROS1 messages carry a Connection
        if times is None or msg.time_ns in times.members:
            out.append(msg)
    return out
