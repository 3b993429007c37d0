"""Claiming a spill folder (marker and lock), starting it over, clearing an interrupted chunk's
leftovers and removing the spill: each touches only what stage 1 wrote (see safety.py)."""

from __future__ import annotations

import os
import stat
from collections.abc import Collection
from pathlib import Path

from spill2lerobot.errors import UserError
from spill2lerobot.lock import FolderLock
from spill2lerobot.safety import (
    CHUNK_FILE,
    LOCK_NAME,
    SPILL_MARKER,
    has_marker,
    remove_owned,
    spill_name_is_ours,
    write_marker,
)
from spill2lerobot.spill.layout import SPILL_FORMAT, SpillLayout

_BAG_TMP_FILES = {"plan.json.tmp", "report.json.tmp", "journal.jsonl.tmp"}


def _is_legacy_spill(root: Path) -> bool:
    """A spill written before folders carried markers: its spill.json names our format."""
    manifest = root / "spill.json"
    try:
        info = os.lstat(manifest)
        if not stat.S_ISREG(info.st_mode) or info.st_size > 64 * 1024 * 1024:
            return False
        with open(manifest, "rb") as handle:
            return f'"format": "{SPILL_FORMAT}"'.encode() in handle.read(4096)
    except OSError:
        return False


def claim_spill(layout: SpillLayout, purpose: str, *, create: bool, restart: bool = False) -> FolderLock:
    """Take the spill's lock (making the folder, with its marker, when ``create``); with
    ``restart``, then discard what stage 1 wrote there. Refuses folders that are not our spills."""
    root = layout.root
    if root.is_symlink():
        raise UserError(f"{root}: SPILL is a symbolic link; give the real folder path")
    if root.exists() and not root.is_dir():
        raise UserError(f"{root}: exists and is not a folder; choose another SPILL folder")
    if not root.exists():
        if not create:
            raise UserError(f"{root}: no such spill folder; run `spill2lerobot stage1` first")
        root.mkdir(parents=True, exist_ok=True)
    if not has_marker(root, SPILL_MARKER):
        if not (_is_legacy_spill(root) or not any(root.iterdir())):
            action = "choose an empty or new folder"
            if restart:
                action = "--restart only starts over a spill that spill2lerobot made"
            raise UserError(f"{root}: folder exists and is not a spill of spill2lerobot (no {SPILL_MARKER}); {action}")
        if not create and not _is_legacy_spill(root):
            raise UserError(f"{root}: not a spill folder (no spill.json); run `spill2lerobot stage1` first")
        write_marker(root, SPILL_MARKER, "spill folder of spill2lerobot: removed by it when done")
    lock = FolderLock(root, purpose).acquire()
    if restart:
        left = remove_owned(root, SPILL_MARKER, spill_name_is_ours, keep={SPILL_MARKER, LOCK_NAME})
        if left:
            lock.release()
            raise UserError(f"{left[0]}: not written by spill2lerobot, so --restart left it; move it out of the spill")
    return lock


def remove_spill(layout: SpillLayout) -> list[Path]:
    """Remove a finished spill (after merge): only what stage 1 wrote; returns what was left."""
    return remove_owned(layout.root, SPILL_MARKER, spill_name_is_ours)


def clear_unfinished(layout: SpillLayout, bag_id: str, done: Collection[int]) -> None:
    """Remove files of chunks not in ``done`` (left by an interrupted run), and our temporary
    files; nothing else, and never through a link (links are unlinked, not followed)."""
    folder = layout.bag_dir(bag_id)
    if not folder.exists():
        return
    with os.scandir(folder) as entries:
        for entry in entries:
            if entry.is_dir(follow_symlinks=False):
                continue
            match = CHUNK_FILE.fullmatch(entry.name)
            if (match and (int(match.group(1)) not in done or match.group(3))) or entry.name in _BAG_TMP_FILES:
                os.unlink(entry.path)
