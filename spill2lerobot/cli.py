"""Command line: parsing and printing only; the work is done in spill/ and merge/."""

from __future__ import annotations

import contextlib
import errno
import importlib
import importlib.abc
import os
import signal
import sys
from pathlib import Path
from typing import ClassVar

import click

from spill2lerobot.errors import UserError
from spill2lerobot.profile import load_profile

CONFIG_HELP = "YAML profile (default: configs/kuavo.yaml)."
JOBS_HELP = "Bags converted in parallel (processes); the output is identical to --jobs 1."
SET_HELP = "Override a profile option, e.g. --set dataset.which_arm=left --set rosbag.chunk_size=500."


class _WithoutPandas(importlib.abc.MetaPathFinder):
    """pyarrow imports pandas, when it is installed (lerobot brings it), at its first array:
    ~0.4 s and ~40 MB (measured here) for a library this tool never uses. Commands hide it."""

    def find_spec(self, name: str, path=None, target=None):
        if name == "pandas" or name.startswith("pandas."):
            raise ModuleNotFoundError(f"No module named {name!r} (not used by spill2lerobot)", name=name)
        return None


def prepare_process() -> None:
    """Set-up of a command's process (and of --jobs workers) before the work starts."""
    if "pandas" not in sys.modules and not any(isinstance(f, _WithoutPandas) for f in sys.meta_path):
        sys.meta_path.insert(0, _WithoutPandas())
    quiet_native_libraries()


def quiet_native_libraries() -> None:
    os.environ.setdefault("SVT_LOG", "1")  # SVT-AV1 prints its whole configuration otherwise
    with contextlib.suppress(OSError, AttributeError):
        import ctypes

        # Each chunk opens new video encoders; with fewer malloc arenas the heap of the previous
        # ones is reused better. (A fixed mmap threshold lowered the peak a little more but
        # cost ~25% CPU: every frame buffer was then mapped and unmapped.)
        ctypes.CDLL("libc.so.6").mallopt(-8, 2)  # M_ARENA_MAX
    # pyarrow's own allocator keeps freed memory for reuse; our tables are small and rare.
    os.environ.setdefault("ARROW_DEFAULT_MEMORY_POOL", "system")


def _echo(message: str) -> None:
    click.echo(message, err=True)


class Stopped(Exception):
    """SIGTERM: unwind like Ctrl-C so that workers stop and temporary files are removed."""


def _raise_on_sigterm() -> None:
    def handler(signum, frame):
        raise Stopped()

    with contextlib.suppress(ValueError):
        signal.signal(signal.SIGTERM, handler)


class LazyGroup(click.Group):
    """Loads inspect and validate only when they run: convert need not pay for their imports."""

    LAZY: ClassVar[dict[str, tuple[str, str]]] = {
        "inspect": ("spill2lerobot.inspect_bag", "inspect_command"),
        "validate": ("spill2lerobot.validate", "validate_command"),
    }

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self.LAZY})

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name in self.LAZY:
            module, attribute = self.LAZY[name]
            return getattr(importlib.import_module(module), attribute)
        return super().get_command(ctx, name)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
def cli() -> None:
    """Convert ROS bags into LeRobot v3.0 datasets with flat memory, resumably."""


