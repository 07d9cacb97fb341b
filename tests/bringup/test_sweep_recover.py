"""A sweep's `recover` steps: after a point where a check did not pass, the part is brought back
(reset) before the next point, and the record says so. A shmoo without it inherits a hang."""

from __future__ import annotations

import pytest

from bringup.language.source import InvalidInput
from engine_helpers import run

HEAD = """
procedure: t
requires: {psu: power_supply, dmm: multimeter, cdu: coolant, sled: sled}
safe_state:
  - psu.output: off
phases:
  - id: p
    steps:
      - do: psu.set
        with: {channel: 1, voltage: 12 V, current_limit: 40 A}
      - do: psu.output
        with: {state: on}
"""

# the supply reads 12 V: the point x = 15 V fails its (characterization) check, the others pass
SWEEP = """
      - sweep: {x: [5 V, 15 V, 10 V]}
        name: grid
        steps:
          - measure: psu.voltage
            with: {channel: 1}
            limit: {low: "x"}
            gate: false
        recover:
          - do: psu.set
            name: reset after a failing point
            with: {channel: 1, voltage: 12 V, current_limit: 40 A}
"""


def test_recover_runs_once_after_the_failing_point_before_the_next_and_is_recorded(tmp_path):
    o = run(tmp_path, HEAD + SWEEP)
    assert o.result.state == "passed"               # a shmoo point that fails is data, not a failure
    # the supply's own log is in call order: set, on, then the three points with one reset after the second
    assert o.calls("psu")[2:6] == ["voltage", "voltage", "set", "voltage"]
    recover = o.reader.events(o.run_id, kind="recover")
    assert len(recover) == 1
    assert recover[0]["data"]["coords"] == {"x": "15 V"} and recover[0]["data"]["not_passed"] == 1
    assert "grid [x=15 V]" in recover[0]["message"] and "recovering before the next point" in recover[0]["message"]
    step = next(s for s in o.reader.steps(o.run_id) if s["path"].endswith("reset after a failing point"))
    assert step["outcome"] == "ok"


def test_a_sweep_whose_points_all_pass_never_recovers(tmp_path):
    o = run(tmp_path, HEAD + SWEEP.replace("[5 V, 15 V, 10 V]", "[5 V, 10 V]"))
    assert o.result.state == "passed"
    assert o.calls("psu").count("set") == 1          # only the set-up's
    assert o.reader.events(o.run_id, kind="recover") == []


def test_an_unknown_reading_is_a_point_that_did_not_pass(tmp_path):
    # a check that could not read (NaN) says nothing about the part: recover as after a failure
    o = run(tmp_path, HEAD + SWEEP.replace("[5 V, 15 V, 10 V]", "[5 V]"), options={"psu": {"nan": ["voltage"]}})
    assert o.calls("psu").count("set") == 2


def test_a_part_that_does_not_come_back_stops_the_phase(tmp_path):
    fails = SWEEP.replace("""          - do: psu.set
            name: reset after a failing point
            with: {channel: 1, voltage: 12 V, current_limit: 40 A}
""", "          - do: cdu.stop\n")
    o = run(tmp_path, HEAD + fails, options={"cdu": {"error": ["stop"]}})
    assert o.result.state == "failed"
    assert o.calls("psu")[2:] == ["voltage", "voltage", "output"]   # no point after it; then the safe state


def test_recover_steps_are_validated_like_any_other(tmp_path):
    bad = SWEEP.replace("voltage: 12 V, current_limit: 40 A}", "voltage: 3 A, current_limit: 40 A}")
    with pytest.raises(InvalidInput, match=r"recover.*voltage|voltage.*3 A"):
        run(tmp_path, HEAD + bad)
