"""``--against``: a few frames per episode (first, last, some between) are rebuilt from the source
bags with the package's own alignment rules (nearest message, ties to the earlier) and compared:
state and action exactly, images by mean absolute difference after stage 1's resize."""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import av
import numpy as np

from spill2lerobot import lerobot_format
from spill2lerobot.align import Blend, enclosing
from spill2lerobot.bag.wire import DepthCut, depth_cutter
from spill2lerobot.validate.data import DataScan
from spill2lerobot.validate.episodes import Episode
from spill2lerobot.validate.frames import FrameReader
from spill2lerobot.validate.metadata import Array, Info
from spill2lerobot.validate.report import ProgressFn, Report
from spill2lerobot.validate.sources import Source, picked_messages, sample_frames, sources

if TYPE_CHECKING:
    from spill2lerobot.bag.base import Bag
    from spill2lerobot.profiles import Camera, Profile, Robot, Roles, Vector
    from spill2lerobot.spill.images import ImageDecoder
    from spill2lerobot.spill.video import EncoderSettings

IMAGE_MAD_LIMIT = 12.0  # mean absolute difference per pixel (0..255) for --against images
DEPTH_MAD_LIMIT_MM = 5.0  # ... for native depth, in millimetres (lossless video: quantisation only)


def _names_match(info: Info, robot: Robot, profile: Profile, path: Path, report: Report) -> bool:
    """The dataset was made with this profile: same state/action names, fps and cameras."""
    all_names = {"observation.state": robot.state_names(), "action": robot.action_names()}
    for key, names in all_names.items():
        have = info.features.get(key, {}).get("names")
        if have != names:
            report.fail(
                path,
                f"{key} names {have} differ from the profile's {names}; "
                "pass the --config/--set used for the conversion",
            )
            return False
    if profile.dataset.train_hz != info.fps:
        report.fail(path, f"fps {info.fps} != the profile's dataset.train_hz {profile.dataset.train_hz}")
        return False
    missing = [cam.key for cam in robot.cameras() if cam.key not in info.video_keys]
    if missing:
        hint = "pass the --config/--set used for the conversion"
        report.fail(path, f"no video feature {', '.join(missing)}; {hint}")
        return False
    return True


@dataclass
class _Frame:
    """One sampled frame: its episode, its number in it, the bag and the messages picked for it."""

    src: Source
    ep: Episode
    k: int
    label: str
    raw: dict[str, bytes]
    target: int


