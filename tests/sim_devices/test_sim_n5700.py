"""The N5700 driver over the wire: real pyvisa-py TCPIP SOCKET sessions to the simulated supply."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from bringup.cli import main
from bringup.core.clock import SimClock
from bringup.drivers.base import DriverError
from bringup.drivers import BUILTIN, resolve
from bringup.drivers.n5700 import KeysightN5700
from bringup.drivers.scpi import VisaDriver
from bringup.sim_devices.instruments.scpi_server import twins
from bringup.sim_devices.instruments.sim_n5700 import SimN5700
from scpi_bench import raw_session, served


def bench(ohms: float = 0.2, **kw):
    clock = SimClock()
    return SimN5700(clock, load=lambda ch, v: v / ohms, noise=False, **kw)


def test_the_driver_programs_switches_and_reads_the_twin_as_it_would_the_real_supply():
    sim = bench(ohms=0.2)
    with served(sim, KeysightN5700, role="bulk") as (d, _):
        assert d.identity().startswith("Keysight Technologies,N5763A,")
        assert d.rating == (12.5, 120.0, 15.0)
        d.call("set", {"voltage": 12.0, "current_limit": 100.0})
        d.call("output", {"state": True})
        assert d.voltage() == pytest.approx(12.0)
        assert d.current() == pytest.approx(60.0)  # 12 V into 0.2 Ohm
        assert d.protection_tripped() == 0.0
        assert sim.output.ovp == pytest.approx(13.2) and sim.output.ocp


def test_the_twin_keeps_the_ovp_5_percent_above_the_output_as_the_real_one_refuses():
    sim = bench()
    with served(sim, KeysightN5700, role="bulk") as (_, server):
        res = raw_session(server)  # as a driver written for the real supply talks to it
        try:
            res.write("VOLT 14.9")  # OVP is 15 V: 14.9 V would leave it 0.7 % above
            assert res.query("SYST:ERR?").startswith("-222,")
            assert float(res.query("VOLT?")) == 0.0  # refused: nothing changed
            res.write("VOLT 12;:VOLT:PROT 12.2")  # 1.7 % above the output
            assert res.query("SYST:ERR?").startswith("-222,")
            assert float(res.query("VOLT:PROT?")) == 15.0
        finally:
            res.close()


def test_the_driver_walks_setpoints_down_and_up_without_the_supply_refusing_a_write():
    """Every write is followed by the error queue: a -222 from the 5 % rule would fail the step."""
    sim = bench(ohms=10.0)
    with served(sim, KeysightN5700, role="bulk") as (d, _):
        for volts in (12.0, 3.0, 12.4, 1.0, 11.9):
            d.set(volts, 20.0)
            assert sim.output.volts == volts and sim.output.ovp >= 1.05 * volts - 1e-9
        d.output(True)
        assert d.voltage() == pytest.approx(11.9)


def test_over_current_protection_trips_the_output_off_until_cleared():
    sim = bench(ohms=0.1)
    with served(sim, KeysightN5700, role="bulk") as (d, _):
        d.set(5.0, 10.0)  # 5 V into 0.1 Ohm wants 50 A: current limit at 10 A
        d.output(True)
        sim.clock.sleep(0.1)  # past the protection's delay, in current limit
        assert d.protection_tripped() == 2.0 and d.voltage() == 0.0
        with pytest.raises(DriverError, match="over-current protection tripped; clear_protection re-arms it"):
            d.output(True)
        d.set(0.5, 10.0)  # 5 A: inside the limit
        d.clear_protection()
        d.output(True)
        assert d.current() == pytest.approx(5.0) and d.protection_tripped() == 0.0


def test_the_station_guardrail_rejects_a_step_before_the_run_naming_file_line_and_column(tmp_path):
    station = tmp_path / "bench.yaml"
    station.write_text("""station: sled bench
roles:
  bulk:
    driver: keysight.n5700
    resource: TCPIP::192.168.1.22::5025::SOCKET
    guardrails:
      - {voltage: {max: 12.6 V}, current_limit: {max: 110 A}}
""")
    proc = tmp_path / "p.yaml"
    proc.write_text("""procedure: bulk rail
