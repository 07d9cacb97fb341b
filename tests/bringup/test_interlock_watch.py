"""The interlocks keep watch inside every action: what validation refuses, what the record says.

- an action that holds the runner (an instrument that blocks until its test is over) longer than
  an armed interlock's interval is refused before the run, naming the step and the interlock;
- a driver that waits through `Driver.wait` is watched: the interlock reads at its interval
  inside the action, and trips there;
- the record keeps each interlock's reads, largest gap and closest approach, and a late read is
  a warning and `late` in the summary, never silent;
- a failing step is checked against the interlocks before the phase is judged, so a run ends on
  the cause (a leak), not on its symptom.
"""

from __future__ import annotations

import pytest

from bringup.drivers.base import Param, action
from bringup.drivers.fake import FakeSled
from bringup.language.source import InvalidInput
from bringup.check.station import load_station
from bringup.check.validate import validate
from engine_helpers import publish_driver, run, station_with, write

HEAD = """
procedure: watch
version: 1
requires: {sled: sled, psu: power_supply}
safe_state:
  - sled.power_off
monitors:
  - read: sled.max_tj
    every: 2 s
    limit: {high: 90 degC}
"""


def test_a_step_that_holds_the_runner_past_an_armed_interlock_is_refused_naming_both(tmp_path):
    proc = write(tmp_path, "p.yaml", HEAD + """
phases:
  - id: links
    steps:
      - do: sled.power_on
      - for_each: {port: [0, 1]}
        steps:
          - measure: sled.bert_ber
            with: {port: "{port}", duration: 60 s}
            limit: {high: 1e-12}
      - measure: sled.bert_ber
        with: {port: 0, duration: 2 s}
        limit: {high: 1e-12}
""")
    with pytest.raises(InvalidInput) as info:
        validate(proc, load_station(station_with(tmp_path)))
    [p] = info.value.problems
    assert (p.line, p.col) == (18, 22)  # the measure inside the loop
    assert "sled.bert_ber holds the runner for 60 s" in p.message
    assert "interlock 'sled.max_tj'" in p.message and "every 2 s" in p.message and "phase 'links'" in p.message
    assert "start / watched wait / collect" in p.hint


def test_a_hold_is_fine_where_no_interlock_is_armed(tmp_path):
    proc = write(tmp_path, "p.yaml", HEAD.replace("limit: {high: 90 degC}", "limit: {high: 90 degC}\n    during: [soak]")
                 + """
phases:
  - id: links
    steps:
      - measure: sled.bert_ber
        with: {port: 0, duration: 60 s}
        limit: {high: 1e-12}
  - id: soak
    steps:
      - wait: 1 s
""")
    validate(proc, load_station(station_with(tmp_path)))


class PausingSled(FakeSled):
    """A sled whose burn-in action lets its time pass the right way: through Driver.wait."""

    @action(duration=Param("s", low=0, high=3600, help="how long"))
    def burn_in(self, duration: float) -> None:
        """Full stress for `duration`, waiting through the runner."""
        self.level = 1.0
        self.wait(duration)


STATION = """
station: watch-bench
clock: simulated
roles:
  psu: {driver: fake.power_supply}
  sled: {driver: test.pausing_sled, options: {r_kw: 0.1, tau_s: 5}}
"""


@pytest.fixture(autouse=True)
def _pausing_sled_installed(tmp_path_factory, monkeypatch):
    site = tmp_path_factory.mktemp("site")
    publish_driver(site, "test.pausing_sled", "test_interlock_watch:PausingSled")
    monkeypatch.syspath_prepend(str(site))


def _run(tmp_path, steps: str, monitors: str = "", options: dict | None = None, phases: str | None = None):
    text = HEAD + monitors + (phases or "phases:\n  - id: burn\n    steps:\n" + steps)
    return run(tmp_path, text, options=options, station=STATION)


def test_an_action_that_waits_through_the_driver_is_watched_and_trips_inside_it(tmp_path):
    out = _run(tmp_path, "      - do: sled.power_on\n      - do: sled.burn_in\n        with: {duration: 1 h}\n")
    assert out.result.exit_code == 3 and "interlock sled.max_tj" in out.result.reason
    reads = [s["t"] for s in out.reader.samples(out.run_id, "monitor/sled.max_tj")]
    assert reads == pytest.approx([2.0 * k for k in range(len(reads))])  # every 2 s, inside the action
    trip = [m for m in out.measurements() if m["path"] == "monitors/sled.max_tj"][0]
    assert trip["t"] < 60 and trip["verdict"] == "FAIL"  # not after an hour of blind burn-in
    [summary] = [e for e in out.reader.events(out.run_id) if e["kind"] == "interlocks"][-1:]
    [tj] = summary["data"]["interlocks"]
    assert tj["largest_gap_s"] == pytest.approx(2.0) and not tj["late"] and tj["reads"] == len(reads)


def test_a_late_interlock_is_a_warning_and_late_in_the_summary_never_silent(tmp_path):
    # a hung instrument keeps the runner for its step's whole timeout: the interlock is read late
    out = _run(tmp_path, "      - measure: psu.current\n        timeout: 7 s\n        on_fail: continue\n"
                         "      - wait: 3 s\n", options={"psu": {"hang": ["current"]}})
    [summary] = [e for e in out.reader.events(out.run_id) if e["kind"] == "interlocks"][-1:]
    [tj] = summary["data"]["interlocks"]
    assert tj["late"] and tj["largest_gap_s"] == pytest.approx(7.0) and tj["allowed_gap_s"] == pytest.approx(2.05)
    late = [e for e in out.reader.events(out.run_id) if "read late" in e["message"]]
    assert late and late[0]["severity"] == "warning" and "7 s since the last read" in late[0]["message"]


def test_a_failed_step_is_checked_against_the_interlocks_so_the_run_ends_on_the_cause(tmp_path):
    # the sled drops its rails; the next reading fails its gate seconds before the powered-state
    # interlock's next read: the run must end on the dropped rails, not on the reading
    monitors = "  - read: sled.powered_state\n    every: 5 s\n    limit: {low: 1}\n    during: [burn]\n"
    phases = ("phases:\n  - id: up\n    steps:\n      - do: sled.power_on\n"
              "  - id: burn\n    after: up\n    steps:\n      - wait: 1 s\n      - do: sled.power_off\n"
              "      - measure: sled.max_tj\n        limit: {high: 20 degC}\n")
    out = _run(tmp_path, "", monitors=monitors, phases=phases)
    assert out.result.exit_code == 3, out.result.reason
    assert "interlock sled.powered_state" in out.result.reason
    assert out.phase_states() == {"up": "passed", "burn": "aborted"}
    trip = [m for m in out.measurements() if m["path"] == "monitors/sled.powered_state"]
    assert trip and trip[0]["t"] == pytest.approx(1.0)  # read at once, not at its next 5 s tick
