"""Ros1Bag against rosbags' own reader, on bags written here and on real recordings."""

from __future__ import annotations

import itertools
import struct
from pathlib import Path

import numpy as np
import pytest
from rosbags.rosbag1 import Reader, Writer
from rosbags.typesys import Stores, get_typestore
from support import ROOT

from spill2lerobot.bag.ros1 import BagError, Message, Ros1Bag
from spill2lerobot.bag.ros1 import index as ros1

NS = 1_000_000_000
MS = 1_000_000
T0 = 1_700_000_000 * NS
REAL = ROOT / "tests" / "data" / "real-bags"
KUAVO_BAG = REAL / "kuavo_vr_session_group1.bag"
BZ2_BAG = REAL / "robot_localization_test1_bz2.bag"
TYPESTORE = get_typestore(Stores.ROS1_NOETIC)

# One planned message: (topic, connection key, record time, raw data), listed in write order.
Planned = tuple[str, str, int, bytes]


def _string(text: str | bytes) -> bytes:
    raw = text.encode() if isinstance(text, str) else text
    return struct.pack("<I", len(raw)) + raw


def _mixed_plan() -> list[Planned]:
    """Several rates, two connections on one topic, equal times, and a lagging topic.

    Messages are written in arrival order; ``/late`` arrives 35 ms after its record time, so
    the file is not in time order and consecutive chunks overlap in time. ``/slow`` shares
    its times with ``/fast`` and ``/late`` with ``/fast`` too (ties across topics/chunks).
    """
    arrivals = []  # (arrival time, tie order, planned message)
    for i in range(3000):
        key = "fast_b" if i % 7 == 0 else "fast_a"
        arrivals.append((T0 + i * MS, 0, ("/fast", key, T0 + i * MS, struct.pack("<I", i))))
    for i in range(300):
        t = T0 + i * 10 * MS + 300_000
        arrivals.append((t, 1, ("/mid", "mid", t, struct.pack("<d", i))))
    for i in range(30):
        t = T0 + i * 100 * MS
        arrivals.append((t, 2, ("/slow", "slow", t, _string(f"slow {i} ".ljust(2000, "x")))))
    for i in range(150):
        t = T0 + i * 20 * MS
        arrivals.append((t + 35 * MS, 3, ("/late", "late", t, struct.pack("<q", -i))))
    arrivals.sort(key=lambda a: (a[0], a[1]))
    return [a[2] for a in arrivals]


CONNECTIONS = {  # key -> (topic, msgtype, callerid)
    "fast_a": ("/fast", "std_msgs/msg/UInt32", "/node_a"),
    "fast_b": ("/fast", "std_msgs/msg/UInt32", "/node_b"),
    "mid": ("/mid", "std_msgs/msg/Float64", "/node_a"),
    "slow": ("/slow", "std_msgs/msg/String", "/node_a"),
    "late": ("/late", "std_msgs/msg/Int64", "/node_a"),
    "cam": ("/camera", "std_msgs/msg/String", "/cam"),
    "odd": ("/odd", "std_msgs/msg/UInt32", "/node_a"),
    "empty": ("/empty", "std_msgs/msg/UInt32", "/node_a"),
}


def _write_bag(
    path: Path,
    plan: list[Planned],
    *,
    compression: str = "none",
    chunk_threshold: int = 4096,
    extra_connections: tuple[str, ...] = (),
    close: bool = True,
) -> Path:
    writer = Writer(path)
    if compression != "none":
        writer.set_compression(Writer.CompressionFormat[compression.upper()])
    writer.chunk_threshold = chunk_threshold  # rosbags 0.11 has no setter
    writer.open()
    conns = {}
    for key in dict.fromkeys([p[1] for p in plan] + list(extra_connections)):
        topic, msgtype, callerid = CONNECTIONS[key]
        conns[key] = writer.add_connection(topic, msgtype, typestore=TYPESTORE, callerid=callerid, latching=0)
    for _, key, t, data in plan:
        writer.write(conns[key], t, data)
    if close:
        writer.close()
    else:
        writer.abort()
    return path


def _expected(plan: list[Planned], topics=None, start=0, stop=None) -> list[tuple]:
    """Record-time order, ties in file (= write) order."""
    order = sorted(range(len(plan)), key=lambda i: plan[i][2])  # stable
    return [
        (plan[i][0], plan[i][2], plan[i][3])
        for i in order
        if (topics is None or plan[i][0] in topics) and plan[i][2] >= start and (stop is None or plan[i][2] <= stop)
    ]


def _mine(bag: Ros1Bag, topics, **kw) -> list[tuple]:
    return [(m.topic, m.time_ns, bytes(m.data)) for m in bag.messages(topics, **kw)]


