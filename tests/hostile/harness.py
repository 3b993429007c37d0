"""Run the command line as a user would, under a memory limit and a time limit, and check what
every hostile case must satisfy (see test_hostile.py for the whole picture).

- ``start`` / ``run``: ``python -m spill2lerobot ...`` in its own session (process group), with
  a watchdog thread that samples the resident memory of the whole process tree every 20 ms
  (psutil) and kills the tree when it passes ``MEMORY_LIMIT`` or when ``TIME_LIMIT`` has passed;
  each sample also reads every member's ``VmHWM`` (the kernel's high-water mark of its resident
  memory since exec), which catches a spike shorter than a sampling period; after exit,
  ``os.wait4`` gives ``ru_maxrss`` (the process and the children it waited for). Linux folds
  the parent's own high-water mark into a child's ``ru_maxrss`` at exec (the forked copy of the
  parent's memory is the "old mm" exec leaves), so that figure only counts when it is above this
  test process's own peak at start; below it, the child's peak is known to be lower still.
- ``RLIMIT_AS`` backstop of 16 GB per process. A normal ``convert`` of the suite's bags maps
  0.53-0.65 GB of address space (measured: x264 colour ~0.53 GB, with x265 depth ~0.65 GB), so
  the backstop never hurts a sane run. It is not 8 GB: ``lz4.frame.decompress`` reserves
  between 8 and 12 GB of address space on its way to a 1 GB bomb, and an 8 GB limit turned the
  bomb into an early "Failed to resize buffer" error at ~0.7 GB, which would hide a missing
  bound. The backstop only stops allocations far beyond anything the watchdog lets through.
- ``CaseDir``: one case's folder (the working directory of its commands) with its sentinel tree
  and the paths it protects; ``CaseDir.cli`` runs one command and checks it.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import resource
import signal
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil
import pytest

MEMORY_LIMIT = 1_000_000_000  # bytes of resident memory, whole process tree
TIME_LIMIT = 60.0  # seconds per command
ADDRESS_SPACE_LIMIT = 16 << 30  # RLIMIT_AS backstop per process (see above)
SAMPLE_SECONDS = 0.02
MAX_ERROR_CHARS = 1000  # an error line longer than this is not a one-line message
ALLOWED_CODES = frozenset({0, 2, 3, 4})

# The small, fast settings every case uses (3 s bags give 29 frames in 4 chunks of 8).
FAST = (
    "video.codec=libx264",
    "video.preset=ultrafast",
    "dataset.resize.width=64",
    "dataset.resize.height=48",
    "dataset.sample_drop=2",
    "rosbag.chunk_size=8",
)
FAST_ARGS: tuple[str, ...] = tuple(arg for kv in FAST for arg in ("--set", kv))


# --------------------------------------------------------------------------------------------
# Running one command under the limits
# --------------------------------------------------------------------------------------------


@dataclass
class Run:
    args: list[str]
    returncode: int
    stdout: str
    stderr: str
    sampled_rss: int  # highest sum of the tree's RSS seen by the watchdog, or a member's VmHWM
    maxrss: int  # ru_maxrss from wait4, bytes (0 when it is only this process's own peak)
    seconds: float
    killed: str | None  # "memory" or "time" when the watchdog killed the tree
    pid: int

    @property
    def peak_rss(self) -> int:
        return max(self.sampled_rss, self.maxrss)

    @property
    def last_line(self) -> str:
        lines = [line for line in self.stderr.splitlines() if line.strip()]
        return lines[-1] if lines else ""

    def summary(self) -> str:
        return (
            f"$ spill2lerobot {' '.join(self.args)[:160]}\n  -> exit {self.returncode}, {self.seconds:.1f} s,"
            f" peak {self.peak_rss / 1e6:.0f} MB: {self.last_line[:200]}"
        )

    def describe(self) -> str:
        tail = "\n".join(self.stderr.splitlines()[-6:])
        return (
            f"$ spill2lerobot {' '.join(self.args)}\n"
            f"  exit {self.returncode}, {self.seconds:.1f} s, peak RSS {self.peak_rss / 1e6:.0f} MB"
            f"{', KILLED (' + self.killed + ')' if self.killed else ''}\n  stderr tail:\n{tail[-1500:]}"
        )


def _tree(proc: psutil.Process) -> list[psutil.Process]:
    try:
        return [proc, *proc.children(recursive=True)]
    except psutil.Error:
        return []


def _high_water_mark(pid: int) -> int:
    """VmHWM of a process (bytes), 0 if it is gone."""
    try:
        with open(f"/proc/{pid}/status", "rb") as handle:
            for line in handle:
                if line.startswith(b"VmHWM:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return 0


def _tree_memory(proc: psutil.Process) -> int:
    """max(sum of the tree's current RSS, highest VmHWM of any member)."""
    total = peak = 0
    for member in _tree(proc):
        with contextlib.suppress(psutil.Error):
            total += member.memory_info().rss
        peak = max(peak, _high_water_mark(member.pid))
    return max(total, peak)


def _kill_tree(proc: psutil.Process, pgid: int) -> None:
    members = _tree(proc)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)
    for member in members:  # a child that left the process group
        with contextlib.suppress(psutil.Error):
            member.kill()


