"""Where each spill file lives. The spill format is documented in docs/spill-format.md."""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path

from spill2lerobot.errors import UserError
from spill2lerobot.safety import SPILL_MARKER, is_bag_id

SPILL_FORMAT = "spill2lerobot-spill"
SPILL_VERSION = 1


@dataclass(frozen=True)
class SpillLayout:
    root: Path

    @property
    def manifest(self) -> Path:
        return self.root / "spill.json"

    @property
    def marker(self) -> Path:
        return self.root / SPILL_MARKER

    def bag_dir(self, bag_id: str) -> Path:
        """bags/<id>: ids are digits, so a path read from a spill cannot lead out of it; the folder
        must be a real one (a symbolic link there is refused: it could point anywhere)."""
        if not is_bag_id(bag_id):
            raise UserError(f"{self.manifest}: bag id {bag_id[:20]!r} is not ours; start over with --restart")
        folder = self.root / "bags" / bag_id
        for part in (folder.parent, folder):
            try:
                mode = os.lstat(part).st_mode
            except FileNotFoundError:
                return folder
            if not stat.S_ISDIR(mode):
                raise UserError(f"{part}: not a folder (a symbolic link or a file); start over with --restart")
        return folder

    def plan(self, bag_id: str) -> Path:
        return self.bag_dir(bag_id) / "plan.json"

    def report(self, bag_id: str) -> Path:
        return self.bag_dir(bag_id) / "report.json"

    def journal(self, bag_id: str) -> Path:
        return self.bag_dir(bag_id) / "journal.jsonl"

    def shard(self, bag_id: str, chunk: int) -> Path:
        return self.bag_dir(bag_id) / f"chunk-{chunk:05d}.parquet"

    def segment(self, bag_id: str, chunk: int, camera: str) -> Path:
        return self.bag_dir(bag_id) / f"chunk-{chunk:05d}.{camera}.mp4"

    def chunk_stats(self, bag_id: str, chunk: int) -> Path:
        return self.bag_dir(bag_id) / f"chunk-{chunk:05d}.stats.json"

    def samples(self, bag_id: str, chunk: int, camera: str) -> Path:
        """The statistics pixels of the chunk's frames a bag episode samples (merge's float32 sums)."""
        return self.bag_dir(bag_id) / f"chunk-{chunk:05d}.{camera}.samples.npy"
