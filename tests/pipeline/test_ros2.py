"""ROS2 bags (.mcap, .db3) and generic profiles, end to end; lerobot 0.6.1 is the oracle.

The expected frames are computed independently of the converter: record times from the
generator's schedule, the original's timeline and nearest-message (argmin) alignment in numpy,
values from the generator's known functions of time. These tests import lerobot
unconditionally: where it is missing they fail, they never skip.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import gen_kuavo_bag
import gen_ros2_bag
import numpy as np
import pytest
import yaml
from compare import assert_same_dataset
from gen_kuavo_bag import read_frame_code
from lerobot.datasets.lerobot_dataset import LeRobotDataset
from rosbags.rosbag1 import Reader as Ros1Reader
from support import ROOT, kill_stage1_as_it_journals, run_cli

from spill2lerobot.bag import Ros1Bag, Ros2Bag, open_bag
from spill2lerobot.bag.wire import cdr_compressed_image_data
from spill2lerobot.errors import UserError
from spill2lerobot.profiles import load_profile, robot_for
from spill2lerobot.spill.planning import list_bags

ARM_PROFILE = ROOT / "configs" / "ros2_arm.yaml"
SMALL = ["--set", "dataset.resize.width=320", "--set", "dataset.resize.height=240"]
CHUNK = 20


@pytest.fixture(scope="module")
def ros2_bags(tmp_path_factory) -> dict[str, gen_ros2_bag.Ros2BagSummary]:
    folder = tmp_path_factory.mktemp("ros2")
    return {
        "mcap": gen_ros2_bag.write_ros2_bag(folder / "arm_a", 9.0, storage="mcap", seed=3),
        "db3": gen_ros2_bag.write_ros2_bag(folder / "arm_b", 7.0, storage="sqlite3", seed=4),
    }


@dataclass
class Expected:
    targets: np.ndarray
    picks: dict[str, np.ndarray]  # topic -> index of the picked message per frame
    state: np.ndarray
    action: np.ndarray

    def __len__(self) -> int:
        return len(self.targets)


def align(times: dict[str, np.ndarray], main: str, drop: int = 10, stride: int = 3) -> tuple[np.ndarray, dict]:
    """The original's timeline and argmin picks, over the topics given (all of them used)."""
    timeline = times[main][drop:-drop][::stride]
    timeline = timeline[timeline < min(ts[-1] for ts in times.values())]
    picks = {topic: np.array([int(np.argmin(np.abs(ts - t))) for t in timeline]) for topic, ts in times.items()}
    return timeline, picks


def expected_arm(summary: gen_ros2_bag.Ros2BagSummary) -> Expected:
    g = gen_ros2_bag
    times = summary.times
    timeline, picks = align(times, g.CAMERA_TOPICS["front"])

    def t_of(topic: str, frame: int) -> float:
        return (int(times[topic][picks[topic][frame]]) - summary.start_ns) / 1e9

    state = [g.joint_position_at(t_of(g.JOINT_STATES, f)) for f in range(len(timeline))]
    action = [
        [
            *np.deg2rad(g.arm_command_deg_at(t_of(g.ARM_COMMAND, f))),
            g.gripper_command_mm_at(t_of(g.GRIPPER_COMMAND, f)) / 1000,
        ]
        for f in range(len(timeline))
    ]
    return Expected(timeline, picks, np.asarray(state, np.float32), np.asarray(action, np.float32))


def to_rgb(chw) -> np.ndarray:
    return (chw.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)


