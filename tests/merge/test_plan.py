"""merge/plan.py alone: packing whole episodes into output files, as lerobot does."""

from __future__ import annotations

import pytest
from lerobot.datasets.utils import update_chunk_file_indices

from spill2lerobot.lerobot_format import CHUNKS_SIZE, next_file
from spill2lerobot.merge.plan import ChunkRef, Episode, assign_files


def episodes_of(lengths: list[int]) -> list[Episode]:
    """Episodes with only what file packing reads (their lengths)."""
    return [
        Episode(i, bag=None, plan=None, chunks=[ChunkRef("0000", i, n)], dataset_from=0, sample_set="bag")  # type: ignore[arg-type]
        for i, n in enumerate(lengths)
    ]


def test_episodes_fill_a_file_until_the_next_would_reach_the_limit():
    episodes = episodes_of([3, 4, 5, 6, 7])
    assign_files(episodes, "data", [40, 50, 20, 100, 5], limit_bytes=100)
    # 40, +50 = 90 stays; +20 = 110 starts file 1; 20 + 100 starts file 2; 100 + 5 starts file 3
    assert [ep.files["data"] for ep in episodes] == [(0, 0), (0, 0), (0, 1), (0, 2), (0, 3)]
    assert [ep.file_offset["data"] for ep in episodes] == [0, 3, 0, 0, 0]


def test_reaching_the_limit_exactly_starts_a_new_file_and_a_huge_episode_is_never_split():
    episodes = episodes_of([2, 2, 9])
    assign_files(episodes, "observation.images.head_cam_h", [50, 50, 500], limit_bytes=100)
    assert [ep.files["observation.images.head_cam_h"] for ep in episodes] == [(0, 0), (0, 1), (0, 2)]
    assert "data" not in episodes[0].files  # each key is packed on its own


def test_a_file_holding_max_episodes_starts_the_next_whatever_the_bytes():
    episodes = episodes_of([1] * 7)
    assign_files(episodes, "data", [1] * 7, limit_bytes=100, max_episodes=3)
    assert [ep.files["data"] for ep in episodes] == [(0, 0)] * 3 + [(0, 1)] * 3 + [(0, 2)]
    assert [ep.file_offset["data"] for ep in episodes] == [0, 1, 2, 0, 1, 2, 0]


@pytest.mark.parametrize(("chunk", "file"), [(0, 0), (0, 998), (0, 999), (3, 999), (7, 41)])
def test_the_next_file_rolls_over_like_lerobots(chunk, file):
    assert next_file(chunk, file) == update_chunk_file_indices(chunk, file, CHUNKS_SIZE)
