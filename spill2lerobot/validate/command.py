"""The ``validate`` command: thin, over ``validate_dataset``."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from spill2lerobot.validate.run import validate_dataset


@click.command(
    name="validate",
    epilog="Example:\n\n  spill2lerobot validate /data/lerobot/kuavo_pick --against demos/",
)
@click.argument("out", type=click.Path(path_type=Path))
@click.option(
    "--against",
    "against",
    multiple=True,
    type=click.Path(path_type=Path),
    metavar="BAG_OR_DIR",
    help="Also compare sampled frames with these source bags (files or folders, as given to convert).",
)
@click.option("--config", "config", type=click.Path(path_type=Path), help="Profile used for the conversion.")
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE", help="Options used for the conversion.")
@click.option(
    "--quality-json",
    "quality_json",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Also write the quality findings and score (NaN/inf, constant joints, frozen cameras) to this JSON file.",
)
def validate_command(
    out: Path, against: tuple[Path, ...], config: Path | None, overrides: tuple[str, ...], quality_json: Path | None
) -> None:
    """Check the LeRobot dataset OUT the way lerobot reads it, then its quality (findings and a
    0-100 score, not errors); exit code 1 if anything is wrong."""
    from spill2lerobot.profiles import load_profile

    profile = load_profile(config, overrides) if against else None
    report = validate_dataset(out, against, profile, progress=lambda message: click.echo(message, err=True))
    for line in report.lines():
        click.echo(line)
    if report.ok and report.episodes:  # the quality checks read what the checks above found sound
        _quality(out, quality_json)
    click.echo(report.summary())
    if not report.ok:
        sys.exit(1)


def _quality(out: Path, json_path: Path | None) -> None:
    """Print the quality findings; write them to ``json_path`` when given."""
    from spill2lerobot.fsutil import write_json_atomic
    from spill2lerobot.validate.quality import finding_lines, quality_findings

    findings = quality_findings(out)
    for line in finding_lines(findings):
        click.echo(line)
    if json_path is not None:
        write_json_atomic(json_path, findings)
