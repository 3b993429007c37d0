"""Native depth with a fast x265 preset (``video.depth_preset``): the videos are lossless, so
they decode to exactly the values of lerobot 0.6.1's default preset; only time and size differ.

lerobot is the oracle and is imported unconditionally: where it is missing these tests fail.
"""

from __future__ import annotations

import json

import av
import numpy as np
import pytest
from gen_kuavo_bag import write_kuavo_bag
from lerobot.datasets.lerobot_dataset import LeRobotDataset
from support import run_cli

W, H = 160, 120
SIZE = ["--set", f"dataset.resize.width={W}", "--set", f"dataset.resize.height={H}"]
DEPTH_KEYS = ("observation.depth_h", "observation.depth_l", "observation.depth_r")


@pytest.fixture(scope="module")
def two_presets(tmp_path_factory):
    """The same depth bag converted with the default preset (ultrafast) and with x265's own."""
    root = tmp_path_factory.mktemp("presets")
    bag = root / "d.bag"
    write_kuavo_bag(bag, 5.0, seed=11, width=W, height=H, depth=True)
    fast, default = root / "fast", root / "x265-default"
    options = [*SIZE, "--set", "rosbag.chunk_size=16"]
    run_cli("convert", str(bag), str(fast), *options)
    run_cli("convert", str(bag), str(default), *options, "--set", "video.depth_preset=null")
    return fast, default


def decoded_codes(video) -> list[np.ndarray]:
    with av.open(str(video)) as container:
        return [frame.to_ndarray(format="gray12le") for frame in container.decode(video=0)]


def depth_video(out, key):
    return out / f"videos/{key}/chunk-000/file-000.mp4"


@pytest.mark.slow
def test_fast_preset_decodes_to_the_default_presets_values(two_presets):
    fast, default = two_presets
    for key in DEPTH_KEYS:
        ours, theirs = decoded_codes(depth_video(fast, key)), decoded_codes(depth_video(default, key))
        assert len(ours) == len(theirs) > 40
        for number, (a, b) in enumerate(zip(ours, theirs, strict=True)):
            np.testing.assert_array_equal(a, b, err_msg=f"{key} frame {number}")
        # the preset did change the encoding (else this test would show nothing)
        assert depth_video(fast, key).read_bytes() != depth_video(default, key).read_bytes()


@pytest.mark.slow
def test_info_json_records_each_preset(two_presets):
    fast, default = two_presets
    for out, preset in ((fast, "ultrafast"), (default, None)):
        features = json.loads((out / "meta/info.json").read_text())["features"]
        assert {features[key]["info"]["video.preset"] for key in DEPTH_KEYS} == {preset}


@pytest.mark.slow
def test_lerobot_reads_the_same_millimetres_from_both(two_presets):
    fast, default = two_presets
    ours, theirs = LeRobotDataset("local/kuavo", root=fast), LeRobotDataset("local/kuavo", root=default)
    assert len(ours) == len(theirs)
    for index in (0, 1, len(ours) // 2, len(ours) - 1):
        for key in DEPTH_KEYS:
            np.testing.assert_array_equal(ours[index][key].numpy(), theirs[index][key].numpy())


def test_an_unknown_depth_preset_is_refused_in_one_line(tmp_path):
    bag = tmp_path / "d.bag"
    write_kuavo_bag(bag, 2.0, seed=1, width=W, height=H, depth=True)
    result = run_cli("convert", str(bag), str(tmp_path / "out"), "--set", "video.depth_preset=fastest", check=False)
    assert result.returncode != 0
    assert "profile key 'video.depth_preset' must be null or one of ultrafast" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "out").exists()
