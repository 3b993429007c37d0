"""Ros2Bag(recover=True) on ``.db3`` files a killed recorder left: with a ``-wal`` holding
committed messages never checkpointed into the database, and cut short at several byte
positions. The truth: Python's sqlite3 on the intact database (rows by id). The bag files are
never written: their bytes and the folder's names are the same after reading."""

from __future__ import annotations

import hashlib
import sqlite3
import subprocess
import sys
from pathlib import Path

import gen_ros2_bag
import numpy as np
import pytest

from spill2lerobot.bag import BagError, open_bag

KEEP = 300  # messages in the database itself; the rest only in the WAL


@pytest.fixture(scope="module")
def db3(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("db3")
    summary = gen_ros2_bag.write_ros2_bag(folder / "arm", 3.0, storage="sqlite3", seed=9, width=64, height=48)
    return summary.storage_file


def rows(path: Path, limit: int | None = None) -> dict[str, list[int]]:
    """topic -> record times, by sqlite3 on an intact database (the first ``limit`` rows by id)."""
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
        names = dict(db.execute("SELECT id, name FROM topics"))
        query = "SELECT topic_id, timestamp FROM messages ORDER BY id" + (f" LIMIT {limit}" if limit else "")
        out: dict[str, list[int]] = {}
        for topic_id, t in db.execute(query):
            out.setdefault(names[topic_id], []).append(t)
    return {topic: sorted(ts) for topic, ts in out.items()}


def snapshot(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in folder.iterdir()}


KILLED_RECORDER = """
import os, shutil, sqlite3, sys
src, dst, keep = sys.argv[1], sys.argv[2], int(sys.argv[3])
shutil.copyfile(src, dst)
db = sqlite3.connect(dst, isolation_level=None)
db.execute("PRAGMA journal_mode=WAL")
db.execute("PRAGMA wal_autocheckpoint=0")
db.execute("CREATE TEMP TABLE later AS SELECT * FROM messages WHERE id > ?", (keep,))
db.execute("DELETE FROM messages WHERE id > ?", (keep,))
db.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # the database holds the first messages
db.execute("INSERT INTO messages SELECT * FROM later")  # committed to the WAL only
os._exit(0)  # killed: no checkpoint, the -wal stays
"""


def test_a_db3_with_its_wal_gives_every_committed_message(db3, tmp_path):
    folder = tmp_path / "killed"
    folder.mkdir()
    bag = folder / "arm.db3"
    subprocess.run([sys.executable, "-c", KILLED_RECORDER, str(db3), str(bag), str(KEEP)], check=True)
    assert (folder / "arm.db3-wal").stat().st_size > 0
    before = snapshot(folder)
    expected = rows(db3)
    with open_bag(bag, recover=True) as ros2:
        assert ros2.recovery is not None and "write-ahead log" in ros2.recovery.reason
        assert ros2.recovery.messages == sum(len(ts) for ts in expected.values())
        assert str(ros2.recovery).startswith(f"recovered {ros2.recovery.messages:,} messages, ")
        assert {t: i.count for t, i in ros2.topics().items()} == {t: len(ts) for t, ts in expected.items()}
        for topic, ts in expected.items():
            np.testing.assert_array_equal(ros2.topic_times(topic), ts)
    assert snapshot(folder) == before  # no -shm, nothing checkpointed into the bag


@pytest.mark.parametrize("fraction", [0.35, 0.6, 0.85, 0.999])
def test_a_cut_short_db3_gives_what_sqlite_can_read(db3, tmp_path, fraction):
    data = db3.read_bytes()
    bag = tmp_path / "cut.db3"
    bag.write_bytes(data[: int(len(data) * fraction)])
    whole = rows(db3)
    with open_bag(bag, recover=True) as ros2:
        assert ros2.recovery is not None and "cut short" in ros2.recovery.reason
        found = {t: ros2.topic_times(t) for t, i in ros2.topics().items() if i.count}
        count = ros2.recovery.messages
        total = sum(len(ts) for ts in whole.values())
        assert 0 < count <= total
        assert count < total or fraction > 0.9  # the last pages may hold only the timestamp index
        assert sum(len(ts) for ts in found.values()) == count
        streamed = sum(1 for _ in ros2.messages(list(found)))
        assert streamed == count
    # what was read is the intact database's first rows by id (pages are filled in id order)
    assert {t: list(ts) for t, ts in found.items()} == rows(db3, count)


def test_a_db3_cut_before_any_message_is_one_line(db3, tmp_path):
    bag = tmp_path / "tiny.db3"
    bag.write_bytes(db3.read_bytes()[:4096])
    with pytest.raises(BagError) as err:
        open_bag(bag, recover=True)
    assert str(err.value).startswith(f"{bag}: ") and "\n" not in str(err.value)


def test_an_intact_db3_is_read_in_place(db3):
    with open_bag(db3, recover=True) as ros2:
        assert ros2.recovery is None
