"""Ros1Bag(recover=True) on unindexed, truncated and damaged copies of bags, against rosbags.

Every broken bag here is made from an intact one, so the truth is known: rosbags' reader on
the intact bag, restricted to the chunks that are complete in the broken copy.
"""

from __future__ import annotations

import random
import struct
import tracemalloc
from pathlib import Path

import pytest
from rosbags.rosbag1 import Reader, Writer
from rosbags.typesys import Stores, get_typestore
from support import ROOT

from spill2lerobot.bag.ros1 import BagError, Recovery, Ros1Bag
from spill2lerobot.bag.ros1 import recovery as ros1

NS = 1_000_000_000
MS = 1_000_000
T0 = 1_700_000_000 * NS
REAL = ROOT / "tests" / "data" / "real-bags"
KUAVO_BAG = REAL / "kuavo_vr_session_group1.bag"
BZ2_BAG = REAL / "robot_localization_test1_bz2.bag"
TYPESTORE = get_typestore(Stores.ROS1_NOETIC)

CONNECTIONS = {  # key -> (topic, msgtype, callerid)
    "fast_a": ("/fast", "std_msgs/msg/UInt32", "/node_a"),
    "fast_b": ("/fast", "std_msgs/msg/UInt32", "/node_b"),
    "mid": ("/mid", "std_msgs/msg/Float64", "/node_a"),
    "slow": ("/slow", "std_msgs/msg/String", "/node_a"),
    "late": ("/late", "std_msgs/msg/Int64", "/node_a"),
    "extra": ("/extra", "std_msgs/msg/UInt32", "/node_c"),
    "cam": ("/camera", "std_msgs/msg/String", "/cam"),
    "empty": ("/empty", "std_msgs/msg/UInt32", "/node_a"),
}

# Write order: ("add", key) adds a connection, ("msg", key, record time, data) writes.
Event = tuple


def _string(text: str | bytes) -> bytes:
    raw = text.encode() if isinstance(text, str) else text
    return struct.pack("<I", len(raw)) + raw


def _mixed_events() -> list[Event]:
    """Several rates, two connections on a topic, a lagging topic (chunks overlap in time),
    a connection with no messages, and one added mid-recording whose Connection record lands
    in an earlier chunk than its first message (rosbags writes it when the connection is added).
    """
    arrivals = []  # (arrival time, tie order, event)
    for i in range(2500):
        key = "fast_b" if i % 7 == 0 else "fast_a"
        arrivals.append((T0 + i * MS, 0, ("msg", key, T0 + i * MS, struct.pack("<I", i))))
    for i in range(250):
        t = T0 + i * 10 * MS + 300_000
        arrivals.append((t, 1, ("msg", "mid", t, struct.pack("<d", i))))
    for i in range(25):
        t = T0 + i * 100 * MS
        arrivals.append((t, 2, ("msg", "slow", t, _string(f"slow {i} ".ljust(2000, "x")))))
    for i in range(120):
        t = T0 + i * 20 * MS
        arrivals.append((t + 35 * MS, 3, ("msg", "late", t, struct.pack("<q", -i))))
    arrivals.append((T0 + 1000 * MS, 4, ("add", "extra")))
    for i in range(60):
        t = T0 + 1500 * MS + i * 15 * MS
        arrivals.append((t, 5, ("msg", "extra", t, struct.pack("<I", 1000 + i))))
    arrivals.sort(key=lambda a: (a[0], a[1]))
    return [("add", "fast_a"), ("add", "fast_b"), ("add", "empty")] + [a[2] for a in arrivals]


def _write_bag(path: Path, events: list[Event], *, compression: str = "none", chunk_threshold: int = 4096) -> Path:
    writer = Writer(path)
    if compression != "none":
        writer.set_compression(Writer.CompressionFormat[compression.upper()])
    writer.chunk_threshold = chunk_threshold  # rosbags 0.11 has no setter
    writer.open()
    conns = {}
    for event in events:
        key = event[1]
        if key not in conns:  # a message's connection is added just before it, if not yet
            topic, msgtype, callerid = CONNECTIONS[key]
            conns[key] = writer.add_connection(topic, msgtype, typestore=TYPESTORE, callerid=callerid, latching=0)
        if event[0] == "msg":
            writer.write(conns[key], event[2], event[3])
    writer.close()
    return path


