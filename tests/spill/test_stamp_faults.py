"""Header-stamp faults: duplicate, out-of-order and skewed header.stamp values are counted exactly,
per chunk and per topic, the same in a resumed run; alignment keeps using record times."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pyarrow.parquet as pq
import pytest
from gen_kuavo_bag import CAMERA_TOPICS, LATENCY_NS, Faults, write_kuavo_bag
from reference import load_reference
from support import keep_journalled, run_cli

pytestmark = pytest.mark.slow

CHUNK = 30
OPTIONS = ["--set", "dataset.resize.width=64", "--set", "dataset.resize.height=48"]
OPTIONS += ["--set", f"rosbag.chunk_size={CHUNK}"]
SENSORS, JOINT_CMD, ARM_TRAJ = "/sensors_data_raw", "/joint_cmd", "/kuavo_arm_traj"
CAM_H = CAMERA_TOPICS["cam_h"]
SECONDS, SEED = 12.0, 7


MAX_SKEW_NS = 100_000_000  # faults.max_skew_ms's default


def used_messages(ref, topic: str) -> list[int]:
    """Numbers of the messages stage 1 reads of a topic: those at the record time of some frame's
    pick (its stamps are checked on these only, see README)."""
    times = ref.times[topic]
    picked = set(times[ref.picks[topic]].tolist())
    return [k for k, t in enumerate(times.tolist()) if t in picked]


def expected_counts(ref, stamps: dict[str, np.ndarray], ends: list[int]) -> dict[int, dict]:
    """Per chunk, kind and topic: the faults of the used messages, each compared with the topic's
    previous used message; a chunk holds the messages recorded up to its last frame's time."""
    by_chunk: dict[int, dict] = {}
    for topic, topic_stamps in stamps.items():
        previous = None
        for k in used_messages(ref, topic):
            t, stamp = int(ref.times[topic][k]), int(topic_stamps[k])
            kinds = []
            if previous is not None and stamp == previous:
                kinds.append("duplicate_stamps")
            elif previous is not None and stamp < previous:
                kinds.append("out_of_order_stamps")
            if abs(stamp - t) > MAX_SKEW_NS:
                kinds.append("skewed_stamps")
            previous = stamp
            chunk = min(int(np.searchsorted(ends, t, side="right")), len(ends) - 1)
            for kind in kinds:
                counts = by_chunk.setdefault(chunk, {}).setdefault(kind, {})
                counts[topic] = counts.get(topic, 0) + 1
    return by_chunk


@pytest.fixture(scope="module")
def stamped(tmp_path_factory):
    """A bag with stamp faults on messages that frames use, one on each side of chunk 1's end;
    the spill and dataset."""
    folder = tmp_path_factory.mktemp("stamps")
    clean = folder / "clean.bag"  # the same record times (stamp faults change none), no stamp faults
    duplicated = {"cam_h": (49,)}  # message 50: same record time and stamp as 49, a frame's pick
    write_kuavo_bag(clean, SECONDS, seed=SEED, width=64, height=48, faults=Faults(duplicate_frames=duplicated))
    ref = load_reference(clean)
    ends = [int(ref.targets_ns[min(len(ref), (c + 1) * CHUNK) - 1]) for c in range(-(-len(ref) // CHUNK))]

    def pick(topic: str, frame: int) -> int:
        return int(ref.picks[topic][frame])

    def onto(topic: str, frame: int, other: int) -> float:
        """The stamp offset (ms) that gives frame's pick the stamp of frame ``other``'s pick."""
        return (int(ref.times[topic][pick(topic, other)]) - int(ref.times[topic][pick(topic, frame)])) / 1e6

    offsets = {
        SENSORS: {pick(SENSORS, f): onto(SENSORS, f, f - 1) for f in (35, CHUNK * 2)},  # duplicates
        JOINT_CMD: {pick(JOINT_CMD, 40): -150.0, pick(JOINT_CMD, 70): onto(JOINT_CMD, 70, 69) - 1.0},  # out of order
        ARM_TRAJ: {pick(ARM_TRAJ, 20): 500.0},  # skewed; the next used message is then out of order
    }
    faults = Faults(duplicate_frames=duplicated, stamp_offsets_ms=offsets)
    bag = folder / "stamps.bag"
    write_kuavo_bag(bag, SECONDS, seed=SEED, width=64, height=48, faults=faults)
    ref = load_reference(bag)
    spill, out = folder / "spill", folder / "out"
    stage1 = run_cli("stage1", str(bag), str(spill), *OPTIONS)
    run_cli("merge", str(spill), str(out))
    stamps = {topic: ref.times[topic] - LATENCY_NS for topic in (CAM_H, SENSORS, JOINT_CMD, ARM_TRAJ)}
    for topic, by_message in offsets.items():
        for k, ms in by_message.items():
            stamps[topic][k] += round(ms * 1e6)
    by_chunk = expected_counts(ref, stamps, ends)
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


def totals(by_chunk: dict[int, dict]) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = {}
    for kinds in by_chunk.values():
        for kind, topics in kinds.items():
            for topic, n in topics.items():
                out.setdefault(kind, {})[topic] = out.get(kind, {}).get(topic, 0) + n
    return out


def test_the_planted_faults_are_the_expected_ones(stamped):
    """The expectation itself: every planted fault shows (a guard against an empty expectation).
    A stamp moved onto the previous used message's is also ~100 ms off its record time: whether
    that counts as skewed depends on the bag's timing, so skews are checked as at least these."""
    expected = totals(stamped["by_chunk"])
    assert expected["duplicate_stamps"] == {CAM_H: 1, SENSORS: 2}
    assert expected["out_of_order_stamps"] == {JOINT_CMD: 2, ARM_TRAJ: 1}
    assert expected["skewed_stamps"][ARM_TRAJ] == 1 and expected["skewed_stamps"][JOINT_CMD] >= 1


def test_report_and_summary_line_hold_the_totals(stamped):
    whole = json.loads((stamped["out"] / "meta/spill2lerobot_report.json").read_text())
    assert whole["stamps_checked"] == "messages the frames use"
    report, expected = whole["bags"][0], totals(stamped["by_chunk"])
    for kind, label in (
        ("duplicate_stamps", "duplicate stamps"),
        ("out_of_order_stamps", "out of order stamps"),
        ("skewed_stamps", "skewed stamps"),
    ):
        assert report["faults"][kind] == expected[kind]
        topics = ", ".join(f"{topic} {n}" for topic, n in sorted(expected[kind].items()))
        assert f"{sum(expected[kind].values())} {label} ({topics})" in stamped["stderr"]


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
    keep_journalled(spill, keep)
    result = run_cli("stage1", str(stamped["bag"]), str(spill), *OPTIONS)
    assert f"({len(chunk_stats(stamped['spill'])) - keep} written now" in result.stderr
    assert chunk_stats(spill) == chunk_stats(stamped["spill"])


def test_clean_bag_has_only_its_duplicated_frame(stamped, tmp_path):
    run_cli("stage1", str(stamped["clean"]), str(tmp_path / "spill"), *OPTIONS)
    found = [(chunk, stamp_faults(item)) for chunk, item in enumerate(chunk_stats(tmp_path / "spill"))]
    assert [(chunk, faults) for chunk, faults in found if faults] == [(0, {"duplicate_stamps": {CAM_H: 1}})]
