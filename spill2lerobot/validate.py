"""`spill2lerobot validate`: check a LeRobot v3.0 dataset the way lerobot 0.6.1 will read it.

No lerobot, no torch: pyarrow, av and numpy only, in bounded memory (Parquet files are streamed
batch by batch, every video file is decoded once, front to back, keeping one timestamp per
frame). What lerobot relies on, and so what is checked:

1. metadata: ``meta/info.json`` (version, fps, features, totals, path templates),
   ``meta/tasks.parquet``, the episodes table (``episode_index`` = row, contiguous
   ``dataset_from_index``/``dataset_to_index``, lengths, file references) and every
   ``data/*/*.parquet`` file in sorted order (lerobot concatenates them all: row ``i`` must be
   frame ``index == i``), with ``episode_index``, ``frame_index``, ``timestamp``, ``task_index``
   and the feature columns' types and shapes;
2. videos: each frame ``k`` of an episode must decode within lerobot's tolerance (1e-4 s,
   compared in float32 like lerobot's torch code) of ``from_timestamp + timestamp[k]``;
3. statistics: ``meta/stats.json`` and the per-episode ``stats/<feature>/<stat>`` columns are
   complete, ordered (min <= q01 <= ... <= q99 <= max, min <= mean <= max, std >= 0), their counts
   right, and their min/max/mean agree with the data (recomputed in the same streaming pass);
4. ``--against``: a few frames per episode (first, last, some between) are rebuilt from the source
   bags with the package's own alignment rules (nearest message, ties to the earlier) and compared:
   state and action exactly, images by mean absolute difference after stage 1's resize.
"""

from __future__ import annotations

import contextlib
import dataclasses
import itertools
import json
import math
import os
import sys
from collections import Counter
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import av
import click
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from spill2lerobot import lerobot_format
from spill2lerobot.errors import UserError
from spill2lerobot.stats import QUANTILE_KEYS, STAT_KEYS, aggregate, estimate_num_samples

if TYPE_CHECKING:
    from spill2lerobot.profile import Profile

TOLERANCE_S = 1e-4  # LeRobotDataset's default tolerance_s
SPAN_TOLERANCE_S = 1e-6  # to_timestamp - from_timestamp vs length / fps
IMAGE_MAD_LIMIT = 12.0  # mean absolute difference per pixel (0..255) for --against images
DEPTH_MAD_LIMIT_MM = 5.0  # ... for native depth, in millimetres (lossless video: quantisation only)
SAMPLES_PER_EPISODE = 5  # frames compared per episode with --against
MAX_LINES_PER_FILE = 20  # more problems about one file are counted, not printed
BATCH_ROWS = 65_536
MB = 1024 * 1024

ProgressFn = Callable[[str], None]

# info.json dtype -> Arrow leaf type
ARROW_TYPES = {
    "float32": pa.float32(),
    "float64": pa.float64(),
    "int64": pa.int64(),
    "int32": pa.int32(),
    "int16": pa.int16(),
    "int8": pa.int8(),
    "uint8": pa.uint8(),
    "bool": pa.bool_(),
}
NON_NUMERIC = {"video", "image", "string", "language"}
EPISODE_COLUMNS = (
    "episode_index",
    "tasks",
    "length",
    "data/chunk_index",
    "data/file_index",
    "dataset_from_index",
    "dataset_to_index",
)
VIDEO_COLUMNS = ("chunk_index", "file_index", "from_timestamp", "to_timestamp")


# --- the report -----------------------------------------------------------------------------


@dataclass
class Report:
    """Problems (the dataset is wrong) and warnings (worth a look), each naming a file."""

    root: Path
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    episodes: int = 0
    frames: int = 0
    videos: int = 0
    compared: int = 0  # frames compared with source bags
    bags: int = 0
    _per_file: dict[str, int] = field(default_factory=dict)
    _hidden: dict[str, int] = field(default_factory=dict)

    def where(self, path: Path | str) -> str:
        path = Path(path)
        try:
            relative = path.relative_to(self.root).as_posix()
        except ValueError:
            return str(path)
        return str(self.root) if relative == "." else relative

    def fail(self, path: Path | str, what: str) -> None:
        where = self.where(path)
        shown = self._per_file.get(where, 0)
        self._per_file[where] = shown + 1
        if shown >= MAX_LINES_PER_FILE:
            self._hidden[where] = self._hidden.get(where, 0) + 1
            self.problems.append("")  # counted, not printed
            return
        self.problems.append(f"{where}: {what}")

    def warn(self, path: Path | str, what: str) -> None:
        self.warnings.append(f"warning: {self.where(path)}: {what}")

    @property
    def ok(self) -> bool:
        return not self.problems

    def lines(self) -> list[str]:
        out = [line for line in self.problems if line]
        out += [f"{where}: {count} more problems not shown" for where, count in self._hidden.items()]
        return out + self.warnings + self.notes

    def summary(self) -> str:
        if self.ok:
            line = f"OK: {_count(self.episodes, 'episode')}, {_count(self.frames, 'frame')}, "
            line += f"{_count(self.videos, 'video')} checked"
            if self.bags:
                line += f", {_count(self.compared, 'frame')} compared with {_count(self.bags, 'bag')}"
            return line
        return f"FAILED: {_count(len(self.problems), 'problem')}"


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


# --- metadata -------------------------------------------------------------------------------


