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
  that resuming near the end of a bag reads only the end, and that checks every length read from
  the file against the bytes the file has before a buffer is sized by it;
* a chunk is decompressed only if its declared size is sane, and never past that size
  (``bounded``): a compression bomb is a damaged chunk, at the cost of a real one.

``Ros1Bag(path, recover=True)`` also reads bags whose index is missing or unusable: a
``.bag.active`` left by a crash (``index_pos`` = 0, no index at the end, maybe cut off in the
middle of a chunk) or a copy cut short. It scans the file once from the first record, reading
each Chunk record's header and the IndexData records after it and seeking over the chunk data,
and builds the same connection and chunk-info lists the index would have given. A chunk is
decompressed only when the IndexData records cannot be trusted to describe it (missing,
incomplete, or naming a connection whose Connection record has not been seen yet); the scan
stops at the first incomplete or unreadable record, and ``recovery`` says what it found.

Layout reminder: ``#ROSBAG V2.0\\n``, the bag header record (padded to 4096 bytes), then for
each chunk a Chunk record (holding Connection and MessageData records) followed by one
IndexData record per connection in that chunk; at ``index_pos`` all Connection records, then one
ChunkInfo record per chunk. A record is ``u32 header_len, header, u32 data_len, data``; a header
is a sequence of ``u32 len, name=value`` fields.
"""

from __future__ import annotations

import contextlib
import heapq
import os
import struct
from bisect import bisect_right
from dataclasses import dataclass
from operator import itemgetter
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

import numpy as np

from spill2lerobot.bag import bounded

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator
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
# Recovery scan: bytes read to see a record's header (chunk ~49, IndexData 55 with lengths).
_PEEK = 64
# A record header longer than this is taken for garbage (real ones are under 200 bytes).
_MAX_HEADER = 1 << 16
# Records that may appear between chunks (and in the index section at the end).
_TOP_LEVEL_OPS = frozenset({OP_CHUNK, OP_INDEX_DATA, OP_CONNECTION, OP_CHUNK_INFO})

# Chunk compressions this reader knows (roslz4 writes the LZ4 *frame* format).
_COMPRESSIONS = frozenset({"none", "bz2", "lz4"})
# An index section (Connection and ChunkInfo records) larger than this is taken for a damaged
# index_pos; 256 MiB would index about 2.5 million chunks (some 2 TB of bag). The recovery scan
# (streaming) still reads such a bag.
_MAX_INDEX_BYTES = 256 << 20
# Messages of chunks overlapping in time are held until they can be yielded in time order; real
# bags overlap by a few messages at chunk boundaries. More than this held at once is a damaged
# index or a crafted bag (many small chunks each claiming the whole time range).
_MAX_HELD = 384 << 20


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


class _IndexUnusable(Exception):
    """The bag's index cannot be used: ``reason`` for a recovery report, ``message`` for BagError."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


