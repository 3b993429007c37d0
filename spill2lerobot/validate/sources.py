"""``--against``: the source bags' timelines (from their index only), laid end to end like merge
does, and the messages nearest to a frame's time."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from spill2lerobot.errors import UserError
from spill2lerobot.validate.episodes import Episode
from spill2lerobot.validate.metadata import Array
from spill2lerobot.validate.report import Report

if TYPE_CHECKING:
    from spill2lerobot.bag.base import Bag
    from spill2lerobot.profiles import Profile

SAMPLES_PER_EPISODE = 5  # frames compared per episode with --against


def sample_frames(length: int, count: int = SAMPLES_PER_EPISODE) -> list[int]:
    """First, last and evenly spaced frames between them."""
    return sorted({int(k) for k in np.round(np.linspace(0, length - 1, min(count, length)))})


def nearest(times: Array, target: int) -> int:
    """argmin |times - target|, a tie to the earlier message (like the original converter)."""
    i = int(np.searchsorted(times, target, side="left"))
    if i == 0:
        return 0
    if i == len(times):
        return len(times) - 1
    return i - 1 if target - times[i - 1] <= times[i] - target else i


@dataclass
class Source:
    """One source bag: its timeline (the frames stage 1 makes of it) and where they start."""

    path: Path
    targets: Array  # record time (ns) of each frame
    first: int  # global index of its first frame in the dataset

    @property
    def stop(self) -> int:
        return self.first + len(self.targets)


def sources(
    inputs: list[Path], profile: Profile, episodes: list[Episode], root: Path, report: Report
) -> list[Source] | None:
    """The bags' timelines (from their index only), laid end to end like merge does; None if
    they cannot be what the dataset was made from."""
    from spill2lerobot.bag import BagError, open_bag
    from spill2lerobot.profiles import robot_for
    from spill2lerobot.spill.planning import check_topics, list_bags, make_plan

    if profile.dataset.timing == "header":  # the check below picks messages by record time
        report.fail(root, "--against: not available for a profile with dataset.timing: header (yet)")
        return None
    if robot_for(profile).tf_requests():
        report.fail(root, "--against: not available for a profile with poses from /tf (yet)")
        return None
    bags = list_bags(inputs)
    if profile.rosbag.num_used is not None:
        bags = bags[: profile.rosbag.num_used]
    found: list[Source] = []
    first = 0
    for path in bags:
        try:
            with open_bag(path) as bag:
                robot = robot_for(profile)
                roles = robot.resolve_topics(bag.topics())
                check_topics(bag, roles, robot)
                _, targets = make_plan(bag, profile, roles)
        except (BagError, UserError) as exc:
            report.fail(path, str(exc).removeprefix(f"{path}: "))
            return None
        found.append(Source(path, targets, first))
        first += len(targets)
    lengths = [ep.length for ep in episodes]
    # one episode per bag, or several (chunk mode): either way every bag ends where an episode ends
    if first != sum(lengths) or not {src.stop for src in found} <= {ep.stop for ep in episodes}:
        frames = ", ".join(str(len(src.targets)) for src in found)
        shown = ", ".join(map(str, lengths[:10])) + (", ..." if len(lengths) > 10 else "")
        report.fail(
            root,
            f"--against: the {len(found)} bags give {frames} frames ({first}), the dataset's {len(episodes)} "
            f"episodes have {shown} ({sum(lengths)}): not the source bags (in sorted order), or converted with "
            "other options (pass the same --config/--set)",
        )
        return None
    return found


def picked_messages(bag: Bag, topics: tuple[str, ...], times: dict[str, Array], target: int) -> dict[str, bytes]:
    """Each topic's message nearest to ``target`` (a tie to the earlier; of equal times the first
    in the bag), read from the few chunks around it."""
    wanted = {topic: int(times[topic][nearest(times[topic], target)]) for topic in topics}
    raw: dict[str, bytes] = {}
    for msg in bag.messages(topics, min(wanted.values()), max(wanted.values())):
        if msg.time_ns == wanted[msg.topic] and msg.topic not in raw:
            raw[msg.topic] = msg.data
            if len(raw) == len(wanted):
                break
    return raw
