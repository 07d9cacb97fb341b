"""The schema is versioned: stores are created, upgraded and re-opened without losing anything."""

from __future__ import annotations

import sqlite3
import threading

import pytest

from bringup.store import (SCHEMA_VERSION, NotAStore, SchemaTooNew, Store, StoreReader)
from bringup.store.schema import APPLICATION_ID, MIGRATIONS, migrate
from bringup.store import Measurement

RUN = dict(procedure="p", version="1", procedure_path="p.yaml", procedure_sha256="0", dut="SN1",
           station="sim", parameters={}, meta={}, clock="sim")


def tables(path) -> dict[str, str]:
    conn = sqlite3.connect(path)
    try:
        return dict(conn.execute("SELECT name, sql FROM sqlite_master ORDER BY name").fetchall())
    finally:
        conn.close()


def test_empty_file_is_migrated_and_reopening_changes_nothing(tmp_path):
    path = tmp_path / "runs.sqlite"
    path.touch()  # an empty file is an empty SQLite database
    with Store(path) as store:
        run = store.begin_run(**RUN)
        store.measurement(Measurement(run_id=run, path="p/0", name="v", value=1.0, unit="V", low=None, high=None,
                                      verdict="FAIL", t=1.0))
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert conn.execute("PRAGMA application_id").fetchone()[0] == APPLICATION_ID
    conn.close()
    schema = tables(path)
    assert {"runs", "phases", "steps", "measurements", "events", "channels", "samples"} <= set(schema)

    with Store(path) as store:  # re-open: nothing re-applied, nothing lost, ids keep growing
        second = store.begin_run(**RUN)
    assert tables(path) == schema
    assert second == run + 1
    reader = StoreReader(path)
    assert [r["id"] for r in reader.runs()] == [second, run]
    assert [m["verdict"] for m in reader.measurements(run)] == ["FAIL"]


def test_a_later_migration_upgrades_an_existing_store_once(tmp_path):
    path = tmp_path / "runs.sqlite"
    with Store(path) as store:
        run = store.begin_run(**RUN)
        store.sample(run, "tj", 1.0, 50.0, "degC")
    # What a future issue will do: append a migration.
    later = MIGRATIONS + (["ALTER TABLE phases ADD COLUMN reentrant INTEGER NOT NULL DEFAULT 0"],)
    conn = sqlite3.connect(path, isolation_level=None)
    assert migrate(conn, path, later) == SCHEMA_VERSION + 1
    assert migrate(conn, path, later) == SCHEMA_VERSION + 1  # second open: the ALTER is not re-run
    conn.close()
    assert "reentrant" in tables(path)["phases"]
    conn = sqlite3.connect(path)
    assert conn.execute("SELECT value FROM samples").fetchall() == [(50.0,)]
    conn.close()
    with pytest.raises(SchemaTooNew):  # this bringup predates that migration
        StoreReader(path)


def test_failed_migration_leaves_the_old_version_intact(tmp_path):
    path = tmp_path / "runs.sqlite"
    with Store(path) as store:
        store.begin_run(**RUN)
    broken = MIGRATIONS + (["CREATE TABLE extra (x)", "THIS IS NOT SQL"],)
    conn = sqlite3.connect(path, isolation_level=None)
    with pytest.raises(sqlite3.OperationalError):
        migrate(conn, path, broken)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    conn.close()
    assert "extra" not in tables(path)
    assert len(StoreReader(path).runs()) == 1


def test_a_store_from_a_newer_bringup_is_refused_with_a_clear_message(tmp_path):
    path = tmp_path / "runs.sqlite"
    with Store(path):
        pass
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.commit()
    conn.close()
    for opener in (Store, StoreReader):
        with pytest.raises(SchemaTooNew, match="upgrade bringup"):
            opener(path)


def test_foreign_files_are_refused_and_left_untouched(tmp_path):
    foreign = tmp_path / "other.sqlite"
    conn = sqlite3.connect(foreign)
    conn.execute("CREATE TABLE customers (name TEXT)")
    conn.commit()
    conn.close()
    garbage = tmp_path / "notes.sqlite"
    garbage.write_bytes(b"this is a text file, not a database\n" * 200)
    for path in (foreign, garbage):
        before = path.read_bytes()
        for opener in (Store, StoreReader):
            with pytest.raises(NotAStore, match="not a bringup results store|cannot be used"):
                opener(path)
        assert path.read_bytes() == before


