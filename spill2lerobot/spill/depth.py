"""Depth images: decoding, and lerobot 0.6.1's depth quantisation (the worker: depth_worker.py).

Two forms (profile ``dataset.depth_mode``):

- ``native``: lerobot's depth video feature. Depth in millimetres (uint16) is quantised to 12-bit
  codes with lerobot's ``quantize_depth`` (log scale, ``DepthEncoderConfig`` defaults) and encoded
  with its depth encoder settings (HEVC, ``gray12le``, x265 lossless), so lerobot decodes the
  millimetres back within its quantisation error. Statistics are lerobot's, in millimetres
  (not divided by 255), from exact value counts of the sampled frames.
- ``rgb8``: the original converter's picture: depth clipped to ``depth_range``, stretched per
  frame from its own min to its own max onto 0..255 (truncated to uint8), repeated over three
  channels, and then treated exactly like a colour camera.

Inputs (ROS1 messages whole, CDR ones cut by ``bag.wire.depth_cutter``):
``sensor_msgs/CompressedImage`` compressedDepth (a 12-byte header, then a 16-bit PNG of
millimetres) and raw ``sensor_msgs/Image`` 16UC1 (millimetres) or 32FC1 (metres, converted to
whole millimetres; non-finite or non-positive values become 0, "no reading").
"""

from __future__ import annotations

import math
import struct
from functools import cache
from typing import Any

import av
import numpy as np
from numpy.typing import NDArray

from spill2lerobot.bag.wire import CompressedPayload, DepthCut, RawImage
from spill2lerobot.encoding import DEPTH_MAX_M, DEPTH_MIN_M, DEPTH_PIX_FMT, DEPTH_SHIFT_M
from spill2lerobot.spill.images import check_pixels, decoder_pixel_limit, png_size
from spill2lerobot.stats import DEPTH_VALUES

DEPTH_QMAX = 4095  # 12-bit codes
VALUES = DEPTH_VALUES

MM_PER_METRE = 1000.0
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


# --- decoding -------------------------------------------------------------------------------


class DepthDecoder:
    """compressedDepth PNG or raw ``sensor_msgs/Image`` payload -> uint16 millimetres (HxW).

    ``max_pixels``: an image with more pixels (read from its header, before decoding) is refused
    with ValueError, like a malformed one; None: no limit.
    """

    @classmethod
    def decode_message(cls, payload: bytes | memoryview, raw: bool, max_pixels: int | None = None) -> NDArray[Any]:
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
    ) -> NDArray[Any]:
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

    @classmethod
    def decode_cut(cls, image: DepthCut, raw: bool, max_pixels: int | None = None) -> NDArray[Any]:
        """What ``wire.depth_cutter`` cut out of a message: a whole ROS1 message (bytes, read as
        ``decode_message`` reads it), or the fields of a CDR one (b"": it was cut short)."""
        if isinstance(image, RawImage):
            return cls.decode_raw_image(image, max_pixels)
        if isinstance(image, CompressedPayload):
            return cls.decode_compressed(image.data, image.format, max_pixels)
        return cls.decode_message(image, raw, max_pixels)

    @classmethod
    def decode_raw(cls, payload: bytes | memoryview, max_pixels: int | None = None) -> NDArray[Any]:
        """A serialized ROS1 ``sensor_msgs/Image`` (16UC1/mono16 mm or 32FC1 m), rows padded to ``step``."""
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
        return cls.decode_raw_image(RawImage(width, height, encoding, step, data, bigendian), max_pixels)  # type: ignore[arg-type]  # a view: no copy

    @staticmethod
    def decode_raw_image(image: RawImage, max_pixels: int | None = None) -> NDArray[Any]:
        """The millimetres of a raw depth image's fields (16UC1/mono16 mm or 32FC1 m)."""
        width, height, encoding, step, data = image.width, image.height, image.encoding, image.step, image.data
        kinds = {"16UC1": "u2", "mono16": "u2", "32FC1": "f4"}
        if encoding not in kinds:
            raise ValueError(f"depth image encoding {encoding[:60]!r} is not 16UC1, mono16 or 32FC1")
        if max_pixels is not None:
            check_pixels(width, height, max_pixels)
        dtype = np.dtype(kinds[encoding]).newbyteorder(">" if image.bigendian else "<")
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


