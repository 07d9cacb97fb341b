"""The sled console driver's fuse readings against transcripts (docs/console.md, "Fuses")."""

import pytest

from bringup.drivers.base import DriverError
from test_sled_console_transcript import cmd, driver, reply

FUSES_1 = ("chip=1 id=SIM-L23701-W07-D092 iddq_a=14.8 iddq_v=0.75 iddq_temp_c=25.0 "
           "speed_bin_hz=1600000000.0 vmin_v=0.61875 vmin_freq_hz=1400000000.0 vmin_temp_c=85.0")


def test_fused_values_are_read_with_one_fuses_command_each():
    d, port = driver([(cmd(2, "fuses 1"), reply(2, [FUSES_1])),
                      (cmd(3, "fuses 1"), reply(3, [FUSES_1])),
                      (cmd(4, "fuses 1"), reply(4, [FUSES_1])),
                      (cmd(5, "fuses 1"), reply(5, [FUSES_1]))])
    assert d.fused_iddq(chip=1) == 14.8
    assert d.fused_iddq_temperature(chip=1) == 25.0
    assert d.fused_vmin(chip=1) == 0.61875
    assert d.fused_speed_bin(chip=1) == 1.6e9
    assert not port.pairs


def test_the_chip_id_is_text():
    d, _ = driver([(cmd(2, "fuses 1"), reply(2, [FUSES_1]))])
    assert d.fuses(1)["id"] == "SIM-L23701-W07-D092"


def test_a_record_for_another_chip_is_an_error_not_a_value():
    d, _ = driver([(cmd(2, "fuses 0"), reply(2, [FUSES_1]))])
    with pytest.raises(DriverError, match="chip0's fuses"):
        d.fused_iddq(chip=0)


def test_a_blank_fuse_is_an_error_never_a_default():
    blank = FUSES_1.replace("iddq_a=14.8 ", "")
    d, _ = driver([(cmd(2, "fuses 1"), reply(2, [blank]))])
    with pytest.raises(DriverError, match="iddq_a"):
        d.fused_iddq(chip=1)
