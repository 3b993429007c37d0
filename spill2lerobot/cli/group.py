"""The command group: lazy loading of inspect and validate, --version, the exit codes."""

from __future__ import annotations

import importlib
from typing import ClassVar

import click

from spill2lerobot.cli.logs import verbosity_options

EXIT_CODES = """\b
Exit codes:
  0    ok
  1    internal error (a bug: please report it)
  2    bad input or refused (profile, bag, spill, output folder)
  3    some bags failed (the others are converted)
  4    disk full or not writable
  130  stopped with Ctrl-C
  143  stopped with SIGTERM"""


class LazyGroup(click.Group):
    """Loads inspect and validate only when they run: convert need not pay for their imports."""

    LAZY: ClassVar[dict[str, tuple[str, str]]] = {
        "inspect": ("spill2lerobot.inspect", "inspect_command"),
        "validate": ("spill2lerobot.validate", "validate_command"),
        "preview": ("spill2lerobot.preview", "preview_command"),
    }

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self.LAZY})

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name in self.LAZY:
            module, attribute = self.LAZY[name]
            command: click.Command = getattr(importlib.import_module(module), attribute)
            return command
        return super().get_command(ctx, name)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]}, epilog=EXIT_CODES)
@click.version_option(package_name="spill2lerobot", prog_name="spill2lerobot")
@verbosity_options
def cli() -> None:
    """Convert ROS bags into LeRobot v3.0 datasets with flat memory, resumably."""
