"""QCoDeS's stock Keysight34461A driver against the simulated 34461A, over a real PyVISA session:
a driver written for the real meter must work unchanged against its twin (issue 18)."""

from __future__ import annotations

import math

import pytest

keysight = pytest.importorskip("qcodes.instrument_drivers.Keysight",
                               reason="QCoDeS is not installed: pip install -e '.[twins]'")

from bringup.core.clock import SimClock  # noqa: E402
from bringup.sim_devices.instruments.scpi_server import InstrumentServer  # noqa: E402
from bringup.sim_devices.instruments.sim_dmm import SimK34461A  # noqa: E402

SOURCES = {"VOLT": 0.7512, "CURR": 0.0123, "VOLT:AC": 0.2301, "CURR:AC": 0.0456, "RES": 4700.0, "FRES": 4699.5}
# the driver's own time trace sets `sample.source`, a parameter it creates only for the 34465A and
# 34470A, so on a 34461A it fails inside QCoDeS whatever answers the wire
NOT_ON_A_34461A = {"timetrace"}


@pytest.fixture(scope="module")
def dmm():
    meter = SimK34461A(SimClock(), sources={k: (lambda v=v: v) for k, v in SOURCES.items()}, seed=7)
    with InstrumentServer(meter) as server:
        # as QCoDeS's documentation opens one: a name, a VISA address, the pyvisa-py backend
        inst = keysight.Keysight34461A("dmm", server.resource, visalib="@py", timeout=2)
        try:
            yield inst
        finally:
            inst.close()


@pytest.fixture(autouse=True)
def clean_error_queue(dmm):
    dmm.reset()
    yield
    assert dmm.ask("SYST:ERR?") == '+0,"No error"'


def every_parameter(dmm):
    yield from dmm.parameters.values()
    for sub in dmm.submodules.values():
        yield from sub.parameters.values()


def test_the_stock_driver_connects_and_knows_the_model(dmm):
    assert dmm.IDN()["model"] == "34461A"
    assert dmm.model == "34461A" and not dmm.has_DIG
    assert dmm.error() == (0, "No error")


def test_every_parameter_the_driver_exposes_reads_the_real_meters_reset_state(dmm):
    values = {p.full_name: p.get() for p in every_parameter(dmm) if p.name not in NOT_ON_A_34461A}
    assert values["dmm_sense_function"] == "DC Voltage"
    assert values["dmm_line_frequency"] == 50
    assert values["dmm_NPLC"] == 10.0
    assert values["dmm_range"] == 10.0
    assert values["dmm_resolution"] == pytest.approx(1e-5)  # 1 ppm of range at 10 PLC
    assert values["dmm_autorange"] == "ON" and values["dmm_autozero"] == "ON"
    assert values["dmm_display_enabled"] is True and values["dmm_display_text"] == ""
    assert values["dmm_trigger_count"] == 1 and values["dmm_trigger_auto_delay_enabled"] is True
    assert values["dmm_trigger_slope"] == "NEG" and values["dmm_trigger_source"] == "IMM"
    assert values["dmm_sample_count"] == 1 and values["dmm_sample_timer"] == 1.0
    assert 0 < values["dmm_sample_timer_minimum"] < 1.0
    for name, source in (("volt", "VOLT"), ("curr", "CURR"), ("ac_volt", "VOLT:AC"), ("ac_curr", "CURR:AC"),
                         ("res", "RES"), ("four_wire_res", "FRES")):
        assert values[f"dmm_{name}"] == pytest.approx(SOURCES[source], rel=1e-4), name
    assert dmm.sense_function() == "DC Voltage"  # each reading put the function back


@pytest.mark.parametrize("function", ["DC Voltage", "AC Voltage", "DC Current", "AC Current",
                                      "2 Wire Resistance", "4 Wire Resistance"])
def test_the_sense_function_is_set_and_read_back(dmm, function):
    dmm.sense_function(function)
    assert dmm.sense_function.get() == function
    assert dmm.autorange.get() == "ON"