def _rosbags(path: Path, topics=None) -> list[tuple]:
    with Reader(path) as reader:
        conns = [c for c in reader.connections if topics is None or c.topic in topics]
        return [(c.topic, t, bytes(d)) for c, t, d in reader.messages(connections=conns)]


@pytest.fixture(scope="module")
def mixed_plan() -> list[Planned]:
    return _mixed_plan()


@pytest.fixture(scope="module", params=["none", "lz4", "bz2"])
def mixed_bag(request, tmp_path_factory, mixed_plan) -> Path:
    path = tmp_path_factory.mktemp("bags") / f"mixed_{request.param}.bag"
    return _write_bag(path, mixed_plan, compression=request.param, extra_connections=("empty",))


# -- synthetic bags ------------------------------------------------------------------------


def test_mixed_bag_really_overlaps(mixed_bag):
    with Ros1Bag(mixed_bag) as bag:
        chunks = sorted(bag.chunks, key=lambda c: c.pos)
        assert len(chunks) > 30
        assert any(b.start_ns <= a.end_ns for a, b in itertools.pairwise(chunks))


def test_messages_match_rosbags_and_file_order(mixed_bag, mixed_plan):
    with Ros1Bag(mixed_bag) as bag:
        mine = _mine(bag, bag.topics())
    assert mine == _expected(mixed_plan)
    theirs = _rosbags(mixed_bag)
    assert [m[1] for m in mine] == [m[1] for m in theirs]  # same time sequence
    assert sorted(mine) == sorted(theirs)  # same messages (rosbags orders ties differently)


def test_topic_subset(mixed_bag, mixed_plan):
    wanted = {"/slow", "/late"}
    with Ros1Bag(mixed_bag) as bag:
        assert _mine(bag, wanted) == _expected(mixed_plan, wanted)
        assert _mine(bag, "/mid") == _expected(mixed_plan, {"/mid"})  # a bare str is one topic
        assert list(bag.messages([])) == []


def test_index_queries(mixed_bag, mixed_plan):
    with Ros1Bag(mixed_bag) as bag:
        topics = bag.topics()
        assert set(topics) == {"/fast", "/mid", "/slow", "/late", "/empty"}
        assert topics["/fast"].msgtype == "std_msgs/msg/UInt32"
        assert len(topics["/fast"].connection_ids) == 2
        assert topics["/empty"].count == 0
        assert bag.start_ns == T0
        assert bag.end_ns == max(p[2] for p in mixed_plan)
        for topic in ("/fast", "/mid", "/slow", "/late"):
            times = [p[2] for p in mixed_plan if p[0] == topic]
            assert topics[topic].count == bag.message_count(topic) == len(times)
            got = bag.topic_times(topic)
            assert got.dtype == np.int64
            assert got.tolist() == sorted(times) == [m[1] for m in _rosbags(mixed_bag, {topic})]
            assert bag.first_time(topic) == min(times)
            assert bag.last_time(topic) == max(times)
        assert bag.topic_times("/empty").size == 0
        with pytest.raises(BagError, match="no messages"):
            bag.last_time("/empty")
        with pytest.raises(BagError, match="no topic '/nope'"):
            bag.topic_times("/nope")
        with pytest.raises(BagError, match="no topic"):
            bag.messages(["/fast", "/nope"])


def test_connections(mixed_bag):
    with Ros1Bag(mixed_bag) as bag:
        by_caller = {(c.topic, c.callerid): c for c in bag.connections}
        conn = by_caller[("/fast", "/node_b")]
        assert conn.msgtype == "std_msgs/msg/UInt32"
        assert conn.md5sum == TYPESTORE.generate_msgdef("std_msgs/msg/UInt32")[1]
        assert "uint32 data" in conn.msgdef
        assert conn.latching is False


