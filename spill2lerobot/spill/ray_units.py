"""--executor ray: units as Ray tasks on a cluster whose nodes all see the spill and the bags.

Each unit is a task asking for as many CPUs as its encoders have threads
(``video.encoder_threads``, default 1); a task lost with its node is run again by Ray (a unit
run twice is harmless, spill/units.py). The driver (this process) keeps the spill's lock, plans
and journals, as with --jobs, and submits units in windows of twice the cluster's slots, so its
memory does not grow with the number of bags. Progress lines of the tasks reach the driver's
terminal through Ray's log forwarding; fault counts and the per-bag reports are read by the
driver from the spill (a shared path), and merge runs once every unit is done.
"""

from __future__ import annotations

import os
from collections.abc import Hashable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from spill2lerobot.errors import UserError
from spill2lerobot.profiles import Profile
from spill2lerobot.spill.layout import SpillLayout
from spill2lerobot.spill.pool import Outcome, Unit, run_unit

TASK_RETRIES = 5  # a task whose node is lost is run again, up to this many times


@dataclass(frozen=True)
class RaySettings:
    address: str | None = None  # --ray-address, else RAY_ADDRESS, else a local Ray instance


def check_shared_path(spill: Path) -> None:
    """Every node opens the spill by the same path: a relative one would differ between them."""
    if not spill.is_absolute():
        raise UserError(
            f"{spill}: with --executor ray the spill must be an absolute path on a filesystem every node "
            "sees (e.g. /mnt/shared/spill)"
        )


def _import_ray() -> Any:
    try:
        import ray
    except ImportError:
        raise UserError(
            "--executor ray needs Ray: pip install 'spill2lerobot[ray]' (on every node of the cluster)"
        ) from None
    return ray


class RayRunner:
    """Units as Ray tasks; ``slots``: the cluster's CPUs over a unit's CPUs."""

    def __init__(self, layout: SpillLayout, profile: Profile, settings: RaySettings) -> None:
        self._ray = ray = _import_ray()
        address = settings.address or os.environ.get("RAY_ADDRESS") or None
        try:
            ray.init(address=address, log_to_driver=True, configure_logging=False)
        except (ConnectionError, RuntimeError, ValueError) as exc:
            first = str(exc).strip().splitlines()[0][:160] if str(exc).strip() else type(exc).__name__
            raise UserError(f"cannot reach the Ray cluster at {address or 'a local instance'}: {first}") from None
        cpus = profile.video.encoder_threads or 1
        self._layout, self._profile = layout, profile
        self._task = ray.remote(run_unit).options(num_cpus=cpus, max_retries=TASK_RETRIES)
        self.slots = max(1, int(ray.cluster_resources().get("CPU", 1) // cpus))

    def submit(self, unit: Unit, parallel: int) -> Hashable:
        ref: Hashable = self._task.remote(self._layout, unit, self._profile, 1)
        return ref

    def wait(self, handles: list[Hashable]) -> list[tuple[Hashable, Outcome]]:
        ray = self._ray
        done, _ = ray.wait(handles, num_returns=1)
        finished: list[tuple[Hashable, Outcome]] = []
        for ref in done:
            try:
                finished.append((ref, ray.get(ref)))
            except ray.exceptions.RayError as exc:  # retries used up (nodes lost), or a crash
                text = str(exc).strip().splitlines()
                finished.append((ref, f"a Ray task failed: {text[0][:200] if text else type(exc).__name__}"))
        return finished

    def close(self) -> None:
        self._ray.shutdown()
