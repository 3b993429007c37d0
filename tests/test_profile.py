from __future__ import annotations

import pytest

from spill2lerobot.errors import UserError
from spill2lerobot.profile import DEFAULT_PROFILE, load_profile


def test_kuavo_profile_has_the_original_defaults():
    profile = load_profile(DEFAULT_PROFILE)
    ds = profile.dataset
    assert (ds.only_arm, ds.eef_type, ds.which_arm, ds.use_depth) == (True, "leju_claw", "both", "auto")
    assert (ds.train_hz, ds.main_timeline, ds.main_timeline_fps, ds.sample_drop) == (10, "head_cam_h", 30, 10)
    assert ds.depth_range == [0, 1500] and ds.dex_dof_needed == 1 and not ds.is_binary
    assert (ds.resize.width, ds.resize.height) == (640, 480)
    assert profile.rosbag.chunk_size == 1000
    assert (profile.video.codec, profile.video.crf, profile.video.g) == ("libsvtav1", 30, 2)


def test_overrides_like_the_original_command_line():
    profile = load_profile(None, ["dataset.which_arm=left", "rosbag.chunk_size=500", "dataset.resize.width=320"])
    assert profile.dataset.which_arm == "left"
    assert profile.rosbag.chunk_size == 500
    assert profile.dataset.resize.width == 320


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("dataset.which_arm=up", "profile key 'dataset.which_arm' must be one of"),
        ("dataset.colour=1", "unknown profile key 'dataset.colour'"),
        ("rosbag.chunk_size=big", "profile key 'rosbag.chunk_size' must be an integer"),
        ("dataset.only_arm=maybe", "profile key 'dataset.only_arm' must be true or false"),
        ("dataset.train_hz=7", "main_timeline_fps must be a multiple of train_hz"),
        ("dataset.use_depth=maybe", "profile key 'dataset.use_depth' must be bool or 'auto'"),
        ("dataset.depth_mode=gray", "profile key 'dataset.depth_mode' must be one of 'native' | 'rgb8'"),
        ("nonsense", "--set expects KEY=VALUE"),
    ],
)
def test_bad_options_are_one_line_errors_naming_the_key(override, message):
    with pytest.raises(UserError) as error:
        load_profile(None, [override])
    assert message in str(error.value)
    assert "\n" not in str(error.value)


def test_bad_yaml_file(tmp_path):
    path = tmp_path / "p.yaml"
    path.write_text("dataset:\n  which_arm: [left\n")
    with pytest.raises(UserError, match="not valid YAML"):
        load_profile(path)
