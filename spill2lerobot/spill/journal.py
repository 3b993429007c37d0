"""The spill's bookkeeping: manifest (what the spill was made from), per-bag plan and journal.

A chunk counts as done only once its journal line exists; the line is appended (and fsynced)
after the chunk's shard, segments and statistics have been renamed into place.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

from spill2lerobot.errors import UserError
from spill2lerobot.fsutil import append_line_durably, write_json_atomic
from spill2lerobot.spill.layout import SPILL_FORMAT, SPILL_VERSION, SpillLayout


@dataclass(frozen=True)
class BagEntry:
    id: str
    path: str
    size: int
    mtime_ns: int

    @classmethod
    def of(cls, index: int, path: Path) -> BagEntry:
        if path.is_dir():  # a rosbag2 folder: its files' total size and latest modification
            stats = [f.stat() for f in sorted(path.iterdir()) if f.is_file()]
            size, mtime = sum(st.st_size for st in stats), max((st.st_mtime_ns for st in stats), default=0)
            return cls(id=f"{index:04d}", path=str(path.resolve()), size=size, mtime_ns=mtime)
        stat = path.stat()
        return cls(id=f"{index:04d}", path=str(path.resolve()), size=stat.st_size, mtime_ns=stat.st_mtime_ns)

    @property
    def name(self) -> str:
        return Path(self.path).name


@dataclass(frozen=True)
class BagPlan:
    frames: int  # aligned frames of the whole bag
    chunk_size: int
    main_topic: str
    topics: list[str]

    @property
    def chunks(self) -> int:
        return -(-self.frames // self.chunk_size)

    def chunk_frames(self, chunk: int) -> int:
        return min(self.chunk_size, self.frames - chunk * self.chunk_size)


def make_manifest(profile_dict: dict, bags: list[BagEntry]) -> dict:
    return {
        "format": SPILL_FORMAT,
        "version": SPILL_VERSION,
        "profile": profile_dict,
        "bags": [asdict(bag) for bag in bags],
    }


def read_manifest(layout: SpillLayout) -> dict:
    try:
        manifest = json.loads(layout.manifest.read_text())
    except FileNotFoundError:
        raise UserError(
            f"{layout.root}: not a spill folder (no spill.json); run `spill2lerobot stage1` first"
        ) from None
    except json.JSONDecodeError:
        raise UserError(f"{layout.manifest}: damaged; start over with `spill2lerobot stage1 --restart`") from None
    if manifest.get("format") != SPILL_FORMAT or manifest.get("version") != SPILL_VERSION:
        raise UserError(
            f"{layout.manifest}: spill format {manifest.get('format')} v{manifest.get('version')} is not "
            f"{SPILL_FORMAT} v{SPILL_VERSION}; re-run stage1 with --restart"
        )
    return manifest


def write_manifest(layout: SpillLayout, manifest: dict) -> None:
    layout.root.mkdir(parents=True, exist_ok=True)
    write_json_atomic(layout.manifest, manifest)


def manifest_difference(old: dict, new: dict) -> str | None:
    """A short description of what differs between two manifests, or None."""
    if old["profile"] != new["profile"]:
        for section, values in new["profile"].items():
            for key, value in values.items():
                before = old["profile"].get(section, {}).get(key)
                if before != value:
                    return f"option {section}.{key} was {before!r}, now {value!r}"
        return "the options differ"
    old_bags = {bag["path"]: bag for bag in old["bags"]}
    new_bags = {bag["path"]: bag for bag in new["bags"]}
    if list(old_bags) != list(new_bags):
        return "the input bags differ"
    for path, bag in new_bags.items():
        if bag != old_bags[path]:
            return f"{path} changed since the spill was made (size or modification time)"
    return None


def read_plan(layout: SpillLayout, bag_id: str) -> BagPlan | None:
    try:
        return BagPlan(**json.loads(layout.plan(bag_id).read_text()))
    except FileNotFoundError:
        return None


def write_plan(layout: SpillLayout, bag_id: str, plan: BagPlan) -> None:
    layout.bag_dir(bag_id).mkdir(parents=True, exist_ok=True)
    write_json_atomic(layout.plan(bag_id), asdict(plan))


def read_journal(layout: SpillLayout, bag_id: str) -> list[dict]:
    """Finished chunks in order. A torn last line (crash mid-append) is ignored."""
    entries = []
    try:
        lines = layout.journal(bag_id).read_text().splitlines()
    except FileNotFoundError:
        return []
    for line in lines:
        try:
            entry = json.loads(line)
        except json.JSONDecodeError:
            break
        if entry.get("chunk") != len(entries):
            break
        entries.append(entry)
    return entries


def rewrite_journal(layout: SpillLayout, bag_id: str, entries: list[dict]) -> None:
    """Drop a torn tail so that appends continue from a clean line."""
    path = layout.journal(bag_id)
    text = "".join(json.dumps(entry) + "\n" for entry in entries)
    if path.exists() and path.read_text() != text:
        write_json_text(path, text)


def write_json_text(path: Path, text: str) -> None:
    from spill2lerobot.fsutil import write_bytes_atomic

    write_bytes_atomic(path, text.encode())


def append_journal(layout: SpillLayout, bag_id: str, entry: dict) -> None:
    append_line_durably(layout.journal(bag_id), json.dumps(entry))
