"""Hostile bag files through ``convert`` and ``inspect``: damaged records with huge length and
count fields, offsets past the end, unknown compression, files that are not regular files (a
folder, a FIFO, /dev/zero: refused, never waited on or read without end), bags without
messages, and seeded random mutations. Exit 0 (converted around the damage), 2 (refused) or 3
(some bags of several failed); never a traceback, a hang or unbounded memory.
"""

from __future__ import annotations

import os
import random
import struct
from collections.abc import Callable
from pathlib import Path

import craft
from assets import Assets, put_bag
from harness import FAST_ARGS, Case, CaseDir, registrar
from rosbags.rosbag1 import Reader, Writer

CASES: list[Case] = []
case = registrar(CASES, "bag")
DAMAGED_BAG = {0, 2, 3}
_U32 = struct.Struct("<I")
_U64 = struct.Struct("<Q")

Mutation = Callable[[bytes, random.Random], bytes]


# --- record-level damage -----------------------------------------------------------------------


def _edit_records(edit: Callable[[list[craft.Record]], None], fix_offsets: bool = True) -> Mutation:
    def mutate(data: bytes, rng: random.Random) -> bytes:
        recs = craft.records(data)
        edit(recs)
        return craft.assemble(recs, fix_offsets)

    return mutate


def _first(recs: list[craft.Record], op: int) -> craft.Record:
    return next(r for r in recs if r.raw_header is None and r.op == op)


def _set_field(op: int, name: bytes, value: bytes, every: bool = False) -> Mutation:
    def edit(recs: list[craft.Record]) -> None:
        for rec in [r for r in recs if r.op == op] if every else [_first(recs, op)]:
            rec.set(name, value)

    return _edit_records(edit)


def _patch_u32_at(where: Callable[[bytes], int], value: int) -> Mutation:
    def mutate(data: bytes, rng: random.Random) -> bytes:
        buf = bytearray(data)
        _U32.pack_into(buf, where(data), value)
        return bytes(buf)

    return mutate


def _first_chunk_pos(data: bytes) -> int:
    return _first(craft.records(data), craft.OP_CHUNK).pos


def _first_chunk_data_len_pos(data: bytes) -> int:
    pos = _first_chunk_pos(data)
    return pos + 4 + _U32.unpack_from(data, pos)[0]


def _first_connection_pos(data: bytes) -> int:
    recs = craft.records(data)
    index_pos = _U64.unpack(recs[0].get(b"index_pos"))[0]
    return next(r.pos for r in recs if r.op == craft.OP_CONNECTION and r.pos >= index_pos)


def _message_data_len_huge(data: bytes, rng: random.Random) -> bytes:
    """Inside the first (uncompressed) chunk, the first message record claims ~4 GB of data."""
    recs = craft.records(data)
    chunk = _first(recs, craft.OP_CHUNK)
    buf, pos = bytearray(chunk.data), 0
    while True:
        (hlen,) = _U32.unpack_from(buf, pos)
        fields = dict(craft._fields(bytes(buf[pos + 4 : pos + 4 + hlen])))
        (dlen,) = _U32.unpack_from(buf, pos + 4 + hlen)
        if fields[b"op"] == bytes([craft.OP_MSG_DATA]):
            _U32.pack_into(buf, pos + 4 + hlen, 0xFFFFFFF0)
            break
        pos += 8 + hlen + dlen
    chunk.data = bytes(buf)
    return craft.assemble(recs)


def _index_offsets_past_chunk(recs: list[craft.Record]) -> None:
    index = _first(recs, craft.OP_INDEX_DATA)
    entries = bytearray(index.data)
    for pos in range(8, len(entries), 12):
        _U32.pack_into(entries, pos, 0xFFFFFFF0)
    index.data = bytes(entries)


def _index_times_far_future(recs: list[craft.Record]) -> None:
    for index in [r for r in recs if r.op == craft.OP_INDEX_DATA][:3]:
        entries = bytearray(index.data)
        for pos in range(0, len(entries), 12):
            _U32.pack_into(entries, pos, 0xFFFFFFFF)
        index.data = bytes(entries)


def _chunk_info_past_eof(recs: list[craft.Record]) -> None:
    info = _first(recs, craft.OP_CHUNK_INFO)
    info.set(b"chunk_pos", _U64.pack(1 << 40))


def _index_pos(value: int) -> Mutation:
    def edit(recs: list[craft.Record]) -> None:
        recs[0].set(b"index_pos", _U64.pack(value))

    return _edit_records(edit, fix_offsets=False)


