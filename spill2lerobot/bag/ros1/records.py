"""ROS1 bag (format 2.0) records: layout constants, record headers, connection and chunk infos.

Layout reminder: ``#ROSBAG V2.0\\n``, the bag header record (padded to 4096 bytes), then for
each chunk a Chunk record (holding Connection and MessageData records) followed by one
IndexData record per connection in that chunk; at ``index_pos`` all Connection records, then one
ChunkInfo record per chunk. A record is ``u32 header_len, header, u32 data_len, data``; a header
is a sequence of ``u32 len, name=value`` fields.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

import numpy as np

MAGIC = b"#ROSBAG V2.0\n"

OP_MSG_DATA = 0x02
OP_BAG_HEADER = 0x03
OP_INDEX_DATA = 0x04
OP_CHUNK = 0x05
OP_CHUNK_INFO = 0x06
OP_CONNECTION = 0x07

U32 = struct.Struct("<I")
U64 = struct.Struct("<Q")
TIME = struct.Struct("<II")
NS = 1_000_000_000

# IndexData payload: count * (sec u32, nsec u32, offset-in-chunk u32).
INDEX_ENTRY = np.dtype([("sec", "<u4"), ("nsec", "<u4"), ("offset", "<u4")])
# A record header longer than this is taken for garbage (real ones are under 200 bytes).
MAX_HEADER = 1 << 16
# Chunk compressions this reader knows (roslz4 writes the LZ4 *frame* format).
COMPRESSIONS = frozenset({"none", "bz2", "lz4"})


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
        (size,) = U32.unpack_from(data, pos)
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


def record_op(fields: dict[str, bytes]) -> int:
    """A record's op code (ValueError if its header has none)."""
    op = fields.get("op")
    if op is None or len(op) != 1:
        raise ValueError("record header without a one-byte 'op' field")
    return op[0]


def time_ns(value: bytes) -> int:
    """A ROS time field (sec u32, nsec u32) in nanoseconds."""
    sec, nsec = TIME.unpack(value)
    return int(sec) * NS + int(nsec)


def record_at(buf: bytes, pos: int) -> tuple[dict[str, bytes], int, int]:
    """Parse the record at ``pos`` of ``buf``: (header fields, data start, data end)."""
    (hlen,) = U32.unpack_from(buf, pos)
    hstart = pos + 4
    if hstart + hlen + 4 > len(buf):
        raise ValueError("record header runs past the end")
    fields = parse_header(buf[hstart : hstart + hlen])
    (dlen,) = U32.unpack_from(buf, hstart + hlen)
    dstart = hstart + hlen + 4
    if dstart + dlen > len(buf):
        raise ValueError("record data runs past the end")
    return fields, dstart, dstart + dlen


def parse_connection(buf: bytes, pos: int) -> tuple[Connection, int]:
    """The Connection record at ``pos`` of ``buf`` and where it ends."""
    fields, dstart, dend = record_at(buf, pos)
    if record_op(fields) != OP_CONNECTION:
        raise ValueError(f"expected a connection record, found op {record_op(fields)}")
    conn_id = U32.unpack(fields["conn"])[0]
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


def parse_chunk_info(buf: bytes, pos: int) -> tuple[ChunkInfo, int]:
    """The ChunkInfo record at ``pos`` of ``buf`` and where it ends."""
    fields, dstart, dend = record_at(buf, pos)
    if record_op(fields) != OP_CHUNK_INFO:
        raise ValueError(f"expected a chunk info record, found op {record_op(fields)}")
    if U32.unpack(fields["ver"])[0] != 1:
        raise ValueError("chunk info version is not 1")
    count = U32.unpack(fields["count"])[0]
    if dend - dstart != 8 * count:
        raise ValueError(f"chunk info of {dend - dstart} bytes for {count} connections")
    pairs = struct.unpack_from(f"<{2 * count}I", buf, dstart)
    return ChunkInfo(
        pos=U64.unpack(fields["chunk_pos"])[0],
        start_ns=time_ns(fields["start_time"]),
        end_ns=time_ns(fields["end_time"]),
        counts=dict(zip(pairs[::2], pairs[1::2], strict=True)),
    ), dend
