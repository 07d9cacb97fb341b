"""The LAUDA Integral XT driver byte for byte: LAUDA's ASCII protocol, CR LF terminated."""

from __future__ import annotations

import pytest

from bringup.core.clock import SimClock
from bringup.drivers.base import DriverError, Guardrail
from bringup.drivers.chiller import LaudaIntegralXT
from bringup.sim_devices.instruments.sim_chiller import SimLaudaIntegralXT
from visa_transcript import Transcript, replay_on_twin

OPEN = [(b"TYPE\r\n", b"XT\r\n"), (b"VERSION_R\r\n", b"V3.39\r\n")]


def cdu(pairs, guardrails=(), opening=OPEN, **options):
    t = Transcript(opening + pairs)
    d = LaudaIntegralXT(role="cdu", resource="TCPIP::10.0.0.7::54321::SOCKET", resource_manager=t, options=options,
                        guardrails=tuple(guardrails), clock=SimClock())
    d.open()
    return d, t


def test_open_identifies_the_unit():
    d, t = cdu([])
    assert d.identity() == "LAUDA,Integral XT,-,V3.39"


START_30 = [(b"OUT_SP_00_30.00\r\n", b"OK\r\n"), (b"OUT_SP_09_1.50\r\n", b"OK\r\n"),
            (b"OUT_MODE_05_1\r\n", b"OK\r\n"), (b"START\r\n", b"OK\r\n")]


def test_start_sets_temperature_and_flow_switches_flow_control_on_then_leaves_standby():
    d, t = cdu(START_30)
    d.call("start", {"setpoint": 30.0, "flow": 1.5})
    assert t.done


def test_without_a_flow_controller_start_only_sets_the_temperature():
    d, t = cdu([(b"OUT_SP_00_18.50\r\n", b"OK\r\n"), (b"START\r\n", b"OK\r\n")], mid_flow=False)
    d.start(18.5, 2.0)
    assert t.done


READINGS = [(b"IN_PV_07\r\n", b"6.02\r\n"), (b"IN_PV_00\r\n", b"29.97\r\n"), (b"IN_PV_03\r\n", b"32.36\r\n"),
            (b"IN_PV_08\r\n", b"-1000\r\n"), (b"IN_MODE_02\r\n", b"1\r\n")]


def test_readings_parse_the_units_values():
    d, t = cdu(READINGS + [(b"STATUS\r\n", b"-1\r\n")])
    assert d.flow() == 6.02
    assert d.supply_temperature() == 29.97
    assert d.return_temperature() == 32.36
    assert d.cooling_power() == 1000.0  # the unit says -1000 W: cooling, turned positive
    assert d.running() == 0.0  # IN_MODE_02 = 1 is standby
    assert d.fault() == 1.0


REFUSED_85 = [(b"OUT_SP_00_85.00\r\n", b"ERR_6\r\n")]  # on a unit whose outflow limits are below 85 degC


def test_a_refusal_is_an_error_with_lauda_meaning():
    d, t = cdu(REFUSED_85)
    with pytest.raises(DriverError, match="refused 'OUT_SP_00_85.00': ERR_6 \\(illegal value\\)"):
        d.set_setpoint(85.0)


def test_a_write_answered_by_anything_but_ok_is_garbled_not_done():
    d, t = cdu([(b"STOP\r\n", b"O\x00K\r\n")])
    with pytest.raises(DriverError, match="garbled reply to 'STOP'"):
        d.stop()


def test_a_reading_answered_by_anything_but_a_number_names_the_unit_the_command_and_the_reply():
    d, t = cdu([(b"IN_PV_07\r\n", b"6.0?\r\n"), (b"IN_PV_07\r\n", b"6.01\r\n")])
    with pytest.raises(DriverError, match="cdu: garbled reply to 'IN_PV_07': '6.0\\?'"):
        d.flow()
    assert d.flow() == 6.01  # the next reading is the next reply: nothing is left out of step


OPEN_A015 = [(b"A015_TYPE\r\n", b"A015_XT\r\n"), (b"A015_VERSION_R\r\n", b"A015_V3.39\r\n")]


