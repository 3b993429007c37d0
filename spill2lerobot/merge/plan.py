"""Which spill chunks form which episode, and which output file each episode goes to."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from spill2lerobot.errors import UserError
from spill2lerobot.lerobot_format import next_file
from spill2lerobot.profiles import Camera, Profile, robot_for
from spill2lerobot.spill import journal
from spill2lerobot.spill.format import BagEntry, BagPlan, ChunkStats, SampleSet
from spill2lerobot.spill.layout import SpillLayout
from spill2lerobot.spill.verify import read_chunk_stats

EpisodeMode = Literal["bag", "chunk"]


@dataclass(frozen=True)
class ChunkRef:
    bag_id: str
    chunk: int
    frames: int


@dataclass
class Episode:
    index: int
    bag: BagEntry
    plan: BagPlan
    chunks: list[ChunkRef]
    dataset_from: int  # global index of its first frame
    # Which image-statistics sample set applies: the bag's (mode bag) or each chunk's (mode chunk).
    sample_set: SampleSet
    files: dict[str, tuple[int, int]] = field(default_factory=dict)  # "data" / video key -> (chunk, file)
    file_offset: dict[str, int] = field(default_factory=dict)  # frames before it in that file
    layout: SpillLayout | None = None  # the spill it is read from (a merge may read several)
    task_index: int = 0  # its task in meta/tasks.parquet

    @property
    def spill(self) -> SpillLayout:
        if self.layout is None:
            raise ValueError(f"episode {self.index} has no spill")
        return self.layout

    @property
    def length(self) -> int:
        return sum(ref.frames for ref in self.chunks)


def finished_chunks(layout: SpillLayout, bag: BagEntry, plan: BagPlan | None) -> tuple[BagPlan, list[ChunkRef]]:
    """The bag's plan (``plan``, as read from the spill) and all its chunks; an error if stage 1
    has not finished it."""
    entries, problem = journal.read_journal_checked(layout, bag.id, plan)
    if problem is not None:
        raise UserError(f"{problem}; {journal.redo_from(len(entries))}")
    if plan is None or len(entries) < plan.chunks:
        done = len(entries)
        total = plan.chunks if plan else "?"
        raise UserError(
            f"{bag.path}: stage 1 has not finished this bag ({done}/{total} chunks); "
            "run the same `spill2lerobot stage1` command again to complete the spill"
        )
    return plan, [ChunkRef(bag.id, e.chunk, e.frames) for e in entries]


def plan_episodes(
    layout: SpillLayout,
    bags: list[BagEntry],
    plans: dict[str, BagPlan | None],
    mode: EpisodeMode,
    first_index: int = 0,
    first_frame: int = 0,
) -> list[Episode]:
    """The spill's episodes, numbered from ``first_index``, their frames from ``first_frame``
    (both 0 for a new dataset; after the episodes of the spills or the dataset before it);
    ``plans``: the bags' plans by id, as read from the spill."""
    episodes: list[Episode] = []
    start = first_frame
    for bag in bags:
        plan, chunks = finished_chunks(layout, bag, plans[bag.id])
        groups = [chunks] if mode == "bag" else [[ref] for ref in chunks]
        for group in groups:
            episode = Episode(first_index + len(episodes), bag, plan, group, start, sample_set=mode, layout=layout)
            episodes.append(episode)
            start += episode.length
    return episodes


def assign_files(
    episodes: list[Episode],
    key: str,
    sizes: list[int],
    limit_bytes: int,
    first_file: tuple[int, int] = (0, 0),
    max_episodes: int | None = None,
) -> None:
    """Pack whole episodes into files of at most ``limit_bytes`` (an episode never spans files),
    the way lerobot does: start a new file when adding the episode would reach the limit, or
    (``max_episodes``) when the file already holds that many episodes.
    ``first_file``: the (chunk, file) the first episode goes to (a new file when appending)."""
    (chunk_index, file_index), used, frames, count = first_file, 0, 0, 0
    for episode, size in zip(episodes, sizes, strict=True):
        full = max_episodes is not None and count >= max_episodes
        if used > 0 and (used + size >= limit_bytes or full):
            chunk_index, file_index = next_file(chunk_index, file_index)
            used, frames, count = 0, 0, 0
        episode.files[key] = (chunk_index, file_index)
        episode.file_offset[key] = frames
        used += size
        frames += episode.length
        count += 1


def load_chunk_stats(layout: SpillLayout, ref: ChunkRef) -> ChunkStats:
    return read_chunk_stats(layout, ref.bag_id, ref.chunk, ref.frames)


@dataclass
class MergePlan:
    """What one merge writes: the episodes of one or more spills, in order, and their tasks."""

    episodes: list[Episode]
    profile: Profile  # the first spill's (the others agree on everything the dataset shows)
    depth_cameras: list[Camera]
    features: dict[str, Any]
    tasks: list[str]  # task strings in task_index order
    layouts: list[SpillLayout] = field(default_factory=list)
    short: list[tuple[str, int]] = field(default_factory=list)  # (bag, frames) left out: under dataset.min_frames

    @property
    def cameras(self) -> list[Camera]:
        return [*robot_for(self.profile).cameras(), *self.depth_cameras]

    @property
    def frames(self) -> int:
        return sum(ep.length for ep in self.episodes)
