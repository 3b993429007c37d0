"""Camera message payloads -> pictures, for every image encoding a colour camera may record.

- ``sensor_msgs/CompressedImage``: JPEG or PNG bytes, decoded by FFmpeg (``JpegDecoder``).
- ``sensor_msgs/Image`` (raw): ``rgb8``, ``bgr8``, ``rgba8``, ``bgra8`` and ``mono8`` (grey,
  replicated into the three channels); rows may be padded (``step`` > width * channels).

The main thread only cuts the image out of the serialized message (``bag.wire``: no
deserialization, no pixel work); the camera worker turns it into an ``av.VideoFrame``
(``ImageDecoder``), which ``to_rgb_frame`` then resizes to the dataset's size. An encoding a
colour camera cannot show (depth, bayer, 16-bit) is a one-line ``UserError``
(``check_image``), raised before anything of that camera is encoded.

Bounded work: given a pixel limit (``profile.image_pixel_limit``), an image's size is read from
its header (JPEG frame header, PNG IHDR, raw width and height) before it is decoded, and a bigger
one is an undecodable image (ValueError), like a corrupt one; FFmpeg's decoders get the limit
too (``decoder_pixel_limit``), for headers that say one thing and hold another.
"""

from __future__ import annotations

import struct

import av
import numpy as np

from spill2lerobot.bag.wire import RawImage
from spill2lerobot.errors import UserError
from spill2lerobot.spill.video import JpegDecoder

# raw encoding -> (channels, FFmpeg pixel format of the unpadded rows)
RAW_ENCODINGS: dict[str, tuple[int, str]] = {
    "rgb8": (3, "rgb24"),
    "bgr8": (3, "bgr24"),
    "rgba8": (4, "rgba"),
    "bgra8": (4, "bgra"),
    "mono8": (1, "gray"),
}

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# JPEG markers: frame headers (SOF0..SOF15 less DHT, JPG, DAC) carry the size; these have no length.
_JPEG_SOF = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
_JPEG_NO_LENGTH = frozenset({0x01, *range(0xD0, 0xD9)})  # TEM, RST0..7, SOI


def png_size(data: bytes | memoryview) -> tuple[int, int]:
    """(width, height) of a PNG from its IHDR chunk (which must come first), without decoding."""
    if len(data) < 24 or bytes(data[:8]) != PNG_SIGNATURE or bytes(data[12:16]) != b"IHDR":
        raise ValueError("PNG without an IHDR header")
    width, height = struct.unpack_from(">II", data, 16)
    return width, height


def jpeg_size(data: bytes) -> tuple[int, int]:
    """(width, height) of a JPEG from its first frame header (SOFn), without decoding.

    Walks the marker segments by their lengths, skipping bytes between segments the way FFmpeg's
    decoder does (to the next 0xFF and marker code). The decoder's own pixel limit catches a
    frame header hidden where FFmpeg looks and this walk does not.
    """
    pos, end = 0, len(data)
    while True:
        pos = data.find(b"\xff", pos)
        if pos < 0 or pos + 1 >= end:
            raise ValueError("no JPEG frame header")
        marker = data[pos + 1]
        if marker in (0x00, 0xFF):  # not a marker (stuffed byte) or fill
            pos += 1
        elif marker in (0xD9, 0xDA):  # end of image, start of scan: no frame header before
            raise ValueError("no JPEG frame header before the image data")
        elif marker in _JPEG_NO_LENGTH:
            pos += 2
        elif marker in _JPEG_SOF:
            if pos + 9 > end:
                raise ValueError("JPEG frame header cut off")
            height, width = struct.unpack_from(">HH", data, pos + 5)
            return width, height
        elif pos + 4 > end:
            raise ValueError("JPEG segment cut off")
        else:
            pos += 2 + int.from_bytes(data[pos + 2 : pos + 4], "big")


def compressed_size(data: bytes) -> tuple[int, int]:
    """(width, height) of compressed image bytes, read as ``JpegDecoder`` will decode them."""
    return png_size(data) if data[:4] == PNG_SIGNATURE[:4] else jpeg_size(data)


def check_pixels(width: int, height: int, limit: int) -> None:
    """An image larger than ``limit`` pixels (or of no size) is not decoded: ValueError."""
    if width <= 0 or height <= 0:
        raise ValueError(f"image header gives a size of {width}x{height}")
    if width * height > limit:
        raise ValueError(f"{width}x{height} image is larger than the limit of {limit} pixels (faults.max_image_pixels)")


def decoder_pixel_limit(limit: int) -> int:
    """FFmpeg's ``max_pixels`` for a pixel limit: a backstop with room for the rows decoders pad."""
    return 2 * limit + (1 << 16)


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
    """Decodes what ``Bag.image_of`` returned into an ``av.VideoFrame`` (any format; with
    ``max_pixels``, no bigger than that: checked from the header before decoding)."""

    def __init__(self, max_pixels: int | None = None) -> None:
        self._max_pixels = max_pixels
        self._compressed = JpegDecoder(None if max_pixels is None else decoder_pixel_limit(max_pixels))

    def decode(self, image: bytes | RawImage) -> av.VideoFrame:
        if isinstance(image, RawImage):
            if self._max_pixels is not None:
                check_pixels(image.width, image.height, self._max_pixels)
            return raw_frame(image)
        if not image:  # an empty packet would put FFmpeg's decoder into draining mode
            raise ValueError("the message holds no image data")
        if self._max_pixels is not None:
            check_pixels(*compressed_size(image), self._max_pixels)
        return self._compressed.decode(image)
