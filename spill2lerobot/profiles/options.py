"""Typed profile options: what every robot's profile has (rosbag, dataset, video, faults) and a
generic profile's ``features``, as pydantic models (``options_model.py``: strict, no unknown keys).
Reading and checking them is ``loading.py``, ``validation_errors.py`` and ``checks.py``.

A profile mirrors the original Kuavo converter's configuration (``KuavoRosbag2Lerobot.yaml``)
section by section, plus this tool's own ``rosbag.chunk_size`` and ``video`` encoder settings.
A ``features`` section makes it a generic profile (any robot): cameras, ``observation.state``
and ``action`` are then mapped from topics and message fields.
"""

from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import Field

from spill2lerobot.profiles.kuavo_options import KuavoDatasetOptions
from spill2lerobot.profiles.options_model import OptionsModel

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
MAX_SPLITS = 100
MAX_MIN_FRAMES = 100_000_000
MAX_GOP = 100_000
MAX_ENCODER_THREADS = 256
MAX_TEXT = 1000
MAX_PATH_TEXT = 4096
SVTAV1_PRESETS = (-1, 13)
X264_PRESETS = (
    "ultrafast", "superfast", "veryfast", "faster", "fast",
    "medium", "slow", "slower", "veryslow", "placebo",
)  # fmt: skip

MessageKind = Literal["imu", "odometry", "pose", "twist", "wrench", "joy", "joint_state"]
Conversion = Literal["none", "deg2rad", "rad2deg", "mm2m", "m2mm", "percent"]


class RosbagOptions(OptionsModel):
    rosbag_dir: str | None = None  # input folder, used when no BAG argument is given
    num_used: int | None = None  # use only the first N bags (sorted by name)
    lerobot_dir: str | None = None  # output folder, used when no OUT argument is given
    chunk_size: int = 1000  # aligned frames per spill chunk (= per episode with --episodes chunk)


class ResizeOptions(OptionsModel):
    width: int = 640
    height: int = 480


class DatasetOptions(KuavoDatasetOptions):
    """Every robot's dataset options, after the Kuavo ones (the order spills record them in)."""

    task_description: str = "kuavo task"
    train_hz: int = 10
    main_timeline: str = "head_cam_h"  # a camera name of the robot (Kuavo: head_cam_h | wrist_cam_l | wrist_cam_r)
    main_timeline_fps: int = 30
    sample_drop: int = 10
    resize: ResizeOptions = Field(default_factory=ResizeOptions)
    repo_id: str = "local/kuavo"  # name recorded for the dataset; not used for any download
    robot_type: str | None = "kuavo"
    # info.json "splits": name -> fraction of the episodes, contiguous ranges in this order
    # (lerobot's split_dataset rule); None: everything is "train", as lerobot writes it.
    splits: dict[str, float] | None = None
    min_frames: int = 0  # bags with fewer frames are left out of the dataset (counted in the report)
    # Which time a message has for the timeline and the alignment: "record" (the bag's record
    # time, like the original converter) or "header" (its header.stamp; generic profiles, every
    # topic used must have a header).
    timing: Literal["record", "header"] = "record"


class VideoOptions(OptionsModel):
    codec: Literal["libsvtav1", "libx264"] = "libsvtav1"
    pix_fmt: Literal["yuv420p"] = "yuv420p"
    g: int = 2
    crf: int = 30
    preset: int | str | None = None  # None: lerobot's default for the codec (SVT-AV1: 12)
    fast_decode: int = 0
    # x265 preset of native depth videos. They are lossless: every preset decodes to the same
    # values, only the time and the file size differ (ultrafast: ~2.2x faster, ~12% larger here).
    # null: x265's own default, as lerobot 0.6.1's DepthEncoderConfig.
    depth_preset: str | None = "ultrafast"
    # Threads of each camera's SVT-AV1 encoder (which writes the same video for any value); null:
    # the cores shared among the encoders running at once (cameras x --jobs). libx264 keeps its own
    # choice: its thread count changes its output.
    encoder_threads: int | None = None
    # true: each unit decodes and encodes all its cameras on the thread that reads the bag, so
    # that (with encoder_threads 1) a unit uses one core: --jobs N on N cores, or Ray tasks of
    # one CPU. false: one thread per camera (a unit alone keeps several cores busy). Same output.
    single_thread: bool = False


class FaultOptions(OptionsModel):
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


