"""Common message types without naming fields (a part's ``type``, profiles/message_kinds.py):
the documented default values and their generated names, stamped variants, ``values``, joints
by name, and one-line refusals. Expected numbers are the messages' own, written out by hand."""

from __future__ import annotations

import numpy as np
import pytest
import yaml
from rosbags.typesys import Stores, get_typestore

from spill2lerobot.errors import UserError
from spill2lerobot.profiles import load_profile, robot_for

STORE = get_typestore(Stores.ROS2_HUMBLE)
T = STORE.types


def vec(x: float, y: float, z: float):
    return T["geometry_msgs/msg/Vector3"](x, y, z)


def header():
    return T["std_msgs/msg/Header"](T["builtin_interfaces/msg/Time"](1, 0), "base")


def pose(p, q):
    return T["geometry_msgs/msg/Pose"](T["geometry_msgs/msg/Point"](*p), T["geometry_msgs/msg/Quaternion"](*q))


def twist(linear, angular):
    return T["geometry_msgs/msg/Twist"](vec(*linear), vec(*angular))


def robot(tmp_path, state: list[dict], action: list[dict] | None = None):
    profile = {
        "dataset": {"main_timeline": "front"},
        "features": {
            "cameras": {"front": "/cam/compressed"},
            "state": state,
            "action": action or [{"topic": "/cmd", "type": "twist"}],
        },
    }
    config = tmp_path / "p.yaml"
    config.write_text(yaml.safe_dump(profile))
    return robot_for(load_profile(config))


MSGS = {
    "/imu": T["sensor_msgs/msg/Imu"](
        header(),
        T["geometry_msgs/msg/Quaternion"](0.1, 0.2, 0.3, 0.9),
        np.zeros(9),
        vec(1.0, 2.0, 3.0),
        np.zeros(9),
        vec(4.0, 5.0, 9.8),
        np.zeros(9),
    ),
    "/odom": T["nav_msgs/msg/Odometry"](
        header(),
        "base_link",
        T["geometry_msgs/msg/PoseWithCovariance"](pose((1.0, 2.0, 3.0), (0.0, 0.0, 0.6, 0.8)), np.zeros(36)),
        T["geometry_msgs/msg/TwistWithCovariance"](twist((0.5, 0.0, 0.0), (0.0, 0.0, 0.25)), np.zeros(36)),
    ),
    "/cmd": T["geometry_msgs/msg/TwistStamped"](header(), twist((0.1, 0.2, 0.3), (0.4, 0.5, 0.6))),
    "/ee": T["geometry_msgs/msg/PoseStamped"](header(), pose((7.0, 8.0, 9.0), (1.0, 0.0, 0.0, 0.0))),
    "/ft": T["geometry_msgs/msg/Wrench"](vec(10.0, 11.0, 12.0), vec(-1.0, -2.0, -3.0)),
    "/joy": T["sensor_msgs/msg/Joy"](header(), np.array([0.5, -0.5, 1.0], np.float32), np.array([1, 0], np.int32)),
    "/joint_states": T["sensor_msgs/msg/JointState"](
        header(), ["b", "a", "c"], np.array([2.0, 1.0, 3.0]), np.array([20.0, 10.0, 30.0]), np.zeros(0)
    ),
}


def test_every_type_gives_its_documented_values_with_generated_names(tmp_path):
    state = [
        {"topic": "/imu", "type": "imu"},
        {"topic": "/odom", "type": "odometry"},
        {"topic": "/ee", "type": "pose"},
        {"topic": "/ft", "type": "wrench"},
        {"topic": "/joy", "type": "joy", "slice": [0, 2]},
        {"topic": "/joint_states", "type": "joint_state", "joints": ["a", "c"]},
    ]
    rules = robot(tmp_path, state)
    names = rules.state_names()
    assert names[:10] == [
        "imu.orientation.x", "imu.orientation.y", "imu.orientation.z", "imu.orientation.w",
        "imu.angular_velocity.x", "imu.angular_velocity.y", "imu.angular_velocity.z",
        "imu.linear_acceleration.x", "imu.linear_acceleration.y", "imu.linear_acceleration.z",
    ]  # fmt: skip
    assert names[10:23] == [
        "odom.position.x", "odom.position.y", "odom.position.z",
        "odom.orientation.x", "odom.orientation.y", "odom.orientation.z", "odom.orientation.w",
        "odom.linear.x", "odom.linear.y", "odom.linear.z", "odom.angular.x", "odom.angular.y", "odom.angular.z",
    ]  # fmt: skip
    assert names[23:] == [
        "ee.position.x", "ee.position.y", "ee.position.z",
        "ee.orientation.x", "ee.orientation.y", "ee.orientation.z", "ee.orientation.w",
        "ft.force.x", "ft.force.y", "ft.force.z", "ft.torque.x", "ft.torque.y", "ft.torque.z",
        "joy.axes.0", "joy.axes.1", "a", "c",
    ]  # fmt: skip
    assert rules.action_names() == [
        "cmd.linear.x",
        "cmd.linear.y",
        "cmd.linear.z",
        "cmd.angular.x",
        "cmd.angular.y",
        "cmd.angular.z",
    ]
    roles = rules.resolve_topics({})
    state_values, action = rules.state_and_action(roles, MSGS, {})
    expected = [
        0.1, 0.2, 0.3, 0.9, 1.0, 2.0, 3.0, 4.0, 5.0, 9.8,
        1.0, 2.0, 3.0, 0.0, 0.0, 0.6, 0.8, 0.5, 0.0, 0.0, 0.0, 0.0, 0.25,
        7.0, 8.0, 9.0, 1.0, 0.0, 0.0, 0.0,
        10.0, 11.0, 12.0, -1.0, -2.0, -3.0,
        0.5, -0.5, 1.0, 3.0,
    ]  # fmt: skip
    np.testing.assert_allclose(state_values, expected, rtol=1e-6)
    np.testing.assert_allclose(action, [0.1, 0.2, 0.3, 0.4, 0.5, 0.6], rtol=1e-6)


