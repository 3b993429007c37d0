"""`spill2lerobot inspect`: the facts of a bag from its index, the profile check, --suggest, --json."""

from __future__ import annotations

import json
import subprocess
import sys

import gen_kuavo_bag
import numpy as np
import pytest
from click.testing import CliRunner
from rosbags.rosbag1 import Writer
from rosbags.typesys import Stores, get_typestore
from support import ROOT, run_cli

from spill2lerobot.bag.ros1 import Ros1Bag
from spill2lerobot.bag.wire import compressed_image_data
from spill2lerobot.errors import UserError
from spill2lerobot.inspect.command import inspect_command
from spill2lerobot.inspect.images import _decoded_size, compressed_image_info, image_info
from spill2lerobot.inspect.suggest import _train_hz
from spill2lerobot.inspect.topics import topic_facts
from spill2lerobot.profiles import load_profile, robot_for
from spill2lerobot.spill.planning import make_plan

REAL = ROOT / "tests/data/real-bags"
RATES = {
    **dict.fromkeys(gen_kuavo_bag.CAMERA_TOPICS.values(), 30),
    "/sensors_data_raw": 500,
    "/joint_cmd": 500,
    "/kuavo_arm_traj": 100,
    "/leju_claw_state": 50,
    "/leju_claw_command": 50,
}
# The command line as registered in cli.py, with the real error handling of cli.main().
CLI = (
    "import sys; from spill2lerobot import cli; from spill2lerobot.inspect.command import inspect_command;"
    " cli.cli.add_command(inspect_command); cli.main()"
)


