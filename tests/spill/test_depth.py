"""Depth cameras: lerobot 0.6.1 native depth features, the original's 8-bit form, raw inputs.

lerobot is the oracle and is imported unconditionally: where it is missing these tests fail.
"""

from __future__ import annotations

import json
import random
import struct
from fractions import Fraction

import av
import numpy as np
import pyarrow.parquet as pq
import pytest
from compare import assert_same_dataset
from gen_kuavo_bag import (
    DEPTH_TOPICS,
    RAW_DEPTH_TOPICS,
    Faults,
    expected_depth_mm,
    raw_depth_image,
    read_depth_code,
    write_kuavo_bag,
)
from lerobot.datasets.compute_stats import aggregate_stats, compute_episode_stats, sample_indices
from lerobot.datasets.depth_utils import dequantize_depth, quantize_depth
from lerobot.datasets.lerobot_dataset import LeRobotDataset
from PIL import Image
from reference import load_reference
from rosbags.rosbag1 import Reader
from support import kill_after_progress, run_cli, spawn_cli

from spill2lerobot.spill.depth import DepthDecoder, dequantize_mm, quantize_table, rgb8_form

W, H = 320, 240
CHUNK = 20
SIZE = ["--set", f"dataset.resize.width={W}", "--set", f"dataset.resize.height={H}"]
DEPTH_KEYS = {"observation.depth_h": "cam_h", "observation.depth_l": "cam_l", "observation.depth_r": "cam_r"}
CAMERA_INDEX = {"cam_h": 0, "cam_l": 1, "cam_r": 2}


@pytest.fixture(scope="module")
def depth_bag(tmp_path_factory):
    path = tmp_path_factory.mktemp("depth") / "d.bag"
    write_kuavo_bag(path, 8.0, seed=5, width=W, height=H, depth=True)
    return path


@pytest.fixture(scope="module")
def native_out(depth_bag, tmp_path_factory):
    out = tmp_path_factory.mktemp("native") / "out"
    run_cli("convert", str(depth_bag), str(out), *SIZE, "--set", f"rosbag.chunk_size={CHUNK}")
    return out


def depth_picks(bag, topics: dict[str, str]) -> dict[str, np.ndarray]:
    """Per depth key, the generator's frame number each aligned frame should show (argmin)."""
    ref = load_reference(bag)
    with Reader(bag) as reader:
        times = {}
        for conn, t, _ in reader.messages():
            if conn.topic in topics.values():
                times.setdefault(conn.topic, []).append(t)
    out = {}
    for key, topic in topics.items():
        ts = np.asarray(times[topic], dtype=np.int64)
        out[key] = np.array([int(np.argmin(np.abs(ts - t))) for t in ref.targets_ns])
    return out


def lerobot_round_trip(depth_mm: np.ndarray) -> np.ndarray:
    """What lerobot's own quantise + dequantise make of source millimetres."""
    codes = quantize_depth(depth_mm, video_backend=None)
    return dequantize_depth(codes, output_tensor=False, output_channel_last=True)[..., 0].astype(np.float32)


def check_depth_frames(ds: LeRobotDataset, picks: dict[str, np.ndarray], frames, width=W, height=H) -> None:
    for frame in frames:
        item = ds[int(frame)]
        for key, cam in DEPTH_KEYS.items():
            decoded = item[key].numpy()
            assert decoded.shape == (1, height, width)
            decoded = decoded[0]
            camera, number = read_depth_code(decoded)
            assert (camera, number) == (CAMERA_INDEX[cam], picks[key][frame]), (frame, key)
            source = expected_depth_mm(camera, number, width, height)
            # Exactly lerobot's quantisation of the source millimetres, decoded (lossless video) ...
            np.testing.assert_array_equal(decoded, lerobot_round_trip(source), err_msg=f"{frame} {key}")
            # ... which is within its quantisation step (~1.5 mm at this range).
            assert np.abs(decoded - source).max() <= 2.0


