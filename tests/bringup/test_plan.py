"""The compiled plan: `bringup plan` shows what a run will do, and the run's records carry its ids.

A bring-up engineer reads the plan before powering a sled (every driver call, its arguments with
units, the guardrail it was checked against), and compares runs step by step by the ids the
plan gives: the same file gives the same ids, and every measurement and step row carries one.
"""

from __future__ import annotations

import json
import textwrap
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from bringup.cli import main
from engine_helpers import run, station_with, write

HERE = Path(__file__).parent
ROOT = HERE.parents[1]

PROCEDURE = """
procedure: planned
version: 3
requires: {psu: power_supply, dmm: multimeter, cdu: coolant, sled: sled}
parameters: {vdd_core: 0.75 V, settle: 2 s}
safe_state:
  - sled.power_off
  - psu.output: off
monitors:
  - read: sled.max_tj
    every: 1 s
    limit: {high: 105 degC}
phases:
  - id: power_on
    steps:
      - do: cdu.start
        with: {setpoint: 30 degC, flow: 6 L/min}
      - do: psu.set
        with: {channel: 1, voltage: 12 V, current_limit: 40 A}
      - wait: "{settle}"
      - measure: dmm.voltage_dc
        name: vdd_core
        expect: "{vdd_core} ± 3%"
        retry: 2
  - id: links
    after: power_on
    steps:
      - for_each: {port: [0, 1, 2, 3]}
        steps:
          - measure: sled.prbs_ber
            with: {port: "{port}", pattern: PRBS31}
            limit: {high: 1e-12}
"""


def plan_of(tmp_path: Path, *args: str, text: str = PROCEDURE) -> tuple[int, str]:
    proc = write(tmp_path, "planned.yaml", text)
    result = CliRunner().invoke(main, ["plan", str(proc), "--station", str(station_with(tmp_path)), *args])
    return result.exit_code, result.output


def test_the_json_plan_lists_every_call_in_order_with_ids_units_and_guardrails(tmp_path):
    code, out = plan_of(tmp_path, "--json")
    assert code == 0, out
    plan = json.loads(out)
    assert (plan["format"], plan["procedure"], plan["order"]) == ("bringup-plan", "planned", ["power_on", "links"])
    power_on, links = plan["phases"]
    assert links["after"] == ["power_on"]
    steps = power_on["steps"]
    assert [s["id"] for s in steps] == ["power_on/1", "power_on/2", "power_on/3", "power_on/4"]
    assert [s["kind"] for s in steps] == ["do", "do", "wait", "measure"]
    # the units stay with the arguments, and the parameter is expanded where it is constant
    assert steps[0]["call"]["text"] == "cdu.start(setpoint=30 degC, flow=6 L/min)"
    assert steps[0]["call"]["args"]["flow"] == {"value": 6.0, "unit": "L/min", "si": 6.0}  # the units table's base
    assert steps[0]["call"]["args"]["setpoint"]["si"] == pytest.approx(303.15)
    assert steps[2]["label"] == "wait 2 s"
    assert sorted(g["text"] for g in steps[1]["call"]["guardrails"]) == [
        "ok: current_limit = 40 A within the station limit (current_limit ≤ 45 A on channel 1)",
        "ok: voltage = 12 V within the station limit (voltage ≤ 13 V on channel 1)"]
    assert {(g["param"], g["value"], g["verdict"]) for g in steps[1]["call"]["guardrails"]} == {
        ("voltage", "12 V", "ok"), ("current_limit", "40 A", "ok")}
    vdd = steps[3]
    assert (vdd["label"], vdd["limits"], vdd["retry"], vdd["call"]["returns"]) == \
        ("vdd_core", "[0.7275, 0.7725] V", 2, "V")
    loop = links["steps"][0]
    assert (loop["id"], loop["kind"], loop["loop"]) == ("links/1", "for_each", "port in [0, 1, 2, 3]")
    assert loop["steps"][0]["id"] == "links/1/1"
    assert loop["steps"][0]["call"]["as_written"] == {"port": "{port}", "pattern": "PRBS31"}
    assert [(m["id"], m["call"]["text"], m["limits"]) for m in plan["monitors"]] == \
        [("monitors/1", "sled.max_tj", "<= 105 degC")]
    assert [(s["id"], s["call"]["text"]) for s in plan["safe_state"]] == \
        [("safe_state/1", "sled.power_off"), ("safe_state/2", "psu.output(state=off, channel=0)")]


def test_the_same_file_gives_the_same_plan_and_the_run_records_its_ids(tmp_path):
    first = plan_of(tmp_path, "--json")[1]
    assert plan_of(tmp_path, "--json")[1] == first
    outcome = run(tmp_path, PROCEDURE, options={"dmm": {"source_v": 0.69}})  # vdd_core fails, three times
    vdd = [(m["step_id"], m["attempt"], m["verdict"]) for m in outcome.measurements() if m["name"] == "vdd_core"]
    assert vdd == [("power_on/4", 1, "FAIL"), ("power_on/4", 2, "FAIL"), ("power_on/4", 3, "FAIL")]
    retries = outcome.reader.events(outcome.run_id, kind="retry")
    assert [(e["step_id"], e["attempt"]) for e in retries] == [("power_on/4", 1), ("power_on/4", 2)]
    steps = {s["path"]: s["step_id"] for s in outcome.reader.steps(outcome.run_id)}
    assert steps["power_on/cdu.start(setpoint=30 degC, flow=6 L/min)"] == "power_on/1"
    assert steps["power_on/2 s"] == "power_on/3"  # the wait is recorded as the plan says it, not "{settle}"
    assert steps["safe_state/2/psu.output(state=off, channel=0)"] == "safe_state/2"
    ids = {s["id"] for p in json.loads(first)["phases"] for s in p["steps"]}
    assert {sid.rsplit("/", 1)[0] if sid.count("/") > 1 else sid for sid in steps.values()} - {
        "safe_state/1", "safe_state/2"} <= ids


