"""The N5700 driver byte for byte: what it sends, and what it makes of each reply."""

from __future__ import annotations

import math
import re

import pytest

from bringup.core.clock import SimClock
from bringup.drivers.base import DriverError, Guardrail, GuardrailViolation
from bringup.drivers import resolve
from bringup.drivers.n5700 import KeysightN5700
from bringup.sim_devices.instruments.sim_n5700 import SimN5700
from visa_transcript import Transcript, replay_on_twin

RESOURCE = "TCPIP::10.0.0.7::5025::SOCKET"
IDN = b"Keysight Technologies,N5763A,US17M1234P,A.01.05\n"
OPEN = [
    (b"*IDN?\n", IDN),
    (b"*CLS\n", None),
    # rating 12.5 V, 120 A, OVP from 1 V to 15 V; the OVP now at its maximum
    (b"VOLT? MAX;:CURR? MAX;:VOLT:PROT? MIN;:VOLT:PROT? MAX;:VOLT:PROT?\n",
     b"+1.25000000E+01;+1.20000000E+02;+1.00000000E+00;+1.50000000E+01;+1.50000000E+01\n"),
]
OK = (b"SYST:ERR?\n", b'+0,"No error"\n')
# before an output goes on, its protection is read back: here as the open found it (OVP 15 V, OCP off)
READBACK_AT_OPEN = (b"VOLT:PROT?;:CURR:PROT:STAT?\n", b"+1.50000000E+01;0\n")


def supply(pairs, guardrails=(), **options) -> tuple[KeysightN5700, Transcript]:
    t = Transcript(OPEN + pairs)
    d = KeysightN5700(role="bulk", resource=RESOURCE, resource_manager=t, options=options,
                      guardrails=tuple(guardrails), clock=SimClock())
    d.open()
    return d, t


def test_the_station_name_keysight_n5700_is_this_driver_and_it_reads_its_rating_at_open():
    assert resolve("keysight.n5700") is KeysightN5700
    d, t = supply([])
    assert d.identity() == IDN.decode().strip()
    assert d.rating == (12.5, 120.0, 15.0)
    assert t.done


DOWN_AND_UP = [
    # OVP comes down from 15 V to 10 % over 12 V: the output first, so the 5 % rule holds between
    (b"VOLT 12;:VOLT:PROT 13.2;:CURR 100;:CURR:PROT:STAT ON\n", None), OK,
    # going up: the protection first; OCP stays armed
    (b"VOLT:PROT 13.53;:VOLT 12.3;:CURR 100\n", None), OK,
]


def test_set_lowers_the_output_then_its_ovp_and_arms_ocp_once_in_one_checked_message():
    d, t = supply(DOWN_AND_UP)
    d.call("set", {"voltage": 12.0, "current_limit": 100.0})
    d.call("set", {"voltage": 12.3, "current_limit": 100.0})
    assert t.done


def test_the_station_voltage_guardrail_becomes_the_supplys_ovp_but_never_within_5_percent():
    cap = Guardrail("voltage", None, 12.6, (), "voltage")
    d, t = supply([(b"VOLT 12;:VOLT:PROT 12.6;:CURR 50;:CURR:PROT:STAT ON\n", None), OK,
                   # the cap would sit 0.8 % above 12.5 V: the supply's 5 % wins (raised, so first)
                   (b"VOLT:PROT 13.125;:VOLT 12.5;:CURR 50\n", None), OK], guardrails=[cap], ocp=True)
    d.call("set", {"voltage": 12.0, "current_limit": 50.0})
    with pytest.raises(GuardrailViolation, match="voltage = 12.7 V is above the station limit"):
        d.call("set", {"voltage": 12.7, "current_limit": 50.0})
    d.set(12.5, 50.0)  # within the guardrail
    assert t.done


LOW_SETPOINT = [(b"VOLT 0.5;:VOLT:PROT 1;:CURR 10;:CURR:PROT:STAT ON\n", None), OK]


def test_a_low_setpoint_keeps_the_ovp_at_the_models_lowest_level():
    d, t = supply(LOW_SETPOINT)
    d.set(0.5, 10.0)
    assert t.done


def test_beyond_the_rating_or_the_current_guardrail_nothing_is_sent():
    amps = Guardrail("current_limit", None, 110.0, (), "current")
    d, t = supply([], guardrails=[amps])
    with pytest.raises(GuardrailViolation, match="current_limit = 115 A is above the station limit"):
        d.call("set", {"voltage": 12.0, "current_limit": 115.0})
    with pytest.raises(DriverError, match="rated 12.5 V, 120 A"):
        d.set(13.0, 50.0)
    assert t.done


