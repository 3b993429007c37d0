"""Stage 1: stream each bag once, align onto the timeline, spill fixed-size chunks.

Per chunk: one Parquet shard of low-dim columns, one video segment per camera, the image
statistics merge needs, then one journal line. A re-run skips finished bags and chunks, drops
the unfinished chunk's leftovers and restarts reading the bag at the journalled resume point.
"""

from __future__ import annotations

import json
import multiprocessing
import sys
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from rosbags.typesys import TypesysError

from spill2lerobot import kuavo
from spill2lerobot.align import AlignedFrame, StreamingAligner, resume_point, target_times
from spill2lerobot.bag import is_ros2_bag, open_bag
from spill2lerobot.bag.ros1 import BagError, Ros1Bag
from spill2lerobot.errors import UserError
from spill2lerobot.features import extractor_for
from spill2lerobot.fsutil import commit, tmp_path, where_disk_filled, write_json_atomic
from spill2lerobot.profile import Profile
from spill2lerobot.safety import check_locations
from spill2lerobot.spill import images, journal
from spill2lerobot.spill.cameras import (
    CameraFailed,
    EndSegment,
    FrameJob,
    SegmentResult,
    StartSegment,
)
from spill2lerobot.spill.depth import check_same_depth, counts_json, make_worker
from spill2lerobot.spill.journal import BagEntry, BagPlan
from spill2lerobot.spill.layout import SpillLayout
from spill2lerobot.spill.ownership import claim_spill, clear_unfinished
from spill2lerobot.spill.report import bag_report, summary_line
from spill2lerobot.spill.stamps import StampCounter, stamped_topics
from spill2lerobot.spill.verify import ChunkShape, first_damaged, read_chunk_stats
from spill2lerobot.spill.video import EncoderSettings
from spill2lerobot.stats import sample_indices

ProgressFn = Callable[[str], None]


@dataclass
class Position:
    """Where stage 1 is, for the message printed when it is stopped."""

    bag: int = 0
    bags: int = 0
    chunk: int = 0
    chunks: int = 0

    def describe(self) -> str:
        if not self.bags:
            return "stopped before any bag was started"
        return f"stopped at bag {self.bag}/{self.bags}, chunk {self.chunk}/{self.chunks or '?'}"


POSITION = Position()


@dataclass
class BagResult:
    entry: BagEntry
    frames: int
    chunks_done: int
    chunks_total: int
    chunks_this_run: int
    bytes_read: int
    seconds: float


def list_bags(inputs: list[Path]) -> list[Path]:
    """Bags from files and folders, sorted by path; each folder contributes its *.bag
    (*.bag.active), *.mcap and *.db3 files and its rosbag2 sub-folders; a rosbag2 folder
    (with metadata.yaml) is one bag."""
    bags: list[Path] = []
    for path in inputs:
        if path.is_dir() and is_ros2_bag(path):
            bags.append(path)
        elif path.is_dir():
            found = sorted(
                [
                    *path.glob("*.bag"),
                    *path.glob("*.bag.active"),
                    *path.glob("*.mcap"),
                    *path.glob("*.db3"),
                    *(sub for sub in path.iterdir() if sub.is_dir() and is_ros2_bag(sub)),
                ]
            )
            if not found:
                raise UserError(
                    f"{path}: folder holds no bags (.bag, .mcap, .db3 or rosbag2 folders); "
                    "pass bag files or a folder of them"
                )
            bags += found
        elif path.exists():
            bags.append(path)
        else:
            raise UserError(f"{path}: no such file or folder")
    for bag in bags:
        if not (bag.is_file() or bag.is_dir()):  # a FIFO would block, a device never ends
            raise UserError(f"{bag}: not a regular file (a pipe, socket or device); pass bag files or folders")
    return sorted({bag.resolve() for bag in bags})


