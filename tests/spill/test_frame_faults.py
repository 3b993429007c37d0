"""Per-frame faults: corrupt images, camera gaps, duplicate stamps. Nothing silent."""

from __future__ import annotations

import json

import numpy as np
import pytest
from gen_kuavo_bag import Faults, read_frame_code, write_kuavo_bag
from lerobot.datasets.lerobot_dataset import LeRobotDataset
from reference import CAMERA_INDEX, CAMERA_TOPICS, load_reference
from support import run_cli

pytestmark = pytest.mark.slow

CHUNK = 30
OPTIONS = ["--set", "dataset.resize.width=160", "--set", "dataset.resize.height=120"]
OPTIONS += ["--set", f"rosbag.chunk_size={CHUNK}"]


def shown(ds, index: int, camera: str):
    chw = ds[index][f"observation.images.{camera}"]
    rgb = (chw.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
    try:
        return read_frame_code(rgb)
    except ValueError:
        return None  # no frame code: the mid-grey stand-in


def report_of(out) -> dict:
    return json.loads((out / "meta/spill2lerobot_report.json").read_text())["bags"][0]


@pytest.fixture(scope="module")
def corrupt_bag(tmp_path_factory):
    path = tmp_path_factory.mktemp("faults") / "corrupt.bag"
    bad = (*range(40, 75), 290, 291)  # a run inside chunk 0/1 and two near a chunk start
    write_kuavo_bag(path, 12.0, seed=5, width=160, height=120, faults=Faults(corrupt_frames={"cam_l": bad}))
    return path, set(bad)


def test_corrupt_images_repeat_the_previous_good_one_and_are_counted(corrupt_bag, tmp_path):
    path, bad = corrupt_bag
    ref = load_reference(path)
    out = tmp_path / "out"
    result = run_cli("convert", str(path), str(out), *OPTIONS)
    ds = LeRobotDataset("local/kuavo", root=out)
    expected_bad, expected_grey = 0, 0
    for frame in range(len(ref)):
        k = ref.camera_frame("wrist_cam_l", frame)
        chunk_start = frame - frame % CHUNK
        if k not in bad:
            expected = (CAMERA_INDEX["wrist_cam_l"], k)
        else:
            expected_bad += 1
            good = [f for f in range(chunk_start, frame) if ref.camera_frame("wrist_cam_l", f) not in bad]
            expected = (CAMERA_INDEX["wrist_cam_l"], ref.camera_frame("wrist_cam_l", good[-1])) if good else None
            expected_grey += expected is None
        assert shown(ds, frame, "wrist_cam_l") == expected, frame
        assert shown(ds, frame, "head_cam_h") == (0, ref.camera_frame("head_cam_h", frame))
    assert expected_bad > 5
    faults = report_of(out)["faults"]
    assert faults["bad_images"] == {"wrist_cam_l": expected_bad}
    assert faults.get("filled_images", {}).get("wrist_cam_l", 0) == expected_grey
    assert f"{expected_bad} bad images (wrist_cam_l {expected_bad})" in result.stderr


def test_corrupt_images_stop_the_conversion_when_asked(corrupt_bag, tmp_path):
    path, _ = corrupt_bag
    out = tmp_path / "out"
    result = run_cli("convert", str(path), str(out), *OPTIONS, "--set", "faults.on_bad_frame=error", check=False)
    assert result.returncode != 0 and "Traceback" not in result.stderr
    (line,) = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert CAMERA_TOPICS["wrist_cam_l"] in line and "cannot decode image" in line and "on_bad_frame" in line
    assert not out.exists()


@pytest.fixture(scope="module")
def gap_bag(tmp_path_factory):
    path = tmp_path_factory.mktemp("faults") / "gap.bag"
    faults = Faults(gaps={CAMERA_TOPICS["wrist_cam_r"]: (4.0, 6.5)}, duplicate_frames={"cam_h": (100, 101, 160)})
    write_kuavo_bag(path, 12.0, seed=6, width=160, height=120, faults=faults)
    return path


def test_camera_gap_is_counted_and_duplicates_resolve_like_argmin(gap_bag, tmp_path):
    ref = load_reference(gap_bag)
    out = tmp_path / "out"
    result = run_cli("convert", str(gap_bag), str(out), *OPTIONS)
    ds = LeRobotDataset("local/kuavo", root=out)
    assert len(ds) == len(ref)
    for frame in range(len(ref)):
        for camera in ("head_cam_h", "wrist_cam_r"):
            assert shown(ds, frame, camera) == (CAMERA_INDEX[camera], ref.camera_frame(camera, frame)), frame
    topic = CAMERA_TOPICS["wrist_cam_r"]
    skew = np.abs(ref.times[topic][ref.picks[topic]] - ref.targets_ns)
    expected_gaps = int((skew > 100_000_000).sum())
    assert expected_gaps >= 15  # 2.5 s without that camera at 10 Hz, minus the half-gap edges
    faults = report_of(out)["faults"]
    assert faults["gap_frames"][topic] == expected_gaps
    assert f"{expected_gaps} gap frames (" in result.stderr and f"{topic} {expected_gaps}" in result.stderr


def test_camera_gap_stops_the_conversion_when_asked(gap_bag, tmp_path):
    out = tmp_path / "out"
    result = run_cli("convert", str(gap_bag), str(out), *OPTIONS, "--set", "faults.on_gap=error", check=False)
    (line,) = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert CAMERA_TOPICS["wrist_cam_r"] in line and "100 ms" in line and "max_skew_ms" in line
    assert not out.exists()
