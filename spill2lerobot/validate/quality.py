"""Quality findings of a dataset that reads correctly but may still be poor training data:
non-finite state/action values, constant joints, frozen cameras, rows without decodable frames.

``quality_findings(root)`` returns a JSON-ready dict; ``validate`` prints it and can write it
(``--quality-json``), ``preview`` shows it. The score (0-100) is

    100 * (1 - 0.4 * nonfinite - 0.3 * frozen - 0.2 * unmatched - 0.1 * constant)

rounded down, where ``nonfinite`` is the fraction of rows with a NaN or inf in a float vector
feature, ``frozen`` the fraction of camera frames identical to the one before (mean absolute
difference of the grey picture < FROZEN_DIFF), ``unmatched`` the fraction of (episode, camera)
pairs whose rows differ from the decodable frames in the episode's video span, and ``constant``
the fraction of (episode, vector entry) pairs constant over an episode of 2 or more frames.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import av
import numpy as np
import pyarrow.parquet as pq

from spill2lerobot.lerobot_format import DEFAULT_FEATURES
from spill2lerobot.merge.timing import frame_ranges
from spill2lerobot.validate.episodes import Episode, check_episodes
from spill2lerobot.validate.metadata import Array, Info, check_info, check_tasks
from spill2lerobot.validate.report import Report
from spill2lerobot.validate.videos import TOLERANCE_S

FROZEN_DIFF = 0.5  # grey levels: below this mean absolute difference, a frame repeats the previous one
WEIGHTS = {"nonfinite": 0.4, "frozen": 0.3, "unmatched": 0.2, "constant": 0.1}
FrameHook = Callable[[str, int, int, "av.VideoFrame"], None]  # video key, episode, frame in episode, frame


@dataclass
class _Values:
    """Per episode and vector feature: non-finite rows and each entry's min and max."""

    nonfinite: dict[tuple[int, str], list[int]] = field(default_factory=dict)
    low: dict[tuple[int, str], Array] = field(default_factory=dict)
    high: dict[tuple[int, str], Array] = field(default_factory=dict)

    def add(self, ep: int, key: str, frames: Array, values: Array) -> None:
        bad = ~np.isfinite(values).all(axis=1)
        if bad.any():
            self.nonfinite.setdefault((ep, key), []).extend(frames[bad].tolist())
        with np.errstate(invalid="ignore"):
            low, high = np.nanmin(values, axis=0), np.nanmax(values, axis=0)
        if (ep, key) in self.low:
            low, high = np.fmin(low, self.low[(ep, key)]), np.fmax(high, self.high[(ep, key)])
        self.low[(ep, key)], self.high[(ep, key)] = low, high


def vector_keys(info: Info) -> list[str]:
    return [
        key
        for key, ft in info.features.items()
        if key not in DEFAULT_FEATURES and str(ft.get("dtype", "")).startswith("float") and ft.get("dtype") != "video"
    ]


def _scan_values(root: Path, info: Info, keys: list[str]) -> _Values:
    values = _Values()
    for path in sorted((root / "data").glob("*/*.parquet")):
        parquet = pq.ParquetFile(path)
        for batch in parquet.iter_batches(columns=["episode_index", "frame_index", *keys]):
            eps = batch.column("episode_index").to_numpy()
            frames = batch.column("frame_index").to_numpy()
            for key in keys:
                flat = batch.column(key).flatten().to_numpy(zero_copy_only=False)
                matrix = flat.reshape(len(eps), -1).astype(np.float64)
                for ep in np.unique(eps).tolist():
                    rows = eps == ep
                    values.add(int(ep), key, frames[rows], matrix[rows])
    return values


def _grey(frame: av.VideoFrame) -> Array:
    grey: Array = frame.to_ndarray(format="gray").astype(np.int16)
    return grey