class _ScanStop(Exception):
    """The recovery scan cannot trust the file from ``pos`` on."""

    def __init__(self, reason: str, pos: int) -> None:
        super().__init__(reason)
        self.reason = reason
        self.pos = pos


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

    serialization = "ros1"  # how messages are encoded (``Ros2Bag``: "cdr")

    def __init__(self, path: str | Path, recover: bool = False) -> None:
        """Open a bag and read its index.

        With ``recover=True`` a bag without a usable index (unindexed ``.bag.active``, index
        cut off or damaged) is scanned instead of refused; ``recovery`` then reports what was
        found (it is None for a bag read through its index).
        """
        self.path = Path(path)
        self.bytes_read = 0
        self.connections: list[Connection] = []
        self.chunks: list[ChunkInfo] = []
        self.recovery: Recovery | None = None
        # Chunk positions whose IndexData records are missing or incomplete (recovered bags
        # only): their message times come from walking the chunk.
        self._no_index: set[int] = set()
        self._typestore: Typestore | None = None
        try:
            self._file = open(self.path, "rb", buffering=0)  # noqa: SIM115 - closed by close()
        except OSError as err:
            raise BagError(f"{self.path}: cannot open ({err.strerror}); pass a readable .bag file") from None
        try:
            self._size = os.fstat(self._file.fileno()).st_size
            self._read_index(recover)
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

    def _reason(self, err: BagError) -> str:
        """A BagError's message without the file name (for a recovery report)."""
        return str(err).removeprefix(f"{self.path}: ")

    def _read_at(self, pos: int, size: int) -> bytes:
        """Read exactly ``size`` bytes at ``pos``; every read of this class passes here."""
        if self._file is None or self._file.closed:
            raise self._fail("bag is closed; open it again with Ros1Bag(path)")
        if pos < 0 or size < 0:  # a length field that makes no sense: nothing to read
            raise self._fail(f"a record near offset {max(pos, 0)} has a damaged length; run `rosbag reindex` on it")
        if pos + size > self._size:  # checked first: a bad length must not size a buffer
            raise self._fail(
                f"file is truncated (wanted {size} bytes at offset {pos}, file has {self._size});"
                " copy the bag again or run `rosbag reindex` on the original"
            )
        # pread: one system call per read, no seek (each call releases and re-takes the GIL)
        fd = self._file.fileno()
        parts = []
        left = size
        while left > 0:
            part = os.pread(fd, left, pos + size - left)
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
        try:
            self._load_index(index_pos, conn_count, chunk_count)
        except _IndexUnusable as unusable:
            if not recover:
                raise self._fail(unusable.message) from None
            # The first record follows the bag header's data (padding up to 4096 bytes).
            pad_at = start + hlen
            pad = _U32.unpack_from(head, pad_at)[0] if pad_at + 4 <= len(head) else 0
            self._recover(unusable.reason, pad_at + 4 + pad)
        self.start_ns = min((c.start_ns for c in self.chunks), default=0)
        self.end_ns = max((c.end_ns for c in self.chunks), default=0)
        if self.chunks:  # fail early on an unknown codec rather than mid-conversion
            self._chunk_data_span(self.chunks[0])

    def _load_index(self, index_pos: int, conn_count: int, chunk_count: int) -> None:
        """Read the connection and chunk-info records at ``index_pos``, or raise _IndexUnusable."""
        if index_pos == 0:
            raise _IndexUnusable(
                "unindexed (index_pos=0)",
                "bag is not indexed (e.g. a .bag.active left by a crash); run `rosbag reindex`"
                " on it (or `rosbag fix`) and pass the result",
            )
        if index_pos > self._size:
            raise _IndexUnusable(
                f"index_pos={index_pos} lies past the end of the file",
                f"file is truncated (index at offset {index_pos}, file has {self._size} bytes); copy the bag again",
            )
        if self._size - index_pos > _MAX_INDEX_BYTES:
            raise _IndexUnusable(
                f"index_pos={index_pos} leaves {self._size - index_pos} bytes of index, more than any real bag has",
                f"bag index at offset {index_pos} is implausibly large (index_pos damaged?); run `rosbag reindex`",
            )
        tail = self._read_at(index_pos, self._size - index_pos)
        connections = []
        infos = []
        try:
            pos = 0
            for _ in range(conn_count):
                connection, pos = self._parse_connection(tail, pos)
                connections.append(connection)
            for _ in range(chunk_count):
                info, pos = self._parse_chunk_info(tail, pos)
                infos.append(info)
        except (ValueError, KeyError, IndexError, struct.error) as err:
            raise _IndexUnusable(
                f"index at byte {index_pos} is damaged or truncated ({err})",
                f"bag index is damaged or truncated ({err}); run `rosbag reindex` on it",
            ) from None
        if any(info.pos >= index_pos for info in infos):
            raise _IndexUnusable(
                f"index at byte {index_pos} points past the chunks",
                "bag index points past the chunks (file truncated?); run `rosbag reindex`",
            )
        if len({info.pos for info in infos}) != len(infos):  # each would be read (and held) again
            raise _IndexUnusable(
                f"index at byte {index_pos} lists a chunk more than once",
                "bag index lists a chunk more than once (damaged); run `rosbag reindex`",
            )
        self.connections = connections
        self._conn_by_id = {c.id: c for c in self.connections}
        # Each chunk's IndexData records end where the next chunk (or the index) begins.
        positions = sorted(info.pos for info in infos)
        ends = [*positions[1:], index_pos] if positions else []  # a bag without chunks has no blocks
        self._block_end = dict(zip(positions, ends, strict=True))
        self.chunks = sorted((i for i in infos if i.counts), key=lambda i: (i.start_ns, i.pos))

    @staticmethod
    def _record_at(buf: bytes, pos: int) -> tuple[dict[str, bytes], int, int]:
        """Parse the record at ``pos`` of ``buf``: (header fields, data start, data end)."""
        (hlen,) = _U32.unpack_from(buf, pos)
        hstart = pos + 4
        if hstart + hlen + 4 > len(buf):
            raise ValueError("record header runs past the end")
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
        if dend - dstart != 8 * count:
            raise ValueError(f"chunk info of {dend - dstart} bytes for {count} connections")
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
            if hlen > _MAX_HEADER:
                raise ValueError(f"header length {hlen}")
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
        if compression not in _COMPRESSIONS:
            raise self._unsupported(compression)
        return chunk.pos + 4 + hlen + 4, dlen, compression, size

    def _unsupported(self, compression: str) -> BagError:
        return self._fail(
            f"unsupported chunk compression {compression[:40]!r}; decompress it with"
            " `rosbag decompress` (none, bz2 and lz4 are supported)"
        )

    def _chunk_buffer(self, chunk: ChunkInfo) -> bytes:
        """A chunk's records, read and decompressed (checked against the header's size).

        The declared size is checked for sanity before anything is read, and decompression stops
        one byte past it: a chunk that lies about its size costs no more than a real one.
        """
        data_pos, data_len, compression, size = self._chunk_data_span(chunk)
        problem = bounded.size_problem(compression, data_len, size)
        if problem is not None:
            raise self._fail(f"chunk at offset {chunk.pos} {problem}; the bag is damaged")
        raw = self._read_at(data_pos, data_len)
        try:
            buf = bounded.decompress(compression, raw, size)
        except (OSError, ValueError, RuntimeError) as err:
            raise self._fail(f"chunk at offset {chunk.pos} does not decompress ({err}); the bag is damaged") from None
        del raw
        if len(buf) != size:
            held = f"more than {size}" if len(buf) > size else str(len(buf))
            raise self._fail(f"chunk at offset {chunk.pos} holds {held} bytes, header says {size}; the bag is damaged")
        return buf

    # -- recovery ----------------------------------------------------------------------------

    def _read_upto(self, pos: int, size: int) -> bytes:
        """Read ``size`` bytes at ``pos``, fewer if the file ends first."""
        return self._read_at(pos, max(0, min(size, self._size - pos)))

    def _recover(self, why: str, first: int) -> None:
        """Build connections and chunk infos by scanning the file from ``first`` (see _Scanner)."""
        scan = _Scanner(self)
        used, stopped = scan.run(first)
        notes = [why] if stopped is None else [why, stopped]
        damaged = scan.resolve_connections()
        if damaged is not None:
            used, note = damaged
            notes.append(note)
        infos = scan.infos
        missing = {cid for info in infos for cid in info.counts} - scan.conns.keys()
        if missing:  # messages nobody can interpret: no Connection record says their topic
            lost = sum(info.counts.get(cid, 0) for info in infos for cid in missing)
            notes.append(f"{lost} messages on connections {sorted(missing)} without a Connection record ignored")
            infos = [
                ChunkInfo(i.pos, i.start_ns, i.end_ns, {c: n for c, n in i.counts.items() if c not in missing})
                for i in infos
            ]
        reason = " ".join("; ".join(notes).split())  # one line
        self.chunks = sorted((i for i in infos if i.counts), key=lambda i: (i.start_ns, i.pos))
        if not self.chunks:
            raise self._fail(
                f"no complete chunk could be recovered ({reason}); nothing to read, copy or record the bag again"
            )
        self.connections = sorted(scan.conns.values(), key=lambda c: c.id)
        self._conn_by_id = {c.id: c for c in self.connections}
        self._block_end = scan.block_end
        self._no_index = scan.no_index
        self.recovery = Recovery(
            reason=reason,
            chunks=len(scan.block_end),
            messages=sum(n for info in self.chunks for n in info.counts.values()),
            bytes_used=used,
            bytes_total=self._size,
            dropped_bytes=self._size - used,
            decompressed=len(scan.walked),
        )

    def _survey_chunk(self, chunk: ChunkInfo) -> tuple[list[Connection], dict[int, list[int]]]:
        """A chunk's Connection records and its message times per connection (file order)."""
        buf = self._chunk_buffer(chunk)
        try:
            return self._survey(buf)
        except (ValueError, KeyError, struct.error) as err:
            raise self._fail(f"chunk at offset {chunk.pos} is damaged ({err})") from None

    def _survey(self, buf: bytes) -> tuple[list[Connection], dict[int, list[int]]]:
        """Walk a decompressed chunk's records; hot loop (like _walk_chunk), hence the local names."""
        conns: list[Connection] = []
        times: dict[int, list[int]] = {}
        end = len(buf)
        unpack_u32 = _U32.unpack_from
        fast_size = end + 1  # never fits until a message record shows the header layout
        unpack_msg = check = values = None
        expected: tuple[bytes, ...] = ()
        pos = 0
        while pos < end:
            if pos + fast_size <= end:
                vals = unpack_msg(buf, pos)
                if check(vals) == expected:
                    conn_id, sec, nsec, dlen = values(vals)
                    pos += fast_size + dlen
                    if pos > end:
                        raise ValueError("message runs past the chunk end")
                    conn_times = times.get(conn_id)
                    if conn_times is None:
                        times[conn_id] = [sec * _NS + nsec]
                    else:
                        conn_times.append(sec * _NS + nsec)
                    continue
            (hlen,) = unpack_u32(buf, pos)
            header = buf[pos + 4 : pos + 4 + hlen]
            fields = parse_header(header)
            (dlen,) = unpack_u32(buf, pos + 4 + hlen)
            record_end = pos + 4 + hlen + 4 + dlen
            if record_end > end:
                raise ValueError("record runs past the chunk end")
            op = _op(fields)
            if op == OP_CONNECTION:
                conns.append(self._parse_connection(buf, pos)[0])
            elif op == OP_MSG_DATA:
                if unpack_msg is None:
                    with contextlib.suppress(ValueError):  # odd layout: stay on this path
                        layout = _MessageLayout(header)
                        fast_size, unpack_msg = layout.size, layout.struct.unpack_from
                        check, expected, values = layout.check, layout.expected, layout.values
                times.setdefault(_U32.unpack(fields["conn"])[0], []).append(_time_ns(fields["time"]))
            pos = record_end
        return conns, times

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
        if chunk.pos in self._no_index:  # recovered chunk without (complete) IndexData records
            _, times = self._survey_chunk(chunk)
            return [np.array(t, np.int64) for cid, t in times.items() if cid in conn_ids]
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
                if pos - dstart != 12 * count:
                    raise ValueError(f"{pos - dstart} bytes for {count} entries")
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
        buf = self._chunk_buffer(chunk)
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
        held: dict[int, int] = {}  # chunk pos -> bytes of its messages, until all are yielded
        nxt = 0
        while heap or nxt < len(todo):
            # Load every chunk whose messages could precede the head of the heap.
            while nxt < len(todo) and (not heap or (todo[nxt].start_ns, todo[nxt].pos) < heap[0][:2]):
                chunk = todo[nxt]
                nxt += 1
                msgs = self._load_chunk(chunk, wanted, start_ns, stop_ns)
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
        return self.typestore().deserialize_ros1(msg.data, msg.connection.msgtype)

    def deserialize_raw(self, data: bytes | memoryview, msgtype: str) -> object:
        return self.typestore().deserialize_ros1(data, msgtype)


