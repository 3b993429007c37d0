"""Feature statistics exactly as lerobot 0.6.1 defines them, computed in bounded memory.

lerobot computes an episode's statistics from the whole episode at once: min, max, mean, std,
count and quantiles q01..q99 read off a 5000-bin histogram spanning [min, max]. Here the same
histogram is built batch by batch: a first pass finds min and max, a second fills the bins.
Images: lerobot samples frames, subsamples pixels, and takes per-channel statistics of the
uint8 values; 256 counts per channel say everything about those, so chunks carry just that.
Dataset statistics aggregate the episodes' like lerobot's ``aggregate_stats``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

QUANTILES = (0.01, 0.10, 0.50, 0.90, 0.99)
QUANTILE_KEYS = tuple(f"q{int(q * 100):02d}" for q in QUANTILES)
NUM_BINS = 5000
STAT_KEYS = ("min", "max", "mean", "std", "count", *QUANTILE_KEYS)

Stats = dict[str, NDArray[Any]]


# --- which frames lerobot samples for image statistics -------------------------------------


def estimate_num_samples(length: int, min_samples: int = 100, max_samples: int = 10_000, power: float = 0.75) -> int:
    min_samples = min(min_samples, length)
    return max(min_samples, min(int(length**power), max_samples))


def sample_indices(length: int) -> NDArray[Any]:
    """Frame indices (within an episode of ``length`` frames) lerobot reads for image stats."""
    return np.round(np.linspace(0, length - 1, estimate_num_samples(length))).astype(int)


def downsample_for_stats(rgb: NDArray[Any]) -> NDArray[Any]:
    """HxWx3 -> the pixel subset lerobot uses (every k-th row and column, ~150 px wide)."""
    height, width = rgb.shape[:2]
    if max(width, height) < 300:
        return rgb
    step = int(width / 150) if width > height else int(height / 150)
    return rgb[::step, ::step]


def stats_pixels(rgb: NDArray[Any]) -> NDArray[Any]:
    """HxWxC -> (n, C): the pixels lerobot's statistics see of one frame, in its order."""
    return downsample_for_stats(rgb).reshape(-1, rgb.shape[-1])


def channel_value_counts(rgb: NDArray[Any]) -> NDArray[Any]:
    """(3, 256) int64: how often each uint8 value occurs per channel in the stats pixels."""
    pixels = downsample_for_stats(rgb).reshape(-1, rgb.shape[-1])
    return np.stack([np.bincount(pixels[:, c], minlength=256) for c in range(pixels.shape[1])])


class PixelMoments:
    """lerobot's image mean and mean of squares, bit for bit, in bounded memory.

    lerobot averages the sampled pixels of an episode as one float32 array with ``np.mean(axis=0)``,
    which adds the pixels one after another in float32 and so drifts by ~1e-3 relative over a few
    million pixels. Adding each frame's pixels in the same order with a float32 ``cumsum``,
    carried from frame to frame and chunk to chunk, reproduces that sum exactly; the exact
    value counts still give min, max and the quantiles.
    """

    def __init__(self, channels: int = 3, state: dict[str, Any] | None = None) -> None:
        self.sum = np.zeros(channels, dtype=np.float32)
        self.sum_sq = np.zeros(channels, dtype=np.float32)
        self.pixels = 0
        if state is not None:
            self.sum[:] = np.asarray(state["sum"], dtype=np.float32)
            self.sum_sq[:] = np.asarray(state["sum_sq"], dtype=np.float32)
            self.pixels = int(state["pixels"])

    def add(self, rgb: NDArray[Any]) -> None:
        self.add_pixels(stats_pixels(rgb))

    def add_pixels(self, values: NDArray[Any]) -> None:
        """Add (n, channels) pixel values (``stats_pixels`` of one or more frames, in order)."""
        pixels = values.astype(np.float32)
        self.sum = np.cumsum(np.concatenate([self.sum[None], pixels]), axis=0, dtype=np.float32)[-1]
        self.sum_sq = np.cumsum(np.concatenate([self.sum_sq[None], pixels**2]), axis=0, dtype=np.float32)[-1]
        self.pixels += len(pixels)

    def mean_std(self) -> tuple[NDArray[Any], NDArray[Any]]:
        """float32 mean and std of the pixel values (0..255), as lerobot's RunningQuantileStats."""
        mean = self.sum / self.pixels
        variance = self.sum_sq / self.pixels - mean**2
        return mean, np.sqrt(np.maximum(0, variance))

    def state(self) -> dict[str, Any]:
        # float32 values are exact as JSON floats (Python floats are float64)
        return {"sum": self.sum.tolist(), "sum_sq": self.sum_sq.tolist(), "pixels": self.pixels}


# --- histogram quantiles --------------------------------------------------------------------


def _edges(lo: float, hi: float) -> NDArray[Any]:
    return np.linspace(lo - 1e-10, hi + 1e-10, NUM_BINS + 1)


