"""JUnit XML of a run (`bringup run --junit`, `bringup export --format junit`): what CI renders."""

from __future__ import annotations

import sqlite3
import xml.etree.ElementTree as ET

import pytest
from click.testing import CliRunner

from bringup.commands.results import export_command
from bringup.outputs.export import ExportError
from bringup.outputs.junit import junit_xml, write_junit
from bringup.store import Measurement, Store, StoreReader, UnknownRun
from engine_helpers import run
from test_export import store_fingerprint, without_root_override

HEAD = """
procedure: gated
version: 3
requires: {psu: power_supply, dmm: multimeter, cdu: coolant, sled: sled}
parameters: {vdd_core: 0.75 V, soak: 2 min}
safe_state:
  - sled.stress_stop
  - sled.power_off
  - psu.output: off
"""

GATED = HEAD + """
phases:
  - id: power_on
    steps:
      - do: psu.set
        with: {channel: 1, voltage: 12 V, current_limit: 40 A}
      - do: sled.power_on
      - measure: dmm.voltage_dc
        name: vdd_core
        expect: "{vdd_core} ± 3%"
  - id: links
    after: power_on
    steps:
      - for_each: {port: [0, 1]}
        steps:
          - measure: sled.prbs_ber
            with: {port: "{port}"}
            limit: {high: 1e-12}
  - id: soak
    after: links
    steps:
      - soak: {duration: "{soak}", every: 1 min}
        steps:
          - measure: sled.max_tj
            name: soak
            limit: {high: 95 degC}
"""


def parse(text: str) -> ET.Element:
    root = ET.fromstring(text.encode("utf-8"))
    assert root.tag == "testsuites"
    return root


def cases(root: ET.Element) -> dict[tuple[str, str], ET.Element]:
    out = {}
    for c in root.iter("testcase"):
        key = (c.get("classname"), c.get("name"))
        assert key not in out, f"testcase {key} is not unique"
        out[key] = c
    return out


def props(el: ET.Element) -> dict[str, str]:
    return {p.get("name"): p.get("value") for p in el.find("properties")}


def test_phases_are_classnames_and_repeated_steps_have_unique_names(tmp_path):
    outcome = run(tmp_path, GATED)
    root = parse(junit_xml(outcome.reader, outcome.run_id))
    suite = root.find("testsuite")
    got = cases(root)
    assert list(got) == [
        ("power_on", "psu.set(channel=1, voltage=12 V, current_limit=40 A)"),
        ("power_on", "sled.power_on"),
        ("power_on", "vdd_core"),
        ("links", "sled.prbs_ber(port=0, pattern=PRBS31, confidence=95)[port=0]"),
        ("links", "sled.prbs_ber(port=1, pattern=PRBS31, confidence=95)[port=1]"),
        ("soak", "soak[t=00:00:00]"), ("soak", "soak[t=00:01:00]"),  # a 2 min soak: none at 2:00, it is over
        ("safe_state", "sled.stress_stop"), ("safe_state", "sled.power_off"),
        ("safe_state", "psu.output(state=off, channel=0)"),
    ]
    # the counts every CI reporter reads agree with the testcases
    assert (suite.get("name"), suite.get("tests"), suite.get("failures"), suite.get("errors"),
            suite.get("skipped")) == ("gated", "10", "0", "0", "0")
    assert root.get("tests") == "10" and float(suite.get("time")) == 120.0
    assert "T" in suite.get("timestamp") and not suite.get("timestamp").endswith("Z")
    facts = props(suite)
    assert (facts["run_id"], facts["dut"], facts["verdict"], facts["parameters.soak"]) == (
        str(outcome.run_id), "SN-TEST", "PASS", "2 min")


def test_measurements_are_properties_and_the_log_is_system_out(tmp_path):
    outcome = run(tmp_path, GATED)
    got = cases(parse(junit_xml(outcome.reader, outcome.run_id)))
    vdd = got[("power_on", "vdd_core")]
    assert props(vdd) == {"value": "0.75", "unit": "V", "low": "0.7275", "high": "0.7725", "verdict": "PASS"}
    soak = got[("soak", "soak[t=00:01:00]")]
    assert props(soak)["coords.t"] == "00:01:00" and props(soak)["high"] == "95.0"
    assert soak.find("system-out").text.startswith("t=60.000 s  soak[t=00:01:00] = ")
    assert vdd.find("failure") is None and vdd.find("error") is None


def test_a_failure_is_one_readable_line_and_what_is_behind_the_gate_is_skipped(tmp_path):
    outcome = run(tmp_path, GATED, options={"dmm": {"source_v": 0.69}})
    root = parse(junit_xml(outcome.reader, outcome.run_id))
    got = cases(root)
    failure = got[("power_on", "vdd_core")].find("failure")
    assert failure.get("message") == "vdd_core = 0.69 V not in [0.7275, 0.7725] V"
    assert failure.get("type") == "FAIL" and "path: power_on" in failure.text
    for phase in ("links", "soak"):
        skipped = got[(phase, phase)].find("skipped")
        assert skipped.get("message") == "not run: phase power_on failed"
    suite = root.find("testsuite")
    assert (suite.get("tests"), suite.get("failures"), suite.get("skipped")) == ("8", "1", "2")
    assert got[("safe_state", "sled.power_off")].find("failure") is None


def test_an_unknown_reading_is_an_error_not_a_failure(tmp_path):
    outcome = run(tmp_path, GATED, options={"dmm": {"nan": ["voltage_dc"]}})
    error = cases(parse(junit_xml(outcome.reader, outcome.run_id)))[("power_on", "vdd_core")].find("error")
    assert error.get("type") == "UNKNOWN" and error.get("message") == "vdd_core = NaN (no valid reading)"


