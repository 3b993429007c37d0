"""Where stage 1 is, and how it reports progress: passed down, never kept in a global."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

ProgressFn = Callable[[str], None]


@dataclass
class Position:
    """Where stage 1 is, for the message printed when it is stopped."""

    bag: int = 0
    bags: int = 0
    chunk: int = 0
    chunks: int = 0

    def describe(self) -> str:
        if not self.bags:
            return "stopped before any bag was started"
        return f"stopped at bag {self.bag}/{self.bags}, chunk {self.chunk}/{self.chunks or '?'}"

    def start_bag(self, number: int, bags: int) -> None:
        self.bag, self.bags, self.chunk, self.chunks = number, bags, 0, 0
