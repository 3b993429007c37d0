"""Data loss: slips a user makes and traps an attacker lays with paths and symbolic links.

The tool deletes only what it made (marked folders, names it writes, never through a symbolic
link out of its folder, never a folder holding an input bag), and refuses overlapping or
occupied SPILL/OUT paths with one line before any work. Every case protects the user's files it
sets up (plus the sentinel tree and the input bags) and checks they are byte-for-byte unchanged.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable

from assets import Assets, keep_chunks, put_bag, put_spill
from harness import FAST_ARGS, Case, CaseDir, registrar

CASES: list[Case] = []
case = registrar(CASES, "loss")
REFUSED = {2}
SAFE = {0, 2}  # either outcome is fine, as long as nothing of the user's changes


def user_folder(c: CaseDir, relative: str, with_bag: bool = False) -> None:
    """A folder of the user's: files, a nested folder, maybe a recording; protected."""
    root = c.path(relative)
    (root / "photos").mkdir(parents=True)
    (root / "thesis.pdf").write_bytes(b"%PDF-1.4 my thesis\n" * 64)
    (root / "photos" / "cat.jpg").write_bytes(b"\xff\xd8\xff\xe0 cat" * 32)
    (root / "chunk-00000.parquet").write_bytes(b"a file of the user's named like ours\n")
    if with_bag:
        (root / "field-test.bag").write_bytes(b"#ROSBAG V2.0\n" + bytes(4096))
    c.protect(relative)


def bags(c: CaseDir, a: Assets, folder: str = "bags", names: tuple[str, ...] = ("a",)) -> list[str]:
    out = []
    for name in names:
        put_bag(c, a.bag(name), f"{folder}/{name}.bag")
        out.append(f"{folder}/{name}.bag")
    return out


# --- a folder holding the recordings given as SPILL ---------------------------------------------


@case("stage1-bags-parent-as-spill-restart")
def _(c: CaseDir, a: Assets) -> None:
    bags(c, a, "proj/bags", ("a", "b"))
    (c.path("proj") / "notes.txt").write_text("experiment notes\n")
    c.protect("proj")
    c.cli("stage1", "proj/bags", "proj", "--restart", *FAST_ARGS, allowed=REFUSED)


@case("stage1-bags-parent-as-spill")
def _(c: CaseDir, a: Assets) -> None:
    bags(c, a, "proj/bags", ("a", "b"))
    c.protect("proj")
    c.cli("stage1", "proj/bags", "proj", *FAST_ARGS, allowed=REFUSED)


@case("stage1-bag-folder-as-spill-restart")
def _(c: CaseDir, a: Assets) -> None:
    bags(c, a, "bags", ("a", "b"))
    c.protect("bags")
    c.cli("stage1", "bags/a.bag", "bags", "--restart", *FAST_ARGS, allowed=REFUSED)


@case("stage1-bag-folder-as-spill")
def _(c: CaseDir, a: Assets) -> None:
    bags(c, a, "bags", ("a", "b"))
    c.protect("bags")
    c.cli("stage1", "bags/a.bag", "bags", *FAST_ARGS, allowed=REFUSED)


@case("convert-bags-parent-as-spill-restart")
def _(c: CaseDir, a: Assets) -> None:
    bags(c, a, "proj/bags", ("a",))
    c.protect("proj")
    c.cli("convert", "proj/bags", "out", "--spill", "proj", "--restart", *FAST_ARGS, allowed=REFUSED, out="out")


@case("convert-spill-dir-with-users-bags-folder-restart")
def _(c: CaseDir, a: Assets) -> None:
    bags(c, a)
    user_folder(c, "mine/bags/0000", with_bag=True)
    (c.path("mine") / "readme.txt").write_text("mine\n")
    c.protect("mine")
    c.cli("convert", "bags/a.bag", "out", "--spill", "mine", "--restart", *FAST_ARGS, allowed=REFUSED, out="out")


