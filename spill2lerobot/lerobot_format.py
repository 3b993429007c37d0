"""LeRobot v3.0 (lerobot 0.6.1) layout in one place: paths, info.json, schemas, tasks table."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

CODEBASE_VERSION = "v3.0"
CHUNKS_SIZE = 1000  # files per chunk folder
DATA_FILE_SIZE_MB = 100
VIDEO_FILE_SIZE_MB = 200
DATA_PATH = "data/chunk-{chunk_index:03d}/file-{file_index:03d}.parquet"
VIDEO_PATH = "videos/{video_key}/chunk-{chunk_index:03d}/file-{file_index:03d}.mp4"
EPISODES_PATH = "meta/episodes/chunk-{chunk_index:03d}/file-{file_index:03d}.parquet"
INFO_PATH = "meta/info.json"
STATS_PATH = "meta/stats.json"
TASKS_PATH = "meta/tasks.parquet"

# Columns lerobot adds to every dataset, in its order.
DEFAULT_FEATURES = {
    "timestamp": {"dtype": "float32", "shape": [1], "names": None},
    "frame_index": {"dtype": "int64", "shape": [1], "names": None},
    "episode_index": {"dtype": "int64", "shape": [1], "names": None},
    "index": {"dtype": "int64", "shape": [1], "names": None},
    "task_index": {"dtype": "int64", "shape": [1], "names": None},
}


def next_file(chunk_index: int, file_index: int) -> tuple[int, int]:
    """The (chunk, file) after this one: 1000 files per chunk folder."""
    file_index += 1
    if file_index >= CHUNKS_SIZE:
        return chunk_index + 1, 0
    return chunk_index, file_index


def vector_feature(names: list[str]) -> dict:
    return {"dtype": "float32", "shape": [len(names)], "names": names}


def video_feature(height: int, width: int, info: dict) -> dict:
    return {"dtype": "video", "shape": [height, width, 3], "names": ["height", "width", "channels"], "info": info}


def info_json(
    *, fps: int, features: dict, total_episodes: int, total_frames: int, total_tasks: int, robot_type: str | None
) -> dict:
    return {
        "codebase_version": CODEBASE_VERSION,
        "fps": fps,
        "features": {**features, **DEFAULT_FEATURES},
        "total_episodes": total_episodes,
        "total_frames": total_frames,
        "total_tasks": total_tasks,
        "chunks_size": CHUNKS_SIZE,
        "data_files_size_in_mb": DATA_FILE_SIZE_MB,
        "video_files_size_in_mb": VIDEO_FILE_SIZE_MB,
        "data_path": DATA_PATH,
        "video_path": VIDEO_PATH,
        "robot_type": robot_type,
        "splits": {"train": f"0:{total_episodes}"},
    }


def data_schema(features: dict) -> pa.Schema:
    """Arrow schema of data/*.parquet, with the HF-datasets feature metadata lerobot writes."""
    fields, hf = [], {}
    for key, ft in {**features, **DEFAULT_FEATURES}.items():
        if ft["dtype"] == "video":
            continue
        value_type = pa.float32() if ft["dtype"] == "float32" else pa.int64()
        if key in DEFAULT_FEATURES:
            fields.append(pa.field(key, value_type))
            hf[key] = {"dtype": ft["dtype"], "_type": "Value"}
        else:
            fields.append(pa.field(key, pa.list_(value_type, ft["shape"][0])))
            hf[key] = {"feature": {"dtype": ft["dtype"], "_type": "Value"}, "length": ft["shape"][0], "_type": "List"}
    metadata = {b"huggingface": json.dumps({"info": {"features": hf}}).encode()}
    return pa.schema(fields, metadata=metadata)


def write_tasks(path: Path, tasks: list[str]) -> None:
    """meta/tasks.parquet: a pandas frame indexed by task with a task_index column."""
    table = pa.table({"task_index": pa.array(range(len(tasks)), pa.int64()), "task": pa.array(tasks, pa.string())})
    pandas_meta = {
        "index_columns": ["task"],
        "column_indexes": [
            {
                "name": None,
                "field_name": None,
                "pandas_type": "unicode",
                "numpy_type": "object",
                "metadata": {"encoding": "UTF-8"},
            }
        ],
        "columns": [
            {
                "name": "task_index",
                "field_name": "task_index",
                "pandas_type": "int64",
                "numpy_type": "int64",
                "metadata": None,
            },
            {"name": "task", "field_name": "task", "pandas_type": "unicode", "numpy_type": "object", "metadata": None},
        ],
        "attributes": {},
        "creator": {"library": "pyarrow", "version": pa.__version__},
        "pandas_version": "2.3.3",
    }
    table = table.replace_schema_metadata({b"pandas": json.dumps(pandas_meta).encode()})
    pq.write_table(table, path)


def stats_columns(stats: dict[str, dict[str, np.ndarray]]) -> dict[str, list]:
    """Episode stats flattened to ``stats/<feature>/<stat>`` cells (one episode)."""
    return {
        f"stats/{key}/{name}": np.asarray(value).tolist()
        for key, ft_stats in stats.items()
        for name, value in ft_stats.items()
    }


def stats_type(name: str, value: np.ndarray) -> pa.DataType:
    """lerobot stores counts as int64 lists and everything else as (nested) double lists."""
    leaf = pa.int64() if name == "count" else pa.float64()
    dtype: pa.DataType = leaf
    for _ in range(np.asarray(value).ndim):
        dtype = pa.list_(dtype)
    return dtype
