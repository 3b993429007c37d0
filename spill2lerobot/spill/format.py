"""The spill's records, checked whenever they are read (docs/spill-format.md).

A spill is the contract between stage 1 and merge, and it lives on disk for days: a file may be
cut short by a full disk, edited by hand or replaced by something else. Every record is read
through these models (bounded size, known keys, types and ranges), so damage is one line naming
the file and what to do, never a traceback, and no id read from a spill leads outside it.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from spill2lerobot.errors import UserError
from spill2lerobot.spill.task_file import BagTask, read_bag_task

MAX_MANIFEST_BYTES = 64 * 1024 * 1024  # ~100,000 bags
MAX_RECORD_BYTES = 16 * 1024 * 1024  # a chunk's statistics: sparse depth counts of a few cameras
MAX_INT = 2**63 - 1
DEPTH_VALUES = 65536

Count = Annotated[int, Field(ge=0, le=MAX_INT)]
Nanoseconds = Annotated[int, Field(ge=0, le=MAX_INT)]
Text = Annotated[str, Field(max_length=4096)]
SampleSet = Literal["bag", "chunk"]  # whose image statistics: a bag episode's or a chunk episode's
Name = Annotated[str, Field(pattern=r"^[A-Za-z0-9_]{1,64}$")]  # camera names: parts of file names


class SpillDamaged(UserError):
    """A spill file that is missing, unreadable or not what stage 1 writes."""


class Record(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


RecordT = TypeVar("RecordT", bound=Record)


class BagEntry(Record):
    """One input bag of the spill: its id (its folder under bags/) and what it was made from."""

    id: Annotated[str, Field(pattern=r"^[0-9]{4,8}$")]
    path: Annotated[str, Field(min_length=1, max_length=4096)]
    size: Count
    mtime_ns: int
    # The bag's content identity (bag_fingerprint), the same on any machine; absent in older spills.
    fingerprint: Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")] | None = None
    # The bag's task file (spill/task_file.py), read by stage 1 so merge never needs the bag;
    # None: the bag has none and the profile's dataset.task_description applies.
    task: BagTask | None = None

    @classmethod
    def of(cls, index: int, path: Path) -> BagEntry:
        fingerprint, task = bag_fingerprint(path), read_bag_task(path)
        if path.is_dir():  # a rosbag2 folder: its files' total size and latest modification
            stats = [f.stat() for f in sorted(path.iterdir()) if f.is_file()]
            size, mtime = sum(st.st_size for st in stats), max((st.st_mtime_ns for st in stats), default=0)
        else:
            info = path.stat()
            size, mtime = info.st_size, info.st_mtime_ns
        return cls(
            id=f"{index:04d}", path=str(path.resolve()), size=size, mtime_ns=mtime, fingerprint=fingerprint, task=task
        )

    def task_text(self, default: str) -> str:
        """The bag's task: its task file's, else ``default`` (the profile's task_description)."""
        return self.task.task if self.task is not None else default

    @property
    def name(self) -> str:
        return Path(self.path).name


FINGERPRINT_SPAN = 1024 * 1024  # bytes hashed at each end of a bag file


def bag_fingerprint(path: Path) -> str:
    """A bag's identity that survives copying to another machine: sha256 over the size and the
    first and last MiB of each file (a ROS1 bag's index and an MCAP's summary are at its end)."""
    digest = hashlib.sha256()
    files = [f for f in sorted(path.iterdir()) if f.is_file()] if path.is_dir() else [path]
    for file in files:
        info = file.stat()
        digest.update(f"{file.name if path.is_dir() else ''}\0{info.st_size}\0".encode())
        if not stat.S_ISREG(info.st_mode):  # never open a device or a pipe
            continue
        size = info.st_size
        with open(file, "rb") as handle:
            digest.update(handle.read(FINGERPRINT_SPAN))
            handle.seek(max(0, size - FINGERPRINT_SPAN))
            digest.update(handle.read(FINGERPRINT_SPAN))
    return digest.hexdigest()


class BagPlan(Record):
    frames: Annotated[int, Field(ge=1, le=10**9)]  # aligned frames of the whole bag
    chunk_size: Annotated[int, Field(ge=1, le=10**7)]
    main_topic: Text
    topics: Annotated[list[Text], Field(max_length=10_000)]

    @property
    def chunks(self) -> int:
        return -(-self.frames // self.chunk_size)

    def chunk_frames(self, chunk: int) -> int:
        return min(self.chunk_size, self.frames - chunk * self.chunk_size)


class Manifest(Record):
    format: Literal["spill2lerobot-spill"]
    version: Literal[1]
    profile: dict[str, Any]
    bags: list[BagEntry]

    @model_validator(mode="after")
    def _unique(self) -> Manifest:
        ids = [bag.id for bag in self.bags]
        if len(set(ids)) != len(ids) or ids != sorted(ids):
            raise ValueError("bag ids repeat or are out of order")
        return self


class JournalEntry(Record):
    chunk: Count
    first_frame: Count
    frames: Annotated[int, Field(ge=1, le=10**7)]
    resume_ns: Nanoseconds

    @property
    def next_frame(self) -> int:
        """The first frame of the chunk after this one."""
        return self.first_frame + self.frames


class Moments(Record):
    sum: Annotated[list[float], Field(min_length=1, max_length=4)]
    sum_sq: Annotated[list[float], Field(min_length=1, max_length=4)]
    pixels: Count


class DepthCounts(Record):
    values: Annotated[list[Annotated[int, Field(ge=0, lt=DEPTH_VALUES)]], Field(max_length=DEPTH_VALUES)]
    counts: Annotated[list[Count], Field(max_length=DEPTH_VALUES)]

    @model_validator(mode="after")
    def _same_length(self) -> DepthCounts:
        if len(self.values) != len(self.counts):
            raise ValueError("values and counts differ in length")
        return self


ColourCounts = Annotated[list[Annotated[list[Count], Field(min_length=256, max_length=256)]], Field(max_length=4)]


class CameraStats(Record):
    frames: Count
    bag_samples: Count
    bag_counts: ColourCounts | DepthCounts
    chunk_samples: Count
    chunk_counts: ColourCounts | DepthCounts
    bag_moments: Moments | None = None
    chunk_moments: Moments | None = None
    bad_frames: Count = 0
    filled_frames: Count = 0

    def counts(self, sample_set: SampleSet) -> ColourCounts | DepthCounts:
        """Value counts of the frames sampled for a bag episode's or a chunk episode's statistics."""
        return self.bag_counts if sample_set == "bag" else self.chunk_counts

    def samples(self, sample_set: SampleSet) -> int:
        return self.bag_samples if sample_set == "bag" else self.chunk_samples

    def moments(self, sample_set: SampleSet) -> Moments | None:
        """The float32 pixel sums: a bag episode's run on through its chunks (the last chunk's
        are the episode's); a chunk episode's are its own."""
        return self.bag_moments if sample_set == "bag" else self.chunk_moments


class ChunkStats(Record):
    chunk: Count
    frames: Annotated[int, Field(ge=1, le=10**7)]
    cameras: dict[Name, CameraStats]
    faults: dict[Annotated[str, Field(max_length=64)], dict[Text, Count]]


class BagReport(Record):
    bag: Text
    frames: Count | None = None
    recovery: Annotated[str, Field(max_length=100_000)] | None = None

    @field_validator("recovery")
    @classmethod
    def _one_line(cls, value: str | None) -> str | None:
        return None if value is None else " ".join(value.split())


def read_json(path: Path, limit: int = MAX_RECORD_BYTES, todo: str = "") -> Any:
    """The JSON in ``path``, a regular file (not a link) of at most ``limit`` bytes.
    FileNotFoundError propagates: a missing file means different things to different callers."""
    info = os.lstat(path)
    if not stat.S_ISREG(info.st_mode):
        raise SpillDamaged(f"{path}: not a regular file (a link or a folder); {todo}")
    if info.st_size > limit:
        raise SpillDamaged(f"{path}: {info.st_size} bytes, larger than stage 1 ever writes; {todo}")
    try:
        return json.loads(path.read_bytes().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise SpillDamaged(f"{path}: damaged, not JSON ({_short(exc)}); {todo}") from None


def parse(model: type[RecordT], data: Any, path: Path, todo: str) -> RecordT:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise SpillDamaged(f"{path}: damaged ({describe(exc)}); {todo}") from None


def describe(exc: ValidationError) -> str:
    """The first problem of a validation error, short: 'bags.0.id: String should match pattern'."""
    first = exc.errors(include_url=False, include_input=False)[0]
    where = ".".join(str(part) for part in first["loc"]) or "record"
    return f"{where}: {first['msg'][:100]}"


def _short(exc: Exception) -> str:
    return str(exc).splitlines()[0][:100] if str(exc) else type(exc).__name__
