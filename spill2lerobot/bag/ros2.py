"""ROS2 bags (rosbag2: ``.mcap``, ``.db3``, or a folder with ``metadata.yaml``) behind the
interface stage 1 uses of ``Ros1Bag``: ``topics()``, ``topic_times()``, ``last_time()``,
``messages()`` in record-time order from a start time, ``typestore()``, ``bytes_read``.

Built on ``rosbags.rosbag2.Reader`` (its storages do the reading); the timeline queries go to
each storage's own index so that no per-message index of the whole bag is ever held:

* ``.db3``: SQL on the ``messages`` table (``timestamp`` of one topic; ``max(timestamp)``).
  SQLite streams the rows; the result is 8 bytes per message of that topic.
* ``.mcap`` with a summary (what rosbag2 and rosbags write): the MessageIndex records that
  follow each chunk (16 bytes per message of the asked topic, read per chunk, no message data).
  rosbags itself keeps one ChunkIndex record per chunk (about 100 bytes per MB of bag).
  An mcap without a summary (cut short) has no index: rosbags then scans the file for each
  query (flat memory, but reads every chunk once per query).
* ``messages()``: rosbags' storages stream (mcap: one decompressed chunk at a time, merged in
  time order; db3: one SQL cursor ordered by ``timestamp, id``); the storage files of a split
  bag are merged by time (ties: file order).

Messages are CDR: ``deserialize_raw`` uses the typestore's ``deserialize_cdr``.

Bounded work on hostile input (see ``bounded``): mcap chunks (lz4, zstd) are decompressed no
further than the size their chunk record declares, which must be sane (rosbags' decompressors
are replaced by bounded ones at import); messages of rosbag2's zstd "message" mode no further
than ``bounded.most_from`` their compressed size. Any damage met while streaming is a BagError.
Not bounded here: rosbag2's zstd "file" mode, which rosbags decompresses whole to a temporary
folder when the bag is opened (disk, not memory), and the lengths rosbags reads from mcap records
without checking them against the file (a huge one is a MemoryError, reported as damage).
"""

from __future__ import annotations

import heapq
import sqlite3
import struct
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from rosbags.rosbag2 import Reader, ReaderError, storage_mcap
from rosbags.rosbag2.reader import DirectoryReader
from rosbags.rosbag2.storage_mcap import McapReader
from rosbags.rosbag2.storage_sqlite3 import Sqlite3Reader

from spill2lerobot.bag.base import BagError, Chosen, ImageCutter, Message, Recovery, Times, TopicInfo, keep_chosen
from spill2lerobot.bag.bounded import decompress, most_from, size_problem
from spill2lerobot.bag.db3_recovery import RecoveringSqlite3Reader
from spill2lerobot.bag.mcap_recovery import RecoveringMcapReader, RecoveringReader, chunk_times, combined
from spill2lerobot.bag.msgdef import typestore_for_connections
from spill2lerobot.bag.wire import COMPRESSED_IMAGE, RAW_IMAGE, cdr_compressed_image_data, cdr_raw_image

if TYPE_CHECKING:
    from types import TracebackType
    from typing import Self

    from rosbags.interfaces import Connection
    from rosbags.rosbag2.storage_mcap import ChunkInfo
    from rosbags.typesys.store import Typestore

# The storages this reader knows how to query (each file of a rosbag2 folder is one).
_Storage = McapReader | Sqlite3Reader

ROS2_SUFFIXES = (".mcap", ".db3")
_MCAP_INDEX_ENTRY = np.dtype([("time", "<u8"), ("offset", "<u8")])
_U16_U32 = struct.Struct("<HI")
# What reading a damaged bag raises from inside rosbags (and the bounded decompressors); rosbags
# sizes some reads by lengths from the file unchecked, hence MemoryError.
_DAMAGE = (ReaderError, ValueError, struct.error, RuntimeError, EOFError, MemoryError, sqlite3.DatabaseError)


def _bounded_mcap(compression: str) -> Callable[[bytes, int], bytes]:
    """A decompressor for rosbags' mcap reader: (data, declared size) -> at most size + 1 bytes."""

    def run(data: bytes, size: int) -> bytes:
        problem = size_problem(compression, len(data), size)
        if problem is not None:
            raise ReaderError(f"mcap chunk {problem}")
        return decompress(compression, data, size)  # rosbags then checks the size

    return run


# rosbags' own entries decompress whatever a chunk holds (a bomb: gigabytes); its ``decompress``
# looks them up here on every chunk. tests/bag/test_bounds.py checks that these are in use.
storage_mcap.DECOMPRESSORS.update({name: _bounded_mcap(name) for name in ("lz4", "zstd")})


