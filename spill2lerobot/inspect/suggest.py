"""``inspect --suggest``: the profile checked, adapted to what the bag holds.

A Kuavo bag keeps the Kuavo profile with the arm, effector, timeline camera, rates and image
size the bag shows; any other bag gets a generic profile (``suggest_generic``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, Literal, cast

from spill2lerobot import kuavo
from spill2lerobot.inspect.check import check_profile
from spill2lerobot.inspect.facts import Inferred, Suggestion, TopicFacts
from spill2lerobot.inspect.suggest_generic import generic_base, looks_like_kuavo, suggest_features
from spill2lerobot.inspect.topics import Index, bag_of
from spill2lerobot.profile import MAX_FPS, MAX_SIDE, MIN_SIDE, Profile

# The Kuavo options a suggestion sets from the bag.
_Arm = Literal["left", "right", "both"]
_Eef = Literal["leju_claw", "qiangnao", "rq2f85"]


def _flatten(data: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out.update(_flatten(value, f"{name}."))
        else:
            out[name] = value
    return out


def _train_hz(fps: int, wanted: int) -> int:
    """``wanted`` if it divides ``fps``, else the largest divisor of ``fps`` below it."""
    return max(d for d in range(1, min(fps, wanted) + 1) if fps % d == 0)


def suggest(index: Index, facts: Mapping[str, TopicFacts], base: Profile) -> tuple[Profile, Suggestion]:
    """Adapt ``base`` (the Kuavo defaults, or --config/--set) to what the bag holds."""
    if base.is_generic:
        checked = check_profile(index, base)
        note = "--suggest adapts Kuavo profiles; a generic profile is checked as given"
        return base, Suggestion([], [note], checked.frames, checked.reason)
    topics = index.topics()
    if not looks_like_kuavo(topics):
        return _suggest_generic(index, facts, base)
    ds = dataclasses.replace(base.dataset, resize=dataclasses.replace(base.dataset.resize))
    values: list[Inferred] = []
    warnings: list[str] = []

    def present(topic: str) -> bool:
        return topic in topics and topics[topic].count > 0

    cams = {  # each camera on its compressed topic, else on its raw one (as the profile reads them)
        name: next(t for t in (topic, kuavo.RAW_CAMERA_TOPICS[name]) if present(t))
        for name, topic in kuavo.CAMERA_TOPICS.items()
        if present(topic) or present(kuavo.RAW_CAMERA_TOPICS[name])
    }
    wrists = [hand for hand in ("left", "right") if f"wrist_cam_{hand[0]}" in cams]
    if wrists:
        names = ", ".join(cams[f"wrist_cam_{h[0]}"] for h in wrists)
        if set(kuavo.hands(base)) <= set(wrists):  # the chosen arm(s) have their cameras: keep
            why = f"kept; wrist cameras present: {names}"
        else:
            ds.which_arm = cast("_Arm", "both" if len(wrists) == 2 else wrists[0])
            why = f"wrist cameras present: {names}"
        values.append(Inferred("dataset.which_arm", ds.which_arm, why))
    else:
        warnings.append(
            f"no wrist camera ({kuavo.CAMERA_TOPICS['wrist_cam_l']}, {kuavo.CAMERA_TOPICS['wrist_cam_r']}):"
            f" which_arm kept as {ds.which_arm}"
        )
    if "head_cam_h" not in cams:
        warnings.append(f"no head camera ({kuavo.CAMERA_TOPICS['head_cam_h']}): the Kuavo profile always records it")

    full = [eef for eef, pair in kuavo.EEF_TOPICS.items() if all(present(t) for t in pair)]
    partial = [eef for eef, pair in kuavo.EEF_TOPICS.items() if any(present(t) for t in pair)]
    if full:
        ds.eef_type = cast("_Eef", ds.eef_type if ds.eef_type in full else full[0])
        values.append(
            Inferred("dataset.eef_type", ds.eef_type, f"{' and '.join(kuavo.EEF_TOPICS[ds.eef_type])} present")
        )
    elif partial:
        ds.eef_type = cast("_Eef", ds.eef_type if ds.eef_type in partial else partial[0])
        have = [t for t in kuavo.EEF_TOPICS[ds.eef_type] if present(t)]
        lacks = [t for t in kuavo.EEF_TOPICS[ds.eef_type] if not present(t)]
        values.append(Inferred("dataset.eef_type", ds.eef_type, f"{', '.join(have)} present"))
        warnings.append(f"effector {ds.eef_type} lacks {', '.join(lacks)}")
    else:
        known = ", ".join(t for pair in kuavo.EEF_TOPICS.values() for t in pair)
        warnings.append(f"no effector topic ({known}): eef_type kept as {ds.eef_type}")

    if "head_cam_h" in cams:
        main, why = "head_cam_h", "head camera present"
    elif cams:
        used = [cam.name for cam in kuavo.cameras(dataclasses.replace(base, dataset=ds))]
        main = sorted(cams, key=lambda name: (name not in used, name))[0]  # prefer a camera the profile records
        why = "no head camera; a wrist camera"
    else:
        main, why = ds.main_timeline, ""
        warnings.append(f"no camera at all: main_timeline kept as {main}")
    if why:
        ds.main_timeline = main
        values.append(Inferred("dataset.main_timeline", main, why))
    main_facts = facts.get(cams.get(main, kuavo.CAMERA_TOPICS[main]))
    if main_facts is not None and main_facts.rate_hz:
        fps = min(MAX_FPS, max(1, round(main_facts.rate_hz)))
        ds.main_timeline_fps = fps
        values.append(Inferred("dataset.main_timeline_fps", fps, f"{main} measured at {main_facts.rate_hz:.2f} Hz"))
        train_hz = _train_hz(fps, base.dataset.train_hz)
        ds.train_hz = train_hz
        kept = "kept" if train_hz == base.dataset.train_hz else f"{base.dataset.train_hz} does not divide {fps}"
        values.append(Inferred("dataset.train_hz", train_hz, kept))
        if main_facts.gaps:
            assert main_facts.median_interval_s is not None  # set with the gaps
            warnings.append(
                f"{main} has {main_facts.gaps} gaps (largest {main_facts.max_gap_s:.3f} s), so its measured rate"
                f" may be low; its median interval gives {1 / main_facts.median_interval_s:.2f} Hz"
            )
    elif cams:
        warnings.append(f"{main}: rate not measurable; main_timeline_fps kept as {ds.main_timeline_fps}")
    image = main_facts.image if main_facts is not None else None
    if image is not None and image.width and image.height:
        width, height = _resize_side(image.width), _resize_side(image.height)
        ds.resize.width, ds.resize.height = width, height
        odd = "" if (width, height) == (image.width, image.height) else ", rounded down to even"
        why = f"{main} images are {image.width}x{image.height} {image.codec or image.format}{odd}"
        values.append(Inferred("dataset.resize", {"width": width, "height": height}, why))
    elif cams:
        warnings.append(f"{main}: image size unknown; resize kept as {ds.resize.width}x{ds.resize.height}")

    profile = dataclasses.replace(base, dataset=ds)
    checked = check_profile(index, profile)
    return profile, Suggestion(values, warnings, checked.frames, checked.reason, _differences(base, profile))


def _resize_side(pixels: int) -> int:
    """An image side as a resize the profile accepts: even, within MIN_SIDE..MAX_SIDE."""
    return min(MAX_SIDE, max(MIN_SIDE, pixels - pixels % 2))


def _suggest_generic(index: Index, facts: Mapping[str, TopicFacts], base: Profile) -> tuple[Profile, Suggestion]:
    """Not a Kuavo bag: a generic profile from its cameras, joint states and commands."""
    warnings: list[str] = []
    features, main = suggest_features(bag_of(index), index.topics(), facts, warnings)
    profile = generic_base(base, features, main)
    ds = profile.dataset
    values = [Inferred("features", "cameras, state, action", "not a Kuavo bag: a generic profile")]
    main_facts = facts.get(features.cameras[main])
    if main_facts is not None and main_facts.rate_hz:
        values.append(Inferred("dataset.main_timeline", main, "the fastest camera"))
        ds.main_timeline_fps = min(MAX_FPS, max(1, round(main_facts.rate_hz)))
        ds.train_hz = _train_hz(ds.main_timeline_fps, base.dataset.train_hz)
        values.append(
            Inferred("dataset.main_timeline_fps", ds.main_timeline_fps, f"measured {main_facts.rate_hz:.2f} Hz")
        )
        values.append(Inferred("dataset.train_hz", ds.train_hz, f"divides {ds.main_timeline_fps}"))
        image = main_facts.image
        if image is not None and image.width and image.height:
            ds.resize.width, ds.resize.height = _resize_side(image.width), _resize_side(image.height)
            values.append(
                Inferred("dataset.resize", {"width": ds.resize.width, "height": ds.resize.height}, f"{main} images")
            )
    warnings.append("check units: add convert (deg2rad, mm2m, ...) to parts whose topic is not in radians/metres")
    checked = check_profile(index, profile)
    return profile, Suggestion(values, warnings, checked.frames, checked.reason)  # too much for --set


def _differences(base: Profile, profile: Profile) -> list[str]:
    """``--set`` arguments that turn ``base`` into ``profile``."""
    old = _flatten(base.to_dict())
    return [f"{key}={value}" for key, value in _flatten(profile.to_dict()).items() if old.get(key) != value]
