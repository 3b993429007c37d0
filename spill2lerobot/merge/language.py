"""A bag's timed subtasks (its task file, spill/task_file.py) as lerobot 0.6.1's language
annotations, the way `lerobot-annotate` writes them (lerobot/annotations/steerable_pipeline):

- info.json gains the features ``language_persistent`` and ``language_events`` (dtype
  ``language``, shape [1]), after lerobot's default columns;
- every frame of an episode carries the episode's whole list of persistent rows (the writer
  broadcasts it), one row per subtask: ``{"role": "assistant", "content": TEXT, "style":
  "subtask", "timestamp": T, "camera": None, "tool_calls": None}`` sorted by timestamp, T being
  the timestamp of the episode's frame nearest to the subtask's start (``snap_to_frame``; a tie
  goes to the earlier frame); ``language_events`` is empty on every frame.

lerobot reads the subtask of frame t as the row with the latest timestamp <= t
(``language_render.active_at``). An episode that is one spill chunk of a bag
(``--episodes chunk``) starts with the subtask active at its first frame, at timestamp 0.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from spill2lerobot.lerobot_format import LANGUAGE_EVENTS, LANGUAGE_FEATURE, LANGUAGE_PERSISTENT
from spill2lerobot.merge.plan import Episode
from spill2lerobot.spill.task_file import subtask_frames


def language_features(episodes: list[Episode]) -> dict[str, Any]:
    """The language features to add to info.json: both columns if any episode has subtasks."""
    if not any(ep.bag.task is not None and ep.bag.task.subtasks for ep in episodes):
        return {}  # datasets without subtasks stay exactly as before
    return {LANGUAGE_PERSISTENT: dict(LANGUAGE_FEATURE), LANGUAGE_EVENTS: dict(LANGUAGE_FEATURE)}


def subtask_rows(episode: Episode, fps: int) -> list[dict[str, Any]]:
    """The episode's persistent rows: its bag's subtasks on the episode's own timeline."""
    task = episode.bag.task
    if task is None or not task.subtasks:
        return []
    first = episode.chunks[0].chunk * episode.plan.chunk_size  # the episode's first frame in the bag
    frames = subtask_frames(task, fps, episode.bag.path)
    rows = []
    for index, (frame, sub) in enumerate(zip(frames, task.subtasks, strict=True)):
        following = frames[index + 1] if index + 1 < len(frames) else math.inf
        if frame >= first + episode.length or following <= first:
            continue  # starts after this episode, or is over before it starts
        start = max(frame, first) - first
        rows.append(
            {
                "role": "assistant",
                "content": sub.text,
                "style": "subtask",
                "timestamp": float(_frame_timestamp(start, fps)),
                "camera": None,
                "tool_calls": None,
            }
        )
    return rows


def _frame_timestamp(frame: int, fps: int) -> float:
    """A frame's timestamp as the data files hold it (float32 of frame / fps), so a row's
    timestamp equals its frame's exactly."""
    return float(np.float32(frame / fps))


def add_language_columns(columns: dict[str, Any], rows: list[dict[str, Any]], features: dict[str, Any]) -> None:
    """Put the episode's rows on every frame of ``columns`` (one batch of the episode)."""
    if LANGUAGE_PERSISTENT not in features:
        return
    n = len(columns["frame_index"])
    columns[LANGUAGE_PERSISTENT] = [rows] * n
    columns[LANGUAGE_EVENTS] = [[] for _ in range(n)]
