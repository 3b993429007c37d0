"""The per-bag conversion report: what was recovered and every fault counted, from the spill."""

from __future__ import annotations

from typing import Any

from spill2lerobot.spill import journal
from spill2lerobot.spill.format import BagReport, SpillDamaged, parse, read_json
from spill2lerobot.spill.journal import BagEntry
from spill2lerobot.spill.layout import SpillLayout
from spill2lerobot.spill.verify import read_chunk_stats

AGAIN = "run the same `spill2lerobot stage1` command again to rewrite it"


def bag_report(layout: SpillLayout, bag: BagEntry) -> dict[str, Any]:
    """report.json of the bag plus fault counts summed over its finished chunks."""
    path = layout.report(bag.id)
    try:
        report = parse(BagReport, read_json(path, todo=AGAIN), path, AGAIN).model_dump()
    except FileNotFoundError:
        raise SpillDamaged(f"{path}: missing; {AGAIN}") from None
    faults: dict[str, dict[str, int]] = {}
    for entry in journal.read_journal(layout, bag.id):
        stats = read_chunk_stats(layout, bag.id, entry.chunk, entry.frames)
        for kind, counts in stats.faults.items():
            for topic, count in counts.items():
                _add(faults, kind, topic, count)
        for camera, cam in stats.cameras.items():
            if cam.bad_frames:
                _add(faults, "bad_images", camera, cam.bad_frames)
            if cam.filled_frames:
                _add(faults, "filled_images", camera, cam.filled_frames)
    report["faults"] = faults
    return report


def _add(faults: dict[str, dict[str, int]], kind: str, name: str, count: int) -> None:
    faults.setdefault(kind, {})[name] = faults.get(kind, {}).get(name, 0) + count


def summary_line(report: dict[str, Any]) -> str:
    """One terminal line: 'faults: 3 bad images (head_cam_h 3); 12 gap frames (/leju_claw_state 12)'."""
    parts = []
    for kind, counts in sorted(report.get("faults", {}).items()):
        total = sum(counts.values())
        detail = ", ".join(f"{name} {count}" for name, count in sorted(counts.items()))
        parts.append(f"{total} {kind.replace('_', ' ')} ({detail})")
    return "faults: " + ("; ".join(parts) if parts else "none")