@case("convert-input-inside-spill-dir-restart")
def _(c: CaseDir, a: Assets) -> None:
    bags(c, a, "mine/bags")
    c.protect("mine")
    c.cli("convert", "mine/bags/a.bag", "out", "--spill", "mine", "--restart", *FAST_ARGS, allowed=REFUSED, out="out")


# --- OUT.spill / OUT.spill.done that are not ours ----------------------------------------------


@case("convert-users-out-spill-done-folder")
def _(c: CaseDir, a: Assets) -> None:
    bags(c, a)
    user_folder(c, "out.spill.done")
    c.cli("convert", "bags/a.bag", "out", *FAST_ARGS, allowed=SAFE, out="out")


@case("convert-existing-out-and-users-out-spill-done")
def _(c: CaseDir, a: Assets) -> None:
    bags(c, a)
    user_folder(c, "out")
    user_folder(c, "out.spill.done")
    c.cli("convert", "bags/a.bag", "out", *FAST_ARGS, allowed=REFUSED)


@case("convert-users-other-spill-with-done-file")
def _(c: CaseDir, a: Assets) -> None:
    bags(c, a)
    user_folder(c, "other")
    user_folder(c, "other.spill")
    c.path("other.spill.done").write_text("a file of the user's\n")
    c.protect("other.spill.done")
    c.cli("convert", "bags/a.bag", "other", *FAST_ARGS, allowed=REFUSED)


@case("convert-users-other-spill-with-done-folder")
def _(c: CaseDir, a: Assets) -> None:
    bags(c, a)
    user_folder(c, "other")
    user_folder(c, "other.spill")
    user_folder(c, "other.spill.done")
    c.cli("convert", "bags/a.bag", "other", *FAST_ARGS, allowed=REFUSED)


@case("convert-default-spill-is-users-folder")
def _(c: CaseDir, a: Assets) -> None:
    bags(c, a)
    user_folder(c, "out.spill")
    c.cli("convert", "bags/a.bag", "out", *FAST_ARGS, allowed=REFUSED, out="out")


@case("convert-default-spill-is-users-folder-restart")
def _(c: CaseDir, a: Assets) -> None:
    bags(c, a)
    user_folder(c, "out.spill/bags/0000", with_bag=True)
    c.path("out.spill/spill.json").write_text('{"format": "my own", "version": 1}\n')
    c.protect("out.spill")
    c.cli("convert", "bags/a.bag", "out", "--restart", *FAST_ARGS, allowed=REFUSED, out="out")


@case("restart-keeps-users-files-in-a-fake-spill")
def _(c: CaseDir, a: Assets) -> None:
    """A folder whose spill.json looks like ours but whose other files are the user's: a restart
    removes only names the tool writes (or refuses)."""
    bags(c, a)
    put_spill(c, a, "sp")
    user_folder(c, "sp/photos-of-the-setup")
    c.path("sp/bags/0000/my-calibration.yaml").write_text("camera: {fx: 1}\n")
    c.protect("sp/bags/0000/my-calibration.yaml")
    c.cli("stage1", "bags/a.bag", "sp", "--restart", *FAST_ARGS, allowed=SAFE)


# --- symbolic links inside a spill ------------------------------------------------------------


def bag_folder_link(c: CaseDir, a: Assets, chunks: int | None) -> None:
    """spill/bags/0000 is a link to a copy of the bag's folder kept in the sentinel (plus the
    user's own chunk-*/.tmp files there); with ``chunks``, the copy's journal is cut short."""
    spill = put_spill(c, a)
    bait = c.sentinel / "bag-0000"
    shutil.copytree(spill / "bags" / "0000", bait)
    if chunks is not None:
        keep_chunks(spill, chunks)
        shutil.copy2(spill / "bags" / "0000" / "journal.jsonl", bait / "journal.jsonl")
    (bait / "chunk-00009.parquet").write_bytes(b"the user's\n")
    (bait / "notes.tmp").write_text("the user's\n")
    shutil.rmtree(spill / "bags" / "0000")
    os.symlink(bait, spill / "bags" / "0000")
    c.protect("sentinel")


