"""A truncated bag gives exactly the frames of its complete chunks: the expected dataset is the
reference alignment (tests/reference.py) of the messages of the chunks that lie wholly in the cut
file, found with rosbags and plain struct reads of the original bag, not with our reader."""

from __future__ import annotations

import json
import struct

import numpy as np
import pyarrow.parquet as pq
import pytest
from compare import decoded_frames
from gen_kuavo_bag import read_frame_code, write_truncated_copy
from reference import CAMERA_INDEX, load_reference
from rosbags.rosbag1 import Reader, Writer
from support import run_cli

pytestmark = pytest.mark.slow

OPTIONS = ["--set", "dataset.resize.width=160", "--set", "dataset.resize.height=120", "--set", "rosbag.chunk_size=40"]


def chunk_record_end(data: bytes, pos: int) -> int:
    """End of the Chunk record at ``pos``: u32 header length, header, u32 data length, data."""
    (header_len,) = struct.unpack_from("<I", data, pos)
    (data_len,) = struct.unpack_from("<I", data, pos + 4 + header_len)
    return pos + 8 + header_len + data_len


def reindexed_complete_chunks(src, cut_size: int, dst):
    """What `rosbag reindex` makes of the cut file: the messages of every chunk whose record
    is wholly inside the first ``cut_size`` bytes, written to ``dst``. Returns (chunks, messages,
    end of the last complete chunk record, start of the first incomplete one)."""
    data = src.read_bytes()
    with Reader(src) as reader:
        infos = list(reader.chunk_infos)
        kept = [info for info in infos if chunk_record_end(data, info.pos) <= cut_size]
        assert 0 < len(kept) < len(infos)
        assert infos[len(kept)].start_time > kept[-1].end_time  # chunks split the timeline cleanly
        messages = sum(sum(info.connection_counts.values()) for info in kept)
        last = kept[-1].end_time
        with Writer(dst) as writer:
            out = {
                c.id: writer.add_connection(
                    c.topic, c.msgtype, msgdef=c.msgdef.data, md5sum=c.digest, callerid=c.ext.callerid
                )
                for c in reader.connections
            }
            written = 0
            for conn, t, raw in reader.messages():
                if t <= last:
                    writer.write(out[conn.id], t, raw)
                    written += 1
    assert written == messages
    return len(kept), messages, chunk_record_end(data, kept[-1].pos), infos[len(kept)].pos


@pytest.mark.parametrize("fraction", [0.45, 0.8])
def test_truncated_bag_recovers_exactly_its_complete_chunks(bags, tmp_path, fraction):
    src = bags["a"]
    cut = write_truncated_copy(src, tmp_path / "cut.bag", fraction)
    size, total = cut.stat().st_size, src.stat().st_size
    chunks, messages, used_min, used_max = reindexed_complete_chunks(src, size, tmp_path / "reindexed.bag")
    ref = load_reference(tmp_path / "reindexed.bag")

    out = tmp_path / "out"
    result = run_cli("convert", str(cut), str(out), *OPTIONS)
    report = json.loads((out / "meta/spill2lerobot_report.json").read_text())["bags"][0]
    recovery = report["recovery"]
    assert recovery.startswith(f"recovered {chunks:,} chunks, {messages:,} messages, "), recovery
    percent = float(recovery.split(" messages, ")[1].split("%")[0])
    assert round(100 * used_min / size, 1) <= percent <= round(100 * used_max / size, 1) + 0.05
    assert f"truncated at byte {size} in chunk {chunks + 1} (which starts at byte {used_max})" in recovery
    assert recovery in result.stderr
    assert size < total

    info = json.loads((out / "meta/info.json").read_text())
    assert report["frames"] == info["total_frames"] == len(ref)
    table = pq.read_table(out / "data/chunk-000/file-000.parquet")
    for column, expected in (("observation.state", ref.state), ("action", ref.action)):
        np.testing.assert_array_equal(np.stack(table.column(column).to_numpy(zero_copy_only=False)), expected)
    for camera in ("head_cam_h", "wrist_cam_r"):
        frames = decoded_frames(out / f"videos/observation.images.{camera}/chunk-000/file-000.mp4")
        codes = [read_frame_code(rgb) for rgb in frames]
        assert codes == [(CAMERA_INDEX[camera], ref.camera_frame(camera, f)) for f in range(len(ref))]
