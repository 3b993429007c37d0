"""Issue #17, "let people see their data": progress bars on a terminal and plain lines when
piped, -q, --json against the plain output, convert --dry-run, provenance and the dataset card."""

from __future__ import annotations

import json
import os
import pty
import re
import select
import sys
from pathlib import Path

import pytest
import yaml
from gen_kuavo_bag import CLAW_STATE_TOPIC, Faults, write_kuavo_bag
from support import ROOT, SMALL_ARGS, run_cli, tiny_bag

GAP = (1.0, 1.6)  # seconds without /leju_claw_state messages


@pytest.fixture(scope="module")
def bags(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("see_bags")
    gappy = folder / "gappy.bag"
    write_kuavo_bag(gappy, 3, seed=7, width=64, height=48, faults=Faults(gaps={CLAW_STATE_TOPIC: GAP}))
    return {"a": tiny_bag(folder, "a", 3, seed=1), "b": tiny_bag(folder, "b", 3, seed=2), "gappy": gappy}


def _run_in_terminal(*args: str, cwd: Path) -> tuple[int, str]:
    """The command line with stdin, stdout and stderr on a pseudo-terminal; what it showed."""
    pid, fd = pty.fork()
    if pid == 0:  # the child: run the CLI (stderr is the terminal too)
        os.chdir(cwd)
        os.execv(sys.executable, [sys.executable, "-m", "spill2lerobot", *args])
    chunks = []
    while True:
        ready, _, _ = select.select([fd], [], [], 60)
        if not ready:
            break
        try:
            data = os.read(fd, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status), b"".join(chunks).decode("utf-8", "replace")


def _seen_numbers(line: str) -> list[float]:
    return [float(n) for n in re.findall(r"\d+(?:\.\d+)?", line)]


@pytest.mark.slow
def test_progress_bars_on_a_terminal(bags, tmp_path):
    code, shown = _run_in_terminal("convert", str(bags["a"]), str(tmp_path / "out"), *SMALL_ARGS, cwd=ROOT)
    assert code == 0, shown
    assert "\r" in shown  # bars redraw in place
    assert re.search(r"[█▏▎▍▌▋▊▉]|\|#+", shown), shown  # tqdm's bar characters
    assert "frames/s" in shown and "MB/s read" in shown
    assert "chunk 1/" not in shown  # the plain per-chunk lines are replaced by the bars
    assert "a.bag: 24 frames in 2 chunks" in shown  # messages still print, above the bars


@pytest.mark.slow
def test_plain_lines_and_no_bars_when_piped(bags, tmp_path):
    result = run_cli("convert", str(bags["a"]), str(tmp_path / "out"), *SMALL_ARGS)
    assert "\r" not in result.stderr
    assert "a.bag: chunk 1/2, " in result.stderr and "ETA" in result.stderr
    quiet = run_cli("convert", str(bags["b"]), str(tmp_path / "quiet"), *SMALL_ARGS, "-q")
    assert quiet.stderr == "" and (tmp_path / "quiet/meta/info.json").exists()
    quiet_group = run_cli("-q", "status", str(tmp_path / "none"), check=False)
    assert quiet_group.returncode == 2 and quiet_group.stderr.startswith("error: ")  # errors still show


@pytest.mark.slow
def test_convert_json_holds_the_printed_figures(bags, tmp_path):
    out = tmp_path / "out"
    result = run_cli("convert", str(bags["a"]), str(bags["gappy"]), str(out), *SMALL_ARGS, "--json")
    document = json.loads(result.stdout)  # stdout holds the JSON document alone
    lines = result.stderr.splitlines()
    for bag in document["stage1"]["bags"]:
        line = next(line for line in lines if line.startswith(f"{bag['name']}: {bag['frames']} frames in "))
        assert f"{bag['chunks']} chunks ({bag['chunks_written']} written now" in line
        assert f"{bag['bytes_read'] / 1e6:.1f} MB read" in line
        for kind, counts in bag["faults"].items():
            assert f"{sum(counts.values())} {kind.replace('_', ' ')}" in line
    gappy = document["stage1"]["bags"][1]
    assert gappy["faults"]["gap_frames"][CLAW_STATE_TOPIC] > 0
    merged = document["merge"]
    summary = lines[-1]
    assert summary.startswith(f"{out}: {merged['episodes']} episodes, {merged['frames']} frames")
    info = json.loads((out / "meta/info.json").read_text())
    assert (merged["episodes"], merged["frames"]) == (info["total_episodes"], info["total_frames"])
    assert document["stage1"]["frames"] == info["total_frames"]


@pytest.mark.slow
def test_stage1_merge_status_validate_inspect_json(bags, tmp_path):
    spill, out = tmp_path / "spill", tmp_path / "out"
    stage1 = run_cli("stage1", str(bags["a"]), str(spill), *SMALL_ARGS, "--json")
    bag = json.loads(stage1.stdout)["bags"][0]
    assert f"a.bag: {bag['frames']} frames in {bag['chunks']} chunks" in stage1.stderr

    status_plain = run_cli("status", str(spill)).stdout.splitlines()
    status = json.loads(run_cli("status", str(spill), "--json").stdout)
    row = status["bags"][0]
    assert status_plain[0] == (
        f"a.bag: {row['chunks_done']}/{row['chunks_total']} chunks, "
        f"{row['frames_done']}/{row['frames_total']} frames, done"
    )
    assert status_plain[1].startswith(f"{status['finished']}/{status['total']} bags finished")

    merge = run_cli("merge", str(spill), str(out), "--json")
    merged = json.loads(merge.stdout)
    assert f"{out}: {merged['episodes']} episodes, {merged['frames']} frames" in merge.stderr

    validate_plain = run_cli("validate", str(out)).stdout.splitlines()[-1]
    validated = json.loads(run_cli("validate", str(out), "--json").stdout)
    assert validated["ok"] and validate_plain.startswith("OK: ")
    assert _seen_numbers(validate_plain)[:3] == [validated["episodes"], validated["frames"], validated["videos"]]

    facts = json.loads(run_cli("inspect", str(bags["a"]), "--json").stdout)
    assert isinstance(facts, dict) and facts


def test_dry_run_writes_nothing_and_sees_gaps(bags, tmp_path):
    out, before = tmp_path / "out", sorted(tmp_path.parent.rglob("*"))
    result = run_cli("convert", str(bags["a"]), str(bags["gappy"]), str(out), *SMALL_ARGS, "--dry-run", "--json")
    assert sorted(tmp_path.parent.rglob("*")) == before  # no file created, in the bags' folder or here
    assert not out.exists() and not out.with_name("out.spill").exists()
    planned = {bag["name"]: bag for bag in json.loads(result.stdout)["bags"]}
    assert planned["a.bag"]["faults"] == {} and planned["a.bag"]["error"] is None
    gaps = planned["gappy.bag"]["faults"]["gap_frames"]
    assert set(gaps) == {CLAW_STATE_TOPIC} and gaps[CLAW_STATE_TOPIC] >= 3  # 0.6 s of a 10 Hz timeline
    assert f"gappy.bag: {planned['gappy.bag']['frames']} frames in {planned['gappy.bag']['chunks']} chunks" in (
        result.stderr
    )
    assert "nothing written" in result.stderr


def test_dry_run_reports_a_missing_topic_as_an_error(bags, tmp_path):
    args = ("convert", str(bags["a"]), str(tmp_path / "out"), *SMALL_ARGS, "--dry-run")
    result = run_cli(*args, "--set", "dataset.eef_type=rq2f85", "--json", check=False)
    assert result.returncode == 2
    bag = json.loads(result.stdout)["bags"][0]
    assert "required topic" in bag["error"] and "missing" in bag["error"]
    assert "a.bag: error: " in result.stderr and not (tmp_path / "out").exists()


@pytest.mark.slow
def test_dry_run_gap_frames_are_the_ones_stage1_counts(bags, tmp_path):
    planned = json.loads(
        run_cli("convert", str(bags["gappy"]), str(tmp_path / "x"), *SMALL_ARGS, "--dry-run", "--json").stdout
    )
    spilled = json.loads(run_cli("stage1", str(bags["gappy"]), str(tmp_path / "spill"), *SMALL_ARGS, "--json").stdout)
    assert planned["bags"][0]["faults"]["gap_frames"] == spilled["bags"][0]["faults"]["gap_frames"]


@pytest.mark.slow
def test_provenance_and_dataset_card(bags, tmp_path):
    out = tmp_path / "out"
    run_cli("convert", str(bags["a"]), str(out), *SMALL_ARGS)
    info = json.loads((out / "meta/info.json").read_text())
    origin = json.loads((out / "meta/spill2lerobot_provenance.json").read_text())
    source = origin["sources"][0]
    assert source["size"] == bags["a"].stat().st_size and len(source["fingerprint"]) == 64
    assert 0 < source["first_record_ns"] < source["last_record_ns"]
    run = origin["runs"][0]
    assert len(run["profile_sha256"]) == 64 and run["profile"]["rosbag"]["chunk_size"] == 20
    assert run["versions"]["lerobot_format"] == info["codebase_version"]
    assert run["versions"]["ffmpeg"] and run["versions"]["encoders"]
    assert run["timings"]["stage1_seconds"] > 0 and run["timings"]["merge_seconds"] > 0

    card = (out / "README.md").read_text()
    front, body = card.split("---\n", 2)[1:]
    meta = yaml.safe_load(front)
    assert meta["task_categories"] == ["robotics"] and "LeRobot" in meta["tags"] and meta["license"]
    assert meta["configs"] == [{"config_name": "default", "data_files": "data/*/*.parquet"}]
    shown = json.loads(body.split("```json\n", 1)[1].split("\n```", 1)[0])
    assert shown == info
    assert f"**Episodes:** {info['total_episodes']}" in body and f"**Frames:** {info['total_frames']}" in body
    assert f"**FPS:** {info['fps']}" in body

    run_cli("convert", str(bags["b"]), str(out), *SMALL_ARGS, "--append")
    grown = json.loads((out / "meta/spill2lerobot_provenance.json").read_text())
    assert [s["name"] for s in grown["sources"]] == ["a.bag", "b.bag"]
    assert [r["command"] for r in grown["runs"]] == ["merge", "append"] and grown["runs"][1]["episodes"] == [1]
    assert "**Episodes:** 2" in (out / "README.md").read_text()
