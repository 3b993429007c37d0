"""The ``preview`` command: thin, over ``write_preview``."""

from __future__ import annotations

from pathlib import Path

import click


@click.command(
    name="preview",
    epilog="Example:\n\n  spill2lerobot preview /data/lerobot/kuavo_pick -o kuavo_pick.html",
)
@click.argument("out", type=click.Path(path_type=Path))
@click.option(
    "-o",
    "--output",
    "output",
    type=click.Path(path_type=Path, dir_okay=False),
    default=Path("preview.html"),
    show_default=True,
    help="The HTML file to write (self-contained: opens offline).",
)
def preview_command(out: Path, output: Path) -> None:
    """Write one HTML page showing the dataset OUT: frames, state and action, faults, pick offsets."""
    from spill2lerobot.errors import UserError

    try:
        from spill2lerobot.preview.render import write_preview
    except ModuleNotFoundError as exc:
        if exc.name not in ("matplotlib", "PIL"):
            raise
        raise UserError("preview needs matplotlib: pip install 'spill2lerobot[preview]'") from None

    if not out.is_dir():
        raise UserError(f"{out}: no such folder; pass a LeRobot dataset folder")
    size = write_preview(out, output, progress=lambda message: click.echo(message, err=True))
    click.echo(f"{output}: {size / 1e6:.1f} MB")