def test_the_text_plan_reads_as_a_dry_run(tmp_path):
    code, out = plan_of(tmp_path)
    assert code == 0, out
    lines = [line.split() for line in out.splitlines()]
    assert "power_on/1 do cdu.start(setpoint=30 degC, flow=6 L/min)".split() in lines
    assert any(line[:3] == ["links/1/1", "measure", "sled.prbs_ber(port={port},"] for line in lines)
    assert "port in [0, 1, 2, 3]".split() in lines
    assert "links  (after power_on)" in out and "monitors/1" in out
    assert out.index("safe state") > out.index("phase links:")


def test_nothing_is_touched_a_bench_that_is_not_there_can_be_planned(tmp_path):
    # every address in the example bench is on a lab network this machine is not on: opening
    # any instrument would fail (or hang until its timeout)
    text = textwrap.dedent("""
        procedure: cool
        requires: {cdu: coolant, dmm: multimeter}
        phases:
          - id: cooling
            steps:
              - do: cdu.start
                with: {setpoint: 30 degC, flow: 4 L/min}
              - measure: dmm.voltage_dc
                limit: {high: 1 V}
        """)
    proc = write(tmp_path, "cool.yaml", text)
    started = time.monotonic()
    result = CliRunner().invoke(main, ["plan", str(proc), "--station", str(ROOT / "stations" / "example_bench.yaml")])
    assert result.exit_code == 0, result.output
    assert time.monotonic() - started < 10
    assert "cooling/1" in result.output and "cdu.start(setpoint=30 degC, flow=4 L/min)" in result.output


def test_the_embedded_lab_is_planned_without_being_started():
    result = CliRunner().invoke(main, ["plan", str(ROOT / "procedures" / "pcie.yaml"), "--json"])
    assert result.exit_code == 0, result.output
    plan = json.loads(result.output)
    assert plan["station"] == "sim-embedded" and plan["order"][0] == "cooling"


@pytest.mark.parametrize("path", sorted((HERE / "bad_procedures").glob("*.yaml"))[:12], ids=lambda p: p.stem)
def test_bad_input_is_reported_as_validate_reports_it(path, monkeypatch):
    monkeypatch.chdir(path.parent)
    planned = CliRunner().invoke(main, ["plan", path.name, "--station", "fake"])
    validated = CliRunner().invoke(main, ["validate", path.name, "--station", "fake"])
    assert planned.exit_code == 2 and "Traceback" not in planned.output
    assert planned.output == validated.output and f"{path.name}:" in planned.output


def _walk(steps: list[dict], parent: str):
    for s in steps:
        assert s["id"].startswith(parent + "/"), (s["id"], parent)  # a nested step's id is under its parent's
        yield s
        yield from _walk(s["steps"], s["id"])
        yield from _walk(s.get("recover", []), s["id"] + "/recover")


@pytest.mark.parametrize("path", sorted((ROOT / "procedures").glob("*.yaml")), ids=lambda p: p.stem)
def test_every_shipped_procedure_has_a_plan_with_one_id_per_step(path):
    result = CliRunner().invoke(main, ["plan", str(path), "--json", "--station", "fake"]
                                if path.stem == "demo_fake_bench" else ["plan", str(path), "--json"])
    assert result.exit_code == 0, result.output
    plan = json.loads(result.output)
    steps = [s for p in plan["phases"] for s in _walk(p["steps"], p["id"])] + list(_walk(plan["safe_state"],
                                                                                       "safe_state"))
    ids = [s["id"] for s in steps]
    assert len(ids) == len(set(ids)) and ids
    assert all(s["call"] is not None for s in steps if s["kind"] in ("do", "measure", "search"))


def test_searches_sweeps_and_recover_steps_are_shown_with_their_points():
    result = CliRunner().invoke(main, ["plan", str(ROOT / "procedures" / "vmin_shmoo.yaml"), "--json"])
    plan = json.loads(result.output)
    shmoo = next(p for p in plan["phases"] if p["id"] == "vmin_shmoo")
    search = shmoo["steps"][0]["steps"][1]
    assert (search["kind"], search["label"], search["limits"]) == ("search", "Vmin", "<= 0.72 V")
    assert "33 points at most" in search["loop"] and search["steps"][0]["kind"] == "measure"
    sweep = next(s for s in shmoo["steps"] if s["kind"] == "sweep")
    assert "(7 points)" in sweep["loop"] and "(4 points)" in sweep["loop"]
    assert [r["id"] for r in sweep["recover"]][:1] == [sweep["id"] + "/recover/1"]
    calls = [(s["call"] or {}).get("text") for s in shmoo["steps"]]
    assert "sled.set_core_frequency(frequency=1.4 GHz, chip=-1)" in calls
