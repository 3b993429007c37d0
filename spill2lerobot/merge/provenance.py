"""``meta/spill2lerobot_provenance.json``: where a dataset came from and how it was made.

Each source bag (size, fingerprint, recording span), each run (the full profile and its hash,
the versions of spill2lerobot, the LeRobot format, FFmpeg and the encoders, the timings).
lerobot ignores the file; ``merge --append`` adds its bags and its run to it.
"""

from __future__ import annotations

import datetime
import hashlib
import json
from pathlib import Path
from typing import Any

from spill2lerobot import lerobot_format
from spill2lerobot.encoding import DEPTH_CODEC, EncoderSettings
from spill2lerobot.merge.plan import Episode, MergePlan
from spill2lerobot.profiles import Profile
from spill2lerobot.spill.format import BagEntry

PROVENANCE_PATH = "meta/spill2lerobot_provenance.json"
FORMAT = 1


def provenance(
    plan: MergePlan,
    *,
    command: str,
    merge_seconds: float,
    stage1_seconds: float | None,
    previous: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The document for a dataset holding ``previous``'s sources (appending) and ``plan``'s."""
    earlier = previous or {}
    run = {
        "command": command,
        "finished": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "episodes": [ep.index for ep in plan.episodes],
        "profile_sha256": profile_hash(plan.profile),
        "profile": plan.profile.to_dict(),
        "versions": versions(plan),
        "timings": {
            "stage1_seconds": None if stage1_seconds is None else round(stage1_seconds, 3),
            "merge_seconds": round(merge_seconds, 3),
        },
    }
    return {
        "format": FORMAT,
        "sources": [*earlier.get("sources", []), *sources(plan.episodes)],
        "runs": [*earlier.get("runs", []), run],
    }


def profile_hash(profile: Profile) -> str:
    return hashlib.sha256(json.dumps(profile.to_dict(), sort_keys=True).encode()).hexdigest()


def sources(episodes: list[Episode]) -> list[dict[str, Any]]:
    """One record per bag, in episode order, with the episodes it gave."""
    records: dict[tuple[int, str], dict[str, Any]] = {}
    for ep in episodes:
        key = (id(ep.spill), ep.bag.id)
        if key not in records:
            records[key] = source(ep.bag)
        records[key]["episodes"].append(ep.index)
    return list(records.values())


def source(bag: BagEntry) -> dict[str, Any]:
    first, last = recording_span(Path(bag.path), bag.fingerprint)
    return {
        "name": bag.name,
        "path": bag.path,
        "size": bag.size,
        "fingerprint": bag.fingerprint,
        "first_record_ns": first,
        "last_record_ns": last,
        "first_record": _utc(first),
        "last_record": _utc(last),
        "episodes": [],
    }


def recording_span(path: Path, fingerprint: str | None) -> tuple[int | None, int | None]:
    """First and last record time from the bag's index, if the bag is still where it was and
    unchanged (same fingerprint); (None, None) otherwise."""
    from spill2lerobot.bag import open_bag
    from spill2lerobot.bag.base import BagError
    from spill2lerobot.spill.format import bag_fingerprint

    try:
        if fingerprint is not None and bag_fingerprint(path) != fingerprint:
            return None, None
        with open_bag(path, recover=False) as bag:
            return int(bag.start_ns), int(bag.end_ns)
    except (BagError, OSError, ValueError):
        return None, None


def _utc(ns: int | None) -> str | None:
    if ns is None:
        return None
    return datetime.datetime.fromtimestamp(ns / 1e9, datetime.UTC).isoformat(timespec="milliseconds")


def versions(plan: MergePlan) -> dict[str, Any]:
    import importlib.metadata

    import av

    settings = EncoderSettings.from_profile(plan.profile)
    encoders = {settings.codec: _codec_name(settings.codec)}
    if any(cam.is_depth for cam in plan.depth_cameras) and plan.profile.dataset.depth_mode == "native":
        encoders[DEPTH_CODEC] = _codec_name(DEPTH_CODEC)
    ffmpeg = getattr(av, "ffmpeg_version_info", None)
    return {
        "spill2lerobot": importlib.metadata.version("spill2lerobot"),
        "lerobot_format": lerobot_format.CODEBASE_VERSION,
        "pyav": av.__version__,
        "ffmpeg": str(ffmpeg) if ffmpeg else None,
        "ffmpeg_libraries": {name: ".".join(map(str, v)) for name, v in sorted(av.library_versions.items())},
        "encoders": encoders,
    }


def _codec_name(name: str) -> str:
    import av

    try:
        return str(av.codec.Codec(name, "w").long_name)
    except (av.FFmpegError, ValueError):
        return "unavailable"


def read_provenance(root: Path) -> dict[str, Any] | None:
    """The dataset's provenance, if it has a readable one (lerobot-written datasets have none)."""
    path = root / PROVENANCE_PATH
    try:
        if path.is_symlink() or path.stat().st_size > 64 * 1024 * 1024:
            return None
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(document, dict) or not all(isinstance(document.get(k), list) for k in ("sources", "runs")):
        return None
    return document
