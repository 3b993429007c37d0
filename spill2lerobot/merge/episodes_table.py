"""The episodes table (meta/episodes/...): one row per episode as lerobot 0.6.1 writes it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from spill2lerobot import lerobot_format
from spill2lerobot.lerobot_format import FileIndex
from spill2lerobot.merge.plan import MergePlan
from spill2lerobot.stats import Stats


def episode_rows(plan: MergePlan, stats: list[dict[str, Stats]], meta_file: FileIndex = (0, 0)) -> list[dict[str, Any]]:
    """The episodes table's rows, as lerobot writes them; ``meta_file`` is where they go."""
    fps = plan.profile.dataset.train_hz
    rows = []
    for ep, ep_stats in zip(plan.episodes, stats, strict=True):
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
        rows.append(row)
    return rows


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


def write_episode_rows(rows: list[dict[str, Any]], path: Path, schema: pa.Schema | None = None) -> None:
    """One episodes file; ``schema``: the dataset's own (appending keeps its columns and types)."""
    table = pa.Table.from_pylist(rows, schema=schema or episodes_schema(rows))
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, path)
