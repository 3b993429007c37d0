"""Header-stamp faults: duplicate, out-of-order and skewed header.stamp values are counted exactly,
per chunk and per topic, the same in a resumed run; alignment keeps using record times."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pyarrow.parquet as pq
import pytest
from gen_kuavo_bag import CAMERA_TOPICS, Faults, write_kuavo_bag
from reference import load_reference
from support import run_cli

pytestmark = pytest.mark.slow

CHUNK = 30
OPTIONS = ["--set", "dataset.resize.width=64", "--set", "dataset.resize.height=48"]
OPTIONS += ["--set", f"rosbag.chunk_size={CHUNK}"]
SENSORS, JOINT_CMD, ARM_TRAJ = "/sensors_data_raw", "/joint_cmd", "/kuavo_arm_traj"
CAM_H = CAMERA_TOPICS["cam_h"]
SECONDS, SEED = 12.0, 7


@pytest.fixture(scope="module")
def stamped(tmp_path_factory):
    """A bag with stamp faults, one of them on each side of chunk 1's end; the spill and dataset."""
    folder = tmp_path_factory.mktemp("stamps")
    clean = folder / "clean.bag"  # the same record times (stamp faults change none), no stamp faults
    write_kuavo_bag(clean, SECONDS, seed=SEED, width=64, height=48, faults=Faults(duplicate_frames={"cam_h": (50,)}))
    ref = load_reference(clean)
    ends = [int(ref.targets_ns[min(len(ref), (c + 1) * CHUNK) - 1]) for c in range(-(-len(ref) // CHUNK))]
    after = int(np.searchsorted(ref.times[SENSORS], ends[1]))  # first sensors message of chunk 2
    faults = Faults(
        duplicate_frames={"cam_h": (50,)},  # message 51: same record time and stamp as 50
        duplicate_stamps={SENSORS: (after - 1, after, 4000)},
        stamp_offsets_ms={JOINT_CMD: {300: -5.0, 3000: -3.0}, ARM_TRAJ: {200: 500.0}},
    )
    bag = folder / "stamps.bag"
    write_kuavo_bag(bag, SECONDS, seed=SEED, width=64, height=48, faults=faults)
    ref = load_reference(bag)
    spill, out = folder / "spill", folder / "out"
    stage1 = run_cli("stage1", str(bag), str(spill), *OPTIONS)
    run_cli("merge", str(spill), str(out))
    # (kind, topic, record time of the message that carries the fault), known by construction
    times = ref.times
    expected = [
        ("duplicate_stamps", CAM_H, times[CAM_H][51]),
        ("duplicate_stamps", SENSORS, times[SENSORS][after - 1]),
        ("duplicate_stamps", SENSORS, times[SENSORS][after]),
        ("duplicate_stamps", SENSORS, times[SENSORS][4000]),
        ("out_of_order_stamps", JOINT_CMD, times[JOINT_CMD][300]),
        ("out_of_order_stamps", JOINT_CMD, times[JOINT_CMD][3000]),
        ("skewed_stamps", ARM_TRAJ, times[ARM_TRAJ][200]),  # 501 ms from its record time
        ("out_of_order_stamps", ARM_TRAJ, times[ARM_TRAJ][201]),  # earlier than 200's stamp
    ]
    by_chunk: dict[int, dict] = {}
    for kind, topic, t in expected:
        chunk = min(int(np.searchsorted(ends, t, side="right")), len(ends) - 1)
        counts = by_chunk.setdefault(chunk, {}).setdefault(kind, {})
        counts[topic] = counts.get(topic, 0) + 1
    assert set(by_chunk) >= {1, 2}
    return {"bag": bag, "clean": clean, "spill": spill, "out": out, "by_chunk": by_chunk, "stderr": stage1.stderr}


def stamp_faults(stats: dict) -> dict:
    return {k: v for k, v in stats["faults"].items() if k.endswith("_stamps")}


def chunk_stats(spill) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted((spill / "bags/0000").glob("chunk-*.stats.json"))]


def test_stamp_faults_are_counted_per_chunk_exactly(stamped):
    stats = chunk_stats(stamped["spill"])
    assert len(stats) > 3
    for chunk, item in enumerate(stats):
        assert stamp_faults(item) == stamped["by_chunk"].get(chunk, {}), chunk


def test_report_and_summary_line_hold_the_totals(stamped):
    report = json.loads((stamped["out"] / "meta/spill2lerobot_report.json").read_text())["bags"][0]
    faults = report["faults"]
    assert faults["duplicate_stamps"] == {CAM_H: 1, SENSORS: 3}
    assert faults["out_of_order_stamps"] == {JOINT_CMD: 2, ARM_TRAJ: 1}
    assert faults["skewed_stamps"] == {ARM_TRAJ: 1}
    assert f"4 duplicate stamps ({CAM_H} 1, {SENSORS} 3)" in stamped["stderr"]
    assert f"3 out of order stamps ({JOINT_CMD} 2, {ARM_TRAJ} 1)" in stamped["stderr"]
    assert f"1 skewed stamps ({ARM_TRAJ} 1)" in stamped["stderr"]


def test_alignment_keeps_using_record_times(stamped, tmp_path):
    """Stamp faults change no frame: the rows equal those of the same bag without them."""
    clean = tmp_path / "clean"
    run_cli("convert", str(stamped["clean"]), str(clean), *OPTIONS)
    data = "data/chunk-000/file-000.parquet"
    ours, theirs = pq.read_table(stamped["out"] / data), pq.read_table(clean / data)
    for column in ("observation.state", "action", "timestamp", "frame_index"):
        assert ours.column(column).equals(theirs.column(column)), column


@pytest.mark.parametrize("keep", [1, 2, 3])
def test_a_resumed_run_counts_the_same(stamped, tmp_path, keep):
    """Cut the journal after `keep` chunks (an interruption there) and run stage 1 again."""
    spill = tmp_path / "spill"
    shutil.copytree(stamped["spill"], spill)
    journal = spill / "bags/0000/journal.jsonl"
    journal.write_text("".join(journal.read_text().splitlines(keepends=True)[:keep]))
    result = run_cli("stage1", str(stamped["bag"]), str(spill), *OPTIONS)
    assert f"({len(chunk_stats(stamped['spill'])) - keep} written now" in result.stderr
    assert chunk_stats(spill) == chunk_stats(stamped["spill"])


def test_clean_bag_has_only_its_duplicated_frame(stamped, tmp_path):
    run_cli("stage1", str(stamped["clean"]), str(tmp_path / "spill"), *OPTIONS)
    found = [(chunk, stamp_faults(item)) for chunk, item in enumerate(chunk_stats(tmp_path / "spill"))]
    assert [(chunk, faults) for chunk, faults in found if faults] == [(0, {"duplicate_stamps": {CAM_H: 1}})]
