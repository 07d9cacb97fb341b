"""What the dashboard shows, built from the results store alone.

`RunView` follows one run: each `poll()` reads only what was committed since the last one
(every table's id only grows, so "since id N" misses nothing) and updates the picture: the run
and its phases, what it is doing now, how far the long step is, telemetry by chip against its
limits, interlocks, alarms and the latest events. It never talks to the runner, so any number
of views in any number of processes can follow a run, and none can disturb it.
"""

from __future__ import annotations

import json
from collections import deque
from dataclasses import dataclass
from typing import Any

from bringup.outputs import interlock_summary
from bringup.core.clock import Clock
from bringup.outputs.interlock_summary import InterlockRecord
from bringup.core.states import PhaseState, RunState, Severity, StepOutcome, Verdict
from bringup.dashboard import outline as outline_mod
from bringup.dashboard.feed import StoreFeed
from bringup.dashboard.fmt import reading
from bringup.dashboard.progress import Progress, ProgressTracker
from bringup.dashboard.summary import FailedSteps, summary_line
from bringup.dashboard.telemetry import METRICS, Channel, MetricRow, fold, is_discrete, judge, parse_channel

_ALARM_SEVERITIES = (Severity.WARNING, Severity.ERROR, Severity.CRITICAL)
#: How many buckets of history a view keeps per channel (the widest sparkline it draws).
HISTORY = 64


@dataclass
class Line:
    """One event or alarm as the view lists it."""

    t: float
    kind: str
    severity: str
    message: str


@dataclass
class SafeState:
    why: str
    aborting: bool  # an abort (Ctrl-C, SIGTERM, interlock, lost instrument), not the end of a run
    done: int
    total: int | None
    failed: int


@dataclass
class MonitorRow:
    name: str
    channel: Channel | None
    low: float | None
    high: float | None
    tripped: str | None  # the violation, as recorded
    record: InterlockRecord | None = None  # the runner's latest summary of it: largest gap, late

    @property
    def level(self) -> str:
        if self.tripped:
            return "out"
        if self.channel is None:
            return "no reading"
        ch = self.channel
        return judge(ch.last, self.low, self.high, is_discrete(ch.last, self.low, self.high, ch.unit))


