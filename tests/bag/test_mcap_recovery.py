"""Ros2Bag(recover=True) on ``.mcap`` files cut short (no footer, no summary), as a killed recorder
leaves them, against rosbags on the intact file.

The truth for a cut at byte ``n``: the chunks the intact file's summary (ChunkIndex records, read
by rosbags) places entirely before ``n``, and their messages as rosbags' own chunk reader gives
them. Cut positions: inside a chunk, inside the MessageIndex records after one (its index then
has to be rebuilt from the chunk), right after them, at the end of the data, and seeded random
positions; a ROS2-written zstd folder of five files with its last file cut short.
"""

from __future__ import annotations

import random
import shutil
from collections import defaultdict
from pathlib import Path

import gen_kuavo_bag
import gen_ros2_bag
import numpy as np
import pytest
from rosbags.rosbag2 import Reader
from rosbags.rosbag2.storage_mcap import MAXSIZE, McapReader, msgsrc
from support import ROOT

from spill2lerobot.bag import BagError, open_bag
from spill2lerobot.bag.ros2 import Ros2Bag

REAL_ROS2 = ROOT / "tests" / "data" / "real-bags" / "ros2"


@pytest.fixture(scope="module")
def mcap(tmp_path_factory) -> Path:
    """A Kuavo bag with depth as a rosbag2 mcap: about ten 1 MB chunks."""
    folder = tmp_path_factory.mktemp("mcap")
    ros1 = folder / "k.bag"
    gen_kuavo_bag.write_kuavo_bag(ros1, 3.0, seed=7, width=160, height=120, depth=True)
    ros2 = gen_ros2_bag.convert_ros1_bag(ros1, folder / "k_ros2")
    return next(ros2.glob("*.mcap"))


def truth(path: Path, cut: int) -> tuple[int, dict[str, list[int]]]:
    """(complete chunks, topic -> record times of their messages) by rosbags on the intact file."""
    reader = McapReader(path)
    reader.open()
    try:
        channels = {conn.id: conn for conn in reader.connections}
        complete = [c for c in reader.chunks if c.chunk_start_offset + c.chunk_length <= cut]
        times: dict[str, list[int]] = defaultdict(list)
        for chunk in complete:
            assert reader.bio is not None
            for msg in msgsrc(chunk, channels, 0, MAXSIZE, reader.bio):
                if msg.offset and msg.connection is not None:
                    times[msg.connection.topic].append(msg.timestamp)
        return len(complete), {topic: sorted(ts) for topic, ts in times.items()}
    finally:
        reader.close()


def cut_positions(path: Path) -> list[int]:
    reader = McapReader(path)
    reader.open()
    chunks, data_end = list(reader.chunks), reader.data_end
    reader.close()
    assert len(chunks) >= 4
    second, third = chunks[1], chunks[2]
    end_of = second.chunk_start_offset + second.chunk_length
    rng = random.Random(18)
    return [
        second.chunk_start_offset + second.chunk_length // 2,  # inside a chunk
        end_of + 20,  # inside the MessageIndex records after it
        third.chunk_start_offset,  # right after them
        data_end,  # every chunk, no summary
        *(rng.randrange(chunks[0].chunk_start_offset + chunks[0].chunk_length + 1, data_end) for _ in range(4)),
    ]


def cut_copy(path: Path, cut: int, dest: Path) -> Path:
    dest.write_bytes(path.read_bytes()[:cut])
    return dest


def test_cut_short_mcaps_recover_every_complete_chunk(mcap, tmp_path):
    full_size = mcap.stat().st_size
    for cut in cut_positions(mcap):
        chunks, times = truth(mcap, cut)
        copy = cut_copy(mcap, cut, tmp_path / f"cut_{cut}.mcap")
        with open_bag(copy, recover=True) as bag:
            assert bag.recovery is not None, cut
            assert bag.recovery.chunks == chunks, cut
            assert bag.recovery.messages == sum(len(ts) for ts in times.values()), cut
            assert bag.recovery.bytes_total == cut < full_size
            assert str(bag.recovery).startswith(f"recovered {chunks:,} chunks, {bag.recovery.messages:,} messages, ")
            assert "% of the file" in str(bag.recovery)
            counts = {topic: info.count for topic, info in bag.topics().items() if info.count}
            assert counts == {topic: len(ts) for topic, ts in times.items()}, cut
            for topic, expected in times.items():
                np.testing.assert_array_equal(bag.topic_times(topic), expected)
                assert bag.last_time(topic) == expected[-1]
            streamed = defaultdict(list)
            for msg in bag.messages(list(times)):
                streamed[msg.topic].append(msg.time_ns)
            assert streamed == times, cut
            assert bag.start_ns == min(ts[0] for ts in times.values())
            assert bag.end_ns == max(ts[-1] for ts in times.values())
        copy.unlink()


