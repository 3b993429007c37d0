"""Depth cameras: decoding, lerobot 0.6.1's depth quantisation and encoder, statistics.

Two forms (profile ``dataset.depth_mode``):

- ``native``: lerobot's depth video feature. Depth in millimetres (uint16) is quantised to 12-bit
  codes with lerobot's ``quantize_depth`` (log scale, ``DepthEncoderConfig`` defaults) and encoded
  with its depth encoder settings (HEVC, ``gray12le``, x265 lossless), so lerobot decodes the
  millimetres back within its quantisation error. Statistics are lerobot's, in millimetres
  (not divided by 255), from exact value counts of the sampled frames.
- ``rgb8``: the original converter's picture: depth clipped to ``depth_range``, stretched per
  frame from its own min to its own max onto 0..255 (truncated to uint8), repeated over three
  channels, and then treated exactly like a colour camera.

Inputs: ``sensor_msgs/CompressedImage`` compressedDepth (a 12-byte header, then a 16-bit PNG of
millimetres) and raw ``sensor_msgs/Image`` 16UC1 (millimetres) or 32FC1 (metres, converted to
whole millimetres; non-finite or non-positive values become 0, "no reading").
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass
from functools import cache

import av
import numpy as np

from spill2lerobot.errors import UserError
from spill2lerobot.kuavo import DEPTH_TOPICS, Camera, depth_camera_names
from spill2lerobot.profile import Profile, image_pixel_limit
from spill2lerobot.spill.cameras import CameraWorker, FrameJob, SegmentResult
from spill2lerobot.spill.images import check_pixels, decoder_pixel_limit, png_size
from spill2lerobot.spill.video import EncoderSettings, SegmentWriter, to_encoder_frame
from spill2lerobot.stats import (
    QUANTILE_KEYS,
    QUANTILES,
    Stats,
    _edges,
    _quantile_from_histogram,
    downsample_for_stats,
)

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
DEPTH_QMAX = 4095  # 12-bit codes
DEPTH_UNIT = "mm"  # what native depth features store (lerobot infers "mm" from uint16 frames)
VALUES = 65536  # uint16 millimetres: value counts per sampled frame set are exact and bounded

MM_PER_METRE = 1000.0
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


# --- decoding -------------------------------------------------------------------------------


class DepthDecoder:
    """compressedDepth PNG or raw ``sensor_msgs/Image`` payload -> uint16 millimetres (HxW).

    ``max_pixels``: an image with more pixels (read from its header, before decoding) is refused
    with ValueError, like a malformed one; None: no limit.
    """

    @classmethod
    def decode_message(cls, payload: bytes | memoryview, raw: bool, max_pixels: int | None = None) -> np.ndarray:
        """A serialized depth message: ``sensor_msgs/Image`` (``raw``) or compressedDepth
        ``sensor_msgs/CompressedImage``. A malformed one raises ValueError."""
        try:
            if raw:
                return cls.decode_raw(payload, max_pixels)
            fmt, data = _compressed_image_fields(payload)
            return cls.decode_compressed(data, fmt, max_pixels)
        except (IndexError, struct.error, UnicodeError) as exc:
            raise ValueError(f"malformed depth message ({type(exc).__name__})") from None

    @staticmethod
    def decode_compressed(
        data: bytes, fmt: str = "16UC1; compressedDepth png", max_pixels: int | None = None
    ) -> np.ndarray:
        """The ``data`` of a compressedDepth CompressedImage: the PNG after its config header
        (found by its signature, like the original). 16UC1: millimetres. 32FC1 (``fmt`` starts
        with it): the PNG holds quantised inverse depth, decoded as compressed_depth_image_transport
        does (``depthQuantA / (v - depthQuantB)`` metres, 0 = no reading)."""
        start = data.find(PNG_MAGIC)
        if start < 0:
            raise ValueError("no PNG image in the compressedDepth data")
        # A fresh decoder per image: FFmpeg's PNG decoder, reused, carries state from the
        # previous picture into the next one (16-bit images come out as running sums).
        png = av.CodecContext.create("png", "r")
        if max_pixels is not None:
            check_pixels(*png_size(data[start : start + 24]), max_pixels)
            png.options = {"max_pixels": str(decoder_pixel_limit(max_pixels))}
        frames = png.decode(av.Packet(data[start:])) or png.decode(None)
        if not frames:
            raise ValueError("the PNG decoder returned no picture")
        frame = frames[0]
        if frame.format.name not in ("gray16be", "gray16le", "gray"):
            raise ValueError(f"compressedDepth PNG is {frame.format.name}, expected 16-bit grey")
        values = frame.to_ndarray().astype(np.uint16, copy=False)
        if not fmt.strip().startswith("32FC1"):
            return values
        quant_a, quant_b = struct.unpack_from("<ff", data, 4)  # ConfigHeader: int32 format, float depthParam[2]
        with np.errstate(divide="ignore", invalid="ignore"):
            metres = np.float32(quant_a) / (values.astype(np.float32) - np.float32(quant_b))
        return metres_to_mm(np.where(values == 0, np.nan, metres))

    @staticmethod
    def decode_raw(payload: bytes | memoryview, max_pixels: int | None = None) -> np.ndarray:
        """A serialized ``sensor_msgs/Image`` (16UC1/mono16 mm or 32FC1 m), rows padded to ``step``."""
        view = memoryview(payload)
        pos = 12  # header: seq u32, stamp (2 x u32)
        pos += 4 + int.from_bytes(view[pos : pos + 4], "little")  # frame_id
        height = int.from_bytes(view[pos : pos + 4], "little")
        width = int.from_bytes(view[pos + 4 : pos + 8], "little")
        pos += 8
        size = int.from_bytes(view[pos : pos + 4], "little")
        encoding = bytes(view[pos + 4 : pos + 4 + size]).decode("ascii", "replace")
        pos += 4 + size
        bigendian = view[pos] != 0
        step = int.from_bytes(view[pos + 1 : pos + 5], "little")
        size = int.from_bytes(view[pos + 5 : pos + 9], "little")
        data = view[pos + 9 : pos + 9 + size]
        kinds = {"16UC1": "u2", "mono16": "u2", "32FC1": "f4"}
        if encoding not in kinds:
            raise ValueError(f"depth image encoding {encoding[:60]!r} is not 16UC1, mono16 or 32FC1")
        if max_pixels is not None:
            check_pixels(width, height, max_pixels)
        dtype = np.dtype(kinds[encoding]).newbyteorder(">" if bigendian else "<")
        row = width * dtype.itemsize
        if height == 0 or width == 0 or step < row or len(data) < step * (height - 1) + row:
            raise ValueError(f"depth image {width}x{height} step {step} does not fit its {len(data)} bytes")
        rows = np.lib.stride_tricks.as_strided(
            np.frombuffer(data, np.uint8), shape=(height, row), strides=(step, 1), writeable=False
        )
        pixels = np.ascontiguousarray(rows).view(dtype).reshape(height, width)
        if dtype.kind == "u":
            return pixels.astype(np.uint16)
        return metres_to_mm(pixels)


def _compressed_image_fields(payload: bytes | memoryview) -> tuple[str, bytes]:
    """``format`` and ``data`` of a serialized ``sensor_msgs/CompressedImage``."""
    view = memoryview(payload)
    pos = 12  # header: seq u32, stamp (2 x u32)
    pos += 4 + int.from_bytes(view[pos : pos + 4], "little")  # frame_id
    size = int.from_bytes(view[pos : pos + 4], "little")
    fmt = bytes(view[pos + 4 : pos + 4 + size]).decode("ascii", "replace")
    pos += 4 + size
    size = int.from_bytes(view[pos : pos + 4], "little")
    if pos + 4 + size > len(view):
        raise ValueError("compressedDepth message shorter than its data")
    return fmt, bytes(view[pos + 4 : pos + 4 + size])


def metres_to_mm(metres: np.ndarray) -> np.ndarray:
    """float metres -> uint16 whole millimetres; non-finite or non-positive -> 0 (no reading)."""
    mm = np.asarray(metres, dtype=np.float64) * 1000.0
    valid = np.isfinite(mm) & (mm > 0)
    return np.where(valid, np.rint(np.clip(np.where(valid, mm, 0), 0, VALUES - 1)), 0).astype(np.uint16)


def resize_nearest(depth: np.ndarray, width: int, height: int) -> np.ndarray:
    """Nearest-neighbour resize like the original's ``cv2.resize(..., INTER_NEAREST)``."""
    src_h, src_w = depth.shape
    if (src_w, src_h) == (width, height):
        return depth
    ys = np.minimum(np.floor(np.arange(height) * (src_h / height)).astype(np.int64), src_h - 1)
    xs = np.minimum(np.floor(np.arange(width) * (src_w / width)).astype(np.int64), src_w - 1)
    return depth[ys[:, None], xs[None, :]]


