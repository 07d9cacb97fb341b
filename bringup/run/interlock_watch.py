"""The interlock watch: when the interlocks and the telemetry are next due, and reading them.

A tick reads whatever is due, between steps and inside every wait (Execution.wait, and through
it every driver's pause), so no action holds the interlocks off. A tick is one instant with
nothing acted on: an instrument's readings in it share one reply (Bench.begin_tick), and an
interlock's own read that waits (none should) just sleeps: no interlocks inside interlocks.
"""

from __future__ import annotations

import math

from bringup.run import monitors
from bringup.run.bench import Bench
from bringup.core.clock import Clock
from bringup.run.run_state import Progress, RunRecord


class InterlockWatch:
    """The interlocks' due times and the telemetry's, for one run."""

    def __init__(self, clock: Clock, bench: Bench, record: RunRecord, progress: Progress) -> None:
        self.clock, self.bench, self.record, self.progress = clock, bench, record, progress
        self.interlocks: list[monitors.Interlock] = []
        self.next_monitor_due = math.inf
        self.telemetry_every = math.inf  # seconds of run clock between telemetry samples
        self.next_telemetry_due = math.inf
        self.in_tick = False  # reading interlocks or telemetry now: their own waits are plain sleeps

    def arm(self) -> None:
        """A phase begins or ends: interlocks it arms are read at once, and their gaps count from now."""
        if self.interlocks:
            self.next_monitor_due = monitors.arm(self.interlocks, self.progress, self.clock.now())

    def sample_every(self, seconds: float) -> None:
        """Telemetry from now on, every `seconds` of run clock."""
        self.telemetry_every = seconds
        self.next_telemetry_due = self.clock.now()

    def stand_down(self) -> None:
        """Going safe already: no interlock may abort the way out."""
        self.interlocks, self.next_monitor_due = [], math.inf

    def tick(self) -> None:
        """Read the interlocks that are due (MonitorTrip on a violation), and the telemetry if due."""
        if self.in_tick:
            return
        now = self.clock.now()
        if now < self.next_monitor_due and now < self.next_telemetry_due:
            return
        self.in_tick = True
        self.bench.begin_tick()
        try:
            if now >= self.next_monitor_due:
                self.next_monitor_due = monitors.check_due(self.interlocks, now, self.bench, self.record,
                                                           self.progress)
            if now >= self.next_telemetry_due:
                self.sample_telemetry()
        finally:
            self.in_tick = False
            self.bench.end_tick()

    def check_now(self) -> None:
        """Read every armed interlock at once, off its grid: MonitorTrip on a violation."""
        monitors.check_now(self.interlocks, self.clock.now(), self.bench, self.record, self.progress)

    def sample_telemetry(self) -> None:
        """What each driver offers for the dashboard, into the store; a failing read is skipped."""
        now = self.clock.now()
        self.next_telemetry_due = now + self.telemetry_every
        for role in self.bench.drivers:
            if role in self.bench.lost:
                continue
            try:
                readings = self.bench.telemetry(role, self.clock.now() + max(self.telemetry_every, 1.0))  # its own
            except Exception:  # lost instruments too: telemetry is for people; the interlocks guard the hardware
                continue
            for channel, (value, unit_symbol) in readings.items():
                self.record.store.sample(self.record.run_id, channel, now, value, unit_symbol)
