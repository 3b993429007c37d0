"""Per-topic alignment of generic profiles (``features.align``): ``previous`` (hold), ``linear``,
``slerp`` and a per-topic ``max_skew_ms``, converted end to end and checked against an independent
reference on the same frame times: numpy (searchsorted, interp) and scipy's ``Slerp``, over
values computed from the generator's functions of time (never read back from the bag).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
import yaml
from compare import assert_same_dataset
from gen_kuavo_bag import _JpegEncoder, frame_yuv
from rosbags.rosbag2 import StoragePlugin, Writer
from rosbags.typesys import Stores, get_typestore
from scipy.spatial.transform import Rotation, Slerp
from support import kill_stage1_as_it_journals, run_cli

from spill2lerobot.align import Pick, StreamingAligner, TopicAlign, skew_ns
from spill2lerobot.errors import UserError
from spill2lerobot.profiles import load_profile
from spill2lerobot.profiles.interpolate import slerp

START = 1_700_000_000 * 10**9
CAMERA, HELD, SLOW, POSE = "/cam/front/compressed", "/held", "/slow", "/pose"
RATES = {CAMERA: 30.0, HELD: 4.0, SLOW: 7.0, POSE: 5.0}
AXIS = np.array([1.0, 2.0, 3.0]) / np.linalg.norm([1.0, 2.0, 3.0])
SECONDS = 6.0


def held_at(t: float) -> float:
    return 10.0 * t


def slow_at(t: float) -> list[float]:
    return [3.0 * t + 1.0, t * t]


def rotation_at(t: float) -> np.ndarray:
    return Rotation.from_rotvec(AXIS * 1.3 * t).as_quat()  # x, y, z, w


def position_at(t: float) -> list[float]:
    return [t, 2.0 * t, -0.5]


def record_times(topic: str, rng: np.random.Generator) -> np.ndarray:
    period = 1e9 / RATES[topic]
    count = int(SECONDS * RATES[topic])
    jitter = rng.uniform(-0.1, 0.1, count) * period
    return (START + 3_000_000 + np.arange(count) * period + jitter).astype(np.int64)


def write_bag(folder: Path) -> dict[str, np.ndarray]:
    store = get_typestore(Stores.ROS2_HUMBLE)
    types = store.types
    rng = np.random.default_rng(18)
    times = {topic: record_times(topic, rng) for topic in RATES}
    msgtypes = {
        CAMERA: "sensor_msgs/msg/CompressedImage",
        HELD: "std_msgs/msg/Float64",
        SLOW: "std_msgs/msg/Float64MultiArray",
        POSE: "geometry_msgs/msg/PoseStamped",
    }
    encoder = _JpegEncoder(64, 48)
    events = sorted((int(t), topic, k) for topic, ts in times.items() for k, t in enumerate(ts))
    with Writer(folder, version=9, storage_plugin=StoragePlugin.MCAP) as writer:
        conns = {topic: writer.add_connection(topic, msgtype, typestore=store) for topic, msgtype in msgtypes.items()}
        for t_ns, topic, k in events:
            t = (t_ns - START) / 1e9
            stamp = types["builtin_interfaces/msg/Time"](sec=t_ns // 10**9, nanosec=t_ns % 10**9)
            header = types["std_msgs/msg/Header"](stamp=stamp, frame_id="base")
            if topic == CAMERA:
                jpeg = encoder.encode(frame_yuv(0, k, 64, 48))
                msg = types[msgtypes[CAMERA]](header=header, format="jpeg", data=np.frombuffer(jpeg, np.uint8))
            elif topic == HELD:
                msg = types[msgtypes[HELD]](data=held_at(t))
            elif topic == SLOW:
                layout = types["std_msgs/msg/MultiArrayLayout"](dim=[], data_offset=0)
                msg = types[msgtypes[SLOW]](layout=layout, data=np.array(slow_at(t)))
            else:
                q = rotation_at(t)
                point = types["geometry_msgs/msg/Point"](*position_at(t))
                orientation = types["geometry_msgs/msg/Quaternion"](*q)
                pose = types["geometry_msgs/msg/Pose"](position=point, orientation=orientation)
                msg = types[msgtypes[POSE]](header=header, pose=pose)
            writer.write(conns[topic], t_ns, store.serialize_cdr(msg, msgtypes[topic]))
    return times


PROFILE = {
    "rosbag": {"chunk_size": 20},
    "dataset": {
        "main_timeline": "front",
        "main_timeline_fps": 30,
        "train_hz": 10,
        "resize": {"width": 64, "height": 48},
        "repo_id": "local/align",
        "robot_type": "align_test",
    },
    "features": {
        "cameras": {"front": CAMERA},
        "state": [
            {"topic": HELD, "field": "data", "names": ["held"]},
            {"topic": SLOW, "field": "data", "slice": [0, 2], "names": ["a", "b"]},
            {"topic": POSE, "field": "pose.orientation", "names": ["qx", "qy", "qz", "qw"]},
            {"topic": POSE, "field": "pose.position", "names": ["px", "py", "pz"]},
        ],
        "action": [{"topic": SLOW, "field": "data", "indices": [0], "names": ["a"]}],
        "align": {
            HELD: {"mode": "previous"},
            SLOW: {"mode": "linear"},
            POSE: {"mode": "slerp", "max_skew_ms": 150},
        },
    },
}


def reference(times: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(frame times, state, action) from numpy and scipy on the frame times."""
    camera = times[CAMERA]
    targets = camera[10:-10][::3]
    targets = targets[targets < min(int(ts[-1]) for ts in times.values())]
    secs = {topic: (ts - START) / 1e9 for topic, ts in times.items()}
    t = (targets - START) / 1e9
    held_index = np.searchsorted(times[HELD], targets, side="right") - 1
    held = np.array([held_at(x) for x in secs[HELD]])[held_index]
    slow_values = np.array([slow_at(x) for x in secs[SLOW]])
    slow = np.stack([np.interp(t, secs[SLOW], slow_values[:, i]) for i in range(2)], axis=1)
    rotations = Rotation.from_quat(np.array([rotation_at(x) for x in secs[POSE]]))
    quats = Slerp(secs[POSE], rotations)(t).as_quat()
    positions = np.array([position_at(x) for x in secs[POSE]])
    pos = np.stack([np.interp(t, secs[POSE], positions[:, i]) for i in range(3)], axis=1)
    state = np.concatenate([held[:, None], slow, quats, pos], axis=1)
    return targets, state, slow[:, :1]


