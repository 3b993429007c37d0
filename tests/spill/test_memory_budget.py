"""--max-memory: the process tree's peak (psutil, every 20 ms, children included) stays under
the budget; a budget too small for one unit is one line naming the smallest that works."""

from __future__ import annotations

import re
import subprocess
import sys
import time

import psutil
import pytest
from support import TINY_ARGS, run_cli, tiny_bag, tree_bytes

pytestmark = pytest.mark.slow

ARGS = (*TINY_ARGS, "--set", "rosbag.chunk_size=8")
LOCK = ".spill2lerobot.lock"


@pytest.fixture(scope="module")
def bags(tmp_path_factory):
    folder = tmp_path_factory.mktemp("budget")
    return [tiny_bag(folder, name, 5.0, seed) for name, seed in (("a", 3), ("b", 4))]


@pytest.fixture(scope="module")
def reference(bags, tmp_path_factory):
    spill = tmp_path_factory.mktemp("budget-reference") / "spill"
    run_cli("stage1", *map(str, bags), str(spill), *ARGS)
    return {name: data for name, data in tree_bytes(spill).items() if name != LOCK}


def tree_peak(*args: str) -> tuple[int, int, str]:
    """Run the command line; its exit code, the peak resident memory of its process tree, stderr."""
    proc = subprocess.Popen([sys.executable, "-m", "spill2lerobot", *args], stderr=subprocess.PIPE, text=True)
    root, peak = psutil.Process(proc.pid), 0
    while proc.poll() is None:
        total = 0
        try:
            for process in [root, *root.children(recursive=True)]:
                total += process.memory_info().rss
        except psutil.NoSuchProcess:
            pass  # a process ended between listing and reading
        peak = max(peak, total)
        time.sleep(0.02)
    _, stderr = proc.communicate()
    return proc.returncode, peak, stderr


def test_too_small_a_budget_names_the_smallest_that_works_and_that_one_holds(bags, reference, tmp_path):
    spill = tmp_path / "spill"
    code, _, stderr = tree_peak("stage1", *map(str, bags), str(spill), *ARGS, "--max-memory", "64MB")
    assert code == 2
    (line,) = [line for line in stderr.splitlines() if line.startswith("error:")]
    match = re.fullmatch(
        r"error: --max-memory 64MB is too small: one unit takes about \d+MB beside the driver's \d+MB; "
        r"give at least --max-memory (\d+)MB",
        line,
    )
    assert match, line
    assert "Traceback" not in stderr
    smallest = int(match.group(1))
    code, peak, stderr = tree_peak("stage1", *map(str, bags), str(spill), *ARGS, "--max-memory", f"{smallest}MB")
    assert code == 0, stderr
    assert peak < smallest * 1024**2, (peak, smallest)
    assert {name: data for name, data in tree_bytes(spill).items() if name != LOCK} == reference


def test_a_roomy_budget_runs_units_side_by_side_under_it(bags, reference, tmp_path):
    spill = tmp_path / "spill"
    code, peak, stderr = tree_peak("stage1", *map(str, bags), str(spill), *ARGS, "--max-memory", "1GB", "-j", "2")
    assert code == 0, stderr
    assert peak < 1024**3, peak
    assert {name: data for name, data in tree_bytes(spill).items() if name != LOCK} == reference


def test_a_budget_that_is_not_a_size_is_one_line(bags, tmp_path):
    result = run_cli("stage1", str(bags[0]), str(tmp_path / "spill"), "--max-memory", "lots", check=False)
    assert result.returncode == 2
    assert result.stderr.strip() == "error: --max-memory 'lots': not a size; write it like 600MB or 2GB"
