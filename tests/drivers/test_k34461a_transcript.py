"""The 34461A driver byte for byte."""

from __future__ import annotations

import pytest

from bringup.core.clock import SimClock
from bringup.drivers.base import DriverError
from bringup.drivers.k34461a import Keysight34461A
from visa_transcript import Transcript

OPEN = [(b"*IDN?\n", b"Keysight Technologies,34461A,MY57200000,A.03.01-02.40-03.01-00.52-04-01\n"),
        (b"*CLS\n", None), (b"CURR:TERM?\n", b"+3\n")]
OK = (b"SYST:ERR?\n", b'+0,"No error"\n')


def dmm(pairs, **options):
    t = Transcript(OPEN + pairs)
    d = Keysight34461A(role="dmm", resource="TCPIP::10.0.0.6::5025::SOCKET", resource_manager=t, options=options,
                       clock=SimClock())
    d.open()
    return d, t


def test_a_dc_voltage_reading_is_one_measure_query_on_the_asked_range():
    d, t = dmm([(b"MEAS:VOLT:DC? 10\n", b"+7.50012345E-01\n"), (b"MEAS:VOLT:DC? 0.1\n", b"-1.23400000E-02\n")])
    assert d.call("voltage_dc", {"range": 10.0}) == pytest.approx(0.750012345)
    assert d.voltage_dc(0.1) == pytest.approx(-0.01234)
    assert t.done


def test_with_nplc_set_the_reading_configures_integration_time_in_the_same_message():
    d, t = dmm([(b"CONF:VOLT:DC 1;:VOLT:DC:NPLC 100;:READ?\n", b"+7.5E-01\n")], nplc=100)
    assert d.voltage_dc(1.0) == 0.75
    assert t.done


def test_an_overload_is_an_error_naming_the_range_never_a_value():
    d, t = dmm([(b"MEAS:VOLT:DC? 1\n", b"+9.90000000E+37\n")])
    with pytest.raises(DriverError, match="overload on the 1 V range"):
        d.voltage_dc(1.0)


def test_the_10_a_range_moves_to_the_10_a_terminals_and_back():
    d, t = dmm([(b"CURR:TERM 10\n", None), OK, (b"MEAS:CURR:DC? 10\n", b"+4.2E+00\n"),
                (b"MEAS:CURR:DC? 10\n", b"+4.1E+00\n"),
                (b"CURR:TERM 3\n", None), OK, (b"MEAS:CURR:DC? 0.01\n", b"+1.2E-03\n")])
    assert d.current_dc(10.0) == 4.2
    assert d.current_dc(10.0) == 4.1  # already on the 10 A terminals: no second switch
    assert d.current_dc(0.01) == pytest.approx(1.2e-3)
    assert t.done


def test_resistance_reads_ohms():
    d, t = dmm([(b"MEAS:RES? 10000\n", b"+4.70120000E+03\n")])
    assert d.resistance(1e4) == pytest.approx(4701.2)
