"""``video.single_thread``: a unit decodes and encodes every camera on its reading thread (one
core per unit, for --jobs N on N cores and one-CPU Ray tasks), and writes exactly what the
threaded cameras write."""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
import threading
from concurrent.futures import ProcessPoolExecutor

import av
import numpy as np
import pytest
from compare import provenance_without_timings
from gen_kuavo_bag import Faults, write_kuavo_bag
from reference import CAMERA_TOPICS
from support import run_cli

from spill2lerobot.encoding import EncoderSettings
from spill2lerobot.profiles import load_profile
from spill2lerobot.spill.affinity import held_to_one_core, pin_worker
from spill2lerobot.spill.cameras import CameraWorker, EndSegment, FrameJob, StartSegment

OPTIONS = ["--set", "dataset.resize.width=160", "--set", "dataset.resize.height=120", "--set", "rosbag.chunk_size=20"]
SINGLE = ["--set", "video.single_thread=true"]
PROVENANCE = "meta/spill2lerobot_provenance.json"
LOCK = ".spill2lerobot.lock"  # names the process that held the spill


@pytest.fixture(scope="module")
def faulty_depth_bag(tmp_path_factory):
    """Colour and depth cameras, with a few undecodable colour images (the repeat path)."""
    path = tmp_path_factory.mktemp("single") / "d.bag"
    faults = Faults(corrupt_frames={"cam_l": tuple(range(60, 75))})
    write_kuavo_bag(path, 7.0, seed=21, width=160, height=120, depth=True, faults=faults)
    return path


def digests(folder) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and str(p.relative_to(folder)) != PROVENANCE
    }


@pytest.mark.slow
def test_single_thread_writes_the_same_dataset_byte_for_byte(faulty_depth_bag, tmp_path):
    threaded, single = tmp_path / "threaded", tmp_path / "single"
    run_cli("convert", str(faulty_depth_bag), str(threaded), *OPTIONS)
    run_cli("convert", str(faulty_depth_bag), str(single), *OPTIONS, *SINGLE)
    ours = digests(single)
    report = json.loads((single / "meta/spill2lerobot_report.json").read_text())
    assert report["bags"][0]["faults"]["bad_images"]["wrist_cam_l"] > 0  # the repeat path ran too
    assert any(name.startswith("videos/observation.depth_h/") for name in ours)
    assert ours == digests(threaded)
    assert provenance_without_timings(single / PROVENANCE) == provenance_without_timings(threaded / PROVENANCE)


def test_bad_images_stop_a_single_thread_run_in_one_line(faulty_depth_bag, tmp_path):
    out = tmp_path / "out"
    strict = ["--set", "faults.on_bad_frame=error"]
    result = run_cli("convert", str(faulty_depth_bag), str(out), *OPTIONS, *SINGLE, *strict, check=False)
    assert result.returncode != 0 and "Traceback" not in result.stderr
    (line,) = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert CAMERA_TOPICS["wrist_cam_l"] in line and "cannot decode image" in line
    assert not out.exists()


def jpeg_of(value: int) -> bytes:
    codec = av.CodecContext.create("mjpeg", "w")
    codec.width, codec.height, codec.pix_fmt = 64, 48, "yuvj420p"
    frame = av.VideoFrame.from_ndarray(np.full((48, 64, 3), value, np.uint8), format="rgb24").reformat(
        format="yuvj420p"
    )
    return b"".join(bytes(packet) for packet in codec.encode(frame) + codec.encode(None))


def test_an_inline_worker_starts_no_thread_and_encodes_in_submit(tmp_path):
    profile = load_profile(None, ["dataset.resize.width=64", "dataset.resize.height=48", "video.codec=libx264"])
    before = threading.active_count()
    worker = CameraWorker("cam", EncoderSettings.from_profile(profile), inline=True)
    assert threading.active_count() == before
    segment = tmp_path / "seg.mp4"
    worker.submit(StartSegment(segment))
    for value in (30, 120, 220):
        worker.submit(FrameJob(jpeg_of(value), False, False, f"frame {value}", repeat_bad=False))
    assert worker.poll_segment() is None  # the segment is still open
    worker.submit(EndSegment())
    result = worker.poll_segment()  # done in submit: ready without waiting
    assert result is not None and result.frames == 3
    with av.open(str(segment)) as container:
        means = [frame.to_ndarray(format="rgb24").mean() for frame in container.decode(video=0)]
    assert [round(m / 10) for m in means] == [3, 12, 22]
    worker.stop()


def test_a_single_thread_run_is_held_to_one_core_and_let_go_after():
    before = os.sched_getaffinity(0)
    with held_to_one_core(True):
        assert os.sched_getaffinity(0) == {min(before)}
    assert os.sched_getaffinity(0) == before
    with held_to_one_core(False):
        assert os.sched_getaffinity(0) == before


def test_each_worker_takes_a_core_of_its_own():
    context = multiprocessing.get_context("spawn")
    cores = context.Queue()
    first = min(os.sched_getaffinity(0))  # a core this test may run on
    for _ in range(2):
        cores.put(first)
    with ProcessPoolExecutor(1, context, initializer=pin_worker, initargs=(cores,)) as pool:
        assert pool.submit(os.sched_getaffinity, 0).result() == {first}
    assert cores.get(timeout=5) == first  # one taken by the worker, one left


@pytest.mark.slow
def test_jobs_2_single_thread_spills_what_jobs_1_spills(faulty_depth_bag, tmp_path):
    spills = {}
    for jobs, extra in (("1", []), ("2", SINGLE)):
        spills[jobs] = tmp_path / f"spill{jobs}"
        run_cli("stage1", str(faulty_depth_bag), str(spills[jobs]), *OPTIONS, *extra, "--jobs", jobs)
    one, two = (
        {str(p.relative_to(s)): p.read_bytes() for p in sorted(s.rglob("*")) if p.is_file() and p.name != LOCK}
        for s in spills.values()
    )
    assert len(one) > 10 and one == two