@cli.command(epilog="Example:\n\n  spill2lerobot stage1 demos/ /data/spill --set dataset.which_arm=left")
@click.argument("bags", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.argument("spill", type=click.Path(path_type=Path))
@click.option("--config", "config", type=click.Path(path_type=Path), help=CONFIG_HELP)
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE", help=SET_HELP)
@click.option("--restart", is_flag=True, help="Discard an existing spill and start over.")
@click.option("--jobs", "-j", type=click.IntRange(1, 64), default=1, show_default=True, help=JOBS_HELP)
def stage1(
    bags: tuple[Path, ...], spill: Path, config: Path | None, overrides: tuple[str, ...], restart: bool, jobs: int
) -> None:
    """Stream BAGS (files or folders) into spill chunks in SPILL. Re-run to resume."""
    profile = load_profile(config, overrides)  # first: a bad profile is refused before the heavy imports
    from spill2lerobot.spill.stage1 import run_stage1

    run_stage1(list(bags), spill, profile, restart=restart, jobs=jobs, progress=_echo)


@cli.command(epilog="Example:\n\n  spill2lerobot merge /data/spill /data/lerobot/kuavo_pick --episodes chunk")
@click.argument("spill", type=click.Path(path_type=Path))
@click.argument("out", type=click.Path(path_type=Path))
@click.option(
    "--episodes",
    type=click.Choice(["bag", "chunk"]),
    default="bag",
    show_default=True,
    help="One episode per bag, or one per spill chunk (the original's chunked saving).",
)
def merge(spill: Path, out: Path, episodes: str) -> None:
    """Turn SPILL into a LeRobot v3.0 dataset in OUT (video is remuxed, not re-encoded)."""
    from spill2lerobot.merge.merge import run_merge

    result = run_merge(spill, out, episodes, progress=_echo)
    _echo(f"{result.output}: {result.episodes} episodes, {result.frames} frames ({result.seconds:.1f} s)")


@cli.command(
    epilog="Example:\n\n  spill2lerobot convert demos/*.bag /data/lerobot/kuavo_pick --set rosbag.chunk_size=500"
)
@click.argument("bags", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.argument("out", type=click.Path(path_type=Path))
@click.option("--config", "config", type=click.Path(path_type=Path), help=CONFIG_HELP)
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE", help=SET_HELP)
@click.option("--episodes", type=click.Choice(["bag", "chunk"]), default="bag", show_default=True)
@click.option(
    "--spill",
    "spill",
    type=click.Path(path_type=Path),
    help="Where to spill (default: OUT.spill beside OUT, removed when done).",
)
@click.option("--restart", is_flag=True, help="Discard an existing spill and start over.")
@click.option("--jobs", "-j", type=click.IntRange(1, 64), default=1, show_default=True, help=JOBS_HELP)
def convert(
    bags: tuple[Path, ...],
    out: Path,
    config: Path | None,
    overrides: tuple[str, ...],
    episodes: str,
    spill: Path | None,
    restart: bool,
    jobs: int,
) -> None:
    """stage1 + merge in one go. Re-run the same command to resume."""
    profile = load_profile(config, overrides)  # first: a bad profile is refused before the heavy imports
    from spill2lerobot.convert import run_convert

    outcome = run_convert(
        list(bags), out, profile, episodes=episodes, spill=spill, restart=restart, jobs=jobs, progress=_echo
    )
    if outcome.merge is not None:
        result = outcome.merge
        _echo(
            f"{result.output}: {result.episodes} episodes, {result.frames} frames "
            f"(stage1 {outcome.stage1_seconds:.1f} s, merge {result.seconds:.1f} s)"
        )


@cli.command(epilog="Example:\n\n  spill2lerobot status /data/spill")
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


def _disk_error(exc: OSError) -> None:
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


def _stopped(code: int) -> None:
    from spill2lerobot.spill.stage1 import POSITION

    click.echo(f"{POSITION.describe()}; run the same command to resume", err=True)
    sys.exit(code)


def main() -> None:
    prepare_process()
    _raise_on_sigterm()
    try:
        cli.main(standalone_mode=False)
    except UserError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(exc.exit_code)
    except (click.exceptions.Abort, KeyboardInterrupt):
        _stopped(130)
    except Stopped:
        _stopped(143)
    except OSError as exc:
        _disk_error(exc)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except Exception as exc:  # a bug: one line for the user, the traceback kept for the report
        _internal_error(exc)


def _internal_error(exc: Exception) -> None:
    """Not an expected failure: say so in one line and keep the traceback in a file to report."""
    import tempfile
    import traceback

    with tempfile.NamedTemporaryFile("w", prefix="spill2lerobot-crash-", suffix=".txt", delete=False) as handle:
        traceback.print_exception(exc, file=handle)
    detail = " ".join(str(exc).split())[:120]
    click.echo(
        f"error: internal error ({type(exc).__name__}: {detail}); please report it with {handle.name}", err=True
    )
    sys.exit(1)


if __name__ == "__main__":
    main()
