"""Video: JPEG decoding and per-chunk segment encoding with the dataset's final settings.

Segments are later joined by remuxing (no re-encode), which is only valid when every segment
shares the same encoder settings and each starts at pts 0 with a keyframe: one encoder per
segment, frame k of a segment at pts k in units of 1/fps.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass, replace
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from av.video.frame import PictureType

from spill2lerobot.fsutil import commit, release_freed_memory, tmp_path
from spill2lerobot.profile import Profile

LEROBOT_CODEC_NAMES = {"libsvtav1": "av1", "libx264": "h264"}  # what lerobot's info.json shows
SVTAV1_DEFAULT_PRESET = 12


@dataclass(frozen=True)
class EncoderSettings:
    codec: str
    pix_fmt: str
    g: int
    crf: int
    preset: int | str | None
    fast_decode: int
    fps: int
    width: int
    height: int
    # SVT-AV1's thread budget (its ``lp``); None: the encoder's own choice. Not a dataset
    # setting: SVT-AV1 writes the same video for any value (tests/test_video_threads.py).
    svt_threads: int | None = None

    @classmethod
    def from_profile(cls, profile: Profile) -> EncoderSettings:
        video = profile.video
        preset = video.preset
        if preset is None and video.codec == "libsvtav1":
            preset = SVTAV1_DEFAULT_PRESET
        return cls(
            codec=video.codec,
            pix_fmt=video.pix_fmt,
            g=video.g,
            crf=video.crf,
            preset=preset,
            fast_decode=video.fast_decode,
            fps=profile.dataset.train_hz,
            width=profile.dataset.resize.width,
            height=profile.dataset.resize.height,
        )

    def codec_options(self) -> dict[str, str]:
        """The options lerobot 0.6.1 passes for the same settings."""
        options = {"g": str(self.g), "crf": str(self.crf)}
        if self.preset is not None:
            options["preset"] = str(self.preset)
        if self.codec == "libsvtav1":
            options["svtav1-params"] = f"fast-decode={max(0, min(2, self.fast_decode))}"
            if self.svt_threads is not None:
                options["svtav1-params"] += f":lp={self.svt_threads}"
        elif self.fast_decode:
            options["tune"] = "fastdecode"
        return options

    def sharing_cores(self, encoders: int) -> EncoderSettings:
        """These settings for one of ``encoders`` encoders running at once (cameras x parallel bags).

        Left alone, each SVT-AV1 encoder sizes its threads and its pictures in flight for the
        whole machine; several of them then oversubscribe the cores and hold more memory. Each
        gets its share of the cores instead (at least one): measured on 2 cores with 3 cameras at
        640x480, 4-7% faster, and long bags settle ~60 MB lower. libx264 is left alone: its
        thread count changes its output.
        """
        if self.codec != "libsvtav1":
            return self
        return replace(self, svt_threads=max(1, available_cores() // max(1, encoders)))

    def video_info(self) -> dict:
        """``features[key]["info"]`` of a video feature, as lerobot writes it."""
        return {
            "video.height": self.height,
            "video.width": self.width,
            "video.codec": LEROBOT_CODEC_NAMES[self.codec],
            "video.pix_fmt": self.pix_fmt,
            "video.fps": self.fps,
            "video.channels": 3,
            "has_audio": False,
            "video.g": self.g,
            "video.crf": self.crf,
            "video.preset": self.preset,
            "video.fast_decode": self.fast_decode,
            "video.video_backend": "pyav",
            "video.extra_options": {},
            "is_depth_map": False,
        }


def available_cores() -> int:
    """Cores this process may run on (a container's CPU set, not the whole machine's)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


class JpegDecoder:
    """Decodes compressed images (JPEG, or PNG) with FFmpeg; keeps YUV to skip an RGB pass.

    ``max_pixels``: FFmpeg's own limit on a picture's size (it refuses to allocate a bigger one).
    """

    def __init__(self, max_pixels: int | None = None) -> None:
        self._contexts: dict[str, av.CodecContext] = {}
        self._options = {} if max_pixels is None else {"max_pixels": str(max_pixels)}

    def decode(self, data: bytes) -> av.VideoFrame:
        codec = "png" if data[:4] == b"\x89PNG" else "mjpeg"
        context = self._contexts.get(codec)
        if context is None:
            context = self._contexts[codec] = av.CodecContext.create(codec, "r")
            if self._options:
                context.options = dict(self._options)
        frames = context.decode(av.Packet(data))
        if codec == "png":  # FFmpeg's png decoder carries state from one image into the next
            self._contexts.pop(codec, None)
        if not frames:
            frames = context.decode(None)  # some decoders only emit on flush
            self._contexts.pop(codec, None)
        if not frames:
            raise ValueError("the image decoder returned no picture")
        return frames[0]


def to_rgb_frame(frame: av.VideoFrame, settings: EncoderSettings) -> av.VideoFrame:
    """The dataset's RGB picture of a decoded image: resized bilinearly, like the original's
    cv2.resize. Statistics are computed on it, and it is what gets encoded."""
    return frame.reformat(width=settings.width, height=settings.height, format="rgb24", interpolation="BILINEAR")


def to_encoder_frame(rgb_frame: av.VideoFrame, settings: EncoderSettings) -> av.VideoFrame:
    """RGB -> the encoder's pixel format, as lerobot's writer converts the RGB frames it is given
    (so our video is the one lerobot would write for the same pictures)."""
    return rgb_frame.reformat(format=settings.pix_fmt)


def to_rgb(frame: av.VideoFrame, settings: EncoderSettings) -> np.ndarray:
    return to_rgb_frame(frame, settings).to_ndarray()


class SegmentWriter:
    """One MP4 segment: written under a temporary name, renamed only once complete."""

    def __init__(self, path: Path, settings: EncoderSettings) -> None:
        self.path = path
        self._tmp = tmp_path(path)
        self._settings = settings
        self._container = av.open(str(self._tmp), mode="w", format="mp4")
        stream = self._container.add_stream(settings.codec, rate=settings.fps, options=settings.codec_options())
        stream.width = settings.width
        stream.height = settings.height
        stream.pix_fmt = settings.pix_fmt
        stream.time_base = Fraction(1, settings.fps)
        self._stream = stream
        self.frames = 0

    def write(self, frame: av.VideoFrame) -> None:
        # A decoded JPEG is marked as an I picture and the encoder would honour that, making
        # every frame a keyframe; let the GOP setting (g) decide, as for lerobot's own frames.
        frame.pict_type = PictureType.NONE
        frame.pts = self.frames
        frame.time_base = Fraction(1, self._settings.fps)
        self._container.mux(self._stream.encode(frame))
        self.frames += 1

    def close(self) -> int:
        self._container.mux(self._stream.encode(None))
        self._container.close()
        commit(self._tmp, self.path)
        self._free_encoder()
        return self.frames

    def _free_encoder(self) -> None:
        # Drop the encoder now, not at some later garbage collection: the next segment's
        # encoder would otherwise be allocated while this one still holds its buffers.
        self._stream = self._container = None
        release_freed_memory()

    def abort(self) -> None:
        with contextlib.suppress(Exception):
            self._container.close()
        self._tmp.unlink(missing_ok=True)
        self._free_encoder()
