"""Named readings, computed values, searches (Vmin), characterization data and late-armed
interlocks: the language a thermal gate and a Vmin search are written in."""

from __future__ import annotations

import pytest

from bringup.language import expr
from bringup.language.source import InvalidInput
from bringup.core.units import multiply_dimensions
from engine_helpers import run

HEAD = """
procedure: t
requires: {psu: power_supply, dmm: multimeter, cdu: coolant, sled: sled}
parameters: {nominal: 12 V, floor: 10 V}
safe_state:
  - psu.output: off
"""

SUPPLY_ON = """
      - do: psu.set
        with: {channel: 1, voltage: 12 V, current_limit: 40 A}
      - do: psu.output
        with: {state: on}
"""


def test_dimensions_multiply_and_divide_into_the_quantities_a_lab_computes():
    assert multiply_dimensions("temperature", "power", divide=True) == "thermal_resistance"   # psi, K/W
    assert multiply_dimensions("per_kelvin", "temperature") == "number"                       # beta * dT
    assert multiply_dimensions("thermal_resistance", "power") == "temperature"
    assert expr.check(expr.parse("exp(b * (t1 - t0))"), {"b": "per_kelvin", "t0": "temperature",
                                                         "t1": "temperature"}, None) == "number"
    with pytest.raises(expr.ExprError, match="exp"):
        expr.check(expr.parse("exp(t1)"), {"t1": "temperature"}, None)


def test_a_computed_value_is_judged_recorded_and_named_for_later_steps(tmp_path):
    o = run(tmp_path, HEAD + """
phases:
  - id: p
    steps:""" + SUPPLY_ON + """
      - measure: psu.voltage
        with: {channel: 1}
        as: v
      - measure: psu.current
        with: {channel: 1}
        as: i
      - compute: load
        value: v / i
        unit: Ohm
        limit: {low: 1 Ohm, high: 100 Ohm}
      - compute: power
        value: v * i
        limit: {high: "load * 1 A * 1 A"}
""")
    ms = {m["name"]: m for m in o.reader.measurements(o.run_id)}
    assert ms["load"]["unit"] == "Ohm" and ms["load"]["verdict"] == "PASS"
    assert ms["load"]["value"] == pytest.approx(ms["psu.voltage"]["value"] /
                                                ms["psu.current"]["value"])
    # power = v*i in W by default, and its limit used the computed load: v*i > load*1A^2 when i > 1 A
    assert ms["power"]["unit"] == "W"
    assert ms["power"]["verdict"] == ("FAIL" if ms["psu.current"]["value"] > 1 else "PASS")


def test_a_computed_value_from_a_failed_reading_is_unknown_never_pass(tmp_path):
    o = run(tmp_path, HEAD + """
phases:
  - id: p
    steps:
      - measure: dmm.voltage_dc
        as: v
        on_fail: continue
      - compute: double
        value: v * 2
        limit: {high: 100 V}
""", options={"dmm": {"source_v": "nan"}})
    double = next(m for m in o.reader.measurements(o.run_id) if m["name"] == "double")
    assert double["verdict"] == "UNKNOWN" and o.result.state == "failed"


def test_the_search_finds_the_last_passing_point_and_always_restores(tmp_path):
    o = run(tmp_path, HEAD + """
phases:
  - id: p
    steps:""" + SUPPLY_ON + """
      - search:
          set: psu.set
          with: {channel: 1, current_limit: 40 A}
          param: voltage
          from: "{nominal}"
          to: "{floor}"
          step: -0.5 V
          repeats: 3
        name: Vmin
        as: vmin
        limit: {high: 11.5 V}
        steps:
          - measure: psu.voltage
            with: {channel: 1}
            limit: {low: 10.9 V}
      - measure: psu.voltage
        name: restored
        with: {channel: 1}
        expect: "{nominal} ± 1%"
      - compute: margin
        value: nominal - vmin
        unit: V
""")
    assert o.result.state == "passed", o.result.reason
    ms = o.reader.measurements(o.run_id)
    vmin = next(m for m in ms if m["name"] == "Vmin")
    assert vmin["value"] == pytest.approx(11.0) and vmin["gate"] == 1      # 10.5 V is the first failure
    probes = [m for m in ms if m["name"] == "psu.voltage" and m["coords"]]
    assert all(m["gate"] == 0 for m in probes)                              # data, not failures of the run
    assert [(m["coords"]["voltage"], m["coords"]["repeat"]) for m in probes][:4] == [
        ("12 V", 1), ("12 V", 2), ("12 V", 3), ("11.5 V", 1)]
    assert [m["verdict"] for m in probes][-1] == "FAIL" and probes[-1]["coords"]["voltage"] == "10.5 V"
    assert next(m for m in ms if m["name"] == "restored")["verdict"] == "PASS"
    assert next(m for m in ms if m["name"] == "margin")["value"] == pytest.approx(1.0)
    assert any(s["path"].endswith("(restore)") for s in o.reader.steps(o.run_id))
    assert o.reader.verdict_counts(o.run_id).get("FAIL", 0) == 0            # the report counts gates only


