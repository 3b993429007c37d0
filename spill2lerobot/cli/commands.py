"""The commands: parse, call the work (spill/, merge/), print. Heavy imports happen inside."""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from spill2lerobot.cli.group import cli
from spill2lerobot.cli.logs import quiet, verbosity_options
from spill2lerobot.cli.options import (
    append_option,
    episodes_option,
    executor_options,
    jobs_option,
    json_option,
    max_memory_option,
    profile_options,
    restart_option,
)
from spill2lerobot.cli.results import convert_json, merge_json, print_json, stage1_json, status_json
from spill2lerobot.profiles import load_profile
from spill2lerobot.spill.progress import Position

if TYPE_CHECKING:
    from spill2lerobot.merge.plan import EpisodeMode
    from spill2lerobot.profiles import Profile

logger = logging.getLogger(__name__)


def echo(message: str) -> None:
    logger.info(message)


def _memory(max_memory: str | None) -> int | None:
    from spill2lerobot.spill.budget import parse_size

    return None if max_memory is None else parse_size(max_memory)


def _live(position: Position, jobs: int) -> Position:
    """Progress bars when stderr is a terminal (and not -q; --jobs workers print plain lines)."""
    if sys.stderr.isatty() and not quiet() and jobs == 1:
        from spill2lerobot.cli.display import TerminalDisplay

        position.display = TerminalDisplay()
    return position


