"""The chunk writer: aligned frames of one bag go to the camera workers and into chunks; each
full chunk gets its shard, its segments, its statistics and then its journal line."""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, replace
from typing import Any

from numpy.typing import NDArray

from spill2lerobot.align import AlignedFrame, Pick
from spill2lerobot.bag.base import Bag, ImageCutter
from spill2lerobot.bag.wire import RawImage, depth_cutter, image_of
from spill2lerobot.errors import UserError
from spill2lerobot.profiles import Profile, Roles, robot_for
from spill2lerobot.spill import images, journal
from spill2lerobot.spill.cameras import EndSegment, FrameJob, SegmentResult, StartSegment
from spill2lerobot.spill.depth_worker import make_worker
from spill2lerobot.spill.faults import FaultCounts, FaultPolicy, decode_pick
from spill2lerobot.spill.format import BagEntry, BagPlan, CameraStats, ChunkStats, JournalEntry
from spill2lerobot.spill.layout import SpillLayout
from spill2lerobot.spill.progress import Position, ProgressFn
from spill2lerobot.spill.shard import Row, warm_up_parquet_writer, write_shard
from spill2lerobot.spill.stamps import StampCounter
from spill2lerobot.spill.units import BagIndex, CommitFn
from spill2lerobot.spill.video import EncoderSettings
from spill2lerobot.stats import counts_json, sample_indices


@dataclass(frozen=True)
class BagTarget:
    """Where one bag is spilled and who hears about it."""

    layout: SpillLayout
    entry: BagEntry
    profile: Profile
    progress: ProgressFn
    position: Position


@dataclass
class _Sent:
    """A chunk whose frames are all sent, waiting for its segments."""

    entry: JournalEntry
    faults: FaultCounts


class ChunkSpiller:
    """Collects aligned frames of one bag into chunks and writes each chunk when it is full."""

    def __init__(
        self,
        target: BagTarget,
        plan: BagPlan,
        roles: Roles,
        bag: Bag,
        index: BagIndex,
        committed: CommitFn,
        parallel_bags: int = 1,
    ) -> None:
        """``committed``: told of each chunk once its files are in place (statistics last);
        ``parallel_bags``: units spilled at once (--jobs), whose encoders share the cores."""
        self._target, self._plan, self._roles, self._bag = target, plan, roles, bag
        self._index, self._committed = index, committed
        self._where = target.entry.path
        topics = bag.topics()
        self._msgtypes = {topic: topics[topic].msgtype for topic in roles.lowdim}
        self._image_of = {
            cam.topic: image_cutter(bag, topics[cam.topic].msgtype) for cam in roles.cameras if not cam.is_depth
        }
        # ROS1: the whole message, parsed by the depth worker; CDR: its fields (spill/depth.py)
        self._depth_of = {
            cam.topic: depth_cutter(bag.serialization, topics[cam.topic].msgtype)
            for cam in roles.cameras
            if cam.is_depth
        }
        self._extractor = robot_for(target.profile)
        settings = encoder_settings(target.profile, len(roles.cameras) * parallel_bags)
        warm_up_parquet_writer()
        self._workers = {cam.name: make_worker(cam, target.profile, settings) for cam in roles.cameras}
        self._bag_samples = set(sample_indices(plan.frames).tolist())
        self._chunk_samples: set[int] = set()
        self._pending: deque[_Sent] = deque()
        self._faults = FaultPolicy(target.profile.faults, self._where, self._extractor.alignment(roles))
        self._ready: dict[str, deque[SegmentResult]] = {name: deque() for name in self._workers}
        self._rows: list[Row] = []
        self._states: list[NDArray[Any]] = []
        self._actions: list[NDArray[Any]] = []
        self.chunks_written = 0
        self._started = time.monotonic()
        self._frames_done = 0
        self.stamps: StampCounter | None = None  # header-stamp fault counts, merged per chunk
        # poses from /tf of this run's frames (spill/tf_poses.py): key -> frames x 7, from tf_first
        self.tf_values: dict[str, NDArray[Any]] = {}
        self.tf_first = 0

    def add(self, frame: AlignedFrame) -> None:
        chunk, offset = divmod(frame.index, self._plan.chunk_size)
        if offset == 0:
            self._start_chunk(chunk)
        self._faults.check_picks(frame)
        self._add_lowdim(frame)
        for cam in self._roles.cameras:
            pick = frame.picks[cam.topic]
            image = self._depth_of[cam.topic](pick.payload) if cam.is_depth else self._image(cam.topic, pick.payload)
            self._workers[cam.name].submit(
                FrameJob(
                    image=image,
                    in_bag_sample=frame.index in self._bag_samples,
                    in_chunk_sample=offset in self._chunk_samples,
                    describe=f"{self._where}: {cam.topic} message at {pick.time_ns} ns",
                    repeat_bad=self._faults.repeat_bad_frames,
                )
            )
        if offset + 1 == self._plan.chunk_frames(chunk):
            self._finish_chunk(chunk)
        elif self._pending:
            self._collect(block=False)

    def _add_lowdim(self, frame: AlignedFrame) -> None:
        msgs = {
            topic: self._faults.message(topic, frame.picks[topic], self._decoder(topic, frame.picks[topic]))
            for topic in self._roles.lowdim
        }
        msgs.update({key: table[frame.index - self.tf_first] for key, table in self.tf_values.items()})
        try:
            state, action = self._extractor.state_and_action(self._roles, msgs, frame.between)
        except (IndexError, ValueError, AttributeError, TypeError) as exc:
            raise UserError(
                f"{self._where}: frame at {frame.target_ns} ns: messages do not fit the profile ({exc}); "
                "check the profile against the bag with `spill2lerobot inspect`"
            ) from None
        self._states.append(state)
        self._actions.append(action)
        # Keep only what the shard needs: holding the picks would keep every JPEG of the chunk.
        self._rows.append((frame.index, frame.target_ns, [frame.picks[t].time_ns for t in self._roles.all]))

    def _decoder(self, topic: str, pick: Pick) -> Any:
        return lambda: decode_pick(self._bag, pick, self._msgtypes[topic])

    def close(self) -> None:
        for worker in self._workers.values():
            worker.stop()

    def _image(self, topic: str, payload: bytes | memoryview) -> bytes | RawImage:
        """The picture bytes of a camera message; a raw encoding no colour camera can show is an error."""
        try:
            image = self._image_of[topic](payload)
        except ValueError:
            return b""  # a message cut short: an undecodable image, handled by on_bad_frame
        images.check_image(image, f"{self._where}: {topic}")
        return image

    def _start_chunk(self, chunk: int) -> None:
        self._faults.start_chunk()
        self._chunk_samples = set(sample_indices(self._plan.chunk_frames(chunk)).tolist())
        self._rows, self._states, self._actions = [], [], []
        for name, worker in self._workers.items():
            worker.submit(StartSegment(self._target.layout.segment(self._target.entry.id, chunk, name)))

    def _finish_chunk(self, chunk: int) -> None:
        """The chunk's frames are all sent: close its segments, write its shard. Its journal line
        follows once every camera has finished (see _collect); meanwhile the next chunk flows."""
        for worker in self._workers.values():
            worker.submit(EndSegment())
        layout, bag_id = self._target.layout, self._target.entry.id
        write_shard(layout.shard(bag_id, chunk), self._rows, self._states, self._actions, self._roles.all)
        entry = self._index.entry(self._plan, chunk)
        stamp_counts = self.stamps.take(chunk) if self.stamps is not None else {}
        self._pending.append(_Sent(entry, self._faults.take(stamp_counts)))
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
            self._journal_chunk(self._pending.popleft(), results)

    def _journal_chunk(self, sent: _Sent, results: dict[str, SegmentResult]) -> None:
        entry, target = sent.entry, self._target
        stats = ChunkStats(
            chunk=entry.chunk,
            frames=entry.frames,
            cameras={name: camera_stats(result) for name, result in results.items()},
            faults=sent.faults,
        )
        for name, result in results.items():
            journal.write_samples(target.layout, target.entry.id, entry.chunk, name, result.bag_pixels)
        journal.write_chunk_stats(target.layout, target.entry.id, stats)  # the unit's commit
        self._committed(entry)
        self.chunks_written += 1
        target.position.chunk = min(entry.chunk + 2, self._plan.chunks)
        self._frames_done += entry.frames
        rate = self._frames_done / max(1e-9, time.monotonic() - self._started)
        remaining = self._plan.frames - (entry.first_frame + entry.frames)
        eta = remaining / rate if rate > 0 else 0.0
        display = target.position.display
        if display is not None:
            display.advance(entry.frames, self._bag.bytes_read)
        else:
            target.progress(
                f"{target.entry.name}: chunk {entry.chunk + 1}/{self._plan.chunks}, {rate:.1f} frames/s, "
                f"ETA {_hms(eta)}"
            )


