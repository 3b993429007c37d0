"""`spill2lerobot inspect`: what a bag holds and what the profile can make of it, from the index.

What someone facing a 30 GB bag wants first, in about a second: per topic its type, count,
rate, time span and gaps; for image topics the format and size of one image; whether the
profile finds every topic it needs (and the frames its timeline would give); and, with
``--suggest``, a starting profile adapted to the bag.

Only the index is read: the connection and chunk-info records (``Ros1Bag``), the IndexData
records that follow each chunk (all topics' record times in one pass) and, per group of image
topics that start together, the one chunk holding their first messages. ``bytes_read`` proves
it: about 2 MB of a 1.2 GB bag.
"""

from __future__ import annotations

import dataclasses
import json
import math
import struct
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from operator import itemgetter
from pathlib import Path
from typing import Any

import click
import numpy as np

from spill2lerobot import kuavo
from spill2lerobot.bag import Ros2Bag, is_ros2_bag, open_bag, ros1
from spill2lerobot.bag.ros1 import BagError, Ros1Bag
from spill2lerobot.errors import UserError
from spill2lerobot.profile import DEFAULT_PROFILE, MAX_FPS, MAX_SIDE, MIN_SIDE, FieldPart, Profile, load_profile
from spill2lerobot.suggest_generic import generic_base, looks_like_kuavo, suggest_features

COMPRESSED_IMAGE = "sensor_msgs/msg/CompressedImage"
RAW_IMAGE = "sensor_msgs/msg/Image"
IMAGE_TYPES = (COMPRESSED_IMAGE, RAW_IMAGE)
GAP_FACTOR = 3  # an interval longer than this many median intervals counts as a gap
# Image topics whose first messages lie within this window are read in one pass (one chunk).
_IMAGE_GROUP_NS = 1_000_000_000
_NS = 1_000_000_000
_JPEG_SOI = b"\xff\xd8"
_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
_CAMERA_NAMES = {topic: name for name, topic in kuavo.CAMERA_TOPICS.items()}


# --- facts ------------------------------------------------------------------------------------


@dataclass
class ImageInfo:
    format: str  # CompressedImage.format or Image.encoding, as recorded
    codec: str | None  # what the bytes are: jpeg, png, raw (Image), or None if unknown
    width: int | None
    height: int | None
    error: str | None = None  # why the size could not be read


@dataclass
class TopicFacts:
    topic: str
    type: str  # ROS1 naming: sensor_msgs/CompressedImage
    count: int
    first_ns: int | None
    last_ns: int | None
    start_s: float | None  # first message, seconds after the bag's start
    end_s: float | None
    rate_hz: float | None  # (count - 1) / (last - first)
    median_interval_s: float | None
    max_gap_s: float | None  # largest interval between consecutive record times
    max_gap_at_s: float | None  # where it starts, seconds after the bag's start
    gaps: int | None  # intervals longer than GAP_FACTOR x the median interval
    image: ImageInfo | None = None


@dataclass
class TopicCheck:
    role: str  # e.g. "joint states", "arm trajectory"
    topic: str
    status: str  # ok | missing | empty | wrong type
    type: str | None  # what the bag has (ROS1 naming)
    expected: str | None  # what the profile expects (ROS1 naming)

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def describe(self) -> str:
        if self.status == "wrong type":
            return f"{self.topic} carries {self.type}, expected {self.expected}"
        if self.status == "empty":
            return f"{self.topic} has no messages"
        return f"{self.topic} {self.status}"


@dataclass
class FeatureCheck:
    feature: str  # observation.images.head_cam_h, observation.state, action, timeline
    topics: list[TopicCheck]

    @property
    def ok(self) -> bool:
        return all(t.ok for t in self.topics)


@dataclass
class ProfileCheck:
    source: str
    overrides: list[str]
    eef_type: str
    which_arm: str
    main_timeline: str
    main_timeline_fps: int
    train_hz: int
    sample_drop: int
    features: list[FeatureCheck]
    frames: int | None  # frames the profile's timeline gives this bag, None if it cannot convert
    reason: str | None  # why there are no frames
    generic: bool = False  # a generic profile (features section): eef_type and which_arm do not apply

    @property
    def ok(self) -> bool:
        return self.frames is not None

    @property
    def problems(self) -> list[TopicCheck]:
        seen: dict[str, TopicCheck] = {}
        for feature in self.features:
            for check in feature.topics:
                if not check.ok:
                    seen.setdefault(check.topic, check)
        return list(seen.values())


@dataclass
class Inferred:
    key: str  # dotted profile key
    value: Any
    why: str


@dataclass
class Suggestion:
    values: list[Inferred]
    warnings: list[str]
    frames: int | None  # frames the suggested profile gives this bag
    reason: str | None
    overrides: list[str] = field(default_factory=list)  # --set arguments from the profile checked to this
    yaml: str = ""


@dataclass
class BagFacts:
    path: str
    size_bytes: int
    chunks: int
    compression: list[str]  # of the first, middle and last chunks (distinct)
    indexed: bool
    recovery: str | None
    start_ns: int
    end_ns: int
    duration_s: float
    messages: int
    topics: list[TopicFacts]
    profile: ProfileCheck
    suggestion: Suggestion
    bytes_read: int = 0
    seconds: float = 0.0

    def to_json(self, with_yaml: bool) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["profile"]["ok"] = self.profile.ok
        data["profile"]["missing"] = [c.topic for c in self.profile.problems if c.status in ("missing", "empty")]
        data["profile"]["wrong_types"] = [
            {"topic": c.topic, "type": c.type, "expected": c.expected}
            for c in self.profile.problems
            if c.status == "wrong type"
        ]
        for feature, checked in zip(data["profile"]["features"], self.profile.features, strict=True):
            feature["ok"] = checked.ok
        if not with_yaml:
            del data["suggestion"]["yaml"]
        return data


