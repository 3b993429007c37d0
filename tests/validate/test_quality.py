"""Quality findings (spill2lerobot/validate/quality.py): planted faults are found, clean data has none;
the pick offsets and fault frames merge keeps in meta/spill2lerobot_report.json."""

from __future__ import annotations

import json
import shutil

import av
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from support import WRIST_L, run_cli, tiny_dataset

from spill2lerobot.merge.timing import OFFSET_EDGES_MS, frame_ranges, offset_summary
from spill2lerobot.validate.quality import quality_findings

DATA = "data/chunk-000/file-000.parquet"
HEAD = "videos/observation.images.head_cam_h/chunk-000/file-000.mp4"


@pytest.fixture(scope="module")
def clean(tmp_path_factory):
    return tiny_dataset(tmp_path_factory.mktemp("quality"), "clean", 6.0)


@pytest.fixture(scope="module")
def stopped_camera(tmp_path_factory):
    return tiny_dataset(tmp_path_factory.mktemp("quality"), "stopped", 8.0, gap=(3.0, 5.5))


def _copy(out, tmp_path):
    copy = tmp_path / "planted"
    shutil.copytree(out, copy)
    return copy


def _rewrite_column(root, key, change):
    table = pq.read_table(root / DATA)
    values = np.array(table.column(key).to_pylist(), dtype=np.float32)
    change(values)
    column = pa.FixedSizeListArray.from_arrays(pa.array(values.reshape(-1)), values.shape[1])
    table = table.set_column(table.schema.get_field_index(key), table.schema.field(key), column)
    pq.write_table(table, root / DATA)


def _drop_last_frame(path):
    """Remux the video without its last frame (PyAV, no re-encoding)."""
    with av.open(str(path)) as source:
        packets = [p for p in source.demux(source.streams.video[0]) if p.size]
        last = max(p.pts for p in packets)
        tmp = path.with_suffix(".tmp.mp4")
        with av.open(str(tmp), "w") as target:
            stream = target.add_stream_from_template(template=source.streams.video[0], opaque=True)
            for packet in packets:
                if packet.pts != last:
                    packet.stream = stream
                    target.mux(packet)
    tmp.replace(path)


def test_offset_summary_bins_and_ranges():
    summary = offset_summary(np.array([-150.0, -3.0, 0.0, 0.0, 7.5, 120.0]))
    assert summary["counts"][0] == 1 and summary["counts"][-1] == 1  # open-ended outer bins
    assert sum(summary["counts"]) == 6 and len(summary["counts"]) == len(OFFSET_EDGES_MS) + 1
    assert (summary["min_ms"], summary["max_ms"], summary["max_abs_ms"]) == (-150.0, 120.0, 150.0)
    assert frame_ranges(np.array([False, True, True, False, True])) == [[1, 3], [4, 5]]


@pytest.mark.slow
def test_clean_dataset_has_no_findings(clean, tmp_path):
    findings_file = tmp_path / "quality.json"
    result = run_cli("validate", str(clean), "--quality-json", str(findings_file))
    assert "quality score: 100/100" in result.stdout
    findings = json.loads(findings_file.read_text())
    assert findings["score"] == 100
    for found in findings["episodes"]:
        assert not any(found[kind] for kind in ("nonfinite_frames", "constant_entries", "frozen_frames"))
        assert found["rows_vs_frames"] == {}


@pytest.mark.slow
def test_report_keeps_pick_offsets_and_fault_frames(stopped_camera):
    report = json.loads((stopped_camera / "meta/spill2lerobot_report.json").read_text())
    bag = report["bags"][0]
    assert bag["offset_edges_ms"] == list(OFFSET_EDGES_MS)
    assert bag["offsets"][WRIST_L]["max_abs_ms"] > 100  # the 2.5 s gap
    details = bag["episode_details"][0]
    assert details["frames"] == bag["frames"]
    [[first, stop]] = details["fault_frames"]["gap_frames"][WRIST_L]
    assert 0 < first < stop <= details["frames"]
    assert sum(details["offsets"][WRIST_L]["counts"]) == details["frames"]


@pytest.mark.slow
def test_stopped_camera_is_found_frozen(stopped_camera):
    findings = quality_findings(stopped_camera)
    found = findings["episodes"][0]
    frozen = found["frozen_frames"]
    assert list(frozen) == ["observation.images.wrist_cam_l"]
    frozen_frames = sum(b - a for a, b in frozen["observation.images.wrist_cam_l"])
    assert frozen_frames >= 15  # ~2.5 s at 10 fps
    assert findings["score"] < 100


@pytest.mark.slow
def test_planted_nan_and_constant_joint_are_found(clean, tmp_path):
    root = _copy(clean, tmp_path)

    def plant(values):
        values[5, 2] = np.nan
        values[:, 3] = 0.25

    _rewrite_column(root, "observation.state", plant)
    findings = quality_findings(root)
    found = findings["episodes"][0]
    assert found["nonfinite_frames"] == {"observation.state": [[5, 6]]}
    assert list(found["constant_entries"]) == ["observation.state"]
    assert len(found["constant_entries"]["observation.state"]) == 1
    assert findings["score"] < 100


@pytest.mark.slow
def test_missing_video_frame_is_found(clean, tmp_path):
    root = _copy(clean, tmp_path)
    _drop_last_frame(root / HEAD)
    found = quality_findings(root)["episodes"][0]
    mismatch = found["rows_vs_frames"]["observation.images.head_cam_h"]
    assert mismatch["decodable"] == mismatch["rows"] - 1
    assert list(found["rows_vs_frames"]) == ["observation.images.head_cam_h"]
