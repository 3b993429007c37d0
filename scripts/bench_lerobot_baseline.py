#!/usr/bin/env python3
"""The baseline users have today: lerobot 0.6.1's own writer (create(streaming_encoding=True) +
add_frame + save_episode + finalize), fed frame by frame from a message-by-message bag reader
(the same reader and alignment as spill2lerobot, so only the writing differs). One episode.
Needs the `lerobot` extra.

    .venv/bin/python scripts/bench_lerobot_baseline.py BAG OUT [--set KEY=VALUE ...]
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from lerobot.configs.video import RGBEncoderConfig
from lerobot.datasets.lerobot_dataset import LeRobotDataset

from spill2lerobot.align import StreamingAligner
from spill2lerobot.bag.ros1 import Ros1Bag
from spill2lerobot.bag.wire import compressed_image_data
from spill2lerobot.profiles import load_profile, robot_for
from spill2lerobot.spill.planning import make_plan
from spill2lerobot.spill.video import EncoderSettings, JpegDecoder, to_rgb

LEROBOT_CODEC = {"libsvtav1": "libsvtav1", "libx264": "h264"}


def main() -> None:
    os.environ.setdefault("SVT_LOG", "1")
    bag_path, out = Path(sys.argv[1]), Path(sys.argv[2])
    profile = load_profile(None, [arg for arg in sys.argv[3:] if arg != "--set"])
    settings = EncoderSettings.from_profile(profile)
    robot = robot_for(profile)
    names = robot.state_names()
    features = {
        "observation.state": {"dtype": "float32", "shape": (len(names),), "names": names},
        "action": {"dtype": "float32", "shape": (len(names),), "names": robot.action_names()},
    }
    for cam in robot.cameras():
        features[cam.key] = {
            "dtype": "video",
            "shape": (settings.height, settings.width, 3),
            "names": ["height", "width", "channels"],
        }
    encoder = RGBEncoderConfig(vcodec=LEROBOT_CODEC[settings.codec], crf=settings.crf, g=settings.g)
    if settings.codec == "libsvtav1":
        encoder.preset = settings.preset
    dataset = LeRobotDataset.create(
        "bench/baseline",
        fps=settings.fps,
        features=features,
        root=out,
        robot_type="kuavo",
        use_videos=True,
        streaming_encoding=True,
        rgb_encoder=encoder,
    )
    decoders = {cam.name: JpegDecoder() for cam in robot.cameras()}
    with Ros1Bag(bag_path) as bag:
        roles = robot.resolve_topics(bag.topics())
        _, targets = make_plan(bag, profile, roles)
        topics = bag.topics()
        store = bag.typestore()
        aligner = StreamingAligner(targets, list(roles.all), span_topics=robot.span_topics(roles))

        def add(frames):
            for frame in frames:
                msgs = {t: store.deserialize_ros1(frame.picks[t].payload, topics[t].msgtype) for t in roles.lowdim}
                state, action = robot.state_and_action(roles, msgs, frame.between)
                item = {"observation.state": state, "action": action, "task": profile.dataset.task_description}
                for cam in roles.cameras:
                    image = decoders[cam.name].decode(compressed_image_data(frame.picks[cam.topic].payload))
                    item[cam.key] = to_rgb(image, settings)
                dataset.add_frame(item)

        for msg in bag.messages(roles.all):
            add(aligner.push(msg.topic, msg.time_ns, msg.data))
        add(aligner.finish())
    dataset.save_episode()
    dataset.finalize()


if __name__ == "__main__":
    main()