def sample_frames(length: int) -> list[int]:
    picks = {0, 1, length // 2, length - 2, length - 1}
    for start in range(CHUNK, length, CHUNK):
        picks |= {start - 1, start}
    return sorted(f for f in picks if 0 <= f < length)


def check_arm_frame(ds: LeRobotDataset, index: int, exp: Expected, frame: int) -> None:
    item = ds[index]
    for name, topic in gen_ros2_bag.CAMERA_TOPICS.items():
        shown = read_frame_code(to_rgb(item[f"observation.images.{name}"]))
        assert shown == (gen_ros2_bag.CAMERA_INDEX[name], int(exp.picks[topic][frame])), (index, name)
    np.testing.assert_allclose(item["observation.state"].numpy(), exp.state[frame], rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(item["action"].numpy(), exp.action[frame], rtol=1e-6, atol=1e-7)


# -- the reader --------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["mcap", "db3"])
def test_ros2_reader_gives_the_bags_times_and_messages(ros2_bags, kind):
    summary = ros2_bags[kind]
    for path in (summary.path, summary.storage_file):  # a rosbag2 folder or its storage file
        with open_bag(path) as bag:
            assert isinstance(bag, Ros2Bag)
            topics = bag.topics()
            assert {t: info.count for t, info in topics.items()} == {t: len(ts) for t, ts in summary.times.items()}
            for topic, times in summary.times.items():
                assert np.array_equal(bag.topic_times(topic), times), topic
                assert bag.last_time(topic) == times[-1]
            front = gen_ros2_bag.CAMERA_TOPICS["front"]
            start = int(summary.times[front][40])
            wanted = [front, gen_ros2_bag.JOINT_STATES]
            msgs = list(bag.messages(wanted, start_ns=start))
            expected = sorted(int(t) for topic in wanted for t in summary.times[topic] if t >= start)
            assert [m.time_ns for m in msgs] == expected
            first = msgs[0]
            assert first.topic == front
            image = bag.deserialize_raw(first.data, "sensor_msgs/msg/CompressedImage")
            assert cdr_compressed_image_data(first.data) == bytes(image.data) == bag.compressed_image_data(first.data)
            js = next(m for m in msgs if m.topic == gen_ros2_bag.JOINT_STATES)
            t = (js.time_ns - summary.start_ns) / 1e9
            np.testing.assert_array_equal(bag.deserialize(js).position, gen_ros2_bag.joint_position_at(t))


def test_folders_contribute_ros2_bags(ros2_bags, tmp_path):
    mixed = tmp_path / "mixed"
    mixed.mkdir()
    shutil.copytree(ros2_bags["mcap"].path, mixed / "arm_a")  # a rosbag2 folder
    shutil.copy(ros2_bags["db3"].storage_file, mixed / "b.db3")
    shutil.copy(ros2_bags["mcap"].storage_file, mixed / "c.mcap")
    (mixed / "notes.txt").write_text("not a bag")
    assert list_bags([mixed]) == [mixed / "arm_a", mixed / "b.db3", mixed / "c.mcap"]
    assert list_bags([ros2_bags["mcap"].path]) == [ros2_bags["mcap"].path.resolve()]


# -- end to end with lerobot -------------------------------------------------------------------


@pytest.fixture(scope="module")
def arm_dataset(ros2_bags, tmp_path_factory) -> Path:
    """Both ROS2 bags in one dataset: the .mcap as a rosbag2 folder, the .db3 as a file."""
    out = tmp_path_factory.mktemp("out") / "arm"
    inputs = [str(ros2_bags["mcap"].path), str(ros2_bags["db3"].storage_file)]
    run_cli("convert", *inputs, str(out), "--config", str(ARM_PROFILE), *SMALL, "--set", f"rosbag.chunk_size={CHUNK}")
    return out


@pytest.mark.slow
def test_lerobot_opens_the_ros2_dataset_with_the_expected_frames(arm_dataset, ros2_bags):
    expected = [expected_arm(ros2_bags["mcap"]), expected_arm(ros2_bags["db3"])]
    ds = LeRobotDataset("local/ros2_arm", root=arm_dataset)
    assert ds.meta.total_episodes == 2
    assert list(ds.meta.episodes["length"]) == [len(e) for e in expected]
    assert len(ds) == sum(len(e) for e in expected)
    assert all(len(e) > 2 * CHUNK for e in expected)  # several chunks per bag
    features = ds.meta.info.features
    assert features["observation.state"]["names"] == list(gen_ros2_bag.JOINT_NAMES)
    assert features["action"]["names"] == [*gen_ros2_bag.JOINT_NAMES[:6], "gripper"]
    assert ds.meta.info.robot_type == "ros2_arm"
    assert {key for key in features if key.startswith("observation.images.")} == {
        "observation.images.front",
        "observation.images.wrist",
    }
    start = 0
    for exp in expected:
        for frame in sample_frames(len(exp)):
            check_arm_frame(ds, start + frame, exp, frame)
        start += len(exp)


@pytest.mark.slow
def test_validate_accepts_the_ros2_dataset_against_its_bags(arm_dataset, ros2_bags):
    bags = ["--against", str(ros2_bags["mcap"].path), "--against", str(ros2_bags["db3"].storage_file)]
    result = run_cli("validate", str(arm_dataset), *bags, "--config", str(ARM_PROFILE), *SMALL)
    assert result.stdout.strip().splitlines()[-1].startswith("OK: 2 episodes")
    assert "compared with 2 bags" in result.stdout


@pytest.mark.slow
def test_a_killed_ros2_stage1_resumes_to_the_same_dataset(ros2_bags, tmp_path):
    bag = str(ros2_bags["db3"].path)
    options = ["--config", str(ARM_PROFILE), *SMALL, "--set", "rosbag.chunk_size=10", "--set", "video.codec=libx264"]
    run_cli("convert", bag, str(tmp_path / "whole"), *options)
    spill = tmp_path / "spill"
    assert kill_stage1_as_it_journals([bag, str(spill), *options], spill) >= 1
    run_cli("stage1", bag, str(spill), *options)
    run_cli("merge", str(spill), str(tmp_path / "resumed"))
    assert_same_dataset(tmp_path / "whole", tmp_path / "resumed")


# -- a generic profile on a Kuavo ROS1 bag --------------------------------------------------------

KUAVO_GENERIC = {
    "dataset": {"main_timeline": "head", "repo_id": "local/kuavo_generic", "robot_type": "kuavo"},
    "features": {
        "cameras": {"head": "/cam_h/color/image_raw/compressed", "wrist_l": "/cam_l/color/image_raw/compressed"},
        "state": [{"topic": "/sensors_data_raw", "field": "joint_data.joint_q", "slice": [12, 26]}],
        "action": [
            {"topic": "/kuavo_arm_traj", "field": "position", "slice": [0, 14], "convert": "deg2rad"},
            {"topic": "/leju_claw_command", "field": "data.position", "indices": [0, 1], "convert": "percent"},
        ],
    },
}


@pytest.mark.slow
def test_a_generic_profile_converts_a_kuavo_ros1_bag(bags, tmp_path):
    config = tmp_path / "kuavo_generic.yaml"
    config.write_text(yaml.safe_dump(KUAVO_GENERIC))
    out = tmp_path / "out"
    run_cli("convert", str(bags["b"]), str(out), "--config", str(config), *SMALL, "--set", f"rosbag.chunk_size={CHUNK}")
    with Ros1Reader(bags["b"]) as reader:
        times: dict[str, list[int]] = {}
        for conn, t, _ in reader.messages():
            times.setdefault(conn.topic, []).append(t)
    used = ["/cam_h/color/image_raw/compressed", "/cam_l/color/image_raw/compressed"]
    used += ["/sensors_data_raw", "/kuavo_arm_traj", "/leju_claw_command"]
    arrays = {topic: np.array(times[topic], np.int64) for topic in used}
    timeline, picks = align(arrays, used[0])
    start_ns = gen_kuavo_bag.DEFAULT_START_NS

    def t_of(topic: str, frame: int) -> float:
        return (int(arrays[topic][picks[topic][frame]]) - start_ns) / 1e9

    ds = LeRobotDataset("local/kuavo_generic", root=out)
    assert len(ds) == len(timeline)
    assert list(ds.meta.episodes["length"]) == [len(timeline)]
    names = ds.meta.info.features["observation.state"]["names"]
    assert names == [f"sensors_data_raw.joint_data.joint_q.{i}" for i in range(12, 26)]
    for frame in sample_frames(len(timeline)):
        item = ds[frame]
        for name, cam, topic in (("head", 0, used[0]), ("wrist_l", 1, used[1])):
            shown = read_frame_code(to_rgb(item[f"observation.images.{name}"]))
            assert shown == (cam, int(picks[topic][frame])), (frame, name)
        state = gen_kuavo_bag.joint_q_at(t_of("/sensors_data_raw", frame))[12:26]
        action = [
            *np.deg2rad(gen_kuavo_bag.arm_traj_deg_at(t_of("/kuavo_arm_traj", frame))),
            *gen_kuavo_bag.claw_cmd_at(t_of("/leju_claw_command", frame)) / 100,
        ]
        np.testing.assert_allclose(item["observation.state"].numpy(), np.float32(state), rtol=1e-6, atol=1e-7)
        np.testing.assert_allclose(item["action"].numpy(), np.float32(action), rtol=1e-6, atol=1e-7)


# -- profile validation ------------------------------------------------------------------------


def _arm(**changes) -> dict:
    profile = yaml.safe_load(ARM_PROFILE.read_text())
    for dotted, value in changes.items():
        node = profile
        *parents, last = dotted.split("__")
        for key in parents:
            node = node[int(key)] if isinstance(node, list) else node[key]
        if value is None and not isinstance(node, list):
            node.pop(last, None)
        else:
            node[int(last) if isinstance(node, list) else last] = value
    return profile


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"features__cameras": {}}, "profile key 'features.cameras' must name at least one camera"),
        ({"features__cameras": ["/a"]}, "profile key 'features.cameras' must be a mapping"),
        ({"features__cameras__front": 3}, "profile key 'features.cameras.front' must be a string"),
        ({"features__cameras__front": "/camera/wrist/image_raw/compressed"}, "is given to two cameras"),
        ({"dataset__main_timeline": "head"}, "profile key 'dataset.main_timeline' must be one of the cameras"),
        ({"features__state": []}, "profile key 'features.state' must list at least one part"),
        ({"features__state__0__fields": "x"}, "unknown profile key 'features.state[0].fields'"),
        ({"features__state__0__topic": "joint_states"}, "profile key 'features.state[0].topic' must be a topic"),
        ({"features__action__0__field": "data..x"}, "profile key 'features.action[0].field' must be a field path"),
        ({"features__action__0__slice": [6, 2]}, "profile key 'features.action[0].slice' must be"),
        ({"features__action__0__indices": [1]}, "'features.action[0]': give one of slice, indices and joints"),
        ({"features__action__0__convert": "furlongs"}, "profile key 'features.action[0].convert' must be one of"),
        ({"features__action__0__scale": "2"}, "profile key 'features.action[0].scale' must be a number"),
        ({"features__action__1__names": None}, "profile key 'features.action[1]': give names"),
        ({"features__state__0__joints": ["a", "a"]}, "profile key 'features.state[0]': give one of"),
        ({"features__action__1__joints": ["a", "a"]}, "profile key 'features.action[1].joints' must be"),
        ({"features__action__0__names": ["a", "b"]}, "profile key 'features.action[0].names' has 2 names for 6 values"),
        ({"features__action__1__names": ["joint_1"]}, "the name 'joint_1' is used twice"),
        (
            {"features__action__1__topic": "/camera/front/image_raw/compressed"},
            "profile key 'features.action[1].topic': /camera/front/image_raw/compressed is a camera topic",
        ),
    ],
)
def test_generic_profile_errors_are_one_line_naming_the_key(tmp_path, changes, message):
    path = tmp_path / "p.yaml"
    path.write_text(yaml.safe_dump(_arm(**changes)))
    with pytest.raises(UserError) as error:
        load_profile(path)
    assert message in str(error.value)
    assert "\n" not in str(error.value)