# --- index -----------------------------------------------------------------------------------


class IndexView:
    """The index-only queries stage 1's planning uses, answered from one pass over the index.

    ``Ros1Bag.topic_times`` reads every chunk's IndexData block once per topic asked; here all
    topics' times come from a single read of each block, and ``make_plan`` reads them from
    this cache (it only calls ``topics``, ``topic_times``, ``last_time`` and ``path``).
    """

    def __init__(self, bag: Ros1Bag) -> None:
        self.bag = bag
        self.path = bag.path
        self._topics = bag.topics()
        self._times = _all_topic_times(bag)

    def topics(self) -> dict[str, ros1.TopicInfo]:
        return self._topics

    def topic_times(self, topic: str) -> np.ndarray:
        if topic not in self._topics:
            known = ", ".join(sorted(self._topics))
            raise BagError(f"{self.path}: no topic {topic!r} in this bag; pick one of: {known}")
        return self._times.get(topic, np.zeros(0, np.int64))

    def _extreme(self, topic: str, last: bool) -> int:
        times = self.topic_times(topic)
        if not len(times):
            raise BagError(f"{self.path}: topic {topic!r} has no messages; pick a topic that has some")
        return int(times[-1] if last else times[0])

    def last_time(self, topic: str) -> int:
        return self._extreme(topic, last=True)

    def first_time(self, topic: str) -> int:
        return self._extreme(topic, last=False)


def _all_topic_times(bag: Ros1Bag) -> dict[str, np.ndarray]:
    """Sorted record times of every topic, reading each chunk's IndexData records once.

    Same result as ``bag.topic_times(topic)`` for every topic (a test checks it), but each
    block is read and parsed once instead of once per topic, with one ``struct`` call per
    record (``_IndexLayout``). Uses the reader's internals (block ends, counted reads); this
    belongs in ``Ros1Bag`` as an all-topics variant of ``topic_times``.
    """
    topic_of = {conn.id: conn.topic for conn in bag.connections}
    parts: dict[str, list[np.ndarray]] = {}
    layout: _IndexLayout | None = None
    for chunk in sorted(bag.chunks, key=lambda c: c.pos):  # file order: fewer seeks
        if chunk.pos in bag._no_index:  # recovered chunk without usable IndexData: walk it
            _, walked = bag._survey_chunk(chunk)
            records = [(cid, np.array(t, np.int64)) for cid, t in walked.items()]
        else:
            # rosbag writes the block right before the next chunk: read where it should be,
            # and let the reader find it the slow way if that guess does not parse.
            end = bag._block_end[chunk.pos]
            size = sum(ros1._INDEX_RECORD_FIXED + 12 * n for n in chunk.counts.values())
            parsed = None
            if end - size > chunk.pos:
                block = bag._read_at(end - size, size)
                layout = layout or _IndexLayout.learn(block)
                parsed = _parse_index_block(block, len(chunk.counts), layout)
            if parsed is None:
                block = bag._index_block(chunk)
                parsed = _parse_index_block(block, len(chunk.counts), None)
            if parsed is None:
                raise BagError(
                    f"{bag.path}: index data after chunk at offset {chunk.pos} is damaged; run `rosbag reindex`"
                )
            records = parsed
        for conn_id, times in records:
            topic = topic_of.get(conn_id)
            if topic is not None and len(times):
                parts.setdefault(topic, []).append(times)
    return {topic: np.sort(np.concatenate(arrays), kind="stable") for topic, arrays in parts.items()}


class _IndexLayout:
    """IndexData records whose header has one field order, decoded by one ``struct`` call.

    rosbag writes every IndexData header the same way (op, ver, conn, count in one order,
    47 bytes): learned from the first record, a record is checked (field names, op, version)
    and its conn, count and data length read in one unpack; any other shape is parsed field
    by field.
    """

    def __init__(self, fmt: str, expected: tuple[bytes, ...], check: list[int], conn: int, count: int) -> None:
        self.struct = struct.Struct(fmt)
        self.expected = expected
        self.check = itemgetter(*check)
        self.values = itemgetter(conn, count, -1)  # the last value is the data length

    @classmethod
    def learn(cls, block: bytes) -> _IndexLayout | None:
        try:
            (hlen,) = ros1._U32.unpack_from(block, 0)
            header = block[4 : 4 + hlen]
            fmt, expected, check = ["<4s"], [ros1._U32.pack(hlen)], [0]
            at: dict[bytes, int] = {}
            n, pos = 1, 0
            while pos < hlen:
                (flen,) = ros1._U32.unpack_from(header, pos)
                field_bytes = header[pos : pos + 4 + flen]
                name = field_bytes[4:].partition(b"=")[0]
                check.append(n)
                if name in (b"conn", b"count") and flen == len(name) + 5:
                    fmt.append(f"{len(name) + 5}sI")
                    expected.append(field_bytes[: len(name) + 5])
                    at[name] = n + 1
                    n += 2
                else:  # op and ver: name and value must match (op=4, ver=1)
                    fmt.append(f"{len(field_bytes)}s")
                    expected.append(field_bytes)
                    n += 1
                pos += 4 + flen
        except struct.error:
            return None
        if b"\x04\x00\x00\x00op=\x04" not in expected or b"\x08\x00\x00\x00ver=\x01\x00\x00\x00" not in expected:
            return None
        if set(at) != {b"conn", b"count"} or len(check) != 5:
            return None
        fmt.append("I")  # data length
        return cls("".join(fmt), tuple(expected), check, at[b"conn"], at[b"count"])


