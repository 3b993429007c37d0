"""Which depth cameras a spill has: those every bag's plan has (read by stage 1 and merge)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from spill2lerobot.errors import UserError
from spill2lerobot.profiles import Camera, Profile, robot_for
from spill2lerobot.spill import journal
from spill2lerobot.spill.format import BagEntry, BagPlan
from spill2lerobot.spill.layout import SpillLayout


class _HasPath(Protocol):
    @property
    def path(self) -> str: ...


@dataclass(frozen=True)
class _Named:
    path: str


def check_same_depth(layout: SpillLayout, entry: BagEntry, plan: BagPlan, profile: Profile) -> None:
    """Stage 1's early form of the check merge makes: this bag's depth cameras against those of
    the bags already planned in this spill (use_depth auto with bags that differ)."""
    manifest = journal.read_manifest(layout)
    for other in manifest.bags:
        if other.id == entry.id:
            continue
        other_plan = journal.read_plan(layout, other.id)
        if other_plan is not None:
            spill_depth_cameras(profile, [entry, _Named(other.path)], [plan, other_plan])


def spill_depth_cameras(profile: Profile, bags: Sequence[_HasPath], plans: Sequence[BagPlan]) -> list[Camera]:
    """The depth cameras of the dataset: those every bag's plan has. With ``use_depth: auto``
    bags may differ (some have depth topics, some not): that is refused, naming two such bags."""
    robot = robot_for(profile)
    per_bag = [robot.depth_cameras(plan.topics) for plan in plans]
    if not per_bag:
        return []
    if any(found != per_bag[0] for found in per_bag):
        with_depth = next(bag for bag, found in zip(bags, per_bag, strict=True) if found)
        without = next(bag for bag, found in zip(bags, per_bag, strict=True) if not found)
        raise UserError(
            f"{with_depth.path} has depth topics and {without.path} has not; one dataset needs the same "
            "features in every episode: set dataset.use_depth=false, or leave out the bags without depth"
        )
    return list(per_bag[0])
