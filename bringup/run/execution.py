"""What a running procedure shares: the clock, its bench (the one driver-call path), its record,
its progress, its interlock watch, and the abort flag.

The interlocks are never blind: they are read between steps, inside every wait, and inside every
driver action that lets time pass (a PRBS run, a boot, a retrain), because the bench hands each
driver call this execution's watched wait as its `pause`. An action that would hold the runner
without pausing is one validation refuses (`bringup/check/holds.py`).
"""

from __future__ import annotations

import math
from typing import Any

from bringup.run.abort import Abort
from bringup.run.bench import Bench
from bringup.core.clock import Clock
from bringup.drivers.base import Driver, StepTimeout
from bringup.run.interlock_watch import InterlockWatch
from bringup.run.run_state import Progress, Reporter, RunRecord

__all__ = ["Execution", "Reporter"]


class Execution:
    """One run under way: what its steps, gates and safe state act through."""

    def __init__(self, clock: Clock, store: Any, run_id: int, drivers: dict[str, Driver], parameters: dict[str, Any],
                 dut: str, *, reporter: Reporter | None = None) -> None:
        self.clock = clock
        self.parameters = parameters
        self.abort_reason: str | None = None
        self.record = RunRecord(store, run_id, dut, clock, reporter)
        # the record's fixed parts, as the steps write to them (plain fields: every measurement reads them)
        self.store, self.run_id, self.dut = store, run_id, dut
        self.bench = Bench(drivers, clock, on_note=self._note)
        self.progress = Progress()
        self.watch = InterlockWatch(clock, self.bench, self.record, self.progress)

    @property
    def reporter(self) -> Reporter | None:
        return self.record.reporter

    # -- signals and interlocks -------------------------------------------------------------------
    def request_abort(self, reason: str) -> None:
        """Called from a signal handler: set the flag and wake any sleep. Nothing else here."""
        if self.abort_reason is None:
            self.abort_reason = reason
        self.clock.interrupt()

    def watch_drivers(self) -> None:
        """Make every driver's waits watched waits, so no action can hold the interlocks off."""
        self.bench.pause = self.pause

    def tick(self) -> None:
        """Between steps: honour an abort request, and read the interlocks that are due."""
        if self.abort_reason is not None:
            raise Abort(self.abort_reason)
        watch = self.watch
        now = self.clock.now()
        if now >= watch.next_monitor_due or now >= watch.next_telemetry_due:  # else nothing is due: the common case
            watch.tick()

    def wait(self, seconds: float, deadline: float | None = None) -> None:
        """Let `seconds` pass in short advances, checking interlocks at their interval."""
        end = self.clock.now() + seconds
        watch = self.watch
        while True:
            self.tick()
            now = self.clock.now()
            if deadline is not None and now >= deadline and deadline < end:
                raise StepTimeout("the step's time ran out while waiting")
            if now >= end:
                return
            stop = min(end, watch.next_monitor_due, watch.next_telemetry_due,
                       deadline if deadline is not None else math.inf)
            if not self.clock.sleep(max(stop - now, 0.0)):
                self.tick()  # raises Abort when the sleep was cut short by one
                return

    def pause(self, seconds: float) -> bool:
        """Every driver call's `pause`: the watched wait, inside whatever action the driver is doing.
        An interlock's own read that waits (none should) just sleeps: no interlocks inside interlocks."""
        if self.watch.in_tick:
            return self.clock.sleep(seconds)
        self.wait(seconds)
        return True

    # -- the record -------------------------------------------------------------------------------
    def event(self, kind: str, message: str, severity: str = "info", data: dict | None = None,
              durable: bool = False) -> None:
        self.record.event(kind, message, severity=severity, data=data, durable=durable)

    def report(self, kind: str, data: dict[str, Any]) -> None:
        self.record.report(kind, data)

    def _note(self, role: str, note: str) -> None:
        """A driver's note (a retry and the like) into the run's record, as a warning."""
        self.event("instrument", f"{role}: {note}", severity="warning")
