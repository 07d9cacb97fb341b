"""`bringup export RUN --format json|csv`: complete, exact, and never at the store's expense."""

from __future__ import annotations

import contextlib
import csv
import ctypes
import io
import json
import math
import os
import sqlite3

import pytest
from click.testing import CliRunner

from bringup.commands.results import export_command
from bringup.store import Measurement, Store, StoreReader

RUN = dict(procedure="vmin", version="1", procedure_path="procedures/vmin.yaml", procedure_sha256="f" * 64,
           dut="SN-7", station="sim", parameters={"step": -0.01}, meta={}, clock="sim")


@pytest.fixture
def store_path(tmp_path):
    path = tmp_path / "store" / "runs.sqlite"
    with Store(path) as store:
        run = store.begin_run(**RUN, t=0.0)
        store.phase(run, "vmin", state="running", t=0.0, order=0)
        store.step(run, "vmin/0", "sweep", 0.0, 3.0, "ok")
        store.measurement(Measurement(run_id=run, path="vmin/0/check", name="stress_check", value=0.1 + 0.2,
                                      unit="V", low=0.25, high=None, verdict="PASS", t=1.0,
                                      coords={"frequency": 1.2e9, "voltage": 0.8}, instrument="SIM,SLED,1,0"))
        store.measurement(Measurement(run_id=run, path="vmin/0/check", name="stress_check", value=math.inf,
                                      unit="V", low=None, high=1.0, verdict="FAIL", t=2.0,
                                      coords={"frequency": 1.4e9, "voltage": 0.6, "note": "a,b \"c\""},
                                      dut="SN-7/chip1"))
        store.measurement(Measurement(run_id=run, path="vmin/1", name="temperature", value=None, unit="degC",
                                      low=None, high=95.0, verdict="UNKNOWN", t=3.0, message="no answer"))
        store.sample(run, "sled.max_tj", 1.0, 60.0, "degC")
        store.event(run, 2.5, "note", "operator: fan noisy", data={"who": "night shift"})
        store.phase(run, "vmin", state="failed", t=3.0, verdict="FAIL", reason="1 FAIL")
        store.end_run(run, state="failed", verdict="FAIL", exit_code=1, t=3.0)
    return path


def invoke(*args):
    return CliRunner().invoke(export_command, [str(a) for a in args])


def strict_json(text: str):
    def refuse(name: str):
        raise ValueError(f"non-standard JSON constant {name}")
    return json.loads(text, parse_constant=refuse)


def test_json_export_has_everything_but_raw_telemetry(store_path):
    result = invoke("1", "--format", "json", "--store", store_path)
    assert result.exit_code == 0, result.output
    doc = strict_json(result.stdout)
    reader = StoreReader(store_path)
    assert doc["format"] == "bringup-results" and doc["run"]["id"] == 1
    assert doc["run"]["parameters"] == {"step": -0.01} and doc["run"]["state"] == "failed"
    assert doc["phases"] == reader.phases(1)
    assert doc["steps"] == reader.steps(1)
    assert doc["events"] == reader.events(1)
    expected = reader.measurements(1)
    expected[1]["value"] = "inf"  # strict JSON has no infinity
    assert doc["measurements"] == expected
    assert doc["measurements"][0]["value"] == 0.1 + 0.2  # full precision
    assert [c["name"] for c in doc["channels"]] == ["sled.max_tj"] and "samples" not in doc


def test_csv_export_is_one_row_per_measurement_with_coordinate_columns(store_path):
    result = invoke("1", "--format", "csv", "--store", store_path)
    assert result.exit_code == 0
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert len(rows) == 3
    assert list(rows[0])[-3:] == ["coords.frequency", "coords.voltage", "coords.note"]
    first, second, third = rows
    assert float(first["value"]) == 0.1 + 0.2 and first["low"] == "0.25" and first["high"] == ""
    assert (first["verdict"], first["dut"], first["instrument"]) == ("PASS", "SN-7", "SIM,SLED,1,0")
    assert (second["value"], second["coords.note"], second["dut"]) == ("inf", 'a,b "c"', "SN-7/chip1")
    assert json.loads(second["coords"]) == {"frequency": 1.4e9, "voltage": 0.6, "note": 'a,b "c"'}
    assert (third["value"], third["verdict"], third["message"], third["coords.voltage"]) == \
        ("", "UNKNOWN", "no answer", "")


