"""A non-Kuavo robot end to end: scripts/gen_generic_bag.py writes a ROS1 bag with rosbags (raw
rgb8 cameras, a raw 16UC1 depth camera, JointState, Imu, a /tf chain) and its task file with two
subtasks; configs/generic_arm.yaml converts it; lerobot 0.6.1 loads the dataset.

Oracles, none taken from the converter: frame k's front picture carries the code of the camera
message it came from (its number is 3 + 3k by the profile's rule: 3 frames dropped, every 3rd
of 30 Hz); every low-dim value is the generator's known function at the record time of the
message nearest that picture's time (numpy argmin over the generator's record times), in
float32; the pictures equal the generator's within the video codec's error; the depth picture
carries its code and the generator's millimetres within lerobot's 12-bit quantisation; the
subtask of each frame is what lerobot's ``active_at`` reads, against the task file's times.
The tool's pose in the base frame from /tf: each link's transform interpolated between its two
/tf messages around the frame time (translation linearly, rotation by scipy's Slerp) and chained
with scipy's Rotation, within float32 rounding.
"""

from __future__ import annotations

import gen_generic_bag as gen
import gen_kuavo_bag
import numpy as np
import pytest
from lerobot.datasets.language import LANGUAGE_PERSISTENT
from lerobot.datasets.language_render import active_at
from lerobot.datasets.lerobot_dataset import LeRobotDataset
from rosbags.rosbag1 import Reader
from rosbags.typesys import Stores, get_types_from_msg, get_typestore
from scipy.spatial.transform import Rotation, Slerp
from support import ROOT, run_cli

PROFILE = ROOT / "configs" / "generic_arm.yaml"
# Mean |difference| per channel value (0-255) of SVT-AV1 crf 30 on the generator's noise
# textures at 64x48: measured 4.1 on average, 6.0 at worst over this bag's frames.
CODEC_MEAN_ERROR = 8.0
# lerobot's native depth: 12-bit log quantisation of 0.01-10 m, a step of ln(1000)/4095 = 0.17%
# of the depth; half a step plus rounding to whole millimetres stays under 0.2% + 1 mm.
DEPTH_RELATIVE_ERROR = 0.002


def nearest(times: np.ndarray, t_ns: int) -> int:
    return int(np.argmin(np.abs(times - t_ns)))  # a tie to the first, as the original's argmin


def test_generator_writes_what_it_says(tmp_path):
    bag = gen.write_generic_bag(tmp_path / "arm.bag", 1.0)
    store = get_typestore(Stores.ROS1_NOETIC)
    store.register(get_types_from_msg("geometry_msgs/TransformStamped[] transforms", "tf2_msgs/msg/TFMessage"))
    seen: dict[str, list] = {}
    with Reader(bag.path) as reader:
        for connection, t_ns, raw in reader.messages():
            seen.setdefault(connection.topic, []).append((t_ns, store.deserialize_ros1(raw, connection.msgtype)))
    assert {topic: len(msgs) for topic, msgs in seen.items()} == {topic: 1 * rate for topic, rate in gen.RATES.items()}
    t_ns, tf = seen[gen.TF][7]
    t = (t_ns - bag.start_ns) / 1e9
    assert [(x.header.frame_id, x.child_frame_id) for x in tf.transforms] == list(gen.TF_CHAIN)
    assert tf.transforms[1].transform.rotation.z == gen.tf_transform_at(1, t)[1][2]
    assert tf.transforms[2].transform.translation.y == gen.tf_transform_at(2, t)[0][1]
    t_ns, image = seen[gen.WRIST][5]
    assert (image.encoding, image.width, image.height) == ("rgb8", 64, 48)
    assert gen_kuavo_bag.read_frame_code(image.data.reshape(48, 64, 3)) == (1, 5)
    _, depth = seen[gen.DEPTH][4]
    assert depth.encoding == "16UC1"
    assert gen_kuavo_bag.read_depth_code(depth.data.view("<u2").reshape(48, 64)) == (2, 4)
    t_ns, imu = seen[gen.IMU][9]
    assert imu.linear_acceleration.z == gen.imu_acceleration_at((t_ns - bag.start_ns) / 1e9)[2]
    assert imu.header.stamp.sec * 10**9 + imu.header.stamp.nanosec == t_ns - gen.LATENCY_NS
    assert bag.task_file.read_text().startswith(f"task: {gen.TASK}\n")


