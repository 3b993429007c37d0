"""Units of stage 1: a (bag, chunk) is produced alone from a seek, its start found from the index.

A chunk's files depend only on the bag and the plan: its reading starts at a record time computed
from the bag's index (``BagIndex.start``), its statistics hold nothing carried from the chunks
before it (merge adds the bag-sampled pixels up, ``spill/verify.read_samples``), and its encoders,
fault counts and stamp predecessors start afresh. So units run in any order, on any worker, and
twice: each writes its files under names of its own and renames them, its statistics file last
(the unit's commit). The journal is written by the one process holding the spill (the driver),
in chunk order, as units commit (``JournalCommits``); a chunk committed but not yet journalled
when the driver stopped is checked and taken in by the next run (``finished_chunks``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from spill2lerobot.align import nearest_indices
from spill2lerobot.bag.base import Bag, Times
from spill2lerobot.profiles import Roles
from spill2lerobot.spill import journal
from spill2lerobot.spill.format import BagPlan, JournalEntry
from spill2lerobot.spill.header_times import HeaderTimes
from spill2lerobot.spill.layout import SpillLayout
from spill2lerobot.spill.verify import ChunkDamaged, ChunkShape, check_chunk

CommitFn = Callable[[JournalEntry], None]  # a unit's chunk is committed (its files are in place)


def chosen_messages(bag: Bag, roles: Roles, targets: NDArray[Any], skip: tuple[str, ...] = ()) -> dict[str, Times]:
    """Record times of the messages the bag's frames take, per topic, from the index. The aligner,
    fed only these, picks exactly what it picks from every message: each is the nearest to some
    frame, and no other message is nearer to any frame. Always for the whole bag, so a unit
    read from its start reads the same messages from there on as a run over the whole bag.
    ``skip``: topics read whole (the rules need the messages around each frame, ``Robot.span_topics``)."""
    topics = [topic for topic in roles.all if topic not in skip]
    return {topic: times[nearest_indices(times, targets)] for topic, times in bag.topics_times(topics).items()}


def chunk_last_frames(plan: BagPlan) -> list[int]:
    return [c * plan.chunk_size + plan.chunk_frames(c) - 1 for c in range(plan.chunks)]


def resume_times(
    streamed: dict[str, Times], targets: NDArray[Any], plan: BagPlan, recorded: dict[str, Times] | None = None
) -> list[int]:
    """For each chunk, the record time from which reading the bag reproduces every later frame
    (``align.resume_point`` of its last frame, from the index): per topic, the last streamed
    message before the frame's target time (the message the aligner holds when the target is
    settled; the first one if there is none before), and the earliest of those over the topics.
    ``recorded``: the streamed messages' record times when ``streamed`` holds their header stamps."""
    lasts = np.asarray(targets, dtype=np.int64)[chunk_last_frames(plan)]
    held = []
    for topic, times in streamed.items():
        ordered = np.asarray(times, dtype=np.int64)
        before = np.maximum(np.searchsorted(ordered, lasts, side="left") - 1, 0)
        held.append((ordered if recorded is None else np.asarray(recorded[topic], dtype=np.int64))[before])
    return [int(t) for t in np.min(np.stack(held), axis=0)]


@dataclass(frozen=True)
class BagIndex:
    """What the index says about reading a bag: the messages to stream, where each chunk starts."""

    only: dict[str, Times]  # topics read selectively: the record times their frames take
    resume: list[int]  # per chunk: resume_ns of its journal line

    @classmethod
    def of(
        cls,
        bag: Bag,
        roles: Roles,
        targets: NDArray[Any],
        plan: BagPlan,
        span: tuple[str, ...],
        stamps: HeaderTimes | None = None,
    ) -> BagIndex:
        if stamps is not None:
            return cls._of_stamps(stamps, roles, targets, plan, span)
        only = chosen_messages(bag, roles, targets, skip=span)
        whole = bag.topics_times([topic for topic in roles.all if topic in span]) if span else {}
        return cls(only, resume_times({**only, **whole}, targets, plan))

    @classmethod
    def _of_stamps(
        cls, stamps: HeaderTimes, roles: Roles, targets: NDArray[Any], plan: BagPlan, span: tuple[str, ...]
    ) -> BagIndex:
        """Header timing: the messages chosen by their stamps, read by their record times (the
        i-th stamp is the i-th record time's message: both in record order)."""
        only: dict[str, Times] = {}
        chosen_stamps: dict[str, Times] = {}
        chosen_records: dict[str, Times] = {}
        for topic in roles.all:
            times, records = stamps.topic_times(topic), stamps.record_times(topic)
            picked = np.arange(len(times)) if topic in span else nearest_indices(times, targets)
            chosen_stamps[topic], chosen_records[topic] = times[picked], records[picked]
            if topic not in span:
                only[topic] = records[picked]
        return cls(only, resume_times(chosen_stamps, targets, plan, chosen_records))

    def start(self, chunk: int) -> int:
        """The record time a unit of ``chunk`` starts reading at."""
        return self.resume[chunk - 1] if chunk > 0 else 0

    def entry(self, plan: BagPlan, chunk: int) -> JournalEntry:
        """The chunk's journal line (all from the plan and the index)."""
        return JournalEntry(
            chunk=chunk,
            first_frame=chunk * plan.chunk_size,
            frames=plan.chunk_frames(chunk),
            resume_ns=self.resume[chunk],
        )


def missing_runs(done: Iterable[int], chunks: int) -> list[range]:
    """The chunks not done, as runs of consecutive chunks."""
    finished = set(done)
    runs: list[range] = []
    start: int | None = None
    for chunk in range(chunks + 1):
        if chunk < chunks and chunk not in finished:
            start = chunk if start is None else start
        elif start is not None:
            runs.append(range(start, chunk))
            start = None
    return runs


def committed_beyond(layout: SpillLayout, bag_id: str, plan: BagPlan, shape: ChunkShape, journalled: int) -> list[int]:
    """Chunks after the journal's that a unit committed (statistics file in place) and that check
    whole: a driver stopped before it journalled them. The others are redone."""
    found = []
    for chunk in range(journalled, plan.chunks):
        if not layout.chunk_stats(bag_id, chunk).exists():
            continue
        try:
            check_chunk(layout, bag_id, chunk, plan.chunk_frames(chunk), shape)
        except ChunkDamaged:
            continue
        found.append(chunk)
    return found


class JournalCommits:
    """The driver's side of the journal: lines appended in chunk order as units commit."""

    def __init__(self, layout: SpillLayout, bag_id: str, journalled: int) -> None:
        self._layout, self._bag_id = layout, bag_id
        self._next = journalled
        self._waiting: dict[int, JournalEntry] = {}

    @property
    def journalled(self) -> int:
        return self._next

    def commit(self, entry: JournalEntry) -> None:
        self._waiting[entry.chunk] = entry
        while self._next in self._waiting:
            journal.append_journal(self._layout, self._bag_id, self._waiting.pop(self._next))
            self._next += 1
