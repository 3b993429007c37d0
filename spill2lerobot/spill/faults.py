"""Stage 1's fault policy: gaps, reused picks and undecodable messages, counted per chunk or
refused, as the profile's ``faults`` options say."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from spill2lerobot.align import AlignedFrame, Blend, Pick, TopicAlign, skew_ns
from spill2lerobot.bag.base import Bag
from spill2lerobot.errors import UserError
from spill2lerobot.profiles import FaultOptions

FaultCounts = dict[str, dict[str, int]]  # kind -> topic or camera -> count
_NEAREST = TopicAlign()


class FaultPolicy:
    """Decides what a fault does and counts it in the current chunk. The counts restart with each
    chunk so that a resumed run counts the same as an uninterrupted one."""

    def __init__(self, options: FaultOptions, bag: str, alignment: Mapping[str, TopicAlign] | None = None) -> None:
        """``alignment``: per topic, its mode and gap limit (generic profiles; others: nearest, faults.max_skew_ms)."""
        self._options = options
        self._bag = bag
        self._alignment = dict(alignment or {})
        self._last_good: dict[str, object] = {}
        self._previous_picks: dict[str, int] = {}
        self._counts: FaultCounts = {}

    @property
    def repeat_bad_frames(self) -> bool:
        return self._options.on_bad_frame == "repeat"

    def start_chunk(self) -> None:
        self._last_good, self._previous_picks, self._counts = {}, {}, {}

    def check_picks(self, frame: AlignedFrame) -> None:
        """Picks far from the frame time (a stream with a gap), and picks reused from the
        previous frame (a stream slower than the timeline or stopped)."""
        for topic, pick in frame.picks.items():
            align = self._alignment.get(topic, _NEAREST)
            limit_ms = self._options.max_skew_ms if align.max_skew_ms is None else align.max_skew_ms
            if skew_ns(pick, frame.target_ns, align.mode) > limit_ms * 1_000_000:
                if self._options.on_gap == "error":
                    key = "faults.max_skew_ms" if align.max_skew_ms is None else f"features.align[{topic}].max_skew_ms"
                    raise UserError(
                        f"{self._bag}: {topic} has no message within {limit_ms} ms of "
                        f"the frame at {frame.target_ns} ns; raise {key} or set faults.on_gap=keep"
                    )
                self.count("gap_frames", topic)
            if self._previous_picks.get(topic) == pick.time_ns:
                self.count("repeated_picks", topic)
            self._previous_picks[topic] = pick.time_ns

    def message(self, topic: str, pick: Pick, decode: Callable[[], object]) -> object:
        """A pick's message; an undecodable one follows faults.on_bad_frame."""
        try:
            msg = decode()
        except Exception as exc:  # rosbags raises many types for damaged bytes
            previous = self._last_good.get(topic)
            where = f"{self._bag}: {topic} message at {pick.time_ns} ns cannot be decoded ({type(exc).__name__})"
            if self._options.on_bad_frame == "error":
                raise UserError(f"{where}; set faults.on_bad_frame=repeat to go on") from None
            if previous is None:
                raise UserError(f"{where} and no good one precedes it in its chunk; the bag is damaged there") from None
            self.count("bad_messages", topic)
            return previous
        self._last_good[topic] = msg
        return msg

    def count(self, kind: str, topic: str) -> None:
        counts = self._counts.setdefault(kind, {})
        counts[topic] = counts.get(topic, 0) + 1

    def take(self, stamp_counts: Mapping[str, Mapping[str, int]]) -> FaultCounts:
        """The chunk's counts, with its header-stamp counts added (spill/stamps.py)."""
        counts = self._counts
        for kind, by_topic in stamp_counts.items():
            counts.setdefault(kind, {}).update(by_topic)
        return counts


def decode_pick(bag: Bag, pick: Pick, msgtype: str) -> object:
    """A pick's message; for an interpolating topic, both messages around the frame (``Blend``)."""
    msg = bag.deserialize_raw(pick.payload, msgtype)
    if pick.after is None:
        return msg
    after = bag.deserialize_raw(pick.after.payload, msgtype)
    return Blend(msg, after, pick.weight)