COMMANDS = {
    "stage1": ("stage1", "bags/a.bag", "spill", *FAST_ARGS),
    "merge": ("merge", "spill", "out"),
    "status": ("status", "spill"),
    "convert-restart": ("convert", "bags/a.bag", "out", "--spill", "spill", "--restart", *FAST_ARGS),
    "convert": ("convert", "bags/a.bag", "out", "--spill", "spill", *FAST_ARGS),
}


def _linked_bag_folder(command: str, chunks: int | None) -> Callable[[CaseDir, Assets], None]:
    def run(c: CaseDir, a: Assets) -> None:
        bag_folder_link(c, a, chunks)
        c.cli(*COMMANDS[command], allowed=SAFE, out="out" if "out" in COMMANDS[command] else None)

    return run


for _command in ("stage1", "merge", "status", "convert-restart"):
    CASES.append(Case("loss", f"bag-folder-link-to-sentinel-{_command}", _linked_bag_folder(_command, None)))
for _command in ("stage1", "convert"):
    CASES.append(Case("loss", f"unfinished-bag-folder-link-to-sentinel-{_command}", _linked_bag_folder(_command, 2)))


def _linked_file(name: str, target: str, chunks: int | None, command: str) -> Callable[[CaseDir, Assets], None]:
    """spill/bags/0000/``name`` is a link to the sentinel's ``target`` (a copy of the real file
    kept in the sentinel when ``target`` is "copy")."""

    def run(c: CaseDir, a: Assets) -> None:
        spill = put_spill(c, a)
        if chunks is not None:
            keep_chunks(spill, chunks)
        link = spill / "bags" / "0000" / name
        if target == "copy":
            shutil.copy2(link, c.sentinel / f"copy-of-{name}")
            dest = c.sentinel / f"copy-of-{name}"
        else:
            dest = c.sentinel / target
        if os.path.lexists(link):
            link.unlink()
        os.symlink(dest, link)
        c.protect("sentinel")
        c.cli(*COMMANDS[command], allowed=SAFE, out="out" if "out" in COMMANDS[command] else None)

    return run


for _name, _target, _chunks, _command in (
    ("chunk-00003.parquet", "chunk-00000.parquet", 3, "stage1"),  # an unfinished chunk's file
    ("chunk-00003.head_cam_h.mp4", "chunk-00007.head_cam_h.mp4", 3, "stage1"),
    ("chunk-00003.parquet.tmp", "draft.tmp", 3, "stage1"),  # a leftover temporary file
    ("chunk-00003.stats.json.tmp", "chunk-00001.stats.json", 3, "convert"),
    ("journal.jsonl", "copy", 3, "stage1"),  # appending would write into the sentinel
    ("plan.json", "copy", 2, "stage1"),
    ("chunk-00001.parquet", "copy", None, "merge"),  # a finished chunk read through a link
    ("chunk-00001.parquet", "copy", None, "convert-restart"),
):
    CASES.append(Case("loss", f"link-{_name}-to-sentinel-{_command}", _linked_file(_name, _target, _chunks, _command)))


def _linked_root(command: str) -> Callable[[CaseDir, Assets], None]:
    """SPILL itself is a link to a finished spill kept in the sentinel."""

    def run(c: CaseDir, a: Assets) -> None:
        put_spill(c, a, "sentinel/spill-copy")
        os.symlink(c.sentinel / "spill-copy", c.path("spill"))
        c.protect("sentinel", "spill")
        c.cli(*COMMANDS[command], allowed=SAFE, out="out" if "out" in COMMANDS[command] else None)

    return run


for _command in ("stage1", "merge", "status"):
    CASES.append(Case("loss", f"spill-root-link-to-sentinel-spill-{_command}", _linked_root(_command)))


@case("spill-root-link-to-users-folder-convert-restart")
def _(c: CaseDir, a: Assets) -> None:
    bags(c, a)
    os.symlink(c.sentinel, c.path("spill"))
    c.protect("spill")
    c.cli(*COMMANDS["convert-restart"], allowed=REFUSED, out="out")


