"""The camera worker of a depth topic: decode, resize (nearest), encode in the profile's
``depth_mode`` (native: lerobot's 12-bit depth video; rgb8: the original's picture)."""

from __future__ import annotations

import av
import numpy as np

from spill2lerobot.encoding import DepthEncoderSettings, EncoderSettings
from spill2lerobot.profiles import Camera, Profile, image_pixel_limit
from spill2lerobot.spill.cameras import CameraWorker, FrameJob, SegmentResult
from spill2lerobot.spill.depth import DepthDecoder, native_frame, resize_nearest, rgb8_form
from spill2lerobot.spill.images import ImageDecoder
from spill2lerobot.spill.video import SegmentWriter, to_encoder_frame
from spill2lerobot.stats import DEPTH_VALUES, downsample_for_stats


class DepthWorker(CameraWorker):
    """A camera worker for a depth topic: decode, resize (nearest), encode in the profile's form."""

    def __init__(self, camera: Camera, profile: Profile, colour: EncoderSettings, inline: bool = False) -> None:
        """``colour``: the colour cameras' encoder settings (the rgb8 form is encoded with them)."""
        self._raw = camera.kind == "depth_raw"
        self._native = profile.dataset.depth_mode == "native"
        self._depth_range = list(profile.dataset.depth_range)
        self._colour = colour
        self._decoder_depth = DepthDecoder()
        settings = DepthEncoderSettings.for_profile(profile) if self._native else self._colour
        super().__init__(camera.name, settings, image_pixel_limit(profile), inline)

    def _encode(self, job: FrameJob, decoder: ImageDecoder, writer: SegmentWriter, result: SegmentResult) -> None:
        size = self._colour.width, self._colour.height
        try:
            # job.image: what wire.depth_cutter cut (spill/chunks.py)
            depth = resize_nearest(self._decoder_depth.decode_cut(job.image, self._raw, self._max_pixels), *size)
        except (ValueError, OSError, av.FFmpegError) as exc:
            # no good depth yet in this chunk: zero (no reading)
            depth = self._stand_in(job, exc, result, "depth image", lambda: np.zeros((size[1], size[0]), np.uint16))
        else:
            self._last_good = depth
        if self._native:
            if job.in_bag_sample or job.in_chunk_sample:
                counts = np.bincount(downsample_for_stats(depth).ravel(), minlength=DEPTH_VALUES)[None, :]
                if result.bag_counts.shape != counts.shape:  # a new segment's result
                    result.bag_counts = np.zeros_like(counts, dtype=np.int64)
                    result.chunk_counts = np.zeros_like(counts, dtype=np.int64)
                if job.in_bag_sample:
                    result.bag_counts += counts
                    result.bag_samples += 1
                if job.in_chunk_sample:
                    result.chunk_counts += counts
                    result.chunk_samples += 1
            writer.write(native_frame(depth))
            return
        rgb = rgb8_form(depth, self._depth_range)
        if job.in_bag_sample or job.in_chunk_sample:  # exactly as a colour camera's picture
            self._count_sample(job, result, rgb)
        writer.write(to_encoder_frame(av.VideoFrame.from_ndarray(rgb, format="rgb24"), self._colour))


def make_worker(camera: Camera, profile: Profile, settings: EncoderSettings) -> CameraWorker:
    """Images over the profile's pixel limit (``image_pixel_limit``) are bad frames, never decoded.
    ``video.single_thread``: the worker runs on the caller's thread (no thread of its own)."""
    inline = profile.video.single_thread
    if camera.is_depth:
        return DepthWorker(camera, profile, settings, inline)
    return CameraWorker(camera.name, settings, image_pixel_limit(profile), inline)
