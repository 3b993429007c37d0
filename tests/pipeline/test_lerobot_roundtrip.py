"""lerobot 0.6.1 is the oracle: it must open our output and see exactly the reference frames.

These tests import lerobot unconditionally: where it is missing they fail, they never skip.
"""

from __future__ import annotations

import json
import math

import av
import numpy as np
import pyarrow.parquet as pq
import pytest
from gen_kuavo_bag import read_frame_code
from lerobot.datasets.compute_stats import aggregate_stats, compute_episode_stats
from lerobot.datasets.lerobot_dataset import LeRobotDataset
from PIL import Image
from reference import CAMERA_INDEX, CAMERA_TOPICS, load_reference
from support import run_cli

pytestmark = pytest.mark.slow

CHUNK = 30
SMALL = ["--set", "dataset.resize.width=320", "--set", "dataset.resize.height=240"]
CAMERAS = ("head_cam_h", "wrist_cam_l", "wrist_cam_r")


@pytest.fixture(scope="module")
def refs(bags):
    return [load_reference(bags["a"]), load_reference(bags["b"])]


@pytest.fixture(scope="module")
def spill(bags, tmp_path_factory):
    spill = tmp_path_factory.mktemp("spill") / "spill"
    run_cli("stage1", str(bags["a"]), str(bags["b"]), str(spill), *SMALL, "--set", f"rosbag.chunk_size={CHUNK}")
    return spill


@pytest.fixture(scope="module")
def out_bag(spill, tmp_path_factory):
    out = tmp_path_factory.mktemp("out") / "bag_mode"
    run_cli("merge", str(spill), str(out))
    return out


@pytest.fixture(scope="module")
def out_chunk(spill, tmp_path_factory):
    out = tmp_path_factory.mktemp("out") / "chunk_mode"
    run_cli("merge", str(spill), str(out), "--episodes", "chunk")
    return out


def open_dataset(root) -> LeRobotDataset:
    return LeRobotDataset("local/kuavo", root=root)


def to_rgb(chw) -> np.ndarray:
    return (chw.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)


def check_frame(ds: LeRobotDataset, index: int, ref, frame: int) -> None:
    item = ds[index]
    for camera in CAMERAS:
        shown = read_frame_code(to_rgb(item[f"observation.images.{camera}"]))
        assert shown == (CAMERA_INDEX[camera], ref.camera_frame(camera, frame)), (index, camera)
    np.testing.assert_array_equal(item["observation.state"].numpy(), ref.state[frame])
    np.testing.assert_array_equal(item["action"].numpy(), ref.action[frame])


def boundary_frames(length: int) -> list[int]:
    picks = {0, 1, length - 1, length - 2}
    for start in range(CHUNK, length, CHUNK):
        picks |= {start - 1, start}
    return sorted(f for f in picks if 0 <= f < length)


def test_lerobot_opens_bag_mode_with_reference_lengths(out_bag, refs):
    ds = open_dataset(out_bag)
    assert len(ds) == sum(len(r) for r in refs)
    assert ds.meta.total_episodes == 2  # two bags, one episode each
    assert list(ds.meta.episodes["length"]) == [len(r) for r in refs]
    assert all(len(r) > 2 * CHUNK for r in refs)  # several chunks per bag


def test_frames_across_chunk_and_episode_boundaries(out_bag, refs):
    ds = open_dataset(out_bag)
    start = 0
    for ref in refs:
        for frame in boundary_frames(len(ref)):
            check_frame(ds, start + frame, ref, frame)
        start += len(ref)


def test_chunk_mode_gives_one_episode_per_chunk(out_chunk, refs):
    ds = open_dataset(out_chunk)
    expected = [min(CHUNK, len(r) - s) for r in refs for s in range(0, len(r), CHUNK)]
    assert ds.meta.total_episodes == sum(math.ceil(len(r) / CHUNK) for r in refs)
    assert list(ds.meta.episodes["length"]) == expected
    assert len(ds) == sum(len(r) for r in refs)
    start = 0
    for ref in refs:
        for frame in boundary_frames(len(ref)):
            check_frame(ds, start + frame, ref, frame)
            item = ds[start + frame]
            assert int(item["frame_index"]) == frame % CHUNK
        start += len(ref)