@dataclass
class Info:
    fps: int
    features: dict[str, dict]
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


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def check_info(root: Path, report: Report) -> Info | None:
    """meta/info.json: what every other check relies on; None when it is unusable."""
    path = root / lerobot_format.INFO_PATH
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
    usable = True
    version = raw.get("codebase_version")
    if version != lerobot_format.CODEBASE_VERSION:
        report.fail(path, f"codebase_version is {version!r}, lerobot 0.6.1 reads {lerobot_format.CODEBASE_VERSION!r}")
    for key in ("fps", "total_episodes", "total_frames", "total_tasks", "chunks_size"):
        value = raw.get(key)
        if not _is_int(value) or value < (1 if key in ("fps", "chunks_size") else 0):
            report.fail(path, f"{key} is {value!r}, expected a{' positive' if key == 'fps' else 'n'} integer")
            usable = usable and key != "fps"
    for key in ("data_files_size_in_mb", "video_files_size_in_mb"):
        value = raw.get(key)
        if not isinstance(value, int | float) or isinstance(value, bool) or value <= 0:
            report.fail(path, f"{key} is {value!r}, expected a positive number")
    features = raw.get("features")
    if not isinstance(features, dict) or not features:
        report.fail(path, "features is missing or empty")
        return None
    for key, ft in features.items():
        if not isinstance(ft, dict) or "dtype" not in ft or not isinstance(ft.get("shape"), list | tuple):
            report.fail(path, f"feature {key} needs a dtype and a shape")
            usable = False
            continue
        if not ft["shape"] or not all(_is_int(n) and n > 0 for n in ft["shape"]):
            report.fail(path, f"feature {key} has shape {ft['shape']!r}, expected positive integers")
            usable = False
    for key, ft in lerobot_format.DEFAULT_FEATURES.items():
        have = features.get(key)
        if not isinstance(have, dict):
            report.fail(path, f"feature {key} is missing (lerobot adds it to every dataset)")
            usable = False
        elif have.get("dtype") != ft["dtype"] or list(have.get("shape", [])) != ft["shape"]:
            report.fail(
                path,
                f"feature {key} is {have.get('dtype')} {have.get('shape')}, "
                f"lerobot expects {ft['dtype']} {ft['shape']}",
            )
    data_path = raw.get("data_path")
    video_path = raw.get("video_path")
    try:
        str(data_path).format(chunk_index=0, file_index=0)
        if not isinstance(data_path, str):
            raise KeyError("data_path")
    except (KeyError, IndexError, ValueError):
        report.fail(path, f"data_path {data_path!r} is not a template with {{chunk_index}} and {{file_index}}")
        usable = False
    video_keys = [k for k, ft in features.items() if isinstance(ft, dict) and ft.get("dtype") == "video"]
    if video_keys:
        try:
            if not isinstance(video_path, str):
                raise KeyError("video_path")
            video_path.format(video_key="k", chunk_index=0, file_index=0)
        except (KeyError, IndexError, ValueError):
            report.fail(path, f"video_path {video_path!r} is not a template with {{video_key}}, {{chunk_index}}, ...")
            usable = False
    if not usable:
        return None
    fps = raw["fps"]
    for key in video_keys:
        ft = features[key]
        shape, vinfo = list(ft["shape"]), ft.get("info") or {}
        if len(shape) != 3 or shape[2] not in (1, 3):
            report.fail(path, f"video feature {key} has shape {shape}, expected [height, width, channels]")
            continue
        for name, want in (("video.height", shape[0]), ("video.width", shape[1]), ("video.fps", fps)):
            if name in vinfo and vinfo[name] != want:
                report.fail(path, f"{key}: info {name} is {vinfo[name]}, shape/fps say {want}")
    splits = raw.get("splits", {})
    expected_split = f"0:{raw.get('total_episodes')}"
    if isinstance(splits, dict) and splits.get("train", expected_split) != expected_split:
        report.warn(path, f"splits train is {splits.get('train')!r}, total_episodes gives {expected_split!r}")
    return Info(
        fps=fps,
        features=features,
        total_episodes=raw["total_episodes"] if _is_int(raw.get("total_episodes")) else None,
        total_frames=raw["total_frames"] if _is_int(raw.get("total_frames")) else None,
        total_tasks=raw["total_tasks"] if _is_int(raw.get("total_tasks")) else None,
        data_path=data_path,
        video_path=video_path,
        data_mb=float(raw.get("data_files_size_in_mb") or lerobot_format.DATA_FILE_SIZE_MB),
        video_mb=float(raw.get("video_files_size_in_mb") or lerobot_format.VIDEO_FILE_SIZE_MB),
    )


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


@dataclass
class VideoRef:
    chunk: int
    file: int
    start_s: float  # from_timestamp
    stop_s: float  # to_timestamp


@dataclass
class Episode:
    index: int  # episode_index (== row position when the table is right)
    length: int
    start: int  # dataset_from_index as derived from the lengths (what the rows must hold)
    source: str  # the episodes file that describes it
    data_file: tuple[int, int]
    tasks: list[str]
    videos: dict[str, VideoRef]
    stats: dict[str, dict[str, np.ndarray]]

    @property
    def stop(self) -> int:
        return self.start + self.length


def _file_numbers(path: Path) -> tuple[int, int] | None:
    try:
        return int(path.parent.name.split("-")[1]), int(path.stem.split("-")[1])
    except (IndexError, ValueError):
        return None


def _unusable_columns(table: pa.Table, names: list[str]) -> str | None:
    """Why the episodes table's reference columns cannot be used (wrong type, empty cells), or None."""
    for name in names:
        column = table.column(name)
        if name == "tasks":
            ok = pa.types.is_list(column.type) or pa.types.is_large_list(column.type)
        elif name.endswith("timestamp"):
            ok = pa.types.is_floating(column.type) or pa.types.is_integer(column.type)
        else:
            ok = pa.types.is_integer(column.type)
        if not ok:
            return f"column {name} is {column.type}"
        if column.null_count:
            return f"column {name} has {column.null_count} empty cells"
    return None


