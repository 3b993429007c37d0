"""Our conversion report (meta/spill2lerobot_report.json): what each bag gave, and its fingerprint."""

from __future__ import annotations

import itertools
import json
import textwrap
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from spill2lerobot.errors import UserError
from spill2lerobot.fsutil import commit, tmp_path
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
    return list(bag_reports(episodes, fingerprints, max_skew_ms))


def bag_reports(
    episodes: list[Episode], fingerprints: bool = False, max_skew_ms: float = 100.0
) -> Iterator[dict[str, Any]]:
    """``conversion_report``, one bag at a time: a bag's episodes are consecutive in a plan."""
    for _, group in itertools.groupby(episodes, key=lambda ep: (id(ep.spill), ep.bag.id)):
        members = list(group)
        ep = members[0]
        report = bag_report(ep.spill, ep.bag)
        report["episodes"] = [member.index for member in members]
        if fingerprints:
            report["fingerprint"] = bag_identity(ep.bag)
        elif ep.bag.fingerprint is not None:  # recorded by stage 1: a later append knows the bag
            report["fingerprint"] = ep.bag.fingerprint
        report["offset_edges_ms"] = list(OFFSET_EDGES_MS)
        report["offsets"] = bag_offsets(members)
        report["episode_details"] = episode_timing(members, max_skew_ms)
        yield report


def write_report(path: Path, head: dict[str, Any], bags: Iterable[dict[str, Any]], tail: dict[str, Any]) -> None:
    """``write_json_atomic(path, {**head, "bags": [*bags], **tail})`` byte for byte, with one bag's
    report in memory at a time (thousands of bags' reports are ~100 MB of Python objects)."""
    marker = '"bags": [\n    0\n  ]'  # JSON strings escape newlines: found only where "bags" is
    before, after = json.dumps({**head, "bags": [0], **tail}, indent=2).split(marker)
    tmp = tmp_path(path)
    with open(tmp, "w", encoding="utf-8") as handle:
        handle.write(before + '"bags": [')
        separator = "\n"
        for bag in bags:  # an item of a list at level 1 is indented by 4 spaces, each of its lines
            handle.write(separator + textwrap.indent(json.dumps(bag, indent=2), "    "))
            separator = ",\n"
        handle.write(("\n  ]" if separator == ",\n" else "]") + after + "\n")
    commit(tmp, path)


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
