"""Stage 2 orchestration: build OUT under a temporary name, rename when complete."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import av
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from numpy.typing import NDArray

from spill2lerobot import lerobot_format
from spill2lerobot.encoding import EncoderSettings
from spill2lerobot.errors import UserError
from spill2lerobot.fsutil import commit, fsync_dir, tmp_path, where_disk_filled, write_json_atomic
from spill2lerobot.lerobot_format import FileIndex
from spill2lerobot.lock import FolderLock
from spill2lerobot.merge.card import write_card
from spill2lerobot.merge.compat import dataset_difference
from spill2lerobot.merge.episode_stats import depth_stats, episode_columns, image_stats, lowdim_stats
from spill2lerobot.merge.episodes_table import EpisodesTable, episode_row
from spill2lerobot.merge.existing import REPORT_PATH  # what each bag gave (lerobot ignores this file)
from spill2lerobot.merge.language import add_language_columns, language_features, subtask_rows
from spill2lerobot.merge.plan import Episode, EpisodeMode, MergePlan, assign_files, plan_episodes
from spill2lerobot.merge.provenance import PROVENANCE_PATH, provenance
from spill2lerobot.merge.report import STAMPS_CHECKED, bag_reports, write_report
from spill2lerobot.merge.video import remux_segments
from spill2lerobot.profiles import Camera, Profile, robot_for
from spill2lerobot.safety import (
    LOCK_NAME,
    PARTIAL_MARKER,
    has_marker,
    output_name_is_ours,
    remove_owned,
    write_marker,
)
from spill2lerobot.spill import journal
from spill2lerobot.spill.depth_cameras import spill_depth_cameras
from spill2lerobot.spill.format import BagEntry, BagPlan
from spill2lerobot.spill.layout import SpillLayout
from spill2lerobot.spill.report import bag_report
from spill2lerobot.spill.verify import ChunkShape, check_chunk
from spill2lerobot.stats import Stats, to_jsonable

MB = 1024 * 1024


@dataclass
class MergeResult:
    output: Path
    episodes: int
    frames: int
    seconds: float


def plan_merge(
    layouts: Sequence[SpillLayout],
    mode: EpisodeMode,
    *,
    first_index: int = 0,
    first_frame: int = 0,
    known_tasks: Sequence[str] = (),
    skip: Callable[[BagEntry], bool] | None = None,
) -> MergePlan:
    """The episodes of ``layouts`` in argument order, numbered on from ``first_index`` and
    ``first_frame``; a new task string gets the next task index after ``known_tasks``. Bags
    ``skip`` names are left out (appending: those already in the dataset)."""
    plan: MergePlan | None = None
    tasks = list(known_tasks)
    episodes: list[Episode] = []
    short: list[tuple[str, int]] = []
    for layout in layouts:
        manifest = journal.read_manifest(layout)
        profile = journal.profile_of(layout, manifest)
        bags = journal.manifest_bags(manifest)
        plans = {bag.id: journal.read_plan(layout, bag.id) for bag in bags}  # read once: thousands of bags
        kept = [bag for bag in bags if skip is None or not skip(bag)]
        frames = {bag.id: _planned_frames(plans[bag.id]) for bag in kept}
        short += [(bag.path, frames[bag.id]) for bag in kept if frames[bag.id] < profile.dataset.min_frames]
        kept = [bag for bag in kept if frames[bag.id] >= profile.dataset.min_frames]
        ours = plan_episodes(layout, kept, plans, mode, first_index + len(episodes), first_frame + _frames(episodes))
        if not bags:
            raise UserError(f"{layout.root}: the spill holds no bags; run stage1 with at least one bag")
        depth_cameras = spill_depth_cameras(profile, bags, [p for p in plans.values() if p is not None])
        features = _features(profile, depth_cameras)
        if plan is None:
            plan = MergePlan(episodes, profile, depth_cameras, features, tasks)
        else:
            _check_same_dataset(plan, layout, profile, features)
        for ep in ours:  # a bag's task file names its task; else the profile's (a new text: the next index)
            task = ep.bag.task_text(profile.dataset.task_description)
            if task not in tasks:
                tasks.append(task)
            ep.task_index = tasks.index(task)
        episodes.extend(ours)
        plan.layouts.append(layout)
    if plan is None:
        raise UserError("no spill given; name at least one SPILL folder")
    plan.short = short
    plan.features.update(language_features(episodes))
    if short and not episodes:
        raise UserError(
            f"every bag has fewer frames than dataset.min_frames={plan.profile.dataset.min_frames} "
            f"({short[0][0]}: {short[0][1]}); lower dataset.min_frames or add longer bags"
        )
    return plan


def _planned_frames(plan: BagPlan | None) -> int:
    """The frames stage 1 planned for a bag (0 before stage 1 planned it: merge then names it)."""
    return plan.frames if plan is not None else 0


def _frames(episodes: list[Episode]) -> int:
    return sum(ep.length for ep in episodes)


def _check_same_dataset(plan: MergePlan, layout: SpillLayout, profile: Profile, features: dict[str, Any]) -> None:
    ours = _shape(plan.profile, plan.features)
    difference = dataset_difference(ours, _shape(profile, features), "the first spill", "this spill")
    if difference is not None:
        raise UserError(
            f"{layout.root}: cannot be merged with {plan.layouts[0].root}: {difference}; "
            "merge spills converted with the same settings"
        )


def _shape(profile: Profile, features: dict[str, Any]) -> dict[str, Any]:
    """What info.json would say of a dataset of this profile: fps, robot type, features."""
    return {"fps": profile.dataset.train_hz, "robot_type": profile.dataset.robot_type, "features": features}


def dataset_features(profile: Profile, depth_cameras: list[Camera]) -> dict[str, Any]:
    """info.json's features of a dataset of this profile (lerobot's default columns aside)."""
    return _features(profile, depth_cameras)


def _features(profile: Profile, depth_cameras: list[Camera]) -> dict[str, Any]:
    extractor = robot_for(profile)
    settings = EncoderSettings.from_profile(profile)
    features = {
        "observation.state": lerobot_format.vector_feature(extractor.state_names()),
        "action": lerobot_format.vector_feature(extractor.action_names()),
    }
    for cam in extractor.cameras():
        features[cam.key] = lerobot_format.video_feature(
            settings.height, settings.width, lerobot_format.video_info(settings)
        )
    for cam in depth_cameras:
        features[cam.key] = lerobot_format.depth_feature(profile)
    return features


def _write_videos(plan: MergePlan, root: Path, progress: Callable[[str], None], first: dict[str, FileIndex]) -> None:
    fps, episodes = plan.profile.dataset.train_hz, plan.episodes
    for cam in plan.cameras:
        sizes = [
            sum(ep.spill.segment(r.bag_id, r.chunk, cam.name).stat().st_size for r in ep.chunks) for ep in episodes
        ]
        assign_files(episodes, cam.key, sizes, lerobot_format.VIDEO_FILE_SIZE_MB * MB, first.get(cam.key, (0, 0)))
        by_file: dict[tuple[int, int], list[Episode]] = {}
        for ep in episodes:
            by_file.setdefault(ep.files[cam.key], []).append(ep)
        for (chunk_index, file_index), members in by_file.items():
            segments = [ep.spill.segment(r.bag_id, r.chunk, cam.name) for ep in members for r in ep.chunks]
            path = root / lerobot_format.VIDEO_PATH.format(
                video_key=cam.key, chunk_index=chunk_index, file_index=file_index
            )
            try:
                frames = remux_segments(segments, path, fps)
            except (av.FFmpegError, ValueError) as exc:  # checked before, so changed since
                if isinstance(exc, OSError):
                    raise  # writing failed (disk full): reported as such
                raise UserError(
                    f"{segments[0].parent}: a video segment of {cam.name} cannot be read ({str(exc)[:100]}); "
                    "run the same `spill2lerobot stage1` command again to check and redo it"
                ) from None
            expected = sum(ep.length for ep in members)
            if frames != expected:
                raise UserError(
                    f"{segments[0].parent}: video segments of {cam.name} hold {frames} frames, "
                    f"the journal says {expected}; re-run stage1 with --restart"
                )
        progress(f"merge: videos of {cam.name} written")


def _write_data(plan: MergePlan, root: Path, first: FileIndex) -> None:
    fps, robot, episodes = plan.profile.dataset.train_hz, robot_for(plan.profile), plan.episodes
    schema = lerobot_format.data_schema(plan.features)
    sizes = [sum(ep.spill.shard(r.bag_id, r.chunk).stat().st_size for r in ep.chunks) for ep in episodes]
    limit = lerobot_format.DATA_FILE_SIZE_MB * MB
    assign_files(episodes, "data", sizes, limit, first, max_episodes=lerobot_format.DATA_FILE_MAX_EPISODES)
    by_file: dict[tuple[int, int], list[Episode]] = {}
    for ep in episodes:  # episodes of a file are consecutive: files are assigned in order
        by_file.setdefault(ep.files["data"], []).append(ep)
    for (chunk_index, file_index), members in by_file.items():
        path = root / lerobot_format.DATA_PATH.format(chunk_index=chunk_index, file_index=file_index)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = tmp_path(path)
        writer = pq.ParquetWriter(tmp, schema)
        for ep in members:
            rows = subtask_rows(ep, fps)
            for columns in episode_columns(ep.spill, ep, fps, robot):
                add_language_columns(columns, rows, plan.features)
                writer.write_table(_data_table(columns, schema))
        writer.close()
        commit(tmp, path)


def _data_table(columns: dict[str, NDArray[Any]], schema: pa.Schema) -> pa.Table:
    arrays = []
    for field in schema:
        values = columns[field.name]
        if pa.types.is_fixed_size_list(field.type):
            flat = pa.array(np.ascontiguousarray(values, dtype=np.float32).reshape(-1))
            arrays.append(pa.FixedSizeListArray.from_arrays(flat, field.type.list_size))
        else:
            arrays.append(pa.array(values, type=field.type))
    return pa.Table.from_arrays(arrays, schema=schema)


def _episode_stats(plan: MergePlan, ep: Episode) -> dict[str, Stats]:
    profile = plan.profile
    stats = lowdim_stats(ep.spill, ep, profile.dataset.train_hz, robot_for(profile))
    for cam in plan.cameras:
        if cam.is_depth and profile.dataset.depth_mode == "native":
            stats[cam.key] = depth_stats(ep.spill, ep, cam.name)
        else:
            stats[cam.key] = image_stats(ep.spill, ep, cam.name)
    return stats


def write_episode_files(
    plan: MergePlan,
    root: Path,
    progress: Callable[[str], None],
    first: dict[str, FileIndex] | None = None,
    schema: pa.Schema | None = None,
) -> EpisodesTable:
    """Videos and data files of the plan's episodes below ``root``, starting at the files
    ``first`` names per key (default: the first files, the first episodes file); returns their
    episodes table, being written (``schema``: the dataset's, appending; ``write`` it to finish),
    statistics included. One episode's statistics are in memory at a time."""
    first = first or {}
    _write_videos(plan, root, progress, first)
    _write_data(plan, root, first.get("data", (0, 0)))
    meta_file = first.get("meta", (0, 0))
    path = root / lerobot_format.EPISODES_PATH.format(chunk_index=meta_file[0], file_index=meta_file[1])
    table = EpisodesTable(path, schema)
    for ep in plan.episodes:
        table.add(episode_row(plan, ep, _episode_stats(plan, ep), meta_file))
    return table


def _claim_output(out: Path) -> tuple[Path, FolderLock]:
    """OUT.partial, ours and locked: a fresh folder beside OUT, or the one an interrupted merge
    left (its contents are rebuilt: no re-encoding, so that is cheap). OUT must not exist."""
    if out.exists() or out.is_symlink():
        raise UserError(f"{out}: already exists; remove it or choose another output folder")
    work = out.with_name(out.name + ".partial")
    try:
        work.mkdir(parents=True)
        write_marker(work, PARTIAL_MARKER, "partial output of spill2lerobot merge")
    except FileExistsError:
        if not has_marker(work, PARTIAL_MARKER):
            raise UserError(
                f"{work}: exists and was not made by spill2lerobot; remove it or choose another output folder"
            ) from None
    lock = FolderLock(work, "merge").acquire()
    left = remove_owned(work, PARTIAL_MARKER, output_name_is_ours, keep={PARTIAL_MARKER, LOCK_NAME})
    if left:
        lock.release()
        raise UserError(f"{left[0]}: not written by spill2lerobot; move it out of {work} and run merge again")
    return work, lock


def merge_spill(
    layout: SpillLayout,
    out: Path,
    mode: EpisodeMode = "bag",
    progress: Callable[[str], None] = print,
    stage1_seconds: float | None = None,
) -> MergeResult:
    """Merge a claimed spill (the caller holds its lock) into a new dataset OUT."""
    return merge_spills([layout], out, mode, progress, stage1_seconds)


def merge_spills(
    layouts: Sequence[SpillLayout],
    out: Path,
    mode: EpisodeMode = "bag",
    progress: Callable[[str], None] = print,
    stage1_seconds: float | None = None,
) -> MergeResult:
    """Merge claimed spills (the caller holds their locks), episodes in their order: every chunk
    is checked before OUT.partial is made, so a damaged spill leaves nothing behind."""
    started = time.monotonic()
    plan = plan_merge(layouts, mode)
    for path, frames in plan.short:
        progress(f"merge: {path} left out: {frames} frames, under dataset.min_frames={plan.profile.dataset.min_frames}")
    check_chunks(plan)
    work, lock = _claim_output(out)
    try:
        return _merge_into(plan, work, out, progress, started, stage1_seconds)
    except OSError as exc:  # disk full or failing: drop the half-written output (frees its space)
        remove_owned(work, PARTIAL_MARKER, output_name_is_ours)
        raise where_disk_filled(exc, work) from None
    except UserError:  # never leave half a dataset behind (a stop leaves it, to be rebuilt)
        remove_owned(work, PARTIAL_MARKER, output_name_is_ours)
        raise
    finally:
        lock.release()


def check_chunks(plan: MergePlan) -> None:
    """Every chunk's statistics, shard and segments, before anything is written."""
    extractor = robot_for(plan.profile)
    cameras = tuple(cam.name for cam in [*extractor.cameras(), *plan.depth_cameras])
    dims = len(extractor.state_names()), len(extractor.action_names())
    for ep in plan.episodes:
        shape = ChunkShape(cameras, *dims, tuple(ep.plan.topics))
        for ref in ep.chunks:
            check_chunk(ep.spill, ref.bag_id, ref.chunk, ref.frames, shape)
    seen: set[tuple[int, str]] = set()  # a set, not a search per episode: linear in episodes
    for ep in plan.episodes:
        if (id(ep.spill), ep.bag.id) not in seen:
            seen.add((id(ep.spill), ep.bag.id))
            bag_report(ep.spill, ep.bag)  # its report.json too, before anything is written


def _merge_into(
    plan: MergePlan,
    work: Path,
    out: Path,
    progress: Callable[[str], None],
    started: float,
    stage1_seconds: float | None,
) -> MergeResult:
    table = write_episode_files(plan, work, progress)
    table.write()
    lerobot_format.write_tasks(work / lerobot_format.TASKS_PATH, plan.tasks)
    write_json_atomic(work / lerobot_format.STATS_PATH, to_jsonable(table.aggregated_stats()))
    info = lerobot_format.info_json(
        fps=plan.profile.dataset.train_hz,
        features=plan.features,
        total_episodes=len(plan.episodes),
        total_frames=plan.frames,
        total_tasks=len(plan.tasks),
        robot_type=plan.profile.dataset.robot_type,
        splits=plan.profile.dataset.splits,
    )
    write_json_atomic(work / lerobot_format.INFO_PATH, info)
    bags = bag_reports(plan.episodes, max_skew_ms=plan.profile.faults.max_skew_ms)
    short = [{"bag": path, "frames": frames} for path, frames in plan.short]
    extra = {"skipped_short": short, "min_frames": plan.profile.dataset.min_frames} if short else {}
    write_report(work / REPORT_PATH, {"stamps_checked": STAMPS_CHECKED}, bags, extra)
    origin = provenance(plan, command="merge", merge_seconds=time.monotonic() - started, stage1_seconds=stage1_seconds)
    write_json_atomic(work / PROVENANCE_PATH, origin)
    write_card(work, info, origin)
    if out.exists() or out.is_symlink():  # made by someone else while we worked: never replaced
        raise UserError(f"{out}: appeared while merging; {work} holds the dataset, rename it yourself")
    work.rename(out)
    fsync_dir(out.parent)
    for name in (PARTIAL_MARKER, LOCK_NAME):  # the dataset is complete: it is the user's now
        (out / name).unlink(missing_ok=True)
    return MergeResult(out, len(plan.episodes), plan.frames, time.monotonic() - started)
