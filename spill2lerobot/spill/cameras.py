"""One worker thread per camera: decode the selected JPEGs, encode them into the chunk's segment.

FFmpeg releases the GIL while decoding and encoding, so cameras run in parallel with each other
and with the bag reader. Queues are bounded: a slow encoder makes the reader wait (back-pressure);
a frame is never dropped.
"""

from __future__ import annotations

import contextlib
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import av
import numpy as np
from numpy.typing import NDArray

from spill2lerobot.bag.wire import CompressedPayload, RawImage
from spill2lerobot.spill.images import ImageDecoder
from spill2lerobot.spill.video import (
    EncoderSettings,
    SegmentWriter,
    to_encoder_frame,
    to_rgb_frame,
)
from spill2lerobot.stats import PixelMoments, channel_value_counts, stats_pixels

QUEUE_FRAMES = 64  # per camera; deep enough to ride out the encoders' bursts (~4 MB of JPEG each)


@dataclass
class FrameJob:
    image: bytes | RawImage | CompressedPayload  # compressed bytes or a raw image (spill/images.py); depth: DepthCut
    in_bag_sample: bool  # the frame is one lerobot samples for the bag-episode's image stats
    in_chunk_sample: bool  # ... for the chunk-episode's image stats
    describe: str  # "bag.bag, /topic at t=..." for error messages
    repeat_bad: bool  # on_bad_frame: repeat (else an undecodable image is an error)


@dataclass
class StartSegment:
    path: Path


@dataclass
class EndSegment:
    pass


@dataclass
class SegmentResult:
    frames: int
    bag_samples: int = 0
    bag_counts: NDArray[Any] = field(default_factory=lambda: np.zeros((3, 256), dtype=np.int64))
    chunk_samples: int = 0
    chunk_counts: NDArray[Any] = field(default_factory=lambda: np.zeros((3, 256), dtype=np.int64))
    # the statistics pixels (``stats_pixels``) of the frames a bag episode samples, in order: merge
    # adds them after the previous chunks' to get lerobot's float32 sums (no state crosses chunks)
    bag_pixels: list[NDArray[Any]] = field(default_factory=list)
    chunk_moments: PixelMoments = field(default_factory=PixelMoments)
    bad_frames: int = 0  # undecodable images replaced by the previous good one
    filled_frames: int = 0  # ... of which had no good one before them in the chunk (mid-grey)


class BadImage(ValueError):
    """An undecodable image with on_bad_frame=error."""


def grey_frame(settings: EncoderSettings) -> av.VideoFrame:
    return av.VideoFrame.from_ndarray(np.full((settings.height, settings.width, 3), 128, np.uint8), format="rgb24")


class CameraFailed(Exception):
    """Raised in the main thread when a camera worker failed; carries the worker's error."""


