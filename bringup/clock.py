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

    def now(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float) -> bool:
        if seconds <= 0:
            return not self.interrupted
        return not self._interrupted.wait(seconds)


class SimClock(_Interruptible):
    """Virtual time.

    speed=None: as fast as possible; `sleep` jumps virtual time forward and returns at once.
    speed=X: virtual time runs X times faster than wall time; `sleep` blocks for d/X seconds.

    Thread-safe: the simulated lab's server threads read `now()` while the runner sleeps; the
    simulator advances its physics lazily to `now()` whenever it is read.
    """

    simulated = True

    def __init__(self, speed: float | None = None, start: float = 0.0) -> None:
        super().__init__()
        if speed is not None and not (speed > 0 and math.isfinite(speed)):
            raise ValueError(f"simulation speed must be a positive number, not {speed!r}")
        self.speed = speed
        self._lock = threading.Lock()  # serialises writers; readers take the tuple as it stands
        # (virtual time at the anchor, wall time of the anchor), replaced whole so that a reader
        # never sees half an update: now() is the hottest call in the engine and takes no lock
        self._anchor = (float(start), time.monotonic())

    def now(self) -> float:
        virtual, wall = self._anchor
        if self.speed is None:
            return virtual
        return virtual + (time.monotonic() - wall) * self.speed

    def advance(self, seconds: float) -> None:
        """Jump virtual time forward (fast mode's sleep; also handy in tests)."""
        if seconds < 0:
            raise ValueError("time does not run backwards")
        with self._lock:
            virtual, wall = self._anchor
            if self.speed is not None:  # re-anchor so the jump adds to the time already run
                now_wall = time.monotonic()
                virtual, wall = virtual + (now_wall - wall) * self.speed, now_wall
            self._anchor = (virtual + seconds, wall)

    def sleep(self, seconds: float) -> bool:
        if self.interrupted:
            return False
        if seconds <= 0:
            return True
        if self.speed is None:
            self.advance(seconds)
            return True
        return not self._interrupted.wait(seconds / self.speed)


from .timefmt import format_duration  # noqa: E402,F401  (moved to timefmt: one duration format for every view)