def test_quantisation_table_is_lerobots_quantize_depth():
    every = np.arange(65536, dtype=np.uint16).reshape(256, 256)
    np.testing.assert_array_equal(quantize_table().reshape(256, 256), quantize_depth(every, video_backend=None))


def test_dequantisation_is_lerobots_dequantize_depth():
    codes = np.arange(4096, dtype=np.uint16).reshape(64, 64)
    theirs = dequantize_depth(codes, output_tensor=False, output_channel_last=True)[..., 0].astype(np.float32)
    np.testing.assert_array_equal(dequantize_mm(codes), theirs)


@pytest.mark.slow
def test_validate_against_the_bag_checks_depth(native_out, depth_bag):
    result = run_cli("validate", str(native_out), "--against", str(depth_bag), *SIZE)
    assert "OK:" in result.stdout + result.stderr


@pytest.mark.slow
def test_native_depth_features_as_lerobot_writes_them(native_out):
    info = json.loads((native_out / "meta/info.json").read_text())
    for key in DEPTH_KEYS:
        feature = info["features"][key]
        assert feature["dtype"] == "video"
        assert feature["shape"] == [H, W, 1]
        assert feature["names"] == ["height", "width", "channels"]
        assert feature["info"] == {
            "is_depth_map": True,
            "depth_unit": "mm",
            "video.height": H,
            "video.width": W,
            "video.codec": "hevc",
            "video.pix_fmt": "gray12le",
            "video.fps": 10,
            "video.channels": 1,
            "has_audio": False,
            "video.g": 2,
            "video.crf": 30,
            "video.preset": "ultrafast",  # lerobot's default is None (x265's own); lossless either way
            "video.fast_decode": 0,
            "video.video_backend": "pyav",
            "video.extra_options": {"x265-params": "lossless=1"},
            "video.depth_min": 0.01,
            "video.depth_max": 10.0,
            "video.shift": 3.5,
            "video.use_log": True,
        }
        with av.open(str(native_out / f"videos/{key}/chunk-000/file-000.mp4")) as container:
            stream = container.streams.video[0]
            assert (stream.codec_context.name, stream.pix_fmt) == ("hevc", "gray12le")
    ds = LeRobotDataset("local/kuavo", root=native_out)
    assert sorted(ds.meta.depth_keys) == sorted(DEPTH_KEYS)


@pytest.mark.slow
def test_native_depth_decodes_to_the_source_millimetres(native_out, depth_bag):
    ds = LeRobotDataset("local/kuavo", root=native_out)
    picks = depth_picks(depth_bag, {key: DEPTH_TOPICS[cam] for key, cam in DEPTH_KEYS.items()})
    n = len(ds)
    assert n > 2 * CHUNK
    boundaries = {0, 1, n - 1, *(s for c in range(CHUNK, n, CHUNK) for s in (c - 1, c))}
    check_depth_frames(ds, picks, sorted(boundaries | set(random.Random(3).sample(range(n), 5))))
    # lerobot can also give metres (not rounded to whole millimetres)
    metres = LeRobotDataset("local/kuavo", root=native_out, depth_output_unit="m")[CHUNK]["observation.depth_h"]
    np.testing.assert_allclose(metres.numpy(), ds[CHUNK]["observation.depth_h"].numpy() / 1000, atol=5.1e-4)


