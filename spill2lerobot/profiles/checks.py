"""Value checks of the options every profile has, and the message helpers all checks share.

Each problem is one line naming the key; input values are quoted short (they may be huge).
The robot's own checks are in its module (``kuavo.check_options``, ``generic_check``).
"""

from __future__ import annotations

import re
from typing import Any

from spill2lerobot.errors import UserError
from spill2lerobot.profiles.options import (
    MAX_BAGS,
    MAX_CHUNK_SIZE,
    MAX_DEPTH_MM,
    MAX_ENCODER_THREADS,
    MAX_FPS,
    MAX_GOP,
    MAX_IMAGE_PIXELS,
    MAX_MIN_FRAMES,
    MAX_PATH_TEXT,
    MAX_SAMPLE_DROP,
    MAX_SIDE,
    MAX_SKEW_MS,
    MAX_SPLITS,
    MAX_TEXT,
    MIN_SIDE,
    SVTAV1_PRESETS,
    X264_PRESETS,
    DatasetOptions,
    Profile,
    RosbagOptions,
    VideoOptions,
)

QUOTE_LIMIT = 60  # characters of an input value quoted in a message
_REPO_ID = re.compile(r"(?:[\w\-.]{1,96}/)?[\w\-.]{1,96}", re.ASCII)


def shorten(text: str, limit: int = QUOTE_LIMIT) -> str:
    """``text`` cut to ``limit`` characters ("..." marks the cut): input never floods a message."""
    return text if len(text) <= limit else text[: limit - 3] + "..."


def quote(value: Any, limit: int = QUOTE_LIMIT) -> str:
    """A short ``repr`` of a value read from the input, for error messages."""
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 128:
        return f"<an integer of {value.bit_length()} bits>"  # repr of a huge int is slow or refused
    if isinstance(value, str):
        value = value[: 2 * limit]  # repr of the prefix only: the value may be megabytes
    try:
        text = repr(value)  # a list or mapping: at most the size of the (bounded) file
    except ValueError:  # an integer too long for repr, nested inside a list
        text = f"<a {type(value).__name__}>"
    return shorten(text, limit)


def check_range(key: str, value: int, low: int, high: int, what: str = "") -> None:
    """One line naming ``key`` unless ``low <= value <= high``."""
    if not low <= value <= high:
        raise UserError(f"profile key '{key}' must be between {low} and {high}{what}, got {quote(value)}")


def check_text(key: str, value: str | None, limit: int = MAX_TEXT) -> None:
    if value is not None and len(value) > limit:
        raise UserError(f"profile key '{key}' must be at most {limit} characters, got {len(value)}: {quote(value)}")


def check_core(profile: Profile) -> None:
    """The options every robot has (the robot's own are checked after these)."""
    _check_rosbag(profile.rosbag)
    _check_dataset(profile.dataset)
    _check_video(profile.video)
    _check_faults(profile)
    if profile.dataset.timing == "header" and profile.features is None:
        # the Kuavo rules stay the original's: record times only
        raise UserError(
            "profile key 'dataset.timing': header timing needs a generic profile (a features section); "
            "use timing: record for Kuavo"
        )


def _check_rosbag(rosbag: RosbagOptions) -> None:
    check_range("rosbag.chunk_size", rosbag.chunk_size, 2, MAX_CHUNK_SIZE, " frames")
    if rosbag.num_used is not None:
        check_range("rosbag.num_used", rosbag.num_used, 1, MAX_BAGS, " bags (or null: all)")
    check_text("rosbag.rosbag_dir", rosbag.rosbag_dir, MAX_PATH_TEXT)
    check_text("rosbag.lerobot_dir", rosbag.lerobot_dir, MAX_PATH_TEXT)


