"""A deterministic overnight run in a real store, and what the dashboard's model reads from it.

`SledNight` writes, with the real `Store`, what a 16-chip sled's bring-up would have recorded two
hours into an eight-hour soak: phases, checks, an interlock's readings, per-chip telemetry with
one hot, throttling chip, coolant readings, warnings. The rendering tests draw it; the tests
here check the model a person's screen is drawn from.
"""

from __future__ import annotations

import hashlib
import math
import random
from pathlib import Path

import pytest

from bringup.core.clock import SimClock
from bringup.dashboard.feed import StoreFeed
from bringup.dashboard.model import RunView
from bringup.store import Measurement, Store

PROCEDURE = """\
procedure: sled-night
version: 3
requires: {psu: power_supply, cdu: coolant, sled: sled}
parameters: {soak: 8 h, vdd_core: 0.75 V}
safe_state:
  - sled.stress_stop
  - sled.power_off
  - psu.output: off
monitors:
  - read: sled.max_tj
    every: 100 ms
    limit: {high: 105 degC}
  - read: cdu.flow
    every: 1 s
    limit: {low: 1 L/min}
phases:
  - id: power_on
    steps:
      - do: sled.power_on
      - measure: sled.rail_voltage
        with: {rail: VDD_CORE}
        expect: "{vdd_core} ± 3%"
  - id: links
    after: power_on
    steps:
      - for_each: {port: [0, 1, 2, 3]}
        steps:
          - measure: sled.prbs_ber
            with: {port: "{port}"}
            limit: {high: 1e-12}
  - id: soak
    after: links
    steps:
      - do: sled.stress_start
      - soak: {duration: "{soak}", every: 1 min}
        steps:
          - measure: sled.max_tj
            limit: {high: 95 degC}
  - id: vmin
    after: links
    steps:
      - sweep: {voltage: {from: 0.80 V, to: 0.60 V, step: -10 mV}}
        steps:
          - measure: sled.stress_check
            limit: {high: 0}
  - id: cooldown
    after: soak
    steps:
      - wait: 10 min
"""

CHIPS = 16
HOT_CHIP = 3
TELEMETRY_EVERY = 30.0  # seconds of run clock between samples (the runner's is 1 s; fewer rows here)
SOAK_START = 30.0


