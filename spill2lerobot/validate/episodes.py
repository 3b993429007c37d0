"""The episodes table (``meta/episodes/*/*.parquet``): one row per episode, contiguous frame ranges."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from spill2lerobot import lerobot_format
from spill2lerobot.validate.metadata import Floats, Info, is_int
from spill2lerobot.validate.report import Report

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
    stats: dict[str, dict[str, Floats]]

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


@dataclass
class _Table:
    """One episodes file's columns, as Python lists."""

    path: Path
    where: str
    rows: int
    cols: dict[str, list[Any]]
    stats_cols: dict[str, list[Any]]


@dataclass
class _EpisodesReader:
    """Reads the episodes files in order, keeping where the next episode must start."""

    root: Path
    info: Info
    tasks: list[str] | None
    report: Report
    episodes: list[Episode] = field(default_factory=list)
    next_start: int = 0  # where the next episode must start (after the previous one)
    derived_start: int = 0

    def read_file(self, path: Path) -> _Table | None:
        """The file's needed columns, or None (reported) when they cannot be used."""
        report, info = self.report, self.info
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
        return _Table(path, report.where(path), table.num_rows, cols, stats_cols)

    def add_row(self, table: _Table, row: int) -> None:
        report, info, path, cols = self.report, self.info, table.path, table.cols
        position = len(self.episodes)
        ep_index, length = cols["episode_index"][row], cols["length"][row]
        start, stop = cols["dataset_from_index"][row], cols["dataset_to_index"][row]
        label = f"episode {ep_index}"
        if ep_index != position:
            report.fail(path, f"row {row} holds episode_index {ep_index}, expected {position} (0..n-1 in order)")
        if not is_int(length) or length <= 0:
            report.fail(path, f"{label} length {length} is not a positive number of frames")
            length = 0
        if start != self.next_start:
            what = "0 for the first episode" if position == 0 else "the previous episode's dataset_to_index"
            report.fail(path, f"{label} dataset_from_index {start} != {what} {self.next_start}")
        if stop != start + length:
            report.fail(path, f"{label} dataset_to_index {stop} != dataset_from_index {start} + length {length}")
        # a wrong dataset_to_index is one problem, not also the next episode's
        self.next_start = stop if is_int(stop) and stop == start + length else start + length
        data_file = (cols["data/chunk_index"][row], cols["data/file_index"][row])
        if not (self.root / info.data_file(*data_file)).exists():
            report.fail(path, f"{label} refers to {info.data_file(*data_file)}, which does not exist")
        ep_tasks = cols["tasks"][row] or []
        if not ep_tasks:
            report.fail(path, f"{label} has no task")
        elif self.tasks is not None:
            unknown = [t for t in ep_tasks if t not in self.tasks]
            if unknown:
                report.fail(path, f"{label} task {unknown[0]!r} is not in meta/tasks.parquet")
        videos = {}
        for key in info.video_keys:
            c = [cols[f"videos/{key}/{name}"][row] for name in VIDEO_COLUMNS]
            videos[key] = VideoRef(int(c[0]), int(c[1]), float(c[2]), float(c[3]))
        stats: dict[str, dict[str, Floats]] = {}
        for name, values in table.stats_cols.items():
            feature, stat = name[len("stats/") :].rsplit("/", 1)
            if values[row] is not None:
                stats.setdefault(feature, {})[stat] = np.asarray(values[row], dtype=np.float64)
        episode = Episode(position, length, self.derived_start, table.where, data_file, ep_tasks, videos, stats)
        self.episodes.append(episode)
        self.derived_start += length


def check_episodes(root: Path, info: Info, tasks: list[str] | None, report: Report) -> list[Episode] | None:
    """meta/episodes/*/*.parquet, concatenated in path order like lerobot does."""
    paths = sorted((root / "meta/episodes").glob("*/*.parquet"))
    if not paths:
        report.fail(root / "meta/episodes", "no episodes parquet files")
        return None
    reader = _EpisodesReader(root, info, tasks, report)
    for path in paths:
        table = reader.read_file(path)
        if table is None:
            return None
        for row in range(table.rows):
            reader.add_row(table, row)
    episodes = reader.episodes
    total = sum(ep.length for ep in episodes)
    info_path = root / lerobot_format.INFO_PATH
    if info.total_episodes is not None and info.total_episodes != len(episodes):
        report.fail(info_path, f"total_episodes is {info.total_episodes}, meta/episodes holds {len(episodes)}")
    if info.total_frames is not None and info.total_frames != total:
        report.fail(info_path, f"total_frames is {info.total_frames}, the episodes' lengths add up to {total}")
    return episodes