def test_export_to_a_file_replaces_it_whole(store_path, tmp_path):
    out = tmp_path / "run1.json"
    out.write_text("old contents")
    result = invoke("latest", "--format", "json", "-o", out, "--store", store_path)
    assert (result.exit_code, result.stdout) == (0, "")
    assert strict_json(out.read_text())["run"]["id"] == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run1.json", "store"]  # no temp files left


@contextlib.contextmanager
def without_root_override():
    """Make this thread obey file permissions even when the tests run as root (CI containers).

    Root bypasses permission bits through CAP_DAC_OVERRIDE; dropping it from the effective set
    (and restoring it after) makes a read-only folder read-only for real.
    """
    if os.geteuid() != 0:
        yield
        return

    class Header(ctypes.Structure):
        _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]

    class Data(ctypes.Structure):
        _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32),
                    ("inheritable", ctypes.c_uint32)]

    libc = ctypes.CDLL(None, use_errno=True)
    header, data = Header(0x20080522, 0), (Data * 2)()  # _LINUX_CAPABILITY_VERSION_3
    if libc.capget(ctypes.byref(header), data) != 0:
        pytest.skip("cannot read capabilities to drop root's permission override")
    saved = data[0].effective
    data[0].effective &= ~((1 << 1) | (1 << 2))  # CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH
    if libc.capset(ctypes.byref(header), data) != 0:
        pytest.skip("cannot drop root's permission override here")
    try:
        yield
    finally:
        data[0].effective = saved
        libc.capset(ctypes.byref(header), data)


def store_fingerprint(path) -> tuple:
    conn = sqlite3.connect(path)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        return tuple(conn.execute(f"SELECT * FROM {table} ORDER BY id").fetchall()
                     for table in ("runs", "phases", "steps", "measurements", "events", "samples"))
    finally:
        conn.close()


@pytest.mark.parametrize("fmt", ["json", "csv"])
def test_unwritable_output_is_one_line_exit_2_and_loses_nothing(store_path, tmp_path, fmt):
    before = store_fingerprint(store_path)
    locked = tmp_path / "read-only"
    locked.mkdir()
    locked.chmod(0o555)
    out = locked / f"run1.{fmt}"
    try:
        with without_root_override():
            result = invoke("1", "--format", fmt, "-o", out, "--store", store_path)
    finally:
        locked.chmod(0o755)
    assert result.exit_code == 2
    assert result.stderr == (f"error: cannot write {out}: Permission denied; choose a writable -o path "
                             f"(the results store is unchanged)\n")
    assert list(locked.iterdir()) == []
    assert store_fingerprint(store_path) == before
    retry = invoke("1", "--format", fmt, "-o", tmp_path / f"run1.{fmt}", "--store", store_path)
    assert retry.exit_code == 0 and (tmp_path / f"run1.{fmt}").stat().st_size > 0


def test_an_export_never_overwrites_the_store_itself(store_path):
    before = store_fingerprint(store_path)
    result = invoke("1", "--format", "csv", "-o", store_path, "--store", store_path)
    assert result.exit_code == 2 and "refusing to write the export over the results store" in result.stderr
    assert store_fingerprint(store_path) == before


def test_a_failed_export_leaves_an_existing_output_file_alone(store_path, tmp_path):
    out = tmp_path / "keep.csv"
    out.write_text("yesterday's export")
    result = invoke("42", "--format", "csv", "-o", out, "--store", store_path)
    assert result.exit_code == 2 and result.stderr.startswith("error: no run 42 in ")
    assert out.read_text() == "yesterday's export"


def test_output_into_a_missing_folder_is_one_line_and_exit_2(store_path, tmp_path):
    out = tmp_path / "no-such-folder" / "run1.csv"
    result = invoke("1", "--format", "csv", "-o", out, "--store", store_path)
    assert result.exit_code == 2
    assert result.stderr == (f"error: cannot write {out}: No such file or directory; choose a writable "
                             f"-o path (the results store is unchanged)\n")


def test_export_of_an_unknown_run_or_missing_store(store_path, tmp_path):
    result = invoke("7", "--store", store_path)
    assert result.exit_code == 2 and result.stderr.startswith("error: no run 7 in ")
    result = invoke("1", "--store", tmp_path / "missing.sqlite")
    assert result.exit_code == 2 and result.stderr.startswith("error: no results store at ")
