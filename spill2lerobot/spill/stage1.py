"""Stage 1: stream each bag once, align onto the timeline, spill fixed-size chunks.

Per chunk: one Parquet shard of low-dim columns, one video segment per camera, the image
statistics merge needs, then one journal line. A re-run skips finished bags and chunks, drops
the unfinished chunk's leftovers and restarts reading the bag at the journalled resume point.

This module runs the bags one after the other, or their units (a bag's chunks) in a pool of
processes for --jobs (pool.py); the planning is in planning.py, one bag's run in bag_spill.py,
what makes a chunk a unit in units.py, the chunk writer in chunks.py.
"""

from __future__ import annotations

from pathlib import Path

from spill2lerobot.encoding import available_cores
from spill2lerobot.errors import UserError
from spill2lerobot.profiles import Profile
from spill2lerobot.safety import check_locations
from spill2lerobot.spill.affinity import held_to_one_core
from spill2lerobot.spill.bag_spill import BagResult, spill_bag
from spill2lerobot.spill.budget import MemoryBudget
from spill2lerobot.spill.chunks import BagTarget
from spill2lerobot.spill.format import BagEntry
from spill2lerobot.spill.layout import SpillLayout
from spill2lerobot.spill.ownership import claim_spill, clear_unfinished
from spill2lerobot.spill.planning import prepare_spill, select_bags
from spill2lerobot.spill.pool import BagFailure, ProcessRunner, UnitPool
from spill2lerobot.spill.progress import Position, ProgressFn
from spill2lerobot.spill.ray_units import RaySettings, check_shared_path
from spill2lerobot.spill.report import bag_report, summary_line


class SomeBagsFailed(UserError):
    exit_code = 3


def run_stage1(
    inputs: list[Path],
    spill: Path,
    profile: Profile,
    *,
    restart: bool = False,
    jobs: int = 1,
    max_memory: int | None = None,
    ray: RaySettings | None = None,
    progress: ProgressFn = print,
    position: Position | None = None,
) -> list[BagResult]:
    """Spill every bag, holding the spill's lock. A bag that fails is reported and the others go
    on; then, if any failed, SomeBagsFailed lists them (their finished chunks stay; re-run to resume).
    ``position``: kept up to date, for the message printed when stage 1 is stopped."""
    if ray is not None:
        check_shared_path(spill)
    layout = SpillLayout(spill)
    bags = select_bags(inputs, profile)
    check_locations([*inputs, *bags], spill=spill)
    with claim_spill(layout, "stage 1", create=True, restart=restart):
        return spill_bags(
            layout, bags, profile, jobs=jobs, max_memory=max_memory, ray=ray, progress=progress, position=position
        )


def spill_bags(
    layout: SpillLayout,
    bags: list[Path],
    profile: Profile,
    *,
    jobs: int = 1,
    max_memory: int | None = None,
    ray: RaySettings | None = None,
    progress: ProgressFn = print,
    position: Position | None = None,
) -> list[BagResult]:
    """Stage 1 on a claimed spill (the caller holds its lock). ``jobs``: units at once (processes);
    ``max_memory``: bytes the process tree may hold, which chooses the units at once (at most
    ``jobs``, or the cores when ``jobs`` is 1) from measured figures (spill/budget.py); ``ray``:
    units as tasks of a Ray cluster (spill/ray_units.py)."""
    entries = prepare_spill(layout, profile, bags)
    if ray is not None:
        from spill2lerobot.spill.ray_units import RayRunner

        outcomes = UnitPool(layout, entries, profile, RayRunner(layout, profile, ray), progress).run()
    elif max_memory is not None:
        most = jobs if jobs > 1 else available_cores()
        runner = ProcessRunner(layout, profile, most)
        outcomes = UnitPool(layout, entries, profile, runner, progress, MemoryBudget(max_memory, most)).run()
    elif jobs > 1:
        outcomes = UnitPool(layout, entries, profile, ProcessRunner(layout, profile, jobs), progress).run()
    else:
        with held_to_one_core(profile.video.single_thread):
            outcomes = _one_by_one(layout, entries, profile, progress, position or Position())
    for outcome in outcomes:
        if isinstance(outcome, BagResult):
            r = outcome
            if r.chunks_done == r.chunks_total:
                # Every unit is committed: what is left under a writer's temporary name belongs to
                # a writer that died (a killed worker, a lost Ray node), so it goes now.
                clear_unfinished(layout, r.entry.id, range(r.chunks_total))
            r.report = bag_report(layout, r.entry)
            progress(
                f"{r.entry.name}: {r.frames} frames in {r.chunks_total} chunks ({r.chunks_this_run} written now, "
                f"{r.seconds:.1f} s, {r.bytes_read / 1e6:.1f} MB read); {summary_line(r.report)}"
            )
    failures = [o for o in outcomes if isinstance(o, BagFailure)]
    if failures:
        if len(entries) == 1:
            raise UserError(failures[0].message)
        names = ", ".join(f.entry.name for f in failures)
        raise SomeBagsFailed(
            f"{len(failures)} of {len(entries)} bags failed ({names}); the others are spilled. "
            "Fix or remove the failed bags and run the same command again"
        )
    return [o for o in outcomes if isinstance(o, BagResult)]


def _one_by_one(
    layout: SpillLayout, entries: list[BagEntry], profile: Profile, progress: ProgressFn, position: Position
) -> list[BagResult | BagFailure]:
    outcomes: list[BagResult | BagFailure] = []
    display = position.display
    if display is not None:
        display.start([entry.size for entry in entries])
    try:
        for number, entry in enumerate(entries, 1):
            position.start_bag(number, len(entries))
            progress(f"bag {number}/{len(entries)}: {entry.path}")
            if display is not None:
                display.bag_started(number, entry.name)
            outcomes.append(_one_bag(layout, entry, profile, progress, position, len(entries)))
            if display is not None:
                display.bag_finished()
    finally:
        if display is not None:
            display.close()
    return outcomes


def _one_bag(
    layout: SpillLayout, entry: BagEntry, profile: Profile, progress: ProgressFn, position: Position, bags: int
) -> BagResult | BagFailure:
    try:
        return spill_bag(BagTarget(layout, entry, profile, progress, position))
    except UserError as exc:
        if bags == 1:
            raise
        progress(f"error: {exc}")
        return BagFailure(entry, str(exc))
