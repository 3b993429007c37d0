"""What a spill holds: per bag, chunks and frames done and what remains."""

from __future__ import annotations

from dataclasses import dataclass

from spill2lerobot.spill import journal
from spill2lerobot.spill.journal import BagEntry
from spill2lerobot.spill.layout import SpillLayout


@dataclass
class BagStatus:
    entry: BagEntry
    chunks_done: int
    chunks_total: int | None  # None: stage 1 has not reached this bag yet
    frames_done: int
    frames_total: int | None

    @property
    def finished(self) -> bool:
        return self.chunks_total is not None and self.chunks_done == self.chunks_total

    def line(self) -> str:
        if self.chunks_total is None:
            return f"{self.entry.name}: not started"
        total = self.frames_total or 0  # known once the bag is planned, with its chunks
        state = "done" if self.finished else f"{total - self.frames_done} frames to go"
        return (
            f"{self.entry.name}: {self.chunks_done}/{self.chunks_total} chunks, "
            f"{self.frames_done}/{self.frames_total} frames, {state}"
        )


def spill_status(layout: SpillLayout) -> list[BagStatus]:
    manifest = journal.read_manifest(layout)
    statuses = []
    for bag in journal.manifest_bags(manifest):
        plan = journal.read_plan(layout, bag.id)
        entries = journal.read_journal(layout, bag.id)
        frames_done = sum(e.frames for e in entries)
        statuses.append(
            BagStatus(bag, len(entries), plan.chunks if plan else None, frames_done, plan.frames if plan else None)
        )
    return statuses
