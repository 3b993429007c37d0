"""Video: JPEG decoding and per-chunk segment encoding with the dataset's final settings.

Segments are later joined by remuxing (no re-encode), which is only valid when every segment
shares the same encoder settings and each starts at pts 0 with a keyframe: one encoder per
segment, frame k of a segment at pts k in units of 1/fps.
"""

from __future__ import annotations

import contextlib
from fractions import Fraction
from pathlib import Path
from typing import Any, cast

import av
from av.container import OutputContainer
from av.video.codeccontext import VideoCodecContext
from av.video.frame import PictureType
from av.video.stream import VideoStream
from numpy.typing import NDArray

from spill2lerobot.encoding import EncoderSettings, available_cores
from spill2lerobot.fsutil import commit, release_freed_memory, unique_tmp_path

__all__ = ["EncoderSettings", "JpegDecoder", "SegmentWriter", "available_cores", "to_encoder_frame", "to_rgb"]


class JpegDecoder:
    """Decodes compressed images (JPEG, or PNG) with FFmpeg; keeps YUV to skip an RGB pass.

    ``max_pixels``: FFmpeg's own limit on a picture's size (it refuses to allocate a bigger one).
    """

    def __init__(self, max_pixels: int | None = None) -> None:
        self._contexts: dict[str, VideoCodecContext] = {}
        self._options = {} if max_pixels is None else {"max_pixels": str(max_pixels)}

    def decode(self, data: bytes) -> av.VideoFrame:
        codec = "png" if data[:4] == b"\x89PNG" else "mjpeg"
        context = self._contexts.get(codec)
        if context is None:
            context = self._contexts[codec] = cast(VideoCodecContext, av.CodecContext.create(codec, "r"))
            if self._options:
                context.options = dict(self._options)
        frames = context.decode(av.Packet(data))
        if codec == "png":  # FFmpeg's png decoder carries state from one image into the next
            self._contexts.pop(codec, None)
        if not frames:
            frames = context.decode(None)  # some decoders only emit on flush
            self._contexts.pop(codec, None)
        if not frames:
            raise ValueError("the image decoder returned no picture")
        frame: av.VideoFrame = frames[0]
        return frame


def to_rgb_frame(frame: av.VideoFrame, settings: EncoderSettings) -> av.VideoFrame:
    """The dataset's RGB picture of a decoded image: resized bilinearly, like the original's
    cv2.resize. Statistics are computed on it, and it is what gets encoded."""
    return frame.reformat(width=settings.width, height=settings.height, format="rgb24", interpolation="BILINEAR")


def to_encoder_frame(rgb_frame: av.VideoFrame, settings: EncoderSettings) -> av.VideoFrame:
    """RGB -> the encoder's pixel format, as lerobot's writer converts the RGB frames it is given
    (so our video is the one lerobot would write for the same pictures)."""
    return rgb_frame.reformat(format=settings.pix_fmt)


def to_rgb(frame: av.VideoFrame, settings: EncoderSettings) -> NDArray[Any]:
    return to_rgb_frame(frame, settings).to_ndarray()


class SegmentWriter:
    """One MP4 segment: written under a temporary name, renamed only once complete."""

    def __init__(self, path: Path, settings: EncoderSettings) -> None:
        self.path = path
        self._tmp = unique_tmp_path(path)
        self._settings = settings
        self._container: OutputContainer | None = av.open(str(self._tmp), mode="w", format="mp4")
        stream = cast(
            VideoStream,
            self._container.add_stream(settings.codec, rate=settings.fps, options=settings.codec_options()),
        )
        stream.width = settings.width
        stream.height = settings.height
        stream.pix_fmt = settings.pix_fmt
        stream.time_base = Fraction(1, settings.fps)
        self._stream: VideoStream | None = stream
        self.frames = 0

    def _open(self) -> tuple[OutputContainer, VideoStream]:
        assert self._container is not None and self._stream is not None, "the segment is closed"
        return self._container, self._stream

    def write(self, frame: av.VideoFrame) -> None:
        # A decoded JPEG is marked as an I picture and the encoder would honour that, making
        # every frame a keyframe; let the GOP setting (g) decide, as for lerobot's own frames.
        frame.pict_type = PictureType.NONE
        frame.pts = self.frames
        frame.time_base = Fraction(1, self._settings.fps)
        container, stream = self._open()
        container.mux(stream.encode(frame))
        self.frames += 1

    def close(self) -> int:
        container, stream = self._open()
        try:
            container.mux(stream.encode(None))
            container.close()
            commit(self._tmp, self.path)
        except BaseException:  # stopped or failed before the commit: no temporary file left
            self.abort()
            raise
        self._free_encoder()
        return self.frames

    def _free_encoder(self) -> None:
        # Drop the encoder now, not at some later garbage collection: the next segment's
        # encoder would otherwise be allocated while this one still holds its buffers.
        self._stream = None
        self._container = None
        release_freed_memory()

    def abort(self) -> None:
        with contextlib.suppress(Exception):
            if self._container is not None:
                self._container.close()
        self._tmp.unlink(missing_ok=True)
        self._free_encoder()
