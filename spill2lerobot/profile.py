"""YAML profile -> typed settings.

A profile mirrors the original Kuavo converter's configuration (``KuavoRosbag2Lerobot.yaml``)
section by section, plus this tool's own ``rosbag.chunk_size`` and ``video`` encoder settings.
A ``features`` section makes it a generic profile (any robot, see ``generic.py``): cameras,
``observation.state`` and ``action`` are then mapped from topics and message fields.
Unknown keys, wrong types and values out of range are a one-line error naming the key, checked
when the profile is read (before any bag). The file itself must be a regular UTF-8 file of at
most 1 MiB, and its YAML may not use aliases (``*name``): bounded memory on hostile input.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import re
import stat
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from spill2lerobot.errors import UserError

DEFAULT_PROFILE = Path(__file__).resolve().parent.parent / "configs" / "kuavo.yaml"

# Reading: a profile is a few KB; these bound the work a hostile file can cause.
MAX_PROFILE_BYTES = 1 << 20
MAX_YAML_DEPTH = 16  # a profile nests 5 levels (features.state[0].slice)
MAX_YAML_SCALAR = 10_000  # characters of one value (also bounds YAML's base-60 integers: quadratic)
MAX_YAML_VALUES = 100_000
QUOTE_LIMIT = 60  # characters of an input value quoted in a message

# Ranges of the values (sane bounds; the encoder's own limits for video.*, measured with the
# bundled FFmpeg: tests/test_profile_safety.py opens an encoder at each bound).
MAX_CHUNK_SIZE = 100_000  # a chunk's frames are held in memory
MAX_BAGS = 1_000_000
MAX_FPS = 1000
MIN_SIDE, MAX_SIDE = 16, 8192
MAX_IMAGE_PIXELS = 400_000_000
MAX_SAMPLE_DROP = 1_000_000
MAX_DEPTH_MM = 65535  # depth is 16-bit millimetres
MAX_SKEW_MS = 3_600_000
MAX_GOP = 100_000
MAX_TEXT = 1000
MAX_PATH_TEXT = 4096
SVTAV1_PRESETS = (-1, 13)
X264_PRESETS = (
    "ultrafast", "superfast", "veryfast", "faster", "fast",
    "medium", "slow", "slower", "veryslow", "placebo",
)
_REPO_ID = re.compile(r"(?:[\w\-.]{1,96}/)?[\w\-.]{1,96}", re.ASCII)


@dataclass
class RosbagOptions:
    rosbag_dir: str | None = None  # input folder, used when no BAG argument is given
    num_used: int | None = None  # use only the first N bags (sorted by name)
    lerobot_dir: str | None = None  # output folder, used when no OUT argument is given
    chunk_size: int = 1000  # aligned frames per spill chunk (= per episode with --episodes chunk)


@dataclass
class ResizeOptions:
    width: int = 640
    height: int = 480


@dataclass
class DatasetOptions:
    only_arm: bool = True
    eef_type: Literal["leju_claw", "qiangnao", "rq2f85"] = "leju_claw"
    which_arm: Literal["left", "right", "both"] = "both"
    # Depth cameras: "auto" = exactly when the bag has the profile's depth topics; true requires
    # them; false ignores them. depth_mode: lerobot's native depth video (millimetres), or the
    # original converter's 8-bit 3-channel picture of the depth clipped to depth_range.
    use_depth: bool | Literal["auto"] = "auto"
    depth_mode: Literal["native", "rgb8"] = "native"
    depth_range: list[int] = field(default_factory=lambda: [0, 1500])
    dex_dof_needed: int = 1
    is_binary: bool = False
    delta_action: bool = False
    relative_start: bool = False
    task_description: str = "kuavo task"
    train_hz: int = 10
    main_timeline: str = "head_cam_h"  # Kuavo: head_cam_h | wrist_cam_l | wrist_cam_r; generic: a camera name
    main_timeline_fps: int = 30
    sample_drop: int = 10
    resize: ResizeOptions = field(default_factory=ResizeOptions)
    repo_id: str = "local/kuavo"  # name recorded for the dataset; not used for any download
    robot_type: str | None = "kuavo"


@dataclass
class VideoOptions:
    codec: Literal["libsvtav1", "libx264"] = "libsvtav1"
    pix_fmt: Literal["yuv420p"] = "yuv420p"
    g: int = 2
    crf: int = 30
    preset: int | str | None = None  # None: lerobot's default for the codec (SVT-AV1: 12)
    fast_decode: int = 0


@dataclass
class FaultOptions:
    # An image or message that cannot be decoded: reuse the previous good one of that camera or
    # topic within the chunk (a chunk starting with bad images gets mid-grey frames), or stop.
    on_bad_frame: Literal["repeat", "error"] = "repeat"
    # A topic whose message nearest to a frame is farther than this from the frame's time has
    # a gap there (a camera that stopped, a dropped stream): counted, or an error.
    max_skew_ms: int = 100
    on_gap: Literal["keep", "error"] = "keep"
    # Source images (colour or depth) with more pixels than this are bad frames, checked from
    # their headers before decoding; null: 36 x resize.width x resize.height (6 x each side).
    max_image_pixels: int | None = None


@dataclass
class FieldPart:
    """Values of one message field (generic profiles): ``topic``'s ``field`` (dotted path, e.g.
    ``position`` or ``joint_data.joint_q``; ``poses[0].x`` indexes), optionally a ``slice``
    ([start, stop] or [start, stop, step]), ``indices`` or ``joints`` (by name, looked up in the
    message's ``name`` list beside the field, as in sensor_msgs/JointState), then ``convert``
    (unit), ``* scale + offset``, and ``threshold`` (values >= it become 1, others 0)."""

    topic: str = ""
    field: str = ""
    slice: list[int] | None = None
    indices: list[int] | None = None
    joints: list[str] | None = None
    convert: Literal["none", "deg2rad", "rad2deg", "mm2m", "m2mm", "percent"] = "none"
    scale: float = 1.0
    offset: float = 0.0
    threshold: float | None = None
    names: list[str] | None = None  # one per value; default: <topic's last part>.<field>.<i>


@dataclass
class FeatureOptions:
    """Generic profile: what feeds each feature. Cameras: name -> CompressedImage topic."""

    cameras: dict[str, str] = field(default_factory=dict)
    state: list[FieldPart] = field(default_factory=list)
    action: list[FieldPart] = field(default_factory=list)


@dataclass
class Profile:
    rosbag: RosbagOptions = field(default_factory=RosbagOptions)
    dataset: DatasetOptions = field(default_factory=DatasetOptions)
    video: VideoOptions = field(default_factory=VideoOptions)
    faults: FaultOptions = field(default_factory=FaultOptions)
    features: FeatureOptions | None = None  # set: a generic profile; None: the Kuavo rules

    @property
    def is_generic(self) -> bool:
        return self.features is not None

    def to_dict(self) -> dict[str, Any]:
        options = dataclasses.asdict(self)
        if self.features is None:
            del options["features"]  # Kuavo spills keep the manifest they always had
        return options

    def fingerprint(self) -> str:
        """Canonical JSON of the options that change the spill's content."""
        options = self.to_dict()
        options["rosbag"] = {"chunk_size": self.rosbag.chunk_size}
        return json.dumps(options, sort_keys=True)


def image_pixel_limit(profile: Profile) -> int:
    """Largest source image (width x height) decoded; bigger ones are bad frames (bounded memory)."""
    if profile.faults.max_image_pixels is not None:
        return profile.faults.max_image_pixels
    return min(36 * profile.dataset.resize.width * profile.dataset.resize.height, MAX_IMAGE_PIXELS)


# --- messages -----------------------------------------------------------------------------------


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


def _show_path(path: Path) -> str:
    text = str(path)
    return text if len(text) <= 200 else f"{text[:60]}...{text[-100:]}"


# --- reading --------------------------------------------------------------------------------------


class _Refused(Exception):
    """YAML a profile may not hold (aliases, deep nesting, huge values); ``line`` is 1-based."""

    def __init__(self, mark: Any, reason: str) -> None:
        super().__init__(reason)
        self.line = mark.line + 1 if mark is not None else None
        self.reason = reason


_BaseLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml's parser when installed: ~20x faster


class _ProfileLoader(_BaseLoader):
    """SafeLoader whose values that cannot be converted (an integer of more than 4300 digits, a
    date of month 13) name their line instead of raising a bare ValueError."""

    def construct_object(self, node: yaml.Node, deep: bool = False) -> Any:
        try:
            return super().construct_object(node, deep)
        except (ValueError, OverflowError):
            reason = "this value cannot be read (too long a number or an invalid date)"
            raise _Refused(node.start_mark, reason) from None


def _screen(text: str) -> None:
    """Refuse aliases, deep nesting, huge scalars and too many values before building anything.

    A first pass over the parser's events (no values built): an alias bomb ("billion laughs")
    expands to gigabytes only when composed, so it is refused here at its first alias.
    """
    loader = _ProfileLoader(text)
    try:
        depth = values = 0
        while loader.check_event():
            event = loader.get_event()
            if isinstance(event, yaml.AliasEvent):
                raise _Refused(event.start_mark, "YAML aliases are not allowed in profiles; write the value out")
            if isinstance(event, yaml.CollectionStartEvent):
                depth += 1
                if depth > MAX_YAML_DEPTH:
                    reason = f"nested more than {MAX_YAML_DEPTH} levels deep; a profile needs 5"
                    raise _Refused(event.start_mark, reason)
            elif isinstance(event, yaml.CollectionEndEvent):
                depth -= 1
            elif isinstance(event, yaml.ScalarEvent) and len(event.value) > MAX_YAML_SCALAR:
                raise _Refused(
                    event.start_mark, f"a value of more than {MAX_YAML_SCALAR} characters; profile values are short"
                )
            if isinstance(event, yaml.NodeEvent):
                values += 1
                if values > MAX_YAML_VALUES:
                    raise _Refused(event.start_mark, f"more than {MAX_YAML_VALUES} values; a profile has a few hundred")
    finally:
        loader.dispose()


def _yaml_load(text: str) -> Any:
    """Parse profile YAML (raises ``_Refused`` or ``yaml.YAMLError``)."""
    _screen(text)
    loader = _ProfileLoader(text)
    try:
        return loader.get_single_data()
    finally:
        loader.dispose()


def _read_profile_text(source: Path) -> str:
    """The text of a profile file: a regular file of sane size, UTF-8; anything else is one line."""
    shown = _show_path(source)
    try:
        # stat before open: opening a FIFO blocks and opening a device can have effects.
        if not stat.S_ISREG(os.stat(source).st_mode):
            raise UserError(f"{shown}: not a regular file; pass a YAML profile")
        fd = os.open(source, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
        with os.fdopen(fd, "rb") as file:
            if not stat.S_ISREG(os.fstat(fd).st_mode):  # replaced between stat and open
                raise UserError(f"{shown}: not a regular file; pass a YAML profile")
            data = file.read(MAX_PROFILE_BYTES + 1)
    except FileNotFoundError:
        raise UserError(f"{shown}: profile not found; pass an existing --config") from None
    except PermissionError:
        raise UserError(f"{shown}: cannot read the profile (permission denied); check its permissions") from None
    except OSError as exc:
        raise UserError(f"{shown}: cannot read the profile ({exc.strerror}); pass a YAML profile") from None
    if len(data) > MAX_PROFILE_BYTES:
        raise UserError(f"{shown}: larger than {MAX_PROFILE_BYTES // (1 << 20)} MiB; a profile is a few KB of YAML")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UserError(f"{shown}: not UTF-8 text (byte {exc.start}); save the profile as UTF-8") from None


# --- typed settings -----------------------------------------------------------------------------


def _type_name(tp: Any) -> str:
    if typing.get_origin(tp) is Literal:
        return " | ".join(repr(v) for v in typing.get_args(tp))
    return getattr(tp, "__name__", str(tp)).replace("NoneType", "null")


def _coerce(value: Any, tp: Any, key: str) -> Any:
    """Check ``value`` against the annotation ``tp``; return it (nested dataclasses built)."""
    origin = typing.get_origin(tp)
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise UserError(f"profile key '{key}' must be a mapping, got {quote(value)}")
        return _build(tp, value, key)
    if origin in (typing.Union, types.UnionType):
        options = [t for t in typing.get_args(tp) if t is not type(None)]
        if value is not None and len(options) == 1 and dataclasses.is_dataclass(options[0]):
            return _coerce(value, options[0], key)  # a section: its own error names the inner key
        for option in typing.get_args(tp):
            try:
                return _coerce(value, option, key)
            except UserError:
                continue
        names = " or ".join(_type_name(t) for t in typing.get_args(tp))
        raise UserError(f"profile key '{key}' must be {names}, got {quote(value)}")
    if origin is Literal:
        if value not in typing.get_args(tp):
            raise UserError(f"profile key '{key}' must be one of {_type_name(tp)}, got {quote(value)}")
        return value
    if origin is dict:
        key_tp, item_tp = typing.get_args(tp)
        if not isinstance(value, dict) or not all(isinstance(k, key_tp) for k in value):
            raise UserError(f"profile key '{key}' must be a mapping of names, got {quote(value)}")
        return {k: _coerce(v, item_tp, f"{key}.{shorten(k)}") for k, v in value.items()}
    if origin is list:
        (item_tp,) = typing.get_args(tp)
        if not isinstance(value, list):
            raise UserError(f"profile key '{key}' must be a list, got {quote(value)}")
        return [_coerce(v, item_tp, f"{key}[{i}]") for i, v in enumerate(value)]
    if tp is type(None):
        if value is not None:
            raise UserError(f"profile key '{key}' must be null, got {quote(value)}")
        return None
    if tp is bool:
        if not isinstance(value, bool):
            raise UserError(f"profile key '{key}' must be true or false, got {quote(value)}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise UserError(f"profile key '{key}' must be an integer, got {quote(value)}")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise UserError(f"profile key '{key}' must be a number, got {quote(value)}")
        try:
            number = float(value)
        except OverflowError:  # an integer beyond any float
            number = math.inf
        if not math.isfinite(number):
            raise UserError(f"profile key '{key}' must be a finite number, got {quote(value)}")
        return number
    if tp is str:
        if not isinstance(value, str):
            raise UserError(f"profile key '{key}' must be a string, got {quote(value)}")
        return value
    raise TypeError(f"unsupported annotation {tp!r} for {key}")  # a bug in this module


def _build(cls: type, data: dict[str, Any], prefix: str) -> Any:
    hints = typing.get_type_hints(cls)
    unknown = sorted((k for k in data if k not in hints), key=str)
    if unknown:
        name = shorten(str(unknown[0]), 40)
        where = f"{prefix}.{name}" if prefix else name
        raise UserError(f"unknown profile key '{where}' (known: {', '.join(sorted(hints))})")
    kwargs = {name: _coerce(value, hints[name], f"{prefix}.{name}" if prefix else name) for name, value in data.items()}
    return cls(**kwargs)


def _merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def parse_override(text: str) -> dict[str, Any]:
    """``dataset.which_arm=left`` -> ``{"dataset": {"which_arm": "left"}}`` (value parsed as YAML)."""
    if "=" not in text:
        raise UserError(f"--set expects KEY=VALUE (e.g. rosbag.chunk_size=500), got {quote(text)}")
    dotted, raw = text.split("=", 1)
    try:
        value = _yaml_load(raw) if raw.strip() else ""
    except _Refused as exc:
        raise UserError(f"--set {shorten(dotted.strip())}: {exc.reason}") from None
    except yaml.YAMLError:
        value = raw  # not YAML: the text itself (a task description, say)
    nested: dict[str, Any] = {}
    node = nested
    parts = dotted.strip().split(".")
    for part in parts[:-1]:
        node = node.setdefault(part, {})
    node[parts[-1]] = value
    return nested


def load_profile(path: str | Path | None = None, overrides: list[str] | tuple[str, ...] = ()) -> Profile:
    """Read a YAML profile (default: configs/kuavo.yaml), apply ``KEY=VALUE`` overrides, validate."""
    data: dict[str, Any] = {}
    source = Path(path) if path else DEFAULT_PROFILE
    if path is not None or source.exists():
        shown = _show_path(source)
        text = _read_profile_text(source)
        try:
            loaded = _yaml_load(text)
        except _Refused as exc:
            raise UserError(f"{shown} line {exc.line}: {exc.reason}") from None
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            line = f" line {mark.line + 1}" if mark else ""
            raise UserError(f"{shown}:{line} is not valid YAML; fix the file") from None
        if loaded is not None and not isinstance(loaded, dict):
            raise UserError(f"{shown}: a profile must be a YAML mapping")
        data = loaded or {}
    for text in overrides:
        data = _merge(data, parse_override(text))
    return profile_from_dict(data)


def profile_from_dict(data: dict[str, Any]) -> Profile:
    """Typed, range-checked settings from a parsed profile (a file's or a spill manifest's)."""
    if not isinstance(data, dict):
        raise UserError(f"a profile must be a mapping, got {quote(data)}")
    profile = _build(Profile, data, "")
    _check_values(profile)
    return profile


# --- value checks -------------------------------------------------------------------------------


def check_range(key: str, value: int, low: int, high: int, what: str = "") -> None:
    """One line naming ``key`` unless ``low <= value <= high``."""
    if not low <= value <= high:
        raise UserError(f"profile key '{key}' must be between {low} and {high}{what}, got {quote(value)}")


def check_text(key: str, value: str | None, limit: int = MAX_TEXT) -> None:
    if value is not None and len(value) > limit:
        raise UserError(f"profile key '{key}' must be at most {limit} characters, got {len(value)}: {quote(value)}")


def _check_values(profile: Profile) -> None:
    _check_rosbag(profile.rosbag)
    _check_dataset(profile.dataset)
    _check_video(profile.video)
    _check_faults(profile)
    if profile.features is not None:
        from spill2lerobot.generic import check_features

        check_features(profile)
        return
    _check_kuavo(profile.dataset)


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
    check_text("dataset.task_description", ds.task_description)
    check_text("dataset.robot_type", ds.robot_type)
    check_text("dataset.main_timeline", ds.main_timeline)
    if not _is_repo_id(ds.repo_id):
        raise UserError(
            "profile key 'dataset.repo_id' must be a dataset name such as local/kuavo (letters, digits, - _ . "
            f"and at most one /, up to 96 characters each side), got {quote(ds.repo_id)}"
        )


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


def _check_kuavo(ds: DatasetOptions) -> None:
    kuavo_cameras = ("head_cam_h", "wrist_cam_l", "wrist_cam_r")
    if ds.main_timeline not in kuavo_cameras:
        raise UserError(
            f"profile key 'dataset.main_timeline' must be one of {' | '.join(map(repr, kuavo_cameras))}, "
            f"got {quote(ds.main_timeline)}"
        )
    not_yet = {
        "dataset.only_arm": not ds.only_arm,
        "dataset.delta_action": ds.delta_action,
        "dataset.relative_start": ds.relative_start,
    }
    for key, unsupported in not_yet.items():
        if unsupported:
            raise UserError(
                f"profile key '{key}': this value is not supported yet; use the default (see README, 'Profile options')"
            )
