"""A ROS1 bag file with counted, bounds-checked reads, and its chunks read and decompressed.

Every byte read goes through one helper (``_read_at``) that counts it (``bytes_read``), so a test
can prove that resuming near the end of a bag reads only the end, and that checks every length
read from the file against the bytes the file has before a buffer is sized by it. A chunk is
decompressed only if its declared size is sane, and never past that size (``bounded``): a
compression bomb is a damaged chunk, at the cost of a real one.
"""

from __future__ import annotations

import os
import struct
from pathlib import Path
from types import TracebackType
from typing import Self

from spill2lerobot.bag.base import BagError
from spill2lerobot.bag.bounded import decompress, size_problem
from spill2lerobot.bag.ros1.records import (
    COMPRESSIONS,
    MAX_HEADER,
    OP_CHUNK,
    U32,
    ChunkInfo,
    Connection,
    parse_header,
    record_op,
)
from spill2lerobot.bag.ros1.walk import survey

# Enough to hold a chunk record's header (about 41 bytes) in one read.
_CHUNK_HEAD_GUESS = 64


class Ros1File:
    """An open ROS1 bag file: counted reads, chunk headers, decompressed chunks."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.bytes_read = 0
        try:
            self._file = open(self.path, "rb", buffering=0)  # noqa: SIM115 - closed by close()
        except OSError as err:
            raise BagError(f"{self.path}: cannot open ({err.strerror}); pass a readable .bag file") from None
        try:
            self._size = os.fstat(self._file.fileno()).st_size
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

    def size_bytes(self) -> int:
        """Size of the bag file."""
        return self.path.stat().st_size

    # -- reads -------------------------------------------------------------------------------

    def _fail(self, what: str) -> BagError:
        return BagError(f"{self.path}: {what}")

    def _reason(self, err: BagError) -> str:
        """A BagError's message without the file name (for a recovery report)."""
        return str(err).removeprefix(f"{self.path}: ")

    def _read_at(self, pos: int, size: int) -> bytes:
        """Read exactly ``size`` bytes at ``pos``; every read of the reader passes here."""
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
        parts: list[bytes] = []
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

    def _read_upto(self, pos: int, size: int) -> bytes:
        """Read ``size`` bytes at ``pos``, fewer if the file ends first."""
        return self._read_at(pos, max(0, min(size, self._size - pos)))

    # -- chunks ------------------------------------------------------------------------------

    def _chunk_data_span(self, chunk: ChunkInfo) -> tuple[int, int, str, int]:
        """Read a Chunk record's header: (data pos, data len, compression, uncompressed size)."""
        head = self._read_at(chunk.pos, min(_CHUNK_HEAD_GUESS, self._size - chunk.pos))
        try:
            (hlen,) = U32.unpack_from(head, 0)
            if hlen > MAX_HEADER:
                raise ValueError(f"header length {hlen}")
            if 4 + hlen + 4 > len(head):
                head = self._read_at(chunk.pos, 4 + hlen + 4)
            fields = parse_header(head[4 : 4 + hlen])
            if record_op(fields) != OP_CHUNK:
                raise ValueError(f"expected a chunk record, found op {record_op(fields)}")
            compression = fields["compression"].decode()
            size = U32.unpack(fields["size"])[0]
            (dlen,) = U32.unpack_from(head, 4 + hlen)
        except (ValueError, KeyError, struct.error) as err:
            raise self._fail(f"chunk at offset {chunk.pos} is damaged ({err}); run `rosbag reindex`") from None
        if compression not in COMPRESSIONS:
            raise self._unsupported(compression)
        return chunk.pos + 4 + hlen + 4, dlen, compression, size

    def _unsupported(self, compression: str) -> BagError:
        return self._fail(
            f"unsupported chunk compression {compression[:40]!r}; decompress it with"
            " `rosbag decompress` (none, bz2 and lz4 are supported)"
        )

    def _chunk_buffer(self, chunk: ChunkInfo, span: tuple[int, int, str, int] | None = None) -> bytes:
        """A chunk's records, read and decompressed (checked against the header's size).

        The declared size is checked for sanity before anything is read, and decompression stops
        one byte past it: a chunk that lies about its size costs no more than a real one.
        ``span``: the chunk header's ``_chunk_data_span``, if already read.
        """
        data_pos, data_len, compression, size = span or self._chunk_data_span(chunk)
        problem = size_problem(compression, data_len, size)
        if problem is not None:
            raise self._fail(f"chunk at offset {chunk.pos} {problem}; the bag is damaged")
        raw = self._read_at(data_pos, data_len)
        try:
            buf = decompress(compression, raw, size)
        except (OSError, ValueError, RuntimeError) as err:
            raise self._fail(f"chunk at offset {chunk.pos} does not decompress ({err}); the bag is damaged") from None
        del raw
        if len(buf) != size:
            held = f"more than {size}" if len(buf) > size else str(len(buf))
            raise self._fail(f"chunk at offset {chunk.pos} holds {held} bytes, header says {size}; the bag is damaged")
        return buf

    # -- recovery ----------------------------------------------------------------------------

    def _survey_chunk(self, chunk: ChunkInfo) -> tuple[list[Connection], dict[int, list[int]]]:
        """A chunk's Connection records and its message times per connection (file order)."""
        buf = self._chunk_buffer(chunk)
        try:
            return survey(buf)
        except (ValueError, KeyError, struct.error) as err:
            raise self._fail(f"chunk at offset {chunk.pos} is damaged ({err})") from None
