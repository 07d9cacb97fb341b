"""An interlock whose instrument is gone aborts the run at that read (issue 20), through the real
driver and transport: the Lauda driver over a pyvisa TCP socket to the simulated chiller, whose
server is unplugged (listener and connection closed, as a pulled cable) in the middle of a run.

Before, a lost instrument could count as one transient failed read ("1 of 3") and the run went on
without that interlock for two more intervals.
"""

from __future__ import annotations

import threading
import time

import pytest

from bringup.commands.sim import embedded_lab
from bringup.run import session
from bringup.store import StoreReader

PROC = """
procedure: lost-cdu
requires: {cdu: coolant}
safe_state:
  - cdu.set_flow: {flow: 4 L/min}
monitors:
  - read: cdu.flow
    every: 5 s
    limit: {low: 1 L/min}
    after: cool
phases:
  - id: cool
    steps:
      - do: cdu.start
        with: {setpoint: 30 degC, flow: 4 L/min}
      - wait_until: {condition: "cdu.flow >= 3 L/min", timeout: 2 min, poll: 1 s}
  - id: hold
    after: cool
    steps:
      - wait: 10 min
"""

UNPLUG_AT = 60.0  # seconds of run clock


def test_an_interlock_whose_instrument_is_unplugged_aborts_at_its_next_read(tmp_path):
    proc = tmp_path / "lost.yaml"
    proc.write_text(PROC)
    store_path = tmp_path / "runs.sqlite"
    with embedded_lab(seed=7, speed=50.0) as lab:  # 10 min of run clock in ~12 s of wall time
        lab.start()
        prepared = session.prepare(proc, lab.station, {}, clock=lab.clock)
        unplugged: list[float] = []

        def unplug() -> None:  # a hand on the cable: at a moment of the run's clock
            while lab.clock.now() < UNPLUG_AT:
                time.sleep(0.005)
            lab.lab.servers["cdu"].unplug()
            unplugged.append(lab.clock.now())

        hand = threading.Thread(target=unplug, daemon=True)
        hand.start()
        with session.open_store(store_path, prepared) as db:
            result = session.run(prepared, db, dut="SN-LOST")
        hand.join(timeout=5)
    assert unplugged, f"the chiller was never unplugged: {result}"
    assert result.exit_code == 3 and result.state == "aborted", result.reason
    assert "cdu" in result.reason and "unreachable" in result.reason
    with StoreReader(store_path) as r:
        events = r.events(result.run_id)
        assert not [e for e in events if "cannot read" in e["message"]]  # never "1 of 3"
        [safe] = [e for e in events if e["kind"] == "safe_state" and e["message"].startswith("safe state:")]
        # at the first interlock read after the cable went (reads every 5 s), not three reads later
        assert unplugged[0] <= safe["t"] <= unplugged[0] + 5.0 + 0.5
        [step] = [s for s in r.steps(result.run_id) if s["path"].startswith("safe_state")]
        assert step["outcome"] == "skipped" and "unreachable" in step["message"]
