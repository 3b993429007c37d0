"""A bag's task, and its timed subtasks, from a small YAML file beside the bag.

``NAME.task.yaml`` beside ``NAME.bag`` / ``NAME.mcap`` / ``NAME.db3`` / ``NAME.bag.active``, or
``task.yaml`` inside a rosbag2 folder::

    task: pick up the cube and put it in the bin
    subtasks:                      # optional; seconds from the episode's first frame, ascending
      - {start: 0.0, text: reach for the cube}
      - {start: 3.5, text: put it in the bin}

Stage 1 reads it once and records it in the spill (spill.json), so merge never needs the bag.
The file is read-only input like the bag: bounded size, no YAML aliases, known keys only, and
anything wrong is one line naming the file.
"""

from __future__ import annotations

import math
import os
import stat
from pathlib import Path
from typing import Annotated

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from spill2lerobot.errors import UserError

MAX_TASK_FILE_BYTES = 64 * 1024  # a task and a few hundred subtasks
MAX_TASK_CHARS = 1000
MAX_SUBTASKS = 1000
BAG_SUFFIXES = (".bag.active", ".bag", ".mcap", ".db3")
FOLDER_TASK_FILE = "task.yaml"

TaskText = Annotated[str, Field(min_length=1, max_length=MAX_TASK_CHARS)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False, strict=True)


class Subtask(_Model):
    """A subtask that starts at ``start`` seconds into the episode and lasts until the next."""

    start: Annotated[float, Field(ge=0, le=10**7)]
    text: TaskText

    @field_validator("start", mode="before")
    @classmethod
    def _number(cls, value: object) -> object:
        # strict mode refuses an int for a float; "start: 3" is a natural way to write 3 s
        return float(value) if isinstance(value, int) and not isinstance(value, bool) else value

    @field_validator("text")
    @classmethod
    def _stripped(cls, value: str) -> str:
        return _one_line(value)


class BagTask(_Model):
    """What a task file says (and what the spill records per bag)."""

    task: TaskText
    subtasks: Annotated[list[Subtask], Field(max_length=MAX_SUBTASKS)] = []

    @field_validator("task")
    @classmethod
    def _stripped(cls, value: str) -> str:
        return _one_line(value)

    @model_validator(mode="after")
    def _ascending(self) -> BagTask:
        starts = [sub.start for sub in self.subtasks]
        if starts != sorted(set(starts)):
            raise ValueError("subtask starts must be strictly ascending")
        return self


def nearest_frame(seconds: float, fps: int) -> int:
    """The frame whose timestamp (frame / fps) is nearest to ``seconds``, a tie to the earlier
    (lerobot-annotate's ``snap_to_frame`` takes the first of equally near frames). Distances
    are measured as it does, ``|k / fps - seconds|`` in floats, so near-ties fall its way."""
    around = math.floor(seconds * fps)
    candidates = [k for k in (around - 1, around, around + 1, around + 2) if k >= 0]
    return min(candidates, key=lambda k: abs(k / fps - seconds))


def subtask_frames(task: BagTask, fps: int, bag: str) -> list[int]:
    """Each subtask's first frame at ``fps``; two on one frame are an error naming the bag
    (lerobot could not tell which is active there)."""
    frames = [nearest_frame(sub.start, fps) for sub in task.subtasks]
    for index in range(1, len(frames)):
        if frames[index] == frames[index - 1]:
            raise UserError(
                f"{bag}: in its task file, subtask {task.subtasks[index].text[:40]!r} starts on the same frame as "
                f"the one before it at {fps} fps; start subtasks at least one frame (1/{fps} s) apart"
            )
    return frames


def _one_line(value: str) -> str:
    text = " ".join(value.split())  # a task is one line of text (a YAML block scalar may wrap it)
    if not text:
        raise ValueError("empty text")
    return text


def task_file_for(bag: Path) -> Path:
    """Where a bag's task file is (whether or not it exists)."""
    if bag.is_dir():
        return bag / FOLDER_TASK_FILE
    name = bag.name
    stem = next((name[: -len(suffix)] for suffix in BAG_SUFFIXES if name.endswith(suffix)), bag.stem)
    return bag.with_name(f"{stem}.task.yaml")


def read_bag_task(bag: Path) -> BagTask | None:
    """The bag's task file, checked; None if it has none (the profile's task applies)."""
    path = task_file_for(bag)
    if not os.path.lexists(path):
        return None
    text = _read_text(path)
    data = _load_yaml(path, text)
    try:
        return BagTask.model_validate(data)
    except ValidationError as exc:
        first = exc.errors(include_url=False, include_input=False)[0]
        where = ".".join(str(part) for part in first["loc"]) or "file"
        raise UserError(
            f"{path}: bad task file ({where}: {first['msg'][:100]}); write `task: TEXT` and optional "
            "`subtasks: [{start: SECONDS, text: TEXT}, ...]` in ascending start order"
        ) from None


def _read_text(path: Path) -> str:
    try:
        # stat before open: opening a FIFO blocks; a link could lead anywhere
        info = os.lstat(path)
        if not stat.S_ISREG(info.st_mode):
            raise UserError(f"{path}: the task file is not a regular file (a link or a folder); make it a file")
        if info.st_size > MAX_TASK_FILE_BYTES:
            raise UserError(f"{path}: the task file is over {MAX_TASK_FILE_BYTES // 1024} KiB; a task file is short")
        # O_NOFOLLOW and O_NONBLOCK: a file swapped for a link or a FIFO after the lstat is
        # refused or read empty, never followed or waited on
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0))
        with os.fdopen(fd, "rb") as handle:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                raise UserError(f"{path}: the task file is not a regular file (a link or a folder); make it a file")
            data = handle.read(MAX_TASK_FILE_BYTES + 1)
    except OSError as exc:
        raise UserError(f"{path}: cannot read the task file ({exc.strerror}); check its permissions") from None
    if len(data) > MAX_TASK_FILE_BYTES:  # grew after the stat
        raise UserError(f"{path}: the task file is over {MAX_TASK_FILE_BYTES // 1024} KiB; a task file is short")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UserError(f"{path}: the task file is not UTF-8 text (byte {exc.start}); save it as UTF-8") from None


def _load_yaml(path: Path, text: str) -> object:
    """The file's YAML; aliases are refused before anything is built (an alias bomb expands
    to gigabytes from a few lines)."""
    try:
        for event in yaml.parse(text, Loader=yaml.SafeLoader):
            if isinstance(event, yaml.AliasEvent):
                raise UserError(f"{path}: YAML aliases are not allowed in a task file; write the text out")
        return yaml.safe_load(text)
    except (yaml.YAMLError, RecursionError, ValueError) as exc:
        line = getattr(getattr(exc, "problem_mark", None), "line", None)
        where = f" at line {line + 1}" if line is not None else ""
        raise UserError(f"{path}: the task file is not valid YAML{where}; write `task: TEXT`") from None
