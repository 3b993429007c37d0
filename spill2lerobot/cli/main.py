"""The process entry point: one line and an exit code for every way a command can end."""

from __future__ import annotations

import contextlib
import errno
import signal
import sys
from types import FrameType
from typing import NoReturn

import click

from spill2lerobot.cli.group import cli
from spill2lerobot.cli.logs import setup_logging
from spill2lerobot.errors import UserError
from spill2lerobot.process import prepare_process
from spill2lerobot.spill.progress import Position


class Stopped(BaseException):
    """SIGTERM: unwind like Ctrl-C so that workers stop and temporary files are removed. A
    BaseException, like KeyboardInterrupt: handlers of damaged messages (``except Exception``)
    must not take it for a bad message when it arrives during decoding."""


def _raise_on_sigterm() -> None:
    def handler(signum: int, frame: FrameType | None) -> None:
        raise Stopped()

    with contextlib.suppress(ValueError):
        signal.signal(signal.SIGTERM, handler)


def main() -> None:
    prepare_process()
    setup_logging()
    _raise_on_sigterm()
    position = Position()  # where stage 1 is: the commands keep it up to date
    try:
        cli.main(standalone_mode=False, obj=position)
    except UserError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(exc.exit_code)
    except (click.exceptions.Abort, KeyboardInterrupt):
        _stopped(position, 130)
    except Stopped:
        _stopped(position, 143)
    except OSError as exc:
        _disk_error(exc)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except Exception as exc:  # a bug: one line for the user, the traceback kept for the report
        _internal_error(exc)


def _stopped(position: Position, code: int) -> NoReturn:
    click.echo(f"{position.describe()}; run the same command to resume", err=True)
    sys.exit(code)


def _disk_error(exc: OSError) -> NoReturn:
    """Disk full or not writable: what was complete is kept (atomic writes); say how to go on."""
    where = exc.filename or "the output"
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        click.echo(
            f"error: disk full while writing {where}; free some space and run the same command to resume", err=True
        )
        sys.exit(4)
    if exc.errno in (errno.EACCES, errno.EROFS, errno.EPERM):
        click.echo(f"error: cannot write {where} ({exc.strerror}); choose a writable folder", err=True)
        sys.exit(4)
    where = f"{exc.filename}: " if exc.filename else ""
    click.echo(f"error: {where}{exc.strerror or exc}; check that path", err=True)
    sys.exit(2)


def _internal_error(exc: Exception) -> NoReturn:
    """Not an expected failure: say so in one line and keep the traceback in a file to report."""
    import tempfile
    import traceback

    with tempfile.NamedTemporaryFile("w", prefix="spill2lerobot-crash-", suffix=".txt", delete=False) as handle:
        traceback.print_exception(exc, file=handle)
    detail = " ".join(str(exc).split())[:120]
    click.echo(f"error: internal error ({type(exc).__name__}: {detail}); please report it with {handle.name}", err=True)
    sys.exit(1)
