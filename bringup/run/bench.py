"""The bench: the one path every driver call takes, for one DUT's run.

Opening, identity, actions, readings, interlock and telemetry reads, the safe state and closing
all go through `Bench`: the deadline is an argument of each call (never a field a caller sets
on a driver), the driver's notes land in the run's record in one place, and a lost instrument is
classified once, as `InstrumentLost` (an `Abort`: the runner takes the sled safe).

Several DUTs on one station: each slot's runner has its own bench, and benches may share a
driver (a rack's CDU, a DMM behind a mux). Every call holds that driver's re-entrant `lock`, so
two slots' calls never interleave on one instrument; what a call brings (deadline, the watched
wait, the tick's shared replies) is the call's own, so one slot never sees another's. A call
keeps its instrument's lock through the pauses inside it (an action is whole on its instrument):
with slots sharing instruments, a long action on a shared one keeps the other slots' reads of it
waiting, so such actions belong on instruments a slot owns.
"""

from __future__ import annotations

from collections import Counter
from typing import Any, Callable, TypeVar

from bringup.run.abort import Abort
from bringup.core.clock import Clock
from bringup.drivers.base import ActionSpec, Driver, DriverError, InstrumentUnreachable

T = TypeVar("T")
#: where a driver's notes go: (role, note) -> the run's record, as a warning
NoteSink = Callable[[str, str], None]


class InstrumentLost(Abort):
    """An instrument is gone (refused connection, closed socket, repeated timeouts): the run
    aborts, and the safe state skips the steps that need it."""

    def __init__(self, role: str, reason: str) -> None:
        super().__init__(reason)
        self.role = role


class Bench:
    """One DUT's instruments, by role, and the only caller of their drivers."""

    def __init__(self, drivers: dict[str, Driver], clock: Clock, on_note: NoteSink | None = None) -> None:
        self.drivers = drivers
        self.clock = clock
        self.on_note = on_note
        self.identities: dict[str, str] = {}  # role -> identity, recorded with every result
        self.lost: set[str] = set()  # roles whose instrument is gone
        # how time passes inside a driver's action: the run puts its watched wait here once the
        # interlocks are set up (Execution.watch_drivers); until then, time simply passes
        self.pause: Callable[[float], bool] = clock.sleep
        # the bench's record of calls: (role, what) -> how many, what a test asserts on
        self.calls: Counter[tuple[str, str]] = Counter()
        # during a tick: one snapshot of replies per instrument, shared by its readings
        self._snapshots: dict[str, dict[str, Any]] | None = None

    # -- the one path ---------------------------------------------------------------------------
    def _through(self, role: str, what: str, deadline: float | None, fn: Callable[..., T], *args: Any) -> T:
        """`fn(*args)`, one of the driver's methods, as one call: lock, deadline, notes, a lost instrument."""
        driver = self.drivers[role]
        self.calls[role, what] += 1
        snapshots = self._snapshots
        with driver.lock:  # the notes drained below are this call's, not another slot's
            driver.begin_call(deadline, self.pause, None if snapshots is None else snapshots.setdefault(role, {}))
            try:
                return fn(*args)
            except InstrumentUnreachable as exc:
                self.lost.add(role)
                raise InstrumentLost(role, str(exc)) from None
            finally:
                driver.end_call()
                if driver.notes:
                    self._drain_notes(role, driver)

    def call(self, role: str, name: str, args: dict[str, Any], deadline: float | None) -> Any:
        """An action or reading (converted arguments; the station's guardrails checked again)."""
        return self._through(role, name, deadline, self.drivers[role].call, name, args)

    def _drain_notes(self, role: str, driver: Driver) -> None:
        """The driver's notes (retries and the like) into the run's record, as warnings."""
        notes, driver.notes = driver.notes, []
        if self.on_note is not None:
            for note in notes:
                self.on_note(role, note)

    def telemetry(self, role: str, deadline: float | None) -> dict[str, tuple[float, str]]:
        return self._through(role, "telemetry", deadline, self.drivers[role].telemetry)

    def explain(self, role: str, reading: str, args: dict[str, Any], deadline: float | None) -> str | None:
        """What the driver says of an out-of-limits `reading` (its `why_<reading>`, e.g. which chip
        and rail took the sled down); None if it has nothing to say."""
        explain = getattr(self.drivers[role], "why_" + reading, None)
        if explain is None:
            return None
        return self._through(role, "why_" + reading, deadline, lambda: explain(**args))

    def spec(self, role: str) -> dict[str, ActionSpec]:
        """What the driver of `role` publishes (its class's table: no call to the instrument)."""
        return self.drivers[role].spec()

    # -- a tick ---------------------------------------------------------------------------------
    def begin_tick(self) -> None:
        """Interlock and telemetry reads follow, at one instant with nothing acted on: readings of
        one instrument may share its replies until `end_tick`."""
        self._snapshots = {}

    def end_tick(self) -> None:
        self._snapshots = None

    # -- lifecycle ------------------------------------------------------------------------------
    def open_all(self, timeout: float) -> list[str]:
        """Open every instrument and read its identity, each within `timeout` seconds. Every one is
        tried even after one fails (the safe state needs all it can reach); returns the failures."""
        failures = []
        for role, driver in self.drivers.items():
            deadline = self.clock.now() + timeout
            try:
                self._through(role, "open", deadline, driver.open)
                self.identities[role] = self._through(role, "identity", deadline, driver.identity)
            except InstrumentLost as exc:
                failures.append(exc.reason)
            except DriverError as exc:
                self.lost.add(role)
                failures.append(str(exc))
        return failures

    def close_all(self) -> list[tuple[str, Exception]]:
        """Close every instrument; returns the ones that failed to close, and why."""
        failed = []
        for role, driver in self.drivers.items():
            try:
                self._through(role, "close", None, driver.close)
            except Exception as exc:  # closing must not hide how the run ended
                failed.append((role, exc))
        return failed