# --- the two forms ---------------------------------------------------------------------------


def rgb8_form(depth_mm: np.ndarray, depth_range: list[int]) -> np.ndarray:
    """The original converter's 8-bit, 3-channel picture of a uint16 depth image."""
    clipped = np.clip(depth_mm, depth_range[0], depth_range[1]).astype(np.uint16)
    lo, hi = clipped.min(), clipped.max()
    normalized = (clipped - lo) / (hi - lo + 1e-9)
    return np.repeat((normalized * 255).astype(np.uint8)[..., np.newaxis], 3, axis=-1)


@cache
def quantize_table() -> np.ndarray:
    """12-bit code of every uint16 millimetre value, computed exactly as lerobot 0.6.1's
    ``quantize_depth`` does for uint16 input (float32 arithmetic, log scale, in millimetres)."""
    depth_f = np.arange(VALUES, dtype=np.uint16).astype(np.float32)
    depth_min_u = np.float32(DEPTH_MIN_M * 1000.0)
    depth_max_u = np.float32(DEPTH_MAX_M * 1000.0)
    shift_u = np.float32(DEPTH_SHIFT_M * 1000.0)
    log_min = math.log(float(depth_min_u + shift_u))
    log_max = math.log(float(depth_max_u + shift_u))
    norm = (np.log(depth_f + shift_u) - log_min) / (log_max - log_min)
    table = np.rint(norm * DEPTH_QMAX).clip(0, DEPTH_QMAX).astype(np.uint16)
    table.flags.writeable = False
    return table


