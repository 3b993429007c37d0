"""The row checks of one batch of a data file: index, episode, frame, timestamp, task, finite values."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from spill2lerobot import lerobot_format
from spill2lerobot.validate.episodes import Episode
from spill2lerobot.validate.metadata import Array, Info


@dataclass
class Flags:
    """Problems of one file, one line per kind: how many rows, and the first example."""

    bad: dict[str, tuple[int, str]] = field(default_factory=dict)  # check -> (count, first example)

    def flag(self, check: str, count: int, example: str) -> None:
        prev = self.bad.get(check)
        self.bad[check] = (count + (prev[0] if prev else 0), prev[1] if prev else example)


class BatchCheck:
    """What every row must hold, given the episodes table (frame ranges, tasks) and info.json."""

    def __init__(self, info: Info, episodes: list[Episode], tasks: list[str] | None) -> None:
        self.info = info
        self.episodes = episodes
        self.tasks = tasks
        self.starts = np.array([ep.start for ep in episodes], dtype=np.int64)
        self.stops = np.array([ep.stop for ep in episodes], dtype=np.int64)
        self.total = int(self.stops[-1]) if episodes else 0
        self.vector_keys = [key for key in info.numeric_keys if key not in lerobot_format.DEFAULT_FEATURES]

    def check(self, cols: dict[str, Array], position: int, file_start: int, flags: Flags) -> tuple[Array, Array]:
        """Flag the batch's wrong rows; its index and episode_index columns."""
        n = len(cols["index"])
        rows = np.arange(position, position + n)
        index = cols["index"][:, 0].astype(np.int64)
        ep = cols["episode_index"][:, 0].astype(np.int64)
        frame = cols["frame_index"][:, 0].astype(np.int64)
        wrong = np.flatnonzero(index != rows)
        if len(wrong):
            r = wrong[0]
            flags.flag(
                "index",
                len(wrong),
                f"row {position - file_start + r} holds index {index[r]}, lerobot reads it as frame "
                f"{rows[r]} (rows missing, duplicated or out of order)",
            )
        inside = (index >= 0) & (index < self.total)
        if not inside.all():
            r = np.flatnonzero(~inside)[0]
            flags.flag("range", int((~inside).sum()), f"index {index[r]} is outside 0..{self.total - 1}")
        self._check_episode_and_frame(index, ep, frame, inside, flags)
        self._check_timestamp(index, frame, cols["timestamp"][:, 0], flags)
        if "task_index" in cols:
            self._check_task(index, ep, cols["task_index"][:, 0].astype(np.int64), flags)
        for key in self.vector_keys:
            if key in cols and np.issubdtype(cols[key].dtype, np.floating):
                finite = np.isfinite(cols[key]).all(axis=1)
                if not finite.all():
                    flags.flag(f"nan:{key}", int((~finite).sum()), f"index {index[~finite][0]}: {key} is NaN or inf")
        return index, ep

    def _check_episode_and_frame(self, index: Array, ep: Array, frame: Array, inside: Array, flags: Flags) -> None:
        expect_ep = np.searchsorted(self.stops, index, side="right")
        expect_ep[~inside] = -1
        wrong = np.flatnonzero(inside & (ep != expect_ep))
        if len(wrong):
            r = wrong[0]
            flags.flag("episode", len(wrong), f"index {index[r]} has episode_index {ep[r]}, expected {expect_ep[r]}")
        safe_ep = np.clip(expect_ep, 0, max(0, len(self.episodes) - 1))
        expect_frame = index - self.starts[safe_ep]
        wrong = np.flatnonzero(inside & (frame != expect_frame))
        if len(wrong):
            r = wrong[0]
            flags.flag(
                "frame",
                len(wrong),
                f"index {index[r]} has frame_index {frame[r]}, expected {expect_frame[r]}",
            )

    def _check_timestamp(self, index: Array, frame: Array, stamp: Array, flags: Flags) -> None:
        fps = self.info.fps
        expect_stamp = (frame / fps).astype(np.float32)
        off = np.abs(stamp.astype(np.float64) - expect_stamp) > np.spacing(np.abs(expect_stamp)) + 1e-9
        wrong = np.flatnonzero(off)
        if len(wrong):
            r = wrong[0]
            flags.flag(
                "timestamp",
                len(wrong),
                f"index {index[r]} has timestamp {float(stamp[r]):.6f}, "
                f"frame_index {frame[r]} / fps {fps} = {float(expect_stamp[r]):.6f}",
            )

    def _check_task(self, index: Array, ep: Array, task: Array, flags: Flags) -> None:
        tasks = self.tasks
        limit = len(tasks) if tasks is not None else self.info.total_tasks or 0
        wrong = np.flatnonzero((task < 0) | (task >= limit))
        if len(wrong):
            flags.flag("task", len(wrong), f"index {index[wrong[0]]} has task_index {task[wrong[0]]}")
        elif tasks is not None:
            for e, t in np.unique(np.stack([ep, task], axis=1), axis=0).tolist():
                if 0 <= e < len(self.episodes) and tasks[t] not in self.episodes[e].tasks:
                    flags.flag(f"task-{e}", 1, f"episode {e} has rows of task {tasks[t]!r}, not its own")
