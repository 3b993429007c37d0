"""One bag through stage 1: check it, plan it, find its finished chunks, then for each run of
chunks it lacks the read/align loop (from the index's start of the run) that feeds the chunk
writer. A run is one unit (``spill_unit``, in a worker) or every missing chunk (``spill_bag``)."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray
from rosbags.typesys import TypesysError
from rosbags.typesys.store import Typestore

from spill2lerobot.align import StreamingAligner
from spill2lerobot.bag import open_bag
from spill2lerobot.bag.base import Bag, BagError, Message, Times
from spill2lerobot.errors import UserError
from spill2lerobot.fsutil import where_disk_filled
from spill2lerobot.profiles import Profile, Roles, robot_for
from spill2lerobot.profiles.base import tf_key
from spill2lerobot.spill import journal
from spill2lerobot.spill.cameras import CameraFailed
from spill2lerobot.spill.chunks import BagTarget, ChunkSpiller
from spill2lerobot.spill.depth_cameras import check_same_depth
from spill2lerobot.spill.format import BagEntry, BagPlan, BagReport, JournalEntry
from spill2lerobot.spill.header_times import HeaderTimes, message_stamp
from spill2lerobot.spill.ownership import clear_unfinished
from spill2lerobot.spill.planning import check_topics, make_plan
from spill2lerobot.spill.stamps import StampCounter, stamped_topics
from spill2lerobot.spill.tf_poses import TfTree, pose_values
from spill2lerobot.spill.units import (
    BagIndex,
    CommitFn,
    JournalCommits,
    chunk_last_frames,
    committed_beyond,
    missing_runs,
)
from spill2lerobot.spill.verify import ChunkShape, first_damaged


@dataclass
class BagResult:
    entry: BagEntry
    frames: int
    chunks_done: int
    chunks_total: int
    chunks_this_run: int
    bytes_read: int
    seconds: float
    report: dict[str, Any] | None = None  # the bag's conversion report (faults), once stage 1 is done


def spill_bag(target: BagTarget, parallel_bags: int = 1) -> BagResult:
    """A whole bag in this process: every chunk it lacks, each run of them from a seek."""
    started = time.monotonic()
    with open_checked(target) as bag:
        return _spill_open_bag(bag, target, started, parallel_bags)


@contextlib.contextmanager
def open_checked(target: BagTarget) -> Iterator[Bag]:
    """The bag, open; its damage and a full disk become one-line errors."""
    try:
        bag = open_bag(target.entry.path, recover=True)
    except BagError as exc:
        raise UserError(str(exc)) from None
    with bag:
        try:
            yield bag
        except BagError as exc:  # damage found while reading (index records, chunks)
            raise UserError(str(exc)) from None
        except OSError as exc:
            raise where_disk_filled(exc, target.layout.bag_dir(target.entry.id)) from None


def _typestore(bag: Bag) -> Typestore:
    try:
        return bag.typestore()
    except TypesysError as exc:
        first = str(exc).splitlines()[0][:120]
        raise UserError(
            f"{bag.path}: the message definitions stored in the bag cannot be parsed ({first}); the bag is damaged"
        ) from None


def _checked_plan(bag: Bag, target: BagTarget) -> tuple[Roles, BagPlan, NDArray[Any], HeaderTimes | None]:
    """The bag's topics checked against the profile, and its plan (the spill's, if it has one)."""
    layout, entry, profile = target.layout, target.entry, target.profile
    extractor = robot_for(profile)
    roles = extractor.resolve_topics(bag.topics())
    check_topics(bag, roles, extractor)
    store = _typestore(bag)
    msgtypes = {topic: info.msgtype for topic, info in bag.topics().items()}
    extractor.check_fields(roles, msgtypes, store, str(bag.path))
    stamps = HeaderTimes(bag, roles.all) if profile.dataset.timing == "header" else None
    plan, targets = make_plan(stamps or bag, profile, roles)
    check_same_depth(layout, entry, plan, profile)
    saved = journal.read_plan(layout, entry.id)
    if saved is None:
        journal.write_plan(layout, entry.id, plan)
    elif saved != plan:
        raise UserError(f"{entry.path}: the spill's plan for this bag differs; add --restart to start over")
    return roles, plan, targets, stamps


@dataclass(frozen=True)
class Planned:
    """A bag checked against the profile and planned from its index."""

    roles: Roles
    plan: BagPlan
    targets: NDArray[Any]
    index: BagIndex
    shape: ChunkShape
    header_timing: bool = False  # messages are timed by header.stamp (dataset.timing)


def _planned(bag: Bag, target: BagTarget) -> Planned:
    roles, plan, targets, stamps = _checked_plan(bag, target)
    extractor = robot_for(target.profile)
    shape = ChunkShape(
        cameras=tuple(cam.name for cam in roles.cameras),
        state_dim=len(extractor.state_names()),
        action_dim=len(extractor.action_names()),
        topics=tuple(plan.topics),
    )
    index = BagIndex.of(bag, roles, targets, plan, extractor.span_topics(roles), stamps)
    return Planned(roles, plan, targets, index, shape, stamps is not None)


@dataclass
class BagWork:
    """A bag's state in the driver: its plan, its finished chunks, its journal."""

    planned: Planned
    done: list[int]
    commits: JournalCommits
    bytes_read: int

    @property
    def missing(self) -> list[range]:
        return missing_runs(self.done, self.planned.plan.chunks)


