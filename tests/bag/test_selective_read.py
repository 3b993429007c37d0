"""Reading only the chosen messages (``messages(only=...)``): the same messages as filtering a
full read, fewer bytes from uncompressed chunks, every compressed chunk decompressed at most
once; and stage 1's choice of messages (``chosen_messages``) on generated Kuavo bags."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
from compare import assert_same_dataset
from gen_kuavo_bag import Faults, write_kuavo_bag, write_unindexed_copy
from reference import load_reference
from support import run_cli

import spill2lerobot.bag.ros1.file as ros1_file
from spill2lerobot.bag.ros1 import BagError, Ros1Bag
from spill2lerobot.profiles import load_profile, robot_for
from spill2lerobot.spill.planning import make_plan
from spill2lerobot.spill.units import chosen_messages


def _as_tuples(messages) -> list[tuple[str, int, bytes]]:
    return [(m.topic, m.time_ns, bytes(m.data)) for m in messages]


def _filtered(bag: Ros1Bag, topics, only, start_ns=0) -> list[tuple[str, int, bytes]]:
    """What ``only`` must give: a full read, filtered afterwards."""
    keep = {topic: set(np.asarray(times).tolist()) for topic, times in only.items()}
    full = bag.messages(topics, start_ns=start_ns)
    return _as_tuples(m for m in full if m.topic not in keep or m.time_ns in keep[m.topic])


@pytest.fixture(scope="module", params=["none", "lz4", "bz2"])
def kuavo_bag(request, tmp_path_factory):
    path = tmp_path_factory.mktemp("selective") / f"k_{request.param}.bag"
    compression = None if request.param == "none" else request.param
    faults = Faults(duplicate_frames={"cam_h": (40, 41)})  # equal record times on a camera
    write_kuavo_bag(path, 6.0, seed=5, width=160, height=120, compression=compression, faults=faults)
    return path


def _stage1_choice(bag: Ros1Bag):
    profile = load_profile(None, [])
    robot = robot_for(profile)
    roles = robot.resolve_topics(bag.topics())
    _, targets = make_plan(bag, profile, roles)
    return roles, targets, chosen_messages(bag, roles, targets)


@pytest.mark.parametrize("seed", range(3))
def test_only_gives_what_filtering_a_full_read_gives(kuavo_bag, seed):
    rng = np.random.default_rng(seed)
    with Ros1Bag(kuavo_bag) as bag:
        topics = list(bag.topics())
        only = {}
        for topic in rng.choice(topics, 4, replace=False).tolist():
            times = bag.topic_times(topic)
            only[topic] = np.sort(rng.choice(times, max(1, len(times) // 7), replace=False))
        start = int(bag.start_ns + 1_500_000_000)
        assert _as_tuples(bag.messages(topics, start_ns=start, only=only)) == _filtered(bag, topics, only, start)
        assert _as_tuples(bag.messages(topics, only={t: [] for t in only})) == _filtered(
            bag, topics, {t: [] for t in only}
        )


def test_stage1_choice_is_every_frame_pick_and_feeds_the_same_frames(kuavo_bag):
    ref = load_reference(kuavo_bag)
    with Ros1Bag(kuavo_bag) as bag:
        roles, targets, only = _stage1_choice(bag)
        np.testing.assert_array_equal(targets, ref.targets_ns)
        for topic, times in only.items():  # the reference's argmin picks, as record times
            assert sorted(set(times.tolist())) == sorted(set(ref.times[topic][ref.picks[topic]].tolist())), topic
        assert _as_tuples(bag.messages(roles.all, only=only)) == _filtered(bag, roles.all, only)


def test_uncompressed_chunks_are_read_in_part(kuavo_bag):
    with Ros1Bag(kuavo_bag) as bag:
        roles, _, only = _stage1_choice(bag)
        before = bag.bytes_read
        for _ in bag.messages(roles.all, only=only):
            pass
        selective = bag.bytes_read - before
        before = bag.bytes_read
        for _ in bag.messages(roles.all):
            pass
        whole = bag.bytes_read - before
    if kuavo_bag.name.endswith("_none.bag"):
        assert selective < 0.5 * whole
    else:
        assert selective <= whole  # compressed chunks are read whole (the chunks no frame uses: not at all)


def test_each_compressed_chunk_is_decompressed_at_most_once(kuavo_bag, monkeypatch):
    seen: Counter[int] = Counter()
    real = ros1_file.decompress

    def counting(compression, data, size):
        seen[hash(bytes(data[:64]))] += 1  # chunks are told apart by their first compressed bytes
        return real(compression, data, size)

    monkeypatch.setattr(ros1_file, "decompress", counting)
    with Ros1Bag(kuavo_bag) as bag:
        roles, _, only = _stage1_choice(bag)
        messages = list(bag.messages(roles.all, only=only))
        chunks = len(bag.chunks)
    assert messages
    if kuavo_bag.name.endswith("_none.bag"):
        assert sum(seen.values()) == 0  # nothing to decompress: read in pieces
    else:
        assert seen and max(seen.values()) == 1 and sum(seen.values()) <= chunks


def test_unindexed_bag_reads_the_same_messages(kuavo_bag, tmp_path):
    copy = write_unindexed_copy(kuavo_bag, tmp_path / "copy.bag.active")
    with Ros1Bag(kuavo_bag) as bag:
        roles, _, only = _stage1_choice(bag)
        want = _as_tuples(bag.messages(roles.all, only=only))
    with Ros1Bag(copy, recover=True) as recovered:
        assert _as_tuples(recovered.messages(roles.all, only=only)) == want


def test_an_index_offset_past_the_chunk_is_one_line(tmp_path, monkeypatch):
    path = tmp_path / "k.bag"
    write_kuavo_bag(path, 2.0, seed=1, width=64, height=48)
    import spill2lerobot.bag.ros1.reader as reader

    real = reader.parse_index_entries

    def shifted(*args, **kwargs):  # every record offset 1 GiB further: past any chunk's end
        out = []
        for cid, entries in real(*args, **kwargs):
            moved = entries.copy()
            moved["offset"] += 1 << 30
            out.append((cid, moved))
        return out

    monkeypatch.setattr(reader, "parse_index_entries", shifted)
    with Ros1Bag(path) as bag:
        roles, _, only = _stage1_choice(bag)
        with pytest.raises(BagError) as err:
            list(bag.messages(roles.all, only=only))
    message = str(err.value)
    assert str(path) in message and "damaged" in message and "\n" not in message


@pytest.mark.slow
def test_lz4_and_uncompressed_copies_convert_to_the_same_dataset(tmp_path):
    """Read in pieces (uncompressed) or chunk by chunk (lz4): the same frames, the same files."""
    outs = []
    for compression in (None, "lz4"):
        bag = tmp_path / f"{compression or 'none'}.bag"
        write_kuavo_bag(bag, 8.0, seed=9, width=160, height=120, compression=compression)
        out = tmp_path / f"out-{compression or 'none'}"
        result = run_cli(
            "convert",
            str(bag),
            str(out),
            "--set",
            "dataset.resize.width=160",
            "--set",
            "dataset.resize.height=120",
            "--set",
            "rosbag.chunk_size=25",
        )
        assert "faults: none" in result.stderr
        outs.append(out)
    assert_same_dataset(*outs, same_sources=False)
