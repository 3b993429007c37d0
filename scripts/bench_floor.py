#!/usr/bin/env python3
"""The floor of a conversion: decode exactly the JPEGs the dataset uses, make the dataset's RGB
picture, and encode it with the same settings, one thread per camera, nothing else. Which JPEGs:
the same alignment as stage 1, run first and not timed. Prints one JSON line: {"wall": s, "cpu": s, "frames": n}.

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
from spill2lerobot.profiles import load_profile, robot_for
from spill2lerobot.spill.planning import make_plan
from spill2lerobot.spill.video import EncoderSettings, JpegDecoder, SegmentWriter, to_encoder_frame, to_rgb_frame


def selected_jpegs(bag_path: Path, profile) -> dict[str, list[bytes]]:
    with Ros1Bag(bag_path) as bag:
        roles = robot_for(profile).resolve_topics(bag.topics())
        _, targets = make_plan(bag, profile, roles)
        topics = [cam.topic for cam in roles.cameras]
        aligner = StreamingAligner(targets, topics)
        jpegs: dict[str, list[bytes]] = {cam.name: [] for cam in roles.cameras}

        def take(frames):
            for frame in frames:
                for cam in roles.cameras:
                    jpegs[cam.name].append(compressed_image_data(frame.picks[cam.topic].payload))

        for msg in bag.messages(topics):
            take(aligner.push(msg.topic, msg.time_ns, msg.data))
        take(aligner.finish())
    return jpegs


def encode_camera(jpegs: list[bytes], path: Path, settings: EncoderSettings) -> None:
    decoder = JpegDecoder()
    writer = SegmentWriter(path, settings)
    for data in jpegs:
        writer.write(to_encoder_frame(to_rgb_frame(decoder.decode(data), settings), settings))
    writer.close()


def main() -> None:
    os.environ.setdefault("SVT_LOG", "1")
    bag, out = Path(sys.argv[1]), Path(sys.argv[2])
    overrides = [arg for arg in sys.argv[3:] if arg != "--set"]
    profile = load_profile(None, overrides)
    jpegs = selected_jpegs(bag, profile)
    # the encoders' thread budget of stage 1 (one encoder per camera, all at once)
    settings = EncoderSettings.from_profile(profile).sharing_cores(len(jpegs))
    out.mkdir(parents=True, exist_ok=True)
    wall, cpu = time.monotonic(), time.process_time()
    threads = [
        threading.Thread(target=encode_camera, args=(frames, out / f"{name}.mp4", settings))
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