class CameraWorker:
    def __init__(
        self,
        name: str,
        settings: EncoderSettings,
        max_pixels: int | None = None,
        inline: bool = False,
    ) -> None:
        """``max_pixels``: larger source images are bad frames, refused from their headers (no limit: None).
        ``inline``: no thread of its own; each job is done in ``submit``, on the caller's thread
        (``video.single_thread``: a unit then uses one core, what a Ray task asks for)."""
        self.name = name
        self._settings = settings
        self._max_pixels = max_pixels
        self._jobs: queue.Queue[StartSegment | FrameJob | EndSegment | None] = queue.Queue(maxsize=QUEUE_FRAMES)
        self._results: queue.Queue[SegmentResult] = queue.Queue()
        self._error: BaseException | None = None
        self._last_good: Any = None  # the chunk's last good picture (a frame, or depth values)
        self._decoder = ImageDecoder(max_pixels)
        self._writer: SegmentWriter | None = None
        self._result = SegmentResult(0)
        self._inline = inline
        self._thread = threading.Thread(target=self._run, name=f"camera-{name}", daemon=True)
        if not inline:
            self._thread.start()

    # --- main-thread side ---
    def submit(self, job: StartSegment | FrameJob | EndSegment | None) -> None:
        if self._inline:
            self._raise_if_failed()
            try:
                self._handle(job)
            except Exception as exc:  # reported like a worker thread's error
                self._failed(exc)
                self._raise_if_failed()
            return
        while True:
            self._raise_if_failed()
            try:
                self._jobs.put(job, timeout=0.2)
                return
            except queue.Full:
                continue

    def wait_segment(self) -> SegmentResult:
        while True:
            self._raise_if_failed()
            try:
                return self._results.get(timeout=0.2)
            except queue.Empty:
                continue

    def poll_segment(self) -> SegmentResult | None:
        """A finished segment's result if one is ready, else None (never blocks)."""
        self._raise_if_failed()
        try:
            return self._results.get_nowait()
        except queue.Empty:
            return None

    def stop(self) -> None:
        """Ask the worker to end (aborting an open segment) and wait for it."""
        if self._inline:
            self._handle(None)
        elif self._thread.is_alive():
            with contextlib.suppress(queue.Full):
                self._jobs.put(None, timeout=5)
            self._thread.join(timeout=30)

    def _raise_if_failed(self) -> None:
        if self._error is not None:
            raise CameraFailed(str(self._error)) from self._error

    # --- worker side ---
    def _run(self) -> None:
        try:
            while self._handle(self._jobs.get()):
                pass
        except BaseException as exc:  # handed to the main thread, which reports it
            self._failed(exc)

    def _failed(self, exc: BaseException) -> None:
        self._error = exc
        if self._writer is not None:
            self._writer.abort()
            self._writer = None

    def _handle(self, job: StartSegment | FrameJob | EndSegment | None) -> bool:
        """One job; False once stopped."""
        if job is None:  # stop: drop an unfinished segment (its tmp file is removed)
            if self._writer is not None:
                self._writer.abort()
                self._writer = None
            return False
        if isinstance(job, StartSegment):
            self._writer, self._result = SegmentWriter(job.path, self._settings), SegmentResult(0)
            self._last_good = None  # repeat only within a chunk: resumed runs see the same
        elif isinstance(job, EndSegment):
            assert self._writer is not None, "EndSegment without StartSegment"
            self._result.frames = self._writer.close()
            self._results.put(self._result)
            self._writer = None
        else:
            assert self._writer is not None, "a frame without StartSegment"
            self._encode(job, self._decoder, self._writer, self._result)
        return True

    def _encode(self, job: FrameJob, decoder: ImageDecoder, writer: SegmentWriter, result: SegmentResult) -> None:
        try:
            colour = cast(bytes | RawImage, job.image)  # a colour job never holds a CompressedPayload
            rgb = to_rgb_frame(decoder.decode(colour), self._settings)
        except (ValueError, OSError, av.FFmpegError) as exc:
            # no good picture yet in this chunk: mid-grey
            rgb = self._stand_in(job, exc, result, "image", lambda: grey_frame(self._settings))
        else:
            self._last_good = rgb
        if job.in_bag_sample or job.in_chunk_sample:
            self._count_sample(job, result, rgb.to_ndarray())
        writer.write(to_encoder_frame(rgb, self._settings))

    def _stand_in(
        self, job: FrameJob, exc: Exception, result: SegmentResult, what: str, fill: Callable[[], Any]
    ) -> Any:
        """An undecodable picture: an error, or (on_bad_frame=repeat) the previous good one of the
        chunk, else ``fill()``; both counted."""
        if not job.repeat_bad:
            message = f"{job.describe}: cannot decode {what} ({exc}); set faults.on_bad_frame=repeat to go on"
            raise BadImage(message) from None
        result.bad_frames += 1
        if self._last_good is None:
            result.filled_frames += 1
            return fill()
        return self._last_good

    def _count_sample(self, job: FrameJob, result: SegmentResult, pixels: NDArray[Any]) -> None:
        """Image statistics of a frame lerobot samples (HxWx3 uint8): value counts and float32 sums."""
        counts = channel_value_counts(pixels)
        if job.in_bag_sample:
            result.bag_counts += counts
            result.bag_samples += 1
            result.bag_pixels.append(stats_pixels(pixels).copy())
        if job.in_chunk_sample:
            result.chunk_counts += counts
            result.chunk_samples += 1
            result.chunk_moments.add(pixels)
