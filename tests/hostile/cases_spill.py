"""Damaged spills: every spill file is validated when read; any damage is one line naming the file
and what to do (``--restart``, or which chunk will be redone), through ``merge``, ``status``,
``stage1`` (resume) and ``convert --spill``. A resume that succeeds must leave a spill that
merges. For some cases the suite then does what the message says and checks that everything
works again. Ids and paths read from the manifest stay inside the spill: a bait spill-like tree
in the sentinel must never become a dataset.

Each case copies the session's finished spill of bag 'a' (29 frames, chunks 0-3) and damages one
file of it; chunk 1 is the damaged chunk. Garbage is seeded (``random.Random(seed)``).
"""

from __future__ import annotations

import json
import random
import shutil
from collections.abc import Callable
from pathlib import Path

import av
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from assets import Assets, put_spill
from harness import FAST_ARGS, Case, CaseDir, Run

CASES: list[Case] = []

FILES = {
    "spill.json": "spill.json",
    "plan": "bags/0000/plan.json",
    "journal": "bags/0000/journal.jsonl",
    "stats": "bags/0000/chunk-00001.stats.json",
    "report": "bags/0000/report.json",
    "shard": "bags/0000/chunk-00001.parquet",
    "segment": "bags/0000/chunk-00001.head_cam_h.mp4",
}
COMMANDS = ("merge", "stage1", "status", "convert")

Damage = Callable[[Path, random.Random], None]


# --- generic damages ----------------------------------------------------------------------------


def garbage(path: Path, rng: random.Random) -> None:
    path.write_bytes(rng.randbytes(rng.randint(1, 600)))


def empty(path: Path, rng: random.Random) -> None:
    path.write_bytes(b"")


def truncated(path: Path, rng: random.Random) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: rng.randint(1, len(data) - 1)])


def missing(path: Path, rng: random.Random) -> None:
    path.unlink()


GENERIC: dict[str, Damage] = {"garbage": garbage, "empty": empty, "truncated": truncated, "missing": missing}


# --- JSON of the wrong shape ---------------------------------------------------------------------


def json_edit(edit: Callable[[object], object]) -> Damage:
    def damage(path: Path, rng: random.Random) -> None:
        data = json.loads(path.read_text())
        changed = edit(data)
        path.write_text(json.dumps(data if changed is None else changed))

    return damage


def journal_edit(edit: Callable[[list], object]) -> Damage:
    def damage(path: Path, rng: random.Random) -> None:
        entries = [json.loads(line) for line in path.read_text().splitlines()]
        edit(entries)
        path.write_text("".join(json.dumps(e) + "\n" for e in entries))

    return damage


def setter(*keys_and_value) -> Callable[[object], None]:
    *keys, value = keys_and_value

    def edit(data) -> None:
        for key in keys[:-1]:
            data = data[key]
        data[keys[-1]] = value

    return edit


def deleter(*keys) -> Callable[[object], None]:
    def edit(data) -> None:
        for key in keys[:-1]:
            data = data[key]
        del data[keys[-1]]

    return edit


HUGE = 10**30

MANIFEST: dict[str, Damage] = {
    "list": json_edit(lambda m: []),
    "no-bags": json_edit(deleter("bags")),
    "bags-string": json_edit(setter("bags", "x")),
    "bag-id-int": json_edit(setter("bags", 0, "id", 5)),
    "bag-without-path": json_edit(deleter("bags", 0, "path")),
    "version-huge": json_edit(setter("version", HUGE)),
    "format-other": json_edit(setter("format", "other")),
    "no-profile": json_edit(deleter("profile")),
    "profile-train-hz-string": json_edit(setter("profile", "dataset", "train_hz", "x")),
    "profile-train-hz-0": json_edit(setter("profile", "dataset", "train_hz", 0)),
    "profile-chunk-size-0": json_edit(setter("profile", "rosbag", "chunk_size", 0)),
    "profile-fps-0": json_edit(setter("profile", "dataset", "main_timeline_fps", 0)),
}
PLAN: dict[str, Damage] = {
    "list": json_edit(lambda p: []),
    "frames-string": json_edit(setter("frames", "x")),
    "frames-negative": json_edit(setter("frames", -5)),
    "frames-huge": json_edit(setter("frames", HUGE)),
    "no-chunk-size": json_edit(deleter("chunk_size")),
    "chunk-size-0": json_edit(setter("chunk_size", 0)),
    "topics-string": json_edit(setter("topics", "x")),
    "main-topic-list": json_edit(setter("main_topic", ["x"])),
}
JOURNAL: dict[str, Damage] = {
    "chunk-string": journal_edit(setter(1, "chunk", "x")),
    "frames-negative": journal_edit(setter(1, "frames", -8)),
    "frames-huge": journal_edit(setter(1, "frames", HUGE)),
    "list-line": journal_edit(setter(1, [1, 2])),
    "missing-key": journal_edit(deleter(1, "frames")),
    "out-of-order": journal_edit(lambda e: e.__setitem__(slice(1, 3), [e[2], e[1]])),
    "duplicate-line": journal_edit(lambda e: e.insert(2, dict(e[1]))),
    "resume-ns-string": journal_edit(setter(1, "resume_ns", "x")),
    "first-frame-wrong": journal_edit(setter(1, "first_frame", 3)),
    "last-frames-wrong": journal_edit(setter(3, "frames", 8)),
    "chunk-beyond-plan": journal_edit(lambda e: e.append({**e[3], "chunk": 4, "first_frame": 32})),
}


