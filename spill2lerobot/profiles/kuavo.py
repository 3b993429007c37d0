"""What a Kuavo bag means: which topics feed which features, and the state/action rules.

Rules follow the original converter (see docs in README): arm joints 12..18 (left) and 19..25
(right) of the 28-joint vectors, the arm trajectory (degrees) replacing the commanded arm
joints in the action, end-effector values appended per hand. The Kuavo-only dataset options
(``only_arm``, ``eef_type``, ``which_arm``, depth, ...) are ``kuavo_options.py``.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Any, cast

from spill2lerobot.align import TopicAlign
from spill2lerobot.bag.wire import COMPRESSED_IMAGE, IMAGE_TYPES, RAW_IMAGE
from spill2lerobot.errors import UserError
from spill2lerobot.profiles.base import Between, Camera, FeatureSource, Matrix, Roles, Vector
from spill2lerobot.profiles.checks import quote
from spill2lerobot.profiles.kuavo_values import action_names, gap_summary, hands, rebase, state_and_action, state_names
from spill2lerobot.profiles.options import Profile

CAMERA_TOPICS = {
    "head_cam_h": "/cam_h/color/image_raw/compressed",
    "wrist_cam_l": "/cam_l/color/image_raw/compressed",
    "wrist_cam_r": "/cam_r/color/image_raw/compressed",
}
# Depth cameras, named like the original's features (observation.depth_h, ...): the
# compressedDepth topic, or the same image uncompressed (sensor_msgs/Image, 16UC1 or 32FC1).
DEPTH_TOPICS = {
    "depth_h": ("/cam_h/depth/image_raw/compressedDepth", "/cam_h/depth/image_raw"),
    "depth_l": ("/cam_l/depth/image_rect_raw/compressedDepth", "/cam_l/depth/image_rect_raw"),
    "depth_r": ("/cam_r/depth/image_rect_raw/compressedDepth", "/cam_r/depth/image_rect_raw"),
}
# The same cameras recorded uncompressed (sensor_msgs/Image): used when the compressed topic is absent.
RAW_CAMERA_TOPICS = {name: topic.removesuffix("/compressed") for name, topic in CAMERA_TOPICS.items()}
SENSORS = "/sensors_data_raw"
JOINT_CMD = "/joint_cmd"
ARM_TRAJ = "/kuavo_arm_traj"
ARM_TRAJ_SYNCED = "/kuavo_arm_traj_synced"  # continuous variant, preferred when present
CMD_POSE_WORLD = "/cmd_pose_world_synced"
EEF_TOPICS = {  # eef_type -> (state topic, command topic)
    "leju_claw": ("/leju_claw_state", "/leju_claw_command"),
    "qiangnao": ("/dexhand/state", "/control_robot_hand_position"),
    "rq2f85": ("/gripper/state", "/gripper/command"),
}
# Every topic the original reads: the timeline ends before the earliest last message of any
# of them that the bag has, whether or not the chosen features use it.
KNOWN_TOPICS = (
    *CAMERA_TOPICS.values(),
    SENSORS,
    JOINT_CMD,
    ARM_TRAJ,
    ARM_TRAJ_SYNCED,
    CMD_POSE_WORLD,
    *(topic for pair in EEF_TOPICS.values() for topic in pair),
)
# Message type each topic must carry (rosbags naming); a mismatch means the profile is wrong.
EXPECTED_TYPES = {
    **dict.fromkeys(CAMERA_TOPICS.values(), COMPRESSED_IMAGE),
    **dict.fromkeys(RAW_CAMERA_TOPICS.values(), RAW_IMAGE),
    SENSORS: "kuavo_msgs/msg/sensorsData",
    JOINT_CMD: "kuavo_msgs/msg/jointCmd",
    ARM_TRAJ: "sensor_msgs/msg/JointState",
    ARM_TRAJ_SYNCED: "sensor_msgs/msg/JointState",
    CMD_POSE_WORLD: "geometry_msgs/msg/TwistStamped",
    "/leju_claw_state": "kuavo_msgs/msg/lejuClawState",
    "/leju_claw_command": "kuavo_msgs/msg/lejuClawCommand",
    "/dexhand/state": "sensor_msgs/msg/JointState",
    "/control_robot_hand_position": "kuavo_msgs/msg/robotHandPosition",
    **{compressed: COMPRESSED_IMAGE for compressed, _ in DEPTH_TOPICS.values()},
    **{raw: RAW_IMAGE for _, raw in DEPTH_TOPICS.values()},
}

CAMERA_TOPIC_SET = frozenset((*CAMERA_TOPICS.values(), *RAW_CAMERA_TOPICS.values()))


def type_accepted(topic: str, msgtype: str) -> bool:
    """Whether ``topic`` may carry ``msgtype`` (``EXPECTED_TYPES``; camera topics: either image type)."""
    return accepts_msgtype(topic, msgtype, EXPECTED_TYPES)[0]


def accepts_msgtype(topic: str, msgtype: str, expected_types: Mapping[str, str]) -> tuple[bool, str]:
    """Whether ``topic`` may carry ``msgtype``, and the expected type(s) as text ("" if none)."""
    if topic in CAMERA_TOPIC_SET:  # Kuavo cameras accept either image type (compressed or raw)
        return msgtype in IMAGE_TYPES, " or ".join(IMAGE_TYPES)
    expected = expected_types.get(topic)
    return not expected or msgtype == expected, expected or ""


def looks_like_kuavo(topics: Collection[str]) -> bool:
    """Whether a bag's topics are a Kuavo robot's (its sensors or one of its cameras)."""
    return SENSORS in topics or any(topic in topics for topic in CAMERA_TOPICS.values())


@dataclass(frozen=True)
class TopicRoles:
    """The topics one bag uses for each role (the arm trajectory depends on the bag)."""

    cameras: tuple[Camera, ...]
    main_camera: Camera
    sensors: str
    joint_cmd: str
    arm_traj: str  # the action's arm joints: the synced trajectory when the bag has it
    eef_state: str
    eef_cmd: str
    # Whole-body recordings (only_arm false): the trajectory whose gaps give the 999 marker (the
    # unsynced one; None if the bag has only the synced one) and the walking command.
    gap_traj: str | None = None
    cmd_pose: str | None = None

    @property
    def lowdim(self) -> tuple[str, ...]:
        extra = (self.gap_traj, self.cmd_pose)
        base = (self.sensors, self.joint_cmd, self.arm_traj, self.eef_state, self.eef_cmd)
        return tuple(dict.fromkeys((*base, *(topic for topic in extra if topic))))

    @property
    def all(self) -> tuple[str, ...]:
        return (*(c.topic for c in self.cameras), *self.lowdim)


def cameras(profile: Profile) -> tuple[Camera, ...]:
    """Head camera plus the wrist camera of each hand used."""
    names = ["head_cam_h"] + [f"wrist_cam_{hand[0]}" for hand in hands(profile)]
    return tuple(Camera(name, CAMERA_TOPICS[name]) for name in names)


def depth_camera_names(profile: Profile) -> list[str]:
    """Head depth plus the wrist depth of each hand used."""
    return ["depth_h"] + [f"depth_{hand[0]}" for hand in hands(profile)]


def depth_cameras(profile: Profile, bag_topics: Collection[str]) -> tuple[Camera, ...]:
    """This bag's depth cameras: ``use_depth`` auto takes them exactly when the bag has every
    one (compressedDepth or raw); true requires them (the missing topic is then reported)."""
    use = profile.dataset.use_depth
    if use is False:
        return ()
    found = []
    for name in depth_camera_names(profile):
        compressed, raw = DEPTH_TOPICS[name]
        if compressed in bag_topics:
            found.append(Camera(name, compressed, "depth_png"))
        elif raw in bag_topics:
            found.append(Camera(name, raw, "depth_raw"))
        elif use is True:
            found.append(Camera(name, compressed, "depth_png"))  # reported missing by the caller
        else:
            return ()
    return tuple(found)


def planned_depth_cameras(profile: Profile, topics: Collection[str]) -> tuple[Camera, ...]:
    """The depth cameras whose compressed or raw topic is among ``topics`` (a bag plan's), each
    named by its compressed topic (the spill's depth features)."""
    return tuple(
        Camera(name, DEPTH_TOPICS[name][0], "depth_png")
        for name in depth_camera_names(profile)
        if DEPTH_TOPICS[name][0] in topics or DEPTH_TOPICS[name][1] in topics
    )


def resolve_topics(profile: Profile, bag_topics: Collection[str]) -> TopicRoles:
    """Pick this bag's topics; the caller checks that each exists."""
    cams = _recorded_cameras(cameras(profile), bag_topics)
    main_name = profile.dataset.main_timeline
    fallback = _recorded_cameras((Camera(main_name, CAMERA_TOPICS[main_name]),), bag_topics)[0]
    main = next((c for c in cams if c.name == main_name), fallback)
    eef_state, eef_cmd = EEF_TOPICS[profile.dataset.eef_type]
    arm_traj = ARM_TRAJ_SYNCED if ARM_TRAJ_SYNCED in bag_topics else ARM_TRAJ
    whole_body = not profile.dataset.only_arm
    return TopicRoles(
        cameras=cams + depth_cameras(profile, bag_topics),
        main_camera=main,
        sensors=SENSORS,
        joint_cmd=JOINT_CMD,
        arm_traj=arm_traj,
        eef_state=eef_state,
        eef_cmd=eef_cmd,
        gap_traj=ARM_TRAJ if whole_body and (ARM_TRAJ in bag_topics or arm_traj == ARM_TRAJ) else None,
        cmd_pose=CMD_POSE_WORLD if whole_body else None,
    )


def _recorded_cameras(cams: tuple[Camera, ...], bag_topics: Collection[str]) -> tuple[Camera, ...]:
    """Each camera on its compressed topic, or on its raw topic if only that one is in the bag."""
    return tuple(
        Camera(c.name, RAW_CAMERA_TOPICS[c.name])
        if c.topic not in bag_topics and RAW_CAMERA_TOPICS.get(c.name) in bag_topics
        else c
        for c in cams
    )


def check_options(profile: Profile) -> None:
    """The Kuavo rules' own option checks (after the options every profile has)."""
    ds = profile.dataset
    if ds.main_timeline not in CAMERA_TOPICS:
        raise UserError(
            f"profile key 'dataset.main_timeline' must be one of {' | '.join(map(repr, CAMERA_TOPICS))}, "
            f"got {quote(ds.main_timeline)}"
        )


class KuavoRobot:
    """The Kuavo rules above behind the ``Robot`` interface."""

    def __init__(self, profile: Profile) -> None:
        self._profile = profile

    def cameras(self) -> tuple[Camera, ...]:
        return cameras(self._profile)

    def state_names(self) -> list[str]:
        return state_names(self._profile)

    def action_names(self) -> list[str]:
        return action_names(self._profile)

    def resolve_topics(self, bag_topics: Mapping[str, object]) -> TopicRoles:
        return resolve_topics(self._profile, bag_topics)

    def cutoff_topics(self, roles: Roles, present: set[str]) -> list[str]:
        # Every topic the original reads, whether or not the chosen features use it; a camera
        # read from its raw topic stands in for the compressed one.
        return [topic for topic in dict.fromkeys((*KNOWN_TOPICS, *roles.all)) if topic in present]

    def expected_types(self, roles: Roles) -> Mapping[str, str]:
        return EXPECTED_TYPES

    def accepts_msgtype(self, roles: Roles, topic: str, msgtype: str) -> tuple[bool, str]:
        return accepts_msgtype(topic, msgtype, EXPECTED_TYPES)

    def check_fields(self, roles: Roles, msgtypes: Mapping[str, str], typestore: Any, where: str) -> None:
        return None  # the expected message types fix every field the rules read

    def depth_camera_names(self) -> list[str]:
        return depth_camera_names(self._profile)

    def settings(self) -> dict[str, str]:
        return {"eef_type": self._profile.dataset.eef_type, "which_arm": self._profile.dataset.which_arm}

    def feature_sources(self, roles: Roles) -> list[FeatureSource]:
        kuavo = cast(TopicRoles, roles)  # from resolve_topics above
        eef = self._profile.dataset.eef_type
        arms = "/".join(hands(self._profile))
        traj_role = "arm trajectory" + ("" if kuavo.arm_traj == ARM_TRAJ_SYNCED else f" (or {ARM_TRAJ_SYNCED})")
        sources: list[FeatureSource] = [(cam.key, [("images", cam.topic)]) for cam in kuavo.cameras]
        state = [(f"joint states (arm joints of {arms})", kuavo.sensors), (f"{eef} state", kuavo.eef_state)]
        sources.append(("observation.state", state))
        action = [("joint commands", kuavo.joint_cmd), (traj_role, kuavo.arm_traj), (f"{eef} command", kuavo.eef_cmd)]
        if kuavo.cmd_pose:
            action.append(("walking command (cmd_pos_x, cmd_pos_y, cmd_pos_yaw)", kuavo.cmd_pose))
        if kuavo.gap_traj:
            action.append(("gaps: 999 marker and ctrl_change_cmd", kuavo.gap_traj))
        sources.append(("action", action))
        return sources

    def depth_cameras(self, topics: Collection[str]) -> tuple[Camera, ...]:
        return planned_depth_cameras(self._profile, topics)

    def alignment(self, roles: Roles) -> dict[str, TopicAlign]:
        return {}  # the original's nearest message everywhere, with faults.max_skew_ms

    def tf_requests(self) -> list[tuple[str, str]]:
        return []

    def span_topics(self, roles: Roles) -> tuple[str, ...]:
        gap_traj = cast(TopicRoles, roles).gap_traj
        return (gap_traj,) if gap_traj else ()

    def state_and_action(self, roles: Roles, msgs: Mapping[str, Any], between: Between) -> tuple[Vector, Vector]:
        kuavo = cast(TopicRoles, roles)  # from resolve_topics above
        return state_and_action(self._profile, kuavo, msgs, between)

    def timeline_notes(self, roles: Roles, topic_times: Callable[[str], Any], targets_ns: Any) -> list[str]:
        gap_traj = cast(TopicRoles, roles).gap_traj
        if gap_traj is None:
            return []
        gaps, frames = gap_summary(topic_times(gap_traj), targets_ns, self._profile.dataset.train_hz)
        plural = "" if gaps == 1 else "s"
        return [f"{gaps} gap{plural} in {gap_traj}, {frames} frames will carry the 999 marker (ctrl_change_cmd 1)"]

    def rebases(self) -> bool:
        return self._profile.dataset.relative_start or self._profile.dataset.delta_action

    def rebase(self, state: Matrix, action: Matrix, first_state: Vector, first_action: Vector) -> tuple[Matrix, Matrix]:
        return rebase(self._profile, state, action, first_state, first_action)
