"""The episodes table kept as Arrow columns and the statistics aggregated from them: the same
file bytes and the same stats.json values as the all-at-once path (and lerobot's own)."""

from __future__ import annotations

import io

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from lerobot.datasets.compute_stats import aggregate_stats

from spill2lerobot import lerobot_format
from spill2lerobot.fsutil import write_json_atomic
from spill2lerobot.merge import episodes_table
from spill2lerobot.merge.episodes_table import EpisodesTable, episodes_schema
from spill2lerobot.merge.report import write_report
from spill2lerobot.stats import QUANTILE_KEYS, aggregate, aggregate_stacked, concat_stacked, stack_stats


def _episode_stats(rng: np.random.Generator, count: int) -> dict[str, dict[str, np.ndarray]]:
    """Statistics shaped like ours: a 7-dim vector, a colour image (3, 1, 1), a depth image (1, 1, 1)."""
    stats = {}
    for key, shape in (("observation.state", (7,)), ("observation.images.cam", (3, 1, 1)), ("depth", (1, 1, 1))):
        values = {name: rng.normal(size=shape) for name in ("min", "max", "mean", *QUANTILE_KEYS)}
        stats[key] = {**values, "std": rng.random(shape), "count": np.array([count])}
    return stats


def _rows(n: int) -> tuple[list[dict], list[dict]]:
    rng = np.random.default_rng(7)
    per_episode = [_episode_stats(rng, int(rng.integers(1, 500))) for _ in range(n)]
    rows = [
        {"episode_index": i, "tasks": ["pick"], "length": 3, **lerobot_format.stats_columns(stats)}
        for i, stats in enumerate(per_episode)
    ]
    return per_episode, rows


def _parquet_bytes(table: pa.Table) -> bytes:
    sink = io.BytesIO()
    pq.write_table(table, sink)
    return sink.getvalue()


@pytest.mark.parametrize("batch", [1, 5, 64])
def test_batched_table_writes_the_same_bytes_and_statistics(monkeypatch, batch):
    monkeypatch.setattr(episodes_table, "ROWS_PER_BATCH", batch)
    per_episode, rows = _rows(23)
    table = EpisodesTable()
    for row in rows:
        table.add(row)
    whole = pa.Table.from_pylist(rows, schema=episodes_schema(rows))
    assert _parquet_bytes(table.table()) == _parquet_bytes(whole)
    ours, theirs = aggregate_stacked(table.stacked_stats()), aggregate(per_episode)
    assert ours.keys() == theirs.keys()
    for key in theirs:
        for name in theirs[key]:
            assert ours[key][name].tobytes() == theirs[key][name].tobytes(), f"{key}/{name}"  # same bits


def test_aggregate_is_lerobots_aggregate_stats():
    per_episode, _ = _rows(40)
    ours, theirs = aggregate(per_episode), aggregate_stats(per_episode)
    for key in theirs:
        for name in theirs[key]:
            np.testing.assert_allclose(ours[key][name], theirs[key][name], rtol=1e-12, err_msg=f"{key}/{name}")


def test_appended_statistics_equal_aggregating_all_episodes():
    per_episode, _ = _rows(12)
    old, new = per_episode[:5], per_episode[5:]
    new[0] = {**new[0], "only.new": new[0]["depth"]}  # a feature only some episodes have
    joined = aggregate_stacked(concat_stacked(stack_stats(old), stack_stats(new)))
    direct = aggregate([*old, *new])
    assert joined.keys() == direct.keys()
    for key in direct:
        for name in direct[key]:
            assert joined[key][name].tobytes() == direct[key][name].tobytes(), f"{key}/{name}"


@pytest.mark.parametrize(
    ("head", "bags", "tail"),
    [
        ({"stamps_checked": "messages the frames use"}, [{"bag": "a.bag", "episodes": [0, 1], "faults": {}}], {}),
        ({"stamps_checked": "x"}, [{"bag": "é\nb", "offsets": {"t": [[1, 2], []]}}, {"episodes": []}], {}),
        ({"old": {"k": [1]}, "stamps_checked": "x"}, [], {"skipped_short": [{"bag": "c", "frames": 3}]}),
    ],
)
def test_report_written_a_bag_at_a_time_is_write_json_atomics(tmp_path, head, bags, tail):
    write_json_atomic(tmp_path / "whole.json", {**head, "bags": bags, **tail})
    write_report(tmp_path / "streamed.json", head, iter(bags), tail)
    assert (tmp_path / "streamed.json").read_bytes() == (tmp_path / "whole.json").read_bytes()
