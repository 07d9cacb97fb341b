"""The runner's guarantees, against the in-memory fake bench on simulated time."""

from __future__ import annotations

import pytest

from engine_helpers import run

SAFE = """
safe_state:
  - sled.stress_stop
  - sled.power_off
  - psu.output: off
"""

HEAD = """
procedure: t
requires: {psu: power_supply, dmm: multimeter, cdu: coolant, sled: sled}
parameters: {vdd_core: 0.75 V, soak: 2 h}
""" + SAFE

POWER = """
  - id: power_on
    steps:
      - do: psu.set
        with: {channel: 1, voltage: 12 V, current_limit: 40 A}
      - do: psu.output
        with: {state: on}
      - do: sled.power_on
      - measure: sled.rail_voltage
        with: {rail: VDD_CORE}
        expect: "{vdd} ± 3%"
"""


def power(vdd: str = "0.75 V") -> str:
    return POWER.replace("{vdd}", vdd)


SAFE_CALLS = ["stress_stop", "power_off"]


def tail_calls(o, role: str, n: int) -> list[str]:
    return o.calls(role)[-n:]


def test_all_phases_pass_in_dependency_order_and_safe_state_runs_at_the_end(tmp_path):
    o = run(tmp_path, HEAD + """
phases:
  - id: links
    after: power_on
    steps:
      - measure: sled.prbs_ber
        with: {port: 0}
        limit: {high: 1e-12}
""" + power())
    assert o.result.exit_code == 0 and o.result.state == "passed"
    order = [d["phase"] for k, d in o.events if k == "phase" and d["state"] == "running"]
    assert order == ["power_on", "links"]  # written second, but it depends on power_on
    assert tail_calls(o, "sled", 2) == SAFE_CALLS
    assert o.calls("psu")[-1] == "output" and o.drivers["psu"].enabled == {1: False, 2: False, 3: False}


def test_failed_gate_skips_dependents_with_reason_and_exits_1(tmp_path):
    o = run(tmp_path, HEAD + """
phases:
  - id: links
    after: power_on
    steps:
      - measure: sled.prbs_ber
        with: {port: 0}
        limit: {high: 1e-12}
""" + power("0.90 V"))
    assert o.result.exit_code == 1
    states = o.phase_states()
    assert states == {"power_on": "failed", "links": "skipped"}
    skipped = [p for p in o.reader.phases(o.run_id) if p["phase_id"] == "links"][0]
    assert "power_on" in skipped["reason"]
    fails = o.measurements({"FAIL"})
    assert len(fails) == 1 and "not in [0.873, 0.927] V" in fails[0]["message"]
    assert "prbs_ber" not in o.calls("sled")  # the gated phase never touched the links
    assert tail_calls(o, "sled", 2) == SAFE_CALLS


def test_on_fail_continue_runs_independent_phases(tmp_path):
    o = run(tmp_path, HEAD + """
phases:
  - id: a
    on_fail: continue
    steps:
      - measure: dmm.voltage_dc
        limit: {high: 0.1 V}
  - id: b
    steps:
      - measure: dmm.voltage_dc
        limit: {high: 1 V}
  - id: c
    after: a
    steps:
      - wait: 1 s
""")
    assert o.phase_states() == {"a": "failed", "b": "passed", "c": "skipped"}
    assert o.result.exit_code == 1


@pytest.mark.parametrize("option", ["nan", "error", "hang"])
def test_reading_that_is_nan_errors_or_hangs_is_unknown_never_pass(tmp_path, option):
    o = run(tmp_path, HEAD + """
phases:
  - id: p
    steps:
      - measure: dmm.voltage_dc
        timeout: 2 s
        limit: {low: 0 V, high: 100 V}
""", options={"dmm": {option: ["voltage_dc"]}})
    [m] = o.measurements()
    assert m["verdict"] == "UNKNOWN" and m["value"] is None
    assert o.phase_states() == {"p": "failed"}
    assert o.result.exit_code == 1
    if option == "hang":
        assert "timed out" in m["message"]
        assert m["t"] == 0.0 and o.drivers["dmm"].clock.now() == pytest.approx(2.0)


