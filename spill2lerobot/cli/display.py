"""Progress bars on a terminal (tqdm, on stderr): all bags and the current bag, with frames/s,
MB/s read and ETA. Used only when stderr is a terminal; otherwise stage 1 prints plain lines."""

from __future__ import annotations

import shutil
import sys
import time
from typing import Any

MB = 1e6
BAR_FORMAT = "{desc}: {percentage:3.0f}%|{bar}| {n:.1f}/{total:.1f} MB of bags [{elapsed}<{remaining}{postfix}]"


class TerminalDisplay:
    """spill.progress.Display drawn with two tqdm bars: overall (MB of bag files, so that
    bags of any length weigh what they cost) and the current bag (frames)."""

    def __init__(self) -> None:
        self._sizes: list[int] = []
        self._overall: Any = None
        self._bag: Any = None
        self._size = 0
        self._frames = 0
        self._done_before = 0.0  # MB of the bags finished
        self._frames_total = 0
        self._bytes_total = 0
        self._bytes_of_bag = 0
        self._started = time.monotonic()
        self._bag_started = time.monotonic()

    def start(self, sizes: list[int]) -> None:
        from tqdm import tqdm

        self._sizes, self._started = sizes, time.monotonic()
        self._overall = tqdm(
            total=round(sum(sizes) / MB, 1),
            unit="MB",
            desc=f"{len(sizes)} bag{'s' if len(sizes) != 1 else ''}",
            file=sys.stderr,
            **_size(),
            position=0,
            leave=False,
            bar_format=BAR_FORMAT,
        )

    def bag_started(self, number: int, name: str) -> None:
        from tqdm import tqdm

        self._size = self._sizes[number - 1] if number <= len(self._sizes) else 0
        self._bytes_of_bag, self._bag_started = 0, time.monotonic()
        self._bag = tqdm(total=0, unit="frame", desc=name, file=sys.stderr, **_size(), position=1, leave=False)

    def bag_planned(self, frames: int, done: int) -> None:
        if self._bag is not None:
            self._frames = frames
            self._bag.reset(total=frames)
            self._bag.update(done)

    def advance(self, frames: int, bytes_read: int) -> None:
        self._frames_total += frames
        self._bytes_total += bytes_read - self._bytes_of_bag
        self._bytes_of_bag = bytes_read
        if self._bag is not None:
            elapsed = max(1e-9, time.monotonic() - self._bag_started)
            self._bag.set_postfix_str(f"{bytes_read / MB / elapsed:.1f} MB/s read", refresh=False)
            self._bag.update(frames)
        if self._overall is not None and self._frames:
            fraction = min(1.0, (self._bag.n if self._bag is not None else 0) / self._frames)
            self._set_overall(self._done_before + fraction * self._size / MB)

    def bag_finished(self) -> None:
        self._done_before += self._size / MB
        self._set_overall(self._done_before)
        if self._bag is not None:
            self._bag.close()
            self._bag = None

    def close(self) -> None:
        for bar in (self._bag, self._overall):
            if bar is not None:
                bar.close()
        self._bag = self._overall = None

    def _set_overall(self, megabytes: float) -> None:
        if self._overall is None:
            return
        elapsed = max(1e-9, time.monotonic() - self._started)
        self._overall.set_postfix_str(
            f"{self._frames_total / elapsed:.1f} frames/s, {self._bytes_total / MB / elapsed:.1f} MB/s read",
            refresh=False,
        )
        self._overall.update(round(megabytes, 1) - self._overall.n)


def _size() -> dict[str, int]:
    """The terminal's size (80x24 when it reports none: a fresh pseudo-terminal says 0x0, for
    which tqdm would draw nothing)."""
    size = shutil.get_terminal_size()
    return {"ncols": size.columns, "nrows": size.lines}
