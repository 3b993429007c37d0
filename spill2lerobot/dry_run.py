"""``convert --dry-run``: every bag planned from its index (no message read, nothing written):
frames, chunks, the faults the index already shows, and the errors convert would stop on."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from spill2lerobot.align import nearest_indices
from spill2lerobot.bag import open_bag
from spill2lerobot.bag.base import Bag, BagError
from spill2lerobot.errors import UserError
from spill2lerobot.profiles import Profile, robot_for
from spill2lerobot.spill.header_times import HeaderTimes
from spill2lerobot.spill.planning import check_topics, make_plan, select_bags
from spill2lerobot.spill.task_file import read_bag_task, subtask_frames


@dataclass
class BagDryRun:
    path: Path
    size: int
    frames: int = 0
    chunks: int = 0
    recovery: str | None = None
    faults: dict[str, dict[str, int]] = field(default_factory=dict)  # kind -> topic -> frames
    error: str | None = None

    def line(self) -> str:
        if self.error is not None:
            return f"{self.path.name}: error: {self.error}"
        faults = "; ".join(
            f"{sum(counts.values())} {kind.replace('_', ' ')} ("
            + ", ".join(f"{topic} {n}" for topic, n in sorted(counts.items()))
            + ")"
            for kind, counts in sorted(self.faults.items())
        )
        return f"{self.path.name}: {self.frames} frames in {self.chunks} chunks; faults seen: {faults or 'none'}"

    def to_json(self) -> dict[str, Any]:
        return {
            "bag": str(self.path),
            "name": self.path.name,
            "size": self.size,
            "frames": self.frames,
            "chunks": self.chunks,
            "recovery": self.recovery,
            "faults": self.faults,
            "error": self.error,
        }


def dry_run(inputs: list[Path], profile: Profile) -> list[BagDryRun]:
    """Each bag of ``inputs`` planned as convert would plan it; a bag's error is kept, not raised."""
    return [dry_run_bag(bag, profile) for bag in select_bags(inputs, profile)]


def dry_run_bag(path: Path, profile: Profile) -> BagDryRun:
    result = BagDryRun(path, _size(path))
    try:
        task = read_bag_task(path)  # a bad task file stops convert: say so here too
        if task is not None:
            subtask_frames(task, profile.dataset.train_hz, str(path.resolve()))
        with open_bag(path, recover=True) as bag:
            result.recovery = str(bag.recovery) if bag.recovery else None
            _plan(bag, profile, result)
    except (BagError, UserError) as exc:
        result.error = str(exc)
    return result


def _plan(bag: Bag, profile: Profile, result: BagDryRun) -> None:
    extractor = robot_for(profile)
    roles = extractor.resolve_topics(bag.topics())
    check_topics(bag, roles, extractor)
    # header timing: the frames the stamps give (reads the used topics' stamps)
    stamps = HeaderTimes(bag, roles.all) if profile.dataset.timing == "header" else None
    plan, targets = make_plan(stamps or bag, profile, roles)
    result.frames, result.chunks = plan.frames, plan.chunks
    gaps = gap_frames(bag, list(roles.all), targets, profile.faults.max_skew_ms)
    if gaps:
        result.faults["gap_frames"] = gaps
        if profile.faults.on_gap == "error":
            topic = sorted(gaps)[0]
            result.error = (
                f"{bag.path}: {topic} has no message within {profile.faults.max_skew_ms} ms of {gaps[topic]} "
                "frames; raise faults.max_skew_ms or set faults.on_gap=keep"
            )


def gap_frames(bag: Bag, topics: list[str], targets: Any, max_skew_ms: int) -> dict[str, int]:
    """Per topic, the frames whose nearest message (by record time) is more than
    ``max_skew_ms`` away: what stage 1 will count as gap frames."""
    gaps: dict[str, int] = {}
    for topic in topics:
        times = np.asarray(bag.topic_times(topic), dtype=np.int64)
        if len(times) == 0:
            continue
        picked = times[nearest_indices(times, targets)]
        count = int(np.count_nonzero(np.abs(picked - np.asarray(targets, dtype=np.int64)) > max_skew_ms * 1_000_000))
        if count:
            gaps[topic] = count
    return gaps


def _size(path: Path) -> int:
    if path.is_dir():
        return sum(f.stat().st_size for f in path.iterdir() if f.is_file())
    return path.stat().st_size
