"""Encoder threads and process set-up: changes that must never change the dataset.

Stage 1 gives each SVT-AV1 encoder its share of the cores (``EncoderSettings.sharing_cores``),
so the thread budget differs between machines and between --jobs values. That is only sound
because SVT-AV1 writes the same video for any thread budget; these tests hold the installed
encoder to it.
"""

from __future__ import annotations

import subprocess
import sys
from dataclasses import replace

import av
import numpy as np
import pytest

from spill2lerobot.spill.video import EncoderSettings, SegmentWriter, available_cores

SETTINGS = EncoderSettings(
    codec="libsvtav1", pix_fmt="yuv420p", g=2, crf=30, preset=12, fast_decode=0, fps=10, width=160, height=120
)


def _frames(count: int) -> list[np.ndarray]:
    """A moving random texture: hard to encode, so the encoder's decisions matter."""
    rng = np.random.default_rng(7)
    canvas = rng.integers(0, 256, (120 + count, 160 + 2 * count, 3), dtype=np.uint8)
    return [np.ascontiguousarray(canvas[k : k + 120, 2 * k : 2 * k + 160]) for k in range(count)]


def _encode(settings: EncoderSettings, frames: list[np.ndarray], path) -> bytes:
    writer = SegmentWriter(path, settings)
    for rgb in frames:
        writer.write(av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(format=settings.pix_fmt))
    writer.close()
    return path.read_bytes()


@pytest.mark.parametrize("threads", [1, 2, 3])
def test_svtav1_writes_the_same_video_for_any_thread_budget(threads, tmp_path):
    frames = _frames(40)
    default = _encode(SETTINGS, frames, tmp_path / "default.mp4")
    budgeted = _encode(replace(SETTINGS, svt_threads=threads), frames, tmp_path / f"lp{threads}.mp4")
    assert len(default) > 1000
    assert budgeted == default


def test_each_svtav1_encoder_gets_its_share_of_the_cores():
    cores = available_cores()
    assert SETTINGS.sharing_cores(1).codec_options()["svtav1-params"] == f"fast-decode=0:lp={cores}"
    assert SETTINGS.sharing_cores(cores * 3).svt_threads == 1  # never below one thread
    assert SETTINGS.sharing_cores(3).svt_threads == max(1, cores // 3)
    assert "lp=" not in SETTINGS.codec_options()["svtav1-params"]  # what lerobot itself passes


def test_libx264_keeps_its_own_threads():
    x264 = replace(SETTINGS, codec="libx264", preset=None)
    assert x264.sharing_cores(6) == x264  # x264's thread count changes its output


def test_command_processes_run_without_pandas():
    """pyarrow would import pandas (installed with lerobot) at its first array; commands keep it out
    and still write Parquet."""
    code = (
        "import sys, pyarrow as pa, pyarrow.parquet as pq\n"
        "from spill2lerobot.process import prepare_process\n"
        "prepare_process()\n"
        "pq.write_table(pa.table({'a': pa.array([1, 2])}), pa.BufferOutputStream())\n"
        "print('pandas' in sys.modules)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"
