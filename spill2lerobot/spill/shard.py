"""A chunk's Parquet shard: the low-dim columns and each topic's source times."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from numpy.typing import NDArray

from spill2lerobot.fsutil import commit, removed_on_failure, unique_tmp_path

Row = tuple[int, int, list[int]]  # frame index, target time, source times (one per topic)


def write_shard(
    path: Path, rows: list[Row], states: list[NDArray[Any]], actions: list[NDArray[Any]], topics: tuple[str, ...]
) -> None:
    columns = {
        "frame_index": pa.array([index for index, _, _ in rows], pa.int64()),
        "target_ns": pa.array([target for _, target, _ in rows], pa.int64()),
        "observation.state": fixed_list(np.stack(states)),
        "action": fixed_list(np.stack(actions)),
    }
    for position, topic in enumerate(topics):
        columns[f"source_ns:{topic}"] = pa.array([times[position] for _, _, times in rows], pa.int64())
    with removed_on_failure(unique_tmp_path(path)) as tmp:
        pq.write_table(pa.table(columns), tmp)
        commit(tmp, path)


def warm_up_parquet_writer() -> None:
    """Write a tiny shard to memory before the encoders start. The first Parquet write pulls
    in ~25 MB of Arrow/Parquet code and buffers; done at the first chunk's end, on top of
    encoders still flushing, it set the peak of long bags ~10% above that of one-chunk bags."""
    table = pa.table({"frame_index": pa.array([0], pa.int64()), "state": fixed_list(np.zeros((1, 2), np.float32))})
    pq.write_table(table, pa.BufferOutputStream())


def fixed_list(matrix: NDArray[Any]) -> pa.FixedSizeListArray:
    matrix = np.ascontiguousarray(matrix, dtype=np.float32)
    return pa.FixedSizeListArray.from_arrays(pa.array(matrix.reshape(-1)), matrix.shape[1])