def check_episodes(root: Path, info: Info, tasks: list[str] | None, report: Report) -> list[Episode] | None:
    """meta/episodes/*/*.parquet, concatenated in path order like lerobot does."""
    paths = sorted((root / "meta/episodes").glob("*/*.parquet"))
    if not paths:
        report.fail(root / "meta/episodes", "no episodes parquet files")
        return None
    episodes: list[Episode] = []
    next_start = 0  # where the next episode must start (after the previous one)
    derived_start = 0
    for path in paths:
        where = report.where(path)
        try:
            table = pq.read_table(path)
        except (pa.ArrowException, OSError) as exc:
            report.fail(path, f"unreadable ({exc})")
            return None
        names = set(table.column_names)
        needed = list(EPISODE_COLUMNS) + [f"videos/{k}/{c}" for k in info.video_keys for c in VIDEO_COLUMNS]
        missing = [name for name in needed if name not in names]
        if missing:
            report.fail(path, f"missing columns {', '.join(missing)}")
            return None
        broken = _unusable_columns(table, needed)
        if broken:
            report.fail(path, broken)
            return None
        cols = {name: table.column(name).to_pylist() for name in needed}
        stats_cols = {name: table.column(name).to_pylist() for name in table.column_names if name.startswith("stats/")}
        numbers = _file_numbers(path)
        for name, want in (("meta/episodes/chunk_index", 0), ("meta/episodes/file_index", 1)):
            if name in names and numbers is not None:
                values = set(table.column(name).to_pylist())
                if values != {numbers[want]}:
                    report.warn(path, f"{name} is {sorted(values)} but the rows are in this file")
        for row in range(table.num_rows):
            position = len(episodes)
            ep_index, length = cols["episode_index"][row], cols["length"][row]
            start, stop = cols["dataset_from_index"][row], cols["dataset_to_index"][row]
            label = f"episode {ep_index}"
            if ep_index != position:
                report.fail(path, f"row {row} holds episode_index {ep_index}, expected {position} (0..n-1 in order)")
            if not _is_int(length) or length <= 0:
                report.fail(path, f"{label} length {length} is not a positive number of frames")
                length = 0
            if start != next_start:
                what = "0 for the first episode" if position == 0 else "the previous episode's dataset_to_index"
                report.fail(path, f"{label} dataset_from_index {start} != {what} {next_start}")
            if stop != start + length:
                report.fail(path, f"{label} dataset_to_index {stop} != dataset_from_index {start} + length {length}")
            # a wrong dataset_to_index is one problem, not also the next episode's
            next_start = stop if _is_int(stop) and stop == start + length else start + length
            data_file = (cols["data/chunk_index"][row], cols["data/file_index"][row])
            if not (root / info.data_file(*data_file)).exists():
                report.fail(path, f"{label} refers to {info.data_file(*data_file)}, which does not exist")
            ep_tasks = cols["tasks"][row] or []
            if not ep_tasks:
                report.fail(path, f"{label} has no task")
            elif tasks is not None:
                unknown = [t for t in ep_tasks if t not in tasks]
                if unknown:
                    report.fail(path, f"{label} task {unknown[0]!r} is not in meta/tasks.parquet")
            videos = {}
            for key in info.video_keys:
                c = [cols[f"videos/{key}/{name}"][row] for name in VIDEO_COLUMNS]
                videos[key] = VideoRef(int(c[0]), int(c[1]), float(c[2]), float(c[3]))
            stats: dict[str, dict[str, np.ndarray]] = {}
            for name, values in stats_cols.items():
                feature, stat = name[len("stats/") :].rsplit("/", 1)
                if values[row] is not None:
                    stats.setdefault(feature, {})[stat] = np.asarray(values[row], dtype=np.float64)
            episodes.append(Episode(position, length, derived_start, where, data_file, ep_tasks, videos, stats))
            derived_start += length
    total = sum(ep.length for ep in episodes)
    info_path = root / lerobot_format.INFO_PATH
    if info.total_episodes is not None and info.total_episodes != len(episodes):
        report.fail(info_path, f"total_episodes is {info.total_episodes}, meta/episodes holds {len(episodes)}")
    if info.total_frames is not None and info.total_frames != total:
        report.fail(info_path, f"total_frames is {info.total_frames}, the episodes' lengths add up to {total}")
    return episodes


# --- data files -------------------------------------------------------------------------------


class _FeatureSums:
    """Per-episode min, max, sum and count of one numeric feature, updated batch by batch."""

    def __init__(self, episodes: int, width: int) -> None:
        self.min = np.full((episodes, width), np.inf)
        self.max = np.full((episodes, width), -np.inf)
        self.sum = np.zeros((episodes, width))
        self.count = np.zeros(episodes, dtype=np.int64)

    def add(self, ids: np.ndarray, starts: np.ndarray, values: np.ndarray) -> None:
        self.min[ids] = np.minimum(self.min[ids], np.minimum.reduceat(values, starts, axis=0))
        self.max[ids] = np.maximum(self.max[ids], np.maximum.reduceat(values, starts, axis=0))
        self.sum[ids] += np.add.reduceat(values, starts, axis=0)
        self.count[ids] += np.diff(np.append(starts, len(values)))

    def episode(self, ep: int) -> dict[str, np.ndarray] | None:
        if self.count[ep] == 0:
            return None
        return {"min": self.min[ep], "max": self.max[ep], "mean": self.sum[ep] / self.count[ep]}

    def dataset(self) -> dict[str, np.ndarray] | None:
        seen = self.count > 0
        if not seen.any():
            return None
        total = self.count[seen].sum()
        return {
            "min": self.min[seen].min(axis=0),
            "max": self.max[seen].max(axis=0),
            "mean": self.sum[seen].sum(axis=0) / total,
        }


@dataclass
class DataScan:
    sums: dict[str, _FeatureSums]
    samples: dict[int, dict[str, np.ndarray]]  # global index -> vector features of that row
    rows: int
    complete: set[int]  # episodes whose rows are all there, in their file, without problems
    clean: bool  # no problem at all in the data files: dataset statistics can be recomputed


def _values(array: pa.Array, width: int, dtype: str) -> tuple[np.ndarray | None, str | None]:
    """A column as an (n, width) array, or why it cannot be."""
    leaf = ARROW_TYPES.get(dtype)
    kind = array.type
    if pa.types.is_fixed_size_list(kind) or pa.types.is_list(kind) or pa.types.is_large_list(kind):
        if leaf is not None and kind.value_type != leaf:
            return None, f"holds {kind.value_type} values, info.json says {dtype}"
        if pa.types.is_fixed_size_list(kind):
            if kind.list_size != width:
                return None, f"holds lists of {kind.list_size} values, info.json shape says {width}"
        else:
            lengths = array.value_lengths().to_numpy(zero_copy_only=False)
            if np.any(lengths != width):
                return None, f"holds a list of {int(lengths[lengths != width][0])} values, info.json shape says {width}"
        if array.null_count:
            return None, f"has {array.null_count} null cells"
        flat = array.flatten()
        if flat.null_count:
            return None, f"has {flat.null_count} null values"
        return flat.to_numpy(zero_copy_only=False).reshape(-1, width), None
    if width != 1:
        return None, f"is a scalar column, info.json shape says {width} values"
    if leaf is not None and kind != leaf:
        return None, f"is {kind}, info.json says {dtype}"
    if array.null_count:
        return None, f"has {array.null_count} null values"
    return array.to_numpy(zero_copy_only=False).reshape(-1, 1), None


