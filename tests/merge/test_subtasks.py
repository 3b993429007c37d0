"""Timed subtasks of a bag's task file, written as lerobot 0.6.1's language annotations and read
back by lerobot itself: the subtask of each frame is lerobot's ``active_at`` over the frame's
``language_persistent`` rows. Expected subtasks per frame are written by hand from the task file."""

from __future__ import annotations

import json

import numpy as np
import pyarrow.parquet as pq
import pytest
from lerobot.annotations.steerable_pipeline.reader import snap_to_frame
from lerobot.datasets.language import LANGUAGE_EVENTS, LANGUAGE_PERSISTENT, language_feature_info
from lerobot.datasets.language_render import active_at
from lerobot.datasets.lerobot_dataset import LeRobotDataset
from support import SMALL_ARGS, run_cli, tiny_bag

from spill2lerobot.spill.task_file import nearest_frame

TASK_FILE = (
    "task: stack the cubes\n"
    "subtasks:\n"
    "  - {start: 0, text: reach}\n"
    "  - {start: 1.04, text: lift}\n"  # frame 10 at 10 fps (nearest)
    "  - {start: 2.25, text: place}\n"  # frame 22.5: a tie, the earlier frame 22
)


def subtask_of(dataset: LeRobotDataset, index: int) -> str:
    item = dataset[index]
    row = active_at(float(item["timestamp"]), persistent=item[LANGUAGE_PERSISTENT], style="subtask")
    assert row is not None and row["role"] == "assistant" and row["camera"] is None
    assert item[LANGUAGE_EVENTS] == []
    return str(row["content"])


@pytest.mark.slow
def test_subtasks_per_frame_as_lerobot_reads_them(tmp_path):
    bags = [tiny_bag(tmp_path, "a", 4.0, 1), tiny_bag(tmp_path, "b", 3.0, 2)]
    (tmp_path / "a.task.yaml").write_text(TASK_FILE)
    out = tmp_path / "out"
    run_cli("convert", *map(str, bags), str(out), *SMALL_ARGS)
    info = json.loads((out / "meta" / "info.json").read_text())
    features = list(info["features"])
    assert features[-2:] == [LANGUAGE_PERSISTENT, LANGUAGE_EVENTS]
    expected_info = {key: {**value, "shape": list(value["shape"])} for key, value in language_feature_info().items()}
    assert {key: info["features"][key] for key in features[-2:]} == expected_info
    dataset = LeRobotDataset("local/kuavo", root=out)
    length = dataset.meta.episodes[0]["length"]
    assert length > 25
    expected = ["reach"] * 10 + ["lift"] * 12 + ["place"] * (length - 22)
    assert [subtask_of(dataset, i) for i in range(length)] == expected
    # the bag without a task file: the profile's task and no subtask rows
    second = dataset[length]
    assert second["task"] == "kuavo task" and second[LANGUAGE_PERSISTENT] == []
    table = pq.read_table(next((out / "data").rglob("*.parquet")))
    rows = table.column(LANGUAGE_PERSISTENT)[0].as_py()
    assert [(r["timestamp"], r["content"], r["style"]) for r in rows] == [
        (0.0, "reach", "subtask"),
        (pytest.approx(1.0), "lift", "subtask"),
        (pytest.approx(2.2), "place", "subtask"),
    ]
    checked = json.loads(run_cli("validate", str(out), "--json").stdout)
    assert checked["ok"] is True, checked


@pytest.mark.slow
def test_chunk_episodes_start_with_the_active_subtask(tmp_path):
    bag = tiny_bag(tmp_path, "a", 5.0, 1)
    (tmp_path / "a.task.yaml").write_text(TASK_FILE)
    out = tmp_path / "out"
    run_cli("convert", str(bag), str(out), *SMALL_ARGS, "--episodes", "chunk")  # chunks of 20 frames
    dataset = LeRobotDataset("local/kuavo", root=out)
    first, second = (dataset.meta.episodes[i] for i in range(2))
    assert [subtask_of(dataset, i) for i in range(20)] == ["reach"] * 10 + ["lift"] * 10
    start = second["dataset_from_index"]
    assert [subtask_of(dataset, start + i) for i in range(20)] == ["lift"] * 2 + ["place"] * 18
    timestamps = [row["timestamp"] for row in dataset[start][LANGUAGE_PERSISTENT]]
    assert timestamps == [0.0, pytest.approx(0.2)]
    assert first["tasks"] == ["stack the cubes"]


@pytest.mark.slow
def test_subtasks_on_one_frame_are_one_line(tmp_path):
    bag = tiny_bag(tmp_path, "a", 3.0, 1)
    (tmp_path / "a.task.yaml").write_text("task: t\nsubtasks: [{start: 1.0, text: a}, {start: 1.02, text: b}]\n")
    result = run_cli("convert", str(bag), str(tmp_path / "out"), *SMALL_ARGS, check=False)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert f"{bag.resolve()}: in its task file, subtask 'b' starts on the same frame" in last
    assert not (tmp_path / "out").exists()


def test_subtask_frames_are_lerobots_snap_to_frame():
    """A subtask starts on the frame lerobot-annotate's snap_to_frame picks (nearest, ties to
    the earlier), over many starts at several rates."""
    for fps in (5, 10, 15, 30):
        frame_times = [k / fps for k in range(200)]
        for start in np.linspace(0.0, 6.0, 601):
            expected = round(snap_to_frame(float(start), frame_times) * fps)
            assert nearest_frame(float(start), fps) == expected, (fps, start)


@pytest.mark.slow
def test_appending_subtasks_to_a_dataset_without_is_one_line(tmp_path):
    plain, annotated = tiny_bag(tmp_path, "a", 2.6, 1), tiny_bag(tmp_path, "b", 2.6, 2)
    (tmp_path / "b.task.yaml").write_text("task: t\nsubtasks: [{start: 0, text: s}]\n")
    out = tmp_path / "out"
    run_cli("convert", str(plain), str(out), *SMALL_ARGS)
    before = sorted((p.relative_to(out), p.stat().st_mtime_ns) for p in out.rglob("*"))
    result = run_cli("convert", str(annotated), str(out), *SMALL_ARGS, "--append", check=False)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith(f"error: {out}: cannot append: feature 'language_")
    assert sorted((p.relative_to(out), p.stat().st_mtime_ns) for p in out.rglob("*")) == before
