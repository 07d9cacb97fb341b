"""The VISA transport every instrument driver shares: addresses, terminations, options, locks."""

from __future__ import annotations

import pytest
from pydantic import ValidationError
from pyvisa import constants

from bringup.core.clock import SimClock
from bringup.drivers.base import InstrumentUnreachable
from bringup.drivers.chiller import LaudaIntegralXT
from bringup.drivers.k34461a import Keysight34461A
from bringup.drivers.scpi import interface_of, resource_lock
from bringup.language.source import InvalidInput
from bringup.check.station import load_station
from visa_transcript import Transcript

IDN = (b"*IDN?\n", b"Keysight Technologies,34461A,MY57200000,A.03.01\n")
DMM_OPEN = [IDN, (b"*CLS\n", None), (b"CURR:TERM?\n", b"+3\n")]


def dmm(resource: str, pairs=(), **options):
    t = Transcript(DMM_OPEN + list(pairs))
    d = Keysight34461A(role="dmm", resource=resource, resource_manager=t, options=options, clock=SimClock())
    return d, t


@pytest.mark.parametrize("resource, kind", [
    ("TCPIP0::192.168.1.21::5025::SOCKET", "SOCKET"),
    ("TCPIP::192.168.1.21::INSTR", "INSTR"),
    ("TCPIP::192.168.1.21::hislip0::INSTR", "INSTR"),
    ("USB0::0x2A8D::0x1301::MY57200000::0::INSTR", "USB"),
    ("GPIB0::22::INSTR", "GPIB"),
    ("ASRL/dev/ttyUSB0::INSTR", "ASRL"),
])
def test_every_kind_of_address_opens_with_explicit_terminations_and_timeout(resource, kind):
    assert interface_of(resource) == kind
    d, t = dmm(resource, timeout="500 ms")
    d.open()
    res = t.resources[0]
    assert res.resource_name == resource
    assert (res.read_termination, res.write_termination) == ("\n", "\n")
    assert res.timeouts[0] == 500
    assert t.opened[0][1]["open_timeout"] == 500
    serial = {k: v for k, v in t.opened[0][1].items() if k != "open_timeout"}
    assert bool(serial) == (kind == "ASRL")  # serial settings only where there is a serial line


def test_a_serial_address_takes_its_line_settings_from_the_options():
    t = Transcript([(b"TYPE\r\n", b"XT\r\n"), (b"VERSION_R\r\n", b"V3.39\r\n")])
    d = LaudaIntegralXT(role="cdu", resource="ASRL/dev/ttyUSB0::INSTR", clock=SimClock(), resource_manager=t,
                        options={"baud_rate": 19200, "parity": "even", "stop_bits": 2,
                                 "flow_control": "rts_cts", "data_bits": 7})
    d.open()
    kwargs = t.opened[0][1]
    assert kwargs["baud_rate"] == 19200 and kwargs["data_bits"] == 7
    assert kwargs["parity"] == constants.Parity.even and kwargs["stop_bits"] == constants.StopBits.two
    assert kwargs["flow_control"] == constants.VI_ASRL_FLOW_RTS_CTS
    assert (t.resources[0].read_termination, t.resources[0].write_termination) == ("\r\n", "\r\n")


def test_bad_serial_settings_are_refused_when_the_station_loads():
    text = ("station: s\nroles:\n  cdu:\n    driver: lauda.integral_xt\n    resource: ASRL1::INSTR\n"
            "    options: {parity: sometimes, stop_bits: 3}\n")
    with pytest.raises(InvalidInput) as info:
        load_station("bench.yaml", text)
    shown = str(info.value)
    assert "bench.yaml:6:23: bad option parity" in shown and "one of none, odd, even, mark, space" in shown
    assert "bench.yaml:6:45: bad option stop_bits" in shown and "one of 1, 1.5, 2" in shown


def test_options_override_the_models_terminations():
    d, t = dmm("TCPIP::h::5025::SOCKET", read_termination="\r\n", write_termination="\r\n")
    t.pairs = [(b"*IDN?\r\n", b"X,34461A,1,2\r\n"), (b"*CLS\r\n", None), (b"CURR:TERM?\r\n", b"+3\r\n")]
    d.open()
    assert d.identity() == "X,34461A,1,2"


def test_a_bad_timeout_option_is_refused_before_the_driver_exists():
    # code that builds a driver by hand is checked by the same model as a station file
    with pytest.raises(ValidationError, match="timeout(.|\n)*must be a time"):
        Keysight34461A(role="dmm", resource="TCPIP::h::5025::SOCKET", options={"timeout": "soon"}, clock=SimClock())


def test_a_station_without_a_resource_is_unreachable_with_a_hint():
    d = Keysight34461A(role="dmm", resource=None, resource_manager=Transcript([]), clock=SimClock())
    with pytest.raises(InstrumentUnreachable, match="role 'dmm'.*gives no 'resource'"):
        d.open()


def test_a_driver_never_opened_opens_on_its_first_call():
    # an earlier role failing to open aborts the run before this one was opened; the safe state
    # must still reach it
    d, t = dmm("TCPIP::h::5025::SOCKET", [(b"MEAS:VOLT:DC? 10\n", b"+7.5E-01\n")])
    assert d.voltage_dc(10.0) == 0.75
    assert t.done


def test_close_is_idempotent():
    d, t = dmm("TCPIP::h::5025::SOCKET")
    d.open()
    d.close()
    d.close()
    assert t.resources[0].closed


def test_one_lock_per_instrument_address_whatever_its_case():
    a = resource_lock("TCPIP::10.0.0.5::5025::SOCKET")
    assert resource_lock("tcpip::10.0.0.5::5025::socket") is a
    assert resource_lock("TCPIP::10.0.0.6::5025::SOCKET") is not a
    d1, _ = dmm("TCPIP::10.0.0.5::5025::SOCKET")
    d2, _ = dmm("TCPIP::10.0.0.5::5025::SOCKET")
    assert d1._lock is d2._lock is a


@pytest.mark.parametrize("value, expected", [(2, 2.0), (0.5, 0.5), ("250 ms", 0.25), ("3 s", 3.0), ("1.5", 1.5)])
def test_time_options_take_numbers_or_quantities(value, expected):
    assert Keysight34461A.Options(timeout=value).timeout == pytest.approx(expected)


def test_a_resource_without_pyvisas_low_level_calls_is_driven_through_its_own_methods():
    t = Transcript(DMM_OPEN + [(b"MEAS:VOLT:DC? 10\n", b"+7.5E-01\n")], low_level=False)
    d = Keysight34461A(role="dmm", resource="TCPIP::h::5025::SOCKET", resource_manager=t, clock=SimClock())
    assert d.voltage_dc(10.0) == 0.75
    assert t.done
