"""Interlocks: readings checked at their declared interval, between steps, inside every wait and
inside every driver action that lets time pass (`Execution.pause`; when: interlock_watch.py).

A violation with `on_violation: abort` ends the run through the safe state. An interlock that
cannot read is not a quiet interlock: `failures` consecutive failed reads count as a violation.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Iterable

from bringup.check import binding
from bringup.check.plan import MonitorPlan
from bringup.run.abort import Abort
from bringup.run.bench import Bench
from bringup.drivers.base import DriverError
from bringup.language.procedure import Monitor
from bringup.run.run_state import Progress, RunRecord
from bringup.core.verdict import FAIL, PASS, UNKNOWN, describe_limits, judge
from bringup.store.records import Measurement

__all__ = ["Abort", "MonitorTrip", "Interlock", "build", "arm", "check_due", "check_now", "summary"]


class MonitorTrip(Abort):
    pass


# "one poll": the slack a read may have past its interval and still count as on time. In
# simulation reads are exact (time moves only in watched waits, cut at every due read); on a bench
# a read due while a reply is on the wire happens when the reply is in.
ON_TIME_SLACK_S = 0.05


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
    step_id: str = ""  # the plan's id of the monitor (`monitors/N`), on every record it writes
    next_due: float = 0.0
    failed_reads: int = 0
    # what the record says of it (`summary`): how often it read, its worst gap while armed, how
    # close any reading came to a limit
    armed: bool = False
    last_read_t: float | None = None  # the last read while armed, or the moment it was armed
    reads: int = 0
    failed_total: int = 0
    largest_gap: float = 0.0
    largest_gap_at: float | None = None
    closest: dict[str, Any] | None = None

    def is_armed(self, progress: Progress) -> bool:
        return ((not self.during or progress.phase in self.during)
                and (self.after is None or self.after in progress.passed_phases))

    @property
    def allowed_gap(self) -> float:
        return self.every + ON_TIME_SLACK_S


def build(planned: Iterable[MonitorPlan], bench: Bench, parameters: dict[str, Any]) -> list[Interlock]:
    """The plan's monitors as interlocks, each writing its records under the plan's id."""
    out = []
    for mp in planned:
        m = mp.monitor
        role, name = m.read.split(".", 1)
        spec = bench.spec(role)[name]
        raw, _ = binding.args_of(spec, m.with_)
        args = binding.convert_args(spec, raw, parameters)
        u = spec.unit or ""
        low = binding.value_in(m.limit.low, parameters, u) if m.limit.low is not None else None
        high = binding.value_in(m.limit.high, parameters, u) if m.limit.high is not None else None
        out.append(Interlock(m, m.name or m.read, role, name, args, u, low, high,
                             binding.evaluate(m.every, parameters), frozenset(m.during), m.after,
                             step_id=mp.id))
    return out


def arm(interlocks: list[Interlock], progress: Progress, now: float) -> float:
    """The armed set may have changed (a phase began or ended): an interlock armed just now is
    read at once and its gap counts from now; one disarmed stops counting. Returns the next due time."""
    for il in interlocks:
        armed = il.is_armed(progress)
        if armed and not il.armed:
            il.next_due, il.last_read_t, il.failed_reads = now, now, 0
        elif not armed and il.armed:
            il.last_read_t, il.failed_reads = None, 0
        il.armed = armed
    return min((il.next_due for il in interlocks), default=math.inf)


def check_due(interlocks: list[Interlock], now: float, bench: Bench, record: RunRecord, progress: Progress) -> float:
    """Read every interlock that is due; raise MonitorTrip on a violation. Returns the next due time."""
    next_due = math.inf
    for il in interlocks:
        if now >= il.next_due:
            if il.is_armed(progress):
                _check(il, now, bench, record)
            else:
                il.failed_reads = 0  # disarmed: a later arming starts afresh
            # keep to the declared grid so the interval does not drift with step durations; after
            # a long step, resume the grid from now rather than firing a burst of catch-up reads
            il.next_due = il.next_due + il.every if il.next_due else now + il.every
            if il.next_due <= now:
                il.next_due = now + il.every
        next_due = min(next_due, il.next_due)
    return next_due


def check_now(interlocks: list[Interlock], now: float, bench: Bench, record: RunRecord, progress: Progress) -> None:
    """Read every armed interlock at once, off its grid (which stays as it was); MonitorTrip on a violation."""
    for il in interlocks:
        if il.is_armed(progress):
            _check(il, now, bench, record)


def _gap(il: Interlock, record: RunRecord, now: float) -> None:
    """Count the time since the last read; a late read is said in the record when it happens."""
    if il.last_read_t is not None:
        gap = now - il.last_read_t
        if gap > il.largest_gap:
            il.largest_gap, il.largest_gap_at = gap, now
        if gap > il.allowed_gap:
            record.event("monitor", f"interlock {il.name} read late: {gap:.6g} s since the last read "
                                    f"(interval {il.every:g} s)", severity="warning",
                         data={"interlock": il.name, "gap_s": gap, "every_s": il.every})
    il.last_read_t = now


def _closest(il: Interlock, value: float, now: float) -> None:
    for side, limit in (("high", il.high), ("low", il.low)):
        if limit is None:
            continue
        margin = limit - value if side == "high" else value - limit
        if il.closest is None or margin < il.closest["margin"]:
            il.closest = {"value": value, "limit": limit, "side": side, "margin": margin, "t": now}


def read_deadline(il: Interlock, bench: Bench) -> float:
    """This read's own deadline, from when it starts (not from the round's start): a slow read
    earlier in the round delays this one but leaves it its whole time."""
    return bench.clock.now() + max(il.every, 1.0)


def _check(il: Interlock, round_start: float, bench: Bench, record: RunRecord) -> None:
    # the read's own moment: later than the round's start when an earlier read of the round was
    # slow, and the gap, the sample and any trip say when this read really happened
    now = max(round_start, bench.clock.now())
    _gap(il, record, now)
    try:
        value = float(bench.call(il.role, il.reading, il.args, read_deadline(il, bench)))
    except DriverError as exc:
        value, error = math.nan, str(exc)
    else:
        error = None
    il.reads += 1
    verdict = judge(value, il.low, il.high)
    record.store.sample(record.run_id, "monitor/" + il.name, now, value, il.unit)  # apart from plain telemetry
    if verdict == PASS:
        il.failed_reads = 0
        _closest(il, value, now)
        return
    if verdict == UNKNOWN:
        il.failed_reads += 1
        il.failed_total += 1
        if il.failed_reads < il.spec.failures:
            record.event("monitor", f"interlock {il.name}: cannot read ({error or 'NaN'}), "
                                    f"{il.failed_reads} of {il.spec.failures}", severity="warning")
            return
        why = f"interlock {il.name} cannot read: {error or 'NaN'} ({il.failed_reads} times in a row)"
    else:
        _closest(il, value, now)
        why = (f"interlock {il.name} = {value:.6g} {il.unit} outside {describe_limits(il.low, il.high, il.unit)}")
    why += _driver_says(il, bench, now)
    record.store.measurement(Measurement(run_id=record.run_id, path="monitors/" + il.name, name=il.name,
                                         value=None if math.isnan(value) else value, unit=il.unit, low=il.low,
                                         high=il.high, verdict=FAIL if verdict == FAIL else UNKNOWN, t=now,
                                         coords=None, instrument=bench.identities.get(il.role), dut=record.dut,
                                         message=why, step_id=il.step_id))
    record.report("measurement", {"path": "monitors/" + il.name, "name": il.name, "value": value, "unit": il.unit,
                                  "low": il.low, "high": il.high, "verdict": verdict if verdict == FAIL else UNKNOWN,
                                  "coords": None, "message": why})
    if il.spec.on_violation == "abort":
        raise MonitorTrip(why)
    record.event("monitor", why, severity="warning")


def _driver_says(il: Interlock, bench: Bench, now: float) -> str:
    """A tripped interlock names its cause when the driver can say it (`why_<reading>`, e.g. which
    chip and rail took the sled down), not only the value it read."""
    try:
        text = bench.explain(il.role, il.reading, il.args, read_deadline(il, bench))
    except DriverError as exc:
        return f" (and asking why failed: {exc})"
    return f": {text}" if text else ""


def summary(interlocks: list[Interlock]) -> dict[str, Any]:
    """What the record keeps of the interlocks (the `interlocks` event; docs/results.md)."""
    return {"interlocks": [
        {"name": il.name, "read": f"{il.role}.{il.reading}", "unit": il.unit, "every_s": il.every,
         "allowed_gap_s": il.allowed_gap, "low": il.low, "high": il.high, "reads": il.reads,
         "failed_reads": il.failed_total, "largest_gap_s": il.largest_gap, "largest_gap_at_t": il.largest_gap_at,
         "late": il.largest_gap > il.allowed_gap, "closest": il.closest}
        for il in interlocks]}