def garbage_middle_line(path: Path, rng: random.Random) -> None:
    lines = path.read_bytes().splitlines(keepends=True)
    lines[1] = rng.randbytes(40).replace(b"\n", b" ") + b"\n"
    path.write_bytes(b"".join(lines))


JOURNAL["garbage-middle-line"] = garbage_middle_line


def _counts(edit: Callable[[list], None]) -> Callable[[dict], None]:
    def change(stats: dict) -> None:
        edit(stats["cameras"]["head_cam_h"]["bag_counts"])

    return change


STATS: dict[str, Damage] = {
    "frames-string": json_edit(setter("frames", "x")),
    "cameras-list": json_edit(setter("cameras", [])),
    "no-cameras": json_edit(deleter("cameras")),
    "camera-missing": json_edit(deleter("cameras", "wrist_cam_l")),
    "chunk-number-wrong": json_edit(setter("chunk", 2)),
    "counts-short": json_edit(_counts(lambda counts: counts.__setitem__(slice(None), [[1] * 5] * 3))),
    "counts-negative": json_edit(_counts(lambda counts: counts[0].__setitem__(0, -5))),
    "counts-huge": json_edit(_counts(lambda counts: counts[0].__setitem__(0, HUGE))),
    "moments-strings": json_edit(setter("cameras", "head_cam_h", "chunk_moments", "sum", ["a", "b", "c"])),
    "faults-string": json_edit(setter("faults", "x")),
}
REPORT: dict[str, Damage] = {
    "list": json_edit(lambda r: []),
    "recovery-int": json_edit(setter("recovery", 5)),
    "frames-string": json_edit(setter("frames", "x")),
    "frames-huge": json_edit(setter("frames", HUGE)),
    "faults-string": json_edit(setter("faults", "x")),
}


# --- shards and segments ------------------------------------------------------------------------


def table_edit(edit: Callable[[pa.Table], pa.Table]) -> Damage:
    def damage(path: Path, rng: random.Random) -> None:
        pq.write_table(edit(pq.read_table(path)), path)

    return damage


def _replace_column(table: pa.Table, name: str, column: pa.Array) -> pa.Table:
    return table.set_column(table.schema.get_field_index(name), name, column)


def _state_as_int(table: pa.Table) -> pa.Table:
    rows = table.column("observation.state").to_pylist()
    ints = pa.array([[int(v) for v in r] for r in rows], pa.list_(pa.int64()))
    return _replace_column(table, "observation.state", ints)


def _state_width_3(table: pa.Table) -> pa.Table:
    flat = pa.array(np.zeros(3 * table.num_rows, np.float32))
    return _replace_column(table, "observation.state", pa.FixedSizeListArray.from_arrays(flat, 3))


def _state_nulls(table: pa.Table) -> pa.Table:
    column = table.column("observation.state").combine_chunks()
    mask = pa.array([i % 2 == 0 for i in range(table.num_rows)])
    nulls = pa.FixedSizeListArray.from_arrays(column.flatten(), column.type.list_size, mask=mask)
    return _replace_column(table, "observation.state", nulls)


SHARD: dict[str, Damage] = {
    "wrong-schema": table_edit(lambda t: pa.table({"x": [1, 2, 3]})),
    "state-int64-lists": table_edit(_state_as_int),
    "state-width-3": table_edit(_state_width_3),
    "state-nulls": table_edit(_state_nulls),
    "fewer-rows": table_edit(lambda t: t.slice(0, t.num_rows - 3)),
    "rows-reversed": table_edit(lambda t: t.take(list(range(t.num_rows - 1, -1, -1)))),
}


