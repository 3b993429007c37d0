"""Join encoded segments into lerobot's MP4 files by remuxing packets (stream copy).

Frame k of an output file sits at pts k/fps: each segment's packets are shifted by the number of
frames before it, an integer count, so episode boundaries never drift (lerobot issue #3177).
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av

from spill2lerobot.errors import UserError
from spill2lerobot.fsutil import commit, tmp_path


def _ticks_per_frame(time_base: Fraction, fps: int) -> int:
    ticks = Fraction(1, fps) / time_base
    if ticks.denominator != 1:
        raise UserError(
            f"video time base {time_base} cannot hold {fps} fps frames exactly; re-run stage1 with --restart"
        )
    return int(ticks)


def remux_segments(segments: list[Path], output: Path, fps: int) -> int:
    """Write ``segments`` one after the other into ``output``; returns the number of frames."""
    tmp = tmp_path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    frames_before = 0
    extradata = None
    with av.open(str(tmp), mode="w", format="mp4", options={"movflags": "faststart"}) as out:
        out_stream = None
        for segment in segments:
            with av.open(str(segment)) as source:
                stream = source.streams.video[0]
                if out_stream is None:
                    # opaque: copy codec parameters without opening an encoder
                    out_stream = out.add_stream_from_template(template=stream, opaque=True)
                    out_stream.time_base = stream.time_base
                    extradata = stream.codec_context.extradata
                elif stream.codec_context.extradata != extradata:
                    # Segments from different encoder settings would decode as garbage.
                    raise UserError(
                        f"{segment}: encoded with other settings than the rest; re-run stage1 with --restart"
                    )
                if stream.time_base is None:
                    raise UserError(f"{segment}: video stream without a time base; re-run stage1 with --restart")
                ticks = _ticks_per_frame(stream.time_base, fps)
                offset = frames_before * ticks
                count = 0
                for packet in source.demux(stream):
                    if packet.pts is None:  # demuxer's end-of-stream marker
                        continue
                    packet.pts += offset
                    packet.dts = packet.dts + offset if packet.dts is not None else None
                    packet.stream = out_stream
                    out.mux(packet)
                    count += 1
                frames_before += count
    commit(tmp, output)
    return frames_before
