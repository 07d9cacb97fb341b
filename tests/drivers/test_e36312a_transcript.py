"""The E36312A driver byte for byte: what it sends, and what it makes of each reply."""

from __future__ import annotations

import math
import re

import pytest

from bringup.core.clock import RealClock, SimClock
from bringup.drivers.base import DriverError, Guardrail, InstrumentUnreachable, StepTimeout
from bringup.drivers.e36312a import KeysightE36312A
from bringup.sim_devices.instruments.sim_psu import SimE36312A
from visa_transcript import TIMEOUT, Transcript, replay_on_twin

RESOURCE = "TCPIP::10.0.0.5::5025::SOCKET"
IDN = b"Keysight Technologies,E36312A,MY59001234,2.1.0-1.0.4-1.12\n"
OPEN = [
    (b"*IDN?\n", IDN),
    (b"*CLS\n", None),
    (b"VOLT? MAX,(@1:3);:CURR? MAX,(@1:3);:VOLT:PROT? MAX,(@1:3);:VOLT:PROT? (@1:3)\n",
     b"+6.18000000E+00,+2.57500000E+01,+2.57500000E+01;+5.15000000E+00,+1.03000000E+00,+1.03000000E+00;"
     b"+6.60000000E+00,+2.75000000E+01,+2.75000000E+01;+6.60000000E+00,+2.75000000E+01,+2.75000000E+01\n"),
]
OK = (b"SYST:ERR?\n", b'+0,"No error"\n')
# before an output goes on, its protection is read back: here as the open found it (OCP not armed)
READBACK_1 = (b"VOLT:PROT? (@1);:CURR:PROT:STAT? (@1)\n", b"+6.60000000E+00;0\n")
READBACK_ALL = (b"VOLT:PROT? (@1:3);:CURR:PROT:STAT? (@1:3)\n",
                b"+6.60000000E+00,+2.75000000E+01,+2.75000000E+01;0,0,0\n")


def psu(pairs, guardrails=(), clock=None, **options) -> tuple[KeysightE36312A, Transcript]:
    t = Transcript(OPEN + pairs)
    d = KeysightE36312A(role="psu", resource=RESOURCE, resource_manager=t, options=options,
                        guardrails=tuple(guardrails), clock=clock or SimClock())
    d.open()
    return d, t


def test_open_identifies_the_supply_sets_terminations_and_timeout_and_reads_ratings():
    d, t = psu([])
    res = t.resources[0]
    assert d.identity() == IDN.decode().strip()
    assert (res.read_termination, res.write_termination) == ("\n", "\n")
    assert res.timeouts[0] == 2000  # the option's 2 s, in pyvisa's milliseconds
    assert d.ratings[1].volts == 6.18 and d.ratings[2].amps == 1.03 and d.ratings[3].ovp_max == 27.5
    assert t.done


def test_set_programs_voltage_ovp_limit_and_ocp_in_one_checked_message():
    # the OVP comes down from its maximum to 10 % over the setpoint, after the voltage is set
    d, t = psu([(b"VOLT 5,(@1);:VOLT:PROT 5.5,(@1);:CURR 1,(@1);:CURR:PROT:DEL 0.05,(@1);"
                 b":CURR:PROT:STAT ON,(@1)\n", None), OK])
    d.call("set", {"channel": 1, "voltage": 5.0, "current_limit": 1.0})
    assert t.done


def test_the_station_voltage_guardrail_becomes_the_supplys_own_ovp_level():
    rail = Guardrail("voltage", None, 5.2, (("channel", 1),), "voltage")
    d, t = psu([(b"VOLT 5,(@1);:VOLT:PROT 5.2,(@1);:CURR 2,(@1);:CURR:PROT:DEL 0.05,(@1);"
                 b":CURR:PROT:STAT ON,(@1)\n", None), OK], guardrails=[rail])
    d.call("set", {"channel": 1, "voltage": 5.0, "current_limit": 2.0})
    assert t.done


