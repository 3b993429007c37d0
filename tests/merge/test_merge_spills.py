"""merge SPILL_A SPILL_B OUT: the dataset one spill of all the bags gives."""

from __future__ import annotations

import pytest
from compare import assert_same_dataset
from support import SMALL_ARGS, run_cli, tiny_bag, tree_bytes

pytestmark = pytest.mark.slow


def test_two_spills_merge_into_the_dataset_of_one(tmp_path):
    bags = [tiny_bag(tmp_path, name, seconds, seed) for name, seconds, seed in (("a", 3.0, 1), ("b", 4.0, 2))]
    both, first, second = tmp_path / "both", tmp_path / "first", tmp_path / "second"
    run_cli("stage1", *map(str, bags), str(both), *SMALL_ARGS)
    run_cli("stage1", str(bags[0]), str(first), *SMALL_ARGS)
    run_cli("stage1", str(bags[1]), str(second), *SMALL_ARGS)
    run_cli("merge", str(both), str(tmp_path / "one"))
    run_cli("merge", str(first), str(second), str(tmp_path / "two"))
    assert_same_dataset(tmp_path / "one", tmp_path / "two")
    one, two = tree_bytes(tmp_path / "one"), tree_bytes(tmp_path / "two")
    timed = "meta/spill2lerobot_provenance.json"  # holds the merge's run time (compared above without it)
    assert {k: v for k, v in one.items() if k != timed} == {k: v for k, v in two.items() if k != timed}


def test_spills_of_other_settings_are_refused(tmp_path):
    bag = tiny_bag(tmp_path, "a", 3.0, 1)
    other = tiny_bag(tmp_path, "b", 3.0, 2)
    run_cli("stage1", str(bag), str(tmp_path / "s1"), *SMALL_ARGS)
    run_cli("stage1", str(other), str(tmp_path / "s2"), *SMALL_ARGS, "--set", "dataset.robot_type=other")
    result = run_cli("merge", str(tmp_path / "s1"), str(tmp_path / "s2"), str(tmp_path / "out"), check=False)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"error: {tmp_path / 's2'}: cannot be merged with {tmp_path / 's1'}: robot_type 'kuavo' in the first spill, "
        "'other' in this spill; merge spills converted with the same settings"
    ]
    assert not (tmp_path / "out").exists() and not (tmp_path / "out.partial").exists()


def test_a_spill_given_twice_is_refused(tmp_path):
    bag = tiny_bag(tmp_path, "a", 3.0, 1)
    run_cli("stage1", str(bag), str(tmp_path / "s1"), *SMALL_ARGS)
    result = run_cli("merge", str(tmp_path / "s1"), str(tmp_path / "s1"), str(tmp_path / "out"), check=False)
    assert result.returncode == 2 and "given twice" in result.stderr