def _quantile_from_histogram(hist: NDArray[Any], edges: NDArray[Any], target: float) -> float:
    """Linear interpolation inside the bin where the cumulative count reaches ``target``."""
    cumulative = np.cumsum(hist)
    idx = int(np.searchsorted(cumulative, target))
    if idx == 0:
        return float(edges[0])
    if idx >= len(cumulative):
        return float(edges[-1])
    before = cumulative[idx - 1]
    in_bin = cumulative[idx] - before
    if in_bin == 0:
        return float(edges[idx])
    return float(edges[idx] + (target - before) / in_bin * (edges[idx + 1] - edges[idx]))


class TwoPassStats:
    """Statistics of a stream of (n, d) batches: call ``see_range`` on all, then ``add`` on all."""

    def __init__(self) -> None:
        self.min: NDArray[Any] | None = None
        self.max: NDArray[Any] | None = None
        self._hist: NDArray[Any] | None = None
        self._edges: list[NDArray[Any]] = []
        self._sum: NDArray[Any] | None = None
        self._sumsq: NDArray[Any] | None = None
        self.count = 0

    def see_range(self, batch: NDArray[Any]) -> None:
        batch = _as_2d(batch)
        if len(batch) == 0:
            return
        lo, hi = batch.min(axis=0), batch.max(axis=0)
        self.min = lo if self.min is None else np.minimum(self.min, lo)
        self.max = hi if self.max is None else np.maximum(self.max, hi)

    def add(self, batch: NDArray[Any]) -> None:
        batch = _as_2d(batch).astype(np.float64)
        if len(batch) == 0:
            return
        if self._hist is None:
            assert self.min is not None and self.max is not None, "see_range first"
            dims = batch.shape[1]
            self._edges = [_edges(float(self.min[i]), float(self.max[i])) for i in range(dims)]
            self._hist = np.zeros((dims, NUM_BINS))
            self._sum = np.zeros(dims)
            self._sumsq = np.zeros(dims)
        for i, edges in enumerate(self._edges):
            self._hist[i] += np.histogram(batch[:, i], bins=edges)[0]
        self._sum += batch.sum(axis=0)
        self._sumsq += (batch**2).sum(axis=0)
        self.count += len(batch)

    def result(self) -> Stats:
        assert self._sum is not None and self._sumsq is not None and self._hist is not None, "add first"
        assert self.min is not None and self.max is not None, "see_range first"
        mean = self._sum / self.count
        std = np.sqrt(np.maximum(0.0, self._sumsq / self.count - mean**2))
        stats: Stats = {
            "min": self.min.astype(np.float64),
            "max": self.max.astype(np.float64),
            "mean": mean,
            "std": std,
            "count": np.array([self.count]),
        }
        for q, key in zip(QUANTILES, QUANTILE_KEYS, strict=True):
            if self.count < 2:  # lerobot's rule for a single sample: quantiles = mean
                stats[key] = np.array(mean, copy=True)
            else:
                stats[key] = np.array(
                    [
                        _quantile_from_histogram(h, e, q * self.count)
                        for h, e in zip(self._hist, self._edges, strict=True)
                    ]
                )
        return stats


def _as_2d(batch: NDArray[Any]) -> NDArray[Any]:
    batch = np.asarray(batch)
    return batch.reshape(-1, 1) if batch.ndim == 1 else batch


def stats_of_batches(batches: Iterable[NDArray[Any]] | Sequence[NDArray[Any]]) -> Stats:
    """Convenience for in-memory batches (tests, small arrays)."""
    batches = list(batches)
    acc = TwoPassStats()
    for batch in batches:
        acc.see_range(batch)
    for batch in batches:
        acc.add(batch)
    return acc.result()


def image_stats_from_counts(counts: NDArray[Any], num_frames: int, moments: PixelMoments | None = None) -> Stats:
    """Per-channel stats in [0, 1] (shape (C, 1, 1)) from (C, 256) value counts of sampled frames.

    With ``moments`` (the same pixels' float32 running sums), mean and std are lerobot's float32
    values rather than the exact ones the counts give."""
    counts = np.asarray(counts, dtype=np.float64)
    values = np.arange(counts.shape[1], dtype=np.float64)
    out: dict[str, list[float]] = {key: [] for key in STAT_KEYS if key != "count"}
    for channel in counts:
        total = channel.sum()
        present = np.nonzero(channel)[0]
        lo, hi = float(present[0]), float(present[-1])
        mean = float((values * channel).sum() / total)
        meansq = float((values**2 * channel).sum() / total)
        out["min"].append(lo)
        out["max"].append(hi)
        out["mean"].append(mean)
        out["std"].append(float(np.sqrt(max(0.0, meansq - mean**2))))
        edges = _edges(lo, hi)
        hist = np.histogram(values, bins=edges, weights=channel)[0]
        for q, key in zip(QUANTILES, QUANTILE_KEYS, strict=True):
            out[key].append(_quantile_from_histogram(hist, edges, q * total))
    stats: Stats = {key: (np.array(vals) / 255.0).reshape(-1, 1, 1) for key, vals in out.items()}
    if moments is not None and moments.pixels:
        mean32, std32 = moments.mean_std()
        stats["mean"] = (mean32 / 255.0).astype(np.float64).reshape(-1, 1, 1)
        stats["std"] = (std32 / 255.0).astype(np.float64).reshape(-1, 1, 1)
    stats["count"] = np.array([num_frames])
    return stats


