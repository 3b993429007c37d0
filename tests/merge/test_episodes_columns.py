"""The episodes table streamed to its file in row groups and the statistics aggregated from its
cells: the same rows and the same stats.json values as the all-at-once path (and lerobot's own)."""

from __future__ import annotations

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


@pytest.mark.parametrize(("batch", "group"), [(1, 1), (5, 7), (16, 256)])
def test_streamed_table_holds_every_row_in_row_groups_and_the_same_statistics(monkeypatch, tmp_path, batch, group):
    monkeypatch.setattr(episodes_table, "ROWS_PER_BATCH", batch)
    monkeypatch.setattr(episodes_table, "ROWS_PER_GROUP", group)
    per_episode, rows = _rows(23)
    path = tmp_path / "meta" / "episodes" / "chunk-000" / "file-000.parquet"
    table = EpisodesTable(path)
    for row in rows:
        table.add(row)
    assert not path.exists()  # under a temporary name until complete
    table.write()
    whole = pa.Table.from_pylist(rows, schema=episodes_schema(rows))
    written = pq.read_table(path)
    assert written.equals(whole)
    # a row group is written once it holds ``group`` rows, converted ``batch`` rows at a time
    sizes = [pq.ParquetFile(path).metadata.row_group(i).num_rows for i in range(pq.ParquetFile(path).num_row_groups)]
    step = -(-group // batch) * batch
    assert sizes == [step] * (23 // step) + ([23 % step] if 23 % step else [])
    assert [p.name for p in path.parent.iterdir()] == [path.name]
    theirs = aggregate(per_episode)
    for ours in (aggregate_stacked(table.stacked_stats()), table.aggregated_stats()):
        assert list(ours) == list(theirs)
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
