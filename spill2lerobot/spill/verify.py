"""Finished chunks, checked before they are trusted: their statistics, shard, segments and samples.

Stage 1 checks the chunks its journal lists (and those committed after it) when it resumes and
redoes the damaged ones; merge checks every chunk before it writes anything, so a damaged spill is one line naming
the file and the chunk that the next stage 1 run will redo.
"""

from __future__ import annotations

import errno
import os
import stat
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from numpy.typing import NDArray

from spill2lerobot.spill.format import ChunkStats, JournalEntry, SpillDamaged, parse, read_json
from spill2lerobot.spill.journal import redo_from
from spill2lerobot.spill.layout import SpillLayout

# Errors of the disk or the system, not of the file's content: reported as such by the CLI.
DISK_ERRORS = (errno.EIO, errno.ENOSPC, errno.EDQUOT, errno.EACCES, errno.EPERM, errno.EROFS, errno.EMFILE)


class ChunkDamaged(SpillDamaged):
    """A chunk file is damaged: ``detail`` names the file and what is wrong; the message adds
    what to do (the next stage 1 run redoes that chunk)."""

    def __init__(self, path: Path, detail: str) -> None:
        self.chunk = int(path.name[6:11])
        self.detail = f"{path}: {detail}"
        super().__init__(f"{self.detail}; {redo_from(self.chunk)}")


@dataclass(frozen=True)
class ChunkShape:
    """What every finished chunk of a bag must hold."""

    cameras: tuple[str, ...]  # segment and statistics names
    state_dim: int
    action_dim: int
    topics: tuple[str, ...]  # the shard's source_ns:<topic> columns


def read_chunk_stats(layout: SpillLayout, bag_id: str, chunk: int, frames: int | None = None) -> ChunkStats:
    """chunk-NNNNN.stats.json, checked (and against the journal's frame count, when given)."""
    path = layout.chunk_stats(bag_id, chunk)
    try:
        stats = parse(ChunkStats, read_json(path), path, "")
    except FileNotFoundError:
        raise ChunkDamaged(path, "missing") from None
    except SpillDamaged as exc:
        raise ChunkDamaged(path, str(exc).removeprefix(f"{path}: ").removesuffix("; ")) from None
    if stats.chunk != chunk or (frames is not None and stats.frames != frames):
        raise ChunkDamaged(path, f"describes chunk {stats.chunk} of {stats.frames} frames, not this chunk")
    if any(cam.frames != stats.frames for cam in stats.cameras.values()):
        raise ChunkDamaged(path, "a camera's frame count differs from the chunk's")
    return stats


def chunk_problem(layout: SpillLayout, bag_id: str, entry: JournalEntry, shape: ChunkShape) -> str | None:
    """Why a journalled chunk cannot be used (one line naming the file), or None."""
    try:
        check_chunk(layout, bag_id, entry.chunk, entry.frames, shape)
    except ChunkDamaged as exc:
        return exc.detail
    return None


def check_chunk(layout: SpillLayout, bag_id: str, chunk: int, frames: int, shape: ChunkShape) -> None:
    """Raise ChunkDamaged if the journalled chunk's statistics, shard or segments are unusable."""
    stats = read_chunk_stats(layout, bag_id, chunk, frames)
    if sorted(stats.cameras) != sorted(shape.cameras):
        raise ChunkDamaged(layout.chunk_stats(bag_id, chunk), "other cameras than the profile's")
    check_shard(layout.shard(bag_id, chunk), frames, shape)
    for camera in shape.cameras:
        check_segment(layout.segment(bag_id, chunk, camera), frames)
        if read_samples(layout, bag_id, chunk, camera) is None and stats.cameras[camera].bag_moments is None:
            raise ChunkDamaged(layout.samples(bag_id, chunk, camera), "missing")


def first_damaged(
    layout: SpillLayout, bag_id: str, entries: list[JournalEntry], shape: ChunkShape
) -> tuple[int, str] | None:
    """The first journalled chunk that is damaged, with why, or None."""
    for entry in entries:
        problem = chunk_problem(layout, bag_id, entry, shape)
        if problem is not None:
            return entry.chunk, problem
    return None


def _regular_file(path: Path) -> None:
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        raise ChunkDamaged(path, "missing") from None
    if not stat.S_ISREG(info.st_mode) or info.st_size == 0:
        raise ChunkDamaged(path, "not a regular, non-empty file")


