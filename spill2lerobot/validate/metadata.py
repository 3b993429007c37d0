"""``meta/info.json`` and ``meta/tasks.parquet``: what every other check relies on."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeGuard

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.parquet as pq

from spill2lerobot import lerobot_format
from spill2lerobot.validate.report import Report

Array = npt.NDArray[Any]  # numpy arrays of any dtype (columns, frames)
Floats = npt.NDArray[np.float64]
Feature = dict[str, Any]  # one entry of info.json's features, as read (not trusted)

NON_NUMERIC = {"video", "image", "string", "language"}


@dataclass
class Info:
    fps: int
    features: dict[str, Feature]
    total_episodes: int | None  # None: already reported as wrong
    total_frames: int | None
    total_tasks: int | None
    data_path: str
    video_path: str | None
    data_mb: float
    video_mb: float

    @property
    def video_keys(self) -> list[str]:
        return [key for key, ft in self.features.items() if ft.get("dtype") == "video"]

    @property
    def numeric_keys(self) -> list[str]:
        return [key for key, ft in self.features.items() if ft.get("dtype") not in NON_NUMERIC]

    def width(self, key: str) -> int:
        return int(math.prod(self.features[key]["shape"]))

    def data_file(self, chunk: int, file: int) -> str:
        return self.data_path.format(chunk_index=chunk, file_index=file)

    def video_file(self, key: str, chunk: int, file: int) -> str:
        return str(self.video_path).format(video_key=key, chunk_index=chunk, file_index=file)


def is_int(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def check_info(root: Path, report: Report) -> Info | None:
    """meta/info.json: what every other check relies on; None when it is unusable."""
    path = root / lerobot_format.INFO_PATH
    raw = _load_json(path, report)
    if raw is None:
        return None
    usable = _check_header(path, raw, report)
    features = raw.get("features")
    if not isinstance(features, dict) or not features:
        report.fail(path, "features is missing or empty")
        return None
    # every check runs (each reports its own problems) before deciding whether the rest can go on
    usable = _check_features(path, features, report) and usable
    usable = _check_templates(path, raw, features, report) and usable
    if not usable:
        return None
    _check_video_features(path, raw["fps"], features, report)
    problem = _splits_problem(raw.get("splits", {}), raw.get("total_episodes"))
    if problem is not None:
        report.warn(path, problem)
    return Info(
        fps=raw["fps"],
        features=features,
        total_episodes=raw["total_episodes"] if is_int(raw.get("total_episodes")) else None,
        total_frames=raw["total_frames"] if is_int(raw.get("total_frames")) else None,
        total_tasks=raw["total_tasks"] if is_int(raw.get("total_tasks")) else None,
        data_path=raw["data_path"],
        video_path=raw.get("video_path"),
        data_mb=float(raw.get("data_files_size_in_mb") or lerobot_format.DATA_FILE_SIZE_MB),
        video_mb=float(raw.get("video_files_size_in_mb") or lerobot_format.VIDEO_FILE_SIZE_MB),
    )


def _load_json(path: Path, report: Report) -> dict[str, Any] | None:
    if not path.exists():
        report.fail(path, "missing: not a LeRobot dataset (or not a finished one)")
        return None
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        report.fail(path, f"unreadable ({exc})")
        return None
    if not isinstance(raw, dict):
        report.fail(path, "is not a JSON object")
        return None
    return raw


def _check_header(path: Path, raw: dict[str, Any], report: Report) -> bool:
    """Version, counts and file sizes; False when fps is unusable (everything else needs it)."""
    usable = True
    version = raw.get("codebase_version")
    if version != lerobot_format.CODEBASE_VERSION:
        report.fail(path, f"codebase_version is {version!r}, lerobot 0.6.1 reads {lerobot_format.CODEBASE_VERSION!r}")
    for key in ("fps", "total_episodes", "total_frames", "total_tasks", "chunks_size"):
        value = raw.get(key)
        if not is_int(value) or value < (1 if key in ("fps", "chunks_size") else 0):
            report.fail(path, f"{key} is {value!r}, expected a{' positive' if key == 'fps' else 'n'} integer")
            usable = usable and key != "fps"
    for key in ("data_files_size_in_mb", "video_files_size_in_mb"):
        value = raw.get(key)
        if not isinstance(value, int | float) or isinstance(value, bool) or value <= 0:
            report.fail(path, f"{key} is {value!r}, expected a positive number")
    return usable


def _check_features(path: Path, features: dict[str, Any], report: Report) -> bool:
    """Every feature has a dtype and a positive shape; lerobot's default features are there."""
    usable = True
    for key, ft in features.items():
        if not isinstance(ft, dict) or "dtype" not in ft or not isinstance(ft.get("shape"), list | tuple):
            report.fail(path, f"feature {key} needs a dtype and a shape")
            usable = False
            continue
        if not ft["shape"] or not all(is_int(n) and n > 0 for n in ft["shape"]):
            report.fail(path, f"feature {key} has shape {ft['shape']!r}, expected positive integers")
            usable = False
    for key, default in lerobot_format.DEFAULT_FEATURES.items():
        have = features.get(key)
        if not isinstance(have, dict):
            report.fail(path, f"feature {key} is missing (lerobot adds it to every dataset)")
            usable = False
        elif have.get("dtype") != default["dtype"] or list(have.get("shape", [])) != default["shape"]:
            report.fail(
                path,
                f"feature {key} is {have.get('dtype')} {have.get('shape')}, "
                f"lerobot expects {default['dtype']} {default['shape']}",
            )
    return usable


