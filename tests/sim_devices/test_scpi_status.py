"""IEEE 488.2 status reporting of the simulated instruments: *IDN?, *ESR?, *STB?, *CLS, *RST, registers."""

from __future__ import annotations

from bringup.core.clock import SimClock
from bringup.sim_devices.instruments.sim_dmm import SimK34461A
from bringup.sim_devices.instruments.sim_psu import SimE36312A


def test_idn_names_maker_model_serial_and_firmware():
    assert SimE36312A(SimClock()).handle("*IDN?") == "Keysight Technologies,E36312A,MY59001234,2.1.0-1.0.4-1.12"
    assert SimK34461A(SimClock(), serial="MY1").handle("*idn?").startswith("Keysight Technologies,34461A,MY1,")


def test_esr_reports_power_on_and_each_error_class_once_then_clears():
    psu = SimE36312A(SimClock())
    assert int(psu.handle("*ESR?")) == 128  # PON after power-up
    assert int(psu.handle("*ESR?")) == 0    # reading clears it
    psu.handle("FOO")           # command error  -> CME (32)
    psu.handle("VOLT 99,(@1)")  # execution error -> EXE (16)
    psu.handle("*OPC")          # operation complete -> OPC (1)
    assert int(psu.handle("*ESR?")) == 32 + 16 + 1


def test_stb_summarises_error_queue_events_and_questionable_status():
    psu = SimE36312A(SimClock(), noise=False)
    assert int(psu.handle("*STB?")) == 0
    psu.handle("FOO")
    assert int(psu.handle("*STB?")) & 4  # EAV: an error waits in the queue
    psu.handle("*ESE 32")
    assert int(psu.handle("*STB?")) & 32  # ESB: an enabled event (CME) happened
    psu.handle("*CLS")
    assert int(psu.handle("*STB?")) == 0
    psu.handle("STAT:QUES:ENAB 3")
    psu.handle("VOLT 5,(@1);:VOLT:PROT 2,(@1);:OUTP ON,(@1)")  # the output trips on its own OVP
    stb = int(psu.handle("*STB?"))
    assert stb & 8  # QUES summary
    psu.handle("*SRE 8")
    assert int(psu.handle("*STB?")) & 64  # MSS: a service request is asserted


def test_questionable_event_latches_and_clears_on_read_while_condition_stays_live():
    psu = SimE36312A(SimClock(), noise=False)
    psu.handle("VOLT 5,(@2);:VOLT:PROT 4,(@2);:OUTP ON,(@2)")
    assert psu.handle("STAT:QUES:INST:ISUM2:COND?") == "1"  # OV
    assert psu.handle("STAT:QUES:INST:ISUM2?") == "1"
    assert psu.handle("STAT:QUES:INST:ISUM2?") == "0"  # the event was read
    assert psu.handle("STAT:QUES:COND?") == "1"  # the condition is still there
    assert psu.handle("STAT:QUES:INST:ISUM1:COND?") == "0"


def test_rst_returns_to_the_reset_state_without_clearing_the_error_queue():
    psu = SimE36312A(SimClock())
    psu.handle("VOLT 5,(@1);:OUTP ON,(@1);:FOO")
    psu.handle("*RST")
    assert psu.handle("VOLT? (@1);:OUTP? (@1)") == "+0.00000000E+00;0"
    assert psu.handle("SYST:ERR?").startswith("-113")