def test_start_and_stop(mixed_bag, mixed_plan):
    times = sorted(p[2] for p in mixed_plan)
    cuts = [T0, T0 + 1, times[len(times) // 3], T0 + 1234 * MS + 1, times[-5], times[-1] + 1]
    with Ros1Bag(mixed_bag) as bag:
        for cut in cuts:  # exact message times, ties and gaps
            assert _mine(bag, bag.topics(), start_ns=cut) == _expected(mixed_plan, start=cut)
            assert _mine(bag, ["/late"], stop_ns=cut) == _expected(mixed_plan, {"/late"}, stop=cut)
        lo, hi = T0 + 500 * MS, T0 + 700 * MS
        assert _mine(bag, ["/fast", "/slow"], start_ns=lo, stop_ns=hi) == _expected(
            mixed_plan, {"/fast", "/slow"}, lo, hi
        )


def test_resume_reads_only_the_rest(mixed_bag, mixed_plan):
    size = mixed_bag.stat().st_size
    with Ros1Bag(mixed_bag) as bag:
        cut = bag.start_ns + (bag.end_ns - bag.start_ns) * 9 // 10
        before = bag.bytes_read
        assert _mine(bag, bag.topics(), start_ns=cut) == _expected(mixed_plan, start=cut)
        resume = bag.bytes_read - before
        before = bag.bytes_read
        _mine(bag, bag.topics())
        full = bag.bytes_read - before
    assert resume < 0.25 * size
    assert resume < 0.25 * full  # a full pass reads every chunk: the counter is honest
    if "none" in mixed_bag.name:  # uncompressed chunks are most of the file
        assert full > 0.6 * size


def test_streaming_loads_chunks_lazily_and_once(mixed_bag, monkeypatch):
    loaded: list[ros1.ChunkInfo] = []
    load = Ros1Bag._load_chunk

    def spy(self, chunk, *args):
        loaded.append(chunk)
        return load(self, chunk, *args)

    monkeypatch.setattr(Ros1Bag, "_load_chunk", spy)
    with Ros1Bag(mixed_bag) as bag:
        stream = bag.messages(bag.topics())
        assert loaded == []  # nothing read before the first next()
        for msg in stream:
            # A chunk is read only once the stream has reached its start time.
            assert max(c.start_ns for c in loaded) <= msg.time_ns
        assert sorted(c.pos for c in loaded) == sorted(c.pos for c in bag.chunks)
        loaded.clear()
        assert len(list(bag.messages(["/slow"]))) == 30
        (slow_id,) = bag.topics()["/slow"].connection_ids
        assert len(loaded) == sum(slow_id in c.counts for c in bag.chunks) < len(bag.chunks)


def test_deserialize(mixed_bag):
    with Ros1Bag(mixed_bag) as bag:
        msg = next(iter(bag.messages(["/slow"])))
        assert isinstance(msg, Message)
        assert bag.deserialize(msg).data.startswith("slow 0 ")
        assert bag.typestore() is bag.typestore()


def test_extreme_overlap(tmp_path):
    """A message far in the future in the first chunk, one far in the past in the last."""
    plan: list[Planned] = [("/odd", "odd", T0 + 10 * NS, struct.pack("<I", 99))]
    plan += [("/fast", "fast_a", T0 + i * MS, struct.pack("<I", i)) for i in range(2000)]
    plan += [("/odd", "odd", T0 + i * 100 * MS, struct.pack("<I", i)) for i in range(1, 19)]
    plan += [("/odd", "odd", T0 - NS, struct.pack("<I", 100))]
    plan += [("/fast", "fast_a", T0 + 2000 * MS, struct.pack("<I", 2000))]
    path = _write_bag(tmp_path / "overlap.bag", plan, compression="lz4", chunk_threshold=2048)
    with Ros1Bag(path) as bag:
        assert len(bag.chunks) > 10
        assert bag.last_time("/odd") == T0 + 10 * NS
        assert bag.first_time("/odd") == T0 - NS
        assert bag.first_time("/fast") == T0
        assert bag.last_time("/fast") == T0 + 2000 * MS
        assert _mine(bag, ["/fast", "/odd"]) == _expected(plan)
        assert _mine(bag, ["/odd"], start_ns=T0 + 1) == _expected(plan, {"/odd"}, T0 + 1)
        assert sorted(_mine(bag, ["/fast", "/odd"])) == sorted(_rosbags(path))


def test_index_block_fallback(mixed_bag, mixed_plan, monkeypatch):
    """If the IndexData records are not where rosbag puts them, find them via the chunk."""
    monkeypatch.setattr(ros1, "_INDEX_RECORD_FIXED", 40)
    with Ros1Bag(mixed_bag) as bag:
        assert bag.topic_times("/late").tolist() == sorted(p[2] for p in mixed_plan if p[0] == "/late")


@pytest.fixture(scope="module")
def big_bag(tmp_path_factory) -> Path:
    """~10 MB: 300 camera-sized messages and 10000 small ones, uncompressed."""
    payload = bytes(range(256)) * 128  # 32 KiB
    plan: list[Planned] = []
    for i in range(10_000):
        t = T0 + i * MS
        plan.append(("/fast", "fast_a", t, struct.pack("<I", i)))
        if i % 33 == 0:
            plan.append(("/camera", "cam", t, _string(payload)))
    path = tmp_path_factory.mktemp("big") / "big.bag"
    return _write_bag(path, plan, chunk_threshold=256 * 1024)


def test_index_only_queries_read_little(big_bag):
    size = big_bag.stat().st_size
    with Ros1Bag(big_bag) as bag:
        assert bag.topics()["/camera"].count == 304
        assert len(bag.topic_times("/fast")) == 10_000
        assert len(bag.topic_times("/camera")) == 304
        assert bag.last_time("/camera") == T0 + 9999 * MS
        assert bag.first_time("/fast") == T0
        assert bag.bytes_read < 0.1 * size


# -- real bags ---------------------------------------------------------------------------


@pytest.mark.parametrize("path", [KUAVO_BAG, pytest.param(BZ2_BAG, marks=pytest.mark.slow)], ids=["kuavo", "bz2"])
def test_real_bag_matches_rosbags(path):
    with Ros1Bag(path) as bag:
        mine = _mine(bag, bag.topics())
        theirs = _rosbags(path)
        assert [m[1] for m in mine] == [m[1] for m in theirs]
        assert sorted(mine) == sorted(theirs)
        for topic, info in bag.topics().items():
            times = [m[1] for m in theirs if m[0] == topic]
            assert info.count == len(times)
            assert bag.topic_times(topic).tolist() == times
            assert bag.first_time(topic) == times[0]
            assert bag.last_time(topic) == times[-1]


def test_kuavo_bag_deserializes():
    with Ros1Bag(KUAVO_BAG) as bag:
        topics = bag.topics()
        assert topics["/sensors_data_raw"] == (
            "kuavo_msgs/msg/sensorsData",
            3508,
            topics["/sensors_data_raw"].connection_ids,
        )
        assert topics["/kuavo_arm_traj"].count == 577
        sensors = next(iter(bag.messages(["/sensors_data_raw"])))
        assert sensors.connection.md5sum == "54439d3ac2ef33d46fd7cf6d324860c3"
        data = bag.deserialize(sensors)
        assert len(data.joint_data.joint_q) == 28
        assert len(data.joint_data.joint_current) == 28
        assert data.header.stamp.sec > 1_700_000_000
        arm = bag.deserialize(next(iter(bag.messages(["/kuavo_arm_traj"]))))
        assert len(arm.position) == len(arm.name) > 0


# -- errors ------------------------------------------------------------------------------


def _one_line_error(path: Path, match: str) -> str:
    with pytest.raises(BagError, match=match) as info:
        Ros1Bag(path)
    text = str(info.value)
    assert "\n" not in text
    assert str(path) in text
    return text


def test_not_a_bag(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("hello, this is not a bag\n" * 10)
    _one_line_error(path, "not a ROS1 bag")
    empty = tmp_path / "empty.bag"
    empty.write_bytes(b"")
    _one_line_error(empty, "not a ROS1 bag")
    old = tmp_path / "old.bag"
    old.write_bytes(b"#ROSBAG V1.2\n" + b"\0" * 100)
    _one_line_error(old, "1.2 is not supported")
    _one_line_error(tmp_path / "missing.bag", "cannot open")


def test_truncated_bag(tmp_path, mixed_plan):
    full = _write_bag(tmp_path / "full.bag", mixed_plan)
    cut = tmp_path / "cut.bag"
    cut.write_bytes(full.read_bytes()[: full.stat().st_size // 2])
    _one_line_error(cut, "truncated")
    # Index intact but a chunk damaged at its end: found when streaming.
    data = bytearray(full.read_bytes())
    with Ros1Bag(full) as bag:
        last = max(bag.chunks, key=lambda c: c.pos)
    with Ros1Bag(full) as bag:
        pos, length, _, _ = bag._chunk_data_span(last)
    struct.pack_into("<I", data, pos - 4, length + 10**6)
    broken = tmp_path / "broken.bag"
    broken.write_bytes(bytes(data))
    with Ros1Bag(broken) as bag, pytest.raises(BagError, match=str(broken)):
        list(bag.messages(bag.topics()))


def test_unindexed_bag(tmp_path, mixed_plan):
    path = _write_bag(tmp_path / "crashed.bag.active", mixed_plan[:500], close=False)
    text = _one_line_error(path, "not indexed")
    assert "rosbag reindex" in text


def test_unsupported_compression(tmp_path, mixed_plan):
    good = _write_bag(tmp_path / "lz4.bag", mixed_plan[:500], compression="lz4")
    data = good.read_bytes().replace(b"compression=lz4", b"compression=zst")
    bad = tmp_path / "zst.bag"
    bad.write_bytes(data)
    _one_line_error(bad, "unsupported chunk compression 'zst'")


def test_closed_bag(tmp_path, mixed_plan):
    path = _write_bag(tmp_path / "small.bag", mixed_plan[:200])
    bag = Ros1Bag(path)
    bag.close()
    bag.close()  # idempotent
    with pytest.raises(BagError, match="closed"):
        bag.topic_times("/fast")
