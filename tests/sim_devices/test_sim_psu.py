"""The E36312A driver against the simulated E36312A, over a real pyvisa-py socket session."""

from __future__ import annotations

import pytest

from bringup.core.clock import SimClock
from bringup.drivers.base import DriverError, Guardrail
from bringup.drivers.e36312a import KeysightE36312A
from bringup.sim_devices.instruments.sim_psu import Rating, SimE36312A, resistive
from scpi_bench import raw_session, served


def test_constant_voltage_into_a_resistor_reads_ohms_law():
    with served(SimE36312A(SimClock(), seed=1), KeysightE36312A, "psu") as (psu, _):
        psu.call("set", {"channel": 1, "voltage": 5.0, "current_limit": 2.0})
        psu.call("output", {"state": True, "channel": 1})
        assert psu.voltage(1) == pytest.approx(5.0, abs=2e-3)
        assert psu.current(1) == pytest.approx(5.0 / 6.0, rel=2e-3)  # the default 6 ohm load
        assert psu.voltage(2) == 0.0  # other outputs stay off
        assert psu.identity().startswith("Keysight Technologies,E36312A,")


def test_current_limit_holds_the_current_and_the_voltage_falls():
    sim = SimE36312A(SimClock(), noise=False)
    with served(sim, KeysightE36312A, "psu", ocp=False) as (psu, server):
        psu.set(1, 5.0, 0.5)
        psu.output(True, 1)
        assert psu.current(1) == pytest.approx(0.5)
        assert psu.voltage(1) == pytest.approx(3.0, rel=1e-6)  # 0.5 A into 6 ohm
        raw = raw_session(server)
        assert raw.query("STAT:OPER:INST:ISUM1:COND?") == "1024"  # CC
        raw.close()


def test_a_short_trips_over_current_protection_which_latches_until_cleared():
    clock = SimClock()
    shorted = {"on": True}
    load = lambda ch, v: (v / 0.001 if shorted["on"] else v / 6.0)  # noqa: E731
    sim = SimE36312A(clock, load=load, noise=False)
    with served(sim, KeysightE36312A, "psu", clock=clock) as (psu, _):
        psu.set(1, 5.0, 1.0)  # OCP armed by default, 50 ms delay
        psu.output(True, 1)   # in current limit from the first instant
        clock.advance(0.1)
        assert psu.voltage(1) == 0.0 and psu.current(1) == 0.0
        assert psu.protection_tripped(1) == 2.0
        with pytest.raises(DriverError, match="over-current protection tripped"):
            psu.output(True, 1)
        shorted["on"] = False
        psu.clear_protection(1)
        assert psu.current(1) == pytest.approx(5.0 / 6.0)  # back to its programmed state


def test_the_station_guardrail_is_programmed_as_the_outputs_ovp_and_trips_it():
    sim = SimE36312A(SimClock(), noise=False)
    rail = Guardrail("voltage", None, 5.0, (("channel", 2),), "voltage")
    with served(sim, KeysightE36312A, "psu", guardrails=(rail,)) as (psu, server):
        psu.set(2, 4.0, 0.1)
        raw = raw_session(server)
        assert float(raw.query("VOLT:PROT? (@2)")) == 5.0
        psu.output(True, 2)
        raw.query("VOLT 5.5,(@2);*OPC?")  # something else drives it past the limit: the supply itself acts
        assert psu.protection_tripped(2) == 1.0 and psu.voltage(2) == 0.0
        raw.close()


def test_the_sled_side_sees_every_change_of_the_output_and_supplies_its_load():
    seen, asked = [], []

    def sled_current(ch: int, volts: float) -> float:
        asked.append((ch, volts))
        return 30.0 if volts > 10 else 0.0

    sim = SimE36312A(SimClock(), load=sled_current, ratings={1: Rating(20.0, 300.0, 22.0), 2: Rating(25.75, 1.03, 27.5),
                                                             3: Rating(25.75, 1.03, 27.5)},
                     on_output=lambda ch, v, i, on: seen.append((ch, v, i, on)), noise=False)
    seen.clear()
    with served(sim, KeysightE36312A, "psu") as (psu, _):
        psu.set(1, 12.0, 40.0)
        psu.output(True, 1)
        assert psu.current(1) == 30.0
        psu.output(False, 1)
    assert (1, 12.0, 40.0, True) in seen
    assert seen[-1] == (1, 0.0, 40.0, False)
    assert (1, 12.0) in asked


