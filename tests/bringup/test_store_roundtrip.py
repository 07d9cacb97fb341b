"""Everything the runner writes through Store reads back through StoreReader, exactly."""

from __future__ import annotations

import math
import os
import sqlite3
import subprocess
import sys

import pytest

from bringup.store import Measurement, Store, StoreError, StoreReader, default_path
from bringup.store.liveness import host_name, start_token, writer_alive

RUN_FIELDS = dict(procedure="sled-bringup", version="1.2", procedure_path="procedures/sled.yaml",
                  procedure_sha256="ab" * 32, dut="SN-0042", station="sim-bench",
                  parameters={"vdd_core": 0.75, "soak": 28800.0}, meta={"operator": "night shift"},
                  clock="sim")


@pytest.fixture
def path(tmp_path):
    return tmp_path / "results" / "runs.sqlite"  # the parent folder does not exist yet


def test_everything_written_reads_back(path):
    with Store(path) as store:
        run = store.begin_run(**RUN_FIELDS, t=0.0)
        store.phase(run, "power_on", state="pending", t=0.0, order=0)
        store.phase(run, "links", state="pending", t=0.0, order=1)
        store.phase(run, "power_on", state="running", t=0.5)
        store.step(run, "power_on/0", "do", 0.5, 0.75, "ok")
        store.step(run, "power_on/1", "measure", 0.75, 1.0, "timeout", message="no answer", attempt=2)
        store.measurement(Measurement(run_id=run, path="power_on/1", name="standby current", value=1.25, unit="A",
                                      low=None, high=2.0, verdict="PASS", t=1.0,
                                      instrument="KEYSIGHT,E36312A,SIM001,1.0", dut="SN-0042"))
        store.measurement(Measurement(run_id=run, path="power_on/2", name="rail voltage", value=0.70, unit="V",
                                      low=0.7275, high=0.7725, verdict="FAIL", t=1.5, coords={"rail": "VDD_CORE"},
                                      message="below limit"))
        store.measurement(Measurement(run_id=run, path="power_on/3", name="pg", value=None, unit="", low=None,
                                      high=None, verdict="UNKNOWN", t=1.75))
        for i in range(5):
            store.sample(run, "sled.max_tj", 1.0 + i, 40.0 + i, "degC")
            store.sample(run, "psu.current", 1.0 + i, 10.0 * i, "A")
        store.event(run, 2.0, "monitor", "Tj high", severity="warning", data={"tj": 96.5})
        store.phase(run, "power_on", state="failed", t=2.0, verdict="FAIL", reason="VDD_CORE low")
        store.phase(run, "links", state="skipped", t=2.0, reason="gate: power_on failed")
        store.end_run(run, state="failed", verdict="FAIL", exit_code=1, t=2.5, reason="gate failed")

    reader = StoreReader(path)
    got = reader.run(run)
    assert {k: got[k] for k in RUN_FIELDS} == RUN_FIELDS
    assert (got["state"], got["verdict"], got["exit_code"], got["reason"]) == \
        ("failed", "FAIL", 1, "gate failed")
    assert (got["started_t"], got["ended_t"], got["duration"]) == (0.0, 2.5, 2.5)
    assert (got["pid"], got["host"]) == (os.getpid(), host_name())
    assert got["started_at"].endswith("Z") and got["started_at"][:4].isdigit()
    assert (got["n_pass"], got["n_fail"], got["n_unknown"]) == (1, 1, 1)

    phases = reader.phases(run)
    assert [(p["phase_id"], p["order"], p["state"], p["verdict"], p["reason"], p["started_t"], p["ended_t"])
            for p in phases] == [("power_on", 0, "failed", "FAIL", "VDD_CORE low", 0.5, 2.0),
                                 ("links", 1, "skipped", None, "gate: power_on failed", None, 2.0)]

    steps = reader.steps(run)
    assert [(s["path"], s["kind"], s["started_t"], s["ended_t"], s["outcome"], s["message"], s["attempt"])
            for s in steps] == [("power_on/0", "do", 0.5, 0.75, "ok", None, 1),
                                ("power_on/1", "measure", 0.75, 1.0, "timeout", "no answer", 2)]

    ms = reader.measurements(run)
    assert [(m["path"], m["name"], m["value"], m["unit"], m["low"], m["high"], m["verdict"], m["t"],
             m["coords"], m["instrument"], m["dut"], m["message"]) for m in ms] == [
        ("power_on/1", "standby current", 1.25, "A", None, 2.0, "PASS", 1.0, None,
         "KEYSIGHT,E36312A,SIM001,1.0", "SN-0042", None),
        ("power_on/2", "rail voltage", 0.70, "V", 0.7275, 0.7725, "FAIL", 1.5, {"rail": "VDD_CORE"},
         None, None, "below limit"),
        ("power_on/3", "pg", None, "", None, None, "UNKNOWN", 1.75, None, None, None, None)]
    assert [m["name"] for m in reader.measurements(run, {"FAIL", "UNKNOWN"})] == ["rail voltage", "pg"]

    assert [(c["name"], c["unit"], c["first_t"], c["last_t"]) for c in reader.channels(run)] == [
        ("sled.max_tj", "degC", 1.0, 5.0), ("psu.current", "A", 1.0, 5.0)]
    tj = reader.samples(run, "sled.max_tj")
    assert [(s["t"], s["value"], s["unit"]) for s in tj] == [(1.0 + i, 40.0 + i, "degC") for i in range(5)]
    assert len(reader.samples(run)) == 10
    assert [s["t"] for s in reader.samples(run, "psu.current", since_t=4.0)] == [4.0, 5.0]

    events = reader.events(run)
    kinds = [(e["kind"], e["message"]) for e in events]
    assert kinds[0] == ("run", "run started")
    assert ("monitor", "Tj high") in kinds
    assert ("phase", "phase power_on failed: VDD_CORE low") in kinds
    assert kinds[-1][0] == "run" and "failed" in kinds[-1][1]
    monitor = next(e for e in events if e["kind"] == "monitor")
    assert (monitor["severity"], monitor["data"], monitor["t"]) == ("warning", {"tj": 96.5}, 2.0)
    ids = [e["id"] for e in events]
    assert ids == sorted(ids) and reader.events(run, since_id=ids[-2]) == events[-1:]


