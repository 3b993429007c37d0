"""Where each spill file lives. The spill format is documented in docs/spill-format.md."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

SPILL_FORMAT = "spill2lerobot-spill"
SPILL_VERSION = 1


@dataclass(frozen=True)
class SpillLayout:
    root: Path

    @property
    def manifest(self) -> Path:
        return self.root / "spill.json"

    def bag_dir(self, bag_id: str) -> Path:
        return self.root / "bags" / bag_id

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
