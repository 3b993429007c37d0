"""The data files (``data/*/*.parquet``), streamed batch by batch in lerobot's order: row ``i``
must be frame ``index == i``; per-episode sums are kept for the statistics check."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from spill2lerobot import lerobot_format
from spill2lerobot.validate.data_batch import BatchCheck, Flags
from spill2lerobot.validate.episodes import Episode
from spill2lerobot.validate.metadata import Array, Floats, Info
from spill2lerobot.validate.report import MB, Report

BATCH_ROWS = 65_536

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


class FeatureSums:
    """Per-episode min, max, sum and count of one numeric feature, updated batch by batch."""

    def __init__(self, episodes: int, width: int) -> None:
        self.min = np.full((episodes, width), np.inf)
        self.max = np.full((episodes, width), -np.inf)
        self.sum = np.zeros((episodes, width))
        self.count = np.zeros(episodes, dtype=np.int64)

    def add(self, ids: Array, starts: Array, values: Floats) -> None:
        self.min[ids] = np.minimum(self.min[ids], np.minimum.reduceat(values, starts, axis=0))
        self.max[ids] = np.maximum(self.max[ids], np.maximum.reduceat(values, starts, axis=0))
        self.sum[ids] += np.add.reduceat(values, starts, axis=0)
        self.count[ids] += np.diff(np.append(starts, len(values)))

    def episode(self, ep: int) -> dict[str, Floats] | None:
        if self.count[ep] == 0:
            return None
        return {"min": self.min[ep], "max": self.max[ep], "mean": self.sum[ep] / self.count[ep]}

    def dataset(self) -> dict[str, Floats] | None:
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
    sums: dict[str, FeatureSums]
    samples: dict[int, dict[str, Array]]  # global index -> vector features of that row
    rows: int
    complete: set[int]  # episodes whose rows are all there, in their file, without problems
    clean: bool  # no problem at all in the data files: dataset statistics can be recomputed


def _values(array: pa.Array, width: int, dtype: str) -> tuple[Array | None, str | None]:
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
        values: Array = flat.to_numpy(zero_copy_only=False).reshape(-1, width)
        return values, None
    if width != 1:
        return None, f"is a scalar column, info.json shape says {width} values"
    if leaf is not None and kind != leaf:
        return None, f"is {kind}, info.json says {dtype}"
    if array.null_count:
        return None, f"has {array.null_count} null values"
    scalars: Array = array.to_numpy(zero_copy_only=False).reshape(-1, 1)
    return scalars, None


@dataclass
class _Scanner:
    """The state of one pass over all data files."""

    root: Path
    info: Info
    episodes: list[Episode]
    tasks: list[str] | None
    wanted: set[int]
    report: Report
    position: int = 0  # rows read so far, over all files
    rows_in: dict[int, dict[str, int]] = field(default_factory=dict)  # episode -> data file -> rows
    bad_files: set[str] = field(default_factory=set)
    samples: dict[int, dict[str, Array]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        info = self.info
        self.episodes_in = Counter(info.data_file(*ep.data_file) for ep in self.episodes)  # episodes per file
        self.numeric = info.numeric_keys
        self.sums = {key: FeatureSums(len(self.episodes), info.width(key)) for key in self.numeric}
        self.batch_check = BatchCheck(info, self.episodes, self.tasks)
        self.wanted_array = np.array(sorted(self.wanted), dtype=np.int64)

    def scan_file(self, path: Path) -> None:
        report, info = self.report, self.info
        where = report.where(path)
        if where not in self.episodes_in:
            report.fail(path, "no episode refers to this file, yet lerobot loads its rows along with all others")
        try:
            parquet = pq.ParquetFile(path)
        except (pa.ArrowException, OSError) as exc:
            report.fail(path, f"unreadable ({exc})")
            return
        names = parquet.schema_arrow.names
        missing = [key for key in self.numeric if key not in names]
        if missing:
            report.fail(path, f"missing columns {', '.join(missing)}")
            self.position += parquet.metadata.num_rows
            return
        size = path.stat().st_size
        if self.episodes_in[where] > 1 and size > info.data_mb * MB * 1.1:
            report.warn(path, f"{size / MB:.0f} MB, above data_files_size_in_mb {info.data_mb:g} MB")
        flags = Flags()
        file_start = self.position
        try:
            for batch in parquet.iter_batches(batch_size=BATCH_ROWS, columns=self.numeric):
                self._scan_batch(batch, where, file_start, flags)
        except (pa.ArrowException, OSError) as exc:
            report.fail(path, f"unreadable after {self.position - file_start} rows ({exc})")
            self.bad_files.add(where)
        for count, example in flags.bad.values():
            report.fail(path, example + (f"; {count} rows like this" if count > 1 else ""))
        if flags.bad:
            self.bad_files.add(where)

    def _scan_batch(self, batch: pa.RecordBatch, where: str, file_start: int, flags: Flags) -> None:
        n = batch.num_rows
        cols: dict[str, Array] = {}
        for key in self.numeric:
            values, error = _values(batch.column(key), self.info.width(key), self.info.features[key]["dtype"])
            if error:
                flags.flag(f"type:{key}", n, f"column {key} {error}")
            elif values is not None:
                cols[key] = values
        if any(k not in cols for k in lerobot_format.DEFAULT_FEATURES if k != "task_index"):
            self.position += n
            return
        index, ep = self.batch_check.check(cols, self.position, file_start, flags)
        self._add_sums(cols, ep, where)
        if len(self.wanted_array):
            for r in np.flatnonzero(np.isin(index, self.wanted_array)):
                self.samples[int(index[r])] = {
                    key: cols[key][r].copy() for key in self.batch_check.vector_keys if key in cols
                }
        self.position += n

    def _add_sums(self, cols: dict[str, Array], ep: Array, where: str) -> None:
        """Per-episode sums (rows grouped by their episode_index)."""
        valid = (ep >= 0) & (ep < len(self.episodes))
        order = np.argsort(ep[valid], kind="stable")
        grouped = ep[valid][order]
        if not len(grouped):
            return
        first = np.flatnonzero(np.r_[True, grouped[1:] != grouped[:-1]])
        ids = grouped[first]
        counts = np.diff(np.append(first, len(grouped)))
        for e, c in zip(ids.tolist(), counts.tolist(), strict=True):
            per_file = self.rows_in.setdefault(e, {})
            per_file[where] = per_file.get(where, 0) + c
        for key, values in cols.items():
            self.sums[key].add(ids, first, values[valid][order].astype(np.float64))

    def finish(self, total: int, problems_before: int) -> DataScan:
        """Row counts per episode and file; which episodes are complete."""
        report, info = self.report, self.info
        if self.position != total:
            report.fail(
                self.root / "data", f"the data files hold {self.position} rows, the episodes' lengths add up to {total}"
            )
        for ep in self.episodes:
            have = self.rows_in.get(ep.index, {})
            declared = info.data_file(*ep.data_file)
            for where, count in sorted(have.items()):
                if where != declared and where in self.episodes_in:  # an unreferenced file is reported once
                    report.fail(where, f"holds {count} rows of episode {ep.index}, meta/episodes puts it in {declared}")
            if have.get(declared, 0) != ep.length:
                report.fail(declared, f"episode {ep.index} has {have.get(declared, 0)} rows, its length is {ep.length}")
        complete = {
            ep.index
            for ep in self.episodes
            if self.rows_in.get(ep.index) == {info.data_file(*ep.data_file): ep.length}
            and info.data_file(*ep.data_file) not in self.bad_files
        }
        clean = len(report.problems) == problems_before
        return DataScan(self.sums, self.samples, self.position, complete, clean)


def check_data(
    root: Path, info: Info, episodes: list[Episode], tasks: list[str] | None, wanted: set[int], report: Report
) -> DataScan | None:
    """Stream every data file in lerobot's order: row i must be frame `index == i`."""
    paths = sorted((root / "data").glob("*/*.parquet"))
    if not paths:
        report.fail(root / "data", "no data parquet files")
        return None
    total = episodes[-1].stop if episodes else 0
    problems_before = len(report.problems)
    scanner = _Scanner(root, info, episodes, tasks, wanted, report)
    for path in paths:
        scanner.scan_file(path)
    return scanner.finish(total, problems_before)
