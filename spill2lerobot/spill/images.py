"""Camera message payloads -> pictures, for every image encoding a colour camera may record.

- ``sensor_msgs/CompressedImage``: JPEG or PNG bytes, decoded by FFmpeg (``JpegDecoder``).
- ``sensor_msgs/Image`` (raw): ``rgb8``, ``bgr8``, ``rgba8``, ``bgra8`` and ``mono8`` (grey,
  replicated into the three channels); rows may be padded (``step`` > width * channels).

The main thread only cuts the image out of the serialized message (``image_of``: no
deserialization, no pixel work); the camera worker turns it into an ``av.VideoFrame``
(``ImageDecoder``), which ``to_rgb_frame`` then resizes to the dataset's size. An encoding a
colour camera cannot show (depth, bayer, 16-bit) is a one-line ``UserError``
(``check_image``), raised before anything of that camera is encoded.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass

import av
import numpy as np

from spill2lerobot.errors import UserError
from spill2lerobot.spill.video import JpegDecoder

COMPRESSED_IMAGE = "sensor_msgs/msg/CompressedImage"
RAW_IMAGE = "sensor_msgs/msg/Image"
IMAGE_TYPES = (COMPRESSED_IMAGE, RAW_IMAGE)

# raw encoding -> (channels, FFmpeg pixel format of the unpadded rows)
RAW_ENCODINGS: dict[str, tuple[int, str]] = {
    "rgb8": (3, "rgb24"),
    "bgr8": (3, "bgr24"),
    "rgba8": (4, "rgba"),
    "bgra8": (4, "bgra"),
    "mono8": (1, "gray"),
}

_HEIGHT_WIDTH = struct.Struct("<II")
_BIGENDIAN_STEP = struct.Struct("<BI")


@dataclass(frozen=True)
class RawImage:
    """The fields of a ``sensor_msgs/Image`` a picture needs (``data`` copied out)."""

    width: int
    height: int
    encoding: str
    step: int
    data: bytes


def _u32(view: memoryview, pos: int) -> int:
    if pos + 4 > len(view):
        raise ValueError("the message ends early")
    return int.from_bytes(view[pos : pos + 4], "little")


def compressed_data(payload: bytes | memoryview) -> bytes:
    """The ``data`` field of a serialized sensor_msgs/CompressedImage, without deserializing."""
    view = memoryview(payload)
    pos = 12  # header: seq u32, stamp (2 x u32)
    pos += 4 + _u32(view, pos)  # frame_id
    pos += 4 + _u32(view, pos)  # format
    size = _u32(view, pos)
    return bytes(view[pos + 4 : pos + 4 + size])


def raw_image(payload: bytes | memoryview) -> RawImage:
    """The picture fields of a serialized sensor_msgs/Image, without deserializing.

    Layout: header (seq, stamp, frame_id), height u32, width u32, encoding string,
    is_bigendian u8, step u32, data (u32 length + bytes).
    """
    view = memoryview(payload)
    try:
        pos = 12
        pos += 4 + _u32(view, pos)  # frame_id
        height, width = _HEIGHT_WIDTH.unpack_from(view, pos)
        pos += 8
        size = _u32(view, pos)
        encoding = bytes(view[pos + 4 : pos + 4 + size]).decode("utf-8", "replace")
        pos += 4 + size
        _, step = _BIGENDIAN_STEP.unpack_from(view, pos)
        pos += 5
        size = _u32(view, pos)
    except struct.error:
        raise ValueError("the message ends early") from None
    return RawImage(width, height, encoding, step, bytes(view[pos + 4 : pos + 4 + size]))


def image_of(msgtype: str) -> Callable[[bytes | memoryview], bytes | RawImage]:
    """What the camera worker needs of one message of ``msgtype`` (cheap: a slice of it)."""
    return raw_image if msgtype == RAW_IMAGE else compressed_data


def check_image(image: bytes | RawImage, where: str) -> None:
    """A raw image whose encoding a colour camera cannot show is an input error (one line).

    ``where`` names the file and topic ("bag.bag: /cam_h/color/image_raw").
    """
    if isinstance(image, RawImage) and image.encoding not in RAW_ENCODINGS:
        supported = ", ".join(RAW_ENCODINGS)
        raise UserError(
            f"{where} carries raw images with encoding {image.encoding!r}, which a colour camera cannot use "
            f"(supported: {supported}; JPEG or PNG CompressedImage); record that camera's colour stream, "
            "or choose a profile without it"
        )


def raw_frame(image: RawImage) -> av.VideoFrame:
    """The picture of a raw image at its own size (RGB, BGR, RGBA, BGRA or grey replicated)."""
    if image.encoding not in RAW_ENCODINGS:
        raise ValueError(f"raw image encoding {image.encoding!r} is not a colour picture")
    channels, pix_fmt = RAW_ENCODINGS[image.encoding]
    row = image.width * channels
    if image.width <= 0 or image.height <= 0 or image.step < row:
        raise ValueError(f"bad raw image geometry {image.width}x{image.height}, step {image.step}")
    if len(image.data) < image.step * (image.height - 1) + row:
        raise ValueError(f"raw image data holds {len(image.data)} bytes, {image.width}x{image.height} needs more")
    rows = np.frombuffer(image.data, np.uint8, count=image.step * (image.height - 1) + row)
    pixels = np.lib.stride_tricks.as_strided(rows, (image.height, row), (image.step, 1))
    if channels == 1:  # grey -> R = G = B, exactly (no YUV range conversion)
        return av.VideoFrame.from_ndarray(np.repeat(pixels[:, :, None], 3, axis=2), format="rgb24")
    pixels = np.ascontiguousarray(pixels).reshape(image.height, image.width, channels)
    return av.VideoFrame.from_ndarray(pixels, format=pix_fmt)


class ImageDecoder:
    """Decodes what ``image_of`` returned into an ``av.VideoFrame`` (any size, any format)."""

    def __init__(self) -> None:
        self._compressed = JpegDecoder()

    def decode(self, image: bytes | RawImage) -> av.VideoFrame:
        if isinstance(image, RawImage):
            return raw_frame(image)
        if not image:  # an empty packet would put FFmpeg's decoder into draining mode
            raise ValueError("the message holds no image data")
        return self._compressed.decode(image)
