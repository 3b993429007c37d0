"""Whether two datasets (a spill's and OUT's, or two spills') can hold each other's episodes:
the same fps, robot type, features (names, shapes, dtypes) and video settings a decoder sees."""

from __future__ import annotations

from typing import Any

VIDEO_KEYS = ("video.codec", "video.pix_fmt", "video.height", "video.width")


def dataset_difference(ours: dict[str, Any], theirs: dict[str, Any], our_name: str, their_name: str) -> str | None:
    """The first difference between two info.json-like dicts (fps, robot_type, features), or None."""
    for key in ("fps", "robot_type"):
        if ours.get(key) != theirs.get(key):
            return f"{key} {_short(ours.get(key))} in {our_name}, {_short(theirs.get(key))} in {their_name}"
    a, b = ours.get("features", {}), theirs.get("features", {})
    if set(a) != set(b):
        only_a, only_b = sorted(set(a) - set(b)), sorted(set(b) - set(a))
        if only_a:
            return f"feature {_short(only_a[0])} is in {our_name}, not in {their_name}"
        return f"feature {_short(only_b[0])} is in {their_name}, not in {our_name}"
    for key in a:
        difference = _feature_difference(a[key], b[key])
        if difference is not None:
            what, mine, other = difference
            return f"feature {_short(key)}: {what} {mine} in {our_name}, {other} in {their_name}"
    return None


def _feature_difference(a: Any, b: Any) -> tuple[str, str, str] | None:
    if not isinstance(a, dict) or not isinstance(b, dict):
        return None if a == b else ("definition", _short(a), _short(b))
    for key in ("dtype", "shape", "names"):
        if _norm(a.get(key)) != _norm(b.get(key)):
            return key, _short(a.get(key)), _short(b.get(key))
    info_a, info_b = a.get("info") or {}, b.get("info") or {}
    if a.get("dtype") == "video":
        for key in VIDEO_KEYS:
            if info_a.get(key) != info_b.get(key):
                return key, _short(info_a.get(key)), _short(info_b.get(key))
    return None


def _norm(value: Any) -> Any:
    """Shapes compare as lists (lerobot's own files say [3], in memory a tuple may say (3,))."""
    return list(value) if isinstance(value, (list, tuple)) else value


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."
