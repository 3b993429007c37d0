"""Poses from /tf and /tf_static (generic profiles' ``frame``/``relative_to`` parts), on bags from
scripts/gen_tf_bag.py: a chain of fixed transforms worked out by hand, and a moving chain
against scipy (``Rotation``, ``Slerp``, numpy's interp) on the generator's own transforms."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
import yaml
from gen_tf_bag import CAMERA, EDGES, START_NS, edge_transform, static_transform, write_tf_bag
from scipy.spatial.transform import Rotation, Slerp
from support import run_cli

from spill2lerobot.bag import open_bag
from spill2lerobot.errors import UserError
from spill2lerobot.profiles import load_profile
from spill2lerobot.spill.tf_poses import TfTree, pose_values

HALF = np.sqrt(0.5)


def poses(bag_path: Path, requests, targets, header: bool = False) -> list[np.ndarray]:
    with open_bag(bag_path) as bag:
        found = TfTree(bag, header).poses(requests, np.asarray(targets, dtype=np.int64))
    return [pose_values(p) for p in found]


def same_rotation(q: np.ndarray, expected: np.ndarray) -> None:
    """q and -q are one rotation."""
    np.testing.assert_allclose(np.abs(np.sum(q * expected, axis=-1)), 1.0, atol=1e-9)


def test_a_fixed_chain_matches_the_hand_computed_transforms(tmp_path):
    write_tf_bag(tmp_path / "bag", seconds=1.0, constant=True)
    targets = [START_NS + 300_000_000, START_NS + 700_000_000]
    requests = [("hand", "base"), ("base", "world"), ("world", "base"), ("hand", "world"), ("arm", "hand")]
    hand_base, base_world, world_base, hand_world, arm_hand = poses(tmp_path / "bag", requests, targets)
    # hand in base: (1,0,0) + Rz90 (0,2,0) = (-1,0,0); Rz90 * Rx90 = quaternion (1/2, 1/2, 1/2, 1/2)
    for row in hand_base:
        np.testing.assert_allclose(row[:3], [-1.0, 0.0, 0.0], atol=1e-12)
        same_rotation(row[3:], np.array([0.5, 0.5, 0.5, 0.5]))
    # base in world: the static transform; world in base: -Rz(-90) (0.5, -1, 0.2) = (1, 0.5, -0.2)
    np.testing.assert_allclose(base_world[0], [0.5, -1.0, 0.2, 0.0, 0.0, HALF, HALF], atol=1e-12)
    np.testing.assert_allclose(world_base[0][:3], [1.0, 0.5, -0.2], atol=1e-12)
    same_rotation(world_base[0][3:], np.array([0.0, 0.0, -HALF, HALF]))
    # hand in world: (0.5,-1,0.2) + Rz90 (-1,0,0) = (0.5,-2,0.2); Rz90 * (1/2,1/2,1/2,1/2) = (0, HALF, HALF, 0)
    np.testing.assert_allclose(hand_world[0][:3], [0.5, -2.0, 0.2], atol=1e-12)
    same_rotation(hand_world[0][3:], np.array([0.0, HALF, HALF, 0.0]))
    # arm in hand: inverse of arm->hand = -Rx(-90) (0,2,0) = (0, 0, 2), rotation Rx(-90)
    np.testing.assert_allclose(arm_hand[0][:3], [0.0, 0.0, 2.0], atol=1e-12)
    same_rotation(arm_hand[0][3:], np.array([-HALF, 0.0, 0.0, HALF]))


def test_frames_not_connected_are_one_line(tmp_path):
    write_tf_bag(tmp_path / "bag", seconds=1.0, constant=True)
    with pytest.raises(UserError) as err:
        poses(tmp_path / "bag", [("hand", "nowhere")], [START_NS + 500_000_000])
    assert "/tf does not connect frame 'hand' to 'nowhere'" in str(err.value) and "\n" not in str(err.value)


def reference(stamps: dict, targets: np.ndarray) -> tuple[Rotation, np.ndarray, Rotation, np.ndarray]:
    """hand in base and hand in world at ``targets`` (stamps), from scipy on the generator's edges."""
    rotations, translations = [], []
    for edge in EDGES:
        times = (stamps[edge] - START_NS) / 1e9
        values = [edge_transform(edge, t) for t in times]
        trans = np.array([v[0] for v in values])
        quats = Rotation.from_quat([v[1] for v in values])
        t = np.clip((targets - START_NS) / 1e9, times[0], times[-1])  # held before the first, after the last
        rotations.append(Slerp(times, quats)(t))
        translations.append(np.stack([np.interp(t, times, trans[:, i]) for i in range(3)], axis=1))
    rotation = rotations[0] * rotations[1]
    position = translations[0] + rotations[0].apply(translations[1])
    static_t, static_q = static_transform()
    world = Rotation.from_quat(static_q)
    return rotation, position, world * rotation, np.array(static_t) + world.apply(position)


