"""ROS1 index queries: topics, counts and record times from the index, never from message data.

Counts and topic lists come from the chunk infos; message times from the IndexData records that
follow each chunk. ``topic_times`` reads the blocks of the chunks holding one topic;
``all_topic_times`` reads every block once for all topics (what ``inspect`` wants), decoding
records of rosbag's one header layout with one ``struct`` call each (``IndexLayout``). Both parse
blocks with ``parse_index_block``.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable
from operator import itemgetter
from pathlib import Path

import numpy as np
import numpy.typing as npt

from spill2lerobot.bag.base import Times, TopicInfo
from spill2lerobot.bag.ros1.file import Ros1File
from spill2lerobot.bag.ros1.records import (
    INDEX_ENTRY,
    NS,
    OP_INDEX_DATA,
    U32,
    ChunkInfo,
    Connection,
    parse_chunk_info,
    parse_connection,
    record_at,
    record_op,
)

# Length of an IndexData record as rosbag writes it: u32 + 47-byte header (op, ver, conn,
# count) + u32, then 12 bytes per entry. Only used to guess how much to read; always verified.
_INDEX_RECORD_FIXED = 4 + 47 + 4
_OP_FIELD = b"\x04\x00\x00\x00op=\x04"
_VER_FIELD = b"\x08\x00\x00\x00ver=\x01\x00\x00\x00"

__all__ = ["ChunkInfo", "IndexLayout", "IndexUnusable", "Ros1Index", "parse_index_block", "parse_index_section"]


class IndexUnusable(Exception):
    """The bag's index cannot be used: ``reason`` for a recovery report, ``message`` for BagError."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


def parse_index_section(
    tail: bytes, index_pos: int, conn_count: int, chunk_count: int
) -> tuple[list[Connection], list[ChunkInfo]]:
    """The Connection and ChunkInfo records of the index section (``tail``), or IndexUnusable."""
    connections = []
    infos = []
    try:
        pos = 0
        for _ in range(conn_count):
            connection, pos = parse_connection(tail, pos)
            connections.append(connection)
        for _ in range(chunk_count):
            info, pos = parse_chunk_info(tail, pos)
            infos.append(info)
    except (ValueError, KeyError, IndexError, struct.error) as err:
        raise IndexUnusable(
            f"index at byte {index_pos} is damaged or truncated ({err})",
            f"bag index is damaged or truncated ({err}); run `rosbag reindex` on it",
        ) from None
    if any(info.pos >= index_pos for info in infos):
        raise IndexUnusable(
            f"index at byte {index_pos} points past the chunks",
            "bag index points past the chunks (file truncated?); run `rosbag reindex`",
        )
    if len({info.pos for info in infos}) != len(infos):  # each would be read (and held) again
        raise IndexUnusable(
            f"index at byte {index_pos} lists a chunk more than once",
            "bag index lists a chunk more than once (damaged); run `rosbag reindex`",
        )
    return connections, infos


class IndexLayout:
    """IndexData records whose header has one field order, decoded by one ``struct`` call.

    rosbag writes every IndexData header the same way (op, ver, conn, count in one order,
    47 bytes): learned from the first record, a record is checked (field names, op, version)
    and its conn, count and data length read in one unpack; any other shape is parsed field
    by field.
    """

    def __init__(self, fmt: str, expected: tuple[bytes, ...], check: list[int], conn: int, count: int) -> None:
        self.struct = struct.Struct(fmt)
        self.expected = expected
        self.check = itemgetter(*check)
        self.values = itemgetter(conn, count, -1)  # the last value is the data length

    @classmethod
    def learn(cls, block: bytes) -> IndexLayout | None:
        """The layout of the block's first record (None if it is no IndexData record of version 1)."""
        try:
            (hlen,) = U32.unpack_from(block, 0)
            header = block[4 : 4 + hlen]
            fmt, expected, check = ["<4s"], [U32.pack(hlen)], [0]
            at: dict[bytes, int] = {}
            n, pos = 1, 0
            while pos < hlen:
                (flen,) = U32.unpack_from(header, pos)
                field_bytes = header[pos : pos + 4 + flen]
                name = field_bytes[4:].partition(b"=")[0]
                check.append(n)
                if name in (b"conn", b"count") and flen == len(name) + 5:
                    fmt.append(f"{len(name) + 5}sI")
                    expected.append(field_bytes[: len(name) + 5])
                    at[name] = n + 1
                    n += 2
                else:  # op and ver: name and value must match (op=4, ver=1)
                    fmt.append(f"{len(field_bytes)}s")
                    expected.append(field_bytes)
                    n += 1
                pos += 4 + flen
        except struct.error:
            return None
        if _OP_FIELD not in expected or _VER_FIELD not in expected:
            return None
        if set(at) != {b"conn", b"count"} or len(check) != 5:
            return None
        fmt.append("I")  # data length
        return cls("".join(fmt), tuple(expected), check, at[b"conn"], at[b"count"])


