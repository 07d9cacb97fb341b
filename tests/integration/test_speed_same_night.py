"""`--speed N` never changes the night: the same seed and faults give the same stored
measurements, verdicts, phases, events and samples at any speed and as fast as possible.

Simulated time moves only as the run lets it pass (a wait, a watched pause inside an action),
throttled to at most N x wall time; an instrument exchange takes no simulated time at any speed.
Before, at x50 a healthy sled aborted at open ("no time left before the step's deadline") and
power_on took 7:21 of simulated time instead of 1:20, because wall time spent on I/O counted as
simulated time. Each run here is a real `bringup run` against the embedded lab.
"""

from __future__ import annotations

import re
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# a short night: cooling, input, rails, a few readings and an interlocked wait (~7 s simulated)
SHORT = """
procedure: short-night
version: 1
requires: {psu: power_supply, dmm: multimeter, cdu: coolant, sled: sled}
safe_state:
  - sled.stress_stop
  - sled.power_off
  - psu.output: off
monitors:
  - {read: sled.max_tj, every: 500 ms, limit: {high: 95 degC}}
  - {read: sled.leak, every: 1 s, limit: {high: 0.5}}
phases:
  - id: up
    steps:
      - do: cdu.start
        with: {setpoint: 30 degC, flow: 4 L/min}
      - do: psu.set
        with: {channel: 1, voltage: 12 V, current_limit: 300 A}
      - do: psu.output
        with: {state: on}
      - wait: 500 ms
      - measure: psu.current
        limit: {high: 3 A}
      - do: sled.power_on
        with: {boot: off}
      - for_each: {chip: [0, 1, 2, 3]}
        steps:
          - measure: sled.rail_voltage
            with: {rail: VDD_CORE, chip: "{chip}"}
            limit: {low: 0.7 V, high: 0.8 V}
      - wait: 3 s
      - measure: sled.max_tj
        limit: {high: 60 degC}
      - measure: dmm.voltage_dc
        with: {range: 1 V}
        limit: {low: 0.7 V, high: 0.8 V}
"""

# what an instrument's address says (a pty, a port) differs from run to run; nothing else may
_ADDRESSES = re.compile(r"/dev/pts/\d+|127\.0\.0\.1::\d+|TCPIP::[^\s;,)]+|port \d+")


def _night(tmp_path: Path, procedure: Path, speed: float | None, *params: str) -> dict[str, list]:
    store = tmp_path / f"speed-{speed}.sqlite"
    argv = [sys.executable, "-m", "bringup.cli", "run", str(procedure), "--store", str(store), "--seed", "7"]
    argv += [a for p in params for a in ("-p", p)]
    if speed is not None:
        argv += ["--speed", str(speed)]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    db = sqlite3.connect(store)
    try:
        return {
            "measurements": db.execute("SELECT path, name, value, unit, low, high, verdict, t, coords, gate "
                                       "FROM measurements ORDER BY id").fetchall(),
            "phases": db.execute("SELECT phase_id, state, verdict, reason, started_t, ended_t FROM phases "
                                 "ORDER BY id").fetchall(),
            "steps": db.execute("SELECT path, kind, started_t, ended_t, outcome, message FROM steps ORDER BY id")
                       .fetchall(),
            "events": [(t, kind, sev, _ADDRESSES.sub("<address>", msg)) for t, kind, sev, msg in
                       db.execute("SELECT t, kind, severity, message FROM events ORDER BY id")],
            "samples": db.execute("SELECT c.name, s.t, s.value FROM samples s JOIN channels c ON c.id = s.channel_id "
                                  "ORDER BY s.id").fetchall(),
            "run": db.execute("SELECT state, verdict, exit_code, ended_t, reason FROM runs").fetchall(),
        }
    finally:
        db.close()


def _same(reference: dict[str, list], other: dict[str, list], label: str) -> None:
    for table, rows in reference.items():
        assert other[table] == rows, f"{label}: {table} differ from the run as fast as possible"


def test_a_short_night_is_the_same_at_every_speed(tmp_path):
    procedure = tmp_path / "short.yaml"
    procedure.write_text(SHORT)
    fast = _night(tmp_path, procedure, None)
    assert fast["run"][0][:3] == ("passed", "PASS", 0) and len(fast["measurements"]) == 7
    assert fast["phases"][0][5] == pytest.approx(4.5, abs=1.0)  # the waits and the rails' ramp, no I/O
    for speed in (1, 20, 300, 10000):
        _same(fast, _night(tmp_path, procedure, speed), f"--speed {speed}")


def test_an_hour_of_soak_is_the_same_at_every_speed(tmp_path):
    procedure = ROOT / "procedures" / "stress_soak.yaml"
    fast = _night(tmp_path, procedure, None, "soak=1h")
    soak = [p for p in fast["phases"] if p[0] == "soak"]
    assert soak and soak[0][1] == "passed" and soak[0][5] - soak[0][4] >= 3600
    for speed in (3000, 10000):
        _same(fast, _night(tmp_path, procedure, speed, "soak=1h"), f"--speed {speed}")