def test_several_writers_creating_the_same_store_at_once(tmp_path):
    path = tmp_path / "runs.sqlite"
    errors: list[BaseException] = []
    ids: list[int] = []

    def open_and_run() -> None:
        try:
            with Store(path) as store:
                ids.append(store.begin_run(**RUN))
        except BaseException as exc:  # reported below
            errors.append(exc)

    # Separate connections, as separate processes would have; threads keep the test fast.
    threads = [threading.Thread(target=open_and_run) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert sorted(ids) == [1, 2, 3, 4]


def test_reader_of_a_store_not_yet_migrated_sees_no_runs(tmp_path):
    path = tmp_path / "runs.sqlite"
    path.touch()
    reader = StoreReader(path)
    assert reader.runs() == [] and reader.latest_run_id() is None
    with Store(path) as store:
        run = store.begin_run(**RUN)
    assert reader.latest_run_id() == run


def _version_2_store(path) -> int:
    """A store as bringup wrote it before step ids (schema version 2), rows put in with raw SQL
    of that schema: one run with a passing and a retried-then-failed measurement and a step."""
    conn = sqlite3.connect(path, isolation_level=None)
    migrate(conn, path, MIGRATIONS[:2])
    conn.execute("""INSERT INTO runs (procedure, version, procedure_path, procedure_sha256, dut, station,
        parameters, meta, clock, started_at, started_t, host, pid, state, verdict, exit_code, ended_t)
        VALUES ('old', '1', 'old.yaml', '0', 'SN7', 'sim', '{}', '{}', 'simulated', '2026-01-01T00:00:00Z',
                0.0, 'bench', 1, 'failed', 'FAIL', 1, 5.0)""")
    run = conn.execute("SELECT max(id) FROM runs").fetchone()[0]
    conn.execute("INSERT INTO phases (run_id, phase_id, ord, state, verdict, started_t, ended_t) "
                 "VALUES (?, 'power_on', 0, 'failed', 'FAIL', 0.0, 5.0)", (run,))
    conn.execute("INSERT INTO steps (run_id, path, kind, started_t, ended_t, outcome, message, attempt) "
                 "VALUES (?, 'power_on/psu.output(state=on)', 'do', 0.5, 0.6, 'ok', NULL, 1)", (run,))
    for name, value, verdict, t in (("standby current", 1.5, "PASS", 1.0), ("vdd_core", 0.69, "FAIL", 2.0)):
        conn.execute("INSERT INTO measurements (run_id, path, name, value, unit, low, high, verdict, t, message) "
                     "VALUES (?, 'power_on', ?, ?, 'V', 0.7, 0.8, ?, ?, NULL)", (run, name, value, verdict, t))
    conn.close()
    return run


def test_a_store_written_before_step_ids_still_opens_and_reports(tmp_path):
    from bringup.outputs.junit import junit_xml
    from bringup.outputs.report import load_report

    path = tmp_path / "runs.sqlite"
    run = _version_2_store(path)
    reader = StoreReader(path)  # read-only: an archived store is read as it is, not migrated
    ms = reader.measurements(run)
    assert [(m["name"], m["verdict"], m["step_id"], m["attempt"]) for m in ms] == [
        ("standby current", "PASS", None, 1), ("vdd_core", "FAIL", None, 1)]
    assert [s["step_id"] for s in reader.steps(run)] == [None]
    xml = junit_xml(reader, run)
    assert 'name="vdd_core"' in xml and "vdd_core = 0.69 V not in [0.7, 0.8] V" in xml
    assert load_report(reader, run).run["verdict"] == "FAIL"
    reader.close()

    with Store(path) as store:  # a writer migrates it: the old rows stay, the new carry their step
        assert sqlite3.connect(path).execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        later = store.begin_run(**RUN)
        store.measurement(Measurement(run_id=later, path="p", name="v", value=1.0, unit="V", low=None, high=None,
                                      verdict="FAIL", t=1.0, step_id="p/1", attempt=2))
    reader = StoreReader(path)
    assert [m["step_id"] for m in reader.measurements(run)] == [None, None]
    assert [(m["step_id"], m["attempt"]) for m in reader.measurements(later)] == [("p/1", 2)]