@pytest.mark.slow
def test_hold_linear_and_slerp_match_numpy_and_scipy(tmp_path):
    times = write_bag(tmp_path / "bag")
    config = tmp_path / "align.yaml"
    config.write_text(yaml.safe_dump(PROFILE))
    out = tmp_path / "out"
    run_cli("convert", str(tmp_path / "bag"), str(out), "--config", str(config))
    table = pq.read_table(next((out / "data").rglob("*.parquet"))).to_pydict()
    state = np.array(table["observation.state"], dtype=np.float64)
    action = np.array(table["action"], dtype=np.float64)
    targets, expected_state, expected_action = reference(times)
    assert len(state) == len(targets)
    quats = state[:, 3:7]
    signs = np.sign(np.sum(quats * expected_state[:, 3:7], axis=1))  # q and -q are one rotation
    expected_state[:, 3:7] *= signs[:, None]
    np.testing.assert_allclose(state, expected_state, rtol=1e-6, atol=2e-6)
    np.testing.assert_allclose(action, expected_action, rtol=1e-6, atol=2e-6)
    # per-topic gap limits: /held's held value is up to 250 ms old (> faults.max_skew_ms 100);
    # /pose's limit is its own 150 ms and its nearer message is never that far
    held_age = targets - times[HELD][np.searchsorted(times[HELD], targets, side="right") - 1]
    report = json.loads((out / "meta" / "spill2lerobot_report.json").read_text())
    gaps = report["bags"][0]["faults"].get("gap_frames", {})
    assert gaps.get(HELD, 0) == int(np.sum(held_age > 100_000_000)) > 0
    assert POSE not in gaps and SLOW not in gaps
    checked = run_cli("validate", str(out), "--against", str(tmp_path / "bag"), "--config", str(config), "--json")
    assert json.loads(checked.stdout)["ok"] is True


@pytest.mark.slow
def test_a_killed_stage1_with_held_and_blended_topics_resumes_to_the_same_dataset(tmp_path):
    write_bag(tmp_path / "bag")
    config = tmp_path / "align.yaml"
    config.write_text(yaml.safe_dump({**PROFILE, "rosbag": {"chunk_size": 10}}))
    options = ["--config", str(config), "--set", "video.codec=libx264"]
    run_cli("convert", str(tmp_path / "bag"), str(tmp_path / "whole"), *options)
    spill = tmp_path / "spill"
    assert kill_stage1_as_it_journals([str(tmp_path / "bag"), str(spill), *options], spill) >= 1
    run_cli("stage1", str(tmp_path / "bag"), str(spill), *options)
    run_cli("merge", str(spill), str(tmp_path / "resumed"))
    assert_same_dataset(tmp_path / "whole", tmp_path / "resumed")


def test_the_aligner_holds_and_interpolates_as_searchsorted_says():
    rng = np.random.default_rng(3)
    msgs = np.sort(rng.choice(np.arange(0, 10_000), 60, replace=False)).astype(np.int64)
    targets = np.sort(rng.choice(np.arange(200, 9_800), 40, replace=False)).astype(np.int64)
    for mode in ("previous", "linear"):
        aligner = StreamingAligner(targets, ["/x"], modes={"/x": mode})
        frames = [f for t in msgs for f in aligner.push("/x", int(t), int(t))] + aligner.finish()
        before = np.searchsorted(msgs, targets, side="right") - 1
        for frame, b in zip(frames, before, strict=True):
            pick = frame.picks["/x"]
            assert pick.time_ns == msgs[b]
            if mode == "linear" and msgs[b] != frame.target_ns:
                assert pick.after is not None and pick.after.time_ns == msgs[b + 1]
                assert pick.weight == pytest.approx((frame.target_ns - msgs[b]) / (msgs[b + 1] - msgs[b]))


