"""An existing LeRobot v3.0 dataset that new episodes are appended to: what it holds (totals,
tasks, per-episode statistics, which bags), and the next free file of each kind. Read only."""

from __future__ import annotations

import json
import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from spill2lerobot import lerobot_format
from spill2lerobot.errors import UserError
from spill2lerobot.lerobot_format import next_file
from spill2lerobot.stats import Stats

MAX_META_BYTES = 64 * 1024 * 1024
CONVERTER = "python -m lerobot.scripts.convert_dataset_v21_to_v30 --repo-id={repo_id}"
REPORT_PATH = "meta/spill2lerobot_report.json"
_INDEXED = re.compile(r"chunk-([0-9]{3,})/file-([0-9]{3,})\.(parquet|mp4)(\.tmp)?")  # a .tmp counts too

FileIndex = tuple[int, int]


@dataclass
class Dataset:
    root: Path
    info: dict[str, Any]
    episode_stats: list[dict[str, Stats]]
    episodes_schema: pa.Schema
    tasks: list[str]  # in task_index order
    report: dict[str, Any] | None  # ours, None when lerobot wrote the dataset
    next_files: dict[str, FileIndex]  # "data", "meta" and each video key -> first unused file

    @property
    def total_episodes(self) -> int:
        return int(self.info["total_episodes"])

    @property
    def total_frames(self) -> int:
        return int(self.info["total_frames"])

    def has_bag(self, fingerprint: str, path: str) -> bool:
        """The bag is already in the dataset: by fingerprint, or (reports of plain merges, which
        record none) by its path."""
        for bag in (self.report or {}).get("bags", []):
            if bag.get("fingerprint") == fingerprint or ("fingerprint" not in bag and bag.get("bag") == path):
                return True
        return False


def read_dataset(root: Path, repo_hint: str = "<your/repo_id>") -> Dataset:
    """Everything appending needs, checked: a LeRobot v3.0 dataset, its metadata consistent."""
    if root.is_symlink() or not root.is_dir():
        raise UserError(
            f"{root}: not a folder; --append adds episodes to an existing dataset, drop --append to make one"
        )
    info = _read_json(root / lerobot_format.INFO_PATH, "not a LeRobot dataset (no meta/info.json)")
    version = str(info.get("codebase_version", "?"))
    if version != lerobot_format.CODEBASE_VERSION:
        raise UserError(
            f"{root}: LeRobot dataset format {version[:20]}, --append needs v3.0; convert it with lerobot's "
            f"converter first: {CONVERTER.format(repo_id=repo_hint)} (lerobot 0.6.1)"
        )
    for key in ("fps", "features", "total_episodes", "total_frames"):
        if key not in info:
            raise UserError(f"{root / lerobot_format.INFO_PATH}: has no {key!r}; this is not a complete v3.0 dataset")
    table, schema = _read_episodes(root)
    if table.num_rows != info["total_episodes"]:
        raise UserError(
            f"{root}: info.json says {info['total_episodes']} episodes, meta/episodes holds {table.num_rows}; "
            "repair the dataset before appending"
        )
    report_path = root / REPORT_PATH
    report = _read_json(report_path, "") if report_path.exists() else None
    return Dataset(root, info, _episode_stats(table), schema, _read_tasks(root), report, _next_files(root, info))


def _read_json(path: Path, missing: str) -> Any:
    try:
        info = os.stat(path)
    except FileNotFoundError:
        raise UserError(f"{path.parents[1]}: {missing}; give the folder of a LeRobot v3.0 dataset") from None
    if not stat.S_ISREG(info.st_mode) or info.st_size > MAX_META_BYTES:
        raise UserError(f"{path}: not a regular metadata file of at most 64 MiB; repair the dataset before appending")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UserError(f"{path}: damaged, not JSON ({str(exc)[:80]}); repair the dataset before appending") from None


def _read_episodes(root: Path) -> tuple[pa.Table, pa.Schema]:
    paths = sorted((root / "meta" / "episodes").glob("chunk-*/file-*.parquet"))
    if not paths:
        raise UserError(f"{root}: no meta/episodes/*/*.parquet; this is not a complete v3.0 dataset")
    try:
        tables = [pq.read_table(path) for path in paths]
        return pa.concat_tables(tables, promote_options="permissive"), tables[-1].schema
    except (pa.ArrowException, OSError) as exc:
        if isinstance(exc, OSError) and not isinstance(exc, pa.ArrowException):
            raise
        raise UserError(f"{root}/meta/episodes: unreadable ({str(exc)[:100]}); repair the dataset first") from None


def _episode_stats(table: pa.Table) -> list[dict[str, Stats]]:
    """Each episode's statistics from its ``stats/<feature>/<stat>`` cells."""
    columns = {name: table.column(name).to_pylist() for name in table.column_names if name.startswith("stats/")}
    episodes: list[dict[str, Stats]] = [{} for _ in range(table.num_rows)]
    for name, values in columns.items():
        _, rest = name.split("/", 1)
        feature, stat_name = rest.rsplit("/", 1)
        for row, value in zip(episodes, values, strict=True):
            if value is not None:
                row.setdefault(feature, {})[stat_name] = np.asarray(value)
    return episodes


def _read_tasks(root: Path) -> list[str]:
    path = root / lerobot_format.TASKS_PATH
    try:
        table = pq.read_table(path)
    except (pa.ArrowException, FileNotFoundError) as exc:
        raise UserError(f"{path}: unreadable ({str(exc)[:80]}); repair the dataset before appending") from None
    if "task" not in table.column_names or "task_index" not in table.column_names:
        raise UserError(f"{path}: has no task and task_index columns; repair the dataset before appending")
    pairs = sorted(zip(table.column("task_index").to_pylist(), table.column("task").to_pylist(), strict=True))
    if [index for index, _ in pairs] != list(range(len(pairs))):
        raise UserError(f"{path}: task indices are not 0..{len(pairs) - 1}; repair the dataset before appending")
    return [str(task) for _, task in pairs]


def _next_files(root: Path, info: dict[str, Any]) -> dict[str, FileIndex]:
    """Per kind of file, the first (chunk, file) after every file of that kind present."""
    folders = {"data": root / "data", "meta": root / "meta" / "episodes"}
    for key, feature in info["features"].items():
        if isinstance(feature, dict) and feature.get("dtype") == "video":
            folders[key] = root / "videos" / key
    return {key: _after_last(folder) for key, folder in folders.items()}


def _after_last(folder: Path) -> FileIndex:
    last: FileIndex | None = None
    if folder.is_dir():
        for path in folder.glob("chunk-*/file-*"):
            match = _INDEXED.fullmatch(f"{path.parent.name}/{path.name}")
            if match:
                index = (int(match.group(1)), int(match.group(2)))
                last = index if last is None else max(last, index)
    return (0, 0) if last is None else next_file(*last)
