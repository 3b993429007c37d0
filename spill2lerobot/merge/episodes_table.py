"""The episodes table (meta/episodes/...): one row per episode as lerobot 0.6.1 writes it.

Built a batch of rows at a time into Arrow columns (a few KB per episode) instead of a Python
dict per episode (~85 KB with its statistics' arrays): a merge of thousands of episodes then
needs about the memory of a merge of forty. The file itself is written at once, as before, so
its bytes do not change; the dataset statistics are aggregated from the same columns."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from spill2lerobot import lerobot_format
from spill2lerobot.lerobot_format import FileIndex
from spill2lerobot.merge.plan import Episode, MergePlan
from spill2lerobot.stats import STAT_KEYS, Stats

ROWS_PER_BATCH = 64  # rows held as Python objects before they become Arrow columns


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
    """The table's rows as they come, kept as Arrow columns; ``schema``: the dataset's own
    (appending keeps its columns and types), else the first row's."""

    def __init__(self, schema: pa.Schema | None = None) -> None:
        self.schema = schema
        self.first_row: dict[str, Any] | None = None
        self._rows: list[dict[str, Any]] = []
        self._batches: list[pa.Table] = []
        self._shapes: dict[str, tuple[int, ...]] = {}  # stats column -> one episode's value shape

    def add(self, row: dict[str, Any]) -> None:
        if self.first_row is None:
            self.first_row = row
            self._shapes = {k: np.asarray(v).shape for k, v in row.items() if k.startswith("stats/")}
        self._rows.append(row)
        if len(self._rows) >= ROWS_PER_BATCH:
            self._flush()

    def _flush(self) -> None:
        if self._rows:
            self.schema = self.schema or episodes_schema(self._rows)
            self._batches.append(pa.Table.from_pylist(self._rows, schema=self.schema))
            self._rows = []

    def table(self) -> pa.Table:
        """All rows as one table of single-chunk columns: written, it is byte for byte the
        file ``pa.Table.from_pylist(rows)`` gives."""
        self._flush()
        if len(self._batches) != 1:  # kept combined: asked twice (statistics, file), copied once
            self._batches = [pa.concat_tables(self._batches).combine_chunks()]
        return self._batches[0]

    def stacked_stats(self) -> dict[str, Stats]:
        """Per feature and statistic, every episode's value on a first axis (``stack_stats``),
        read back from the columns: the cells hold the statistics' float64/int64 values exactly."""
        table = self.table()
        stacked: dict[str, Stats] = {}
        for name, shape in self._shapes.items():
            feature, stat = name.split("/", 1)[1].rsplit("/", 1)
            if stat in STAT_KEYS:
                stacked.setdefault(feature, {})[stat] = _column_array(table.column(name), shape)
        return stacked

    def write(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(self.table(), path)


def _column_array(column: pa.ChunkedArray, shape: tuple[int, ...]) -> np.ndarray[Any, Any]:
    """A column of nested lists, each of ``shape``, as one (rows, *shape) array."""
    values: pa.Array = column.combine_chunks()
    for _ in shape:
        values = values.flatten()
    return np.asarray(values.to_numpy(zero_copy_only=False)).reshape(len(column), *shape)
