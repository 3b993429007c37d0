"""Bounded work on hostile bags: chunks that lie about their size, lengths that point past the file.

A compression bomb (a chunk whose header declares ~788 KB and whose data decompresses to 1 GB)
must cost no more than a real chunk: it is a damaged chunk, reported in one line (or skipped by
the recovery scan), with the CLI's peak memory well under 1 GB. Every length read from a ROS1
file is checked against the bytes there before anything is read or allocated.
"""

from __future__ import annotations

import bz2
import json
import shutil
import struct
import subprocess
import sys
import time
from pathlib import Path

import lz4.frame
import numpy as np
import pytest
from gen_kuavo_bag import write_kuavo_bag, write_unindexed_copy

from spill2lerobot.bag import bounded
from spill2lerobot.bag.ros1 import BagError, Ros1Bag
from spill2lerobot.bag.ros1 import reader as ros1

OPTIONS = ["--set", "dataset.resize.width=64", "--set", "dataset.resize.height=48"]
OPTIONS += ["--set", "video.codec=libx264", "--set", "video.preset=ultrafast"]
BOMB_SIZE = 1 << 30  # what each bomb decompresses to
RSS_LIMIT = 600 << 20  # well under the 1 GB the issue asks; the bombs took over 2 GB unbounded
TIME_LIMIT = 60.0
U32 = struct.Struct("<I")

# A child that runs a command and reports that command's peak RSS (the only child it waits for).
_MEASURE = """
import resource, subprocess, sys
code = subprocess.run(sys.argv[1:], timeout=300).returncode
print(f"PEAK_RSS_KB={resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss}", file=sys.stderr)
sys.exit(code)
"""


def measured(*args: str) -> tuple[subprocess.CompletedProcess, int, float]:
    """Run ``args`` in a fresh process: (result without the RSS line, peak RSS in bytes, seconds)."""
    started = time.monotonic()
    result = subprocess.run([sys.executable, "-c", _MEASURE, *args], capture_output=True, text=True, timeout=360)
    seconds = time.monotonic() - started
    lines = result.stderr.splitlines()
    assert lines and lines[-1].startswith("PEAK_RSS_KB="), result.stderr[-2000:]
    peak = int(lines[-1].split("=")[1]) * 1024
    result.stderr = "\n".join(lines[:-1])
    return result, peak, seconds


def cli(*args: str) -> tuple[subprocess.CompletedProcess, int, float]:
    return measured(sys.executable, "-m", "spill2lerobot", *args)


def assert_bounded(result: subprocess.CompletedProcess, peak: int, seconds: float) -> None:
    assert "Traceback" not in result.stderr, result.stderr[-3000:]
    assert peak < RSS_LIMIT, f"peak RSS {peak >> 20} MB"
    assert seconds < TIME_LIMIT


# --- crafting hostile bags ----------------------------------------------------------------------


def _fields(header: bytes) -> dict[bytes, tuple[int, bytes]]:
    """name -> (offset of the value in the header, value)."""
    out, pos = {}, 0
    while pos < len(header):
        (size,) = U32.unpack_from(header, pos)
        name, _, value = header[pos + 4 : pos + 4 + size].partition(b"=")
        out[name] = (pos + 4 + len(name) + 1, value)
        pos += 4 + size
    return out


def _records(data: bytes, pos: int):
    """(pos, header, data) of each top-level record from ``pos``."""
    while pos < len(data):
        (hlen,) = U32.unpack_from(data, pos)
        header = data[pos + 4 : pos + 4 + hlen]
        (dlen,) = U32.unpack_from(data, pos + 4 + hlen)
        start = pos + 8 + hlen
        yield pos, header, data[start : start + dlen]
        pos = start + dlen


def _first_record(data: bytes) -> int:
    (hlen,) = U32.unpack_from(data, 13)
    (pad,) = U32.unpack_from(data, 17 + hlen)
    return 17 + hlen + 4 + pad


def chunk_positions(path: Path) -> list[int]:
    data = path.read_bytes()
    return [pos for pos, header, _ in _records(data, _first_record(data)) if _fields(header)[b"op"][1] == b"\x05"]