def parse_index_block(
    block: bytes,
    nrecords: int,
    conn_ids: frozenset[int] | None = None,
    layout: IndexLayout | None = None,
    exact: bool = False,
) -> list[tuple[int, Times]]:
    """(conn, record times) of the IndexData records of a block (ValueError if damaged).

    ``conn_ids``: only these connections (others are skipped unread); ``layout``: the fast path
    for records of that header layout; ``exact``: the ``nrecords`` records must fill the block.
    """
    entries = parse_index_entries(block, nrecords, conn_ids, layout, exact)
    return [(conn_id, e["sec"].astype(np.int64) * NS + e["nsec"]) for conn_id, e in entries]


def parse_index_entries(
    block: bytes,
    nrecords: int,
    conn_ids: frozenset[int] | None = None,
    layout: IndexLayout | None = None,
    exact: bool = False,
) -> list[tuple[int, npt.NDArray[np.void]]]:
    """(conn, ``INDEX_ENTRY`` array: sec, nsec, offset in the chunk) per IndexData record."""
    out: list[tuple[int, npt.NDArray[np.void]]] = []
    pos, end = 0, len(block)
    for _ in range(nrecords):
        vals = layout.struct.unpack_from(block, pos) if layout and pos + layout.struct.size <= end else None
        if layout is not None and vals is not None and layout.check(vals) == layout.expected:
            conn_id, count, dlen = layout.values(vals)
            dstart = pos + layout.struct.size
            if dstart + dlen > end:
                raise ValueError("record data runs past the end")
        else:
            fields, dstart, dend = record_at(block, pos)
            if record_op(fields) != OP_INDEX_DATA or U32.unpack(fields["ver"])[0] != 1:
                raise ValueError("expected an index data record (version 1)")
            conn_id, dlen = U32.unpack(fields["conn"])[0], dend - dstart
            count = U32.unpack(fields["count"])[0] if conn_ids is None or conn_id in conn_ids else 0
        pos = dstart + dlen
        if conn_ids is not None and conn_id not in conn_ids:
            continue
        if dlen != 12 * count:
            raise ValueError(f"{dlen} bytes for {count} entries")
        out.append((conn_id, np.frombuffer(block, INDEX_ENTRY, count, dstart)))
    if exact and pos != end:
        raise ValueError("the index records do not fill their block")
    return out


