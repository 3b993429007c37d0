"""Command line: parsing and printing only; the work is done in spill/ and merge/."""

from __future__ import annotations

from spill2lerobot.cli import commands  # noqa: F401  (registers the commands on the group)
from spill2lerobot.cli.group import cli
from spill2lerobot.cli.main import main

__all__ = ["cli", "main"]
