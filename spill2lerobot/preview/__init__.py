"""`spill2lerobot preview`: one self-contained HTML page to look at a dataset (render.py, plots.py)."""

from __future__ import annotations

from spill2lerobot.preview.command import preview_command

__all__ = ["preview_command"]
