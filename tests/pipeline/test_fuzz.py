"""Fuzz: damaged small bags (flipped bytes, truncations, zeroed ranges) never give a traceback or
a hang; each gives a clean one-line error or a dataset that lerobot 0.6.1 opens."""

from __future__ import annotations

import random
import shutil
import signal

import pytest
from gen_kuavo_bag import write_kuavo_bag
from lerobot.datasets.lerobot_dataset import LeRobotDataset

from spill2lerobot.errors import UserError
from spill2lerobot.merge.run import run_merge
from spill2lerobot.profiles import load_profile
from spill2lerobot.spill.stage1 import run_stage1

pytestmark = pytest.mark.slow

CASES = 200
SECONDS_PER_CASE = 60
# x264 starts in a millisecond (the codec does not matter here, the damaged input does).
PROFILE = ["dataset.resize.width=64", "dataset.resize.height=48", "dataset.sample_drop=2", "rosbag.chunk_size=16"]
PROFILE += ["video.codec=libx264", "video.preset=ultrafast"]


@pytest.fixture(scope="module")
def seeds(tmp_path_factory) -> list[bytes]:
    folder = tmp_path_factory.mktemp("fuzz-seeds")
    out = []
    for number, compression in enumerate((None, "lz4", "bz2")):
        path = folder / f"seed{number}.bag"
        write_kuavo_bag(path, 2.0, seed=number, width=64, height=48, compression=compression, chunk_threshold=16384)
        out.append(path.read_bytes())
    return out


def damage(data: bytes, rng: random.Random) -> tuple[bytes, str]:
    kind = rng.choice(["flip", "flip", "truncate", "zero", "flip+truncate"])
    buf = bytearray(data)
    if "flip" in kind:
        for _ in range(rng.randint(1, 24)):
            buf[rng.randrange(len(buf))] ^= 1 << rng.randrange(8)
    if kind == "zero":
        start = rng.randrange(len(buf))
        end = min(len(buf), start + rng.randint(1, 4096))
        buf[start:end] = bytes(end - start)
    if "truncate" in kind:
        del buf[rng.randrange(len(buf)) :]
    return bytes(buf), kind


class Hang(Exception):
    pass


def _alarm(signum, frame):
    raise Hang()


def convert(bag, folder) -> str:
    """'error: ...' for a clean refusal, 'ok' for a dataset lerobot opens; anything else raises."""
    profile = load_profile(None, PROFILE)
    spill, out = folder / "spill", folder / "out"
    try:
        run_stage1([bag], spill, profile, progress=lambda line: None)
        run_merge(spill, out, progress=lambda line: None)
    except UserError as exc:
        assert "\n" not in str(exc)
        assert not out.exists()
        return f"error: {exc}"
    ds = LeRobotDataset("local/fuzz", root=out)
    assert len(ds) > 0
    for index in {0, len(ds) - 1}:
        item = ds[index]
        assert item["observation.images.head_cam_h"].shape == (3, 48, 64)
    return "ok"


def test_damaged_bags_fail_cleanly_or_convert(seeds, tmp_path):
    previous = signal.signal(signal.SIGALRM, _alarm)
    outcomes: dict[str, int] = {}
    failures = []
    try:
        for case in range(CASES):
            rng = random.Random(case)
            data, kind = damage(rng.choice(seeds), rng)
            folder = tmp_path / f"case{case}"
            folder.mkdir()
            bag = folder / "damaged.bag"
            bag.write_bytes(data)
            signal.alarm(SECONDS_PER_CASE)
            try:
                result = convert(bag, folder)
                outcomes[result.split(":")[0]] = outcomes.get(result.split(":")[0], 0) + 1
            except Exception as exc:  # a traceback a user would have seen, or a hang
                failures.append(f"case {case} ({kind}): {type(exc).__name__}: {exc}"[:300])
            finally:
                signal.alarm(0)
                shutil.rmtree(folder, ignore_errors=True)
    finally:
        signal.signal(signal.SIGALRM, previous)
    assert not failures, "\n".join(failures)
    assert outcomes.get("ok", 0) > 10 and outcomes.get("error", 0) > 10, outcomes
