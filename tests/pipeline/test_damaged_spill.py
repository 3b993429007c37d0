"""A damaged spill is one line naming the file and what to do; the next stage 1 run redoes the
damaged chunk, and the dataset is then the one an undamaged spill gives."""

from __future__ import annotations

import json
import shutil

import pytest
from compare import assert_same_dataset
from support import run_cli

pytestmark = pytest.mark.slow

SMALL = ["--set", "dataset.resize.width=64", "--set", "dataset.resize.height=48", "--set", "rosbag.chunk_size=8"]
SMALL += ["--set", "video.codec=libx264", "--set", "video.preset=ultrafast"]


@pytest.fixture(scope="module")
def finished(bags, tmp_path_factory):
    """A finished spill of bag b and the dataset it gives."""
    root = tmp_path_factory.mktemp("finished")
    run_cli("stage1", str(bags["b"]), str(root / "spill"), *SMALL)
    run_cli("merge", str(root / "spill"), str(root / "reference"))
    return root


def _copy(finished, tmp_path):
    spill = tmp_path / "spill"
    shutil.copytree(finished / "spill", spill, symlinks=True)
    return spill


def _one_line_error(result) -> str:
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("error: ")
    return last


DAMAGE = {
    "garbage": lambda path: path.write_bytes(b"\x00garbage\xff" * 10),
    "empty": lambda path: path.write_bytes(b""),
    "missing": lambda path: path.unlink(),
    "truncated": lambda path: path.write_bytes(path.read_bytes()[: len(path.read_bytes()) // 2]),
}


@pytest.mark.parametrize("damage", sorted(DAMAGE))
@pytest.mark.parametrize("name", ["chunk-00001.parquet", "chunk-00001.head_cam_h.mp4", "chunk-00001.stats.json"])
def test_a_damaged_chunk_file_is_named_then_redone(finished, bags, tmp_path, name, damage):
    spill = _copy(finished, tmp_path)
    DAMAGE[damage](spill / "bags" / "0000" / name)
    line = _one_line_error(run_cli("merge", str(spill), str(tmp_path / "out"), check=False))
    assert name in line and "redoes chunk 1" in line
    assert not (tmp_path / "out").exists() and not (tmp_path / "out.partial").exists()
    stage1 = run_cli("stage1", str(bags["b"]), str(spill), *SMALL)
    assert "redoing from chunk 1" in stage1.stderr
    run_cli("merge", str(spill), str(tmp_path / "out"))
    assert_same_dataset(tmp_path / "out", finished / "reference")


@pytest.mark.parametrize(
    "entry",
    [
        {"chunk": 1, "first_frame": 8, "frames": "x", "resume_ns": 1},
        {"chunk": 1, "first_frame": 8, "frames": 8, "resume_ns": -5},
        {"chunk": 1, "first_frame": 8, "frames": 10**30, "resume_ns": 1},
        {"chunk": 7, "first_frame": 8, "frames": 8, "resume_ns": 1},
        ["not", "an", "object"],
    ],
)
def test_a_damaged_journal_line_is_named_then_redone(finished, bags, tmp_path, entry):
    spill = _copy(finished, tmp_path)
    journal = spill / "bags" / "0000" / "journal.jsonl"
    lines = journal.read_text().splitlines()
    lines[1] = json.dumps(entry)
    journal.write_text("\n".join(lines) + "\n")
    line = _one_line_error(run_cli("merge", str(spill), str(tmp_path / "out"), check=False))
    assert "journal.jsonl line 2" in line and "redoes chunk 1" in line
    assert "journal.jsonl line 2" in run_cli("stage1", str(bags["b"]), str(spill), *SMALL).stderr
    run_cli("merge", str(spill), str(tmp_path / "out"))
    assert_same_dataset(tmp_path / "out", finished / "reference")


@pytest.mark.parametrize(
    "change",
    [
        lambda m: m["bags"][0].update(id="../../x"),
        lambda m: m["bags"][0].update(id="/etc"),
        lambda m: m["bags"][0].update(size="big"),
        lambda m: m.update(bags={"0000": 1}),
        lambda m: m.pop("profile"),
        lambda m: m["profile"]["dataset"].update(train_hz="ten"),
    ],
)
def test_a_damaged_manifest_is_one_line_and_nothing_is_read_outside(finished, tmp_path, change):
    spill = _copy(finished, tmp_path)
    # bait: a complete spill folder outside this one that an id like ../../x could lead to
    shutil.copytree(finished / "spill" / "bags" / "0000", tmp_path / "x")
    manifest = json.loads((spill / "spill.json").read_text())
    change(manifest)
    (spill / "spill.json").write_text(json.dumps(manifest))
    for command in (("merge", str(spill), str(tmp_path / "out")), ("status", str(spill))):
        line = _one_line_error(run_cli(*command, check=False))
        assert "spill.json" in line and "--restart" in line
    assert not (tmp_path / "out").exists()


def test_a_manifest_that_is_not_json_or_too_big(finished, tmp_path):
    spill = _copy(finished, tmp_path)
    (spill / "spill.json").write_bytes(b"\xff\xfe not json")
    assert "spill.json" in _one_line_error(run_cli("status", str(spill), check=False))
    with open(spill / "spill.json", "wb") as handle:
        handle.truncate(65 * 1024 * 1024)  # sparse: 65 MB of zeros, beyond any manifest
    assert "larger than stage 1 ever writes" in _one_line_error(
        run_cli("merge", str(spill), str(tmp_path / "o"), check=False)
    )