def check_data(
    root: Path, info: Info, episodes: list[Episode], tasks: list[str] | None, wanted: set[int], report: Report
) -> DataScan | None:
    """Stream every data file in lerobot's order: row i must be frame `index == i`."""
    paths = sorted((root / "data").glob("*/*.parquet"))
    if not paths:
        report.fail(root / "data", "no data parquet files")
        return None
    n_eps = len(episodes)
    starts = np.array([ep.start for ep in episodes], dtype=np.int64)
    stops = np.array([ep.stop for ep in episodes], dtype=np.int64)
    total = int(stops[-1]) if n_eps else 0
    episodes_in = Counter(info.data_file(*ep.data_file) for ep in episodes)  # episodes in each data file
    numeric = info.numeric_keys
    sums = {key: _FeatureSums(n_eps, info.width(key)) for key in numeric}
    vector_keys = [key for key in numeric if key not in lerobot_format.DEFAULT_FEATURES]
    wanted_array = np.array(sorted(wanted), dtype=np.int64)
    samples: dict[int, dict[str, np.ndarray]] = {}
    rows_in: dict[int, dict[str, int]] = {}  # episode -> data file -> rows
    bad_files: set[str] = set()
    problems_before = len(report.problems)
    position = 0
    for path in paths:
        where = report.where(path)
        if where not in episodes_in:
            report.fail(path, "no episode refers to this file, yet lerobot loads its rows along with all others")
        try:
            parquet = pq.ParquetFile(path)
        except (pa.ArrowException, OSError) as exc:
            report.fail(path, f"unreadable ({exc})")
            continue
        names = parquet.schema_arrow.names
        missing = [key for key in numeric if key not in names]
        if missing:
            report.fail(path, f"missing columns {', '.join(missing)}")
            position += parquet.metadata.num_rows
            continue
        size = path.stat().st_size
        if episodes_in[where] > 1 and size > info.data_mb * MB * 1.1:
            report.warn(path, f"{size / MB:.0f} MB, above data_files_size_in_mb {info.data_mb:g} MB")
        bad: dict[str, tuple[int, str]] = {}  # check -> (count, first example)
        file_start = position

        def flag(check: str, count: int, example: str, bad=bad) -> None:
            prev = bad.get(check)
            bad[check] = (count + (prev[0] if prev else 0), prev[1] if prev else example)

        try:
            for batch in parquet.iter_batches(batch_size=BATCH_ROWS, columns=numeric):
                n = batch.num_rows
                cols: dict[str, np.ndarray] = {}
                for key in numeric:
                    values, error = _values(batch.column(key), info.width(key), info.features[key]["dtype"])
                    if error:
                        flag(f"type:{key}", n, f"column {key} {error}")
                    else:
                        cols[key] = values
                if any(k not in cols for k in lerobot_format.DEFAULT_FEATURES if k != "task_index"):
                    position += n
                    continue
                rows = np.arange(position, position + n)
                index = cols["index"][:, 0].astype(np.int64)
                ep = cols["episode_index"][:, 0].astype(np.int64)
                frame = cols["frame_index"][:, 0].astype(np.int64)
                stamp = cols["timestamp"][:, 0]
                wrong = np.flatnonzero(index != rows)
                if len(wrong):
                    r = wrong[0]
                    flag(
                        "index",
                        len(wrong),
                        f"row {position - file_start + r} holds index {index[r]}, lerobot reads it as frame "
                        f"{rows[r]} (rows missing, duplicated or out of order)",
                    )
                inside = (index >= 0) & (index < total)
                if not inside.all():
                    r = np.flatnonzero(~inside)[0]
                    flag("range", int((~inside).sum()), f"index {index[r]} is outside 0..{total - 1}")
                expect_ep = np.searchsorted(stops, index, side="right")
                expect_ep[~inside] = -1
                wrong = np.flatnonzero(inside & (ep != expect_ep))
                if len(wrong):
                    r = wrong[0]
                    flag("episode", len(wrong), f"index {index[r]} has episode_index {ep[r]}, expected {expect_ep[r]}")
                safe_ep = np.clip(expect_ep, 0, max(0, n_eps - 1))
                expect_frame = index - starts[safe_ep]
                wrong = np.flatnonzero(inside & (frame != expect_frame))
                if len(wrong):
                    r = wrong[0]
                    flag(
                        "frame",
                        len(wrong),
                        f"index {index[r]} has frame_index {frame[r]}, expected {expect_frame[r]}",
                    )
                expect_stamp = (frame / info.fps).astype(np.float32)
                off = np.abs(stamp.astype(np.float64) - expect_stamp) > np.spacing(np.abs(expect_stamp)) + 1e-9
                wrong = np.flatnonzero(off)
                if len(wrong):
                    r = wrong[0]
                    flag(
                        "timestamp",
                        len(wrong),
                        f"index {index[r]} has timestamp {float(stamp[r]):.6f}, "
                        f"frame_index {frame[r]} / fps {info.fps} = {float(expect_stamp[r]):.6f}",
                    )
                if "task_index" in cols:
                    task = cols["task_index"][:, 0].astype(np.int64)
                    limit = len(tasks) if tasks is not None else info.total_tasks or 0
                    wrong = np.flatnonzero((task < 0) | (task >= limit))
                    if len(wrong):
                        flag("task", len(wrong), f"index {index[wrong[0]]} has task_index {task[wrong[0]]}")
                    elif tasks is not None:
                        for e, t in np.unique(np.stack([ep, task], axis=1), axis=0).tolist():
                            if 0 <= e < n_eps and tasks[t] not in episodes[e].tasks:
                                flag(f"task-{e}", 1, f"episode {e} has rows of task {tasks[t]!r}, not its own")
                for key in vector_keys:
                    if key in cols and np.issubdtype(cols[key].dtype, np.floating):
                        finite = np.isfinite(cols[key]).all(axis=1)
                        if not finite.all():
                            flag(f"nan:{key}", int((~finite).sum()), f"index {index[~finite][0]}: {key} is NaN or inf")
                # per-episode sums (rows grouped by their episode_index)
                valid = (ep >= 0) & (ep < n_eps)
                order = np.argsort(ep[valid], kind="stable")
                grouped = ep[valid][order]
                if len(grouped):
                    first = np.flatnonzero(np.r_[True, grouped[1:] != grouped[:-1]])
                    ids = grouped[first]
                    counts = np.diff(np.append(first, len(grouped)))
                    for e, c in zip(ids.tolist(), counts.tolist(), strict=True):
                        per_file = rows_in.setdefault(e, {})
                        per_file[where] = per_file.get(where, 0) + c
                    for key, values in cols.items():
                        sums[key].add(ids, first, values[valid][order].astype(np.float64))
                if len(wanted_array):
                    for r in np.flatnonzero(np.isin(index, wanted_array)):
                        samples[int(index[r])] = {key: cols[key][r].copy() for key in vector_keys if key in cols}
                position += n
        except (pa.ArrowException, OSError) as exc:
            report.fail(path, f"unreadable after {position - file_start} rows ({exc})")
            bad_files.add(where)
        for count, example in bad.values():
            report.fail(path, example + (f"; {count} rows like this" if count > 1 else ""))
        if bad:
            bad_files.add(where)
    if position != total:
        report.fail(root / "data", f"the data files hold {position} rows, the episodes' lengths add up to {total}")
    for ep in episodes:
        have = rows_in.get(ep.index, {})
        declared = info.data_file(*ep.data_file)
        for where, count in sorted(have.items()):
            if where != declared and where in episodes_in:  # an unreferenced file is reported once
                report.fail(where, f"holds {count} rows of episode {ep.index}, meta/episodes puts it in {declared}")
        if have.get(declared, 0) != ep.length:
            report.fail(declared, f"episode {ep.index} has {have.get(declared, 0)} rows, its length is {ep.length}")
    complete = {
        ep.index
        for ep in episodes
        if rows_in.get(ep.index) == {info.data_file(*ep.data_file): ep.length}
        and info.data_file(*ep.data_file) not in bad_files
    }
    return DataScan(sums, samples, position, complete, len(report.problems) == problems_before)


