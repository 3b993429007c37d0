"""Memory on hostile input: decompression bombs, images whose headers claim huge sizes, a YAML
alias bomb, an absurd output size. Every command stays under the suite's 1 GB and 60 s.

- Chunk bombs: one chunk of a bz2 or lz4 bag holds data that decompresses to 1 GiB of zeros
  while its header still declares the original size (~788 KB). Decompression must stop at the
  declared size (a mismatch is a damaged chunk: skipped, recovered or refused).
- Image bombs: a few frames of one camera are replaced by a JPEG whose SOF claims 30000x30000, a
  real constant PNG of 8000x8000, compressedDepth 16UC1 and 32FC1 PNGs of 8000x8000, raw
  ``sensor_msgs/Image`` headers claiming 100000x100000 over 64 bytes. A frame bigger than the
  profile's pixel limit is a bad frame, counted (exit 0 with the count in the summary line), or
  an error with ``faults.on_bad_frame: error``.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from pathlib import Path

import craft
import pytest
from assets import Assets, put_bag
from gen_kuavo_bag import CAMERA_TOPICS, DEPTH_TOPICS, RAW_CAMERA_TOPICS, RAW_DEPTH_TOPICS, write_unindexed_copy
from harness import FAST_ARGS, Case, CaseDir, Run, registrar

CASES: list[Case] = []
case = registrar(CASES, "memory")
DAMAGED_BAG = {0, 2, 3}  # converted around the damage, refused, or some bags failed
FRAMES = {5, 6, 7, 20, 50}  # 5, 20 and 50 are on the timeline (every 3rd from 2)
DEPTH16, DEPTH32 = "16UC1; compressedDepth png", "32FC1; compressedDepth png"


@functools.cache
def bomb(compression: str) -> bytes:
    return craft.bz2_bomb() if compression == "bz2" else craft.lz4_bomb()


def chunk_bomb_bag(a: Assets, compression: str, which: int, declared: int | None = None) -> Path:
    def make(path: Path) -> None:
        craft.chunk_bomb(a.bag(compression), path, which, bomb(compression), declared)

    return a.derived(f"{compression}-bomb-chunk{which}-{declared}.bag", make)


def _chunk_bomb(compression: str, which: int, command: str, declared: int | None = None):
    def run(c: CaseDir, a: Assets) -> None:
        source = chunk_bomb_bag(a, compression, which, declared)
        if command == "unindexed":
            unindexed = a.derived(f"{source.name}.active", lambda p: write_unindexed_copy(source, p))
            put_bag(c, unindexed, "bags/x.bag.active")
            c.cli("convert", "bags/x.bag.active", "out", *FAST_ARGS, allowed=DAMAGED_BAG, out="out")
            return
        put_bag(c, source, "bags/x.bag")
        if command == "convert":
            c.cli("convert", "bags/x.bag", "out", *FAST_ARGS, allowed=DAMAGED_BAG, out="out")
        elif command == "stage1":
            c.cli("stage1", "bags/x.bag", "sp", *FAST_ARGS, allowed=DAMAGED_BAG)
        elif command == "inspect":
            c.cli("inspect", "bags/x.bag", allowed=DAMAGED_BAG)
        else:  # validate a good dataset against the bomb (1: validate found differences)
            put_bag(c, a.dataset(), "dataset")
            c.cli("validate", "dataset", "--against", "bags/x.bag", *FAST_ARGS, allowed=DAMAGED_BAG | {1})

    return run


for _compression in ("bz2", "lz4"):
    for _which in (0, 3):
        for _command in ("convert", "stage1", "inspect", "validate"):
            CASES.append(
                Case(
                    "memory",
                    f"{_compression}-chunk{_which}-bomb-{_command}",
                    _chunk_bomb(_compression, _which, _command),
                )
            )
    _name = f"{_compression}-chunk3-bomb-unindexed-convert"
    CASES.append(Case("memory", _name, _chunk_bomb(_compression, 3, "unindexed")))
    # the header declares 4 GiB: stopping at the declared size is not enough on its own
    CASES.append(
        Case(
            "memory",
            f"{_compression}-chunk3-bomb-declared-4gib-convert",
            _chunk_bomb(_compression, 3, "convert", 0xFFFFFFFF),
        )
    )


# --- image bombs ----------------------------------------------------------------------------------


def image_bomb_bag(a: Assets, name: str, source: str, topic: str, make: Callable[[bytes], bytes]) -> Path:
    def build(path: Path) -> None:
        craft.rewrite_bag(a.bag(source), path, craft.replace_messages(topic, FRAMES, make))

    return a.derived(f"image-{name}.bag", build)


def _jpeg_claiming(width: int, height: int) -> Callable[[bytes], bytes]:
    def make(original: bytes) -> bytes:
        head, fmt, data = craft.split_compressed_image(original)
        return craft.compressed_image(head, fmt, craft.jpeg_with_size(data, width, height))

    return make


@functools.cache
def png(width: int, height: int, bit_depth: int, color_type: int, value: int) -> bytes:
    return craft.constant_png(width, height, bit_depth, color_type, value)


IMAGE_BOMBS: dict[str, tuple[str, str, Callable[[], Callable[[bytes], bytes]]]] = {
    # name: (source bag, topic, maker of the replacement)
    "jpeg-sof-30000x30000-head": ("a", CAMERA_TOPICS["cam_h"], lambda: _jpeg_claiming(30000, 30000)),
    "jpeg-sof-30000x30000-wrist": ("a", CAMERA_TOPICS["cam_l"], lambda: _jpeg_claiming(30000, 30000)),
    "jpeg-sof-65535x65535-head": ("a", CAMERA_TOPICS["cam_h"], lambda: _jpeg_claiming(65535, 65535)),
    "png-8000x8000-rgb": (
        "png",
        CAMERA_TOPICS["cam_h"],
        lambda: craft.with_image_data(png(8000, 8000, 8, 2, 128)),
    ),
    "png-8000x8000-in-a-jpeg-topic": (
        "a",
        CAMERA_TOPICS["cam_r"],
        lambda: craft.with_image_data(png(8000, 8000, 8, 2, 128)),
    ),
    "depth-png16-8000x8000": (
        "depth",
        DEPTH_TOPICS["cam_h"],
        lambda: craft.with_image_data(craft.DEPTH_HEADER_16 + png(8000, 8000, 16, 0, 1000), DEPTH16),
    ),
    "depth-png32fc1-8000x8000": (
        "depth",
        DEPTH_TOPICS["cam_h"],
        lambda: craft.with_image_data(craft.DEPTH_HEADER_32 + png(8000, 8000, 16, 0, 2000), DEPTH32),
    ),
    "raw-rgb8-100000x100000": (
        "rgb8",
        RAW_CAMERA_TOPICS["cam_h"],
        lambda: craft.raw_image_header_bomb(100000, 100000, "rgb8", bytes(64)),
    ),
    # width * 3 wraps around 2**32 to a step of 2: a check of step x height passes
    "raw-rgb8-step-wraps-around": (
        "rgb8",
        RAW_CAMERA_TOPICS["cam_l"],
        lambda: craft.raw_image_header_bomb(1431655766, 1, "rgb8", bytes(64)),
    ),
    "raw-mono8-100000x100000": (
        "rgb8",
        RAW_CAMERA_TOPICS["cam_r"],
        lambda: craft.raw_image_header_bomb(100000, 100000, "mono8", bytes(64)),
    ),
    "raw-depth16-100000x100000": (
        "depth16",
        RAW_DEPTH_TOPICS["cam_h"],
        lambda: craft.raw_image_header_bomb(100000, 100000, "16UC1", bytes(64)),
    ),
}


def counted_bad_frames(result: Run) -> bool:
    return re.search(r"\d+ (bad|filled) images", result.stderr) is not None


def _image_bomb(name: str, command: str) -> Callable[[CaseDir, Assets], None]:
    source, topic, maker = IMAGE_BOMBS[name]

    def run(c: CaseDir, a: Assets) -> None:
        put_bag(c, image_bomb_bag(a, name, source, topic, maker()), "bags/x.bag")
        if command == "inspect":
            c.cli("inspect", "bags/x.bag", *FAST_ARGS, allowed=DAMAGED_BAG)
            return
        if command == "error":
            args = (*FAST_ARGS, "--set", "faults.on_bad_frame=error")
            c.cli("convert", "bags/x.bag", "out", *args, allowed={2}, out="out", error_has=["x.bag"])
            return
        result = c.cli("convert", "bags/x.bag", "out", *FAST_ARGS, allowed={0, 2}, out="out")
        if result.returncode == 0 and not counted_bad_frames(result):
            pytest.fail(f"the oversized frames were not counted as bad\n{result.describe()}", pytrace=False)

    return run


for _name in IMAGE_BOMBS:
    CASES.append(Case("memory", f"{_name}-convert", _image_bomb(_name, "convert")))
for _name in ("jpeg-sof-30000x30000-head", "png-8000x8000-rgb", "depth-png16-8000x8000"):
    CASES.append(Case("memory", f"{_name}-inspect", _image_bomb(_name, "inspect")))
for _name in ("jpeg-sof-30000x30000-head", "depth-png32fc1-8000x8000"):
    CASES.append(Case("memory", f"{_name}-on-bad-frame-error", _image_bomb(_name, "error")))


# --- absurd sizes from options --------------------------------------------------------------------


def _resize(width: int, height: int) -> Callable[[CaseDir, Assets], None]:
    def run(c: CaseDir, a: Assets) -> None:
        put_bag(c, a.bag("a"), "bags/x.bag")
        size = ("--set", f"dataset.resize.width={width}", "--set", f"dataset.resize.height={height}")
        c.cli(
            "convert",
            "bags/x.bag",
            "out",
            *FAST_ARGS,
            *size,
            allowed={2},
            out="out",
            absent=["out.spill"],
            error_has=["resize"],
        )

    return run


for _w, _h in ((100000, 48), (64, 100000), (100000, 100000), (30000, 30000)):
    CASES.append(Case("memory", f"resize-{_w}x{_h}", _resize(_w, _h)))


@case("max-image-pixels-huge")
def _(c: CaseDir, a: Assets) -> None:
    """A pixel limit the user raised to absurdity is itself refused (it would let bombs in)."""
    put_bag(c, a.bag("a"), "bags/x.bag")
    c.cli(
        "convert",
        "bags/x.bag",
        "out",
        *FAST_ARGS,
        "--set",
        "faults.max_image_pixels=1000000000000",
        allowed={2},
        out="out",
        error_has=["max_image_pixels"],
    )
