"""Videos: every file is decoded once, front to back; frame ``k`` of an episode must decode within
lerobot's tolerance (compared in float32 like lerobot's torch code) of ``from_timestamp + timestamp[k]``."""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np

from spill2lerobot.validate.episodes import Episode
from spill2lerobot.validate.metadata import Floats, Info
from spill2lerobot.validate.report import MB, ProgressFn, Report

TOLERANCE_S = 1e-4  # LeRobotDataset's default tolerance_s
SPAN_TOLERANCE_S = 1e-6  # to_timestamp - from_timestamp vs length / fps


@dataclass
class VideoScan:
    times: Floats  # seconds of every decoded frame, as lerobot computes them
    width: int = 0
    height: int = 0
    codec: str = ""
    pix_fmt: str = ""
    listed: int = 0  # frames the container's index lists
    error: str | None = None


def scan_video(path: Path) -> VideoScan:
    """Decode the whole file once, front to back; keep only each frame's time."""
    times: list[float] = []
    scan = VideoScan(np.zeros(0))
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                scan.error = "holds no video stream"
                return scan
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            scan.listed = stream.frames or 0
            scan.codec = stream.codec_context.name
            base = stream.time_base
            for packet in container.demux(stream):
                for frame in packet.decode():
                    if frame.pts is None or base is None or not isinstance(frame, av.VideoFrame):
                        continue  # (a video stream's packets hold video frames: for the type checker)
                    if not times:
                        scan.width, scan.height, scan.pix_fmt = frame.width, frame.height, frame.format.name
                    times.append(float(frame.pts * base))
    except (av.FFmpegError, OSError, ValueError) as exc:
        where = f"after frame {len(times)} ({times[-1]:.3f} s)" if times else "at the start"
        scan.error = f"undecodable {where}: {exc}"
    scan.times = np.asarray(times, dtype=np.float64)
    return scan


def _codec_matches(decoder: str, codec: str) -> bool:
    return codec in decoder or (codec == "av1" and decoder in ("libdav1d", "libaom-av1")) or decoder == codec


def _check_file_properties(report: Report, info: Info, key: str, path: Path, needed: int, scan: VideoScan) -> None:
    """Decodable to the end, the frame size, codec and pixel format info.json names, enough frames."""
    height, width = info.features[key]["shape"][:2]
    n = len(scan.times)
    if scan.error:
        report.fail(path, f"{scan.error}; the file is truncated or damaged")
    if scan.listed > n:
        report.fail(path, f"its index lists {scan.listed} frames but only {n} decode: the file is truncated")
    if n and (scan.width, scan.height) != (width, height):
        report.fail(path, f"frames are {scan.width}x{scan.height}, info.json says {width}x{height}")
    video_info = info.features[key].get("info") or {}
    codec, pix_fmt = video_info.get("video.codec"), video_info.get("video.pix_fmt")
    if n and codec and not _codec_matches(scan.codec, codec):
        report.warn(path, f"decoded with {scan.codec}, info.json says video.codec {codec}")
    if n and pix_fmt and scan.pix_fmt != pix_fmt:
        report.warn(path, f"pixel format {scan.pix_fmt}, info.json says video.pix_fmt {pix_fmt}")
    if n < needed:
        report.fail(path, f"decoded {n} frames, its episodes need {needed}")
    elif n > needed:
        report.warn(path, f"holds {n} frames, its episodes use {needed}")


def _check_episode_frames(report: Report, fps: int, key: str, path: Path, ep: Episode, times: Floats) -> None:
    """Every frame of the episode decodes within tolerance of the time lerobot asks for."""
    ref = ep.videos[key]
    label = f"episode {ep.index}"
    # lerobot asks for from_timestamp + timestamp (float32) and compares in float32
    query = ref.start_s + (np.arange(ep.length) / fps).astype(np.float32).astype(np.float64)
    nearest: Floats
    if len(times) == 0:
        nearest = np.full(ep.length, np.nan)
    else:
        right = np.clip(np.searchsorted(times, query), 0, len(times) - 1)
        left = np.clip(right - 1, 0, len(times) - 1)
        nearest = np.where(np.abs(times[left] - query) <= np.abs(times[right] - query), times[left], times[right])
    dist = np.abs(query.astype(np.float32) - nearest.astype(np.float32))
    bad = np.flatnonzero(~(dist < np.float32(TOLERANCE_S)))
    if len(bad):
        k = bad[0]
        found = f"nearest decoded frame at {nearest[k]:.6f} s" if len(times) else "no frame decodes"
        report.fail(
            path,
            f"{label}: {len(bad)} of {ep.length} frames not decodable within {TOLERANCE_S:g} s of their "
            f"timestamp (first: frame {k} at {query[k]:.6f} s, {found})",
        )


def check_video_file(report: Report, info: Info, key: str, path: Path, members: list[Episode], scan: VideoScan) -> None:
    fps = info.fps
    _check_file_properties(report, info, key, path, sum(ep.length for ep in members), scan)
    times = np.sort(scan.times)
    previous: Episode | None = None
    for ep in sorted(members, key=lambda e: e.videos[key].start_s):
        ref = ep.videos[key]
        label = f"episode {ep.index}"
        span = ref.stop_s - ref.start_s
        if abs(span - ep.length / fps) > SPAN_TOLERANCE_S:
            report.fail(
                ep.source,
                f"{label} videos/{key}: to_timestamp {ref.stop_s:.6f} - from_timestamp {ref.start_s:.6f} = {span:.6f}"
                f" s, length {ep.length} / fps {fps} = {ep.length / fps:.6f} s",
            )
        if ref.start_s < 0:
            report.fail(ep.source, f"{label} videos/{key}/from_timestamp {ref.start_s} is negative")
        if previous is not None and ref.start_s < previous.videos[key].stop_s - TOLERANCE_S:
            report.fail(path, f"episodes {previous.index} and {ep.index} overlap in this file")
        previous = ep
        _check_episode_frames(report, fps, key, path, ep, times)
    size = path.stat().st_size
    if len(members) > 1 and size > info.video_mb * MB * 1.1:
        report.warn(path, f"{size / MB:.0f} MB, above video_files_size_in_mb {info.video_mb:g} MB")


def check_videos(root: Path, info: Info, episodes: list[Episode], report: Report, progress: ProgressFn) -> None:
    jobs: list[tuple[str, Path, list[Episode]]] = []
    for key in info.video_keys:
        files: dict[tuple[int, int], list[Episode]] = {}
        for ep in episodes:
            files.setdefault((ep.videos[key].chunk, ep.videos[key].file), []).append(ep)
        for (chunk, file), members in sorted(files.items()):
            path = root / info.video_file(key, chunk, file)
            if not path.exists():
                first, last = members[0].index, members[-1].index
                report.fail(path, f"missing (episodes {first}..{last} refer to it)")
                continue
            jobs.append((key, path, members))
        folder = root / info.video_file(key, 0, 0)
        folder = folder.parent.parent
        listed = {report.where(path) for _, path, _ in jobs}
        for extra in sorted(folder.glob("*/*.mp4")):
            if report.where(extra) not in listed and extra.exists():
                report.warn(extra, "no episode refers to this file")
    progress(f"validate: decoding {len(jobs)} video files")
    workers = max(1, min(len(jobs), os.cpu_count() or 1, 8))
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for (key, path, members), scan in zip(jobs, pool.map(scan_video, [j[1] for j in jobs]), strict=True):
            check_video_file(report, info, key, path, members, scan)
            report.videos += 1
