"""Per-episode statistics from the spill, one chunk in memory at a time."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pyarrow as pa
from numpy.typing import NDArray

from spill2lerobot.merge.plan import ChunkRef, Episode, load_chunk_stats
from spill2lerobot.profiles import Robot
from spill2lerobot.spill.format import DepthCounts, Moments
from spill2lerobot.spill.layout import SpillLayout
from spill2lerobot.spill.verify import read_samples, read_shard_columns
from spill2lerobot.stats import (
    DEPTH_VALUES,
    PixelMoments,
    Stats,
    TwoPassStats,
    add_depth_counts,
    depth_stats_from_counts,
    image_stats_from_counts,
)

VECTOR_COLUMNS = ("observation.state", "action")


def episode_columns(
    layout: SpillLayout, episode: Episode, fps: int, robot: Robot | None = None
) -> Iterator[dict[str, NDArray[Any]]]:
    """The episode's dataset columns, chunk by chunk, as lerobot stores them; values made
    relative to the bag's first frame when the robot's options say so (``Robot.rebase``)."""
    first = _first_frame(layout, episode.bag.id) if robot is not None and robot.rebases() else None
    frame = 0
    for ref in episode.chunks:
        table = read_shard_columns(layout.shard(ref.bag_id, ref.chunk), list(VECTOR_COLUMNS))
        n = table.num_rows
        frame_index = np.arange(frame, frame + n, dtype=np.int64)
        columns = {key: _matrix(table.column(key)) for key in VECTOR_COLUMNS}
        if robot is not None and first is not None:
            state, action = robot.rebase(columns["observation.state"], columns["action"], *first)
            columns["observation.state"], columns["action"] = state, action
        columns["timestamp"] = (frame_index / fps).astype(np.float32)
        columns["frame_index"] = frame_index
        columns["episode_index"] = np.full(n, episode.index, dtype=np.int64)
        columns["index"] = frame_index + episode.dataset_from
        columns["task_index"] = np.full(n, episode.task_index, dtype=np.int64)
        yield columns
        frame += n


def _first_frame(layout: SpillLayout, bag_id: str) -> tuple[NDArray[Any], NDArray[Any]]:
    """The bag's first frame's stored state and action (its chunk 0), whatever the episode mode."""
    table = read_shard_columns(layout.shard(bag_id, 0), list(VECTOR_COLUMNS)).slice(0, 1)
    state, action = (_matrix(table.column(key))[0] for key in VECTOR_COLUMNS)
    return state, action


def _matrix(column: pa.ChunkedArray) -> NDArray[Any]:
    chunked = column.combine_chunks()
    width = chunked.type.list_size
    matrix: NDArray[Any] = chunked.flatten().to_numpy(zero_copy_only=False).reshape(-1, width)
    return matrix


def lowdim_stats(layout: SpillLayout, episode: Episode, fps: int, robot: Robot | None = None) -> dict[str, Stats]:
    """Two passes over the episode's shards: ranges first, then histograms (lerobot's bins)."""
    accumulators: dict[str, TwoPassStats] = {}
    for columns in episode_columns(layout, episode, fps, robot):
        for key, values in columns.items():
            accumulators.setdefault(key, TwoPassStats()).see_range(values)
    for columns in episode_columns(layout, episode, fps, robot):
        for key, values in columns.items():
            accumulators[key].add(values)
    return {key: acc.result() for key, acc in accumulators.items()}


def image_stats(layout: SpillLayout, episode: Episode, camera: str) -> Stats:
    counts = np.zeros((3, 256), dtype=np.int64)
    samples = 0
    sums: PixelMoments | None = PixelMoments()
    for ref in episode.chunks:
        cam = load_chunk_stats(layout, ref).cameras[camera]
        counts += np.asarray(cam.counts(episode.sample_set), dtype=np.int64)
        samples += cam.samples(episode.sample_set)
        if episode.sample_set == "chunk":
            sums = _moments(cam.chunk_moments)
        else:
            sums = _bag_sums(layout, ref, camera, sums, cam.bag_moments)
    return image_stats_from_counts(counts, samples, sums)


def _moments(stored: Moments | None) -> PixelMoments | None:
    return PixelMoments(state=stored.model_dump()) if stored is not None else None


def _bag_sums(
    layout: SpillLayout, ref: ChunkRef, camera: str, sums: PixelMoments | None, stored: Moments | None
) -> PixelMoments | None:
    """A bag episode's float32 sums after this chunk: its sampled pixels added to the previous
    chunks' sums (lerobot's order); a chunk of an older spill carries the cumulative sums itself."""
    pixels = read_samples(layout, ref.bag_id, ref.chunk, camera)
    if pixels is None:
        return _moments(stored)
    if sums is not None:
        sums.add_pixels(pixels)
    return sums


def depth_stats(layout: SpillLayout, episode: Episode, camera: str) -> Stats:
    """A native depth camera's statistics (millimetres) from the chunks' sparse value counts."""
    counts = np.zeros(DEPTH_VALUES, dtype=np.int64)
    samples = 0
    for ref in episode.chunks:
        cam = load_chunk_stats(layout, ref).cameras[camera]
        stored = cam.counts(episode.sample_set)
        if isinstance(stored, DepthCounts):  # the colour layout when the chunk had no sample
            add_depth_counts(counts, stored.values, stored.counts)
        samples += cam.samples(episode.sample_set)
    return depth_stats_from_counts(counts, samples)