class Ros1Index(Ros1File):
    """A ROS1 bag's index (connections, chunk infos) and the queries answered from it."""

    def __init__(self, path: str | Path) -> None:
        super().__init__(path)
        self.connections: list[Connection] = []
        self.chunks: list[ChunkInfo] = []
        self._conn_by_id: dict[int, Connection] = {}
        # Chunk pos -> end of the IndexData records that follow the chunk.
        self._block_end: dict[int, int] = {}
        # Chunk positions whose IndexData records are missing or incomplete (recovered bags
        # only): their message times come from walking the chunk.
        self._no_index: set[int] = set()

    def _use_index(self, connections: list[Connection], infos: list[ChunkInfo], block_end: dict[int, int]) -> None:
        self.connections = connections
        self._conn_by_id = {c.id: c for c in connections}
        self._block_end = block_end
        self.chunks = sorted((i for i in infos if i.counts), key=lambda i: (i.start_ns, i.pos))

    def topics(self) -> dict[str, TopicInfo]:
        """Every topic with its type (of its first connection) and message count."""
        counts: dict[int, int] = {}
        for chunk in self.chunks:
            for conn_id, count in chunk.counts.items():
                counts[conn_id] = counts.get(conn_id, 0) + count
        out: dict[str, TopicInfo] = {}
        for conn in self.connections:
            prev = out.get(conn.topic)
            count = counts.get(conn.id, 0)
            if prev is None:
                out[conn.topic] = TopicInfo(conn.msgtype, count, (conn.id,))
            else:
                out[conn.topic] = TopicInfo(prev.msgtype, prev.count + count, (*prev.connection_ids, conn.id))
        return out

    def _conn_ids(self, topic: str) -> frozenset[int]:
        ids = frozenset(c.id for c in self.connections if c.topic == topic)
        if not ids:
            known = ", ".join(sorted({c.topic for c in self.connections}))
            raise self._fail(f"no topic {topic!r} in this bag; pick one of: {known}")
        return ids

    def _chunks_with(self, conn_ids: frozenset[int]) -> list[ChunkInfo]:
        return [c for c in self.chunks if not conn_ids.isdisjoint(c.counts)]

    def message_count(self, topic: str) -> int:
        ids = self._conn_ids(topic)
        return sum(n for c in self.chunks for cid, n in c.counts.items() if cid in ids)

    def compressions(self) -> list[str]:
        """Compression of the first, middle and last chunks (one chunk-header read each)."""
        if not self.chunks:
            return []
        by_pos = sorted(self.chunks, key=lambda c: c.pos)
        found: list[str] = []
        for i in sorted({0, len(by_pos) // 2, len(by_pos) - 1}):
            compression = self._chunk_data_span(by_pos[i])[2]
            if compression not in found:
                found.append(compression)
        return found

    # -- IndexData blocks --------------------------------------------------------------------

    def _guess_block(self, chunk: ChunkInfo) -> bytes | None:
        """The bytes where rosbag puts a chunk's IndexData records: right before the next chunk."""
        end = self._block_end[chunk.pos]
        size = sum(_INDEX_RECORD_FIXED + 12 * n for n in chunk.counts.values())
        return self._read_at(end - size, size) if end - size > chunk.pos else None

    def _index_block(self, chunk: ChunkInfo) -> bytes:
        """The IndexData records that follow a chunk (read without touching its data).

        rosbag writes them right after the chunk and the next chunk right after them, so the
        block is usually the expected number of bytes before the next chunk: one read. If that
        guess does not parse exactly, find the block by reading the chunk header instead.
        """
        block = self._guess_block(chunk)
        if block is not None and _index_block_ok(block, len(chunk.counts)):
            return block
        data_pos, data_len, _, _ = self._chunk_data_span(chunk)
        start = data_pos + data_len
        return self._read_at(start, self._block_end[chunk.pos] - start)

    def _chunk_times(self, chunk: ChunkInfo, conn_ids: frozenset[int]) -> list[Times]:
        """Record times (ns, file order) of the given connections' messages in one chunk."""
        if chunk.pos in self._no_index:  # recovered chunk without (complete) IndexData records
            _, times = self._survey_chunk(chunk)
            return [np.array(t, np.int64) for cid, t in times.items() if cid in conn_ids]
        block = self._index_block(chunk)
        try:
            records = parse_index_block(block, len(chunk.counts), conn_ids)
        except (ValueError, KeyError, struct.error) as err:
            raise self._fail(
                f"index data after chunk at offset {chunk.pos} is damaged ({err}); run `rosbag reindex`"
            ) from None
        return [times for _, times in records]

    # -- record times ------------------------------------------------------------------------

    def topic_times(self, topic: str) -> Times:
        """Sorted record times (int64 ns) of a topic, from the index records only."""
        ids = self._conn_ids(topic)
        parts: list[Times] = []
        for chunk in sorted(self._chunks_with(ids), key=lambda c: c.pos):  # file order: fewer seeks
            parts.extend(self._chunk_times(chunk, ids))
        if not parts:
            return np.zeros(0, np.int64)
        return np.sort(np.concatenate(parts), kind="stable")

    def all_topic_times(self) -> dict[str, Times]:
        """Sorted record times of every topic with messages, reading each IndexData block once.

        Same result as ``topic_times(topic)`` for every topic, but each block is read and parsed
        once instead of once per topic, mostly with one ``struct`` call per record.
        """
        return self.topics_times([conn.topic for conn in self.connections])

    def topics_times(self, topics: Iterable[str]) -> dict[str, Times]:
        """``topic_times`` of several topics (those with messages), each IndexData block read once."""
        wanted = set(topics)
        topic_of = {conn.id: conn.topic for conn in self.connections if conn.topic in wanted}
        parts: dict[str, list[Times]] = {}
        layout: IndexLayout | None = None
        chunks = [c for c in self.chunks if not set(topic_of).isdisjoint(c.counts)]
        for chunk in sorted(chunks, key=lambda c: c.pos):  # file order: fewer seeks
            records, layout = self._all_chunk_times(chunk, layout)
            for conn_id, times in records:
                topic = topic_of.get(conn_id)
                if topic is not None and len(times):
                    parts.setdefault(topic, []).append(times)
        return {topic: np.sort(np.concatenate(arrays), kind="stable") for topic, arrays in parts.items()}

    def _all_chunk_times(
        self, chunk: ChunkInfo, layout: IndexLayout | None
    ) -> tuple[list[tuple[int, Times]], IndexLayout | None]:
        """(conn, times) of every IndexData record of a chunk, and the layout learned so far."""
        if chunk.pos in self._no_index:  # recovered chunk without usable IndexData: walk it
            _, walked = self._survey_chunk(chunk)
            return [(cid, np.array(t, np.int64)) for cid, t in walked.items()], layout
        block = self._guess_block(chunk)
        if block is not None:
            layout = layout or IndexLayout.learn(block)
            try:
                return parse_index_block(block, len(chunk.counts), layout=layout, exact=True), layout
            except (ValueError, KeyError, struct.error):
                pass  # not where rosbag puts it: let the chunk header say where it is
        try:
            return parse_index_block(self._index_block(chunk), len(chunk.counts), exact=True), layout
        except (ValueError, KeyError, struct.error):
            raise self._fail(f"index data after chunk at offset {chunk.pos} is damaged; run `rosbag reindex`") from None

    def _extreme_time(self, topic: str, last: bool) -> int:
        """First or last record time of a topic, reading as few chunks' indexes as possible.

        Chunks may overlap in time, so visit them by their bound (end for last, start for
        first) and stop once no remaining chunk can beat the best time found.
        """
        ids = self._conn_ids(topic)
        if last:
            candidates = sorted(self._chunks_with(ids), key=lambda c: -c.end_ns)
        else:
            candidates = sorted(self._chunks_with(ids), key=lambda c: c.start_ns)
        best: int | None = None
        for chunk in candidates:
            bound = chunk.end_ns if last else chunk.start_ns
            if best is not None and (bound <= best if last else bound >= best):
                break
            for times in self._chunk_times(chunk, ids):
                if len(times):
                    found = int(times.max() if last else times.min())
                    if best is None or (found > best if last else found < best):
                        best = found
        if best is None:
            raise self._fail(f"topic {topic!r} has no messages; pick a topic that has some")
        return best

    def last_time(self, topic: str) -> int:
        return self._extreme_time(topic, last=True)

    def first_time(self, topic: str) -> int:
        return self._extreme_time(topic, last=False)


def _index_block_ok(block: bytes, nrecords: int) -> bool:
    """Whether ``nrecords`` IndexData records fill ``block`` exactly (headers only)."""
    pos = 0
    try:
        for _ in range(nrecords):
            fields, _, pos = record_at(block, pos)
            if record_op(fields) != OP_INDEX_DATA:
                return False
    except (ValueError, struct.error):
        return False
    return pos == len(block)
