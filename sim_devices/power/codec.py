"""PMBus number formats: LINEAR11 (most telemetry) and ULINEAR16 (output voltage).

LINEAR11 packs a 5-bit two's-complement exponent N (bits 15:11) and an 11-bit two's-complement
mantissa Y (bits 10:0): value = Y * 2**N, so 0xE804 is 0.5. ULINEAR16 is an unsigned 16-bit
mantissa whose exponent lives in VOUT_MODE bits 4:0 (VOUT_MODE 0x16 -> N = -10, 1.00 V = 0x0400).
Source: PMBus Power System Management Protocol Part II, and Linux drivers/hwmon/pmbus.
"""

from __future__ import annotations

import math

LINEAR11_MAX = 1023 * 2.0**15
LINEAR11_MIN = -1024 * 2.0**15


def _signed(value: int, bits: int) -> int:
    return value - (1 << bits) if value & (1 << (bits - 1)) else value


def linear11_decode(word: int) -> float:
    """The value a LINEAR11 word stands for."""
    if not 0 <= word <= 0xFFFF:
        raise ValueError(f"LINEAR11 word must be 16 bits, got {word!r}")
    exponent = _signed(word >> 11, 5)
    mantissa = _signed(word & 0x7FF, 11)
    return mantissa * 2.0**exponent


def linear11_encode(value: float) -> int:
    """The LINEAR11 word nearest `value`, using the smallest exponent that fits (most precision).

    Raises ValueError for NaN or a value outside the format's range.
    """
    if not math.isfinite(value):
        raise ValueError(f"LINEAR11 cannot encode {value!r}")
    if value > LINEAR11_MAX or value < LINEAR11_MIN:
        raise ValueError(f"{value} is outside the LINEAR11 range [{LINEAR11_MIN}, {LINEAR11_MAX}]")
    for exponent in range(-16, 16):
        mantissa = round(value / 2.0**exponent)
        if -1024 <= mantissa <= 1023:
            return ((exponent & 0x1F) << 11) | (mantissa & 0x7FF)
    raise AssertionError("unreachable: the range check above admits only encodable values")


def vout_mode_exponent(vout_mode: int) -> int:
    """The ULINEAR16 exponent carried by a VOUT_MODE byte (linear mode, bits 7:5 == 000)."""
    if vout_mode >> 5 != 0:
        raise ValueError(f"VOUT_MODE 0x{vout_mode:02X} is not linear mode")
    return _signed(vout_mode & 0x1F, 5)


def ulinear16_decode(word: int, vout_mode: int) -> float:
    """Volts from a ULINEAR16 word under `vout_mode`."""
    if not 0 <= word <= 0xFFFF:
        raise ValueError(f"ULINEAR16 word must be 16 bits, got {word!r}")
    return word * 2.0 ** vout_mode_exponent(vout_mode)


def ulinear16_encode(volts: float, vout_mode: int) -> int:
    """The ULINEAR16 word nearest `volts` under `vout_mode` (negative values clamp to 0)."""
    if not math.isfinite(volts):
        raise ValueError(f"ULINEAR16 cannot encode {volts!r}")
    word = round(max(volts, 0.0) / 2.0 ** vout_mode_exponent(vout_mode))
    if word > 0xFFFF:
        raise ValueError(f"{volts} V does not fit ULINEAR16 with VOUT_MODE 0x{vout_mode:02X}")
    return word
