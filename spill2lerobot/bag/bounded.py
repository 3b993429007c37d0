"""Decompression whose output is bounded by a declared size, for chunks a hostile bag may hold.

A bag's chunk header says how big the chunk is once decompressed; a bomb says 788 KB and holds
1 GB. Here the declared size is checked for sanity before anything is read or allocated
(``size_problem``), and decompression streams and stops one byte past it (``decompress``), so
memory follows the header, never the data: a mismatch is a damaged chunk like any other.
"""

from __future__ import annotations

import bz2
import importlib
from collections.abc import Callable
from types import ModuleType
from typing import Protocol

import lz4.frame

# rosbag writes chunks of ~768 KB (its default --chunksize) plus at most one message: 256 MiB
# fits any chunk size people set and any single camera or lidar message, while a chunk, the
# messages copied out of it and its compressed bytes stay well under 1 GB.
MAX_CHUNK_SIZE = 256 << 20
# Above 8 MiB a chunk may not claim more than 1000x its compressed size: lz4 cannot reach ~255x,
# bz2 and zstd exceed 1000x only on megabytes of near-constant data, while a bomb does by far
# (1 GB of zeros is 785 bytes of bz2). Smaller chunks may claim any ratio (they are cheap).
RATIO_FREE_SIZE = 8 << 20
MAX_RATIO = 1000

COMPRESSIONS = ("none", "bz2", "lz4", "zstd")


class _Decompressor(Protocol):
    """What bz2's and zstd's streaming decompressors offer."""

    @property
    def eof(self) -> bool: ...

    @property
    def needs_input(self) -> bool: ...

    @property
    def unused_data(self) -> bytes: ...

    def decompress(self, data: bytes, max_length: int = -1) -> bytes: ...


def size_problem(compression: str, data_len: int, size: int) -> str | None:
    """Why ``data_len`` compressed bytes cannot hold a chunk of ``size`` bytes (None if they can)."""
    if compression == "none" and data_len != size:
        return f"holds {data_len} bytes, header says {size}"
    if max(size, data_len) > MAX_CHUNK_SIZE:
        return f"declares {max(size, data_len)} bytes, more than the {MAX_CHUNK_SIZE >> 20} MiB a chunk may hold"
    if size > most_from(data_len):
        return f"declares {size} bytes from {data_len} compressed bytes (more than {MAX_RATIO}x)"
    return None


def most_from(data_len: int) -> int:
    """The most bytes ``data_len`` compressed bytes may give (for data without a declared size)."""
    return min(MAX_CHUNK_SIZE, max(RATIO_FREE_SIZE, MAX_RATIO * data_len))


def decompress(compression: str, data: bytes, size: int) -> bytes:
    """``data`` decompressed, but never more than ``size + 1`` bytes (one more: the header lied).

    bz2 and zstd: like their ``decompress`` functions, concatenated streams (frames) are read and
    trailing bytes that are no stream are ignored; lz4: one frame, like ``lz4.frame.decompress``.
    Damaged data raises ValueError.
    """
    if compression == "none":
        return data
    try:
        if compression == "lz4":
            decompressor = lz4.frame.LZ4FrameDecompressor()
            out: bytes = decompressor.decompress(data, max_length=size + 1)
            if not decompressor.eof and decompressor.needs_input:
                raise ValueError("the lz4 frame ends early")
            return out
        if compression == "bz2":
            return _streams(bz2.BZ2Decompressor, OSError, data, size + 1)
        if compression == "zstd":
            zstd = _zstd()
            return _streams(zstd.ZstdDecompressor, zstd.ZstdError, data, size + 1)
    except (OSError, RuntimeError, EOFError) as err:  # what the codecs raise on damaged data
        raise ValueError(f"{compression} data is damaged ({err})") from None
    raise ValueError(f"unknown compression {compression!r}")


def _streams(new: Callable[[], _Decompressor], error: type[Exception], data: bytes, limit: int) -> bytes:
    """Concatenated streams, up to ``limit`` bytes of output."""
    parts: list[bytes] = []
    while data and limit > 0:
        decompressor = new()
        try:
            part = decompressor.decompress(data, max_length=limit)
        except error as err:
            if parts:  # trailing bytes that are no stream: ignored, as bz2.decompress does
                break
            raise ValueError(str(err)) from None
        parts.append(part)
        limit -= len(part)
        if not decompressor.eof:
            if decompressor.needs_input:  # it wants more input than there is
                raise ValueError("the compressed stream ends early")
            break  # the limit is reached
        data = decompressor.unused_data
    return b"".join(parts)


def _zstd() -> ModuleType:
    """The zstd module rosbags uses (Python 3.14's, else the backport)."""
    try:
        return importlib.import_module("compression.zstd")
    except ImportError:
        return importlib.import_module("backports.zstd")
