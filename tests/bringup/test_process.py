"""The guarantees that only a real process can show: signals, SIGKILL, and the real clock."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest

from bringup.store import StoreReader
from engine_helpers import station_with

LONG = """
procedure: long
requires: {psu: power_supply, sled: sled}
safe_state:
  - sled.stress_stop
  - sled.power_off
  - psu.output: off
phases:
  - id: power_on
    steps:
      - do: psu.set
        with: {channel: 1, voltage: 12 V, current_limit: 40 A}
      - do: psu.output
        with: {state: on}
      - do: sled.power_on
  - id: soak
    after: power_on
    steps:
      - do: sled.stress_start
      - soak: {duration: 8 h, every: 1 s}
        steps:
          - measure: sled.max_tj
            limit: {high: 95 degC}
  - id: after_soak
    after: soak
    steps: [{wait: 1 s}]
"""


def _start(tmp_path: Path, speed: float, text: str = LONG, *extra: str) -> tuple[subprocess.Popen, Path]:
    proc = tmp_path / "long.yaml"
    proc.write_text(text)
    store = tmp_path / "runs.sqlite"
    child = subprocess.Popen([sys.executable, "-m", "bringup.cli", "run", str(proc), "--station",
                              str(station_with(tmp_path)), "--store", str(store), "--speed", str(speed), *extra],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    return child, store


def _wait_for_soak(child: subprocess.Popen, store: Path, samples: int = 20) -> None:
    """Block until the child is well into its soak (reading the store, as any other view would)."""
    for line in child.stdout:  # the plain log announces the phase; then let some samples land
        if "phase soak: running" in line:
            break
    else:
        pytest.fail(f"the run ended before its soak: {child.communicate()}")
    pause = threading.Event()
    while True:
        with StoreReader(store) as r:
            if len(r.measurements(1)) >= samples:
                return
        pause.wait(0.02)  # poll gently: the child needs the CPU more than we do


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signal_aborts_to_the_safe_state_and_exits_3(tmp_path, sig):
    child, store = _start(tmp_path, speed=200.0)
    _wait_for_soak(child, store)
    child.send_signal(sig)
    out, err = child.communicate(timeout=60)  # a hang guard, not a timing assertion
    assert child.returncode == 3, err
    name = "Ctrl-C" if sig == signal.SIGINT else "SIGTERM"
    assert f"{name} received" in out and "Traceback" not in err
    with StoreReader(store) as r:
        run = r.run(1)
        assert run["state"] == "aborted" and run["exit_code"] == 3
        phases = {p["phase_id"]: p["state"] for p in r.phases(1)}
        assert phases == {"power_on": "passed", "soak": "aborted", "after_soak": "skipped"}
        safe = [s for s in r.steps(1) if s["path"].startswith("safe_state")]
        assert [s["outcome"] for s in safe] == ["ok", "ok", "ok"]
        assert [s["path"].split("/", 2)[2] for s in safe] == ["sled.stress_stop", "sled.power_off",
                                                              "psu.output(state=off, channel=0)"]


# a safe state that takes a second of wall time at --speed 8, so a second signal lands inside it
SLOW_SAFE = LONG.replace("  - psu.output: off\n", "  - wait: 8 s\n  - psu.output: off\n", 1)


def _lines_until(child: subprocess.Popen, text: str) -> list[str]:
    seen = []
    for line in child.stdout:
        seen.append(line)
        if text in line:
            return seen
    pytest.fail(f"the child never said {text!r}: {seen} {child.communicate()}")


@pytest.mark.parametrize("second", [signal.SIGINT, signal.SIGTERM])
def test_a_second_signal_during_the_safe_state_is_acknowledged_ignored_and_the_exit_code_is_3(tmp_path, second):
    child, store = _start(tmp_path, 8.0, SLOW_SAFE)
    _wait_for_soak(child, store, samples=5)
    child.send_signal(signal.SIGINT)
    _lines_until(child, "safe state: Ctrl-C received")
    child.send_signal(second)
    out, err = child.communicate(timeout=60)
    assert child.returncode == 3, err
    name = "Ctrl-C" if second == signal.SIGINT else "SIGTERM"
    assert f"{name}: safe state in progress; ignoring the second interrupt until it ends" in err
    assert "Aborted!" not in err and "Traceback" not in err
    with StoreReader(store) as r:
        assert r.run(1)["exit_code"] == 3
        safe = [s for s in r.steps(1) if s["path"].startswith("safe_state")]
        assert [s["outcome"] for s in safe] == ["ok", "ok", "ok", "ok"]  # not cut short, the wait included


def test_signals_after_the_safe_state_do_not_change_the_exit_code(tmp_path):
    # the JUnit file is written after the run's end is recorded: signals land there too
    child, store = _start(tmp_path, 200.0, LONG, "--junit", str(tmp_path / "junit.xml"))
    _wait_for_soak(child, store, samples=5)
    child.send_signal(signal.SIGTERM)
    _lines_until(child, "safe state: SIGTERM received")
    pause = threading.Event()
    sent = 0
    while child.poll() is None:  # Ctrl-C and SIGTERM by turns until the process is gone
        try:
            child.send_signal(signal.SIGINT if sent % 2 else signal.SIGTERM)
        except ProcessLookupError:
            break
        sent += 1
        pause.wait(0.002)
    out, err = child.communicate(timeout=60)
    with StoreReader(store) as r:
        recorded = r.run(1)["exit_code"]
    assert recorded == 3 and child.returncode == recorded, err[-2000:]  # before: 1 ("Aborted!"), 130 or 143
    assert "Aborted!" not in err and "Traceback" not in err
    assert "ignoring it" in err  # each one said so on screen
    assert (tmp_path / "junit.xml").exists()


def test_sigkill_mid_run_leaves_a_consistent_store_that_reads_as_interrupted(tmp_path):
    child, store = _start(tmp_path, speed=2000.0)
    _wait_for_soak(child, store, samples=200)
    with StoreReader(store) as r:
        seen = len(r.measurements(1))
    os.kill(child.pid, signal.SIGKILL)
    child.communicate(timeout=30)
    conn = sqlite3.connect(store)
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    conn.close()
    with StoreReader(store) as r:
        run = r.run(1)
        assert run["state"] == "interrupted"
        assert {p["phase_id"]: p["state"] for p in r.phases(1)}["soak"] == "running"
        kept = r.measurements(1)
        assert len(kept) >= seen  # nothing a reader had already seen was lost
        assert [m["coords"]["t"] for m in kept[:3]] == ["00:00:00", "00:00:01", "00:00:02"]


REAL = """
station: real-fake
clock: real
roles:
  sled: {driver: fake.sled, options: {hang: [max_tj]}}
  psu: {driver: fake.power_supply}
