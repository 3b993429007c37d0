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
    # Chunks after the journal's whose unit committed its files: a driver (--jobs, --executor ray)
    # stopped before journalling them; the next stage1 run checks them and takes them in.
    chunks_committed: int = 0

    @property
    def finished(self) -> bool:
        return self.chunks_total is not None and self.chunks_done == self.chunks_total

    def line(self) -> str:
        if self.chunks_total is None:
            return f"{self.entry.name}: not started"
        total = self.frames_total or 0  # known once the bag is planned, with its chunks
        state = "done" if self.finished else f"{total - self.frames_done} frames to go"
        if self.chunks_committed:
            state += f" ({self.chunks_committed} more chunks committed: the next stage1 run checks and keeps them)"
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
        committed = _committed_beyond(layout, bag.id, plan.chunks, len(entries)) if plan else 0
        total_chunks, total_frames = (plan.chunks, plan.frames) if plan else (None, None)
        statuses.append(BagStatus(bag, len(entries), total_chunks, frames_done, total_frames, committed))
    return statuses


def _committed_beyond(layout: SpillLayout, bag_id: str, chunks: int, journalled: int) -> int:
    """Chunks past the journal with their unit's commit (the statistics file) in place; status
    only reads: whether they check whole is for the next run (``units.committed_beyond``)."""
    return sum(layout.chunk_stats(bag_id, chunk).exists() for chunk in range(journalled, chunks))
