"""convert --append / merge --append against one conversion of all bags, and against a dataset
lerobot 0.6.1 wrote itself. These tests import lerobot unconditionally: without it they fail."""

from __future__ import annotations

import json
import shutil

import av
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from gen_kuavo_bag import read_frame_code
from lerobot.datasets.lerobot_dataset import LeRobotDataset
from PIL import Image
from reference import CAMERA_INDEX, CAMERA_TOPICS, load_reference, reference_names
from support import SMALL_ARGS, run_cli, tiny_bag, tree_bytes

pytestmark = pytest.mark.slow

CAMERAS = ("head_cam_h", "wrist_cam_l", "wrist_cam_r")
PLACEMENT = ("chunk_index", "file_index", "from_timestamp", "to_timestamp")  # where an episode's rows/frames sit


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tiny-bags")
    return [tiny_bag(folder, name, seconds, seed) for name, seconds, seed in (("a", 4.0, 1), ("b", 3.0, 2))]


@pytest.fixture(scope="module")
def one_run(tiny, tmp_path_factory):
    out = tmp_path_factory.mktemp("one") / "out"
    run_cli("convert", *map(str, tiny), str(out), *SMALL_ARGS)
    return out


@pytest.fixture(scope="module")
def appended(tiny, tmp_path_factory):
    out = tmp_path_factory.mktemp("two") / "out"
    run_cli("convert", str(tiny[0]), str(out), *SMALL_ARGS)
    result = run_cli("convert", str(tiny[1]), str(out), *SMALL_ARGS, "--append")
    assert "1 episodes, 24 frames" in result.stderr
    return out


def table(root, folder: str) -> pa.Table:
    return pa.concat_tables(pq.read_table(p) for p in sorted((root / folder).glob("chunk-*/file-*.parquet")))


def episode_frames(root, key: str) -> list[list[np.ndarray]]:
    """Each episode's decoded frames of one camera, read where its metadata says they are."""
    episodes = table(root, "meta/episodes").to_pylist()
    fps = json.loads((root / "meta/info.json").read_text())["fps"]
    out = []
    for ep in episodes:
        chunk, file = ep[f"videos/{key}/chunk_index"], ep[f"videos/{key}/file_index"]
        path = root / f"videos/{key}/chunk-{chunk:03d}/file-{file:03d}.mp4"
        with av.open(str(path)) as container:
            frames = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
        first = round(ep[f"videos/{key}/from_timestamp"] * fps)
        out.append(frames[first : first + ep["length"]])
    return out


def test_append_gives_the_dataset_one_run_gives(one_run, appended):
    assert table(appended, "data").equals(table(one_run, "data"))
    rows_a, rows_b = table(appended, "meta/episodes").to_pylist(), table(one_run, "meta/episodes").to_pylist()
    for row_a, row_b in zip(rows_a, rows_b, strict=True):
        for name in row_a:
            if name.startswith(("videos/", "data/", "meta/")) and name.endswith(PLACEMENT):
                continue
            if name.startswith("stats/"):
                np.testing.assert_allclose(np.asarray(row_a[name]), np.asarray(row_b[name]), rtol=1e-6)
            else:
                assert row_a[name] == row_b[name], name
    for cam in CAMERAS:
        key = f"observation.images.{cam}"
        for frames_a, frames_b in zip(episode_frames(appended, key), episode_frames(one_run, key), strict=True):
            assert len(frames_a) == len(frames_b)
            for x, y in zip(frames_a, frames_b, strict=True):
                np.testing.assert_array_equal(x, y)
    stats_a, stats_b = (json.loads((root / "meta/stats.json").read_text()) for root in (appended, one_run))
    assert stats_a.keys() == stats_b.keys()
    for key, values in stats_b.items():
        for name, value in values.items():
            np.testing.assert_allclose(np.asarray(stats_a[key][name]), np.asarray(value), rtol=1e-6, err_msg=key)
    info_a, info_b = (json.loads((root / "meta/info.json").read_text()) for root in (appended, one_run))
    assert info_a == info_b
    assert pq.read_table(appended / "meta/tasks.parquet").equals(pq.read_table(one_run / "meta/tasks.parquet"))
    assert LeRobotDataset("local/kuavo", root=appended).num_episodes == 2


