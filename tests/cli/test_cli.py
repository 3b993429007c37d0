"""The command line as users meet it: help texts, one-line errors, exit codes, resuming."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time

import pytest
from compare import assert_same_dataset, provenance_without_timings
from support import ROOT, keep_journalled, run_cli

SMALL = ["--set", "dataset.resize.width=320", "--set", "dataset.resize.height=240"]


def test_help_shows_an_example():
    for command in ("stage1", "merge", "convert"):
        result = run_cli(command, "--help")
        assert "Example:" in result.stdout and f"spill2lerobot {command}" in result.stdout


def assert_one_line_error(result, *fragments):
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, result.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


def test_not_a_bag_is_a_clear_error_and_no_output(tmp_path):
    fake = tmp_path / "notes.bag"
    fake.write_text("hello")
    out = tmp_path / "out"
    result = run_cli("convert", str(fake), str(out), check=False)
    assert_one_line_error(result, str(fake), "not a ROS1 bag")
    assert not out.exists()


def test_missing_required_topic_names_it_and_points_to_inspect(bags, tmp_path):
    out = tmp_path / "out"
    result = run_cli("convert", str(bags["b"]), str(out), "--set", "dataset.eef_type=qiangnao", check=False)
    assert_one_line_error(result, str(bags["b"]), "/dexhand/state", "inspect")
    assert not out.exists()


def test_real_kuavo_bag_without_cameras_names_the_missing_camera(tmp_path):
    real = ROOT / "tests/data/real-bags/kuavo_vr_session_group1.bag"
    result = run_cli("stage1", str(real), str(tmp_path / "s"), check=False)
    assert_one_line_error(result, str(real), "/cam_h/color/image_raw/compressed", "/sensors_data_raw")


def test_unknown_option_is_rejected(bags, tmp_path):
    result = run_cli("stage1", str(bags["b"]), str(tmp_path / "s"), "--set", "dataset.colour=red", check=False)
    assert_one_line_error(result, "dataset.colour")


def test_existing_output_is_never_touched(bags, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "precious.txt").write_text("keep me")
    result = run_cli("convert", str(bags["b"]), str(out), check=False)
    assert_one_line_error(result, str(out), "already exists")
    assert [p.name for p in out.iterdir()] == ["precious.txt"]


@pytest.mark.slow
def test_merge_of_an_unfinished_spill_says_to_resume(bags, tmp_path):
    spill = tmp_path / "spill"
    run_cli("stage1", str(bags["b"]), str(spill), *SMALL, "--set", "rosbag.chunk_size=20")
    journal = spill / "bags/0000/journal.jsonl"
    journal.write_text(journal.read_text().splitlines()[0] + "\n")  # as if stopped after chunk 0
    result = run_cli("merge", str(spill), str(tmp_path / "out"), check=False)
    assert_one_line_error(result, "stage 1 has not finished", "stage1")
    assert not (tmp_path / "out").exists()


@pytest.mark.slow
def test_changed_options_on_resume_are_refused_until_restart(bags, tmp_path):
    spill = tmp_path / "spill"
    run_cli("stage1", str(bags["b"]), str(spill), *SMALL, "--set", "rosbag.chunk_size=20")
    result = run_cli("stage1", str(bags["b"]), str(spill), *SMALL, "--set", "rosbag.chunk_size=25", check=False)
    assert_one_line_error(result, "rosbag.chunk_size", "--restart")
    run_cli("stage1", str(bags["b"]), str(spill), *SMALL, "--set", "rosbag.chunk_size=25", "--restart")


@pytest.mark.slow
def test_stage1_killed_mid_bag_resumes_to_the_identical_dataset(bags, tmp_path):
    args = [str(bags["a"]), str(bags["b"])]
    options = [*SMALL, "--set", "rosbag.chunk_size=20"]
    reference = tmp_path / "reference"
    run_cli("convert", *args, str(reference), *options)

    spill = tmp_path / "spill"
    proc = subprocess.Popen(
        [sys.executable, "-m", "spill2lerobot", "stage1", *args, str(spill), *options], stderr=subprocess.DEVNULL
    )
    journal = spill / "bags/0000/journal.jsonl"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        if journal.exists() and len(journal.read_text().splitlines()) >= 2:
            proc.send_signal(signal.SIGKILL)
            break
        time.sleep(0.02)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, "stage1 finished before it could be interrupted"
    run_cli("stage1", *args, str(spill), *options)
    out = tmp_path / "out"
    run_cli("merge", str(spill), str(out))
    assert_same_dataset(reference, out)


@pytest.mark.slow
def test_status_and_resume_near_the_end_reads_only_the_rest(bags, tmp_path):
    """Resume after 90% of a bag: only the remaining part of the bag is read."""
    spill = tmp_path / "spill"
    options = [*SMALL, "--set", "rosbag.chunk_size=10"]
    run_cli("stage1", str(bags["a"]), str(spill), *options)
    journal = spill / "bags/0000/journal.jsonl"
    lines = journal.read_text().splitlines()
    assert len(lines) >= 10
    kept = len(lines) * 9 // 10
    keep_journalled(spill, kept)  # as if stopped at 90%
    status = run_cli("status", str(spill)).stdout
    assert f"{kept}/{len(lines)} chunks" in status and "frames to go" in status
    result = run_cli("stage1", str(bags["a"]), str(spill), *options)
    summary = [line for line in result.stderr.splitlines() if line.startswith("a.bag:") and "MB read" in line][-1]
    read_mb = float(summary.split(", ")[-1].split(" MB read")[0])
    bag_mb = bags["a"].stat().st_size / 1e6
    assert read_mb < 0.25 * bag_mb, summary
    assert f"{len(lines) - kept} written now" in summary
    assert "1/1 bags finished" in run_cli("status", str(spill)).stdout


@pytest.mark.slow
def test_status_shows_chunks_committed_but_not_journalled_and_the_next_run_keeps_them(bags, tmp_path):
    """A driver stopped after units committed (statistics files in place) but before it
    journalled them: status counts them, and the next run takes them in without redoing them."""
    spill = tmp_path / "spill"
    options = [*SMALL, "--set", "rosbag.chunk_size=10"]
    run_cli("stage1", str(bags["a"]), str(spill), *options)
    journal = spill / "bags/0000/journal.jsonl"
    lines = journal.read_text().splitlines(keepends=True)
    kept = len(lines) // 2
    journal.write_text("".join(lines[:kept]))  # the later chunks' files all stay
    status = run_cli("status", str(spill)).stdout
    assert f"{kept}/{len(lines)} chunks" in status
    assert f"({len(lines) - kept} more chunks committed" in status
    bag = json.loads(run_cli("status", str(spill), "--json").stdout)["bags"][0]
    assert (bag["chunks_done"], bag["chunks_committed"]) == (kept, len(lines) - kept)
    result = run_cli("stage1", str(bags["a"]), str(spill), *options)
    summary = [line for line in result.stderr.splitlines() if line.startswith("a.bag:") and "MB read" in line][-1]
    assert "0 written now" in summary, summary
    assert journal.read_text().splitlines(keepends=True) == lines
    after = json.loads(run_cli("status", str(spill), "--json").stdout)["bags"][0]
    assert after["finished"] and after["chunks_committed"] == 0


@pytest.mark.slow
def test_sigterm_stops_cleanly_with_where_and_how_to_resume(bags, tmp_path):
    spill = tmp_path / "spill"
    options = [*SMALL, "--set", "rosbag.chunk_size=10"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "spill2lerobot", "stage1", str(bags["a"]), str(bags["b"]), str(spill), *options],
        stderr=subprocess.PIPE,
        text=True,
    )
    journal = spill / "bags/0000/journal.jsonl"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not (journal.exists() and journal.read_text().count("\n") >= 2):
        time.sleep(0.02)
    proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 143, stderr
    last = stderr.strip().splitlines()[-1]
    assert last.startswith("stopped at bag 1/2, chunk ") and last.endswith("run the same command to resume"), last
    assert not list(spill.rglob("*.tmp"))  # the unfinished segments were removed
    run_cli("stage1", str(bags["a"]), str(bags["b"]), str(spill), *options)
    assert "2/2 bags finished" in run_cli("status", str(spill)).stdout


@pytest.mark.slow
def test_jobs_2_gives_byte_identical_output(bags, tmp_path):
    options = [*SMALL, "--set", "rosbag.chunk_size=40"]
    outs = {}
    for jobs in ("1", "2"):
        outs[jobs] = tmp_path / f"jobs{jobs}"
        run_cli("convert", str(bags["a"]), str(bags["b"]), str(outs[jobs]), *options, "--jobs", jobs)
    files = {jobs: sorted(p.relative_to(out) for p in out.rglob("*") if p.is_file()) for jobs, out in outs.items()}
    assert files["1"] == files["2"]
    for rel in files["1"]:
        if rel.name == "spill2lerobot_provenance.json":  # when and how long each run took
            assert provenance_without_timings(outs["1"] / rel) == provenance_without_timings(outs["2"] / rel)
        else:
            assert (outs["1"] / rel).read_bytes() == (outs["2"] / rel).read_bytes(), rel


@pytest.mark.slow
def test_one_bad_bag_does_not_stop_the_others(bags, tmp_path):
    bad = tmp_path / "broken.bag"
    bad.write_bytes(b"#ROSBAG V2.0\n" + b"\0" * 100)
    spill = tmp_path / "spill"
    result = run_cli("stage1", str(bags["b"]), str(bad), str(spill), *SMALL, check=False)
    assert result.returncode == 3
    assert "1 of 2 bags failed (broken.bag)" in result.stderr
    status = run_cli("status", str(spill)).stdout
    assert "b.bag" in status and "done" in status
