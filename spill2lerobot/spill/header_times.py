"""Header-stamp timing (``dataset.timing: header``): a message's time is its ``header.stamp``.

The timeline (main-camera frames, the cutoff) and the alignment then use stamps, while reading
the bag still goes by record time (the index, seeks, selective reads). ``HeaderTimes`` reads each
used topic's stamps once, topic by topic, into an int64 array beside the topic's record times
(the i-th message in record order has stamp ``stamps[i]``): 8 bytes a message, whatever the
messages hold. Stamps must not go back in time within a topic (the aligner walks each topic in
the order it is read) and must be filled in; such a bag is refused, naming the topic.
"""

from __future__ import annotations

from array import array
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from spill2lerobot.bag.base import Bag, Message, Times, TopicInfo
from spill2lerobot.bag.wire import header_stamp
from spill2lerobot.errors import UserError
from spill2lerobot.spill.stamps import stamped_topics


class HeaderTimes:
    """A bag's topics timed by header stamp; a ``TopicIndex`` for planning (``make_plan``)."""

    def __init__(self, bag: Bag, topics: Iterable[str]) -> None:
        wanted = list(dict.fromkeys(topics))
        _check_stamped(bag, wanted)
        self._bag = bag
        self._record = bag.topics_times(wanted)
        self._stamps = {topic: _read_stamps(bag, topic) for topic in wanted}
        for topic in wanted:  # the i-th stamp must be the i-th record time's message
            if len(self._stamps[topic]) != len(self._record[topic]):
                raise UserError(
                    f"{bag.path}: topic {topic} has {len(self._record[topic])} messages in the index but "
                    f"{len(self._stamps[topic])} were read; the bag is damaged, use dataset.timing: record"
                )

    @property
    def path(self) -> Path:
        return self._bag.path

    def topics(self) -> dict[str, TopicInfo]:
        return self._bag.topics()

    def topic_times(self, topic: str) -> Times:
        """The topic's stamps, in record order (non-decreasing: checked)."""
        return self._stamps[topic]

    def last_time(self, topic: str) -> int:
        return int(self._stamps[topic][-1])

    def record_times(self, topic: str) -> Times:
        """The topic's record times, in the same order as ``topic_times``."""
        return self._record[topic]


def message_stamp(msg: Message) -> int:
    """A streamed message's time under header timing (its topic was checked to have a header)."""
    return header_stamp(msg.data) or 0


def _check_stamped(bag: Bag, topics: list[str]) -> None:
    infos = bag.topics()
    msgtypes = {topic: infos[topic].msgtype for topic in topics}
    stamped = stamped_topics(msgtypes, bag.typestore().fielddefs)
    for topic in topics:
        if topic not in stamped:
            raise UserError(
                f"{bag.path}: topic {topic} carries {msgtypes[topic]}, which has no header; "
                "dataset.timing: header needs a header on every topic the profile reads (or use timing: record)"
            )


def _read_stamps(bag: Bag, topic: str) -> Times:
    """One topic's stamps in record order, read from the serialized headers (no deserialisation)."""
    stamps = array("q")
    for msg in bag.messages([topic]):
        stamps.append(header_stamp(msg.data) or 0)
    out: Times = np.frombuffer(stamps, dtype=np.int64).copy() if stamps else np.zeros(0, dtype=np.int64)
    unset = np.flatnonzero(out == 0)
    if len(unset):
        raise UserError(
            f"{bag.path}: topic {topic} message {int(unset[0])} has header.stamp 0 (never filled in); "
            "record with stamps set, or use dataset.timing: record"
        )
    back = np.flatnonzero(np.diff(out) < 0)
    if len(back):
        raise UserError(
            f"{bag.path}: topic {topic} header stamps go back in time at message {int(back[0]) + 1}; "
            "header timing needs stamps in recording order per topic, use dataset.timing: record"
        )
    return out