def _decode_rgb(jpeg: bytes) -> np.ndarray:
    codec = av.CodecContext.create("mjpeg", "r")
    return codec.decode(av.Packet(jpeg))[0].to_ndarray(format="rgb24")


def reference_episode_stats(ref, features, tmp_path, fps=10) -> dict:
    """lerobot's own compute_episode_stats on the reference frames of one episode."""
    n = len(ref)
    frame_index = np.arange(n)
    data = {
        "observation.state": ref.state,
        "action": ref.action,
        "timestamp": (frame_index / fps).astype(np.float32),
        "frame_index": frame_index,
        "episode_index": np.zeros(n, dtype=np.int64),
        "index": frame_index,
        "task_index": np.zeros(n, dtype=np.int64),
    }
    from lerobot.datasets.compute_stats import sample_indices

    wanted = set(sample_indices(n))
    for camera in CAMERAS:
        paths = []
        for frame in range(n):
            path = tmp_path / f"{camera}-{frame}.png"
            if frame in wanted:
                jpeg = ref.images[CAMERA_TOPICS[camera]][ref.camera_frame(camera, frame)]
                Image.fromarray(_decode_rgb(jpeg)).save(path)
            paths.append(str(path))
        data[f"observation.images.{camera}"] = paths
    return compute_episode_stats(data, features)


def assert_stats_close(ours: dict, theirs: dict, rtol: float = 1e-3) -> None:
    assert set(ours) == set(theirs)
    for key, ft in theirs.items():
        span = np.asarray(ft["max"], dtype=np.float64) - np.asarray(ft["min"], dtype=np.float64)
        for name, value in ft.items():
            got = np.asarray(ours[key][name], dtype=np.float64).reshape(np.shape(value))
            want = np.asarray(value, dtype=np.float64)
            if name == "count":
                np.testing.assert_array_equal(got, want, err_msg=f"{key}/{name}")
            elif name.startswith("q"):
                # lerobot reads quantiles off a 5000-bin histogram: a bin's width is its precision.
                np.testing.assert_allclose(
                    got, want, rtol=rtol, atol=1e-9 + 2 * span.max() / 5000, err_msg=f"{key}/{name}"
                )
            else:
                np.testing.assert_allclose(got, want, rtol=rtol, atol=1e-6, err_msg=f"{key}/{name}")


def _episode_stats_rows(out) -> list[dict]:
    rows = pq.read_table(out / "meta/episodes/chunk-000/file-000.parquet").to_pylist()
    result = []
    for row in rows:
        ours: dict = {}
        for column, value in row.items():
            if column.startswith("stats/"):
                key, name = column[len("stats/") :].rsplit("/", 1)
                ours.setdefault(key, {})[name] = value
        result.append(ours)
    return result


def _shift(stats: dict, offset: int) -> dict:
    return {k: (np.asarray(v) + offset if k not in ("count", "std") else v) for k, v in stats.items()}


def test_stats_match_lerobots_own_computation(out_bag, refs, tmp_path):
    features = open_dataset(out_bag).meta.features
    theirs_per_episode = []
    offset = 0
    for number, ref in enumerate(refs):
        folder = tmp_path / f"ep{number}"
        folder.mkdir()
        theirs = reference_episode_stats(ref, features, folder)
        theirs["episode_index"] = _shift(theirs["episode_index"], number)
        theirs["index"] = _shift(theirs["index"], offset)
        offset += len(ref)
        theirs_per_episode.append(theirs)
    ours = _episode_stats_rows(out_bag)
    for mine, theirs in zip(ours, theirs_per_episode, strict=True):
        assert_stats_close(mine, theirs)
        for camera in CAMERAS:  # lerobot's float32 pixel sums are reproduced, not approximated
            key = f"observation.images.{camera}"
            for name in ("mean", "std"):
                got = np.asarray(mine[key][name], dtype=np.float64).ravel()
                want = np.asarray(theirs[key][name], dtype=np.float64).ravel()
                np.testing.assert_allclose(got, want, rtol=1e-6, err_msg=f"{key}/{name}")
    dataset_stats = json.loads((out_bag / "meta/stats.json").read_text())
    assert_stats_close(dataset_stats, aggregate_stats(theirs_per_episode))