def prepare_spill(layout: SpillLayout, profile: Profile, bags: list[Path]) -> list[BagEntry]:
    """Create the manifest, or check that an existing spill was made with the same inputs.
    The caller holds the spill's lock (ownership.claim_spill)."""
    entries = [BagEntry.of(i, bag) for i, bag in enumerate(bags)]
    manifest = journal.make_manifest(json.loads(profile.fingerprint()), entries)
    if layout.manifest.exists() or layout.manifest.is_symlink():
        difference = journal.manifest_difference(journal.read_manifest(layout), manifest)
        if difference:
            raise UserError(
                f"{layout.root}: this spill was made with other inputs ({difference}); "
                "run the same command as before to resume, or add --restart to start over"
            )
    else:
        journal.write_manifest(layout, manifest)
    return entries


def make_plan(bag: Ros1Bag, profile: Profile, roles: kuavo.TopicRoles) -> tuple[BagPlan, np.ndarray]:
    """Timeline from the index only: main-camera times and each topic's last time."""
    ds = profile.dataset
    present = set(bag.topics())
    cutoff = min(bag.last_time(topic) for topic in extractor_for(profile).cutoff_topics(roles, present))
    main_times = bag.topic_times(roles.main_camera.topic)
    targets = target_times(main_times, ds.sample_drop, ds.main_timeline_fps // ds.train_hz, cutoff)
    if len(targets) == 0:
        raise UserError(
            f"{bag.path}: no frames left after dropping {ds.sample_drop} main-camera frames at each end "
            f"({len(main_times)} on {roles.main_camera.topic}); the bag is too short, or lower dataset.sample_drop"
        )
    plan = BagPlan(
        frames=len(targets),
        chunk_size=profile.rosbag.chunk_size,
        main_topic=roles.main_camera.topic,
        topics=list(roles.all),
    )
    return plan, targets


def check_topics(bag: Ros1Bag, roles: kuavo.TopicRoles, expected_types=kuavo.EXPECTED_TYPES) -> None:
    topics = bag.topics()
    if not any(info.count for info in topics.values()):
        raise UserError(f"{bag.path}: the bag holds no messages; record it again or leave it out")
    for topic in roles.all:
        if topic not in topics or topics[topic].count == 0:
            have = ", ".join(sorted(topics)) or "none"
            raise UserError(
                f"{bag.path}: required topic {topic} is missing (bag has: {have}); "
                "check the profile, or see what the bag holds with `spill2lerobot inspect`"
            )
        msgtype = topics[topic].msgtype
        if topic in kuavo.CAMERA_TOPIC_SET:  # Kuavo cameras: compressed or raw images
            expected, accepted = " or ".join(kuavo.IMAGE_TYPES), msgtype in kuavo.IMAGE_TYPES
        else:
            expected = expected_types.get(topic)
            accepted = not expected or msgtype == expected
        if not accepted:
            raise UserError(
                f"{bag.path}: topic {topic} carries {topics[topic].msgtype}, the profile expects {expected}; "
                "use a profile that matches this robot's bags"
            )


class ChunkSpiller:
    """Collects aligned frames of one bag into chunks and writes each chunk when it is full."""

    def __init__(
        self,
        layout: SpillLayout,
        entry: BagEntry,
        plan: BagPlan,
        profile: Profile,
        roles: kuavo.TopicRoles,
        bag: Ros1Bag,
        progress: ProgressFn,
        first_chunk: int = 0,
        parallel_bags: int = 1,
    ) -> None:
        """``parallel_bags``: bags spilled at once (--jobs), whose encoders share the cores."""
        self._layout, self._entry, self._plan = layout, entry, plan
        self._profile, self._roles, self._bag = profile, roles, bag
        self._progress = progress
        topics = bag.topics()
        self._msgtypes = {topic: topics[topic].msgtype for topic in roles.lowdim}
        # ROS1 payloads are cut here; ROS2 (CDR) CompressedImages by the bag.
        self._image_of = {
            cam.topic: bag.compressed_image_data
            if bag.serialization == "cdr"
            else images.image_of(topics[cam.topic].msgtype)
            for cam in roles.cameras
            if not cam.is_depth  # depth workers parse their whole message (spill/depth.py)
        }
        self._typestore = bag.typestore()
        self._extractor = extractor_for(profile)
        settings = EncoderSettings.from_profile(profile).sharing_cores(len(roles.cameras) * parallel_bags)
        warm_up_parquet_writer()
        carried = _bag_moments_after(layout, entry.id, first_chunk)
        self._workers = {cam.name: make_worker(cam, profile, settings, carried.get(cam.name)) for cam in roles.cameras}
        self._bag_samples = set(sample_indices(plan.frames).tolist())
        self._chunk_samples: set[int] = set()
        self._pending: deque[dict] = deque()  # chunks sent, waiting for their segments
        self._pending_faults: deque[dict] = deque()
        self._faults = profile.faults
        self._ready: dict[str, deque[SegmentResult]] = {name: deque() for name in self._workers}
        self._rows: list[tuple[int, int, list[int]]] = []  # frame index, target time, source times
        self._states: list[np.ndarray] = []
        self._actions: list[np.ndarray] = []
        self.chunks_written = 0
        self._started = time.monotonic()
        self._frames_done = 0
        self.stamps: StampCounter | None = None  # header-stamp fault counts, merged per chunk

    def add(self, frame: AlignedFrame) -> None:
        plan = self._plan
        chunk, offset = divmod(frame.index, plan.chunk_size)
        if offset == 0:
            self._start_chunk(chunk)
        self._count_gaps(frame)
        msgs = {topic: self._message(topic, frame.picks[topic]) for topic in self._roles.lowdim}
        try:
            state, action = self._extractor.state_and_action(self._roles, msgs)
        except (IndexError, ValueError, AttributeError, TypeError) as exc:
            raise UserError(
                f"{self._entry.path}: frame at {frame.target_ns} ns: messages do not fit the profile ({exc}); "
                "check the profile against the bag with `spill2lerobot inspect`"
            ) from None
        self._states.append(state)
        self._actions.append(action)
        # Keep only what the shard needs: holding the picks would keep every JPEG of the chunk.
        self._rows.append((frame.index, frame.target_ns, [frame.picks[t].time_ns for t in self._roles.all]))
        for cam in self._roles.cameras:
            pick = frame.picks[cam.topic]
            image = bytes(pick.payload) if cam.is_depth else self._image(cam.topic, pick.payload)
            self._workers[cam.name].submit(
                FrameJob(
                    image=image,
                    in_bag_sample=frame.index in self._bag_samples,
                    in_chunk_sample=offset in self._chunk_samples,
                    describe=f"{self._entry.path}: {cam.topic} message at {pick.time_ns} ns",
                    repeat_bad=self._faults.on_bad_frame == "repeat",
                )
            )
        if offset + 1 == plan.chunk_frames(chunk):
            self._finish_chunk(chunk, frame)
        elif self._pending:
            self._collect(block=False)

    def close(self) -> None:
        for worker in self._workers.values():
            worker.stop()

    def _image(self, topic: str, payload: bytes) -> bytes | images.RawImage:
        """The picture bytes of a camera message; a raw encoding no colour camera can show is an error."""
        try:
            image = self._image_of[topic](payload)
        except ValueError:
            return b""  # a message cut short: an undecodable image, handled by on_bad_frame
        images.check_image(image, f"{self._entry.path}: {topic}")
        return image

    def _message(self, topic: str, pick) -> object:
        """Deserialize a pick; an undecodable one follows faults.on_bad_frame."""
        try:
            msg = self._bag.deserialize_raw(pick.payload, self._msgtypes[topic])
        except Exception as exc:  # rosbags raises many types for damaged bytes
            previous = self._last_good.get(topic)
            where = f"{self._entry.path}: {topic} message at {pick.time_ns} ns cannot be decoded ({type(exc).__name__})"
            if self._faults.on_bad_frame == "error":
                raise UserError(f"{where}; set faults.on_bad_frame=repeat to go on") from None
            if previous is None:
                raise UserError(f"{where} and no good one precedes it in its chunk; the bag is damaged there") from None
            self._faults_count("bad_messages", topic)
            return previous
        self._last_good[topic] = msg
        return msg

    def _count_gaps(self, frame: AlignedFrame) -> None:
        """Picks far from the frame time (a stream with a gap), and picks reused from the
        previous frame (a stream slower than the timeline or stopped)."""
        max_skew = self._faults.max_skew_ms * 1_000_000
        for topic, pick in frame.picks.items():
            if abs(pick.time_ns - frame.target_ns) > max_skew:
                if self._faults.on_gap == "error":
                    raise UserError(
                        f"{self._entry.path}: {topic} has no message within {self._faults.max_skew_ms} ms of "
                        f"the frame at {frame.target_ns} ns; raise faults.max_skew_ms or set faults.on_gap=keep"
                    )
                self._faults_count("gap_frames", topic)
            if self._previous_picks.get(topic) == pick.time_ns:
                self._faults_count("repeated_picks", topic)
            self._previous_picks[topic] = pick.time_ns

    def _faults_count(self, kind: str, topic: str) -> None:
        counts = self._chunk_faults.setdefault(kind, {})
        counts[topic] = counts.get(topic, 0) + 1

    def _start_chunk(self, chunk: int) -> None:
        # Fault bookkeeping restarts with each chunk so that a resumed run counts the same.
        self._last_good: dict[str, object] = {}
        self._previous_picks: dict[str, int] = {}
        self._chunk_faults: dict[str, dict[str, int]] = {}
        self._chunk_samples = set(sample_indices(self._plan.chunk_frames(chunk)).tolist())
        self._rows, self._states, self._actions = [], [], []
        for name, worker in self._workers.items():
            worker.submit(StartSegment(self._layout.segment(self._entry.id, chunk, name)))

    def _finish_chunk(self, chunk: int, last: AlignedFrame) -> None:
        """The chunk's frames are all sent: close its segments, write its shard. Its journal line
        follows once every camera has finished (see _collect); meanwhile the next chunk flows."""
        for worker in self._workers.values():
            worker.submit(EndSegment())
        self._write_shard(chunk)
        self._pending.append(
            {
                "chunk": chunk,
                "first_frame": self._rows[0][0],
                "frames": len(self._rows),
                "resume_ns": resume_point(last),
            }
        )
        if self.stamps is not None:
            for kind, counts in self.stamps.take(chunk).items():
                self._chunk_faults.setdefault(kind, {}).update(counts)
        self._pending_faults.append(self._chunk_faults)
        self._collect(block=False)

    def finish(self) -> None:
        """Wait for the cameras to finish every pending chunk and journal them."""
        self._collect(block=True)

    def _collect(self, block: bool) -> None:
        while self._pending:
            for name, worker in self._workers.items():
                ready = self._ready[name]
                if not ready:
                    result = worker.wait_segment() if block else worker.poll_segment()
                    if result is not None:
                        ready.append(result)
            if not all(self._ready.values()):
                return  # some camera is still encoding the oldest pending chunk
            results = {name: ready.popleft() for name, ready in self._ready.items()}
            self._journal_chunk(self._pending.popleft(), results, self._pending_faults.popleft())

    def _journal_chunk(self, entry: dict, results: dict[str, SegmentResult], faults: dict) -> None:
        chunk, frames = entry["chunk"], entry["frames"]
        cameras = {
            name: {
                "frames": result.frames,
                "bag_samples": result.bag_samples,
                "bag_counts": counts_json(result.bag_counts),
                "chunk_samples": result.chunk_samples,
                "chunk_counts": counts_json(result.chunk_counts),
                "bag_moments": result.bag_moments,
                "chunk_moments": result.chunk_moments.state(),
                "bad_frames": result.bad_frames,
                "filled_frames": result.filled_frames,
            }
            for name, result in results.items()
        }
        write_json_atomic(
            self._layout.chunk_stats(self._entry.id, chunk),
            {"chunk": chunk, "frames": frames, "cameras": cameras, "faults": faults},
        )
        journal.append_journal(self._layout, self._entry.id, entry)
        self.chunks_written += 1
        POSITION.chunk = min(chunk + 2, self._plan.chunks)
        self._frames_done += frames
        rate = self._frames_done / max(1e-9, time.monotonic() - self._started)
        remaining = self._plan.frames - (entry["first_frame"] + frames)
        eta = remaining / rate if rate > 0 else 0.0
        self._progress(
            f"{self._entry.name}: chunk {chunk + 1}/{self._plan.chunks}, {rate:.1f} frames/s, ETA {_hms(eta)}"
        )

    def _write_shard(self, chunk: int) -> None:
        rows = self._rows
        columns = {
            "frame_index": pa.array([index for index, _, _ in rows], pa.int64()),
            "target_ns": pa.array([target for _, target, _ in rows], pa.int64()),
            "observation.state": _fixed_list(np.stack(self._states)),
            "action": _fixed_list(np.stack(self._actions)),
        }
        for position, topic in enumerate(self._roles.all):
            columns[f"source_ns:{topic}"] = pa.array([times[position] for _, _, times in rows], pa.int64())
        path = self._layout.shard(self._entry.id, chunk)
        tmp = tmp_path(path)
        pq.write_table(pa.table(columns), tmp)
        commit(tmp, path)


def warm_up_parquet_writer() -> None:
    """Write a tiny shard to memory before the encoders start. The first Parquet write pulls
    in ~25 MB of Arrow/Parquet code and buffers; done at the first chunk's end, on top of
    encoders still flushing, it set the peak of long bags ~10% above that of one-chunk bags."""
    table = pa.table({"frame_index": pa.array([0], pa.int64()), "state": _fixed_list(np.zeros((1, 2), np.float32))})
    pq.write_table(table, pa.BufferOutputStream())


def _bag_moments_after(layout: SpillLayout, bag_id: str, done_chunks: int) -> dict[str, dict]:
    """Each camera's float32 pixel sums at the end of the last finished chunk (resume)."""
    if done_chunks == 0:
        return {}
    stats = read_chunk_stats(layout, bag_id, done_chunks - 1)
    return {name: cam["bag_moments"] for name, cam in stats["cameras"].items()}


def _image_bytes(payload: bytes | memoryview) -> bytes:
    """The ``data`` field of a serialized sensor_msgs/CompressedImage, without deserializing."""
    view = memoryview(payload)
    pos = 12  # header: seq u32, stamp (2 x u32)
    pos += 4 + int.from_bytes(view[pos : pos + 4], "little")  # frame_id
    pos += 4 + int.from_bytes(view[pos : pos + 4], "little")  # format
    size = int.from_bytes(view[pos : pos + 4], "little")
    return bytes(view[pos + 4 : pos + 4 + size])


def _fixed_list(matrix: np.ndarray) -> pa.FixedSizeListArray:
    matrix = np.ascontiguousarray(matrix, dtype=np.float32)
    return pa.FixedSizeListArray.from_arrays(pa.array(matrix.reshape(-1)), matrix.shape[1])


def _hms(seconds: float) -> str:
    seconds = int(seconds)
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


def spill_bag(
    layout: SpillLayout, entry: BagEntry, profile: Profile, progress: ProgressFn, parallel_bags: int = 1
) -> BagResult:
    started = time.monotonic()
    try:
        bag = open_bag(entry.path, recover=True)
    except BagError as exc:
        raise UserError(str(exc)) from None
    with bag:
        try:
            return _spill_open_bag(bag, layout, entry, profile, progress, started, parallel_bags)
        except BagError as exc:  # damage found while reading (index records, chunks)
            raise UserError(str(exc)) from None
        except OSError as exc:
            raise where_disk_filled(exc, layout.bag_dir(entry.id)) from None


def _typestore(bag: Ros1Bag):
    try:
        return bag.typestore()
    except TypesysError as exc:
        first = str(exc).splitlines()[0][:120]
        raise UserError(
            f"{bag.path}: the message definitions stored in the bag cannot be parsed ({first}); the bag is damaged"
        ) from None


def _spill_open_bag(
    bag: Ros1Bag,
    layout: SpillLayout,
    entry: BagEntry,
    profile: Profile,
    progress: ProgressFn,
    started: float,
    parallel_bags: int,
) -> BagResult:
    if bag.recovery is not None:  # unindexed (.bag.active) or cut off: read what is complete
        progress(f"{entry.name}: {bag.recovery}")
    extractor = extractor_for(profile)
    roles = extractor.resolve_topics(bag.topics())
    check_topics(bag, roles, extractor.expected_types(roles))
    if bag.serialization == "cdr" and any(getattr(cam, "is_depth", False) for cam in roles.cameras):
        raise UserError(f"{bag.path}: depth cameras of ROS2 bags are not supported yet; set dataset.use_depth=false")
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
    report = {"bag": entry.path, "frames": plan.frames, "recovery": str(bag.recovery) if bag.recovery else None}
    write_json_atomic(layout.report(entry.id), report)
    done = _usable_chunks(
        layout,
        entry,
        plan,
        ChunkShape(
            cameras=tuple(cam.name for cam in roles.cameras),
            state_dim=len(extractor.state_names()),
            action_dim=len(extractor.action_names()),
            topics=tuple(plan.topics),
        ),
        progress,
    )
    journal.rewrite_journal(layout, entry.id, done)
    clear_unfinished(layout, entry.id, len(done))
    if len(done) == plan.chunks:
        return BagResult(entry, plan.frames, len(done), plan.chunks, 0, bag.bytes_read, time.monotonic() - started)
    first_chunk = len(done)
    POSITION.chunk, POSITION.chunks = first_chunk + 1, plan.chunks
    start_ns = done[-1]["resume_ns"] if done else 0
    aligner = StreamingAligner(targets, list(roles.all), first_target=first_chunk * plan.chunk_size)
    spiller = ChunkSpiller(layout, entry, plan, profile, roles, bag, progress, first_chunk, parallel_bags)
    spiller.stamps = _stamp_counter(bag, roles, plan, targets, first_chunk, profile)
    try:
        _stream(bag, roles, aligner, spiller, plan, start_ns, spiller.stamps)
        spiller.finish()
    except CameraFailed as exc:
        if isinstance(exc.__cause__, OSError) and not isinstance(exc.__cause__, ValueError):
            raise exc.__cause__ from None  # a disk error, reported by the CLI
        raise UserError(str(exc)) from None
    finally:
        spiller.close()
    return BagResult(
        entry,
        plan.frames,
        len(done) + spiller.chunks_written,
        plan.chunks,
        spiller.chunks_written,
        bag.bytes_read,
        time.monotonic() - started,
    )


def _usable_chunks(
    layout: SpillLayout, entry: BagEntry, plan: BagPlan, shape: ChunkShape, progress: ProgressFn
) -> list[dict]:
    """The journalled chunks up to the first damaged one (journal line, statistics, shard or
    segment); stage 1 redoes from there, as after an interruption."""
    done, problem = journal.read_journal_checked(layout, entry.id, plan)
    if problem is not None:
        progress(f"{entry.name}: {problem}; redoing from chunk {len(done)}")
    damaged = first_damaged(layout, entry.id, done, shape)
    if damaged is not None:
        chunk, why = damaged
        progress(f"{entry.name}: {why}; redoing from chunk {chunk}")
        done = done[:chunk]
    return done


def _stamp_counter(
    bag: Ros1Bag, roles: kuavo.TopicRoles, plan: BagPlan, targets: np.ndarray, first_chunk: int, profile: Profile
) -> StampCounter:
    """Header-stamp fault counting (spill/stamps.py) for the chunks this run writes."""
    topics = bag.topics()
    stamped = stamped_topics({t: topics[t].msgtype for t in roles.all}, bag.typestore().fielddefs)
    ends = [int(targets[plan.chunk_frames(c) + c * plan.chunk_size - 1]) for c in range(plan.chunks)]
    return StampCounter(stamped, ends, first_chunk, profile.faults.max_skew_ms * 1_000_000)


def _stream(
    bag: Ros1Bag,
    roles: kuavo.TopicRoles,
    aligner: StreamingAligner,
    spiller: ChunkSpiller,
    plan: BagPlan,
    start_ns: int,
    stamps: StampCounter | None = None,
) -> None:
    last_index = plan.frames - 1
    for msg in bag.messages(roles.all, start_ns=start_ns):
        if stamps is not None:
            stamps.push(msg.topic, msg.time_ns, msg.data)
        for frame in aligner.push(msg.topic, msg.time_ns, msg.data):
            spiller.add(frame)
            if frame.index == last_index:
                return  # the rest of the bag cannot change any frame
    for frame in aligner.finish():
        spiller.add(frame)


@dataclass
class BagFailure:
    entry: BagEntry
    message: str


class SomeBagsFailed(UserError):
    exit_code = 3


def _spill_bag_in_worker(
    layout: SpillLayout, entry: BagEntry, profile: Profile, parallel_bags: int
) -> BagResult | BagFailure:
    """Runs in a worker process (--jobs): errors come back as values, progress goes to stderr."""
    from spill2lerobot.cli import prepare_process

    prepare_process()
    try:
        return spill_bag(layout, entry, profile, lambda line: print(line, file=sys.stderr, flush=True), parallel_bags)
    except UserError as exc:
        return BagFailure(entry, str(exc))


def run_stage1(
    inputs: list[Path],
    spill: Path,
    profile: Profile,
    *,
    restart: bool = False,
    jobs: int = 1,
    progress: ProgressFn = print,
) -> list[BagResult]:
    """Spill every bag, holding the spill's lock. A bag that fails is reported and the others go
    on; then, if any failed, SomeBagsFailed lists them (their finished chunks stay; re-run to resume)."""
    layout = SpillLayout(spill)
    bags = select_bags(inputs, profile)
    check_locations([*inputs, *bags], spill=spill)
    with claim_spill(layout, "stage 1", create=True, restart=restart):
        return spill_bags(layout, bags, profile, jobs=jobs, progress=progress)


def select_bags(inputs: list[Path], profile: Profile) -> list[Path]:
    bags = list_bags(inputs)
    if profile.rosbag.num_used is not None:
        bags = bags[: profile.rosbag.num_used]
    return bags


def spill_bags(
    layout: SpillLayout, bags: list[Path], profile: Profile, *, jobs: int = 1, progress: ProgressFn = print
) -> list[BagResult]:
    """Stage 1 on a claimed spill (the caller holds its lock)."""
    entries = prepare_spill(layout, profile, bags)
    outcomes: list[BagResult | BagFailure] = []
    if jobs > 1 and len(entries) > 1:
        with ProcessPoolExecutor(max_workers=jobs, mp_context=multiprocessing.get_context("spawn")) as pool:
            parallel = min(jobs, len(entries))
            futures = [pool.submit(_spill_bag_in_worker, layout, entry, profile, parallel) for entry in entries]
            outcomes = [future.result() for future in futures]
    else:
        for number, entry in enumerate(entries, 1):
            POSITION.bag, POSITION.bags, POSITION.chunk, POSITION.chunks = number, len(entries), 0, 0
            progress(f"bag {number}/{len(entries)}: {entry.path}")
            try:
                outcomes.append(spill_bag(layout, entry, profile, progress))
            except UserError as exc:
                if len(entries) == 1:
                    raise
                progress(f"error: {exc}")
                outcomes.append(BagFailure(entry, str(exc)))
    for outcome in outcomes:
        if isinstance(outcome, BagResult):
            r = outcome
            progress(
                f"{r.entry.name}: {r.frames} frames in {r.chunks_total} chunks ({r.chunks_this_run} written now, "
                f"{r.seconds:.1f} s, {r.bytes_read / 1e6:.1f} MB read); {summary_line(bag_report(layout, r.entry))}"
            )
    failures = [o for o in outcomes if isinstance(o, BagFailure)]
    if failures:
        if len(entries) == 1:
            raise UserError(failures[0].message)
        names = ", ".join(f.entry.name for f in failures)
        raise SomeBagsFailed(
            f"{len(failures)} of {len(entries)} bags failed ({names}); the others are spilled. "
            "Fix or remove the failed bags and run the same command again"
        )
    return [o for o in outcomes if isinstance(o, BagResult)]
