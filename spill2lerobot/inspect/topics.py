"""Topic facts from the index: counts, rates, spans and gaps, all topics' times from one pass."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from spill2lerobot.bag.base import Bag, BagError, Times, TopicInfo
from spill2lerobot.bag.ros1 import Ros1Bag
from spill2lerobot.inspect.facts import GAP_FACTOR, TopicFacts


class IndexView:
    """The index-only queries stage 1's planning uses, answered from one pass over the index.

    ``Ros1Bag.topic_times`` reads every chunk's IndexData block once per topic asked; here all
    topics' times come from a single read of each block (``Ros1Bag.all_topic_times``), and
    ``make_plan`` reads them from this cache (it only calls ``topics``, ``topic_times``,
    ``last_time`` and ``path``).
    """

    def __init__(self, bag: Ros1Bag) -> None:
        self.bag = bag
        self.path: Path = bag.path
        self._topics = bag.topics()
        self._times = bag.all_topic_times()

    def topics(self) -> dict[str, TopicInfo]:
        return self._topics

    def topic_times(self, topic: str) -> Times:
        if topic not in self._topics:
            known = ", ".join(sorted(self._topics))
            raise BagError(f"{self.path}: no topic {topic!r} in this bag; pick one of: {known}")
        return self._times.get(topic, np.zeros(0, np.int64))

    def _extreme(self, topic: str, last: bool) -> int:
        times = self.topic_times(topic)
        if not len(times):
            raise BagError(f"{self.path}: topic {topic!r} has no messages; pick a topic that has some")
        return int(times[-1] if last else times[0])

    def last_time(self, topic: str) -> int:
        return self._extreme(topic, last=True)

    def first_time(self, topic: str) -> int:
        return self._extreme(topic, last=False)


# What inspect queries: a ROS1 bag's cached index, or a ROS2 bag (its storages' own indexes).
Index = IndexView | Bag


def bag_of(index: Index) -> Bag:
    """The bag behind an index (to read messages or its typestore)."""
    return index.bag if isinstance(index, IndexView) else index


def ros1_name(msgtype: str) -> str:
    """'pkg/msg/Type' -> 'pkg/Type' (how ROS1 users know the types)."""
    return msgtype.replace("/msg/", "/") if msgtype else msgtype


def topic_facts(topic: str, msgtype: str, count: int, times: Times, bag_start_ns: int) -> TopicFacts:
    facts = TopicFacts(topic, ros1_name(msgtype), count, None, None, None, None, None, None, None, None, None)
    if not len(times):
        return facts
    first, last = int(times[0]), int(times[-1])
    facts.first_ns, facts.last_ns = first, last
    facts.start_s, facts.end_s = (first - bag_start_ns) / 1e9, (last - bag_start_ns) / 1e9
    if len(times) < 2:
        return facts
    span = (last - first) / 1e9
    facts.rate_hz = (len(times) - 1) / span if span > 0 else None
    intervals = np.diff(times)
    median = float(np.median(intervals))
    widest = int(np.argmax(intervals))
    facts.median_interval_s = median / 1e9
    facts.max_gap_s = int(intervals[widest]) / 1e9
    facts.max_gap_at_s = (int(times[widest]) - bag_start_ns) / 1e9
    facts.gaps = int(np.count_nonzero(intervals > GAP_FACTOR * median))
    return facts
