"""The results schema and its migrations.

The schema version lives in SQLite's `user_version`; each migration is a list of statements that
takes the file from version N to N+1 inside one transaction, so a crash mid-migration leaves the
old version intact. Migrations are only ever appended: a store written by any earlier bringup
opens in a later one.

Choices made now so later features need no rewrite:
- every table has an integer id that only grows (AUTOINCREMENT, and samples are never deleted),
  so a dashboard or `bringup watch` in another process polls "rows since id N";
- phases carry their declared order and their state, runs carry host, pid and the process start
  token, so a killed run is recognisable and can be resumed from its last finished phase;
- `runs.resumed_from` links a resumed run to the run it continues;
- only portable SQL types (INTEGER, REAL, TEXT; JSON as TEXT) so the same schema maps onto
  PostgreSQL for fleets.
- `t` columns are the run clock's seconds (virtual in simulation); the only wall time in the
  store is `runs.started_at`.
"""

from __future__ import annotations

import sqlite3

from bringup.store.errors import NotAStore, SchemaTooNew

# "BRNG": marks the file as ours, so opening some other SQLite file fails with a clear message.
APPLICATION_ID = 0x42524E47

_V1 = [
    """CREATE TABLE runs (
        id               INTEGER PRIMARY KEY AUTOINCREMENT,
        procedure        TEXT NOT NULL,
        version          TEXT NOT NULL,
        procedure_path   TEXT NOT NULL,
        procedure_sha256 TEXT NOT NULL,
        dut              TEXT NOT NULL,
        station          TEXT NOT NULL,
        parameters       TEXT NOT NULL,          -- JSON object
        meta             TEXT NOT NULL,          -- JSON object
        clock            TEXT NOT NULL,
        started_at       TEXT NOT NULL,          -- wall time, ISO 8601 UTC
        started_t        REAL,                   -- run clock
        host             TEXT NOT NULL,
        pid              INTEGER NOT NULL,
        pid_start        TEXT,                   -- tells a reused pid from the writer
        state            TEXT NOT NULL,
        verdict          TEXT,
        exit_code        INTEGER,
        ended_t          REAL,
        reason           TEXT,
        resumed_from     INTEGER REFERENCES runs(id)
    )""",
    """CREATE TABLE phases (
        id         INTEGER PRIMARY KEY AUTOINCREMENT,
        run_id     INTEGER NOT NULL REFERENCES runs(id),
        phase_id   TEXT NOT NULL,
        ord        INTEGER NOT NULL,
        state      TEXT NOT NULL,
        verdict    TEXT,
        reason     TEXT,
        started_t  REAL,
        ended_t    REAL,
        UNIQUE (run_id, phase_id)
    )""",
    """CREATE TABLE steps (
        id         INTEGER PRIMARY KEY AUTOINCREMENT,
        run_id     INTEGER NOT NULL REFERENCES runs(id),
        path       TEXT NOT NULL,
        kind       TEXT NOT NULL,
        started_t  REAL NOT NULL,
        ended_t    REAL NOT NULL,
        outcome    TEXT NOT NULL,
        message    TEXT,
        attempt    INTEGER NOT NULL
    )""",
    "CREATE INDEX steps_by_run ON steps (run_id, id)",
    """CREATE TABLE measurements (
        id          INTEGER PRIMARY KEY AUTOINCREMENT,
        run_id      INTEGER NOT NULL REFERENCES runs(id),
        path        TEXT NOT NULL,
        name        TEXT NOT NULL,
        value       REAL,                        -- NULL: no reading (NaN is stored as NULL too)
        unit        TEXT NOT NULL,
        low         REAL,
        high        REAL,
        verdict     TEXT NOT NULL,
        t           REAL NOT NULL,
        coords      TEXT,                        -- JSON object: sweep / for_each coordinates
        instrument  TEXT,
        dut         TEXT,
        message     TEXT
    )""",
    "CREATE INDEX measurements_by_run ON measurements (run_id, verdict)",
    """CREATE TABLE events (
        id        INTEGER PRIMARY KEY AUTOINCREMENT,
        run_id    INTEGER NOT NULL REFERENCES runs(id),
        t         REAL NOT NULL,
        kind      TEXT NOT NULL,
        severity  TEXT NOT NULL,
        message   TEXT NOT NULL,
        data      TEXT                           -- JSON object
    )""",
    "CREATE INDEX events_by_run ON events (run_id, id)",
    # Telemetry is the bulk of an overnight soak: a channel's name and unit are stored once and
    # each sample is three numbers.
    """CREATE TABLE channels (
        id      INTEGER PRIMARY KEY AUTOINCREMENT,
        run_id  INTEGER NOT NULL REFERENCES runs(id),
        name    TEXT NOT NULL,
        unit    TEXT NOT NULL,
        UNIQUE (run_id, name, unit)
    )""",
    """CREATE TABLE samples (
        id          INTEGER PRIMARY KEY,         -- grows: samples are never deleted
        channel_id  INTEGER NOT NULL REFERENCES channels(id),
        t           REAL NOT NULL,
        value       REAL
    )""",
    "CREATE INDEX samples_by_channel ON samples (channel_id, t)",
]

