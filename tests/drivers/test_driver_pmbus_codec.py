"""The sled driver's own PMBus codec: the words a regulator sends decode to the values it meant.

(Named apart from tests/sim_devices/test_pmbus_codec.py, the simulator's codec: two test
modules of one basename cannot be collected in one pytest run without packages.)
"""

import math

import pytest
from hypothesis import given, strategies as st

from bringup.drivers import pmbus_codec as pm


def test_the_specifications_examples():
    assert pm.linear11_decode(0xE804) == 0.5          # N = -3, Y = 4
    assert pm.ulinear16_decode(0x0400, 0x16) == 1.0   # VOUT_MODE 0x16: N = -10
    assert pm.ulinear16_encode(1.0, 0x16) == 0x0400
    assert pm.vout_exponent(0x16) == -10


def test_negative_mantissa_and_exponent():
    # Y = -1 (0x7FF), N = -1 (0x1F): -0.5; Y = -1024, N = 15: the most negative value
    assert pm.linear11_decode(0xFFFF) == -0.5
    assert pm.linear11_decode(0x7C00) == -1024 * 2.0**15
    assert pm.linear11_decode(0x7BFF) == 1023 * 2.0**15


def test_every_linear11_word_round_trips_to_its_value():
    # several words name one value (Y=2,N=0 and Y=1,N=1); the value must survive exactly
    for word in range(0x10000):
        value = pm.linear11_decode(word)
        assert pm.linear11_decode(pm.linear11_encode(value)) == value, hex(word)


@given(st.floats(min_value=pm.LINEAR11_MIN, max_value=pm.LINEAR11_MAX, allow_nan=False))
def test_linear11_encoding_is_within_half_a_step(x):
    word = pm.linear11_encode(x)
    step = 2.0 ** (((word >> 11) ^ 0x10) - 0x10)
    assert abs(pm.linear11_decode(word) - x) <= step / 2


@given(st.integers(0, 0xFFFF), st.integers(-16, 15))
def test_ulinear16_round_trips_every_word(word, exponent):
    mode = exponent & 0x1F
    assert pm.ulinear16_encode(pm.ulinear16_decode(word, mode), mode) == word


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf, 1024 * 2.0**15, -1025 * 2.0**15])
def test_linear11_refuses_what_it_cannot_carry(bad):
    with pytest.raises(ValueError):
        pm.linear11_encode(bad)


def test_non_linear_vout_mode_is_refused_not_misread():
    with pytest.raises(ValueError, match="direct"):
        pm.ulinear16_decode(0x0400, 0x40)
    with pytest.raises(ValueError):
        pm.ulinear16_encode(-0.1, 0x16)


def test_status_word_bits_are_named_as_linux_names_them():
    # a hard rail short: VOUT, POWER_GOOD#, OFF and IOUT_OC (PHYSICS.md fault table)
    assert pm.describe_status_word(0x8850) == "VOUT, POWER_GOOD#, OFF, IOUT_OC"
    assert pm.describe_status_word(0) == "none"
    assert pm.bit_names(0x90, pm.STATUS_VOUT_BITS) == ["VOUT_OV_FAULT", "VOUT_UV_FAULT"]
    # a rail simply switched off is not a fault
    assert (pm.OFF | pm.POWER_GOOD_N) & pm.STATUS_WORD_FAULTS == 0