UP_AND_DOWN = [
    (b"VOLT 5,(@1);:VOLT:PROT 5.5,(@1);:CURR 1,(@1);:CURR:PROT:DEL 0.05,(@1);:CURR:PROT:STAT ON,(@1)\n", None),
    OK,
    (b"VOLT:PROT 6.6,(@1);:VOLT 6,(@1);:CURR 1,(@1)\n", None),  # going up: protection first
    OK,
    (b"VOLT 2,(@1);:VOLT:PROT 2.2,(@1);:CURR 1,(@1)\n", None),  # going down: output first
    OK,
]


def test_the_output_never_exceeds_its_protection_between_commands_and_ocp_is_armed_once():
    d, t = psu(UP_AND_DOWN)
    d.set(1, 5.0, 1.0)
    d.set(1, 6.0, 1.0)
    d.set(1, 2.0, 1.0)
    assert t.done


def test_a_setting_beyond_the_outputs_rating_is_refused_before_anything_is_sent():
    d, t = psu([])
    with pytest.raises(DriverError, match="rated 25.75 V"):
        d.set(2, 30.0, 0.5)
    assert t.done  # nothing after the open


def test_an_error_in_the_queue_after_a_write_fails_the_action_with_the_instruments_words():
    d, t = psu([READBACK_1, (b"OUTP ON,(@1)\n", None), (b"SYST:ERR?\n", b'-221,"Settings conflict"\n'), OK,
                (b"OUTP? (@1)\n", b"1\n")])
    with pytest.raises(DriverError, match=r"refused 'OUTP ON,\(@1\)': -221,\"Settings conflict\""):
        d.output(True, 1)


def test_with_check_errors_off_no_error_queue_is_read():
    d, t = psu([(b"OUTP OFF,(@1:3)\n", None)], check_errors=False)
    d.output(False)
    assert t.done


def test_an_output_that_stays_off_after_on_is_reported_with_its_tripped_protection():
    d, t = psu([READBACK_ALL, (b"OUTP ON,(@1:3)\n", None), OK, (b"OUTP? (@1:3)\n", b"1,0,1\n"),
                (b"VOLT:PROT:TRIP? (@2);:CURR:PROT:TRIP? (@2)\n", b"0;1\n")])
    with pytest.raises(DriverError, match="output 2: over-current protection tripped; clear_protection re-arms it"):
        d.output(True)
    assert t.done


SWITCH_ALL_ON = [READBACK_ALL, (b"OUTP ON,(@1:3)\n", None), OK, (b"OUTP? (@1:3)\n", b"1,1,1\n")]
READINGS = [(b"MEAS:VOLT? (@2)\n", b"+1.19998000E+01\n"), (b"MEAS:CURR? (@1)\n", b"+4.25000000E-01\n")]


def test_switching_every_output_on_reads_all_their_protection_in_one_message():
    d, t = psu(SWITCH_ALL_ON)
    d.output(True)
    assert t.done


def test_readings_address_their_output_and_return_numbers():
    d, t = psu(READINGS + [(b"VOLT:PROT:TRIP? (@3);:CURR:PROT:TRIP? (@3)\n", b"1;0\n")])
    assert d.voltage(2) == pytest.approx(11.9998)
    assert d.current(1) == pytest.approx(0.425)
    assert d.protection_tripped(3) == 1.0


def test_a_garbled_reading_is_an_error_never_a_number():
    d, t = psu([(b"MEAS:CURR? (@1)\n", b"+4.2#\x7f\n")])
    with pytest.raises(DriverError, match="garbled reply"):
        d.current(1)


def test_one_timeout_is_a_step_timeout_and_repeated_timeouts_lose_the_instrument():
    d, t = psu([(b"MEAS:CURR? (@1)\n", TIMEOUT), (b"MEAS:CURR? (@1)\n", TIMEOUT)], max_timeouts=2)
    with pytest.raises(StepTimeout, match="no reply to 'MEAS:CURR\\? \\(@1\\)'"):
        d.current(1)
    with pytest.raises(InstrumentUnreachable, match="psu.*2 timeouts in a row"):
        d.current(1)
    with pytest.raises(InstrumentUnreachable):  # lost stays lost: no more I/O
        d.current(1)
    assert t.done and t.resources[0].closed
    assert t.resources[0].flushes >= 1  # the late reply of the first timeout is discarded, not read as the next