@pytest.mark.slow
def test_generic_robot_bag_to_lerobot_frame_exact(tmp_path):
    bag = gen.write_generic_bag(tmp_path / "arm.bag", 4.0)
    out = tmp_path / "out"
    run_cli("convert", str(bag.path), str(out), "--config", str(PROFILE))
    dataset = LeRobotDataset("local/generic_arm", root=out)
    assert dataset.meta.robot_type == "generic_arm" and dataset.fps == 10
    front = bag.times[gen.FRONT]
    frames = len(range(3, len(front) - 3, 3))  # every topic lasts longer than the front camera here
    assert dataset.num_frames == frames and dataset.num_episodes == 1
    assert dataset.meta.episodes[0]["tasks"] == [gen.TASK]
    assert dataset.meta.features["observation.depth"]["info"]["depth_unit"] == "mm"
    assert dataset.meta.features["observation.state"]["names"][-7:] == [
        f"tool0.{v}" for v in ("x", "y", "z", "qx", "qy", "qz", "qw")
    ]
    for k in range(frames):
        item = dataset[k]
        n = 3 + 3 * k
        t_ns = int(front[n])
        check_cameras(bag, item, n, t_ns)
        check_lowdim(bag, item, t_ns)
        subtask = active_at(float(item["timestamp"]), persistent=item[LANGUAGE_PERSISTENT], style="subtask")
        assert subtask is not None
        assert subtask["content"] == ("grasp the cube" if k < 15 else "drop it in the bin")  # starts 0 s, 1.5 s
        assert item["task"] == gen.TASK


def check_cameras(bag: gen.GenericBag, item: dict, n: int, t_ns: int) -> None:
    for key, topic in (("observation.images.front", gen.FRONT), ("observation.images.wrist", gen.WRIST)):
        picture = np.rint(item[key].numpy().transpose(1, 2, 0) * 255).astype(np.int16)
        index = gen.CAMERA_INDEX[topic]
        number = n if topic == gen.FRONT else nearest(bag.times[topic], t_ns)
        assert gen_kuavo_bag.read_frame_code(picture) == (index, number), key
        source = gen_kuavo_bag.frame_rgb(index, number, bag.width, bag.height).astype(np.int16)
        assert np.abs(picture - source).mean() < CODEC_MEAN_ERROR, key
    millimetres = item["observation.depth"].numpy()[0].astype(np.float64)  # the feature's depth_unit: mm
    number = nearest(bag.times[gen.DEPTH], t_ns)
    assert gen_kuavo_bag.read_depth_code(np.rint(millimetres).astype(np.uint16)) == (2, number)
    expected = gen_kuavo_bag.expected_depth_mm(2, number, bag.width, bag.height).astype(np.float64)
    assert np.all(np.abs(millimetres - expected) <= DEPTH_RELATIVE_ERROR * expected + 1.0)


def check_lowdim(bag: gen.GenericBag, item: dict, t_ns: int) -> None:
    def at(topic: str) -> float:
        return (int(bag.times[topic][nearest(bag.times[topic], t_ns)]) - bag.start_ns) / 1e9

    joints, imu = at(gen.JOINT_STATES), at(gen.IMU)
    state = np.concatenate(
        [
            gen.joint_position_at(joints),
            gen.joint_velocity_at(joints),
            gen.imu_orientation_at(imu),
            gen.imu_angular_velocity_at(imu),
            gen.imu_acceleration_at(imu),
        ]
    ).astype(np.float32)
    np.testing.assert_array_equal(item["observation.state"].numpy()[:-7], state)
    np.testing.assert_allclose(item["observation.state"].numpy()[-7:], tool_pose(bag, t_ns), atol=2e-6)
    np.testing.assert_array_equal(item["action"].numpy(), gen.command_at(at(gen.COMMAND)).astype(np.float32))


def link_at(bag: gen.GenericBag, link: int, t_ns: int) -> tuple[np.ndarray, Rotation]:
    """Link ``link`` of the chain at ``t_ns``: between the /tf messages around it, translation
    interpolated linearly and rotation by slerp (held before the first and after the last)."""
    times = bag.times[gen.TF]
    after = int(np.searchsorted(times, t_ns, side="left"))
    if after == 0 or after == len(times):
        translation, quaternion = gen.tf_transform_at(
            link, (int(times[min(after, len(times) - 1)]) - bag.start_ns) / 1e9
        )
        return translation, Rotation.from_quat(quaternion)
    t0, t1 = int(times[after - 1]), int(times[after])
    (p0, q0), (p1, q1) = (gen.tf_transform_at(link, (t - bag.start_ns) / 1e9) for t in (t0, t1))
    w = (t_ns - t0) / (t1 - t0)
    rotation = Slerp([0.0, 1.0], Rotation.from_quat([q0, q1]))([w])[0]
    return p0 + w * (p1 - p0), rotation


def tool_pose(bag: gen.GenericBag, t_ns: int) -> np.ndarray:
    """tool0 in base_link: base->shoulder, shoulder->forearm, forearm->tool0, composed."""
    position, rotation = np.zeros(3), Rotation.identity()
    for link in range(len(gen.TF_CHAIN)):
        translation, turn = link_at(bag, link, t_ns)
        position = position + rotation.apply(translation)
        rotation = rotation * turn
    quaternion = rotation.as_quat()
    return np.concatenate([position, quaternion if quaternion[3] >= 0 else -quaternion])
