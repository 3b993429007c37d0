"""One writer per folder: an exclusive ``flock`` on a lock file inside it.

The kernel drops the lock when its process dies, so a lock left by a dead process (kill -9, a
crash) is simply taken over; the file only tells a refused second writer who holds it. flock
works between processes of one machine (and on most shared filesystems' clients, not across
machines on all of them).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
from pathlib import Path
from types import TracebackType

from spill2lerobot.errors import UserError
from spill2lerobot.safety import LOCK_NAME


class FolderLock:
    """``with FolderLock(folder, "stage 1"):`` holds the folder until the block ends."""

    def __init__(self, folder: Path, purpose: str) -> None:
        self.folder = folder
        self.path = folder / LOCK_NAME
        self.purpose = purpose
        self._fd: int | None = None

    def acquire(self) -> FolderLock:
        flags = os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC
        try:
            fd = os.open(self.path, flags, 0o644)
        except OSError as exc:
            if exc.errno == errno.ELOOP:  # a symbolic link in place of the lock file, which we never make
                raise UserError(f"{self.path}: is a symbolic link, not our lock file; remove it") from None
            raise
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read_holder(fd)
            os.close(fd)
            raise UserError(
                f"{self.folder}: in use by {holder} (lock {self.path}); wait for it to finish or stop it, "
                "then run the command again"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()}: {self.purpose}\n".encode(), 0)
        self._fd = fd
        return self

    def release(self) -> None:
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.close(self._fd)  # closing drops the flock
            self._fd = None

    def __enter__(self) -> FolderLock:
        return self if self._fd is not None else self.acquire()

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.release()


def _read_holder(fd: int) -> str:
    """'process 1234 (stage 1)' from the lock file (the holder writes it right after locking)."""
    with contextlib.suppress(OSError):
        text = os.pread(fd, 200, 0).decode("utf-8", "replace").strip()
        if text.startswith("pid "):
            pid, _, purpose = text[4:].partition(": ")
            return f"process {pid} ({purpose[:60]})"
    return "another spill2lerobot process"
