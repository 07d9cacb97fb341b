"""A link's state over time, and the events that interrupt it, shared by `pcie` and `mesh`.

`Timeline` holds the states: transitions scheduled as events happen (a whole training sequence
at once, when reset is released) plus an endless failed-training loop, read lazily.

`LinkTimeline` adds what both links do to it the same way: intermittent loss of lock
(`link_flap`, a Poisson process played lazily up to each reading), and the logs of events a
counter reports (link downs, recovered flaps). Those are logged when scheduled, which may be
ahead of the clock, so a reset before them takes them back. What a flap does to the link is the
model's own: a PCIe link may recover in Recovery; a mesh port always drops and retrains.
"""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass
from typing import Callable, Generic, Protocol, TypeVar

import numpy as np

S = TypeVar("S")


class _Carrying(Protocol):
    @property
    def up(self) -> bool: ...

    @property
    def lanes(self) -> tuple[int, ...]: ...


L = TypeVar("L", bound=_Carrying)


@dataclass(frozen=True)
class _Segment(Generic[S]):
    start: float
    states: tuple[tuple[float, S], ...]  # (offset from start, state)
    period: float | None = None          # a repeating loop of `states` every `period`


class Timeline(Generic[S]):
    """A link's state over time, built from events as they happen and read lazily.

    Transitions are appended (possibly in the future: a training sequence is scheduled whole when
    reset is released); a later event `cut`s everything scheduled at or after its time. A failed
    training loop repeats forever, so it is stored once as a periodic segment: reading any time
    is O(log n) and a link that cycled all night costs no memory.
    """

    def __init__(self, initial: S) -> None:
        self._segments: list[_Segment[S]] = [_Segment(-math.inf, ((0.0, initial),))]
        self._starts: list[float] = [-math.inf]

    def cut(self, t: float) -> None:
        """Forget everything scheduled at or after `t` (a loop running at `t` ends there once
        something is added at `t`)."""
        i = max(1, bisect.bisect_left(self._starts, t))
        del self._segments[i:]
        del self._starts[i:]

    def add(self, t: float, state: S) -> None:
        """State `state` from `t` on (after anything already scheduled before `t`)."""
        self.cut(t)
        self._push(_Segment(t, ((0.0, state),)))

    def add_loop(self, t: float, steps: list[tuple[float, S]]) -> None:
        """From `t` on, repeat `steps` [(duration, state), ...] forever."""
        self.cut(t)
        offsets, acc = [], 0.0
        for duration, state in steps:
            offsets.append((acc, state))
            acc += duration
        self._push(_Segment(t, tuple(offsets), period=acc))

    def schedule(self, t: float, steps: list[tuple[float, S]], final: S | None = None) -> None:
        """From `t` on, `steps` [(duration, state), ...] one after another, then `final` held
        until the next event; with no `final`, a training that never completes: `steps` loop."""
        if final is None:
            self.add_loop(t, steps)
            return
        for duration, state in steps:
            self.add(t, state)
            t += duration
        self.add(t, final)

    def _push(self, seg: _Segment[S]) -> None:
        self._segments.append(seg)
        self._starts.append(seg.start)

    def at(self, t: float) -> S:
        """The state at time `t`."""
        seg = self._segments[bisect.bisect_right(self._starts, t) - 1]
        if seg.period is None:
            return seg.states[0][1]
        phase = (t - seg.start) % seg.period
        k = bisect.bisect_right([o for o, _ in seg.states], phase) - 1
        return seg.states[k][1]

    def last_change(self, t: float) -> float:
        """When the state in force at `t` began (-inf if it never changed)."""
        seg = self._segments[bisect.bisect_right(self._starts, t) - 1]
        if seg.period is None:
            return seg.start
        cycles = math.floor((t - seg.start) / seg.period)
        phase = (t - seg.start) - cycles * seg.period
        k = bisect.bisect_right([o for o, _ in seg.states], phase) - 1
        return seg.start + cycles * seg.period + seg.states[k][0]

    def settled(self, t: float) -> bool:
        """True if nothing is scheduled after `t` (the state at `t` holds until an event)."""
        return self._starts[-1] <= t

    def last_scheduled(self) -> float:
        """When the last scheduled transition happens."""
        return self._starts[-1]

    def looping(self, t: float) -> bool:
        """True if the link is in an endless failed-training loop at `t`."""
        return self._segments[bisect.bisect_right(self._starts, t) - 1].period is not None

    def entries(self, t: float, limit: int = 10_000) -> list[tuple[float, S]]:
        """Transitions up to `t` (the last `limit` of them when a loop ran long)."""
        out: list[tuple[float, S]] = []
        for i in range(len(self._segments) - 1, 0, -1):
            seg = self._segments[i]
            if seg.start > t:
                continue
            end = self._starts[i + 1] if i + 1 < len(self._starts) else math.inf
            if seg.period is None:
                out.append((seg.start, seg.states[0][1]))
            else:
                first = seg.start
                span = min(t, end) - seg.start
                whole = max(0, math.floor(span / seg.period) - limit // len(seg.states) - 1)
                first += whole * seg.period
                loop = list(self._loop_entries(seg, first, min(t, end), inclusive=end > t))
                out.extend(reversed(loop))
            if len(out) >= limit:
                break
        out.reverse()
        return out[-limit:]

    def spans(self, t0: float, t1: float) -> list[tuple[float, float, S]]:
        """(start, end, state) pieces of the plain (non-loop) segments that overlap [t0, t1].

        Loops are skipped: they are failed training, so nothing that accrues while a link is up
        (error counters) accrues in them.
        """
        out = []
        i = max(0, bisect.bisect_right(self._starts, t0) - 1)
        for j in range(i, len(self._segments)):
            seg = self._segments[j]
            if seg.start >= t1:
                break
            end = self._starts[j + 1] if j + 1 < len(self._starts) else math.inf
            lo, hi = max(seg.start, t0), min(end, t1)
            if seg.period is None and hi > lo:
                out.append((lo, hi, seg.states[0][1]))
        return out

    @staticmethod
    def _loop_entries(seg: _Segment[S], first: float, t: float, inclusive: bool):
        base = first
        while True:
            for offset, state in seg.states:
                when = base + offset
                if when > t or (when == t and not inclusive):
                    return
                yield when, state
            base += seg.period  # type: ignore[operator]


class EventLog:
    """When a counted event (a link down, a flap recovered in Recovery) happens or will."""

    def __init__(self) -> None:
        self._times: list[float] = []

    def record(self, t: float) -> None:
        self._times.append(t)

    def count(self, t: float) -> int:
        """Events that have happened by `t`."""
        return sum(1 for when in self._times if when <= t)

    def forget_from(self, t: float) -> None:
        self._times = [when for when in self._times if when < t]


class LinkTimeline(Timeline[L]):
    """A link's `Timeline` with its flaps and its counted events.

    `flap(t)` is the model's loss of lock at `t`, called only when nothing is scheduled after
    `t` (a flap during training or Recovery is lost in it); it returns False if the link had no
    lock to lose. Its states carry `up` and `lanes` (the lanes passing traffic).
    """

    def __init__(self, initial: L, flap_rng: np.random.Generator,
                 flap: Callable[[float], bool]) -> None:
        super().__init__(initial)
        self._flap_rng = flap_rng
        self._flap = flap
        self._flap_rate = 0.0
        self._next_flap = math.inf
        self._logs: list[EventLog] = []

    def event_log(self) -> EventLog:
        """A log of counted events that `restart` takes back from its time on."""
        log = EventLog()
        self._logs.append(log)
        return log

    def start_flaps(self, rate_per_hour: float, start: float) -> None:
        """Intermittent loss of lock at `rate_per_hour` (Poisson) from `start` on."""
        self.advance(start)
        self._flap_rate = rate_per_hour
        self._next_flap = start + self._flap_gap()

    def advance(self, t: float) -> None:
        """Play flap events due by `t`."""
        while self._next_flap <= t:
            te = self._next_flap
            if self.settled(te) and self._flap(te):
                # what the flap scheduled (Recovery, retraining) absorbs any flap inside it
                te = self.last_scheduled()
            self._next_flap = te + self._flap_gap()

    def restart(self, t: float) -> None:
        """The link starts over at `t` (reset asserted or released, a port retrained): counted
        events scheduled from `t` on never happen."""
        self.advance(t)
        for log in self._logs:
            log.forget_from(t)

    def carries(self, lane: int, t: float) -> bool:
        """True if `lane` passes traffic at `t` (flaps due by then played first): a lane dying
        then costs the link its lock."""
        self.advance(t)
        now = self.at(t)
        return bool(now.up and lane in now.lanes)

    def _flap_gap(self) -> float:
        if self._flap_rate <= 0:
            return math.inf
        return float(self._flap_rng.exponential(3600.0 / self._flap_rate))
