"""Appending spills to an existing LeRobot v3.0 dataset OUT, crash-safe.

The new dataset is built beside OUT in ``OUT.append/`` (our marker in it): every file of OUT is
hard-linked there (nothing is copied or re-encoded), the new episodes go to new data, video and
episodes files (the next file indices, so no existing file changes), and the metadata lerobot
rereads (info.json, stats.json, tasks.parquet, our report) is written anew. Then the two folders
are swapped in one atomic step (renameat2 RENAME_EXCHANGE): at every instant OUT is either the
old dataset or the new one. The old tree, now ``OUT.append/``, is removed: only hard links of
files the new OUT holds and the metadata files replaced. A run after a kill first finishes or
discards what the killed one left (the marker says which folder is the new tree), and bags whose
fingerprints the dataset records are skipped, so running the same command again completes it.
"""

from __future__ import annotations

import contextlib
import os
import stat
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from spill2lerobot import lerobot_format
from spill2lerobot.errors import UserError
from spill2lerobot.fsutil import ExchangeUnsupported, exchange, fsync_dir, where_disk_filled, write_json_atomic
from spill2lerobot.lock import FolderLock
from spill2lerobot.merge.card import CARD_PATH, card_is_ours, write_card
from spill2lerobot.merge.compat import dataset_difference
from spill2lerobot.merge.existing import REPORT_PATH, Dataset, read_dataset
from spill2lerobot.merge.merge import MergeResult, check_chunks, dataset_features, plan_merge, write_episode_files
from spill2lerobot.merge.plan import EpisodeMode, MergePlan
from spill2lerobot.merge.provenance import PROVENANCE_PATH, provenance, read_provenance
from spill2lerobot.merge.report import STAMPS_CHECKED, bag_identity, conversion_report
from spill2lerobot.profiles import Profile
from spill2lerobot.safety import LOCK_NAME, has_marker, output_name_is_ours, write_marker
from spill2lerobot.spill.format import BagEntry
from spill2lerobot.spill.layout import SpillLayout
from spill2lerobot.stats import aggregate_stacked, concat_stacked, stack_stats, to_jsonable

APPEND_MARKER = ".spill2lerobot-append"  # in the new tree: OUT.append/ before the swap, OUT/ after
PROBES = (".spill2lerobot-probe-a", ".spill2lerobot-probe-b")
REWRITTEN = {  # files of OUT the new tree replaces (never hard-linked: never written through)
    lerobot_format.INFO_PATH,
    lerobot_format.STATS_PATH,
    lerobot_format.TASKS_PATH,
    REPORT_PATH,
    PROVENANCE_PATH,
    CARD_PATH,  # only when spill2lerobot wrote it (card_is_ours): someone else's card is kept
}
OURS_AT_ROOT = {APPEND_MARKER, LOCK_NAME, *PROBES}


def staging_of(out: Path) -> Path:
    return out.with_name(out.name + ".append")


def append_spills(
    layouts: Sequence[SpillLayout],
    out: Path,
    mode: EpisodeMode,
    progress: Callable[[str], None],
    stage1_seconds: float | None = None,
) -> MergeResult:
    """Append claimed spills' bags (the caller holds their locks) to the dataset OUT."""
    started = time.monotonic()
    finish_interrupted(out, progress)
    dataset = read_dataset(out)
    plan = plan_merge(
        layouts,
        mode,
        first_index=dataset.total_episodes,
        first_frame=dataset.total_frames,
        known_tasks=dataset.tasks,
        skip=_skipper(dataset, out, progress),
    )
    difference = dataset_difference(dataset.info, _shape(plan), str(out), "the spill")
    if difference is not None:
        raise UserError(f"{out}: cannot append: {difference}; convert these bags into a new dataset instead")
    if not plan.episodes:
        progress(f"{out}: every bag is already in the dataset; nothing to append")
        return MergeResult(out, 0, 0, time.monotonic() - started)
    check_chunks(plan)
    work, lock = _claim_staging(out)
    try:
        _build(plan, dataset, work, progress, (started, stage1_seconds))
        _swap(work, out)
    except OSError as exc:  # disk full or failing: OUT is the old dataset; drop the new tree
        lock.release()
        remove_unswapped(work, out)
        raise where_disk_filled(exc, work) from None
    except UserError:
        lock.release()
        remove_unswapped(work, out)
        raise
    remove_old_tree(work, out, progress)
    lock.release()
    return MergeResult(out, len(plan.episodes), plan.frames, time.monotonic() - started)


def precheck(dataset: Dataset, profile: Profile) -> None:
    """Before stage 1 of an append: fps, robot type and the profile's features (depth cameras
    aside, they depend on the bags) against the dataset's."""
    features = {key: value for key, value in dataset.info["features"].items() if key in dataset_features(profile, [])}
    ours = {"fps": profile.dataset.train_hz, "robot_type": profile.dataset.robot_type}
    theirs = {"fps": dataset.info["fps"], "robot_type": dataset.info.get("robot_type")}
    difference = dataset_difference(
        {**theirs, "features": features},
        {**ours, "features": dataset_features(profile, [])},
        str(dataset.root),
        "the profile",
    )
    if difference is not None:
        raise UserError(f"{dataset.root}: cannot append: {difference}; convert these bags into a new dataset instead")


