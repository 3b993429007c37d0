"""--jobs N: units, not bags, on N worker processes, so one long bag keeps every worker busy.

The driver (this process, holding the spill's lock) prepares each bag when its first unit is
due (plan, report, finished chunks, leftovers: ``bag_spill.prepare_bag``), keeps at most a
window of units in flight (its memory does not grow with the number of bags), and appends each
bag's journal lines in chunk order as the units commit. A unit's files do not depend on which
worker runs it or what ran before (``spill/units.py``), so the spill is the one --jobs 1 writes.
"""

from __future__ import annotations

import multiprocessing
import sys
import time
from collections.abc import Hashable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass
from typing import Protocol, cast

from spill2lerobot.errors import UserError
from spill2lerobot.process import prepare_process
from spill2lerobot.profiles import Profile
from spill2lerobot.spill.affinity import own_cores, pin_worker
from spill2lerobot.spill.bag_spill import BagResult, BagWork, open_checked, prepare_bag, spill_unit
from spill2lerobot.spill.budget import MemoryBudget, own_peak
from spill2lerobot.spill.chunks import BagTarget
from spill2lerobot.spill.format import BagEntry, JournalEntry
from spill2lerobot.spill.layout import SpillLayout
from spill2lerobot.spill.progress import Position, ProgressFn

WINDOW_PER_WORKER = 2  # units submitted ahead per worker


@dataclass
class BagFailure:
    entry: BagEntry
    message: str


@dataclass
class Unit:
    """One (bag, chunk) to produce."""

    entry: BagEntry
    chunk: int


@dataclass
class UnitDone:
    entries: list[JournalEntry]
    peak: int  # the worker process's peak resident memory so far, bytes


Outcome = UnitDone | str  # a finished unit, or the one-line error that stopped it


@dataclass
class _BagState:
    work: BagWork
    started: float
    submitted: int = 0
    collected: int = 0
    all_submitted: bool = False
    written: int = 0
    failure: str | None = None


def _stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def run_unit(layout: SpillLayout, unit: Unit, profile: Profile, parallel: int) -> Outcome:
    """Runs in a worker (a process of the pool, a Ray task): errors come back as values,
    progress goes to stderr."""
    prepare_process()
    target = BagTarget(layout, unit.entry, profile, _stderr, Position())
    try:
        entries = spill_unit(target, range(unit.chunk, unit.chunk + 1), parallel)
    except UserError as exc:
        return str(exc)
    return UnitDone(entries, own_peak())


class Runner(Protocol):
    """Where units run: this machine's processes, or a Ray cluster (spill/ray_units.py)."""

    @property
    def slots(self) -> int:
        """Units that can run at once."""
        ...

    def submit(self, unit: Unit, parallel: int) -> Hashable: ...

    def wait(self, handles: list[Hashable]) -> list[tuple[Hashable, Outcome]]:
        """At least one finished unit of ``handles``, with its outcome."""
        ...

    def close(self) -> None: ...


class ProcessRunner:
    """--jobs N: N spawned processes of this machine."""

    def __init__(self, layout: SpillLayout, profile: Profile, jobs: int) -> None:
        """With ``video.single_thread`` and no more workers than cores, each worker is held to a
        core of its own (spill/affinity.py)."""
        self._layout, self._profile, self.slots = layout, profile, jobs
        context = multiprocessing.get_context("spawn")
        cores = own_cores()
        if profile.video.single_thread and 0 < jobs <= len(cores):
            queue = context.Queue()
            for core in cores[:jobs]:
                queue.put(core)
            self._pool = ProcessPoolExecutor(jobs, context, initializer=pin_worker, initargs=(queue,))
        else:
            self._pool = ProcessPoolExecutor(max_workers=jobs, mp_context=context)

    def submit(self, unit: Unit, parallel: int) -> Hashable:
        return self._pool.submit(run_unit, self._layout, unit, self._profile, parallel)

    def wait(self, handles: list[Hashable]) -> list[tuple[Hashable, Outcome]]:
        futures = cast(list["Future[Outcome]"], handles)
        done, _ = wait(futures, return_when=FIRST_COMPLETED)
        return [(future, future.result()) for future in done]

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)


