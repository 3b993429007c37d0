"""Encoder settings shared by stage 1 (which encodes) and merge (which describes the videos in
info.json): the colour cameras' from the profile, lerobot 0.6.1's for native depth."""

from __future__ import annotations

import os
from dataclasses import dataclass, replace

from spill2lerobot.profiles import Profile

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


def available_cores() -> int:
    """Cores this process may run on (a container's CPU set, not the whole machine's)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


# lerobot 0.6.1 lerobot/configs/video.py: DepthEncoderConfig defaults.
DEPTH_CODEC = "hevc"
DEPTH_PIX_FMT = "gray12le"
DEPTH_G = 2
DEPTH_CRF = 30
DEPTH_EXTRA_OPTIONS = {"x265-params": "lossless=1"}
DEPTH_MIN_M = 0.01
DEPTH_MAX_M = 10.0
DEPTH_SHIFT_M = 3.5
DEPTH_USE_LOG = True
DEPTH_X265_THREADS = 1
DEPTH_UNIT = "mm"  # what native depth features store (lerobot infers "mm" from uint16 frames)


@dataclass(frozen=True)
class DepthEncoderSettings(EncoderSettings):
    """lerobot 0.6.1's default depth encoder (``DepthEncoderConfig()``) at the dataset's size/fps."""

    @classmethod
    def for_profile(cls, profile: Profile) -> DepthEncoderSettings:
        """The preset is the profile's ``video.depth_preset`` (lossless: it changes the time and
        the size, never the decoded values)."""
        return cls(
            codec=DEPTH_CODEC,
            pix_fmt=DEPTH_PIX_FMT,
            g=DEPTH_G,
            crf=DEPTH_CRF,
            preset=profile.video.depth_preset,
            fast_decode=0,
            fps=profile.dataset.train_hz,
            width=profile.dataset.resize.width,
            height=profile.dataset.resize.height,
        )

    def codec_options(self) -> dict[str, str]:
        """What ``DepthEncoderConfig(preset=...).get_codec_options(as_strings=True)`` gives for
        hevc, plus two x265 parameters. ``log-level``: it prints ~20 lines per segment otherwise.
        ``pools=1``: one thread per depth encoder. x265 records its thread count in the stream, so
        a fixed count keeps a spill's bytes the same on any machine; the cameras (and --jobs)
        already keep the cores busy, and a 2-core machine gives each encoder less than one."""
        x265 = f"{DEPTH_EXTRA_OPTIONS['x265-params']}:log-level=error:pools={DEPTH_X265_THREADS}"
        options = {"g": str(self.g), "crf": str(self.crf), "x265-params": x265}
        if self.preset is not None:
            options["preset"] = str(self.preset)
        return options

    def sharing_cores(self, encoders: int) -> DepthEncoderSettings:
        """Depth encoders have a fixed thread count (see codec_options)."""
        return self
