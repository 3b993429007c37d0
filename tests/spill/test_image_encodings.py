"""Camera image encodings: JPEG and PNG CompressedImage, raw Image rgb8/bgr8/mono8 (padded rows)."""

from __future__ import annotations

import json

import numpy as np
import pyarrow.parquet as pq
import pytest
from compare import decoded_frames
from gen_kuavo_bag import (
    CAMERA_TOPICS,
    RAW_CAMERA_TOPICS,
    Faults,
    frame_rgb,
    frame_yuv,
    raw_image,
    read_frame_code,
    write_kuavo_bag,
)
from reference import CAMERA_INDEX, load_reference
from support import run_cli

from spill2lerobot.bag.wire import RawImage
from spill2lerobot.bag.wire import raw_image as parse_raw_image
from spill2lerobot.errors import UserError
from spill2lerobot.spill.images import ImageDecoder, check_image

W, H = 160, 120
OPTIONS = ["--set", f"dataset.resize.width={W}", "--set", f"dataset.resize.height={H}", "--set", "rosbag.chunk_size=20"]
CAMERAS = ("head_cam_h", "wrist_cam_l", "wrist_cam_r")
GEN_CAMERA = {"head_cam_h": "cam_h", "wrist_cam_l": "cam_l", "wrist_cam_r": "cam_r"}


# --- decoding, exactly -----------------------------------------------------------------------


@pytest.mark.parametrize("encoding", ["rgb8", "bgr8", "mono8"])
@pytest.mark.parametrize("padding", [0, 5])
def test_raw_images_decode_exactly_with_padded_rows(encoding, padding):
    rgb = frame_rgb(1, 7, 34, 18)
    pixels = {"rgb8": rgb, "bgr8": rgb[..., ::-1].copy(), "mono8": rgb[..., 1].copy()}[encoding]
    payload = raw_image(3, 5 * 10**9, "cam", encoding, pixels, row_padding=padding)
    image = parse_raw_image(payload)
    channels = 1 if encoding == "mono8" else 3
    assert (image.width, image.height, image.encoding, image.step) == (34, 18, encoding, 34 * channels + padding)
    shown = ImageDecoder().decode(image).to_ndarray(format="rgb24")
    expected = np.repeat(rgb[..., 1:2], 3, axis=2) if encoding == "mono8" else rgb  # grey: R = G = B
    np.testing.assert_array_equal(shown, expected)


def test_short_raw_image_is_undecodable():
    image = RawImage(34, 18, "rgb8", 34 * 3, bytes(34 * 3 * 17))
    with pytest.raises(ValueError, match="needs more"):
        ImageDecoder().decode(image)


@pytest.mark.parametrize("encoding", ["32FC1", "16UC1", "bayer_rggb8", "yuv422"])
def test_unsupported_raw_encoding_is_one_line_naming_it(encoding):
    with pytest.raises(UserError) as err:
        check_image(RawImage(4, 4, encoding, 16, bytes(64)), "x.bag: /cam_h/color/image_raw")
    message = str(err.value)
    assert message.startswith("x.bag: /cam_h/color/image_raw carries raw images with encoding")
    assert repr(encoding) in message and "rgb8, bgr8" in message and "\n" not in message


# --- whole conversions ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    """The same 6 s recording as JPEG, PNG and raw rgb8 (padded rows), bgr8 and mono8, converted."""
    folder = tmp_path_factory.mktemp("encodings")
    out = {}
    for fmt in ("jpeg", "png", "rgb8", "bgr8", "mono8"):
        bag = folder / f"{fmt}.bag"
        write_kuavo_bag(bag, 6.0, seed=4, width=W, height=H, image_format=fmt, row_padding=6)
        run_cli("convert", str(bag), str(folder / fmt), *OPTIONS)
        out[fmt] = folder / fmt
    out["bags"] = folder
    return out


def frames_of(out, camera: str) -> list[np.ndarray]:
    return decoded_frames(out / f"videos/observation.images.{camera}/chunk-000/file-000.mp4")


@pytest.mark.slow
def test_raw_cameras_are_found_on_their_raw_topics(converted):
    info = json.loads((converted["rgb8"] / "meta/info.json").read_text())
    assert {f"observation.images.{c}" for c in CAMERAS} <= set(info["features"])
    report = json.loads((converted["rgb8"] / "meta/spill2lerobot_report.json").read_text())["bags"][0]
    assert report["faults"] == {}


@pytest.mark.slow
@pytest.mark.parametrize("fmt", ["png", "rgb8", "bgr8", "mono8"])
def test_every_encoding_gives_the_jpeg_bags_frames_and_rows(converted, fmt):
    ref = load_reference(converted["bags"] / "jpeg.bag")
    ours, jpeg = converted[fmt], converted["jpeg"]
    data = "data/chunk-000/file-000.parquet"
    for column in ("observation.state", "action", "frame_index", "timestamp"):
        assert pq.read_table(ours / data).column(column).equals(pq.read_table(jpeg / data).column(column))
    for camera in CAMERAS:
        frames = frames_of(ours, camera)
        assert len(frames) == len(ref)
        for frame, rgb in enumerate(frames):
            k = ref.camera_frame(camera, frame)
            assert read_frame_code(rgb) == (CAMERA_INDEX[camera], k), (camera, frame)
            index = CAMERA_INDEX[camera]
            source = frame_rgb(index, k, W, H, 4)
            if fmt == "mono8":  # grey: the frame's luma in all three channels
                source = np.repeat(frame_yuv(index, k, W, H, 4)[:H, :, None], 3, axis=2)
                assert np.abs(rgb[..., 0].astype(int) - rgb[..., 2].astype(int)).mean() < 3
            assert np.abs(rgb.astype(int) - source.astype(int)).mean() < 12, (camera, frame)