class FieldPart(OptionsModel):
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
    convert: Conversion = "none"
    scale: float = 1.0
    offset: float = 0.0
    threshold: float | None = None
    names: list[str] | None = None  # one per value; default: <topic's last part>.<field>.<i>
    # "module:function" (an installed module) or "file.py:function" (beside the profile): a
    # function of the field's value (the whole message when field is "") giving the numbers
    decoder: str | None = None
    # A common message type read without naming fields (profiles/message_kinds.py): its default
    # values, or those listed in ``values``; names generated unless ``names`` gives them.
    type: MessageKind | None = None
    values: list[str] | None = None
    # A pose from /tf and /tf_static (no topic, no field): ``frame`` in ``relative_to`` at each
    # frame time, x y z qx qy qz qw, or x y z roll pitch yaw with ``euler``.
    frame: str | None = None
    relative_to: str | None = None
    euler: bool = False


class AlignOptions(OptionsModel):
    """How one topic's messages meet the frame times (``align.TopicAlign``)."""

    mode: Literal["nearest", "previous", "linear", "slerp"] = "nearest"
    max_skew_ms: int | None = None  # this topic's gap limit; None: faults.max_skew_ms


class FeatureOptions(OptionsModel):
    """Generic profile: what feeds each feature. Cameras: name -> CompressedImage or Image topic;
    ``align``: topic -> its alignment (topics not named: nearest, faults.max_skew_ms)."""

    cameras: dict[str, str] = Field(default_factory=dict)
    state: list[FieldPart] = Field(default_factory=list)
    action: list[FieldPart] = Field(default_factory=list)
    align: dict[str, AlignOptions] = Field(default_factory=dict)
    # depth cameras, name -> topic: compressedDepth CompressedImage (a topic ending in
    # /compressedDepth) or raw Image 16UC1/32FC1; observation.<name>, in dataset.depth_mode
    depth: dict[str, str] = Field(default_factory=dict)


# Part keys added after generic profiles first were recorded, with their unset values.
_PART_UNSET: tuple[tuple[str, object], ...] = (
    ("type", None), ("values", None), ("frame", None), ("relative_to", None), ("euler", False),
)  # fmt: skip


DATASET_UNSET: tuple[tuple[str, object], ...] = (("splits", None), ("min_frames", 0), ("timing", "record"))


class Profile(OptionsModel):
    rosbag: RosbagOptions = Field(default_factory=RosbagOptions)
    dataset: DatasetOptions = Field(default_factory=DatasetOptions)
    video: VideoOptions = Field(default_factory=VideoOptions)
    faults: FaultOptions = Field(default_factory=FaultOptions)
    features: FeatureOptions | None = None  # set: a generic profile; None: the Kuavo rules

    @property
    def is_generic(self) -> bool:
        return self.features is not None

    def to_dict(self) -> dict[str, Any]:
        options = self.model_dump(warnings=False)  # plain dicts and lists, in field order (as asdict gave)
        if self.features is None:
            del options["features"]  # Kuavo spills keep the manifest they always had
        else:
            for key in ("align", "depth"):  # as generic profiles were recorded before these existed
                if not options["features"][key]:
                    del options["features"][key]
            for part in (*options["features"]["state"], *options["features"]["action"]):
                for key, unset in _PART_UNSET:  # (likewise)
                    if part[key] == unset:
                        del part[key]
        # (and any profile that leaves these out)
        for key, unset in DATASET_UNSET:
            if options["dataset"][key] == unset:
                del options["dataset"][key]
        return options

    def fingerprint(self) -> str:
        """Canonical JSON of the options that change the spill's content."""
        options = self.to_dict()
        options["rosbag"] = {"chunk_size": self.rosbag.chunk_size}
        if options["video"].get("encoder_threads") is None:  # as spills made before it existed
            options["video"].pop("encoder_threads", None)
        options["video"].pop("single_thread", None)  # how the work is scheduled, not what it makes
        return json.dumps(options, sort_keys=True)


def image_pixel_limit(profile: Profile) -> int:
    """Largest source image (width x height) decoded; bigger ones are bad frames (bounded memory)."""
    if profile.faults.max_image_pixels is not None:
        return profile.faults.max_image_pixels
    return min(36 * profile.dataset.resize.width * profile.dataset.resize.height, MAX_IMAGE_PIXELS)
