"""Drivers other projects ship for the real supplies, run unchanged against the twins.

pymeasure's `KeysightE36312A` talks to the simulated supply over a real
PyVISA session (pyvisa-py, a TCP socket on loopback), opened as pymeasure's docs say: a VISA
resource string, `visa_library="@py"`, and the LF terminations a raw SCPI socket needs. Every
property the driver exposes is exercised, and the twin's error queue is empty at the end.

pymeasure's `KeysightN5767A` (0.16) cannot be opened against any instrument, real or simulated:
its constructor calls `VISAAdapter.config`, which pymeasure no longer has. So no third-party
driver runs against the N5700 twin; our own driver's transcript is replayed to it instead
(tests/drivers/test_n5700_transcript.py).
"""

from __future__ import annotations

import pytest

keysight = pytest.importorskip(
    "pymeasure.instruments.keysight",
    reason="pymeasure is not installed (pip install -e '.[twins]'): the third-party driver run is skipped")

from bringup.core.clock import SimClock  # noqa: E402
from bringup.sim_devices.instruments.scpi_server import InstrumentServer  # noqa: E402
from bringup.sim_devices.instruments.sim_psu import SimE36312A, resistive  # noqa: E402

SOCKET = {"visa_library": "@py", "read_termination": "\n", "write_termination": "\n", "timeout": 2000}


@pytest.fixture
def e36312a():
    # 10 ohm on each output: 5 V draws 0.5 A, under every limit set below (CV throughout)
    twin = SimE36312A(SimClock(), load=resistive({1: 10.0, 2: 100.0, 3: 100.0}), noise=False)
    with InstrumentServer(twin) as server:
        supply = keysight.KeysightE36312A(server.resource, **SOCKET)
        yield supply, twin
        supply.adapter.close()


def test_pymeasure_identifies_the_e36312a_and_reads_its_options(e36312a):
    supply, twin = e36312a
    assert supply.id.startswith("Keysight Technologies,E36312A,")
    assert supply.options == "0"  # *OPT?: a real E36312A answers it, and the twin used to time out
    assert supply.complete == "1"
    assert supply.status == "0"  # *STB?: nothing queued, nothing to report
    assert supply.check_errors() == []
    assert not twin.errors


@pytest.mark.parametrize("ch, volts, amps, load_ohms", [(1, 5.0, 1.0, 10.0), (2, 20.0, 0.5, 100.0),
                                                       (3, 12.5, 0.25, 100.0)])
def test_pymeasure_sets_enables_and_measures_each_channel(e36312a, ch, volts, amps, load_ohms):
    supply, twin = e36312a
    channel = supply.channels[ch]
    channel.voltage_setpoint = volts
    channel.current_limit = amps
    assert channel.voltage_setpoint == pytest.approx(volts)
    assert channel.current_limit == pytest.approx(amps)
    assert channel.output_enabled is False
    assert channel.voltage == 0.0  # off: nothing on the terminals
    channel.output_enabled = True
    assert channel.output_enabled is True
    assert channel.voltage == pytest.approx(volts)
    assert channel.current == pytest.approx(volts / load_ohms)
    others = [c for c in (1, 2, 3) if c != ch]
    assert all(supply.channels[c].output_enabled is False for c in others)  # each channel addressed alone
    channel.output_enabled = False
    assert channel.current == 0.0
    assert supply.check_errors() == []
    assert not twin.errors


def test_a_current_limit_below_the_load_holds_the_output_in_constant_current(e36312a):
    supply, twin = e36312a
    supply.ch_1.voltage_setpoint = 5.0
    supply.ch_1.current_limit = 0.2  # 10 ohm would draw 0.5 A
    supply.ch_1.output_enabled = True
    assert supply.ch_1.current == pytest.approx(0.2)
    assert supply.ch_1.voltage == pytest.approx(2.0, rel=1e-3)
    assert supply.check_errors() == []


def test_reset_and_clear_through_pymeasure_restore_the_supplys_defaults(e36312a):
    supply, twin = e36312a
    supply.ch_2.voltage_setpoint = 15.0
    supply.ch_2.output_enabled = True
    supply.write("VOLT 30, (@2)")  # past the 25 V output's range, which pymeasure's validator would stop
    errors = supply.check_errors()
    assert [code for code, _ in errors] == [-222]
    supply.reset()
    supply.clear()
    assert supply.ch_2.voltage_setpoint == 0.0
    assert supply.ch_2.output_enabled is False
    assert supply.ch_1.current_limit == pytest.approx(5.15)  # the rating's maximum, as after *RST
    assert supply.check_errors() == []
    assert not twin.errors


@pytest.mark.parametrize("ch, volts, amps", [(1, 6.0, 5.0), (2, 25.0, 1.0), (3, 25.0, 1.0)])
def test_the_ends_of_pymeasures_ranges_are_within_what_the_twin_accepts(e36312a, ch, volts, amps):
    """pymeasure validates 0..6 V, 0..5 A on output 1 and 0..25 V, 0..1 A on outputs 2 and 3; the
    real supply programs 3 % beyond its rating, so each end must be taken without an error."""
    supply, twin = e36312a
    supply.channels[ch].voltage_setpoint = volts
    supply.channels[ch].current_limit = amps
    assert (supply.channels[ch].voltage_setpoint, supply.channels[ch].current_limit) == (volts, amps)
    supply.channels[ch].voltage_setpoint = 0
    assert supply.channels[ch].voltage_setpoint == 0.0
    assert supply.check_errors() == []
    assert not twin.errors