def test_the_first_files_are_left_as_they_were_and_nothing_of_ours_stays(one_run, appended, tiny, tmp_path):
    solo = tmp_path / "solo"
    run_cli("convert", str(tiny[0]), str(solo), *SMALL_ARGS)
    for path in solo.rglob("file-000.*"):
        rel = path.relative_to(solo)
        assert (appended / rel).read_bytes() == path.read_bytes(), rel
    assert not any(p.name.startswith(".spill2lerobot") for p in appended.rglob("*"))
    assert not (appended.parent / "out.append").exists() and not (appended.parent / "out.spill").exists()


def test_appending_the_same_bags_again_changes_nothing(appended, tiny):
    before = tree_bytes(appended)
    result = run_cli("convert", *map(str, tiny), str(appended), *SMALL_ARGS, "--append")
    assert f"{tiny[0]}: already in {appended}, skipped" in result.stderr
    assert "nothing to append" in result.stderr
    assert tree_bytes(appended) == before


def test_merge_append_of_a_spill_whose_bags_are_in_out_changes_nothing(appended, tiny, tmp_path):
    spill = tmp_path / "spill"
    run_cli("stage1", str(tiny[1]), str(spill), *SMALL_ARGS)
    before = tree_bytes(appended)
    result = run_cli("merge", str(spill), str(appended), "--append")
    assert "already in" in result.stderr and "skipped" in result.stderr
    assert tree_bytes(appended) == before


# --- a dataset lerobot 0.6.1 wrote itself ---------------------------------------------------


def lerobot_written(root, bag) -> None:
    """Record the bag's reference frames with lerobot's own writer (create, add_frame,
    save_episode, finalize), the features and video settings our profile gives."""
    state_names, action_names = reference_names()
    features = {
        "observation.state": {"dtype": "float32", "shape": (len(state_names),), "names": state_names},
        "action": {"dtype": "float32", "shape": (len(action_names),), "names": action_names},
    }
    for cam in CAMERAS:
        features[f"observation.images.{cam}"] = {
            "dtype": "video",
            "shape": (48, 64, 3),
            "names": ["height", "width", "channels"],
        }
    dataset = LeRobotDataset.create("local/kuavo", fps=10, features=features, root=root, robot_type="kuavo")
    ref = load_reference(bag)
    for frame in range(len(ref)):
        item = {"observation.state": ref.state[frame], "action": ref.action[frame], "task": "kuavo task"}
        for cam in CAMERAS:
            jpeg = ref.images[CAMERA_TOPICS[cam]][ref.camera_frame(cam, frame)]
            item[f"observation.images.{cam}"] = np.asarray(Image.open(__import__("io").BytesIO(jpeg)).convert("RGB"))
        dataset.add_frame(item)
    dataset.save_episode()
    dataset.finalize()


def check_episode(ds: LeRobotDataset, episode: int, ref) -> None:
    start = int(ds.meta.episodes[episode]["dataset_from_index"])
    assert int(ds.meta.episodes[episode]["length"]) == len(ref)
    for frame in range(len(ref)):
        item = ds[start + frame]
        for cam in CAMERAS:
            rgb = (item[f"observation.images.{cam}"].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
            assert read_frame_code(rgb) == (CAMERA_INDEX[cam], ref.camera_frame(cam, frame)), (episode, frame, cam)
        np.testing.assert_array_equal(item["observation.state"].numpy(), ref.state[frame])


def test_appending_to_a_dataset_lerobot_wrote(tiny, tmp_path):
    out = tmp_path / "recorded"
    lerobot_written(out, tiny[0])
    old = {str(p.relative_to(out)): p.read_bytes() for p in out.rglob("*") if p.is_file()}
    spill = tmp_path / "spill"
    run_cli("stage1", str(tiny[1]), str(spill), *SMALL_ARGS)
    run_cli("merge", str(spill), str(out), "--append")
    for rel, data in old.items():
        if rel not in ("meta/info.json", "meta/stats.json", "meta/tasks.parquet"):
            assert (out / rel).read_bytes() == data, rel  # earlier files never rewritten
    ds = LeRobotDataset("local/kuavo", root=out)
    assert ds.num_episodes == 2
    check_episode(ds, 0, load_reference(tiny[0]))
    check_episode(ds, 1, load_reference(tiny[1]))
    report = json.loads((out / "meta/spill2lerobot_report.json").read_text())
    assert [bag["episodes"] for bag in report["bags"]] == [[1]] and len(report["bags"][0]["fingerprint"]) == 64
    stats = json.loads((out / "meta/stats.json").read_text())
    assert stats["observation.state"]["count"] == [len(ds)]
    again = tree_bytes(out)
    run_cli("merge", str(spill), str(out), "--append")
    assert tree_bytes(out) == again
    shutil.rmtree(spill)