class SledNight:
    """Writes the run into `tmp_path/runs.sqlite`; each method adds a chapter of the night."""

    def __init__(self, tmp_path: Path, speed: float | None = 50.0) -> None:
        self.proc = tmp_path / "sled-night.yaml"
        self.proc.write_text(PROCEDURE)
        self.path = tmp_path / "runs.sqlite"
        self.db = Store(self.path, durable_sync="normal")
        self.rng = random.Random(7)
        self.run = self.db.begin_run(
            procedure="sled-night", version="3", procedure_path=str(self.proc),
            procedure_sha256=hashlib.sha256(PROCEDURE.encode()).hexdigest(), dut="SN-0042",
            station="sim-bench", parameters={"soak": "8 h", "vdd_core": "0.75 V"},
            meta={"speed": speed, "telemetry_every": TELEMETRY_EVERY}, clock="simulated", t=0.0)
        for i, pid in enumerate(["power_on", "links", "soak", "vmin", "cooldown"]):
            self.db.phase(self.run, pid, state="pending", t=0.0, order=i)

    def first_hours(self, hours: float = 2.0) -> float:
        db, run = self.db, self.run
        db.event(run, 0.5, "instruments", "instruments: psu=KEYSIGHT E36312A; sled=SIM-SLED")
        db.phase(run, "power_on", state="running", t=1.0)
        db.measurement(Measurement(run_id=run, path="power_on", name="sled.rail_voltage(rail=VDD_CORE)",
                                   value=0.7503, unit="V", low=0.7275, high=0.7725, verdict="PASS", t=2.0))
        db.phase(run, "power_on", state="passed", t=3.0, verdict="PASS")
        db.phase(run, "links", state="running", t=3.0)
        for port in range(4):
            db.measurement(Measurement(run_id=run, path="links", name=f"sled.prbs_ber(port={port})", value=3e-15,
                                       unit="", low=None, high=1e-12, verdict="PASS", t=4.0 + port,
                                       coords={"port": port}))
        db.phase(run, "links", state="passed", t=SOAK_START, verdict="PASS")
        db.phase(run, "soak", state="running", t=SOAK_START)
        db.step(run, "soak/sled.stress_start", "do", SOAK_START, SOAK_START, "ok")
        db.event(run, SOAK_START, "soak", "soak: soak for 28800 s, sampling every 60 s (481 samples)",
                 data={"duration": 28800.0, "every": 60.0, "samples": 481})
        end = SOAK_START + hours * 3600
        t = 0.0
        while t <= end:
            self.telemetry(t, warm=min(1.0, t / 1800))
            if t >= SOAK_START and int(t - SOAK_START) % 60 == 0:
                db.measurement(Measurement(run_id=run, path="soak", name="sled.max_tj", value=self.hot_tj(t),
                                           unit="degC", low=None, high=95.0, verdict="PASS", t=t,
                                           coords={"t": f"{int(t - SOAK_START) // 3600:02d}:{int(t - SOAK_START) % 3600 // 60:02d}:00"}))
            t += TELEMETRY_EVERY
        db.event(run, 3600.0, "monitor", "interlock cdu.flow: cannot read (NaN), 1 of 3", severity="warning")
        db.flush()
        return end

    def hot_tj(self, t: float) -> float:
        return 60.0 + 34.9 * min(1.0, t / 1800)  # just under the soak check's 95 °C

    def telemetry(self, t: float, warm: float) -> None:
        db, run, rng = self.db, self.run, self.rng
        hottest = 0.0
        for c in range(CHIPS):
            tj = 45.0 + 40.0 * warm + rng.uniform(-0.5, 0.5) + (12.0 * warm if c == HOT_CHIP else 0.0)
            hottest = max(hottest, tj)
            db.sample(run, f"sled.chip{c}.tj", t, tj, "degC")
            db.sample(run, f"sled.chip{c}.hbm_temp", t, tj - 8.0, "degC")
            db.sample(run, f"sled.chip{c}.power", t, 120.0 + 580.0 * warm + rng.uniform(-5, 5), "W")
            db.sample(run, f"sled.chip{c}.vdd_core", t, 0.75 - 0.002 * warm + rng.uniform(-1e-4, 1e-4), "V")
            db.sample(run, f"sled.chip{c}.idd_core", t, 150.0 + 780.0 * warm, "A")
            db.sample(run, f"sled.chip{c}.throttle", t, 0x20 if (c == HOT_CHIP and warm >= 1.0) else 0, "")
        db.sample(run, "sled.max_tj", t, hottest, "degC")
        db.sample(run, "monitor/sled.max_tj", t, hottest, "degC")
        db.sample(run, "cdu.flow", t, 1.5, "L/min")
        db.sample(run, "monitor/cdu.flow", t, 1.5, "L/min")
        db.sample(run, "cdu.supply_temperature", t, 30.0, "degC")
        db.sample(run, "cdu.return_temperature", t, 30.0 + 9.6 * warm, "degC")

    def ctrl_c(self, t: float, safe_steps_done: int = 1) -> None:
        """What the runner records on Ctrl-C, up to `safe_steps_done` safe-state steps."""
        db, run = self.db, self.run
        db.phase(run, "soak", state="aborted", t=t, verdict="UNKNOWN", reason="aborted: Ctrl-C received")
        for pid in ("vmin", "cooldown"):
            db.phase(run, pid, state="skipped", t=t, reason="not run: Ctrl-C received")
        db.event(run, t, "safe_state", "safe state: Ctrl-C received", durable=True)
        for i, label in enumerate(["sled.stress_stop", "sled.power_off", "psu.output(state=off, channel=0)"]
                                  [:safe_steps_done]):
            db.step(run, f"safe_state/{i + 1}/{label}", "do", t, t + 0.1, "ok")
        db.flush()

    def end(self, t: float, state: str = "aborted", code: int = 3, reason: str | None = "Ctrl-C received") -> None:
        self.db.end_run(self.run, state=state, verdict="UNKNOWN" if state == "aborted" else
                        ("PASS" if state == "passed" else "FAIL"), exit_code=code, t=t, reason=reason)

    def close(self) -> None:
        self.db.close()

    def view(self, **kw) -> RunView:
        self.db.flush()
        view = RunView(StoreFeed(self.path), self.run, SimClock(), **kw)
        assert view.poll()
        return view


@pytest.fixture
def night(tmp_path):
    n = SledNight(tmp_path)
    yield n
    n.close()


# -- the model ------------------------------------------------------------------------------------

def test_soak_progress_and_remaining_time_come_from_the_store_and_the_procedure(night):
    end = night.first_hours(2.0)
    view = night.view()
    assert view.running_phase == "soak"
    assert view.elapsed == pytest.approx(end)
    [soak] = view.long_steps()
    assert soak.label == "soak" and soak.total == 28800.0
    assert soak.done == pytest.approx(7200.0) and soak.eta == pytest.approx(21600.0)
    # six soak hours left, then vmin (a sweep of readings: no fixed time) and a 10 min cooldown
    assert view.remaining() == pytest.approx(21600.0 + 600.0)