class _Scanner:
    """One sequential pass over a bag whose index cannot be used (for ``Ros1Bag._recover``).

    Between chunks a bag holds only Chunk records, each followed by one IndexData record per
    connection in it, and at the end the index section (Connection and ChunkInfo records). The
    scan reads each record's header (``_PEEK`` bytes), seeks over chunk data and reads the
    IndexData records, whose entries (time, offset per message) give the chunk's connections,
    counts and time bounds. It walks (decompresses) a chunk only when those records cannot be
    trusted to describe it:

    * they are missing, or the file ends (or turns to garbage) right after them, so more may
      have been lost: this is always the last chunk;
    * they name a connection whose Connection record has not been seen (rosbag writes that
      record into the chunk of the connection's first message), or the first message is not
      at offset 0 (there are records before it: connection records).

    It keeps, per chunk, a ChunkInfo, where its IndexData records end and whether they are
    usable; nothing per message.
    """

    def __init__(self, bag: Ros1Bag) -> None:
        self.bag = bag
        self.size = bag._size
        self.conns: dict[int, Connection] = {}
        self.infos: list[ChunkInfo] = []  # file order
        self.block_end: dict[int, int] = {}  # chunk pos -> end of its IndexData records
        self.no_index: set[int] = set()  # chunk pos whose IndexData records do not match it
        self.walked: set[int] = set()  # chunk pos decompressed by the scan
        # Connections named by a walked chunk's IndexData: if their Connection record was not
        # in it, it is in an earlier chunk (resolve_connections), not in a later one.
        self.sought: set[int] = set()
        self.number = 0  # chunks met so far; the open chunk's 1-based number
        # The chunk whose IndexData records are being read: its pos, and per record
        # (conn, count, first time, last time, lowest offset).
        self.open: int | None = None
        self.index: list[tuple[int, int, int, int, int]] = []
        self.index_end = 0
        self._buf_pos = 0
        self._buf = b""

    def read(self, pos: int, size: int, ahead: int = 0) -> bytes:
        """``size`` bytes at ``pos`` (fewer at the end of the file), reading ``ahead`` more.

        The bytes read ahead are kept (one buffer) so that the next record's header, which
        usually follows, costs no read of its own.
        """
        off = pos - self._buf_pos
        if off >= 0 and off + size <= len(self._buf):
            return self._buf[off : off + size]
        self._buf = self.bag._read_upto(pos, size + ahead)
        self._buf_pos = pos
        return self._buf[:size]

    def after(self) -> str:
        return f" after chunk {self.number}" if self.number else " before the first chunk"

    def run(self, pos: int) -> tuple[int, str | None]:
        """Scan from ``pos``: (end of the part that can be trusted, why the scan stopped early)."""
        try:
            pos, stopped = self._scan(pos)
            if self.open is not None:
                self.close_chunk(trusted=False)
        except _ScanStop as stop:
            return stop.pos, stop.reason
        return pos, stopped

    def peek(self, pos: int) -> tuple[dict[str, bytes], int, int, int]:
        """The header of the record at ``pos``: (fields, op, data pos, data len).

        Raises EOFError if the file ends inside the header, ValueError if it is not a record
        that may appear between chunks. The data may run past the end of the file.
        """
        head = self.read(pos, _PEEK)
        if len(head) < 4:
            raise EOFError
        (hlen,) = _U32.unpack_from(head, 0)
        if not 0 < hlen <= _MAX_HEADER:
            raise ValueError(f"header length {hlen}")
        if len(head) < 4 + hlen + 4:
            head = self.read(pos, 4 + hlen + 4)
            if len(head) < 4 + hlen + 4:
                raise EOFError
        fields = parse_header(head[4 : 4 + hlen])
        op = _op(fields)
        if op not in _TOP_LEVEL_OPS:
            raise ValueError(f"op {op} does not belong between chunks")
        (dlen,) = _U32.unpack_from(head, 4 + hlen)
        return fields, op, pos + 4 + hlen + 4, dlen

    def partial_op(self, pos: int) -> int | None:
        """The op of a record whose header the file cuts off, if the part left names it."""
        head = self.read(pos, _PEEK)
        at = 4
        while at + 4 <= len(head):
            (flen,) = _U32.unpack_from(head, at)
            field = head[at + 4 : at + 4 + flen]
            if len(field) < flen:
                break
            if field.startswith(b"op=") and flen == 4:
                return field[3]
            at += 4 + flen
        return None

    def _scan(self, pos: int) -> tuple[int, str | None]:
        size = self.size
        while pos < size:
            try:
                fields, op, dpos, dlen = self.peek(pos)
            except EOFError:
                op = self.partial_op(pos)
                if op == OP_CHUNK:
                    return pos, f"truncated at byte {size} in the header of chunk {self.number + 1} at byte {pos}"
                if op == OP_INDEX_DATA and self.open is not None:
                    return pos, f"truncated at byte {size} in the index records after chunk {self.number}"
                return pos, f"truncated at byte {size} in a record header at byte {pos}{self.after()}"
            except (ValueError, struct.error) as err:
                return pos, f"unreadable record at byte {pos}{self.after()} ({err}); the rest of the file is ignored"
            end = dpos + dlen
            if op == OP_INDEX_DATA and self.open is not None:
                if end > size:
                    return pos, f"truncated at byte {size} in the index records after chunk {self.number}"
                try:
                    self.add_index(fields, dpos, dlen)
                except (ValueError, KeyError, struct.error) as err:
                    return pos, (
                        f"damaged index record at byte {pos} after chunk {self.number} ({err});"
                        " the rest of the file is ignored"
                    )
                pos = self.index_end = end
                continue
            if self.open is not None:  # another record follows: the IndexData records are complete
                self.close_chunk(trusted=True)
            if op == OP_CHUNK:
                self.number += 1
                try:
                    compression = fields["compression"].decode()
                    usize = _U32.unpack(fields["size"])[0]
                except (KeyError, ValueError, struct.error) as err:
                    return pos, f"damaged header of chunk {self.number} at byte {pos} ({err}); the rest is ignored"
                if compression not in _COMPRESSIONS:
                    raise self.bag._unsupported(compression)
                if usize == 0 and dlen == 0:  # rosbag writes the sizes once the chunk is complete
                    return pos, (
                        f"chunk {self.number} at byte {pos} was never finished (recording interrupted);"
                        " it and the rest of the file are ignored"
                    )
                if end > size:
                    return pos, f"truncated at byte {size} in chunk {self.number} (which starts at byte {pos})"
                problem = bounded.size_problem(compression, dlen, usize)
                if problem is not None:  # a damaged chunk: as when it does not decompress
                    return pos, f"chunk {self.number} at byte {pos} {problem}; it and the rest of the file are ignored"
                self.open, self.index, self.index_end = pos, [], end
            elif op == OP_CONNECTION:  # top level: the index section
                if end > size:
                    return pos, f"truncated at byte {size} in a connection record at byte {pos}"
                try:
                    conn, _ = self.bag._parse_connection(self.read(pos, end - pos), 0)
                except (ValueError, KeyError, struct.error) as err:
                    return pos, f"damaged connection record at byte {pos} ({err}); the rest of the file is ignored"
                self.conns.setdefault(conn.id, conn)
            elif op == OP_CHUNK_INFO:  # index section: the chunk infos are rebuilt, not trusted
                if end > size:
                    return pos, f"truncated at byte {size} in a chunk info record at byte {pos}"
            else:
                return pos, f"index record at byte {pos} follows no chunk; the rest of the file is ignored"
            pos = end
        return pos, None

    def add_index(self, fields: dict[str, bytes], dpos: int, dlen: int) -> None:
        if _U32.unpack(fields["ver"])[0] != 1:
            raise ValueError("index data version is not 1")
        conn = _U32.unpack(fields["conn"])[0]
        count = _U32.unpack(fields["count"])[0]
        if dlen != 12 * count:
            raise ValueError(f"{dlen} bytes for {count} entries")
        if count == 0:
            return
        entries = np.frombuffer(self.read(dpos, dlen, _PEEK), _INDEX_ENTRY, count)
        times = entries["sec"].astype(np.int64) * _NS + entries["nsec"]
        self.index.append((conn, count, int(times.min()), int(times.max()), int(entries["offset"].min())))

    def close_chunk(self, trusted: bool) -> None:
        """Turn the open chunk and its IndexData records into a ChunkInfo (walking it if needed).

        ``trusted``: another record followed the IndexData records, so none is missing.
        """
        pos, self.open = self.open, None
        assert pos is not None
        counts: dict[int, int] = {}
        for conn, count, *_ in self.index:
            counts[conn] = counts.get(conn, 0) + count
        first = min((r[2] for r in self.index), default=0)
        last = max((r[3] for r in self.index), default=0)
        unknown = counts.keys() - self.conns.keys() - self.sought
        records_first = bool(self.index) and min(r[4] for r in self.index) > 0  # connection records
        if not trusted or not self.index or unknown or records_first:
            try:
                times = self.walk(pos)
            except BagError as err:
                raise _ScanStop(
                    f"chunk {self.number} at byte {pos} is unreadable ({self.bag._reason(err)});"
                    " it and the rest of the file are ignored",
                    pos,
                ) from None
            self.sought.update(counts)
            walked = {cid: len(t) for cid, t in times.items()}
            if walked != counts:
                self.no_index.add(pos)
            counts = walked
            first = min((min(t) for t in times.values()), default=0)
            last = max((max(t) for t in times.values()), default=0)
        self.block_end[pos] = self.index_end
        if counts:
            self.infos.append(ChunkInfo(pos, first, last, counts))

    def walk(self, pos: int) -> dict[int, list[int]]:
        conns, times = self.bag._survey_chunk(ChunkInfo(pos, 0, 0, {}))
        self.walked.add(pos)
        for conn in conns:
            self.conns.setdefault(conn.id, conn)
        return times

    def resolve_connections(self) -> tuple[int, str] | None:
        """Find the Connection records of connections known only from IndexData records.

        A writer may put a connection's record into an earlier chunk than the connection's
        first message (rosbags writes it when the connection is added), so walk the chunks
        before the first one naming such a connection, backwards, until every connection is
        known. A damaged chunk ends the recovered part: returns (its position, a note).
        """
        missing = {cid for info in self.infos for cid in info.counts} - self.conns.keys()
        if not missing:
            return None
        first = {}
        for k, info in enumerate(self.infos):
            for cid in missing.intersection(info.counts):
                first.setdefault(cid, k)
        damaged = None
        for k in range(max(first.values()), -1, -1):
            info = self.infos[k]
            if info.pos in self.walked:
                continue
            try:
                self.walk(info.pos)
            except BagError as err:
                del self.infos[k:]
                for pos in [p for p in self.block_end if p >= info.pos]:
                    del self.block_end[pos]
                damaged = (
                    info.pos,
                    (f"chunk at byte {info.pos} is unreadable ({self.bag._reason(err)}); it and the rest are ignored"),
                )
                missing = {cid for info in self.infos for cid in info.counts}
            missing -= self.conns.keys()
            if not missing:
                break
        return damaged
