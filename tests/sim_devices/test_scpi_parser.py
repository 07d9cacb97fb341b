"""IEEE 488.2 / SCPI parsing as the simulated instruments do it, checked through their replies."""

from __future__ import annotations

import pytest

from bringup.core.clock import SimClock
from bringup.sim_devices.instruments.scpi_parser import CommandTree, ScpiError, parse_arg, split_outside
from bringup.sim_devices.instruments.sim_psu import SimE36312A


@pytest.fixture
def psu():
    return SimE36312A(SimClock(), noise=False)


def errors(inst) -> list[str]:
    out = []
    while True:
        e = inst.handle("SYST:ERR?")
        if e.startswith("+0"):
            return out
        out.append(e)


@pytest.mark.parametrize("command", [
    "VOLT 3.3,(@2)", "volt 3.3,(@2)", "VOLTAGE 3.3,(@2)", "voltage:level 3.3,(@2)", "SOUR:VOLT 3.3,(@2)",
    "source:voltage:level:immediate:amplitude 3.3,(@2)", ":SOURce:VOLTage:LEVel 3.3,(@2)", "Volt 3300 mV,(@2)",
    "VOLT 3.3V,(@2)", "VOLT 3.3E+00,(@2)", "VOLT 0.0033 KV,(@2)",
])
def test_short_long_any_case_optional_nodes_and_unit_suffixes_all_name_one_command(psu, command):
    assert psu.handle(command) is None
    assert errors(psu) == []
    assert float(psu.handle("VOLT? (@2)")) == pytest.approx(3.3)


def test_compound_commands_continue_from_the_previous_path_and_colon_returns_to_the_root(psu):
    psu.handle("INST:NSEL 2")
    psu.handle("SOUR:VOLT 5;CURR 0.5")  # CURR here is SOUR:CURR
    assert psu.handle("VOLT?;:CURR?") == "+5.00000000E+00;+5.00000000E-01"
    psu.handle("MEAS:VOLT?;CURR?")  # relative: MEAS:CURR?
    assert errors(psu) == []
    assert psu.handle("MEAS:VOLT?;MEAS:CURR?") == "+0.00000000E+00"  # MEAS:MEAS:CURR? does not exist...
    assert errors(psu) == ['-113,"Undefined header; MEAS:MEAS:CURR"']  # ...and the first reply still came


def test_common_commands_leave_the_path_alone(psu):
    psu.handle("INST:NSEL 1")
    assert psu.handle("SOUR:VOLT 2;*OPC;CURR 0.25;*OPC?") == "1"
    assert psu.handle("CURR? (@1)") == "+2.50000000E-01"


@pytest.mark.parametrize("command, code", [
    ("VOLTS 3,(@1)", -113),            # no such mnemonic
    ("VOLT:LEV:FOO 3,(@1)", -113),
    ("OUTP:PROT:CLE?", -113),          # a command that is no query
    ("VOLT", -109),                    # missing parameter
    ("VOLT 1,2,(@1)", -108),           # one parameter too many
    ("VOLT 40,(@1)", -222),            # beyond CH1's 6.18 V
    ("VOLT 3 A,(@1)", -131),           # wrong unit
    ("OUTP MAYBE,(@1)", -224),         # not a boolean
    ("VOLT \"3\",(@1)", -104),         # a string where a number goes
    ("VOLT 1,(@4)", -224),             # no output 4
    ("STAT:QUES:INST:ISUM7?", -114),   # suffix beyond the outputs
    ("OUTP2 ON", -114),                # a node that takes no suffix
    ("VOLT 1;;CURR 1", -102),          # empty command
    ("DISP:TEXT \"unterminated", -151),
    ("VOLT 1.2.3,(@1)", -120),
])
def test_errors_carry_standard_scpi_codes(psu, command, code):
    psu.handle(command)
    got = errors(psu)
    assert len(got) == 1 and got[0].startswith(f"{code},"), got


def test_a_command_error_discards_the_rest_of_the_message_but_an_execution_error_does_not(psu):
    psu.handle("VOLT 1,(@1);BOGUS;VOLT 2,(@2)")
    assert psu.handle("VOLT? (@1,2)") == "+1.00000000E+00,+0.00000000E+00"
    psu.handle("*CLS")
    psu.handle("VOLT 99,(@1);:VOLT 2,(@2)")
    assert psu.handle("VOLT? (@1,2)") == "+1.00000000E+00,+2.00000000E+00"


def test_the_error_queue_reads_oldest_first_and_its_last_slot_becomes_queue_overflow(psu):
    for k in range(25):
        psu.handle(f"NOPE{k}")
    assert psu.handle("SYST:ERR:COUN?") == "+20"
    got = errors(psu)
    assert len(got) == 20
    assert got[0] == '-113,"Undefined header; NOPE0"'
    assert got[-1] == '-350,"Queue overflow"'
    assert psu.handle("SYST:ERR?") == '+0,"No error"'


def test_channel_lists_ranges_and_lists():
    assert parse_arg("(@1:3)").channels() == (1, 2, 3)
    assert parse_arg("(@1,3)").channels() == (1, 3)
    assert parse_arg("(@3:1)").channels() == (3, 2, 1)
    with pytest.raises(ScpiError) as e:
        parse_arg("(@x)")
    assert e.value.code == -102


def test_numbers_with_scpi_multipliers():
    assert parse_arg("100 mV").number("V") == pytest.approx(0.1)
    assert parse_arg("2 MOHM").number("OHM") == pytest.approx(2e6)  # M is mega for ohms
    assert parse_arg("2 MAOHM").number("OHM") == pytest.approx(2e6)
    assert parse_arg("5 uA").number("A") == pytest.approx(5e-6)
    assert parse_arg("MAX").number("V", special={"MIN": 0.0, "MAX": 6.18}) == 6.18
    assert parse_arg("maximum").number("V", special={"MIN": 0.0, "MAX": 6.18}) == 6.18


def test_quotes_and_channel_lists_protect_separators():
    assert split_outside('DISP:TEXT "a;b",(@1,2);*OPC', ";") == ['DISP:TEXT "a;b",(@1,2)', "*OPC"]
    assert split_outside('"a,b",(@1,2),3', ",") == ['"a,b"', "(@1,2)", "3"]


def test_a_pattern_with_an_optional_suffixed_node_defaults_its_suffix_to_1():
    seen = []
    tree = CommandTree()
    tree.add("[SOURce#]:FREQuency", write=lambda a, s: seen.append(s))
    from bringup.sim_devices.instruments.scpi_parser import parse_message
    for line in ("FREQ 1", "SOUR2:FREQ 1", "SOURCE:FREQ 1"):
        for p in parse_message(tree, line):
            p.command.write(p.args, p.suffixes)
    assert seen == [(1,), (2,), (1,)]