def test_phase_order_defaults_to_first_appearance_and_rerun_clears_end(path):
    with Store(path) as store:
        run = store.begin_run(**RUN_FIELDS)
        for name in ("b", "a", "c"):
            store.phase(run, name, state="running", t=1.0)
            store.phase(run, name, state="passed", t=2.0, verdict="PASS")
        store.phase(run, "a", state="running", t=3.0)  # retried
        store.flush()  # a phase's start is batched (only how it ends is committed at once)
        phases = {p["phase_id"]: p for p in StoreReader(path).phases(run)}
    assert [p for p in phases] == ["b", "a", "c"]
    a = phases["a"]
    assert (a["state"], a["started_t"], a["ended_t"], a["verdict"]) == ("running", 1.0, None, None)


def test_durable_records_are_committed_before_the_call_returns(path):
    # A batch interval of an hour: only the durable path can make these visible to a reader.
    with Store(path, batch_interval=3600) as store:
        run = store.begin_run(**RUN_FIELDS)
        reader = StoreReader(path)
        assert reader.run(run)["state"] == "running"
        store.measurement(Measurement(run_id=run, path="p/0", name="ok reading", value=1.0, unit="V", low=0.0,
                                      high=2.0, verdict="PASS", t=1.0))
        store.sample(run, "tj", 1.0, 50.0, "degC")
        store.measurement(Measurement(run_id=run, path="p/1", name="bad reading", value=3.0, unit="V", low=0.0,
                                      high=2.0, verdict="FAIL", t=2.0))
        # Everything handed over before the FAIL is committed with it, in order.
        assert [m["verdict"] for m in reader.measurements(run)] == ["PASS", "FAIL"]
        assert len(reader.samples(run)) == 1
        store.sample(run, "tj", 2.0, 51.0, "degC")
        store.phase(run, "power_on", state="pending", t=2.0, order=0)
        store.phase(run, "links", state="pending", t=2.0, order=1)
        assert reader.phases(run) == []  # nothing has happened yet: declarations are batched
        store.phase(run, "power_on", state="running", t=2.0)
        assert reader.phases(run) == []  # a start is batched too: nothing of the phase is on disk yet
        store.phase(run, "power_on", state="failed", t=2.2, verdict="FAIL")
        assert [(p["phase_id"], p["state"]) for p in reader.phases(run)] == \
            [("power_on", "failed"), ("links", "pending")]
        store.step(run, "p/2", "do", 2.0, 2.5, "ok")
        assert reader.steps(run) == []  # batched, the hour is not up
        store.flush()
        assert len(reader.steps(run)) == 1 and len(reader.samples(run)) == 2


@pytest.mark.parametrize("durable_sync", ["full", "normal"])
def test_both_sync_levels_commit_durable_records_at_once(path, durable_sync):
    with Store(path, batch_interval=3600, durable_sync=durable_sync) as store:
        run = store.begin_run(**RUN_FIELDS)
        store.measurement(Measurement(run_id=run, path="p/0", name="v", value=9.0, unit="V", low=None, high=1.0,
                                      verdict="FAIL", t=1.0))
        assert StoreReader(path).run(run)["n_fail"] == 1
    with pytest.raises(ValueError, match="durable_sync"):
        Store(path, durable_sync="sometimes")


