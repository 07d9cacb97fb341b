"""The LAUDA driver against the simulated Integral XT, over a real pyvisa-py socket session."""

from __future__ import annotations

import pytest

from bringup.core.clock import SimClock
from bringup.drivers.base import DriverError, Guardrail
from bringup.drivers.chiller import LaudaIntegralXT
from bringup.sim_devices.instruments.sim_chiller import WATER_J_PER_L_K, SimLaudaIntegralXT
from scpi_bench import raw_session, served


def test_start_brings_supply_temperature_and_flow_to_their_setpoints_on_the_clock():
    clock = SimClock()
    load = {"w": 1500.0}
    unit = SimLaudaIntegralXT(clock, heat_load=lambda: load["w"])
    with served(unit, LaudaIntegralXT, "cdu") as (cdu, _):
        assert cdu.running() == 0.0 and cdu.flow() == 0.0
        cdu.call("start", {"setpoint": 30.0, "flow": 6.0})
        clock.advance(1.0)
        early = cdu.flow()
        clock.advance(600.0)
        assert 0 < early < 6.0
        assert cdu.flow() == pytest.approx(6.0, abs=0.01)
        assert cdu.supply_temperature() == pytest.approx(30.0, abs=0.02)
        assert cdu.return_temperature() - cdu.supply_temperature() == pytest.approx(
            1500.0 / (WATER_J_PER_L_K * 6.0 / 60.0), abs=0.02)
        assert cdu.cooling_power() == 1500.0 and cdu.running() == 1.0 and cdu.fault() == 0.0
        assert cdu.identity() == "LAUDA,Integral XT,-,V3.39"


def test_a_load_beyond_the_cooling_capacity_pushes_the_supply_above_its_setpoint():
    clock = SimClock()
    unit = SimLaudaIntegralXT(clock, heat_load=lambda: 8000.0, capacity_w=6000.0)
    with served(unit, LaudaIntegralXT, "cdu") as (cdu, _):
        cdu.start(25.0, 4.0)
        clock.advance(900.0)
        assert cdu.supply_temperature() > 25.0 + 5.0


def test_the_station_guardrail_becomes_the_units_limits_and_the_unit_refuses_beyond_them():
    unit = SimLaudaIntegralXT(SimClock())
    rail = Guardrail("setpoint", 15 + 273.15, 45 + 273.15, (), "temperature")
    with served(unit, LaudaIntegralXT, "cdu", guardrails=(rail,)) as (cdu, server):
        assert (unit.til_c, unit.tih_c) == (15.0, 45.0)
        raw = raw_session(server, "\r\n")
        assert raw.query("OUT_SP_00_50.00") == "ERR_6"  # even a client that ignores the station is held
        raw.close()
        with pytest.raises(DriverError, match="ERR_6"):
            cdu.set_setpoint(46.0)  # past Driver.call, which would refuse it first in a run


def test_a_failing_pump_shows_in_the_flow_reading_and_stop_drains_the_flow():
    clock = SimClock()
    unit = SimLaudaIntegralXT(clock)
    changes = []
    unit.on_change = lambda u: changes.append((u.running, u.setpoint_c, u.flow_setpoint_lpm))
    with served(unit, LaudaIntegralXT, "cdu") as (cdu, _):
        cdu.start(20.0, 5.0)
        clock.advance(30.0)
        unit.fail_pump(0.3)
        clock.advance(30.0)
        assert cdu.flow() == pytest.approx(1.5, abs=0.01)
        cdu.stop()
        clock.advance(30.0)
        assert cdu.flow() == pytest.approx(0.0, abs=1e-3) and cdu.running() == 0.0
    assert changes[-1][0] is False and (True, 20.0, 5.0) in changes
