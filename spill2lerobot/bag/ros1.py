"""A streaming, index-aware reader for ROS1 bags (format 2.0) with flat memory.

rosbags' reader loads the index of every message up front (~180 bytes each, about 1 GB for an
hour of a busy robot) and its AnyReader refuses Kuavo bags. This reader keeps only the
connection and chunk-info records in memory (a few hundred bytes per chunk) and reads
everything else on demand:

* counts and topic lists come from the chunk infos, message times from the IndexData records
  that follow each chunk, so such queries never touch message data;
* ``messages()`` reads and decompresses one chunk at a time, skips the chunks that cannot hold
  a wanted message, and merges chunks that overlap in time so that messages come out in
  record-time order (ties: file order);
* every byte read goes through one helper that counts it (``bytes_read``), so a test can prove
  that resuming near the end of a bag reads only the end.

Layout reminder: ``#ROSBAG V2.0\\n``, the bag header record (padded to 4096 bytes), then for
each chunk a Chunk record (holding Connection and MessageData records) followed by one
IndexData record per connection in that chunk; at ``index_pos`` all Connection records, then one
ChunkInfo record per chunk. A record is ``u32 header_len, header, u32 data_len, data``; a header
is a sequence of ``u32 len, name=value`` fields.
"""

from __future__ import annotations

import bz2
import contextlib
import heapq
import os
import struct
from bisect import bisect_right
from dataclasses import dataclass
from operator import itemgetter
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

import lz4.frame
import numpy as np

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator
    from types import TracebackType
    from typing import Self

    from rosbags.typesys.store import Typestore

MAGIC = b"#ROSBAG V2.0\n"

OP_MSG_DATA = 0x02
OP_BAG_HEADER = 0x03
OP_INDEX_DATA = 0x04
OP_CHUNK = 0x05
OP_CHUNK_INFO = 0x06
OP_CONNECTION = 0x07

_U32 = struct.Struct("<I")
_U64 = struct.Struct("<Q")
_TIME = struct.Struct("<II")
_NS = 1_000_000_000

# IndexData payload: count * (sec u32, nsec u32, offset-in-chunk u32).
_INDEX_ENTRY = np.dtype([("sec", "<u4"), ("nsec", "<u4"), ("offset", "<u4")])
# Length of an IndexData record as rosbag writes it: u32 + 47-byte header (op, ver, conn,
# count) + u32, then 12 bytes per entry. Only used to guess how much to read; always verified.
_INDEX_RECORD_FIXED = 4 + 47 + 4
# Enough to hold a chunk record's header (about 41 bytes) in one read.
_CHUNK_HEAD_GUESS = 64

_DECOMPRESSORS: dict[str, Callable[[bytes], bytes]] = {
    "none": lambda data: data,
    "bz2": bz2.decompress,
    "lz4": lz4.frame.decompress,  # roslz4 writes the LZ4 *frame* format
}


class BagError(Exception):
    """A bag cannot be read; the message is one line naming the file and what to do."""


@dataclass(frozen=True)
class Connection:
    id: int
    topic: str
    msgtype: str  # rosbags style: 'sensor_msgs/msg/CompressedImage'
    md5sum: str
    msgdef: str
    callerid: str | None
    latching: bool


@dataclass(frozen=True)
class ChunkInfo:
    pos: int  # file offset of the Chunk record
    start_ns: int  # earliest record time in the chunk
    end_ns: int  # latest record time in the chunk (inclusive)
    counts: dict[int, int]  # connection id -> number of messages in the chunk


class TopicInfo(NamedTuple):
    msgtype: str
    count: int
    connection_ids: tuple[int, ...]


class Message(NamedTuple):
    topic: str
    time_ns: int  # record (receive) time, not header.stamp
    data: bytes  # raw serialized ROS1 message (a copy, so holding it pins no chunk)
    connection: Connection


_message_time = itemgetter(1)
# Value formats of the message header fields we extract: conn u32, time (sec u32, nsec u32).
_MSG_VALUE_FORMATS = {b"conn": "I", b"time": "II"}