# --- statistics -------------------------------------------------------------------------------


def _expected_stat_shape(info: Info, key: str) -> tuple[int, ...]:
    ft = info.features[key]
    if ft["dtype"] in ("video", "image"):
        return (ft["shape"][2] if len(ft["shape"]) == 3 else 3, 1, 1)
    return (info.width(key),)


def _sanity(stats: dict[str, np.ndarray], shape: tuple[int, ...], label: str) -> list[str]:
    """Complete, right shapes, ordered quantiles, std >= 0: what any statistics must satisfy."""
    problems = []
    missing = [name for name in STAT_KEYS if name not in stats]
    if missing:
        problems.append(f"{label} lacks {', '.join(missing)}")
    values = {name: stats[name] for name in STAT_KEYS if name in stats and name != "count"}
    for name, value in values.items():
        if value.shape != shape:
            problems.append(f"{label} {name} has shape {value.shape}, expected {shape}")
        elif not np.isfinite(value).all():
            problems.append(f"{label} {name} is not finite")
    if any(v.shape != shape or not np.isfinite(v).all() for v in values.values()) or missing:
        return problems
    lo, hi = values["min"], values["max"]
    slack = 1e-8 + 1e-6 * np.abs(hi - lo)
    chain = ["min", *QUANTILE_KEYS, "max"]
    for a, b in itertools.pairwise(chain):
        bad = np.flatnonzero((values[a] > values[b] + slack).reshape(-1))
        if len(bad):
            i = bad[0]
            problems.append(
                f"{label} {a} > {b} at [{i}] ({values[a].reshape(-1)[i]:.6g} > {values[b].reshape(-1)[i]:.6g})"
            )
    bad = np.flatnonzero(((values["mean"] < lo - slack) | (values["mean"] > hi + slack)).reshape(-1))
    if len(bad):
        i = bad[0]
        problems.append(f"{label} mean[{i}] = {values['mean'].reshape(-1)[i]:.6g} is outside [min, max]")
    bad = np.flatnonzero((values["std"] < 0).reshape(-1))
    if len(bad):
        problems.append(f"{label} std[{bad[0]}] is negative")
    return problems


