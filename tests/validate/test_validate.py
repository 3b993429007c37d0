"""`spill2lerobot validate`: passes on our outputs (and lerobot's own), names what is wrong in damaged copies."""

from __future__ import annotations

import json
import shutil

import gen_kuavo_bag
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner
from support import run_cli

from spill2lerobot.errors import UserError
from spill2lerobot.validate import sample_frames, validate_command

SMALL = ["--set", "dataset.resize.width=320", "--set", "dataset.resize.height=240"]
EPISODES = "meta/episodes/chunk-000/file-000.parquet"
DATA = "data/chunk-000/file-000.parquet"


@pytest.fixture(scope="module")
def spill(bags, tmp_path_factory):
    spill = tmp_path_factory.mktemp("validate") / "spill"
    run_cli("stage1", str(bags["a"]), str(bags["b"]), str(spill), *SMALL, "--set", "rosbag.chunk_size=30")
    return spill


@pytest.fixture(scope="module")
def out_bag(spill, tmp_path_factory):
    out = tmp_path_factory.mktemp("validate") / "bag_mode"
    run_cli("merge", str(spill), str(out))
    return out


@pytest.fixture(scope="module")
def out_chunk(spill, tmp_path_factory):
    out = tmp_path_factory.mktemp("validate") / "chunk_mode"
    run_cli("merge", str(spill), str(out), "--episodes", "chunk")
    return out


def validate(*args) -> tuple[int, str]:
    result = CliRunner().invoke(validate_command, [str(a) for a in args])
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout


def damaged(out, tmp_path):
    copy = tmp_path / "damaged"
    shutil.copytree(out, copy)
    return copy


@pytest.mark.slow
def test_our_outputs_pass(out_bag, out_chunk):
    code, text = validate(out_bag)
    assert code == 0, text
    assert text.splitlines()[-1] == "OK: 2 episodes, 218 frames, 3 videos checked"
    code, text = validate(out_chunk)
    assert code == 0, text
    assert text.splitlines()[-1].startswith("OK: 8 episodes, 218 frames, 3 videos checked")


@pytest.mark.slow
def test_against_the_source_bags_passes_in_both_episode_modes(out_bag, out_chunk, bags):
    code, text = validate(out_bag, "--against", bags["a"].parent, *SMALL)  # a folder of bags
    assert code == 0, text
    assert "one episode per bag" in text
    assert text.splitlines()[-1].endswith("10 frames compared with 2 bags")  # 5 per episode
    code, text = validate(out_chunk, "--against", bags["b"], "--against", bags["a"], *SMALL)
    assert code == 0, text
    assert "several episodes per bag (chunk mode)" in text


