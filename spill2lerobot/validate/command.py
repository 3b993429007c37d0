"""The ``validate`` command: thin, over ``validate_dataset``."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path

import click

from spill2lerobot.cli.logs import verbosity_options
from spill2lerobot.validate.run import validate_dataset

logger = logging.getLogger(__name__)


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
@click.option("--json", "as_json", is_flag=True, help="Print the findings as one JSON document (lines go to stderr).")
@verbosity_options
def validate_command(
    out: Path, against: tuple[Path, ...], config: Path | None, overrides: tuple[str, ...], as_json: bool
) -> None:
    """Check the LeRobot dataset OUT the way lerobot reads it; exit code 1 if anything is wrong."""
    from spill2lerobot.profiles import load_profile

    profile = load_profile(config, overrides) if against else None
    report = validate_dataset(out, against, profile, progress=logger.info)
    show = (lambda line: click.echo(line, err=True)) if as_json else click.echo
    for line in report.lines():
        show(line)
    show(report.summary())
    if as_json:
        click.echo(json.dumps(report.to_json(), indent=2))
    if not report.ok:
        sys.exit(1)
