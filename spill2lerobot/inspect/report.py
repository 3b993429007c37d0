"""``inspect``'s report: everything about one bag from its index (``inspect_bag``), and as text.

What someone facing a 30 GB bag wants first, in about a second: per topic its type, count,
rate, time span and gaps; for image topics the format and size of one image; whether the
profile finds every topic it needs (and the frames its timeline would give); and, with
``--suggest``, a starting profile adapted to the bag.

Only the index is read: the connection and chunk-info records, the IndexData records that
follow each chunk (all topics' record times in one pass) and, per group of image topics that
start together, the one chunk holding their first messages. ``bytes_read`` proves it: about
2 MB of a 1.2 GB bag.
"""

from __future__ import annotations

import math
import time
from datetime import UTC, datetime
from pathlib import Path

from spill2lerobot.bag import Ros2Bag, is_ros2_bag, open_bag, wire
from spill2lerobot.bag.base import BagError
from spill2lerobot.errors import UserError
from spill2lerobot.inspect.check import check_profile
from spill2lerobot.inspect.facts import GAP_FACTOR, BagFacts, ImageInfo
from spill2lerobot.inspect.images import first_images, image_info, ros2_image_info
from spill2lerobot.inspect.profile_yaml import profile_yaml
from spill2lerobot.inspect.suggest import suggest
from spill2lerobot.inspect.topics import Index, IndexView, topic_facts
from spill2lerobot.profiles import Profile, load_profile

_NS = 1_000_000_000


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
            index: Index = bag if isinstance(bag, Ros2Bag) else IndexView(bag)  # ROS2: the storages' indexes
            topics = index.topics()
            facts = {
                topic: topic_facts(topic, info.msgtype, info.count, index.topic_times(topic), bag.start_ns)
                for topic, info in sorted(topics.items())
            }
            firsts = {
                topic: f.first_ns
                for topic, f in facts.items()
                if topics[topic].msgtype in wire.IMAGE_TYPES and f.first_ns is not None
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
            compression = bag.compressions()
        except BagError as err:
            raise UserError(str(err)) from None
        check = check_profile(index, profile, source, overrides)
        suggested, suggestion = suggest(index, facts, profile)
        report = BagFacts(
            path=str(path),
            size_bytes=bag.size_bytes(),
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
    kind = ", ".join(f"{key} {value}" for key, value in p.settings.items()) or "generic"
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
        lines += [f"  {note}" for note in p.notes]
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