def test_range_integration_time_and_resolution_follow_each_other_as_on_the_meter(dmm):
    for rng in dmm.ranges:
        dmm.range(rng)
        assert dmm.range.get() == rng
    assert dmm.autorange.get() == "OFF"  # a range set is a range kept
    dmm.range(10)
    for nplc, factor in zip(dmm.NPLC_list, dmm._resolution_factors):
        dmm.NPLC(nplc)
        assert dmm.NPLC.get() == nplc
        assert dmm.resolution.get() == pytest.approx(factor * 10)
    dmm.resolution(3e-5)  # 3 ppm of the 10 V range: the meter picks 1 PLC for it
    assert dmm.NPLC.get() == 1.0
    dmm.resolution("MIN")
    assert dmm.NPLC.get() == 100.0
    dmm.autorange("ON")
    assert dmm.autorange.get() == "ON"
    dmm.autorange_once()
    assert dmm.autorange.get() == "OFF" and dmm.range.get() == 1.0  # 0.75 V fits the 1 V range
    for state, back in (("OFF", "OFF"), ("ON", "ON"), ("ONCE", "OFF")):  # ONCE zeroes once, then stays off
        dmm.autozero(state)
        assert dmm.autozero.get() == back


def test_display_state_and_text(dmm):
    dmm.display.enabled(False)
    assert dmm.display.enabled.get() is False
    dmm.display.text("bringup lock-in")
    assert dmm.display.text.get() == "bringup lock-in"
    dmm.display.clear()
    assert dmm.display.text() == ""
    dmm.display.enabled(True)
    assert dmm.display.enabled.get() is True


def test_trigger_and_sample_settings_with_their_min_max_and_def(dmm):
    t, s = dmm.trigger, dmm.sample
    for source in ("BUS", "EXT", "IMM"):
        t.source(source)
        assert t.source.get() == source
    t.slope("POS")
    assert t.slope.get() == "POS"
    t.count(5)
    assert t.count.get() == 5
    t.count("INF")
    assert t.count.get() == 9.9e37
    t.count("DEF")
    assert t.count.get() == 1
    t.delay(0.25)
    assert t.delay.get() == 0.25 and t.auto_delay_enabled.get() is False
    t.delay("MAX")
    assert t.delay.get() == 3600
    t.auto_delay_enabled(True)
    assert t.auto_delay_enabled.get() is True
    s.count(3)
    assert s.count.get() == 3
    s.count("MAX")
    assert s.count.get() == 1_000_000
    s.timer(0.5)
    assert s.timer.get() == 0.5
    s.timer("MIN")
    assert s.timer.get() == s.timer_minimum.get()
    dmm.NPLC(100)
    assert s.timer_minimum.get() > 100 / 50  # 2 s of integration at 50 Hz: the minimum grows with it


def test_a_bus_triggered_burst_and_a_read(dmm):
    dmm.trigger.source("BUS")
    dmm.sample.count(3)
    dmm.init_measurement()
    dmm.trigger.force()
    assert dmm.fetch() == pytest.approx([0.7512] * 3, rel=1e-5)
    assert dmm.fetch() == pytest.approx([0.7512] * 3, rel=1e-5)  # FETCh? leaves memory as it is
    dmm.init_measurement()
    dmm.abort_measurement()  # back to idle without a trigger: no error
    dmm.trigger.source("IMM")
    dmm.trigger.count(2)
    assert dmm.read() == pytest.approx([0.7512] * 6, rel=1e-5)  # samples x triggers


def test_an_overload_reads_as_infinity_through_the_driver(dmm):
    dmm.range(0.1)  # 0.75 V on the 100 mV range: beyond its 120 %
    assert dmm.volt() == math.inf
    dmm.range(1)
    assert dmm.volt() == pytest.approx(0.7512, rel=1e-5)
