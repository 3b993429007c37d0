"""`spill2lerobot validate`: check a LeRobot v3.0 dataset the way lerobot 0.6.1 will read it.

No lerobot, no torch: pyarrow, av and numpy only, in bounded memory (Parquet files are streamed
batch by batch, every video file is decoded once, front to back, keeping one timestamp per
frame). What lerobot relies on, and so what is checked:

1. metadata: ``meta/info.json`` (version, fps, features, totals, path templates),
   ``meta/tasks.parquet``, the episodes table (``episode_index`` = row, contiguous
   ``dataset_from_index``/``dataset_to_index``, lengths, file references) and every
   ``data/*/*.parquet`` file in sorted order (lerobot concatenates them all: row ``i`` must be
   frame ``index == i``), with ``episode_index``, ``frame_index``, ``timestamp``, ``task_index``
   and the feature columns' types and shapes;
2. videos: each frame ``k`` of an episode must decode within lerobot's tolerance (1e-4 s,
   compared in float32 like lerobot's torch code) of ``from_timestamp + timestamp[k]``;
3. statistics: ``meta/stats.json`` and the per-episode ``stats/<feature>/<stat>`` columns are
   complete, ordered (min <= q01 <= ... <= q99 <= max, min <= mean <= max, std >= 0), their counts
   right, and their min/max/mean agree with the data (recomputed in the same streaming pass);
4. ``--against``: a few frames per episode (first, last, some between) are rebuilt from the source
   bags with the package's own alignment rules (nearest message, ties to the earlier) and compared:
   state and action exactly, images by mean absolute difference after stage 1's resize;
5. quality (``quality``; findings, not problems, once the above pass): NaN/inf values, constant
   joints, frozen cameras, rows against decodable frames, and a 0-100 score.

Modules: ``report`` (the report), ``metadata`` (info.json, tasks), ``episodes`` (the episodes
table), ``data`` and ``data_batch`` (data files), ``stats_checks``, ``videos``, ``sources``,
``frames`` and ``against`` (``--against``), ``quality``, ``run`` (all checks in order), ``command`` (the CLI).
"""

from __future__ import annotations

from spill2lerobot.validate.command import validate_command
from spill2lerobot.validate.report import Report
from spill2lerobot.validate.run import validate_dataset
from spill2lerobot.validate.sources import sample_frames

__all__ = ["Report", "sample_frames", "validate_command", "validate_dataset"]
