"""`bringup watch` in other processes, attached to a real run in progress through the store.

The run is `python -m bringup.cli run` against the fake bench at 50x wall time; watchers are
separate processes with a fixed terminal size (COLUMNS/LINES). Several watch at once, one is
killed with SIGKILL, and the run neither notices nor slows down: it is aborted with Ctrl-C
(SIGINT) at the end and must end exactly as it would have unwatched.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from bringup.store import StoreReader
from engine_helpers import station_with

NIGHT = """
procedure: watched-night
version: 2
requires: {psu: power_supply, cdu: coolant, sled: sled}
safe_state:
  - sled.stress_stop
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
        with: {setpoint: 30 degC, flow: 1.5 L/min}
      - do: psu.set
        with: {channel: 1, voltage: 12 V, current_limit: 40 A}
      - do: psu.output
        with: {state: on}
      - do: sled.power_on
  - id: soak
    after: power_on
    steps:
      - do: sled.stress_start
      - soak: {duration: "{soak}", every: 10 s}
        steps:
          - measure: sled.max_tj
            limit: {high: 95 degC}
  - id: cooldown
    after: soak
    steps: [{wait: 1 min}]
parameters: {soak: 8 h}
"""

ROOT = Path(__file__).resolve().parents[2]


def _env(columns: int = 120, lines: int = 40) -> dict[str, str]:
    env = {**os.environ, "COLUMNS": str(columns), "LINES": str(lines)}
    env.pop("FORCE_COLOR", None)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    return env


def _run(tmp_path: Path, soak: str, speed: float | None) -> tuple[subprocess.Popen, Path]:
    proc = tmp_path / "night.yaml"
    proc.write_text(NIGHT)
    store = tmp_path / "runs.sqlite"
    cmd = [sys.executable, "-m", "bringup.cli", "run", str(proc), "--station", str(station_with(tmp_path)),
           "--store", str(store), "-p", f"soak={soak}", "--dut", "SN-WATCHED"]
    if speed is not None:
        cmd += ["--speed", str(speed)]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env(),
                            cwd=tmp_path), store


def _watch(store: Path, *args: str, columns: int = 120, lines: int = 40) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "bringup.commands.watch", *args, "--store", str(store)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=_env(columns, lines))


def _measurements(store: Path) -> int:
    with StoreReader(store) as r:
        return len(r.measurements(1))


def _wait_for(pred, what: str) -> None:
    pause = threading.Event()
    for _ in range(600):  # a hang guard (60 s), not a timing assertion
        if pred():
            return
        pause.wait(0.1)
    pytest.fail(f"gave up waiting for {what}")


def test_several_watchers_follow_a_live_run_and_a_killed_one_does_not_disturb_it(tmp_path):
    run, store = _run(tmp_path, soak="8 h", speed=50.0)
    for line in run.stdout:
        if "phase soak: running" in line:
            break
    else:
        pytest.fail(f"the run ended before its soak: {run.communicate()}")
    _wait_for(lambda: _measurements(store) >= 3, "soak samples in the store")

    framed = [_watch(store, "1", "--frames", "3", "--hz", "5") for _ in range(3)]
    small = _watch(store, "latest", "--once", columns=80, lines=24)
    doomed = _watch(store)  # into a pipe: plain lines, following until the run ends
    follower = _watch(store, "1", "--plain")
    assert doomed.stdout.readline().startswith("[00:00:00.000] run 1: watched-night v2 on DUT SN-WATCHED")
    os.kill(doomed.pid, signal.SIGKILL)
    doomed.communicate(timeout=30)

    for w in framed:
        out, err = w.communicate(timeout=60)
        assert w.returncode == 0, err
        assert "\x1b[" not in out  # into a pipe: no escape codes, even for the dashboard's frames
        frames = out.split("bringup watched-night v2 · DUT SN-WATCHED · station test-bench · run 1")
        assert len(frames) == 4, out  # three frames, each headed by the run
        last = frames[-1]
        assert "RUNNING" in last and "sim ×50" in last
        assert "✓ power_on" in last and "▶ soak" in last and "· cooldown" in last
        assert "now soak › sled.max_tj = " in last and "°C PASS" in last
        assert " of 8:00:00 · ETA " in last  # the soak's progress, read from the store
        assert "⛨ sled.max_tj" in last and "≤105 °C" in last
        assert all(len(line) <= 120 for line in out.splitlines())
    out, err = small.communicate(timeout=60)
    assert small.returncode == 0, err
    assert len(out.splitlines()) <= 24 and all(len(line) <= 80 for line in out.splitlines())
    assert "phases ✓power_on ▶soak" in out

    seen = _measurements(store)
    _wait_for(lambda: _measurements(store) > seen + 2, "the run to go on after a watcher was killed")
    run.send_signal(signal.SIGINT)
    out, err = run.communicate(timeout=60)
    assert run.returncode == 3, err
    with StoreReader(store) as r:
        assert r.run(1)["state"] == "aborted"
        safe = [s["outcome"] for s in r.steps(1) if s["path"].startswith("safe_state")]
        assert safe == ["ok", "ok", "ok"]

    # the plain follower saw it all and ended by itself with the summary
    out, err = follower.communicate(timeout=60)
    assert follower.returncode == 0, err
    assert "\x1b" not in out
    lines = out.splitlines()
    assert lines[0].startswith("[00:00:00.000] run 1: watched-night v2")
    assert any(line.endswith("phase soak: running") for line in lines), out
    assert any("phase soak: aborted (" in line and line.endswith("Ctrl-C received)") for line in lines), out
    assert any(line.endswith("safe state: Ctrl-C received") for line in lines), out
    assert "] run ABORTED (exit 3) after " in lines[-1] and lines[-1].endswith("; Ctrl-C received")


def test_a_finished_run_shows_its_final_state_and_summary(tmp_path):
    run, store = _run(tmp_path, soak="10 min", speed=None)
    out, err = run.communicate(timeout=60)
    assert run.returncode == 0, err
    snap = _watch(store, "--once")
    out, err = snap.communicate(timeout=60)
    assert snap.returncode == 0, err
    first = out.splitlines()[0].rstrip()
    assert first.endswith("PASSED") and "watched-night v2" in first
    assert ("run PASSED (exit 0) after 0:11:00: 3/3 phases passed; measurements: 60 pass, 0 fail, 0 unknown"
            in out)
    assert "✓ soak" in out and "passed   PASS     0:10:00" in out
    assert "ETA" not in out  # nothing is under way

    plain = _watch(store, "1")
    out, err = plain.communicate(timeout=60)
    assert plain.returncode == 0, err
    assert out.splitlines()[-1] == ("[00:11:00.000] run PASSED (exit 0) after 0:11:00: 3/3 phases passed; "
                                    "measurements: 60 pass, 0 fail, 0 unknown")


def test_watching_a_run_that_does_not_exist_says_so_and_exits_2(tmp_path):
    from test_dashboard_data import SledNight

    SledNight(tmp_path).close()  # a store with one run in it
    w = _watch(tmp_path / "runs.sqlite", "7", "--once")
    out, err = w.communicate(timeout=60)
    assert w.returncode == 2 and out == ""
    assert err.startswith("error: no run 7 in ") and "bringup runs" in err
    w = _watch(tmp_path / "nowhere.sqlite")
    out, err = w.communicate(timeout=60)
    assert w.returncode == 2 and "no results store at" in err