def test_the_shipped_profiles_load():
    arm = load_profile(ARM_PROFILE)
    assert arm.is_generic and arm.dataset.main_timeline == "front"
    kuavo = load_profile(ROOT / "configs" / "kuavo.yaml")
    assert not kuavo.is_generic
    assert "features" not in kuavo.to_dict()  # Kuavo spills keep their manifest
    with pytest.raises(UserError, match=r"'dataset\.main_timeline' must be one of 'head_cam_h'"):
        load_profile(None, ["dataset.main_timeline=front"])


@pytest.mark.slow
def test_a_field_the_message_lacks_is_one_line_naming_the_key(ros2_bags, tmp_path):
    result = run_cli(
        "stage1",
        str(ros2_bags["db3"].storage_file),
        str(tmp_path / "spill"),
        "--config",
        str(ARM_PROFILE),
        "--set",
        "features.state=[{topic: /joint_states, field: positions, slice: [0, 7]}]",
        check=False,
    )
    assert result.returncode == 2
    line = result.stderr.strip().splitlines()[-1]
    assert "profile key 'features.state[0].field'" in line
    assert "sensor_msgs/msg/JointState" in line and "no field 'positions'" in line


@pytest.mark.slow
def test_a_missing_topic_is_one_line(ros2_bags, tmp_path):
    result = run_cli(
        "stage1",
        str(ros2_bags["mcap"].storage_file),
        str(tmp_path / "spill"),
        "--config",
        str(ARM_PROFILE),
        "--set",
        "features.cameras.wrist=/nope/compressed",
        check=False,
    )
    assert result.returncode == 2
    assert "required topic /nope/compressed is missing" in result.stderr