def test_limits_come_from_the_interlocks_and_checks_that_read_the_channel(night):
    night.first_hours(1.0)
    view = night.view()
    by_name = {ch.name: ch for ch in view.channels.values()}
    # the soak's check (max_tj <= 95 degC) is tighter than the interlock (105 degC) and binds every chip
    assert (by_name["sled.chip0.tj"].low, by_name["sled.chip0.tj"].high) == (None, 95.0)
    assert by_name["monitor/sled.max_tj"].high == 105.0
    assert by_name["cdu.flow"].low == 1.0 and by_name["monitor/cdu.flow"].low == 1.0
    assert by_name["sled.chip0.hbm_temp"].high is None  # nothing in the procedure judges it
    hot = by_name[f"sled.chip{HOT_CHIP}.tj"]
    assert hot.last > 95.0 and hot.level == "out"
    assert by_name["sled.chip0.tj"].level == "ok"


def test_per_chip_channels_fold_into_one_row_per_metric(night):
    night.first_hours(1.0)
    view = night.view()
    rows = {r.metric: r for r in view.metric_rows()}
    assert list(rows)[:6] == ["tj", "hbm_temp", "power", "vdd_core", "idd_core", "throttle"]
    assert rows["tj"].chip == HOT_CHIP and rows["tj"].level == "out"
    total = sum(ch.last for ch in rows["power"].channels)
    assert rows["power"].value == pytest.approx(total) and 16 * 690 < total < 16 * 710
    assert rows["throttle"].note == "1 of 16 chips: SW thermal"
    assert rows["vdd_core"].value < rows["vdd_core"].value_high
    assert view.chips() == list(range(CHIPS))


def test_polling_in_steps_sees_the_same_as_reading_at_once(tmp_path):
    """A view that followed the night poll by poll ends where a view attached at the end starts."""
    night = SledNight(tmp_path)
    try:
        follower = RunView(StoreFeed(night.path), night.run, SimClock())
        night.db.flush()
        follower.poll()
        night.first_hours(0.5)
        follower.poll()
        night.first_hours(1.0)  # more of the same night, written after the follower's last poll
        follower.poll()
        night.ctrl_c(5000.0, safe_steps_done=2)
        follower.poll()
        fresh = night.view()
        assert follower.counts == fresh.counts
        def states(view):
            return [(p["phase_id"], p["state"]) for p in view.phases]
        assert states(follower) == states(fresh)
        assert [e.message for e in follower.events][-5:] == [e.message for e in fresh.events][-5:]
        for cid, ch in fresh.channels.items():
            mine = follower.channels[cid]
            assert (mine.last, mine.last_t) == (ch.last, ch.last_t)
            newest = fresh.newest_bucket()
            assert mine.history(newest, 20) == ch.history(newest, 20)
        assert follower.safe.done == fresh.safe.done == 2
    finally:
        night.close()


def test_a_sweep_shows_points_done_of_the_points_the_procedure_declares(night):
    night.first_hours(0.2)
    db, run = night.db, night.run
    db.phase(run, "soak", state="passed", t=800.0, verdict="PASS")
    db.phase(run, "vmin", state="running", t=800.0)
    for k in range(5):
        v = round(0.80 - 0.01 * k, 2)
        db.measurement(Measurement(run_id=run, path="vmin", name="sled.stress_check", value=0.0, unit="", low=None,
                                   high=0.0, verdict="PASS", t=800.0 + 4 * k, coords={"voltage": f"{v:g} V"}))
    view = night.view()
    [sweep] = view.long_steps()
    assert (sweep.done, sweep.total, sweep.unit) == (5.0, 21.0, "points")
    assert sweep.eta == pytest.approx(4.0 * 16)  # 4 s a point so far, 16 points to go
    assert view.current == "vmin › sled.stress_check = 0 PASS (voltage=0.76 V)"


def test_a_changed_procedure_file_is_not_trusted_for_limits(night):
    night.first_hours(0.1)
    night.proc.write_text(PROCEDURE.replace("105 degC", "150 degC"))
    view = night.view()
    assert view.outline is None and "changed since the run started" in view.notes[0]
    assert all(ch.high is None and ch.low is None for ch in view.channels.values())


def test_a_run_that_ended_has_a_summary_and_no_time_left(night):
    night.first_hours(0.1)
    night.ctrl_c(400.0, safe_steps_done=3)
    night.end(400.5)
    view = night.view()
    assert view.finished and view.remaining() == 0.0 and view.long_steps() == []
    # 1 rail check, 4 links, 7 soak samples (one a minute from 0:00:30 to 0:06:30)
    assert view.summary() == ("run ABORTED (exit 3) after 0:06:40: 2/5 phases passed; measurements: "
                              "12 pass, 0 fail, 0 unknown; Ctrl-C received")
    assert math.isclose(view.elapsed, 400.5)