@case("spill-root-link-to-users-folder-stage1-restart")
def _(c: CaseDir, a: Assets) -> None:
    bags(c, a)
    os.symlink(c.sentinel / "nested", c.path("spill"))
    c.protect("spill")
    c.cli("stage1", "bags/a.bag", "spill", "--restart", *FAST_ARGS, allowed=REFUSED)


@case("default-spill-link-to-users-folder-convert")
def _(c: CaseDir, a: Assets) -> None:
    bags(c, a)
    os.symlink(c.sentinel / "nested", c.path("out.spill"))
    c.protect("out.spill")
    c.cli("convert", "bags/a.bag", "out", *FAST_ARGS, allowed=REFUSED, out="out")


# --- overlapping and occupied SPILL / OUT ------------------------------------------------------


@case("input-inside-spill-stage1")
def _(c: CaseDir, a: Assets) -> None:
    bags(c, a, "sp")
    c.protect("sp")
    c.cli("stage1", "sp/a.bag", "sp", *FAST_ARGS, allowed=REFUSED)


@case("input-folder-is-spill-stage1")
def _(c: CaseDir, a: Assets) -> None:
    bags(c, a, "sp")
    c.protect("sp")
    c.cli("stage1", "sp", "sp", *FAST_ARGS, allowed=REFUSED)


@case("input-inside-spill-convert")
def _(c: CaseDir, a: Assets) -> None:
    bags(c, a, "sp")
    c.protect("sp")
    c.cli("convert", "sp/a.bag", "out", "--spill", "sp", *FAST_ARGS, allowed=REFUSED, out="out")


@case("input-inside-out-convert")
def _(c: CaseDir, a: Assets) -> None:
    bags(c, a, "out")
    c.protect("out")
    c.cli("convert", "out/a.bag", "out", *FAST_ARGS, allowed=REFUSED, absent=["out.spill"])


@case("input-inside-new-out-convert")
def _(c: CaseDir, a: Assets) -> None:
    """OUT does not exist yet, its default spill folder is where the bag lies."""
    bags(c, a, "out.spill")
    c.protect("out.spill")
    c.cli("convert", "out.spill/a.bag", "out", *FAST_ARGS, allowed=REFUSED, out="out")


@case("spill-inside-out-convert")
def _(c: CaseDir, a: Assets) -> None:
    bags(c, a)
    c.cli("convert", "bags/a.bag", "out", "--spill", "out/sp", *FAST_ARGS, allowed=REFUSED, out="out")


@case("out-inside-spill-convert")
def _(c: CaseDir, a: Assets) -> None:
    bags(c, a)
    c.cli("convert", "bags/a.bag", "sp/out", "--spill", "sp", *FAST_ARGS, allowed=REFUSED, absent=["sp"])


@case("out-inside-spill-merge")
def _(c: CaseDir, a: Assets) -> None:
    put_spill(c, a)
    c.cli("merge", "spill", "spill/out", allowed=REFUSED, out="spill/out")


@case("spill-equals-out-convert")
def _(c: CaseDir, a: Assets) -> None:
    bags(c, a)
    c.cli("convert", "bags/a.bag", "x", "--spill", "x", *FAST_ARGS, allowed=REFUSED, absent=["x"])


@case("spill-equals-out-merge")
def _(c: CaseDir, a: Assets) -> None:
    put_spill(c, a)
    c.protect("spill/bags")
    c.cli("merge", "spill", "spill", allowed=REFUSED, out="spill")


@case("spill-equals-out-other-spelling-merge")
def _(c: CaseDir, a: Assets) -> None:
    put_spill(c, a)
    c.protect("spill/bags")
    c.cli("merge", "spill", "./bags/../spill/", allowed=REFUSED)


@case("out-dangling-link-convert")
def _(c: CaseDir, a: Assets) -> None:
    bags(c, a)
    os.symlink("nowhere/dataset", c.path("out"))
    c.protect("out")
    c.cli("convert", "bags/a.bag", "out", *FAST_ARGS, allowed=REFUSED, absent=["out.spill", "nowhere"])


