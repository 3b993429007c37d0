#!/usr/bin/env python3
"""The floor of a conversion: decode exactly the JPEGs the dataset uses, make the dataset's RGB
picture, and encode it with the same settings, one thread per camera, nothing else. Depth cameras
(native depth_mode): decode exactly the depth images used, resize, quantise to lerobot's 12 bits
and encode with the same depth settings. Which messages: the same alignment as stage 1, run first
and not timed. Prints one JSON line: {"wall": s, "cpu": s, "frames": n}.

    .venv/bin/python scripts/bench_floor.py BAG OUT_DIR [--set KEY=VALUE ...]
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from pathlib import Path

from spill2lerobot.align import StreamingAligner
from spill2lerobot.bag.ros1 import Ros1Bag
from spill2lerobot.bag.wire import compressed_image_data
from spill2lerobot.encoding import DepthEncoderSettings
from spill2lerobot.profiles import load_profile, robot_for
from spill2lerobot.spill.depth import DepthDecoder, native_frame, resize_nearest
from spill2lerobot.spill.planning import make_plan
from spill2lerobot.spill.video import EncoderSettings, JpegDecoder, SegmentWriter, to_encoder_frame, to_rgb_frame


def selected_jpegs(bag_path: Path, profile) -> tuple[dict[str, list[bytes]], set[str]]:
    """Per camera, the JPEGs (depth: the whole messages) the frames use; and the depth cameras."""
    with Ros1Bag(bag_path) as bag:
        roles = robot_for(profile).resolve_topics(bag.topics())
        depth = {cam.name for cam in roles.cameras if cam.is_depth}
        _, targets = make_plan(bag, profile, roles)
        topics = [cam.topic for cam in roles.cameras]
        aligner = StreamingAligner(targets, topics)
        jpegs: dict[str, list[bytes]] = {cam.name: [] for cam in roles.cameras}

        def take(frames):
            for frame in frames:
                for cam in roles.cameras:
                    payload = frame.picks[cam.topic].payload
                    jpegs[cam.name].append(bytes(payload) if cam.is_depth else compressed_image_data(payload))

        for msg in bag.messages(topics):
            take(aligner.push(msg.topic, msg.time_ns, msg.data))
        take(aligner.finish())
    return jpegs, depth


def encode_camera(jpegs: list[bytes], path: Path, settings: EncoderSettings) -> None:
    decoder = JpegDecoder()
    writer = SegmentWriter(path, settings)
    for data in jpegs:
        writer.write(to_encoder_frame(to_rgb_frame(decoder.decode(data), settings), settings))
    writer.close()


def encode_depth_camera(messages: list[bytes], path: Path, settings: EncoderSettings) -> None:
    """Compressed depth (PNG) messages, as the generated Kuavo bags hold them."""
    writer = SegmentWriter(path, settings)
    for message in messages:
        depth = resize_nearest(DepthDecoder.decode_message(message, raw=False), settings.width, settings.height)
        writer.write(native_frame(depth))
    writer.close()


def main() -> None:
    os.environ.setdefault("SVT_LOG", "1")
    bag, out = Path(sys.argv[1]), Path(sys.argv[2])
    overrides = [arg for arg in sys.argv[3:] if arg != "--set"]
    profile = load_profile(None, overrides)
    jpegs, depth = selected_jpegs(bag, profile)
    # the encoders' thread budget of stage 1 (one encoder per camera, all at once)
    settings = EncoderSettings.from_profile(profile).sharing_cores(len(jpegs))
    depth_settings = DepthEncoderSettings.for_profile(profile)
    out.mkdir(parents=True, exist_ok=True)
    wall, cpu = time.monotonic(), time.process_time()
    threads = [
        threading.Thread(
            target=encode_depth_camera if name in depth else encode_camera,
            args=(frames, out / f"{name}.mp4", depth_settings if name in depth else settings),
        )
        for name, frames in jpegs.items()
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    result = {
        "wall": time.monotonic() - wall,
        "cpu": time.process_time() - cpu,
        "frames": len(next(iter(jpegs.values()))),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
