"""LeRobot v3.0 (lerobot 0.6.1) layout in one place: paths, info.json, schemas, tasks table."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from numpy.typing import NDArray

from spill2lerobot.encoding import (
    DEPTH_EXTRA_OPTIONS,
    DEPTH_MAX_M,
    DEPTH_MIN_M,
    DEPTH_SHIFT_M,
    DEPTH_UNIT,
    DEPTH_USE_LOG,
    DepthEncoderSettings,
    EncoderSettings,
)
from spill2lerobot.profiles import Profile

CODEBASE_VERSION = "v3.0"
LEROBOT_CODEC_NAMES = {"libsvtav1": "av1", "libx264": "h264"}  # what lerobot's info.json shows
CHUNKS_SIZE = 1000  # files per chunk folder
DATA_FILE_SIZE_MB = 100
# Each episode is one row group of its data file (as lerobot writes them), and a Parquet writer
# holds every row group's metadata until it closes the file (~13 KB each, measured): so many
# short episodes start a new data file after this many, and a merge's memory stays flat.
DATA_FILE_MAX_EPISODES = 200
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

FileIndex = tuple[int, int]  # (chunk_index, file_index) of a LeRobot file


def next_file(chunk_index: int, file_index: int) -> tuple[int, int]:
    """The (chunk, file) after this one: 1000 files per chunk folder."""
    file_index += 1
    if file_index >= CHUNKS_SIZE:
        return chunk_index + 1, 0
    return chunk_index, file_index


def vector_feature(names: list[str]) -> dict[str, Any]:
    return {"dtype": "float32", "shape": [len(names)], "names": names}


def video_feature(height: int, width: int, info: dict[str, Any]) -> dict[str, Any]:
    return {"dtype": "video", "shape": [height, width, 3], "names": ["height", "width", "channels"], "info": info}


def video_info(settings: EncoderSettings) -> dict[str, Any]:
    """``features[key]["info"]`` of a video feature, as lerobot writes it."""
    return {
        "video.height": settings.height,
        "video.width": settings.width,
        "video.codec": LEROBOT_CODEC_NAMES[settings.codec],
        "video.pix_fmt": settings.pix_fmt,
        "video.fps": settings.fps,
        "video.channels": 3,
        "has_audio": False,
        "video.g": settings.g,
        "video.crf": settings.crf,
        "video.preset": settings.preset,
        "video.fast_decode": settings.fast_decode,
        "video.video_backend": "pyav",
        "video.extra_options": {},
        "is_depth_map": False,
    }


def depth_video_info(settings: DepthEncoderSettings) -> dict[str, Any]:
    """``features[key]["info"]`` of a native depth feature, as lerobot 0.6.1 writes it."""
    return {
        "is_depth_map": True,
        "depth_unit": DEPTH_UNIT,
        "video.height": settings.height,
        "video.width": settings.width,
        "video.codec": "hevc",
        "video.pix_fmt": settings.pix_fmt,
        "video.fps": settings.fps,
        "video.channels": 1,
        "has_audio": False,
        "video.g": settings.g,
        "video.crf": settings.crf,
        "video.preset": settings.preset,
        "video.fast_decode": 0,
        "video.video_backend": "pyav",
        "video.extra_options": dict(DEPTH_EXTRA_OPTIONS),
        "video.depth_min": DEPTH_MIN_M,
        "video.depth_max": DEPTH_MAX_M,
        "video.shift": DEPTH_SHIFT_M,
        "video.use_log": DEPTH_USE_LOG,
    }


def depth_feature(profile: Profile) -> dict[str, Any]:
    """info.json feature of a depth camera in the profile's ``depth_mode``."""
    if profile.dataset.depth_mode == "rgb8":
        settings = EncoderSettings.from_profile(profile)
        info, channels = video_info(settings), 3
    else:
        depth = DepthEncoderSettings.for_profile(profile)
        settings, info, channels = depth, depth_video_info(depth), 1
    return {
        "dtype": "video",
        "shape": [settings.height, settings.width, channels],
        "names": ["height", "width", "channels"],
        "info": info,
    }