def dequantize_mm(codes: np.ndarray) -> np.ndarray:
    """12-bit codes -> millimetres (float32), as lerobot 0.6.1's ``dequantize_depth`` computes
    them (numpy path: scale in float64 into a float32 buffer, then float32 arithmetic)."""
    log_min = math.log(DEPTH_MIN_M + DEPTH_SHIFT_M)
    log_max = math.log(DEPTH_MAX_M + DEPTH_SHIFT_M)
    buf = (np.asarray(codes) * ((log_max - log_min) / DEPTH_QMAX)).astype(np.float32)
    buf = np.exp(buf + log_min) - DEPTH_SHIFT_M
    buf = np.clip(buf, DEPTH_MIN_M, DEPTH_MAX_M) * MM_PER_METRE
    return np.clip(np.rint(buf), 0.0, VALUES - 1).astype(np.float32)


def native_frame(depth_mm: np.ndarray) -> av.VideoFrame:
    """The ``gray12le`` frame of a depth image, as lerobot's writer builds it."""
    codes = quantize_table()[depth_mm]
    frame = av.VideoFrame.from_ndarray(codes, format=DEPTH_PIX_FMT)
    plane = frame.planes[0]
    height, width = codes.shape
    stride = plane.line_size // 2
    np.frombuffer(plane, dtype=np.uint16).reshape(height, stride)[:, :width] = codes
    return frame


# --- encoder settings and feature info ------------------------------------------------------


