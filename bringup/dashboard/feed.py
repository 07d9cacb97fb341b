"""The few reads a live view makes that `StoreReader` does not offer: cheap "since id N" tails.

A view polls four times a second for a whole night. `StoreReader.run()` counts every
measurement of the run and `measurements()` returns them all, each poll; here the run row is
read without counts and measurements and steps are tailed by id like events. Telemetry is
tailed already folded into time buckets by SQLite (the last sample of each channel in each
bucket), so a store taking 20 000 samples a second costs the view a few dozen rows a poll,
not thousands of Python objects.

These use only the store's documented schema (docs/results.md) through the reader's
connection; they belong in `StoreReader` and can move there unchanged.
"""

from __future__ import annotations

import json

from bringup.store import StoreReader
from bringup.store.liveness import writer_alive
from bringup.core.states import RunState

_RUN = """SELECT id, procedure, version, procedure_path, procedure_sha256, dut, station, parameters, meta,
    clock, started_at, started_t, host, pid, pid_start, state, verdict, exit_code, ended_t, reason
    FROM runs WHERE id = ?"""


class StoreFeed(StoreReader):
    """A StoreReader with the incremental reads a dashboard or `bringup watch` needs."""

    def run_row(self, run_id: int) -> dict | None:
        """The run without its measurement counts (the view keeps its own), or None."""
        rows = self._query(_RUN, (run_id,))
        if not rows:
            return None
        run = dict(rows[0])
        run["parameters"] = json.loads(run["parameters"])
        run["meta"] = json.loads(run["meta"])
        if run["state"] == RunState.RUNNING and not writer_alive(run["host"], run["pid"], run["pid_start"]):
            run["state"] = RunState.INTERRUPTED
        return run

    def measurements_since(self, run_id: int, since_id: int) -> list[tuple]:
        """(id, path, name, value, unit, low, high, verdict, t, coords-json, message) after `since_id`;
        characterization data (a shmoo point) has its verdict marked "FAIL (data)" and the like."""
        return [tuple(r) for r in self._query(
            """SELECT id, path, name, value, unit, low, high,
                      verdict || CASE WHEN gate = 1 THEN '' ELSE ' (data)' END, t, coords, message FROM measurements
               WHERE run_id = ? AND id > ? ORDER BY id""", (run_id, since_id))]

    def steps_since(self, run_id: int, since_id: int) -> list[tuple]:
        """(id, path, kind, started_t, ended_t, outcome, message, attempt) after `since_id`."""
        return [tuple(r) for r in self._query(
            """SELECT id, path, kind, started_t, ended_t, outcome, message, attempt FROM steps
               WHERE run_id = ? AND id > ? ORDER BY id""", (run_id, since_id))]

    def channel_list(self, run_id: int) -> list[tuple[int, str, str]]:
        """(channel id, name, unit) of a run, in the order they first appeared."""
        return [tuple(r) for r in self._query(
            "SELECT id, name, unit FROM channels WHERE run_id = ? ORDER BY id", (run_id,))]

    def last_sample_id(self) -> int:
        rows = self._query("SELECT max(id) FROM samples")
        return (rows[0][0] if rows else None) or 0

    def buckets_since(self, run_id: int, since_id: int, width: float) -> list[tuple]:
        """(channel id, bucket, sample id, t, value): the newest sample of each channel in each
        `width`-second bucket of run clock, among samples after `since_id`.

        SQLite returns the bare columns of the row holding max(id), so each group's last sample.
        NOT INDEXED keeps the planner on the rowid range (only the new rows): left to itself it
        walks the (channel, t) index to group, i.e. every sample of the night, every poll.
        """
        return [tuple(r) for r in self._query(
            """SELECT channel_id, CAST(t / ? AS INTEGER) AS b, max(id), t, value FROM samples NOT INDEXED
               WHERE id > ? AND channel_id IN (SELECT id FROM channels WHERE run_id = ?)
               GROUP BY channel_id, b""", (width, since_id, run_id))]

    def buckets_window(self, channel_id: int, since_t: float, upto_id: int, width: float) -> list[tuple]:
        """Like `buckets_since` for one channel's samples from run time `since_t` (indexed by t): how
        a view attached to a long run loads the recent past without reading the whole night."""
        return [(channel_id, *tuple(r)) for r in self._query(
            """SELECT CAST(t / ? AS INTEGER) AS b, max(id), t, value FROM samples
               WHERE channel_id = ? AND t >= ? AND id <= ? GROUP BY b""",
            (width, channel_id, since_t, upto_id))]

    def last_t(self, channel_id: int) -> float | None:
        rows = self._query("SELECT max(t) FROM samples WHERE channel_id = ?", (channel_id,))
        return rows[0][0] if rows else None