def is_ros2_bag(path: Path) -> bool:
    """A ``.mcap``/``.db3`` file, or a rosbag2 folder (holding ``metadata.yaml``)."""
    if path.is_dir():
        return (path / "metadata.yaml").is_file()
    return path.suffix in ROS2_SUFFIXES


class Ros2Bag:
    """A rosbag2 bag opened for index queries and time-ordered streaming of chosen topics."""

    serialization = "cdr"

    def __init__(self, path: str | Path, recover: bool = False) -> None:
        self.path = Path(path)
        self.bytes_read = 0  # message bytes streamed plus index bytes read (storage overhead not counted)
        self.recovery: Recovery | None = None  # an .mcap cut short, scanned (``recover``; bag.mcap_recovery)
        self._typestore: Typestore | None = None
        try:
            self._reader = (RecoveringReader if recover else Reader)(self.path)
            self._reader.open()
        except (OSError, KeyError, *_DAMAGE) as exc:
            detail = str(exc).strip().splitlines()[0][:160] if str(exc).strip() else type(exc).__name__
            raise BagError(
                f"{self.path}: cannot read this ROS2 bag ({detail}); pass a .mcap/.db3 file or a rosbag2 folder"
            ) from None
        storage = self._reader.storage
        self._compressed = False
        if isinstance(storage, DirectoryReader):
            storages = list(storage.storages)
            self._compressed = storage.metadata.compression_mode == "message"
        else:
            storages = [storage]
        for store in storages:
            if not isinstance(store, McapReader | Sqlite3Reader):
                self.close()
                raise BagError(f"{self.path}: unsupported rosbag2 storage {type(store).__name__}")
        self._storages: list[_Storage] = [s for s in storages if isinstance(s, McapReader | Sqlite3Reader)]
        recovering = (RecoveringMcapReader, RecoveringSqlite3Reader)
        self.recovery = combined([s.recovery for s in storages if isinstance(s, recovering) and s.recovery])
        if self.recovery is not None and not any(s.metadata.message_count for s in self._storages):
            self.close()
            raise BagError(f"{self.path}: no complete message to recover ({self.recovery.reason}); copy the bag again")

    def close(self) -> None:
        reader = getattr(self, "_reader", None)
        if reader is not None and reader.is_open:
            reader.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # -- index-only queries ------------------------------------------------------------------

    @property
    def start_ns(self) -> int:
        """Record time of the first message (0 for an empty bag)."""
        if self.recovery is not None:  # a folder's metadata.yaml counts what the cut file lost
            return min((s.metadata.start_time for s in self._storages if s.metadata.message_count), default=0)
        return self._reader.start_time if self._reader.message_count else 0

    @property
    def end_ns(self) -> int:
        """Record time of the last message (0 for an empty bag)."""
        if self.recovery is not None:
            return max((s.metadata.end_time - 1 for s in self._storages if s.metadata.message_count), default=0)
        return self._reader.end_time - 1 if self._reader.message_count else 0

    @property
    def chunks(self) -> list[ChunkInfo]:
        """The mcap chunks of every storage file (a .db3 has none)."""
        return [chunk for store in self._storages if isinstance(store, McapReader) for chunk in store.chunks]

    def compressions(self) -> list[str]:
        """Compression of the bag (rosbag2 zstd mode) or of its mcap chunks."""
        mode = self._reader.compression_mode
        found = [f"{self._reader.compression_format} ({mode})"] if mode else []
        for chunk in self.chunks:
            name = chunk.compression or "none"
            if name not in found:
                found.append(name)
        return found

    def size_bytes(self) -> int:
        if self.path.is_dir():
            return sum(f.stat().st_size for f in self.path.iterdir() if f.is_file())
        return self.path.stat().st_size

    def topics(self) -> dict[str, TopicInfo]:
        """Every topic with its type and message count."""
        out: dict[str, TopicInfo] = {}
        counts: dict[str, int] = {}
        for conn in (c for s in self._storages for c in s.connections) if self.recovery else ():
            counts[conn.topic] = counts.get(conn.topic, 0) + conn.msgcount  # what the files still hold
        for topic, info in self._reader.topics.items():
            msgtype = info.msgtype or info.connections[0].msgtype
            out[topic] = TopicInfo(msgtype, counts.get(topic, info.msgcount), tuple(c.id for c in info.connections))
        return out

    def message_count(self, topic: str) -> int:
        self._require(topic)
        return self.topics()[topic].count

    def _require(self, topic: str) -> None:
        if topic not in self._reader.topics:
            known = ", ".join(sorted(self._reader.topics))
            raise BagError(f"{self.path}: no topic {topic!r} in this bag; pick one of: {known}")

    @staticmethod
    def _connections(storage: _Storage, topics: Iterable[str]) -> list[Connection]:
        wanted = set(topics)
        return [c for c in storage.connections if c.topic in wanted]

    def topic_times(self, topic: str) -> Times:
        """Sorted record times (int64 ns) of a topic, from the storages' indexes."""
        self._require(topic)
        parts = [self._storage_times(store, topic) for store in self._storages]
        parts = [p for p in parts if len(p)]
        if not parts:
            return np.zeros(0, np.int64)
        return np.sort(np.concatenate(parts), kind="stable")

    def topics_times(self, topics: Iterable[str]) -> dict[str, Times]:
        """``topic_times`` of several topics (those with messages)."""
        return {topic: times for topic in topics if len(times := self.topic_times(topic))}

    def _storage_times(self, storage: _Storage, topic: str) -> Times:
        conns = self._connections(storage, [topic])
        if not conns:
            return np.zeros(0, np.int64)
        if isinstance(storage, Sqlite3Reader):
            ids = [c.id for c in conns]
            query = f"SELECT timestamp FROM messages WHERE topic_id IN ({','.join('?' * len(ids))}) ORDER BY timestamp"
            times = np.fromiter((row[0] for row in _db(storage).execute(query, ids)), np.int64)
            self.bytes_read += 8 * len(times)
            return times
        if storage.chunks:
            return self._mcap_times(storage, {c.id for c in conns}, storage.chunks)
        # No summary: rosbags scans the file (reads message data; memory stays flat).
        return np.fromiter((t for _, t, _ in storage.messages(conns)), np.int64)

    def _mcap_times(self, storage: McapReader, channel_ids: set[int], chunks: Iterable[ChunkInfo]) -> Times:
        """Record times of some channels in some chunks, from the MessageIndex records."""
        out = []
        with storage.path.open("rb") as file:
            for chunk in chunks:
                for cid in channel_ids:
                    offset = chunk.message_index_offsets.get(cid)
                    if offset is None:
                        if chunk.channel_count.get(cid):  # a recovered chunk whose index was cut off
                            out.append(np.array(chunk_times(storage, chunk, {cid}), np.int64))
                        continue
                    file.seek(offset)
                    head = file.read(1 + 8 + 6)
                    if len(head) != 15 or head[0] != 0x07:
                        raise BagError(f"{self.path}: mcap message index at offset {offset} is damaged")
                    channel, size = _U16_U32.unpack_from(head, 9)
                    data = file.read(size)
                    if channel != cid or len(data) != size or size % 16:
                        raise BagError(f"{self.path}: mcap message index at offset {offset} is damaged")
                    self.bytes_read += 15 + size
                    out.append(np.frombuffer(data, _MCAP_INDEX_ENTRY)["time"].astype(np.int64))
        return np.concatenate(out) if out else np.zeros(0, np.int64)

    def last_time(self, topic: str) -> int:
        """Record time of a topic's last message, reading as little index as possible."""
        self._require(topic)
        best: int | None = None
        for storage in self._storages:
            conns = self._connections(storage, [topic])
            if not conns:
                continue
            if isinstance(storage, Sqlite3Reader):
                ids = [c.id for c in conns]
                query = f"SELECT max(timestamp) FROM messages WHERE topic_id IN ({','.join('?' * len(ids))})"
                found = next(iter(_db(storage).execute(query, ids)))[0]
            elif storage.chunks:
                channels = {c.id for c in conns}
                found = None
                # Chunks may overlap in time: visit by end time, stop once none can be later.
                for chunk in sorted(storage.chunks, key=lambda c: -c.message_end_time):
                    if not channels & chunk.channel_count.keys():
                        continue
                    if found is not None and chunk.message_end_time <= found:
                        break
                    times = self._mcap_times(storage, channels, [chunk])
                    if len(times):
                        found = max(found or 0, int(times.max()))
            else:
                times = self._storage_times(storage, topic)
                found = int(times.max()) if len(times) else None
            if found is not None and (best is None or found > best):
                best = int(found)
        if best is None:
            raise BagError(f"{self.path}: topic {topic!r} has no messages; pick a topic that has some")
        return best

    # -- streaming ---------------------------------------------------------------------------

    def messages(
        self, topics: Iterable[str], start_ns: int = 0, stop_ns: int | None = None, only: Chosen | None = None
    ) -> Iterator[Message]:
        """Messages of ``topics`` with start_ns <= time <= stop_ns, in record-time order (ties:
        storage file order, then order within the file); ``only`` filters what rosbags read."""
        topics = [topics] if isinstance(topics, str) else list(topics)
        for topic in topics:
            self._require(topic)
        streams = [self._storage_messages(s, topics, start_ns, stop_ns) for s in self._storages]
        merged = streams[0] if len(streams) == 1 else heapq.merge(*streams, key=lambda m: m.time_ns)
        return keep_chosen(merged, only) if only else merged

    def _storage_messages(
        self, storage: _Storage, topics: list[str], start_ns: int, stop_ns: int | None
    ) -> Iterator[Message]:
        conns = self._connections(storage, topics)
        if not conns:
            return
        stop = None if stop_ns is None else stop_ns + 1  # rosbags' stop is exclusive
        if isinstance(storage, Sqlite3Reader):
            rows = self._sqlite_rows(storage, conns, start_ns, stop)
        else:
            rows = storage.messages(conns, start_ns, stop)
        try:
            for conn, t, data in rows:
                if self._compressed:
                    data = _decompress_message(data)
                self.bytes_read += len(data)
                yield Message(conn.topic, t, data, conn)
        except _DAMAGE as exc:  # a damaged chunk or message: one line, like a ROS1 bag's
            detail = str(exc).strip().splitlines()[0][:160] if str(exc).strip() else type(exc).__name__
            raise BagError(f"{self.path}: a chunk or message is damaged ({detail}); copy the bag again") from None

    @staticmethod
    def _sqlite_rows(
        storage: Sqlite3Reader, conns: list[Connection], start_ns: int, stop: int | None
    ) -> Iterator[tuple[Connection, int, bytes]]:
        """Like rosbags' query, with ties in insertion order (``id``) so that a resumed read
        sees equal-time messages in the same order as a full one."""
        by_id = {c.id: c for c in conns}
        query = (
            "SELECT topic_id, timestamp, data FROM messages "
            f"WHERE topic_id IN ({','.join('?' * len(by_id))}) AND timestamp >= ?"
        )
        args: list[int] = [*by_id, start_ns]
        if stop is not None:
            query += " AND timestamp < ?"
            args.append(stop)
        query += " ORDER BY timestamp, id"
        for cid, t, data in _db(storage).execute(query, args):
            yield by_id[cid], t, data

    # -- deserialization ---------------------------------------------------------------------

    def typestore(self) -> Typestore:
        """ROS2 (Humble) standard types extended with the definitions stored in the bag."""
        if self._typestore is None:
            self._typestore = typestore_for_connections(self._reader.connections)
        return self._typestore

    def deserialize_raw(self, data: bytes | memoryview, msgtype: str) -> object:
        return self.typestore().deserialize_cdr(bytes(data) if isinstance(data, memoryview) else data, msgtype)

    def deserialize(self, msg: Message) -> object:
        return self.deserialize_raw(msg.data, msg.connection.msgtype)

    def image_of(self, msgtype: str) -> ImageCutter:
        """What the camera worker needs of an image message: a CompressedImage's data, or a raw
        Image's picture fields (ValueError if it is cut short, a bad frame)."""
        return cdr_raw_image if msgtype == RAW_IMAGE else self.compressed_image_data

    def compressed_image_data(self, payload: bytes | memoryview) -> bytes:
        """The ``data`` of a CDR sensor_msgs/CompressedImage, without deserializing it (b"" if
        the message is damaged: the camera worker then counts an undecodable image)."""
        try:
            return cdr_compressed_image_data(payload)
        except ValueError:
            try:  # big-endian CDR: rare, take the slow path
                return bytes(self.deserialize_raw(bytes(payload), COMPRESSED_IMAGE).data)  # type: ignore[attr-defined]
            except Exception:  # rosbags raises many types for damaged bytes
                return b""


def _db(storage: Sqlite3Reader) -> Any:
    """The open SQLite connection of a .db3 storage (open while the bag is)."""
    assert storage.dbconn is not None, "the bag is closed"
    return storage.dbconn


def _decompress_message(data: bytes) -> bytes:
    """A message of rosbag2's zstd "message" mode, no bigger than ``bounded.most_from`` allows."""
    limit = most_from(len(data))
    out = decompress("zstd", data, limit)
    if len(out) > limit:
        raise ValueError(f"a message of {len(data)} compressed bytes holds more than {limit} bytes")
    return out
