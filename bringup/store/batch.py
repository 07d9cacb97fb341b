"""What the writer thread does with a batch of queued records.

The runner's thread only appends tuples to a queue; every conversion (floats, JSON, text that
SQLite can bind) happens here, on the writer thread, so a measurement costs the runner almost
nothing. Conversions never raise: one odd value must not cost the rest of its batch.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from typing import Any

from bringup.store.errors import StoreError
from bringup.store.states import PHASE_TERMINAL, PhaseState, RunState, Severity

# First element of every queued tuple.
RUN_BEGIN, PHASE, STEP, MEASUREMENT, SAMPLE, EVENT, RUN_END, SYNC = range(8)


class Ticket:
    """A caller waiting for its records to be committed (and, for begin_run, for the run id)."""

    __slots__ = ("done", "result", "error")

    def __init__(self) -> None:
        self.done = threading.Event()
        self.result: Any = None
        self.error: BaseException | None = None

    def set(self, result: Any = None) -> None:
        self.result = result
        self.done.set()

    def fail(self, error: BaseException) -> None:
        self.error = error
        self.done.set()

    def wait(self, writer: threading.Thread) -> Any:
        # Poll the writer's liveness so a caller never hangs on a writer that has died.
        while not self.done.wait(0.5):
            if not writer.is_alive() and not self.done.is_set():
                raise StoreError("the results store's writer thread has stopped; results from here "
                                 "on are not being recorded")
        if self.error is not None:
            raise StoreError(f"could not commit results: {self.error}") from self.error
        return self.result


def text(s: Any) -> str:
    """A string SQLite can bind: lone surrogates (from odd file names) become escapes."""
    if type(s) is not str:
        s = str(s)
    if s.isascii():
        return s
    try:
        s.encode("utf-8")
        return s
    except UnicodeEncodeError:
        return s.encode("utf-8", "backslashreplace").decode("utf-8")


def opt_text(s: Any) -> str | None:
    return None if s is None else text(s)


def real(x: Any) -> float | None:
    if x is None or type(x) is float:
        return x
    try:
        return float(x)
    except (TypeError, ValueError, OverflowError):
        return None


def _plain(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {str(k): _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple, set, frozenset)):
        return [_plain(v) for v in obj]
    return obj


# One encoder for the life of the process: json.dumps with options builds a new one per call,
# which doubles the writer's cost per measurement with sweep coordinates.
_ENCODER = json.JSONEncoder(ensure_ascii=False, default=str)


def to_json(obj: Any) -> str | None:
    """JSON for a dict column. Types JSON lacks (quantities, paths) are stored as their str()."""
    if obj is None:
        return None
    try:
        s = _ENCODER.encode(obj)
    except (TypeError, ValueError):  # keys JSON cannot take (tuples, ...), circular data
        s = _ENCODER.encode(_plain(obj))
    return text(s)


_INSERT_RUN = """INSERT INTO runs (procedure, version, procedure_path, procedure_sha256, dut, station,
    parameters, meta, clock, started_at, started_t, host, pid, pid_start, state)
    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'running')"""

# A phase row is an upsert keyed by (run, phase id): the first "running" sets started_t, a
# terminal state sets ended_t, and declaring phases "pending" up front fixes their order.
_UPSERT_PHASE = f"""INSERT INTO phases (run_id, phase_id, ord, state, verdict, reason, started_t, ended_t)
    VALUES (:run, :phase, COALESCE(:ord, (SELECT count(*) FROM phases WHERE run_id = :run)), :state,
            :verdict, :reason,
            CASE WHEN :state = 'running' THEN :t END,
            CASE WHEN :state IN ({", ".join(repr(s) for s in sorted(PHASE_TERMINAL))}) THEN :t END)
    ON CONFLICT (run_id, phase_id) DO UPDATE SET
        state = excluded.state,
        ord = COALESCE(:ord, ord),
        verdict = CASE WHEN excluded.state = 'running' THEN NULL
                       ELSE COALESCE(excluded.verdict, verdict) END,
        reason = CASE WHEN excluded.state = 'running' THEN NULL
                      ELSE COALESCE(excluded.reason, reason) END,
        started_t = COALESCE(started_t, excluded.started_t),
        ended_t = CASE WHEN excluded.state = 'running' THEN NULL
                       ELSE COALESCE(excluded.ended_t, ended_t) END"""

_INSERT_STEP = """INSERT INTO steps (run_id, path, kind, started_t, ended_t, outcome, message, attempt, step_id,
    phase_attempt) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"""

_INSERT_MEASUREMENT = """INSERT INTO measurements (run_id, path, name, value, unit, low, high, verdict,
    t, coords, instrument, dut, message, gate, step_id, attempt, phase_attempt)
    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"""

_INSERT_SAMPLE = "INSERT INTO samples (channel_id, t, value) VALUES (?, ?, ?)"

_INSERT_EVENT = """INSERT INTO events (run_id, t, kind, severity, message, data, step_id, attempt)
    VALUES (?, ?, ?, ?, ?, ?, ?, ?)"""

_END_RUN = "UPDATE runs SET state = ?, verdict = ?, exit_code = ?, ended_t = ?, reason = ? WHERE id = ?"

_PHASE_SEVERITY = {PhaseState.FAILED: Severity.ERROR, PhaseState.ABORTED: Severity.WARNING}


def _measurement_row(item: tuple) -> tuple:
    _, m, coords = item
    run, path, name, value, unit, low, high, t, message = (m.run_id, m.path, m.name, m.value, m.unit, m.low, m.high,
                                                           m.t, m.message)
    stored = value if type(value) is float else real(value)
    if stored is None and value is not None:
        # Keep the evidence of a reading that was not a number rather than silently dropping it.
        note = f"unstorable value {value!r}"
        message = note if message is None else f"{message}; {note}"
    # The common case (plain str and float) skips the conversions: this runs once per measurement.
    return (run, path if type(path) is str and path.isascii() else text(path),
            name if type(name) is str and name.isascii() else text(name), stored,
            unit if type(unit) is str and unit.isascii() else text(unit),
            low if low is None or type(low) is float else real(low),
            high if high is None or type(high) is float else real(high), m.verdict,
            t if type(t) is float else real(t), None if coords is None else to_json(coords),
            opt_text(m.instrument), opt_text(m.dut), opt_text(message), 1 if m.gate else 0, opt_text(m.step_id),
            int(m.attempt), int(m.phase_attempt))


class BatchWriter:
    """Writes batches on the writer thread's connection. Not thread-safe: the writer owns it."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        self._channels: dict[tuple[int, str, str], int] = {}
        self._pending_channels: dict[tuple[int, str, str], int] = {}

    def write(self, items: list[tuple]) -> list[tuple[Ticket, Any]]:
        """Insert `items` in the current transaction; returns (ticket, result) to settle on commit.

        Rows go per table in the order they were handed over, so each table's ids follow the
        runner's order; the whole batch becomes visible to readers at once on commit.
        """
        conn = self.conn
        settle: list[tuple[Ticket, Any]] = []
        phases, steps, measurements, samples, events, ends = [], [], [], [], [], []
        new_channels: dict[tuple[int, str, str], int] = {}
        for item in items:
            op = item[0]
            if op == SAMPLE:
                _, run, channel, t, value, unit = item
                key = (run, text(channel), text(unit))
                cid = self._channels.get(key) or new_channels.get(key)
                if cid is None:
                    cid = self._channel_id(key)
                    new_channels[key] = cid
                samples.append((cid, t if type(t) is float else real(t),
                                value if type(value) is float else real(value)))
            elif op == MEASUREMENT:
                measurements.append(_measurement_row(item))
            elif op == STEP:
                _, run, path, kind, t0, t1, outcome, message, attempt, step_id, phase_attempt = item
                steps.append((run, text(path), text(kind), real(t0), real(t1), text(outcome),
                              opt_text(message), int(attempt), opt_text(step_id), int(phase_attempt)))
            elif op == EVENT:
                _, run, t, kind, message, severity, data, step_id, attempt = item
                events.append((run, real(t), text(kind), text(severity), text(message), to_json(data),
                               opt_text(step_id), None if attempt is None else int(attempt)))
            elif op == PHASE:
                _, run, phase, state, t, verdict, reason, order = item
                phases.append({"run": run, "phase": text(phase), "ord": order, "state": state,
                               "verdict": opt_text(verdict), "reason": opt_text(reason), "t": real(t)})
                message = f"phase {phase} {state}" + (f": {reason}" if reason else "")
                data = {"phase": phase, "state": state, "verdict": verdict, "reason": reason,
                        "order": order}
                events.append((run, real(t), "phase", _PHASE_SEVERITY.get(state, "info"),
                               text(message), to_json(data), None, None))
            elif op == RUN_BEGIN:
                # Inserted at once: the run id is the result the caller is waiting for.
                _, ticket, fields, t, event_data = item
                cur = conn.execute(_INSERT_RUN, fields)
                run = cur.lastrowid
                conn.execute(_INSERT_EVENT, (run, real(t) or 0.0, "run", "info", "run started",
                                             to_json(event_data), None, None))
                settle.append((ticket, run))
            elif op == RUN_END:
                _, run, state, verdict, exit_code, t, reason = item
                ends.append((state, text(verdict), int(exit_code), real(t), opt_text(reason), run))
                message = f"run {state}, verdict {verdict}" + (f": {reason}" if reason else "")
                events.append((run, real(t), "run", Severity.INFO if state == RunState.PASSED else Severity.WARNING,
                               text(message), to_json({"state": state, "verdict": verdict,
                                                       "exit_code": exit_code, "reason": reason}), None, None))
            elif op == SYNC:
                settle.append((item[1], None))
        if phases:
            conn.executemany(_UPSERT_PHASE, phases)
        if steps:
            conn.executemany(_INSERT_STEP, steps)
        if measurements:
            conn.executemany(_INSERT_MEASUREMENT, measurements)
        if samples:
            conn.executemany(_INSERT_SAMPLE, samples)
        if events:
            conn.executemany(_INSERT_EVENT, events)
        if ends:
            conn.executemany(_END_RUN, ends)
        self._pending_channels = new_channels
        return settle

    def committed(self) -> None:
        """The batch is on disk: channel ids created in it are now safe to reuse."""
        self._channels.update(self._pending_channels)
        self._pending_channels = {}

    def rolled_back(self) -> None:
        self._pending_channels = {}

    def _channel_id(self, key: tuple[int, str, str]) -> int:
        self.conn.execute("INSERT OR IGNORE INTO channels (run_id, name, unit) VALUES (?, ?, ?)", key)
        return self.conn.execute("SELECT id FROM channels WHERE run_id = ? AND name = ? AND unit = ?",
                                 key).fetchone()[0]