def test_on_an_rs485_bus_commands_and_replies_carry_the_units_address():
    d, t = cdu([(b"A015_IN_PV_00\r\n", b"A015_25.00\r\n"), (b"A015_IN_PV_00\r\n", b"A016_25.00\r\n")],
               opening=OPEN_A015, address=15)
    assert d.identity() == "LAUDA,Integral XT,A015,V3.39"
    assert d.supply_temperature() == 25.0
    with pytest.raises(DriverError, match="not from unit A015"):
        d.supply_temperature()


def test_the_setpoint_guardrail_becomes_the_units_outflow_limits():
    rail = Guardrail("setpoint", 15 + 273.15, 45 + 273.15, (), "temperature")
    d, t = cdu([(b"IN_SP_04\r\n", b"90.0\r\n"), (b"IN_SP_05\r\n", b"-30.0\r\n"),
                (b"OUT_SP_04_45\r\n", b"OK\r\n"), (b"OUT_SP_05_15\r\n", b"OK\r\n")], guardrails=[rail])
    assert t.done


def test_limits_move_in_the_order_that_never_crosses_them():
    # the unit's present window is 60..90 °C; the station wants 15..45: TiL must come down first
    rail = Guardrail("setpoint", 15 + 273.15, 45 + 273.15, (), "temperature")
    d, t = cdu([(b"IN_SP_04\r\n", b"90.0\r\n"), (b"IN_SP_05\r\n", b"60.0\r\n"),
                (b"OUT_SP_05_15\r\n", b"OK\r\n"), (b"OUT_SP_04_45\r\n", b"OK\r\n")], guardrails=[rail])
    assert t.done


LIMITS_15_45 = [(b"IN_SP_04\r\n", b"90.0\r\n"), (b"IN_SP_05\r\n", b"-30.0\r\n"),
                (b"OUT_SP_04_45\r\n", b"OK\r\n"), (b"OUT_SP_05_15\r\n", b"OK\r\n")]


GUARDED_START = LIMITS_15_45 + [(b"IN_SP_04\r\n", b"45.0\r\n"), (b"IN_SP_05\r\n", b"15.0\r\n")] + START_30


def test_start_reads_the_outflow_limits_back_and_circulates_when_they_are_as_programmed():
    rail = Guardrail("setpoint", 15 + 273.15, 45 + 273.15, (), "temperature")
    d, t = cdu(GUARDED_START, guardrails=[rail])
    d.call("start", {"setpoint": 30.0, "flow": 1.5})
    assert t.done


def test_outflow_limits_changed_behind_the_drivers_back_keep_the_unit_in_standby_and_nothing_is_sent():
    rail = Guardrail("setpoint", 15 + 273.15, 45 + 273.15, (), "temperature")
    d, t = cdu(LIMITS_15_45 + [(b"IN_SP_04\r\n", b"90.0\r\n"), (b"IN_SP_05\r\n", b"15.0\r\n")], guardrails=[rail])
    with pytest.raises(DriverError, match="TiH reads 90 °C, not the 45 °C programmed"):
        d.call("start", {"setpoint": 30.0, "flow": 1.5})
    assert t.done  # no setpoint, no START


def test_a_guardrail_too_narrow_for_whole_degree_limits_programs_neither_limit():
    rail = Guardrail("setpoint", 15.2 + 273.15, 15.8 + 273.15, (), "temperature")
    with pytest.raises(DriverError, match="nothing was programmed"):
        cdu([], guardrails=[rail])


# -- the transcripts are what the simulated Integral XT answers ------------------------------------
@pytest.mark.parametrize("scenario", [
    OPEN + START_30, OPEN + READINGS, OPEN + GUARDED_START, OPEN + LIMITS_15_45 + REFUSED_85,
    OPEN_A015 + [(b"A015_IN_MODE_02\r\n", b"A015_1\r\n")],
], ids=["start", "readings", "guarded start", "refused setpoint", "rs485 address"])
def test_the_simulated_integral_xt_answers_each_transcript_as_the_transcript_says(scenario):
    """The twin, fresh from power-on, sent the transcript byte for byte: its replies are the
    transcript's (readings in shape), so the driver tests and the simulated lab cannot drift apart."""
    assert replay_on_twin(SimLaudaIntegralXT(SimClock()), scenario, read_termination="\r\n") == []