@cli.command(epilog="\b\nExample:\n  spill2lerobot stage1 demos/ /data/spill --set dataset.which_arm=left")
@click.argument("bags", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.argument("spill", type=click.Path(path_type=Path))
@profile_options
@restart_option
@jobs_option
@max_memory_option
@executor_options
@json_option
@verbosity_options
@click.pass_context
def stage1(
    ctx: click.Context,
    bags: tuple[Path, ...],
    spill: Path,
    config: Path | None,
    overrides: tuple[str, ...],
    restart: bool,
    jobs: int,
    max_memory: str | None,
    executor: str,
    ray_address: str | None,
    as_json: bool,
) -> None:
    """Stream BAGS (files or folders) into spill chunks in SPILL. Re-run to resume."""
    profile = load_profile(config, overrides)  # first: a bad profile is refused before the heavy imports
    memory = _memory(max_memory)
    from spill2lerobot.spill.ray_units import RaySettings
    from spill2lerobot.spill.stage1 import run_stage1

    ray = RaySettings(ray_address) if executor == "ray" else None
    position = _live(ctx.ensure_object(Position), jobs if memory is None and ray is None else 2)
    done = run_stage1(
        list(bags),
        spill,
        profile,
        restart=restart,
        jobs=jobs,
        max_memory=memory,
        ray=ray,
        progress=echo,
        position=position,
    )
    if as_json:
        print_json(stage1_json(str(spill), done))


@cli.command(
    epilog="\b\nExample:\n  spill2lerobot merge /data/spill /data/lerobot/kuavo_pick --episodes chunk"
    "\n  spill2lerobot merge /data/spill_a /data/spill_b /data/lerobot/kuavo_pick"
    "\n  spill2lerobot merge /data/spill_today /data/lerobot/kuavo_pick --append"
)
@click.argument("spills", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.argument("out", type=click.Path(path_type=Path))
@episodes_option(explained=True)
@append_option
@json_option
@verbosity_options
def merge(spills: tuple[Path, ...], out: Path, episodes: str, append: bool, as_json: bool) -> None:
    """Turn SPILLS into a LeRobot v3.0 dataset in OUT (video is remuxed, not re-encoded), episodes
    in the order of the spills; with --append, add them to the existing dataset OUT."""
    from spill2lerobot.merge.run import run_merge

    result = run_merge(list(spills), out, _mode(episodes), progress=echo, append=append)
    what = "appended" if append else "episodes"
    echo(f"{result.output}: {result.episodes} {what}, {result.frames} frames ({result.seconds:.1f} s)")
    if as_json:
        print_json({"command": "merge", **(merge_json(result, append) or {})})


@cli.command(
    epilog="\b\nExample:\n  spill2lerobot convert demos/*.bag /data/lerobot/kuavo_pick --set rosbag.chunk_size=500"
)
@click.argument("bags", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.argument("out", type=click.Path(path_type=Path))
@profile_options
@episodes_option(explained=False)
@click.option(
    "--spill",
    "spill",
    type=click.Path(path_type=Path),
    help="Where to spill (default: OUT.spill beside OUT, removed when done).",
)
@restart_option
@jobs_option
@max_memory_option
@executor_options
@append_option
@click.option("--dry-run", is_flag=True, help="Plan every bag from its index and report; write nothing.")
@json_option
@verbosity_options
@click.pass_context
def convert(
    ctx: click.Context,
    bags: tuple[Path, ...],
    out: Path,
    config: Path | None,
    overrides: tuple[str, ...],
    episodes: str,
    spill: Path | None,
    restart: bool,
    jobs: int,
    max_memory: str | None,
    executor: str,
    ray_address: str | None,
    append: bool,
    dry_run: bool,
    as_json: bool,
) -> None:
    """stage1 + merge in one go. Re-run the same command to resume."""
    profile = load_profile(config, overrides)  # first: a bad profile is refused before the heavy imports
    if dry_run:
        _dry_run(list(bags), out, profile, spill, append, as_json)
        return
    from spill2lerobot.convert import Units, default_spill, run_convert
    from spill2lerobot.spill.ray_units import RaySettings

    units = Units(_memory(max_memory), RaySettings(ray_address) if executor == "ray" else None)

    outcome = run_convert(
        list(bags),
        out,
        profile,
        episodes=_mode(episodes),
        spill=spill,
        restart=restart,
        jobs=jobs,
        progress=echo,
        position=_live(ctx.ensure_object(Position), jobs if units == Units() else 2),
        append=append,
        units=units,
    )
    if outcome.merge is not None:
        result = outcome.merge
        echo(
            f"{result.output}: {result.episodes} episodes, {result.frames} frames "
            f"(stage1 {outcome.stage1_seconds:.1f} s, merge {result.seconds:.1f} s)"
        )
    if as_json:
        print_json(convert_json(str(spill or default_spill(out)), outcome, append))


def _dry_run(bags: list[Path], out: Path, profile: Profile, spill: Path | None, append: bool, as_json: bool) -> None:
    """convert --dry-run: the plan of every bag, nothing written; exit 2 (one bag) or 3 on errors."""
    from spill2lerobot.convert import default_spill
    from spill2lerobot.dry_run import dry_run
    from spill2lerobot.errors import UserError
    from spill2lerobot.safety import check_locations
    from spill2lerobot.spill.planning import select_bags

    check_locations([*bags, *select_bags(bags, profile)], spill=spill or default_spill(out), out=out)
    if out.exists() and not append:
        raise UserError(f"{out}: already exists; remove it or choose another output folder")
    planned = dry_run(bags, profile)
    for bag in planned:
        echo(bag.line())
    failed = [bag for bag in planned if bag.error is not None]
    frames = sum(bag.frames for bag in planned if bag.error is None)
    echo(f"dry run: {len(planned) - len(failed)}/{len(planned)} bags ready, {frames} frames; nothing written")
    if as_json:
        print_json({"command": "convert", "dry_run": True, "bags": [b.to_json() for b in planned], "frames": frames})
    if failed:
        sys.exit(2 if len(planned) == 1 else 3)


@cli.command(epilog="\b\nExample:\n  spill2lerobot status /data/spill")
@click.argument("spill", type=click.Path(path_type=Path))
@json_option
@verbosity_options
def status(spill: Path, as_json: bool) -> None:
    """Show, per bag of SPILL, the chunks and frames done and what remains."""
    from spill2lerobot.spill.layout import SpillLayout
    from spill2lerobot.spill.status import spill_status

    statuses = spill_status(SpillLayout(spill))
    show = echo if as_json else click.echo  # with --json the lines go to stderr
    for bag_status in statuses:
        show(bag_status.line())
    done = sum(s.finished for s in statuses)
    show(f"{done}/{len(statuses)} bags finished" + ("; run merge" if done == len(statuses) else ""))
    if as_json:
        print_json(status_json(str(spill), statuses))


def _mode(episodes: str) -> EpisodeMode:
    return "chunk" if episodes == "chunk" else "bag"
