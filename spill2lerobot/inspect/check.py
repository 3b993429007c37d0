"""Which features the profile can fill from a bag, and how many frames convert would make of it.

The verdict comes from convert's own checks (``check_topics``, ``make_plan``), run on the index.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from spill2lerobot import kuavo
from spill2lerobot.bag.base import BagError, TopicIndex, TopicInfo
from spill2lerobot.errors import UserError
from spill2lerobot.inspect.facts import FeatureCheck, ProfileCheck, TopicCheck
from spill2lerobot.inspect.topics import Index, bag_of, ros1_name
from spill2lerobot.profile import DEFAULT_PROFILE, Profile


def _check_topic(
    role: str, topic: str, topics: Mapping[str, TopicInfo], expected_types: Mapping[str, str] = kuavo.EXPECTED_TYPES
) -> TopicCheck:
    expected = expected_types.get(topic)
    info = topics.get(topic)
    if info is None:
        status = "missing"
    elif info.count == 0:
        status = "empty"
    elif not kuavo.type_accepted(topic, info.msgtype):
        status = "wrong type"
    else:
        status = "ok"
    have = ros1_name(info.msgtype) if info else None
    return TopicCheck(role, topic, status, have, ros1_name(expected) if expected else expected)


def check_profile(index: Index, profile: Profile, source: str = "", overrides: Sequence[str] = ()) -> ProfileCheck:
    """Which features the profile can fill from this bag, and how many frames it would give."""
    from spill2lerobot.spill.stage1 import check_topics, make_plan

    if profile.is_generic:
        return _check_generic(index, profile, source, overrides)
    ds = profile.dataset
    topics = index.topics()
    roles = kuavo.resolve_topics(profile, topics)
    hands = kuavo.hands(profile)
    traj_role = "arm trajectory" + ("" if roles.arm_traj == kuavo.ARM_TRAJ_SYNCED else f" (or {kuavo.ARM_TRAJ_SYNCED})")
    features = [FeatureCheck(cam.key, [_check_topic("images", cam.topic, topics)]) for cam in roles.cameras]
    features.append(
        FeatureCheck(
            "observation.state",
            [
                _check_topic(f"joint states (arm joints of {'/'.join(hands)})", roles.sensors, topics),
                _check_topic(f"{ds.eef_type} state", roles.eef_state, topics),
            ],
        )
    )
    features.append(
        FeatureCheck(
            "action",
            [
                _check_topic("joint commands", roles.joint_cmd, topics),
                _check_topic(traj_role, roles.arm_traj, topics),
                _check_topic(f"{ds.eef_type} command", roles.eef_cmd, topics),
            ],
        )
    )
    if roles.main_camera not in roles.cameras:  # e.g. main_timeline wrist_cam_l with which_arm right
        features.append(FeatureCheck("timeline", [_check_topic("main camera", roles.main_camera.topic, topics)]))
    check = ProfileCheck(
        source=source or str(DEFAULT_PROFILE),
        overrides=list(overrides),
        eef_type=ds.eef_type,
        which_arm=ds.which_arm,
        main_timeline=ds.main_timeline,
        main_timeline_fps=ds.main_timeline_fps,
        train_hz=ds.train_hz,
        sample_drop=ds.sample_drop,
        features=features,
        frames=None,
        reason=None,
    )
    # same checks as convert
    return _try_convert_checks(
        check, index, lambda: check_topics(index, roles), lambda: make_plan(index, profile, roles)
    )


def _check_generic(index: Index, profile: Profile, source: str, overrides: Sequence[str]) -> ProfileCheck:
    """``check_profile`` for a generic profile: its cameras and the topics of its parts."""
    from spill2lerobot.features import extractor_for
    from spill2lerobot.spill.stage1 import check_topics, make_plan

    ds = profile.dataset
    topics = index.topics()
    extractor = extractor_for(profile)
    roles = extractor.resolve_topics(topics)
    expected = extractor.expected_types(roles)
    features = [FeatureCheck(cam.key, [_check_topic("images", cam.topic, topics, expected)]) for cam in roles.cameras]
    assert profile.features is not None  # a generic profile has its features
    for key, parts in (("observation.state", profile.features.state), ("action", profile.features.action)):
        checks = [_check_topic(part.field, part.topic, topics, expected) for part in parts]
        features.append(FeatureCheck(key, checks))
    check = ProfileCheck(
        source=source or str(DEFAULT_PROFILE),
        overrides=list(overrides),
        eef_type="-",
        which_arm="-",
        main_timeline=ds.main_timeline,
        main_timeline_fps=ds.main_timeline_fps,
        train_hz=ds.train_hz,
        sample_drop=ds.sample_drop,
        features=features,
        frames=None,
        reason=None,
        generic=True,
    )
    bag = bag_of(index)

    def check_bag() -> None:
        check_topics(index, roles, expected)
        msgtypes = {topic: info.msgtype for topic, info in topics.items()}
        extractor.check_fields(roles, msgtypes, bag.typestore(), str(index.path))

    return _try_convert_checks(check, index, check_bag, lambda: make_plan(index, profile, roles))


def _try_convert_checks(
    check: ProfileCheck, index: TopicIndex, check_bag: Callable[[], None], plan_bag: Callable[[], tuple[Any, Any]]
) -> ProfileCheck:
    """The profile check's verdict: its own problems first, then convert's checks and timeline."""
    problems = check.problems
    if problems:
        check.reason = "convert would fail: " + "; ".join(p.describe() for p in problems)
        return check
    try:
        check_bag()
        plan, _ = plan_bag()
    except (UserError, BagError) as err:
        check.reason = str(err).removeprefix(f"{index.path}: ")
        return check
    check.frames = plan.frames
    return check
