"""Options several commands share, each defined once."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

F = TypeVar("F", bound=Callable[..., Any])

CONFIG_HELP = "YAML profile (default: configs/kuavo.yaml)."
JOBS_HELP = "Units (chunks of bags) spilled in parallel (processes); the output is identical to --jobs 1."
SET_HELP = "Override a profile option, e.g. --set dataset.which_arm=left --set rosbag.chunk_size=500."
EPISODES_HELP = "One episode per bag, or one per spill chunk (the original's chunked saving)."


def profile_options(command: F) -> F:
    """--config and --set: the profile and its overrides."""
    command = click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE", help=SET_HELP)(command)
    return click.option("--config", "config", type=click.Path(path_type=Path), help=CONFIG_HELP)(command)


def restart_option(command: F) -> F:
    return click.option("--restart", is_flag=True, help="Discard an existing spill and start over.")(command)


def jobs_option(command: F) -> F:
    return click.option("--jobs", "-j", type=click.IntRange(1, 64), default=1, show_default=True, help=JOBS_HELP)(
        command
    )


MAX_MEMORY_HELP = (
    "Keep the process tree under SIZE (e.g. 600MB, 2GB): the units run at once (up to --jobs, or the cores) "
    "follow from the memory a unit is measured to take."
)


def max_memory_option(command: F) -> F:
    return click.option("--max-memory", "max_memory", metavar="SIZE", help=MAX_MEMORY_HELP)(command)


def executor_options(command: F) -> F:
    """--executor local|ray and --ray-address."""
    command = click.option(
        "--ray-address",
        "ray_address",
        metavar="ADDRESS",
        help="The Ray cluster (default: $RAY_ADDRESS, else a local Ray instance).",
    )(command)
    return click.option(
        "--executor",
        type=click.Choice(["local", "ray"]),
        default="local",
        show_default=True,
        help="Where units run: this machine's processes (--jobs), or tasks of a Ray cluster (the spill on a "
        "path every node sees).",
    )(command)


def episodes_option(explained: bool) -> Callable[[F], F]:
    """--episodes bag|chunk (``explained``: with its help text, as merge shows it)."""
    return click.option(
        "--episodes",
        type=click.Choice(["bag", "chunk"]),
        default="bag",
        show_default=True,
        help=EPISODES_HELP if explained else None,
    )


APPEND_HELP = (
    "Add the bags as new episodes of the existing v3.0 dataset OUT (earlier files unchanged; "
    "bags already in it are skipped; crash-safe: run the same command again after a stop)."
)


def append_option(command: F) -> F:
    return click.option("--append", is_flag=True, help=APPEND_HELP)(command)


def json_option(command: F) -> F:
    return click.option(
        "--json",
        "as_json",
        is_flag=True,
        help="Print what the command found and did as one JSON document on stdout (messages stay on stderr).",
    )(command)