def test_monitor_trip_aborts_within_one_interval_and_goes_safe(tmp_path):
    # the fake sled's junction rises toward 30 + 0.06*700 = 72 degC under stress; trip at 60 degC
    o = run(tmp_path, HEAD + """
monitors:
  - read: sled.max_tj
    every: 100 ms
    limit: {high: 60 degC}
phases:
""" + power() + """
  - id: soak
    after: power_on
    steps:
      - do: sled.stress_start
      - wait: 1 h
""")
    assert o.result.exit_code == 3 and o.result.state == "aborted"
    assert "max_tj" in o.result.reason and "60" in o.result.reason
    samples = o.reader.samples(o.run_id, "monitor/sled.max_tj")
    over = [s for s in samples if s["value"] > 60]
    under = [s for s in samples if s["value"] <= 60]
    assert len(over) == 1  # the first reading over the limit ended it
    assert over[0]["t"] - under[-1]["t"] == pytest.approx(0.1)
    assert o.phase_states()["soak"] == "aborted"
    assert tail_calls(o, "sled", 2) == SAFE_CALLS


def test_monitor_that_cannot_read_trips_after_consecutive_failures(tmp_path):
    o = run(tmp_path, HEAD + """
monitors:
  - read: sled.max_tj
    every: 1 s
    limit: {high: 100 degC}
    failures: 3
phases:
  - id: p
    steps:
      - wait: 1 min
""", options={"sled": {"nan": ["max_tj"]}})
    assert o.result.exit_code == 3
    assert "cannot read" in o.result.reason
    assert o.drivers["sled"].clock.now() == pytest.approx(2.0)  # reads at 0, 1, 2 s


def test_lost_instrument_aborts_and_safe_state_skips_only_that_role(tmp_path):
    o = run(tmp_path, HEAD + """
phases:
  - id: p
    steps:
      - do: psu.set
        with: {channel: 1, voltage: 12 V, current_limit: 40 A}
      - measure: sled.max_tj
""", options={"psu": {"lost": ["set", "output"]}})
    assert o.result.exit_code == 3
    assert "instrument unreachable" in o.result.reason and "psu" in o.result.reason
    assert tail_calls(o, "sled", 2) == SAFE_CALLS  # what remains reachable still went safe
    steps = {s["path"]: s for s in o.reader.steps(o.run_id) if s["path"].startswith("safe_state")}
    assert steps["safe_state/3"]["outcome"] == "skipped"


def test_safe_state_keeps_going_past_a_failing_step_in_declared_order(tmp_path):
    o = run(tmp_path, HEAD + """
phases:
  - id: p
    steps:
      - wait: 1 s
""", options={"sled": {"error": ["stress_stop"]}})
    assert o.result.exit_code == 0  # the run passed; the safe state's failure is recorded, not hidden
    assert tail_calls(o, "sled", 2) == ["stress_stop", "power_off"]
    safe = [s for s in o.reader.steps(o.run_id) if s["path"].startswith("safe_state")]
    assert [s["outcome"] for s in safe] == ["error", "ok", "ok"]
    assert any("continuing" in e["message"] for e in o.reader.events(o.run_id))


def test_unexpected_exception_in_a_driver_aborts_to_safe_state(tmp_path, monkeypatch):
    from bringup.drivers.fake import FakeMultimeter

    def boom(self, range=10.0):
        raise ZeroDivisionError("driver bug")
    monkeypatch.setattr(FakeMultimeter.voltage_dc, "__code__", boom.__code__)
    o = run(tmp_path, HEAD + """
phases:
  - id: p
    steps:
      - do: sled.power_on
      - measure: dmm.voltage_dc
""")
    assert o.result.exit_code == 3 and "ZeroDivisionError" in o.result.reason
    assert tail_calls(o, "sled", 2) == SAFE_CALLS
    assert any(e["kind"] == "exception" and "Traceback" in (e["data"] or {}).get("traceback", "")
               for e in o.reader.events(o.run_id))