def test_values_that_are_not_plain_floats(path):
    with Store(path) as store:
        run = store.begin_run(**RUN_FIELDS)
        store.measurement(Measurement(run_id=run, path="p/0", name="nan", value=float("nan"), unit="V", low=None,
                                      high=None, verdict="UNKNOWN", t=1))
        store.measurement(Measurement(run_id=run, path="p/1", name="int", value=3, unit="V", low=0, high=5,
                                      verdict="PASS", t=2))
        store.measurement(Measurement(run_id=run, path="p/2", name="text", value="OVLD", unit="V", low=None,
                                      high=None, verdict="UNKNOWN", t=3, message="range"))
        store.measurement(Measurement(run_id=run, path="p/3", name="inf", value=math.inf, unit="V", low=None,
                                      high=1e300, verdict="FAIL", t=4))
        store.sample(run, "tj", 5, "garbage", "degC")
    ms = StoreReader(path).measurements(run)
    assert [m["value"] for m in ms] == [None, 3.0, None, math.inf]
    assert ms[2]["message"] == "range; unstorable value 'OVLD'"
    assert [s["value"] for s in StoreReader(path).samples(run)] == [None]


def test_coords_handed_over_are_copied(path):
    with Store(path, batch_interval=3600) as store:
        run = store.begin_run(**RUN_FIELDS)
        coords = {"voltage": 0.8}
        for v in (0.8, 0.79, 0.78):
            coords["voltage"] = v  # a sweep reusing its dict
            store.measurement(Measurement(run_id=run, path="vmin/0", name="check", value=1.0, unit="", low=None,
                                          high=None, verdict="PASS", t=v, coords=coords))
    assert [m["coords"]["voltage"] for m in StoreReader(path).measurements(run)] == [0.8, 0.79, 0.78]


def test_misuse_is_refused_at_the_call(path):
    store = Store(path)
    run = store.begin_run(**RUN_FIELDS)
    with pytest.raises(ValueError, match="not begun"):
        store.measurement(Measurement(run_id=run + 1, path="p", name="x", value=1.0, unit="V", low=None, high=None,
                                      verdict="PASS", t=0.0))
    with pytest.raises(ValueError, match="PASS, FAIL or UNKNOWN"):
        store.measurement(Measurement(run_id=run, path="p", name="x", value=1.0, unit="V", low=None, high=None,
                                      verdict="pass", t=0.0))
    with pytest.raises(ValueError, match="phase state"):
        store.phase(run, "p", state="done", t=0.0)
    with pytest.raises(ValueError, match="outcome"):
        store.step(run, "p", "do", 0.0, 1.0, "fine")
    with pytest.raises(ValueError, match="severity"):
        store.event(run, 0.0, "note", "x", severity="loud")
    with pytest.raises(ValueError, match="end state"):
        store.end_run(run, state="done", verdict="PASS", exit_code=0, t=1.0)
    store.close()
    store.close()  # idempotent
    with pytest.raises(StoreError, match="closed"):
        store.sample(run, "tj", 0.0, 1.0)
    reader = StoreReader(path)
    assert reader.measurements(run) == [] and reader.phases(run) == [] and reader.steps(run) == []


def test_reader_of_unknown_run_and_missing_store(path, tmp_path):
    with Store(path) as store:
        store.begin_run(**RUN_FIELDS)
    reader = StoreReader(path)
    assert reader.run(999) is None
    assert reader.phases(999) == [] and reader.measurements(999) == []
    with pytest.raises(StoreError, match="no results store"):
        StoreReader(tmp_path / "nowhere.sqlite")


def test_a_run_whose_writer_is_gone_reads_as_interrupted(path):
    child = subprocess.run(
        [sys.executable, "-c", "import sys; from bringup.store import Store; s = Store(sys.argv[1]); "
         "print(s.begin_run(procedure='p', version='1', procedure_path='p', procedure_sha256='0', "
         "dut='d', station='s', parameters={}, meta={}, clock='sim')); s.flush(); import os; os._exit(0)",
         str(path)], capture_output=True, text=True, check=True, cwd=os.getcwd(),
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    dead_run = int(child.stdout)
    with Store(path) as store:
        live_run = store.begin_run(**RUN_FIELDS)
        states = {r["id"]: r["state"] for r in StoreReader(path).runs()}
    assert states == {dead_run: "interrupted", live_run: "running"}


def test_writer_liveness_tells_reused_pids_and_other_hosts():
    me, token = os.getpid(), start_token(os.getpid())
    assert writer_alive(host_name(), me, token)
    assert not writer_alive(host_name() + "-elsewhere", me, token)
    if token is not None:  # Linux: a live pid that started at another time is someone else
        assert not writer_alive(host_name(), me, str(int(token) + 1))


def test_default_path(monkeypatch, tmp_path):
    monkeypatch.delenv("BRINGUP_STORE", raising=False)
    assert str(default_path()) == os.path.join("bringup-results", "runs.sqlite")
    monkeypatch.setenv("BRINGUP_STORE", str(tmp_path / "x.sqlite"))
    assert default_path() == tmp_path / "x.sqlite"


def test_file_is_wal_and_passes_integrity_check(path):
    with Store(path) as store:
        run = store.begin_run(**RUN_FIELDS)
        for i in range(1000):
            store.sample(run, "tj", i, i)
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
