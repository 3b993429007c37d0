"""Dataset frames at given times, decoded the way lerobot's PyAV decoder finds them."""

from __future__ import annotations

from pathlib import Path

import av
import av.container

from spill2lerobot.validate.metadata import Array
from spill2lerobot.validate.videos import TOLERANCE_S


class FrameReader:
    """Dataset frames at given times, the way lerobot's PyAV decoder finds them: seek to the
    keyframe before, decode forward to the frame within tolerance. Files stay open until close()."""

    def __init__(self) -> None:
        self._open: dict[Path, av.container.InputContainer] = {}

    def frame_at(self, path: Path, t: float, fmt: str = "rgb24") -> Array | None:
        try:
            container = self._open.get(path)
            if container is None:
                container = self._open[path] = av.open(str(path))
            stream = container.streams.video[0]
            base = stream.time_base
            if base is None:  # PyAV types it optional; a video stream always has one
                return None
            container.seek(max(0, round(t / base) - 1), backward=True, any_frame=False, stream=stream)
            for frame in container.decode(stream):
                if frame.pts is None:
                    continue
                frame_t = float(frame.pts * base)
                if abs(frame_t - t) < TOLERANCE_S:
                    pixels: Array = frame.to_ndarray(format=fmt)
                    return pixels
                if frame_t > t:
                    return None
        except (av.FFmpegError, OSError, ValueError, IndexError):
            return None
        return None

    def close(self) -> None:
        for container in self._open.values():
            container.close()
        self._open.clear()