def test_step_retry_records_every_attempt_and_passes_when_a_later_one_does(tmp_path):
    o = run(tmp_path, HEAD + """
phases:
  - id: p
    steps:
      - measure: sled.max_tj
        retry: 2
        limit: {high: 20 degC}
""")
    ms = o.measurements()
    assert [m["verdict"] for m in ms] == ["FAIL"] * 3
    assert "attempt 3 of 3" in ms[-1]["message"]
    assert o.result.exit_code == 1


def test_phase_retries_rerun_the_phase(tmp_path):
    o = run(tmp_path, HEAD + """
phases:
  - id: p
    retries: 1
    steps:
      - measure: dmm.voltage_dc
        limit: {high: 0.5 V}
""")
    assert len(o.measurements()) == 2
    assert [d.get("attempt") for k, d in o.events if k == "phase" and d["state"] == "running"] == [1, 2]


def test_phase_timeout_fails_the_phase(tmp_path):
    o = run(tmp_path, HEAD + """
phases:
  - id: p
    timeout: 10 s
    steps:
      - wait: 1 min
  - id: q
    after: p
    steps: [{wait: 1 s}]
""")
    assert o.phase_states() == {"p": "failed", "q": "skipped"}
    assert o.drivers["sled"].clock.now() == pytest.approx(10.0)


def test_wait_until_passes_when_condition_holds_and_fails_on_timeout(tmp_path):
    o = run(tmp_path, HEAD + """
phases:
  - id: warm
    steps:
      - do: sled.power_on
      - do: sled.stress_start
      - wait_until: {condition: "sled.max_tj > 50 degC", timeout: 5 min, poll: 1 s}
      - measure: sled.max_tj
        limit: {low: 50 degC}
  - id: never
    after: warm
    steps:
      - wait_until: {condition: "sled.max_tj > 200 degC and psu.current(channel=1) < 1 A", timeout: 30 s}
""")
    states = o.phase_states()
    assert states == {"warm": "passed", "never": "failed"}
    # tau 20 s from 30 degC toward 72 degC: 50 degC is crossed after ~12.8 s, seen at the next 1 s poll
    assert o.measurements()[0]["t"] == pytest.approx(13.0)
    msg = [s for s in o.reader.steps(o.run_id) if s["kind"] == "wait_until" and s["outcome"] == "timeout"][0]
    assert "not true within 30 s" in msg["message"]


def test_sweep_records_each_points_coordinates(tmp_path):
    o = run(tmp_path, HEAD + """
phases:
  - id: shmoo
    steps:
      - sweep:
          frequency: [1.2 GHz, 1.4 GHz]
          voltage: {from: 0.80 V, to: 0.78 V, step: -10 mV}
        steps:
          - measure: dmm.voltage_dc
""")
    coords = [m["coords"] for m in o.measurements()]
    assert coords == [{"frequency": "1.2 GHz", "voltage": "0.8 V"}, {"frequency": "1.2 GHz", "voltage": "0.79 V"},
                      {"frequency": "1.2 GHz", "voltage": "0.78 V"}, {"frequency": "1.4 GHz", "voltage": "0.8 V"},
                      {"frequency": "1.4 GHz", "voltage": "0.79 V"}, {"frequency": "1.4 GHz", "voltage": "0.78 V"}]


def test_for_each_substitutes_loop_values_into_arguments(tmp_path):
    o = run(tmp_path, HEAD + """
phases:
  - id: links
    steps:
      - do: sled.power_on
      - for_each: {port: [0, 1, 2, 3]}
        steps:
          - measure: sled.prbs_ber
            with: {port: "{port}"}
            limit: {high: 1e-12}
""")
    names = [m["name"] for m in o.measurements()]
    assert names == [f"sled.prbs_ber(port={p}, pattern=PRBS31, confidence=95)" for p in range(4)]
    assert [a["port"] for _, n, a in o.drivers["sled"].log if n == "prbs_ber"] == [0, 1, 2, 3]


