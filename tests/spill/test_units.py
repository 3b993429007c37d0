"""A (bag, chunk) is a unit: produced alone from a seek the index gives, its files the same
whatever ran before it, committed by its statistics file; --jobs N schedules units, not bags."""

from __future__ import annotations

import json
import multiprocessing
import shutil
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pytest
from support import TINY_ARGS, run_cli, tiny_bag, tree_bytes

from spill2lerobot.align import StreamingAligner, resume_point
from spill2lerobot.bag import open_bag
from spill2lerobot.profiles import load_profile, robot_for
from spill2lerobot.spill.bag_spill import spill_unit
from spill2lerobot.spill.chunks import BagTarget, encoder_settings
from spill2lerobot.spill.format import BagEntry
from spill2lerobot.spill.layout import SpillLayout
from spill2lerobot.spill.planning import make_plan
from spill2lerobot.spill.progress import Position
from spill2lerobot.spill.units import BagIndex, chosen_messages, chunk_last_frames

pytestmark = pytest.mark.slow

CHUNK = 8
ARGS = (*TINY_ARGS, "--set", f"rosbag.chunk_size={CHUNK}")
OVERRIDES = ("dataset.resize.width=64", "dataset.resize.height=48", f"rosbag.chunk_size={CHUNK}")
LOCK = ".spill2lerobot.lock"  # names the process holding the spill: differs between runs


@pytest.fixture(scope="module")
def bag(tmp_path_factory):
    return tiny_bag(tmp_path_factory.mktemp("units"), "long", 6.0, 11)


@pytest.fixture(scope="module")
def reference(bag, tmp_path_factory):
    """The spill --jobs 1 writes (7 chunks of 8 frames, the last shorter)."""
    spill = tmp_path_factory.mktemp("reference") / "spill"
    run_cli("stage1", str(bag), str(spill), *ARGS)
    assert len((spill / "bags/0000/journal.jsonl").read_text().splitlines()) == 7
    return spill


def spill_files(spill) -> dict[str, bytes]:
    return {name: data for name, data in tree_bytes(spill).items() if name != LOCK}


def test_the_index_gives_each_chunk_the_resume_point_streaming_finds(bag):
    """Every chunk's start, from the index alone, is where reading the whole bag in one stream
    leaves off after the chunk before it (``align.resume_point`` of its last frame)."""
    profile = load_profile(None, OVERRIDES)
    robot = robot_for(profile)
    with open_bag(bag) as opened:
        roles = robot.resolve_topics(opened.topics())
        plan, targets = make_plan(opened, profile, roles)
        span = robot.span_topics(roles)
        index = BagIndex.of(opened, roles, targets, plan, span)
        aligner = StreamingAligner(targets, list(roles.all), span_topics=span)
        streamed = {}
        only = chosen_messages(opened, roles, targets, skip=span)
        for msg in opened.messages(roles.all, only=only):
            for frame in aligner.push(msg.topic, msg.time_ns, msg.data):
                streamed[frame.index] = resume_point(frame)
        for frame in aligner.finish():
            streamed[frame.index] = resume_point(frame)
    assert plan.chunks == 7
    assert index.resume == [streamed[last] for last in chunk_last_frames(plan)]
    assert index.start(0) == 0 and index.start(3) == streamed[3 * CHUNK - 1]


def test_jobs_2_writes_the_spill_and_dataset_of_jobs_1_byte_for_byte(bag, reference, tmp_path):
    spill = tmp_path / "spill"
    run_cli("stage1", str(bag), str(spill), *ARGS, "--jobs", "2")
    assert spill_files(spill) == spill_files(reference)
    copy = tmp_path / "reference"
    shutil.copytree(reference, copy)
    run_cli("merge", str(copy), str(tmp_path / "one"))
    run_cli("merge", str(spill), str(tmp_path / "two"))
    one, two = tree_bytes(tmp_path / "one"), tree_bytes(tmp_path / "two")
    timed = "meta/spill2lerobot_provenance.json"  # holds the merge's run time
    assert {k: v for k, v in one.items() if k != timed} == {k: v for k, v in two.items() if k != timed}


def test_committed_units_are_taken_in_and_uncommitted_ones_redone(reference, bag, tmp_path):
    """A driver stopped after units 1-6 committed but only chunk 0 was journalled, with unit 3
    stopped before its commit (no statistics file) and a unit's temporary file left behind."""
    spill = tmp_path / "spill"
    shutil.copytree(reference, spill)
    folder = spill / "bags/0000"
    journal = (folder / "journal.jsonl").read_text().splitlines(keepends=True)
    (folder / "journal.jsonl").write_text(journal[0])
    (folder / "chunk-00003.stats.json").unlink()
    (folder / "chunk-00003.parquet.4242-0badf00d.tmp").write_bytes(b"half")
    kept = {name: (folder / name).stat().st_ino for name in ("chunk-00002.parquet", "chunk-00005.stats.json")}
    result = run_cli("stage1", str(bag), str(spill), *ARGS)
    assert "1 written now" in result.stderr
    assert spill_files(spill) == spill_files(reference)
    assert {name: (folder / name).stat().st_ino for name in kept} == kept  # not written again


def _run_unit(root: str, chunk: int) -> int:
    """A worker: the unit of ``chunk`` of the spill's one bag."""
    profile = load_profile(None, OVERRIDES)
    layout = SpillLayout(Path(root))
    manifest = json.loads(layout.manifest.read_text())
    entry = BagEntry.model_validate(manifest["bags"][0])
    target = BagTarget(layout, entry, profile, lambda line: None, Position())
    return len(spill_unit(target, range(chunk, chunk + 1)))


def test_one_unit_run_twice_at_once_writes_the_same_files(reference, tmp_path):
    spill = tmp_path / "spill"
    shutil.copytree(reference, spill)
    folder = spill / "bags/0000"
    for path in folder.glob("chunk-00004.*"):
        path.unlink()
    with ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("spawn")) as pool:
        runs = [pool.submit(_run_unit, str(spill), 4) for _ in range(2)]
        assert [run.result() for run in runs] == [1, 1]
    assert spill_files(spill) == spill_files(reference)
    assert not list(folder.glob("*.tmp"))


def test_encoder_threads_sets_each_svt_encoder_and_leaves_x264_alone():
    svt = load_profile(None, ("video.encoder_threads=3",))
    x264 = load_profile(None, ("video.encoder_threads=3", "video.codec=libx264"))
    assert encoder_settings(svt, encoders=6).svt_threads == 3
    assert (
        encoder_settings(x264, encoders=6).codec_options()
        == encoder_settings(load_profile(None, ("video.codec=libx264",)), encoders=6).codec_options()
    )


def test_a_damaged_samples_file_is_one_line_naming_it_then_redone(reference, bag, tmp_path):
    spill = tmp_path / "spill"
    shutil.copytree(reference, spill)
    samples = spill / "bags/0000/chunk-00002.head_cam_h.samples.npy"
    samples.write_bytes(samples.read_bytes()[:40])
    result = run_cli("merge", str(spill), str(tmp_path / "out"), check=False)
    assert result.returncode != 0 and "Traceback" not in result.stderr
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith(f"error: {samples}: damaged pixel samples") and "redoes chunk 2" in line, line
    run_cli("stage1", str(bag), str(spill), *ARGS)
    assert spill_files(spill) == spill_files(reference)