def test_a_success_resets_the_timeout_count():
    d, t = psu([(b"MEAS:CURR? (@1)\n", TIMEOUT), (b"MEAS:CURR? (@1)\n", b"+1.0E+00\n"),
                (b"MEAS:CURR? (@1)\n", TIMEOUT)], max_timeouts=2)
    with pytest.raises(StepTimeout, match=r"s of wall time \(the I/O timeout\)"):
        d.current(1)
    assert d.current(1) == 1.0
    with pytest.raises(StepTimeout):
        d.current(1)


class _StoppedWallClock(RealClock):
    """A real clock frozen at one instant, so the time left before a deadline is exact."""

    def now(self) -> float:
        return 1000.0


def test_the_steps_deadline_shortens_the_session_timeout_and_none_left_sends_nothing():
    clock = _StoppedWallClock()
    d, t = psu([(b"MEAS:VOLT? (@1)\n", b"+5.0E+00\n")], clock=clock)
    with d.within(clock.now() + 0.25):
        assert d.voltage(1) == 5.0
    assert t.resources[0].timeouts[-1] == 250
    with d.within(clock.now() - 0.001), pytest.raises(StepTimeout, match="no time left"):
        d.voltage(1)
    assert t.done


def test_on_a_simulated_clock_the_steps_deadline_never_shortens_the_wall_time_io_timeout():
    """Simulated time moves only by sleeps, never during I/O: a step with 0.25 s of simulated time
    left still gets the instrument's whole wall-time timeout (at --speed 50 it once got 5 ms and
    a healthy sled aborted at open)."""
    for clock in (SimClock(), SimClock(speed=50.0)):
        d, t = psu([(b"MEAS:VOLT? (@1)\n", b"+5.0E+00\n")], clock=clock)
        with d.within(clock.now() + 0.25):
            assert d.voltage(1) == 5.0
        assert t.resources[0].timeouts[-1] == 2000


def test_a_refused_connection_is_unreachable_naming_role_and_address():
    t = Transcript([(b"*IDN?\n", ConnectionRefusedError(111, "Connection refused"))])
    d = KeysightE36312A(role="psu", resource=RESOURCE, resource_manager=t, clock=SimClock())
    with pytest.raises(InstrumentUnreachable) as info:
        d.open()
    assert info.value.role == "psu" and info.value.resource == RESOURCE
    assert "instrument unreachable: role 'psu' at TCPIP::10.0.0.5::5025::SOCKET" in str(info.value)
    assert "refused" in str(info.value).lower()


def test_a_socket_closed_under_a_write_is_unreachable():
    d, t = psu([(b"OUTP OFF,(@1:3)\n", BrokenPipeError(32, "Broken pipe"))])
    with pytest.raises(InstrumentUnreachable, match="Broken pipe"):
        d.output(False)


# -- nothing of an action that cannot be programmed whole is sent; protection read back before on --
SET_5V = (b"VOLT 5,(@1);:VOLT:PROT 5.5,(@1);:CURR 1,(@1);:CURR:PROT:DEL 0.05,(@1);:CURR:PROT:STAT ON,(@1)\n", None)


@pytest.mark.parametrize("voltage, current", [(math.nan, 1.0), (5.0, math.nan), (math.inf, 1.0), (-1.0, 1.0)])
def test_a_set_with_a_value_that_cannot_be_programmed_sends_nothing(voltage, current):
    d, t = psu([])
    with pytest.raises(DriverError, match="refused before anything was sent"):
        d.set(2, voltage, current)
    assert t.done  # not one byte after the open: no `VOLT` applied beside a refused `VOLT:PROT`


def test_a_guardrail_that_is_not_a_finite_limit_cannot_be_made():
    for bad in (math.nan, math.inf):
        with pytest.raises(ValueError, match="not a finite limit"):
            Guardrail("voltage", None, bad, (("channel", 2),), "voltage")


