"""Stage 2 orchestration: build OUT under a temporary name, rename when complete."""

from __future__ import annotations

import time
from collections.abc import Callable
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
from spill2lerobot.lock import FolderLock
from spill2lerobot.merge.episode_stats import depth_stats, episode_columns, image_stats, lowdim_stats
from spill2lerobot.merge.plan import Episode, EpisodeMode, assign_files, plan_episodes
from spill2lerobot.merge.video import remux_segments
from spill2lerobot.profiles import Camera, Profile, robot_for
from spill2lerobot.safety import (
    LOCK_NAME,
    PARTIAL_MARKER,
    check_locations,
    has_marker,
    output_name_is_ours,
    remove_owned,
    write_marker,
)
from spill2lerobot.spill import journal
from spill2lerobot.spill.depth_cameras import spill_depth_cameras
from spill2lerobot.spill.format import BagEntry
from spill2lerobot.spill.layout import SpillLayout
from spill2lerobot.spill.ownership import claim_spill
from spill2lerobot.spill.report import bag_report
from spill2lerobot.spill.verify import ChunkShape, check_chunk
from spill2lerobot.stats import aggregate, to_jsonable

MB = 1024 * 1024
REPORT_PATH = "meta/spill2lerobot_report.json"  # what each bag gave (lerobot ignores this file)


@dataclass
class MergeResult:
    output: Path
    episodes: int
    frames: int
    seconds: float


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


def _write_videos(
    layout: SpillLayout,
    episodes: list[Episode],
    profile: Profile,
    cameras: list[Camera],
    root: Path,
    progress: Callable[[str], None],
) -> None:
    fps = profile.dataset.train_hz
    for cam in cameras:
        sizes = [sum(layout.segment(r.bag_id, r.chunk, cam.name).stat().st_size for r in ep.chunks) for ep in episodes]
        assign_files(episodes, cam.key, sizes, lerobot_format.VIDEO_FILE_SIZE_MB * MB)
        by_file: dict[tuple[int, int], list[Episode]] = {}
        for ep in episodes:
            by_file.setdefault(ep.files[cam.key], []).append(ep)
        for (chunk_index, file_index), members in by_file.items():
            segments = [layout.segment(r.bag_id, r.chunk, cam.name) for ep in members for r in ep.chunks]
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


def _write_data(
    layout: SpillLayout, episodes: list[Episode], features: dict[str, Any], profile: Profile, root: Path
) -> None:
    fps, robot = profile.dataset.train_hz, robot_for(profile)
    schema = lerobot_format.data_schema(features)
    sizes = [sum(layout.shard(r.bag_id, r.chunk).stat().st_size for r in ep.chunks) for ep in episodes]
    assign_files(episodes, "data", sizes, lerobot_format.DATA_FILE_SIZE_MB * MB)
    by_file: dict[tuple[int, int], list[Episode]] = {}
    for ep in episodes:  # episodes of a file are consecutive: files are assigned in order
        by_file.setdefault(ep.files["data"], []).append(ep)
    for (chunk_index, file_index), members in by_file.items():
        path = root / lerobot_format.DATA_PATH.format(chunk_index=chunk_index, file_index=file_index)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = tmp_path(path)
        writer = pq.ParquetWriter(tmp, schema)
        for ep in members:
            for columns in episode_columns(layout, ep, fps, robot):
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


def _episode_stats(
    layout: SpillLayout, episodes: list[Episode], profile: Profile, cameras: list[Camera]
) -> list[dict[str, Any]]:
    fps = profile.dataset.train_hz
    all_stats = []
    for ep in episodes:
        stats = lowdim_stats(layout, ep, fps, robot_for(profile))
        for cam in cameras:
            if cam.is_depth and profile.dataset.depth_mode == "native":
                stats[cam.key] = depth_stats(layout, ep, cam.name)
            else:
                stats[cam.key] = image_stats(layout, ep, cam.name)
        all_stats.append(stats)
    return all_stats


def _write_episodes_table(
    episodes: list[Episode], stats: list[dict[str, Any]], profile: Profile, cameras: list[Camera], root: Path
) -> None:
    fps = profile.dataset.train_hz
    rows = []
    for ep, ep_stats in zip(episodes, stats, strict=True):
        row = {
            "episode_index": ep.index,
            "tasks": [profile.dataset.task_description],
            "length": ep.length,
            "data/chunk_index": ep.files["data"][0],
            "data/file_index": ep.files["data"][1],
            "dataset_from_index": ep.dataset_from,
            "dataset_to_index": ep.dataset_from + ep.length,
        }
        for cam in cameras:
            offset = ep.file_offset[cam.key]
            row[f"videos/{cam.key}/chunk_index"] = ep.files[cam.key][0]
            row[f"videos/{cam.key}/file_index"] = ep.files[cam.key][1]
            # From integer frame counts: no float drift across many episodes in one file.
            row[f"videos/{cam.key}/from_timestamp"] = offset / fps
            row[f"videos/{cam.key}/to_timestamp"] = (offset + ep.length) / fps
        row.update(lerobot_format.stats_columns(ep_stats))
        row["meta/episodes/chunk_index"] = 0
        row["meta/episodes/file_index"] = 0
        rows.append(row)
    types = {
        "episode_index": pa.int64(),
        "tasks": pa.list_(pa.string()),
        "length": pa.int64(),
        "data/chunk_index": pa.int64(),
        "data/file_index": pa.int64(),
        "dataset_from_index": pa.int64(),
        "dataset_to_index": pa.int64(),
    }
    fields = []
    for name in rows[0]:
        if name in types:
            dtype = types[name]
        elif name.startswith("stats/"):
            dtype = lerobot_format.stats_type(name.rsplit("/", 1)[1], np.asarray(rows[0][name]))
        elif name.endswith("timestamp"):
            dtype = pa.float64()
        else:
            dtype = pa.int64()
        fields.append(pa.field(name, dtype))
    schema = pa.schema(fields)
    table = pa.Table.from_pylist(rows, schema=schema)
    path = root / lerobot_format.EPISODES_PATH.format(chunk_index=0, file_index=0)
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, path)