def replace_chunk_data(src: Path, dst: Path, which: int, data: bytes) -> Path:
    """Copy a bag giving chunk number ``which`` the data ``data``; its header (the declared size)
    stays, the chunk infos and index_pos follow the records that moved."""
    old = src.read_bytes()
    first = _first_record(old)
    out = bytearray(old[:first])
    moved: dict[int, int] = {}
    number = 0
    for pos, header, body in _records(old, first):
        fields = _fields(header)
        moved[pos] = len(out)
        if fields[b"op"][1] == b"\x05":
            if number == which:
                body = data
            number += 1
        elif fields[b"op"][1] == b"\x06":
            at, value = fields[b"chunk_pos"]
            header = header[:at] + struct.pack("<Q", moved[struct.unpack("<Q", value)[0]]) + header[at + 8 :]
        out += U32.pack(len(header)) + header + U32.pack(len(body)) + body
    (hlen,) = U32.unpack_from(old, 13)
    at, value = _fields(old[17 : 17 + hlen])[b"index_pos"]
    struct.pack_into("<Q", out, 17 + at, moved[struct.unpack("<Q", value)[0]])
    dst.write_bytes(bytes(out))
    return dst


def patch_header_field(path: Path, record_pos: int, name: bytes, value: bytes) -> None:
    """Overwrite a field of the record header at ``record_pos`` (same length)."""
    data = bytearray(path.read_bytes())
    (hlen,) = U32.unpack_from(data, record_pos)
    at, old = _fields(bytes(data[record_pos + 4 : record_pos + 4 + hlen]))[name]
    assert len(old) == len(value)
    data[record_pos + 4 + at : record_pos + 4 + at + len(value)] = value
    path.write_bytes(bytes(data))