# v2: characterization data (shmoo points, a Vmin search's probes) is judged and kept like any
# measurement, but never gates: reports and JUnit count only gate = 1 as failures.
_V2 = ["ALTER TABLE measurements ADD COLUMN gate INTEGER NOT NULL DEFAULT 1"]

# v3: a result knows which step of the compiled plan made it, and on which attempt of the step
# (and of its phase, which `retries:` may run again): JUnit, STDF and the pytest plugin read
# these columns instead of parsing messages. Rows of older stores have no step id (NULL) and
# count as first attempts.
_V3 = ["ALTER TABLE measurements ADD COLUMN step_id TEXT",
       "ALTER TABLE measurements ADD COLUMN attempt INTEGER NOT NULL DEFAULT 1",
       "ALTER TABLE measurements ADD COLUMN phase_attempt INTEGER NOT NULL DEFAULT 1",
       "ALTER TABLE steps ADD COLUMN step_id TEXT",
       "ALTER TABLE steps ADD COLUMN phase_attempt INTEGER NOT NULL DEFAULT 1",
       "ALTER TABLE events ADD COLUMN step_id TEXT",
       "ALTER TABLE events ADD COLUMN attempt INTEGER"]

MIGRATIONS: tuple[list[str], ...] = (_V1, _V2, _V3)
LATEST = len(MIGRATIONS)


def version_of(conn: sqlite3.Connection) -> int:
    return conn.execute("PRAGMA user_version").fetchone()[0]


def check_ours(conn: sqlite3.Connection, path: object, known: int = LATEST) -> int:
    """The file's schema version, after checking the file is a results store we can read."""
    try:
        # One statement, so one snapshot: another process may be migrating the file right now.
        app_id, version, n_objects = conn.execute(
            "SELECT (SELECT application_id FROM pragma_application_id), "
            "(SELECT user_version FROM pragma_user_version), (SELECT count(*) FROM sqlite_master)"
        ).fetchone()
        has_tables = n_objects > 0
    except sqlite3.DatabaseError as exc:
        raise NotAStore(f"{path} is not a bringup results store ({exc}); pass --store with the "
                        f"path of a runs.sqlite written by bringup") from exc
    if app_id != APPLICATION_ID and (app_id != 0 or has_tables):
        raise NotAStore(f"{path} is an SQLite file but not a bringup results store; pass --store "
                        f"with the path of a runs.sqlite written by bringup")
    if version > known:
        raise SchemaTooNew(f"{path} has results schema version {version}, newer than this bringup "
                           f"understands ({known}); upgrade bringup to read it")
    return version


def migrate(conn: sqlite3.Connection, path: object,
            migrations: tuple[list[str], ...] = MIGRATIONS) -> int:
    """Bring the store up to the latest schema; a no-op on an up-to-date store.

    `conn` must be in autocommit mode (isolation_level=None). Each step runs under BEGIN
    IMMEDIATE and re-reads the version inside it, so two processes opening a fresh file at once
    do not both apply the same migration.
    """
    check_ours(conn, path, len(migrations))
    while True:
        conn.execute("BEGIN IMMEDIATE")
        try:
            version = check_ours(conn, path, len(migrations))
            if version == len(migrations):
                conn.execute("COMMIT")
                return version
            for statement in migrations[version]:
                conn.execute(statement)
            conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
            conn.execute(f"PRAGMA user_version = {version + 1}")
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
