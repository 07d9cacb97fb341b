"""`bringup watch` into a pipe or a file: plain, timestamped lines, no escape codes, a summary.

The same lines a person scanning a CI log expects from `bringup run` (phase transitions, every
measurement that did not pass, warnings and errors, the safe state), but read from the store,
so they can be written by another process, late, or for a run that has already ended.
Timestamps are the run clock since the run started, as in `bringup run`'s own log.
"""

from __future__ import annotations

from typing import TextIO

from bringup.core.states import PhaseState, RunState, Severity, Verdict
from bringup.core.timefmt import run_time
from bringup.dashboard.feed import StoreFeed
from bringup.dashboard.summary import FailedSteps, summary_line


class PlainFollow:
    """Tails a run's events and non-passing measurements as lines; `poll()` until it returns True."""

    def __init__(self, feed: StoreFeed, run_id: int, out: TextIO) -> None:
        self.feed, self.run_id, self.out = feed, run_id, out
        self.counts = {Verdict.PASS: 0, Verdict.FAIL: 0, Verdict.UNKNOWN: 0}
        self._event_id = 0
        self._measurement_id = 0
        self._step_id = 0
        self._failed = FailedSteps()
        self._start = 0.0
        self._now: float | None = None
        self.done = False

    def poll(self) -> bool:
        """Print what was committed since the last poll. True once the run has ended (summary printed)."""
        if self.done:
            return True
        with self.feed.snapshot():
            run = self.feed.run_row(self.run_id)
            if run is None:
                return False
            events = self.feed.events(self.run_id, since_id=self._event_id)
            rows = self.feed.measurements_since(self.run_id, self._measurement_id)
            steps = self.feed.steps_since(self.run_id, self._step_id)
            phases = self.feed.phases(self.run_id) if run["state"] != RunState.RUNNING else []
        self._start = run["started_t"] or 0.0
        items: list[tuple[float, int, str]] = []
        for e in events:
            self._event_id = e["id"]
            text = self._event_text(e, run)
            if text is not None:
                items.append((e["t"], len(items), text))
        for mid, path, name, _v, _u, _lo, _hi, verdict, t, _c, message in rows:
            self._measurement_id = mid
            self.counts[verdict] = self.counts.get(verdict, 0) + 1
            if verdict != Verdict.PASS:
                items.append((t, len(items), f"{verdict} {path}: {message or name}"))
        for sid, path, kind, _t0, _t1, outcome, _message, attempt in steps:
            self._step_id = sid
            self._failed.take(path, kind, outcome, attempt or 1)
        for t, _, text in sorted(items):
            self._line(t, text)
            self._now = t if self._now is None else max(self._now, t)
        if run["state"] != RunState.RUNNING:
            self._line(run["ended_t"] if run["ended_t"] is not None else (self._now or self._start),
                       summary_line(run, phases, self.counts, self._now, self._failed.count))
            self.done = True
        self.out.flush()
        return self.done

    def _line(self, t: float, text: str) -> None:
        text = text.replace("\r", "\\r").replace("\n", "\\n")
        self.out.write(f"[{run_time(t, self._start)}] {text}\n")

    @staticmethod
    def _event_text(e: dict, run: dict) -> str | None:
        kind, severity, data = e["kind"], e["severity"], e["data"] or {}
        if kind == "run":
            if e["message"] == "run started":
                return (f"run {run['id']}: {run['procedure']} v{run['version']} on DUT {run['dut']} "
                        f"at station {run['station']}")
            return None  # the end: the summary says it
        if kind == "phase":
            if data.get("state") == PhaseState.PENDING:
                return None
            reason = f" ({data['reason']})" if data.get("reason") else ""
            return f"phase {data.get('phase')}: {data.get('state')}{reason}"
        if severity in (Severity.WARNING, Severity.ERROR, Severity.CRITICAL):
            return f"{severity.upper()}: {e['message']}"
        if severity == Severity.DEBUG:
            return None
        return e["message"]
