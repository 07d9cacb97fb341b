"""Lost and stuck instruments in a real run: the runner, real drivers, pyvisa-py, simulated instruments.

Each case must end the same way a person at the bench would want: a clear error naming the role,
the safe state run on every instrument still reachable, and everything measured before the
fault still in the results.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

from bringup.run import session
from bringup.core.clock import SimClock
from bringup.check.station import load_station
from bringup.store import Store, StoreReader
from bringup.sim_devices.instruments.scpi_server import InstrumentServer
from bringup.sim_devices.instruments.sim_chiller import SimLaudaIntegralXT
from bringup.sim_devices.instruments.sim_dmm import SimK34461A
from bringup.sim_devices.instruments.sim_psu import SimE36312A

PROCEDURE = """
procedure: lab-faults
requires: {psu: power_supply, dmm: multimeter, cdu: coolant}
safe_state:
  - psu.output: off
  - cdu.stop
phases:
  - id: power
    steps:
      - do: cdu.start
        with: {setpoint: 25 degC, flow: 2 L/min}
      - do: psu.set
        with: {channel: 1, voltage: 5 V, current_limit: 1 A}
      - do: psu.output
        with: {state: on, channel: 1}
      - measure: psu.current
        name: early current
        with: {channel: 1}
        limit: {high: 1 A}
      - measure: dmm.voltage_dc
        name: early rail
        limit: {low: 0.7 V, high: 0.8 V}
      - wait: 20 s
      - measure: dmm.voltage_dc
        name: late rail
        timeout: 300 ms
        limit: {low: 0.7 V, high: 0.8 V}
      - measure: psu.current
        name: late current
        with: {channel: 1}
        limit: {high: 1 A}