class Watched:
    """A started command with its watchdog; ``wait`` reaps it and returns the ``Run``."""

    def __init__(self, args: list[str], cwd: Path, env: dict[str, str] | None = None) -> None:
        self.args = list(args)
        self.cwd = cwd
        stamp = f"{time.monotonic_ns()}"
        self._own_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        self._out = cwd / f".run-{stamp}.stdout"
        self._err = cwd / f".run-{stamp}.stderr"
        with open(self._out, "wb") as out, open(self._err, "wb") as err:
            self.popen = subprocess.Popen(
                [sys.executable, "-m", "spill2lerobot", *self.args],
                cwd=cwd,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=err,
                env=env,
                start_new_session=True,
            )
        self.started = time.monotonic()
        self.pid = self.popen.pid
        self.process = psutil.Process(self.pid)
        with contextlib.suppress(psutil.Error, OSError):
            self.process.rlimit(psutil.RLIMIT_AS, (ADDRESS_SPACE_LIMIT, ADDRESS_SPACE_LIMIT))
            self.process.rlimit(psutil.RLIMIT_CORE, (0, 0))
        self.sampled = 0
        self.killed: str | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()

    def _watch(self) -> None:
        while not self._stop.is_set():
            rss = _tree_memory(self.process)
            self.sampled = max(self.sampled, rss)
            if rss > MEMORY_LIMIT:
                self.killed = "memory"
            elif time.monotonic() - self.started > TIME_LIMIT:
                self.killed = "time"
            if self.killed:
                _kill_tree(self.process, self.pid)
                return
            self._stop.wait(SAMPLE_SECONDS)

    def running(self) -> bool:
        """Still running (does not reap it)."""
        try:
            return self.process.status() != psutil.STATUS_ZOMBIE
        except psutil.Error:
            return False

    def kill(self) -> None:
        """SIGKILL the whole tree (a crash), then ``wait`` to reap it."""
        _kill_tree(self.process, self.pid)

    def wait(self) -> Run:
        _, status, usage = os.wait4(self.pid, 0)
        seconds = time.monotonic() - self.started
        self.popen.returncode = os.waitstatus_to_exitcode(status)
        self._stop.set()
        self._thread.join()
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, signal.SIGKILL)  # leftovers of the group (workers)
        stdout = self._out.read_text(errors="replace")
        stderr = self._err.read_text(errors="replace")
        self._out.unlink()
        self._err.unlink()
        return Run(
            self.args,
            self.popen.returncode,
            stdout,
            stderr,
            self.sampled,
            usage.ru_maxrss * 1024 if usage.ru_maxrss * 1024 > self._own_peak else 0,
            seconds,
            self.killed,
            self.pid,
        )


def run(args: list[str], cwd: Path) -> Run:
    return Watched(args, cwd).wait()


