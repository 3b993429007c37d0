from __future__ import annotations

import pytest

from spill2lerobot.errors import UserError
from spill2lerobot.profiles import (
    DEFAULT_PROFILE,
    MAX_IMAGE_PIXELS,
    image_pixel_limit,
    load_profile,
    profile_from_dict,
    quote,
)


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


# -- reading safely and range checks (the hostile cases run through the CLI in test_profile_safety.py)

AT_THE_BOUNDS = [
    ["rosbag.chunk_size=2", "rosbag.num_used=1", "dataset.sample_drop=0", "faults.max_skew_ms=0"],
    ["rosbag.chunk_size=100000", "dataset.sample_drop=1000000", "faults.max_skew_ms=3600000"],
    ["dataset.main_timeline_fps=1000", "dataset.train_hz=1000"],
    ["dataset.main_timeline_fps=1", "dataset.train_hz=1"],
    ["dataset.resize.width=16", "dataset.resize.height=16", "faults.max_image_pixels=256"],
    ["dataset.resize.width=8192", "dataset.resize.height=8192", "faults.max_image_pixels=400000000"],
    ["dataset.depth_range=[0, 65535]", "dataset.dex_dof_needed=6"],
    ["video.g=1", "video.crf=0", "video.preset=-1", "video.fast_decode=0"],
    ["video.g=100000", "video.crf=63", "video.preset=13", "video.fast_decode=2"],
    ["video.codec=libx264", "video.crf=51", "video.preset=placebo"],
    ["video.codec=libx264", "video.crf=0", "video.preset=ultrafast", "video.fast_decode=1"],
    ["dataset.repo_id=kuavo", "dataset.robot_type=null", "dataset.task_description=" + "t" * 1000],
    ["dataset.repo_id=user-1/my_data.v2"],
]


@pytest.mark.parametrize("overrides", AT_THE_BOUNDS, ids=[o[0] for o in AT_THE_BOUNDS])
def test_values_at_the_bounds_are_accepted(overrides):
    profile = load_profile(None, overrides)
    assert profile.to_dict() == load_profile(None, overrides).to_dict()


def test_shipped_profiles_round_trip_through_the_checks():
    """A spill's manifest holds ``to_dict()``; reading it back gives the same profile."""
    for path in (DEFAULT_PROFILE, DEFAULT_PROFILE.parent / "ros2_arm.yaml"):
        profile = load_profile(path)
        assert profile_from_dict(profile.to_dict()) == profile


def test_quote_shows_a_short_prefix():
    assert quote("x" * 10_000) == "'" + "x" * 56 + "..."
    assert len(quote(list(range(100_000)))) == 60
    assert quote(2**20000 - 1) == "<an integer of 20000 bits>"
    assert quote([10**5000]) == "<a list>"  # repr refuses it
    assert quote("left") == "'left'"


def test_anchors_without_aliases_load(tmp_path):
    path = tmp_path / "p.yaml"
    path.write_text("dataset: &d\n  train_hz: 15\n")
    assert load_profile(path).dataset.train_hz == 15


def test_set_values_are_read_with_the_same_loader():
    assert load_profile(None, ["dataset.task_description=*wave*"]).dataset.task_description == "*wave*"  # not YAML
    with pytest.raises(UserError, match=r"^--set dataset.task_description: YAML aliases are not allowed"):
        load_profile(None, ["dataset.task_description=[&a [1, 2], *a]"])


def test_the_default_pixel_limit_is_capped():
    profile = load_profile(None, ["dataset.resize.width=8192", "dataset.resize.height=8192"])
    assert image_pixel_limit(profile) == MAX_IMAGE_PIXELS
    assert image_pixel_limit(load_profile()) == 36 * 640 * 480


# -- the pydantic models' errors, as one line each (profiles/validation_errors.py)


def test_a_typo_in_a_nested_key_names_the_nearest_key():
    data = {"features": {"cameras": {"front": "/front"}, "state": [{"topic": "/joints", "feild": "position"}]}}
    with pytest.raises(UserError) as error:
        profile_from_dict(data)
    assert str(error.value) == (
        "unknown profile key 'features.state[0].feild'; did you mean field? (known: convert, decoder, euler, field, "
        "frame, indices, joints, names, offset, relative_to, scale, slice, threshold, topic, type, values)"
    )


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"dataset": {"resize": {"width": "640"}}}, "profile key 'dataset.resize.width' must be an integer, got '640'"),
        ({"rosbag": {"chunk_size": True}}, "profile key 'rosbag.chunk_size' must be an integer, got True"),
        ({"rosbag": {"num_used": 2.5}}, "profile key 'rosbag.num_used' must be int or null, got 2.5"),
        ({"video": {"preset": [12]}}, "profile key 'video.preset' must be int or str or null, got [12]"),
        ({"dataset": {"resize": 640}}, "profile key 'dataset.resize' must be a mapping, got 640"),
        ({"features": {"cameras": {"front": "/f"}, "state": [{"slice": [0, "7"]}]}},
         "profile key 'features.state[0].slice' must be list or null, got [0, '7']"),
        ({"features": {"action": [{"scale": 10**400}]}},
         "profile key 'features.action[0].scale' must be a finite number, got <an integer of 1329 bits>"),
    ],
)  # fmt: skip
def test_a_wrong_type_is_one_line_naming_the_key(data, message):
    with pytest.raises(UserError) as error:
        profile_from_dict(data)
    assert str(error.value) == message


def test_the_first_problem_in_reading_order_is_reported():
    """Unknown keys of a level before its values; then the keys in the order the profile has them."""
    data = {"video": {"crf": "high"}, "rosbag": {"chunk_size": "big"}}
    with pytest.raises(UserError, match=r"^profile key 'video.crf' must be an integer, got 'high'$"):
        profile_from_dict(data)
    with pytest.raises(UserError, match=r"^unknown profile key 'vidoe'; did you mean video\? \(known: dataset,"):
        profile_from_dict({**data, "vidoe": {}})
