"""Message fields read as numbers in generic profiles (``interpolate.numbers``): the common
geometry messages flatten in field order; a field that is not made of numbers is refused."""

from __future__ import annotations

import numpy as np
import pytest
from rosbags.typesys import Stores, get_typestore

from spill2lerobot.profiles.interpolate import is_quaternion, numbers

T = get_typestore(Stores.ROS2_HUMBLE).types


def vec(x: float, y: float, z: float):
    return T["geometry_msgs/msg/Vector3"](x, y, z)


def test_geometry_messages_flatten_in_field_order():
    pose = T["geometry_msgs/msg/Pose"](
        T["geometry_msgs/msg/Point"](1.0, 2.0, 3.0), T["geometry_msgs/msg/Quaternion"](0.1, 0.2, 0.3, 0.9)
    )
    np.testing.assert_array_equal(numbers(pose), [1.0, 2.0, 3.0, 0.1, 0.2, 0.3, 0.9])
    twist = T["geometry_msgs/msg/Twist"](vec(1.0, 2.0, 3.0), vec(4.0, 5.0, 6.0))
    np.testing.assert_array_equal(numbers(twist), [1.0, 2.0, 3.0, 4.0, 5.0, 6.0])
    wrench = T["geometry_msgs/msg/Wrench"](vec(7.0, 8.0, 9.0), vec(-1.0, -2.0, -3.0))
    np.testing.assert_array_equal(numbers(wrench), [7.0, 8.0, 9.0, -1.0, -2.0, -3.0])
    covariance = T["geometry_msgs/msg/PoseWithCovariance"](pose, np.arange(36.0))
    np.testing.assert_array_equal(numbers(covariance), [1.0, 2.0, 3.0, 0.1, 0.2, 0.3, 0.9, *range(36)])
    assert is_quaternion(pose.orientation) and not is_quaternion(pose.position)


def test_plain_values():
    np.testing.assert_array_equal(numbers(2.5), [2.5])
    np.testing.assert_array_equal(numbers([1, 2, 3]), [1.0, 2.0, 3.0])


def test_a_field_that_is_not_numbers_is_refused():
    header = T["std_msgs/msg/Header"](T["builtin_interfaces/msg/Time"](1, 2), "base")
    with pytest.raises(ValueError, match="not numbers"):
        numbers(header)
