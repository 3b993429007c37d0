"""Format and size of one image per camera topic, from its first message (read few chunks)."""

from __future__ import annotations

import struct
from collections.abc import Mapping

from spill2lerobot.bag import wire
from spill2lerobot.bag.base import Bag, BagError
from spill2lerobot.inspect.facts import ImageInfo
from spill2lerobot.spill.images import PNG_SIGNATURE, jpeg_size

# Image topics whose first messages lie within this window are read in one pass (one chunk).
_IMAGE_GROUP_NS = 1_000_000_000
_JPEG_SOI = b"\xff\xd8"


def image_info(msgtype: str, payload: bytes) -> ImageInfo:
    """Format and size of one serialized ROS1 image message, without deserializing it."""
    try:
        if msgtype == wire.RAW_IMAGE:
            header = wire.raw_image_header(payload)
            return ImageInfo(header.encoding, "raw", header.width, header.height)
        fmt, data = wire.compressed_image(payload)
    except ValueError as err:
        return ImageInfo("?", None, None, None, f"message does not parse ({err})")
    return compressed_image_info(fmt, data)


def ros2_image_info(bag: Bag, msgtype: str, payload: bytes) -> ImageInfo:
    """Format and size of one CDR image message (deserialized: one message per camera)."""
    try:
        msg = bag.deserialize_raw(payload, msgtype)
    except Exception as err:  # rosbags raises many types for damaged bytes
        return ImageInfo("?", None, None, None, f"message does not parse ({type(err).__name__})")
    if msgtype == wire.RAW_IMAGE:
        return ImageInfo(msg.encoding, "raw", int(msg.width), int(msg.height))  # type: ignore[attr-defined]
    return compressed_image_info(msg.format, bytes(msg.data))  # type: ignore[attr-defined]


def _header_size(codec: str, data: bytes) -> tuple[int, int] | None:
    """(width, height) from a JPEG's frame header or a PNG's IHDR, or None if not found there."""
    if codec == "png":
        return struct.unpack_from(">II", data, 16) if data[12:16] == b"IHDR" and len(data) >= 24 else None
    try:
        return jpeg_size(data)
    except ValueError:
        return None


def compressed_image_info(fmt: str, data: bytes) -> ImageInfo:
    """Size from the JPEG/PNG header bytes; failing that, by decoding the image with FFmpeg."""
    png_at = data.find(PNG_SIGNATURE, 0, 64)  # compressedDepth: a 12-byte config header first
    if data.startswith(_JPEG_SOI):
        codec = "jpeg"
    elif png_at >= 0:
        codec = "png"
        data = data[png_at:]
    else:
        return ImageInfo(fmt, None, None, None, "data is neither JPEG nor PNG")
    size = _header_size(codec, data)
    if size is None:
        try:
            size = _decoded_size(codec, data)
        except Exception as err:  # PyAV raises various errors for damaged data
            return ImageInfo(fmt, codec, None, None, f"image does not decode ({err})")
    width, height = size
    return ImageInfo(fmt, codec, int(width), int(height))


def _decoded_size(codec: str, data: bytes) -> tuple[int, int]:
    import av

    context = av.CodecContext.create("mjpeg" if codec == "jpeg" else "png", "r")
    context.options = {"max_pixels": str(1 << 26)}  # a hostile header must not make FFmpeg allocate GBs
    frames = context.decode(av.Packet(data)) or context.decode(None)  # type: ignore[attr-defined]
    if not frames:
        raise ValueError("no picture")
    return frames[0].width, frames[0].height


def first_images(bag: Bag, firsts: Mapping[str, int]) -> dict[str, bytes | BagError]:
    """The first message of each image topic (or why it cannot be read), reading few chunks.

    Topics whose first messages lie within a second of each other are read in one pass
    (usually the same chunk) that stops as soon as each has its first message.
    """
    out: dict[str, bytes | BagError] = {}
    order = sorted(firsts, key=lambda t: firsts[t])
    i = 0
    while i < len(order):
        group = [order[i]]
        while i + len(group) < len(order) and firsts[order[i + len(group)]] - firsts[group[0]] <= _IMAGE_GROUP_NS:
            group.append(order[i + len(group)])
        i += len(group)
        wanted = set(group)
        start, stop = firsts[group[0]], firsts[group[-1]]
        try:
            for msg in bag.messages(group, start_ns=start, stop_ns=stop):
                if msg.topic in wanted and msg.time_ns == firsts[msg.topic]:
                    out[msg.topic] = msg.data
                    wanted.discard(msg.topic)
                    if not wanted:
                        break
        except BagError as err:  # a damaged chunk: report it for these topics, go on
            for topic in wanted:
                out[topic] = err
    return out