def _episode_at(spans: list[tuple[float, float, Episode]], starts: list[float], t: float) -> Episode | None:
    """The episode whose video span holds time ``t`` (spans sorted by start)."""
    at = bisect.bisect_right(starts, t) - 1
    if at < 0 or t >= spans[at][1] - TOLERANCE_S:
        return None
    return spans[at][2]


def _same(a: Array, b: Array) -> bool:
    return float(np.abs(a - b).mean()) < FROZEN_DIFF


def _scan_video(path: Path, key: str, members: list[Episode], fps: int, hook: FrameHook | None) -> dict[int, Any]:
    """Per episode of the file: decodable frames in its span and which repeat the one before."""
    out: dict[int, Any] = {ep.index: {"decoded": 0, "frozen": []} for ep in members}
    spans = sorted(((ep.videos[key].start_s, ep.videos[key].stop_s, ep) for ep in members), key=lambda s: s[0])
    starts = [start - TOLERANCE_S for start, _, _ in spans]
    previous: dict[int, Array] = {}
    try:
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            base = stream.time_base
            for frame in container.decode(stream):
                if frame.pts is None or base is None:
                    continue
                t = float(frame.pts * base)
                ep = _episode_at(spans, starts, t)
                if ep is None:
                    continue
                k = round((t - ep.videos[key].start_s) * fps)
                grey = _grey(frame)
                before = previous.get(ep.index)
                if before is not None and before.shape == grey.shape and _same(grey, before):
                    out[ep.index]["frozen"].append(k)
                previous[ep.index] = grey
                out[ep.index]["decoded"] += 1
                if hook is not None:
                    hook(key, ep.index, k, frame)
    except (av.FFmpegError, OSError, ValueError, IndexError) as exc:
        for entry in out.values():
            entry["error"] = str(exc)[:200]
    return out


def _scan_videos(root: Path, info: Info, episodes: list[Episode], hook: FrameHook | None) -> dict[str, dict[int, Any]]:
    result: dict[str, dict[int, Any]] = {}
    for key in info.video_keys:
        files: dict[tuple[int, int], list[Episode]] = {}
        for ep in episodes:
            files.setdefault((ep.videos[key].chunk, ep.videos[key].file), []).append(ep)
        result[key] = {}
        for (chunk, file), members in sorted(files.items()):
            path = root / info.video_file(key, chunk, file)
            if path.exists():
                result[key].update(_scan_video(path, key, members, info.fps, hook))
            else:
                result[key].update({ep.index: {"decoded": 0, "frozen": [], "error": "missing"} for ep in members})
    return result


def load_dataset(root: Path) -> tuple[Info, list[Episode]]:
    """info.json and the episodes table, or a one-line error (run validate to see what is wrong)."""
    from spill2lerobot.errors import UserError

    report = Report(root)
    info = check_info(root, report)
    episodes = check_episodes(root, info, check_tasks(root, info, report), report) if info else None
    if info is None or not episodes:
        first = next((line for line in report.lines() if line), "no episodes")
        raise UserError(f"{root}: cannot read the dataset ({first}); run `spill2lerobot validate {root}`")
    return info, episodes


def quality_findings(root: Path, hook: FrameHook | None = None) -> dict[str, Any]:
    """The findings and the score (module docstring); ``hook`` sees every decoded frame."""
    root = Path(root)
    info, episodes = load_dataset(root)
    keys = vector_keys(info)
    values = _scan_values(root, info, keys)
    videos = _scan_videos(root, info, episodes, hook)
    per_episode = [_episode_findings(ep, info, keys, values, videos) for ep in episodes]
    return {"score": _score(per_episode, episodes, keys, info), "weights": WEIGHTS, "episodes": per_episode}