requires: {bulk: power_supply}
phases:
  - id: up
    steps:
      - do: bulk.set
        with: {voltage: 13 V, current_limit: 100 A}
""")
    result = CliRunner().invoke(main, ["validate", str(proc), "--station", str(station)])
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert f"{proc}:7:" in result.output and "voltage = 13 V is above the station limit" in result.output


def test_every_bench_instrument_driver_has_a_simulated_twin():
    instruments = sorted(n for n, target in BUILTIN.items() if issubclass(resolve(n), VisaDriver))
    assert "keysight.n5700" in instruments
    assert sorted(twins()) == instruments
    assert twins()["keysight.n5700"] is SimN5700


def test_the_under_voltage_limit_stays_5_percent_below_the_output_as_the_real_one_refuses():
    sim = bench()
    with served(sim, KeysightN5700, role="bulk") as (_, server):
        res = raw_session(server)
        try:
            res.write("VOLT 10;:VOLT:LIM:LOW 9.5")  # UVL at 95 % of the output: allowed
            assert res.query("SYST:ERR?").startswith("+0,")
            res.write("VOLT:LIM:LOW 9.6")  # 96 %
            assert res.query("SYST:ERR?").startswith("-222,")
            res.write("VOLT 9.9")  # the output may not come down within 5 % of the UVL either
            assert res.query("SYST:ERR?").startswith("-222,")
            assert float(res.query("VOLT?")) == 10.0 and float(res.query("VOLT:LIM:LOW?")) == 9.5
            res.write("*RST")
            assert float(res.query("VOLT:LIM:LOW?")) == 0.0
        finally:
            res.close()


def test_the_ocp_delay_the_guide_names_is_how_long_the_output_may_hold_in_current_limit():
    clock = SimClock()
    sim = SimN5700(clock, load=lambda ch, v: v / 0.001, noise=False)  # a short
    with served(sim, KeysightN5700, role="bulk") as (_, server):
        res = raw_session(server)
        try:
            # *OPC? waits for the output to be on before the clock moves (a write alone does not)
            assert res.query("OUTP:PROT:DEL 2;:VOLT 5;:CURR 10;:CURR:PROT:STAT ON;:OUTP ON;*OPC?") == "1"
            clock.advance(1.0)
            assert res.query("OUTP?") == "1"  # in current limit for 1 s of its 2 s
            clock.advance(1.5)
            assert res.query("OUTP?") == "0" and res.query("STAT:QUES:COND?") == "2"
            assert float(res.query("OUTP:PROT:DEL?")) == 2.0
            assert res.query("SYST:ERR?").startswith("+0,")
        finally:
            res.close()


def test_panel_power_on_state_and_options_read_back_what_was_set():
    sim = bench()
    with served(sim, KeysightN5700, role="bulk") as (_, server):
        res = raw_session(server)
        try:
            assert res.query("*OPT?") == "0"
            res.write("OUTP:PON:STAT AUTO;:SYST:COMM:RLST RWL;:DISP:STAT OFF")
            assert (res.query("OUTP:PON:STAT?"), res.query("SYST:COMM:RLST?"), res.query("DISP:STAT?")) == \
                ("AUTO", "RWL", "0")
            res.write("*RST")
            assert (res.query("OUTP:PON:STAT?"), res.query("DISP:STAT?")) == ("RST", "1")
            res.write("OUTP:PON:STAT NEVER")
            assert res.query("SYST:ERR?").startswith("-224,")
        finally:
            res.close()


def test_the_transient_trigger_applies_both_levels_and_abort_disarms_it():
    sim = bench(ohms=10.0)
    with served(sim, KeysightN5700, role="bulk") as (_, server):
        res = raw_session(server)
        try:
            res.write("VOLT 5;:CURR 2;:VOLT:TRIG 12;:CURR:TRIG 20;:VOLT:MODE STEP;:INIT;:ABOR;:TRIG")
            assert (float(res.query("VOLT?")), float(res.query("CURR?"))) == (5.0, 2.0)  # aborted first
            res.write("INIT;*TRG")
            assert (float(res.query("VOLT?")), float(res.query("CURR?"))) == (12.0, 20.0)
            assert res.query("SYST:ERR?").startswith("+0,")
        finally:
            res.close()
