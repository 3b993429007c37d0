"""Dataset equality as the resume tests need it: rows, decoded frames, metadata."""

from __future__ import annotations

import json

import av
import numpy as np
import pyarrow.parquet as pq


def decoded_frames(path) -> list[np.ndarray]:
    with av.open(str(path)) as container:
        return [frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)]


def assert_same_dataset(a, b, *, same_sources: bool = True):
    """Same files, rows, decoded frames and metadata. The conversion report names the source
    files; with ``same_sources=False`` (e.g. a bag against its unindexed copy) it is not compared."""
    files_a = sorted(p.relative_to(a) for p in a.rglob("*") if p.is_file())
    files_b = sorted(p.relative_to(b) for p in b.rglob("*") if p.is_file())
    assert files_a == files_b, sorted(set(files_a) ^ set(files_b))  # the files only one has
    for rel in files_a:
        if not same_sources and rel.name in ("spill2lerobot_report.json", "spill2lerobot_provenance.json"):
            continue
        if rel.name == "spill2lerobot_provenance.json":
            assert provenance_without_timings(a / rel) == provenance_without_timings(b / rel), rel
        elif rel.suffix == ".md":
            assert (a / rel).read_text() == (b / rel).read_text(), rel
        elif rel.suffix == ".parquet":
            assert pq.read_table(a / rel).equals(pq.read_table(b / rel)), rel
        elif rel.suffix == ".mp4":
            frames_a, frames_b = decoded_frames(a / rel), decoded_frames(b / rel)
            assert len(frames_a) == len(frames_b), rel
            for x, y in zip(frames_a, frames_b, strict=True):
                np.testing.assert_array_equal(x, y)
        else:
            assert json.loads((a / rel).read_text()) == json.loads((b / rel).read_text()), rel


def provenance_without_timings(path):
    """The provenance, less what differs between two identical runs (when, how long)."""
    document = json.loads(path.read_text())
    for run in document["runs"]:
        run.pop("finished")
        run.pop("timings")
    return document