MUTATIONS: dict[str, Mutation] = {
    "random-4k": lambda data, rng: rng.randbytes(4096),
    "magic-then-random": lambda data, rng: craft.MAGIC + rng.randbytes(8192),
    "only-magic": lambda data, rng: craft.MAGIC,
    "cut-at-20-bytes": lambda data, rng: data[:20],
    "cut-in-header-padding": lambda data, rng: data[:3000],
    "cut-after-first-chunk-header": lambda data, rng: data[: _first_chunk_pos(data) + 60],
    "bag-header-op-wrong": _set_field(craft.OP_BAG_HEADER, b"op", b"\x09"),
    "bag-header-conn-count-huge": _set_field(craft.OP_BAG_HEADER, b"conn_count", _U32.pack(0xFFFFFFFF)),
    "bag-header-chunk-count-huge": _set_field(craft.OP_BAG_HEADER, b"chunk_count", _U32.pack(0xFFFFFFFF)),
    "bag-header-index-pos-huge": _index_pos(1 << 63),
    "bag-header-index-pos-into-a-chunk": _index_pos(4096 + 13 + 200),
    "chunk-header-len-huge": _patch_u32_at(_first_chunk_pos, 0xFFFFFFFF),
    "chunk-data-len-huge": _patch_u32_at(_first_chunk_data_len_pos, 0xFFFFFFF0),
    "chunk-size-field-huge": _set_field(craft.OP_CHUNK, b"size", _U32.pack(0xFFFFFFFF)),
    "chunk-compression-unknown": _set_field(craft.OP_CHUNK, b"compression", b"zstd", every=True),
    "chunk-compression-1000-chars": _set_field(craft.OP_CHUNK, b"compression", b"x" * 1000),
    "message-data-len-huge": _message_data_len_huge,
    "index-data-count-huge": _set_field(craft.OP_INDEX_DATA, b"count", _U32.pack(0xFFFFFFFF)),
    "index-data-offsets-past-chunk": _edit_records(_index_offsets_past_chunk),
    "index-data-times-far-future": _edit_records(_index_times_far_future),
    "chunk-info-pos-past-eof": _edit_records(_chunk_info_past_eof, fix_offsets=False),
    "chunk-info-count-huge": _set_field(craft.OP_CHUNK_INFO, b"count", _U32.pack(0xFFFFFFFF)),
    "connection-header-len-huge": _patch_u32_at(_first_connection_pos, 0xFFFFFFFF),
}


def mutated_bag(a: Assets, name: str, source: str = "a") -> Path:
    def make(path: Path) -> None:
        path.write_bytes(MUTATIONS[name](a.bag(source).read_bytes(), random.Random(name)))

    return a.derived(f"mutated-{source}-{name}.bag", make)


def _mutated(name: str, command: str) -> Callable[[CaseDir, Assets], None]:
    def run(c: CaseDir, a: Assets) -> None:
        put_bag(c, mutated_bag(a, name), "bags/x.bag")
        hostile_command(c, command)

    return run


def hostile_command(c: CaseDir, command: str, bag: str = "bags/x.bag") -> None:
    if command == "convert":
        c.cli("convert", bag, "out", *FAST_ARGS, allowed=DAMAGED_BAG, out="out")
    elif command == "inspect":
        c.cli("inspect", bag, allowed=DAMAGED_BAG)
    elif command == "stage1":
        c.cli("stage1", bag, "sp", *FAST_ARGS, allowed=DAMAGED_BAG)
    else:
        c.cli("validate", "dataset", "--against", bag, *FAST_ARGS, allowed=DAMAGED_BAG | {1})


for _name in MUTATIONS:
    for _command in ("convert", "inspect"):
        CASES.append(Case("bag", f"{_name}-{_command}", _mutated(_name, _command)))


# --- files that are not bags ---------------------------------------------------------------------


def empty_bag(a: Assets, with_connections: bool) -> Path:
    """A valid bag with no messages (its connections, or none at all)."""

    def make(path: Path) -> None:
        with Reader(a.bag("a")) as source, Writer(path) as writer:
            for conn in source.connections if with_connections else []:
                craft.copy_connection(writer, conn)

    return a.derived(f"no-messages-{with_connections}.bag", make)