def test_an_ovp_level_that_cannot_be_programmed_refuses_the_whole_set():
    """Issue 20: `VOLT 20,(@2);:VOLT:PROT nan,(@2)` went out as one message; the supply refused the
    NaN and applied the 20 V. A NaN limit that got past every check still sends nothing."""
    rail = Guardrail("voltage", None, 25.0, (("channel", 2),), "voltage")
    object.__setattr__(rail, "high", math.nan)  # as if it had escaped the station's checks
    d, t = psu([], guardrails=[rail])
    with pytest.raises(DriverError, match="over-voltage protection cannot be programmed to nan V"):
        d.set(2, 20.0, 0.5)
    assert t.done


def test_a_guardrail_that_selects_no_output_of_the_supply_is_refused_when_the_driver_is_built():
    with pytest.raises(ValueError, match="applies to nothing"):
        psu([], guardrails=[Guardrail("voltage", None, 6.0, (("channel", 7),), "voltage")])


SWITCH_ON_1 = [SET_5V, OK, (b"VOLT:PROT? (@1);:CURR:PROT:STAT? (@1)\n", b"+5.50000000E+00;1\n"),
               (b"OUTP ON,(@1)\n", None), OK, (b"OUTP? (@1)\n", b"1\n")]
SWITCH_OFF_2 = [(b"OUTP OFF,(@2)\n", None), OK]


def test_switching_on_reads_the_protection_back_and_goes_on_when_it_is_what_was_programmed():
    d, t = psu(SWITCH_ON_1)
    d.set(1, 5.0, 1.0)
    d.output(True, 1)
    assert t.done


def test_switching_off_needs_no_readback():
    d, t = psu(SWITCH_OFF_2)
    d.output(False, 2)
    assert t.done


@pytest.mark.parametrize("reply, why", [
    (b"+2.75000000E+01;1\n", "over-voltage protection reads 27.5 V, not the 5.5 V programmed"),
    (b"+5.50000000E+00;0\n", "over-current protection reads off, but was armed"),
])
def test_a_protection_that_reads_back_otherwise_keeps_the_output_off_and_nothing_more_is_sent(reply, why):
    d, t = psu([SET_5V, OK, (b"VOLT:PROT? (@1);:CURR:PROT:STAT? (@1)\n", reply)])
    d.set(1, 5.0, 1.0)
    with pytest.raises(DriverError, match=f"not switched on \\(output 1: {re.escape(why)}"):
        d.output(True, 1)
    assert t.done  # no `OUTP ON` was sent


def test_after_a_set_the_supply_refused_the_output_stays_off_until_a_set_is_taken_whole():
    d, t = psu([SET_5V, (b"SYST:ERR?\n", b'-222,"Data out of range"\n'), OK,
                (b"VOLT:PROT? (@1);:CURR:PROT:STAT? (@1)\n", b"+6.60000000E+00;0\n")])
    with pytest.raises(DriverError, match="Data out of range"):
        d.set(1, 5.0, 1.0)
    with pytest.raises(DriverError, match="its last set was not taken whole"):
        d.output(True, 1)
    assert t.done


def test_without_the_error_queue_a_silently_refused_protection_is_caught_by_the_readback():
    d, t = psu([(SET_5V[0], None), (b"VOLT:PROT? (@1);:CURR:PROT:STAT? (@1)\n", b"+6.60000000E+00;1\n")],
               check_errors=False)
    d.set(1, 5.0, 1.0)
    with pytest.raises(DriverError, match="reads 6.6 V, not the 5.5 V programmed"):
        d.output(True, 1)
    assert t.done


# -- the transcripts are what the simulated E36312A answers ---------------------------------------
@pytest.mark.parametrize("scenario", ["UP_AND_DOWN", "SWITCH_ALL_ON", "READINGS", "SWITCH_ON_1", "SWITCH_OFF_2"])
def test_the_simulated_e36312a_answers_each_transcript_as_the_transcript_says(scenario):
    """The twin, fresh from power-on, sent the open and the scenario byte for byte: its replies are
    the transcript's (readings in shape), so the driver tests and the simulated lab cannot drift apart."""
    twin = SimE36312A(SimClock(), noise=False)
    assert replay_on_twin(twin, OPEN + globals()[scenario]) == []
    assert not twin.errors
