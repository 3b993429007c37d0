"""Helpers shared by the tests: the project root, the command line run as a user runs it, and
background runs of it killed at chosen moments (the kill/resume tests).

Test modules import these from here, never from ``conftest`` (two conftest modules of one name
would shadow each other on ``sys.path``).
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def run_cli(*args: str, check: bool = True, env: dict | None = None) -> subprocess.CompletedProcess:
    """Run the installed command line in a subprocess, as a user would."""
    result = subprocess.run([sys.executable, "-m", "spill2lerobot", *args], capture_output=True, text=True, env=env)
    if check and result.returncode != 0:
        raise AssertionError(f"spill2lerobot {' '.join(args)} failed ({result.returncode}):\n{result.stderr}")
    return result


def spawn_cli(*args: str) -> subprocess.Popen:
    """Start the command line in the background (stdout dropped, stderr piped), to be killed."""
    return subprocess.Popen(
        [sys.executable, "-m", "spill2lerobot", *args], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )


def kill_after(proc: subprocess.Popen, delay: float, when_exists=None, stop_at=None) -> bool:
    """SIGKILL ``proc`` ``delay`` s after start (or after ``when_exists`` appears), or as soon as
    ``stop_at`` appears; True if it was killed (False: it had already exited)."""
    if when_exists is not None:
        while proc.poll() is None and not when_exists.exists():
            time.sleep(0.002)
    started = time.monotonic()
    while proc.poll() is None and time.monotonic() - started < delay:
        if stop_at is not None and stop_at.exists():
            break
        time.sleep(0.002)
    if proc.poll() is not None:
        return False
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    return True


def journal_lines(spill) -> int:
    """Chunks journalled so far, over every bag of the spill."""
    return sum(path.read_text().count("\n") for path in spill.glob("bags/*/journal.jsonl"))


def keep_journalled(spill, keep: int, bag_id: str = "0000") -> int:
    """As if stage 1 stopped after ``keep`` chunks of the bag: its journal keeps ``keep`` lines and
    the later chunks lose their statistics file (their commit); returns the chunks cut."""
    journal = spill / "bags" / bag_id / "journal.jsonl"
    lines = journal.read_text().splitlines(keepends=True)
    journal.write_text("".join(lines[:keep]))
    for chunk in range(keep, len(lines)):
        (spill / "bags" / bag_id / f"chunk-{chunk:05d}.stats.json").unlink()
    return len(lines) - keep


def kill_after_progress(proc: subprocess.Popen, spill, delay: float, stop_at) -> bool:
    """SIGKILL ``proc`` ``delay`` s after stage 1 journals one more chunk (so every run makes
    progress, and the kill lands while the next chunk is being encoded), or as merge starts."""
    before = journal_lines(spill)
    while proc.poll() is None and journal_lines(spill) == before and not stop_at.exists():
        time.sleep(0.005)
    return kill_after(proc, 0 if stop_at.exists() else delay, stop_at=stop_at)


def kill_stage1_as_it_journals(args: list[str], spill, times: int = 3) -> int:
    """Run ``stage1 ARGS`` ``times`` times, each killed (SIGKILL) as soon as one more chunk of the
    spill's first bag is journalled; returns how many kills landed (a run may finish first)."""
    journal = spill / "bags" / "0000" / "journal.jsonl"
    kills = 0
    for _ in range(times):
        proc = spawn_cli("stage1", *args)
        before = journal.read_text().count("\n") if journal.exists() else 0
        while proc.poll() is None and (not journal.exists() or journal.read_text().count("\n") < before + 1):
            time.sleep(0.005)
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            kills += 1
        proc.communicate(timeout=120)
    return kills


# --- appending (tests/merge/test_append*.py): tiny bags and whole-tree snapshots -------------

SMALL_ARGS = ("--set", "dataset.resize.width=64", "--set", "dataset.resize.height=48", "--set", "rosbag.chunk_size=20")


def tiny_bag(folder: Path, name: str, seconds: float, seed: int) -> Path:
    """A 64x48 generated Kuavo bag (scripts/gen_kuavo_bag.py)."""
    from gen_kuavo_bag import write_kuavo_bag

    path = folder / f"{name}.bag"
    write_kuavo_bag(path, seconds, seed=seed, width=64, height=48)
    return path


def tree_bytes(root: Path) -> dict[str, bytes]:
    """Every entry below ``root`` (links as their target text, folders as empty): a byte-for-byte
    picture of the tree."""
    out = {}
    for path in sorted(root.rglob("*")):
        rel = str(path.relative_to(root))
        if path.is_symlink():
            out[rel] = b"link:" + str(path.readlink()).encode()
        elif path.is_dir():
            out[rel] = b"dir"
        else:
            out[rel] = path.read_bytes()
    return out


# --- quality and preview (tests/validate/test_quality.py, tests/preview/test_preview_page.py) ---

TINY_ARGS = ("--set", "dataset.resize.width=64", "--set", "dataset.resize.height=48")
WRIST_L = "/cam_l/color/image_raw/compressed"


def tiny_dataset(folder: Path, name: str, seconds: float, *extra: str, gap: tuple[float, float] | None = None) -> Path:
    """A converted 64x48 dataset of one generated bag; ``gap``: seconds without wrist_cam_l images
    (a camera that stopped: its frames repeat)."""
    from gen_kuavo_bag import Faults, write_kuavo_bag

    bag = folder / f"{name}.bag"
    faults = Faults(gaps={WRIST_L: gap}) if gap else Faults()
    write_kuavo_bag(bag, seconds, seed=3, width=64, height=48, faults=faults)
    out = folder / name
    run_cli("convert", str(bag), str(out), *TINY_ARGS, *extra)
    return out