def prepare_bag(bag: Bag, target: BagTarget) -> BagWork:
    """The driver's part before any unit runs: plan, report, the chunks already finished (the
    journal's, checked, and those units committed after it), the leftovers of others removed."""
    layout, entry = target.layout, target.entry
    if bag.recovery is not None:  # unindexed (.bag.active) or cut off: read what is complete
        target.progress(f"{entry.name}: {bag.recovery}")
    planned = _planned(bag, target)
    plan = planned.plan
    recovery = str(bag.recovery) if bag.recovery else None
    # model_construct: the text as it was always written (the reader folds it onto one line)
    journal.write_report(
        layout, entry.id, BagReport.model_construct(bag=entry.path, frames=plan.frames, recovery=recovery)
    )
    journalled = _usable_chunks(target, plan, planned.shape)
    journal.rewrite_journal(layout, entry.id, journalled)
    commits = JournalCommits(layout, entry.id, len(journalled))
    adopted = committed_beyond(layout, entry.id, plan, planned.shape, len(journalled))
    for chunk in adopted:
        commits.commit(planned.index.entry(plan, chunk))
    done = [e.chunk for e in journalled] + adopted
    if target.position.display is not None:
        target.position.display.bag_planned(plan.frames, sum(plan.chunk_frames(c) for c in done))
    clear_unfinished(layout, entry.id, set(done))
    return BagWork(planned, done, commits, bag.bytes_read)


def _spill_open_bag(bag: Bag, target: BagTarget, started: float, parallel_bags: int) -> BagResult:
    work = prepare_bag(bag, target)
    plan, runs = work.planned.plan, work.missing
    if runs:
        target.position.chunk, target.position.chunks = runs[0].start + 1, plan.chunks
    written = 0
    for run in runs:
        written += spill_run(bag, target, work.planned, run, work.commits.commit, parallel_bags)
    seconds = time.monotonic() - started
    return BagResult(
        entry=target.entry,
        frames=plan.frames,
        chunks_done=len(work.done) + written,
        chunks_total=plan.chunks,
        chunks_this_run=written,
        bytes_read=bag.bytes_read,
        seconds=seconds,
    )


def spill_unit(target: BagTarget, chunks: range, parallel: int = 1) -> list[JournalEntry]:
    """A unit, in a worker: the chunks ``chunks`` of a bag the driver prepared (``prepare_bag``),
    from a seek; returns their journal lines (for the driver to append)."""
    committed: list[JournalEntry] = []
    with open_checked(target) as bag:
        spill_run(bag, target, _planned(bag, target), chunks, committed.append, parallel)
    return committed