@case("out-dangling-link-merge")
def _(c: CaseDir, a: Assets) -> None:
    put_spill(c, a)
    os.symlink("nowhere/dataset", c.path("out"))
    c.protect("out")
    c.cli("merge", "spill", "out", allowed=REFUSED, absent=["out.partial", "nowhere"])


@case("out-link-to-users-folder-convert")
def _(c: CaseDir, a: Assets) -> None:
    bags(c, a)
    os.symlink(c.sentinel, c.path("out"))
    c.protect("out")
    c.cli("convert", "bags/a.bag", "out", *FAST_ARGS, allowed=REFUSED, absent=["out.spill"])


@case("out-is-a-file-convert")
def _(c: CaseDir, a: Assets) -> None:
    bags(c, a)
    c.path("out").write_text("a file of the user's\n")
    c.protect("out")
    c.cli("convert", "bags/a.bag", "out", *FAST_ARGS, allowed=REFUSED, absent=["out.spill"])


@case("out-is-a-file-merge")
def _(c: CaseDir, a: Assets) -> None:
    put_spill(c, a)
    c.path("out").write_text("a file of the user's\n")
    c.protect("out")
    c.cli("merge", "spill", "out", allowed=REFUSED, absent=["out.partial"])


@case("out-is-users-folder-convert")
def _(c: CaseDir, a: Assets) -> None:
    bags(c, a)
    user_folder(c, "out")
    c.cli("convert", "bags/a.bag", "out", *FAST_ARGS, allowed=REFUSED, absent=["out.spill"])


@case("out-is-users-folder-merge")
def _(c: CaseDir, a: Assets) -> None:
    put_spill(c, a)
    user_folder(c, "out")
    c.cli("merge", "spill", "out", allowed=REFUSED, absent=["out.partial"])


@case("restart-on-users-folder-stage1")
def _(c: CaseDir, a: Assets) -> None:
    bags(c, a)
    user_folder(c, "mine")
    c.cli("stage1", "bags/a.bag", "mine", "--restart", *FAST_ARGS, allowed=REFUSED)


@case("restart-on-users-folder-convert")
def _(c: CaseDir, a: Assets) -> None:
    bags(c, a)
    user_folder(c, "mine")
    c.cli("convert", "bags/a.bag", "out", "--spill", "mine", "--restart", *FAST_ARGS, allowed=REFUSED, out="out")


@case("restart-on-folder-holding-a-bag-stage1")
def _(c: CaseDir, a: Assets) -> None:
    bags(c, a)
    put_bag(c, a.bag("b"), "older/b.bag")
    c.protect("older")
    c.cli("stage1", "bags/a.bag", "older", "--restart", *FAST_ARGS, allowed=REFUSED)


@case("merge-out-partial-is-users-folder")
def _(c: CaseDir, a: Assets) -> None:
    put_spill(c, a)
    user_folder(c, "out.partial")
    c.cli("merge", "spill", "out", allowed=REFUSED, out="out")


@case("convert-out-partial-is-users-folder")
def _(c: CaseDir, a: Assets) -> None:
    bags(c, a)
    user_folder(c, "out.partial")
    c.cli("convert", "bags/a.bag", "out", *FAST_ARGS, allowed=REFUSED, out="out")


@case("merge-out-partial-link-to-sentinel-with-marker")
def _(c: CaseDir, a: Assets) -> None:
    """OUT.partial links to a folder of the user's that even holds a file named like our marker."""
    put_spill(c, a)
    bait = c.sentinel / "partial-bait"
    bait.mkdir()
    (bait / ".spill2lerobot-partial").write_text("partial output of spill2lerobot merge\n")
    (bait / "results.csv").write_text("a,b\n1,2\n")
    os.symlink(bait, c.path("out.partial"))
    c.protect("sentinel", "out.partial")
    c.cli("merge", "spill", "out", allowed=SAFE)
