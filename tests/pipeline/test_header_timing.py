"""``dataset.timing: header``: the timeline and the alignment use each message's header.stamp.

The bag is written with a latency per topic (camera 60 ms, joints 1 ms, pose 30 ms), so the
record-time order differs from the stamp order; the values are functions of the stamp. The
reference picks by stamp with numpy alone (argmin, interp) on the generator's own times.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
import yaml
from gen_kuavo_bag import _JpegEncoder, frame_yuv
from rosbags.rosbag2 import StoragePlugin, Writer
from rosbags.typesys import Stores, get_typestore
from support import run_cli

from spill2lerobot.errors import UserError
from spill2lerobot.profiles import load_profile

START = 1_700_000_000 * 10**9
CAMERA, JOINTS, POSE, PLAIN = "/cam/compressed", "/joints", "/pose", "/plain"
RATES = {CAMERA: 30.0, JOINTS: 50.0, POSE: 5.0, PLAIN: 10.0}
LATENCY_MS = {CAMERA: 60.0, JOINTS: 1.0, POSE: 30.0, PLAIN: 1.0}
SECONDS = 5.0


def joints_at(t: float) -> list[float]:
    return [np.sin(t), 3.0 * t]


def position_at(t: float) -> list[float]:
    return [t, -2.0 * t + 1.0, 0.25]


def stamp_times(topic: str, rng: np.random.Generator) -> np.ndarray:
    period = 1e9 / RATES[topic]
    count = int(SECONDS * RATES[topic])
    return (START + 2_000_000 + np.arange(count) * period + rng.uniform(-0.05, 0.05, count) * period).astype(np.int64)


def write_bag(folder: Path, backwards: bool = False) -> dict[str, np.ndarray]:
    """The bag; returns each topic's header stamps (record time = stamp + latency + jitter)."""
    store = get_typestore(Stores.ROS2_HUMBLE)
    types = store.types
    rng = np.random.default_rng(7)
    stamps = {topic: stamp_times(topic, rng) for topic in RATES}
    msgtypes = {
        CAMERA: "sensor_msgs/msg/CompressedImage",
        JOINTS: "sensor_msgs/msg/JointState",
        POSE: "geometry_msgs/msg/PoseStamped",
        PLAIN: "std_msgs/msg/Float64",
    }
    encoder = _JpegEncoder(64, 48)
    events = []
    for topic, ts in stamps.items():
        record = ts + int(LATENCY_MS[topic] * 1e6) + rng.integers(0, 2_000_000, len(ts))
        if backwards and topic == JOINTS:  # messages 40 and 41 recorded in order, stamped the other way
            ts = ts.copy()
            ts[40], ts[41] = ts[41], ts[40]
        events += [(int(r), topic, k, int(s)) for k, (r, s) in enumerate(zip(record, ts, strict=True))]
    with Writer(folder, version=9, storage_plugin=StoragePlugin.MCAP) as writer:
        conns = {topic: writer.add_connection(topic, msgtype, typestore=store) for topic, msgtype in msgtypes.items()}
        for record_ns, topic, k, s in sorted(events):
            t = (s - START) / 1e9
            header = types["std_msgs/msg/Header"](
                stamp=types["builtin_interfaces/msg/Time"](sec=s // 10**9, nanosec=s % 10**9), frame_id="base"
            )
            if topic == CAMERA:
                jpeg = encoder.encode(frame_yuv(0, k, 64, 48))
                msg = types[msgtypes[CAMERA]](header=header, format="jpeg", data=np.frombuffer(jpeg, np.uint8))
            elif topic == JOINTS:
                msg = types[msgtypes[JOINTS]](
                    header=header, name=["a", "b"], position=np.array(joints_at(t)), velocity=np.zeros(0),
                    effort=np.zeros(0),
                )  # fmt: skip
            elif topic == POSE:
                point = types["geometry_msgs/msg/Point"](*position_at(t))
                orientation = types["geometry_msgs/msg/Quaternion"](0.0, 0.0, 0.0, 1.0)
                pose = types["geometry_msgs/msg/Pose"](position=point, orientation=orientation)
                msg = types[msgtypes[POSE]](header=header, pose=pose)
            else:
                msg = types[msgtypes[PLAIN]](data=t)
            writer.write(conns[topic], record_ns, store.serialize_cdr(msg, msgtypes[topic]))
    return stamps


PROFILE = {
    "rosbag": {"chunk_size": 8},
    "dataset": {
        "timing": "header",
        "main_timeline": "front",
        "main_timeline_fps": 30,
        "train_hz": 10,
        "resize": {"width": 64, "height": 48},
        "repo_id": "local/header_timing",
        "robot_type": "header_test",
    },
    "features": {
        "cameras": {"front": CAMERA},
        "state": [
            {"topic": JOINTS, "field": "position", "names": ["a", "b"]},
            {"topic": POSE, "field": "pose.position", "names": ["px", "py", "pz"]},
        ],
        "action": [{"topic": JOINTS, "field": "position", "indices": [1], "names": ["b"]}],
        "align": {POSE: {"mode": "linear"}},
    },
}


def nearest(times: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """argmin |t - target| per target, a tie to the earlier message (the original's rule)."""
    return np.array([int(np.argmin(np.abs(times - x))) for x in targets])


def reference(stamps: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """(frame stamps, state) on the stamp timeline, numpy only."""
    used = (CAMERA, JOINTS, POSE)
    targets = stamps[CAMERA][10:-10][::3]
    targets = targets[targets < min(int(stamps[topic][-1]) for topic in used)]
    secs = {topic: (stamps[topic] - START) / 1e9 for topic in used}
    joints = np.array([joints_at(x) for x in secs[JOINTS]])[nearest(stamps[JOINTS], targets)]
    t = (targets - START) / 1e9
    positions = np.array([position_at(x) for x in secs[POSE]])
    pose = np.stack([np.interp(t, secs[POSE], positions[:, i]) for i in range(3)], axis=1)
    return targets, np.concatenate([joints, pose], axis=1)


def convert(tmp_path: Path, name: str, profile: dict, *extra: str) -> dict:
    config = tmp_path / f"{name}.yaml"
    config.write_text(yaml.safe_dump(profile))
    out = tmp_path / name
    run_cli("convert", str(tmp_path / "bag"), str(out), "--config", str(config), *extra)
    return pq.read_table(next((out / "data").rglob("*.parquet"))).to_pydict()


@pytest.mark.slow
def test_header_timing_aligns_by_stamp_from_every_seek(tmp_path):
    stamps = write_bag(tmp_path / "bag")
    # --jobs 2 and 8-frame chunks: most chunks are units read from a seek (their resume point)
    table = convert(tmp_path, "header", PROFILE, "--jobs", "2", "--set", "video.codec=libx264")
    targets, expected = reference(stamps)
    state = np.array(table["observation.state"], dtype=np.float64)
    assert len(state) == len(targets) > 3 * 8
    np.testing.assert_allclose(state, expected, rtol=1e-6, atol=2e-6)
    np.testing.assert_allclose(np.array(table["action"])[:, 0], expected[:, 1], rtol=1e-6, atol=2e-6)
    # record timing on the same bag picks other messages (the test would see a wrong clock)
    record = dict(PROFILE, dataset={**PROFILE["dataset"], "timing": "record"})
    other = np.array(convert(tmp_path, "record", record)["observation.state"], dtype=np.float64)
    assert len(other) != len(state) or not np.allclose(other, state, atol=1e-3)


@pytest.mark.slow
def test_a_topic_without_header_is_refused_in_one_line(tmp_path):
    write_bag(tmp_path / "bag")
    profile = yaml.safe_load(yaml.safe_dump(PROFILE))
    profile["features"]["action"] = [{"topic": PLAIN, "field": "data", "names": ["plain"]}]
    config = tmp_path / "p.yaml"
    config.write_text(yaml.safe_dump(profile))
    result = run_cli("convert", str(tmp_path / "bag"), str(tmp_path / "out"), "--config", str(config), check=False)
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert f"topic {PLAIN} carries std_msgs/msg/Float64, which has no header" in result.stderr


@pytest.mark.slow
def test_stamps_going_back_in_time_are_refused_in_one_line(tmp_path):
    write_bag(tmp_path / "bag", backwards=True)
    config = tmp_path / "p.yaml"
    config.write_text(yaml.safe_dump(PROFILE))
    result = run_cli("convert", str(tmp_path / "bag"), str(tmp_path / "out"), "--config", str(config), check=False)
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert f"topic {JOINTS} header stamps go back in time at message 41" in result.stderr


def test_header_timing_is_for_generic_profiles_only(tmp_path):
    config = tmp_path / "k.yaml"
    config.write_text(yaml.safe_dump({"dataset": {"timing": "header"}}))
    with pytest.raises(UserError, match="header timing needs a generic profile") as err:
        load_profile(config)
    assert "\n" not in str(err.value)


def test_record_timing_is_the_default_and_left_out_of_the_manifest(tmp_path):
    config = tmp_path / "g.yaml"
    config.write_text(yaml.safe_dump(dict(PROFILE, dataset={**PROFILE["dataset"], "timing": "record"})))
    profile = load_profile(config)
    assert profile.dataset.timing == "record" and "timing" not in profile.to_dict()["dataset"]


@pytest.mark.slow
def test_ros1_header_stamps_shift_every_time_by_the_generators_latency(bags, tmp_path):
    """A generated ROS1 bag (gen_kuavo_bag: header.stamp = record time - LATENCY_NS on every
    topic) under a generic profile: header timing picks the same messages, every frame and source
    time LATENCY_NS earlier than under record timing."""
    from gen_kuavo_bag import ARM_TRAJ_TOPIC, CAMERA_TOPICS, LATENCY_NS

    features = {
        "cameras": {"front": CAMERA_TOPICS["cam_h"]},
        "state": [{"topic": ARM_TRAJ_TOPIC, "field": "position", "slice": [0, 14]}],
        "action": [{"topic": ARM_TRAJ_TOPIC, "field": "position", "indices": [0]}],
    }
    shards = {}
    for timing in ("record", "header"):
        profile = {"dataset": {"main_timeline": "front", "timing": timing}, "features": features}
        config = tmp_path / f"{timing}.yaml"
        config.write_text(yaml.safe_dump(profile))
        run_cli("stage1", str(bags["b"]), str(tmp_path / timing), "--config", str(config))
        files = sorted((tmp_path / timing / "bags" / "0000").glob("chunk-*.parquet"))
        shards[timing] = pq.read_table(files[0]).to_pydict()
    record, header = shards["record"], shards["header"]
    assert len(record["target_ns"]) == len(header["target_ns"]) > 10
    np.testing.assert_array_equal(np.array(header["target_ns"]), np.array(record["target_ns"]) - LATENCY_NS)
    key = f"source_ns:{ARM_TRAJ_TOPIC}"
    np.testing.assert_array_equal(np.array(header[key]), np.array(record[key]) - LATENCY_NS)
    np.testing.assert_array_equal(np.array(header["observation.state"]), np.array(record["observation.state"]))