# --- depth (uint16 millimetres) ------------------------------------------------------------

DEPTH_VALUES = 65536  # uint16 millimetres: value counts per sampled frame set are exact and bounded


def counts_json(counts: NDArray[Any]) -> list[Any] | dict[str, list[int]]:
    """Value counts for chunk-NNNNN.stats.json: colour (C, 256) as lists; depth (1, 65536)
    sparsely, ``{"values": [...], "counts": [...]}`` of the values present."""
    counts = np.asarray(counts)
    if counts.shape[-1] != DEPTH_VALUES:
        listed: list[Any] = counts.tolist()
        return listed
    values = np.nonzero(counts[0])[0]
    return {"values": values.tolist(), "counts": counts[0, values].tolist()}


def add_depth_counts(total: NDArray[Any], values: Sequence[int], counts: Sequence[int]) -> None:
    """Add a chunk's sparse depth value counts to ``total`` (DEPTH_VALUES counts)."""
    np.add.at(total, np.asarray(values, dtype=np.int64), np.asarray(counts, dtype=np.int64))


def depth_stats_from_counts(counts: NDArray[Any], num_frames: int) -> Stats:
    """lerobot's statistics of a depth feature, in millimetres, shape (1, 1, 1), from the value
    counts of its sampled frames' stats pixels (``compute_episode_stats``: no division by 255)."""
    values = np.nonzero(counts)[0]
    weights = counts[values].astype(np.float64)
    vals = values.astype(np.float64)
    total = weights.sum()
    lo, hi = float(vals[0]), float(vals[-1])
    mean = float((vals * weights).sum() / total)
    meansq = float((vals**2 * weights).sum() / total)
    stats: dict[str, float] = {
        "min": lo,
        "max": hi,
        "mean": mean,
        "std": float(np.sqrt(max(0.0, meansq - mean**2))),
    }
    edges = _edges(lo, hi)
    hist = np.histogram(vals, bins=edges, weights=weights)[0]
    for q, key in zip(QUANTILES, QUANTILE_KEYS, strict=True):
        stats[key] = _quantile_from_histogram(hist, edges, q * total)
    out: Stats = {key: np.array(value, dtype=np.float64).reshape(1, 1, 1) for key, value in stats.items()}
    out["count"] = np.array([num_frames])
    return out


# --- dataset statistics ---------------------------------------------------------------------


def aggregate(episode_stats: Sequence[dict[str, Stats]]) -> dict[str, Stats]:
    """lerobot's ``aggregate_stats``: count-weighted means, pooled variance, mean of quantiles."""
    return aggregate_stacked(stack_stats(episode_stats))


def stack_stats(episode_stats: Sequence[dict[str, Stats]]) -> dict[str, Stats]:
    """Per feature and statistic, the episodes' values stacked on a first axis (the episodes
    that have the feature, in order), as lerobot's ``aggregate_feature_stats`` stacks them."""
    keys = sorted({key for stats in episode_stats for key in stats})
    stacked: dict[str, Stats] = {}
    for key in keys:
        items = [stats[key] for stats in episode_stats if key in stats]
        stacked[key] = {name: np.stack([s[name] for s in items]) for name in STAT_KEYS}
    return stacked


def aggregate_stacked(stacked: dict[str, Stats]) -> dict[str, Stats]:
    """``aggregate`` of stacked statistics (``stack_stats``, or columns read from an episodes
    table): the same numpy operations on the same arrays, so the same bits, without a Python
    object per episode and statistic."""
    return {key: _aggregate_feature(stacked[key]) for key in sorted(stacked)}


def concat_stacked(first: dict[str, Stats], then: dict[str, Stats]) -> dict[str, Stats]:
    """Stacked statistics of the episodes of ``first`` followed by those of ``then``."""
    out = {key: dict(stats) for key, stats in first.items()}
    for key, stats in then.items():
        if key not in out:
            out[key] = dict(stats)
            continue
        out[key] = {name: np.concatenate([out[key][name], stats[name]]) for name in STAT_KEYS}
    return out


def _aggregate_feature(stacked: Stats) -> Stats:
    counts = stacked["count"].astype(np.float64)
    means = stacked["mean"]
    while counts.ndim < means.ndim:
        counts = counts[..., None]
    total = counts.sum(axis=0)
    mean = (means * counts).sum(axis=0) / total
    variances = stacked["std"] ** 2
    variance = ((variances + (means - mean) ** 2) * counts).sum(axis=0) / total
    merged: Stats = {
        "min": np.min(stacked["min"], axis=0),
        "max": np.max(stacked["max"], axis=0),
        "mean": mean,
        "std": np.sqrt(variance),
        "count": stacked["count"].sum(axis=0),
    }
    for qkey in QUANTILE_KEYS:
        merged[qkey] = (stacked[qkey] * counts).sum(axis=0) / total
    return merged


def to_jsonable(stats: dict[str, Stats]) -> dict[str, dict[str, list[Any]]]:
    return {key: {name: np.asarray(v).tolist() for name, v in ft.items()} for key, ft in stats.items()}
