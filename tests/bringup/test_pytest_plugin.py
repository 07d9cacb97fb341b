"""The pytest plugin: `pytest procedures/` runs procedures as tests against a station.

Every test runs a real inner pytest (pytester) on procedures written in its temporary folder,
against the in-memory fake bench, and checks what a CI user sees: which items pass, fail or
are skipped and why, the one-line failure, the measurements in `--junitxml`.
"""

from __future__ import annotations

import importlib.metadata
import os
import signal
import subprocess
import sys
import textwrap
import tomllib
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy  # noqa: F401  an inner in-process run must not be the first to import numpy (it cannot be
import pytest  # loaded twice in one process, and pytester forgets what an inner run imported)

from bringup.core.clock import RealClock
from bringup.store import StoreReader
from engine_helpers import station_with

pytest_plugins = ("pytester",)

ROOT = Path(__file__).resolve().parents[2]
INSTALLED = any(ep.value == "bringup.pytest_plugin" for ep in importlib.metadata.entry_points(group="pytest11"))

HEAD = """
procedure: {name}
version: 1
requires: {{psu: power_supply, dmm: multimeter, cdu: coolant, sled: sled}}
parameters: {{vdd_core: 0.75 V, soak: 3 min}}
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
        with: {{channel: 1, voltage: 12 V, current_limit: 40 A}}
      - do: psu.output
        with: {{state: on}}
      - do: sled.power_on
      - measure: dmm.voltage_dc
        name: vdd_core
        expect: "{{vdd_core}} ± 3%"
      - measure: psu.current
        name: standby current
        limit: {{high: 2.5 A}}
  - id: links
    after: power_on
    steps:
      - for_each: {{port: [0, 1, 2, 3]}}
        steps:
          - measure: sled.prbs_ber
            with: {{port: "{{port}}", pattern: PRBS31}}
            limit: {{high: 1e-12}}
  - id: soak
    after: links
    steps:
      - do: sled.stress_start
        with: {{level: 100%}}
      - soak: {{duration: "{{soak}}", every: 1 min}}
        steps:
          - measure: sled.max_tj
            limit: {{high: 95 degC}}
"""


def setup_bench(pytester: pytest.Pytester, options: dict | None = None, **procedures: str) -> Path:
    """procedures/<name>.yaml for each keyword, and the fake bench as station.yaml."""
    folder = pytester.path / "procedures"
    folder.mkdir(exist_ok=True)
    for name, text in procedures.items():
        (folder / f"{name}.yaml").write_text(textwrap.dedent(text).format(name=name))
    return station_with(pytester.path, options)


# Plugins the inner runs do not need: each would be imported afresh (and assertion-rewritten)
# by every inner run, seconds each.
QUIET = ("-p", "no:cacheprovider", "-p", "no:hypothesispytest", "-p", "no:benchmark")


