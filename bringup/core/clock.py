"""The one clock everything that waits takes its time from.

On hardware that is the monotonic clock. In simulation the clock is virtual: it either jumps
(as fast as possible, for CI: an 8-hour soak takes seconds) or runs at a chosen multiple of
wall time (for a person watching the dashboard). This module is the only place in the engine
and the simulator that touches `time.monotonic` or blocks on wall time.

Every sleep can be cut short by `interrupt()` (Ctrl-C, SIGTERM): an abort must never wait out
a long sleep before the safe state runs.
"""

from __future__ import annotations

import math
import threading
import time
from typing import Callable, Protocol

from bringup.core.timefmt import format_duration  # noqa: F401  (its old home: one duration format, in timefmt)


class Clock(Protocol):
    """What the runner, drivers and the simulator need of time."""

    def now(self) -> float:
        """Seconds since the clock's epoch (monotonic; virtual in simulation)."""

    def sleep(self, seconds: float) -> bool:
        """Let `seconds` pass. Returns False if interrupted early."""

    def wait_until(self, predicate: Callable[[], bool], timeout: float, poll: float) -> bool:
        """Poll `predicate` every `poll` seconds until it is true (True) or `timeout` passes."""

    def interrupt(self) -> None:
        """Wake every sleeper now and make further sleeps return at once until `clear()`."""

    def clear(self) -> None:
        """Allow sleeps again (the safe state needs its ramp-down delays after an abort)."""

    @property
    def simulated(self) -> bool: ...

    @property
    def free_running(self) -> bool:
        """True when time passes by itself (hardware, a served lab); False when it moves only as
        the run lets it pass, so that an instrument exchange takes no clock time at all."""


def clock_to_wall(clock: Clock, clock_s: float) -> float:
    """Wall seconds during which `clock_s` of clock time pass by themselves: all of them on a real
    clock, 1/speed of them on a free-running simulated one, none when time moves only by sleeps."""
    if not getattr(clock, "free_running", True):
        return 0.0
    speed = getattr(clock, "speed", None) if getattr(clock, "simulated", False) else None
    return clock_s / speed if speed else clock_s


class _Interruptible:
    def __init__(self) -> None:
        self._interrupted = threading.Event()

    def interrupt(self) -> None:
        self._interrupted.set()

    def clear(self) -> None:
        self._interrupted.clear()

    @property
    def interrupted(self) -> bool:
        return self._interrupted.is_set()

    def wait_until(self, predicate: Callable[[], bool], timeout: float, poll: float) -> bool:
        deadline = self.now() + timeout  # type: ignore[attr-defined]
        while True:
            if predicate():
                return True
            left = deadline - self.now()  # type: ignore[attr-defined]
            if left <= 0:
                return False
            if not self.sleep(min(poll, left)):  # type: ignore[attr-defined]
                return False


class RealClock(_Interruptible):
    """Wall time. Sleeps wait on an event so an abort wakes them immediately."""

    simulated = False
    free_running = True

    def now(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float) -> bool:
        if seconds <= 0:
            return not self.interrupted
        return not self._interrupted.wait(seconds)


class SimClock(_Interruptible):
    """Virtual time.

    speed=None: as fast as possible; `sleep` jumps virtual time forward and returns at once.
    speed=X: the same jumps, throttled: a sleep also waits until wall time has caught up with
    X times less virtual time. Virtual time still moves only when the run lets it pass (a sleep,
    an advance), never while an instrument exchange takes wall time, so the night is the same at
    every speed and on every host: deadlines and simulated durations cannot depend on how fast
    the machine is.
    free_running=True (a served lab, whose clients keep their own real clocks and so cannot move
    it): virtual time runs by itself at X times wall time.

    Thread-safe: the simulated lab's server threads read `now()` while the runner sleeps; the
    simulator advances its physics lazily to `now()` whenever it is read.
    """

    simulated = True

    def __init__(self, speed: float | None = None, start: float = 0.0, *, free_running: bool = False) -> None:
        super().__init__()
        if speed is not None and not (speed > 0 and math.isfinite(speed)):
            raise ValueError(f"simulation speed must be a positive number, not {speed!r}")
        if free_running and speed is None:
            raise ValueError("a free-running simulated clock needs a speed (a multiple of wall time)")
        self.speed = speed
        self.free_running = free_running
        self._lock = threading.Lock()  # serialises writers; readers take the tuple as it stands
        # (virtual time at the anchor, wall time of the anchor), replaced whole so that a reader
        # never sees half an update: now() is the hottest call in the engine and takes no lock.
        # Throttled, the anchor is where virtual and wall time last agreed at `speed`.
        self._anchor = (float(start), time.monotonic())
        self._virtual = float(start)  # jumping and throttled clocks: the time itself

    def now(self) -> float:
        if not self.free_running:
            return self._virtual
        virtual, wall = self._anchor
        return virtual + (time.monotonic() - wall) * self.speed  # type: ignore[operator]

    def advance(self, seconds: float) -> None:
        """Jump virtual time forward (a sleep's jump; also handy in tests)."""
        if seconds < 0:
            raise ValueError("time does not run backwards")
        with self._lock:
            if not self.free_running:
                self._virtual += seconds
                return
            virtual, wall = self._anchor
            now_wall = time.monotonic()  # re-anchor so the jump adds to the time already run
            self._anchor = (virtual + (now_wall - wall) * self.speed + seconds, now_wall)  # type: ignore[operator]

    def sleep(self, seconds: float) -> bool:
        if self.interrupted:
            return False
        if seconds <= 0:
            return True
        if self.speed is None:
            self.advance(seconds)
            return True
        if self.free_running:
            return not self._interrupted.wait(seconds / self.speed)
        return self._throttled_sleep(seconds)

    def _throttled_sleep(self, seconds: float) -> bool:
        speed = self.speed
        assert speed is not None
        virtual0, wall0 = self._anchor
        now_wall = time.monotonic()
        if now_wall > wall0 + (self._virtual - virtual0) / speed:
            # behind schedule (a slow host, a long exchange): start again from here rather than
            # racing to catch up, so the run never goes faster than `speed` times wall time
            virtual0, wall0 = self._virtual, now_wall
            self._anchor = (virtual0, wall0)
        target = self._virtual + seconds
        wake = wall0 + (target - virtual0) / speed
        interrupted = self._interrupted.wait(max(0.0, wake - now_wall))
        with self._lock:
            if interrupted:  # an abort: the time that did pass, no more
                self._virtual = min(target, self._virtual + (time.monotonic() - now_wall) * speed)
            else:
                self._virtual = target
        return not interrupted