def _check_templates(path: Path, raw: dict[str, Any], features: dict[str, Any], report: Report) -> bool:
    """data_path and (with video features) video_path are format templates lerobot can fill."""
    usable = True
    data_path = raw.get("data_path")
    video_path = raw.get("video_path")
    try:
        str(data_path).format(chunk_index=0, file_index=0)
        if not isinstance(data_path, str):
            raise KeyError("data_path")
    except (KeyError, IndexError, ValueError):
        report.fail(path, f"data_path {data_path!r} is not a template with {{chunk_index}} and {{file_index}}")
        usable = False
    if any(isinstance(ft, dict) and ft.get("dtype") == "video" for ft in features.values()):
        try:
            if not isinstance(video_path, str):
                raise KeyError("video_path")
            video_path.format(video_key="k", chunk_index=0, file_index=0)
        except (KeyError, IndexError, ValueError):
            report.fail(path, f"video_path {video_path!r} is not a template with {{video_key}}, {{chunk_index}}, ...")
            usable = False
    return usable


def _check_video_features(path: Path, fps: int, features: dict[str, Feature], report: Report) -> None:
    for key, ft in features.items():
        if ft.get("dtype") != "video":
            continue
        shape, vinfo = list(ft["shape"]), ft.get("info") or {}
        if len(shape) != 3 or shape[2] not in (1, 3):
            report.fail(path, f"video feature {key} has shape {shape}, expected [height, width, channels]")
            continue
        for name, want in (("video.height", shape[0]), ("video.width", shape[1]), ("video.fps", fps)):
            if name in vinfo and vinfo[name] != want:
                report.fail(path, f"{key}: info {name} is {vinfo[name]}, shape/fps say {want}")


def check_tasks(root: Path, info: Info, report: Report) -> list[str] | None:
    """meta/tasks.parquet: task strings by task_index (0..n-1)."""
    path = root / lerobot_format.TASKS_PATH
    if not path.exists():
        report.fail(path, "missing (lerobot loads the tasks from it)")
        return None
    try:
        table = pq.read_table(path)
    except (pa.ArrowException, OSError) as exc:
        report.fail(path, f"unreadable ({exc})")
        return None
    names = table.column_names
    task_column = "task" if "task" in names else "__index_level_0__" if "__index_level_0__" in names else None
    if "task_index" not in names or task_column is None:
        report.fail(path, f"needs a task_index column and the task strings (as index or column); has {names}")
        return None
    indices = table.column("task_index").to_pylist()
    tasks = table.column(task_column).to_pylist()
    if sorted(indices) != list(range(len(indices))):
        report.fail(path, f"task_index values {indices[:10]} are not 0..{len(indices) - 1}")
        return None
    if len(set(tasks)) != len(tasks):
        report.fail(path, "the same task appears twice")
    if info.total_tasks is not None and len(tasks) != info.total_tasks:
        report.fail(path, f"holds {len(tasks)} tasks, meta/info.json total_tasks says {info.total_tasks}")
    by_index = [""] * len(tasks)
    for index, task in zip(indices, tasks, strict=True):
        by_index[index] = task
    return by_index


def _splits_problem(splits: object, total: object) -> str | None:
    """Why info.json's "splits" are not contiguous "start:stop" episode ranges within
    total_episodes, one after another from 0 (None: they are)."""
    if not isinstance(splits, dict) or not isinstance(total, int):
        return None
    ranges: list[tuple[int, int, str]] = []
    for name, text in splits.items():
        first, _, end = str(text).partition(":")
        if not (first.isdigit() and end.isdigit()):
            return f"splits {name} is {text!r}, not a start:stop range of episodes"
        ranges.append((int(first), int(end), str(name)))
    ranges.sort()
    expected = 0
    for start, stop, name in ranges:
        if start != expected or not start <= stop <= total:
            return f"splits {name} is {start}:{stop}; the splits must follow one another from 0 within {total} episodes"
        expected = stop
    return None