def test_values_pick_some_and_joint_state_takes_velocity_by_name(tmp_path):
    state = [
        {"topic": "/imu", "type": "imu", "values": ["angular_velocity"], "names": ["wx", "wy", "wz"]},
        {"topic": "/joint_states", "type": "joint_state", "joints": ["c", "b"], "values": ["position", "velocity"]},
        {"topic": "/joy", "type": "joy", "values": ["buttons"], "indices": [1, 0]},
    ]
    rules = robot(tmp_path, state)
    assert rules.state_names() == [
        "wx",
        "wy",
        "wz",
        "c.position",
        "b.position",
        "c.velocity",
        "b.velocity",
        "joy.buttons.1",
        "joy.buttons.0",
    ]
    values, _ = rules.state_and_action(rules.resolve_topics({}), MSGS, {})
    np.testing.assert_allclose(values, [1.0, 2.0, 3.0, 3.0, 2.0, 30.0, 20.0, 0.0, 1.0])


def test_a_topic_of_another_type_is_refused_before_reading(tmp_path):
    rules = robot(tmp_path, [{"topic": "/imu", "type": "odometry"}])
    roles = rules.resolve_topics({})
    msgtypes = {"/imu": "sensor_msgs/msg/Imu", "/cmd": "geometry_msgs/msg/Twist"}
    with pytest.raises(UserError) as err:
        rules.check_fields(roles, msgtypes, STORE, "bag.mcap")
    text = str(err.value)
    start = "bag.mcap: profile key 'features.state[0].type': /imu carries sensor_msgs/msg/Imu, type odometry"
    assert text.startswith(start)
    assert "\n" not in text
    # the plain and the stamped Twist both fit type twist
    rules.check_fields(roles, {**msgtypes, "/imu": "nav_msgs/msg/Odometry"}, STORE, "bag.mcap")
    rules.check_fields(roles, {"/imu": "nav_msgs/msg/Odometry", "/cmd": "geometry_msgs/msg/TwistStamped"}, STORE, "b")


@pytest.mark.parametrize(
    ("part", "message"),
    [
        ({"topic": "/imu", "type": "imu", "field": "orientation"}, "give either type or field"),
        ({"topic": "/imu", "type": "imu", "values": ["spin"]}, "values must be distinct values of imu"),
        ({"topic": "/js", "type": "joint_state"}, "type joint_state needs joints"),
        ({"topic": "/joy", "type": "joy"}, "type joy takes one of axes or buttons, and a slice or indices"),
        ({"topic": "/imu", "type": "imu", "slice": [0, 2]}, "type imu takes no slice, indices or joints"),
        ({"topic": "/imu", "type": "imu", "names": ["a"]}, "names lists 1 names for 10 values"),
        ({"topic": "/imu", "type": "gps"}, "profile key 'features.state[0].type' must be 'imu'"),
        ({"topic": "/imu", "field": "data", "values": ["x"], "names": ["x"]}, "values' needs a type"),
    ],
)
def test_bad_typed_parts_are_one_line(tmp_path, part, message):
    with pytest.raises(UserError) as err:
        robot(tmp_path, [part])
    assert message in str(err.value) and "\n" not in str(err.value)


def test_profiles_without_the_new_keys_record_what_they_always_did(tmp_path):
    # spills record the profile (its fingerprint): unset type, values, frame, relative_to, euler
    # and timing are left out, so spills made before these keys existed still resume
    part = {"topic": "/joint_states", "field": "position", "names": ["a"]}
    config = tmp_path / "p.yaml"
    features = {"cameras": {"front": "/cam/compressed"}, "state": [part], "action": [{"topic": "/imu", "type": "imu"}]}
    config.write_text(yaml.safe_dump({"dataset": {"main_timeline": "front"}, "features": features}))
    options = load_profile(config).to_dict()
    assert sorted(options["features"]["state"][0]) == [
        "convert", "decoder", "field", "indices", "joints", "names", "offset", "scale", "slice", "threshold", "topic"
    ]  # fmt: skip
    assert options["features"]["action"][0]["type"] == "imu" and "timing" not in options["dataset"]
