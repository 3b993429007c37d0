"""Walking a decompressed ROS1 chunk: the wanted messages (streaming) or every message's time.

Both are hot loops (every message of a bag passes one of them), hence the local names and the
one-``struct``-call fast path for message records (``MessageLayout``).
"""

from __future__ import annotations

import contextlib
import struct
from collections.abc import Callable
from operator import itemgetter
from typing import Any, cast

from spill2lerobot.bag.base import Message
from spill2lerobot.bag.ros1.records import (
    NS,
    OP_CONNECTION,
    OP_MSG_DATA,
    U32,
    Connection,
    parse_connection,
    parse_header,
    record_op,
    time_ns,
)

# Value formats of the message header fields we extract: conn u32, time (sec u32, nsec u32).
_MSG_VALUE_FORMATS = {b"conn": "I", b"time": "II"}
_Unpack = Callable[[bytes, int], tuple[Any, ...]]
_Pick = Callable[[tuple[Any, ...]], Any]
_NewMessage = Callable[[type[Message], tuple[str, int, bytes, Connection]], Message]


class MessageLayout:
    """Decodes MessageData records whose header has one known field order, in one unpack.

    Writers emit the header fields of all message records in the same order (rosbag: conn,
    op, time; rosbags: op, conn, time). Learned from the first message record of a chunk,
    one ``struct`` call then yields the header length, field names, op, conn, time and
    data length; the names and the op are compared as bytes so a record of any other shape
    falls back to the generic parser.
    """

    def __init__(self, header: bytes) -> None:
        fmt = ["<4s"]  # header_len, kept as raw bytes so it is part of the check
        check_idx = [0]
        expected = [U32.pack(len(header))]
        value_idx: dict[bytes, list[int]] = {}
        nvals = 1
        pos = 0
        while pos < len(header):
            (size,) = U32.unpack_from(header, pos)
            field = header[pos : pos + 4 + size]
            name = field[4:].partition(b"=")[0]
            prefix_len = 4 + len(name) + 1  # length, name, '='
            check_idx.append(nvals)
            if name == b"op":  # length, name and value: all must match
                fmt.append(f"{len(field)}s")
                expected.append(field)
                nvals += 1
            elif name in _MSG_VALUE_FORMATS:
                values = _MSG_VALUE_FORMATS[name]
                if len(field) - prefix_len != struct.calcsize("<" + values):
                    raise ValueError(f"message header field {name!r} has an odd size")
                fmt.append(f"{prefix_len}s{values}")
                expected.append(field[:prefix_len])
                value_idx[name] = list(range(nvals + 1, nvals + 1 + len(values)))
                nvals += 1 + len(values)
            else:
                raise ValueError(f"unexpected message header field {name!r}")
            pos += 4 + size
        if len(value_idx) != 2 or len(check_idx) != 4:
            raise ValueError("message header without exactly op, conn and time")
        fmt.append("I")  # data_len
        self.struct = struct.Struct("".join(fmt))
        self.size = self.struct.size  # bytes from the record start to its data
        self.check: _Pick = itemgetter(check_idx[0], *check_idx[1:])
        self.expected = tuple(expected)
        picks = [*value_idx[b"conn"], *value_idx[b"time"], nvals]
        self.values: _Pick = itemgetter(picks[0], *picks[1:])


def _never(*args: Any) -> Any:
    """Stands in for a layout not learned yet (never called: the fast path cannot fit before)."""
    raise AssertionError("message layout used before it was learned")


