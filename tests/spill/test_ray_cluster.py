"""--executor ray on a real local cluster of two nodes (``ray.cluster_utils.Cluster``, one CPU
each): the spill --jobs 1 writes, when a node is lost mid-run, and after the driver is killed.
Ray is required here (the `ray` extra): without it these tests fail, they are not skipped."""

from __future__ import annotations

import signal
import subprocess
import sys
import time

import pytest
from ray.cluster_utils import Cluster
from support import TINY_ARGS, run_cli, tiny_bag, tree_bytes

pytestmark = pytest.mark.slow

ARGS = (*TINY_ARGS, "--set", "rosbag.chunk_size=8")
LOCK = ".spill2lerobot.lock"


@pytest.fixture(scope="module")
def cluster():
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1})
    cluster.add_node(num_cpus=1)
    cluster.wait_for_nodes()
    yield cluster
    cluster.shutdown()


@pytest.fixture(scope="module")
def bags(tmp_path_factory):
    folder = tmp_path_factory.mktemp("ray-bags")
    return [tiny_bag(folder, f"b{seed}", 4.0, seed) for seed in range(4)]


@pytest.fixture(scope="module")
def reference(bags, tmp_path_factory):
    spill = tmp_path_factory.mktemp("ray-reference") / "spill"
    run_cli("stage1", *map(str, bags), str(spill), *ARGS)
    return files(spill)


def files(spill) -> dict[str, bytes]:
    return {name: data for name, data in tree_bytes(spill).items() if name != LOCK}


def ray_command(bags, spill, cluster) -> list[str]:
    return ["stage1", *map(str, bags), str(spill), *ARGS, "--executor", "ray", "--ray-address", cluster.address]


def spawn(args: list[str]) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "spill2lerobot", *args], stderr=subprocess.PIPE, text=True)


def wait_for_commits(spill, count: int, proc: subprocess.Popen) -> None:
    """Until ``count`` units have committed (their statistics files are in place)."""
    deadline = time.monotonic() + 300
    while len(list(spill.glob("bags/*/chunk-*.stats.json"))) < count:
        assert proc.poll() is None, proc.communicate()[1]
        assert time.monotonic() < deadline, "no progress"
        time.sleep(0.05)


def test_four_bags_on_two_nodes_give_the_spill_of_jobs_1(cluster, bags, reference, tmp_path):
    spill = tmp_path / "spill"
    run_cli(*ray_command(bags, spill, cluster))
    assert files(spill) == reference


def test_a_node_lost_mid_run_the_run_completes_identical(cluster, bags, reference, tmp_path):
    spill = tmp_path / "spill"
    proc = spawn(ray_command(bags, spill, cluster))
    wait_for_commits(spill, 3, proc)
    node = next(node for node in cluster.list_all_nodes() if node is not cluster.head_node)
    cluster.remove_node(node)
    _, stderr = proc.communicate(timeout=600)
    cluster.add_node(num_cpus=1)  # for the tests after this one
    cluster.wait_for_nodes()
    assert proc.returncode == 0, stderr
    assert files(spill) == reference


def test_a_killed_driver_resumes_without_redoing_finished_units(cluster, bags, reference, tmp_path):
    spill = tmp_path / "spill"
    proc = spawn(ray_command(bags, spill, cluster))
    wait_for_commits(spill, 4, proc)
    proc.send_signal(signal.SIGKILL)
    proc.communicate()
    time.sleep(5)  # the dead driver's tasks are ended by Ray
    committed = {path: path.stat().st_ino for path in spill.glob("bags/*/chunk-*.stats.json")}
    assert len(committed) >= 4
    result = run_cli(*ray_command(bags, spill, cluster))
    assert files(spill) == reference
    assert {path: path.stat().st_ino for path in committed} == committed  # none written again
    written = sum(int(line.split("(")[1].split(" written now")[0]) for line in _summaries(result.stderr))
    total = len(list(spill.glob("bags/*/chunk-*.stats.json")))
    assert written == total - len(committed)


def test_a_relative_spill_is_refused_in_one_line(bags, tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "spill2lerobot", "stage1", str(bags[0]), "spill", "--executor", "ray"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "error: spill: with --executor ray the spill must be an absolute path on a filesystem every node sees "
        "(e.g. /mnt/shared/spill)"
    )
    assert not (tmp_path / "spill").exists()


def _summaries(stderr: str) -> list[str]:
    """Stage 1's per-bag summary lines ("b0.bag: N frames in C chunks (W written now, ...")."""
    return [line for line in stderr.splitlines() if " written now" in line and "frames in" in line]