def bz2_bomb(size: int = BOMB_SIZE) -> bytes:
    """``size`` zero bytes as concatenated bz2 streams (which bz2.decompress reads): ~6 KB per GB."""
    stream = bz2.compress(bytes(8 << 20))
    return stream * (size // (8 << 20))


def lz4_bomb(size: int = BOMB_SIZE) -> bytes:
    """``size`` zero bytes in one LZ4 frame (~4.4 MB per GB)."""
    compressor = lz4.frame.LZ4FrameCompressor()
    block = bytes(1 << 20)
    return compressor.begin() + b"".join(compressor.compress(block) for _ in range(size >> 20)) + compressor.flush()


@pytest.fixture(scope="module")
def sources(tmp_path_factory) -> dict[str, Path]:
    """3-second bags (bz2, lz4 chunks) and a dataset converted from each, for validate --against."""
    folder = tmp_path_factory.mktemp("bounds")
    out = {}
    for compression in ("bz2", "lz4"):
        path = folder / f"{compression}.bag"
        write_kuavo_bag(path, 3.0, seed=3, width=64, height=48, compression=compression)
        out[compression] = path
    return out


BOMBS = {"bz2": bz2_bomb, "lz4": lz4_bomb}


@pytest.fixture(scope="module")
def bombed(sources, tmp_path_factory) -> dict[str, Path]:
    """Each source bag with its first chunk (the first images) replaced by a 1 GB bomb."""
    folder = tmp_path_factory.mktemp("bombs")
    return {c: replace_chunk_data(src, folder / f"bomb-{c}.bag", 0, BOMBS[c]()) for c, src in sources.items()}


# --- bounded.decompress and size_problem ----------------------------------------------------------


def test_decompression_stops_one_byte_past_the_declared_size():
    single_bz2 = bz2.compress(bytes(8 << 20))  # one stream: max_length stops it mid-stream
    for compression, data in (("bz2", single_bz2), ("bz2", bz2_bomb(64 << 20)), ("lz4", lz4_bomb(64 << 20))):
        assert len(bounded.decompress(compression, data, 1000)) == 1001
    zstd = bounded._zstd()
    assert len(bounded.decompress("zstd", zstd.compress(bytes(8 << 20)), 1000)) == 1001


def test_real_chunks_decompress_exactly():
    payload = np.random.default_rng(1).integers(0, 4, 300_000, dtype=np.uint8).tobytes()
    zstd = bounded._zstd()
    for compression, data in (
        ("bz2", bz2.compress(payload)),
        ("bz2", bz2.compress(payload[:1000]) + bz2.compress(payload[1000:])),  # two streams, as bz2 reads
        ("lz4", lz4.frame.compress(payload)),
        ("zstd", zstd.compress(payload)),
        ("none", payload),
    ):
        assert bounded.decompress(compression, data, len(payload)) == payload


@pytest.mark.parametrize("compression", ["bz2", "lz4", "zstd"])
def test_damaged_or_cut_compressed_data_is_a_value_error(compression):
    payload = bytes(range(256)) * 400
    whole = {"bz2": bz2.compress, "lz4": lz4.frame.compress, "zstd": bounded._zstd().compress}[compression](payload)
    for data in (whole[: len(whole) // 2], b"garbage" * 20):
        with pytest.raises(ValueError):
            bounded.decompress(compression, data, len(payload))


def test_declared_sizes_are_checked_before_reading():
    assert bounded.size_problem("bz2", 300_000, 786_432) is None  # a real chunk
    assert bounded.size_problem("bz2", 100, 786_432) is None  # tiny chunks may claim any ratio
    assert bounded.size_problem("lz4", 20_000_000, 100_000_000) is None
    assert "more than the 256 MiB" in bounded.size_problem("lz4", 10 << 20, 1 << 30)
    assert "more than 1000x" in bounded.size_problem("bz2", 9_000, 9 << 20)
    assert bounded.size_problem("none", 10, 12) == "holds 10 bytes, header says 12"


# --- Ros1Bag on bombs and bad lengths ----------------------------------------------------------------


@pytest.mark.parametrize("compression", ["bz2", "lz4"])
def test_a_bomb_chunk_is_a_damaged_chunk(bombed, compression):
    path = bombed[compression]
    pos = chunk_positions(path)[0]
    with Ros1Bag(path) as bag, pytest.raises(BagError) as err:
        list(bag.messages([c.topic for c in bag.connections]))
    assert str(err.value).startswith(f"{path}: chunk at offset {pos} holds more than ")
    assert "header says" in str(err.value) and "damaged" in str(err.value)


def test_a_chunk_declaring_an_absurd_size_is_refused_before_reading(sources, tmp_path):
    path = shutil.copy(sources["lz4"], tmp_path / "absurd.bag")
    pos = chunk_positions(path)[1]
    patch_header_field(path, pos, b"size", U32.pack(0xFFFF_FFF0))
    with Ros1Bag(path) as bag:
        before = bag.bytes_read
        with pytest.raises(BagError, match=rf"chunk at offset {pos} declares 4294967280 bytes, more than the 256 MiB"):
            list(bag.messages([c.topic for c in bag.connections]))
        assert bag.bytes_read - before < 1 << 20  # the data of the absurd chunk was not read


def test_the_recovery_scan_stops_at_a_bomb_and_keeps_the_chunks_before(sources, tmp_path):
    """In an unindexed bag the scan walks the last chunk: a bomb there is dropped, with a note."""
    src = sources["bz2"]
    last = len(chunk_positions(src)) - 1
    bomb = replace_chunk_data(src, tmp_path / "bomb-last.bag", last, bz2_bomb())
    path = write_unindexed_copy(bomb, tmp_path / "bomb-last.bag.active")
    with Ros1Bag(path, recover=True) as bag:
        assert bag.recovery is not None
        assert bag.recovery.chunks == last
        assert f"chunk {last + 1} at byte {chunk_positions(path)[last]} is unreadable" in bag.recovery.reason
        assert "holds more than" in bag.recovery.reason
        assert sum(1 for _ in bag.messages([c.topic for c in bag.connections])) == bag.recovery.messages


def test_the_recovery_scan_stops_at_an_absurd_declared_size(sources, tmp_path):
    src = shutil.copy(sources["lz4"], tmp_path / "absurd.bag")
    pos = chunk_positions(src)[2]
    patch_header_field(src, pos, b"size", U32.pack(0x7FFF_FFFF))
    path = write_unindexed_copy(src, tmp_path / "absurd.bag.active")
    with Ros1Bag(path, recover=True) as bag:
        assert bag.recovery.chunks == 2
        assert f"chunk 3 at byte {pos} declares 2147483647 bytes" in bag.recovery.reason


def _damaged(path: Path, recover: bool = False) -> str:
    """The one-line BagError a damaged bag gives (opening it, then reading every message)."""
    with pytest.raises(BagError) as err, Ros1Bag(path, recover=recover) as bag:  # never a MemoryError
        for _ in bag.messages([c.topic for c in bag.connections]):
            pass
    message = str(err.value)
    assert message.startswith(f"{path}: ") and "\n" not in message
    return message


def test_a_chunk_data_length_past_the_file_is_refused_before_reading(sources, tmp_path):
    path = shutil.copy(sources["bz2"], tmp_path / "dlen.bag")
    pos = chunk_positions(path)[0]
    data = bytearray(path.read_bytes())
    (hlen,) = U32.unpack_from(data, pos)
    U32.pack_into(data, pos + 4 + hlen, 0xFFFF_FF00)
    path.write_bytes(bytes(data))
    message = _damaged(path)
    assert "4294967040" in message and "declares" in message  # more than a chunk may hold


def test_a_chunk_header_length_past_the_file_is_a_damaged_chunk(sources, tmp_path):
    path = shutil.copy(sources["bz2"], tmp_path / "hlen.bag")
    pos = chunk_positions(path)[1]
    data = bytearray(path.read_bytes())
    U32.pack_into(data, pos, 0x7FFF_FFFF)
    path.write_bytes(bytes(data))
    assert f"chunk at offset {pos} is damaged (header length 2147483647)" in _damaged(path)


def test_absurd_counts_in_the_index_are_a_damaged_index(sources, tmp_path):
    src = sources["bz2"]
    data = src.read_bytes()
    infos = _chunk_infos(data)
    index_data = [pos for pos, header, _ in _records(data, _first_record(data)) if _fields(header)[b"op"][1] == b"\x04"]
    # a chunk info that claims 2**32 - 1 connections
    path = shutil.copy(src, tmp_path / "info-count.bag")
    patch_header_field(path, infos[0], b"count", U32.pack(0xFFFF_FFFF))
    assert "bag index is damaged or truncated (chunk info of" in _damaged(path)
    with Ros1Bag(path, recover=True) as bag:  # stage 1 reads it by scanning instead
        assert bag.recovery is not None and bag.recovery.chunks == len(infos)
    # an IndexData record that claims 2**32 - 1 entries
    path = shutil.copy(src, tmp_path / "index-count.bag")
    patch_header_field(path, index_data[0], b"count", U32.pack(0xFFFF_FFFF))
    with Ros1Bag(path) as bag, pytest.raises(BagError, match=r"index data after chunk at offset \d+ is damaged"):
        for topic in bag.topics():
            bag.topic_times(topic)
    # a bag header that claims 2**32 - 1 connections and chunks
    path = shutil.copy(src, tmp_path / "conn-count.bag")
    patch_header_field(path, 13, b"conn_count", U32.pack(0xFFFF_FFFF))
    assert "bag index is damaged or truncated" in _damaged(path)


def test_an_index_pos_far_from_the_end_is_scanned_instead(sources, tmp_path, monkeypatch):
    monkeypatch.setattr(ros1, "_MAX_INDEX_BYTES", 1000)  # the real bound (256 MiB) needs a huge file
    assert "implausibly large (index_pos damaged?)" in _damaged(sources["lz4"])
    with Ros1Bag(sources["lz4"], recover=True) as bag:
        assert bag.recovery is not None and "index" in bag.recovery.reason
        assert bag.recovery.chunks == len(chunk_positions(sources["lz4"]))


def _chunk_infos(data: bytes) -> list[int]:
    return [pos for pos, header, _ in _records(data, _first_record(data)) if _fields(header)[b"op"][1] == b"\x06"]


def _field(data: bytes, record_pos: int, name: bytes) -> bytes:
    """The value of a field of the record header at ``record_pos``."""
    (hlen,) = U32.unpack_from(data, record_pos)
    return _fields(data[record_pos + 4 : record_pos + 4 + hlen])[name][1]


def test_an_index_listing_a_chunk_twice_is_damaged(sources, tmp_path):
    """Each listing would be read, and held, again: a small file could make the reader hold
    one chunk thousands of times."""
    path = shutil.copy(sources["bz2"], tmp_path / "twice.bag")
    data = path.read_bytes()
    infos = _chunk_infos(data)
    patch_header_field(path, infos[1], b"chunk_pos", _field(data, infos[0], b"chunk_pos"))
    assert "bag index lists a chunk more than once" in _damaged(path)


def test_chunks_overlapping_in_time_are_held_only_up_to_a_bound(sources, tmp_path, monkeypatch):
    """Chunk infos that all claim the bag's start make the reader load every chunk before it can
    yield the first message; past ``_MAX_HELD`` bytes that is a damaged bag, not a memory blow-up."""
    src = sources["lz4"]
    with Ros1Bag(src) as bag:
        wanted = {c.id: c for c in bag.connections}
        sizes = [sum(len(m.data) for m in bag._load_chunk(c, wanted, 0, 1 << 64, {})) for c in bag.chunks]
        expected = [(m.topic, m.time_ns) for m in bag.messages(list(bag.topics()))]
    assert len(sizes) >= 5
    monkeypatch.setattr(ros1, "_MAX_HELD", 2 * max(sizes))
    with Ros1Bag(src) as bag:  # a real bag holds a chunk or two at a time
        assert [(m.topic, m.time_ns) for m in bag.messages(list(bag.topics()))] == expected
    path = shutil.copy(src, tmp_path / "overlap.bag")
    data = path.read_bytes()
    infos = _chunk_infos(data)
    for pos in infos:
        patch_header_field(path, pos, b"start_time", _field(data, infos[0], b"start_time"))
    assert "MiB of messages at once; the bag is damaged" in _damaged(path)


# --- the CLI on bombs: one line or a recovery, bounded memory and time ------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("compression", ["bz2", "lz4"])
def test_convert_refuses_a_bomb_in_one_line_with_bounded_memory(bombed, compression, tmp_path):
    path = bombed[compression]
    result, peak, seconds = cli("convert", str(path), str(tmp_path / "out"), *OPTIONS)
    assert_bounded(result, peak, seconds)
    assert result.returncode == 2
    (line,) = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert line.startswith(f"error: {path}: chunk at offset {chunk_positions(path)[0]} holds more than ")
    assert not (tmp_path / "out").exists()


@pytest.mark.slow
@pytest.mark.parametrize("compression", ["bz2", "lz4"])
def test_inspect_reports_a_bomb_with_bounded_memory(bombed, compression):
    path = bombed[compression]
    result, peak, seconds = cli("inspect", str(path))
    assert_bounded(result, peak, seconds)
    assert result.returncode == 0
    assert f"chunk at offset {chunk_positions(path)[0]} holds more than" in result.stdout


@pytest.mark.slow
@pytest.mark.parametrize("compression", ["bz2", "lz4"])
def test_validate_against_a_bomb_reports_it_with_bounded_memory(sources, bombed, compression, tmp_path):
    out = tmp_path / "out"
    done = subprocess.run(
        [sys.executable, "-m", "spill2lerobot", "convert", str(sources[compression]), str(out), *OPTIONS],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    against = tmp_path / "against"
    against.mkdir()
    bomb = shutil.copy(bombed[compression], against / sources[compression].name)
    result, peak, seconds = cli("validate", str(out), "--against", str(bomb), *OPTIONS)
    assert_bounded(result, peak, seconds)
    assert result.returncode == 1
    problems = [line for line in result.stdout.splitlines() if line.startswith(str(bomb))]
    assert problems and all("holds more than" in line for line in problems)


@pytest.mark.slow
def test_convert_recovers_an_unindexed_bag_whose_last_chunk_is_a_bomb(sources, tmp_path):
    src = sources["lz4"]
    last = len(chunk_positions(src)) - 1
    bomb = replace_chunk_data(src, tmp_path / "bomb.bag", last, lz4_bomb())
    path = write_unindexed_copy(bomb, tmp_path / "recorded.bag")
    out = tmp_path / "out"
    result, peak, seconds = cli("convert", str(path), str(out), *OPTIONS)
    assert_bounded(result, peak, seconds)
    assert result.returncode == 0, result.stderr
    assert f"recovered {last} chunks" in result.stderr and "holds more than" in result.stderr
    assert json.loads((out / "meta/info.json").read_text())["total_frames"] > 0


# --- ROS2: mcap chunks and rosbag2 message compression ---------------------------------------------


def _write_ros2(path: Path, zstd_chunks: bool = False, payload: bytes | None = None) -> None:
    """A small rosbag2 folder (mcap) of 300 Float64MultiArray messages, in zstd chunks or not;
    ``payload``: the bytes written for every message instead."""
    from rosbags.rosbag2 import Writer
    from rosbags.rosbag2.enums import CompressionFormat, CompressionMode, StoragePlugin
    from rosbags.typesys import Stores, get_typestore

    store = get_typestore(Stores.ROS2_HUMBLE)
    array = store.types["std_msgs/msg/Float64MultiArray"]
    layout = store.types["std_msgs/msg/MultiArrayLayout"]
    writer = Writer(path, version=9, storage_plugin=StoragePlugin.MCAP)
    if zstd_chunks:
        writer.set_compression(CompressionMode.STORAGE, CompressionFormat.ZSTD)
    rng = np.random.default_rng(0)
    with writer:
        conn = writer.add_connection("/data", "std_msgs/msg/Float64MultiArray", typestore=store)
        for k in range(300):
            msg = array(layout=layout(dim=[], data_offset=0), data=rng.random(1000))
            data = payload or store.serialize_cdr(msg, "std_msgs/msg/Float64MultiArray")
            writer.write(conn, 10**18 + k * 10**7, data)


def _mcap_chunks(data: bytes) -> list[tuple[int, int]]:
    """(offset, length) of the compressed records of each mcap chunk."""
    out, pos = [], 8
    while pos < len(data) and data[pos] != 0x0F:  # up to the data end record
        (length,) = struct.unpack_from("<Q", data, pos + 1)
        if data[pos] == 0x06:
            body = pos + 9
            (name_len,) = U32.unpack_from(data, body + 28)
            (size,) = struct.unpack_from("<Q", data, body + 32 + name_len)
            out.append((body + 40 + name_len, size))
        pos += 9 + length
    return out


_READ_ALL = """
import sys
from spill2lerobot.bag import BagError, open_bag
try:
    with open_bag(sys.argv[1]) as bag:
        print("messages", sum(1 for _ in bag.messages(list(bag.topics()))))
except BagError as exc:
    print("BagError:", exc)
"""


def test_rosbags_uses_the_bounded_mcap_decompressors():
    from rosbags.rosbag2 import storage_mcap

    assert storage_mcap.DECOMPRESSORS["zstd"].__qualname__.startswith("_bounded_mcap")
    assert storage_mcap.DECOMPRESSORS["lz4"].__qualname__.startswith("_bounded_mcap")


def test_an_mcap_zstd_chunk_bomb_is_a_damaged_bag_with_bounded_memory(tmp_path):
    folder = tmp_path / "bag"
    _write_ros2(folder, zstd_chunks=True)
    (mcap,) = folder.glob("*.mcap")
    data = bytearray(mcap.read_bytes())
    at, size = _mcap_chunks(bytes(data))[0]
    zstd = bounded._zstd()
    bomb = zstd.compress(bytes(8 << 20)) * (BOMB_SIZE // (8 << 20))  # 1 GB in ~35 KB of frames
    pad = size - len(bomb) - 8  # a skippable frame keeps every offset of the file
    data[at : at + size] = bomb + struct.pack("<II", 0x184D2A50, pad) + bytes(pad)
    mcap.write_bytes(bytes(data))
    result, peak, seconds = measured(sys.executable, "-c", _READ_ALL, str(folder))
    assert_bounded(result, peak, seconds)
    assert result.stdout.startswith(f"BagError: {folder}: a chunk or message is damaged (Chunk size mismatch")


def test_a_rosbag2_message_mode_zstd_bomb_is_a_damaged_bag_with_bounded_memory(tmp_path):
    """rosbag2 --compression-mode message: each message is a zstd frame; here 1 GB of zeros."""
    import yaml

    folder = tmp_path / "bag"
    zstd = bounded._zstd()
    _write_ros2(folder, payload=zstd.compress(bytes(8 << 20)) * (BOMB_SIZE // (8 << 20)))
    meta_path = folder / "metadata.yaml"
    meta = yaml.safe_load(meta_path.read_text())
    meta["rosbag2_bagfile_information"].update(compression_format="zstd", compression_mode="message")
    meta_path.write_text(yaml.safe_dump(meta))
    result, peak, seconds = measured(sys.executable, "-c", _READ_ALL, str(folder))
    assert_bounded(result, peak, seconds)
    assert result.stdout.startswith(f"BagError: {folder}: a chunk or message is damaged (a message of ")


def test_the_measuring_child_sees_a_big_allocation():
    """The RSS these tests assert is real: 300 MB held by the child shows up."""
    result, peak, _ = measured(sys.executable, "-c", "x = bytearray(300 << 20); x[::4096] = b'1' * len(x[::4096])")
    assert result.returncode == 0 and peak > 300 << 20
