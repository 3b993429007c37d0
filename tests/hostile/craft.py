"""Crafting hostile inputs: ROS1 record surgery, decompression bombs, oversized images.

Everything starts from real bags written by ``scripts/gen_kuavo_bag.py``; this module only
rewrites them. Two levels:

- ``rewrite_bag``: read every message of a bag and write a new bag (rosbags' writer, the same
  connections with their message definitions) in which chosen messages' bytes are replaced
  (image bombs);
- ``records`` / ``assemble``: split a ROS1 file into its top-level records and put it back
  together after an edit, with the bag header's ``index_pos`` and every ChunkInfo's
  ``chunk_pos`` moved to where the records now are (chunk bombs, huge length fields).

ROS1 layout: ``#ROSBAG V2.0\\n``, then records ``u32 header_len, header, u32 data_len, data``;
a header is ``u32 len, name=value`` fields. Ops: 0x02 message, 0x03 bag header, 0x04 index
data, 0x05 chunk, 0x06 chunk info, 0x07 connection.
"""

from __future__ import annotations

import bz2
import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import lz4.frame
from rosbags.interfaces import Connection
from rosbags.rosbag1 import Reader, Writer

MAGIC = b"#ROSBAG V2.0\n"
OP_MSG_DATA, OP_BAG_HEADER, OP_INDEX_DATA, OP_CHUNK, OP_CHUNK_INFO, OP_CONNECTION = 2, 3, 4, 5, 6, 7
_U32 = struct.Struct("<I")
_U64 = struct.Struct("<Q")

# --------------------------------------------------------------------------------------------
# Whole-message rewriting
# --------------------------------------------------------------------------------------------

# (topic, number of the message within its topic, record time, bytes) -> new bytes
Transform = Callable[[str, int, int, bytes], bytes]


def rewrite_bag(src: Path, dst: Path, transform: Transform, compression: str | None = None) -> None:
    """Copy ``src`` to ``dst`` message by message through ``transform`` (same connections)."""
    numbers: dict[str, int] = {}
    with Reader(src) as reader:
        writer = Writer(dst)
        if compression:
            writer.set_compression(Writer.CompressionFormat[compression.upper()])
        with writer:
            conns = {c.id: copy_connection(writer, c) for c in sorted(reader.connections, key=lambda c: c.id)}
            for conn, time_ns, data in reader.messages():
                k = numbers.get(conn.topic, 0)
                numbers[conn.topic] = k + 1
                writer.write(conns[conn.id], time_ns, transform(conn.topic, k, time_ns, bytes(data)))


def copy_connection(writer: Writer, conn: Connection) -> Connection:
    """``conn`` of another bag added to ``writer`` with its definition, md5 and caller id."""
    callerid = getattr(conn.ext, "callerid", None)
    msgdef = conn.msgdef.data
    return writer.add_connection(conn.topic, conn.msgtype, msgdef=msgdef, md5sum=conn.digest, callerid=callerid)


def replace_messages(topic: str, frames: set[int], make: Callable[[bytes], bytes]) -> Transform:
    """A transform replacing messages ``frames`` of ``topic`` by ``make(original)``."""

    def transform(name: str, k: int, time_ns: int, data: bytes) -> bytes:
        return make(data) if name == topic and k in frames else data

    return transform


def _ros_string(text: bytes) -> bytes:
    return _U32.pack(len(text)) + text


def split_compressed_image(payload: bytes) -> tuple[bytes, str, bytes]:
    """(header bytes incl. frame_id, format, data) of a serialized CompressedImage."""
    pos = 12
    pos += 4 + _U32.unpack_from(payload, pos)[0]
    head = payload[:pos]
    (size,) = _U32.unpack_from(payload, pos)
    fmt = payload[pos + 4 : pos + 4 + size].decode()
    pos += 4 + size
    (size,) = _U32.unpack_from(payload, pos)
    return head, fmt, payload[pos + 4 : pos + 4 + size]


def compressed_image(head: bytes, fmt: str, data: bytes) -> bytes:
    return head + _ros_string(fmt.encode()) + _U32.pack(len(data)) + data


