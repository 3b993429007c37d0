"""Per-bag task files (spill/task_file.py): where they are, what they may hold, and one-line
errors naming the file for anything else."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from spill2lerobot.errors import UserError
from spill2lerobot.spill.format import BagEntry
from spill2lerobot.spill.task_file import BagTask, Subtask, read_bag_task, task_file_for


@pytest.mark.parametrize(
    ("bag", "task_file"),
    [
        ("run1.bag", "run1.task.yaml"),
        ("run1.bag.active", "run1.task.yaml"),
        ("run1.mcap", "run1.task.yaml"),
        ("run.1.db3", "run.1.task.yaml"),
    ],
)
def test_task_file_beside_a_bag_file(tmp_path, bag, task_file):
    (tmp_path / bag).write_bytes(b"")
    assert task_file_for(tmp_path / bag) == tmp_path / task_file


def test_task_file_inside_a_rosbag2_folder(tmp_path):
    folder = tmp_path / "run2"
    folder.mkdir()
    assert task_file_for(folder) == folder / "task.yaml"


def test_no_task_file_means_none(tmp_path):
    bag = tmp_path / "a.bag"
    bag.write_bytes(b"x")
    assert read_bag_task(bag) is None
    assert BagEntry.of(0, bag).task_text("profile task") == "profile task"


def test_task_and_subtasks_are_read(tmp_path):
    bag = tmp_path / "a.bag"
    bag.write_bytes(b"x")
    (tmp_path / "a.task.yaml").write_text(
        "task: >\n  stack the red cube\n  on the blue one\nsubtasks:\n"
        "  - {start: 0, text: grasp the red cube}\n  - {start: 2.5, text: '  place it  '}\n"
    )
    expected = BagTask(
        task="stack the red cube on the blue one",
        subtasks=[Subtask(start=0.0, text="grasp the red cube"), Subtask(start=2.5, text="place it")],
    )
    assert read_bag_task(bag) == expected
    entry = BagEntry.of(3, bag)
    assert entry.task == expected and entry.task_text("profile task") == "stack the red cube on the blue one"
    assert BagEntry.model_validate(entry.model_dump()) == entry  # survives spill.json


@pytest.mark.parametrize(
    ("content", "says"),
    [
        ("task: ''\n", "bad task file (task:"),
        ("subtasks: []\n", "bad task file (task: Field required"),
        ("task: x\ncolour: red\n", "bad task file (colour:"),
        ("task: 5\n", "bad task file (task:"),
        ("task: x\nsubtasks: [{start: 2, text: b}, {start: 1, text: a}]\n", "strictly ascending"),
        ("task: x\nsubtasks: [{start: -1, text: a}]\n", "bad task file (subtasks.0.start:"),
        ("task: x\nsubtasks: [{start: .nan, text: a}]\n", "bad task file (subtasks.0.start:"),
        ("- just a list\n", "bad task file"),
        ("task: [unclosed\n", "not valid YAML at line"),
        ("a: &x hello\ntask: *x\n", "YAML aliases are not allowed"),
    ],
)
def test_bad_task_files_are_one_line_naming_the_file(tmp_path, content, says):
    bag = tmp_path / "a.bag"
    bag.write_bytes(b"x")
    (tmp_path / "a.task.yaml").write_text(content)
    with pytest.raises(UserError) as err:
        read_bag_task(bag)
    message = str(err.value)
    assert message.startswith(f"{tmp_path / 'a.task.yaml'}: ") and says in message and "\n" not in message


def test_oversized_binary_and_linked_task_files_are_refused(tmp_path):
    bag = tmp_path / "a.bag"
    bag.write_bytes(b"x")
    task_file = tmp_path / "a.task.yaml"
    task_file.write_text("task: " + "x" * 70_000 + "\n")
    with pytest.raises(UserError, match="over 64 KiB"):
        read_bag_task(bag)
    task_file.write_bytes(b"task: \xff\xfe\n")
    with pytest.raises(UserError, match="not UTF-8"):
        read_bag_task(bag)
    task_file.unlink()
    (tmp_path / "elsewhere.yaml").write_text("task: x\n")
    os.symlink(tmp_path / "elsewhere.yaml", task_file)
    with pytest.raises(UserError, match="not a regular file"):
        read_bag_task(bag)


def test_a_dangling_link_is_not_silently_ignored(tmp_path):
    bag = tmp_path / "a.bag"
    bag.write_bytes(b"x")
    os.symlink(tmp_path / "missing.yaml", tmp_path / "a.task.yaml")
    with pytest.raises(UserError, match="not a regular file"):
        read_bag_task(Path(bag))
