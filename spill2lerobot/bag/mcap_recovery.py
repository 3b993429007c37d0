"""Reading an ``.mcap`` that a killed recorder cut short: no footer, no summary, perhaps half a
chunk at the end. rosbags refuses such a file ("File end magic is invalid"); here its records are
scanned from the start instead and every complete chunk is kept, like the ROS1 recovery scan.

``RecoveringMcapReader`` is rosbags' ``McapReader`` (what ``messages()`` and the rest use) with
one change: when opening through the footer and summary fails, the data section is scanned.
Each top-level record is read as (opcode u8, length u64, body); the scan stops at the first record
that runs past the end of the file (or is damaged, or is the summary of a complete file). A
chunk is decompressed once (bounded, see ``bag.bounded``) for the schemas and channels it holds
and its messages' channels and times; the MessageIndex records after it, where complete, give
``message_index_offsets`` (a chunk whose index was cut off is read whole when its times are
asked, ``Ros2Bag``). Memory: one chunk at a time and one small record per chunk.
"""

from __future__ import annotations

import os
import struct
from collections import defaultdict
from io import BytesIO
from typing import TYPE_CHECKING

from rosbags.interfaces import Connection, ConnectionExtRosbag2
from rosbags.rosbag2 import ReaderError
from rosbags.rosbag2.reader import DirectoryReader, Reader
from rosbags.rosbag2.storage_mcap import (
    MAXSIZE,
    Channel,
    ChunkInfo,
    McapReader,
    Schema,
    Statistics,
    decompress,
    get_msgdef,
    get_qos,
    msgsrc,
)

from spill2lerobot.bag.base import Recovery
from spill2lerobot.bag.bounded import MAX_CHUNK_SIZE
from spill2lerobot.bag.db3_recovery import RecoveringSqlite3Reader

if TYPE_CHECKING:
    from collections.abc import Collection, Generator, Mapping

    from rosbags.rosbag2.reader import ReaderProtocol

MAGIC = b"\x89MCAP0\r\n"
_OP_LEN = struct.Struct("<BQ")
_CHUNK_HEAD = struct.Struct("<QQQI")  # message start, end, uncompressed size, crc
_MESSAGE_HEAD = struct.Struct("<HIQQ")  # channel, sequence, log time, publish time
_SCHEMA, _CHANNEL, _MESSAGE, _CHUNK, _MESSAGE_INDEX = 0x03, 0x04, 0x05, 0x06, 0x07
_SUMMARY_START = {0x02, 0x08, 0x0A, 0x0B, 0x0D, 0x0E, 0x0F}  # footer, indexes, statistics, data end
_DAMAGE = (ReaderError, ValueError, struct.error, UnicodeDecodeError, MemoryError, EOFError)


