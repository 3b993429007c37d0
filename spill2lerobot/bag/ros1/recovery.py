"""Reading a ROS1 bag whose index is missing or unusable: one sequential scan of the file.

``Ros1Bag(path, recover=True)`` reads bags whose index is missing or unusable: a ``.bag.active``
left by a crash (``index_pos`` = 0, no index at the end, maybe cut off in the middle of a chunk)
or a copy cut short. ``recover`` scans the file once from the first record, reading each Chunk
record's header and the IndexData records after it and seeking over the chunk data, and builds
the same connection and chunk-info lists the index would have given. A chunk is decompressed
only when the IndexData records cannot be trusted to describe it (missing, incomplete, or naming
a connection whose Connection record has not been seen yet); the scan stops at the first
incomplete or unreadable record, and the ``Recovery`` returned says what it found.
"""

from __future__ import annotations

import struct

import numpy as np

from spill2lerobot.bag.base import BagError, Recovery
from spill2lerobot.bag.bounded import size_problem
from spill2lerobot.bag.ros1.index import Ros1Index
from spill2lerobot.bag.ros1.records import (
    COMPRESSIONS,
    INDEX_ENTRY,
    MAX_HEADER,
    NS,
    OP_CHUNK,
    OP_CHUNK_INFO,
    OP_CONNECTION,
    OP_INDEX_DATA,
    U32,
    ChunkInfo,
    Connection,
    parse_connection,
    parse_header,
    record_op,
)

# Bytes read to see a record's header (chunk ~49, IndexData 55 with lengths).
_PEEK = 64
# Records that may appear between chunks (and in the index section at the end).
_TOP_LEVEL_OPS = frozenset({OP_CHUNK, OP_INDEX_DATA, OP_CONNECTION, OP_CHUNK_INFO})


class _ScanStop(Exception):
    """The recovery scan cannot trust the file from ``pos`` on."""

    def __init__(self, reason: str, pos: int) -> None:
        super().__init__(reason)
        self.reason = reason
        self.pos = pos


def recover(bag: Ros1Index, why: str, first: int) -> Recovery:
    """Give ``bag`` connections and chunk infos by scanning the file from ``first`` (see _Scanner)."""
    scan = _Scanner(bag)
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
    if not any(i.counts for i in infos):
        raise bag._fail(
            f"no complete chunk could be recovered ({reason}); nothing to read, copy or record the bag again"
        )
    bag._use_index(sorted(scan.conns.values(), key=lambda c: c.id), infos, scan.block_end)
    bag._no_index = scan.no_index
    return Recovery(
        reason=reason,
        chunks=len(scan.block_end),
        messages=sum(n for info in bag.chunks for n in info.counts.values()),
        bytes_used=used,
        bytes_total=bag._size,
        dropped_bytes=bag._size - used,
        decompressed=len(scan.walked),
    )


class _Scanner:
    """One sequential pass over a bag whose index cannot be used (for ``recover``).

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

    def __init__(self, bag: Ros1Index) -> None:
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
        (hlen,) = U32.unpack_from(head, 0)
        if not 0 < hlen <= MAX_HEADER:
            raise ValueError(f"header length {hlen}")
        if len(head) < 4 + hlen + 4:
            head = self.read(pos, 4 + hlen + 4)
            if len(head) < 4 + hlen + 4:
                raise EOFError
        fields = parse_header(head[4 : 4 + hlen])
        op = record_op(fields)
        if op not in _TOP_LEVEL_OPS:
            raise ValueError(f"op {op} does not belong between chunks")
        (dlen,) = U32.unpack_from(head, 4 + hlen)
        return fields, op, pos + 4 + hlen + 4, dlen

    def partial_op(self, pos: int) -> int | None:
        """The op of a record whose header the file cuts off, if the part left names it."""
        head = self.read(pos, _PEEK)
        at = 4
        while at + 4 <= len(head):
            (flen,) = U32.unpack_from(head, at)
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
                partial = self.partial_op(pos)
                if partial == OP_CHUNK:
                    return pos, f"truncated at byte {size} in the header of chunk {self.number + 1} at byte {pos}"
                if partial == OP_INDEX_DATA and self.open is not None:
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
                    usize = U32.unpack(fields["size"])[0]
                except (KeyError, ValueError, struct.error) as err:
                    return pos, f"damaged header of chunk {self.number} at byte {pos} ({err}); the rest is ignored"
                if compression not in COMPRESSIONS:
                    raise self.bag._unsupported(compression)
                if usize == 0 and dlen == 0:  # rosbag writes the sizes once the chunk is complete
                    return pos, (
                        f"chunk {self.number} at byte {pos} was never finished (recording interrupted);"
                        " it and the rest of the file are ignored"
                    )
                if end > size:
                    return pos, f"truncated at byte {size} in chunk {self.number} (which starts at byte {pos})"
                problem = size_problem(compression, dlen, usize)
                if problem is not None:  # a damaged chunk: as when it does not decompress
                    return pos, f"chunk {self.number} at byte {pos} {problem}; it and the rest of the file are ignored"
                self.open, self.index, self.index_end = pos, [], end
            elif op == OP_CONNECTION:  # top level: the index section
                if end > size:
                    return pos, f"truncated at byte {size} in a connection record at byte {pos}"
                try:
                    conn, _ = parse_connection(self.read(pos, end - pos), 0)
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
        if U32.unpack(fields["ver"])[0] != 1:
            raise ValueError("index data version is not 1")
        conn = U32.unpack(fields["conn"])[0]
        count = U32.unpack(fields["count"])[0]
        if dlen != 12 * count:
            raise ValueError(f"{dlen} bytes for {count} entries")
        if count == 0:
            return
        entries = np.frombuffer(self.read(dpos, dlen, _PEEK), INDEX_ENTRY, count)
        times = entries["sec"].astype(np.int64) * NS + entries["nsec"]
        self.index.append((conn, count, int(times.min()), int(times.max()), int(entries["offset"].min())))

    def close_chunk(self, trusted: bool) -> None:
        """Turn the open chunk and its IndexData records into a ChunkInfo (walking it if needed).

        ``trusted``: another record followed the IndexData records, so none is missing.
        """
        pos = self.open
        assert pos is not None
        self.open = None
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
        first: dict[int, int] = {}
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
