"""Crash-safe file writing: temporary name, flush, fsync, rename."""

from __future__ import annotations

import contextlib
import errno
import json
import os
import secrets
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

TMP_SUFFIX = ".tmp"


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def tmp_path(path: Path) -> Path:
    return path.with_name(path.name + TMP_SUFFIX)


def unique_tmp_path(path: Path) -> Path:
    """A temporary name no other writer uses (``NAME.<pid>-<random>.tmp``): two workers producing
    the same file at once (a retried unit) each rename their own complete file into place."""
    return path.with_name(f"{path.name}.{os.getpid()}-{secrets.token_hex(4)}{TMP_SUFFIX}")


def commit(tmp: Path, final: Path) -> None:
    """Make ``tmp`` durable and give it its final name."""
    with open(tmp, "rb+") as handle:
        os.fsync(handle.fileno())
    os.replace(tmp, final)
    fsync_dir(final.parent)


@contextlib.contextmanager
def removed_on_failure(tmp: Path) -> Iterator[Path]:
    """``tmp`` is removed if the block fails or is stopped (SIGTERM, Ctrl-C) before its commit:
    a stopped run leaves no temporary file behind."""
    try:
        yield tmp
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


def write_bytes_atomic(path: Path, data: bytes, *, unique: bool = False) -> None:
    """``unique``: under a temporary name of this writer's own (``unique_tmp_path``)."""
    with removed_on_failure(unique_tmp_path(path) if unique else tmp_path(path)) as tmp:
        tmp.write_bytes(data)
        commit(tmp, path)


def write_json_atomic(path: Path, obj: Any, *, unique: bool = False) -> None:
    write_bytes_atomic(path, (json.dumps(obj, indent=2, sort_keys=False) + "\n").encode(), unique=unique)


def append_line_durably(path: Path, line: str) -> None:
    """Append one JSON line and fsync: a line is either fully present or absent after a crash."""
    with open(path, "a", encoding="utf-8") as handle:
        handle.write(line.rstrip("\n") + "\n")
        handle.flush()
        os.fsync(handle.fileno())


def remove_tree(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        shutil.rmtree(path)


def where_disk_filled(exc: OSError, path: Path) -> OSError:
    """A disk-full error that names no file (pyarrow's, a buffered write's) gets ``path``, the
    folder being written, so that the one-line message says where space ran out."""
    if exc.filename is None and exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return OSError(exc.errno, os.strerror(exc.errno), str(path))
    return exc


def release_freed_memory() -> None:
    """Give freed heap back to the OS (glibc); video encoders leave large free blocks behind."""
    with contextlib.suppress(OSError, AttributeError):
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)


AT_FDCWD = -100
RENAME_EXCHANGE = 2


class ExchangeUnsupported(Exception):
    """The system or filesystem cannot swap two folders atomically."""


def exchange(a: Path, b: Path) -> None:
    """Swap the folders ``a`` and ``b`` in one atomic step (Linux renameat2 RENAME_EXCHANGE): at
    every instant each name is either the old or the new folder."""
    import ctypes
    import sys

    if not sys.platform.startswith("linux"):
        raise ExchangeUnsupported(f"renameat2 is Linux-only (this is {sys.platform})")
    libc = ctypes.CDLL(None, use_errno=True)
    try:
        renameat2 = libc.renameat2
    except AttributeError:
        raise ExchangeUnsupported("the C library has no renameat2") from None
    renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    renameat2.restype = ctypes.c_int
    if renameat2(AT_FDCWD, os.fsencode(a), AT_FDCWD, os.fsencode(b), RENAME_EXCHANGE) != 0:
        code = ctypes.get_errno()
        if code in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):
            raise ExchangeUnsupported(f"the filesystem of {a.parent} cannot swap folders ({os.strerror(code)})")
        raise OSError(code, os.strerror(code), str(a))
