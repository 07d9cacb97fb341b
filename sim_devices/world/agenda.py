"""Discrete events at exact simulated times (rail ramps, deglitch, boot stages, fault triggers).

The physics steps split at every due event, so a 2 ms ramp is exact even when the continuous
part strides a second at a time. Events at the same time run in the order they were scheduled.
"""

from __future__ import annotations

import heapq
import itertools
from typing import Callable


class Event:
    """A scheduled callback; `cancel()` makes it a no-op."""

    __slots__ = ("time", "action", "cancelled")

    def __init__(self, time: float, action: Callable[[float], None]) -> None:
        self.time = time
        self.action = action
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


class Agenda:
    def __init__(self) -> None:
        self._heap: list[tuple[float, int, Event]] = []
        self._seq = itertools.count()

    def at(self, time: float, action: Callable[[float], None]) -> Event:
        """Run action(time) when the simulation reaches `time`."""
        ev = Event(time, action)
        heapq.heappush(self._heap, (time, next(self._seq), ev))
        return ev

    def next_time(self) -> float:
        while self._heap and self._heap[0][2].cancelled:
            heapq.heappop(self._heap)
        return self._heap[0][0] if self._heap else float("inf")

    def run_due(self, now: float) -> int:
        """Run every event due at or before `now` (including ones those schedule). Returns count."""
        ran = 0
        while self._heap and self._heap[0][0] <= now:
            _, _, ev = heapq.heappop(self._heap)
            if not ev.cancelled:
                ev.cancelled = True
                ev.action(ev.time)
                ran += 1
        return ran
