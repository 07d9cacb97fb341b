"""Bad input for the exports: a run killed halfway, a run that does not exist, a folder that
cannot be written. A real `bringup run` process is SIGKILLed in the middle of its soak."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import xml.etree.ElementTree as ET

import pytest
from click.testing import CliRunner

from bringup.core.clock import RealClock
from bringup.commands.results import export_command
from bringup.outputs.stdf import stdf_bytes
from bringup.store import StoreReader
from engine_helpers import station_with, write
from test_export import store_fingerprint, without_root_override
from test_stdf import flags, parts, read_stdf

PROCEDURE = """
procedure: overnight
version: 1
requires: {psu: power_supply, dmm: multimeter, cdu: coolant, sled: sled}
parameters: {soak: 8 h}
safe_state:
  - sled.stress_stop
  - sled.power_off
phases:
  - id: power_on
    steps:
      - do: sled.power_on
      - measure: dmm.voltage_dc
        name: vdd_core
        expect: 0.75 V ± 3%
  - id: soak
    after: power_on
    steps:
      - do: sled.stress_start
        with: {level: 100%}
      - soak: {duration: "{soak}", every: 1 min}
        steps:
          - measure: sled.max_tj
            limit: {high: 95 degC}
  - id: vmin
    after: soak
    steps:
      - measure: dmm.voltage_dc
"""


def export(store, fmt: str, *args: str):
    return CliRunner().invoke(export_command, ["latest", "--format", fmt, "--store", str(store), *args])


@pytest.fixture(scope="module")
def killed_store(tmp_path_factory):
    """A `bringup run` of an 8-hour soak at 600x wall time, killed once its soak has begun."""
    tmp = tmp_path_factory.mktemp("killed")
    proc = write(tmp, "overnight.yaml", PROCEDURE)
    store = tmp / "runs.sqlite"
    child = subprocess.Popen(
        [sys.executable, "-m", "bringup.cli", "run", str(proc), "--station", str(station_with(tmp)),
         "--store", str(store), "--dut", "SN-KILL", "--speed", "600"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    clock = RealClock()
    deadline = clock.now() + 60.0
    try:
        while True:  # until the store holds two soak readings (committed, so they survive the kill)
            assert child.poll() is None, "the run ended before it could be killed"
            assert clock.now() < deadline, "the soak never started"
            if store.exists():
                reader = StoreReader(store)
                try:
                    run_id = reader.latest_run_id()
                    if run_id and sum(m["path"] == "soak" for m in reader.measurements(run_id)) >= 2:
                        break
                finally:
                    reader.close()
            clock.sleep(0.05)
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
    return store


def test_a_killed_run_is_interrupted_with_its_soak_running(killed_store):
    reader = StoreReader(killed_store)
    run = reader.run(reader.latest_run_id())
    assert run["state"] == "interrupted" and run["verdict"] is None
    assert {p["phase_id"]: p["state"] for p in reader.phases(run["id"])} == {
        "power_on": "passed", "soak": "running", "vmin": "pending"}


def test_a_killed_run_exports_as_junit_with_what_never_ran_marked(killed_store):
    before = store_fingerprint(killed_store)
    result = export(killed_store, "junit")
    assert result.exit_code == 0, result.output
    suite = ET.fromstring(result.stdout).find("testsuite")
    got = {(c.get("classname"), c.get("name")): c for c in suite.iter("testcase")}
    assert got[("soak", "soak")].find("error").get("message") == (
        "phase soak was running when the run's process ended without recording an end")
    assert got[("vmin", "vmin")].find("skipped").get("message") == "not run: the run was interrupted"
    soak_readings = [name for cls, name in got if cls == "soak" and name.startswith("sled.max_tj[t=")]
    assert soak_readings[:2] == ["sled.max_tj[t=00:00:00]", "sled.max_tj[t=00:01:00]"]
    assert got[("power_on", "vdd_core")].find("failure") is None
    assert not any(cls == "safe_state" for cls, _ in got)  # it died before its safe state
    assert store_fingerprint(killed_store) == before  # exporting touched nothing


def test_a_killed_run_exports_as_stdf_with_an_abnormal_end(killed_store, tmp_path):
    before = store_fingerprint(killed_store)
    out = tmp_path / "killed.stdf"
    result = export(killed_store, "stdf", "-o", str(out))
    assert result.exit_code == 0, result.output
    records = read_stdf(out)
    ((_, inside, prr),) = parts(records)
    assert prr["PART_ID"] == "SN-KILL"
    assert flags(prr["PART_FLG"]) == 0x04 | 0x08 | 0x10  # abnormal end; pass/fail not known
    assert (prr["HARD_BIN"], prr["SOFT_BIN"]) == (3, 2)
    phases = [r["TEXT_DAT"] for k, r in records if k == "DTR" and r["TEXT_DAT"].startswith("PHASE")]
    assert phases == ["PHASE power_on: passed", "PHASE soak: running", "PHASE vmin: pending"]
    pcr = next(r for k, r in records if k == "PCR")
    assert (pcr["PART_CNT"], pcr["ABRT_CNT"], pcr["GOOD_CNT"]) == (1, 1, 0)
    assert records[-1][1]["EXC_DESC"] == "the run's process ended without recording an end"
    assert sum(1 for k, r in inside if k == "PTR" and r["TEST_TXT"] == "sled.max_tj") >= 2
    assert store_fingerprint(killed_store) == before


def test_an_unknown_run_is_a_clear_error_in_every_format(killed_store, tmp_path):
    for fmt in ("stdf", "junit"):
        out = tmp_path / f"nothing.{fmt}"
        result = CliRunner().invoke(export_command, ["42", "--format", fmt, "-o", str(out), "--store", str(killed_store)])
        assert result.exit_code == 2
        assert result.stderr == (f"error: no run 42 in {killed_store}; `bringup runs --store {killed_store}` "
                                 f"lists the runs it has\n")
        assert not out.exists()


@pytest.mark.parametrize("fmt", ["stdf", "junit"])
def test_an_unwritable_folder_is_a_clear_error_and_loses_nothing(killed_store, tmp_path, fmt):
    before = store_fingerprint(killed_store)
    locked = tmp_path / "read-only"
    locked.mkdir()
    locked.chmod(0o555)
    out = locked / f"run.{fmt}"
    try:
        with without_root_override():
            result = export(killed_store, fmt, "-o", str(out))
    finally:
        locked.chmod(0o755)
    assert result.exit_code == 2
    assert result.stderr == (f"error: cannot write {out}: Permission denied; choose a writable -o path "
                             f"(the results store is unchanged)\n")
    assert list(locked.iterdir()) == [] and store_fingerprint(killed_store) == before


def test_stdf_to_stdout_is_the_same_bytes_as_to_a_file(killed_store):
    result = CliRunner().invoke(export_command, ["latest", "--format", "stdf", "--store", str(killed_store)])
    assert result.exit_code == 0
    reader = StoreReader(killed_store)
    assert result.stdout_bytes == stdf_bytes(reader, reader.latest_run_id())