def ros1_to_rosbags_type(name: str) -> str:
    """'pkg/Type' -> 'pkg/msg/Type', the names rosbags' typestores use."""
    parts = name.split("/")
    if len(parts) == 2:
        return f"{parts[0]}/msg/{parts[1]}"
    return name


def parse_header(data: bytes | memoryview) -> dict[str, bytes]:
    """Split a record header into its ``name=value`` fields (values stay raw bytes)."""
    fields: dict[str, bytes] = {}
    pos, end = 0, len(data)
    while pos < end:
        if pos + 4 > end:
            raise ValueError("header field length runs past the header")
        (size,) = _U32.unpack_from(data, pos)
        pos += 4
        if pos + size > end:
            raise ValueError("header field runs past the header")
        field = bytes(data[pos : pos + size])
        name, sep, value = field.partition(b"=")
        if not sep:
            raise ValueError("header field without '='")
        fields[name.decode("latin-1")] = value
        pos += size
    return fields


def _op(fields: dict[str, bytes]) -> int:
    op = fields.get("op")
    if op is None or len(op) != 1:
        raise ValueError("record header without a one-byte 'op' field")
    return op[0]


def _time_ns(value: bytes) -> int:
    sec, nsec = _TIME.unpack(value)
    return sec * _NS + nsec


class _MessageLayout:
    """Decodes MessageData records whose header has one known field order, in one unpack.

    Writers emit the header fields of all message records in the same order (rosbag: conn,
    op, time; rosbags: op, conn, time). Learned from the first message record of a chunk,
    one ``struct`` call then yields the header length, field names, op, conn, time and
    data length; the names and the op are compared as bytes so a record of any other shape
    falls back to the generic parser.
    """

    def __init__(self, header: bytes) -> None:
        fmt = ["<4s"]  # header_len, kept as raw bytes so it is part of the check
        check_idx = [0]
        expected = [_U32.pack(len(header))]
        value_idx: dict[bytes, list[int]] = {}
        nvals = 1
        pos = 0
        while pos < len(header):
            (size,) = _U32.unpack_from(header, pos)
            field = header[pos : pos + 4 + size]
            name = field[4:].partition(b"=")[0]
            prefix_len = 4 + len(name) + 1  # length, name, '='
            check_idx.append(nvals)
            if name == b"op":  # length, name and value: all must match
                fmt.append(f"{len(field)}s")
                expected.append(field)
                nvals += 1
            elif name in _MSG_VALUE_FORMATS:
                values = _MSG_VALUE_FORMATS[name]
                if len(field) - prefix_len != struct.calcsize("<" + values):
                    raise ValueError(f"message header field {name!r} has an odd size")
                fmt.append(f"{prefix_len}s{values}")
                expected.append(field[:prefix_len])
                value_idx[name] = list(range(nvals + 1, nvals + 1 + len(values)))
                nvals += 1 + len(values)
            else:
                raise ValueError(f"unexpected message header field {name!r}")
            pos += 4 + size
        if len(value_idx) != 2 or len(check_idx) != 4:
            raise ValueError("message header without exactly op, conn and time")
        fmt.append("I")  # data_len
        self.struct = struct.Struct("".join(fmt))
        self.size = self.struct.size  # bytes from the record start to its data
        self.check = itemgetter(*check_idx)
        self.expected = tuple(expected)
        self.values = itemgetter(*value_idx[b"conn"], *value_idx[b"time"], nvals)