def test_many_episodes_in_one_video_file_have_exact_boundaries(bags, tmp_path):
    """lerobot issue #3177: boundaries drifting after ~30 episodes in one MP4."""
    ref = load_reference(bags["b"])
    out = tmp_path / "out"
    run_cli("convert", str(bags["b"]), str(out), *SMALL, "--set", "rosbag.chunk_size=2", "--episodes", "chunk")
    ds = open_dataset(out)
    assert ds.meta.total_episodes == math.ceil(len(ref) / 2) > 30
    videos = {path.name for path in (out / "videos/observation.images.head_cam_h").rglob("*.mp4")}
    assert videos == {"file-000.mp4"}  # all episodes share one file
    for ep in range(ds.meta.total_episodes):
        first, last = ds.meta.episodes["dataset_from_index"][ep], ds.meta.episodes["dataset_to_index"][ep] - 1
        for index in {first, last}:
            check_frame(ds, index, ref, index)


def test_data_files_hold_at_most_their_episode_cap_one_row_group_each(bags, tmp_path, monkeypatch):
    """Many short episodes start a new data file after DATA_FILE_MAX_EPISODES (a Parquet writer
    holds every row group's metadata until it closes): lerobot still reads every frame right."""
    from spill2lerobot import lerobot_format
    from spill2lerobot.merge.run import run_merge

    monkeypatch.setattr(lerobot_format, "DATA_FILE_MAX_EPISODES", 4)
    ref = load_reference(bags["b"])
    spill, out = tmp_path / "spill", tmp_path / "out"
    run_cli("stage1", str(bags["b"]), str(spill), *SMALL, "--set", "rosbag.chunk_size=7")
    run_merge(spill, out, "chunk", progress=lambda _: None)
    episodes = math.ceil(len(ref) / 7)
    files = sorted((out / "data").rglob("*.parquet"))
    assert len(files) == math.ceil(episodes / 4) > 2
    assert [pq.ParquetFile(f).num_row_groups for f in files] == [4] * (episodes // 4) + (
        [episodes % 4] if episodes % 4 else []
    )
    ds = open_dataset(out)
    assert ds.meta.total_episodes == episodes
    for ep in range(episodes):
        assert ds.meta.episodes["data/file_index"][ep] == ep // 4
        first, last = ds.meta.episodes["dataset_from_index"][ep], ds.meta.episodes["dataset_to_index"][ep] - 1
        for index in {first, last}:
            check_frame(ds, index, ref, index)


def test_libx264_segments_remux_to_the_right_frames(bags, tmp_path):
    ref = load_reference(bags["b"])
    out = tmp_path / "out"
    run_cli(
        "convert", str(bags["b"]), str(out), *SMALL, "--set", "rosbag.chunk_size=25", "--set", "video.codec=libx264"
    )
    ds = open_dataset(out)
    assert ds.meta.features["observation.images.head_cam_h"]["info"]["video.codec"] == "h264"
    for frame in boundary_frames(len(ref)):
        check_frame(ds, frame, ref, frame)


def test_resized_images_keep_their_content(bags, tmp_path):
    """Source 320x240 into a 160x120 dataset: resized, frame codes still readable."""
    ref = load_reference(bags["b"])
    out = tmp_path / "out"
    run_cli(
        "convert", str(bags["b"]), str(out), "--set", "dataset.resize.width=160", "--set", "dataset.resize.height=120"
    )
    ds = open_dataset(out)
    item = ds[len(ref) // 2]
    assert tuple(item["observation.images.head_cam_h"].shape) == (3, 120, 160)
    check_frame(ds, len(ref) // 2, ref, len(ref) // 2)