def video(codec: str, width: int, height: int, frames: int) -> Damage:
    def damage(path: Path, rng: random.Random) -> None:
        with av.open(str(path), "w", format="mp4") as container:
            stream = container.add_stream(codec, rate=10)
            stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
            for k in range(frames):
                image = np.full((height, width, 3), (k * 30) % 256, np.uint8)
                frame = av.VideoFrame.from_ndarray(image, format="rgb24")
                container.mux(stream.encode(frame))
            container.mux(stream.encode(None))

    return damage


def other_chunks_segment(path: Path, rng: random.Random) -> None:
    """Chunk 3's segment (5 frames) in place of chunk 1's (8 frames)."""
    shutil.copy2(path.with_name("chunk-00003.head_cam_h.mp4"), path)


SEGMENT: dict[str, Damage] = {
    "other-size": video("libx264", 32, 24, 8),
    "other-codec": video("mpeg4", 64, 48, 8),
    "fewer-frames": other_chunks_segment,
    "a-png-renamed": lambda path, rng: path.write_bytes(b"\x89PNG\r\n\x1a\n" + rng.randbytes(100)),
}

SHAPES = {
    "spill.json": MANIFEST,
    "plan": PLAN,
    "journal": JOURNAL,
    "stats": STATS,
    "report": REPORT,
    "shard": SHARD,
    "segment": SEGMENT,
}
# damages that are an inconsistency between files: naming either file is right
ALSO_NAMES = {
    # a profile in the manifest that differs from the command's: "made with other inputs"
    ("spill.json", "profile-train-hz-string"): ["other inputs"],
    ("spill.json", "profile-train-hz-0"): ["other inputs"],
    ("spill.json", "profile-chunk-size-0"): ["other inputs"],
    ("spill.json", "profile-fps-0"): ["other inputs"],
    ("journal", "last-frames-wrong"): ["plan"],
    ("journal", "chunk-beyond-plan"): ["plan"],
    ("shard", "fewer-rows"): ["journal"],
    ("segment", "fewer-frames"): ["journal", "head_cam_h"],
    # the format defines these: no journal = no chunk finished, no plan = bag not started
    ("journal", "missing"): ["stage1"],
    ("plan", "missing"): ["stage1"],
    ("stats", "chunk-number-wrong"): ["journal"],
}


# --- running a damaged spill ---------------------------------------------------------------------


# what an error about each file must name (the plan and journal are named as such in messages)
NAMES = {**{kind: Path(path).name for kind, path in FILES.items()}, "plan": "plan", "journal": "journal"}


def names(file_kind: str, extra: list[str]) -> list[str]:
    return [NAMES[file_kind], *extra]


def run_command(c: CaseDir, command: str, error_has: list[str]) -> Run:
    if command == "merge":
        return c.cli("merge", "spill", "out", allowed={2}, out="out", error_has=error_has)
    if command == "status":
        return c.cli("status", "spill", allowed={0, 2}, error_has=error_has)
    if command == "stage1":
        result = c.cli("stage1", "bags/a.bag", "spill", *FAST_ARGS, allowed={0, 2}, error_has=error_has)
        if result.returncode == 0:  # repaired, or not looked at: merge then works or names the file
            c.cli("merge", "spill", "repaired", allowed={0, 2}, out="repaired", error_has=error_has)
        return result
    return c.cli(
        "convert", "bags/a.bag", "out", "--spill", "spill", *FAST_ARGS, allowed={0, 2}, out="out", error_has=error_has
    )


def follow_the_message(c: CaseDir, refusal: Run) -> None:
    """Do what the error says (``--restart``, or run stage1 again); then everything works."""
    restart = ("--restart",) if "--restart" in refusal.last_line else ()
    c.cli("stage1", "bags/a.bag", "spill", *FAST_ARGS, *restart, allowed={0})
    c.cli("merge", "spill", "out", allowed={0})


def _damaged(file_kind: str, damage: Damage, command: str, seed: int, repair: bool, extra: list[str]):
    def run(c: CaseDir, a: Assets) -> None:
        spill = put_spill(c, a)
        damage(spill / FILES[file_kind], random.Random(seed))
        result = run_command(c, command, names(file_kind, extra))
        if repair and result.returncode != 0:
            follow_the_message(c, result)

    return run


