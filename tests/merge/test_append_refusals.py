"""Every refusal of --append: one line naming what differs, exit 2, OUT byte-for-byte unchanged."""

from __future__ import annotations

import json
import shutil

import pytest
from support import SMALL_ARGS, run_cli, tiny_bag, tree_bytes

from spill2lerobot.errors import UserError
from spill2lerobot.fsutil import ExchangeUnsupported
from spill2lerobot.merge import append as append_module
from spill2lerobot.merge.run import run_merge

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    folder = tmp_path_factory.mktemp("refusals")
    bags = [tiny_bag(folder, name, 3.0, seed) for name, seed in (("a", 1), ("b", 2))]
    out = folder / "out"
    run_cli("convert", str(bags[0]), str(out), *SMALL_ARGS)
    return folder, bags, out


def refused(args, out, *expected: str) -> None:
    before = tree_bytes(out)
    result = run_cli(*args, check=False)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    for text in expected:
        assert text in lines[0], lines[0]
    assert tree_bytes(out) == before


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        ("dataset.train_hz=5", ("fps 10 in", "5 in the profile")),
        ("dataset.robot_type=other_robot", ("robot_type", "other_robot")),
        ("dataset.which_arm=left", ("feature", "cannot append")),
        ("video.codec=libx264", ("video.codec", "'h264'")),
        ("dataset.resize.width=80", ("shape", "80")),
    ],
)
def test_convert_append_refuses_another_profile(setup, override, expected):
    folder, bags, out = setup
    refused(["convert", str(bags[1]), str(out), *SMALL_ARGS, "--set", override, "--append"], out, *expected)
    assert not (folder / "out.spill").exists()


def test_merge_append_refuses_a_spill_of_another_fps(setup, tmp_path):
    _, bags, out = setup
    spill = tmp_path / "spill"
    run_cli("stage1", str(bags[1]), str(spill), *SMALL_ARGS, "--set", "dataset.train_hz=5")
    refused(["merge", str(spill), str(out), "--append"], out, "cannot append: fps 10 in", "5 in the spill")


def edited_copy(out, tmp_path, edit) -> object:
    copy = tmp_path / "edited"
    shutil.copytree(out, copy)
    info = json.loads((copy / "meta/info.json").read_text())
    edit(info)
    (copy / "meta/info.json").write_text(json.dumps(info, indent=2))
    return copy


def test_another_pixel_format_is_refused(setup, tmp_path):
    _, bags, out = setup

    def edit(info):
        info["features"]["observation.images.head_cam_h"]["info"]["video.pix_fmt"] = "yuv444p"

    copy = edited_copy(out, tmp_path, edit)
    refused(["convert", str(bags[1]), str(copy), *SMALL_ARGS, "--append"], copy, "video.pix_fmt", "yuv444p")


def test_a_dataset_older_than_v30_is_refused_with_the_converter_command(setup, tmp_path):
    _, bags, out = setup
    copy = edited_copy(out, tmp_path, lambda info: info.update(codebase_version="v2.1"))
    refused(
        ["convert", str(bags[1]), str(copy), *SMALL_ARGS, "--append"],
        copy,
        "format v2.1",
        "python -m lerobot.scripts.convert_dataset_v21_to_v30 --repo-id=",
    )


def test_append_to_a_folder_that_is_not_a_dataset_is_refused(setup, tmp_path):
    _, bags, _ = setup
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "keep.txt").write_text("mine")
    refused(["convert", str(bags[1]), str(empty), *SMALL_ARGS, "--append"], empty, "no meta/info.json")


def test_a_filesystem_without_renameat2_is_refused_before_out_is_touched(setup, tmp_path, monkeypatch):
    _, bags, out = setup
    spill = tmp_path / "spill"
    run_cli("stage1", str(bags[1]), str(spill), *SMALL_ARGS)
    before = tree_bytes(out)

    def unsupported(a, b):
        raise ExchangeUnsupported("the filesystem cannot swap folders (Invalid argument)")

    monkeypatch.setattr(append_module, "exchange", unsupported)
    with pytest.raises(UserError, match="cannot append safely here: the filesystem cannot swap folders"):
        run_merge([spill], out, append=True, progress=lambda line: None)
    assert tree_bytes(out) == before
    assert not (out.parent / "out.append").exists()


def test_a_staging_folder_not_ours_is_refused(setup):
    folder, bags, out = setup
    stranger = folder / "out.append"
    stranger.mkdir()
    (stranger / "notes.txt").write_text("not yours")
    try:
        refused(["convert", str(bags[1]), str(out), *SMALL_ARGS, "--append"], out, "was not made by spill2lerobot")
        assert (stranger / "notes.txt").read_text() == "not yours"
    finally:
        shutil.rmtree(stranger)
