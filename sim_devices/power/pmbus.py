"""PMBus command codes and status bits (Linux drivers/hwmon/pmbus/pmbus.h names and values)."""

from __future__ import annotations

PAGE = 0x00
OPERATION = 0x01
CLEAR_FAULTS = 0x03
VOUT_MODE = 0x20
VOUT_COMMAND = 0x21
VOUT_MARGIN_HIGH = 0x25
VOUT_MARGIN_LOW = 0x26
VOUT_OV_FAULT_LIMIT = 0x40
VOUT_OV_WARN_LIMIT = 0x42
VOUT_UV_WARN_LIMIT = 0x43
VOUT_UV_FAULT_LIMIT = 0x44
IOUT_OC_FAULT_LIMIT = 0x46
IOUT_OC_WARN_LIMIT = 0x4A
OT_FAULT_LIMIT = 0x4F
OT_WARN_LIMIT = 0x51
TON_DELAY = 0x60
TON_RISE = 0x61
TON_MAX_FAULT_LIMIT = 0x62
TOFF_DELAY = 0x64
TOFF_FALL = 0x65
STATUS_BYTE = 0x78
STATUS_WORD = 0x79
STATUS_VOUT = 0x7A
STATUS_IOUT = 0x7B
STATUS_INPUT = 0x7C
STATUS_TEMPERATURE = 0x7D
STATUS_CML = 0x7E
READ_VIN = 0x88
READ_IIN = 0x89
READ_VOUT = 0x8B
READ_IOUT = 0x8C
READ_TEMPERATURE_1 = 0x8D
READ_POUT = 0x96

COMMAND_NAMES = {v: k for k, v in dict(globals()).items() if k.isupper() and isinstance(v, int)}

# STATUS_WORD
SW_NONE_OF_ABOVE = 1 << 0
SW_CML = 1 << 1
SW_TEMPERATURE = 1 << 2
SW_VIN_UV = 1 << 3
SW_IOUT_OC = 1 << 4
SW_VOUT_OV = 1 << 5
SW_OFF = 1 << 6
SW_BUSY = 1 << 7
SW_POWER_GOOD_N = 1 << 11
SW_INPUT = 1 << 13
SW_IOUT_POUT = 1 << 14
SW_VOUT = 1 << 15

# STATUS_VOUT
VOUT_OV_FAULT = 1 << 7
VOUT_OV_WARN = 1 << 6
VOUT_UV_WARN = 1 << 5
VOUT_UV_FAULT = 1 << 4
VOUT_TON_MAX_FAULT = 1 << 2
# STATUS_IOUT
IOUT_OC_FAULT = 1 << 7
IOUT_OC_WARN = 1 << 5
# STATUS_INPUT
INPUT_VIN_UV_FAULT = 1 << 4
INPUT_VIN_UV_WARN = 1 << 5
# STATUS_TEMPERATURE
TEMP_OT_FAULT = 1 << 7
TEMP_OT_WARN = 1 << 6
# STATUS_CML
CML_INVALID_COMMAND = 1 << 7
CML_INVALID_DATA = 1 << 6
CML_OTHER_COMM_FAULT = 1 << 1


class PmbusError(Exception):
    """The device NACKed a transaction (unsupported command, bad data, or a bus fault)."""


def status_word(vout: int, iout: int, inp: int, temp: int, cml: int, off: bool, pg: bool) -> int:
    """Compose STATUS_WORD from the latched status bytes and the live OFF / POWER_GOOD# bits."""
    word = 0
    if vout:
        word |= SW_VOUT
    if iout:
        word |= SW_IOUT_POUT
    if inp:
        word |= SW_INPUT
    if temp:
        word |= SW_TEMPERATURE
    if cml:
        word |= SW_CML
    if inp & INPUT_VIN_UV_FAULT:
        word |= SW_VIN_UV
    if iout & IOUT_OC_FAULT:
        word |= SW_IOUT_OC
    if vout & VOUT_OV_FAULT:
        word |= SW_VOUT_OV
    if off:
        word |= SW_OFF
    if not pg:
        word |= SW_POWER_GOOD_N
    # NONE_OF_ABOVE: something is flagged that bits 7:1 of the low byte do not name.
    if (vout & ~VOUT_OV_FAULT) or (iout & ~IOUT_OC_FAULT) or (inp & ~INPUT_VIN_UV_FAULT):
        word |= SW_NONE_OF_ABOVE
    return word
