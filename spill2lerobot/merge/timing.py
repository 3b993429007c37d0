"""How far each topic's chosen message was from the frame time (pick record time minus frame
target time, from the shards' ``source_ns:<topic>`` columns), and on which frames faults were
counted: summaries for ``meta/spill2lerobot_report.json``, so ``preview`` needs only OUT/."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pyarrow.parquet as pq
from numpy.typing import NDArray

from spill2lerobot.merge.plan import ChunkRef, Episode, load_chunk_stats
from spill2lerobot.spill.layout import SpillLayout

# Fixed histogram bins of offsets in ms (the outer bins are open-ended): every report compares.
OFFSET_EDGES_MS: tuple[float, ...] = (-100, -50, -20, -10, -5, -2, -1, 0, 1, 2, 5, 10, 20, 50, 100)

Ranges = list[list[int]]  # [first, stop) frame ranges within an episode


def offset_summary(offsets_ms: NDArray[np.float64]) -> dict[str, Any]:
    """min/median/p95/max of |offset| aside, signed min and max, and counts in OFFSET_EDGES_MS bins
    (len(edges) + 1 counts: below the first edge, between edges, from the last edge on)."""
    if len(offsets_ms) == 0:
        return {"frames": 0}
    counts = np.bincount(np.searchsorted(OFFSET_EDGES_MS, offsets_ms, side="right"), minlength=len(OFFSET_EDGES_MS) + 1)
    magnitude = np.abs(offsets_ms)
    return {
        "frames": len(offsets_ms),
        "min_ms": round(float(offsets_ms.min()), 3),
        "median_ms": round(float(np.median(offsets_ms)), 3),
        "max_ms": round(float(offsets_ms.max()), 3),
        "p95_abs_ms": round(float(np.percentile(magnitude, 95)), 3),
        "max_abs_ms": round(float(magnitude.max()), 3),
        "counts": counts.tolist(),
    }


def frame_ranges(flags: NDArray[np.bool_]) -> Ranges:
    """Runs of True as [first, stop) pairs."""
    padded = np.concatenate([[False], flags, [False]]).astype(np.int8)
    changes = np.flatnonzero(np.diff(padded))
    return [[int(a), int(b)] for a, b in zip(changes[::2], changes[1::2], strict=True)]


def _pick_times(layout: SpillLayout, refs: Sequence[ChunkRef], topics: Sequence[str]) -> tuple[Any, dict[str, Any]]:
    """Target times and each topic's pick times over the chunks, in frame order (int64 ns)."""
    columns = ["target_ns", *(f"source_ns:{topic}" for topic in topics)]
    tables = [pq.read_table(layout.shard(ref.bag_id, ref.chunk), columns=columns) for ref in refs]
    target = np.concatenate([t.column("target_ns").to_numpy() for t in tables]).astype(np.int64)
    picks = {
        topic: np.concatenate([t.column(f"source_ns:{topic}").to_numpy() for t in tables]).astype(np.int64)
        for topic in topics
    }
    return target, picks


def _bad_image_ranges(layout: SpillLayout, refs: Sequence[ChunkRef]) -> dict[str, list[list[int]]]:
    """Per camera, [first, stop, count] of each chunk where bad (or filled) images were counted."""
    out: dict[str, list[list[int]]] = {}
    start = 0
    for ref in refs:
        for camera, cam in load_chunk_stats(layout, ref).cameras.items():
            count = cam.bad_frames + cam.filled_frames
            if count:
                out.setdefault(camera, []).append([start, start + ref.frames, count])
        start += ref.frames
    return out


def timing(layout: SpillLayout, refs: Sequence[ChunkRef], topics: Sequence[str], max_skew_ms: float) -> dict[str, Any]:
    """Offsets per topic and the frames where faults were counted, over these chunks."""
    target, picks = _pick_times(layout, refs, topics)
    offsets: dict[str, Any] = {}
    gaps: dict[str, Ranges] = {}
    repeated: dict[str, Ranges] = {}
    for topic, times in picks.items():
        delta_ms = (times - target) / 1e6
        offsets[topic] = offset_summary(delta_ms)
        gap = frame_ranges(np.abs(delta_ms) > max_skew_ms)
        again = frame_ranges(np.concatenate([[False], times[1:] == times[:-1]]))
        if gap:
            gaps[topic] = gap
        if again:
            repeated[topic] = again
    faults = {"gap_frames": gaps, "repeated_picks": repeated, "bad_images": _bad_image_ranges(layout, refs)}
    return {"offsets": offsets, "fault_frames": {kind: ranges for kind, ranges in faults.items() if ranges}}


def episode_timing(episodes: Sequence[Episode], max_skew_ms: float) -> list[dict[str, Any]]:
    """Per episode of one bag: its index, first frame in the bag, length, offsets and fault frames."""
    out = []
    for ep in episodes:
        first = ep.chunks[0].chunk * ep.plan.chunk_size
        details = timing(ep.spill, ep.chunks, ep.plan.topics, max_skew_ms)
        out.append({"episode": ep.index, "bag_frame": first, "frames": ep.length, **details})
    return out


def bag_offsets(episodes: Sequence[Episode]) -> dict[str, Any]:
    """The bag's offsets per topic over all its episodes' chunks."""
    refs = [ref for ep in episodes for ref in ep.chunks]
    target, picks = _pick_times(episodes[0].spill, refs, episodes[0].plan.topics)
    return {topic: offset_summary((times - target) / 1e6) for topic, times in picks.items()}
