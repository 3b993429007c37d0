"""Profile values: every value is range-checked when the profile is read, naming the key, before
any work (no spill, no output); hostile profile files (not UTF-8, a folder, a device, huge, deeply
nested) are one line. Bad values come through ``--set`` or through a profile file, alternately.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import yaml
from assets import Assets, put_bag
from harness import FAST, FAST_ARGS, Case, CaseDir, registrar

CASES: list[Case] = []
case = registrar(CASES, "profile")
ROOT = Path(__file__).resolve().parents[2]
KUAVO = ROOT / "configs" / "kuavo.yaml"
ROS2_ARM = ROOT / "configs" / "ros2_arm.yaml"

# (dotted key, value as written in YAML)
BAD_VALUES: list[tuple[str, str]] = [
    ("dataset.main_timeline_fps", "0"),
    ("dataset.main_timeline_fps", "-30"),
    ("dataset.train_hz", "0"),
    ("dataset.train_hz", "-10"),
    ("faults.max_skew_ms", "-1"),
    ("video.g", "0"),
    ("video.g", "-2"),
    ("dataset.resize.height", "0"),
    ("dataset.resize.height", "47"),  # odd: yuv420p cannot hold it
    ("dataset.resize.height", "100000"),
    ("dataset.resize.width", "0"),
    ("dataset.resize.width", "63"),
    ("video.crf", "1000"),
    ("video.crf", "-5"),
    ("video.preset", "odd"),
    ("video.preset", "99"),
    ("rosbag.chunk_size", "0"),
    ("rosbag.chunk_size", "-1"),
    ("rosbag.chunk_size", str(10**12)),
    ("dataset.sample_drop", "-1"),
    ("dataset.depth_range", "[1500, 0]"),
]


def fast_profile(overrides: dict[str, object] | None = None, base: Path = KUAVO) -> dict:
    """The profile file equivalent of the suite's fast settings, with ``overrides`` applied."""
    data = yaml.safe_load(base.read_text())
    for item in FAST:
        key, value = item.split("=", 1)
        set_key(data, key, yaml.safe_load(value))
    for key, value in (overrides or {}).items():
        set_key(data, key, value)
    return data


def set_key(data: dict, dotted: str, value: object) -> None:
    *parents, last = dotted.split(".")
    for part in parents:
        data = data.setdefault(part, {})
    data[last] = value


def convert(c: CaseDir, a: Assets, *extra: str, error_has: list[str], max_error_chars: int = 1000) -> None:
    """``convert`` refused before any work: exit 2, one line naming ``error_has``."""
    put_bag(c, a.bag("a"), "bags/x.bag")
    c.cli(
        "convert",
        "bags/x.bag",
        "out",
        *extra,
        allowed={2},
        out="out",
        absent=["out.spill"],
        error_has=error_has,
        max_error_chars=max_error_chars,
    )


def _bad_value(key: str, value: str, through_file: bool) -> Callable[[CaseDir, Assets], None]:
    name = key.rsplit(".", 1)[-1]

    def run(c: CaseDir, a: Assets) -> None:
        if through_file:
            write_profile(c, "p.yaml", fast_profile({key: yaml.safe_load(value)}))
            convert(c, a, "--config", "p.yaml", error_has=[name])
        else:
            convert(c, a, *FAST_ARGS, "--set", f"{key}={value}", error_has=[name])

    return run


def write_profile(c: CaseDir, name: str, data: object) -> Path:
    path = c.path(name)
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


for _i, (_key, _value) in enumerate(BAD_VALUES):
    _file = _i % 2 == 1
    _label = _value.replace(" ", "").replace("[", "").replace("]", "").replace(",", "-")
    CASES.append(Case("profile", f"{_key}={_label}{'-file' if _file else ''}", _bad_value(_key, _value, _file)))
# the first few also the other way round
for _i, (_key, _value) in enumerate(BAD_VALUES[:4]):
    _file = _i % 2 == 0
    CASES.append(Case("profile", f"{_key}={_value}{'-file' if _file else ''}", _bad_value(_key, _value, _file)))


