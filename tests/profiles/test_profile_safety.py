"""Hostile profiles through the command line: each is one line, exit code 2, before any work.

A profile is read and range-checked before any bag is opened, so every case below costs one
process start. Each case checks: exit code 2, one stderr line starting with ``error:`` that
names the key (or the file and line), no traceback, a short message (input values are quoted
as a short prefix only), nothing created beside OUT, and a bounded peak memory.
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import gen_kuavo_bag
import pytest
import yaml
from support import ROOT

from spill2lerobot.profiles import options as profile_module

ARM_PROFILE = ROOT / "configs" / "ros2_arm.yaml"
PEAK_RSS_LIMIT_KB = 400 * 1024  # a refused profile costs what the process start costs (~150 MB)
BILLION_LAUGHS = """\
dataset:
  task_description: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]
rosbag:
  b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]
  c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]
  d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]
  e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d]
  f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e]
  g: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f]
  h: &h [*g, *g, *g, *g, *g, *g, *g, *g, *g]
  i: &i [*h, *h, *h, *h, *h, *h, *h, *h, *h]
  j: &j [*i, *i, *i, *i, *i, *i, *i, *i, *i]
"""  # 9^10 strings: gigabytes once expanded
LATIN1 = "dataset:\n  task_description: caf\xe9\n".encode("latin-1")  # é at byte 32


@pytest.fixture(scope="module")
def bag(tmp_path_factory) -> Path:
    """A real, small bag: never read, since the profile is refused first."""
    path = tmp_path_factory.mktemp("bag") / "small.bag"
    gen_kuavo_bag.write_kuavo_bag(path, 1.0, seed=11, width=64, height=48)
    return path


def _tree(folder: Path) -> dict[str, tuple[int, int]]:
    return {str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns) for p in folder.rglob("*")}


@dataclass
class Outcome:
    code: int
    stderr: str
    peak_kb: int  # the child's own peak RSS (wait4), not the test process's
    work_before: dict
    work_after: dict
    out_made: bool


def _run(args: list[str], err_path: Path, timeout: float = 60.0) -> tuple[int, str, int]:
    """(exit code, stderr, peak RSS in KB) of ``spill2lerobot ARGS``."""
    with open(err_path, "wb") as err:
        proc = subprocess.Popen([sys.executable, "-m", "spill2lerobot", *args], stdout=subprocess.DEVNULL, stderr=err)
    deadline = time.monotonic() + timeout
    while True:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            proc.returncode = os.waitstatus_to_exitcode(status)
            return proc.returncode, err_path.read_text(errors="replace"), usage.ru_maxrss
        if time.monotonic() > deadline:
            proc.kill()
            os.wait4(proc.pid, 0)
            return -9, f"ran longer than {timeout} s", 0
        time.sleep(0.02)


def _convert(bag: Path, folder: Path, args: list[str]) -> Outcome:
    """``convert BAG folder/work/out ARGS``, with what it did to folder/work."""
    work = folder / "work"
    work.mkdir()
    out = work / "out"
    before = _tree(work)
    code, stderr, peak_kb = _run(["convert", str(bag), str(out), *args], folder / "stderr.txt")
    return Outcome(code, stderr, peak_kb, before, _tree(work), out.exists() or Path(f"{out}.spill").exists())


def assert_refused(outcome: Outcome, expected: str) -> str:
    """Refused with one short line containing ``expected``, nothing made, memory bounded."""
    stderr = outcome.stderr
    assert outcome.code == 2, stderr
    assert "Traceback" not in stderr, stderr[-2000:]
    lines = stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), stderr
    assert expected in lines[0], stderr
    assert len(stderr) < 300, f"{len(stderr)} characters: {stderr[:400]}"
    assert outcome.work_after == outcome.work_before and not outcome.out_made
    # Linux carries the forking process's peak into a child's ru_maxrss at exec, so the figure
    # only speaks for the child when it is above this (pytest) process's own peak.
    own_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    if outcome.peak_kb > own_peak:
        assert outcome.peak_kb < PEAK_RSS_LIMIT_KB, f"peak RSS {outcome.peak_kb} KB"
    return lines[0]


def _write(tmp_path: Path, name: str, content: str | bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(content.encode() if isinstance(content, str) else content)
    return path


# --- the cases -------------------------------------------------------------------------------
# Each: (the convert arguments, made in a folder of its own) and a part of the expected line.

Case = tuple[Callable[[Path], list[str]], str]


def _config(name: str, text: str | bytes) -> Callable[[Path], list[str]]:
    return lambda folder: ["--config", str(_write(folder, name, text))]


def _fifo(folder: Path) -> list[str]:
    os.mkfifo(folder / "fifo.yaml")  # opening it to read would block until a writer comes
    return ["--config", str(folder / "fifo.yaml")]


READING: dict[str, Case] = {
    "billion laughs": (
        _config("bomb.yaml", BILLION_LAUGHS),
        "bomb.yaml line 4: YAML aliases are not allowed in profiles; write the value out",
    ),
    "merge key alias": (
        _config("m.yaml", "video: &v {crf: 30}\nfaults:\n  <<: *v\n"),
        "m.yaml line 3: YAML aliases are not allowed in profiles; write the value out",
    ),
    "billion laughs in --set": (
        lambda d: ["--set", "dataset.task_description=[&a [x, x, x, x, x, x, x, x], &b [*a, *a, *a, *a, *a, *a]]"],
        "--set dataset.task_description: YAML aliases are not allowed in profiles; write the value out",
    ),
    "not utf-8": (_config("latin1.yaml", LATIN1), "latin1.yaml: not UTF-8 text (byte 32); save the profile as UTF-8"),
    "a folder": (lambda d: ["--config", str(d)], ": not a regular file; pass a YAML profile"),
    "/dev/zero": (lambda d: ["--config", "/dev/zero"], "error: /dev/zero: not a regular file; pass a YAML profile"),
    "a fifo": (_fifo, "fifo.yaml: not a regular file; pass a YAML profile"),
    "2 MiB": (_config("big.yaml", "# padding\n" * 209716), "big.yaml: larger than 1 MiB; a profile is a few KB of"),
    "missing": (lambda d: ["--config", str(d / "nope.yaml")], "nope.yaml: profile not found; pass an existing"),
    "nested 100 deep": (
        _config("deep.yaml", "dataset:\n  task_description: " + "[" * 100 + "]" * 100 + "\n"),
        "deep.yaml line 2: nested more than 16 levels deep; a profile needs 5",
    ),
    "nested 5000 deep, unclosed": (
        _config("deep.yaml", "dataset:\n  task_description: " + "[" * 5000 + "\n"),
        "deep.yaml: line 2 is not valid YAML; fix the file",  # libyaml stops first (its own nesting limit)
    ),
    "5000-digit integer": (
        _config("int.yaml", "rosbag:\n  chunk_size: " + "9" * 5000 + "\n"),
        "int.yaml line 2: this value cannot be read (too long a number or an invalid date)",
    ),
    "month 13": (
        _config("date.yaml", "dataset:\n  task_description: 2024-13-01\n"),
        "date.yaml line 2: this value cannot be read (too long a number or an invalid date)",
    ),
    "100 KB value": (
        _config("long.yaml", "dataset:\n  task_description: " + "x" * 100_000 + "\n"),
        "long.yaml line 2: a value of more than 10000 characters; profile values are short",
    ),
    "100 KB value in --set": (
        lambda d: ["--set", "dataset.task_description=" + "x" * 100_000],
        "--set dataset.task_description: a value of more than 10000 characters; profile values are short",
    ),
    "300000 values": (
        _config("many.yaml", "dataset:\n  depth_range: [" + "1, " * 300_000 + "1]\n"),
        "many.yaml line 2: more than 100000 values; a profile has a few hundred",
    ),
    "not a mapping": (_config("list.yaml", "- rosbag\n- dataset\n"), "list.yaml: a profile must be a YAML mapping"),
    "not YAML": (_config("bad.yaml", "dataset:\n  which_arm: [left\n"), "bad.yaml: line 3 is not valid YAML; fix the"),
}

LONG = "y" * 5000  # a value that must never be printed whole (under the 10000-character YAML limit)

OUT_OF_RANGE: dict[str, str] = {
    "rosbag.chunk_size=1": "profile key 'rosbag.chunk_size' must be between 2 and 100000 frames, got 1",
    "rosbag.chunk_size=100001": "profile key 'rosbag.chunk_size' must be between 2 and 100000 frames, got 100001",
    "rosbag.num_used=0": "profile key 'rosbag.num_used' must be between 1 and 1000000 bags (or null: all), got 0",
    "rosbag.rosbag_dir=" + LONG: "profile key 'rosbag.rosbag_dir' must be at most 4096 characters, got 5000: 'yyy",
    "dataset.main_timeline_fps=0": "profile key 'dataset.main_timeline_fps' must be between 1 and 1000 frames per",
    "dataset.main_timeline_fps=-30": "profile key 'dataset.main_timeline_fps' must be between 1 and 1000",
    "dataset.main_timeline_fps=1001": "profile key 'dataset.main_timeline_fps' must be between 1 and 1000",
    "dataset.train_hz=0": "profile key 'dataset.train_hz' must be between 1 and 30 (dataset.main_timeline_fps), got 0",
    "dataset.train_hz=-10": "profile key 'dataset.train_hz' must be between 1 and 30",
    "dataset.train_hz=60": "profile key 'dataset.train_hz' must be between 1 and 30",
    "dataset.train_hz=7": "profile keys 'dataset.main_timeline_fps' / 'dataset.train_hz': main_timeline_fps must be",
    "dataset.sample_drop=-1": "profile key 'dataset.sample_drop' must be between 0 and 1000000 frames, got -1",
    "dataset.sample_drop=1000001": "profile key 'dataset.sample_drop' must be between 0 and 1000000 frames",
    "dataset.depth_range=[-5, 100]": "profile key 'dataset.depth_range' must be [min_mm, max_mm] with 0 <= min < max",
    "dataset.depth_range=[0, 70000]": "profile key 'dataset.depth_range' must be [min_mm, max_mm]",
    "dataset.depth_range=[100, 50]": "profile key 'dataset.depth_range' must be [min_mm, max_mm]",
    "dataset.depth_range=[0, 1, 2]": "profile key 'dataset.depth_range' must be [min_mm, max_mm]",
    "dataset.dex_dof_needed=7": "profile key 'dataset.dex_dof_needed' must be between 1 and 6, got 7",
    "dataset.resize.width=100000": "profile key 'dataset.resize.width' must be an even number between 16 and 8192",
    "dataset.resize.height=0": "profile key 'dataset.resize.height' must be an even number between 16 and 8192",
    "dataset.resize.height=-480": "profile key 'dataset.resize.height' must be an even number",
    "dataset.resize.width=641": "profile key 'dataset.resize.width' must be an even number",
    "dataset.resize.width=8": "profile key 'dataset.resize.width' must be an even number between 16 and 8192",
    "dataset.task_description=" + LONG: "profile key 'dataset.task_description' must be at most 1000 characters",
    "dataset.robot_type=" + LONG: "profile key 'dataset.robot_type' must be at most 1000 characters, got 5000",
    "dataset.repo_id=../../x": "profile key 'dataset.repo_id' must be a dataset name such as local/kuavo",
    "dataset.repo_id=a/b/c": "profile key 'dataset.repo_id' must be a dataset name such as local/kuavo",
    "dataset.repo_id=" + LONG: "profile key 'dataset.repo_id' must be a dataset name such as local/kuavo",
    "dataset.main_timeline=" + LONG: "profile key 'dataset.main_timeline' must be at most 1000 characters",
    "dataset.main_timeline=front": "profile key 'dataset.main_timeline' must be one of 'head_cam_h'",
    "dataset.which_arm=" + LONG: "profile key 'dataset.which_arm' must be one of 'left' | 'right' | 'both', got 'yy",
    "faults.max_skew_ms=-1": "profile key 'faults.max_skew_ms' must be between 0 and 3600000 ms, got -1",
    "faults.max_image_pixels=100": "profile key 'faults.max_image_pixels' must be between 307200 and 400000000",
    "faults.max_image_pixels=500000000": "profile key 'faults.max_image_pixels' must be between 307200 and",
    "video.g=0": "profile key 'video.g' must be between 1 and 100000 frames between keyframes, got 0",
    "video.crf=64": "profile key 'video.crf' must be between 0 and 63 for libsvtav1, got 64",
    "video.crf=-1": "profile key 'video.crf' must be between 0 and 63 for libsvtav1, got -1",
    "video.preset=14": "profile key 'video.preset' must be null or an integer between -1 and 13 for libsvtav1",
    "video.preset=fast": "profile key 'video.preset' must be null or an integer between -1 and 13 for libsvtav1",
    "video.fast_decode=3": "profile key 'video.fast_decode' must be between 0 and 2, got 3",
    "video.fast_decode=-1": "profile key 'video.fast_decode' must be between 0 and 2, got -1",
    "video.encoder_threads=0": "profile key 'video.encoder_threads' must be between 1 and 256, got 0",
    "video.encoder_threads=257": "profile key 'video.encoder_threads' must be between 1 and 256, got 257",
    "video.pix_fmt=yuv444p": "profile key 'video.pix_fmt' must be one of 'yuv420p', got 'yuv444p'",
    "rosbag.chunk_size=0x" + "f" * 5000: "'rosbag.chunk_size' must be between 2 and 100000 frames, got <an integer",
    "features.state=" + LONG: "profile key 'features.state' must be a list, got 'yyyy",
    "x" * 5000 + "=1": "unknown profile key '" + "x" * 37 + "...' (known: dataset, faults, features, rosbag, video)",
    "dataset.colour" + LONG: "--set expects KEY=VALUE (e.g. rosbag.chunk_size=500), got 'dataset.colouryyyyy",
}

X264: dict[str, str] = {
    "video.crf=52": "profile key 'video.crf' must be between 0 and 51 for libx264, got 52",
    "video.preset=12": "profile key 'video.preset' must be null or one of ultrafast superfast veryfast faster",
    "video.preset=fastest": "profile key 'video.preset' must be null or one of ultrafast",
}


def _arm(change: Callable[[dict], None]) -> Callable[[Path], list[str]]:
    """configs/ros2_arm.yaml (a generic profile) with ``change`` made to it."""

    def make(folder: Path) -> list[str]:
        data = yaml.safe_load(ARM_PROFILE.read_text())
        change(data)
        return ["--config", str(_write(folder, "arm.yaml", yaml.safe_dump(data)))]

    return make


def _put(*path_and_value):
    *path, last, value = path_and_value

    def change(data: dict) -> None:
        node = data
        for key in path:
            node = node[key]
        node[last] = value

    return _arm(change)


def _part(feature: str, **changes):
    return _arm(lambda data: data["features"][feature][0].update(changes))


GENERIC: dict[str, Case] = {
    "camera ../../x": (
        _put("features", "cameras", "../../x", "/evil"),
        "profile key 'features.cameras.../../x': camera names may use letters, digits and _ only (at most 64)",
    ),
    "camera name of 9000 characters": (
        _put("features", "cameras", "c" * 9000, "/evil"),
        "profile key 'features.cameras." + "c" * 57 + "...': camera names may use letters, digits and _ only",
    ),
    "65 cameras": (
        _put("features", "cameras", {f"cam{i}": f"/cam{i}" for i in range(65)}),
        "profile key 'features.cameras' names 65 cameras; at most 64",
    ),
    "camera topic of 5000 characters": (
        _put("features", "cameras", "front", "/" + "t" * 5000),
        "profile key 'features.cameras.front' must be a topic (starting with /, at most 1000 characters)",
    ),
    "slice to 1000000": (
        _part("state", slice=[0, 1_000_000]),
        "profile key 'features.state[0].slice' must be [start, stop] or [start, stop, step] with 0 <= start",
    ),
    "slice step 0": (_part("state", slice=[0, 7, 0]), "profile key 'features.state[0].slice' must be [start, stop]"),
    "index 100000": (
        _part("action", slice=None, indices=[1, 100_000], names=["a", "b"]),
        "profile key 'features.action[0].indices[1]' must be between 0 and 99999, got 100000",
    ),
    "negative index": (
        _part("action", slice=None, indices=[-1], names=["a"]),
        "profile key 'features.action[0].indices[0]' must be between 0 and 99999, got -1",
    ),
    "20000 values": (
        _part("action", slice=[0, 20_000], names=None),
        "profile key 'features.action[0]' gives 20000 values; at most 10000",
    ),
    "20000 names": (
        _part("state", names=[f"n{i}" for i in range(20_000)]),
        "profile key 'features.state[0].names' lists 20000 values; at most 10000",
    ),
    "a name of 5000 characters": (
        _put("features", "state", 0, "names", 0, "n" * 5000),
        "profile key 'features.state[0].names[0]' must be at most 256 characters, got 5000",
    ),
    "field index 10**9": (
        _part("state", field="position[1000000000]"),
        "profile key 'features.state[0].field' must be a field path",
    ),
    "scale nan": (
        _part("action", scale=float("nan")),
        "profile key 'features.action[0].scale' must be a finite number, got nan",
    ),
    "offset inf": (
        _part("action", offset=float("inf")),
        "profile key 'features.action[0].offset' must be a finite number, got inf",
    ),
    "main timeline of 900 characters": (
        _put("dataset", "main_timeline", "m" * 900),
        "profile key 'dataset.main_timeline' must be one of the cameras ('front' | 'wrist'), got 'mmmm",
    ),
}

CASES: dict[str, Case] = {
    **READING,
    **{f"--set {o[:40]}": (lambda d, o=o: ["--set", o], expected) for o, expected in OUT_OF_RANGE.items()},
    **{
        f"libx264 --set {o}": (lambda d, o=o: ["--set", "video.codec=libx264", "--set", o], expected)
        for o, expected in X264.items()
    },
    **{f"generic: {name}": case for name, case in GENERIC.items()},
}


@pytest.fixture(scope="module")
def outcomes(bag, tmp_path_factory) -> dict[str, tuple[Path, Outcome]]:
    """Every case run once, a few at a time (each is a process start): ~4x faster than in turn."""
    bag_before = bag.read_bytes()
    folders = {name: tmp_path_factory.mktemp("case") for name in CASES}
    args = {name: CASES[name][0](folders[name]) for name in CASES}
    with ThreadPoolExecutor(max_workers=4) as pool:
        futures = {name: pool.submit(_convert, bag, folders[name], args[name]) for name in CASES}
        results = {name: (folders[name], future.result()) for name, future in futures.items()}
    assert bag.read_bytes() == bag_before
    return results


@pytest.mark.slow  # about 80 command-line runs in one fixture
@pytest.mark.parametrize("case", list(CASES))
def test_a_hostile_profile_is_one_line_naming_the_key(outcomes, case):
    folder, outcome = outcomes[case]
    line = assert_refused(outcome, CASES[case][1])
    if case == "a folder":
        assert line == f"error: {folder}: not a regular file; pass a YAML profile"


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any file")
def test_an_unreadable_profile_is_one_line(bag, tmp_path):
    path = _write(tmp_path, "secret.yaml", "dataset: {}\n")
    path.chmod(0)
    outcome = _convert(bag, tmp_path, ["--config", str(path)])
    assert_refused(outcome, "secret.yaml: cannot read the profile (permission denied); check its permissions")


# --- the encoder agrees with the ranges ---------------------------------------------------------


def _open_encoder(codec: str, options: dict[str, str], side: int = 64) -> None:
    import av

    ctx = av.CodecContext.create(codec, "w")
    ctx.width = ctx.height = side
    ctx.pix_fmt = "yuv420p"
    ctx.time_base = Fraction(1, 10)
    ctx.framerate = 10
    ctx.options = options
    ctx.open()


def _encoder_opens(codec: str, options: dict[str, str], side: int = 64) -> bool:
    try:
        _open_encoder(codec, options, side)
    except (ValueError, OverflowError):  # PyAV: avcodec_open2 refused the options
        return False
    return True


def test_the_video_ranges_are_the_encoders_own(monkeypatch):
    """Each bound the profile accepts opens the bundled encoder; one step past it is refused by
    the encoder too (where the encoder has a limit): the checks only move the error earlier."""
    monkeypatch.setenv("SVT_LOG", "0")
    p = profile_module
    svt = {"g": "2", "crf": "30", "preset": "12", "svtav1-params": "fast-decode=0"}
    low, high = p.SVTAV1_PRESETS
    for accepted in (
        {"crf": "0"},
        {"crf": "63"},
        {"preset": str(low)},
        {"preset": str(high)},
        {"svtav1-params": "fast-decode=2"},
        {"g": "1"},
        {"g": str(p.MAX_GOP)},
    ):
        assert _encoder_opens("libsvtav1", svt | accepted), accepted
    for refused in ({"crf": "64"}, {"preset": str(high + 1)}, {"svtav1-params": "fast-decode=3"}, {"preset": "fast"}):
        assert not _encoder_opens("libsvtav1", svt | refused), refused
    assert _encoder_opens("libsvtav1", svt, side=p.MIN_SIDE)
    x264 = {"g": "2", "crf": "30"}
    for preset in p.X264_PRESETS:
        assert _encoder_opens("libx264", x264 | {"preset": preset}), preset
    for accepted in ({"crf": "0"}, {"crf": "51"}, {"tune": "fastdecode"}):
        assert _encoder_opens("libx264", x264 | accepted), accepted
    for refused in ({"preset": "fastest"}, {"preset": "12"}):
        assert not _encoder_opens("libx264", x264 | refused), refused
    assert _encoder_opens("libx264", x264, side=p.MIN_SIDE)