def info_json(
    *,
    fps: int,
    features: dict[str, Any],
    total_episodes: int,
    total_frames: int,
    total_tasks: int,
    robot_type: str | None,
    splits: dict[str, float] | None = None,
) -> dict[str, Any]:
    return {
        "codebase_version": CODEBASE_VERSION,
        "fps": fps,
        "features": with_defaults(features),
        "total_episodes": total_episodes,
        "total_frames": total_frames,
        "total_tasks": total_tasks,
        "chunks_size": CHUNKS_SIZE,
        "data_files_size_in_mb": DATA_FILE_SIZE_MB,
        "video_files_size_in_mb": VIDEO_FILE_SIZE_MB,
        "data_path": DATA_PATH,
        "video_path": VIDEO_PATH,
        "robot_type": robot_type,
        "splits": split_ranges(total_episodes, splits),
    }


def split_ranges(total_episodes: int, fractions: dict[str, float] | None) -> dict[str, str]:
    """info.json's "splits": contiguous "start:stop" episode ranges, in the order given, as
    lerobot 0.6.1's ``split_dataset`` cuts fractions (``int(total x fraction)`` episodes each,
    the last split up to the end; a split of no episodes is left out). None: all "train"."""
    if fractions is None:
        return {"train": f"0:{total_episodes}"}
    ranges: dict[str, str] = {}
    start, last = 0, list(fractions)[-1]
    for name, fraction in fractions.items():
        count = int(total_episodes * fraction)
        if count == 0:
            continue
        stop = total_episodes if name == last else start + count
        ranges[name] = f"{start}:{stop}"
        start = stop
    return ranges


# lerobot 0.6.1's language columns (lerobot/datasets/language.py), as `lerobot-annotate` writes
# them for subtask rows: its writer lets pyarrow infer the types from Python rows (timestamp a
# double, camera and tool_calls always null), and LeRobotDataset casts them to its features on load.
LANGUAGE_PERSISTENT = "language_persistent"
LANGUAGE_EVENTS = "language_events"
LANGUAGE_FEATURE = {"dtype": "language", "shape": [1], "names": None}
PERSISTENT_ROW_TYPE = pa.struct(
    [
        pa.field("role", pa.string()),
        pa.field("content", pa.string()),
        pa.field("style", pa.string()),
        pa.field("timestamp", pa.float64()),
        pa.field("camera", pa.null()),
        pa.field("tool_calls", pa.null()),
    ]
)
LANGUAGE_TYPES = {LANGUAGE_PERSISTENT: pa.list_(PERSISTENT_ROW_TYPE), LANGUAGE_EVENTS: pa.list_(pa.null())}


def with_defaults(features: dict[str, Any]) -> dict[str, Any]:
    """All features in lerobot's order: ours, lerobot's default columns, then the language
    columns (lerobot-annotate adds them last, to info.json and to the data files)."""
    language = {key: ft for key, ft in features.items() if ft["dtype"] == "language"}
    others = {key: ft for key, ft in features.items() if key not in language}
    return {**others, **DEFAULT_FEATURES, **language}


def data_schema(features: dict[str, Any]) -> pa.Schema:
    """Arrow schema of data/*.parquet, with the HF-datasets feature metadata lerobot writes
    (language columns have none: lerobot-annotate's rewrite drops that metadata)."""
    fields, hf = [], {}
    for key, ft in with_defaults(features).items():
        if ft["dtype"] == "video":
            continue
        if ft["dtype"] == "language":
            fields.append(pa.field(key, LANGUAGE_TYPES[key]))
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


def stats_columns(stats: dict[str, dict[str, NDArray[Any]]]) -> dict[str, list[Any]]:
    """Episode stats flattened to ``stats/<feature>/<stat>`` cells (one episode)."""
    return {
        f"stats/{key}/{name}": np.asarray(value).tolist()
        for key, ft_stats in stats.items()
        for name, value in ft_stats.items()
    }


def stats_type(name: str, value: NDArray[Any]) -> pa.DataType:
    """lerobot stores counts as int64 lists and everything else as (nested) double lists."""
    leaf = pa.int64() if name == "count" else pa.float64()
    dtype: pa.DataType = leaf
    for _ in range(np.asarray(value).ndim):
        dtype = pa.list_(dtype)
    return dtype