def _file_case(name: str, write: Callable[[CaseDir], str], error_has: list[str], max_chars: int = 1000) -> None:
    def run(c: CaseDir, a: Assets) -> None:
        config = write(c)
        convert(c, a, "--config", config, error_has=error_has, max_error_chars=max_chars)

    CASES.append(Case("profile", name, run))


def _bytes(name: str, data: bytes) -> Callable[[CaseDir], str]:
    def write(c: CaseDir) -> str:
        c.path(name).write_bytes(data)
        return name

    return write


def _data(data: object, name: str = "p.yaml") -> Callable[[CaseDir], str]:
    def write(c: CaseDir) -> str:
        write_profile(c, name, data)
        return name

    return write


def _text(text: str, name: str = "p.yaml") -> Callable[[CaseDir], str]:
    return _bytes(name, text.encode())


def _folder(c: CaseDir) -> str:
    (c.path("profiles.yaml") / "inner").mkdir(parents=True)
    return "profiles.yaml"


def _fifo(c: CaseDir) -> str:
    os.mkfifo(c.path("p.yaml"))
    return "p.yaml"


def _dev_zero(c: CaseDir) -> str:
    return "/dev/zero"


def _dev_zero_link(c: CaseDir) -> str:
    os.symlink("/dev/zero", c.path("p.yaml"))
    return "p.yaml"


def _big(c: CaseDir) -> str:
    text = KUAVO.read_text() + ("# padding padding padding padding padding padding padding\n" * 36_000)
    c.path("p.yaml").write_text(text)  # ~2 MiB, valid YAML
    return "p.yaml"


def _deep(c: CaseDir) -> str:
    c.path("p.yaml").write_text("dataset:\n  task_description: " + "[" * 50_000 + "]" * 50_000 + "\n")
    return "p.yaml"


