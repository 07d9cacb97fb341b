"""The one writer of a results store: the runner hands records over, a thread commits them.

Why a thread: a measurement in the middle of a sweep must cost the runner a list append, not a
disk write. The runner's thread appends a tuple to a queue; the writer thread owns the SQLite
connection and commits whatever is queued every `batch_interval` (50 ms by default, so a crash
loses at most the last ~100 ms of telemetry). Records whose loss would change the story of a
run - the run itself, phase transitions, FAIL and UNKNOWN verdicts, its end - wake the writer
and the caller waits until they are committed (fsynced, with synchronous=FULL, unless the store
was opened with durable_sync="normal").

The batch cadence is wall time, deliberately not the run's clock: durability is about real
crashes, and in simulation the run's clock may be virtual.
"""

from __future__ import annotations

import atexit
import os
import sqlite3
import sys
import threading
import weakref
from collections import deque
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from bringup.store.batch import EVENT, MEASUREMENT, PHASE, RUN_BEGIN, RUN_END, SAMPLE, STEP, SYNC, BatchWriter, Ticket, real, text, to_json
from bringup.store.errors import StoreError
from bringup.store.liveness import host_name, start_token
from bringup.store.opening import open_for_writing
from bringup.store.records import Measurement
from bringup.store.states import FAIL, PASS, PHASE_STATES, PHASE_TERMINAL, RUN_END_STATES, SEVERITIES, STEP_OUTCOMES, UNKNOWN

_NOT_PASS = frozenset({FAIL, UNKNOWN})
_CLOSE_ATTEMPTS = 3


class _Closed:
    """Stands in for the set of open runs after close(): every write is refused."""

    def __contains__(self, run_id: object) -> bool:
        return False


_OPEN_STORES: "weakref.WeakSet[Store]" = weakref.WeakSet()


@atexit.register
def _close_open_stores() -> None:
    # The writer is a daemon thread (a runner that forgets close() must not hang the
    # interpreter's exit); this commits whatever it still holds before the process ends.
    for store in list(_OPEN_STORES):
        try:
            store.close()
        except StoreError as exc:
            sys.stderr.write(f"bringup: {exc}\n")


