"""YAML profile -> typed settings.

A profile mirrors the original Kuavo converter's configuration (``KuavoRosbag2Lerobot.yaml``)
section by section, plus this tool's own ``rosbag.chunk_size`` and ``video`` encoder settings.
A ``features`` section makes it a generic profile (any robot, see ``generic.py``): cameras,
``observation.state`` and ``action`` are then mapped from topics and message fields.
Unknown keys and wrong types are a one-line error naming the key.
"""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from spill2lerobot.errors import UserError

DEFAULT_PROFILE = Path(__file__).resolve().parent.parent / "configs" / "kuavo.yaml"


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


def _type_name(tp: Any) -> str:
    if typing.get_origin(tp) is Literal:
        return " | ".join(repr(v) for v in typing.get_args(tp))
    return getattr(tp, "__name__", str(tp)).replace("NoneType", "null")


def _coerce(value: Any, tp: Any, key: str) -> Any:
    """Check ``value`` against the annotation ``tp``; return it (nested dataclasses built)."""
    origin = typing.get_origin(tp)
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise UserError(f"profile key '{key}' must be a mapping, got {value!r}")
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
        raise UserError(f"profile key '{key}' must be {names}, got {value!r}")
    if origin is Literal:
        if value not in typing.get_args(tp):
            raise UserError(f"profile key '{key}' must be one of {_type_name(tp)}, got {value!r}")
        return value
    if origin is dict:
        key_tp, item_tp = typing.get_args(tp)
        if not isinstance(value, dict) or not all(isinstance(k, key_tp) for k in value):
            raise UserError(f"profile key '{key}' must be a mapping of names, got {value!r}")
        return {k: _coerce(v, item_tp, f"{key}.{k}") for k, v in value.items()}
    if origin is list:
        (item_tp,) = typing.get_args(tp)
        if not isinstance(value, list):
            raise UserError(f"profile key '{key}' must be a list, got {value!r}")
        return [_coerce(v, item_tp, f"{key}[{i}]") for i, v in enumerate(value)]
    if tp is type(None):
        if value is not None:
            raise UserError(f"profile key '{key}' must be null, got {value!r}")
        return None
    if tp is bool:
        if not isinstance(value, bool):
            raise UserError(f"profile key '{key}' must be true or false, got {value!r}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise UserError(f"profile key '{key}' must be an integer, got {value!r}")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise UserError(f"profile key '{key}' must be a number, got {value!r}")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise UserError(f"profile key '{key}' must be a string, got {value!r}")
        return value
    raise TypeError(f"unsupported annotation {tp!r} for {key}")  # a bug in this module


def _build(cls: type, data: dict[str, Any], prefix: str) -> Any:
    hints = typing.get_type_hints(cls)
    unknown = sorted(set(data) - set(hints))
    if unknown:
        where = f"{prefix}.{unknown[0]}" if prefix else unknown[0]
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
        raise UserError(f"--set expects KEY=VALUE (e.g. rosbag.chunk_size=500), got {text!r}")
    dotted, raw = text.split("=", 1)
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError:
        value = raw
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
        try:
            loaded = yaml.safe_load(source.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise UserError(f"{source}: profile not found; pass an existing --config") from None
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            line = f" line {mark.line + 1}" if mark else ""
            raise UserError(f"{source}:{line} is not valid YAML; fix the file") from None
        if loaded is not None and not isinstance(loaded, dict):
            raise UserError(f"{source}: a profile must be a YAML mapping")
        data = loaded or {}
    for text in overrides:
        data = _merge(data, parse_override(text))
    profile = _build(Profile, data, "")
    _check_values(profile)
    return profile


def _check_values(profile: Profile) -> None:
    ds = profile.dataset
    if profile.rosbag.chunk_size < 2:
        raise UserError("profile key 'rosbag.chunk_size' must be at least 2 frames")
    if ds.train_hz <= 0 or ds.main_timeline_fps % ds.train_hz != 0:
        raise UserError(
            "profile keys 'dataset.main_timeline_fps' / 'dataset.train_hz': main_timeline_fps must "
            f"be a multiple of train_hz (got {ds.main_timeline_fps} and {ds.train_hz})"
        )
    if ds.sample_drop < 0:
        raise UserError("profile key 'dataset.sample_drop' must be >= 0")
    if len(ds.depth_range) != 2 or ds.depth_range[0] >= ds.depth_range[1]:
        raise UserError("profile key 'dataset.depth_range' must be [min_mm, max_mm] with min < max")
    if not 1 <= ds.dex_dof_needed <= 6:
        raise UserError("profile key 'dataset.dex_dof_needed' must be between 1 and 6")
    if ds.resize.width % 2 or ds.resize.height % 2 or ds.resize.width <= 0:
        raise UserError("profile key 'dataset.resize' must give even, positive width and height")
    if profile.features is not None:
        from spill2lerobot.generic import check_features

        check_features(profile)
        return
    kuavo_cameras = ("head_cam_h", "wrist_cam_l", "wrist_cam_r")
    if ds.main_timeline not in kuavo_cameras:
        raise UserError(
            f"profile key 'dataset.main_timeline' must be one of {' | '.join(map(repr, kuavo_cameras))}, "
            f"got {ds.main_timeline!r}"
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