def test_an_intact_mcap_is_read_through_its_summary(mcap):
    with Ros2Bag(mcap, recover=True) as bag:
        assert bag.recovery is None


def test_a_cut_mcap_without_a_complete_chunk_is_one_line(mcap, tmp_path):
    copy = cut_copy(mcap, 200, tmp_path / "tiny.mcap")
    with pytest.raises(BagError) as err:
        open_bag(copy, recover=True)
    message = str(err.value)
    assert message.startswith(f"{copy}: no complete message to recover") and "\n" not in message


def test_without_recover_a_cut_mcap_is_refused(mcap, tmp_path):
    copy = cut_copy(mcap, mcap.stat().st_size // 2, tmp_path / "half.mcap")
    with pytest.raises(BagError, match="cannot read this ROS2 bag"):
        open_bag(copy, recover=False)


@pytest.mark.parametrize("keep", ["half", "data"])  # half its one chunk, or all its data
def test_a_rosbag2_folder_with_its_last_file_cut_short(tmp_path, keep):
    """ROS 2's own recorder wrote these five zstd files; the last loses its end."""
    source = REAL_ROS2 / "wbag_mcap_zstd_5files"
    folder = tmp_path / "wbag"
    shutil.copytree(source, folder)
    for path in folder.iterdir():
        path.chmod(0o644)
    last = folder / "wbag_4.mcap"
    reader = McapReader(last)
    reader.open()
    data_end, chunk = reader.data_end, reader.chunks[0]
    reader.close()
    cut = chunk.chunk_start_offset + chunk.chunk_length // 2 if keep == "half" else data_end
    last.write_bytes(last.read_bytes()[:cut])
    expected: dict[str, list[int]] = defaultdict(list)
    for name in ("wbag_0.mcap", "wbag_1.mcap", "wbag_2.mcap", "wbag_3.mcap", "wbag_4.mcap"):
        _, times = truth(source / name, cut if name == "wbag_4.mcap" else MAXSIZE)
        for topic, ts in times.items():
            expected[topic].extend(ts)
    with Reader(source) as intact:
        whole = sum(conn.msgcount for conn in intact.connections)
    with open_bag(folder, recover=True) as bag:
        assert bag.recovery is not None
        assert bag.recovery.chunks == (0 if keep == "half" else 1)
        counts = {topic: info.count for topic, info in bag.topics().items()}
        assert counts == {topic: len(ts) for topic, ts in expected.items()}
        assert (sum(counts.values()) < whole) is (keep == "half")
        for topic, ts in expected.items():
            np.testing.assert_array_equal(bag.topic_times(topic), sorted(ts))
        assert sum(1 for _ in bag.messages(list(expected))) == sum(len(ts) for ts in expected.values())


@pytest.mark.slow
def test_a_cut_mcap_converts_like_a_bag_of_its_complete_chunks(mcap, tmp_path):
    """The dataset of a cut file equals that of an intact file holding the same messages."""
    from compare import assert_same_dataset
    from support import run_cli

    reader = McapReader(mcap)
    reader.open()
    cut = reader.chunks[-3].chunk_start_offset + reader.chunks[-3].chunk_length // 3
    reader.close()
    _, times = truth(mcap, cut)
    copy = cut_copy(mcap, cut, tmp_path / "cut.mcap")
    oracle = gen_ros2_bag.convert_ros1_bag(
        mcap.parent.parent / "k.bag", tmp_path / "oracle", limit=sum(len(ts) for ts in times.values())
    )
    options = [
        "--set",
        "dataset.resize.width=160",
        "--set",
        "dataset.resize.height=120",
        "--set",
        "rosbag.chunk_size=10",
    ]
    done = run_cli("convert", str(copy), str(tmp_path / "from_cut"), *options)
    assert "recovered" in done.stderr
    run_cli("convert", str(oracle), str(tmp_path / "from_oracle"), *options)
    assert_same_dataset(tmp_path / "from_cut", tmp_path / "from_oracle", same_sources=False)