"""


def test_step_timeouts_on_the_real_clock_end_the_wait_instead_of_hanging(tmp_path):
    """A stuck instrument and a condition that never holds both give up at their timeout.

    Without deadlines the stuck read would wait the 60 s default; the precise overshoot (target
    50 ms) is measured by bench/step_timeout.py, not asserted here.
    """
    proc = tmp_path / "p.yaml"
    proc.write_text(textwrap.dedent("""
        procedure: stuck
        requires: {sled: sled, psu: power_supply}
        phases:
          - id: stuck_instrument
            on_fail: continue
            steps:
              - measure: sled.max_tj
                timeout: 300 ms
          - id: never_true
            steps:
              - wait_until: {condition: "psu.voltage > 5 V", timeout: 300 ms, poll: 20 ms}
        """))
    st = tmp_path / "station.yaml"
    st.write_text(REAL)
    store = tmp_path / "runs.sqlite"
    done = subprocess.run([sys.executable, "-m", "bringup.cli", "run", str(proc), "--station", str(st), "--store",
                           str(store)], capture_output=True, text=True, timeout=30)
    assert done.returncode == 1, done.stderr
    with StoreReader(store) as r:
        phases = {p["phase_id"]: p for p in r.phases(1)}
        for pid in ("stuck_instrument", "never_true"):
            took = phases[pid]["ended_t"] - phases[pid]["started_t"]
            assert 0.3 <= took < 3.0, (pid, took)
        [m] = r.measurements(1)
        assert m["verdict"] == "UNKNOWN" and "timed out" in m["message"]


def test_a_signal_while_the_run_is_being_recorded_still_ends_it_through_the_safe_state(tmp_path):
    """The runner's handlers are in place before the run's first record: a Ctrl-C that lands
    between the two aborts the run (exit 3, safe state run) instead of leaving it half-begun."""
    from bringup.check.station import load_station
    from bringup.run import session

    proc = tmp_path / "long.yaml"
    proc.write_text(LONG.replace("8 h", "1 min"))
    prepared = session.prepare(proc, load_station(station_with(tmp_path)), {}, None)
    with session.open_store(tmp_path / "runs.sqlite", prepared) as db:
        begin_run = db.begin_run

        def begin_run_then_ctrl_c(**kw):
            run_id = begin_run(**kw)
            os.kill(os.getpid(), signal.SIGINT)  # handled at the next bytecode, inside the runner
            return run_id

        db.begin_run = begin_run_then_ctrl_c
        result = session.run(prepared, db, dut="SN-EARLY")
    assert result.exit_code == 3 and result.reason == "Ctrl-C received"
    with StoreReader(tmp_path / "runs.sqlite") as r:
        assert r.run(result.run_id)["exit_code"] == 3
        safe = [s for s in r.steps(result.run_id) if s["path"].startswith("safe_state")]
        assert [s["outcome"] for s in safe] == ["ok", "ok", "ok"]
