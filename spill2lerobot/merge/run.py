"""``spill2lerobot merge``: one or more spills into a new dataset, or appended to one."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Sequence
from pathlib import Path

from spill2lerobot.errors import UserError
from spill2lerobot.merge.append import append_spills
from spill2lerobot.merge.merge import MergeResult, merge_spills
from spill2lerobot.merge.plan import EpisodeMode
from spill2lerobot.safety import check_locations
from spill2lerobot.spill.layout import SpillLayout
from spill2lerobot.spill.ownership import claim_spill


def run_merge(
    spills: Path | Sequence[Path],
    out: Path,
    mode: EpisodeMode = "bag",
    progress: Callable[[str], None] = print,
    *,
    append: bool = False,
) -> MergeResult:
    """Merge SPILL(s) into OUT (a new dataset, or with ``append`` new episodes of an existing
    one), holding every spill's lock."""
    layouts = [SpillLayout(spill) for spill in ([spills] if isinstance(spills, Path) else spills)]
    check_spill_list(layouts, out)
    if out.exists() and not append:
        raise UserError(f"{out}: already exists; remove it or choose another output folder")
    with contextlib.ExitStack() as stack:
        for layout in layouts:
            stack.enter_context(claim_spill(layout, "merge", create=False))
        if append:
            return append_spills(layouts, out, mode, progress)
        return merge_spills(layouts, out, mode, progress)


def check_spill_list(layouts: list[SpillLayout], out: Path) -> None:
    """Each spill apart from OUT, and none given twice."""
    seen: dict[str, Path] = {}
    for layout in layouts:
        check_locations([], spill=layout.root, out=out)
        real = os.path.realpath(layout.root)
        if real in seen:
            raise UserError(f"{layout.root}: given twice (also as {seen[real]}); name each spill once")
        seen[real] = layout.root
