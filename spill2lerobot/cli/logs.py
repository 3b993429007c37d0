"""Messages go through ``logging`` (a logger per module); the command line sets up one handler
on stderr. -q shows warnings and errors only, -v adds debug messages."""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from typing import Any, TypeVar

import click

F = TypeVar("F", bound=Callable[..., Any])

ROOT_LOGGER = "spill2lerobot"
LEVELS = {-1: logging.WARNING, 0: logging.INFO, 1: logging.DEBUG}


class _StderrHandler(logging.Handler):
    """One line per message on stderr; above the progress bars when stderr is a terminal."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            message = self.format(record)
            if sys.stderr.isatty():
                from tqdm import tqdm

                tqdm.write(message, file=sys.stderr)
            else:
                sys.stderr.write(message + "\n")
                sys.stderr.flush()
        except Exception:  # a closed stream must not stop the conversion
            self.handleError(record)


def setup_logging(verbosity: int = 0) -> None:
    """The handler of the package's root logger (idempotent); ``verbosity``: -1, 0 or 1."""
    logger = logging.getLogger(ROOT_LOGGER)
    if not any(isinstance(h, _StderrHandler) for h in logger.handlers):
        handler = _StderrHandler()
        handler.setFormatter(logging.Formatter("%(message)s"))
        logger.addHandler(handler)
        logger.propagate = False
    logger.setLevel(LEVELS[max(-1, min(1, verbosity))])


def quiet() -> bool:
    return logging.getLogger(ROOT_LOGGER).getEffectiveLevel() > logging.INFO


def _set_quiet(ctx: click.Context, param: click.Parameter, value: bool) -> None:
    if value:
        setup_logging(-1)


def _set_verbose(ctx: click.Context, param: click.Parameter, value: int) -> None:
    if value:
        setup_logging(1)


def verbosity_options(command: F) -> F:
    """-q/--quiet and -v/--verbose, on the group and on each command (the command's win)."""
    command = click.option(
        "-v", "--verbose", count=True, expose_value=False, callback=_set_verbose, help="Also show debug messages."
    )(command)
    return click.option(
        "-q",
        "--quiet",
        is_flag=True,
        expose_value=False,
        callback=_set_quiet,
        help="Only warnings and errors (no progress).",
    )(command)