def _parse_index_block(block: bytes, nrecords: int, layout: _IndexLayout | None) -> list[tuple[int, np.ndarray]] | None:
    """(conn, record times) of each IndexData record of a block; None unless exactly ``nrecords`` fill it."""
    out = []
    pos, end = 0, len(block)
    try:
        for _ in range(nrecords):
            vals = layout.struct.unpack_from(block, pos) if layout and pos + layout.struct.size <= end else None
            if vals is not None and layout.check(vals) == layout.expected:
                conn_id, count, dlen = layout.values(vals)
                dstart = pos + layout.struct.size
            else:
                fields, dstart, _ = Ros1Bag._record_at(block, pos)
                if ros1._op(fields) != ros1.OP_INDEX_DATA or ros1._U32.unpack(fields["ver"])[0] != 1:
                    return None
                conn_id = ros1._U32.unpack(fields["conn"])[0]
                count = ros1._U32.unpack(fields["count"])[0]
                dlen = ros1._U32.unpack_from(block, dstart - 4)[0]
            if dlen != 12 * count or dstart + dlen > end:
                return None
            entries = np.frombuffer(block, ros1._INDEX_ENTRY, count, dstart)
            out.append((conn_id, entries["sec"].astype(np.int64) * _NS + entries["nsec"]))
            pos = dstart + dlen
    except (ValueError, KeyError, struct.error):
        return None
    return out if pos == end else None


def _compressions(bag: Ros1Bag) -> list[str]:
    """Compression of the first, middle and last chunks (one chunk-header read each)."""
    if not bag.chunks:
        return []
    by_pos = sorted(bag.chunks, key=lambda c: c.pos)
    picks = {0, len(by_pos) // 2, len(by_pos) - 1}
    found: list[str] = []
    for i in sorted(picks):
        compression = bag._chunk_data_span(by_pos[i])[2]
        if compression not in found:
            found.append(compression)
    return found


# --- topics -------------------------------------------------------------------------------------


def ros1_name(msgtype: str | None) -> str | None:
    """'pkg/msg/Type' -> 'pkg/Type' (how ROS1 users know the types)."""
    return msgtype.replace("/msg/", "/") if msgtype else msgtype


def topic_facts(topic: str, msgtype: str, count: int, times: np.ndarray, bag_start_ns: int) -> TopicFacts:
    facts = TopicFacts(topic, ros1_name(msgtype), count, *([None] * 9))
    if not len(times):
        return facts
    first, last = int(times[0]), int(times[-1])
    facts.first_ns, facts.last_ns = first, last
    facts.start_s, facts.end_s = (first - bag_start_ns) / 1e9, (last - bag_start_ns) / 1e9
    if len(times) < 2:
        return facts
    span = (last - first) / 1e9
    facts.rate_hz = (len(times) - 1) / span if span > 0 else None
    intervals = np.diff(times)
    median = float(np.median(intervals))
    widest = int(np.argmax(intervals))
    facts.median_interval_s = median / 1e9
    facts.max_gap_s = int(intervals[widest]) / 1e9
    facts.max_gap_at_s = (int(times[widest]) - bag_start_ns) / 1e9
    facts.gaps = int(np.count_nonzero(intervals > GAP_FACTOR * median))
    return facts


def _string_at(view: memoryview, pos: int) -> tuple[str, int]:
    size = int.from_bytes(view[pos : pos + 4], "little")
    if size < 0 or pos + 4 + size > len(view):
        raise ValueError("string runs past the message")
    return bytes(view[pos + 4 : pos + 4 + size]).decode("utf-8", "replace"), pos + 4 + size


def image_info(msgtype: str, payload: bytes) -> ImageInfo:
    """Format and size of one serialized image message, without deserializing it."""
    view = memoryview(payload)
    try:
        _, pos = _string_at(view, 12)  # header: seq u32, stamp 2 x u32, frame_id
        if msgtype == RAW_IMAGE:
            height, width = struct.unpack_from("<II", view, pos)
            encoding, _ = _string_at(view, pos + 8)
            return ImageInfo(encoding, "raw", width, height)
        fmt, pos = _string_at(view, pos)
        size = int.from_bytes(view[pos : pos + 4], "little")
        data = bytes(view[pos + 4 : pos + 4 + size])
    except (ValueError, struct.error) as err:
        return ImageInfo("?", None, None, None, f"message does not parse ({err})")
    return compressed_image_info(fmt, data)


def compressed_image_info(fmt: str, data: bytes) -> ImageInfo:
    """Size from the JPEG/PNG header bytes; failing that, by decoding the image with FFmpeg."""
    codec = None
    png_at = data.find(_PNG_MAGIC, 0, 64)  # compressedDepth: a 12-byte config header first
    if data.startswith(_JPEG_SOI):
        codec = "jpeg"
        size = _jpeg_size(data)
    elif png_at >= 0:
        codec = "png"
        data = data[png_at:]
        size = struct.unpack_from(">II", data, 16) if data[12:16] == b"IHDR" and len(data) >= 24 else None
    else:
        return ImageInfo(fmt, None, None, None, "data is neither JPEG nor PNG")
    if size is None:
        try:
            size = _decoded_size(codec, data)
        except Exception as err:  # PyAV raises various errors for damaged data
            return ImageInfo(fmt, codec, None, None, f"image does not decode ({err})")
    width, height = size
    return ImageInfo(fmt, codec, int(width), int(height))


def _jpeg_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) from a JPEG's start-of-frame marker, or None if it is not found."""
    pos, end = 2, len(data)
    while pos + 4 <= end:
        if data[pos] != 0xFF:
            return None
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker == 0x01 or 0xD0 <= marker <= 0xD7:  # markers without a length
            pos += 2
            continue
        if marker in (0xD9, 0xDA):  # end of image, start of scan: no frame header before
            return None
        (length,) = struct.unpack_from(">H", data, pos + 2)
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):  # SOFn
            if pos + 9 > end:
                return None
            height, width = struct.unpack_from(">HH", data, pos + 5)
            return width, height
        pos += 2 + length
    return None


