"""One bag through stage 1: check it, plan it, resume where its journal ends, then the read/align
loop that feeds the chunk writer."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from numpy.typing import NDArray
from rosbags.typesys import TypesysError
from rosbags.typesys.store import Typestore

from spill2lerobot.align import StreamingAligner, nearest_indices
from spill2lerobot.bag import open_bag
from spill2lerobot.bag.base import Bag, BagError, Times
from spill2lerobot.errors import UserError
from spill2lerobot.fsutil import where_disk_filled
from spill2lerobot.profiles import Profile, Roles, robot_for
from spill2lerobot.spill import journal
from spill2lerobot.spill.cameras import CameraFailed
from spill2lerobot.spill.chunks import BagTarget, ChunkSpiller
from spill2lerobot.spill.depth_cameras import check_same_depth
from spill2lerobot.spill.format import BagEntry, BagPlan, BagReport, JournalEntry
from spill2lerobot.spill.ownership import clear_unfinished
from spill2lerobot.spill.planning import check_topics, make_plan
from spill2lerobot.spill.stamps import StampCounter, stamped_topics
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
    started = time.monotonic()
    try:
        bag = open_bag(target.entry.path, recover=True)
    except BagError as exc:
        raise UserError(str(exc)) from None
    with bag:
        try:
            return _spill_open_bag(bag, target, started, parallel_bags)
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


def _checked_plan(bag: Bag, target: BagTarget) -> tuple[Roles, BagPlan, NDArray[Any]]:
    """The bag's topics checked against the profile, and its plan (the spill's, if it has one)."""
    layout, entry, profile = target.layout, target.entry, target.profile
    extractor = robot_for(profile)
    roles = extractor.resolve_topics(bag.topics())
    check_topics(bag, roles, extractor)
    store = _typestore(bag)
    msgtypes = {topic: info.msgtype for topic, info in bag.topics().items()}
    extractor.check_fields(roles, msgtypes, store, str(bag.path))
    plan, targets = make_plan(bag, profile, roles)
    check_same_depth(layout, entry, plan, profile)
    saved = journal.read_plan(layout, entry.id)
    if saved is None:
        journal.write_plan(layout, entry.id, plan)
    elif saved != plan:
        raise UserError(f"{entry.path}: the spill's plan for this bag differs; add --restart to start over")
    return roles, plan, targets


def _spill_open_bag(bag: Bag, target: BagTarget, started: float, parallel_bags: int) -> BagResult:
    layout, entry, profile = target.layout, target.entry, target.profile
    if bag.recovery is not None:  # unindexed (.bag.active) or cut off: read what is complete
        target.progress(f"{entry.name}: {bag.recovery}")
    roles, plan, targets = _checked_plan(bag, target)
    recovery = str(bag.recovery) if bag.recovery else None
    # model_construct: the text as it was always written (the reader folds it onto one line)
    report = BagReport.model_construct(bag=entry.path, frames=plan.frames, recovery=recovery)
    journal.write_report(layout, entry.id, report)
    extractor = robot_for(profile)
    shape = ChunkShape(
        cameras=tuple(cam.name for cam in roles.cameras),
        state_dim=len(extractor.state_names()),
        action_dim=len(extractor.action_names()),
        topics=tuple(plan.topics),
    )
    done = _usable_chunks(target, plan, shape)
    if target.position.display is not None:
        target.position.display.bag_planned(plan.frames, sum(e.frames for e in done))
    journal.rewrite_journal(layout, entry.id, done)
    clear_unfinished(layout, entry.id, len(done))
    if len(done) == plan.chunks:
        return BagResult(entry, plan.frames, len(done), plan.chunks, 0, bag.bytes_read, time.monotonic() - started)
    first_chunk = len(done)
    target.position.chunk, target.position.chunks = first_chunk + 1, plan.chunks
    start_ns = done[-1].resume_ns if done else 0
    spans = extractor.span_topics(roles)
    modes = {topic: align.mode for topic, align in extractor.alignment(roles).items()}
    first = first_chunk * plan.chunk_size
    aligner = StreamingAligner(targets, list(roles.all), first_target=first, span_topics=spans, modes=modes)
    spiller = ChunkSpiller(target, plan, roles, bag, first_chunk, parallel_bags)
    spiller.stamps = _stamp_counter(bag, roles, plan, targets, first_chunk, profile)
    only = chosen_messages(bag, roles, targets, skip=extractor.span_topics(roles))
    try:
        _stream(bag, roles, aligner, spiller, plan, start_ns, spiller.stamps, only)
        spiller.finish()
    except CameraFailed as exc:
        if isinstance(exc.__cause__, OSError) and not isinstance(exc.__cause__, ValueError):
            raise exc.__cause__ from None  # a disk error, reported by the CLI
        raise UserError(str(exc)) from None
    finally:
        spiller.close()
    written = spiller.chunks_written
    seconds = time.monotonic() - started
    return BagResult(entry, plan.frames, len(done) + written, plan.chunks, written, bag.bytes_read, seconds)


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


def chosen_messages(bag: Bag, roles: Roles, targets: NDArray[Any], skip: tuple[str, ...] = ()) -> dict[str, Times]:
    """Record times of the messages the bag's frames take, per topic, from the index. The aligner,
    fed only these, picks exactly what it picks from every message: each is the nearest to some
    frame, and no other message is nearer to any frame. Always for the whole bag, so a resumed
    run reads the same messages from its resume point on as an uninterrupted one. ``skip``:
    topics read whole (the rules need the messages around each frame, ``Robot.span_topics``)."""
    topics = [topic for topic in roles.all if topic not in skip]
    return {topic: times[nearest_indices(times, targets)] for topic, times in bag.topics_times(topics).items()}


def _stream(
    bag: Bag,
    roles: Roles,
    aligner: StreamingAligner,
    spiller: ChunkSpiller,
    plan: BagPlan,
    start_ns: int,
    stamps: StampCounter | None = None,
    only: Mapping[str, Times] | None = None,
) -> None:
    """The read/align loop: messages in record order, aligned frames out to the chunk writer.
    ``only``: the image messages the frames use (``chosen_images``), the others are not read."""
    last_index = plan.frames - 1
    for msg in bag.messages(roles.all, start_ns=start_ns, only=only):
        if stamps is not None:
            stamps.push(msg.topic, msg.time_ns, msg.data)
        for frame in aligner.push(msg.topic, msg.time_ns, msg.data):
            spiller.add(frame)
            if frame.index == last_index:
                return  # the rest of the bag cannot change any frame
    for frame in aligner.finish():
        spiller.add(frame)