class RecoveringMcapReader(McapReader):
    """rosbags' McapReader that scans a file without footer or summary (``recovery`` says what it found)."""

    recovery: Recovery | None = None

    def _open(self) -> None:
        try:
            super()._open()
        except _DAMAGE as exc:
            if not self._starts_like_mcap():
                raise
            self._reset()
            detail = str(exc).strip().rstrip(".") or type(exc).__name__
            self.recovery = self._scan(f"no usable footer or summary ({detail})")

    def messages(
        self, connections: Collection[Connection], start: int | None = None, stop: int | None = None
    ) -> Generator[tuple[Connection, int, bytes], None, None]:
        if self.recovery is not None and not self.chunks:
            return  # nothing complete (rosbags would scan the cut file for unchunked messages)
        yield from super().messages(connections, start, stop)

    def _starts_like_mcap(self) -> bool:
        assert self.bio
        self.bio.seek(0)
        return self.bio.read(8) == MAGIC

    def _reset(self) -> None:
        self.schemas.clear()
        self.channels.clear()
        self.chunks.clear()
        self.connections.clear()
        self.statistics = None

    def _scan(self, why: str) -> Recovery:
        """Every complete chunk from the start of the data section; what was found, as ROS1's scan says it."""
        assert self.bio
        bio, size = self.bio, os.fstat(self.bio.fileno()).st_size
        pos, used, reason = self.data_start, self.data_start, ""
        while not reason:
            bio.seek(pos)
            head = bio.read(9)
            if len(head) < 9:
                reason = "the file ends without its summary" if len(head) == 0 else f"cut short at byte {pos}"
                break
            op, length = _OP_LEN.unpack(head)
            end = pos + 9 + length
            if end > size:
                reason = f"a record at byte {pos} is cut short"
            elif op in _SUMMARY_START:
                reason = "the file ends after its data"  # complete data, damaged summary
            elif op == _CHUNK:
                reason = self._scan_chunk(pos, length)
            elif op == _MESSAGE_INDEX and self.chunks:
                channel = struct.unpack("<H", bio.read(2))[0]
                self.chunks[-1].message_index_offsets[channel] = pos
            elif op in (_SCHEMA, _CHANNEL):
                self._meta_record(op, BytesIO(bio.read(length)))
            elif op == _MESSAGE:
                reason = f"a message outside any chunk at byte {pos} (not a rosbag2 file)"
            if not reason:
                pos = used = end
        self._finish_statistics()
        assert self.statistics
        messages, total = self.statistics.message_count, size
        return Recovery(f"{why}: {reason}", len(self.chunks), messages, used, total, total - used, len(self.chunks))

    def _scan_chunk(self, pos: int, length: int) -> str:
        """Read the chunk record at ``pos``: its schemas, channels and message counts ("" if usable)."""
        assert self.bio
        if length > MAX_CHUNK_SIZE + 64:
            return f"the chunk at byte {pos} declares {length} bytes"
        try:
            body = self.bio.read(length)
            start, stop, raw_size, crc = _CHUNK_HEAD.unpack_from(body, 0)
            name_len = struct.unpack_from("<I", body, 28)[0]
            compression = body[32 : 32 + name_len].decode()
            at = 32 + name_len
            (compressed_size,) = struct.unpack_from("<Q", body, at)
            data = body[at + 8 : at + 8 + compressed_size]
            if len(data) != compressed_size:
                return f"the chunk at byte {pos} is damaged"
            records = decompress(data, compression, raw_size, crc)
            counts = self._chunk_records(records)
        except _DAMAGE as exc:
            return f"the chunk at byte {pos} is damaged ({str(exc).strip()[:80]})"
        self.chunks.append(
            ChunkInfo(start, stop, pos, 9 + length, {}, 0, compression, compressed_size, raw_size, counts)
        )
        return ""

    def _chunk_records(self, records: bytes) -> dict[int, int]:
        """Messages per channel in a decompressed chunk; its schemas and channels are registered."""
        counts: dict[int, int] = defaultdict(int)
        view, pos = memoryview(records), 0
        while pos < len(view):
            op, length = _OP_LEN.unpack_from(view, pos)
            body = view[pos + 9 : pos + 9 + length]
            if len(body) != length:
                raise ValueError("a record runs past its chunk")
            if op == _MESSAGE:
                channel, _, _, _ = _MESSAGE_HEAD.unpack_from(body, 0)
                counts[channel] += 1
            elif op in (_SCHEMA, _CHANNEL):
                self._meta_record(op, BytesIO(bytes(body)))
            pos += 9 + length
        return dict(counts)

    def _meta_record(self, op: int, rec: BytesIO) -> None:
        """A Schema or Channel record, registered as rosbags' own scan does."""
        (key,) = struct.unpack("<H", rec.read(2))
        if op == _SCHEMA:
            self.schemas[key] = Schema(key, _string(rec), _string(rec), _string(rec))
            return
        (schema_id,) = struct.unpack("<H", rec.read(2))
        schema = self.schemas.get(schema_id, Schema(0, "__schemaless__", "cdr", ""))
        topic, encoding = _string(rec), _string(rec)
        metadata = rec.read()  # the channel's metadata map, kept raw as rosbags keeps it
        self.channels[key] = Channel(key, schema.name, topic, encoding, metadata[4:])
        if all(conn.id != key for conn in self.connections):
            ext = ConnectionExtRosbag2(encoding, get_qos(metadata[4:]))
            self.connections.append(Connection(key, topic, schema.name, get_msgdef(schema), "", 0, ext, self))

    def _finish_statistics(self) -> None:
        """Statistics and metadata from the recovered chunks, as rosbags computes them from a summary."""
        counts: dict[int, int] = defaultdict(int)
        for chunk in self.chunks:
            for cid, count in chunk.channel_count.items():
                counts[cid] += count
        total = sum(counts.values())
        start = min((c.message_start_time for c in self.chunks), default=MAXSIZE)
        end = max((c.message_end_time for c in self.chunks), default=0)
        self.statistics = Statistics(
            total, len(self.schemas), len(self.channels), 0, 0, len(self.chunks), start, end, counts
        )
        self.connections[:] = [c._replace(msgcount=counts.get(c.id, 0)) for c in self.connections]
        self.metadata = self.metadata._replace(
            duration=end - start + 1 if total else 0,
            start_time=start if total else MAXSIZE,
            end_time=end + 1 if total else 0,
            message_count=total,
        )


def _string(rec: BytesIO) -> str:
    (size,) = struct.unpack("<I", rec.read(4))
    data = rec.read(size)
    if len(data) != size:
        raise ValueError("a string runs past its record")
    return data.decode()


class _RecoveringDirectory(DirectoryReader):
    STORAGE_PLUGINS: Mapping[str, type[ReaderProtocol]] = {
        **DirectoryReader.STORAGE_PLUGINS,
        "mcap": RecoveringMcapReader,
        "sqlite3": RecoveringSqlite3Reader,
    }


class RecoveringReader(Reader):
    """rosbags' Reader whose files (alone or in a rosbag2 folder) are recovered when a killed
    recorder left them: an mcap cut short, a db3 with its -wal or cut short (``db3_recovery``)."""

    STORAGE_PLUGINS: Mapping[str, type[ReaderProtocol]] = {
        **Reader.STORAGE_PLUGINS,
        "dir": _RecoveringDirectory,
        ".mcap": RecoveringMcapReader,
        ".db3": RecoveringSqlite3Reader,
    }


def chunk_times(storage: McapReader, chunk: ChunkInfo, channel_ids: set[int]) -> list[int]:
    """Record times of some channels' messages in a chunk whose MessageIndex records were cut off
    (the chunk is decompressed; rosbags' own chunk reader)."""
    assert storage.bio
    found = msgsrc(chunk, dict.fromkeys(channel_ids, None), 0, MAXSIZE, storage.bio)  # type: ignore[arg-type]  # only ids are looked up
    return [msg.timestamp for msg in found if msg.offset]


def combined(found: list[Recovery]) -> Recovery | None:
    """One report for the files of a rosbag2 folder that had to be scanned (None: none had)."""
    if len(found) <= 1:
        return found[0] if found else None
    used, total = sum(r.bytes_used for r in found), sum(r.bytes_total for r in found)
    reason = "; ".join(r.reason for r in found)
    chunks, messages = sum(r.chunks for r in found), sum(r.messages for r in found)
    return Recovery(reason, chunks, messages, used, total, total - used, sum(r.decompressed for r in found))