def _decoded_size(codec: str, data: bytes) -> tuple[int, int]:
    import av

    context = av.CodecContext.create("mjpeg" if codec == "jpeg" else "png", "r")
    context.options = {"max_pixels": str(1 << 26)}  # a hostile header must not make FFmpeg allocate GBs
    frames = context.decode(av.Packet(data)) or context.decode(None)
    if not frames:
        raise ValueError("no picture")
    return frames[0].width, frames[0].height


def first_images(bag: Ros1Bag, firsts: Mapping[str, int]) -> dict[str, bytes | BagError]:
    """The first message of each image topic (or why it cannot be read), reading few chunks.

    Topics whose first messages lie within a second of each other are read in one pass
    (usually the same chunk) that stops as soon as each has its first message.
    """
    out: dict[str, bytes] = {}
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


# --- profile check ----------------------------------------------------------------------------


def _check_topic(
    role: str, topic: str, topics: Mapping[str, ros1.TopicInfo], expected_types=kuavo.EXPECTED_TYPES
) -> TopicCheck:
    expected = expected_types.get(topic)
    info = topics.get(topic)
    if info is None:
        status = "missing"
    elif info.count == 0:
        status = "empty"
    elif not kuavo.type_accepted(topic, info.msgtype):
        status = "wrong type"
    else:
        status = "ok"
    return TopicCheck(role, topic, status, ros1_name(info.msgtype) if info else None, ros1_name(expected))


def check_profile(
    index: IndexView, profile: Profile, source: str = "", overrides: list[str] | tuple[str, ...] = ()
) -> ProfileCheck:
    """Which features the profile can fill from this bag, and how many frames it would give."""
    from spill2lerobot.spill.stage1 import check_topics, make_plan

    if profile.is_generic:
        return _check_generic(index, profile, source, overrides)
    ds = profile.dataset
    topics = index.topics()
    roles = kuavo.resolve_topics(profile, topics)
    hands = kuavo.hands(profile)
    traj_role = "arm trajectory" + ("" if roles.arm_traj == kuavo.ARM_TRAJ_SYNCED else f" (or {kuavo.ARM_TRAJ_SYNCED})")
    features = [FeatureCheck(cam.key, [_check_topic("images", cam.topic, topics)]) for cam in roles.cameras]
    features.append(
        FeatureCheck(
            "observation.state",
            [
                _check_topic(f"joint states (arm joints of {'/'.join(hands)})", roles.sensors, topics),
                _check_topic(f"{ds.eef_type} state", roles.eef_state, topics),
            ],
        )
    )
    features.append(
        FeatureCheck(
            "action",
            [
                _check_topic("joint commands", roles.joint_cmd, topics),
                _check_topic(traj_role, roles.arm_traj, topics),
                _check_topic(f"{ds.eef_type} command", roles.eef_cmd, topics),
            ],
        )
    )
    if roles.main_camera not in roles.cameras:  # e.g. main_timeline wrist_cam_l with which_arm right
        features.append(FeatureCheck("timeline", [_check_topic("main camera", roles.main_camera.topic, topics)]))
    check = ProfileCheck(
        source=source or str(DEFAULT_PROFILE),
        overrides=list(overrides),
        eef_type=ds.eef_type,
        which_arm=ds.which_arm,
        main_timeline=ds.main_timeline,
        main_timeline_fps=ds.main_timeline_fps,
        train_hz=ds.train_hz,
        sample_drop=ds.sample_drop,
        features=features,
        frames=None,
        reason=None,
    )
    # same checks as convert
    return _try_convert_checks(
        check, index, lambda: check_topics(index, roles), lambda: make_plan(index, profile, roles)
    )


