"""PMBus numbers and status bits, as a board driver decodes what a regulator answers.

The driver's own codec: it must not depend on the simulator, because on a real bench the words
come from real regulators. Formats (PMBus Power System Management Protocol, Part II, §7-§8):

- LINEAR11: bits 15:11 a 5-bit two's-complement exponent N, bits 10:0 an 11-bit two's-complement
  mantissa Y; value = Y * 2**N. `0xE804` is 0.5 (N = -3, Y = 4). Used by READ_IOUT,
  READ_TEMPERATURE_1, READ_POUT, READ_VIN and most limits.
- ULINEAR16: an unsigned 16-bit mantissa whose exponent is VOUT_MODE bits 4:0 (linear mode,
  bits 7:5 = 000). VOUT_MODE 0x16 gives N = -10, so 1.00 V is `0x0400`. Used by READ_VOUT,
  VOUT_COMMAND and the VOUT limits.

Status bit names follow Linux `drivers/hwmon/pmbus/pmbus.h`, so that an error names the same
bits a bring-up engineer sees in `sensors` or a vendor GUI.
"""

from __future__ import annotations

import math

# command codes the sled driver reads or writes
CLEAR_FAULTS = 0x03
VOUT_MODE = 0x20
VOUT_COMMAND = 0x21
STATUS_WORD = 0x79
STATUS_VOUT = 0x7A
STATUS_IOUT = 0x7B
STATUS_INPUT = 0x7C
STATUS_TEMPERATURE = 0x7D
STATUS_CML = 0x7E
READ_VIN = 0x88
READ_VOUT = 0x8B
READ_IOUT = 0x8C
READ_TEMPERATURE_1 = 0x8D
READ_POUT = 0x96

#: a READ_* word of all ones is what a device with no valid sample returns (and what a
#: bus with a stuck-high data line reads): it is "no reading", never a number
NO_READING = 0xFFFF

_EXP_MIN, _EXP_MAX = -16, 15
_MANT_MIN, _MANT_MAX = -1024, 1023
LINEAR11_MAX = _MANT_MAX * 2.0**_EXP_MAX
LINEAR11_MIN = _MANT_MIN * 2.0**_EXP_MAX


def _twos(value: int, bits: int) -> int:
    sign = 1 << (bits - 1)
    return (value & (sign - 1)) - (value & sign)


def _word(word: int, what: str) -> int:
    if isinstance(word, bool) or not isinstance(word, int) or not 0 <= word <= 0xFFFF:
        raise ValueError(f"{what} is a 16-bit word (0..0xFFFF), not {word!r}")
    return word


def linear11_decode(word: int) -> float:
    """The value of a LINEAR11 word: mantissa (bits 10:0) times 2 to the exponent (bits 15:11)."""
    _word(word, "a LINEAR11 word")
    return _twos(word & 0x7FF, 11) * math.ldexp(1.0, _twos(word >> 11, 5))


def linear11_encode(value: float) -> int:
    """The LINEAR11 word closest to `value`, with the smallest exponent whose mantissa fits.

    The smallest exponent keeps the most significant bits, as regulators do. ValueError for NaN,
    infinities and values beyond ±1023 * 2**15.
    """
    if not math.isfinite(value):
        raise ValueError(f"LINEAR11 has no word for {value!r}")
    if not LINEAR11_MIN <= value <= LINEAR11_MAX:
        raise ValueError(f"{value:g} is outside LINEAR11's range [{LINEAR11_MIN:g}, {LINEAR11_MAX:g}]")
    for exponent in range(_EXP_MIN, _EXP_MAX + 1):
        mantissa = round(math.ldexp(value, -exponent))
        if _MANT_MIN <= mantissa <= _MANT_MAX:
            return ((exponent & 0x1F) << 11) | (mantissa & 0x7FF)
    raise ValueError(f"{value:g} does not fit LINEAR11")  # not reached: the range check admits it


def vout_exponent(vout_mode: int) -> int:
    """The ULINEAR16 exponent in a VOUT_MODE byte. ValueError unless it is linear mode."""
    if isinstance(vout_mode, bool) or not isinstance(vout_mode, int) or not 0 <= vout_mode <= 0xFF:
        raise ValueError(f"VOUT_MODE is a byte, not {vout_mode!r}")
    if vout_mode >> 5:
        mode = {1: "VID", 2: "direct", 3: "IEEE half"}.get(vout_mode >> 5, "reserved")
        raise ValueError(f"VOUT_MODE 0x{vout_mode:02X} selects {mode} mode; this driver decodes linear mode only")
    return _twos(vout_mode & 0x1F, 5)