def _disagree(got: np.ndarray, want: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """Positions where ``got`` and ``want`` (same shape) differ beyond float noise."""
    tol = 1e-5 * np.maximum(np.asarray(scale, np.float64).reshape(-1), np.abs(want)) + 1e-9
    return np.flatnonzero(~(np.abs(got - want) <= tol))


def _span(stats: dict) -> np.ndarray:
    return np.abs(np.asarray(stats["max"], np.float64) - np.asarray(stats["min"], np.float64))


def _compare(
    report: Report, path: Path | str, label: str, stats: dict, truth: dict, source: str, span: np.ndarray
) -> None:
    """One line per statistic of ``stats`` that disagrees with ``truth`` (first differing entry)."""
    for name, want in truth.items():
        if name not in stats:
            continue
        got = np.asarray(stats[name], np.float64).reshape(-1)
        want = np.asarray(want, np.float64).reshape(-1)
        if got.shape != want.shape:
            continue  # the sanity check reports wrong shapes
        bad = _disagree(got, want, span if name != "count" else 0)
        if len(bad):
            at = bad[0]
            more = f" (and {len(bad) - 1} more entries)" if len(bad) > 1 else ""
            report.fail(path, f"{label} {name}[{at}] = {got[at]:.6g}, {source} give {want[at]:.6g}{more}")


def check_stats(root: Path, info: Info, episodes: list[Episode] | None, scan: DataScan | None, report: Report) -> None:
    path = root / lerobot_format.STATS_PATH
    dataset_stats: dict[str, dict[str, np.ndarray]] | None = None
    if not path.exists():
        report.fail(path, "missing (lerobot normalizes with it)")
    else:
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
            dataset_stats = {
                key: {name: np.atleast_1d(np.asarray(v, dtype=np.float64)) for name, v in ft.items()}
                for key, ft in raw.items()
            }
        except (OSError, ValueError, TypeError, AttributeError) as exc:
            report.fail(path, f"unreadable ({exc})")
    keys = [key for key, ft in info.features.items() if ft["dtype"] not in ("string", "language")]
    ep_ok = episodes is not None
    if dataset_stats is not None:
        for key in keys:
            if key not in dataset_stats:
                report.fail(path, f"no statistics for feature {key}")
                continue
            for problem in _sanity(dataset_stats[key], _expected_stat_shape(info, key), key):
                report.fail(path, problem)
    per_episode: list[dict[str, dict[str, np.ndarray]]] = []
    without: dict[tuple[str, str], list[int]] = {}  # (episodes file, feature) -> episodes lacking stats
    for ep in episodes or []:
        for key in keys:
            ft_stats = ep.stats.get(key)
            if ft_stats is None:
                without.setdefault((ep.source, key), []).append(ep.index)
                ep_ok = False
                continue
            problems = _sanity(ft_stats, _expected_stat_shape(info, key), f"episode {ep.index} stats/{key}")
            for problem in problems:
                report.fail(ep.source, problem)
            ep_ok = ep_ok and not problems
            if "count" in ft_stats:
                is_image = info.features[key]["dtype"] in ("video", "image")
                want = estimate_num_samples(ep.length) if is_image else ep.length
                if int(ft_stats["count"].reshape(-1)[0]) != want:
                    what = "sampled frames" if is_image else "frames"
                    report.fail(
                        ep.source,
                        f"episode {ep.index} stats/{key}/count is {int(ft_stats['count'].reshape(-1)[0])}, "
                        f"expected {want} ({what} of {ep.length})",
                    )
        per_episode.append(ep.stats)
        # episode stats against the data (when its rows are right: else that is the problem)
        if scan is not None and ep.index in scan.complete:
            for key in keys:
                if key in scan.sums and key in ep.stats:
                    truth = scan.sums[key].episode(ep.index)
                    if truth is not None:
                        label = f"episode {ep.index} stats/{key}"
                        _compare(report, ep.source, label, ep.stats[key], truth, "the data", _span(truth))
    for (source, key), lacking in without.items():
        if len(lacking) == 1:
            report.fail(source, f"episode {lacking[0]} has no stats/{key}/... values")
        else:
            report.fail(source, f"{len(lacking)} episodes ({lacking[0]}..{lacking[-1]}) have no stats/{key}/... values")
    if dataset_stats is None:
        return
    # stats.json against the data (min/max/mean/count of numeric features) and against the
    # aggregate of the episodes' stats (everything else: images, std, quantiles)
    merged = aggregate([{k: v for k, v in s.items() if k in keys} for s in per_episode]) if ep_ok else {}
    for key in keys:
        if key not in dataset_stats:
            continue
        data = scan.sums[key].dataset() if scan is not None and scan.clean and key in scan.sums else None
        checked: set[str] = set()
        if data is not None:
            truth = {**data, "count": np.array([scan.rows])}
            _compare(report, path, key, dataset_stats[key], truth, "the data", _span(data))
            checked = set(truth)
        if key in merged:
            truth = {name: value for name, value in merged[key].items() if name not in checked}
            _compare(report, path, key, dataset_stats[key], truth, "the episodes' stats", _span(merged[key]))


# --- videos -----------------------------------------------------------------------------------


@dataclass
class VideoScan:
    times: np.ndarray  # seconds of every decoded frame, as lerobot computes them
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
                    if frame.pts is None:
                        continue
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


def check_video_file(report: Report, info: Info, key: str, path: Path, members: list[Episode], scan: VideoScan) -> None:
    fps = info.fps
    height, width = info.features[key]["shape"][:2]
    needed = sum(ep.length for ep in members)
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
        # lerobot asks for from_timestamp + timestamp (float32) and compares in float32
        query = ref.start_s + (np.arange(ep.length) / fps).astype(np.float32).astype(np.float64)
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
            found = f"nearest decoded frame at {nearest[k]:.6f} s" if n else "no frame decodes"
            report.fail(
                path,
                f"{label}: {len(bad)} of {ep.length} frames not decodable within {TOLERANCE_S:g} s of their "
                f"timestamp (first: frame {k} at {query[k]:.6f} s, {found})",
            )
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


# --- against the source bags ------------------------------------------------------------------


def sample_frames(length: int, count: int = SAMPLES_PER_EPISODE) -> list[int]:
    """First, last and evenly spaced frames between them."""
    return sorted({int(k) for k in np.round(np.linspace(0, length - 1, min(count, length)))})


def _nearest(times: np.ndarray, target: int) -> int:
    """argmin |times - target|, a tie to the earlier message (like the original converter)."""
    i = int(np.searchsorted(times, target, side="left"))
    if i == 0:
        return 0
    if i == len(times):
        return len(times) - 1
    return i - 1 if target - times[i - 1] <= times[i] - target else i


class FrameReader:
    """Dataset frames at given times, the way lerobot's PyAV decoder finds them: seek to the
    keyframe before, decode forward to the frame within tolerance. Files stay open until close()."""

    def __init__(self) -> None:
        self._open: dict[Path, av.container.InputContainer] = {}

    def frame_at(self, path: Path, t: float, fmt: str = "rgb24") -> np.ndarray | None:
        try:
            container = self._open.get(path)
            if container is None:
                container = self._open[path] = av.open(str(path))
            stream = container.streams.video[0]
            container.seek(max(0, round(t / stream.time_base) - 1), backward=True, any_frame=False, stream=stream)
            for frame in container.decode(stream):
                if frame.pts is None:
                    continue
                frame_t = float(frame.pts * stream.time_base)
                if abs(frame_t - t) < TOLERANCE_S:
                    return frame.to_ndarray(format=fmt)
                if frame_t > t:
                    return None
        except (av.FFmpegError, OSError, ValueError, IndexError):
            return None
        return None

    def close(self) -> None:
        for container in self._open.values():
            container.close()
        self._open.clear()


@dataclass
class _Source:
    """One source bag: its timeline (the frames stage 1 makes of it) and where they start."""

    path: Path
    targets: np.ndarray  # record time (ns) of each frame
    first: int  # global index of its first frame in the dataset

    @property
    def stop(self) -> int:
        return self.first + len(self.targets)


def _sources(inputs: list[Path], profile: Profile, episodes: list[Episode], root: Path, report: Report):
    """The bags' timelines (from their index only), laid end to end like merge does; None if
    they cannot be what the dataset was made from."""
    from spill2lerobot.bag import BagError, open_bag
    from spill2lerobot.features import extractor_for
    from spill2lerobot.spill.stage1 import check_topics, list_bags, make_plan

    bags = list_bags(inputs)
    if profile.rosbag.num_used is not None:
        bags = bags[: profile.rosbag.num_used]
    sources: list[_Source] = []
    first = 0
    for path in bags:
        try:
            with open_bag(path) as bag:
                extractor = extractor_for(profile)
                roles = extractor.resolve_topics(bag.topics())
                check_topics(bag, roles, extractor.expected_types(roles))
                _, targets = make_plan(bag, profile, roles)
        except (BagError, UserError) as exc:
            report.fail(path, str(exc).removeprefix(f"{path}: "))
            return None
        sources.append(_Source(path, targets, first))
        first += len(targets)
    lengths = [ep.length for ep in episodes]
    # one episode per bag, or several (chunk mode): either way every bag ends where an episode ends
    if first != sum(lengths) or not {src.stop for src in sources} <= {ep.stop for ep in episodes}:
        frames = ", ".join(str(len(src.targets)) for src in sources)
        shown = ", ".join(map(str, lengths[:10])) + (", ..." if len(lengths) > 10 else "")
        report.fail(
            root,
            f"--against: the {len(sources)} bags give {frames} frames ({first}), the dataset's {len(episodes)} "
            f"episodes have {shown} ({sum(lengths)}): not the source bags (in sorted order), or converted with "
            "other options (pass the same --config/--set)",
        )
        return None
    return sources


def _picked_messages(bag, topics: tuple[str, ...], times: dict[str, np.ndarray], target: int) -> dict[str, bytes]:
    """Each topic's message nearest to ``target`` (a tie to the earlier; of equal times the first
    in the bag), read from the few chunks around it."""
    wanted = {topic: int(times[topic][_nearest(times[topic], target)]) for topic in topics}
    raw: dict[str, bytes] = {}
    for msg in bag.messages(topics, min(wanted.values()), max(wanted.values())):
        if msg.time_ns == wanted[msg.topic] and msg.topic not in raw:
            raw[msg.topic] = msg.data
            if len(raw) == len(wanted):
                break
    return raw


def check_against(
    root: Path,
    info: Info,
    episodes: list[Episode],
    scan: DataScan | None,
    inputs: list[Path],
    profile: Profile,
    report: Report,
    progress: ProgressFn,
) -> None:
    """Rebuild a few frames per episode from the source bags and compare them with the dataset."""
    from spill2lerobot.bag import BagError, open_bag
    from spill2lerobot.features import extractor_for
    from spill2lerobot.profile import image_pixel_limit
    from spill2lerobot.spill.images import ImageDecoder, image_of
    from spill2lerobot.spill.video import EncoderSettings, to_rgb

    info_path = root / lerobot_format.INFO_PATH
    extractor = extractor_for(profile)
    all_names = {"observation.state": extractor.state_names(), "action": extractor.action_names()}
    for key, names in all_names.items():
        have = info.features.get(key, {}).get("names")
        if have != names:
            report.fail(
                info_path,
                f"{key} names {have} differ from the profile's {names}; "
                "pass the --config/--set used for the conversion",
            )
            return
    if profile.dataset.train_hz != info.fps:
        report.fail(info_path, f"fps {info.fps} != the profile's dataset.train_hz {profile.dataset.train_hz}")
        return
    missing = [cam.key for cam in extractor.cameras() if cam.key not in info.video_keys]
    if missing:
        hint = "pass the --config/--set used for the conversion"
        report.fail(info_path, f"no video feature {', '.join(missing)}; {hint}")
        return
    sources = _sources(inputs, profile, episodes, root, report)
    if sources is None:
        return
    mode = "one episode per bag" if len(episodes) == len(sources) else "several episodes per bag (chunk mode)"
    report.notes.append(f"against: {len(sources)} bags, {mode}")
    report.bags = len(sources)
    settings = EncoderSettings.from_profile(profile)
    rows = scan.samples if scan is not None else {}
    decoder = ImageDecoder(image_pixel_limit(profile))  # bigger source images are not decoded
    for src in sources:
        members = [ep for ep in episodes if src.first <= ep.start < src.stop]
        progress(f"validate: comparing {len(members)} episodes with {src.path.name}")
        with open_bag(src.path) as bag, contextlib.closing(FrameReader()) as frames:
            roles = extractor.resolve_topics(bag.topics())
            times = {topic: bag.topic_times(topic) for topic in roles.all}
            msgtypes = {topic: topic_info.msgtype for topic, topic_info in bag.topics().items()}
            for ep, k in ((member, k) for member in members for k in sample_frames(member.length)):
                report.compared += 1
                in_bag = ep.start + k - src.first
                target = int(src.targets[in_bag])
                label = f"episode {ep.index} frame {k} (bag frame {in_bag}, t={target / 1e9:.6f} s)"
                try:
                    raw = _picked_messages(bag, roles.all, times, target)
                except BagError as exc:  # a damaged chunk: this frame cannot be compared, the others can
                    report.fail(src.path, f"{label}: {str(exc).removeprefix(f'{src.path}: ')}")
                    continue
                if len(raw) < len(roles.all):
                    lost = ", ".join(t for t in roles.all if t not in raw)
                    report.fail(src.path, f"{label}: cannot read the messages of {lost} its index lists")
                    continue
                # state and action: exactly what stage 1 computes from these messages
                msgs = {topic: bag.deserialize_raw(raw[topic], msgtypes[topic]) for topic in roles.lowdim}
                state, action = extractor.state_and_action(roles, msgs)
                row = rows.get(ep.start + k, {})
                for key, value in (("observation.state", state), ("action", action)):
                    if key not in row:
                        continue  # the data check reports missing rows
                    have = np.asarray(row[key], dtype=np.float32)
                    if not np.allclose(have, value, rtol=1e-6, atol=1e-6):
                        i = int(np.argmax(np.abs(have - value)))
                        report.fail(
                            src.path,
                            f"{label}: {key} differs from the bag (largest difference {abs(have[i] - value[i]):.4g} "
                            f"at {all_names[key][i]}: dataset {have[i]:.6g}, bag {value[i]:.6g})",
                        )
                # images: the source JPEG resized like stage 1 vs the frame lerobot decodes
                for cam in roles.cameras:
                    height, width = info.features[cam.key]["shape"][:2]
                    if cam.is_depth:
                        _check_depth_frame(report, src.path, label, root, info, cam, raw, ep, k, frames, profile)
                        continue
                    try:
                        if bag.serialization == "cdr":  # ROS2: CompressedImage cameras
                            image = bag.compressed_image_data(raw[cam.topic])
                        else:
                            image = image_of(msgtypes[cam.topic])(raw[cam.topic])
                        size = dataclasses.replace(settings, width=width, height=height)
                        source = to_rgb(decoder.decode(image), size)
                    except (av.FFmpegError, ValueError) as exc:
                        report.fail(src.path, f"{label}: its {cam.topic} image is undecodable ({exc})")
                        continue
                    ref = ep.videos[cam.key]
                    video = root / info.video_file(cam.key, ref.chunk, ref.file)
                    shown = frames.frame_at(video, ref.start_s + float(np.float32(k / info.fps)))
                    if shown is None:
                        continue  # the video check reports undecodable frames
                    mad = float(np.abs(shown.astype(np.int16) - source.astype(np.int16)).mean())
                    if mad > IMAGE_MAD_LIMIT:
                        report.fail(
                            src.path,
                            f"{label}: {cam.key} differs from the bag's image (mean absolute difference "
                            f"{mad:.1f} per pixel, limit {IMAGE_MAD_LIMIT:g})",
                        )


def _check_depth_frame(report, bag_path, label, root, info, cam, raw, ep, k, frames, profile) -> None:
    """A depth camera's frame against the bag: native depth in millimetres (what lerobot decodes),
    the 8-bit form like a colour image."""
    from spill2lerobot.profile import image_pixel_limit
    from spill2lerobot.spill.depth import DepthDecoder, dequantize_mm, resize_nearest, rgb8_form

    feature = info.features[cam.key]
    height, width = feature["shape"][:2]
    native = bool((feature.get("info") or {}).get("is_depth_map"))
    try:
        depth = DepthDecoder.decode_message(raw[cam.topic], cam.kind == "depth_raw", image_pixel_limit(profile))
        depth = resize_nearest(depth, width, height)
    except (av.FFmpegError, ValueError) as exc:
        report.fail(bag_path, f"{label}: its {cam.topic} depth image is undecodable ({exc})")
        return
    ref = ep.videos[cam.key]
    video = root / info.video_file(cam.key, ref.chunk, ref.file)
    t = ref.start_s + float(np.float32(k / info.fps))
    if native:
        shown = frames.frame_at(video, t, "gray12le")
        if shown is None:
            return  # the video check reports undecodable frames
        mad, limit, unit = float(np.abs(dequantize_mm(shown) - depth).mean()), DEPTH_MAD_LIMIT_MM, " mm"
    else:
        shown = frames.frame_at(video, t)
        if shown is None:
            return
        source = rgb8_form(depth, profile.dataset.depth_range)
        mad, limit, unit = float(np.abs(shown.astype(np.int16) - source.astype(np.int16)).mean()), IMAGE_MAD_LIMIT, ""
    if mad > limit:
        report.fail(
            bag_path,
            f"{label}: {cam.key} differs from the bag's depth (mean absolute difference {mad:.1f}{unit} per pixel, "
            f"limit {limit:g}{unit})",
        )


# --- entry points -----------------------------------------------------------------------------


def validate_dataset(
    root: Path,
    against: Iterable[Path] = (),
    profile: Profile | None = None,
    progress: ProgressFn = lambda message: None,
) -> Report:
    """Run every check on the dataset at ``root``; never raises for a damaged dataset."""
    root = Path(root)
    if not root.is_dir():
        raise UserError(f"{root}: no such folder; pass a LeRobot dataset folder")
    report = Report(root)
    info = check_info(root, report)
    if info is None:
        return report
    tasks = check_tasks(root, info, report)
    episodes = check_episodes(root, info, tasks, report)
    against = list(against)
    wanted: set[int] = set()
    if against and episodes:
        wanted = {ep.start + k for ep in episodes for k in sample_frames(ep.length)}
    scan = None
    if episodes:
        progress(f"validate: reading data of {len(episodes)} episodes")
        scan = check_data(root, info, episodes, tasks, wanted, report)
        report.episodes = len(episodes)
        report.frames = sum(ep.length for ep in episodes)
    check_stats(root, info, episodes, scan, report)
    if episodes and info.video_keys:
        check_videos(root, info, episodes, report, progress)
    if against and episodes:
        if profile is None:
            from spill2lerobot.profile import load_profile

            profile = load_profile()
        check_against(root, info, episodes, scan, against, profile, report, progress)
    return report


@click.command(
    name="validate",
    epilog="Example:\n\n  spill2lerobot validate /data/lerobot/kuavo_pick --against demos/",
)
@click.argument("out", type=click.Path(path_type=Path))
@click.option(
    "--against",
    "against",
    multiple=True,
    type=click.Path(path_type=Path),
    metavar="BAG_OR_DIR",
    help="Also compare sampled frames with these source bags (files or folders, as given to convert).",
)
@click.option("--config", "config", type=click.Path(path_type=Path), help="Profile used for the conversion.")
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE", help="Options used for the conversion.")
def validate_command(out: Path, against: tuple[Path, ...], config: Path | None, overrides: tuple[str, ...]) -> None:
    """Check the LeRobot dataset OUT the way lerobot reads it; exit code 1 if anything is wrong."""
    from spill2lerobot.profile import load_profile

    profile = load_profile(config, overrides) if against else None
    report = validate_dataset(out, against, profile, progress=lambda message: click.echo(message, err=True))
    for line in report.lines():
        click.echo(line)
    click.echo(report.summary())
    if not report.ok:
        sys.exit(1)