def _check_dataset(ds: DatasetOptions) -> None:
    check_range("dataset.main_timeline_fps", ds.main_timeline_fps, 1, MAX_FPS, " frames per second")
    check_range("dataset.train_hz", ds.train_hz, 1, ds.main_timeline_fps, " (dataset.main_timeline_fps)")
    if ds.main_timeline_fps % ds.train_hz != 0:
        raise UserError(
            "profile keys 'dataset.main_timeline_fps' / 'dataset.train_hz': main_timeline_fps must "
            f"be a multiple of train_hz (got {ds.main_timeline_fps} and {ds.train_hz})"
        )
    check_range("dataset.sample_drop", ds.sample_drop, 0, MAX_SAMPLE_DROP, " frames")
    depth = ds.depth_range
    if len(depth) != 2 or not 0 <= depth[0] < depth[1] <= MAX_DEPTH_MM:
        raise UserError(
            f"profile key 'dataset.depth_range' must be [min_mm, max_mm] with 0 <= min < max <= {MAX_DEPTH_MM}, "
            f"got {quote(ds.depth_range)}"
        )
    check_range("dataset.dex_dof_needed", ds.dex_dof_needed, 1, 6)
    for side in ("width", "height"):
        value = getattr(ds.resize, side)
        if value % 2 or not MIN_SIDE <= value <= MAX_SIDE:
            raise UserError(
                f"profile key 'dataset.resize.{side}' must be an even number between {MIN_SIDE} and {MAX_SIDE} "
                f"(yuv420p video), got {quote(value)}"
            )
    _check_splits(ds)
    check_range("dataset.min_frames", ds.min_frames, 0, MAX_MIN_FRAMES, " frames")
    check_text("dataset.task_description", ds.task_description)
    check_text("dataset.robot_type", ds.robot_type)
    check_text("dataset.main_timeline", ds.main_timeline)
    if not _is_repo_id(ds.repo_id):
        raise UserError(
            "profile key 'dataset.repo_id' must be a dataset name such as local/kuavo (letters, digits, - _ . "
            f"and at most one /, up to 96 characters each side), got {quote(ds.repo_id)}"
        )


def _check_splits(ds: DatasetOptions) -> None:
    if ds.splits is None:
        return
    fractions = list(ds.splits.values())
    if not 0 < len(fractions) <= MAX_SPLITS or not all(0 < f <= 1 for f in fractions) or sum(fractions) > 1.0:
        raise UserError(
            "profile key 'dataset.splits' must map up to 100 split names to fractions of the episodes "
            f"(each above 0, summing to at most 1, e.g. {{train: 0.9, val: 0.1}}), got {quote(ds.splits)}"
        )
    for name in ds.splits:
        if not name or len(name) > MAX_TEXT or ":" in name:
            raise UserError(f"profile key 'dataset.splits' has a bad split name {quote(name)}; use e.g. train, val")


def _is_repo_id(text: str) -> bool:
    """Hugging Face's repo id rules (huggingface_hub.validate_repo_id), which lerobot's hub calls
    apply; lerobot also joins the id to its home folder, so '..' must not get through."""
    return (
        _REPO_ID.fullmatch(text) is not None
        and "--" not in text
        and ".." not in text
        and not text.endswith(".git")
        and all(not part.startswith(("-", ".")) and not part.endswith(("-", ".")) for part in text.split("/"))
    )


def _check_video(video: VideoOptions) -> None:
    check_range("video.g", video.g, 1, MAX_GOP, " frames between keyframes")
    crf_max = {"libsvtav1": 63, "libx264": 51}[video.codec]
    check_range("video.crf", video.crf, 0, crf_max, f" for {video.codec}")
    preset = video.preset
    low, high = SVTAV1_PRESETS
    if video.codec == "libsvtav1" and preset is not None and (isinstance(preset, str) or not low <= preset <= high):
        raise UserError(
            f"profile key 'video.preset' must be null or an integer between {low} and {high} for libsvtav1, "
            f"got {quote(preset)}"
        )
    if video.codec == "libx264" and preset is not None and preset not in X264_PRESETS:
        raise UserError(
            f"profile key 'video.preset' must be null or one of {' '.join(X264_PRESETS)} for libx264, "
            f"got {quote(preset)}"
        )
    check_range("video.fast_decode", video.fast_decode, 0, 2)
    if video.depth_preset is not None and video.depth_preset not in X264_PRESETS:  # x265 has x264's names
        raise UserError(
            f"profile key 'video.depth_preset' must be null or one of {' '.join(X264_PRESETS)} (x265's presets), "
            f"got {quote(video.depth_preset)}"
        )
    if video.encoder_threads is not None:
        check_range("video.encoder_threads", video.encoder_threads, 1, MAX_ENCODER_THREADS)


def _check_faults(profile: Profile) -> None:
    faults = profile.faults
    check_range("faults.max_skew_ms", faults.max_skew_ms, 0, MAX_SKEW_MS, " ms")
    if faults.max_image_pixels is not None:
        frame = profile.dataset.resize.width * profile.dataset.resize.height
        check_range(
            "faults.max_image_pixels",
            faults.max_image_pixels,
            frame,
            MAX_IMAGE_PIXELS,
            " (at least dataset.resize width x height; or null)",
        )
