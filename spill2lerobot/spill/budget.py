"""--max-memory SIZE: how many units run at once, from what units measurably take.

The first unit runs alone; every worker reports its process's peak resident memory with each
unit it finishes, and the driver its own. Units then run ``(SIZE - driver) / (worker peak x
margin)`` at a time (at most --jobs), re-figured after every unit, so the process tree's peak
stays under SIZE; each SVT-AV1 encoder gets its share of the cores among the units running at
once (``EncoderSettings.sharing_cores``). A budget below what one unit needs is an error naming
the smallest that works.
"""

from __future__ import annotations

import re
import resource

from spill2lerobot.errors import UserError

MARGIN = 1.15  # a unit's peak varies between units (SVT-AV1's pictures in flight)
STEP = 16 * 1024**2
_UNITS = {"": 1, "B": 1, "K": 1024, "KB": 1024, "M": 1024**2, "MB": 1024**2, "G": 1024**3, "GB": 1024**3}
_SIZE = re.compile(r"\s*([0-9]+(?:\.[0-9]+)?)\s*([KMG]?B?)\s*", re.IGNORECASE)


def parse_size(text: str) -> int:
    """'600MB', '2GB', '1.5G', '2048M' (powers of 1024) -> bytes."""
    match = _SIZE.fullmatch(text)
    if match is None:
        raise UserError(f"--max-memory {text!r}: not a size; write it like 600MB or 2GB")
    return int(float(match.group(1)) * _UNITS[match.group(2).upper()])


def own_peak() -> int:
    """This process's peak resident memory, in bytes. Linux's VmHWM, not getrusage's ru_maxrss:
    that one survives exec, so a command started by a large process (a test run that imported
    torch) would report its parent's peak as its own."""
    try:
        with open("/proc/self/status", encoding="ascii", errors="replace") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024  # kB
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux


def megabytes(size: int) -> str:
    return f"{-(-size // 1024**2)}MB"


class MemoryBudget:
    """The units allowed at once under ``limit`` bytes, from the peaks measured so far."""

    def __init__(self, limit: int, most: int) -> None:
        self.limit, self._most = limit, most
        self._unit_peak = 0

    def measured(self, worker_peak: int) -> None:
        """A worker's peak after a unit; an error if one unit alone does not fit."""
        self._unit_peak = max(self._unit_peak, worker_peak)
        if own_peak() + self._unit_peak > self.limit:
            smallest = self.smallest()
            raise UserError(
                f"--max-memory {megabytes(self.limit)} is too small: one unit takes about "
                f"{megabytes(self._unit_peak)} beside the driver's {megabytes(own_peak())}; "
                f"give at least --max-memory {megabytes(smallest)}"
            )

    def smallest(self) -> int:
        """What to ask for: one unit and the driver, with room for their figures to vary, in 16 MiB."""
        room = (own_peak() + self._unit_peak * MARGIN) * MARGIN
        return -(-int(room) // STEP) * STEP

    @property
    def at_once(self) -> int:
        """Units to run at once: one until a unit has been measured."""
        if self._unit_peak == 0:
            return 1
        room = (self.limit - own_peak()) / (self._unit_peak * MARGIN)
        return max(1, min(self._most, int(room)))
