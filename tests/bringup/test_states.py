"""The words a run is recorded in are enums now, and what the store holds is still those words.

Anyone reading the SQLite file with their own tools, or the JSON export, sees exactly what
older versions wrote: plain text "passed", "PASS", "ok", never an enum's repr.
"""

from __future__ import annotations

import json
import sqlite3

from engine_helpers import run

from bringup.outputs.export import json_text
from bringup.core.states import PhaseState, RunState, StepOutcome, Verdict
from bringup.store import PHASE_STATES, RUN_END_STATES, STEP_OUTCOMES, VERDICTS

PROCEDURE = """
procedure: t
requires: {psu: power_supply, dmm: multimeter, cdu: coolant, sled: sled}
safe_state:
  - sled.power_off
phases:
  - id: power_on
    steps:
      - do: sled.power_on
      - measure: sled.rail_voltage
        with: {rail: VDD_CORE}
        expect: 0.75 V ± 3%
  - id: links
    after: power_on
    steps:
      - measure: dmm.voltage_dc
        limit: {high: -1 V}
  - id: soak
    after: links
    steps:
      - do: sled.power_off
"""


def test_a_run_is_stored_in_the_same_plain_words_as_before(tmp_path):
    o = run(tmp_path, PROCEDURE)
    db = sqlite3.connect(tmp_path / "runs.sqlite")
    run_row = db.execute("SELECT state, typeof(state), verdict, typeof(verdict) FROM runs").fetchone()
    assert run_row == ("failed", "text", "FAIL", "text")
    phases = dict(db.execute("SELECT phase_id, state FROM phases"))
    assert phases == {"power_on": "passed", "links": "failed", "soak": "skipped"}
    assert {r for (r,) in db.execute("SELECT DISTINCT typeof(state) FROM phases")} == {"text"}
    assert {r for (r,) in db.execute("SELECT DISTINCT outcome FROM steps")} <= {"ok", "skipped"}
    assert {r for (r,) in db.execute("SELECT DISTINCT verdict FROM measurements")} == {"PASS", "FAIL"}
    doc = json.loads(json_text(o.reader, o.run_id))
    assert doc["run"]["state"] == "failed" and [p["state"] for p in doc["phases"]] == ["passed", "failed", "skipped"]
    assert "PhaseState" not in json_text(o.reader, o.run_id)
    # and the members compare equal to what a reader hands back, so a view may use either
    assert o.result.state == RunState.FAILED and phases["soak"] == PhaseState.SKIPPED


def test_each_word_is_defined_once_and_the_store_accepts_exactly_those():
    assert VERDICTS == {"PASS", "FAIL", "UNKNOWN"} == set(Verdict)
    assert PHASE_STATES == {"pending", "running", "passed", "failed", "skipped", "aborted"} == set(PhaseState)
    assert RUN_END_STATES == {"passed", "failed", "aborted", "error"}
    assert STEP_OUTCOMES == {"ok", "error", "timeout", "aborted", "skipped"} == set(StepOutcome)
    from bringup.core import verdict
    from bringup.store import states

    assert verdict.PASS is Verdict.PASS is states.PASS