def _check_generic(index, profile: Profile, source: str, overrides) -> ProfileCheck:
    """``check_profile`` for a generic profile: its cameras and the topics of its parts."""
    from spill2lerobot.features import extractor_for
    from spill2lerobot.spill.stage1 import check_topics, make_plan

    ds = profile.dataset
    topics = index.topics()
    extractor = extractor_for(profile)
    roles = extractor.resolve_topics(topics)
    expected = extractor.expected_types(roles)
    features = [FeatureCheck(cam.key, [_check_topic("images", cam.topic, topics, expected)]) for cam in roles.cameras]
    for key, parts in (("observation.state", profile.features.state), ("action", profile.features.action)):
        checks = [_check_topic(part.field, part.topic, topics, expected) for part in parts]
        features.append(FeatureCheck(key, checks))
    check = ProfileCheck(
        source=source or str(DEFAULT_PROFILE),
        overrides=list(overrides),
        eef_type="-",
        which_arm="-",
        main_timeline=ds.main_timeline,
        main_timeline_fps=ds.main_timeline_fps,
        train_hz=ds.train_hz,
        sample_drop=ds.sample_drop,
        features=features,
        frames=None,
        reason=None,
        generic=True,
    )
    bag = getattr(index, "bag", index)

    def check_bag() -> None:
        check_topics(index, roles, expected)
        msgtypes = {topic: info.msgtype for topic, info in topics.items()}
        extractor.check_fields(roles, msgtypes, bag.typestore(), str(index.path))

    return _try_convert_checks(check, index, check_bag, lambda: make_plan(index, profile, roles))


def _try_convert_checks(check: ProfileCheck, index, check_bag, plan_bag) -> ProfileCheck:
    """The profile check's verdict: its own problems first, then convert's checks and timeline."""
    problems = check.problems
    if problems:
        check.reason = "convert would fail: " + "; ".join(p.describe() for p in problems)
        return check
    try:
        check_bag()
        plan, _ = plan_bag()
    except (UserError, BagError) as err:
        check.reason = str(err).removeprefix(f"{index.path}: ")
        return check
    check.frames = plan.frames
    return check


def ros2_image_info(bag: Ros2Bag, msgtype: str, payload: bytes) -> ImageInfo:
    """Format and size of one CDR image message (deserialized: one message per camera)."""
    try:
        msg = bag.deserialize_raw(payload, msgtype)
    except Exception as err:  # rosbags raises many types for damaged bytes
        return ImageInfo("?", None, None, None, f"message does not parse ({type(err).__name__})")
    if msgtype == RAW_IMAGE:
        return ImageInfo(msg.encoding, "raw", int(msg.width), int(msg.height))
    return compressed_image_info(msg.format, bytes(msg.data))


# --- suggestion -------------------------------------------------------------------------------


