"""The validation report: problems (the dataset is wrong), warnings and notes, each naming a file."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

MAX_LINES_PER_FILE = 20  # more problems about one file are counted, not printed
MB = 1024 * 1024

ProgressFn = Callable[[str], None]


@dataclass
class Report:
    """Problems (the dataset is wrong) and warnings (worth a look), each naming a file."""

    root: Path
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    episodes: int = 0
    frames: int = 0
    videos: int = 0
    compared: int = 0  # frames compared with source bags
    bags: int = 0
    _per_file: dict[str, int] = field(default_factory=dict)
    _hidden: dict[str, int] = field(default_factory=dict)

    def where(self, path: Path | str) -> str:
        path = Path(path)
        try:
            relative = path.relative_to(self.root).as_posix()
        except ValueError:
            return str(path)
        return str(self.root) if relative == "." else relative

    def fail(self, path: Path | str, what: str) -> None:
        where = self.where(path)
        shown = self._per_file.get(where, 0)
        self._per_file[where] = shown + 1
        if shown >= MAX_LINES_PER_FILE:
            self._hidden[where] = self._hidden.get(where, 0) + 1
            self.problems.append("")  # counted, not printed
            return
        self.problems.append(f"{where}: {what}")

    def warn(self, path: Path | str, what: str) -> None:
        self.warnings.append(f"warning: {self.where(path)}: {what}")

    @property
    def ok(self) -> bool:
        return not self.problems

    def lines(self) -> list[str]:
        out = [line for line in self.problems if line]
        out += [f"{where}: {count} more problems not shown" for where, count in self._hidden.items()]
        return out + self.warnings + self.notes

    def to_json(self) -> dict[str, object]:
        """What ``lines`` and ``summary`` say, as one document (``validate --json``)."""
        return {
            "command": "validate",
            "dataset": str(self.root),
            "ok": self.ok,
            "episodes": self.episodes,
            "frames": self.frames,
            "videos": self.videos,
            "bags": self.bags,
            "frames_compared": self.compared,
            "problems": len(self.problems),
            "problem_lines": [line for line in self.problems if line],
            "warnings": self.warnings,
            "notes": self.notes,
        }

    def summary(self) -> str:
        if self.ok:
            line = f"OK: {_count(self.episodes, 'episode')}, {_count(self.frames, 'frame')}, "
            line += f"{_count(self.videos, 'video')} checked"
            if self.bags:
                line += f", {_count(self.compared, 'frame')} compared with {_count(self.bags, 'bag')}"
            return line
        return f"FAILED: {_count(len(self.problems), 'problem')}"


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"
