"""Reading a results store: for reports, exports, a dashboard or `watch` in another process.

Readers open the file read-only and never block the writer (SQLite WAL): any number of them may
follow a run while it is being written. Each call sees the latest committed state; wrap several
calls in `snapshot()` to see one consistent moment (an export does).
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import threading
from pathlib import Path
from typing import Any, Iterator

from bringup.store.errors import NotAStore, StoreMissing
from bringup.store.liveness import writer_alive
from bringup.store.schema import check_ours
from bringup.store.states import RunState

_RUN_COLUMNS = """r.id, r.procedure, r.version, r.procedure_path, r.procedure_sha256, r.dut, r.station,
    r.parameters, r.meta, r.clock, r.started_at, r.started_t, r.host, r.pid, r.pid_start, r.state,
    r.verdict, r.exit_code, r.ended_t, r.reason, r.resumed_from"""

_COUNTS = """(SELECT count(*) FROM measurements m WHERE m.run_id = r.id AND m.verdict = 'PASS') AS n_pass,
    (SELECT count(*) FROM measurements m WHERE m.run_id = r.id AND m.verdict = 'FAIL' AND m.gate = 1) AS n_fail,
    (SELECT count(*) FROM measurements m WHERE m.run_id = r.id AND m.verdict = 'UNKNOWN' AND m.gate = 1) AS n_unknown"""


def _loads(s: str | None) -> Any:
    return None if s is None else json.loads(s)


class StoreReader:
    """Read-only access to a results store; cheap to create, safe to use from several threads."""

    def __init__(self, path: str | os.PathLike) -> None:
        """Open the store at `path` read-only. Raises StoreMissing if there is no such file."""
        self.path = Path(path)
        if not self.path.is_file():
            raise StoreMissing(f"no results store at {self.path}; run a procedure first, or pass "
                               f"--store (or set BRINGUP_STORE) to where its results are")
        self._lock = threading.RLock()
        try:
            self._conn = self._open(immutable=False)
        except NotAStore as exc:
            if not isinstance(exc.__cause__, sqlite3.OperationalError):
                raise
            # A store in a folder we may not write to (an archived copy) cannot get the -shm
            # file WAL readers need; nobody can be writing there either, so read it as immutable.
            self._conn = self._open(immutable=True)
        self._ready = False
        self._version: int | None = None

    def _open(self, immutable: bool) -> sqlite3.Connection:
        uri = f"{self.path.resolve().as_uri()}?mode=ro" + ("&immutable=1" if immutable else "")
        try:
            conn = sqlite3.connect(uri, uri=True, isolation_level=None, check_same_thread=False,
                                   timeout=10.0)
        except sqlite3.Error as exc:
            raise StoreMissing(f"cannot open results store {self.path}: {exc}") from exc
        conn.row_factory = sqlite3.Row
        try:
            check_ours(conn, self.path)
        except BaseException:
            conn.close()
            raise
        return conn

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> "StoreReader":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextlib.contextmanager
    def snapshot(self) -> Iterator["StoreReader"]:
        """All reads inside see the store as of one moment, while the run goes on writing."""
        with self._lock:
            self._conn.execute("BEGIN")
            try:
                yield self
            finally:
                self._conn.execute("COMMIT")

    # -- runs ----------------------------------------------------------------------------------

    def runs(self, limit: int = 50) -> list[dict]:
        """The newest `limit` runs, newest first, with measurement counts per verdict."""
        rows = self._query(f"SELECT {_RUN_COLUMNS}, {_COUNTS} FROM runs r ORDER BY r.id DESC LIMIT ?",
                           (limit,))
        return [self._run_dict(row) for row in rows]

    def run(self, run_id: int) -> dict | None:
        """One run with its counts, or None if there is no such run."""
        rows = self._query(f"SELECT {_RUN_COLUMNS}, {_COUNTS} FROM runs r WHERE r.id = ?", (run_id,))
        return self._run_dict(rows[0]) if rows else None

    def latest_run_id(self) -> int | None:
        rows = self._query("SELECT max(id) FROM runs")
        return rows[0][0] if rows else None

    # -- what a run recorded -------------------------------------------------------------------

    def phases(self, run_id: int) -> list[dict]:
        """Phases in their declared order (then in the order first seen)."""
        return self._dicts("""SELECT id, phase_id, ord AS "order", state, verdict, reason, started_t,
                ended_t FROM phases WHERE run_id = ? ORDER BY ord, id""", (run_id,))

    def steps(self, run_id: int) -> list[dict]:
        """Finished steps in the order recorded, each with its plan `step_id` (None in old stores)."""
        return self._dicts(f"""SELECT id, path, kind, started_t, ended_t, outcome, message, attempt,
                {self._since_v3("step_id")}, {self._since_v3("phase_attempt", "1")}
                FROM steps WHERE run_id = ? ORDER BY id""", (run_id,))

    def measurements(self, run_id: int, verdicts: set[str] | None = None, gates_only: bool = False) -> list[dict]:
        """Measurements in the order taken, optionally only those with the given verdicts, or only
        gates (not characterization data such as shmoo points; `gate` says which each row is)."""
        sql = f"""SELECT id, path, name, value, unit, low, high, verdict, t, coords, instrument, dut,
                message, gate, {self._since_v3("step_id")}, {self._since_v3("attempt", "1")},
                {self._since_v3("phase_attempt", "1")}
                FROM measurements WHERE run_id = ?"""
        args: list[Any] = [run_id]
        if gates_only:
            sql += " AND gate = 1"
        if verdicts is not None:
            chosen = sorted(verdicts)
            sql += f" AND verdict IN ({', '.join('?' * len(chosen))})"
            args += chosen
        rows = self._dicts(sql + " ORDER BY id", args)
        for row in rows:
            row["coords"] = _loads(row["coords"])
        return rows

    def verdict_counts(self, run_id: int) -> dict[str, int]:
        """Verdicts of the gating measurements (characterization data is not pass/fail of the run)."""
        rows = self._query("SELECT verdict, count(*) FROM measurements WHERE run_id = ? AND gate = 1 "
                           "GROUP BY verdict", (run_id,))
        return {verdict: n for verdict, n in rows}

    def outcome_counts(self, run_id: int) -> dict[str, int]:
        rows = self._query("SELECT outcome, count(*) FROM steps WHERE run_id = ? GROUP BY outcome",
                           (run_id,))
        return {outcome: n for outcome, n in rows}

    def events(self, run_id: int, since_id: int = 0, limit: int | None = None, kind: str | None = None) -> list[dict]:
        """Events with id > `since_id`, oldest first: poll with the last id seen to follow a run.
        `kind`: only events of that kind (e.g. "interlocks", "ground_truth")."""
        sql = (f"SELECT id, t, kind, severity, message, data, {self._since_v3('step_id')}, "
               f"{self._since_v3('attempt')} FROM events WHERE run_id = ? AND id > ?")
        args: list[Any] = [run_id, since_id]
        if kind is not None:
            sql += " AND kind = ?"
            args.append(kind)
        sql += " ORDER BY id"
        if limit is not None:
            sql += " LIMIT ?"
            args.append(limit)
        rows = self._dicts(sql, args)
        for row in rows:
            row["data"] = _loads(row["data"])
        return rows

    def samples(self, run_id: int, channel: str | None = None, since_t: float | None = None,
                since_id: int = 0) -> list[dict]:
        """Telemetry samples in the order handed over (by id), optionally of one channel only."""
        # A tail (since_id > 0) reads only the newest rows by rowid; left to itself the planner walks
        # the channel index through every sample of the night on every poll.
        hint = " NOT INDEXED" if since_id > 0 else ""
        sql = f"""SELECT s.id, c.name AS channel, s.t, s.value, c.unit FROM samples s{hint}
                 JOIN channels c ON c.id = s.channel_id WHERE c.run_id = ? AND s.id > ?"""
        args: list[Any] = [run_id, since_id]
        if channel is not None:
            sql += " AND c.name = ?"
            args.append(channel)
        if since_t is not None:
            sql += " AND s.t >= ?"
            args.append(since_t)
        return self._dicts(sql + " ORDER BY s.id", args)

    def channel_extremes(self, run_id: int, names: list[str]) -> dict[str, dict]:
        """For each named telemetry channel that has samples: its `max` (and `max_t`, when it was
        first reached), its `min` and how many readings (`n`). One indexed pass per channel."""
        out: dict[str, dict] = {}
        for row in self._query("SELECT id, name FROM channels WHERE run_id = ?", (run_id,)):
            if row["name"] not in names:
                continue
            agg = self._query("SELECT max(value), min(value), count(value) FROM samples WHERE channel_id = ?",
                              (row["id"],))[0]
            if not agg[2]:
                continue
            at = self._query("SELECT min(t) FROM samples WHERE channel_id = ? AND value = ?", (row["id"], agg[0]))
            out[row["name"]] = {"max": agg[0], "max_t": at[0][0], "min": agg[1], "n": agg[2]}
        return out

    def channels(self, run_id: int) -> list[dict]:
        """Telemetry channels of a run with the time span they cover."""
        return self._dicts("""SELECT c.name, c.unit,
                (SELECT min(t) FROM samples s WHERE s.channel_id = c.id) AS first_t,
                (SELECT max(t) FROM samples s WHERE s.channel_id = c.id) AS last_t
                FROM channels c WHERE c.run_id = ? ORDER BY c.id""", (run_id,))

    # -- plumbing ------------------------------------------------------------------------------

    def _since_v3(self, column: str, old: str = "NULL") -> str:
        """A column schema v3 added, or what it means in a store written before (readers do not
        migrate: an archived store opens read-only and reports as it is)."""
        if self._version is None or self._version < 3:  # a store still being created may migrate on
            with self._lock:
                self._version = check_ours(self._conn, self.path)
        return column if self._version >= 3 else f"{old} AS {column}"

    def _run_dict(self, row: sqlite3.Row) -> dict:
        run = dict(row)
        run["parameters"] = _loads(run["parameters"])
        run["meta"] = _loads(run["meta"])
        if run["state"] == RunState.RUNNING and not writer_alive(run["host"], run["pid"], run["pid_start"]):
            run["state"] = RunState.INTERRUPTED
        started, ended = run["started_t"], run["ended_t"]
        run["duration"] = ended - started if started is not None and ended is not None else None
        return run

    def _dicts(self, sql: str, args: Any = ()) -> list[dict]:
        return [dict(row) for row in self._query(sql, args)]

    def _query(self, sql: str, args: Any = ()) -> list[sqlite3.Row]:
        with self._lock:
            if not self._ready:
                # A store just created by a writer that has not finished its first migration
                # reads as empty rather than failing.
                if check_ours(self._conn, self.path) == 0:
                    return []
                self._ready = True
            try:
                return self._conn.execute(sql, args).fetchall()
            except sqlite3.DatabaseError as exc:
                raise NotAStore(f"cannot read results store {self.path}: {exc}") from exc