def spill_run(bag: Bag, target: BagTarget, planned: Planned, chunks: range, committed: CommitFn, parallel: int) -> int:
    """Consecutive chunks of a bag, read from the index's start of the first; returns how many."""
    roles, plan, targets, index = planned.roles, planned.plan, planned.targets, planned.index
    extractor = robot_for(target.profile)
    first = chunks.start
    modes = {topic: align.mode for topic, align in extractor.alignment(roles).items()}
    aligner = StreamingAligner(
        targets,
        list(roles.all),
        first_target=first * plan.chunk_size,
        span_topics=extractor.span_topics(roles),
        modes=modes,
    )
    spiller = ChunkSpiller(target, plan, roles, bag, index, committed, parallel)
    spiller.stamps = _stamp_counter(bag, roles, plan, targets, first, target.profile)
    last = chunk_last_frames(plan)[chunks.stop - 1]
    spiller.tf_first = first * plan.chunk_size
    spiller.tf_values = tf_table(bag, target.profile, targets[spiller.tf_first : last + 1])
    try:
        clock = message_stamp if planned.header_timing else None
        _stream(bag, roles, aligner, spiller, last, index.start(first), spiller.stamps, index.only, clock)
        spiller.finish()
    except CameraFailed as exc:
        if isinstance(exc.__cause__, OSError) and not isinstance(exc.__cause__, ValueError):
            raise exc.__cause__ from None  # a disk error, reported by the CLI
        raise UserError(str(exc)) from None
    finally:
        spiller.close()
    return spiller.chunks_written


def tf_table(bag: Bag, profile: Profile, targets: NDArray[Any]) -> dict[str, NDArray[Any]]:
    """The poses from /tf the profile's features take, at ``targets`` (x y z qx qy qz qw rows)."""
    requests = robot_for(profile).tf_requests()
    if not requests:
        return {}
    tree = TfTree(bag, profile.dataset.timing == "header")
    poses = tree.poses(requests, np.asarray(targets, dtype=np.int64))
    return {tf_key(*request): pose_values(pose) for request, pose in zip(requests, poses, strict=True)}


def _usable_chunks(target: BagTarget, plan: BagPlan, shape: ChunkShape) -> list[JournalEntry]:
    """The journalled chunks up to the first damaged one (journal line, statistics, shard or
    segment); stage 1 redoes from there, as after an interruption."""
    layout, entry = target.layout, target.entry
    done, problem = journal.read_journal_checked(layout, entry.id, plan)
    if problem is not None:
        target.progress(f"{entry.name}: {problem}; redoing from chunk {len(done)}")
    damaged = first_damaged(layout, entry.id, done, shape)
    if damaged is not None:
        chunk, why = damaged
        target.progress(f"{entry.name}: {why}; redoing from chunk {chunk}")
        done = done[:chunk]
    return done


def _stamp_counter(
    bag: Bag, roles: Roles, plan: BagPlan, targets: NDArray[Any], first_chunk: int, profile: Profile
) -> StampCounter:
    """Header-stamp fault counting (spill/stamps.py) for the chunks this run writes."""
    topics = bag.topics()
    stamped = stamped_topics({t: topics[t].msgtype for t in roles.all}, bag.typestore().fielddefs)
    ends = [int(targets[plan.chunk_frames(c) + c * plan.chunk_size - 1]) for c in range(plan.chunks)]
    return StampCounter(stamped, ends, first_chunk, profile.faults.max_skew_ms * 1_000_000)


def _stream(
    bag: Bag,
    roles: Roles,
    aligner: StreamingAligner,
    spiller: ChunkSpiller,
    last_index: int,
    start_ns: int,
    stamps: StampCounter | None = None,
    only: Mapping[str, Times] | None = None,
    clock: Callable[[Message], int] | None = None,
) -> None:
    """The read/align loop: messages in record order, aligned frames out to the chunk writer.
    ``only``: the messages the frames use (``units.chosen_messages``), the others are not read;
    ``last_index``: the last frame wanted (the rest of the bag cannot change any frame before it);
    ``clock``: a message's time for the aligner (None: its record time)."""
    for msg in bag.messages(roles.all, start_ns=start_ns, only=only):
        if stamps is not None:
            stamps.push(msg.topic, msg.time_ns, msg.data)
        time_ns = msg.time_ns if clock is None else clock(msg)
        for frame in aligner.push(msg.topic, time_ns, msg.data):
            spiller.add(frame)
            if frame.index == last_index:
                return
    for frame in aligner.finish():
        spiller.add(frame)
