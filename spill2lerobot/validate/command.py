"""The ``validate`` command: thin, over ``validate_dataset``."""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

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
@click.option(
    "--quality-json",
    "quality_json",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Also write the quality findings and score (NaN/inf, constant joints, frozen cameras) to this JSON file.",
)
@verbosity_options
def validate_command(
    out: Path,
    against: tuple[Path, ...],
    config: Path | None,
    overrides: tuple[str, ...],
    as_json: bool,
    quality_json: Path | None,
) -> None:
    """Check the LeRobot dataset OUT the way lerobot reads it, then its quality (findings and a
    0-100 score, not errors); exit code 1 if anything is wrong."""
    from spill2lerobot.profiles import load_profile

    profile = load_profile(config, overrides) if against else None
    report = validate_dataset(out, against, profile, progress=logger.info)
    show = (lambda line: click.echo(line, err=True)) if as_json else click.echo
    for line in report.lines():
        show(line)
    findings = _quality(out, quality_json, show) if report.ok and report.episodes else None
    show(report.summary())
    if as_json:
        document = report.to_json()
        if findings is not None:
            document["quality"] = findings
        click.echo(json.dumps(document, indent=2))
    if not report.ok:
        sys.exit(1)


def _quality(out: Path, json_path: Path | None, show: Callable[[str], None]) -> dict[str, Any]:
    """The quality findings (the checks above found the dataset sound), shown; written to
    ``json_path`` when given."""
    from spill2lerobot.fsutil import write_json_atomic
    from spill2lerobot.validate.quality import finding_lines, quality_findings

    findings = quality_findings(out)
    for line in finding_lines(findings):
        show(line)
    if json_path is not None:
        write_json_atomic(json_path, findings)
    return findings
