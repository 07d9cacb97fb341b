"""`bringup sim serve` runs the lab for other programs: a second process connects with the
printed station file, on its own (real) clock, exactly as it would to a bench."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap

from bringup.store import StoreReader

PROCEDURE = """
procedure: served
requires: {psu: power_supply, cdu: coolant, sled: sled}
safe_state:
  - sled.power_off
  - psu.output: off
phases:
  - id: power_on
    steps:
      - do: cdu.start
        with: {setpoint: 30 degC, flow: 4 L/min}
      - do: psu.set
        with: {channel: 1, voltage: 12 V, current_limit: 300 A}
      - do: psu.output
        with: {state: on}
      - do: sled.power_on
      - wait_until: {condition: "sled.booted(chip=0) > 0", timeout: 20 s, poll: 200 ms}
      - measure: sled.rail_voltage
        with: {rail: VDD_CORE}
        expect: 0.75 V ± 3%
"""


def test_a_served_lab_runs_a_procedure_from_another_process(tmp_path):
    station = tmp_path / "station.yaml"
    server = subprocess.Popen([sys.executable, "-m", "bringup.cli", "sim", "serve", "--station-out", str(station)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        printed = ""
        for line in server.stdout:  # the station file is printed first; the sled role ends it
            printed += line
            if line.strip().startswith("driver: sled.console"):
                printed += server.stdout.readline() + server.stdout.readline()  # its resource and options
                break
        assert "clock: real" in printed and "TCPIP::127.0.0.1::" in printed
        assert station.read_text().strip() == printed.strip()
        (tmp_path / "p.yaml").write_text(textwrap.dedent(PROCEDURE))
        store = tmp_path / "runs.sqlite"
        done = subprocess.run([sys.executable, "-m", "bringup.cli", "run", str(tmp_path / "p.yaml"), "--station",
                               str(station), "--store", str(store)], capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stdout + done.stderr
        with StoreReader(store) as r:
            [m] = r.measurements(1)
            assert m["verdict"] == "PASS" and abs(m["value"] - 0.75) < 0.03
            assert r.run(1)["clock"] == "real"
    finally:
        server.send_signal(signal.SIGINT)
        server.communicate(timeout=30)
    assert server.returncode == 0