@dataclass
class _Comparison:
    """What comparing frames needs, the same for every bag."""

    root: Path
    info: Info
    profile: Profile
    robot: Robot
    rows: Mapping[int, Mapping[str, Array]]
    settings: EncoderSettings
    decoder: ImageDecoder
    report: Report

    def compare_source(self, src: Source, members: list[Episode]) -> None:
        from spill2lerobot.bag import BagError, open_bag

        report = self.report
        with open_bag(src.path) as bag, contextlib.closing(FrameReader()) as frames:
            roles = self.robot.resolve_topics(bag.topics())
            times = {topic: bag.topic_times(topic) for topic in roles.all}
            msgtypes = {topic: topic_info.msgtype for topic, topic_info in bag.topics().items()}
            first = self._first_frame(bag, roles, msgtypes, times, src) if self.robot.rebases() else None
            for ep, k in ((member, k) for member in members for k in sample_frames(member.length)):
                report.compared += 1
                in_bag = ep.start + k - src.first
                target = int(src.targets[in_bag])
                label = f"episode {ep.index} frame {k} (bag frame {in_bag}, t={target / 1e9:.6f} s)"
                try:
                    raw = picked_messages(bag, roles.all, times, target)
                except BagError as exc:  # a damaged chunk: this frame cannot be compared, the others can
                    report.fail(src.path, f"{label}: {str(exc).removeprefix(f'{src.path}: ')}")
                    continue
                if len(raw) < len(roles.all):
                    lost = ", ".join(t for t in roles.all if t not in raw)
                    report.fail(src.path, f"{label}: cannot read the messages of {lost} its index lists")
                    continue
                frame = _Frame(src, ep, k, label, raw, target)
                self._compare_lowdim(bag, roles, msgtypes, times, frame, first)
                for cam in roles.cameras:
                    if cam.is_depth:
                        self._compare_depth(depth_cutter(bag.serialization, msgtypes[cam.topic]), cam, frame, frames)
                    else:
                        self._compare_image(bag, msgtypes[cam.topic], cam, frame, frames)

    def _values(
        self,
        bag: Bag,
        roles: Roles,
        msgtypes: dict[str, str],
        times: dict[str, Array],
        raw: dict[str, bytes],
        target: int,
    ) -> tuple[Vector, Vector]:
        """A frame's state and action from its picked messages, as stage 1 computes them."""
        msgs = {topic: bag.deserialize_raw(raw[topic], msgtypes[topic]) for topic in roles.lowdim}
        for topic, align in self.robot.alignment(roles).items():
            if align.mode != "nearest":
                msgs[topic] = _held_message(bag, topic, msgtypes[topic], times[topic], target, align.mode)
        spans = {topic: enclosing(times[topic], target) for topic in self.robot.span_topics(roles)}
        between = {topic: span for topic, span in spans.items() if span is not None}
        return self.robot.state_and_action(roles, msgs, between)

    def _first_frame(
        self, bag: Bag, roles: Roles, msgtypes: dict[str, str], times: dict[str, Array], src: Source
    ) -> tuple[Vector, Vector] | None:
        """The bag's first frame's values, the reference of options like relative_start."""
        target = int(src.targets[0])
        raw = picked_messages(bag, roles.all, times, target)
        return self._values(bag, roles, msgtypes, times, raw, target) if len(raw) == len(roles.all) else None

    def _compare_lowdim(
        self,
        bag: Bag,
        roles: Roles,
        msgtypes: dict[str, str],
        times: dict[str, Array],
        frame: _Frame,
        first: tuple[Vector, Vector] | None,
    ) -> None:
        """State and action: exactly what stage 1 and merge compute from these messages."""
        robot = self.robot
        state, action = self._values(bag, roles, msgtypes, times, frame.raw, frame.target)
        if first is not None:
            states, actions = robot.rebase(state[None], action[None], *first)
            state, action = states[0], actions[0]
        row = self.rows.get(frame.ep.start + frame.k, {})
        all_names = {"observation.state": robot.state_names(), "action": robot.action_names()}
        for key, value in (("observation.state", state), ("action", action)):
            if key not in row:
                continue  # the data check reports missing rows
            have = np.asarray(row[key], dtype=np.float32)
            if not np.allclose(have, value, rtol=1e-6, atol=1e-6):
                i = int(np.argmax(np.abs(have - value)))
                self.report.fail(
                    frame.src.path,
                    f"{frame.label}: {key} differs from the bag (largest difference {abs(have[i] - value[i]):.4g} "
                    f"at {all_names[key][i]}: dataset {have[i]:.6g}, bag {value[i]:.6g})",
                )

    def _video_time(self, cam: Camera, frame: _Frame) -> tuple[Path, float]:
        ref = frame.ep.videos[cam.key]
        video = self.root / self.info.video_file(cam.key, ref.chunk, ref.file)
        return video, ref.start_s + float(np.float32(frame.k / self.info.fps))

    def _compare_image(self, bag: Bag, msgtype: str, cam: Camera, frame: _Frame, frames: FrameReader) -> None:
        """The source JPEG resized like stage 1 vs the frame lerobot decodes."""
        from spill2lerobot.spill.video import to_rgb

        height, width = self.info.features[cam.key]["shape"][:2]
        try:
            # cut out of the message without deserialising it (ROS2 bags: CompressedImage cameras)
            image = bag.image_of(msgtype)(frame.raw[cam.topic])
            size = dataclasses.replace(self.settings, width=width, height=height)
            source = to_rgb(self.decoder.decode(image), size)
        except (av.FFmpegError, ValueError) as exc:
            self.report.fail(frame.src.path, f"{frame.label}: its {cam.topic} image is undecodable ({exc})")
            return
        video, t = self._video_time(cam, frame)
        shown = frames.frame_at(video, t)
        if shown is None:
            return  # the video check reports undecodable frames
        mad = float(np.abs(shown.astype(np.int16) - source.astype(np.int16)).mean())
        if mad > IMAGE_MAD_LIMIT:
            self.report.fail(
                frame.src.path,
                f"{frame.label}: {cam.key} differs from the bag's image (mean absolute difference "
                f"{mad:.1f} per pixel, limit {IMAGE_MAD_LIMIT:g})",
            )

    def _compare_depth(self, cut: Callable[[bytes], DepthCut], cam: Camera, frame: _Frame, frames: FrameReader) -> None:
        """A depth camera's frame against the bag: native depth in millimetres (what lerobot
        decodes), the 8-bit form like a colour image."""
        from spill2lerobot.profiles import image_pixel_limit
        from spill2lerobot.spill.depth import DepthDecoder, dequantize_mm, resize_nearest, rgb8_form

        feature = self.info.features[cam.key]
        height, width = feature["shape"][:2]
        native = bool((feature.get("info") or {}).get("is_depth_map"))
        try:
            depth = DepthDecoder.decode_cut(
                cut(frame.raw[cam.topic]), cam.kind == "depth_raw", image_pixel_limit(self.profile)
            )
            depth = resize_nearest(depth, width, height)
        except (av.FFmpegError, ValueError) as exc:
            self.report.fail(frame.src.path, f"{frame.label}: its {cam.topic} depth image is undecodable ({exc})")
            return
        video, t = self._video_time(cam, frame)
        if native:
            shown = frames.frame_at(video, t, "gray12le")
            if shown is None:
                return  # the video check reports undecodable frames
            mad, limit, unit = float(np.abs(dequantize_mm(shown) - depth).mean()), DEPTH_MAD_LIMIT_MM, " mm"
        else:
            shown = frames.frame_at(video, t)
            if shown is None:
                return
            source = rgb8_form(depth, self.profile.dataset.depth_range)
            mad = float(np.abs(shown.astype(np.int16) - source.astype(np.int16)).mean())
            limit, unit = IMAGE_MAD_LIMIT, ""
        if mad > limit:
            self.report.fail(
                frame.src.path,
                f"{frame.label}: {cam.key} differs from the bag's depth (mean absolute difference {mad:.1f}{unit} "
                f"per pixel, limit {limit:g}{unit})",
            )