def test_skew_of_held_and_interpolated_picks():
    assert skew_ns(Pick(100, b""), 250, "previous") == 150
    assert skew_ns(Pick(100, b"", Pick(260, b""), 0.9), 250, "linear") == 10
    assert skew_ns(Pick(300, b""), 250, "nearest") == 50


def test_slerp_matches_scipy_at_many_weights():
    rng = np.random.default_rng(5)
    for _ in range(50):
        pair = Rotation.random(2, random_state=int(rng.integers(1 << 30)))
        q0, q1 = pair.as_quat()
        w = float(rng.uniform())
        ref = Slerp([0.0, 1.0], pair)([w]).as_quat()[0]
        ours = slerp(q0, q1, w)
        assert abs(abs(np.dot(ours, ref)) - 1.0) < 1e-9


@pytest.mark.parametrize(
    ("align", "message"),
    [
        ({"/nowhere": {"mode": "linear"}}, "profile key 'features.align' names '/nowhere'"),
        ({HELD: {"mode": "cubic"}}, "profile key 'features.align"),
        ({HELD: {"max_skew_ms": -5}}, "max_skew_ms' must be between 0 and"),
    ],
)
def test_bad_align_keys_are_one_line(tmp_path, align, message):
    profile = json.loads(json.dumps(PROFILE))
    profile["features"]["align"] = align
    config = tmp_path / "p.yaml"
    config.write_text(yaml.safe_dump(profile))
    with pytest.raises(UserError) as err:
        load_profile(config)
    assert message in str(err.value) and "\n" not in str(err.value)


def test_topic_align_defaults_to_nearest():
    assert TopicAlign() == TopicAlign("nearest", None)


PLUGIN = """
def doubled(value):
    return [2.0 * value, 1.0]


def first(message):
    return message.data[0]
"""


@pytest.mark.slow
def test_decoder_plugins_from_the_profiles_folder_and_an_installed_module(tmp_path):
    times = write_bag(tmp_path / "bag")
    folder = tmp_path / "profiles"
    folder.mkdir()
    (folder / "plugin.py").write_text(PLUGIN)
    profile = json.loads(json.dumps(PROFILE))
    profile["features"]["state"] = [
        {"topic": HELD, "field": "data", "decoder": "plugin.py:doubled", "names": ["held2", "one"]},
        {"topic": SLOW, "field": "", "decoder": "plugin.py:first", "names": ["first"]},
        {"topic": SLOW, "field": "data", "decoder": "numpy:cumsum", "names": ["c0", "c1"]},
    ]
    profile["features"]["align"] = {HELD: {"mode": "previous"}, SLOW: {"mode": "previous"}}
    config = folder / "plugins.yaml"
    config.write_text(yaml.safe_dump(profile))
    out = tmp_path / "out"
    run_cli("convert", str(tmp_path / "bag"), str(out), "--config", str(config))
    table = pq.read_table(next((out / "data").rglob("*.parquet"))).to_pydict()
    state = np.array(table["observation.state"], dtype=np.float64)
    targets, _, _ = reference(times)
    held_t = (times[HELD][np.searchsorted(times[HELD], targets, side="right") - 1] - START) / 1e9
    slow_t = (times[SLOW][np.searchsorted(times[SLOW], targets, side="right") - 1] - START) / 1e9
    slow = np.array([slow_at(t) for t in slow_t])
    expected = np.stack(
        [2 * held_at(held_t), np.ones(len(targets)), slow[:, 0], slow[:, 0], slow[:, 0] + slow[:, 1]], 1
    )
    np.testing.assert_allclose(state, expected, rtol=1e-6, atol=2e-6)


@pytest.mark.parametrize(
    ("decoder", "message"),
    [
        ("nosuchmodule_s2l:f", "decoder nosuchmodule_s2l:f cannot be loaded (ModuleNotFoundError"),
        ("math:no_such_function", "decoder math:no_such_function cannot be loaded (AttributeError"),
        ("math:pi", "decoder math:pi is not a function"),
    ],
)
def test_a_decoder_that_cannot_be_loaded_is_one_line(tmp_path, decoder, message):
    from spill2lerobot.profiles.decoders import load_decoder

    with pytest.raises(UserError) as err:
        load_decoder(decoder)
    assert str(err.value).startswith(message) and "\n" not in str(err.value)


def test_a_bad_decoder_key_is_one_line(tmp_path):
    profile = json.loads(json.dumps(PROFILE))
    profile["features"]["state"][0]["decoder"] = "not a decoder"
    config = tmp_path / "p.yaml"
    config.write_text(yaml.safe_dump(profile))
    with pytest.raises(UserError, match=r"profile key 'features.state\[0\].decoder' must be module:function"):
        load_profile(config)