def with_image_data(data: bytes, fmt: str | None = None) -> Callable[[bytes], bytes]:
    """Replace a CompressedImage's data (and optionally its format string), keep its header."""

    def make(original: bytes) -> bytes:
        head, old_fmt, _ = split_compressed_image(original)
        return compressed_image(head, fmt or old_fmt, data)

    return make


def raw_image_header_bomb(width: int, height: int, encoding: str, data: bytes) -> Callable[[bytes], bytes]:
    """A raw sensor_msgs/Image claiming ``width`` x ``height`` with only ``data`` behind it."""
    channels = {"rgb8": 3, "bgr8": 3, "mono8": 1, "16UC1": 2, "32FC1": 4}[encoding]

    def make(original: bytes) -> bytes:
        pos = 12
        pos += 4 + _U32.unpack_from(original, pos)[0]  # seq, stamp, frame_id kept
        return b"".join(
            (
                original[:pos],
                struct.pack("<II", height, width),
                _ros_string(encoding.encode()),
                struct.pack("<BI", 0, (width * channels) & 0xFFFFFFFF),
                _U32.pack(len(data)),
                data,
            )
        )

    return make


# --------------------------------------------------------------------------------------------
# Images that claim to be huge
# --------------------------------------------------------------------------------------------


def jpeg_with_size(jpeg: bytes, width: int, height: int) -> bytes:
    """A real JPEG whose SOF header claims ``width`` x ``height`` (the scan data is unchanged)."""
    buf = bytearray(jpeg)
    pos = 2
    while pos + 4 <= len(buf):
        if buf[pos] != 0xFF:
            raise ValueError("not a JPEG marker")
        marker = buf[pos + 1]
        (length,) = struct.unpack_from(">H", buf, pos + 2)
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):  # a start of frame
            struct.pack_into(">HH", buf, pos + 5, height, width)
            return bytes(buf)
        pos += 2 + length
    raise ValueError("no SOF marker in the JPEG")


