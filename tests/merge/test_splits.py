"""``dataset.splits`` (info.json "splits" as contiguous episode ranges) and ``dataset.min_frames``
(shorter bags left out of the dataset and named in the report).

The reference for the split ranges is lerobot 0.6.1's own ``_fractions_to_episode_indices`` (what
its ``split_dataset`` uses for fractions); hand-written expectations cover the common cases.
"""

from __future__ import annotations

import json

import pytest
from lerobot.datasets.dataset_tools import _fractions_to_episode_indices
from lerobot.datasets.lerobot_dataset import LeRobotDataset
from support import SMALL_ARGS, run_cli, tiny_bag

from spill2lerobot.errors import UserError
from spill2lerobot.lerobot_format import split_ranges
from spill2lerobot.profiles import load_profile

FRACTION_SETS = [
    {"train": 0.9, "val": 0.1},
    {"train": 0.8, "val": 0.1, "test": 0.1},
    {"train": 0.5},
    {"val": 0.25, "train": 0.75},
    {"a": 0.33, "b": 0.33, "c": 0.34},
]


@pytest.mark.parametrize("fractions", FRACTION_SETS)
def test_split_ranges_are_lerobots_episode_indices(fractions):
    for total in range(0, 41):
        expected = _fractions_to_episode_indices(total, fractions)
        ranges = split_ranges(total, fractions)
        assert list(ranges) == list(expected), total
        for name, text in ranges.items():
            start, stop = (int(v) for v in text.split(":"))
            assert list(range(start, stop)) == expected[name], (total, name)


def test_split_ranges_by_hand():
    assert split_ranges(10, {"train": 0.9, "val": 0.1}) == {"train": "0:9", "val": "9:10"}
    assert split_ranges(20, {"train": 0.8, "val": 0.1, "test": 0.1}) == {
        "train": "0:16",
        "val": "16:18",
        "test": "18:20",
    }
    assert split_ranges(3, {"train": 0.9, "val": 0.1}) == {"train": "0:2"}  # no episode for val: left out
    assert split_ranges(7, None) == {"train": "0:7"}


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("dataset.splits={train: 0.9, val: 0.2}", "profile key 'dataset.splits' must map"),
        ("dataset.splits={train: 0}", "profile key 'dataset.splits' must map"),
        ("dataset.splits={}", "profile key 'dataset.splits' must map"),
        ("dataset.splits={'a:b': 0.5}", "profile key 'dataset.splits' has a bad split name"),
        ("dataset.min_frames=-1", "profile key 'dataset.min_frames' must be between 0 and"),
    ],
)
def test_bad_splits_and_min_frames_are_one_line(override, message):
    with pytest.raises(UserError) as err:
        load_profile(None, [override])
    assert str(err.value).startswith(message) and "\n" not in str(err.value)


def test_profiles_without_splits_keep_their_manifest():
    """A profile that does not set them records exactly the options it always recorded."""
    plain = load_profile(None, [])
    assert "splits" not in plain.to_dict()["dataset"] and "min_frames" not in plain.to_dict()["dataset"]
    assert load_profile(None, ["dataset.min_frames=0"]).fingerprint() == plain.fingerprint()
    assert load_profile(None, ["dataset.min_frames=5"]).fingerprint() != plain.fingerprint()


@pytest.mark.slow
def test_splits_and_min_frames_in_a_converted_dataset(tmp_path):
    bags = [
        tiny_bag(tmp_path, name, seconds, seed)
        for name, seconds, seed in (("a", 5.0, 1), ("b", 2.6, 2), ("c", 5.0, 3), ("d", 5.0, 4))
    ]
    out = tmp_path / "out"
    done = run_cli(
        "convert",
        *map(str, bags),
        str(out),
        *SMALL_ARGS,
        "--set",
        "dataset.splits={train: 0.6, val: 0.4}",
        "--set",
        "dataset.min_frames=30",
    )
    assert f"{bags[1]} left out" in done.stderr
    info = json.loads((out / "meta" / "info.json").read_text())
    assert info["total_episodes"] == 3
    assert info["splits"] == {"train": "0:1", "val": "1:3"}  # int(3 x 0.6) = 1, val up to the end
    report = json.loads((out / "meta" / "spill2lerobot_report.json").read_text())
    assert report["min_frames"] == 30
    assert [entry["bag"] for entry in report["skipped_short"]] == [str(bags[1])]
    assert 0 < report["skipped_short"][0]["frames"] < 30
    assert [entry["bag"] for entry in report["bags"]] == [str(bags[0]), str(bags[2]), str(bags[3])]
    dataset = LeRobotDataset("local/kuavo", root=out)
    assert dataset.meta.info.splits == {"train": "0:1", "val": "1:3"}
    assert dataset.num_episodes == 3
    checked = json.loads(run_cli("validate", str(out), "--json").stdout)
    assert checked["ok"] is True and not [w for w in checked["warnings"] if "splits" in str(w)]


@pytest.mark.slow
def test_every_bag_too_short_is_one_line(tmp_path):
    bag = tiny_bag(tmp_path, "short", 2.6, 1)
    result = run_cli(
        "convert", str(bag), str(tmp_path / "out"), *SMALL_ARGS, "--set", "dataset.min_frames=500", check=False
    )
    assert result.returncode == 2
    last = result.stderr.strip().splitlines()[-1]
    assert "dataset.min_frames=500" in last and str(bag) in last
