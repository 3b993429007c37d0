"""Where stage 1 is, and how it reports progress: passed down, never kept in a global."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

ProgressFn = Callable[[str], None]


class Display(Protocol):
    """A live view of stage 1 (progress bars on a terminal). Without one, stage 1 prints a
    plain line per chunk instead."""

    def start(self, sizes: list[int]) -> None:
        """Stage 1 begins on bags of these sizes (bytes)."""

    def bag_started(self, number: int, name: str) -> None: ...

    def bag_planned(self, frames: int, done: int) -> None:
        """The bag gives ``frames`` frames, ``done`` of them spilled by an earlier run."""

    def advance(self, frames: int, bytes_read: int) -> None:
        """``frames`` more frames spilled; ``bytes_read`` of the bag read so far."""

    def bag_finished(self) -> None: ...

    def close(self) -> None: ...


@dataclass
class Position:
    """Where stage 1 is, for the message printed when it is stopped (and the live display)."""

    bag: int = 0
    bags: int = 0
    chunk: int = 0
    chunks: int = 0
    display: Display | None = None

    def describe(self) -> str:
        if not self.bags:
            return "stopped before any bag was started"
        return f"stopped at bag {self.bag}/{self.bags}, chunk {self.chunk}/{self.chunks or '?'}"

    def start_bag(self, number: int, bags: int) -> None:
        self.bag, self.bags, self.chunk, self.chunks = number, bags, 0, 0