def run_pytest(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    plugin = () if INSTALLED else ("-p", "bringup.pytest_plugin")
    return pytester.runpytest(*plugin, *QUIET, "--bringup-store", str(pytester.path / "runs.sqlite"), *args)


def outcomes(result: pytest.RunResult) -> dict[str, str]:
    """nodeid -> PASSED/FAILED/SKIPPED from `-rA` short summary and `-v` lines."""
    found = {}
    for line in result.outlines:
        for word in ("PASSED", "FAILED", "SKIPPED", "ERROR"):
            if f" {word}" in line and "::" in line and line.startswith("procedures/"):
                found[line.split(f" {word}")[0].strip()] = word
    return found


def test_a_passing_procedure_is_one_test_per_step_grouped_by_phase(pytester):
    station = setup_bench(pytester, bringup=GATED)
    result = run_pytest(pytester, "procedures", "--bringup-station", str(station), "-v")
    result.assert_outcomes(passed=11)
    assert outcomes(result) == {
        "procedures/bringup.yaml::power_on::psu.set": "PASSED",
        "procedures/bringup.yaml::power_on::psu.output": "PASSED",
        "procedures/bringup.yaml::power_on::sled.power_on": "PASSED",
        "procedures/bringup.yaml::power_on::vdd_core": "PASSED",
        "procedures/bringup.yaml::power_on::standby current": "PASSED",
        "procedures/bringup.yaml::links::for_each[port]": "PASSED",
        "procedures/bringup.yaml::soak::sled.stress_start": "PASSED",
        "procedures/bringup.yaml::soak::soak": "PASSED",
        "procedures/bringup.yaml::safe_state::sled.stress_stop": "PASSED",
        "procedures/bringup.yaml::safe_state::sled.power_off": "PASSED",
        "procedures/bringup.yaml::safe_state::psu.output": "PASSED",
    }
    # the run is in the store like any other, and the summary says where
    reader = StoreReader(pytester.path / "runs.sqlite")
    run = reader.run(reader.latest_run_id())
    assert (run["procedure"], run["state"], run["dut"]) == ("bringup", "passed", "unknown")
    assert len(reader.measurements(run["id"])) == 1 + 1 + 4 + 3  # the soak: at 0, 1, 2 min of 3
    result.stdout.fnmatch_lines([f"procedures/bringup.yaml: run {run['id']} passed, verdict PASS; `bringup report*"])


def test_a_failed_gate_fails_its_step_in_one_line_and_skips_what_is_behind_it(pytester):
    station = setup_bench(pytester, {"dmm": {"source_v": 0.69}}, bringup=GATED)
    result = run_pytest(pytester, "procedures", "--bringup-station", str(station), "-rs", "-v")
    result.assert_outcomes(passed=6, failed=1, skipped=4)
    got = outcomes(result)
    assert got["procedures/bringup.yaml::power_on::vdd_core"] == "FAILED"
    assert got["procedures/bringup.yaml::power_on::standby current"] == "SKIPPED"
    assert got["procedures/bringup.yaml::links::for_each[port]"] == "SKIPPED"
    assert got["procedures/bringup.yaml::safe_state::sled.power_off"] == "PASSED"  # the way out always runs
    # the failure is the one line a person reads, not a traceback
    lines = result.outlines
    header = next(i for i, line in enumerate(lines) if "_ power_on: vdd_core _" in line)
    assert lines[header + 1] == "vdd_core = 0.69 V not in [0.7275, 0.7725] V"
    assert "Traceback" not in result.stdout.str() and "raise StepFailure" not in result.stdout.str()
    # why each skipped step never ran, at its line in the procedure
    assert "SKIPPED [1] procedures/bringup.yaml:22: not run: phase power_on stopped at 'vdd_core' " \
           "(vdd_core = 0.69 V not in [0.7275, 0.7725] V)" in lines
    assert "SKIPPED [1] procedures/bringup.yaml:28: not run: phase power_on failed" in lines


def test_junitxml_has_phases_as_classnames_measurements_as_properties_and_the_failure_line(pytester):
    station = setup_bench(pytester, {"dmm": {"source_v": 0.69}}, bringup=GATED)
    run_pytest(pytester, "procedures", "--bringup-station", str(station), "--junitxml", "report.xml")
    suite = ET.parse(pytester.path / "report.xml").getroot().find("testsuite")
    assert (suite.get("tests"), suite.get("failures"), suite.get("skipped")) == ("11", "1", "4")
    cases = {c.get("name"): c for c in suite.iter("testcase")}
    vdd = cases["vdd_core"]
    assert vdd.get("classname") == "procedures.bringup.yaml.power_on"
    props = {p.get("name"): p.get("value") for p in vdd.iter("property")}
    assert props == {"vdd_core.value": "0.69", "vdd_core.unit": "V", "vdd_core.low": "0.7275",
                     "vdd_core.high": "0.7725", "vdd_core.verdict": "FAIL"}
    assert vdd.find("failure").get("message") == "vdd_core = 0.69 V not in [0.7275, 0.7725] V"
    assert cases["for_each[port]"].get("classname") == "procedures.bringup.yaml.links"
    assert cases["for_each[port]"].find("skipped").get("message").startswith("not run: phase power_on failed")


def test_a_loop_item_carries_every_measurement_of_the_loop(pytester):
    station = setup_bench(pytester, bringup=GATED)
    run_pytest(pytester, "procedures", "--bringup-station", str(station), "--junitxml", "report.xml")
    cases = {c.get("name"): c for c in ET.parse(pytester.path / "report.xml").iter("testcase")}
    props = {p.get("name"): p.get("value") for p in cases["soak"].iter("property")}
    # a 3-minute soak every minute: t = 0, 1, 2 min (none at 3, when it is over), each its own unique name
    assert [k for k in props if k.endswith(".verdict")] == [
        f"sled.max_tj[t=00:0{i}:00].verdict" for i in range(3)]
    assert all(props[f"sled.max_tj[t=00:0{i}:00].unit"] == "degC" for i in range(3))
    assert props["sled.max_tj[t=00:00:00].high"] == "95.0"
    ber = {p.get("name"): p.get("value") for p in cases["for_each[port]"].iter("property")}
    assert ber["sled.prbs_ber(port=3, pattern=PRBS31, confidence=95)[port=3].value"] == "1e-15"


def test_continue_on_fail_inside_a_loop_fails_the_loop_item_and_the_phase_goes_on(pytester):
    text = HEAD + """
phases:
  - id: power_on
    steps:
      - do: sled.power_on
      - for_each: {{rail: [VDD_CORE, VDD_SRAM, VDDIO]}}
        steps:
          - measure: sled.rail_voltage
            with: {{rail: "{{rail}}"}}
            limit: {{high: 1 V}}
            on_fail: continue
      - measure: psu.current
        name: standby current
        limit: {{high: 2 A}}
"""
    station = setup_bench(pytester, loop=text)
    result = run_pytest(pytester, "procedures", "--bringup-station", str(station), "-v")
    got = outcomes(result)
    assert got["procedures/loop.yaml::power_on::for_each[rail]"] == "FAILED"
    assert got["procedures/loop.yaml::power_on::standby current"] == "PASSED"  # it ran: on_fail continue
    assert "sled.rail_voltage(rail=VDDIO, chip=0) = 1.8 V not in <= 1 V" in result.outlines


def test_retries_pass_on_a_later_attempt_or_fail_with_the_last_attempt(pytester):
    # The junction warms about 2 degC/s: the first 2-second waits time out, a later one passes.
    text = HEAD + """
phases:
  - id: warm
    steps:
      - do: sled.power_on
      - do: sled.stress_start
        with: {{level: 100%}}
      - wait_until: {{condition: "sled.max_tj > 40 degC", timeout: 2 s}}
        name: warm enough
        retry: 5
      - measure: dmm.voltage_dc
        name: vdd_core
        limit: {{low: 0.8 V}}
        retry: 2
      - wait: 1 s
"""
    station = setup_bench(pytester, warm=text)
    result = run_pytest(pytester, "procedures", "--bringup-station", str(station), "-v")
    got = outcomes(result)
    assert got["procedures/warm.yaml::warm::warm enough"] == "PASSED"
    assert got["procedures/warm.yaml::warm::vdd_core"] == "FAILED"
    assert got["procedures/warm.yaml::warm::wait 1 s"] == "SKIPPED"
    assert "vdd_core = 0.75 V not in >= 0.8 V (attempt 3 of 3)" in result.outlines
    reader = StoreReader(pytester.path / "runs.sqlite")
    waits = [s for s in reader.steps(reader.latest_run_id()) if s["kind"] == "wait_until"]
    assert [s["outcome"] for s in waits][-1] == "ok" and len(waits) >= 2  # it really was retried
    assert len(reader.measurements(reader.latest_run_id())) == 3


def test_a_retried_phase_is_judged_by_its_last_attempt(pytester):
    text = HEAD + """
phases:
  - id: warm
    retries: 5
    steps:
      - do: sled.power_on
      - do: sled.stress_start
        with: {{level: 100%}}
      - wait_until: {{condition: "sled.max_tj > 40 degC", timeout: 2 s}}
        name: warm enough
"""
    station = setup_bench(pytester, warm=text)
    result = run_pytest(pytester, "procedures", "--bringup-station", str(station), "-v")
    result.assert_outcomes(passed=6)
    reader = StoreReader(pytester.path / "runs.sqlite")
    retries = [e for e in reader.events(reader.latest_run_id()) if e["kind"] == "retry"]
    assert retries  # the phase did fail at first


def test_an_interlock_trip_fails_the_step_it_hit_and_skips_the_rest(pytester):
    text = HEAD + """
monitors:
  - read: sled.max_tj
    every: 1 s
    limit: {{high: 60 degC}}
phases:
  - id: stress
    steps:
      - do: sled.power_on
      - do: sled.stress_start
        with: {{level: 100%}}
      - wait: 10 min
      - measure: psu.current
        name: after
        limit: {{high: 2 A}}
  - id: later
    after: stress
    steps:
      - wait: 1 s
"""
    station = setup_bench(pytester, trip=text)
    result = run_pytest(pytester, "procedures", "--bringup-station", str(station), "-v", "-rs")
    got = outcomes(result)
    assert got["procedures/trip.yaml::stress::wait 10 min"] == "FAILED"
    assert got["procedures/trip.yaml::stress::after"] == "SKIPPED"
    assert got["procedures/trip.yaml::later::wait 1 s"] == "SKIPPED"
    assert got["procedures/trip.yaml::safe_state::sled.power_off"] == "PASSED"
    result.stdout.fnmatch_lines(["phase stress aborted during this step: *sled.max_tj*"])


def test_ctrl_c_aborts_the_run_into_its_safe_state_and_fails_the_step_it_hit(tmp_path):
    """What a cancelled CI job does: SIGINT to pytest in the middle of an 8-hour soak."""
    (tmp_path / "procedures").mkdir()
    (tmp_path / "procedures" / "night.yaml").write_text(textwrap.dedent(GATED.format(name="night")))
    station = station_with(tmp_path, text="station: slow\nclock: simulated\nspeed: 600\nroles:\n"
                           "  psu: {driver: fake.power_supply}\n  dmm: {driver: fake.multimeter}\n"
                           "  cdu: {driver: fake.coolant}\n  sled: {driver: fake.sled}\n")
    store = tmp_path / "runs.sqlite"
    plugin = [] if INSTALLED else ["-p", "bringup.pytest_plugin"]
    child = subprocess.Popen(
        [sys.executable, "-m", "pytest", *plugin, *QUIET, "procedures", "--bringup-station", str(station),
         "--bringup-store", str(store), "--bringup-param", "soak=8 h", "-rs"],
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    clock = RealClock()
    deadline = clock.now() + 60.0
    try:
        while True:  # until the soak has taken two readings
            assert child.poll() is None and clock.now() < deadline, "the soak never started"
            if store.exists():
                reader = StoreReader(store)
                try:
                    run_id = reader.latest_run_id()
                    if run_id and sum(m["path"] == "soak" for m in reader.measurements(run_id)) >= 2:
                        break
                finally:
                    reader.close()
            clock.sleep(0.05)
        os.kill(child.pid, signal.SIGINT)
        output, _ = child.communicate(timeout=60)
    finally:
        if child.poll() is None:
            child.kill()
    assert child.returncode == pytest.ExitCode.TESTS_FAILED
    lines = output.splitlines()
    header = next(i for i, line in enumerate(lines) if "_ soak: soak _" in line)
    assert lines[header + 1] == "phase soak aborted during this step: Ctrl-C received"
    reader = StoreReader(store)
    run = reader.run(reader.latest_run_id())
    assert (run["state"], run["reason"]) == ("aborted", "Ctrl-C received")
    safe = [s["path"] for s in reader.steps(run["id"]) if s["path"].startswith("safe_state/")]
    assert safe == ["safe_state/1/sled.stress_stop", "safe_state/2/sled.power_off", "safe_state/3/psu.output(state=off, channel=0)"]


def test_an_invalid_procedure_is_a_collection_error_with_file_line_and_column(pytester):
    station = setup_bench(pytester, broken=HEAD + """
phases:
  - id: power_on
    steps:
      - do: psu.set
        with: {{channel: 1, voltage: 40 V, current_limit: 1 A}}
""")
    result = run_pytest(pytester, "procedures", "--bringup-station", str(station))
    assert result.ret == pytest.ExitCode.INTERRUPTED  # collection errors stop the session
    result.stdout.fnmatch_lines(["*not a valid procedure for station*nothing was run*",
                                 "*broken.yaml:1?:*voltage*"])
    assert not (pytester.path / "runs.sqlite").exists()  # nothing was run


def test_parameters_and_dut_reach_the_run(pytester):
    station = setup_bench(pytester, {"dmm": {"source_v": 0.8}}, bringup=GATED)
    result = run_pytest(pytester, "procedures", "--bringup-station", str(station), "--bringup-param",
                        "vdd_core=0.8 V", "--bringup-param", "soak=1 min", "--bringup-dut", "SN-42")
    result.assert_outcomes(passed=11)
    reader = StoreReader(pytester.path / "runs.sqlite")
    run = reader.run(reader.latest_run_id())
    assert run["dut"] == "SN-42" and run["parameters"]["vdd_core"] == "0.8 V"
    assert [m["coords"]["t"] for m in reader.measurements(run["id"]) if m["path"] == "soak"] == ["00:00:00"]  # 1 min every 1 min


def test_selecting_items_chooses_what_is_reported_not_what_runs(pytester):
    station = setup_bench(pytester, bringup=GATED)
    result = run_pytest(pytester, "procedures", "--bringup-station", str(station), "-k", "soak")
    result.assert_outcomes(passed=2)
    reader = StoreReader(pytester.path / "runs.sqlite")
    phases = {p["phase_id"]: p["state"] for p in reader.phases(reader.latest_run_id())}
    assert phases == {"power_on": "passed", "links": "passed", "soak": "passed"}


def test_yaml_is_collected_only_when_pointed_at(pytester):
    station = str(setup_bench(pytester, bringup=GATED))
    data = pytester.path / "tests" / "corpus"
    data.mkdir(parents=True)
    (data / "bad.yaml").write_text("procedure: [this is data, not a test\n")
    (data / "test_real.py").write_text("def test_ok():\n    assert True\n")
    pytester.makeini("[pytest]\ntestpaths = tests\n")
    plain = run_pytest(pytester)  # the project's own test run: testpaths only, YAML stays data
    plain.assert_outcomes(passed=1)
    explicit = run_pytest(pytester, "tests")
    explicit.assert_outcomes(passed=1)
    everything = run_pytest(pytester, ".", "--collect-only", "-q", "--bringup-station", station)
    assert "procedures/bringup.yaml" not in everything.stdout.str()
    asked = run_pytest(pytester, "tests", "--bringup", "--collect-only", "-q", "--bringup-station", station)
    asked.stdout.fnmatch_lines(["*bad.yaml*"])  # --bringup: every procedure file under the paths
    one_file = run_pytest(pytester, "procedures/bringup.yaml", "--collect-only", "-q", "--bringup-station", station)
    one_file.stdout.fnmatch_lines(["procedures/bringup.yaml::power_on::psu.set"])


def test_a_yaml_file_that_is_not_a_procedure_is_left_alone(pytester):
    station = setup_bench(pytester, bringup=GATED)
    (pytester.path / "procedures" / "limits.yaml").write_text("vdd_core: {low: 0.7, high: 0.8}\n")
    result = run_pytest(pytester, "procedures", "--collect-only", "-q", "--bringup-station", str(station))
    assert "limits.yaml" not in result.stdout.str() and result.ret == pytest.ExitCode.OK


def test_the_projects_own_procedure_runs_on_the_embedded_simulator_by_default(pytester):
    """What .ci/run does: no station given, so the simulated lab starts in-process, on real transports."""
    (pytester.path / "procedures").mkdir()
    demo = (ROOT / "procedures" / "demo_fake_bench.yaml").read_text()
    (pytester.path / "procedures" / "demo.yaml").write_text(demo)
    result = run_pytest(pytester, "procedures", "--bringup-param", "soak=2min", "--bringup-seed", "7",
                        "--junitxml", "report.xml")
    assert result.ret == pytest.ExitCode.OK, result.stdout.str()
    reader = StoreReader(pytester.path / "runs.sqlite")
    run = reader.run(reader.latest_run_id())
    assert (run["station"], run["state"], run["meta"]["simulator"]["seed"]) == ("sim-embedded", "passed", 7)
    assert any(e["kind"] == "ground_truth" for e in reader.events(run["id"]))
    suite = ET.parse(pytester.path / "report.xml").getroot().find("testsuite")
    assert int(suite.get("tests")) >= 10 and suite.get("failures") == "0" and suite.get("skipped") == "0"


def test_the_plugin_is_registered_through_the_pytest11_entry_point():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert project["project"]["entry-points"]["pytest11"] == {"bringup": "bringup.pytest_plugin"}
    assert "bringup.pytest_plugin" in project["tool"]["setuptools"]["packages"]
