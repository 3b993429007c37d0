"""Which features the profile can fill from a bag, and how many frames convert would make of it.

The verdict comes from convert's own checks (``check_topics``, ``make_plan``), run on the index;
which topics fill which feature comes from the profile's ``Robot``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from spill2lerobot.bag.base import BagError, TopicIndex
from spill2lerobot.errors import UserError
from spill2lerobot.inspect.facts import FeatureCheck, ProfileCheck, TopicCheck
from spill2lerobot.inspect.topics import Index, bag_of, ros1_name
from spill2lerobot.profiles import DEFAULT_PROFILE, Profile, Robot, Roles, robot_for
from spill2lerobot.spill.planning import check_topics, make_plan


def _check_topic(robot: Robot, roles: Roles, index: Index, role: str, topic: str) -> TopicCheck:
    expected = robot.expected_types(roles).get(topic)
    info = index.topics().get(topic)
    if info is None:
        status = "missing"
    elif info.count == 0:
        status = "empty"
    elif not robot.accepts_msgtype(roles, topic, info.msgtype)[0]:
        status = "wrong type"
    else:
        status = "ok"
    have = ros1_name(info.msgtype) if info else None
    return TopicCheck(role, topic, status, have, ros1_name(expected) if expected else expected)


def check_profile(index: Index, profile: Profile, source: str = "", overrides: Sequence[str] = ()) -> ProfileCheck:
    """Which features the profile can fill from this bag, and how many frames it would give."""
    ds = profile.dataset
    topics = index.topics()
    robot = robot_for(profile)
    roles = robot.resolve_topics(topics)
    features = [
        FeatureCheck(key, [_check_topic(robot, roles, index, role, topic) for role, topic in sources])
        for key, sources in robot.feature_sources(roles)
    ]
    if roles.main_camera not in roles.cameras:  # e.g. main_timeline wrist_cam_l with which_arm right
        main = _check_topic(robot, roles, index, "main camera", roles.main_camera.topic)
        features.append(FeatureCheck("timeline", [main]))
    check = ProfileCheck(
        source=source or str(DEFAULT_PROFILE),
        overrides=list(overrides),
        settings=robot.settings(),
        main_timeline=ds.main_timeline,
        main_timeline_fps=ds.main_timeline_fps,
        train_hz=ds.train_hz,
        sample_drop=ds.sample_drop,
        features=features,
        frames=None,
        reason=None,
    )

    def check_bag() -> None:  # the same checks as convert
        check_topics(index, roles, robot)
        msgtypes = {topic: info.msgtype for topic, info in topics.items()}
        robot.check_fields(roles, msgtypes, bag_of(index).typestore(), str(index.path))

    check = _try_convert_checks(check, index, check_bag, lambda: make_plan(index, profile, roles))
    if check.frames is not None:
        check.notes = robot.timeline_notes(roles, index.topic_times, make_plan(index, profile, roles)[1])
    return check


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
