"""The commands: parse, call the work (spill/, merge/), print. Heavy imports happen inside."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from spill2lerobot.cli.group import cli
from spill2lerobot.cli.options import append_option, episodes_option, jobs_option, profile_options, restart_option
from spill2lerobot.profiles import load_profile
from spill2lerobot.spill.progress import Position

if TYPE_CHECKING:
    from spill2lerobot.merge.plan import EpisodeMode


def echo(message: str) -> None:
    click.echo(message, err=True)


@cli.command(epilog="\b\nExample:\n  spill2lerobot stage1 demos/ /data/spill --set dataset.which_arm=left")
@click.argument("bags", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.argument("spill", type=click.Path(path_type=Path))
@profile_options
@restart_option
@jobs_option
@click.pass_context
def stage1(
    ctx: click.Context,
    bags: tuple[Path, ...],
    spill: Path,
    config: Path | None,
    overrides: tuple[str, ...],
    restart: bool,
    jobs: int,
) -> None:
    """Stream BAGS (files or folders) into spill chunks in SPILL. Re-run to resume."""
    profile = load_profile(config, overrides)  # first: a bad profile is refused before the heavy imports
    from spill2lerobot.spill.stage1 import run_stage1

    position = ctx.ensure_object(Position)
    run_stage1(list(bags), spill, profile, restart=restart, jobs=jobs, progress=echo, position=position)


@cli.command(
    epilog="\b\nExample:\n  spill2lerobot merge /data/spill /data/lerobot/kuavo_pick --episodes chunk"
    "\n  spill2lerobot merge /data/spill_a /data/spill_b /data/lerobot/kuavo_pick"
    "\n  spill2lerobot merge /data/spill_today /data/lerobot/kuavo_pick --append"
)
@click.argument("spills", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.argument("out", type=click.Path(path_type=Path))
@episodes_option(explained=True)
@append_option
def merge(spills: tuple[Path, ...], out: Path, episodes: str, append: bool) -> None:
    """Turn SPILLS into a LeRobot v3.0 dataset in OUT (video is remuxed, not re-encoded), episodes
    in the order of the spills; with --append, add them to the existing dataset OUT."""
    from spill2lerobot.merge.run import run_merge

    result = run_merge(list(spills), out, _mode(episodes), progress=echo, append=append)
    what = "appended" if append else "episodes"
    echo(f"{result.output}: {result.episodes} {what}, {result.frames} frames ({result.seconds:.1f} s)")


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
@append_option
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
    append: bool,
) -> None:
    """stage1 + merge in one go. Re-run the same command to resume."""
    profile = load_profile(config, overrides)  # first: a bad profile is refused before the heavy imports
    from spill2lerobot.convert import run_convert

    outcome = run_convert(
        list(bags),
        out,
        profile,
        episodes=_mode(episodes),
        spill=spill,
        restart=restart,
        jobs=jobs,
        progress=echo,
        position=ctx.ensure_object(Position),
        append=append,
    )
    if outcome.merge is not None:
        result = outcome.merge
        echo(
            f"{result.output}: {result.episodes} episodes, {result.frames} frames "
            f"(stage1 {outcome.stage1_seconds:.1f} s, merge {result.seconds:.1f} s)"
        )


@cli.command(epilog="\b\nExample:\n  spill2lerobot status /data/spill")
@click.argument("spill", type=click.Path(path_type=Path))
def status(spill: Path) -> None:
    """Show, per bag of SPILL, the chunks and frames done and what remains."""
    from spill2lerobot.spill.layout import SpillLayout
    from spill2lerobot.spill.status import spill_status

    statuses = spill_status(SpillLayout(spill))
    for bag_status in statuses:
        click.echo(bag_status.line())
    done = sum(s.finished for s in statuses)
    click.echo(f"{done}/{len(statuses)} bags finished" + ("; run merge" if done == len(statuses) else ""))


def _mode(episodes: str) -> EpisodeMode:
    return "chunk" if episodes == "chunk" else "bag"
