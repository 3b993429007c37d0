"""Fields of serialized image messages, read without deserialising them (ROS1 and CDR).

Deserialising a camera message copies its pixels into a rosbags object; the converter needs
only a few fields, so they are read from the bytes. Layouts (little endian):

- ROS1: ``std_msgs/Header`` (seq u32, stamp sec u32 + nsec u32, frame_id), then the fields;
  strings and arrays are a u32 length and the bytes, unaligned.
- CDR (ROS2): a 4-byte encapsulation header, ``std_msgs/Header`` (stamp sec i32 + nanosec u32,
  frame_id), then the fields; strings and sequences are u32-length-prefixed and 4-byte aligned
  (counted from the end of the encapsulation header).

Either way the header stamp is the two u32 at offset 4.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass

COMPRESSED_IMAGE = "sensor_msgs/msg/CompressedImage"
RAW_IMAGE = "sensor_msgs/msg/Image"
IMAGE_TYPES = (COMPRESSED_IMAGE, RAW_IMAGE)

_STAMP = struct.Struct("<II")
_HEIGHT_WIDTH = struct.Struct("<II")
_BIGENDIAN_STEP = struct.Struct("<BI")
_ROS1_FIELDS = 12  # after the header's seq and stamp: frame_id
_NS = 1_000_000_000


@dataclass(frozen=True)
class RawImage:
    """The fields of a ``sensor_msgs/Image`` a picture needs (``data`` copied out)."""

    width: int
    height: int
    encoding: str
    step: int
    data: bytes
    bigendian: bool = False


@dataclass(frozen=True)
class CompressedPayload:
    """``format`` and ``data`` of a ``sensor_msgs/CompressedImage`` (a depth camera's: the
    format says 16UC1 or 32FC1 compressedDepth)."""

    format: str
    data: bytes


# What a depth camera worker gets of one message: a whole ROS1 message, or a CDR one's fields
# (b"" when it is cut short: an undecodable image, counted like a colour camera's).
DepthCut = RawImage | CompressedPayload | bytes


@dataclass(frozen=True)
class RawImageHeader:
    """The fields of a ``sensor_msgs/Image`` that say what it holds (no pixels)."""

    width: int
    height: int
    encoding: str


def header_stamp(payload: bytes | memoryview) -> int | None:
    """``header.stamp`` in ns of a message starting with a Header (None if it is too short)."""
    if len(payload) < 12:
        return None
    secs, nsecs = _STAMP.unpack_from(payload, 4)
    return int(secs) * _NS + int(nsecs)


def _u32(view: memoryview, pos: int) -> int:
    if pos + 4 > len(view):
        raise ValueError("the message ends early")
    return int.from_bytes(view[pos : pos + 4], "little")


def _string(view: memoryview, pos: int) -> tuple[str, int]:
    """A string at ``pos`` (checked against the message) and where the next field starts."""
    size = int.from_bytes(view[pos : pos + 4], "little")
    if pos + 4 + size > len(view):
        raise ValueError("string runs past the message")
    return bytes(view[pos + 4 : pos + 4 + size]).decode("utf-8", "replace"), pos + 4 + size


# --- ROS1 -------------------------------------------------------------------------------------


def compressed_image_data(payload: bytes | memoryview) -> bytes:
    """The ``data`` of a ROS1 sensor_msgs/CompressedImage (ValueError if the message ends early)."""
    view = memoryview(payload)
    pos = _ROS1_FIELDS
    pos += 4 + _u32(view, pos)  # frame_id
    pos += 4 + _u32(view, pos)  # format
    size = _u32(view, pos)
    return bytes(view[pos + 4 : pos + 4 + size])


def compressed_image(payload: bytes | memoryview) -> tuple[str, bytes]:
    """(format, data) of a ROS1 CompressedImage; ValueError unless the strings fit the message."""
    view = memoryview(payload)
    _, pos = _string(view, _ROS1_FIELDS)  # frame_id
    fmt, pos = _string(view, pos)
    size = int.from_bytes(view[pos : pos + 4], "little")
    return fmt, bytes(view[pos + 4 : pos + 4 + size])


def raw_image_header(payload: bytes | memoryview) -> RawImageHeader:
    """Width, height and encoding of a ROS1 sensor_msgs/Image (ValueError if cut short)."""
    view = memoryview(payload)
    _, pos = _string(view, _ROS1_FIELDS)  # frame_id
    try:
        height, width = _HEIGHT_WIDTH.unpack_from(view, pos)
    except struct.error as err:
        raise ValueError(str(err)) from None
    encoding, _ = _string(view, pos + 8)
    return RawImageHeader(width, height, encoding)


def raw_image(payload: bytes | memoryview) -> RawImage:
    """The picture fields of a ROS1 sensor_msgs/Image.

    Layout: header (seq, stamp, frame_id), height u32, width u32, encoding string,
    is_bigendian u8, step u32, data (u32 length + bytes).
    """
    view = memoryview(payload)
    try:
        pos = _ROS1_FIELDS
        pos += 4 + _u32(view, pos)  # frame_id
        height, width = _HEIGHT_WIDTH.unpack_from(view, pos)
        pos += 8
        size = _u32(view, pos)
        encoding = bytes(view[pos + 4 : pos + 4 + size]).decode("utf-8", "replace")
        pos += 4 + size
        bigendian, step = _BIGENDIAN_STEP.unpack_from(view, pos)
        pos += 5
        size = _u32(view, pos)
    except struct.error:
        raise ValueError("the message ends early") from None
    return RawImage(width, height, encoding, step, bytes(view[pos + 4 : pos + 4 + size]), bigendian != 0)


def image_of(msgtype: str) -> Callable[[bytes | memoryview], bytes | RawImage]:
    """What the camera worker needs of one ROS1 message of ``msgtype`` (cheap: a slice of it)."""
    return raw_image if msgtype == RAW_IMAGE else compressed_image_data


# --- CDR (ROS2) -------------------------------------------------------------------------------


def _align4(pos: int) -> int:
    """Next 4-byte boundary, counted from the end of the 4-byte CDR encapsulation header."""
    return 4 + ((pos - 4 + 3) & ~3)


def cdr_compressed_image_data(payload: bytes | memoryview) -> bytes:
    """``data`` of a little-endian CDR CompressedImage: header (stamp 8 bytes, frame_id),
    format, data; strings and sequences are u32-length-prefixed and 4-byte aligned."""
    view = memoryview(payload)
    if len(view) < 4 or view[1] != 0x01:  # 0x0001: CDR little endian
        raise ValueError("not a little-endian CDR message")
    pos = 12  # encapsulation (4), stamp sec i32 + nanosec u32
    for _ in range(2):  # frame_id, format
        pos = _align4(pos)
        pos += 4 + int.from_bytes(view[pos : pos + 4], "little")
    pos = _align4(pos)
    size = int.from_bytes(view[pos : pos + 4], "little")
    if pos + 4 + size > len(view):
        raise ValueError("image data runs past the message")
    return bytes(view[pos + 4 : pos + 4 + size])


def _cdr_view(payload: bytes | memoryview) -> memoryview:
    view = memoryview(payload)
    if len(view) < 12 or view[1] != 0x01:  # 0x0001: CDR little endian
        raise ValueError("not a little-endian CDR message")
    return view


def _cdr_string(view: memoryview, pos: int) -> tuple[str, int]:
    """An aligned CDR string at ``pos`` (its length counts the NUL) and where the next field starts."""
    pos = _align4(pos)
    size = _u32(view, pos)
    if pos + 4 + size > len(view):
        raise ValueError("string runs past the message")
    return bytes(view[pos + 4 : pos + 4 + size]).rstrip(b"\0").decode("utf-8", "replace"), pos + 4 + size


def _cdr_bytes(view: memoryview, pos: int) -> bytes:
    """An aligned CDR uint8 sequence at ``pos``, checked against the message."""
    pos = _align4(pos)
    size = _u32(view, pos)
    if pos + 4 + size > len(view):
        raise ValueError("image data runs past the message")
    return bytes(view[pos + 4 : pos + 4 + size])


def cdr_compressed_image(payload: bytes | memoryview) -> CompressedPayload:
    """``format`` and ``data`` of a little-endian CDR ``sensor_msgs/CompressedImage``."""
    view = _cdr_view(payload)
    _, pos = _cdr_string(view, 12)  # after encapsulation and stamp: frame_id
    fmt, pos = _cdr_string(view, pos)
    return CompressedPayload(fmt, _cdr_bytes(view, pos))


def cdr_raw_image(payload: bytes | memoryview) -> RawImage:
    """The picture fields of a little-endian CDR ``sensor_msgs/Image``: header (stamp, frame_id),
    height u32, width u32, encoding, is_bigendian u8, step u32 (aligned), data."""
    view = _cdr_view(payload)
    _, pos = _cdr_string(view, 12)  # frame_id
    pos = _align4(pos)
    height, width = _u32(view, pos), _u32(view, pos + 4)
    encoding, pos = _cdr_string(view, pos + 8)
    if pos >= len(view):
        raise ValueError("the message ends early")
    bigendian = view[pos] != 0
    pos = _align4(pos + 1)
    step = _u32(view, pos)
    return RawImage(width, height, encoding, step, _cdr_bytes(view, pos + 4), bigendian)


def depth_cutter(serialization: str, msgtype: str) -> Callable[[bytes | memoryview], DepthCut]:
    """What a depth camera worker needs of one message of ``msgtype``: a ROS1 message whole
    (``DepthDecoder.decode_message`` parses it); the fields of a CDR one, or b"" if it is cut
    short (the worker counts an undecodable image)."""
    cdr = serialization == "cdr"
    if not cdr:
        return bytes  # the depth worker parses the whole message, as it always has
    cut: Callable[[bytes | memoryview], DepthCut] = cdr_raw_image if msgtype == RAW_IMAGE else cdr_compressed_image

    def run(payload: bytes | memoryview) -> DepthCut:
        try:
            return cut(payload)
        except (ValueError, IndexError, struct.error):
            return b""

    return run