def metres_to_mm(metres: NDArray[Any]) -> NDArray[Any]:
    """float metres -> uint16 whole millimetres; non-finite or non-positive -> 0 (no reading)."""
    mm = np.asarray(metres, dtype=np.float64) * 1000.0
    valid = np.isfinite(mm) & (mm > 0)
    return np.where(valid, np.rint(np.clip(np.where(valid, mm, 0), 0, VALUES - 1)), 0).astype(np.uint16)


def resize_nearest(depth: NDArray[Any], width: int, height: int) -> NDArray[Any]:
    """Nearest-neighbour resize like the original's ``cv2.resize(..., INTER_NEAREST)``."""
    src_h, src_w = depth.shape
    if (src_w, src_h) == (width, height):
        return depth
    ys = np.minimum(np.floor(np.arange(height) * (src_h / height)).astype(np.int64), src_h - 1)
    xs = np.minimum(np.floor(np.arange(width) * (src_w / width)).astype(np.int64), src_w - 1)
    resized: NDArray[Any] = depth[ys[:, None], xs[None, :]]
    return resized


# --- the two forms ---------------------------------------------------------------------------


def rgb8_form(depth_mm: NDArray[Any], depth_range: list[int]) -> NDArray[Any]:
    """The original converter's 8-bit, 3-channel picture of a uint16 depth image."""
    clipped = np.clip(depth_mm, depth_range[0], depth_range[1]).astype(np.uint16)
    lo, hi = clipped.min(), clipped.max()
    normalized = (clipped - lo) / (hi - lo + 1e-9)
    return np.repeat((normalized * 255).astype(np.uint8)[..., np.newaxis], 3, axis=-1)


@cache
def quantize_table() -> NDArray[Any]:
    """12-bit code of every uint16 millimetre value, computed exactly as lerobot 0.6.1's
    ``quantize_depth`` does for uint16 input (float32 arithmetic, log scale, in millimetres)."""
    depth_f = np.arange(VALUES, dtype=np.uint16).astype(np.float32)
    depth_min_u = np.float32(DEPTH_MIN_M * 1000.0)
    depth_max_u = np.float32(DEPTH_MAX_M * 1000.0)
    shift_u = np.float32(DEPTH_SHIFT_M * 1000.0)
    log_min = math.log(float(depth_min_u + shift_u))
    log_max = math.log(float(depth_max_u + shift_u))
    norm = (np.log(depth_f + shift_u) - log_min) / (log_max - log_min)
    table: NDArray[np.uint16] = np.rint(norm * DEPTH_QMAX).clip(0, DEPTH_QMAX).astype(np.uint16)
    table.flags.writeable = False
    return table


def dequantize_mm(codes: NDArray[Any]) -> NDArray[Any]:
    """12-bit codes -> millimetres (float32), as lerobot 0.6.1's ``dequantize_depth`` computes
    them (numpy path: scale in float64 into a float32 buffer, then float32 arithmetic)."""
    log_min = math.log(DEPTH_MIN_M + DEPTH_SHIFT_M)
    log_max = math.log(DEPTH_MAX_M + DEPTH_SHIFT_M)
    buf = (np.asarray(codes) * ((log_max - log_min) / DEPTH_QMAX)).astype(np.float32)
    buf = np.exp(buf + log_min) - DEPTH_SHIFT_M
    buf = np.clip(buf, DEPTH_MIN_M, DEPTH_MAX_M) * MM_PER_METRE
    millimetres: NDArray[np.float32] = np.clip(np.rint(buf), 0.0, VALUES - 1).astype(np.float32)
    return millimetres


def native_frame(depth_mm: NDArray[Any]) -> av.VideoFrame:
    """The ``gray12le`` frame of a depth image, as lerobot's writer builds it."""
    return av.VideoFrame.from_ndarray(quantize_table()[depth_mm], format=DEPTH_PIX_FMT)