def test_a_retried_step_is_one_testcase_with_every_attempt_in_its_log(tmp_path):
    outcome = run(tmp_path, HEAD + """
phases:
  - id: warm
    steps:
      - do: sled.power_on
      - do: sled.stress_start
        with: {level: 100%}
      - wait_until: {condition: "sled.max_tj > 40 degC", timeout: 2 s}
        retry: 5
      - measure: dmm.voltage_dc
        name: vdd_core
        limit: {low: 0.8 V}
        retry: 2
""")
    got = cases(parse(junit_xml(outcome.reader, outcome.run_id)))
    wait = got[("warm", "wait_until sled.max_tj > 40 degC")]
    assert wait.find("failure") is None and wait.find("error") is None
    assert "timeout (attempt" not in wait.find("system-out").text.splitlines()[-1]
    assert len(wait.find("system-out").text.splitlines()) >= 2
    vdd = got[("warm", "vdd_core")]
    assert vdd.find("failure").get("message") == "vdd_core = 0.75 V not in >= 0.8 V (attempt 3 of 3)"
    assert len(vdd.find("system-out").text.splitlines()) == 3
    assert [name for cls, name in got if cls == "warm"] == [
        "sled.power_on", "sled.stress_start(level=100 %)", "wait_until sled.max_tj > 40 degC", "vdd_core"]


def test_the_same_name_twice_in_a_phase_gets_a_number(tmp_path):
    outcome = run(tmp_path, HEAD + """
phases:
  - id: twice
    steps:
      - measure: psu.current
      - measure: psu.current
""")
    names = [name for cls, name in cases(parse(junit_xml(outcome.reader, outcome.run_id))) if cls == "twice"]
    assert names == ["psu.current", "psu.current #2"]


@pytest.fixture
def interrupted_store(tmp_path):
    """A run whose process died mid-phase: `running` in the file, its writer gone."""
    path = tmp_path / "runs.sqlite"
    with Store(path) as store:
        run_id = store.begin_run(procedure="sled", version="1", procedure_path="sled.yaml", procedure_sha256="0" * 64,
                                 dut="SN-7", station="sim", parameters={}, meta={}, clock="simulated", t=0.0)
        for i, phase in enumerate(("power_on", "soak", "vmin")):
            store.phase(run_id, phase, state="pending", t=0.0, order=i)
        store.phase(run_id, "power_on", state="running", t=0.0)
        store.measurement(Measurement(run_id=run_id, path="power_on", name="vdd_core", value=0.75, unit="V",
                                      low=0.7275, high=0.7725, verdict="PASS", t=1.0))
        store.phase(run_id, "power_on", state="passed", t=2.0, verdict="PASS")
        store.phase(run_id, "soak", state="running", t=2.0)
        store.measurement(Measurement(run_id=run_id, path="soak", name="tj", value=71.0, unit="degC", low=None,
                                      high=95.0, verdict="PASS", t=60.0, coords={"t": "00:01:00"}))
        store.measurement(Measurement(run_id=run_id, path="soak", name="tj", value=None, unit="degC", low=None,
                                      high=95.0, verdict="UNKNOWN", t=120.0, coords={"t": "00:02:00"},
                                      message="reading failed: sensor sent \x01\x02"))
    conn = sqlite3.connect(path)
    conn.execute("UPDATE runs SET pid_start = 'a process long gone'")
    conn.commit()
    conn.close()
    return path


def test_a_killed_run_exports_with_what_never_ran_marked(interrupted_store):
    reader = StoreReader(interrupted_store)
    assert reader.run(1)["state"] == "interrupted"
    root = parse(junit_xml(reader, 1))
    got = cases(root)
    assert got[("soak", "soak")].find("error").get("message") == (
        "phase soak was running when the run's process ended without recording an end")
    assert got[("vmin", "vmin")].find("skipped").get("message") == "not run: the run was interrupted"
    assert got[("soak", "tj[t=00:01:00]")].find("error") is None
    unknown = got[("soak", "tj[t=00:02:00]")].find("error")
    assert unknown.get("message") == "reading failed: sensor sent ??"  # XML cannot hold control bytes


def test_write_junit_writes_the_file_whole_and_names_an_unknown_run(tmp_path):
    outcome = run(tmp_path, GATED)
    out = tmp_path / "report" / "junit.xml"
    out.parent.mkdir()
    write_junit(outcome.reader, outcome.run_id, out)
    assert parse(out.read_text(encoding="utf-8")).find("testsuite").get("tests") == "10"
    assert [p.name for p in out.parent.iterdir()] == ["junit.xml"]  # no temporary left beside it
    with pytest.raises(UnknownRun, match="no run 99 in "):
        write_junit(outcome.reader, 99, tmp_path / "x.xml")
    assert not (tmp_path / "x.xml").exists()


def test_an_unwritable_junit_file_is_one_clear_error_and_the_store_is_unchanged(tmp_path):
    outcome = run(tmp_path, GATED)
    store = tmp_path / "runs.sqlite"
    before = store_fingerprint(store)
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    try:
        with without_root_override(), pytest.raises(ExportError) as exc:
            write_junit(outcome.reader, outcome.run_id, locked / "junit.xml")
    finally:
        locked.chmod(0o755)
    assert str(exc.value) == (f"cannot write {locked / 'junit.xml'}: Permission denied; choose a writable -o path "
                              f"(the results store is unchanged)")
    assert list(locked.iterdir()) == [] and store_fingerprint(store) == before


def test_export_format_junit_from_the_command_line(tmp_path):
    outcome = run(tmp_path, GATED)
    result = CliRunner().invoke(export_command, ["latest", "--format", "junit", "--store", str(tmp_path / "runs.sqlite")])
    assert result.exit_code == 0
    assert result.stdout == junit_xml(outcome.reader, outcome.run_id)
