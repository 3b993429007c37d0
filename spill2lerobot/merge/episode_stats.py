"""Per-episode statistics from the spill, one chunk in memory at a time."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from spill2lerobot.merge.plan import Episode, load_chunk_stats
from spill2lerobot.spill.depth import VALUES, add_depth_counts, depth_stats_from_counts
from spill2lerobot.spill.layout import SpillLayout
from spill2lerobot.spill.verify import read_shard_columns
from spill2lerobot.stats import PixelMoments, Stats, TwoPassStats, image_stats_from_counts

VECTOR_COLUMNS = ("observation.state", "action")


def episode_columns(
    layout: SpillLayout, episode: Episode, fps: int, task_index: int = 0
) -> Iterator[dict[str, np.ndarray]]:
    """The episode's dataset columns, chunk by chunk, as lerobot stores them."""
    frame = 0
    for ref in episode.chunks:
        table = read_shard_columns(layout.shard(ref.bag_id, ref.chunk), list(VECTOR_COLUMNS))
        n = table.num_rows
        frame_index = np.arange(frame, frame + n, dtype=np.int64)
        columns = {key: _matrix(table.column(key)) for key in VECTOR_COLUMNS}
        columns["timestamp"] = (frame_index / fps).astype(np.float32)
        columns["frame_index"] = frame_index
        columns["episode_index"] = np.full(n, episode.index, dtype=np.int64)
        columns["index"] = frame_index + episode.dataset_from
        columns["task_index"] = np.full(n, task_index, dtype=np.int64)
        yield columns
        frame += n


def _matrix(column) -> np.ndarray:
    chunked = column.combine_chunks()
    width = chunked.type.list_size
    return chunked.flatten().to_numpy(zero_copy_only=False).reshape(-1, width)


def lowdim_stats(layout: SpillLayout, episode: Episode, fps: int) -> dict[str, Stats]:
    """Two passes over the episode's shards: ranges first, then histograms (lerobot's bins)."""
    accumulators: dict[str, TwoPassStats] = {}
    for columns in episode_columns(layout, episode, fps):
        for key, values in columns.items():
            accumulators.setdefault(key, TwoPassStats()).see_range(values)
    for columns in episode_columns(layout, episode, fps):
        for key, values in columns.items():
            accumulators[key].add(values)
    return {key: acc.result() for key, acc in accumulators.items()}


def image_stats(layout: SpillLayout, episode: Episode, camera: str) -> Stats:
    counts = np.zeros((3, 256), dtype=np.int64)
    samples = 0
    moments = None
    for ref in episode.chunks:
        cam = load_chunk_stats(layout, ref)["cameras"][camera]
        counts += np.asarray(cam[f"{episode.sample_set}_counts"], dtype=np.int64)
        samples += cam[f"{episode.sample_set}_samples"]
        # a bag episode's sums run on through its chunks: the last chunk's are the episode's
        moments = cam.get(f"{episode.sample_set}_moments")
    return image_stats_from_counts(counts, samples, PixelMoments(state=moments) if moments else None)


def depth_stats(layout: SpillLayout, episode: Episode, camera: str) -> Stats:
    """A native depth camera's statistics (millimetres) from the chunks' sparse value counts."""
    counts = np.zeros(VALUES, dtype=np.int64)
    samples = 0
    for ref in episode.chunks:
        cam = load_chunk_stats(layout, ref)["cameras"][camera]
        add_depth_counts(counts, cam[f"{episode.sample_set}_counts"])
        samples += cam[f"{episode.sample_set}_samples"]
    return depth_stats_from_counts(counts, samples)