class RunView:
    """The live picture of one run. Call `poll()` to catch up with the store."""

    def __init__(self, feed: StoreFeed, run_id: int, clock: Clock | None = None, *,
                 bucket_s: float | None = None, keep_events: int = 200) -> None:
        self.feed = feed
        self.run_id = run_id
        self.clock = clock  # wall time, only to measure how fast a simulation runs
        self.bucket_s = bucket_s
        self.run: dict | None = None
        self.outline: outline_mod.Outline | None = None
        self.notes: list[str] = []
        self.phases: list[dict] = []
        self.channels: dict[int, Channel] = {}
        self.events: deque[Line] = deque(maxlen=keep_events)
        self.alarms: deque[Line] = deque(maxlen=keep_events)
        self.counts = {Verdict.PASS: 0, Verdict.FAIL: 0, Verdict.UNKNOWN: 0}
        self.tripped: dict[str, str] = {}
        self._failed = FailedSteps()
        self.interlocks: dict[str, InterlockRecord] | None = None  # None: no summary recorded (yet)
        self._left: tuple[float, float] | None = None  # (run clock, time left) last shown
        self.current: str | None = None
        self.safe: SafeState | None = None
        self.now_t: float | None = None
        self.progress = ProgressTracker()
        self._current_t = float("-inf")
        self._safe_steps: set[str] = set()
        self._safe_failed = 0
        self._ids = {"event": 0, "step": 0, "measurement": 0, "sample": 0}
        self._loaded = False
        self.version = 0  # grows whenever a poll brought anything new: unchanged frames need no redraw
        self._signature: tuple = ()
        self._pace: deque[tuple[float, float]] = deque(maxlen=64)  # (wall, run clock)

    # -- reading the store ----------------------------------------------------------------------
    def poll(self) -> bool:
        """Catch up with the store. Returns False when there is no such run (yet)."""
        with self.feed.snapshot():
            run = self.feed.run_row(self.run_id)
            if run is None:
                return False
            self.run = run
            self.phases = self.feed.phases(self.run_id)
            events = self.feed.events(self.run_id, since_id=self._ids["event"])
            steps = self.feed.steps_since(self.run_id, self._ids["step"])
            measurements = self.feed.measurements_since(self.run_id, self._ids["measurement"])
            self._read_samples()
        if not self._loaded:
            self._loaded = True
            self.outline, why = outline_mod.load(run)
            if why:
                self.notes.append(why)
            self._apply_limits(self.channels.values())
        self._take_events(events)
        self._take_steps(steps)
        self._take_measurements(measurements)
        self._advance_clock(run)
        signature = (tuple(self._ids.values()), run["state"], tuple(p["state"] for p in self.phases))
        if signature != self._signature:
            self._signature = signature
            self.version += 1
        return True

    @property
    def bucket_width(self) -> float:
        if self.bucket_s is None:
            every = ((self.run or {}).get("meta") or {}).get("telemetry_every") or 1.0
            self.bucket_s = 10.0 * float(every)  # ten samples a character: ~5 min in 30 characters
        return self.bucket_s

    def _read_samples(self) -> None:
        width = self.bucket_width
        if not self._loaded:
            # Attaching to a long run: load each channel's recent window (indexed by t), not the night.
            upto = self.feed.last_sample_id()
            rows: list[tuple] = []
            self._add_channels()
            for cid in self.channels:
                last = self.feed.last_t(cid)
                if last is not None:
                    rows += self.feed.buckets_window(cid, last - width * HISTORY, upto, width)
            self._ids["sample"] = upto
        else:
            rows = self.feed.buckets_since(self.run_id, self._ids["sample"], width)
            if any(r[0] not in self.channels for r in rows):
                self._apply_limits(self._add_channels())
        newest = self._ids["sample"]
        channels = self.channels
        for cid, bucket, sid, t, value in rows:
            channels[cid].add(bucket, sid, t, value)
            if sid > newest:
                newest = sid
        self._ids["sample"] = newest

    def _add_channels(self) -> list[Channel]:
        new = []
        for cid, name, unit in self.feed.channel_list(self.run_id):
            if cid not in self.channels:
                role, chip, metric = parse_channel(name)
                self.channels[cid] = ch = Channel(name, unit, role, chip, metric)
                new.append(ch)
        return new

    def _apply_limits(self, channels: Any) -> None:
        if self.outline is None:
            return
        for ch in channels:
            ch.low, ch.high = self.outline.limits_for(ch.name, ch.unit)

    def _take_events(self, events: list[dict]) -> None:
        for e in events:
            self._ids["event"] = e["id"]
            self._saw(e["t"])
            line = Line(e["t"], e["kind"], e["severity"], e["message"])
            if not (e["kind"] == "phase" and (e["data"] or {}).get("state") == PhaseState.PENDING):
                self.events.append(line)  # declaring the plan is not news: the phase list shows it
            if e["severity"] in _ALARM_SEVERITIES and e["kind"] != "run":
                self.alarms.append(line)
            if e["kind"] == interlock_summary.KIND:
                records = interlock_summary.latest([e])
                if records is not None:
                    self.interlocks = {r.name: r for r in records}
            if e["kind"] == "soak":
                self.progress.soak_started(e)
            elif e["kind"] == "safe_state" and self.safe is None:
                why = e["message"].split(": ", 1)[1] if ": " in e["message"] else e["message"]
                self.safe = SafeState(why, False, 0, self.outline.safe_steps if self.outline else None, 0)

    def _take_steps(self, steps: list[tuple]) -> None:
        for sid, path, kind, _t0, t1, outcome, message, attempt in steps:
            self._ids["step"] = sid
            self._failed.take(path, kind, outcome, attempt or 1)
            self._saw(t1)
            self.progress.step_recorded(path, kind)
            phase, _, label = path.partition("/")
            if phase == "safe_state":
                self._safe_step(label.split("/", 1)[0], outcome != StepOutcome.OK)
                label = label.split("/", 1)[1] if "/" in label else label
            self._now_doing(t1, f"{phase} › {kind} {label}" + ("" if outcome == StepOutcome.OK else f": {outcome}"))

    def _take_measurements(self, rows: list[tuple]) -> None:
        loops = self.outline.loops if self.outline else {}
        for mid, path, name, value, unit, low, high, verdict, t, coords, message in rows:
            self._ids["measurement"] = mid
            self._saw(t)
            data = verdict.endswith(" (data)")  # characterization: shown, never an alarm or a failure
            if not data:
                self.counts[verdict] = self.counts.get(verdict, 0) + 1
            coords_d = json.loads(coords) if coords else None
            phase = path.split("/", 1)[0]
            self.progress.measured(phase, coords_d, t, loops.get(phase, []))
            if path.startswith("safe_state/"):
                self._safe_step(path.split("/")[1], verdict != Verdict.PASS)
            if verdict != Verdict.PASS and not data:
                severity = Severity.ERROR if verdict == Verdict.FAIL else Severity.WARNING
                if path.startswith("monitors/"):  # the message names the interlock, value and limit
                    self.tripped[path[len("monitors/"):]] = message or f"{name} {verdict}"
                    self.alarms.append(Line(t, "interlock", severity, f"TRIP {message or name}"))
                else:
                    self.alarms.append(Line(t, "measurement", severity, f"{verdict} {path}: {message or name}"))
            where = "" if not coords_d else " (" + ", ".join(
                f"{k}={v}" for k, v in coords_d.items()) + ")"
            self._now_doing(t, f"{phase} › {name} = {reading(value, unit)} {verdict}{where}")

    def _now_doing(self, t: float, text: str) -> None:
        # steps and measurements are tailed separately: the latest by run clock is what it does now
        if t is not None and t >= self._current_t:
            self._current_t, self.current = t, text

    def _safe_step(self, index: str, failed: bool) -> None:
        if index not in self._safe_steps:
            self._safe_steps.add(index)
            self._safe_failed += failed
        if self.safe is not None:
            self.safe.done, self.safe.failed = len(self._safe_steps), self._safe_failed

    def _saw(self, t: float | None) -> None:
        if t is not None and (self.now_t is None or t > self.now_t):
            self.now_t = t

    def _advance_clock(self, run: dict) -> None:
        for ch in self.channels.values():
            self._saw(ch.last_t)
        self._saw(run["started_t"])
        if run["ended_t"] is not None:
            self.now_t = run["ended_t"]
        if self.safe is not None:
            self.safe.aborting = self.safe.why != "end of run" and (
                run["state"] == RunState.ABORTED or any(p["state"] == PhaseState.ABORTED for p in self.phases))
        if self.clock is not None and self.now_t is not None:
            self._pace.append((self.clock.now(), self.now_t))

    # -- what the view shows --------------------------------------------------------------------
    @property
    def finished(self) -> bool:
        return self.run is not None and self.run["state"] != RunState.RUNNING

    @property
    def interrupted(self) -> bool:
        return self.run is not None and self.run["state"] == RunState.INTERRUPTED

    @property
    def elapsed(self) -> float | None:
        if self.run is None or self.run["started_t"] is None or self.now_t is None:
            return None
        return self.now_t - self.run["started_t"]

    @property
    def running_phase(self) -> str | None:
        return next((p["phase_id"] for p in self.phases if p["state"] == PhaseState.RUNNING), None)

    def phase_duration(self, p: dict) -> float | None:
        if p["started_t"] is None:
            return None
        end = p["ended_t"] if p["ended_t"] is not None else (self.now_t if p["state"] == PhaseState.RUNNING else None)
        return None if end is None else end - p["started_t"]

    def long_steps(self) -> list[Progress]:
        if self.finished or self.now_t is None:
            return []
        return self.progress.current(self.running_phase, self.now_t)

    def remaining(self) -> float | None:
        """Run-clock seconds still to go, at least: the current phase's soaks and waits still to
        run (or its long step's ETA) plus those of the phases still to come.

        It never grows while the run advances: a sweep's pace could push the estimate up, and a
        "time left" that climbs is one nobody trusts. So each answer is at most the last one less
        the run time since, but never less than the waits and soaks still certainly to come."""
        if self.finished:
            return 0.0
        if self.safe is not None:
            return None  # on the way out: only the safe state is left
        left, certain = self._estimate_left(), self._estimate_left(with_etas=False)
        if left is None or self.now_t is None:
            return left
        if self._left is not None:
            t0, left0 = self._left
            left = max(certain or 0.0, min(left, left0 - (self.now_t - t0)))
        self._left = (self.now_t, left)
        return left

    def _estimate_left(self, with_etas: bool = True) -> float | None:
        etas = [p.eta for p in self.long_steps() if p.eta is not None] if with_etas else []
        states = {p["phase_id"]: p["state"] for p in self.phases}
        if self.outline is None:
            return max(etas) if etas else None
        left = self.outline.remaining(states)
        running = self.running_phase
        if running is not None:
            p = next(p for p in self.phases if p["phase_id"] == running)
            spent = self.phase_duration(p) or 0.0
            left += max(self.outline.estimates.get(running, 0.0) - spent, max(etas, default=0.0), 0.0)
        return left

    def speed(self) -> float | None:
        """Run clock per wall second: declared (`--speed`), real time (1), or measured when a
        simulation runs as fast as it can (None until measured)."""
        if self.run is None:
            return None
        if self.run["clock"] != "simulated":
            return 1.0
        declared = (self.run.get("meta") or {}).get("speed")
        if declared:
            return float(declared)
        return self.measured_speed()

    def measured_speed(self) -> float | None:
        if len(self._pace) < 2:
            return None
        (w0, t0), (w1, t1) = self._pace[0], self._pace[-1]
        return (t1 - t0) / (w1 - w0) if w1 - w0 >= 1.0 and t1 > t0 else None

    def metric_rows(self) -> list[MetricRow]:
        """Per-chip metrics folded across chips, known metrics first."""
        groups: dict[tuple[str, str], list[Channel]] = {}
        for ch in self.channels.values():
            if ch.chip is not None:
                groups.setdefault((ch.role or "", ch.metric), []).append(ch)
        order = list(METRICS)
        keys = sorted(groups, key=lambda k: (order.index(k[1]) if k[1] in order else len(order), k))
        return [fold(k[1], groups[k]) for k in keys]

    def other_channels(self) -> list[Channel]:
        """Channels that are neither per-chip nor an interlock's own reading."""
        return [ch for ch in self.channels.values() if ch.chip is None and not ch.name.startswith("monitor/")]

    def chips(self) -> list[int]:
        return sorted({ch.chip for ch in self.channels.values() if ch.chip is not None})

    def monitors(self) -> list[MonitorRow]:
        by_name = {ch.name[len("monitor/"):]: ch for ch in self.channels.values() if ch.name.startswith("monitor/")}
        names = list(self.outline.monitor_names) if self.outline else []
        names += [n for n in by_name if n not in names]
        rows = []
        for name in names:
            ch = by_name.get(name)
            rows.append(MonitorRow(name, ch, ch.low if ch else None, ch.high if ch else None, self.tripped.get(name),
                                   (self.interlocks or {}).get(name)))
        return rows

    def newest_bucket(self) -> int:
        return int((self.now_t or 0.0) // self.bucket_width)

    def summary(self) -> str | None:
        """One line for the end of a run, the same facts as `bringup run` prints."""
        if not self.finished or self.run is None:
            return None
        return summary_line(self.run, self.phases, self.counts, self.now_t, self.failed_steps)

    @property
    def failed_steps(self) -> int:
        return self._failed.count

    @property
    def failures(self) -> int:
        """FAIL measurements plus steps that failed without one, as `bringup run` counts them."""
        return self.counts.get(Verdict.FAIL, 0) + self.failed_steps

