"""Every check of a dataset, in the order each needs the one before."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from spill2lerobot.errors import UserError
from spill2lerobot.validate.against import check_against
from spill2lerobot.validate.data import DataScan, check_data
from spill2lerobot.validate.episodes import check_episodes
from spill2lerobot.validate.metadata import check_info, check_tasks
from spill2lerobot.validate.report import ProgressFn, Report
from spill2lerobot.validate.sources import sample_frames
from spill2lerobot.validate.stats_checks import check_stats
from spill2lerobot.validate.videos import check_videos

if TYPE_CHECKING:
    from spill2lerobot.profiles import Profile


def _no_progress(message: str) -> None:
    return None


def validate_dataset(
    root: Path,
    against: Iterable[Path] = (),
    profile: Profile | None = None,
    progress: ProgressFn = _no_progress,
) -> Report:
    """Run every check on the dataset at ``root``; never raises for a damaged dataset."""
    root = Path(root)
    if not root.is_dir():
        raise UserError(f"{root}: no such folder; pass a LeRobot dataset folder")
    report = Report(root)
    info = check_info(root, report)
    if info is None:
        return report
    tasks = check_tasks(root, info, report)
    episodes = check_episodes(root, info, tasks, report)
    bags = list(against)
    wanted: set[int] = set()
    if bags and episodes:
        wanted = {ep.start + k for ep in episodes for k in sample_frames(ep.length)}
    scan: DataScan | None = None
    if episodes:
        progress(f"validate: reading data of {len(episodes)} episodes")
        scan = check_data(root, info, episodes, tasks, wanted, report)
        report.episodes = len(episodes)
        report.frames = sum(ep.length for ep in episodes)
    check_stats(root, info, episodes, scan, report)
    if episodes and info.video_keys:
        check_videos(root, info, episodes, report, progress)
    if bags and episodes:
        if profile is None:
            from spill2lerobot.profiles import load_profile

            profile = load_profile()
        check_against(root, info, episodes, scan, bags, profile, report, progress)
    return report
