"""The suite's inputs, made once per session and only when a selected case needs them.

Bags are 3-second generated Kuavo bags (``scripts/gen_kuavo_bag.py``) with 64x48 images; with
the suite's fast settings (``harness.FAST``) one converts to 29 frames in 4 chunks of 8 in about
a second. Hostile variants (bombs, damaged records) are derived from them by ``derived``. The
finished spill and the dataset are made by the command line itself, so they carry whatever
markers the tool writes. Cases copy what they use into their own folder.
"""

from __future__ import annotations

import json
import shutil
import threading
from collections.abc import Callable
from pathlib import Path

import harness
from gen_kuavo_bag import write_kuavo_bag
from gen_ros2_bag import write_ros2_bag

SECONDS = 3.0
SIZE = {"width": 64, "height": 48}

# name -> how to write it
BAGS: dict[str, Callable[[Path], object]] = {
    "a": lambda p: write_kuavo_bag(p, SECONDS, seed=1, **SIZE),
    "b": lambda p: write_kuavo_bag(p, SECONDS, seed=2, **SIZE),
    "bz2": lambda p: write_kuavo_bag(p, SECONDS, seed=1, compression="bz2", **SIZE),
    "lz4": lambda p: write_kuavo_bag(p, SECONDS, seed=1, compression="lz4", **SIZE),
    "png": lambda p: write_kuavo_bag(p, SECONDS, seed=1, image_format="png", **SIZE),
    "rgb8": lambda p: write_kuavo_bag(p, SECONDS, seed=1, image_format="rgb8", **SIZE),
    "depth": lambda p: write_kuavo_bag(p, SECONDS, seed=1, depth=True, **SIZE),
    "depth16": lambda p: write_kuavo_bag(p, SECONDS, seed=1, depth=True, depth_encoding="16UC1", **SIZE),
}


class Assets:
    def __init__(self, root: Path) -> None:
        self.root = root
        self._made: dict[str, Path] = {}
        self._lock = threading.RLock()  # spill() makes bag() inside

    def _once(self, name: str, make: Callable[[Path], object]) -> Path:
        with self._lock:
            if name not in self._made:
                path = self.root / name
                make(path)
                self._made[name] = path
            return self._made[name]

    def bag(self, name: str) -> Path:
        return self._once(f"{name}.bag", BAGS[name])

    def derived(self, name: str, make: Callable[[Path], object]) -> Path:
        """A hostile file made once by ``make(path)`` (name it uniquely)."""
        return self._once(f"derived-{name}", make)

    def ros2_bag(self) -> Path:
        return self._once("arm-ros2", lambda p: write_ros2_bag(p, SECONDS, storage="mcap", seed=1, **SIZE))

    def spill(self) -> Path:
        """A finished spill of bag 'a' made by ``stage1`` with the fast settings."""

        def make(path: Path) -> None:
            _cli(["stage1", str(self.bag("a")), str(path), *harness.FAST_ARGS], self.root)

        return self._once("spill-a", make)

    def dataset(self) -> Path:
        """The dataset merged from ``spill()``."""
        spill = self.spill()
        return self._once("dataset-a", lambda p: _cli(["merge", str(spill), str(p)], self.root))


def _cli(args: list[str], cwd: Path) -> None:
    result = harness.run(args, cwd)
    if result.returncode != 0:
        raise RuntimeError(f"building a suite input failed:\n{result.describe()}")


# --------------------------------------------------------------------------------------------
# Putting inputs into a case's folder
# --------------------------------------------------------------------------------------------


def put_bag(case: harness.CaseDir, source: Path, dest: str, protect: bool = True) -> Path:
    """Copy a bag (file or rosbag2 folder) into the case; it must stay byte-for-byte as it is."""
    target = case.path(dest)
    target.parent.mkdir(parents=True, exist_ok=True)
    if source.is_dir():
        shutil.copytree(source, target)
    else:
        shutil.copy2(source, target)
    if protect:
        case.protect(dest)
    return target


def put_spill(case: harness.CaseDir, assets: Assets, dest: str = "spill", bag: str = "bags/a.bag") -> Path:
    """The session's finished spill, copied to ``dest``, made from the case's own copy of bag 'a'
    at ``bag`` (its path is rewritten in the spill's JSON files; size and mtime are the same)."""
    source = assets.spill()
    if not case.path(bag).exists():
        put_bag(case, assets.bag("a"), bag)
    target = case.path(dest)
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copytree(source, target, symlinks=True)
    old = json.dumps(str(assets.bag("a")))[1:-1]
    new = json.dumps(str(case.path(bag).resolve()))[1:-1]
    for path in target.rglob("*.json"):
        text = path.read_text()
        if old in text:
            path.write_text(text.replace(old, new))
    return target


def keep_chunks(spill: Path, chunks: int, bag_id: str = "0000") -> None:
    """An interrupted spill: the journal keeps its first ``chunks`` lines and the later chunks
    lose their statistics file, their commit (their other files stay behind as leftovers, as a
    crash leaves them)."""
    journal = spill / "bags" / bag_id / "journal.jsonl"
    lines = journal.read_text().splitlines(keepends=True)
    journal.write_text("".join(lines[:chunks]))
    for chunk in range(chunks, len(lines)):
        (spill / "bags" / bag_id / f"chunk-{chunk:05d}.stats.json").unlink(missing_ok=True)
