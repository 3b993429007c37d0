"""The spill's bookkeeping: manifest (what the spill was made from), per-bag plan and journal.

A chunk counts as done only once its journal line exists; the line is appended (and fsynced)
after the chunk's shard, segments and statistics have been renamed into place.
"""

from __future__ import annotations

import io
import json
import os
import stat
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray
from pydantic import ValidationError

from spill2lerobot.errors import UserError
from spill2lerobot.fsutil import append_line_durably, write_bytes_atomic, write_json_atomic
from spill2lerobot.profiles import Profile, profile_from_dict
from spill2lerobot.spill.format import (
    MAX_MANIFEST_BYTES,
    BagEntry,
    BagPlan,
    BagReport,
    ChunkStats,
    JournalEntry,
    Manifest,
    SpillDamaged,
    describe,
    parse,
    read_json,
)
from spill2lerobot.spill.layout import SPILL_FORMAT, SPILL_VERSION, SpillLayout

RESTART = "start over with `spill2lerobot stage1 ... --restart`"
MAX_JOURNAL_BYTES = 64 * 1024 * 1024

__all__ = ["BagEntry", "BagPlan"]  # the records, importable from here as before


def redo_from(chunk: int) -> str:
    """What to do about a damaged chunk: stage 1 checks finished chunks when it resumes."""
    return f"run the same `spill2lerobot stage1` command again: it redoes chunk {chunk} and the chunks after it"


def make_manifest(profile_dict: dict[str, Any], bags: list[BagEntry]) -> Manifest:
    return Manifest(format=SPILL_FORMAT, version=SPILL_VERSION, profile=profile_dict, bags=bags)


def read_manifest(layout: SpillLayout) -> Manifest:
    """spill.json, checked: the format and version, every bag entry (ids that stay in the spill)."""
    try:
        raw = read_json(layout.manifest, MAX_MANIFEST_BYTES, RESTART)
    except FileNotFoundError:
        raise UserError(
            f"{layout.root}: not a spill folder (no spill.json); run `spill2lerobot stage1` first"
        ) from None
    if isinstance(raw, dict) and (raw.get("format"), raw.get("version")) != (SPILL_FORMAT, SPILL_VERSION):
        raise UserError(
            f"{layout.manifest}: spill format {str(raw.get('format'))[:40]} v{str(raw.get('version'))[:10]} is not "
            f"{SPILL_FORMAT} v{SPILL_VERSION}; re-run stage1 with --restart"
        )
    manifest = parse(Manifest, raw, layout.manifest, RESTART)
    profile_of(layout, manifest)  # the options must still make a profile
    return manifest


def profile_of(layout: SpillLayout, manifest: Manifest) -> Profile:
    """The profile the spill was made with (merge needs no options of its own)."""
    try:
        return profile_from_dict(manifest.profile)
    except UserError as exc:
        detail = str(exc)[:160]
        raise SpillDamaged(f"{layout.manifest}: damaged profile ({detail}); {RESTART}") from None


def manifest_bags(manifest: Manifest) -> list[BagEntry]:
    return list(manifest.bags)


def write_manifest(layout: SpillLayout, manifest: Manifest) -> None:
    layout.root.mkdir(parents=True, exist_ok=True)
    write_json_atomic(layout.manifest, manifest.model_dump())


def manifest_difference(old: Manifest, new: Manifest) -> str | None:
    """A short description of what differs between two manifests, or None."""
    if old.profile != new.profile:
        for section, values in new.profile.items():
            for key, value in values.items():
                before = old.profile.get(section, {}).get(key)
                if before != value:
                    return f"option {section}.{key} was {before!r}, now {value!r}"
        return "the options differ"
    old_bags = {bag.path: bag for bag in old.bags}
    new_bags = {bag.path: bag for bag in new.bags}
    if list(old_bags) != list(new_bags):
        return "the input bags differ"
    for path, bag in new_bags.items():
        before = old_bags[path]
        if before.fingerprint is None:  # a spill made before bags had fingerprints
            bag = bag.model_copy(update={"fingerprint": None})
        if bag.task != before.task:
            return f"{path}: its task file changed since the spill was made"
        if bag != before:
            return f"{path} changed since the spill was made (size or modification time)"
    return None


def read_plan(layout: SpillLayout, bag_id: str) -> BagPlan | None:
    path = layout.plan(bag_id)
    try:
        raw = read_json(path, todo=RESTART)
    except FileNotFoundError:
        return None
    return parse(BagPlan, raw, path, RESTART)


