"""Reading a rosbag2 ``.db3`` that a killed recorder left: with its ``-wal`` file beside it (what
SQLite committed there was never copied into the database), or cut short (the file is smaller
than its header says). rosbags opens a ``.db3`` as immutable, which ignores the WAL, and a cut
file fails when a query reaches a missing page.

``RecoveringSqlite3Reader`` is rosbags' ``Sqlite3Reader`` reading a salvaged copy instead: every
row SQLite can still read, table by table in rowid order (a table stops at its first unreadable
page), written to a new database in a temporary folder (removed on close), indexes rebuilt. The
bag itself is only read: SQLite reads a copy of it and its ``-wal`` (it would otherwise create a
``-shm`` file beside the bag, and it refuses a file shorter than its header says, so the copy's
page count is set to the pages it holds). Disk: up to twice the bag's size while salvaging, then
about its size for as long as the bag is open; memory: one row at a time.
"""

from __future__ import annotations

import shutil
import struct
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import apsw
from rosbags.rosbag2.storage_sqlite3 import Sqlite3Reader

from spill2lerobot.bag.base import Recovery

_SQLITE_MAGIC = b"SQLite format 3\x00"


@dataclass(frozen=True)
class Db3Recovery(Recovery):
    """A salvaged ``.db3``: ``messages`` are the rows SQLite could read; the fraction is of what
    the database's header (and WAL) say it holds."""

    def __str__(self) -> str:
        return f"recovered {self.messages:,} messages, {100 * self.fraction:.1f}% of the file ({self.reason})"


def declared_size(path: Path) -> int | None:
    """The database size its header declares (page size x page count; None if it does not say)."""
    with path.open("rb") as file:
        head = file.read(100)
    if len(head) < 100 or not head.startswith(_SQLITE_MAGIC):
        return None
    (page_size,) = struct.unpack_from(">H", head, 16)
    change, pages = struct.unpack_from(">II", head, 24)
    (valid_for,) = struct.unpack_from(">I", head, 92)
    if change != valid_for or pages == 0:
        return None  # a header from before SQLite 3.7.0 or one not kept up to date: no size
    return int(65536 if page_size == 1 else page_size) * int(pages)


def needs_salvage(path: Path) -> str | None:
    """Why a ``.db3`` must be salvaged (None: rosbags can read it as it is)."""
    wal = path.with_name(path.name + "-wal")
    if wal.is_file() and wal.stat().st_size > 0:
        return f"a killed recorder's write-ahead log {wal.name} ({wal.stat().st_size:,} bytes) beside it"
    size, declared = path.stat().st_size, declared_size(path)
    if declared is not None and size < declared:
        return f"cut short: {size:,} of the {declared:,} bytes its header declares"
    return None


def _copy_rows(source: Any, dest: Any, table: str) -> tuple[int, bool]:
    """Rows of ``table`` copied in rowid order until SQLite cannot read on; (rows, complete)."""
    names = [row[1] for row in source.execute(f'PRAGMA table_info("{table}")')]
    insert = f'INSERT INTO "{table}" VALUES ({",".join("?" * len(names))})'
    copied = 0
    cursor = dest.cursor()
    try:
        for row in source.execute(f'SELECT * FROM "{table}"'):
            cursor.execute(insert, row)
            copied += 1
    except apsw.Error:
        return copied, False
    return copied, True


def _readable_copy(path: Path, folder: Path) -> Path:
    """A copy SQLite will open: whole pages only, the header's page count made what the copy
    holds (SQLite refuses a file shorter than its header says), the ``-wal`` beside it."""
    copy = folder / path.name
    with path.open("rb") as src, copy.open("wb") as dst:
        shutil.copyfileobj(src, dst)
    declared, size = declared_size(path), path.stat().st_size
    if declared is not None and size < declared:
        with path.open("rb") as src:
            head = src.read(100)
        (page_size,) = struct.unpack_from(">H", head, 16)
        page_size = 65536 if page_size == 1 else page_size
        pages = size // page_size
        with copy.open("r+b") as dst:
            dst.truncate(pages * page_size)
            dst.seek(28)
            dst.write(struct.pack(">I", pages))
    wal = path.with_name(path.name + "-wal")
    if wal.is_file():
        shutil.copyfile(wal, folder / wal.name)
    return copy


def salvage(path: Path, folder: Path) -> tuple[Path, int, list[str]]:
    """Copy what SQLite can read of ``path`` (and its ``-wal``) into ``folder``: (the copy, the
    messages in it, the tables that stopped early)."""
    source_dir = folder / "source"
    source_dir.mkdir()
    source = apsw.Connection(str(_readable_copy(path, source_dir)), flags=apsw.SQLITE_OPEN_READWRITE)
    copy = folder / path.name
    dest = apsw.Connection(str(copy))
    cut: list[str] = []
    messages = 0
    try:
        schema = list(source.execute("SELECT type, name, sql FROM sqlite_master WHERE sql IS NOT NULL"))
        dest.execute("BEGIN")
        for kind, name, sql in schema:
            if kind == "table" and not name.startswith("sqlite_"):
                dest.execute(sql)
                rows, complete = _copy_rows(source, dest, name)
                messages += rows if name == "messages" else 0
                if not complete:
                    cut.append(name)
        for kind, _, sql in schema:
            if kind == "index":
                dest.execute(sql)
        dest.execute("COMMIT")
    finally:
        dest.close()
        source.close()
        shutil.rmtree(source_dir)  # the copy read from: only the salvaged database stays
    return copy, messages, cut


class RecoveringSqlite3Reader(Sqlite3Reader):
    """rosbags' Sqlite3Reader; a ``.db3`` left by a killed recorder is read from a salvaged copy."""

    recovery: Recovery | None = None
    _folder: tempfile.TemporaryDirectory[str] | None = None

    def open(self) -> None:
        source = Path(str(self.path))
        why = needs_salvage(source)
        if why is not None:
            self._folder = tempfile.TemporaryDirectory(prefix="spill2lerobot-db3-")
            try:
                self.path, messages, cut = salvage(source, Path(self._folder.name))
            except apsw.Error as exc:
                self._folder.cleanup()
                raise ValueError(f"SQLite cannot read it ({str(exc)[:120]})") from None
            wal = source.with_name(source.name + "-wal")
            found = source.stat().st_size + (wal.stat().st_size if wal.is_file() else 0)
            total = max(found, declared_size(source) or 0)
            reason = why + (f"; {', '.join(cut)} stopped at an unreadable page" if cut else "")
            self.recovery = Db3Recovery(reason, 0, messages, found, total, total - found, 0)
        super().open()

    def close(self) -> None:
        try:
            super().close()
        finally:
            if self._folder is not None:
                self._folder.cleanup()
                self._folder = None