def test_an_output_that_stays_off_reports_its_tripped_protection():
    d, t = supply([READBACK_AT_OPEN, (b"OUTP ON\n", None), OK, (b"OUTP?\n", b"0\n"), (b"STAT:QUES:COND?\n", b"2\n")])
    with pytest.raises(DriverError, match="over-current protection tripped; clear_protection re-arms it"):
        d.call("output", {"state": True})
    assert t.done


READINGS = [(b"MEAS:VOLT?\n", b"+1.19990000E+01\n"), (b"MEAS:CURR?\n", b"+8.55000000E+01\n")]
CLEAR = [(b"OUTP:PROT:CLE\n", None), OK]


def test_readings_and_clear_protection_are_the_manuals_commands():
    d, t = supply(READINGS + [(b"STAT:QUES:COND?\n", b"+17\n")]  # OV and over-temperature: the reading keeps OV alone
                  + CLEAR)
    assert d.voltage() == pytest.approx(11.999)
    assert d.current() == pytest.approx(85.5)
    assert d.protection_tripped() == 1.0
    d.call("clear_protection", {})
    assert t.done


def test_a_garbled_reading_names_the_role_the_command_and_the_reply():
    d, t = supply([(b"MEAS:CURR?\n", b"+8.5#\n")])
    with pytest.raises(DriverError, match=r"bulk: garbled reply to 'MEAS:CURR\?': '\+8.5#'"):
        d.current()


# -- nothing of an action that cannot be programmed whole is sent; protection read back before on --
SET_12V = (b"VOLT 12;:VOLT:PROT 13.2;:CURR 100;:CURR:PROT:STAT ON\n", None)
READBACK = b"VOLT:PROT?;:CURR:PROT:STAT?\n"


@pytest.mark.parametrize("voltage, current", [(math.nan, 10.0), (12.0, math.nan), (12.0, math.inf), (-1.0, 1.0)])
def test_a_set_with_a_value_that_cannot_be_programmed_sends_nothing(voltage, current):
    d, t = supply([])
    with pytest.raises(DriverError, match="refused before anything was sent"):
        d.set(voltage, current)
    assert t.done


SWITCH_ON = [SET_12V, OK, (READBACK, b"+1.32000000E+01;1\n"), (b"OUTP ON\n", None), OK, (b"OUTP?\n", b"1\n")]


def test_switching_on_reads_the_protection_back_and_goes_on_when_it_is_what_was_programmed():
    d, t = supply(SWITCH_ON)
    d.set(12.0, 100.0)
    d.output(True)
    assert t.done


@pytest.mark.parametrize("reply, why", [
    (b"+1.50000000E+01;1\n", "over-voltage protection reads 15 V, not the 13.2 V programmed"),
    (b"+1.32000000E+01;0\n", "over-current protection reads off, but was armed"),
])
def test_a_protection_that_reads_back_otherwise_keeps_the_output_off_and_nothing_more_is_sent(reply, why):
    d, t = supply([SET_12V, OK, (READBACK, reply)])
    d.set(12.0, 100.0)
    with pytest.raises(DriverError, match=f"not switched on \\({re.escape(why)}"):
        d.output(True)
    assert t.done  # no `OUTP ON` was sent


def test_after_a_set_the_supply_refused_the_output_stays_off():
    d, t = supply([SET_12V, (b"SYST:ERR?\n", b'-222,"Data out of range"\n'), OK, (READBACK, b"+1.50000000E+01;0\n")])
    with pytest.raises(DriverError, match="Data out of range"):
        d.set(12.0, 100.0)
    with pytest.raises(DriverError, match="the last set was not taken whole"):
        d.output(True)
    assert t.done


def test_an_ovp_level_that_cannot_be_programmed_refuses_the_whole_set():
    cap = Guardrail("voltage", None, 12.6, (), "voltage")
    object.__setattr__(cap, "high", math.nan)  # as if it had escaped the station's checks
    d, t = supply([], guardrails=[cap])
    with pytest.raises(DriverError, match="over-voltage protection cannot be programmed to nan V"):
        d.set(12.0, 50.0)
    assert t.done  # no `VOLT 12` beside a refused `VOLT:PROT nan`


# -- the transcripts are what the simulated N5763A answers ----------------------------------------
@pytest.mark.parametrize("scenario", ["DOWN_AND_UP", "LOW_SETPOINT", "READINGS", "CLEAR", "SWITCH_ON"])
def test_the_simulated_n5763a_answers_each_transcript_as_the_transcript_says(scenario):
    """The twin, fresh from power-on, sent the open and the scenario byte for byte: its replies are
    the transcript's (readings in shape), so the driver tests and the simulated lab cannot drift apart."""
    twin = SimN5700(SimClock(), model="N5763A", noise=False)
    assert replay_on_twin(twin, OPEN + globals()[scenario]) == []
    assert not twin.errors