class UnitPool:
    """The units of ``entries`` on ``jobs`` processes; ``run`` returns one outcome per bag."""

    def __init__(
        self,
        layout: SpillLayout,
        entries: list[BagEntry],
        profile: Profile,
        runner: Runner,
        progress: ProgressFn,
        budget: MemoryBudget | None = None,
    ) -> None:
        """``runner.slots``: the most units at once; ``budget``: fewer, as memory allows (--max-memory)."""
        self._layout, self._entries, self._profile, self._runner = layout, entries, profile, runner
        self._jobs = runner.slots
        self._budget = budget
        self._progress = progress
        self._bags: dict[str, _BagState] = {}
        self._outcomes: dict[str, BagResult | BagFailure] = {}

    def run(self) -> list[BagResult | BagFailure]:
        try:
            pending: dict[Hashable, Unit] = {}
            for unit in self._units():
                pending[self._runner.submit(unit, self._at_once())] = unit
                while len(pending) >= self._window():
                    self._collect(pending)
            while pending:
                self._collect(pending)
        finally:
            self._runner.close()
        return [self._outcomes[entry.id] for entry in self._entries]

    def _at_once(self) -> int:
        return self._budget.at_once if self._budget is not None else self._jobs

    def _window(self) -> int:
        """Units in flight: a few ahead per worker, or (with a budget) only those running."""
        return self._budget.at_once if self._budget is not None else self._jobs * WINDOW_PER_WORKER

    def _units(self) -> Iterator[Unit]:
        """Each bag prepared when its turn comes, then its missing chunks (a failed bag's stop)."""
        for entry in self._entries:
            state = self._prepare(entry)
            if state is None:
                continue
            for chunk in (chunk for run in state.work.missing for chunk in run):
                if state.failure is not None:
                    break
                state.submitted += 1
                yield Unit(entry, chunk)
            state.all_submitted = True
            self._maybe_finished(entry)

    def _prepare(self, entry: BagEntry) -> _BagState | None:
        started = time.monotonic()
        target = BagTarget(self._layout, entry, self._profile, self._progress, Position())
        try:
            with open_checked(target) as bag:
                work = prepare_bag(bag, target)
        except UserError as exc:
            self._fail(entry, str(exc))
            return None
        state = self._bags[entry.id] = _BagState(work, started)
        return state

    def _collect(self, pending: dict[Hashable, Unit]) -> None:
        for handle, outcome in self._runner.wait(list(pending)):
            unit = pending.pop(handle)
            state = self._bags[unit.entry.id]
            state.collected += 1
            if isinstance(outcome, str):
                if state.failure is None:
                    state.failure = outcome
                    self._progress(f"error: {outcome}")
            else:
                for entry in outcome.entries:
                    state.work.commits.commit(entry)
                state.written += len(outcome.entries)
                if self._budget is not None:
                    self._budget.measured(outcome.peak)
            self._maybe_finished(unit.entry)

    def _maybe_finished(self, entry: BagEntry) -> None:
        state = self._bags.get(entry.id)
        if state is None or entry.id in self._outcomes or not state.all_submitted:
            return
        if state.collected < state.submitted:
            return
        if state.failure is not None:
            self._fail(entry, state.failure)
            return
        plan = state.work.planned.plan
        self._outcomes[entry.id] = BagResult(
            entry=entry,
            frames=plan.frames,
            chunks_done=len(state.work.done) + state.written,
            chunks_total=plan.chunks,
            chunks_this_run=state.written,
            bytes_read=state.work.bytes_read,
            seconds=time.monotonic() - state.started,
        )
        del self._bags[entry.id]  # its plan and index: the driver holds only the bags in flight

    def _fail(self, entry: BagEntry, message: str) -> None:
        self._outcomes[entry.id] = BagFailure(entry, message)
        self._bags.pop(entry.id, None)