def _shape(plan: MergePlan) -> dict[str, Any]:
    return {
        "fps": plan.profile.dataset.train_hz,
        "robot_type": plan.profile.dataset.robot_type,
        "features": {**plan.features, **lerobot_format.DEFAULT_FEATURES},
    }


def _skipper(dataset: Dataset, out: Path, progress: Callable[[str], None]) -> Callable[[BagEntry], bool]:
    seen: set[str] = set()

    def skip(bag: BagEntry) -> bool:
        identity = bag_identity(bag)
        if dataset.has_bag(identity, bag.path) or identity in seen:
            progress(f"{bag.path}: already in {out}, skipped")
            return True
        seen.add(identity)
        return False

    return skip


# --- the new tree ----------------------------------------------------------------------------


def _claim_staging(out: Path) -> tuple[Path, FolderLock]:
    work = staging_of(out)
    try:
        work.mkdir()
    except FileExistsError:
        raise UserError(f"{work}: appeared while appending; run the same command again") from None
    write_marker(work, APPEND_MARKER, "new dataset being built by spill2lerobot merge --append")
    lock = FolderLock(work, "merge --append").acquire()
    try:
        _probe_exchange(work)
    except ExchangeUnsupported as exc:
        lock.release()
        remove_unswapped(work, out)
        raise UserError(f"{out}: cannot append safely here: {exc}; OUT is unchanged") from None
    return work, lock


def _probe_exchange(work: Path) -> None:
    """Swap two empty folders beside the dataset: renameat2 works on this filesystem."""
    a, b = (work / name for name in PROBES)
    a.mkdir()
    b.mkdir()
    try:
        exchange(a, b)
    finally:
        a.rmdir()
        b.rmdir()


def _build(
    plan: MergePlan,
    dataset: Dataset,
    work: Path,
    progress: Callable[[str], None],
    timing: tuple[float, float | None],
) -> None:
    """``timing``: when the append started, and how long its stage 1 took (convert)."""
    link_tree(dataset.root, work)
    table = write_episode_files(plan, work, progress, dataset.next_files, dataset.episodes_schema)
    names, first_row = set(dataset.episodes_schema.names), table.first_row or {}
    if names != set(first_row):
        extra = sorted(names.symmetric_difference(first_row))[0]
        raise UserError(f"{dataset.root}: its episodes table and the new episodes differ in column {extra!r}")
    table.write()
    lerobot_format.write_tasks(work / lerobot_format.TASKS_PATH, plan.tasks)
    stacked = concat_stacked(stack_stats(dataset.episode_stats), table.stacked_stats())
    write_json_atomic(work / lerobot_format.STATS_PATH, to_jsonable(aggregate_stacked(stacked)))
    info = _info(dataset, plan)
    write_json_atomic(work / lerobot_format.INFO_PATH, info)
    report = dataset.report or {"bags": []}
    skew = plan.profile.faults.max_skew_ms
    bags = [*report.get("bags", []), *conversion_report(plan.episodes, fingerprints=True, max_skew_ms=skew)]
    short = [*report.get("skipped_short", []), *({"bag": path, "frames": n} for path, n in plan.short)]
    extra = {"skipped_short": short, "min_frames": plan.profile.dataset.min_frames} if short else {}
    write_json_atomic(work / REPORT_PATH, {**report, "stamps_checked": STAMPS_CHECKED, "bags": bags, **extra})
    started, stage1_seconds = timing
    origin = provenance(
        plan,
        command="append",
        merge_seconds=time.monotonic() - started,
        stage1_seconds=stage1_seconds,
        previous=read_provenance(dataset.root),
    )
    write_json_atomic(work / PROVENANCE_PATH, origin)
    if card_is_ours(dataset.root / CARD_PATH):
        write_card(work, info, origin)
    _sync_tree(work)


def _info(dataset: Dataset, plan: MergePlan) -> dict[str, Any]:
    info = dict(dataset.info)
    total = dataset.total_episodes + len(plan.episodes)
    info["total_episodes"] = total
    info["total_frames"] = dataset.total_frames + plan.frames
    info["total_tasks"] = len(plan.tasks)
    splits = plan.profile.dataset.splits
    if splits is None:
        info["splits"] = {**info.get("splits", {}), "train": f"0:{total}"}
    else:  # the profile's fractions over every episode, old and new
        info["splits"] = lerobot_format.split_ranges(total, splits)
    return info


def link_tree(source: Path, target: Path) -> None:
    """Hard-link every file of ``source`` into ``target`` (folders made, links linked as links,
    never followed), except the metadata the new tree rewrites and our own root files."""
    for folder, dirs, files in os.walk(source):  # os.walk does not enter linked folders
        rel = Path(folder).relative_to(source)
        for name in sorted(dirs):
            if os.path.islink(Path(folder) / name):
                os.link(Path(folder) / name, target / rel / name, follow_symlinks=False)
            else:
                (target / rel / name).mkdir(exist_ok=True)
        for name in sorted(files):
            sub = (rel / name).as_posix()
            if _rewritten(source, sub) or (rel == Path(".") and name in OURS_AT_ROOT):
                continue
            os.link(Path(folder) / name, target / rel / name, follow_symlinks=False)