def walk_chunk(buf: bytes, wanted: dict[int, Connection], start_ns: int, stop_ns: int) -> list[Message]:
    """The messages of ``wanted`` connections within [start_ns, stop_ns], in file order."""
    out: list[Message] = []
    append = out.append
    new_message = cast(_NewMessage, tuple.__new__)  # skips NamedTuple.__new__'s Python-level call
    end = len(buf)
    unpack_u32 = U32.unpack_from
    # Fast-path parts, set once the first message record shows the header layout.
    fast_size = end + 1  # never fits until then
    unpack_msg: _Unpack = _never
    check: _Pick = _never
    values: _Pick = _never
    learned = False
    expected: tuple[bytes, ...] = ()
    pos = 0
    while pos < end:
        if pos + fast_size <= end:
            vals = unpack_msg(buf, pos)
            if check(vals) == expected:
                conn_id, sec, nsec, dlen = values(vals)
                dstart = pos + fast_size
                pos = dstart + dlen
                if pos > end:
                    raise ValueError("message runs past the chunk end")
                conn = wanted.get(conn_id)
                if conn is not None:
                    t = sec * NS + nsec
                    if start_ns <= t <= stop_ns:
                        append(new_message(Message, (conn.topic, t, buf[dstart:pos], conn)))
                continue
        # Generic path: connection records, and the first message record (learn layout).
        (hlen,) = unpack_u32(buf, pos)
        header = buf[pos + 4 : pos + 4 + hlen]
        fields = parse_header(header)
        (dlen,) = unpack_u32(buf, pos + 4 + hlen)
        dstart = pos + 4 + hlen + 4
        pos = dstart + dlen
        if pos > end:
            raise ValueError("record runs past the chunk end")
        if record_op(fields) != OP_MSG_DATA:
            continue  # connection records repeat what the index holds
        if not learned:
            with contextlib.suppress(ValueError):  # odd layout: stay on this path
                layout = MessageLayout(header)
                fast_size, unpack_msg = layout.size, layout.struct.unpack_from
                check, expected, values = layout.check, layout.expected, layout.values
                learned = True
        conn = wanted.get(U32.unpack(fields["conn"])[0])
        if conn is not None:
            t = time_ns(fields["time"])
            if start_ns <= t <= stop_ns:
                append(Message(conn.topic, t, buf[dstart:pos], conn))
    return out


def survey(buf: bytes) -> tuple[list[Connection], dict[int, list[int]]]:
    """A chunk's Connection records and its message times per connection (file order)."""
    conns: list[Connection] = []
    times: dict[int, list[int]] = {}
    end = len(buf)
    unpack_u32 = U32.unpack_from
    fast_size = end + 1  # never fits until a message record shows the header layout
    unpack_msg: _Unpack = _never
    check: _Pick = _never
    values: _Pick = _never
    learned = False
    expected: tuple[bytes, ...] = ()
    pos = 0
    while pos < end:
        if pos + fast_size <= end:
            vals = unpack_msg(buf, pos)
            if check(vals) == expected:
                conn_id, sec, nsec, dlen = values(vals)
                pos += fast_size + dlen
                if pos > end:
                    raise ValueError("message runs past the chunk end")
                conn_times = times.get(conn_id)
                if conn_times is None:
                    times[conn_id] = [sec * NS + nsec]
                else:
                    conn_times.append(sec * NS + nsec)
                continue
        (hlen,) = unpack_u32(buf, pos)
        header = buf[pos + 4 : pos + 4 + hlen]
        fields = parse_header(header)
        (dlen,) = unpack_u32(buf, pos + 4 + hlen)
        record_end = pos + 4 + hlen + 4 + dlen
        if record_end > end:
            raise ValueError("record runs past the chunk end")
        op = record_op(fields)
        if op == OP_CONNECTION:
            conns.append(parse_connection(buf, pos)[0])
        elif op == OP_MSG_DATA:
            if not learned:
                with contextlib.suppress(ValueError):  # odd layout: stay on this path
                    layout = MessageLayout(header)
                    fast_size, unpack_msg = layout.size, layout.struct.unpack_from
                    check, expected, values = layout.check, layout.expected, layout.values
                    learned = True
            times.setdefault(U32.unpack(fields["conn"])[0], []).append(time_ns(fields["time"]))
        pos = record_end
    return conns, times