def _episode_findings(
    ep: Episode, info: Info, keys: list[str], values: _Values, videos: dict[str, dict[int, Any]]
) -> dict[str, Any]:
    nonfinite = {key: frame_ranges(_flags(values.nonfinite.get((ep.index, key), []), ep.length)) for key in keys}
    constant: dict[str, list[str]] = {}
    for key in keys:
        low, high = values.low.get((ep.index, key)), values.high.get((ep.index, key))
        if low is not None and high is not None and ep.length >= 2:
            names = info.features[key].get("names") or []
            same = np.flatnonzero(low == high).tolist()
            if same:
                constant[key] = [str(names[i]) if i < len(names) else str(i) for i in same]
    frozen: dict[str, list[list[int]]] = {}
    unmatched: dict[str, dict[str, Any]] = {}
    for key, per in videos.items():
        found = per.get(ep.index, {"decoded": 0, "frozen": []})
        if found["frozen"]:
            frozen[key] = frame_ranges(_flags(found["frozen"], ep.length))
        if found["decoded"] != ep.length or "error" in found:
            unmatched[key] = {"rows": ep.length, "decodable": found["decoded"]}
            if "error" in found:
                unmatched[key]["error"] = found["error"]
    return {
        "episode": ep.index,
        "frames": ep.length,
        "nonfinite_frames": {key: ranges for key, ranges in nonfinite.items() if ranges},
        "constant_entries": constant,
        "frozen_frames": frozen,
        "rows_vs_frames": unmatched,
    }


def _flags(frames: list[int], length: int) -> Array:
    flags = np.zeros(max(length, 1), dtype=bool)
    inside = [k for k in frames if 0 <= k < length]
    flags[inside] = True
    return flags[:length]


def _count(ranges: dict[str, list[list[int]]]) -> int:
    return sum(stop - start for spans in ranges.values() for start, stop in spans)


def _score(per_episode: list[dict[str, Any]], episodes: list[Episode], keys: list[str], info: Info) -> int:
    rows = max(1, sum(ep.length for ep in episodes))
    cameras = len(info.video_keys)
    bad_rows = 0
    for found in per_episode:
        flags = np.zeros(found["frames"], dtype=bool)
        for spans in found["nonfinite_frames"].values():
            for start, stop in spans:
                flags[start:stop] = True
        bad_rows += int(flags.sum())
    entries = max(1, sum(info.width(key) for key in keys) * sum(1 for ep in episodes if ep.length >= 2))
    fractions = {
        "nonfinite": bad_rows / rows,
        "frozen": sum(_count(f["frozen_frames"]) for f in per_episode) / max(1, rows * cameras),
        "unmatched": sum(len(f["rows_vs_frames"]) for f in per_episode) / max(1, len(episodes) * cameras),
        "constant": sum(len(v) for f in per_episode for v in f["constant_entries"].values()) / entries,
    }
    return int(100 * (1 - sum(WEIGHTS[name] * value for name, value in fractions.items())))


def finding_lines(findings: dict[str, Any]) -> list[str]:
    """The findings as terminal lines (one per episode and kind), then the score."""
    lines = []
    for found in findings["episodes"]:
        label = f"quality: episode {found['episode']}"
        for key, spans in found["nonfinite_frames"].items():
            lines.append(f"{label}: {key} NaN or inf in frames {_spans(spans)}")
        for key, names in found["constant_entries"].items():
            more = " ..." if len(names) > 8 else ""
            lines.append(f"{label}: {key} constant over the episode: {', '.join(names[:8])}{more}")
        for key, spans in found["frozen_frames"].items():
            lines.append(f"{label}: {key} repeats the previous frame at frames {_spans(spans)}")
        for key, what in found["rows_vs_frames"].items():
            lines.append(f"{label}: {key} {what['rows']} rows but {what['decodable']} decodable frames")
    lines.append(f"quality score: {findings['score']}/100")
    return lines


def _spans(spans: list[list[int]], limit: int = 5) -> str:
    text = ", ".join(f"{a}" if b == a + 1 else f"{a}-{b - 1}" for a, b in spans[:limit])
    return text + (f" (+{len(spans) - limit} more)" if len(spans) > limit else "")