def _alias_bomb(where: str) -> Callable[[CaseDir], str]:
    """A "billion laughs" value: 9 levels of 10 aliases each, 10**9 strings when expanded."""

    def write(c: CaseDir) -> str:
        lines = ['x0: &x0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
        for i in range(1, 10):
            lines.append(f"x{i}: &x{i} [" + ", ".join([f"*x{i - 1}"] * 10) + "]")
        bomb = "\n".join(lines)
        if where == "unknown-key":
            text = bomb + "\n"
        elif where == "task_description":
            text = "anchors:\n" + _indent(bomb) + "\ndataset:\n  task_description: *x9\n"
        else:  # a generic profile's state parts
            text = "anchors:\n" + _indent(bomb) + "\nfeatures:\n  state: *x9\n"
        c.path("p.yaml").write_text(text)
        return "p.yaml"

    return write


def _indent(text: str) -> str:
    return "\n".join("  " + line for line in text.splitlines())


_file_case("not-utf8", _bytes("p.yaml", b"dataset:\n  task_description: caf\xe9 \xff\xfe\n"), ["p.yaml"])
_file_case("config-is-a-folder", _folder, ["profiles.yaml"])
_file_case("config-is-a-fifo", _fifo, ["p.yaml"])
_file_case("config-is-dev-zero", _dev_zero, ["/dev/zero"])
_file_case("config-links-to-dev-zero", _dev_zero_link, ["p.yaml"])
_file_case("config-missing", lambda c: "missing.yaml", ["missing.yaml"])
_file_case("config-2mib", _big, ["p.yaml"])
_file_case("config-nested-50000-deep", _deep, ["p.yaml", "task_description"])
_file_case("yaml-syntax-error", _text("dataset: {train_hz: [10\n"), ["p.yaml"])
_file_case("config-binary-garbage", _bytes("p.yaml", bytes(range(256)) * 64), ["p.yaml"])
# refused at the first alias, or (expansion bounded) as an unknown key
_file_case("alias-bomb-unknown-key", _alias_bomb("unknown-key"), ["p.yaml", "alias", "x0"], 300)
_file_case("alias-bomb-task-description", _alias_bomb("task_description"), ["p.yaml", "alias", "anchors"], 300)
_file_case("alias-bomb-features-state", _alias_bomb("features"), ["p.yaml", "alias", "anchors"], 300)
_file_case("unknown-top-level-key", _data({**fast_profile(), "datset": {"train_hz": 10}}), ["datset"])
_file_case("unknown-nested-key", _data(fast_profile({"dataset.trian_hz": 10})), ["trian_hz"])
_file_case("wrong-type-train-hz-string", _data(fast_profile({"dataset.train_hz": "ten"})), ["train_hz"])
_file_case("wrong-type-train-hz-float", _data(fast_profile({"dataset.train_hz": 10.5})), ["train_hz"])
_file_case("wrong-type-train-hz-bool", _data(fast_profile({"dataset.train_hz": True})), ["train_hz"])
_file_case("wrong-type-chunk-size-list", _data(fast_profile({"rosbag.chunk_size": [8]})), ["chunk_size"])
_file_case("wrong-type-video-section-scalar", _data({**fast_profile(), "video": 5}), ["video"])
_file_case("wrong-type-resize-scalar", _data(fast_profile({"dataset.resize": 640})), ["resize"])
_file_case("wrong-type-task-mapping", _data(fast_profile({"dataset.task_description": {"a": 1}})), ["task"])
_file_case("wrong-value-on-bad-frame", _data(fast_profile({"faults.on_bad_frame": "maybe"})), ["on_bad_frame"])
_file_case("wrong-value-use-depth", _data(fast_profile({"dataset.use_depth": "sometimes"})), ["use_depth"])
_file_case("profile-is-a-list", _text("- dataset\n- video\n"), ["p.yaml", "mapping"])
_file_case("profile-is-a-scalar", _text("hello\n"), ["p.yaml", "mapping"])
_file_case("huge-integer", _text("rosbag:\n  chunk_size: " + "9" * 5000 + "\n"), ["chunk_size", "p.yaml"], 300)
_file_case(
    "1mb-string-wrong-type",
    _data(fast_profile({"dataset.train_hz": "x" * (1 << 20)})),
    ["train_hz", "p.yaml"],
    300,
)
_file_case(
    "1mb-string-bad-choice",
    _data(fast_profile({"dataset.eef_type": "y" * (1 << 20)})),
    ["eef_type", "p.yaml"],
    300,
)
_file_case(
    "1mb-string-task-description",
    _data(fast_profile({"dataset.task_description": "z" * (1 << 20)})),
    ["task_description", "p.yaml"],
    300,
)


@case("set-without-equals")
def _(c: CaseDir, a: Assets) -> None:
    convert(c, a, *FAST_ARGS, "--set", "dataset.train_hz", error_has=["train_hz"])


@case("set-unknown-key")
def _(c: CaseDir, a: Assets) -> None:
    convert(c, a, *FAST_ARGS, "--set", "dataset.nope=1", error_has=["nope"])


@case("set-wrong-type")
def _(c: CaseDir, a: Assets) -> None:
    convert(c, a, *FAST_ARGS, "--set", "dataset.train_hz=abc", error_has=["train_hz"])


@case("set-100kb-value")
def _(c: CaseDir, a: Assets) -> None:
    convert(c, a, *FAST_ARGS, "--set", "dataset.train_hz=" + "7" * 100_000, error_has=["train_hz"], max_error_chars=300)


def _generic_camera(name: str) -> Callable[[CaseDir, Assets], None]:
    """A generic profile whose camera name would make a path outside the output."""

    def run(c: CaseDir, a: Assets) -> None:
        data = fast_profile(base=ROS2_ARM)
        cameras = data["features"]["cameras"]
        cameras[name] = cameras.pop("front")
        data["dataset"]["main_timeline"] = name
        write_profile(c, "arm.yaml", data)
        put_bag(c, a.ros2_bag(), "bags/arm")
        c.cli(
            "convert",
            "bags/arm",
            "out",
            "--config",
            "arm.yaml",
            allowed={2},
            out="out",
            absent=["out.spill"],
            error_has=["camera", name or "''"],
        )

    return run


for _camera in ("../../x", "a/b", "..", ""):
    CASES.append(Case("profile", f"generic-camera-named-{_camera or 'empty'}", _generic_camera(_camera)))