def test_parameter_override_changes_the_run(tmp_path):
    o = run(tmp_path, HEAD + """
phases:
  - id: p
    steps:
      - wait: "{soak}"
""", params={"soak": "90 s"})
    assert o.drivers["sled"].clock.now() == pytest.approx(90.0)


def test_guardrail_is_refused_again_by_the_driver_at_run_time(tmp_path):
    """Validation rejects literal values beyond a guardrail; the driver refuses whatever slips past."""
    from bringup.core.clock import SimClock
    from bringup.drivers.base import GuardrailViolation, Guardrail
    from bringup.drivers.fake import FakePowerSupply

    psu = FakePowerSupply(role="psu", clock=SimClock(), guardrails=(Guardrail("voltage", None, 13.0,
                                                                              (("channel", 1),), "voltage"),))
    with pytest.raises(GuardrailViolation, match="above the station limit"):
        psu.call("set", {"channel": 1, "voltage": 20.0, "current_limit": 1.0})
    assert psu.setpoint[1] == 0.0  # nothing reached the instrument
    psu.call("set", {"channel": 2, "voltage": 20.0, "current_limit": 1.0})  # the rule is for channel 1 only
    assert psu.setpoint[2] == 20.0


def test_telemetry_is_sampled_into_the_store_through_long_waits(tmp_path):
    o = run(tmp_path, HEAD + """
phases:
  - id: p
    steps:
      - do: sled.power_on
      - do: sled.stress_start
      - wait: 1 min
""")
    tj = o.reader.samples(o.run_id, "sled.max_tj")
    # the default on a simulated clock that jumps: every 10 s (a person watching gets one a second)
    assert [s["t"] for s in tj] == [float(t) for t in range(0, 61, 10)]
    assert tj[0]["value"] == pytest.approx(30.0) and tj[-1]["value"] > 60.0  # the junction warmed


def test_an_instrument_that_cannot_be_opened_aborts_but_the_others_still_go_safe(tmp_path, monkeypatch):
    from bringup.drivers.base import InstrumentUnreachable
    from bringup.drivers.fake import FakePowerSupply

    def refuse(self):
        raise InstrumentUnreachable(self.role, "TCPIP::127.0.0.1::1::SOCKET", "connection refused")
    monkeypatch.setattr(FakePowerSupply, "open", refuse)
    # psu comes first in the station: the sled behind it must still be opened and made safe
    o = run(tmp_path, HEAD + """
phases:
  - id: p
    steps: [{wait: 1 s}]
""")
    assert o.result.exit_code == 3 and "connection refused" in o.result.reason
    assert o.phase_states() == {"p": "skipped"}
    assert tail_calls(o, "sled", 2) == SAFE_CALLS
    assert o.calls("psu") == []  # nothing was sent to the instrument that is not there


def test_an_interlock_armed_during_some_phases_only_watches_those(tmp_path):
    o = run(tmp_path, HEAD + """
monitors:
  - read: sled.max_tj
    every: 1 s
    limit: {high: 40 degC}
    during: [hot]
phases:
  - id: warm
    steps:
      - do: sled.power_on
      - do: sled.stress_start
      - wait: 2 min          # junction well above 40 degC, but the interlock is not armed here
  - id: hot
    after: warm
    steps: [{wait: 1 min}]
""")
    assert o.phase_states() == {"warm": "passed", "hot": "aborted"}
    assert o.result.exit_code == 3 and "max_tj" in o.result.reason
    reads = o.reader.samples(o.run_id, "monitor/sled.max_tj")
    assert reads and reads[0]["t"] >= 120.0  # first read when "hot" began
