"""``inspect --suggest``: the profile checked, adapted to what the bag holds.

A Kuavo bag keeps the Kuavo profile with the arm, effector, timeline camera, rates and image
size the bag shows; any other bag gets a generic profile (``suggest_generic``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from spill2lerobot.inspect.check import check_profile
from spill2lerobot.inspect.facts import Inferred, Suggestion, TopicFacts
from spill2lerobot.inspect.suggest_generic import generic_base, suggest_features
from spill2lerobot.inspect.topics import Index, bag_of
from spill2lerobot.profiles import MAX_FPS, MAX_SIDE, MIN_SIDE, Profile, fit_kuavo_profile, looks_like_kuavo


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

    def present(topic: str) -> bool:
        return topic in topics and topics[topic].count > 0

    fit = fit_kuavo_profile(base, present)
    profile, ds, main, cams = fit.profile, fit.profile.dataset, fit.profile.dataset.main_timeline, fit.cameras
    values = [Inferred(key, value, why) for key, value, why in fit.values]
    warnings = fit.warnings
    main_facts = facts.get(fit.main_topic)
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
    changed = {key: value for key, value in _flatten(profile.to_dict()).items() if old.get(key) != value}
    return [f"{key}={str(value).lower() if isinstance(value, bool) else value}" for key, value in changed.items()]