@dataclass(frozen=True)
class DepthEncoderSettings(EncoderSettings):
    """lerobot 0.6.1's default depth encoder (``DepthEncoderConfig()``) at the dataset's size/fps."""

    @classmethod
    def for_profile(cls, profile: Profile) -> DepthEncoderSettings:
        return cls(
            codec=DEPTH_CODEC,
            pix_fmt=DEPTH_PIX_FMT,
            g=DEPTH_G,
            crf=DEPTH_CRF,
            preset=None,
            fast_decode=0,
            fps=profile.dataset.train_hz,
            width=profile.dataset.resize.width,
            height=profile.dataset.resize.height,
        )

    def codec_options(self) -> dict[str, str]:
        """What ``DepthEncoderConfig().get_codec_options(as_strings=True)`` gives for hevc, plus
        x265's log level: it prints ~20 lines per segment otherwise. That changes only the options
        text x265 records in its info SEI; the coded pictures are the same."""
        x265 = f"{DEPTH_EXTRA_OPTIONS['x265-params']}:log-level=error"
        return {"g": str(self.g), "crf": str(self.crf), "x265-params": x265}

    def video_info(self) -> dict:
        """``features[key]["info"]`` of a depth feature, as lerobot 0.6.1 writes it."""
        return {
            "is_depth_map": True,
            "depth_unit": DEPTH_UNIT,
            "video.height": self.height,
            "video.width": self.width,
            "video.codec": "hevc",
            "video.pix_fmt": self.pix_fmt,
            "video.fps": self.fps,
            "video.channels": 1,
            "has_audio": False,
            "video.g": self.g,
            "video.crf": self.crf,
            "video.preset": None,
            "video.fast_decode": 0,
            "video.video_backend": "pyav",
            "video.extra_options": dict(DEPTH_EXTRA_OPTIONS),
            "video.depth_min": DEPTH_MIN_M,
            "video.depth_max": DEPTH_MAX_M,
            "video.shift": DEPTH_SHIFT_M,
            "video.use_log": DEPTH_USE_LOG,
        }


def depth_feature(profile: Profile) -> dict:
    """info.json feature of a depth camera in the profile's ``depth_mode``."""
    rgb8 = profile.dataset.depth_mode == "rgb8"
    settings = EncoderSettings.from_profile(profile) if rgb8 else DepthEncoderSettings.for_profile(profile)
    return {
        "dtype": "video",
        "shape": [settings.height, settings.width, 3 if rgb8 else 1],
        "names": ["height", "width", "channels"],
        "info": settings.video_info(),
    }


# --- the camera worker ------------------------------------------------------------------------


class DepthWorker(CameraWorker):
    """A camera worker for a depth topic: decode, resize (nearest), encode in the profile's form."""

    def __init__(
        self, camera: Camera, profile: Profile, colour: EncoderSettings, bag_moments: dict | None = None
    ) -> None:
        """``colour``: the colour cameras' encoder settings (the rgb8 form is encoded with them)."""
        self._raw = camera.kind == "depth_raw"
        self._native = profile.dataset.depth_mode == "native"
        self._depth_range = list(profile.dataset.depth_range)
        self._colour = colour
        self._decoder_depth = DepthDecoder()
        settings = DepthEncoderSettings.for_profile(profile) if self._native else self._colour
        super().__init__(camera.name, settings, bag_moments, image_pixel_limit(profile))

    def _encode(self, job: FrameJob, decoder, writer: SegmentWriter, result: SegmentResult) -> None:
        size = self._colour.width, self._colour.height
        try:
            depth = resize_nearest(self._decoder_depth.decode_message(job.image, self._raw, self._max_pixels), *size)
        except (ValueError, OSError, av.FFmpegError) as exc:
            # no good depth yet in this chunk: zero (no reading)
            depth = self._stand_in(job, exc, result, "depth image", lambda: np.zeros((size[1], size[0]), np.uint16))
        else:
            self._last_good = depth
        if self._native:
            if job.in_bag_sample or job.in_chunk_sample:
                counts = np.bincount(downsample_for_stats(depth).ravel(), minlength=VALUES)[None, :]
                if result.bag_counts.shape != counts.shape:  # a new segment's result
                    result.bag_counts = np.zeros_like(counts, dtype=np.int64)
                    result.chunk_counts = np.zeros_like(counts, dtype=np.int64)
                if job.in_bag_sample:
                    result.bag_counts += counts
                    result.bag_samples += 1
                if job.in_chunk_sample:
                    result.chunk_counts += counts
                    result.chunk_samples += 1
            writer.write(native_frame(depth))
            return
        rgb = rgb8_form(depth, self._depth_range)
        if job.in_bag_sample or job.in_chunk_sample:  # exactly as a colour camera's picture
            self._count_sample(job, result, rgb)
        writer.write(to_encoder_frame(av.VideoFrame.from_ndarray(rgb, format="rgb24"), self._colour))