def inspect(*args) -> str:
    result = CliRunner().invoke(inspect_command, [str(a) for a in args], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.stdout


def inspect_json(*args) -> dict:
    return json.loads(inspect(*args, "--json"))


def run_inspect(*args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", CLI, "inspect", *map(str, args)], capture_output=True, text=True)


@pytest.fixture(scope="module")
def vga(tmp_path_factory):
    """A 10 s bag with three 640x480 cameras (about 92 MB) and what the generator wrote."""
    path = tmp_path_factory.mktemp("inspect") / "vga.bag"
    return gen_kuavo_bag.write_kuavo_bag(path, 10.0, seed=3, width=640, height=480)


@pytest.fixture(scope="module")
def head_and_left(tmp_path_factory):
    """Head and left wrist cameras only."""
    path = tmp_path_factory.mktemp("inspect") / "head_left.bag"
    return gen_kuavo_bag.write_kuavo_bag(path, 5.0, seed=4, width=160, height=120, cameras=("cam_h", "cam_l"))


@pytest.mark.slow
def test_report_lists_every_topic_with_counts_rates_and_image_size(vga):
    text = inspect(vga.path)
    facts = inspect_json(vga.path)
    topics = {t["topic"]: t for t in facts["topics"]}
    assert topics.keys() == vga.counts.keys()
    lines = text.splitlines()
    for topic, count in vga.counts.items():
        assert topics[topic]["count"] == count
        row = next(line for line in lines if line.strip().startswith(topic + " "))
        assert f" {count} " in row, row
        assert topics[topic]["rate_hz"] == pytest.approx(RATES[topic], rel=0.01)
        assert topics[topic]["gaps"] == 0
        assert topics[topic]["max_gap_s"] < 1.5 / RATES[topic]
    for topic in gen_kuavo_bag.CAMERA_TOPICS.values():
        image = topics[topic]["image"]
        assert (image["width"], image["height"], image["codec"]) == (640, 480, "jpeg")
        assert image["format"] == gen_kuavo_bag.COLOR_FORMAT
        assert topics[topic]["type"] == "sensor_msgs/CompressedImage"
    assert text.count("image: jpeg 640x480, format 'rgb8; jpeg compressed bgr8'") == 3
    assert facts["start_ns"] == vga.start_ns and facts["end_ns"] == vga.end_ns
    assert facts["indexed"] and facts["recovery"] is None and facts["compression"] == ["none"]
    assert facts["messages"] == vga.message_count
    assert facts["profile"]["ok"] and facts["profile"]["missing"] == []


@pytest.mark.slow
def test_reads_only_the_index(vga):
    facts = inspect_json(vga.path)
    size = vga.path.stat().st_size
    assert facts["size_bytes"] == size
    assert facts["bytes_read"] < 0.05 * size, (facts["bytes_read"], size)
    last = inspect(vga.path).splitlines()[-1]
    assert last.startswith("read ") and f"of {size / 1e6:.1f} MB" in last, last


@pytest.mark.slow
def test_one_pass_over_the_index_gives_the_readers_topic_times(vga, tmp_path):
    active = gen_kuavo_bag.write_unindexed_copy(vga.path, tmp_path / "vga.bag.active")
    for path in (vga.path, active, REAL / "kuavo_vr_session_group1.bag", REAL / "robot_localization_test1_bz2.bag"):
        with Ros1Bag(path, recover=True) as bag:
            times = bag.all_topic_times()
            for topic in bag.topics():
                assert np.array_equal(times[topic], bag.topic_times(topic)), (path, topic)


def test_frames_are_those_of_stage1s_plan(bags):
    facts = inspect_json(bags["b"])
    profile = load_profile()
    with Ros1Bag(bags["b"]) as bag:
        plan, _ = make_plan(bag, profile, robot_for(profile).resolve_topics(bag.topics()))
    assert facts["profile"]["frames"] == plan.frames > 0
    assert f"frames: {plan.frames} at 10 Hz" in inspect(bags["b"])


def test_a_profile_that_does_not_match_lists_what_is_missing(bags):
    text = inspect(bags["b"], "--set", "dataset.eef_type=qiangnao")
    missing = [line for line in text.splitlines() if line.strip().startswith("MISSING")]
    assert any("/dexhand/state" in line for line in missing), text
    assert any("/control_robot_hand_position" in line for line in missing), text
    assert "frames: none (convert would fail: /dexhand/state missing" in text
    assert "--set dataset.eef_type=leju_claw" in text  # what the bag suggests instead
    facts = inspect_json(bags["b"], "--set", "dataset.eef_type=qiangnao")
    profile = facts["profile"]
    assert profile["missing"] == ["/dexhand/state", "/control_robot_hand_position"]
    assert profile["frames"] is None and not profile["ok"]
    features = {f["feature"]: f["ok"] for f in profile["features"]}
    assert features == {
        "observation.images.head_cam_h": True,
        "observation.images.wrist_cam_l": True,
        "observation.images.wrist_cam_r": True,
        "observation.state": False,
        "action": False,
    }


def test_a_wrong_message_type_is_named(tmp_path):
    path = tmp_path / "odd.bag"
    store = get_typestore(Stores.ROS1_NOETIC)
    with Writer(path) as writer:
        conn = writer.add_connection("/joint_cmd", "std_msgs/msg/String", typestore=store)
        for i in range(5):
            data = store.serialize_ros1(store.types["std_msgs/msg/String"](data=f"m{i}"), "std_msgs/msg/String")
            writer.write(conn, 1_700_000_000 * 10**9 + i * 10**8, data)
    text = inspect(path)
    assert "WRONG TYPE" in text and "carries std_msgs/String, expected kuavo_msgs/jointCmd" in text
    wrong = inspect_json(path)["profile"]["wrong_types"]
    assert wrong == [{"topic": "/joint_cmd", "type": "std_msgs/String", "expected": "kuavo_msgs/jointCmd"}]


@pytest.mark.slow
def test_suggested_profile_converts_the_bag(bags, tmp_path):
    saved = tmp_path / "suggested.yaml"
    result = run_inspect(bags["b"], "--suggest")
    assert result.returncode == 0, result.stderr
    saved.write_text(result.stdout)
    assert result.stdout.startswith("# Profile suggested by")
    profile = load_profile(saved)
    ds = profile.dataset
    assert (ds.which_arm, ds.eef_type, ds.main_timeline) == ("both", "leju_claw", "head_cam_h")
    assert (ds.main_timeline_fps, ds.train_hz, ds.resize.width, ds.resize.height) == (30, 10, 320, 240)
    out = tmp_path / "out"
    run_cli("convert", str(bags["b"]), str(out), "--config", str(saved))
    info = json.loads((out / "meta/info.json").read_text())
    assert info["fps"] == 10
    assert info["features"]["observation.images.wrist_cam_r"]["shape"] == [240, 320, 3]


@pytest.mark.slow
def test_suggestion_for_head_and_left_wrist_cameras_is_which_arm_left(head_and_left, tmp_path):
    text = inspect(head_and_left.path, "--suggest")
    assert "dataset.which_arm = left" in text and 'which_arm: "left"  # inferred' in text
    saved = tmp_path / "left.yaml"
    saved.write_text(text)
    assert load_profile(saved).dataset.which_arm == "left"
    # The default profile (both arms) cannot convert this bag; the suggestion can.
    assert "/cam_r/color/image_raw/compressed missing" in inspect_json(head_and_left.path)["profile"]["reason"]
    out = tmp_path / "out"
    run_cli("convert", str(head_and_left.path), str(out), "--config", str(saved))
    features = json.loads((out / "meta/info.json").read_text())["features"]
    assert "observation.images.wrist_cam_l" in features and "observation.images.wrist_cam_r" not in features
    assert features["observation.images.head_cam_h"]["shape"] == [120, 160, 3]
    assert features["observation.state"]["shape"] == [8]


def test_suggestion_without_head_camera_times_on_a_wrist_camera(tmp_path):
    path = tmp_path / "right.bag"
    gen_kuavo_bag.write_kuavo_bag(path, 2.0, width=64, height=48, cameras=("cam_r",))
    text = inspect(path, "--suggest")
    profile = load_profile_text(text, tmp_path)
    assert (profile.dataset.which_arm, profile.dataset.main_timeline) == ("right", "wrist_cam_r")
    assert "# WARNING: no head camera" in text  # the Kuavo profile always records the head camera


def test_a_camera_rate_that_train_hz_does_not_divide_gets_a_divisor(tmp_path, monkeypatch):
    for topic in gen_kuavo_bag.CAMERA_TOPICS.values():
        monkeypatch.setitem(gen_kuavo_bag._RATES, topic, 25)
    path = tmp_path / "pal.bag"
    gen_kuavo_bag.write_kuavo_bag(path, 3.0, width=64, height=48)
    text = inspect(path, "--suggest")
    profile = load_profile_text(text, tmp_path)
    assert (profile.dataset.main_timeline_fps, profile.dataset.train_hz) == (25, 5)
    assert "dataset.train_hz = 5  (10 does not divide 25)" in text
    assert "With this profile the bag gives" in text
    assert [_train_hz(fps, 10) for fps in (30, 25, 15, 12, 8, 60)] == [10, 5, 5, 6, 8, 10]


def load_profile_text(text: str, folder):
    path = folder / "suggested.yaml"
    path.write_text(text)
    return load_profile(path)


def test_json_document(bags):
    facts = inspect_json(bags["a"], "--suggest")
    assert {"path", "size_bytes", "topics", "profile", "suggestion", "bytes_read", "seconds"} <= facts.keys()
    assert facts["suggestion"]["yaml"].startswith("# Profile suggested by")
    assert facts["suggestion"]["overrides"] == ["dataset.resize.width=320", "dataset.resize.height=240"]
    assert "yaml" not in inspect_json(bags["a"])["suggestion"]


def test_recovered_bag_says_so(head_and_left, tmp_path):
    active = gen_kuavo_bag.write_unindexed_copy(head_and_left.path, tmp_path / "x.bag.active")
    text = inspect(active)
    assert "NOT INDEXED: recovered" in text and "unindexed" in text
    facts = inspect_json(active)
    assert not facts["indexed"] and facts["recovery"].startswith("recovered")
    assert {t["topic"]: t["count"] for t in facts["topics"]} == head_and_left.counts


def test_not_a_bag_is_a_one_line_error(tmp_path):
    fake = tmp_path / "notes.bag"
    fake.write_text("hello")
    for path, fragment in ((fake, "not a ROS1 bag"), (tmp_path, "is a folder"), (tmp_path / "no.bag", "cannot open")):
        result = run_inspect(path)
        assert result.returncode == 2 and result.stdout == ""
        assert "Traceback" not in result.stderr
        lines = result.stderr.splitlines()
        assert len(lines) == 1 and lines[0].startswith("error:") and str(path) in lines[0], result.stderr
        assert fragment in lines[0]
    with pytest.raises(UserError, match="not a ROS1 bag"):
        CliRunner().invoke(inspect_command, [str(fake)], catch_exceptions=False)


def test_help_shows_the_example():
    result = CliRunner().invoke(inspect_command, ["--help"])
    assert "spill2lerobot inspect demo.bag --suggest > my_robot.yaml" in result.output


@pytest.mark.slow
def test_image_size_from_header_bytes_matches_the_decoder(vga):
    with Ros1Bag(vga.path) as bag:
        topic = gen_kuavo_bag.CAMERA_TOPICS["cam_h"]
        msg = next(iter(bag.messages([topic])))
    info = image_info("sensor_msgs/msg/CompressedImage", msg.data)
    assert (info.width, info.height) == (640, 480)
    assert _decoded_size("jpeg", compressed_image_data(msg.data)) == (640, 480)
    # A JPEG whose header is cut before the frame header: decoded instead (or an error, never a crash).
    assert compressed_image_info("jpeg", b"\xff\xd8\xff\xd9").error is not None
    assert compressed_image_info("raw?", b"abc").error == "data is neither JPEG nor PNG"


def test_raw_image_encoding_and_size():
    store = get_typestore(Stores.ROS1_NOETIC)
    image = store.types["sensor_msgs/msg/Image"]
    header = store.types["std_msgs/msg/Header"](
        seq=0, stamp=store.types["builtin_interfaces/msg/Time"](1, 2), frame_id="cam"
    )
    msg = image(
        header=header, height=6, width=8, encoding="bgr8", is_bigendian=0, step=24, data=np.zeros(144, np.uint8)
    )
    info = image_info("sensor_msgs/msg/Image", store.serialize_ros1(msg, "sensor_msgs/msg/Image"))
    assert (info.format, info.codec, info.width, info.height) == ("bgr8", "raw", 8, 6)


def test_rate_span_and_gaps_of_a_topic_with_a_hole():
    start = 1_700_000_000 * 10**9
    times = np.array([start + i * 100_000_000 for i in [*range(10), *range(30, 40)]], np.int64)  # 10 Hz, 2 s hole
    facts = topic_facts("/t", "std_msgs/msg/String", len(times), times, start - 10**9)
    assert (facts.start_s, facts.end_s) == (1.0, 4.9)
    assert facts.rate_hz == pytest.approx(19 / 3.9)
    assert facts.median_interval_s == pytest.approx(0.1)
    assert (facts.max_gap_s, facts.max_gap_at_s, facts.gaps) == (pytest.approx(2.1), pytest.approx(1.9), 1)
    assert facts.type == "std_msgs/String"