@pytest.mark.slow
def test_truncated_video(out_bag, tmp_path):
    out = damaged(out_bag, tmp_path)
    video = out / "videos/observation.images.wrist_cam_l/chunk-000/file-000.mp4"
    data = video.read_bytes()
    video.write_bytes(data[: len(data) // 2])
    code, text = validate(out)
    assert code == 1
    name = "videos/observation.images.wrist_cam_l/chunk-000/file-000.mp4"
    assert f"{name}: its index lists 218 frames but only" in text
    assert "the file is truncated" in text
    assert f"{name}: episode 1: 84 of 84 frames not decodable within 0.0001 s" in text
    assert "head_cam_h" not in text  # the other cameras are fine
    assert text.splitlines()[-1].startswith("FAILED: ")


@pytest.mark.slow
def test_wrong_dataset_to_index(out_bag, tmp_path):
    out = damaged(out_bag, tmp_path)
    table = pq.read_table(out / EPISODES)
    column = table.column("dataset_to_index").to_pylist()
    length, start = table.column("length")[0].as_py(), table.column("dataset_from_index")[0].as_py()
    column[0] += 7
    position = table.schema.get_field_index("dataset_to_index")
    table = table.set_column(position, table.schema.field(position), pa.array(column, pa.int64()))
    pq.write_table(table, out / EPISODES)
    code, text = validate(out)
    assert code == 1
    expected = f"{EPISODES}: episode 0 dataset_to_index {column[0]} != dataset_from_index {start} + length {length}"
    assert expected in text.splitlines()
    assert text.splitlines()[-1] == "FAILED: 1 problem"


def _rewrite_stats(out, change) -> None:
    path = out / "meta/stats.json"
    stats = json.loads(path.read_text())
    change(stats)
    path.write_text(json.dumps(stats))


@pytest.mark.slow
def test_stats_that_lie(out_bag, tmp_path):
    out = damaged(out_bag, tmp_path)

    def double_mean(stats):
        stats["observation.state"]["mean"] = [2 * v for v in stats["observation.state"]["mean"]]

    _rewrite_stats(out, double_mean)
    code, text = validate(out)
    assert code == 1
    assert "meta/stats.json: observation.state mean[" in text
    assert "the data give" in text

    out = damaged(out_bag, tmp_path / "swap")

    def swap_min_max(stats):
        ft = stats["action"]
        ft["min"], ft["max"] = ft["max"], ft["min"]

    _rewrite_stats(out, swap_min_max)
    code, text = validate(out)
    assert code == 1
    assert "meta/stats.json: action min > q01" in text
    assert "meta/stats.json: action min[0] = " in text


@pytest.mark.slow
def test_data_file_with_a_missing_row(out_bag, tmp_path):
    out = damaged(out_bag, tmp_path)
    table = pq.read_table(out / DATA)
    first_length = pq.read_table(out / EPISODES).column("length")[0].as_py()
    pq.write_table(pa.concat_tables([table.slice(0, 50), table.slice(51)]), out / DATA)
    code, text = validate(out)
    assert code == 1
    lines = text.splitlines()
    assert f"{DATA}: row 50 holds index 51, lerobot reads it as frame 50" in text
    assert f"{DATA}: episode 0 has {first_length - 1} rows, its length is {first_length}" in lines
    assert "stats" not in text  # a consequence, not reported as another problem


@pytest.mark.slow
def test_against_other_bags(out_bag, bags, tmp_path):
    # fewer frames than the dataset: says so
    code, text = validate(out_bag, "--against", bags["b"], *SMALL)
    assert code == 1
    assert "not the source bags" in text
    # same frame counts, other content (another seed): every sampled frame differs
    other = tmp_path / "other"
    other.mkdir()
    shutil.copy(bags["a"], other / "a.bag")
    gen_kuavo_bag.write_kuavo_bag(other / "b.bag", 9.0, seed=3, width=320, height=240)
    code, text = validate(out_bag, "--against", other, *SMALL)
    assert code == 1, text
    b_lines = [line for line in text.splitlines() if line.startswith(str(other / "b.bag"))]
    assert b_lines and not any(line.startswith(str(other / "a.bag")) for line in text.splitlines())
    assert any("observation.state differs from the bag" in line for line in b_lines)
    assert any("observation.images.head_cam_h differs from the bag's image" in line for line in b_lines)


def test_lerobots_own_dataset_passes(tmp_path):
    """lerobot 0.6.1's writer is the reference: what it writes must pass unchanged."""
    from lerobot.datasets.lerobot_dataset import LeRobotDataset

    features = {
        "observation.state": {"dtype": "float32", "shape": (3,), "names": ["a", "b", "c"]},
        "observation.images.cam": {"dtype": "video", "shape": (48, 64, 3), "names": ["height", "width", "channels"]},
    }
    root = tmp_path / "lerobot"
    ds = LeRobotDataset.create("local/validate", fps=10, root=root, features=features, use_videos=True)
    rng = np.random.default_rng(0)
    for episode, frames in enumerate((12, 17)):
        for _ in range(frames):
            ds.add_frame(
                {
                    "observation.state": rng.normal(size=3).astype(np.float32),
                    "observation.images.cam": rng.integers(0, 255, (48, 64, 3), dtype=np.uint8),
                    "task": f"task {episode}",
                }
            )
        ds.save_episode()
    ds.finalize()
    code, text = validate(root)
    assert code == 0, text
    assert text.splitlines()[-1] == "OK: 2 episodes, 29 frames, 1 video checked"


def test_not_a_dataset(tmp_path):
    code, text = validate(tmp_path)
    assert code == 1
    assert "meta/info.json: missing" in text
    with pytest.raises(UserError, match="no such folder"):
        validate(tmp_path / "absent")


def test_sample_frames():
    assert sample_frames(1) == [0]
    assert sample_frames(3) == [0, 1, 2]
    assert sample_frames(101) == [0, 25, 50, 75, 100]