class Ros1Bag:
    """A ROS1 bag opened for index queries and time-ordered streaming of chosen topics."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.bytes_read = 0
        self.connections: list[Connection] = []
        self.chunks: list[ChunkInfo] = []
        self._typestore: Typestore | None = None
        try:
            self._file = open(self.path, "rb", buffering=0)  # noqa: SIM115 - closed by close()
        except OSError as err:
            raise BagError(f"{self.path}: cannot open ({err.strerror}); pass a readable .bag file") from None
        try:
            self._size = os.fstat(self._file.fileno()).st_size
            self._read_index()
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        file = getattr(self, "_file", None)
        if file is not None:
            file.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- low level -------------------------------------------------------------------------

    def _fail(self, what: str) -> BagError:
        return BagError(f"{self.path}: {what}")

    def _read_at(self, pos: int, size: int) -> bytes:
        """Read exactly ``size`` bytes at ``pos``; every read of this class passes here."""
        if self._file is None or self._file.closed:
            raise self._fail("bag is closed; open it again with Ros1Bag(path)")
        self._file.seek(pos)
        parts = []
        left = size
        while left > 0:
            part = self._file.read(left)
            if not part:
                break
            parts.append(part)
            left -= len(part)
        data = parts[0] if len(parts) == 1 else b"".join(parts)
        self.bytes_read += len(data)
        if len(data) != size:
            raise self._fail(
                f"file is truncated (wanted {size} bytes at offset {pos}, file has {self._size});"
                " copy the bag again or run `rosbag reindex` on the original"
            )
        return data

    def _read_index(self) -> None:
        head = self._read_at(0, min(4096, self._size))
        if not head.startswith(MAGIC):
            if head.startswith(b"#ROSBAG V"):
                version = head[9:].split(b"\n", 1)[0].decode("latin-1")
                raise self._fail(
                    f"ROS bag format {version} is not supported; pass a V2.0 bag (convert old bags with `rosbag fix`)"
                )
            raise self._fail("not a ROS1 bag (no '#ROSBAG V2.0' magic); pass a .bag file")
        try:
            (hlen,) = _U32.unpack_from(head, len(MAGIC))
            start = len(MAGIC) + 4
            if start + hlen > len(head):
                raise ValueError("bag header runs past the file")
            fields = parse_header(head[start : start + hlen])
            if _op(fields) != OP_BAG_HEADER:
                raise ValueError("first record is not a bag header")
            index_pos = _U64.unpack(fields["index_pos"])[0]
            conn_count = _U32.unpack(fields["conn_count"])[0]
            chunk_count = _U32.unpack(fields["chunk_count"])[0]
        except (ValueError, KeyError, struct.error) as err:
            raise self._fail(f"bag header is damaged ({err}); pass an intact .bag file") from None
        if fields.get("encryptor"):
            raise self._fail("bag is encrypted; decrypt it with `rosbag decrypt` first")
        if index_pos == 0:
            raise self._fail(
                "bag is not indexed (e.g. a .bag.active left by a crash); run `rosbag reindex`"
                " on it (or `rosbag fix`) and pass the result"
            )
        if index_pos > self._size:
            raise self._fail(
                f"file is truncated (index at offset {index_pos}, file has {self._size} bytes); copy the bag again"
            )
        tail = self._read_at(index_pos, self._size - index_pos)
        try:
            pos = 0
            for _ in range(conn_count):
                connection, pos = self._parse_connection(tail, pos)
                self.connections.append(connection)
            infos = []
            for _ in range(chunk_count):
                info, pos = self._parse_chunk_info(tail, pos)
                infos.append(info)
        except (ValueError, KeyError, IndexError, struct.error) as err:
            raise self._fail(f"bag index is damaged or truncated ({err}); run `rosbag reindex` on it") from None
        if any(info.pos >= index_pos for info in infos):
            raise self._fail("bag index points past the chunks (file truncated?); run `rosbag reindex`")
        self._conn_by_id = {c.id: c for c in self.connections}
        # Each chunk's IndexData records end where the next chunk (or the index) begins.
        positions = sorted(info.pos for info in infos)
        self._block_end = dict(zip(positions, [*positions[1:], index_pos], strict=True))
        self.chunks = sorted((i for i in infos if i.counts), key=lambda i: (i.start_ns, i.pos))
        self.start_ns = min((c.start_ns for c in self.chunks), default=0)
        self.end_ns = max((c.end_ns for c in self.chunks), default=0)
        if self.chunks:  # fail early on an unknown codec rather than mid-conversion
            self._chunk_data_span(self.chunks[0])

    @staticmethod
    def _record_at(buf: bytes, pos: int) -> tuple[dict[str, bytes], int, int]:
        """Parse the record at ``pos`` of ``buf``: (header fields, data start, data end)."""
        (hlen,) = _U32.unpack_from(buf, pos)
        hstart = pos + 4
        fields = parse_header(buf[hstart : hstart + hlen])
        (dlen,) = _U32.unpack_from(buf, hstart + hlen)
        dstart = hstart + hlen + 4
        if dstart + dlen > len(buf):
            raise ValueError("record data runs past the end")
        return fields, dstart, dstart + dlen

    def _parse_connection(self, buf: bytes, pos: int) -> tuple[Connection, int]:
        fields, dstart, dend = self._record_at(buf, pos)
        if _op(fields) != OP_CONNECTION:
            raise ValueError(f"expected a connection record, found op {_op(fields)}")
        conn_id = _U32.unpack(fields["conn"])[0]
        info = parse_header(buf[dstart:dend])
        topic = fields["topic"].decode()
        latching = info.get("latching", b"0").strip() not in (b"", b"0")
        callerid = info["callerid"].decode() if "callerid" in info else None
        return Connection(
            id=conn_id,
            topic=topic,
            msgtype=ros1_to_rosbags_type(info["type"].decode()),
            md5sum=info["md5sum"].decode(),
            msgdef=info.get("message_definition", b"").decode(),
            callerid=callerid,
            latching=latching,
        ), dend

    def _parse_chunk_info(self, buf: bytes, pos: int) -> tuple[ChunkInfo, int]:
        fields, dstart, dend = self._record_at(buf, pos)
        if _op(fields) != OP_CHUNK_INFO:
            raise ValueError(f"expected a chunk info record, found op {_op(fields)}")
        if _U32.unpack(fields["ver"])[0] != 1:
            raise ValueError("chunk info version is not 1")
        count = _U32.unpack(fields["count"])[0]
        pairs = struct.unpack_from(f"<{2 * count}I", buf, dstart)
        return ChunkInfo(
            pos=_U64.unpack(fields["chunk_pos"])[0],
            start_ns=_time_ns(fields["start_time"]),
            end_ns=_time_ns(fields["end_time"]),
            counts=dict(zip(pairs[::2], pairs[1::2], strict=True)),
        ), dend

    def _chunk_data_span(self, chunk: ChunkInfo) -> tuple[int, int, str, int]:
        """Read a Chunk record's header: (data pos, data len, compression, uncompressed size)."""
        head = self._read_at(chunk.pos, min(_CHUNK_HEAD_GUESS, self._size - chunk.pos))
        try:
            (hlen,) = _U32.unpack_from(head, 0)
            if 4 + hlen + 4 > len(head):
                head = self._read_at(chunk.pos, 4 + hlen + 4)
            fields = parse_header(head[4 : 4 + hlen])
            if _op(fields) != OP_CHUNK:
                raise ValueError(f"expected a chunk record, found op {_op(fields)}")
            compression = fields["compression"].decode()
            size = _U32.unpack(fields["size"])[0]
            (dlen,) = _U32.unpack_from(head, 4 + hlen)
        except (ValueError, KeyError, struct.error) as err:
            raise self._fail(f"chunk at offset {chunk.pos} is damaged ({err}); run `rosbag reindex`") from None
        if compression not in _DECOMPRESSORS:
            raise self._fail(
                f"unsupported chunk compression {compression!r}; decompress it with"
                " `rosbag decompress` (none, bz2 and lz4 are supported)"
            )
        return chunk.pos + 4 + hlen + 4, dlen, compression, size

    # -- index-only queries ------------------------------------------------------------------

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

    def _index_block(self, chunk: ChunkInfo) -> bytes:
        """The IndexData records that follow a chunk (read without touching its data).

        rosbag writes them right after the chunk and the next chunk right after them, so the
        block is usually the expected number of bytes before the next chunk: one read. If that
        guess does not parse exactly, find the block by reading the chunk header instead.
        """
        end = self._block_end[chunk.pos]
        size = sum(_INDEX_RECORD_FIXED + 12 * n for n in chunk.counts.values())
        if end - size > chunk.pos:
            block = self._read_at(end - size, size)
            if self._index_block_ok(block, len(chunk.counts)):
                return block
        data_pos, data_len, _, _ = self._chunk_data_span(chunk)
        start = data_pos + data_len
        return self._read_at(start, end - start)

    @staticmethod
    def _index_block_ok(block: bytes, nrecords: int) -> bool:
        pos = 0
        try:
            for _ in range(nrecords):
                fields, _, pos = Ros1Bag._record_at(block, pos)
                if _op(fields) != OP_INDEX_DATA:
                    return False
        except (ValueError, struct.error):
            return False
        return pos == len(block)

    def _chunk_times(self, chunk: ChunkInfo, conn_ids: frozenset[int]) -> list[np.ndarray]:
        """Record times (ns, file order) of the given connections' messages in one chunk."""
        block = self._index_block(chunk)
        out = []
        pos = 0
        try:
            for _ in range(len(chunk.counts)):
                fields, dstart, pos = self._record_at(block, pos)
                if _op(fields) != OP_INDEX_DATA or _U32.unpack(fields["ver"])[0] != 1:
                    raise ValueError("expected an index data record (version 1)")
                if _U32.unpack(fields["conn"])[0] not in conn_ids:
                    continue
                count = _U32.unpack(fields["count"])[0]
                entries = np.frombuffer(block, _INDEX_ENTRY, count, dstart)
                out.append(entries["sec"].astype(np.int64) * _NS + entries["nsec"])
        except (ValueError, KeyError, struct.error) as err:
            raise self._fail(
                f"index data after chunk at offset {chunk.pos} is damaged ({err}); run `rosbag reindex`"
            ) from None
        return out

    def topic_times(self, topic: str) -> np.ndarray:
        """Sorted record times (int64 ns) of a topic, from the index records only."""
        ids = self._conn_ids(topic)
        parts: list[np.ndarray] = []
        for chunk in sorted(self._chunks_with(ids), key=lambda c: c.pos):  # file order: fewer seeks
            parts.extend(self._chunk_times(chunk, ids))
        if not parts:
            return np.zeros(0, np.int64)
        return np.sort(np.concatenate(parts), kind="stable")

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

    # -- streaming ---------------------------------------------------------------------------

    def _load_chunk(
        self, chunk: ChunkInfo, wanted: dict[int, Connection], start_ns: int, stop_ns: int
    ) -> list[Message]:
        """The wanted messages of one chunk within [start_ns, stop_ns], sorted by time."""
        data_pos, data_len, compression, size = self._chunk_data_span(chunk)
        raw = self._read_at(data_pos, data_len)
        try:
            buf = _DECOMPRESSORS[compression](raw)
        except (OSError, ValueError, RuntimeError) as err:
            raise self._fail(f"chunk at offset {chunk.pos} does not decompress ({err}); the bag is damaged") from None
        del raw
        if len(buf) != size:
            raise self._fail(
                f"chunk at offset {chunk.pos} holds {len(buf)} bytes, header says {size}; the bag is damaged"
            )
        try:
            out = self._walk_chunk(buf, wanted, start_ns, stop_ns)
        except (ValueError, KeyError, struct.error) as err:
            raise self._fail(f"chunk at offset {chunk.pos} is damaged ({err})") from None
        out.sort(key=_message_time)  # stable: equal times keep file order
        return out

    def _walk_chunk(self, buf: bytes, wanted: dict[int, Connection], start_ns: int, stop_ns: int) -> list[Message]:
        """Walk a decompressed chunk's records; hot loop, hence the local names."""
        out: list[Message] = []
        append = out.append
        new_message = tuple.__new__  # skips NamedTuple.__new__'s Python-level call
        end = len(buf)
        unpack_u32 = _U32.unpack_from
        # Fast-path parts, set once the first message record shows the header layout.
        fast_size = end + 1  # never fits until then
        unpack_msg = check = values = None
        expected: tuple[bytes, ...] = ()
        pos = 0
        while pos < end:
            if pos + fast_size <= end:
                vals = unpack_msg(buf, pos)
                if check(vals) == expected:
                    conn_id, sec, nsec, dlen = values(vals)
                    dstart = pos + fast_size
                    pos = dstart + dlen
                    if pos > end:
                        raise ValueError("message runs past the chunk end")
                    conn = wanted.get(conn_id)
                    if conn is not None:
                        t = sec * _NS + nsec
                        if start_ns <= t <= stop_ns:
                            append(new_message(Message, (conn.topic, t, buf[dstart:pos], conn)))
                    continue
            # Generic path: connection records, and the first message record (learn layout).
            (hlen,) = unpack_u32(buf, pos)
            header = buf[pos + 4 : pos + 4 + hlen]
            fields = parse_header(header)
            (dlen,) = unpack_u32(buf, pos + 4 + hlen)
            dstart = pos + 4 + hlen + 4
            pos = dstart + dlen
            if pos > end:
                raise ValueError("record runs past the chunk end")
            if _op(fields) != OP_MSG_DATA:
                continue  # connection records repeat what the index holds
            if unpack_msg is None:
                with contextlib.suppress(ValueError):  # odd layout: stay on this path
                    layout = _MessageLayout(header)
                    fast_size, unpack_msg = layout.size, layout.struct.unpack_from
                    check, expected, values = layout.check, layout.expected, layout.values
            conn = wanted.get(_U32.unpack(fields["conn"])[0])
            if conn is not None:
                t = _time_ns(fields["time"])
                if start_ns <= t <= stop_ns:
                    append(Message(conn.topic, t, buf[dstart:pos], conn))
        return out

    def messages(self, topics: Iterable[str], start_ns: int = 0, stop_ns: int | None = None) -> Iterator[Message]:
        """Messages of ``topics`` with start_ns <= time <= stop_ns, in record-time order.

        Reads chunks one at a time in order of their start time, skipping (never reading)
        chunks without a wanted connection or outside the time range. A chunk is loaded once
        the next message to yield is not earlier than its start, so chunks that overlap in
        time are merged correctly while memory stays bounded by the overlapping chunks.
        Ties in time come out in file order (chunk position, then position in the chunk).
        """
        if isinstance(topics, str):
            topics = [topics]
        ids = frozenset().union(*(self._conn_ids(t) for t in topics))
        wanted = {cid: self._conn_by_id[cid] for cid in ids}
        stop = (1 << 64) if stop_ns is None else stop_ns
        todo = [c for c in self._chunks_with(ids) if c.end_ns >= start_ns and c.start_ns <= stop]
        return self._merge(todo, wanted, start_ns, stop)

    def _merge(
        self, todo: list[ChunkInfo], wanted: dict[int, Connection], start_ns: int, stop_ns: int
    ) -> Iterator[Message]:
        # Heap of cursors into loaded chunks: (time of next message, chunk pos, index, messages).
        heap: list[tuple[int, int, int, list[Message]]] = []
        nxt = 0
        while heap or nxt < len(todo):
            # Load every chunk whose messages could precede the head of the heap.
            while nxt < len(todo) and (not heap or (todo[nxt].start_ns, todo[nxt].pos) < heap[0][:2]):
                chunk = todo[nxt]
                nxt += 1
                msgs = self._load_chunk(chunk, wanted, start_ns, stop_ns)
                if msgs:
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

    # -- deserialization ---------------------------------------------------------------------

    def typestore(self) -> Typestore:
        """A typestore built from the definitions stored in this bag (cached)."""
        if self._typestore is None:
            from spill2lerobot.bag.msgdef import typestore_for

            self._typestore = typestore_for({c.msgtype: c.msgdef for c in self.connections})
        return self._typestore

    def deserialize(self, msg: Message) -> object:
        return self.typestore().deserialize_ros1(msg.data, msg.connection.msgtype)