def encoder_settings(profile: Profile, encoders: int) -> EncoderSettings:
    """The cameras' encoder settings, for one of ``encoders`` running at once: SVT-AV1 gets
    ``video.encoder_threads`` threads, or its share of the cores (``sharing_cores``)."""
    settings = EncoderSettings.from_profile(profile)
    threads = profile.video.encoder_threads
    if threads is not None and settings.codec == "libsvtav1":
        return replace(settings, svt_threads=threads)
    return settings.sharing_cores(encoders)


def camera_stats(result: SegmentResult) -> CameraStats:
    """A camera's record in chunk-NNNNN.stats.json."""
    return CameraStats.model_validate(
        {
            "frames": result.frames,
            "bag_samples": result.bag_samples,
            "bag_counts": counts_json(result.bag_counts),
            "chunk_samples": result.chunk_samples,
            "chunk_counts": counts_json(result.chunk_counts),
            "bag_moments": None,  # merge adds the chunks' samples files up (no sums cross chunks)
            "chunk_moments": result.chunk_moments.state(),
            "bad_frames": result.bad_frames,
            "filled_frames": result.filled_frames,
        }
    )


def image_cutter(bag: Bag, msgtype: str) -> ImageCutter:
    """What a colour camera worker needs of one message: ROS1 payloads are cut here, ROS2 (CDR)
    CompressedImages by the bag."""
    if hasattr(type(bag), "image_of"):
        return bag.image_of(msgtype)
    if bag.serialization == "cdr":  # until every bag reader offers image_of
        cut: ImageCutter = getattr(bag, "compressed_image_data")  # noqa: B009
        return cut
    return image_of(msgtype)


def _hms(seconds: float) -> str:
    whole = int(seconds)
    return f"{whole // 3600}:{whole // 60 % 60:02d}:{whole % 60:02d}"