def _chunk(kind: bytes, body: bytes) -> bytes:
    return _U32.pack(len(body))[::-1] + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def constant_png(width: int, height: int, bit_depth: int, color_type: int, value: int) -> bytes:
    """A real PNG of a constant ``width`` x ``height`` picture: tiny file, huge picture.

    ``color_type`` 0 = grey, 2 = RGB; ``value`` fills every sample (16-bit samples big-endian).
    Rows are compressed one at a time, so making it needs no memory."""
    channels = {0: 1, 2: 3}[color_type]
    sample = value.to_bytes(bit_depth // 8, "big")
    row = b"\x00" + sample * (width * channels)
    packer = zlib.compressobj(9)
    parts = [packer.compress(row) for _ in range(height)]
    parts.append(packer.flush())
    header = struct.pack(">IIBBBBB", width, height, bit_depth, color_type, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + _chunk(b"IDAT", b"".join(parts)) + _chunk(b"IEND", b"")


# compressed_depth_image_transport's ConfigHeader: int32 format, float depthQuantA, depthQuantB
DEPTH_HEADER_16 = struct.pack("<iff", 0, 0.0, 0.0)
DEPTH_HEADER_32 = struct.pack("<iff", 0, 100.0, -100.0)  # the transport's default quantisation


# --------------------------------------------------------------------------------------------
# Record-level surgery
# --------------------------------------------------------------------------------------------


@dataclass
class Record:
    pos: int  # offset in the original file
    fields: list[tuple[bytes, bytes]]  # header fields in file order
    data: bytes
    raw_header: bytes | None = None  # set to write these header bytes verbatim (a damaged header)
    data_len: int | None = None  # set to write this data length instead of len(data)
    extra: dict = field(default_factory=dict)

    @property
    def op(self) -> int:
        return dict(self.fields)[b"op"][0]

    def get(self, name: bytes) -> bytes:
        return dict(self.fields)[name]

    def set(self, name: bytes, value: bytes) -> None:
        self.fields = [(n, value if n == name else v) for n, v in self.fields]

    def header_bytes(self) -> bytes:
        if self.raw_header is not None:
            return self.raw_header
        return b"".join(_ros_string(n + b"=" + v) for n, v in self.fields)

    def to_bytes(self) -> bytes:
        header = self.header_bytes()
        size = len(self.data) if self.data_len is None else self.data_len
        return _U32.pack(len(header)) + header + _U32.pack(size) + self.data


def _fields(header: bytes) -> list[tuple[bytes, bytes]]:
    out, pos = [], 0
    while pos < len(header):
        (size,) = _U32.unpack_from(header, pos)
        name, _, value = header[pos + 4 : pos + 4 + size].partition(b"=")
        out.append((name, value))
        pos += 4 + size
    return out


def records(data: bytes) -> list[Record]:
    """The top-level records of an intact ROS1 bag file (the bag header first)."""
    if not data.startswith(MAGIC):
        raise ValueError("not a ROS1 bag")
    out, pos = [], len(MAGIC)
    while pos < len(data):
        (hlen,) = _U32.unpack_from(data, pos)
        header = data[pos + 4 : pos + 4 + hlen]
        (dlen,) = _U32.unpack_from(data, pos + 4 + hlen)
        start = pos + 8 + hlen
        out.append(Record(pos, _fields(header), data[start : start + dlen]))
        pos = start + dlen
    return out


def assemble(recs: list[Record], fix_offsets: bool = True) -> bytes:
    """Write ``recs`` back as a bag; with ``fix_offsets``, index_pos and chunk_pos follow the
    records to their new places (the bag header keeps its padded length)."""
    moved: dict[int, int] = {}
    pos = len(MAGIC)
    for rec in recs:
        moved[rec.pos] = pos
        pos += len(rec.to_bytes())
    if fix_offsets:
        index_pos = _U64.unpack(recs[0].get(b"index_pos"))[0]
        if index_pos in moved:
            recs[0].set(b"index_pos", _U64.pack(moved[index_pos]))
        for rec in recs:
            if rec.raw_header is None and rec.op == OP_CHUNK_INFO:
                old = _U64.unpack(rec.get(b"chunk_pos"))[0]
                rec.set(b"chunk_pos", _U64.pack(moved.get(old, old)))
    return MAGIC + b"".join(rec.to_bytes() for rec in recs)


def chunk_records(recs: list[Record]) -> list[Record]:
    return [r for r in recs if r.raw_header is None and r.op == OP_CHUNK]


# 1 GiB of zeros, compressed once per process (bz2 streams and lz4 frames concatenate).
_BOMB_PIECE = 16 << 20


def bz2_bomb(total: int = 1 << 30) -> bytes:
    """bz2 data that decompresses to ``total`` zero bytes (a few KB)."""
    piece = bz2.compress(bytes(_BOMB_PIECE), 9)
    return piece * (total // _BOMB_PIECE)


def lz4_bomb(total: int = 1 << 30) -> bytes:
    """One LZ4 frame that decompresses to ``total`` zero bytes (~4 MB: LZ4 tops out at ~255:1)."""
    packer = lz4.frame.LZ4FrameCompressor(compression_level=0)
    zeros = bytes(_BOMB_PIECE)
    parts = [packer.begin()]
    parts += [packer.compress(zeros) for _ in range(total // _BOMB_PIECE)]
    parts.append(packer.flush())
    return b"".join(parts)


def chunk_bomb(src: Path, dst: Path, which: int, bomb: bytes, declared: int | None = None) -> None:
    """``src`` with chunk number ``which``'s compressed data replaced by ``bomb``; the chunk
    header still declares the original uncompressed ``size`` (or ``declared``)."""
    recs = records(Path(src).read_bytes())
    chunk = chunk_records(recs)[which]
    compression = chunk.get(b"compression").decode()
    if compression not in ("bz2", "lz4"):
        raise ValueError(f"{src}: chunk is not compressed ({compression})")
    chunk.data = bomb
    if declared is not None:
        chunk.set(b"size", _U32.pack(declared))
    Path(dst).write_bytes(assemble(recs))
