"""Our conversion report (meta/spill2lerobot_report.json): what each bag gave, and its fingerprint."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from spill2lerobot.errors import UserError
from spill2lerobot.merge.plan import Episode
from spill2lerobot.merge.timing import OFFSET_EDGES_MS, bag_offsets, episode_timing
from spill2lerobot.spill.format import BagEntry, bag_fingerprint
from spill2lerobot.spill.report import bag_report

# Stage 1 reads only the messages the frames use (README, "What stage 1 reads").
STAMPS_CHECKED = "messages the frames use"


def conversion_report(
    episodes: list[Episode], fingerprints: bool = False, max_skew_ms: float = 100.0
) -> list[dict[str, Any]]:
    """Per bag, in episode order: its report from the spill, its episodes and its fingerprint, by
    which a later append knows the bag is in the dataset (``fingerprints``: also for a spill made
    before stage 1 recorded them, read from the bag); the pick offsets per topic (``offsets``,
    bins ``OFFSET_EDGES_MS``) and per episode the offsets and the frames where faults were counted
    (``episode_details``, ``merge/timing.py``)."""
    per_bag: dict[tuple[int, str], dict[str, Any]] = {}
    members: dict[tuple[int, str], list[Episode]] = {}
    for ep in episodes:
        key = (id(ep.spill), ep.bag.id)
        if key not in per_bag:
            per_bag[key] = bag_report(ep.spill, ep.bag)
            per_bag[key]["episodes"] = []
            if fingerprints:
                per_bag[key]["fingerprint"] = bag_identity(ep.bag)
            elif ep.bag.fingerprint is not None:  # recorded by stage 1: a later append knows the bag
                per_bag[key]["fingerprint"] = ep.bag.fingerprint
        per_bag[key]["episodes"].append(ep.index)
        members.setdefault(key, []).append(ep)
    for key, report in per_bag.items():
        report["offset_edges_ms"] = list(OFFSET_EDGES_MS)
        report["offsets"] = bag_offsets(members[key])
        report["episode_details"] = episode_timing(members[key], max_skew_ms)
    return list(per_bag.values())


def bag_identity(bag: BagEntry) -> str:
    """The bag's fingerprint from the spill, or (a spill made before fingerprints) from the bag."""
    if bag.fingerprint is not None:
        return bag.fingerprint
    try:
        return bag_fingerprint(Path(bag.path))
    except OSError:
        raise UserError(
            f"{bag.path}: the spill records no fingerprint of this bag and the bag cannot be read here; "
            "run stage1 again on this machine"
        ) from None
