"""What a running procedure shares: clock, drivers, store, interlocks, the abort flag; and the one
path every driver call takes (deadline set and restored, notes recorded, a lost instrument noticed).

The interlocks are never blind: they are read between steps, inside every wait, and inside every
driver action that lets time pass (a PRBS run, a boot, a retrain), because each driver's `pause`
is this execution's watched wait. An action that would hold the runner without pausing is one
validation refuses (`bringup/holds.py`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable, TypeVar

from . import monitors
from .clock import Clock
from .driver import Driver, InstrumentUnreachable, StepTimeout
from .monitors import Abort

Reporter = Callable[[str, dict[str, Any]], None]
T = TypeVar("T")


@dataclass
class Execution:
    """Everything a running procedure shares: clock, drivers, store, interlocks, abort flag."""

    clock: Clock
    store: Any
    run_id: int
    drivers: dict[str, Driver]
    parameters: dict[str, Any]
    dut: str
    identities: dict[str, str] = field(default_factory=dict)
    interlocks: list[monitors.Interlock] = field(default_factory=list)
    reporter: Reporter | None = None
    abort_reason: str | None = None
    phase: str | None = None  # the phase running now (interlocks may be armed only during some)
    passed_phases: set[str] = field(default_factory=set)  # interlocks may be armed only after one
    first_failure: str | None = None  # in the running phase, from a step that said `on_fail: continue`
    lost_roles: set[str] = field(default_factory=set)
    next_monitor_due: float = math.inf
    telemetry_every: float = math.inf  # seconds of run clock between telemetry samples
    next_telemetry_due: float = math.inf
    in_tick: bool = False  # reading interlocks or telemetry now: their own waits are plain sleeps
    # verdicts other than PASS recorded so far, gates and characterization data alike, and the
    # latest one's message: a sweep runs its `recover` steps after a point that added any
    not_passed: int = 0
    not_passed_message: str | None = None

    # -- signals and interlocks -------------------------------------------------------------------
    def request_abort(self, reason: str) -> None:
        """Called from a signal handler: set the flag and wake any sleep. Nothing else here."""
        if self.abort_reason is None:
            self.abort_reason = reason
        self.clock.interrupt()

    def watch_drivers(self) -> None:
        """Make every driver's waits watched waits, so no action can hold the interlocks off."""
        for driver in self.drivers.values():
            driver.pause = self.pause

    def arm(self) -> None:
        """A phase begins or ends: interlocks it arms are read at once, and their gaps count from now."""
        if self.interlocks:
            self.next_monitor_due = monitors.arm(self.interlocks, self, self.clock.now())

    def tick(self) -> None:
        """Between steps: honour an abort request, and read the interlocks that are due."""
        if self.abort_reason is not None:
            raise Abort(self.abort_reason)
        if self.in_tick:
            return
        now = self.clock.now()
        if now < self.next_monitor_due and now < self.next_telemetry_due:
            return
        self.in_tick = True
        for driver in self.drivers.values():  # one snapshot per instrument and tick, shared by its readings
            driver.shared_reads = {}
        try:
            if now >= self.next_monitor_due:
                self.next_monitor_due = monitors.check_due(self.interlocks, self, now)
            if now >= self.next_telemetry_due:
                self.sample_telemetry()
        finally:
            self.in_tick = False
            for driver in self.drivers.values():
                driver.shared_reads = None

    def sample_telemetry(self) -> None:
        """What each driver offers for the dashboard, into the store; a failing read is skipped."""
        now = self.clock.now()
        self.next_telemetry_due = now + self.telemetry_every
        for role, driver in self.drivers.items():
            if role in self.lost_roles:
                continue
            try:
                readings = self.guarded(role, now + max(self.telemetry_every, 1.0), driver.telemetry)
            except Exception:  # lost instruments too: telemetry is for people; the interlocks guard the hardware
                continue
            for channel, (value, unit_symbol) in readings.items():
                self.store.sample(self.run_id, channel, now, value, unit_symbol)

    def wait(self, seconds: float, deadline: float | None = None) -> None:
        """Let `seconds` pass in short advances, checking interlocks at their interval."""
        end = self.clock.now() + seconds
        while True:
            self.tick()
            now = self.clock.now()
            if deadline is not None and now >= deadline and deadline < end:
                raise StepTimeout("the step's time ran out while waiting")
            if now >= end:
                return
            stop = min(end, self.next_monitor_due, self.next_telemetry_due,
                       deadline if deadline is not None else math.inf)
            if not self.clock.sleep(max(stop - now, 0.0)):
                self.tick()  # raises Abort when the sleep was cut short by one
                return

    def pause(self, seconds: float) -> bool:
        """Every driver's `pause`: the watched wait, inside whatever action the driver is doing.
        An interlock's own read that waits (none should) just sleeps: no interlocks inside interlocks."""
        if self.in_tick:
            return self.clock.sleep(seconds)
        self.wait(seconds)
        return True

    def event(self, kind: str, message: str, severity: str = "info", data: dict | None = None,
              durable: bool = False) -> None:
        self.store.event(self.run_id, self.clock.now(), kind, message, severity=severity, data=data, durable=durable)
        self.report(kind, {"message": message, "severity": severity})

    def report(self, kind: str, data: dict[str, Any]) -> None:
        if self.reporter is not None:
            try:
                self.reporter(kind, data)
            except Exception:  # a broken view must never stop a run
                self.reporter = None

    # -- driver calls ---------------------------------------------------------------------------
    def guarded(self, role: str, deadline: float | None, fn: Callable[[], T]) -> T:
        """Run `fn` (one call into the driver of `role`) under `deadline`: the driver's deadline is
        put back afterwards (an interlock read inside a paused action must not erase the action's),
        its notes are recorded, and a lost instrument aborts the run."""
        driver = self.drivers[role]
        before, driver.deadline = driver.deadline, deadline
        try:
            return fn()
        except InstrumentUnreachable as exc:
            self.lost_roles.add(role)
            raise Abort(str(exc)) from None
        finally:
            driver.deadline = before
            if driver.notes:
                self.record_notes(role, driver)

    def call(self, role: str, name: str, args: dict[str, Any], deadline: float | None) -> Any:
        driver = self.drivers[role]
        return self.guarded(role, deadline, lambda: driver.call(name, args))

    def record_notes(self, role: str, driver: Driver) -> None:
        """The driver's notes (retries and the like) into the run's record, as warnings."""
        notes, driver.notes = driver.notes, []
        for note in notes:
            self.event("instrument", f"{role}: {note}", severity="warning")
