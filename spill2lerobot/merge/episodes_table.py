"""The episodes table (meta/episodes/...): one row per episode as lerobot 0.6.1 writes it.

Written as the episodes come, in row groups (as lerobot writes it, a batch of episodes at a
time), to a temporary file renamed when complete: a merge holds a few hundred rows at most,
never the whole table, so thousands of episodes need about the memory of forty. The dataset
statistics are then aggregated from the file's cells a feature at a time."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from spill2lerobot import lerobot_format
from spill2lerobot.fsutil import commit, tmp_path
from spill2lerobot.lerobot_format import FileIndex
from spill2lerobot.merge.plan import Episode, MergePlan
from spill2lerobot.stats import STAT_KEYS, Stats, aggregate_stacked

ROWS_PER_BATCH = 16  # rows held as Python objects (tens of KB each) before they become Arrow columns
ROWS_PER_GROUP = 256  # rows per row group: Arrow rows held until written (each group's metadata stays too)


def episode_row(plan: MergePlan, ep: Episode, ep_stats: dict[str, Stats], meta_file: FileIndex) -> dict[str, Any]:
    """One episode's row, as lerobot writes it; ``meta_file`` is where it goes."""
    fps = plan.profile.dataset.train_hz
    row = {
        "episode_index": ep.index,
        "tasks": [plan.tasks[ep.task_index]],
        "length": ep.length,
        "data/chunk_index": ep.files["data"][0],
        "data/file_index": ep.files["data"][1],
        "dataset_from_index": ep.dataset_from,
        "dataset_to_index": ep.dataset_from + ep.length,
    }
    for cam in plan.cameras:
        offset = ep.file_offset[cam.key]
        row[f"videos/{cam.key}/chunk_index"] = ep.files[cam.key][0]
        row[f"videos/{cam.key}/file_index"] = ep.files[cam.key][1]
        # From integer frame counts: no float drift across many episodes in one file.
        row[f"videos/{cam.key}/from_timestamp"] = offset / fps
        row[f"videos/{cam.key}/to_timestamp"] = (offset + ep.length) / fps
    row.update(lerobot_format.stats_columns(ep_stats))
    row["meta/episodes/chunk_index"] = meta_file[0]
    row["meta/episodes/file_index"] = meta_file[1]
    return row


def episodes_schema(rows: list[dict[str, Any]]) -> pa.Schema:
    types = {
        "episode_index": pa.int64(),
        "tasks": pa.list_(pa.string()),
        "length": pa.int64(),
        "data/chunk_index": pa.int64(),
        "data/file_index": pa.int64(),
        "dataset_from_index": pa.int64(),
        "dataset_to_index": pa.int64(),
    }
    fields = []
    for name in rows[0]:
        if name in types:
            dtype = types[name]
        elif name.startswith("stats/"):
            dtype = lerobot_format.stats_type(name.rsplit("/", 1)[1], np.asarray(rows[0][name]))
        elif name.endswith("timestamp"):
            dtype = pa.float64()
        else:
            dtype = pa.int64()
        fields.append(pa.field(name, dtype))
    return pa.schema(fields)


class EpisodesTable:
    """The table's rows as they come, written to ``path`` (under a temporary name until
    ``write``); ``schema``: the dataset's own (appending keeps its columns and types), else the
    first row's."""

    def __init__(self, path: Path, schema: pa.Schema | None = None) -> None:
        self.path = path
        self.schema = schema
        self.first_row: dict[str, Any] | None = None
        self._rows: list[dict[str, Any]] = []
        self._batches: list[pa.Table] = []  # converted, not yet written
        self._writer: pq.ParquetWriter | None = None
        self._shapes: dict[str, tuple[int, ...]] = {}  # stats column -> one episode's value shape

    def add(self, row: dict[str, Any]) -> None:
        if self.first_row is None:
            self.first_row = row
            self._shapes = {k: np.asarray(v).shape for k, v in row.items() if k.startswith("stats/")}
        self._rows.append(row)
        if len(self._rows) >= ROWS_PER_BATCH:
            self._convert()

    def _convert(self) -> None:
        if not self._rows:
            return
        self.schema = self.schema or episodes_schema(self._rows)
        self._batches.append(pa.Table.from_pylist(self._rows, schema=self.schema))
        self._rows = []
        if sum(len(b) for b in self._batches) >= ROWS_PER_GROUP:
            self._write_group()

    def _write_group(self) -> None:
        if self._writer is None:
            if self.schema is None:
                raise ValueError(f"{self.path}: an episodes table needs at least one episode")
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._writer = pq.ParquetWriter(tmp_path(self.path), self.schema)
        if self._batches:
            self._writer.write_table(pa.concat_tables(self._batches))
            self._batches = []

    def write(self) -> None:
        """Write what is left and give the file its name."""
        self._convert()
        self._write_group()
        assert self._writer is not None
        self._writer.close()
        commit(tmp_path(self.path), self.path)

    def _stat_columns(self) -> dict[str, dict[str, str]]:
        """Feature -> statistic -> its column."""
        features: dict[str, dict[str, str]] = {}
        for name in self._shapes:
            feature, stat = name.split("/", 1)[1].rsplit("/", 1)
            if stat in STAT_KEYS:
                features.setdefault(feature, {})[stat] = name
        return features

    def _stacked(self, file: pq.ParquetFile, columns: dict[str, str]) -> Stats:
        """One feature's statistics, every episode's value on a first axis, read back from the
        written file's cells: the float64/int64 values exactly (a few columns: one thread reads
        them with the least memory)."""
        table = file.read(columns=list(columns.values()), use_threads=False)
        return {stat: _column_array(table.column(name), self._shapes[name]) for stat, name in columns.items()}

    def stacked_stats(self) -> dict[str, Stats]:
        """Per feature and statistic, every episode's value on a first axis (``stack_stats``);
        after ``write``."""
        with pq.ParquetFile(self.path) as file:
            return {feature: self._stacked(file, columns) for feature, columns in self._stat_columns().items()}

    def aggregated_stats(self) -> dict[str, Stats]:
        """``aggregate_stacked(self.stacked_stats())``, one feature's columns in memory at a time;
        after ``write``."""
        merged: dict[str, Stats] = {}
        with pq.ParquetFile(self.path) as file:
            for feature, columns in self._stat_columns().items():
                merged.update(aggregate_stacked({feature: self._stacked(file, columns)}))
        return dict(sorted(merged.items()))


def _column_array(column: pa.ChunkedArray, shape: tuple[int, ...]) -> np.ndarray[Any, Any]:
    """A column of nested lists, each of ``shape``, as one (rows, *shape) array."""
    values: pa.Array = column.combine_chunks()
    for _ in shape:
        values = values.flatten()
    return np.asarray(values.to_numpy(zero_copy_only=False)).reshape(len(column), *shape)