def _conversion_report(layout: SpillLayout, bags: list[BagEntry], episodes: list[Episode]) -> dict[str, Any]:
    per_bag = []
    for bag in bags:
        report = bag_report(layout, bag)
        report["episodes"] = [ep.index for ep in episodes if ep.bag.id == bag.id]
        per_bag.append(report)
    # Stage 1 reads only the messages the frames use (README, "What stage 1 reads").
    return {"stamps_checked": "messages the frames use", "bags": per_bag}


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


def run_merge(
    spill: Path, out: Path, mode: EpisodeMode = "bag", progress: Callable[[str], None] = print
) -> MergeResult:
    """Merge SPILL into OUT, holding the spill's lock."""
    check_locations([], spill=spill, out=out)
    if out.exists():
        raise UserError(f"{out}: already exists; remove it or choose another output folder")
    layout = SpillLayout(spill)
    with claim_spill(layout, "merge", create=False):
        return merge_spill(layout, out, mode, progress)


def merge_spill(
    layout: SpillLayout, out: Path, mode: EpisodeMode = "bag", progress: Callable[[str], None] = print
) -> MergeResult:
    """Merge a claimed spill (the caller holds its lock): every chunk is checked before OUT.partial
    is made, so a damaged spill leaves nothing behind."""
    started = time.monotonic()
    manifest = journal.read_manifest(layout)
    profile = journal.profile_of(layout, manifest)
    bags = journal.manifest_bags(manifest)
    episodes = plan_episodes(layout, bags, mode)
    if not episodes:
        raise UserError(f"{layout.root}: the spill holds no bags; run stage1 with at least one bag")
    plans = [journal.read_plan(layout, bag.id) for bag in bags]
    depth_cameras = spill_depth_cameras(profile, bags, [plan for plan in plans if plan is not None])
    _check_chunks(layout, episodes, profile, depth_cameras)
    work, lock = _claim_output(out)
    try:
        return _merge_into(layout, bags, episodes, profile, depth_cameras, work, out, progress, started)
    except OSError as exc:  # disk full or failing: drop the half-written output (frees its space)
        remove_owned(work, PARTIAL_MARKER, output_name_is_ours)
        raise where_disk_filled(exc, work) from None
    except UserError:  # never leave half a dataset behind (a stop leaves it, to be rebuilt)
        remove_owned(work, PARTIAL_MARKER, output_name_is_ours)
        raise
    finally:
        lock.release()


def _check_chunks(layout: SpillLayout, episodes: list[Episode], profile: Profile, depth_cameras: list[Camera]) -> None:
    """Every chunk's statistics, shard and segments, before anything is written."""
    extractor = robot_for(profile)
    cameras = tuple(cam.name for cam in [*extractor.cameras(), *depth_cameras])
    dims = len(extractor.state_names()), len(extractor.action_names())
    for ep in episodes:
        plan = ep.plan
        shape = ChunkShape(cameras, *dims, tuple(plan.topics))
        for ref in ep.chunks:
            check_chunk(layout, ref.bag_id, ref.chunk, ref.frames, shape)
    for bag in {ep.bag.id: ep.bag for ep in episodes}.values():
        bag_report(layout, bag)  # its report.json too, before anything is written


def _merge_into(
    layout: SpillLayout,
    bags: list[BagEntry],
    episodes: list[Episode],
    profile: Profile,
    depth_cameras: list[Camera],
    work: Path,
    out: Path,
    progress: Callable[[str], None],
    started: float,
) -> MergeResult:
    cameras = [*robot_for(profile).cameras(), *depth_cameras]
    features = _features(profile, depth_cameras)
    fps = profile.dataset.train_hz
    _write_videos(layout, episodes, profile, cameras, work, progress)
    _write_data(layout, episodes, features, profile, work)
    stats = _episode_stats(layout, episodes, profile, cameras)
    _write_episodes_table(episodes, stats, profile, cameras, work)
    lerobot_format.write_tasks(work / lerobot_format.TASKS_PATH, [profile.dataset.task_description])
    total = sum(ep.length for ep in episodes)
    write_json_atomic(work / lerobot_format.STATS_PATH, to_jsonable(aggregate(stats)))
    info = lerobot_format.info_json(
        fps=fps,
        features=features,
        total_episodes=len(episodes),
        total_frames=total,
        total_tasks=1,
        robot_type=profile.dataset.robot_type,
    )
    write_json_atomic(work / lerobot_format.INFO_PATH, info)
    write_json_atomic(work / REPORT_PATH, _conversion_report(layout, bags, episodes))
    if out.exists() or out.is_symlink():  # made by someone else while we worked: never replaced
        raise UserError(f"{out}: appeared while merging; {work} holds the dataset, rename it yourself")
    work.rename(out)
    fsync_dir(out.parent)
    for name in (PARTIAL_MARKER, LOCK_NAME):  # the dataset is complete: it is the user's now
        (out / name).unlink(missing_ok=True)
    return MergeResult(out, len(episodes), total, time.monotonic() - started)
