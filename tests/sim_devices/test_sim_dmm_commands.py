"""The simulated 34461A's command set as the Truevolt guide documents it: reset state, the
MIN/MAX/DEF forms, and the errors the real meter gives for what it refuses."""

from __future__ import annotations

import pytest

from bringup.core.clock import SimClock
from bringup.sim_devices.instruments.sim_dmm import SimK34461A

RESET_STATE = {
    "FUNC?": '"VOLT"', "VOLT:RANG?": "+1.00000000E+01", "VOLT:RANG:AUTO?": "1", "VOLT:NPLC?": "+1.00000000E+01",
    "VOLT:ZERO:AUTO?": "1", "VOLT:RES?": "+1.00000000E-05", "CURR:TERM?": "+3",
    "TRIG:SOUR?": "IMM", "TRIG:COUN?": "+1.00000000E+00", "TRIG:DEL:AUTO?": "1", "TRIG:SLOP?": "NEG",
    "SAMP:COUN?": "+1", "SAMP:SOUR?": "IMM", "SAMP:TIM?": "+1.00000000E+00",
    "DISP?": "1", "DISP:TEXT?": '""', "SYST:LFR?": "+50", "*OPT?": "0",
}
CHANGES = ('FUNC "CURR:AC"', "VOLT:RANG 1", "VOLT:NPLC 100", "VOLT:ZERO:AUTO OFF", "CURR:TERM 10",
           "TRIG:SOUR BUS", "TRIG:COUN 7", "TRIG:DEL 0.2", "TRIG:SLOP POS", "SAMP:COUN 9", "SAMP:SOUR TIM",
           "SAMP:TIM 0.5", "DISP OFF", 'DISP:TEXT "hello"')


def ask(meter: SimK34461A, line: str) -> str | None:
    return meter.handle(line)


def errors(meter: SimK34461A) -> list[int]:
    out = []
    while (entry := meter.handle("SYST:ERR?")) != '+0,"No error"':
        out.append(int(entry.split(",")[0]))
    return out


@pytest.fixture
def meter():
    return SimK34461A(SimClock(), sources={"VOLT": lambda: 2.5}, seed=1)


def test_rst_puts_every_setting_back_to_the_factory_reset_state(meter):
    assert {q: ask(meter, q) for q in RESET_STATE} == RESET_STATE
    for line in CHANGES:
        ask(meter, line)
    assert errors(meter) == []
    changed = {q: ask(meter, q) for q in RESET_STATE}
    assert {q for q in RESET_STATE if changed[q] == RESET_STATE[q]} == {"SYST:LFR?", "*OPT?"}  # not settings
    ask(meter, "*RST")
    assert {q: ask(meter, q) for q in RESET_STATE} == RESET_STATE


@pytest.mark.parametrize("query, reply", [
    ("VOLT:RANG? MAX", "+1.00000000E+03"), ("VOLT:AC:RANG? MAX", "+7.50000000E+02"),
    ("CURR:RANG? MIN", "+1.00000000E-04"), ("VOLT:NPLC? MIN", "+2.00000000E-02"),
    ("VOLT:RES? MIN", "+3.00000000E-06"), ("TRIG:COUN? MAX", "+1.00000000E+06"),
    ("TRIG:DEL? MAX", "+3.60000000E+03"), ("SAMP:COUN? MAX", "+1000000"), ("SAMP:TIM? MAX", "+3.60000000E+03"),
])
def test_queries_answer_what_min_max_and_def_would_set(meter, query, reply):
    assert ask(meter, query) == reply


def test_a_delay_given_turns_the_automatic_delay_off_and_conf_turns_it_back_on(meter):
    assert float(ask(meter, "TRIG:DEL?")) == pytest.approx(1.5e-3)  # the automatic delay, DC at 10 PLC
    ask(meter, "TRIG:DEL 0.25;COUN 5")
    assert ask(meter, "TRIG:DEL:AUTO?") == "0" and float(ask(meter, "TRIG:DEL?")) == 0.25
    ask(meter, "CONF:VOLT:DC 10")  # CONFigure presets one immediate trigger with the automatic delay
    assert ask(meter, "TRIG:DEL:AUTO?") == "1" and ask(meter, "TRIG:COUN?") == "+1.00000000E+00"


def test_resolution_picks_the_integration_time_and_the_sample_timer_minimum_follows_it(meter):
    ask(meter, "CONF:VOLT:DC 10,3E-5")
    assert ask(meter, "VOLT:NPLC?") == "+1.00000000E+00"
    fast = float(ask(meter, "SAMP:TIM? MIN"))
    ask(meter, "VOLT:RES MIN")
    assert ask(meter, "VOLT:NPLC?") == "+1.00000000E+02"
    assert float(ask(meter, "SAMP:TIM? MIN")) > 50 * fast


def test_samples_times_triggers_readings_and_a_bus_trigger_each(meter):
    ask(meter, "TRIG:SOUR BUS;COUN 2;:SAMP:COUN 3;:INIT")
    ask(meter, "*TRG")
    assert len(ask(meter, "FETC?").split(",")) == 3
    ask(meter, "*TRG")
    assert len(ask(meter, "FETC?").split(",")) == 6
    ask(meter, "*TRG")  # no longer waiting: ignored, as on the real meter
    assert len(ask(meter, "FETC?").split(",")) == 6
    assert errors(meter) == []


def test_a_continuous_acquisition_keeps_the_newest_10000_readings_until_abort(meter):
    ask(meter, "TRIG:COUN INF;:INIT")
    ask(meter, "ABOR")
    assert len(ask(meter, "FETC?").split(",")) == 10_000
    assert errors(meter) == []


@pytest.mark.parametrize("lines, code", [
    (["VOLT:APER 0.1"], -113),           # aperture time is the 34465A's, not the 34461A's
    (["VOLT:AC:NPLC 1"], -113),          # AC has a bandwidth, not an integration time
    (["FRES:ZERO:AUTO ON"], -113),
    (["TRIG:COUN 0"], -222), (["TRIG:COUN 2000000"], -222), (["SAMP:COUN 0"], -222),
    (["TRIG:DEL 4000"], -222), (["SAMP:TIM -1"], -222), (["VOLT:RES 1E-9"], -222),
    (["CURR:RANG 10"], -221),            # the 10 A range needs the 10 A terminals
    (["TRIG:COUN INF", "READ?"], -221),  # a READ? that could never end
    (["TRIG:SOUR BUS", "INIT", "INIT"], -213),
    (["TRIG:SOUR INT"], -224),           # level triggering is the 34465A's DIG option
])
def test_what_the_real_meter_refuses_is_refused_with_its_error(meter, lines, code):
    for line in lines:
        ask(meter, line)
    assert errors(meter) == [code]