def check_shard(path: Path, frames: int, shape: ChunkShape) -> None:
    """The shard's footer: row count and the columns merge reads, with their types."""
    _regular_file(path)
    try:
        metadata = pq.ParquetFile(path).metadata
        schema = metadata.schema.to_arrow_schema()
    except (pa.ArrowException, OSError) as exc:
        if isinstance(exc, OSError) and exc.errno in DISK_ERRORS:
            raise
        raise ChunkDamaged(path, f"damaged Parquet shard ({_first_line(exc)})") from None
    expected = {
        "frame_index": pa.int64(),
        "target_ns": pa.int64(),
        "observation.state": pa.list_(pa.float32(), shape.state_dim),
        "action": pa.list_(pa.float32(), shape.action_dim),
        **{f"source_ns:{topic}": pa.int64() for topic in shape.topics},
    }
    for name, dtype in expected.items():
        index = schema.get_field_index(name)
        if index < 0 or not _same_type(schema.field(index).type, dtype):
            raise ChunkDamaged(path, f"column {name[:80]} missing or not {dtype}")
    if metadata.num_rows != frames:
        raise ChunkDamaged(path, f"{metadata.num_rows} rows, the journal says {frames}")


def _same_type(found: pa.DataType, expected: pa.DataType) -> bool:
    if pa.types.is_fixed_size_list(expected):
        return bool(
            pa.types.is_fixed_size_list(found)
            and found.list_size == expected.list_size
            and found.value_type == expected.value_type
        )
    return bool(found == expected)


def check_segment(path: Path, frames: int) -> None:
    """The segment opens as video and holds one packet per frame (demuxed, not decoded)."""
    _regular_file(path)
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise ChunkDamaged(path, "holds no video stream")
            packets = sum(1 for packet in container.demux(video=0) if packet.size)
    except (av.FFmpegError, ValueError, OSError) as exc:
        if isinstance(exc, OSError) and exc.errno in DISK_ERRORS:
            raise
        raise ChunkDamaged(path, f"damaged video segment ({_first_line(exc)})") from None
    if packets != frames:
        raise ChunkDamaged(path, f"{packets} frames, the journal says {frames}")


def read_shard_columns(path: Path, columns: list[str]) -> pa.Table:
    """A checked shard's columns; damage past its footer is still one line."""
    try:
        table = pq.read_table(path, columns=columns)
    except (pa.ArrowException, OSError) as exc:
        if isinstance(exc, OSError) and exc.errno in DISK_ERRORS:
            raise  # a disk error, reported as such by the CLI
        raise ChunkDamaged(path, f"damaged Parquet shard ({_first_line(exc)})") from None
    for name in columns:  # stage 1 writes no nulls: one is damage, and would shift values
        column = table.column(name)
        values = column.combine_chunks().flatten() if pa.types.is_fixed_size_list(column.type) else column
        if column.null_count or values.null_count:
            raise ChunkDamaged(path, f"column {name[:80]} holds missing values")
    return table


MAX_SAMPLES_BYTES = 2 * 1024**3


def read_samples(layout: SpillLayout, bag_id: str, chunk: int, camera: str) -> NDArray[np.uint8] | None:
    """A chunk's statistics pixels (``chunk-NNNNN.<camera>.samples.npy``), checked; None if the
    chunk has none (a spill written before they existed carries cumulative sums instead)."""
    path = layout.samples(bag_id, chunk, camera)
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return None
    if not stat.S_ISREG(info.st_mode) or info.st_size > MAX_SAMPLES_BYTES:
        raise ChunkDamaged(path, "not a regular file of bounded size")
    try:
        array = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        if isinstance(exc, OSError) and exc.errno in DISK_ERRORS:
            raise
        raise ChunkDamaged(path, f"damaged pixel samples ({_first_line(exc)})") from None
    if array.dtype != np.uint8 or array.ndim != 2 or not 1 <= array.shape[1] <= 4:
        raise ChunkDamaged(path, f"holds {array.dtype} {array.shape}, not (n, channels) uint8 pixels")
    pixels: NDArray[np.uint8] = array
    return pixels


def _first_line(exc: Exception) -> str:
    text = str(exc).strip()
    return text.splitlines()[0][:100] if text else type(exc).__name__