class Store:
    """The results store's only writer, owned by the runner's process. Thread-safe.

    Batched calls (step, PASS measurement, sample, non-durable event) append to a queue and
    return; durable calls (begin_run, phase, FAIL/UNKNOWN measurement, durable event, end_run)
    return once their record and everything handed over before it is committed.
    Writes for a run id this store did not begin raise ValueError.
    """

    def __init__(self, path: str | os.PathLike, *, batch_interval: float = 0.05,
                 max_pending: int = 200_000, durable_sync: str = "full") -> None:
        """Open or create the store at `path` (parent folders too), migrate it, start the writer.

        `batch_interval`: wall seconds between commits of batched records (keep it <= 0.1).
        `max_pending`: queued records beyond which callers wait for the writer to catch up, so a
        simulation producing faster than the disk can write does not exhaust memory.
        `durable_sync`: "full" fsyncs every durable commit, so phase boundaries and verdicts
        survive a host crash or power cut (what resuming a killed run relies on); "normal" makes
        them survive the process being killed only, at a third of the cost - enough for a
        simulated run, whose lab vanishes with the host anyway.
        """
        self.path = Path(path)
        self._interval = batch_interval
        self._max_pending = max_pending
        if durable_sync not in ("full", "normal"):
            raise ValueError(f"durable_sync must be 'full' or 'normal', not {durable_sync!r}")
        self._full_sync = durable_sync == "full"
        self._queue: deque[tuple] = deque()
        self._wake = threading.Event()
        self._drained = threading.Event()
        self._runs: Any = set()
        self._stopping = False
        self._closed = False
        self._close_lock = threading.Lock()
        # Held while a batch is drained and committed. A durable record is committed on the
        # caller's own thread under it: handing it to the writer thread and waking it costs
        # ~150 us on a busy 2-core machine, the caller's commit a fraction of that.
        self._commit_lock = threading.Lock()
        self._conn: sqlite3.Connection | None = None
        self._batch: BatchWriter | None = None
        self._lost = 0
        self.last_error: BaseException | None = None
        ready = Ticket()
        self._thread = threading.Thread(target=self._writer_main, args=(ready,),
                                        name=f"results-writer:{self.path.name}", daemon=True)
        self._thread.start()
        ready.done.wait()
        if ready.error is not None:
            self._thread.join()
            raise ready.error
        _OPEN_STORES.add(self)

    # -- the runner's calls ------------------------------------------------------------------

    def begin_run(self, *, procedure: str, version: str, procedure_path: str, procedure_sha256: str,
                  dut: str, station: str, parameters: dict, meta: dict, clock: str,
                  t: float | None = None) -> int:
        """Record a new run (state "running", this process's pid, wall start time); durable.

        `t` is the run clock at the start, if the runner knows it (for the run's duration).
        """
        pid = os.getpid()
        started_at = datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        fields = (text(procedure), text(version), text(procedure_path), text(procedure_sha256),
                  text(dut), text(station), to_json(parameters or {}), to_json(meta or {}), text(clock),
                  started_at, real(t), host_name(), pid, start_token(pid))
        ticket = Ticket()
        event_data = {"procedure": procedure, "version": version, "dut": dut, "station": station}
        self._put((RUN_BEGIN, ticket, fields, t, event_data))
        self._wake.set()
        run_id = ticket.wait(self._thread)
        self._runs.add(run_id)
        return run_id

    def phase(self, run_id: int, phase_id: str, *, state: str, t: float, verdict: str | None = None,
              reason: str | None = None, order: int | None = None) -> None:
        """Record a phase transition (durable upsert); also appended to the run's events.

        The first "running" sets the phase's started_t, a terminal state its ended_t. Declare
        every phase "pending" with its `order` at the start so views list phases never reached;
        a pending declaration is batched (nothing has happened yet) and is committed at the
        latest with the first real transition, which is durable.
        """
        self._check(run_id)
        if state not in PHASE_STATES:
            raise ValueError(f"phase state {state!r} is not one of {sorted(PHASE_STATES)}")
        self._put((PHASE, run_id, phase_id, state, t, verdict, reason, order))
        # How a phase ended decides what runs next (and where a resume starts): committed before
        # returning. Its start is batched: the queue keeps order, so no record of the phase can
        # reach the disk before the record that it started.
        if state in PHASE_TERMINAL:
            self._sync(durable=True)

    def step(self, run_id: int, path: str, kind: str, started_t: float, ended_t: float, outcome: str,
             message: str | None = None, attempt: int = 1, step_id: str | None = None,
             phase_attempt: int = 1) -> None:
        """Record a finished step (batched). `step_id`: the plan step it ran; `phase_attempt`: which
        run of its phase (see records.py)."""
        if run_id not in self._runs:
            self._reject(run_id)
        if outcome not in STEP_OUTCOMES:
            raise ValueError(f"step outcome {outcome!r} is not one of {sorted(STEP_OUTCOMES)}")
        self._queue.append((STEP, run_id, path, kind, started_t, ended_t, outcome, message, attempt, step_id,
                            phase_attempt))
        if len(self._queue) > self._max_pending:
            self._wait_for_room()

    def measurement(self, m: Measurement) -> None:
        """Record a measurement. PASS is batched; FAIL and UNKNOWN are committed before returning.

        `m.coords` is copied (one level) at once, so a sweep may reuse its dict. A NaN value is
        stored as NULL (no reading). `m.gate=False` marks characterization data (a shmoo point):
        judged and kept, batched like a PASS, never counted as a failure.
        """
        if m.run_id not in self._runs:
            self._reject(m.run_id)
        verdict = m.verdict
        if verdict != PASS and verdict not in _NOT_PASS:
            raise ValueError(f"verdict {verdict!r} is not PASS, FAIL or UNKNOWN")
        self._queue.append((MEASUREMENT, m, dict(m.coords) if m.coords else None))
        if verdict != PASS and m.gate:
            self._sync(durable=True)
        elif len(self._queue) > self._max_pending:
            self._wait_for_room()

    def sample(self, run_id: int, channel: str, t: float, value: float, unit: str = "") -> None:
        """Record one telemetry sample (batched)."""
        if run_id not in self._runs:
            self._reject(run_id)
        self._queue.append((SAMPLE, run_id, channel, t, value, unit))
        if len(self._queue) > self._max_pending:
            self._wait_for_room()

    def event(self, run_id: int, t: float, kind: str, message: str, *, severity: str = "info",
              data: dict | None = None, durable: bool = False, step_id: str | None = None,
              attempt: int | None = None) -> None:
        """Record an event (batched unless `durable`): monitor trips, safe state, operator notes.
        `step_id` / `attempt`: the plan step (and its try) the event is about, if any."""
        if run_id not in self._runs:
            self._reject(run_id)
        if severity not in SEVERITIES:
            raise ValueError(f"event severity {severity!r} is not one of {sorted(SEVERITIES)}")
        self._put((EVENT, run_id, t, kind, message, severity, dict(data) if data else None, step_id, attempt))
        if durable:
            self._sync(durable=True)

    def end_run(self, run_id: int, *, state: str, verdict: str, exit_code: int, t: float,
                reason: str | None = None) -> None:
        """Record how the run ended (durable)."""
        self._check(run_id)
        if state not in RUN_END_STATES:
            raise ValueError(f"run end state {state!r} is not one of {sorted(RUN_END_STATES)}")
        self._put((RUN_END, run_id, state, verdict, exit_code, t, reason))
        self._sync(durable=True)

    def flush(self) -> None:
        """Block until everything handed over so far is committed."""
        if self._closed:
            return
        self._sync(durable=False)

    def close(self) -> None:
        """Commit what is queued, stop the writer and close the file. Idempotent.

        Raises StoreError if records could not be written (they are reported, not retried).
        """
        with self._close_lock:
            if self._closed:
                return
            self._closed = True
            self._runs = _Closed()
            self._stopping = True
            self._wake.set()
            self._thread.join()
            _OPEN_STORES.discard(self)
        if self._lost:
            raise StoreError(f"{self._lost} records could not be written to {self.path}: "
                             f"{self.last_error}")

    def __enter__(self) -> "Store":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- plumbing on the caller's side ---------------------------------------------------------

    def _put(self, item: tuple) -> None:
        self._queue.append(item)
        if len(self._queue) > self._max_pending:
            self._wait_for_room()

    def _check(self, run_id: int) -> None:
        if run_id not in self._runs:
            self._reject(run_id)

    def _reject(self, run_id: object) -> None:
        if self._closed:
            raise StoreError(f"the results store {self.path} is closed; nothing more can be recorded")
        raise ValueError(f"run {run_id!r} was not begun by this store (call begin_run first)")

    def _sync(self, durable: bool) -> None:
        """Commit everything handed over so far, on this thread, before returning."""
        if self._closed:
            raise StoreError(f"the results store {self.path} is closed; nothing more can be recorded")
        ticket = Ticket()
        if self._conn is None or threading.current_thread() is self._thread:
            self._queue.append((SYNC, ticket, durable))
            self._wake.set()
            ticket.wait(self._thread)
            return
        with self._commit_lock:
            items = [self._queue.popleft() for _ in range(len(self._queue))]
            items.append((SYNC, ticket, durable))
            retry = self._commit(self._conn, self._batch, items)
            if retry:  # not committed: hand the records back, first in line, for the writer to retry
                self._queue.extendleft(reversed(retry))
        ticket.wait(self._thread)

    def _wait_for_room(self) -> None:
        self._wake.set()
        while len(self._queue) > self._max_pending // 2 and self._thread.is_alive():
            self._drained.wait(0.1)
            self._drained.clear()
        if not self._thread.is_alive():
            raise StoreError(f"the results store's writer has stopped ({self.last_error}); "
                             f"{len(self._queue)} records for {self.path} are not being recorded")

    # -- the writer thread ---------------------------------------------------------------------

    def _writer_main(self, ready: Ticket) -> None:
        try:
            conn = open_for_writing(self.path)
        except BaseException as exc:  # handed to __init__, which raises it
            ready.fail(exc)
            return
        writer = BatchWriter(conn)
        self._conn, self._batch = conn, writer
        ready.set()
        retry: list[tuple] = []
        attempts_left = _CLOSE_ATTEMPTS
        try:
            while True:
                self._wake.wait(self._interval)
                self._wake.clear()
                stopping = self._stopping
                with self._commit_lock:
                    items = retry + [self._queue.popleft() for _ in range(len(self._queue))]
                    self._drained.set()
                    retry = self._commit(conn, writer, items) if items else []
                if stopping and not self._queue:
                    if not retry:
                        break
                    attempts_left -= 1
                    if attempts_left == 0:
                        self._lost = len(retry)
                        break
        finally:
            with self._commit_lock:
                self._conn = None  # callers fall back to the (stopped) writer and are told so
                leftovers = retry + list(self._queue)
                for item in leftovers:
                    if item[0] in (SYNC, RUN_BEGIN):
                        item[1].fail(self.last_error or StoreError("the store was closed"))
                conn.close()

    def _commit(self, conn: sqlite3.Connection, writer: BatchWriter, items: list[tuple]) -> list[tuple]:
        """Commit `items` in one transaction; on failure return the records to try again."""
        fsync = self._full_sync and any(item[0] == RUN_BEGIN or (item[0] == SYNC and item[2])
                                          for item in items)
        try:
            if fsync:
                # Switched outside the transaction: SQLite refuses it inside one.
                conn.execute("PRAGMA synchronous = FULL")
            conn.execute("BEGIN IMMEDIATE")
            settle = writer.write(items)
            conn.execute("COMMIT")
        except Exception as exc:  # disk full, I/O error, locked by another writer for too long
            try:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
            except sqlite3.Error:
                pass
            writer.rolled_back()
            self.last_error = exc
            for item in items:
                if item[0] in (SYNC, RUN_BEGIN):
                    item[1].fail(exc)
            # Keep the records (not the waiters, who have been told) for the next attempt.
            return [item for item in items if item[0] not in (SYNC, RUN_BEGIN)]
        finally:
            if fsync:
                try:
                    conn.execute("PRAGMA synchronous = NORMAL")
                except sqlite3.Error:
                    pass
        writer.committed()
        for ticket, result in settle:
            ticket.set(result)
        return []
