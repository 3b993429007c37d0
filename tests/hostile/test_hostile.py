"""The hostile-input suite (issue 11): "never lose a user's file, bounded memory on hostile input,
no traceback".

What one case is
----------------
A case is a small, generated scenario with a readable id, ``<kind>-<what>``. Its ``run`` sets up a
fresh folder (``tmp_path/case``, the working directory of its commands) and runs the command
line exactly as a user would, ``python -m spill2lerobot ...`` with relative paths, once or a few
times. ``harness.CaseDir.cli`` runs each command under the limits and checks, every time:

- the exit code is one the case allows (a subset of 0, 2, 3, 4; ``validate`` may also say 1,
  "the dataset differs from the bags");
- no ``Traceback`` on stdout or stderr; on a non-zero exit the last stderr line is one
  ``error: ...`` line (of at most 1000 characters, 300 where a case feeds a megabyte value),
  naming what the case expects (the key, the file, the process holding the lock);
- the sentinel tree ``case/sentinel`` (files, some named like the tool's own ``chunk-*`` and
  ``*.tmp`` files, a nested folder, a spill-like bait; the target of the hostile symbolic links)
  and every input bag and user folder the case protects are byte-for-byte unchanged and still
  present (every entry listed, every file hashed, before and after);
- on a refusal, OUT was not created and no OUT.partial was left (and, for "refused before any
  work" cases, no spill either);
- peak RSS of the whole process tree stayed under 1 GB (watchdog sampling with psutil every
  20 ms, killing the tree at the limit; plus ``ru_maxrss`` from ``wait4``), and the command took
  less than 60 s (the watchdog kills it then). A 16 GB ``RLIMIT_AS`` is only a backstop (see
  ``harness.py`` for why not lower).

Kinds
-----
``loss``    slips and traps with paths: the bags' folder or a user's folder as SPILL, ``--restart``
            on what is not a spill of ours, OUT.spill(.done)/OUT.partial that are the user's,
            symbolic links in and of a spill pointing at the sentinel, overlapping SPILL/OUT,
            OUT a dangling link, a file or a user's folder (``cases_loss.py``);
``lock``    a second writer while ``stage1``/``convert`` runs is refused naming the pid; a lock
            left by ``kill -9`` is taken over; a raced spill merges like an uninterrupted run
            (``cases_lock.py``);
``memory``  bz2/lz4 chunk bombs (1 GiB of zeros, header still declaring ~788 KB), JPEG/PNG/
            compressedDepth/raw images claiming up to 100000x100000, absurd ``dataset.resize``
            (``cases_memory.py``, crafting in ``craft.py``);
``profile`` every profile value range-checked naming the key, hostile profile files (not UTF-8,
            a folder, a FIFO, /dev/zero, 2 MiB, alias bombs, 1 MB strings), generic camera names
            that are paths (``cases_profile.py``);
``spill``   each spill file (manifest, plan, journal, chunk statistics, report, Parquet shard,
            video segment) garbage, empty, truncated, missing, or of the wrong shape, through
            ``merge``, ``status``, ``stage1`` and ``convert --spill``; some cases then do what the
            message says and check everything works again; manifest bag ids and paths that
            leave the spill (``cases_spill.py``);
``bag``     hostile bag files: huge length and count fields, offsets past the end, unknown
            compression, a folder/FIFO//dev/zero named ``x.bag``, bags without messages, seeded
            random mutations (``cases_bags.py``).

Inputs
------
``assets.Assets`` (session fixture ``assets`` in ``tests/conftest.py``) writes 3-second Kuavo bags with
``scripts/gen_kuavo_bag.py`` (64x48 images; with ``harness.FAST``: x264 ultrafast, 64x48, sample
drop 2, chunks of 8 frames, a bag gives 29 frames in 4 chunks in about a second), derives the
hostile variants once, and makes one finished spill and one dataset with the command line. A case
copies what it uses into its own folder, so no case can damage another's input.

Running it
----------
``.venv/bin/python -m pytest -q -rf tests/hostile`` (part of ``scripts/test.sh``). One kind:
``-k 'test_hostile and spill-'``; one case: ``-k 'loss-out-dangling-link-convert'``. Failures
print the command, exit code, time, peak memory and the tail of stderr.
"""

from __future__ import annotations

import shutil

import pytest
from assets import Assets
from cases_bags import CASES as BAG_CASES
from cases_lock import CASES as LOCK_CASES
from cases_loss import CASES as LOSS_CASES
from cases_memory import CASES as MEMORY_CASES
from cases_profile import CASES as PROFILE_CASES
from cases_spill import CASES as SPILL_CASES
from harness import Case, CaseDir

pytestmark = pytest.mark.slow

CASES: list[Case] = [*LOSS_CASES, *LOCK_CASES, *MEMORY_CASES, *PROFILE_CASES, *SPILL_CASES, *BAG_CASES]


def test_cases_are_many_and_named_once() -> None:
    ids = [c.id for c in CASES]
    assert len(ids) == len(set(ids)), sorted({i for i in ids if ids.count(i) > 1})
    assert len(CASES) >= 150
    assert {c.kind for c in CASES} == {"loss", "lock", "memory", "profile", "spill", "bag"}


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_hostile(case: Case, assets: Assets, tmp_path) -> None:
    case_dir = CaseDir(tmp_path / "case")
    case.run(case_dir, assets)
    changed = case_dir.changed()
    assert not changed, f"protected paths changed: {changed}"
    shutil.rmtree(case_dir.root)  # ~6 MB a case (bags, spills); a failing case keeps its folder