# -- making broken copies ------------------------------------------------------------------


def _index_pos_field(data: bytes | bytearray) -> int:
    """Offset of the bag header's index_pos value."""
    (hlen,) = struct.unpack_from("<I", data, 13)
    return 17 + bytes(data[17 : 17 + hlen]).index(b"index_pos=") + len(b"index_pos=")


def _index_pos(data: bytes) -> int:
    return struct.unpack_from("<Q", data, _index_pos_field(data))[0]


def _unindexed(data: bytes) -> bytes:
    """What `rosbag record` leaves when it dies between chunks: index_pos 0, no index."""
    out = bytearray(data[: _index_pos(data)])
    struct.pack_into("<Q", out, _index_pos_field(out), 0)
    return bytes(out)


def _layout(path: Path) -> list[tuple[int, int, int]]:
    """(chunk pos, end of its data, end of its IndexData records) per chunk, in file order."""
    with Reader(path) as reader:
        index_pos = _index_pos(path.read_bytes())
        positions = sorted(reader.chunks)
        ends = [*positions[1:], index_pos]
        return [
            (pos, reader.chunks[pos].datapos + reader.chunks[pos].datasize, end)
            for pos, end in zip(positions, ends, strict=True)
        ]


def _save(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


# -- the truth ---------------------------------------------------------------------------


def _reference(path: Path, keep: set[int] | None = None) -> list[tuple]:
    """rosbags' messages of the intact bag, only from the chunks at positions ``keep``."""
    with Reader(path) as reader:
        if keep is not None:
            for cid, entries in reader.indexes.items():
                reader.indexes[cid] = [e for e in entries if e.chunk_pos in keep]
        return [(c.topic, t, bytes(d)) for c, t, d in reader.messages()]


def _mine(bag: Ros1Bag, topics=None, **kw) -> list[tuple]:
    topics = bag.topics() if topics is None else topics
    return [(m.topic, m.time_ns, bytes(m.data)) for m in bag.messages(topics, **kw)]


def _check_recovered(bag: Ros1Bag, original: Path, keep: set[int]) -> list[tuple]:
    """Everything a reader of ``bag`` sees matches rosbags on ``original``'s chunks ``keep``."""
    expected = _reference(original, keep)
    mine = _mine(bag)
    assert [m[1] for m in mine] == [m[1] for m in expected]  # same time order
    assert sorted(mine) == sorted(expected)  # same messages (rosbags orders ties differently)
    assert {c.pos for c in bag.chunks} == keep
    assert bag.recovery.messages == len(expected)
    topics = bag.topics()
    for topic in {m[0] for m in expected}:
        times = [m[1] for m in expected if m[0] == topic]
        assert topics[topic].count == bag.message_count(topic) == len(times)
        assert bag.topic_times(topic).tolist() == times
        assert bag.first_time(topic) == times[0]
        assert bag.last_time(topic) == times[-1]
        assert _mine(bag, [topic]) == [m for m in mine if m[0] == topic]
    # Seeking: the rest of the stream, and reading less than a full pass.
    cut = bag.start_ns + (bag.end_ns - bag.start_ns) * 7 // 10
    before = bag.bytes_read
    assert _mine(bag, start_ns=cut) == [m for m in mine if m[1] >= cut]
    assert bag.bytes_read - before < bag._size * 0.6
    assert bag.start_ns == expected[0][1]
    assert bag.end_ns == max(m[1] for m in expected)
    return mine


@pytest.fixture(scope="module")
def events() -> list[Event]:
    return _mixed_events()


@pytest.fixture(scope="module", params=["none", "lz4", "bz2"])
def original(request, tmp_path_factory, events) -> Path:
    path = tmp_path_factory.mktemp("bags") / f"mixed_{request.param}.bag"
    return _write_bag(path, events, compression=request.param)


def _one_line_error(path: Path, match: str, **kw) -> str:
    with pytest.raises(BagError, match=match) as info:
        Ros1Bag(path, **kw)
    text = str(info.value)
    assert "\n" not in text
    assert str(path) in text
    return text


# -- unindexed ---------------------------------------------------------------------------


def test_original_is_interesting(original):
    layout = _layout(original)
    assert len(layout) > 30
    with Ros1Bag(original) as bag:
        assert bag.recovery is None
        extra = bag.topics()["/extra"].connection_ids[0]
        first_extra = min(c.pos for c in bag.chunks if extra in c.counts)
    # /extra's Connection record sits in an earlier chunk than its first message.
    data = original.read_bytes()
    with Reader(original) as reader:
        holder = next(
            pos
            for pos, chunk in sorted(reader.chunks.items())
            if b"topic=/extra" in chunk.decompressor(data[chunk.datapos : chunk.datapos + chunk.datasize])
        )
    assert holder < first_extra


def test_unindexed_recovers_everything(original, tmp_path):
    data = _unindexed(original.read_bytes())
    path = _save(tmp_path / "crashed.bag.active", data)
    assert "rosbag reindex" in _one_line_error(path, "not indexed")
    with Ros1Bag(path, recover=True) as bag, Ros1Bag(original) as intact:
        rec = bag.recovery
        assert isinstance(rec, Recovery)
        assert rec.reason == "unindexed (index_pos=0)"
        assert (rec.chunks, rec.bytes_used, rec.bytes_total, rec.dropped_bytes) == (
            len(intact.chunks),
            len(data),
            len(data),
            0,
        )
        assert rec.fraction == 1.0
        assert str(rec).startswith(f"recovered {rec.chunks} chunks, {rec.messages:,} messages, 100.0% of the file")
        # The same structures the index gives, connection for connection and chunk for chunk.
        assert bag.connections == intact.connections  # including /empty, which has no message
        assert sorted(bag.chunks, key=lambda c: c.pos) == sorted(intact.chunks, key=lambda c: c.pos)
        assert bag.topics() == intact.topics()
        assert bag._no_index == set()
        # Few chunks decompressed: the first (connection records), /extra's first chunk and
        # the ones before it back to its Connection record, and the last (nothing after it).
        assert rec.decompressed < len(bag.chunks) / 3
        mine = _check_recovered(bag, original, {c.pos for c in intact.chunks})
        assert mine == _mine(intact)  # even ties come out in the same (file) order


def test_recover_on_an_intact_bag_changes_nothing(original):
    with Ros1Bag(original, recover=True) as bag, Ros1Bag(original) as plain:
        assert bag.recovery is None
        assert bag.bytes_read == plain.bytes_read
        assert bag.chunks == plain.chunks
        assert bag.connections == plain.connections


# -- truncated ---------------------------------------------------------------------------


def test_truncated_inside_a_chunk(original, tmp_path):
    layout = _layout(original)
    k = len(layout) * 6 // 10
    pos, data_end, _ = layout[k]
    cut = (pos + data_end) // 2
    path = _save(tmp_path / "cut.bag", original.read_bytes()[:cut])
    _one_line_error(path, "truncated")
    with Ros1Bag(path, recover=True) as bag:
        rec = bag.recovery
        assert rec.reason.startswith(f"index_pos={_index_pos(original.read_bytes())} lies past the end of the file")
        assert f"truncated at byte {cut} in chunk {k + 1} (which starts at byte {pos})" in rec.reason
        assert (rec.chunks, rec.bytes_used, rec.dropped_bytes) == (k, pos, cut - pos)
        _check_recovered(bag, original, {c[0] for c in layout[:k]})


def test_truncated_inside_a_chunk_header(original, tmp_path):
    layout = _layout(original)
    k = len(layout) // 2
    pos = layout[k][0]
    path = _save(tmp_path / "cut.bag", _unindexed(original.read_bytes())[: pos + 20])
    with Ros1Bag(path, recover=True) as bag:
        assert f"truncated at byte {pos + 20} in the header of chunk {k + 1} at byte {pos}" in bag.recovery.reason
        assert bag.recovery.bytes_used == pos
        _check_recovered(bag, original, {c[0] for c in layout[:k]})


@pytest.mark.parametrize("where", ["header", "data", "between", "none_written"])
def test_truncated_in_the_index_records_after_a_chunk(original, tmp_path, where):
    """The chunk is complete, its IndexData records are not: it is recovered by walking it."""
    layout = _layout(original)
    data = _unindexed(original.read_bytes())
    with Reader(original) as reader:
        # A chunk with messages of several connections: several IndexData records.
        k = next(
            i
            for i in range(len(layout) // 3, len(layout))
            if len({cid for cid, e in reader.indexes.items() for x in e if x.chunk_pos == layout[i][0]}) >= 3
        )
    pos, data_end, _ = layout[k]
    (hlen,) = struct.unpack_from("<I", data, data_end)
    (dlen,) = struct.unpack_from("<I", data, data_end + 4 + hlen)
    cut = {
        "header": data_end + 30,  # inside the first IndexData record's header
        "data": data_end + 8 + hlen + dlen - 5,  # inside its entries
        "between": data_end + 8 + hlen + dlen,  # after it: the file ends on a record boundary
        "none_written": data_end,  # right after the chunk
    }[where]
    path = _save(tmp_path / "cut.bag.active", data[:cut])
    with Ros1Bag(path, recover=True) as bag:
        rec = bag.recovery
        if where in ("header", "data"):
            assert f"truncated at byte {cut} in the index records after chunk {k + 1}" in rec.reason
            assert rec.bytes_used == data_end
        else:  # the file ends on a record boundary: nothing says more was coming
            assert rec.reason == "unindexed (index_pos=0)"
            assert rec.bytes_used == cut
        assert rec.chunks == k + 1
        # The last chunk's times come from walking it; the others still from IndexData.
        assert bag._no_index == {pos}
        _check_recovered(bag, original, {c[0] for c in layout[: k + 1]})


def test_unfinished_chunk_as_rosbag_record_leaves_it(original, tmp_path):
    """rosbag writes a chunk's sizes as 0 when it starts one and fills them in at its end."""
    layout = _layout(original)
    data = _unindexed(original.read_bytes())
    header = b"".join(struct.pack("<I", len(f)) + f for f in (b"op=\x05", b"compression=none", b"size=\0\0\0\0"))
    partial = original.read_bytes()[layout[3][0] + 60 : layout[3][1]]  # some records of a chunk
    path = _save(
        tmp_path / "recording.bag.active", data + struct.pack("<I", len(header)) + header + b"\0" * 4 + partial
    )
    with Ros1Bag(path, recover=True) as bag:
        rec = bag.recovery
        assert f"chunk {len(layout) + 1} at byte {len(data)} was never finished (recording interrupted)" in rec.reason
        assert (rec.chunks, rec.bytes_used) == (len(layout), len(data))
        assert bag._no_index == set()  # a record followed the last IndexData: nothing walked for it
        _check_recovered(bag, original, {c[0] for c in layout})


# -- garbage and damage ------------------------------------------------------------------


@pytest.mark.parametrize("junk", ["random", "zeros"])
def test_garbage_after_an_unindexed_bag(original, tmp_path, junk):
    layout = _layout(original)
    data = _unindexed(original.read_bytes())
    tail = random.Random(7).randbytes(5000) if junk == "random" else b"\0" * 8192
    path = _save(tmp_path / "junk.bag.active", data + tail)
    with Ros1Bag(path, recover=True) as bag:
        rec = bag.recovery
        assert f"unreadable record at byte {len(data)} after chunk {len(layout)}" in rec.reason
        assert (rec.chunks, rec.bytes_used, rec.dropped_bytes) == (len(layout), len(data), len(tail))
        assert rec.fraction < 1.0
        _check_recovered(bag, original, {c[0] for c in layout})


def test_garbage_after_an_indexed_bag(original, tmp_path):
    path = _save(tmp_path / "junk.bag", original.read_bytes() + random.Random(8).randbytes(3000))
    for recover in (False, True):
        with Ros1Bag(path, recover=recover) as bag, Ros1Bag(original) as intact:
            assert bag.recovery is None
            assert bag.chunks == intact.chunks
            assert _mine(bag) == _mine(intact)


def test_damaged_index(original, tmp_path):
    """Chunk infos unreadable: the chunks are scanned; the index's Connection records are used."""
    data = bytearray(original.read_bytes())
    index_pos = _index_pos(data)
    chunk_info = data.index(b"op=\x06", index_pos)
    data[chunk_info : chunk_info + 4] = b"XXXX"
    path = _save(tmp_path / "damaged.bag", bytes(data))
    _one_line_error(path, "bag index is damaged or truncated")
    with Ros1Bag(path, recover=True) as bag, Ros1Bag(original) as intact:
        rec = bag.recovery
        assert rec.reason.startswith(f"index at byte {index_pos} is damaged or truncated")
        assert "unreadable record at byte" in rec.reason  # the damaged chunk info ends the scan
        assert index_pos < rec.bytes_used < len(data)
        assert bag.connections == intact.connections
        assert sorted(bag.chunks, key=lambda c: c.pos) == sorted(intact.chunks, key=lambda c: c.pos)
        _check_recovered(bag, original, {c.pos for c in intact.chunks})


def test_index_cut_off(original, tmp_path):
    """A copy that stops inside the index: every chunk is there, the index is not complete."""
    data = original.read_bytes()
    index_pos = _index_pos(data)
    cut = index_pos + (len(data) - index_pos) * 3 // 4  # inside the chunk info records
    path = _save(tmp_path / "cut.bag", data[:cut])
    _one_line_error(path, "bag index is damaged or truncated")
    with Ros1Bag(path, recover=True) as bag, Ros1Bag(original) as intact:
        rec = bag.recovery
        assert rec.reason.startswith(f"index at byte {index_pos} is damaged or truncated")
        assert f"truncated at byte {cut} in a chunk info record" in rec.reason
        assert rec.chunks == len(intact.chunks)
        assert index_pos < rec.bytes_used < cut
        assert bag.connections == intact.connections
        assert bag._no_index == set()
        _check_recovered(bag, original, {c.pos for c in intact.chunks})


def test_nothing_to_recover(original, tmp_path):
    layout = _layout(original)
    data = _unindexed(original.read_bytes())
    cut = _save(tmp_path / "cut.bag.active", data[: (layout[0][0] + layout[0][1]) // 2])
    text = _one_line_error(cut, "no complete chunk could be recovered", recover=True)
    assert "truncated at byte" in text
    header_only = _save(tmp_path / "header.bag.active", data[:4096])
    _one_line_error(header_only, r"no complete chunk could be recovered \(unindexed", recover=True)
    _one_line_error(header_only, "not indexed")
    # Not a bag at all, or a damaged bag header: recovery does not pretend.
    _one_line_error(_save(tmp_path / "text.bag", b"hello\n" * 100), "not a ROS1 bag", recover=True)
    _one_line_error(_save(tmp_path / "bad_header.bag", data[:13] + b"\xff" * 100), "header is damaged", recover=True)


def test_unsupported_compression_is_still_an_error(tmp_path, events):
    good = _write_bag(tmp_path / "lz4.bag", events[:600], compression="lz4")
    data = _unindexed(good.read_bytes()).replace(b"compression=lz4", b"compression=zst")
    _one_line_error(_save(tmp_path / "zst.bag.active", data), "unsupported chunk compression 'zst'", recover=True)


def test_damaged_chunk_ends_the_recovery(tmp_path, events):
    """A complete but undecodable chunk that has to be walked stops the scan before it."""
    good = _write_bag(tmp_path / "lz4.bag", events, compression="lz4")
    layout = _layout(good)
    data = bytearray(_unindexed(good.read_bytes()))
    pos, data_end, _ = layout[-1]  # the last chunk is always walked
    data[data_end - 40 : data_end] = b"\xee" * 40
    path = _save(tmp_path / "broken.bag.active", bytes(data))
    with Ros1Bag(path, recover=True) as bag:
        rec = bag.recovery
        assert f"chunk {len(layout)} at byte {pos} is unreadable" in rec.reason
        assert (rec.chunks, rec.bytes_used) == (len(layout) - 1, pos)
        _check_recovered(bag, good, {c[0] for c in layout[:-1]})


def test_missing_connection_record(tmp_path, events):
    """Messages whose Connection record was lost with the file's start cannot be named: dropped."""
    good = _write_bag(tmp_path / "plain.bag", events)
    data = bytearray(_unindexed(good.read_bytes()))
    # Rename the /extra connection record's op so the walk skips it (as if it were lost).
    record = data.index(b"topic=/extra")
    op = data.rindex(b"op=\x07", 0, record)
    data[op + 3] = 0x7F
    path = _save(tmp_path / "lost.bag.active", bytes(data))
    with Ros1Bag(path, recover=True) as bag:
        assert "/extra" not in bag.topics()
        assert "60 messages on connections" in bag.recovery.reason
        assert bag.recovery.messages == sum(1 for e in events if e[0] == "msg" and e[1] != "extra")
        assert len(_mine(bag)) == bag.recovery.messages


# -- real bags ---------------------------------------------------------------------------


@pytest.mark.parametrize("path", [KUAVO_BAG, pytest.param(BZ2_BAG, marks=pytest.mark.slow)], ids=["kuavo", "bz2"])
def test_real_bags(path, tmp_path):
    """Bags written by `rosbag record`: Connection records sit in the chunk of each first message."""
    layout = _layout(path)
    data = _unindexed(path.read_bytes())
    with Ros1Bag(_save(tmp_path / "real.bag.active", data), recover=True) as bag, Ros1Bag(path) as intact:
        assert bag.recovery.dropped_bytes == 0
        assert bag.connections == intact.connections
        assert sorted(bag.chunks, key=lambda c: c.pos) == sorted(intact.chunks, key=lambda c: c.pos)
        assert _check_recovered(bag, path, {c[0] for c in layout}) == _mine(intact)
    k = len(layout) * 2 // 3
    cut = (layout[k][0] + layout[k][1]) // 2
    with Ros1Bag(_save(tmp_path / "cut.bag.active", data[:cut]), recover=True) as bag:
        assert f"in chunk {k + 1}" in bag.recovery.reason
        _check_recovered(bag, path, {c[0] for c in layout[:k]})


# -- flat memory, little reading -----------------------------------------------------------


@pytest.fixture(scope="module")
def big_bag(tmp_path_factory) -> Path:
    """~10 MB: 300 camera-sized messages and 10000 small ones, uncompressed, 40 chunks."""
    payload = bytes(range(256)) * 128  # 32 KiB
    events: list[Event] = []
    for i in range(10_000):
        t = T0 + i * MS
        events.append(("msg", "fast_a", t, struct.pack("<I", i)))
        if i % 33 == 0:
            events.append(("msg", "cam", t, _string(payload)))
    return _write_bag(tmp_path_factory.mktemp("big") / "big.bag", events, chunk_threshold=256 * 1024)


def test_scan_reads_headers_and_index_records_only(big_bag, tmp_path):
    data = _unindexed(big_bag.read_bytes())
    path = _save(tmp_path / "big.bag.active", data)
    layout = _layout(big_bag)
    with Ros1Bag(path, recover=True) as bag:
        # Walked: the first chunk (records before its first message) and the last one.
        assert bag.recovery.decompressed == 2
        walked = sum(end - pos for pos, end, _ in (layout[0], layout[-1]))
        index_records = sum(block_end - data_end for _, data_end, block_end in layout)
        assert bag.bytes_read < walked + 2 * index_records + 200 * len(layout) + 4096
        assert bag.bytes_read < 0.1 * len(data)
        # Index-only queries on the recovered bag read no message data either.
        before = bag.bytes_read
        assert len(bag.topic_times("/fast")) == 10_000
        assert bag.last_time("/camera") == T0 + 9999 * MS
        assert bag.bytes_read - before < 0.05 * len(data)


def test_memory_is_per_chunk_not_per_message(big_bag, tmp_path):
    data = _unindexed(big_bag.read_bytes())
    path = _save(tmp_path / "big.bag.active", data)
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        bag = Ros1Bag(path, recover=True)
        kept = tracemalloc.get_traced_memory()[0] - base
    finally:
        tracemalloc.stop()
    with bag:
        messages = bag.recovery.messages
        assert messages > 10_000
        assert len(bag._block_end) == len(bag.chunks) == bag.recovery.chunks
        assert bag._no_index == set()
        # A few KB for the bag and its connections, a few hundred bytes per chunk; nothing
        # per message (10,303 messages would be hundreds of KB even at 24 bytes each).
        assert kept < 20_000 + 1000 * len(bag.chunks)
        assert kept < 10 * messages


def test_scan_does_not_walk_chunks_with_index_records(big_bag, tmp_path, monkeypatch):
    walked = []
    survey = Ros1Bag._survey_chunk

    def spy(self, chunk):
        walked.append(chunk.pos)
        return survey(self, chunk)

    monkeypatch.setattr(Ros1Bag, "_survey_chunk", spy)
    path = _save(tmp_path / "big.bag.active", _unindexed(big_bag.read_bytes()))
    layout = _layout(big_bag)
    with Ros1Bag(path, recover=True):
        assert walked == [layout[0][0], layout[-1][0]]
    assert ros1._PEEK >= 55  # an IndexData record's header fits one peek