def check_against(
    root: Path,
    info: Info,
    episodes: list[Episode],
    scan: DataScan | None,
    inputs: list[Path],
    profile: Profile,
    report: Report,
    progress: ProgressFn,
) -> None:
    """Rebuild a few frames per episode from the source bags and compare them with the dataset."""
    from spill2lerobot.profiles import image_pixel_limit, robot_for
    from spill2lerobot.spill.images import ImageDecoder
    from spill2lerobot.spill.video import EncoderSettings

    robot = robot_for(profile)
    if not _names_match(info, robot, profile, root / lerobot_format.INFO_PATH, report):
        return
    found = sources(inputs, profile, episodes, root, report)
    if found is None:
        return
    mode = "one episode per bag" if len(episodes) == len(found) else "several episodes per bag (chunk mode)"
    report.notes.append(f"against: {len(found)} bags, {mode}")
    report.bags = len(found)
    comparison = _Comparison(
        root,
        info,
        profile,
        robot,
        rows=scan.samples if scan is not None else {},
        settings=EncoderSettings.from_profile(profile),
        decoder=ImageDecoder(image_pixel_limit(profile)),  # bigger source images are not decoded
        report=report,
    )
    for src in found:
        members = [ep for ep in episodes if src.first <= ep.start < src.stop]
        progress(f"validate: comparing {len(members)} episodes with {src.path.name}")
        comparison.compare_source(src, members)


def _held_message(bag: Bag, topic: str, msgtype: str, times: Array, target: int, mode: str) -> object:
    """A non-nearest topic's message for a frame, as stage 1's aligner picks it: the message at or
    before ``target`` (the first one if none is), and for linear/slerp a ``Blend`` with the next."""
    before = max(int(np.searchsorted(times, target, side="right")) - 1, 0)
    wanted = [int(times[before])]
    if mode != "previous" and wanted[0] < target and before + 1 < len(times):
        wanted.append(int(times[before + 1]))
    found: dict[int, bytes] = {}
    for msg in bag.messages([topic], wanted[0], wanted[-1]):
        if msg.time_ns in wanted and msg.time_ns not in found:  # of equal times, the first
            found[msg.time_ns] = msg.data
    first = bag.deserialize_raw(found[wanted[0]], msgtype)
    if len(wanted) == 1:
        return first
    after = bag.deserialize_raw(found[wanted[1]], msgtype)
    return Blend(first, after, (target - wanted[0]) / (wanted[1] - wanted[0]))
