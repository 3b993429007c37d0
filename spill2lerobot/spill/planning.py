"""Stage 1's planning, before any message is read: which bags, the spill's manifest, each bag's
topics checked against the profile and its timeline from the index."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from numpy.typing import NDArray

from spill2lerobot.align import target_times
from spill2lerobot.bag import is_ros2_bag
from spill2lerobot.bag.base import TopicIndex
from spill2lerobot.errors import UserError
from spill2lerobot.profiles import Profile, Robot, Roles, robot_for
from spill2lerobot.spill import journal
from spill2lerobot.spill.format import BagEntry, BagPlan
from spill2lerobot.spill.layout import SpillLayout
from spill2lerobot.spill.task_file import subtask_frames

BAG_PATTERNS = ("*.bag", "*.bag.active", "*.mcap", "*.db3")


def list_bags(inputs: list[Path]) -> list[Path]:
    """Bags from files and folders, sorted by path; each folder contributes its *.bag
    (*.bag.active), *.mcap and *.db3 files and its rosbag2 sub-folders; a rosbag2 folder
    (with metadata.yaml) is one bag."""
    bags: list[Path] = []
    for path in inputs:
        if path.is_dir() and is_ros2_bag(path):
            bags.append(path)
        elif path.is_dir():
            bags += _folder_bags(path)
        elif path.exists():
            bags.append(path)
        else:
            raise UserError(f"{path}: no such file or folder")
    for bag in bags:
        if not (bag.is_file() or bag.is_dir()):  # a FIFO would block, a device never ends
            raise UserError(f"{bag}: not a regular file (a pipe, socket or device); pass bag files or folders")
    return sorted({bag.resolve() for bag in bags})


def _folder_bags(path: Path) -> list[Path]:
    found = sorted(
        [
            *(bag for pattern in BAG_PATTERNS for bag in path.glob(pattern)),
            *(sub for sub in path.iterdir() if sub.is_dir() and is_ros2_bag(sub)),
        ]
    )
    if not found:
        raise UserError(
            f"{path}: folder holds no bags (.bag, .mcap, .db3 or rosbag2 folders); pass bag files or a folder of them"
        )
    return found


def select_bags(inputs: list[Path], profile: Profile) -> list[Path]:
    bags = list_bags(inputs)
    if profile.rosbag.num_used is not None:
        bags = bags[: profile.rosbag.num_used]
    return bags


def prepare_spill(layout: SpillLayout, profile: Profile, bags: list[Path]) -> list[BagEntry]:
    """Create the manifest, or check that an existing spill was made with the same inputs.
    The caller holds the spill's lock (ownership.claim_spill)."""
    entries = [BagEntry.of(i, bag) for i, bag in enumerate(bags)]
    for entry in entries:  # subtasks two to a frame at this fps: refused now, not at merge
        if entry.task is not None:
            subtask_frames(entry.task, profile.dataset.train_hz, entry.path)
    manifest = journal.make_manifest(json.loads(profile.fingerprint()), entries)
    if layout.manifest.exists() or layout.manifest.is_symlink():
        difference = journal.manifest_difference(journal.read_manifest(layout), manifest)
        if difference:
            raise UserError(
                f"{layout.root}: this spill was made with other inputs ({difference}); "
                "run the same command as before to resume, or add --restart to start over"
            )
    else:
        journal.write_manifest(layout, manifest)
    return entries


def make_plan(bag: TopicIndex, profile: Profile, roles: Roles) -> tuple[BagPlan, NDArray[Any]]:
    """Timeline from the index only: main-camera times and each topic's last time."""
    ds = profile.dataset
    present = set(bag.topics())
    cutoff = min(bag.last_time(topic) for topic in robot_for(profile).cutoff_topics(roles, present))
    main_times = bag.topic_times(roles.main_camera.topic)
    targets = target_times(main_times, ds.sample_drop, ds.main_timeline_fps // ds.train_hz, cutoff)
    if len(targets) == 0:
        raise UserError(
            f"{bag.path}: no frames left after dropping {ds.sample_drop} main-camera frames at each end "
            f"({len(main_times)} on {roles.main_camera.topic}); the bag is too short, or lower dataset.sample_drop"
        )
    plan = BagPlan(
        frames=len(targets),
        chunk_size=profile.rosbag.chunk_size,
        main_topic=roles.main_camera.topic,
        topics=list(roles.all),
    )
    return plan, targets


def check_topics(bag: TopicIndex, roles: Roles, robot: Robot) -> None:
    """Every topic the profile reads is in the bag, with messages of the type it expects."""
    topics = bag.topics()
    if not any(info.count for info in topics.values()):
        raise UserError(f"{bag.path}: the bag holds no messages; record it again or leave it out")
    for topic in roles.all:
        if topic not in topics or topics[topic].count == 0:
            have = ", ".join(sorted(topics)) or "none"
            raise UserError(
                f"{bag.path}: required topic {topic} is missing (bag has: {have}); "
                "check the profile, or see what the bag holds with `spill2lerobot inspect`"
            )
        accepted, expected = robot.accepts_msgtype(roles, topic, topics[topic].msgtype)
        if not accepted:
            raise UserError(
                f"{bag.path}: topic {topic} carries {topics[topic].msgtype}, the profile expects {expected}; "
                "use a profile that matches this robot's bags"
            )