@pytest.mark.slow
@pytest.mark.parametrize("fmt", ["png", "mono8"])
def test_validate_against_the_bag_reads_every_encoding(converted, fmt):
    bag = converted["bags"] / f"{fmt}.bag"
    result = run_cli("validate", str(converted[fmt]), "--against", str(bag), *OPTIONS[:4])
    assert "Traceback" not in result.stderr


@pytest.mark.slow
def test_bgr8_and_rgb8_give_identical_videos(converted):
    for camera in CAMERAS:
        for a, b in zip(frames_of(converted["rgb8"], camera), frames_of(converted["bgr8"], camera), strict=True):
            np.testing.assert_array_equal(a, b)


@pytest.mark.slow
def test_raw_images_of_another_size_are_resized(converted, tmp_path):
    out = tmp_path / "small"
    options = [o.replace(f"width={W}", "width=96").replace(f"height={H}", "height=72") for o in OPTIONS]
    run_cli("convert", str(converted["bags"] / "bgr8.bag"), str(out), *options)
    ref = load_reference(converted["bags"] / "jpeg.bag")
    frames = frames_of(out, "wrist_cam_l")
    assert frames[0].shape == (72, 96, 3) and len(frames) == len(ref)
    for frame, rgb in enumerate(frames):
        assert read_frame_code(rgb) == (1, ref.camera_frame("wrist_cam_l", frame))


@pytest.mark.slow
def test_corrupt_raw_images_follow_on_bad_frame(tmp_path):
    bag = tmp_path / "bad.bag"
    faults = Faults(corrupt_frames={"cam_r": (60, 61)})
    write_kuavo_bag(bag, 5.0, seed=2, width=W, height=H, image_format="rgb8", faults=faults)
    write_kuavo_bag(tmp_path / "twin.bag", 5.0, seed=2, width=16, height=8)  # same times, JPEG topics
    ref = load_reference(tmp_path / "twin.bag")
    bad = sum(ref.camera_frame("wrist_cam_r", f) in (60, 61) for f in range(len(ref)))
    assert bad >= 1
    run_cli("convert", str(bag), str(tmp_path / "out"), *OPTIONS)
    report = json.loads((tmp_path / "out/meta/spill2lerobot_report.json").read_text())["bags"][0]
    assert report["faults"]["bad_images"] == {"wrist_cam_r": bad}
    strict = [*OPTIONS, "--set", "faults.on_bad_frame=error"]
    result = run_cli("convert", str(bag), str(tmp_path / "out2"), *strict, check=False)
    (line,) = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert RAW_CAMERA_TOPICS["cam_r"] in line and "cannot decode image" in line
    assert result.returncode == 2 and not (tmp_path / "out2").exists()


@pytest.mark.slow
def test_unsupported_raw_encoding_stops_with_one_line(tmp_path):
    bag = tmp_path / "depthlike.bag"
    formats = {"cam_h": "jpeg", "cam_l": "mono8", "cam_r": "jpeg"}
    write_kuavo_bag(bag, 4.0, seed=3, width=W, height=H, image_format=formats)
    data = bag.read_bytes()
    patched = data.replace(b"\x05\x00\x00\x00mono8", b"\x05\x00\x00\x0032FC1")
    assert patched.count(b"32FC1") == 120  # every cam_l message, nothing else
    bag.write_bytes(patched)
    out = tmp_path / "out"
    result = run_cli("convert", str(bag), str(out), *OPTIONS, check=False)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    (line,) = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert str(bag) in line and RAW_CAMERA_TOPICS["cam_l"] in line and "'32FC1'" in line
    assert "supported: rgb8" in line and "record that camera's colour stream" in line
    assert not out.exists()


def test_wrong_message_type_on_a_camera_topic_names_both_image_types(tmp_path):
    bag = tmp_path / "a.bag"
    write_kuavo_bag(bag, 3.0, seed=1, width=32, height=16, image_format="rgb8")
    # the raw image type's name, in the connection record, replaced by another of the same length
    data = bag.read_bytes().replace(b"type=sensor_msgs/Image", b"type=sensor_msgs/Imagf")
    bag.write_bytes(data)
    result = run_cli("stage1", str(bag), str(tmp_path / "spill"), check=False)
    (line,) = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert "sensor_msgs/msg/CompressedImage or sensor_msgs/msg/Image" in line and result.returncode == 2
    assert CAMERA_TOPICS["cam_h"] not in line


@pytest.mark.slow
def test_inspect_accepts_raw_camera_topics(converted):
    result = run_cli("inspect", str(converted["bags"] / "mono8.bag"))
    lines = [line for line in result.stdout.splitlines() if "observation.images." in line]
    assert len(lines) == 3 and all(line.split()[0] == "ok" and "/color/image_raw (images)" in line for line in lines)
    assert "format 'mono8'" in result.stdout


@pytest.mark.parametrize("encoding", ["rgba8", "bgra8"])
def test_four_channel_raw_images_drop_alpha(encoding):
    rgb = frame_rgb(2, 3, 20, 10)
    alpha = np.full((10, 20, 1), 77, np.uint8)
    pixels = np.concatenate([rgb if encoding == "rgba8" else rgb[..., ::-1], alpha], axis=2)
    image = parse_raw_image(raw_image(0, 1, "cam", encoding, pixels, row_padding=3))
    np.testing.assert_array_equal(ImageDecoder().decode(image).to_ndarray(format="rgb24"), rgb)