@pytest.mark.slow
def test_native_depth_stats_match_lerobots_compute_episode_stats(native_out, depth_bag, tmp_path):
    """lerobot computes depth stats on the source frames (tiff, millimetres), not divided by 255."""
    ds = LeRobotDataset("local/kuavo", root=native_out)
    picks = depth_picks(depth_bag, {key: DEPTH_TOPICS[cam] for key, cam in DEPTH_KEYS.items()})
    n = len(ds)
    wanted = set(sample_indices(n))
    data, features = {}, {}
    for key, cam in DEPTH_KEYS.items():
        paths = []
        for frame in range(n):
            path = tmp_path / f"{cam}-{frame}.tiff"
            if frame in wanted:
                Image.fromarray(expected_depth_mm(CAMERA_INDEX[cam], int(picks[key][frame]), W, H)).save(path)
            paths.append(str(path))
        data[key] = paths
        features[key] = ds.meta.features[key]
    theirs = compute_episode_stats(data, features)
    row = pq.read_table(native_out / "meta/episodes/chunk-000/file-000.parquet").to_pylist()[0]
    dataset_stats = json.loads((native_out / "meta/stats.json").read_text())
    aggregated = aggregate_stats([theirs])
    for key in DEPTH_KEYS:
        span = float(np.max(theirs[key]["max"]) - np.min(theirs[key]["min"]))
        for name, value in theirs[key].items():
            for ours in (row[f"stats/{key}/{name}"], dataset_stats[key][name]):
                got = np.asarray(ours, dtype=np.float64)
                assert got.shape == np.shape(value), (key, name)
                if name == "count":
                    np.testing.assert_array_equal(got, value)
                elif name.startswith("q"):
                    np.testing.assert_allclose(got, value, rtol=1e-6, atol=2 * span / 5000, err_msg=f"{key}/{name}")
                else:
                    np.testing.assert_allclose(got, value, rtol=1e-6, err_msg=f"{key}/{name}")
        assert 400 < float(np.asarray(dataset_stats[key]["mean"]).ravel()[0]) < 1300  # millimetres
        np.testing.assert_allclose(
            np.asarray(dataset_stats[key]["mean"]), aggregated[key]["mean"], rtol=1e-6, err_msg=key
        )


def original_rgb8(depth_uint16: np.ndarray, depth_range) -> np.ndarray:
    """The original converter's depth picture, step by step as it wrote it."""
    min_depth, max_depth = depth_range[0], depth_range[1]
    depth_uint16 = np.clip(depth_uint16, min_depth, max_depth)
    max_depth = depth_uint16.max()
    min_depth = depth_uint16.min()
    depth_normalized = (depth_uint16 - min_depth) / (max_depth - min_depth + 1e-9)
    depth_normalized = (depth_normalized * 255).astype(np.uint8)
    return depth_normalized[..., np.newaxis].repeat(3, axis=-1)


@pytest.mark.parametrize("depth_range", [[0, 1500], [500, 1000], [0, 300]])
def test_rgb8_form_is_the_originals(depth_range):
    for camera, frame in ((0, 3), (1, 40), (2, 77)):
        depth = expected_depth_mm(camera, frame, 64, 48)
        np.testing.assert_array_equal(rgb8_form(depth, depth_range), original_rgb8(depth, depth_range))
    flat = np.full((4, 6), 700, np.uint16)
    np.testing.assert_array_equal(rgb8_form(flat, [0, 1500]), original_rgb8(flat, [0, 1500]))