def _flatten(data: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out.update(_flatten(value, f"{name}."))
        else:
            out[name] = value
    return out


def _train_hz(fps: int, wanted: int) -> int:
    """``wanted`` if it divides ``fps``, else the largest divisor of ``fps`` below it."""
    return max(d for d in range(1, min(fps, wanted) + 1) if fps % d == 0)


def suggest(index: IndexView, facts: Mapping[str, TopicFacts], base: Profile) -> tuple[Profile, Suggestion]:
    """Adapt ``base`` (the Kuavo defaults, or --config/--set) to what the bag holds."""
    if base.is_generic:
        checked = check_profile(index, base)
        note = "--suggest adapts Kuavo profiles; a generic profile is checked as given"
        return base, Suggestion([], [note], checked.frames, checked.reason)
    topics = index.topics()
    if not looks_like_kuavo(topics):
        return _suggest_generic(index, facts, base)
    ds = dataclasses.replace(base.dataset, resize=dataclasses.replace(base.dataset.resize))
    values: list[Inferred] = []
    warnings: list[str] = []

    def present(topic: str) -> bool:
        return topic in topics and topics[topic].count > 0

    cams = {  # each camera on its compressed topic, else on its raw one (as the profile reads them)
        name: next(t for t in (topic, kuavo.RAW_CAMERA_TOPICS[name]) if present(t))
        for name, topic in kuavo.CAMERA_TOPICS.items()
        if present(topic) or present(kuavo.RAW_CAMERA_TOPICS[name])
    }
    wrists = [hand for hand in ("left", "right") if f"wrist_cam_{hand[0]}" in cams]
    if wrists:
        names = ", ".join(cams[f"wrist_cam_{h[0]}"] for h in wrists)
        if set(kuavo.hands(base)) <= set(wrists):  # the chosen arm(s) have their cameras: keep
            why = f"kept; wrist cameras present: {names}"
        else:
            ds.which_arm = "both" if len(wrists) == 2 else wrists[0]
            why = f"wrist cameras present: {names}"
        values.append(Inferred("dataset.which_arm", ds.which_arm, why))
    else:
        warnings.append(
            f"no wrist camera ({kuavo.CAMERA_TOPICS['wrist_cam_l']}, {kuavo.CAMERA_TOPICS['wrist_cam_r']}):"
            f" which_arm kept as {ds.which_arm}"
        )
    if "head_cam_h" not in cams:
        warnings.append(f"no head camera ({kuavo.CAMERA_TOPICS['head_cam_h']}): the Kuavo profile always records it")

    full = [eef for eef, pair in kuavo.EEF_TOPICS.items() if all(present(t) for t in pair)]
    partial = [eef for eef, pair in kuavo.EEF_TOPICS.items() if any(present(t) for t in pair)]
    if full:
        ds.eef_type = ds.eef_type if ds.eef_type in full else full[0]
        values.append(
            Inferred("dataset.eef_type", ds.eef_type, f"{' and '.join(kuavo.EEF_TOPICS[ds.eef_type])} present")
        )
    elif partial:
        ds.eef_type = ds.eef_type if ds.eef_type in partial else partial[0]
        have = [t for t in kuavo.EEF_TOPICS[ds.eef_type] if present(t)]
        lacks = [t for t in kuavo.EEF_TOPICS[ds.eef_type] if not present(t)]
        values.append(Inferred("dataset.eef_type", ds.eef_type, f"{', '.join(have)} present"))
        warnings.append(f"effector {ds.eef_type} lacks {', '.join(lacks)}")
    else:
        known = ", ".join(t for pair in kuavo.EEF_TOPICS.values() for t in pair)
        warnings.append(f"no effector topic ({known}): eef_type kept as {ds.eef_type}")

    if "head_cam_h" in cams:
        main, why = "head_cam_h", "head camera present"
    elif cams:
        used = [cam.name for cam in kuavo.cameras(dataclasses.replace(base, dataset=ds))]
        main = sorted(cams, key=lambda name: (name not in used, name))[0]  # prefer a camera the profile records
        why = "no head camera; a wrist camera"
    else:
        main, why = ds.main_timeline, ""
        warnings.append(f"no camera at all: main_timeline kept as {main}")
    if why:
        ds.main_timeline = main
        values.append(Inferred("dataset.main_timeline", main, why))
    main_facts = facts.get(cams.get(main, kuavo.CAMERA_TOPICS[main]))
    if main_facts is not None and main_facts.rate_hz:
        fps = min(MAX_FPS, max(1, round(main_facts.rate_hz)))
        ds.main_timeline_fps = fps
        values.append(Inferred("dataset.main_timeline_fps", fps, f"{main} measured at {main_facts.rate_hz:.2f} Hz"))
        train_hz = _train_hz(fps, base.dataset.train_hz)
        ds.train_hz = train_hz
        kept = "kept" if train_hz == base.dataset.train_hz else f"{base.dataset.train_hz} does not divide {fps}"
        values.append(Inferred("dataset.train_hz", train_hz, kept))
        if main_facts.gaps:
            warnings.append(
                f"{main} has {main_facts.gaps} gaps (largest {main_facts.max_gap_s:.3f} s), so its measured rate"
                f" may be low; its median interval gives {1 / main_facts.median_interval_s:.2f} Hz"
            )
    elif cams:
        warnings.append(f"{main}: rate not measurable; main_timeline_fps kept as {ds.main_timeline_fps}")
    image = main_facts.image if main_facts is not None else None
    if image is not None and image.width and image.height:
        width, height = _resize_side(image.width), _resize_side(image.height)
        ds.resize.width, ds.resize.height = width, height
        odd = "" if (width, height) == (image.width, image.height) else ", rounded down to even"
        why = f"{main} images are {image.width}x{image.height} {image.codec or image.format}{odd}"
        values.append(Inferred("dataset.resize", {"width": width, "height": height}, why))
    elif cams:
        warnings.append(f"{main}: image size unknown; resize kept as {ds.resize.width}x{ds.resize.height}")

    profile = dataclasses.replace(base, dataset=ds)
    checked = check_profile(index, profile)
    return profile, Suggestion(values, warnings, checked.frames, checked.reason, _differences(base, profile))


def _resize_side(pixels: int) -> int:
    """An image side as a resize the profile accepts: even, within MIN_SIDE..MAX_SIDE."""
    return min(MAX_SIDE, max(MIN_SIDE, pixels - pixels % 2))


def _suggest_generic(index, facts: Mapping[str, TopicFacts], base: Profile) -> tuple[Profile, Suggestion]:
    """Not a Kuavo bag: a generic profile from its cameras, joint states and commands."""
    warnings: list[str] = []
    features, main = suggest_features(getattr(index, "bag", index), index.topics(), facts, warnings)
    profile = generic_base(base, features, main)
    ds = profile.dataset
    values = [Inferred("features", "cameras, state, action", "not a Kuavo bag: a generic profile")]
    main_facts = facts.get(features.cameras[main])
    if main_facts is not None and main_facts.rate_hz:
        values.append(Inferred("dataset.main_timeline", main, "the fastest camera"))
        ds.main_timeline_fps = min(MAX_FPS, max(1, round(main_facts.rate_hz)))
        ds.train_hz = _train_hz(ds.main_timeline_fps, base.dataset.train_hz)
        values.append(
            Inferred("dataset.main_timeline_fps", ds.main_timeline_fps, f"measured {main_facts.rate_hz:.2f} Hz")
        )
        values.append(Inferred("dataset.train_hz", ds.train_hz, f"divides {ds.main_timeline_fps}"))
        image = main_facts.image
        if image is not None and image.width and image.height:
            ds.resize.width, ds.resize.height = _resize_side(image.width), _resize_side(image.height)
            values.append(
                Inferred("dataset.resize", {"width": ds.resize.width, "height": ds.resize.height}, f"{main} images")
            )
    warnings.append("check units: add convert (deg2rad, mm2m, ...) to parts whose topic is not in radians/metres")
    checked = check_profile(index, profile)
    return profile, Suggestion(values, warnings, checked.frames, checked.reason)  # too much for --set


def _differences(base: Profile, profile: Profile) -> list[str]:
    """``--set`` arguments that turn ``base`` into ``profile``."""
    old = _flatten(base.to_dict())
    return [f"{key}={value}" for key, value in _flatten(profile.to_dict()).items() if old.get(key) != value]


def _yaml_value(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)  # JSON scalars and lists are valid YAML


def profile_yaml(profile: Profile, suggestion: Suggestion, bag: BagFacts) -> str:
    """The suggested profile as YAML, with a header saying what was inferred and why."""
    lines = [
        f"# Profile suggested by `spill2lerobot inspect --suggest` for {bag.path}",
        f"# ({bag.duration_s:.1f} s, {len(bag.topics)} topics). Inferred from the bag:",
    ]
    for item in suggestion.values:
        value = item.value
        shown = f"{value['width']}x{value['height']}" if item.key == "dataset.resize" else value
        lines.append(f"#   {item.key} = {shown}  ({item.why})")
    for warning in suggestion.warnings:
        lines.append(f"# WARNING: {warning}")
    if suggestion.frames is not None:
        lines.append(f"# With this profile the bag gives {suggestion.frames} frames at {profile.dataset.train_hz} Hz.")
    else:
        lines.append(f"# This profile cannot convert the bag yet: {suggestion.reason}")
    lines += [
        "# Everything else is the Kuavo default (or what --config/--set gave). Use it with:",
        f"#   spill2lerobot convert {bag.path} OUT/ --config THIS_FILE.yaml",
    ]
    inferred = {item.key for item in suggestion.values}

    def emit(data: Mapping[str, Any], indent: int, prefix: str) -> None:
        for key, value in data.items():
            name = f"{prefix}{key}"
            note = "  # inferred" if name in inferred else ""
            if isinstance(value, Mapping):
                lines.append(f"{' ' * indent}{key}:{note}")
                emit(value, indent + 2, f"{name}.")
            elif isinstance(value, list) and value and all(isinstance(v, Mapping) for v in value):
                lines.append(f"{' ' * indent}{key}:{note}")  # generic parts: one a line, defaults left out
                defaults = dataclasses.asdict(FieldPart())
                for item in value:
                    shown = {k: v for k, v in item.items() if k in ("topic", "field") or v != defaults.get(k)}
                    lines.append(f"{' ' * indent}  - {_yaml_value(shown)}")
            else:
                lines.append(f"{' ' * indent}{key}: {_yaml_value(value)}{note}")

    for section, data in profile.to_dict().items():
        lines.append("")
        lines.append(f"{section}:")
        emit(data, 2, f"{section}.")
    text = "\n".join(lines) + "\n"
    _check_loads(text)
    return text


def _check_loads(text: str) -> None:
    """The suggestion must be valid --config input: load it back (a failure is a bug here)."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "suggested.yaml"
        path.write_text(text, encoding="utf-8")
        load_profile(path)


# --- the whole report -------------------------------------------------------------------------


def inspect_bag(
    path: str | Path,
    profile: Profile | None = None,
    source: str = "",
    overrides: list[str] | tuple[str, ...] = (),
    with_yaml: bool = False,
) -> BagFacts:
    """Everything ``inspect`` reports about one bag, reading only its index."""
    started = time.monotonic()
    path = Path(path)
    if path.is_dir() and not is_ros2_bag(path):
        raise UserError(f"{path}: is a folder; pass one .bag/.mcap/.db3 file or a rosbag2 folder")
    if profile is None:
        profile = load_profile(source or None, overrides)
    try:
        bag = open_bag(path, recover=True)
    except BagError as err:
        raise UserError(str(err)) from None
    ros2 = isinstance(bag, Ros2Bag)
    with bag:
        try:
            index = bag if ros2 else IndexView(bag)  # a ROS2 bag answers from its storages' indexes
            topics = index.topics()
            facts = {
                topic: topic_facts(topic, info.msgtype, info.count, index.topic_times(topic), bag.start_ns)
                for topic, info in sorted(topics.items())
            }
            firsts = {
                topic: f.first_ns
                for topic, f in facts.items()
                if topics[topic].msgtype in IMAGE_TYPES and f.first_ns is not None
            }
            for topic, payload in first_images(bag, firsts).items():
                if isinstance(payload, BagError):
                    reason = str(payload).removeprefix(f"{bag.path}: ")
                    facts[topic].image = ImageInfo("?", None, None, None, f"first message unreadable: {reason}")
                elif ros2:
                    facts[topic].image = ros2_image_info(bag, topics[topic].msgtype, payload)
                else:
                    facts[topic].image = image_info(topics[topic].msgtype, payload)
            for topic in firsts.keys() - {t for t, f in facts.items() if f.image}:
                facts[topic].image = ImageInfo("?", None, None, None, "first message not found")
            compression = bag.compressions() if ros2 else _compressions(bag)
        except BagError as err:
            raise UserError(str(err)) from None
        check = check_profile(index, profile, source, overrides)
        suggested, suggestion = suggest(index, facts, profile)
        report = BagFacts(
            path=str(path),
            size_bytes=bag.size_bytes() if ros2 else path.stat().st_size,
            chunks=len(bag.chunks),
            compression=compression,
            indexed=bag.recovery is None,
            recovery=str(bag.recovery) if bag.recovery else None,
            start_ns=bag.start_ns,
            end_ns=bag.end_ns,
            duration_s=(bag.end_ns - bag.start_ns) / 1e9,
            messages=sum(info.count for info in topics.values()),
            topics=list(facts.values()),
            profile=check,
            suggestion=suggestion,
        )
        if with_yaml:
            suggestion.yaml = profile_yaml(suggested, suggestion, report)
        report.bytes_read = bag.bytes_read
    report.seconds = time.monotonic() - started
    return report


# --- text -------------------------------------------------------------------------------------


def _when(ns: int) -> str:
    stamp = datetime.fromtimestamp(ns // _NS, UTC).strftime("%Y-%m-%d %H:%M:%S")
    return f"{stamp}.{ns % _NS // 1_000_000:03d} UTC"


def _fmt(value: float | None, spec: str, missing: str = "-") -> str:
    return missing if value is None or (isinstance(value, float) and math.isnan(value)) else format(value, spec)


def _mb(n: int) -> str:
    return f"{n / 1e6:.1f} MB"


def report_lines(report: BagFacts) -> list[str]:
    lines = [f"bag: {report.path}"]
    compression = "/".join(report.compression) or "-"
    lines.append(
        f"  {_mb(report.size_bytes)}, {report.chunks} chunks (compression {compression}), "
        f"{report.messages} messages on {len(report.topics)} topics"
    )
    if report.messages:
        lines.append(
            f"  {_when(report.start_ns)} .. {_when(report.end_ns)}, duration {report.duration_s:.2f} s"
            f" (start {report.start_ns / 1e9:.3f})"
        )
    lines.append("  indexed" if report.indexed else f"  NOT INDEXED: {report.recovery}")
    lines.append("")
    header = ("topic", "type", "count", "rate Hz", "span s", "max gap s", f"gaps>{GAP_FACTOR}x")
    rows = []
    for t in report.topics:
        span = f"{t.start_s:.2f}-{t.end_s:.2f}" if t.start_s is not None else "-"
        gap = f"{t.max_gap_s:.3f}@{t.max_gap_at_s:.1f}" if t.max_gap_s is not None else "-"
        rows.append((t.topic, t.type, str(t.count), _fmt(t.rate_hz, ".2f"), span, gap, _fmt(t.gaps, "d")))
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    right = {2, 3, 6}

    def row(cells: tuple[str, ...]) -> str:
        parts = [c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(cells, widths, strict=True))]
        return "  " + "  ".join(parts).rstrip()

    lines.append(row(header))
    for t, cells in zip(report.topics, rows, strict=True):
        lines.append(row(cells))
        if t.image is not None:
            img = t.image
            size = f"{img.width}x{img.height}" if img.width else f"size unknown: {img.error}"
            lines.append(f"      image: {img.codec or '?'} {size}, format {img.format!r}")
    lines.append("")
    p = report.profile
    sets = "".join(f" --set {o}" for o in p.overrides)
    kind = "generic" if p.generic else f"eef_type {p.eef_type}, which_arm {p.which_arm}"
    lines.append(
        f"profile {p.source}{sets}: {kind}, "
        f"main_timeline {p.main_timeline} at {p.main_timeline_fps} fps, train_hz {p.train_hz}"
    )
    for feature in p.features:
        for i, check in enumerate(feature.topics):
            status = "ok" if check.ok else check.status.upper()
            name = feature.feature if i == 0 else ""
            detail = f"{check.topic} ({check.role})"
            if check.status == "wrong type":
                detail += f": carries {check.type}, expected {check.expected}"
            lines.append(f"  {status:<11}{name:<32}{detail}")
    if p.frames is not None:
        stride = p.main_timeline_fps // p.train_hz
        lines.append(
            f"  frames: {p.frames} at {p.train_hz} Hz (every {stride} of {p.main_timeline}'s frames,"
            f" {p.sample_drop} dropped at each end)"
        )
    else:
        lines.append(f"  frames: none ({p.reason})")
    overrides = report.suggestion.overrides
    if overrides:
        lines.append("  the bag suggests: " + " ".join(f"--set {o}" for o in overrides) + "  (see --suggest)")
    elif any(item.key == "features" for item in report.suggestion.values):
        lines.append("  not a Kuavo bag: --suggest writes a generic profile for it")
    lines.append("")
    share = 100 * report.bytes_read / report.size_bytes if report.size_bytes else 0.0
    lines.append(
        f"read {_mb(report.bytes_read)} of {_mb(report.size_bytes)} ({share:.2f}%, index only)"
        f" in {report.seconds:.2f} s"
    )
    return lines


@click.command(name="inspect", epilog="Example:\n\n  spill2lerobot inspect demo.bag --suggest > my_robot.yaml")
@click.argument("bag", type=click.Path(path_type=Path))
@click.option("--config", "config", type=click.Path(path_type=Path), help="YAML profile (default: configs/kuavo.yaml).")
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE", help="Override a profile option.")
@click.option("--suggest", "want_profile", is_flag=True, help="Print a starting profile (YAML) adapted to this bag.")
@click.option("--json", "as_json", is_flag=True, help="Print the facts as one JSON document.")
def inspect_command(
    bag: Path, config: Path | None, overrides: tuple[str, ...], want_profile: bool, as_json: bool
) -> None:
    """Show what BAG holds (topics, rates, gaps, image sizes) and what the profile can make of it.

    Reads only the bag's index and one image per camera (a few MB of a GB bag), so it answers
    in about a second where a full read of a 30 GB bag takes minutes.
    """
    profile = load_profile(config, overrides)
    report = inspect_bag(bag, profile, str(config) if config else "", overrides, with_yaml=want_profile)
    if as_json:
        click.echo(json.dumps(report.to_json(with_yaml=want_profile), indent=2))
    elif want_profile:
        click.echo(report.suggestion.yaml, nl=False)
    else:
        for line in report_lines(report):
            click.echo(line)