"""


class Lab:
    """A supply, a meter and a chiller on loopback, sharing one simulated clock."""

    def __init__(self, psu_cls=SimE36312A, dmm_cls=SimK34461A) -> None:
        self.clock = SimClock()
        self.psu = psu_cls(self.clock, noise=False)
        self.dmm = dmm_cls(self.clock, sources={"VOLT": lambda: 0.75}, noise=False)
        self.cdu = SimLaudaIntegralXT(self.clock)
        self.servers = {role: InstrumentServer(inst) for role, inst in
                        (("psu", self.psu), ("dmm", self.dmm), ("cdu", self.cdu))}
        for role, server in self.servers.items():
            server.start()
            getattr(self, role).server = server

    def station(self, tmp_path: Path, dead: str | None = None, first: str = "psu") -> Path:
        drivers = {"psu": "keysight.e36312a", "dmm": "keysight.34461a", "cdu": "lauda.integral_xt"}
        order = [first] + [r for r in drivers if r != first]
        lines = ["station: loopback", "clock: simulated", "roles:"]
        for role in order:
            resource = f"TCPIP::127.0.0.1::{free_port()}::SOCKET" if role == dead else self.servers[role].resource
            lines.append(f"  {role}: {{driver: {drivers[role]}, resource: '{resource}', options: {{timeout: 0.5}}}}")
        path = tmp_path / "station.yaml"
        path.write_text("\n".join(lines) + "\n")
        return path

    def run(self, tmp_path: Path, station: Path):
        proc = tmp_path / "procedure.yaml"
        proc.write_text(textwrap.dedent(PROCEDURE))
        prepared = session.prepare(proc, load_station(station))
        prepared.clock = self.clock  # the instruments and the runner share one simulated time
        for d in prepared.drivers.values():
            d.clock = self.clock
        with Store(tmp_path / "runs.sqlite") as db:
            result = session.run(prepared, db, dut="SN-1")
        return result, StoreReader(tmp_path / "runs.sqlite")

    def close(self) -> None:
        for server in self.servers.values():
            server.stop()


def free_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens there now
    return port


def safe_steps(reader: StoreReader, run_id: int) -> list[tuple[str, str, str | None]]:
    return [(s["path"], s["outcome"], s["message"]) for s in reader.steps(run_id) if s["path"].startswith("safe_state")]


class UnpluggedAt(SimE36312A):
    """A supply whose power cord is pulled at a given simulated time."""

    at = 10.0

    def handle(self, line: str) -> str | None:
        if self.clock.now() >= self.at:
            self.server.unplug()
            return None
        return super().handle(line)


class FrozenAt(SimK34461A):
    """A meter whose firmware hangs at a given simulated time."""

    at = 10.0

    def handle(self, line: str) -> str | None:
        if self.clock.now() >= self.at:
            self.server.freeze()
            return None
        return super().handle(line)


def test_a_station_address_where_nothing_listens_aborts_naming_the_role_and_the_rest_goes_safe(tmp_path):
    lab = Lab()
    try:
        # the dead meter is opened first, so the others are reached only by the safe state
        result, reader = lab.run(tmp_path, lab.station(tmp_path, dead="dmm", first="dmm"))
    finally:
        lab.close()
    assert result.exit_code == 3 and result.state == "aborted"
    assert "instrument unreachable: role 'dmm' at TCPIP::127.0.0.1::" in result.reason
    assert "refused" in result.reason.lower()
    steps = safe_steps(reader, result.run_id)
    assert [outcome for _, outcome, _ in steps] == ["ok", "ok"]  # psu.output off and cdu.stop both reached
    assert lab.servers["psu"].lines > 0 and lab.servers["cdu"].lines > 0
    run = reader.run(result.run_id)
    assert run["state"] == "aborted" and run["exit_code"] == 3


def test_an_instrument_that_closes_its_socket_mid_run_aborts_keeps_earlier_results_and_goes_safe(tmp_path):
    lab = Lab(psu_cls=UnpluggedAt)
    try:
        result, reader = lab.run(tmp_path, lab.station(tmp_path))
    finally:
        lab.close()
    assert result.exit_code == 3
    assert "role 'psu'" in result.reason and "closed the connection" in result.reason
    measured = {m["name"]: m["verdict"] for m in reader.measurements(result.run_id)}
    assert measured["early current"] == "PASS" and measured["early rail"] == "PASS"  # nothing lost
    assert measured["late rail"] == "PASS"  # the meter was still there after the supply went
    assert "late current" not in measured  # no value was invented for the lost supply
    steps = safe_steps(reader, result.run_id)
    assert steps[0][1] == "skipped" and "psu is unreachable" in steps[0][2]
    assert steps[1][1] == "ok" and lab.cdu.running is False  # the chiller, still reachable, was stopped


def test_an_instrument_that_stops_answering_times_the_step_out_as_unknown_and_the_run_goes_on_safely(tmp_path):
    lab = Lab(dmm_cls=FrozenAt)
    try:
        result, reader = lab.run(tmp_path, lab.station(tmp_path))
    finally:
        lab.close()
    late = [m for m in reader.measurements(result.run_id) if m["name"] == "late rail"][0]
    assert late["verdict"] == "UNKNOWN" and late["value"] is None
    assert "timed out" in late["message"] and "no reply to 'MEAS:VOLT:DC? 10'" in late["message"]
    assert result.exit_code == 1  # a failed phase, not an abort: one timeout is not a lost instrument
    assert [outcome for _, outcome, _ in safe_steps(reader, result.run_id)] == ["ok", "ok"]
    assert not lab.psu.outputs[1].on and lab.cdu.running is False


def test_the_command_line_exits_3_and_names_the_role_when_an_instrument_is_not_there(tmp_path):
    proc = tmp_path / "p.yaml"
    proc.write_text(textwrap.dedent("""
        procedure: one
        requires: {psu: power_supply}
        safe_state:
          - psu.output: off
        phases:
          - id: a
            steps:
              - measure: psu.current
                limit: {high: 1 A}
    """))
    station = tmp_path / "s.yaml"
    station.write_text(f"station: nowhere\nroles:\n  psu: {{driver: keysight.e36312a, "
                       f"resource: 'TCPIP::127.0.0.1::{free_port()}::SOCKET', options: {{timeout: 0.5}}}}\n")
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    done = subprocess.run([sys.executable, "-m", "bringup.cli", "run", str(proc), "--station", str(station),
                           "--store", str(tmp_path / "r.sqlite")], capture_output=True, text=True, timeout=60, env=env)
    out = done.stdout + done.stderr
    assert done.returncode == 3, out
    assert "instrument unreachable: role 'psu'" in out