def test_a_driver_written_for_the_real_instrument_works_unchanged():
    # selected-output style, long forms, lower case, APPLy: how many existing E36312A scripts talk
    sim = SimE36312A(SimClock(), load=resistive({1: 10.0, 2: 10.0, 3: 10.0}), noise=False)
    with served(sim, KeysightE36312A, "psu") as (_, server):
        inst = raw_session(server)
        assert inst.query("*IDN?").split(",")[1] == "E36312A"
        inst.write("*RST")
        inst.write("instrument:nselect 2")
        inst.write("source:voltage:level:immediate:amplitude 10")
        inst.write("CURRent 0.5")
        inst.write("OUTPut:STATe ON")
        assert float(inst.query("MEASure:SCALar:CURRent:DC?")) == pytest.approx(1.0 * 0.5)  # 10 V/10 ohm > 0.5 A: CC
        inst.write("APPL CH3,2.5,0.2")
        inst.write("OUTP ON,(@3)")
        assert [float(x) for x in inst.query("MEAS:VOLT? (@1:3)").split(",")] == pytest.approx([0.0, 5.0, 2.0])
        assert inst.query("SYST:ERR?") == '+0,"No error"'
        inst.close()


def test_the_front_panel_commands_read_back_what_was_set_and_reset_restores_the_display():
    sim = SimE36312A(SimClock(), noise=False)
    with served(sim, KeysightE36312A, "psu") as (_, server):
        res = raw_session(server)
        try:
            assert res.query("*OPT?") == "0"
            res.write('DISP:TEXT "SLED 7 ""A"" SOAK";:DISP:WIND:STAT OFF;:SYST:BEEP')
            assert res.query("DISP:TEXT?") == '"SLED 7 ""A"" SOAK"' and res.query("DISPlay:STATe?") == "0"
            res.write("DISP:TEXT:CLE")
            assert res.query("DISP:TEXT?") == '""'
            res.write('DISP:TEXT "' + "x" * 41 + '"')  # longer than the display
            assert res.query("SYST:ERR?").startswith("-222,")
            res.write("DISP OFF;*RST")
            assert res.query("DISP?") == "1"
            assert res.query("SYST:ERR?").startswith("+0,")
        finally:
            res.close()


def test_a_bus_trigger_steps_every_armed_output_to_its_triggered_level_at_one_instant():
    changes = []
    sim = SimE36312A(SimClock(), noise=False, on_output=lambda ch, v, i, on: changes.append((ch, v)))
    with served(sim, KeysightE36312A, "psu") as (_, server):
        res = raw_session(server)
        try:
            res.write("VOLT 1,(@1:2);:OUTP ON,(@1:2);:VOLT:TRIG 2,(@1);:VOLT:TRIG 12,(@2);:VOLT:MODE STEP,(@1,2)")
            res.write("INIT (@1:2)")
            assert res.query("MEAS:VOLT? (@1:2)") == "+1.00000000E+00,+1.00000000E+00"  # armed, not yet fired
            res.write("INIT (@1)")
            assert res.query("SYST:ERR?").startswith("-213,")  # already initiated
            changes.clear()
            res.write("*TRG")
            assert res.query("MEAS:VOLT? (@1:2)") == "+2.00000000E+00,+1.20000000E+01"
            assert sorted(changes) == [(1, 2.0), (2, 12.0)]  # the lab hears both from one message
            res.write("VOLT:TRIG 3,(@1);:TRIG")  # the system went idle after the trigger: ignored
            assert float(res.query("VOLT? (@1)")) == 2.0
            res.write("VOLT:MODE FIX,(@2);:TRIG:SOUR IMM;:INIT (@1:2)")  # IMMediate fires at INIT; FIXed stays
            assert res.query("VOLT? (@1:2)") == "+3.00000000E+00,+1.20000000E+01"
            res.write("VOLT:MODE LIST,(@1)")
            assert res.query("SYST:ERR?").startswith("-224,")
            assert res.query("SYST:ERR?").startswith("+0,")
        finally:
            res.close()
