"""What the commands found and did, as JSON (``--json``): one document on stdout."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from spill2lerobot.convert import ConvertResult
    from spill2lerobot.merge.merge import MergeResult
    from spill2lerobot.spill.bag_spill import BagResult
    from spill2lerobot.spill.status import BagStatus


def print_json(document: dict[str, Any]) -> None:
    click.echo(json.dumps(document, indent=2))


def bag_json(result: BagResult) -> dict[str, Any]:
    """One bag's stage 1: frames, chunks, bytes read, time and every fault counted."""
    report = result.report or {}
    return {
        "bag": result.entry.path,
        "name": result.entry.name,
        "size": result.entry.size,
        "fingerprint": result.entry.fingerprint,
        "frames": result.frames,
        "chunks": result.chunks_total,
        "chunks_done": result.chunks_done,
        "chunks_written": result.chunks_this_run,
        "bytes_read": result.bytes_read,
        "seconds": round(result.seconds, 3),
        "recovery": report.get("recovery"),
        "faults": report.get("faults", {}),
    }


def stage1_json(spill: str, results: list[BagResult]) -> dict[str, Any]:
    bags = [bag_json(r) for r in results]
    return {
        "command": "stage1",
        "spill": spill,
        "bags": bags,
        "frames": sum(b["frames"] for b in bags),
        "chunks": sum(b["chunks"] for b in bags),
        "bytes_read": sum(b["bytes_read"] for b in bags),
    }


def merge_json(result: MergeResult | None, append: bool) -> dict[str, Any] | None:
    if result is None:
        return None
    return {
        "output": str(result.output),
        "append": append,
        "episodes": result.episodes,
        "frames": result.frames,
        "seconds": round(result.seconds, 3),
    }


def convert_json(spill: str, outcome: ConvertResult, append: bool) -> dict[str, Any]:
    stage1 = stage1_json(spill, outcome.bags)
    del stage1["command"]
    return {
        "command": "convert",
        "stage1": {**stage1, "seconds": round(outcome.stage1_seconds, 3)},
        "merge": merge_json(outcome.merge, append),
        "skipped": outcome.skipped,
    }


def status_json(spill: str, statuses: list[BagStatus]) -> dict[str, Any]:
    bags = [
        {
            "bag": s.entry.path,
            "name": s.entry.name,
            "started": s.chunks_total is not None,
            "finished": s.finished,
            "chunks_done": s.chunks_done,
            "chunks_total": s.chunks_total,
            "frames_done": s.frames_done,
            "frames_total": s.frames_total,
            "chunks_committed": s.chunks_committed,
        }
        for s in statuses
    ]
    finished = sum(s.finished for s in statuses)
    return {"command": "status", "spill": spill, "bags": bags, "finished": finished, "total": len(statuses)}
