"""Interlocks: readings checked at their declared interval, between steps and inside every wait.

A violation with `on_violation: abort` ends the run through the safe state. An interlock that
cannot read is not a quiet interlock: `failures` consecutive failed reads count as a violation.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from . import binding
from .driver import DriverError
from .procedure import Monitor
from .verdict import FAIL, PASS, UNKNOWN, describe_limits, judge

if TYPE_CHECKING:
    from .steps import Execution


class Abort(Exception):
    """The run must stop now and go to the safe state (exit code 3)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class MonitorTrip(Abort):
    pass


@dataclass
class Interlock:
    spec: Monitor
    name: str
    role: str
    reading: str
    args: dict[str, Any]
    unit: str
    low: float | None
    high: float | None
    every: float
    during: frozenset[str]  # empty: armed for the whole run
    after: str | None  # armed only once this phase has passed
    next_due: float = 0.0
    failed_reads: int = 0


def build(monitors: list[Monitor], ex: "Execution") -> list[Interlock]:
    out = []
    for m in monitors:
        role, name = m.read.split(".", 1)
        spec = ex.drivers[role].spec()[name]
        raw, _ = binding.args_of(spec, m.with_)
        args = binding.convert_args(spec, raw, ex.parameters)
        u = spec.unit or ""
        low = binding.value_in(m.limit.low, ex.parameters, u) if m.limit.low is not None else None
        high = binding.value_in(m.limit.high, ex.parameters, u) if m.limit.high is not None else None
        out.append(Interlock(m, m.name or m.read, role, name, args, u, low, high,
                             binding.evaluate(m.every, ex.parameters), frozenset(m.during), m.after))
    return out


def check_due(interlocks: list[Interlock], ex: "Execution", now: float) -> float:
    """Read every interlock that is due; raise MonitorTrip on a violation. Returns the next due time."""
    next_due = math.inf
    for il in interlocks:
        if now >= il.next_due:
            if (not il.during or ex.phase in il.during) and (il.after is None or il.after in ex.passed_phases):
                _check(il, ex, now)
            else:
                il.failed_reads = 0  # disarmed: a later arming starts afresh
            # keep to the declared grid so the interval does not drift with step durations; after
            # a long step, resume the grid from now rather than firing a burst of catch-up reads
            il.next_due = il.next_due + il.every if il.next_due else now + il.every
            if il.next_due <= now:
                il.next_due = now + il.every
        next_due = min(next_due, il.next_due)
    return next_due


def _check(il: Interlock, ex: "Execution", now: float) -> None:
    driver = ex.drivers[il.role]
    try:
        driver.deadline = now + max(il.every, 1.0)
        value = float(driver.call(il.reading, il.args))
    except DriverError as exc:
        value, error = math.nan, str(exc)
    else:
        error = None
    finally:
        driver.deadline = None
        if driver.notes:
            ex.record_notes(il.role, driver)
    verdict = judge(value, il.low, il.high)
    ex.store.sample(ex.run_id, "monitor/" + il.name, now, value, il.unit)  # apart from plain telemetry
    if verdict == PASS:
        il.failed_reads = 0
        return
    if verdict == UNKNOWN:
        il.failed_reads += 1
        if il.failed_reads < il.spec.failures:
            ex.event("monitor", f"interlock {il.name}: cannot read ({error or 'NaN'}), "
                                f"{il.failed_reads} of {il.spec.failures}", severity="warning")
            return
        why = f"interlock {il.name} cannot read: {error or 'NaN'} ({il.failed_reads} times in a row)"
    else:
        why = (f"interlock {il.name} = {value:.6g} {il.unit} outside {describe_limits(il.low, il.high, il.unit)}")
    ex.store.measurement(ex.run_id, "monitors/" + il.name, il.name, None if math.isnan(value) else value, il.unit,
                         il.low, il.high, FAIL if verdict == FAIL else UNKNOWN, now, None,
                         ex.identities.get(il.role), ex.dut, why)
    ex.report("measurement", {"path": "monitors/" + il.name, "name": il.name, "value": value, "unit": il.unit,
                              "low": il.low, "high": il.high, "verdict": verdict if verdict == FAIL else UNKNOWN,
                              "coords": None, "message": why})
    if il.spec.on_violation == "abort":
        raise MonitorTrip(why)
    ex.event("monitor", why, severity="warning")