SPECIAL: dict[str, Callable[[CaseDir, Assets], None]] = {
    "empty-file": lambda c, a: c.path("bags/x.bag").write_bytes(b""),
    "folder-named-x.bag": lambda c, a: c.path("bags/x.bag").mkdir(),
    "fifo-named-x.bag": lambda c, a: os.mkfifo(c.path("bags/x.bag")),
    "dev-zero-linked-as-x.bag": lambda c, a: os.symlink("/dev/zero", c.path("bags/x.bag")),
    "dev-urandom-linked-as-x.bag": lambda c, a: os.symlink("/dev/urandom", c.path("bags/x.bag")),
    "link-loop-x.bag": lambda c, a: os.symlink("x.bag", c.path("bags/x.bag")),
    "no-messages": lambda c, a: put_bag(c, empty_bag(a, True), "bags/x.bag", protect=False),
    "no-connections": lambda c, a: put_bag(c, empty_bag(a, False), "bags/x.bag", protect=False),
}


def _special(name: str, command: str, with_good_bag: bool = False) -> Callable[[CaseDir, Assets], None]:
    def run(c: CaseDir, a: Assets) -> None:
        c.path("bags").mkdir()
        SPECIAL[name](c, a)
        c.protect("bags/x.bag")
        if command == "validate":
            put_bag(c, a.dataset(), "dataset")
        if with_good_bag:  # a folder of bags: the good one converts, the hostile one is reported
            put_bag(c, a.bag("a"), "bags/a.bag")
            c.cli("convert", "bags", "out", *FAST_ARGS, allowed={0, 2, 3}, out="out")
            return
        hostile_command(c, command)

    return run


for _name in SPECIAL:
    for _command in ("convert", "inspect"):
        CASES.append(Case("bag", f"{_name}-{_command}", _special(_name, _command)))
for _name in ("fifo-named-x.bag", "dev-zero-linked-as-x.bag"):
    for _command in ("stage1", "validate"):
        CASES.append(Case("bag", f"{_name}-{_command}", _special(_name, _command)))
    CASES.append(Case("bag", f"{_name}-in-a-folder-of-bags-convert", _special(_name, "convert", True)))


# --- seeded random mutations -------------------------------------------------------------------


def random_mutation(data: bytes, rng: random.Random) -> tuple[bytes, str]:
    buf = bytearray(data)
    kind = rng.choice(["flip", "truncate", "zero", "flip+truncate", "length-field", "splice"])
    if "flip" in kind:
        for _ in range(rng.randint(1, 32)):
            buf[rng.randrange(len(buf))] ^= 1 << rng.randrange(8)
    if kind == "zero":
        start = rng.randrange(len(buf))
        end = min(len(buf), start + rng.randint(1, 8192))
        buf[start:end] = bytes(end - start)
    if kind == "length-field":  # a u32 somewhere becomes huge: most are record or field lengths
        for _ in range(rng.randint(1, 4)):
            _U32.pack_into(buf, rng.randrange(len(buf) - 4), rng.choice([0xFFFFFFFF, 0x7FFFFFFF, 0x10000000]))
    if kind == "splice":
        size = rng.randint(16, 4096)
        src, dst = rng.randrange(len(buf) - size), rng.randrange(len(buf) - size)
        buf[dst : dst + size] = buf[src : src + size]
    if "truncate" in kind:
        del buf[rng.randrange(len(buf)) :]
    return bytes(buf), kind


SEEDS = range(14)
SOURCES = ("a", "bz2", "lz4")


def _seeded(seed: int, command: str) -> Callable[[CaseDir, Assets], None]:
    source = SOURCES[seed % len(SOURCES)]

    def run(c: CaseDir, a: Assets) -> None:
        def make(path: Path) -> None:
            path.write_bytes(random_mutation(a.bag(source).read_bytes(), random.Random(seed))[0])

        put_bag(c, a.derived(f"seeded-{seed}.bag", make), "bags/x.bag")
        hostile_command(c, command)

    return run


for _seed in SEEDS:
    _kind = random_mutation(bytes(16384), random.Random(_seed))[1]
    CASES.append(Case("bag", f"seed{_seed}-{SOURCES[_seed % 3]}-{_kind}-convert", _seeded(_seed, "convert")))
for _seed in SEEDS[:4]:
    _kind = random_mutation(bytes(16384), random.Random(_seed))[1]
    CASES.append(Case("bag", f"seed{_seed}-{SOURCES[_seed % 3]}-{_kind}-inspect", _seeded(_seed, "inspect")))