def test_open_bag_picks_the_reader(ros2_bags, bags):
    with open_bag(bags["b"]) as bag:
        assert isinstance(bag, Ros1Bag)
    with open_bag(ros2_bags["db3"].path) as bag:
        assert isinstance(bag, Ros2Bag)


@pytest.mark.parametrize("storage", ["mcap", "sqlite3"])
@pytest.mark.parametrize("compression", ["message", "file"])
def test_zstd_compressed_rosbag2_folders_read_the_same(tmp_path, storage, compression):
    summary = gen_ros2_bag.write_ros2_bag(
        tmp_path / "bag", 2.0, storage=storage, compression=compression, width=64, height=48
    )
    front = gen_ros2_bag.CAMERA_TOPICS["front"]
    with open_bag(summary.path) as bag:
        assert np.array_equal(bag.topic_times(front), summary.times[front])
        assert bag.last_time(gen_ros2_bag.JOINT_STATES) == summary.times[gen_ros2_bag.JOINT_STATES][-1]
        msgs = list(bag.messages([front], start_ns=int(summary.times[front][3])))
        assert [m.time_ns for m in msgs] == summary.times[front][3:].tolist()
        assert bag.compressed_image_data(msgs[0].data)[:2] == b"\xff\xd8"


@pytest.mark.slow
def test_inspect_reads_ros2_bags_and_checks_a_generic_profile(ros2_bags, arm_dataset):
    ds = LeRobotDataset("local/ros2_arm", root=arm_dataset)
    first_length = int(ds.meta.episodes["length"][0])
    for path in (ros2_bags["mcap"].path, ros2_bags["db3"].storage_file):
        result = run_cli("inspect", str(path), "--config", str(ARM_PROFILE), *SMALL)
        text = result.stdout
        assert "/joint_states" in text and "sensor_msgs/JointState" in text
        assert "image: jpeg 320x240" in text
        assert "generic, main_timeline front at 30 fps" in text
        assert "MISSING" not in text
    mcap = run_cli("inspect", str(ros2_bags["mcap"].path), "--config", str(ARM_PROFILE), "--json")
    facts = json.loads(mcap.stdout)
    assert facts["profile"]["ok"] and facts["profile"]["frames"] == first_length
    kuavo = run_cli("inspect", str(ros2_bags["mcap"].path)).stdout  # the default profile: what is missing
    assert "MISSING    observation.state               /sensors_data_raw" in kuavo