def ulinear16_decode(word: int, vout_mode: int) -> float:
    """Volts from a ULINEAR16 word, with the exponent of `vout_mode`."""
    _word(word, "a ULINEAR16 word")
    return math.ldexp(float(word), vout_exponent(vout_mode))


def ulinear16_encode(volts: float, vout_mode: int) -> int:
    """The ULINEAR16 word closest to `volts`. ValueError for a negative, non-finite or too large value."""
    if not math.isfinite(volts) or volts < 0:
        raise ValueError(f"ULINEAR16 has no word for {volts!r} V (it is unsigned)")
    word = round(math.ldexp(volts, -vout_exponent(vout_mode)))
    if word > 0xFFFF:
        raise ValueError(f"{volts:g} V does not fit ULINEAR16 with VOUT_MODE 0x{vout_mode:02X}")
    return word


# -- status registers -----------------------------------------------------------------------------
STATUS_WORD_BITS: dict[int, str] = {
    0: "NONE_OF_THE_ABOVE", 1: "CML", 2: "TEMPERATURE", 3: "VIN_UV", 4: "IOUT_OC", 5: "VOUT_OV",
    6: "OFF", 7: "BUSY", 8: "UNKNOWN", 9: "OTHER", 10: "FANS", 11: "POWER_GOOD#", 12: "MFR",
    13: "INPUT", 14: "IOUT/POUT", 15: "VOUT",
}
STATUS_VOUT_BITS: dict[int, str] = {
    7: "VOUT_OV_FAULT", 6: "VOUT_OV_WARN", 5: "VOUT_UV_WARN", 4: "VOUT_UV_FAULT", 3: "VOUT_MAX",
    2: "TON_MAX_FAULT", 1: "TOFF_MAX_WARN", 0: "VOUT_TRACKING",
}
STATUS_IOUT_BITS: dict[int, str] = {
    7: "IOUT_OC_FAULT", 6: "IOUT_OC_LV_FAULT", 5: "IOUT_OC_WARN", 4: "IOUT_UC_FAULT",
    3: "CURRENT_SHARE", 2: "POWER_LIMIT", 1: "POUT_OP_FAULT", 0: "POUT_OP_WARN",
}
STATUS_INPUT_BITS: dict[int, str] = {
    7: "VIN_OV_FAULT", 6: "VIN_OV_WARN", 5: "VIN_UV_WARN", 4: "VIN_UV_FAULT", 3: "UNIT_OFF_LOW_VIN",
    2: "IIN_OC_FAULT", 1: "IIN_OC_WARN", 0: "PIN_OP_WARN",
}
STATUS_TEMPERATURE_BITS: dict[int, str] = {
    7: "OT_FAULT", 6: "OT_WARN", 5: "UT_WARN", 4: "UT_FAULT",
}
STATUS_CML_BITS: dict[int, str] = {
    7: "INVALID_COMMAND", 6: "INVALID_DATA", 5: "PEC_FAILED", 4: "MEMORY_FAULT",
    3: "PROCESSOR_FAULT", 1: "OTHER_COMM_FAULT", 0: "OTHER_MEMORY_FAULT",
}
STATUS_REGISTERS: dict[str, dict[int, str]] = {
    "status_word": STATUS_WORD_BITS, "status_vout": STATUS_VOUT_BITS, "status_iout": STATUS_IOUT_BITS,
    "status_input": STATUS_INPUT_BITS, "status_temperature": STATUS_TEMPERATURE_BITS,
    "status_cml": STATUS_CML_BITS,
}

#: STATUS_WORD bits that mean something is wrong. OFF and POWER_GOOD# are live state, not faults
#: by themselves: a rail that is simply switched off shows both.
STATUS_WORD_FAULTS = 0xFFFF & ~((1 << 6) | (1 << 11))
POWER_GOOD_N = 1 << 11
OFF = 1 << 6


def bit_names(value: int, table: dict[int, str]) -> list[str]:
    """Names of the bits set in `value`, most significant first (unnamed bits as `bitN`)."""
    return [table.get(b, f"bit{b}") for b in range(15, -1, -1) if value >> b & 1]


def describe_status_word(word: int) -> str:
    """`0x8850` -> `VOUT, POWER_GOOD#, OFF, IOUT_OC` ('none' when no bit is set)."""
    return ", ".join(bit_names(_word(word, "STATUS_WORD"), STATUS_WORD_BITS)) or "none"