_seed = 0
_rotation = 0
for _kind in FILES:
    for _damage_name, _damage in GENERIC.items():
        if _damage_name == "garbage":
            _commands = COMMANDS
        else:
            _commands = (COMMANDS[_rotation % 4],)
            _rotation += 1
        for _command in _commands:
            _seed += 1
            _repair = _command == "merge" and _damage_name in ("garbage", "missing")
            CASES.append(
                Case(
                    "spill",
                    f"{_kind}-{_damage_name}-{_command}" + ("-then-repair" if _repair else ""),
                    _damaged(_kind, _damage, _command, _seed, _repair, ALSO_NAMES.get((_kind, _damage_name), [])),
                )
            )
    for _damage_name, _damage in SHAPES[_kind].items():
        _command = COMMANDS[_rotation % 4]
        _rotation += 1
        _seed += 1
        _extra = ALSO_NAMES.get((_kind, _damage_name), [])
        _run = _damaged(_kind, _damage, _command, _seed, False, _extra)
        CASES.append(Case("spill", f"{_kind}-{_damage_name}-{_command}", _run))


# --- ids and paths in the manifest ---------------------------------------------------------------


def bait(c: CaseDir, spill: Path) -> None:
    """A complete copy of the bag's spill folder in the sentinel: merging it would make a dataset."""
    shutil.copytree(spill / "bags" / "0000", c.sentinel / "bait")
    c.protect("sentinel")


BAG_IDS: dict[str, Callable[[CaseDir], str]] = {
    "dotdot-to-bait": lambda c: "../../sentinel/bait",
    "absolute-to-bait": lambda c: str(c.sentinel / "bait"),
    "nested-dotdot-to-bait": lambda c: "0000/../../../sentinel/bait",
    "dotdot": lambda c: "..",
    "dot": lambda c: ".",
    "empty": lambda c: "",
    "etc": lambda c: "/etc",
    "dotdot-x": lambda c: "../../x",
    "trailing-slash": lambda c: "0000/",
    "newline": lambda c: "0000\n",
    "nul": lambda c: "00\x0000",
    "300-chars": lambda c: "a" * 300,
}


def _bag_id(name: str, command: str) -> Callable[[CaseDir, Assets], None]:
    def run(c: CaseDir, a: Assets) -> None:
        spill = put_spill(c, a)
        bait(c, spill)
        manifest = json.loads((spill / "spill.json").read_text())
        manifest["bags"][0]["id"] = BAG_IDS[name](c)
        (spill / "spill.json").write_text(json.dumps(manifest))
        allowed = {2}
        if command == "merge":
            c.cli("merge", "spill", "out", allowed=allowed, out="out", error_has=["spill.json"])
        elif command == "status":
            c.cli("status", "spill", allowed=allowed, error_has=["spill.json"])
        else:  # the manifest no longer matches the command: "made with other inputs" is right too
            args = ("stage1", "bags/a.bag", "spill", *FAST_ARGS)
            c.cli(*args, allowed=allowed, error_has=["spill.json", "other inputs"])

    return run


for _name in BAG_IDS:
    CASES.append(Case("spill", f"manifest-bag-id-{_name}-merge", _bag_id(_name, "merge")))
for _name in ("dotdot-to-bait", "absolute-to-bait", "nested-dotdot-to-bait"):
    for _command in ("status", "stage1"):
        CASES.append(Case("spill", f"manifest-bag-id-{_name}-{_command}", _bag_id(_name, _command)))


def _bag_path_elsewhere(command: str) -> Callable[[CaseDir, Assets], None]:
    """The manifest's bag path points at a recording in the sentinel."""

    def run(c: CaseDir, a: Assets) -> None:
        spill = put_spill(c, a)
        manifest = json.loads((spill / "spill.json").read_text())
        manifest["bags"][0]["path"] = str(c.sentinel / "recording.bag")
        (spill / "spill.json").write_text(json.dumps(manifest))
        if command == "merge":  # merge needs no bag: it may go on, or refuse
            c.cli("merge", "spill", "out", allowed={0, 2}, out="out", error_has=["spill.json"])
        elif command == "stage1":
            c.cli("stage1", "bags/a.bag", "spill", *FAST_ARGS, allowed={2}, error_has=["spill"])
        else:
            args = ("convert", "bags/a.bag", "out", "--spill", "spill", *FAST_ARGS)
            c.cli(*args, allowed={2}, out="out", error_has=["spill"])

    return run


for _command in ("merge", "stage1", "convert"):
    CASES.append(Case("spill", f"manifest-bag-path-elsewhere-{_command}", _bag_path_elsewhere(_command)))


def _duplicate_ids(c: CaseDir, a: Assets) -> None:
    spill = put_spill(c, a)
    manifest = json.loads((spill / "spill.json").read_text())
    manifest["bags"].append({**manifest["bags"][0], "path": str(c.sentinel / "recording.bag")})
    (spill / "spill.json").write_text(json.dumps(manifest))
    c.cli("merge", "spill", "out", allowed={2}, out="out", error_has=["spill.json"])


CASES.append(Case("spill", "manifest-duplicate-bag-ids-merge", _duplicate_ids))