@pytest.mark.slow
def test_rgb8_option_gives_the_originals_features_and_pictures(tmp_path):
    bag = tmp_path / "d.bag"
    write_kuavo_bag(bag, 5.0, seed=6, width=64, height=48, depth=True)
    out = tmp_path / "out"
    small = ["--set", "dataset.resize.width=64", "--set", "dataset.resize.height=48"]
    run_cli("convert", str(bag), str(out), *small, "--set", "dataset.depth_mode=rgb8", "--set", "video.crf=0")
    info = json.loads((out / "meta/info.json").read_text())
    colour = info["features"]["observation.images.head_cam_h"]
    for key in DEPTH_KEYS:
        feature = info["features"][key]
        assert feature["shape"] == [48, 64, 3]
        assert feature["info"] == colour["info"] and feature["info"]["is_depth_map"] is False
    ds = LeRobotDataset("local/kuavo", root=out)
    assert ds.meta.depth_keys == []
    picks = depth_picks(bag, {key: DEPTH_TOPICS[cam] for key, cam in DEPTH_KEYS.items()})
    for frame in (0, len(ds) // 2, len(ds) - 1):
        for key, cam in DEPTH_KEYS.items():
            shown = (ds[frame][key].permute(1, 2, 0).numpy() * 255).round()
            want = original_rgb8(expected_depth_mm(CAMERA_INDEX[cam], int(picks[key][frame]), 64, 48), [0, 1500])
            # the original's picture through a yuv420p video: close, not bit-exact
            assert np.abs(shown - want).mean() < 3.0, (frame, key)
    run_cli("validate", str(out), "--against", str(bag), *small, "--set", "dataset.depth_mode=rgb8")
    # statistics: lerobot's, of the original's pictures (as for a colour camera: 0..1)
    n = len(ds)
    wanted = set(sample_indices(n))
    paths = []
    for frame in range(n):
        path = tmp_path / f"rgb8-{frame}.png"
        if frame in wanted:
            depth = expected_depth_mm(0, int(picks["observation.depth_h"][frame]), 64, 48)
            Image.fromarray(original_rgb8(depth, [0, 1500])).save(path)
        paths.append(str(path))
    theirs = compute_episode_stats(
        {"observation.depth_h": paths}, {"observation.depth_h": info["features"]["observation.depth_h"]}
    )
    row = pq.read_table(out / "meta/episodes/chunk-000/file-000.parquet").to_pylist()[0]
    for name, value in theirs["observation.depth_h"].items():
        got = np.asarray(row[f"stats/observation.depth_h/{name}"], dtype=np.float64)
        np.testing.assert_allclose(got, value, rtol=1e-6, atol=2 / 5000, err_msg=name)


@pytest.mark.parametrize(
    ("encoding", "bigendian", "pad"), [("16UC1", False, 0), ("16UC1", True, 6), ("32FC1", False, 4), ("32FC1", True, 0)]
)
def test_raw_depth_image_messages_decode_exactly(encoding, bigendian, pad):
    depth = expected_depth_mm(1, 9, 20, 10)
    payload = raw_depth_image(3, 10**18, "cam_l_depth_optical_frame", depth, encoding, bigendian, pad)
    np.testing.assert_array_equal(DepthDecoder.decode_raw(payload), depth)


def test_compressed_depth_32fc1_is_decoded_like_image_transport():
    """compressed_depth_image_transport's 32FC1 form: PNG of quantised inverse depth."""
    depth_max, quantization = 10.0, 100.0  # its defaults
    quant_a = quantization * (quantization + 1.0)
    quant_b = 1.0 - quant_a / depth_max
    source = expected_depth_mm(2, 5, 32, 16)
    inverse = (np.float32(quant_a) / (source.astype(np.float32) / 1000) + np.float32(quant_b)).astype(np.uint16)
    inverse[0, :3] = 0  # no reading
    png = av.CodecContext.create("png", "w")
    png.width, png.height, png.pix_fmt = 32, 16, "gray16be"
    png.time_base = Fraction(1, 30)
    png.open()
    frame = av.VideoFrame.from_ndarray(inverse, format="gray16le").reformat(format="gray16be")
    data = struct.pack("<iff", 0, quant_a, quant_b) + b"".join(bytes(p) for p in png.encode(frame))
    payload = struct.pack("<III", 0, 0, 0) + struct.pack("<I", 0)
    fmt = b"32FC1; compressedDepth png"
    payload += struct.pack("<I", len(fmt)) + fmt + struct.pack("<I", len(data)) + data
    decoded = DepthDecoder.decode_message(payload, raw=False)
    assert (decoded[0, :3] == 0).all()
    assert np.abs(decoded.astype(np.int32) - source)[:, 3:].max() <= 1  # inverse-depth quantisation


def test_malformed_depth_messages_are_undecodable_images():
    for payload in (b"", b"\x00" * 20, struct.pack("<III", 0, 0, 0) + struct.pack("<I", 1000)):
        for raw in (True, False):
            with pytest.raises(ValueError):
                DepthDecoder.decode_message(payload, raw=raw)


def test_raw_32fc1_invalid_values_are_no_reading():
    metres = np.array([[0.45, np.nan, np.inf], [-1.0, 0.0, 1.2164]], dtype=np.float32)
    header = struct.pack("<III", 0, 0, 0) + struct.pack("<I", 0)
    data = metres.astype("<f4").tobytes()
    payload = header + struct.pack("<II", 2, 3) + struct.pack("<I", 5) + b"32FC1" + struct.pack("<BI", 0, 12)
    payload += struct.pack("<I", len(data)) + data
    np.testing.assert_array_equal(DepthDecoder.decode_raw(payload), [[450, 0, 0], [0, 0, 1216]])


@pytest.mark.slow
@pytest.mark.parametrize(("encoding", "bigendian", "pad"), [("16UC1", True, 8), ("32FC1", False, 0)])
def test_raw_depth_bags_convert_to_native_depth(tmp_path, encoding, bigendian, pad):
    bag = tmp_path / "raw.bag"
    write_kuavo_bag(
        bag,
        4.0,
        seed=7,
        width=64,
        height=48,
        depth=True,
        depth_encoding=encoding,
        depth_bigendian=bigendian,
        depth_row_pad=pad,
    )
    out = tmp_path / "out"
    run_cli("convert", str(bag), str(out), "--set", "dataset.resize.width=64", "--set", "dataset.resize.height=48")
    ds = LeRobotDataset("local/kuavo", root=out)
    assert sorted(ds.meta.depth_keys) == sorted(DEPTH_KEYS)
    picks = depth_picks(bag, {key: RAW_DEPTH_TOPICS[cam] for key, cam in DEPTH_KEYS.items()})
    check_depth_frames(ds, picks, [0, len(ds) // 2, len(ds) - 1], width=64, height=48)


@pytest.fixture(scope="module")
def plain_bag(tmp_path_factory):
    path = tmp_path_factory.mktemp("plain") / "p.bag"
    write_kuavo_bag(path, 4.0, seed=8, width=64, height=48)
    return path


@pytest.fixture(scope="module")
def small_depth_bag(tmp_path_factory):
    path = tmp_path_factory.mktemp("small") / "s.bag"
    write_kuavo_bag(path, 4.0, seed=9, width=64, height=48, depth=True)
    return path


SMALL = ["--set", "dataset.resize.width=64", "--set", "dataset.resize.height=48"]


def _feature_keys(out) -> set[str]:
    return set(json.loads((out / "meta/info.json").read_text())["features"])


@pytest.mark.slow
@pytest.mark.parametrize(
    ("use_depth", "with_depth", "has_features"),
    [("auto", True, True), ("auto", False, False), ("false", True, False), ("true", True, True)],
)
def test_use_depth(use_depth, with_depth, has_features, plain_bag, small_depth_bag, tmp_path):
    out = tmp_path / "out"
    bag = small_depth_bag if with_depth else plain_bag
    run_cli("convert", str(bag), str(out), *SMALL, "--set", f"dataset.use_depth={use_depth}")
    keys = _feature_keys(out)
    assert (set(DEPTH_KEYS) <= keys) is has_features
    assert not has_features or not (set(DEPTH_KEYS) - keys)
    assert has_features or not (keys & set(DEPTH_KEYS))


@pytest.mark.slow
def test_use_depth_auto_is_the_default(plain_bag, small_depth_bag, tmp_path):
    run_cli("convert", str(small_depth_bag), str(tmp_path / "a"), *SMALL)
    run_cli("convert", str(plain_bag), str(tmp_path / "b"), *SMALL)
    assert set(DEPTH_KEYS) <= _feature_keys(tmp_path / "a")
    assert not _feature_keys(tmp_path / "b") & set(DEPTH_KEYS)


@pytest.mark.slow
def test_use_depth_true_without_depth_topics_is_a_one_line_error(plain_bag, tmp_path):
    result = run_cli(
        "convert", str(plain_bag), str(tmp_path / "out"), *SMALL, "--set", "dataset.use_depth=true", check=False
    )
    assert result.returncode == 2
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1  # one line: the rest of stderr is progress
    message = errors[0]
    assert "/cam_h/depth/image_raw/compressedDepth" in message and "missing" in message


@pytest.mark.slow
def test_which_arm_selects_the_wrist_depth(small_depth_bag, tmp_path):
    out = tmp_path / "out"
    run_cli("convert", str(small_depth_bag), str(out), *SMALL, "--set", "dataset.which_arm=left")
    keys = _feature_keys(out)
    assert {"observation.depth_h", "observation.depth_l"} <= keys and "observation.depth_r" not in keys


@pytest.mark.slow
def test_auto_with_bags_that_differ_is_refused_in_one_line(plain_bag, small_depth_bag, tmp_path):
    result = run_cli("convert", str(plain_bag), str(small_depth_bag), str(tmp_path / "out"), *SMALL, check=False)
    assert result.returncode == 3  # the bag that differs from the first fails in stage 1, the other is spilled
    errors = [line for line in result.stderr.splitlines() if "has depth topics" in line]
    assert len(errors) == 1 and "use_depth" in errors[0] and str(small_depth_bag) in errors[0]


@pytest.mark.slow
def test_corrupt_depth_images_repeat_the_previous_good_one_and_are_counted(tmp_path):
    bag = tmp_path / "bad.bag"
    bad = {*range(30, 45), 60}
    write_kuavo_bag(
        bag, 5.0, seed=4, width=64, height=48, depth=True, faults=Faults(corrupt_frames={"cam_l/depth": bad})
    )
    out = tmp_path / "out"
    run_cli("convert", str(bag), str(out), *SMALL, "--set", "rosbag.chunk_size=8")
    ds = LeRobotDataset("local/kuavo", root=out)
    picks = depth_picks(bag, {"observation.depth_l": DEPTH_TOPICS["cam_l"]})["observation.depth_l"]
    expected_bad = expected_zero = 0
    for frame in range(len(ds)):
        decoded = ds[frame]["observation.depth_l"].numpy()[0]
        k = int(picks[frame])
        if k in bad:
            expected_bad += 1
            good = [int(picks[f]) for f in range(frame - frame % 8, frame) if int(picks[f]) not in bad]
            if not good:  # no good image before it in its chunk: zero depth (lerobot's floor, 10 mm)
                expected_zero += 1
                np.testing.assert_array_equal(decoded, lerobot_round_trip(np.zeros((48, 64), np.uint16)))
                continue
            k = good[-1]
        np.testing.assert_array_equal(decoded, lerobot_round_trip(expected_depth_mm(1, k, 64, 48)), err_msg=str(frame))
    assert expected_bad >= 4 and expected_zero >= 1
    faults = json.loads((out / "meta/spill2lerobot_report.json").read_text())["bags"][0]["faults"]
    assert faults["bad_images"] == {"depth_l": expected_bad}
    assert faults["filled_images"] == {"depth_l": expected_zero}


def _depth_codes(path) -> list[np.ndarray]:
    with av.open(str(path)) as container:
        return [frame.to_ndarray(format="gray12le") for frame in container.decode(video=0)]


@pytest.mark.slow
def test_resume_after_killed_stage1_gives_the_same_depth_dataset(small_depth_bag, tmp_path):
    options = [*SMALL, "--set", "rosbag.chunk_size=5"]
    reference = tmp_path / "reference"
    run_cli("convert", str(small_depth_bag), str(reference), *options)
    out = tmp_path / "out"
    spill = out.with_name("out.spill")
    partial = out.with_name("out.partial")
    rng = random.Random(66)
    kills = 0
    while not out.exists():
        proc = spawn_cli("convert", str(small_depth_bag), str(out), *options)
        if kills < 4 and kill_after_progress(proc, spill, rng.uniform(0.0, 0.3), stop_at=partial):
            kills += 1
            continue
        _, stderr = proc.communicate(timeout=600)
        assert proc.returncode == 0, stderr.decode()[-2000:]
    assert kills >= 1
    assert_same_dataset(reference, out)
    for key in DEPTH_KEYS:
        rel = f"videos/{key}/chunk-000/file-000.mp4"
        for a, b in zip(_depth_codes(reference / rel), _depth_codes(out / rel), strict=True):
            np.testing.assert_array_equal(a, b)
