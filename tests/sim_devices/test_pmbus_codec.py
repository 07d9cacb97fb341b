"""LINEAR11 / ULINEAR16: every encodable value survives a round trip, and the PMBus examples hold."""

import math

import pytest
from hypothesis import given, strategies as st

from bringup.sim_devices.power import codec


def test_linear11_reference_words():
    assert codec.linear11_decode(0xE804) == 0.5
    assert codec.linear11_decode(codec.linear11_encode(0.5)) == 0.5
    assert codec.linear11_decode(codec.linear11_encode(-1.25)) == -1.25


def test_every_linear11_word_round_trips():
    # Several words can name one value (Y=2,N=0 == Y=1,N=1); the value must survive exactly.
    for word in range(0x10000):
        value = codec.linear11_decode(word)
        assert codec.linear11_decode(codec.linear11_encode(value)) == value, hex(word)


@given(st.floats(min_value=-1000.0, max_value=1000.0, allow_nan=False))
def test_linear11_encoding_error_is_within_half_an_lsb(x):
    word = codec.linear11_encode(x)
    exponent = codec._signed(word >> 11, 5)
    assert abs(codec.linear11_decode(word) - x) <= 2.0**exponent / 2 + 1e-12


def test_linear11_rejects_what_it_cannot_encode():
    with pytest.raises(ValueError):
        codec.linear11_encode(math.nan)
    with pytest.raises(ValueError):
        codec.linear11_encode(1e9)


def test_ulinear16_reference_and_every_word_round_trips():
    assert codec.vout_mode_exponent(0x16) == -10
    assert codec.ulinear16_encode(1.0, 0x16) == 0x0400
    for mode in (0x16, 0x17, 0x14, 0x1F):
        for word in range(0x10000):
            assert codec.ulinear16_encode(codec.ulinear16_decode(word, mode), mode) == word


@given(st.floats(min_value=0.0, max_value=63.0))
def test_ulinear16_resolution_is_one_lsb(volts):
    word = codec.ulinear16_encode(volts, 0x16)
    assert abs(codec.ulinear16_decode(word, 0x16) - volts) <= 2.0**-11 + 1e-12