def make_worker(
    camera: Camera, profile: Profile, settings: EncoderSettings, bag_moments: dict | None = None
) -> CameraWorker:
    """``bag_moments``: the camera's carried pixel sums when a bag is resumed (see stats.PixelMoments).
    Images over the profile's pixel limit (``image_pixel_limit``) are bad frames, never decoded."""
    if camera.is_depth:
        return DepthWorker(camera, profile, settings, bag_moments)
    return CameraWorker(camera.name, settings, bag_moments, image_pixel_limit(profile))


# --- statistics -------------------------------------------------------------------------------


def counts_json(counts: np.ndarray) -> list | dict:
    """Value counts for chunk-NNNNN.stats.json: colour (C, 256) as lists; depth (1, 65536)
    sparsely, ``{"values": [...], "counts": [...]}`` of the values present."""
    counts = np.asarray(counts)
    if counts.shape[-1] != VALUES:
        return counts.tolist()
    values = np.nonzero(counts[0])[0]
    return {"values": values.tolist(), "counts": counts[0, values].tolist()}


def add_depth_counts(total: np.ndarray, stored) -> None:
    """Add a chunk's stored depth counts (sparse, or the colour layout when it had no sample)."""
    if isinstance(stored, dict):
        np.add.at(total, np.asarray(stored["values"], dtype=np.int64), np.asarray(stored["counts"], dtype=np.int64))


def depth_stats_from_counts(counts: np.ndarray, num_frames: int) -> Stats:
    """lerobot's statistics of a depth feature, in millimetres, shape (1, 1, 1), from the value
    counts of its sampled frames' stats pixels (``compute_episode_stats``: no division by 255)."""
    values = np.nonzero(counts)[0]
    weights = counts[values].astype(np.float64)
    vals = values.astype(np.float64)
    total = weights.sum()
    lo, hi = float(vals[0]), float(vals[-1])
    mean = float((vals * weights).sum() / total)
    meansq = float((vals**2 * weights).sum() / total)
    stats: Stats = {
        "min": lo,
        "max": hi,
        "mean": mean,
        "std": float(np.sqrt(max(0.0, meansq - mean**2))),
    }
    edges = _edges(lo, hi)
    hist = np.histogram(vals, bins=edges, weights=weights)[0]
    for q, key in zip(QUANTILES, QUANTILE_KEYS, strict=True):
        stats[key] = _quantile_from_histogram(hist, edges, q * total)
    out: Stats = {key: np.array(value, dtype=np.float64).reshape(1, 1, 1) for key, value in stats.items()}
    out["count"] = np.array([num_frames])
    return out


# --- which depth cameras a spill has -----------------------------------------------------------


def check_same_depth(layout, entry, plan, profile: Profile) -> None:
    """Stage 1's early form of the check merge makes: this bag's depth cameras against those of
    the bags already planned in this spill (use_depth auto with bags that differ)."""
    from spill2lerobot.spill import journal

    manifest = journal.read_manifest(layout)
    for other in manifest["bags"]:
        if other["id"] == entry.id:
            continue
        other_plan = journal.read_plan(layout, other["id"])
        if other_plan is not None:
            spill_depth_cameras(profile, [entry, _Named(other["path"])], [plan, other_plan])


@dataclass(frozen=True)
class _Named:
    path: str


def spill_depth_cameras(profile: Profile, bags: list, plans: list) -> list[Camera]:
    """The depth cameras of the dataset: those every bag's plan has. With ``use_depth: auto``
    bags may differ (some have depth topics, some not): that is refused, naming two such bags."""
    names = depth_camera_names(profile)
    per_bag = []
    for plan in plans:
        topics = set(plan.topics)
        per_bag.append(tuple(n for n in names if DEPTH_TOPICS[n][0] in topics or DEPTH_TOPICS[n][1] in topics))
    if not per_bag:
        return []
    if any(found != per_bag[0] for found in per_bag):
        with_depth = next(bag for bag, found in zip(bags, per_bag, strict=True) if found)
        without = next(bag for bag, found in zip(bags, per_bag, strict=True) if not found)
        raise UserError(
            f"{with_depth.path} has depth topics and {without.path} has not; one dataset needs the same "
            "features in every episode: set dataset.use_depth=false, or leave out the bags without depth"
        )
    return [Camera(name, DEPTH_TOPICS[name][0], "depth_png") for name in per_bag[0]]
