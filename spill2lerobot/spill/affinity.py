"""``video.single_thread``: each unit's process is held to one core of its own.

Doing every camera on the reading thread is not enough on its own: SVT-AV1 runs its pipeline in
threads of its own, even with ``lp=1`` (measured: a single-thread unit spread its CPU over four
threads, and ``--jobs 2`` on 2 cores was no faster than ``--jobs 1``). Threads inherit their
process's CPU set, so holding the process to one core holds the unit, encoders included.
Where the platform cannot (no ``sched_setaffinity``), nothing is pinned.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from multiprocessing.queues import Queue
from typing import Any


def can_pin() -> bool:
    return hasattr(os, "sched_setaffinity") and hasattr(os, "sched_getaffinity")


def own_cores() -> list[int]:
    return sorted(os.sched_getaffinity(0)) if can_pin() else []


def pin_worker(cores: Queue[Any]) -> None:
    """A --jobs worker's initializer: take the next free core and stay on it."""
    with contextlib.suppress(OSError):
        os.sched_setaffinity(0, {cores.get()})


@contextlib.contextmanager
def held_to_one_core(enabled: bool) -> Iterator[None]:
    """This process on one core for the block (--jobs 1 with single_thread), then as before."""
    if not enabled or not can_pin():
        yield
        return
    before = os.sched_getaffinity(0)
    try:
        os.sched_setaffinity(0, {min(before)})
    except OSError:
        yield
        return
    try:
        yield
    finally:
        with contextlib.suppress(OSError):
            os.sched_setaffinity(0, before)
