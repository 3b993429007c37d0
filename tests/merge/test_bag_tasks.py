"""Per-bag tasks: a bag's task file gives its episodes their task in meta/tasks.parquet, the
episodes table and every frame's task_index, as lerobot 0.6.1 reads them; bags without one take
the profile's dataset.task_description. The oracle is lerobot itself and the texts written by hand."""

from __future__ import annotations

import json

import gen_ros2_bag
import pandas as pd
import pytest
from lerobot.datasets.lerobot_dataset import LeRobotDataset
from support import ROOT, SMALL_ARGS, run_cli, tiny_bag


@pytest.mark.slow
def test_each_bag_gets_its_task_and_the_spill_keeps_it(tmp_path):
    bags = [tiny_bag(tmp_path, name, 3.0, seed) for name, seed in (("a", 1), ("b", 2), ("c", 3))]
    (tmp_path / "a.task.yaml").write_text("task: open the drawer\n")
    (tmp_path / "c.task.yaml").write_text("task: close the drawer\nsubtasks: [{start: 0, text: push}]\n")
    spill, out = tmp_path / "spill", tmp_path / "out"
    run_cli("stage1", *map(str, bags), str(spill), *SMALL_ARGS)
    manifest = json.loads((spill / "spill.json").read_text())
    assert [bag["task"] for bag in manifest["bags"]] == [
        {"task": "open the drawer", "subtasks": []},
        None,
        {"task": "close the drawer", "subtasks": [{"start": 0.0, "text": "push"}]},
    ]
    for name in ("a", "c"):  # merge reads the tasks from the spill, not from beside the bags
        (tmp_path / f"{name}.task.yaml").unlink()
    run_cli("merge", str(spill), str(out))

    tasks = pd.read_parquet(out / "meta" / "tasks.parquet")
    assert tasks["task_index"].to_dict() == {"open the drawer": 0, "kuavo task": 1, "close the drawer": 2}
    dataset = LeRobotDataset("local/kuavo", root=out)
    assert dataset.meta.total_tasks == 3
    assert [dataset.meta.episodes[i]["tasks"] for i in range(3)] == [
        ["open the drawer"],
        ["kuavo task"],
        ["close the drawer"],
    ]
    for episode, task in enumerate(["open the drawer", "kuavo task", "close the drawer"]):
        first = dataset.meta.episodes[episode]["dataset_from_index"]
        last = dataset.meta.episodes[episode]["dataset_to_index"] - 1
        for index in (first, last):
            item = dataset[index]
            assert item["task"] == task and int(item["task_index"]) == episode


@pytest.mark.slow
def test_a_changed_task_file_is_a_changed_input(tmp_path):
    bag = tiny_bag(tmp_path, "a", 2.6, 1)
    spill = tmp_path / "spill"
    run_cli("stage1", str(bag), str(spill), *SMALL_ARGS)
    (tmp_path / "a.task.yaml").write_text("task: something else\n")
    again = run_cli("stage1", str(bag), str(spill), *SMALL_ARGS, check=False)
    assert again.returncode == 2
    assert f"{bag.resolve()}: its task file changed since the spill was made" in again.stderr.strip().splitlines()[-1]


@pytest.mark.slow
def test_a_bad_task_file_stops_before_any_work(tmp_path):
    bag = tiny_bag(tmp_path, "a", 2.6, 1)
    (tmp_path / "a.task.yaml").write_text("task: x\nsubtask: [oops]\n")
    result = run_cli("convert", str(bag), str(tmp_path / "out"), *SMALL_ARGS, check=False)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert lines[-1].startswith(f"error: {tmp_path / 'a.task.yaml'}: bad task file (subtask: Extra inputs")
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "out").exists()
    planned = run_cli("convert", str(bag), str(tmp_path / "out"), *SMALL_ARGS, "--dry-run", "--json", check=False)
    assert planned.returncode == 2
    assert "bad task file (subtask: Extra inputs" in json.loads(planned.stdout)["bags"][0]["error"]


@pytest.mark.slow
def test_task_yaml_inside_a_rosbag2_folder(tmp_path):
    bag = gen_ros2_bag.write_ros2_bag(tmp_path / "arm", 2.0, width=64, height=48).path
    (bag / "task.yaml").write_text("task: wipe the table\n")
    out = tmp_path / "out"
    run_cli("convert", str(bag), str(out), "--config", str(ROOT / "configs" / "ros2_arm.yaml"), *SMALL_ARGS)
    dataset = LeRobotDataset("local/ros2_arm", root=out)
    assert dataset.meta.episodes[0]["tasks"] == ["wipe the table"]
    assert dataset[0]["task"] == "wipe the table"