def test_a_search_that_fails_at_its_first_point_fails_and_still_restores(tmp_path):
    o = run(tmp_path, HEAD + """
phases:
  - id: p
    steps:""" + SUPPLY_ON + """
      - search:
          set: psu.set
          with: {channel: 1, current_limit: 40 A}
          param: voltage
          from: 11 V
          to: 10 V
          step: -0.5 V
          restore: 12 V
        steps:
          - measure: psu.voltage
            with: {channel: 1}
            limit: {low: 11.5 V}
""")
    assert o.result.state == "failed"
    assert "no passing point" in o.reader.phases(o.run_id)[0]["reason"]
    assert o.drivers["psu"].setpoint[1] == pytest.approx(12.0)


def test_search_points_and_restore_are_checked_against_guardrails_before_the_run(tmp_path):
    with pytest.raises(InvalidInput, match="station"):
        run(tmp_path, HEAD + """
phases:
  - id: p
    steps:
      - search:
          set: psu.set
          with: {channel: 1, current_limit: 40 A}
          param: voltage
          from: 12 V
          to: 14 V
          step: 0.5 V
        steps:
          - measure: psu.voltage
""")


@pytest.mark.parametrize("body, message", [
    ("""
      - measure: psu.voltage
        as: v
      - do: psu.set
        with: {channel: 1, voltage: "{v}", current_limit: 1 A}""", "read during the run"),
    ("""
      - compute: x
        value: psu.voltage * 2""", "reads no instruments"),
    ("""
      - measure: psu.voltage
        as: v
      - compute: x
        value: v
        unit: A""", "is a voltage"),
    ("""
      - compute: x
        value: undefined_name * 2""", "unknown name"),
])
def test_compute_and_named_values_are_checked_before_anything_runs(tmp_path, body, message):
    with pytest.raises(InvalidInput, match=message):
        run(tmp_path, HEAD + "phases:\n  - id: p\n    steps:" + body + "\n")


def test_characterization_points_never_fail_the_phase(tmp_path):
    o = run(tmp_path, HEAD + """
phases:
  - id: p
    steps:""" + SUPPLY_ON + """
      - sweep: {v: [12 V, 6 V]}
        steps:
          - do: psu.set
            with: {channel: 1, voltage: "{v}", current_limit: 40 A}
          - measure: psu.voltage
            with: {channel: 1}
            limit: {low: 10 V}
            gate: false
""")
    assert o.result.state == "passed"
    verdicts = [m["verdict"] for m in o.reader.measurements(o.run_id) if m["coords"]]
    assert verdicts == ["PASS", "FAIL"]


def test_an_interlock_armed_after_a_phase_ignores_what_came_before_it(tmp_path):
    proc = HEAD + """
monitors:
  - read: psu.current
    every: 1 s
    limit: {low: 0.01 A}
    after: start
phases:
  - id: start
    steps:
      - wait: 5 s""" + SUPPLY_ON + """
  - id: later
    after: start
    steps:
      - wait: 3 s
      - do: psu.output
        with: {state: off}
      - wait: 3 s
"""
    o = run(tmp_path, proc)
    # the supply is off for the first 5 s (no trip: not armed yet); off again in `later` (trip)
    assert o.result.state == "aborted" and "psu.current" in o.result.reason
    assert {p["phase_id"]: p["state"] for p in o.reader.phases(o.run_id)}["start"] == "passed"
