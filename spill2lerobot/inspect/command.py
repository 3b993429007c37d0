"""The ``inspect`` command (thin: the work is in ``report``)."""

from __future__ import annotations

import json
from pathlib import Path

import click

from spill2lerobot.cli.logs import verbosity_options
from spill2lerobot.inspect.report import inspect_bag, report_lines
from spill2lerobot.profiles import load_profile


@click.command(name="inspect", epilog="Example:\n\n  spill2lerobot inspect demo.bag --suggest > my_robot.yaml")
@click.argument("bag", type=click.Path(path_type=Path))
@click.option("--config", "config", type=click.Path(path_type=Path), help="YAML profile (default: configs/kuavo.yaml).")
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE", help="Override a profile option.")
@click.option("--suggest", "want_profile", is_flag=True, help="Print a starting profile (YAML) adapted to this bag.")
@click.option("--json", "as_json", is_flag=True, help="Print the facts as one JSON document.")
@verbosity_options
def inspect_command(
    bag: Path, config: Path | None, overrides: tuple[str, ...], want_profile: bool, as_json: bool
) -> None:
    """Show what BAG holds (topics, rates, gaps, image sizes) and what the profile can make of it.

    Reads only the bag's index and one image per camera (a few MB of a GB bag), so it answers
    in about a second where a full read of a 30 GB bag takes minutes.
    """
    profile = load_profile(config, overrides)
    report = inspect_bag(bag, profile, str(config) if config else "", overrides, with_yaml=want_profile)
    if as_json:
        click.echo(json.dumps(report.to_json(with_yaml=want_profile), indent=2))
    elif want_profile:
        click.echo(report.suggestion.yaml, nl=False)
    else:
        for line in report_lines(report):
            click.echo(line)