def _rewritten(source: Path, sub: str) -> bool:
    return sub in REWRITTEN and (sub != CARD_PATH or card_is_ours(source / sub))


def _sync_tree(root: Path) -> None:
    """The new files' data and every folder's entries on disk before the swap publishes them."""
    for folder, _dirs, _files in os.walk(root):
        fsync_dir(Path(folder))


def _swap(work: Path, out: Path) -> None:
    try:
        exchange(work, out)
    except ExchangeUnsupported as exc:
        raise UserError(f"{out}: cannot append safely here: {exc}; OUT is unchanged") from None
    fsync_dir(out.parent)


# --- after a kill, and removing what is no longer needed -------------------------------------


def finish_interrupted(out: Path, progress: Callable[[str], None]) -> None:
    """Finish what a killed append left: an unswapped new tree is discarded (it is rebuilt), a
    swapped one's old tree is removed; OUT is a complete dataset in both cases."""
    work = staging_of(out)
    if not os.path.lexists(work):
        if has_marker(out, APPEND_MARKER):  # killed after removing the old tree
            _release_out(out)
        return
    if has_marker(work, APPEND_MARKER):
        with FolderLock(work, "merge --append"):
            if not has_marker(work, APPEND_MARKER):  # swapped meanwhile by another process
                raise UserError(f"{out}: another append just finished; run the command again")
            remove_unswapped(work, out)
        progress(f"{work}: an interrupted append's unfinished copy removed")
    elif has_marker(out, APPEND_MARKER) and stat.S_ISDIR(os.lstat(work).st_mode):
        with FolderLock(out, "merge --append"):
            remove_old_tree(work, out, progress)
    else:
        raise UserError(f"{work}: exists and was not made by spill2lerobot; move it away and run the command again")


def remove_unswapped(work: Path, out: Path) -> None:
    """Remove the new tree of an append that did not swap: hard links of OUT's files and files
    we write; anything else is left and reported."""
    if not has_marker(work, APPEND_MARKER):
        raise UserError(f"{work}: not made by spill2lerobot (no {APPEND_MARKER}); it is left untouched")
    left: list[Path] = []
    for name in PROBES:
        with contextlib.suppress(OSError):
            (work / name).rmdir()
    _remove_below(work, out, (), left, lambda parts, is_dir: output_name_is_ours(parts, is_dir))
    if left:
        raise UserError(f"{left[0]}: not written by spill2lerobot; move it out of {work} and run the command again")
    (work / LOCK_NAME).unlink(missing_ok=True)
    (work / APPEND_MARKER).unlink(missing_ok=True)
    work.rmdir()


def remove_old_tree(old: Path, out: Path, progress: Callable[[str], None]) -> None:
    """After the swap: remove the old dataset's tree (at ``old``), whose files are hard links of
    the new OUT's or the metadata files it replaced; then OUT loses our marker and lock."""
    left: list[Path] = []
    _remove_below(old, out, (), left, lambda parts, is_dir: is_dir or "/".join(parts) in REWRITTEN)
    (old / LOCK_NAME).unlink(missing_ok=True)
    if left:
        progress(f"{old}: kept, it holds {left[0].name} which is not in {out}; check it and remove it yourself")
    else:
        old.rmdir()
    fsync_dir(out.parent)
    _release_out(out)


def _release_out(out: Path) -> None:
    """The dataset is complete: it is the user's again (our lock and marker leave it)."""
    (out / LOCK_NAME).unlink(missing_ok=True)
    (out / APPEND_MARKER).unlink(missing_ok=True)


def _remove_below(
    root: Path, twin: Path, parts: tuple[str, ...], left: list[Path], ours: Callable[[tuple[str, ...], bool], bool]
) -> None:
    """Below ``root``: unlink hard links of the file at the same place below ``twin`` and what
    ``ours`` accepts; remove emptied folders. Links are unlinked, never followed."""
    folder = root.joinpath(*parts)
    with os.scandir(folder) as entries:
        children = sorted(entries, key=lambda entry: entry.name)
    for entry in children:
        sub = (*parts, entry.name)
        if not parts and entry.name in OURS_AT_ROOT:
            continue
        is_dir = entry.is_dir(follow_symlinks=False)
        if is_dir:
            _remove_below(root, twin, sub, left, ours)
            with contextlib.suppress(OSError):  # not empty: something not ours stays in it
                os.rmdir(entry.path)
        elif _same_file(Path(entry.path), twin.joinpath(*sub)) or ours(sub, False):
            os.unlink(entry.path)
        else:
            left.append(Path(entry.path))


def _same_file(a: Path, b: Path) -> bool:
    try:
        first, second = os.lstat(a), os.lstat(b)
    except OSError:
        return False
    return (first.st_dev, first.st_ino) == (second.st_dev, second.st_ino)
