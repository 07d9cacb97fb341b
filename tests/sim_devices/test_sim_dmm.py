"""The 34461A driver against the simulated 34461A, over a real pyvisa-py socket session."""

from __future__ import annotations

import statistics

import pytest

from bringup.core.clock import SimClock
from bringup.drivers.base import DriverError
from bringup.drivers.k34461a import Keysight34461A
from bringup.sim_devices.instruments.sim_dmm import SimK34461A
from scpi_bench import raw_session, served


def meter(**sources):
    return SimK34461A(SimClock(), sources={k.upper(): (lambda v=v: v) for k, v in sources.items()}, seed=3)


def test_dc_voltage_current_and_resistance_read_their_sources():
    with served(meter(volt=0.7512, curr=0.0123, res=4700.0), Keysight34461A, "dmm") as (dmm, _):
        assert dmm.call("voltage_dc", {"range": 1.0}) == pytest.approx(0.7512, abs=1e-5)
        assert dmm.current_dc(0.1) == pytest.approx(0.0123, abs=1e-6)
        assert dmm.resistance(1e4) == pytest.approx(4700.0, rel=1e-5)


def test_a_signal_beyond_the_range_is_an_overload_error():
    with served(meter(volt=12.5), Keysight34461A, "dmm") as (dmm, _):
        with pytest.raises(DriverError, match="overload on the 10 V range"):
            dmm.voltage_dc(10.0)  # a range reads up to 120 %: 12 V, not 12.5
        assert dmm.voltage_dc(100.0) == pytest.approx(12.5, abs=1e-3)


def test_the_10_a_range_switches_terminals_on_the_instrument():
    with served(meter(curr=4.2), Keysight34461A, "dmm") as (dmm, server):
        assert dmm.current_dc(10.0) == pytest.approx(4.2, abs=1e-3)
        raw = raw_session(server)
        assert raw.query("CURR:TERM?") == "+10"
        raw.close()
        with pytest.raises(DriverError, match="overload on the 1 A range"):
            dmm.current_dc(1.0)  # back on the 3 A terminals, 4.2 A is too much for 1 A


def test_longer_integration_means_less_noise():
    with served(meter(volt=1.0), Keysight34461A, "dmm", nplc=0.02) as (fast, server):
        quick = statistics.pstdev(fast.voltage_dc(1.0) for _ in range(40))
        slow_dmm = Keysight34461A(role="dmm2", resource=server.resource, options={"nplc": 100}, clock=fast.clock)
        slow = statistics.pstdev(slow_dmm.voltage_dc(1.0) for _ in range(40))
        raw = raw_session(server)
        assert float(raw.query("VOLT:DC:NPLC?")) == 100.0
        raw.close()
        slow_dmm.close()
    assert slow < quick / 10


def test_bus_triggered_readings_as_a_third_party_script_takes_them():
    with served(meter(volt=2.5), Keysight34461A, "dmm") as (_, server):
        inst = raw_session(server)
        inst.write("*RST;*CLS")
        inst.write("CONF:VOLT:DC 10")
        inst.write("SAMP:COUN 3;:TRIG:SOUR BUS")
        inst.write("INIT")
        inst.write("*TRG")
        readings = [float(x) for x in inst.query("FETC?").split(",")]
        assert readings == pytest.approx([2.5, 2.5, 2.5], abs=1e-4)
        assert inst.query('CONF?').startswith('"VOLT +1.00000000E+01')
        assert inst.query("SYST:ERR?") == '+0,"No error"'
        inst.close()
