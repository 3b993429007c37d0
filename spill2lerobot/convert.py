"""``convert``: stage 1 and merge in one go, under one lock, then the spill is removed."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from spill2lerobot.errors import UserError
from spill2lerobot.merge.merge import MergeResult, merge_spill
from spill2lerobot.merge.plan import EpisodeMode
from spill2lerobot.profiles import Profile
from spill2lerobot.safety import SPILL_MARKER, check_locations, has_marker
from spill2lerobot.spill import journal
from spill2lerobot.spill.bag_spill import BagResult
from spill2lerobot.spill.format import BagEntry
from spill2lerobot.spill.layout import SpillLayout
from spill2lerobot.spill.ownership import claim_spill, remove_spill
from spill2lerobot.spill.planning import select_bags
from spill2lerobot.spill.progress import Position
from spill2lerobot.spill.ray_units import RaySettings, check_shared_path
from spill2lerobot.spill.stage1 import spill_bags


@dataclass
class ConvertResult:
    merge: MergeResult | None  # None: OUT was already converted by an earlier run
    stage1_seconds: float
    bags: list[BagResult] = field(default_factory=list)  # stage 1 of each bag converted
    skipped: list[str] = field(default_factory=list)  # appending: bags already in OUT


def default_spill(out: Path) -> Path:
    return out.with_name(out.name + ".spill")


def run_convert(
    inputs: list[Path],
    out: Path,
    profile: Profile,
    *,
    episodes: EpisodeMode = "bag",
    spill: Path | None = None,
    restart: bool = False,
    jobs: int = 1,
    progress: Callable[[str], None] = print,
    position: Position | None = None,
    append: bool = False,
    units: Units | None = None,
) -> ConvertResult:
    """``units``: --max-memory and --executor ray (``spill_bags``)."""
    units = units or Units()
    keep_spill = spill is not None
    if units.ray is not None:
        check_shared_path(spill or default_spill(out))
    layout = SpillLayout(spill or default_spill(out))
    bags = select_bags(inputs, profile)
    check_locations([*inputs, *bags], spill=layout.root, out=out)
    if append:
        run = _Stage1(jobs, units, progress, position)
        return _convert_append(bags, out, profile, layout, keep_spill, episodes, restart, run)
    if out.exists():
        if keep_spill or not _finished_here(layout, profile, bags):
            raise UserError(f"{out}: already exists; remove it or choose another output folder")
        # A previous run finished the dataset and was stopped while removing its spill.
        with claim_spill(layout, "convert", create=False):
            _remove(layout, progress)
        progress(f"{out}: already converted")
        return ConvertResult(None, 0.0)
    with claim_spill(layout, "convert", create=True, restart=restart):
        started = time.monotonic()
        done = _Stage1(jobs, units, progress, position).spill(layout, bags, profile)
        stage1_seconds = time.monotonic() - started
        result = merge_spill(layout, out, episodes, progress, stage1_seconds)
        if not keep_spill:
            _remove(layout, progress)
    return ConvertResult(result, stage1_seconds, done)


@dataclass(frozen=True)
class Units:
    """How stage 1 schedules units beyond --jobs."""

    max_memory: int | None = None
    ray: RaySettings | None = None


@dataclass(frozen=True)
class _Stage1:
    jobs: int
    units: Units
    progress: Callable[[str], None]
    position: Position | None

    def spill(self, layout: SpillLayout, bags: list[Path], profile: Profile) -> list[BagResult]:
        return spill_bags(
            layout,
            bags,
            profile,
            jobs=self.jobs,
            max_memory=self.units.max_memory,
            ray=self.units.ray,
            progress=self.progress,
            position=self.position,
        )


def _finished_here(layout: SpillLayout, profile: Profile, bags: list[Path]) -> bool:
    """The default spill beside OUT is ours and was made from these very bags and options."""
    if not has_marker(layout.root, SPILL_MARKER) or not layout.manifest.exists():
        return False
    entries = [BagEntry.of(i, bag) for i, bag in enumerate(bags)]
    expected = journal.make_manifest(json.loads(profile.fingerprint()), entries)
    return journal.manifest_difference(journal.read_manifest(layout), expected) is None


def _remove(layout: SpillLayout, progress: Callable[[str], None]) -> None:
    left = remove_spill(layout)
    if left:
        progress(f"{layout.root}: kept, it holds files spill2lerobot did not write (e.g. {left[0].name})")


def _convert_append(
    bags: list[Path],
    out: Path,
    profile: Profile,
    layout: SpillLayout,
    keep_spill: bool,
    episodes: EpisodeMode,
    restart: bool,
    run: _Stage1,
) -> ConvertResult:
    """Stage 1 of the bags OUT does not hold yet, then append their spill to OUT."""
    progress = run.progress
    from spill2lerobot.merge.append import append_spills, finish_interrupted, precheck
    from spill2lerobot.merge.existing import read_dataset

    finish_interrupted(out, progress)
    dataset = read_dataset(out)
    precheck(dataset, profile)
    new: list[Path] = []
    skipped: list[str] = []
    for bag in bags:
        entry = BagEntry.of(len(new), bag)
        if dataset.has_bag(entry.fingerprint or "", entry.path):
            progress(f"{entry.path}: already in {out}, skipped")
            skipped.append(entry.path)
        else:
            new.append(bag)
    if not new:
        if not keep_spill and has_marker(layout.root, SPILL_MARKER):  # a run stopped before removing it
            with claim_spill(layout, "convert", create=False):
                _remove(layout, progress)
        progress(f"{out}: every bag is already in the dataset; nothing to append")
        return ConvertResult(None, 0.0, skipped=skipped)
    with claim_spill(layout, "convert", create=True, restart=restart):
        started = time.monotonic()
        done = run.spill(layout, new, profile)
        stage1_seconds = time.monotonic() - started
        result = append_spills([layout], out, episodes, progress, stage1_seconds)
        if not keep_spill:
            _remove(layout, progress)
    return ConvertResult(result, stage1_seconds, done, skipped)