@pytest.mark.slow
def test_a_file_that_is_not_a_ros2_bag_is_one_line(tmp_path):
    fake = tmp_path / "fake.mcap"
    fake.write_bytes(b"not an mcap file at all" * 10)
    result = run_cli("convert", str(fake), str(tmp_path / "out"), "--config", str(ARM_PROFILE), check=False)
    assert result.returncode == 2
    line = result.stderr.strip().splitlines()[-1]
    assert str(fake) in line and "cannot read this ROS2 bag" in line


def test_parts_pick_joints_by_name_convert_and_threshold(tmp_path):
    from rosbags.typesys import Stores, get_typestore

    profile = _arm(
        features__state=[
            {"topic": "/joint_states", "field": "position", "joints": ["gripper", "joint_2"]},
            {"topic": "/joint_states", "field": "position", "indices": [6], "threshold": 0.05, "names": ["closed"]},
        ]
    )
    path = tmp_path / "p.yaml"
    path.write_text(yaml.safe_dump(profile))
    extractor = robot_for(load_profile(path))
    assert extractor.state_names() == ["gripper", "joint_2", "closed"]
    store = get_typestore(Stores.ROS2_HUMBLE)
    types = store.types
    stamp = types["builtin_interfaces/msg/Time"](sec=0, nanosec=0)
    header = types["std_msgs/msg/Header"](stamp=stamp, frame_id="")
    joints = types["sensor_msgs/msg/JointState"](
        header=header,
        name=["joint_2", "joint_1", "joint_3", "joint_4", "joint_5", "joint_6", "gripper"],
        position=np.array([0.2, 0.1, 0.3, 0.4, 0.5, 0.6, 0.07]),
        velocity=np.zeros(7),
        effort=np.zeros(7),
    )
    msgs = {
        "/joint_states": joints,
        "/arm_controller/commands": types["std_msgs/msg/Float64MultiArray"](
            layout=types["std_msgs/msg/MultiArrayLayout"](dim=[], data_offset=0), data=np.full(6, 90.0)
        ),
        "/gripper_controller/command": types["std_msgs/msg/Float64"](data=40.0),
    }
    roles = extractor.resolve_topics({})
    state, action = extractor.state_and_action(roles, msgs, {})
    np.testing.assert_array_equal(state, np.float32([0.07, 0.2, 1.0]))
    np.testing.assert_allclose(action, np.float32([np.pi / 2] * 6 + [0.04]), rtol=1e-7)
    joints.name[0] = "elbow"  # a joint the profile names is gone: one clear error
    with pytest.raises(ValueError, match="no joint 'joint_2'"):
        extractor.state_and_action(roles, msgs, {})


@pytest.mark.slow
def test_inspect_suggests_a_generic_profile_for_a_non_kuavo_bag(ros2_bags, tmp_path):
    text = run_cli("inspect", str(ros2_bags["mcap"].path), "--suggest").stdout
    path = tmp_path / "suggested.yaml"
    path.write_text(text)
    profile = load_profile(path)
    features = profile.features
    assert features.cameras == gen_ros2_bag.CAMERA_TOPICS
    assert profile.dataset.main_timeline in features.cameras and profile.dataset.main_timeline_fps == 30
    assert [(p.topic, p.field, p.joints) for p in features.state] == [
        (gen_ros2_bag.JOINT_STATES, "position", list(gen_ros2_bag.JOINT_NAMES))
    ]
    assert [(p.topic, p.slice) for p in features.action] == [
        (gen_ros2_bag.ARM_COMMAND, [0, 6]),
        (gen_ros2_bag.GRIPPER_COMMAND, None),
    ]
    assert "# With this profile the bag gives" in text
    report = run_cli("inspect", str(ros2_bags["db3"].path)).stdout
    assert "not a Kuavo bag: --suggest writes a generic profile" in report