def write_plan(layout: SpillLayout, bag_id: str, plan: BagPlan) -> None:
    layout.bag_dir(bag_id).mkdir(parents=True, exist_ok=True)
    write_json_atomic(layout.plan(bag_id), plan.model_dump())


def read_journal(layout: SpillLayout, bag_id: str, plan: BagPlan | None = None) -> list[JournalEntry]:
    """Finished chunks in order. A torn last line (crash mid-append) is ignored."""
    return read_journal_checked(layout, bag_id, plan)[0]


def read_journal_checked(
    layout: SpillLayout, bag_id: str, plan: BagPlan | None = None
) -> tuple[list[JournalEntry], str | None]:
    """Finished chunks in order, and what is wrong past them, if anything but a torn last line.
    An entry counts only if it continues the ones before it (and, given the plan, fits it)."""
    path = layout.journal(bag_id)
    try:
        lines = read_text(path, MAX_JOURNAL_BYTES, RESTART).splitlines()
    except FileNotFoundError:
        return [], None
    entries: list[JournalEntry] = []
    for number, line in enumerate(lines, 1):
        entry, problem = _entry(line, len(entries), _next_first_frame(entries), plan)
        if entry is not None:
            entries.append(entry)
            continue
        if number == len(lines) and not line.rstrip().endswith("}"):
            return entries, None  # torn by a crash while appending: that chunk is simply redone
        return entries, f"{path} line {number}: {problem}"
    return entries, None


def _next_first_frame(entries: list[JournalEntry]) -> int:
    return entries[-1].next_frame if entries else 0


def _entry(line: str, chunk: int, first_frame: int, plan: BagPlan | None) -> tuple[JournalEntry | None, str]:
    """The line's entry if it continues the journal (and fits the plan), else why not."""
    try:
        entry = JournalEntry.model_validate_json(line)
    except ValidationError as exc:
        return None, f"damaged ({describe(exc)})"
    if (entry.chunk, entry.first_frame) != (chunk, first_frame):
        found = f"chunk {entry.chunk} at frame {entry.first_frame}"
        return None, f"{found}, where chunk {chunk} at frame {first_frame} belongs"
    if plan is not None and (chunk >= plan.chunks or entry.frames != plan.chunk_frames(chunk)):
        return None, f"chunk {chunk} of {entry.frames} frames does not fit the bag's plan"
    return entry, ""


def read_text(path: Path, limit: int, todo: str) -> str:
    """A spill text file (a regular file of bounded size); FileNotFoundError propagates."""
    info = os.lstat(path)
    if not stat.S_ISREG(info.st_mode) or info.st_size > limit:
        raise SpillDamaged(f"{path}: not a regular file of at most {limit} bytes; {todo}")
    try:
        return path.read_bytes().decode("utf-8")
    except UnicodeDecodeError:
        raise SpillDamaged(f"{path}: damaged (not text); {todo}") from None


def rewrite_journal(layout: SpillLayout, bag_id: str, entries: list[JournalEntry]) -> None:
    """Drop a torn tail so that appends continue from a clean line."""
    path = layout.journal(bag_id)
    text = "".join(_line(entry) + "\n" for entry in entries)
    if path.exists() and path.read_bytes() != text.encode():
        write_bytes_atomic(path, text.encode())


def append_journal(layout: SpillLayout, bag_id: str, entry: JournalEntry) -> None:
    append_line_durably(layout.journal(bag_id), _line(entry))


def _line(entry: JournalEntry) -> str:
    return json.dumps(entry.model_dump())


def write_chunk_stats(layout: SpillLayout, bag_id: str, stats: ChunkStats) -> None:
    """The chunk's last file: its commit (a worker's own temporary name, then a rename)."""
    write_json_atomic(layout.chunk_stats(bag_id, stats.chunk), stats.model_dump(), unique=True)


def write_samples(layout: SpillLayout, bag_id: str, chunk: int, camera: str, pixels: list[NDArray[Any]]) -> None:
    """chunk-NNNNN.<camera>.samples.npy: the (n, channels) uint8 statistics pixels of the chunk's
    bag-sampled frames, in frame order (no frame: an empty (0, 3) array)."""
    array = np.concatenate(pixels) if pixels else np.zeros((0, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    np.save(buffer, np.ascontiguousarray(array, dtype=np.uint8), allow_pickle=False)
    write_bytes_atomic(layout.samples(bag_id, chunk, camera), buffer.getvalue(), unique=True)


def write_report(layout: SpillLayout, bag_id: str, report: BagReport) -> None:
    write_json_atomic(layout.report(bag_id), report.model_dump())
