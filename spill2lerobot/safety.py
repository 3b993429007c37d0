"""What the tool may touch: folder markers, removal of only what it wrote, and the checks on
where SPILL and OUT lie relative to the input bags, made before any work.

Users' recordings cannot be made again. So every folder the tool creates carries a marker file,
removal first checks that marker, removes only names the tool writes (anything else is left and
reported), and never follows a symbolic link: a link is unlinked, never entered.
"""

from __future__ import annotations

import contextlib
import os
import re
import stat
from collections.abc import Callable, Iterable
from pathlib import Path

from spill2lerobot.errors import UserError

SPILL_MARKER = ".spill2lerobot-spill"  # in a spill folder's root
PARTIAL_MARKER = ".spill2lerobot-partial"  # in OUT.partial, the output being built
LOCK_NAME = ".spill2lerobot.lock"  # one writer at a time (see lock.py)

NamePredicate = Callable[[tuple[str, ...], bool], bool]  # (path parts below the root, is_dir) -> ours?

_TMP = r"(\.tmp)?"
_BAG_ID = re.compile(r"[0-9]{4,8}")
_SPILL_ROOT_FILES = {SPILL_MARKER, LOCK_NAME, "spill.json", "spill.json.tmp"}
# a chunk's files (NAME.<pid>-<random>.tmp: a unit's own temporary name, fsutil.unique_tmp_path)
CHUNK_FILE = re.compile(
    r"chunk-([0-9]{5})\.(parquet|stats\.json|[A-Za-z0-9_]+\.mp4|[A-Za-z0-9_]+\.samples\.npy)((\.[0-9]+-[0-9a-f]{8})?\.tmp)?"
)
_SPILL_BAG_FILE = re.compile(rf"(plan\.json|report\.json|journal\.jsonl){_TMP}|{CHUNK_FILE.pattern}")
_OUT_FILE = re.compile(
    rf"(file-[0-9]{{3,}}\.(parquet|mp4)|info\.json|stats\.json|tasks\.parquet|spill2lerobot_report\.json|spill2lerobot_provenance\.json){_TMP}"
)
_OUT_DIR = re.compile(r"meta|data|videos|episodes|chunk-[0-9]{3,}|observation\.[A-Za-z0-9_.]+|action")


def is_bag_id(text: str) -> bool:
    return _BAG_ID.fullmatch(text) is not None


def spill_name_is_ours(parts: tuple[str, ...], is_dir: bool) -> bool:
    """Names stage 1 writes: spill.json, bags/<id>/, and the per-bag files (docs/spill-format.md)."""
    if len(parts) == 1:
        return (is_dir and parts[0] == "bags") or (not is_dir and parts[0] in _SPILL_ROOT_FILES)
    if parts[0] != "bags":
        return False
    if len(parts) == 2:
        return is_dir and is_bag_id(parts[1])
    return len(parts) == 3 and not is_dir and _SPILL_BAG_FILE.fullmatch(parts[2]) is not None


def output_name_is_ours(parts: tuple[str, ...], is_dir: bool) -> bool:
    """Names merge writes in OUT.partial: meta/, data/, videos/ and lerobot's file names."""
    if len(parts) == 1 and not is_dir:
        return parts[0] in (PARTIAL_MARKER, LOCK_NAME) or re.fullmatch(rf"README\.md{_TMP}", parts[0]) is not None
    if parts[0] not in ("meta", "data", "videos"):
        return False
    if is_dir:
        return all(_OUT_DIR.fullmatch(part) for part in parts)
    return all(_OUT_DIR.fullmatch(part) for part in parts[:-1]) and _OUT_FILE.fullmatch(parts[-1]) is not None


def has_marker(folder: Path, marker: str) -> bool:
    """The folder is a real folder (not a link) holding our marker as a regular file."""
    try:
        return stat.S_ISDIR(os.lstat(folder).st_mode) and stat.S_ISREG(os.lstat(folder / marker).st_mode)
    except OSError:
        return False


def write_marker(folder: Path, marker: str, text: str) -> None:
    path = folder / marker
    if not path.is_symlink():
        path.write_text(text + "\n")


def remove_owned(root: Path, marker: str, is_ours: NamePredicate, keep: Iterable[str] = ()) -> list[Path]:
    """Remove what the tool wrote below ``root`` (which must carry ``marker``), then ``root``
    itself unless ``keep`` names something in it or something not ours is left. Returns the
    entries left because they are not ours. Links are unlinked, never followed."""
    if not has_marker(root, marker):
        raise UserError(f"{root}: not made by spill2lerobot (no {marker} in it); it is left untouched")
    keep = set(keep)
    left: list[Path] = []
    _remove_children(root, (), is_ours, keep, left)
    if not keep and not left:
        (root / marker).unlink(missing_ok=True)
        with contextlib.suppress(FileNotFoundError):
            root.rmdir()
    return left


def _remove_children(
    folder: Path, parts: tuple[str, ...], is_ours: NamePredicate, keep: set[str], left: list[Path]
) -> None:
    with os.scandir(folder) as entries:
        children = sorted(entries, key=lambda entry: entry.name)
    for entry in children:
        sub = (*parts, entry.name)
        path = Path(entry.path)
        if not parts and entry.name in keep:
            continue
        is_dir = entry.is_dir(follow_symlinks=False)
        if not is_ours(sub, is_dir):
            left.append(path)
        elif is_dir:
            _remove_children(path, sub, is_ours, keep, left)
            with contextlib.suppress(OSError):  # not empty: something not ours stays in it
                path.rmdir()
        elif len(sub) == 1 and entry.name in (SPILL_MARKER, PARTIAL_MARKER):
            continue  # the marker goes last, with the folder (remove_owned)
        else:
            path.unlink(missing_ok=True)


def _resolved(path: Path) -> Path:
    return Path(os.path.realpath(path))


def _within(inner: Path, outer: Path) -> bool:
    return inner == outer or outer in inner.parents


def check_locations(inputs: Iterable[Path], spill: Path | None = None, out: Path | None = None) -> None:
    """Refuse, before any work, the layouts where writing or removing SPILL or OUT could touch an
    input bag or each other: an input inside SPILL or OUT, SPILL inside OUT or the reverse, the
    same folder for both, an OUT that is a symbolic link (dangling or not)."""
    places: dict[str, Path] = {}
    if spill is not None:
        places["SPILL"] = spill
    if out is not None:
        if out.is_symlink():
            raise UserError(
                f"{out}: OUT is a symbolic link (to {os.readlink(out)[:80]}); give the real folder path, "
                "which must not exist yet"
            )
        places["OUT"] = out
        places["OUT.partial"] = out.with_name(out.name + ".partial")
    real = {name: _resolved(path) for name, path in places.items()}
    for item in inputs:
        for candidate in {Path(os.path.abspath(item)), _resolved(item)}:
            for name, place in real.items():
                if _within(candidate, place):
                    raise UserError(
                        f"{item}: this input lies inside {name} ({places[name]}); spill2lerobot writes and removes "
                        "files there, so keep SPILL and OUT apart from the recordings"
                    )
    if spill is not None and out is not None:
        for name in ("OUT", "OUT.partial"):
            if _within(real["SPILL"], real[name]) or _within(real[name], real["SPILL"]):
                relation = "the same folder as" if real["SPILL"] == real[name] else "nested with"
                raise UserError(
                    f"{spill}: SPILL is {relation} {name} ({places[name]}); choose separate folders for the spill "
                    "and the dataset"
                )