# --------------------------------------------------------------------------------------------
# Snapshots: a tree listed entry by entry, every file hashed
# --------------------------------------------------------------------------------------------


def _entry(path: Path) -> tuple:
    st = path.lstat()
    if stat.S_ISLNK(st.st_mode):
        return ("link", os.readlink(path))
    if stat.S_ISDIR(st.st_mode):
        return ("dir",)
    if stat.S_ISREG(st.st_mode):
        digest = hashlib.sha256()
        with open(path, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
        return ("file", st.st_size, digest.hexdigest())
    return ("other", stat.S_IFMT(st.st_mode))


def snapshot(path: Path) -> dict[str, tuple]:
    """Every entry under ``path`` (not following links): kind, and for files size and sha256."""
    if not os.path.lexists(path):
        return {".": ("missing",)}
    top = _entry(path)
    out = {".": top}
    if top[0] != "dir":
        return out
    for folder, dirs, files in os.walk(path):
        for name in [*dirs, *files]:
            full = Path(folder) / name
            out[str(full.relative_to(path))] = _entry(full)
    return out


def snapshot_difference(before: dict[str, tuple], after: dict[str, tuple]) -> str | None:
    changes = []
    for name in sorted(set(before) | set(after)):
        old, new = before.get(name, ("missing",)), after.get(name, ("missing",))
        if old != new:
            changes.append(f"{name}: {old[0]} -> {new[0]}" + (" (content changed)" if old[0] == new[0] else ""))
    return "; ".join(changes[:8]) + (f" (+{len(changes) - 8} more)" if len(changes) > 8 else "") if changes else None


# --------------------------------------------------------------------------------------------
# A case's folder
# --------------------------------------------------------------------------------------------


def make_sentinel(root: Path) -> None:
    """User data outside SPILL and OUT: files (some with names the tool itself writes), a nested
    folder and a spill-like bait tree; symbolic links of the hostile set-ups point in here."""
    root.mkdir(parents=True)
    (root / "notes.txt").write_text("my notes, made by hand\n")
    (root / "recording.bag").write_bytes(b"#ROSBAG V2.0\n" + bytes(range(256)) * 8)
    (root / "chunk-00000.parquet").write_bytes(b"not yours\n")
    (root / "chunk-00007.head_cam_h.mp4").write_bytes(b"not yours either\n")
    (root / "chunk-00001.stats.json").write_text('{"mine": true}\n')
    (root / "draft.tmp").write_text("a temporary file of the user's\n")
    (root / "journal.jsonl").write_text('{"chunk": 0}\n')
    nested = root / "nested" / "deeper"
    nested.mkdir(parents=True)
    (nested / "data.bin").write_bytes(bytes(range(256)) * 16)
    (nested / "spill.json").write_text('{"format": "not ours"}\n')
    (root / "empty-folder").mkdir()


@dataclass
class CaseDir:
    """One case's folder: the commands' working directory, the sentinel and protected paths."""

    root: Path
    sentinel: Path = field(init=False)
    protected: dict[Path, dict] = field(default_factory=dict)
    runs: list[Run] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.sentinel = self.root / "sentinel"
        make_sentinel(self.sentinel)
        self.protect(self.sentinel)

    def path(self, relative: str | Path) -> Path:
        return self.root / relative

    def protect(self, *paths: str | Path) -> None:
        """These paths (files, folders, links; or absent) must stay exactly as they are now."""
        for path in paths:
            full = self.path(path)
            self.protected[full] = snapshot(full)

    def unprotect(self, *paths: str | Path) -> None:
        for path in paths:
            self.protected.pop(self.path(path), None)

    def changed(self) -> list[str]:
        out = []
        for path, before in self.protected.items():
            difference = snapshot_difference(before, snapshot(path))
            if difference:
                out.append(f"{path.relative_to(self.root) if path.is_relative_to(self.root) else path}: {difference}")
        return out

    def start(self, *args: str | Path) -> Watched:
        return Watched([str(a) for a in args], self.root)

    def cli(
        self,
        *args: str | Path,
        allowed: Iterable[int],
        out: str | None = None,
        absent: Iterable[str] = (),
        error_has: Iterable[str] = (),
        max_error_chars: int = MAX_ERROR_CHARS,
    ) -> Run:
        """Run one command and check it (see ``check``)."""
        before = {p: os.path.lexists(self.path(p)) for p in [*absent, *([out, out + ".partial"] if out else [])]}
        result = self.start(*args).wait()
        self.check(result, allowed, before, error_has, max_error_chars)
        return result

    def finish(self, watched: Watched, **kwargs) -> Run:
        result = watched.wait()
        self.check(result, kwargs.pop("allowed"), {}, kwargs.pop("error_has", ()), MAX_ERROR_CHARS)
        return result

    def check(
        self,
        result: Run,
        allowed: Iterable[int],
        existed: dict[str, bool],
        error_has: Iterable[str],
        max_error_chars: int,
    ) -> None:
        """What every hostile command must satisfy; all problems are reported together."""
        self.runs.append(result)
        print(result.summary())  # shown for passing cases with pytest -rP
        allowed = set(allowed)
        assert allowed <= ALLOWED_CODES | {1}, allowed
        problems = []
        if result.killed:
            problems.append(f"killed by the watchdog ({result.killed})")
        if result.peak_rss >= MEMORY_LIMIT:
            problems.append(f"peak RSS {result.peak_rss / 1e6:.0f} MB >= {MEMORY_LIMIT / 1e6:.0f} MB")
        if result.seconds >= TIME_LIMIT:
            problems.append(f"took {result.seconds:.0f} s >= {TIME_LIMIT:.0f} s")
        if "Traceback" in result.stdout or "Traceback" in result.stderr:
            problems.append("printed a Traceback")
        if "internal error" in result.stderr:
            problems.append("reported an internal error (a bug, not a refusal)")
        if result.returncode not in allowed:
            problems.append(f"exit {result.returncode}, expected one of {sorted(allowed)}")
        report_on_stdout = result.returncode == 1 and result.args[:1] == ["validate"]  # "differs": a report
        if result.returncode != 0 and not result.killed and not report_on_stdout:
            line = result.last_line
            if not line.startswith("error: "):
                problems.append(f"last stderr line is not a one-line 'error: ...': {line[:200]!r}")
            elif len(line) > max_error_chars:
                problems.append(f"error line is {len(line)} chars (> {max_error_chars})")
            else:
                wanted = [w for w in error_has if w.lower() in line.lower()]
                if error_has and not wanted:
                    problems.append(f"error line names none of {list(error_has)}: {line[:300]!r}")
            for name, existed_before in existed.items():
                if not existed_before and os.path.lexists(self.path(name)):
                    problems.append(f"{name} exists after a refusal")
        problems += [f"protected path changed: {c}" for c in self.changed()]
        if problems:
            pytest.fail("; ".join(problems) + "\n" + result.describe(), pytrace=False)


# --------------------------------------------------------------------------------------------
# Cases
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    """One hostile case: ``run(case_dir, assets)`` sets up its folder and runs its commands
    through ``CaseDir.cli`` (which checks each of them)."""

    kind: str  # loss, lock, memory, profile, spill, bag
    name: str
    run: Callable[[CaseDir, Any], None]

    @property
    def id(self) -> str:
        return f"{self.kind}-{self.name}"


def wait_for(predicate: Callable[[], bool], timeout: float = 30.0, what: str = "a condition") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"set-up: timed out waiting for {what}")
        time.sleep(0.01)


def registrar(cases: list[Case], kind: str) -> Callable[[str], Callable]:
    """``case = registrar(CASES, "loss")``, then ``@case("name")`` on a ``run(case_dir, assets)``."""

    def case(name: str) -> Callable:
        def register(fn: Callable[[CaseDir, Any], None]) -> Callable[[CaseDir, Any], None]:
            cases.append(Case(kind, name, fn))
            return fn

        return register

    return case
