"""Set-up of a process that converts: the command's own and each --jobs worker's."""

from __future__ import annotations

import contextlib
import importlib.abc
import importlib.machinery
import os
import sys
from collections.abc import Sequence
from types import ModuleType


class _WithoutPandas(importlib.abc.MetaPathFinder):
    """pyarrow imports pandas, when it is installed (lerobot brings it), at its first array:
    ~0.4 s and ~40 MB (measured here) for a library this tool never uses. Commands hide it."""

    def find_spec(
        self, fullname: str, path: Sequence[str] | None = None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname == "pandas" or fullname.startswith("pandas."):
            raise ModuleNotFoundError(f"No module named {fullname!r} (not used by spill2lerobot)", name=fullname)
        return None


def prepare_process() -> None:
    """Set-up of a command's process (and of --jobs workers) before the work starts."""
    if "pandas" not in sys.modules and not any(isinstance(f, _WithoutPandas) for f in sys.meta_path):
        sys.meta_path.insert(0, _WithoutPandas())
    quiet_native_libraries()


def quiet_native_libraries() -> None:
    os.environ.setdefault("SVT_LOG", "1")  # SVT-AV1 prints its whole configuration otherwise
    with contextlib.suppress(OSError, AttributeError):
        import ctypes

        # Each chunk opens new video encoders; with fewer malloc arenas the heap of the previous
        # ones is reused better. (A fixed mmap threshold lowered the peak a little more but
        # cost ~25% CPU: every frame buffer was then mapped and unmapped.)
        ctypes.CDLL("libc.so.6").mallopt(-8, 2)  # M_ARENA_MAX
    # pyarrow's own allocator keeps freed memory for reuse; our tables are small and rare.
    os.environ.setdefault("ARROW_DEFAULT_MEMORY_POOL", "system")