PROFILE = {
    "rosbag": {"chunk_size": 10},
    "dataset": {
        "main_timeline": "front",
        "main_timeline_fps": 30,
        "train_hz": 10,
        "sample_drop": 5,
        "resize": {"width": 64, "height": 48},
        "repo_id": "local/tf",
        "robot_type": "tf_test",
    },
    "features": {
        "cameras": {"front": CAMERA},
        "state": [{"frame": "hand", "relative_to": "base"}],
        "action": [{"frame": "hand", "relative_to": "world", "euler": True}],
    },
}


@pytest.mark.slow
@pytest.mark.parametrize("timing", ["record", "header"])
def test_a_moving_chain_matches_scipy_at_every_frame(tmp_path, timing):
    stamps = write_tf_bag(tmp_path / "bag", seconds=4.0)
    profile = dict(PROFILE, dataset={**PROFILE["dataset"], "timing": timing})
    config = tmp_path / "tf.yaml"
    config.write_text(yaml.safe_dump(profile))
    out = tmp_path / "out"
    run_cli("convert", str(tmp_path / "bag"), str(out), "--config", str(config), "--jobs", "2")
    table = pq.read_table(next((out / "data").rglob("*.parquet"))).to_pydict()
    state = np.array(table["observation.state"], dtype=np.float64)
    action = np.array(table["action"], dtype=np.float64)
    camera = START_NS + (np.arange(int(4.0 * 30)) * (1e9 / 30)).astype(np.int64)
    targets = camera[5:-5][::3]  # record times are the stamps + 2 ms for every topic: same places
    rotation, position, world_rotation, world_position = reference(stamps, targets)
    assert len(state) == len(targets)
    np.testing.assert_allclose(state[:, :3], position, atol=1e-5)
    same_rotation(state[:, 3:], rotation.as_quat())
    np.testing.assert_allclose(action[:, :3], world_position, atol=1e-5)
    np.testing.assert_allclose(np.cos(action[:, 3:]), np.cos(world_rotation.as_euler("xyz")), atol=1e-5)
    np.testing.assert_allclose(np.sin(action[:, 3:]), np.sin(world_rotation.as_euler("xyz")), atol=1e-5)


@pytest.mark.parametrize(
    ("part", "message"),
    [
        ({"frame": "hand"}, "a pose from /tf needs frame and relative_to"),
        ({"frame": "hand", "relative_to": "base", "topic": "/tf"}, "takes no topic"),
        ({"frame": "hand", "relative_to": "base", "names": ["a"]}, "has 1 names for 7 values"),
    ],
)
def test_bad_tf_parts_are_one_line(tmp_path, part, message):
    profile = dict(PROFILE, features={**PROFILE["features"], "state": [part]})
    config = tmp_path / "p.yaml"
    config.write_text(yaml.safe_dump(profile))
    with pytest.raises(UserError) as err:
        load_profile(config)
    assert message in str(err.value) and "\n" not in str(err.value)


def test_tf_parts_name_their_values(tmp_path):
    config = tmp_path / "p.yaml"
    config.write_text(yaml.safe_dump(PROFILE))
    from spill2lerobot.profiles import robot_for

    rules = robot_for(load_profile(config))
    assert rules.state_names() == ["hand.x", "hand.y", "hand.z", "hand.qx", "hand.qy", "hand.qz", "hand.qw"]
    assert rules.action_names() == ["hand.x", "hand.y", "hand.z", "hand.roll", "hand.pitch", "hand.yaw"]
    assert rules.tf_requests() == [("hand", "base"), ("hand", "world")]
