"""Crashed recordings: unindexed and truncated bags convert without a reindex step."""

from __future__ import annotations

import json

import numpy as np
import pyarrow.parquet as pq
import pytest
from compare import assert_same_dataset
from gen_kuavo_bag import write_kuavo_bag, write_truncated_copy, write_unindexed_copy
from support import run_cli

pytestmark = pytest.mark.slow

OPTIONS = ["--set", "dataset.resize.width=320", "--set", "dataset.resize.height=240", "--set", "rosbag.chunk_size=40"]


def test_unindexed_bag_gives_the_same_dataset_as_the_indexed_one(bags, tmp_path):
    active = write_unindexed_copy(bags["b"], tmp_path / "b.bag.active")
    reference, out = tmp_path / "reference", tmp_path / "out"
    run_cli("convert", str(bags["b"]), str(reference), *OPTIONS)
    result = run_cli("convert", str(active), str(out), *OPTIONS)
    assert "unindexed" in result.stderr and "recovered" in result.stderr
    assert_same_dataset(reference, out, same_sources=False)


def test_truncated_bag_keeps_every_complete_chunk(bags, tmp_path):
    cut = write_truncated_copy(bags["a"], tmp_path / "a_cut.bag", 0.7)
    reference, out = tmp_path / "reference", tmp_path / "out"
    run_cli("convert", str(bags["a"]), str(reference), *OPTIONS)
    result = run_cli("convert", str(cut), str(out), *OPTIONS)
    assert "truncated" in result.stderr
    report = json.loads((out / "meta/spill2lerobot_report.json").read_text())["bags"][0]
    assert "truncated" in report["recovery"] and report["frames"] > 0
    full = json.loads((reference / "meta/info.json").read_text())["total_frames"]
    kept = json.loads((out / "meta/info.json").read_text())["total_frames"]
    assert 0.55 * full < kept < 0.72 * full
    ours = pq.read_table(out / "data/chunk-000/file-000.parquet")
    theirs = pq.read_table(reference / "data/chunk-000/file-000.parquet").slice(0, kept)
    # Same start, same timeline: all frames but the last few (whose neighbours were cut) agree.
    for column in ("observation.state", "action"):
        np.testing.assert_array_equal(
            np.stack(ours.column(column).to_numpy(zero_copy_only=False)[: kept - 3]),
            np.stack(theirs.column(column).to_numpy(zero_copy_only=False)[: kept - 3]),
        )


@pytest.mark.parametrize("compression", ["lz4", "bz2"])
def test_compressed_chunks_give_the_same_dataset(compression, tmp_path):
    plain, packed = tmp_path / "plain.bag", tmp_path / f"{compression}.bag"
    write_kuavo_bag(plain, 5.0, seed=3, width=160, height=120)
    write_kuavo_bag(packed, 5.0, seed=3, width=160, height=120, compression=compression)
    small = ["--set", "dataset.resize.width=160", "--set", "dataset.resize.height=120", "--set", "rosbag.chunk_size=20"]
    run_cli("convert", str(plain), str(tmp_path / "a"), *small)
    run_cli("convert", str(packed), str(tmp_path / "b"), *small)
    assert_same_dataset(tmp_path / "a", tmp_path / "b", same_sources=False)
