"""The streaming aligner against brute force (argmin over all messages), including resumes."""

from __future__ import annotations

import numpy as np
import pytest

from spill2lerobot.align import StreamingAligner, enclosing, nearest_indices, resume_point, target_times


def brute_force(targets: np.ndarray, times: dict[str, np.ndarray]) -> dict[str, list[int]]:
    return {topic: [int(np.argmin(np.abs(ts - t))) for t in targets] for topic, ts in times.items()}


def random_streams(seed: int) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    rng = np.random.default_rng(seed)
    times = {
        "fast": np.sort(rng.integers(0, 10_000, 900)),
        "slow": np.sort(rng.integers(0, 10_000, 40)),
        "ties": np.repeat(np.arange(0, 10_000, 50), 2),  # duplicate stamps
        "gap": np.concatenate([np.arange(0, 3000, 7), np.arange(8000, 10_000, 7)]),
    }
    targets = np.sort(rng.choice(np.arange(100, 9_900), 120, replace=False))
    targets[5] = 1000  # exactly halfway between two "ties" pairs' neighbours is covered below
    return np.sort(targets), times


def stream(times: dict[str, np.ndarray], start: int = 0):
    merged = sorted((int(t), topic, i) for topic, ts in times.items() for i, t in enumerate(ts) if t >= start)
    return [(topic, t, i) for t, topic, i in merged]


@pytest.mark.parametrize("seed", range(5))
def test_streaming_matches_argmin(seed):
    targets, times = random_streams(seed)
    aligner = StreamingAligner(targets, list(times))
    frames = []
    for topic, t, i in stream(times):
        frames += aligner.push(topic, t, i)
    frames += aligner.finish()
    assert [f.index for f in frames] == list(range(len(targets)))
    expected = brute_force(targets, times)
    for topic in times:
        assert [f.picks[topic].payload for f in frames] == expected[topic], topic


def test_tie_goes_to_the_earlier_message():
    aligner = StreamingAligner(np.array([15]), ["a"])
    assert aligner.push("a", 10, "early") == []
    (frame,) = aligner.push("a", 20, "late")
    assert frame.picks["a"].payload == "early"


@pytest.mark.parametrize("seed", range(5))
def test_resume_from_any_frame_reproduces_the_rest(seed):
    targets, times = random_streams(seed)
    full = StreamingAligner(targets, list(times))
    frames = []
    for topic, t, i in stream(times):
        frames += full.push(topic, t, i)
    frames += full.finish()
    for cut in (1, 17, 60, len(targets) - 1):
        start = resume_point(frames[cut - 1])
        resumed = StreamingAligner(targets, list(times), first_target=cut)
        again = []
        for topic, t, i in stream(times, start):
            again += resumed.push(topic, t, i)
        again += resumed.finish()
        assert [f.index for f in again] == list(range(cut, len(targets)))
        for a, b in zip(again, frames[cut:], strict=True):
            assert {k: p.payload for k, p in a.picks.items()} == {k: p.payload for k, p in b.picks.items()}


def test_target_times_follow_the_original_rules():
    main = np.arange(0, 100) * 10
    # drop 10 at each end -> 10..89, every 3rd -> 10, 13, ..., 88; strictly before the cutoff 500
    assert target_times(main, 10, 3, 500).tolist() == [t * 10 for t in range(10, 50, 3)]
    assert target_times(main, 0, 1, 10_000).tolist() == main.tolist()
    assert len(target_times(main, 60, 3, 10_000)) == 0


def brute_enclosing(times: np.ndarray, target: int) -> tuple[int, int] | None:
    """The two consecutive messages with before < target < after, by looking at every pair."""
    for before, after in zip(times[:-1].tolist(), times[1:].tolist(), strict=True):
        if before < target < after:
            return before, after
    return None


@pytest.mark.parametrize("seed", range(5))
def test_between_holds_the_enclosing_messages_also_after_a_resume(seed):
    targets, times = random_streams(seed)
    targets = np.unique(np.concatenate([targets, times["gap"][:5], [2995, 3000, 9_999]]))  # on messages too
    spans = ("gap", "ties", "slow")
    full = StreamingAligner(targets, list(times), span_topics=spans)
    frames = []
    for topic, t, i in stream(times):
        frames += full.push(topic, t, i)
    frames += full.finish()
    for frame in frames:
        for topic in spans:
            want = brute_enclosing(times[topic], frame.target_ns)
            assert frame.between.get(topic) == want, (topic, frame.target_ns)
            assert enclosing(times[topic], frame.target_ns) == want
        assert "fast" not in frame.between  # only the watched topics
    for cut in (1, 40, len(targets) - 1):
        resumed = StreamingAligner(targets, list(times), first_target=cut, span_topics=spans)
        again = []
        for topic, t, i in stream(times, resume_point(frames[cut - 1])):
            again += resumed.push(topic, t, i)
        again += resumed.finish()
        assert [f.between for f in again] == [f.between for f in frames[cut:]]


@pytest.mark.parametrize("seed", range(5))
def test_nearest_indices_is_argmin_with_ties_to_the_first(seed):
    targets, times = random_streams(seed)
    targets = np.concatenate([targets, [-5, 0, 10_000, 20_000], times["ties"][:6]])  # ends, exact hits
    for topic, topic_times in times.items():
        want = [int(np.argmin(np.abs(topic_times - t))) for t in targets]
        assert nearest_indices(topic_times, targets).tolist() == want, topic
    assert nearest_indices(np.array([7]), targets).tolist() == [0] * len(targets)
