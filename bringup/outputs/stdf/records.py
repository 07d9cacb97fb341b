"""STDF V4 records as bytes: the field tables of the records bringup writes, and their encoding.

Each record is a table of (field, type) in the order of the STDF V4 specification (Teradyne,
2007 edition), so a reader can check a record against the spec line by line. Every record is
written whole - no trailing optional fields left off - because some yield tools mishandle
truncated records even though the spec allows them.

Byte order is little-endian (FAR CPU_TYPE 2). Text (C*n) is ASCII: STDF predates Unicode and
the tools that ingest it assume one byte per character, so anything else is spelled in ASCII
(`°C` -> `degC`, `µ` -> `u`) or replaced by `?`, and cut to the 255 bytes a C*n can hold.
"""

from __future__ import annotations

import functools
import math
import struct
import unicodedata
from typing import Any

#: Record name -> (REC_TYP, REC_SUB, fields). Types: U1 U2 U4 I1 I2 I4 R4 C1 Cn B1 Bn Dn,
#: and "kU1"/"kU2"/"kN1" for arrays whose count is given by an earlier field.
RECORDS: dict[str, tuple[int, int, tuple[tuple[str, str], ...]]] = {
    "FAR": (0, 10, (("CPU_TYPE", "U1"), ("STDF_VER", "U1"))),
    "MIR": (1, 10, (("SETUP_T", "U4"), ("START_T", "U4"), ("STAT_NUM", "U1"), ("MODE_COD", "C1"),
                    ("RTST_COD", "C1"), ("PROT_COD", "C1"), ("BURN_TIM", "U2"), ("CMOD_COD", "C1"),
                    ("LOT_ID", "Cn"), ("PART_TYP", "Cn"), ("NODE_NAM", "Cn"), ("TSTR_TYP", "Cn"),
                    ("JOB_NAM", "Cn"), ("JOB_REV", "Cn"), ("SBLOT_ID", "Cn"), ("OPER_NAM", "Cn"),
                    ("EXEC_TYP", "Cn"), ("EXEC_VER", "Cn"), ("TEST_COD", "Cn"), ("TST_TEMP", "Cn"),
                    ("USER_TXT", "Cn"), ("AUX_FILE", "Cn"), ("PKG_TYP", "Cn"), ("FAMLY_ID", "Cn"),
                    ("DATE_COD", "Cn"), ("FACIL_ID", "Cn"), ("FLOOR_ID", "Cn"), ("PROC_ID", "Cn"),
                    ("OPER_FRQ", "Cn"), ("SPEC_NAM", "Cn"), ("SPEC_VER", "Cn"), ("FLOW_ID", "Cn"),
                    ("SETUP_ID", "Cn"), ("DSGN_REV", "Cn"), ("ENG_ID", "Cn"), ("ROM_COD", "Cn"),
                    ("SERL_NUM", "Cn"), ("SUPR_NAM", "Cn"))),
    "MRR": (1, 20, (("FINISH_T", "U4"), ("DISP_COD", "C1"), ("USR_DESC", "Cn"), ("EXC_DESC", "Cn"))),
    "PCR": (1, 30, (("HEAD_NUM", "U1"), ("SITE_NUM", "U1"), ("PART_CNT", "U4"), ("RTST_CNT", "U4"),
                    ("ABRT_CNT", "U4"), ("GOOD_CNT", "U4"), ("FUNC_CNT", "U4"))),
    "HBR": (1, 40, (("HEAD_NUM", "U1"), ("SITE_NUM", "U1"), ("HBIN_NUM", "U2"), ("HBIN_CNT", "U4"),
                    ("HBIN_PF", "C1"), ("HBIN_NAM", "Cn"))),
    "SBR": (1, 50, (("HEAD_NUM", "U1"), ("SITE_NUM", "U1"), ("SBIN_NUM", "U2"), ("SBIN_CNT", "U4"),
                    ("SBIN_PF", "C1"), ("SBIN_NAM", "Cn"))),
    "SDR": (1, 80, (("HEAD_NUM", "U1"), ("SITE_GRP", "U1"), ("SITE_CNT", "U1"), ("SITE_NUM", "kU1:SITE_CNT"),
                    ("HAND_TYP", "Cn"), ("HAND_ID", "Cn"), ("CARD_TYP", "Cn"), ("CARD_ID", "Cn"),
                    ("LOAD_TYP", "Cn"), ("LOAD_ID", "Cn"), ("DIB_TYP", "Cn"), ("DIB_ID", "Cn"),
                    ("CABL_TYP", "Cn"), ("CABL_ID", "Cn"), ("CONT_TYP", "Cn"), ("CONT_ID", "Cn"),
                    ("LASR_TYP", "Cn"), ("LASR_ID", "Cn"), ("EXTR_TYP", "Cn"), ("EXTR_ID", "Cn"))),
    "PIR": (5, 10, (("HEAD_NUM", "U1"), ("SITE_NUM", "U1"))),
    "PRR": (5, 20, (("HEAD_NUM", "U1"), ("SITE_NUM", "U1"), ("PART_FLG", "B1"), ("NUM_TEST", "U2"),
                    ("HARD_BIN", "U2"), ("SOFT_BIN", "U2"), ("X_COORD", "I2"), ("Y_COORD", "I2"),
                    ("TEST_T", "U4"), ("PART_ID", "Cn"), ("PART_TXT", "Cn"), ("PART_FIX", "Bn"))),
    "TSR": (10, 30, (("HEAD_NUM", "U1"), ("SITE_NUM", "U1"), ("TEST_TYP", "C1"), ("TEST_NUM", "U4"),
                     ("EXEC_CNT", "U4"), ("FAIL_CNT", "U4"), ("ALRM_CNT", "U4"), ("TEST_NAM", "Cn"),
                     ("SEQ_NAME", "Cn"), ("TEST_LBL", "Cn"), ("OPT_FLAG", "B1"), ("TEST_TIM", "R4"),
                     ("TEST_MIN", "R4"), ("TEST_MAX", "R4"), ("TST_SUMS", "R4"), ("TST_SQRS", "R4"))),
    "PTR": (15, 10, (("TEST_NUM", "U4"), ("HEAD_NUM", "U1"), ("SITE_NUM", "U1"), ("TEST_FLG", "B1"),
                     ("PARM_FLG", "B1"), ("RESULT", "R4"), ("TEST_TXT", "Cn"), ("ALARM_ID", "Cn"),
                     ("OPT_FLAG", "B1"), ("RES_SCAL", "I1"), ("LLM_SCAL", "I1"), ("HLM_SCAL", "I1"),
                     ("LO_LIMIT", "R4"), ("HI_LIMIT", "R4"), ("UNITS", "Cn"), ("C_RESFMT", "Cn"),
                     ("C_LLMFMT", "Cn"), ("C_HLMFMT", "Cn"), ("LO_SPEC", "R4"), ("HI_SPEC", "R4"))),
    "FTR": (15, 20, (("TEST_NUM", "U4"), ("HEAD_NUM", "U1"), ("SITE_NUM", "U1"), ("TEST_FLG", "B1"),
                     ("OPT_FLAG", "B1"), ("CYCL_CNT", "U4"), ("REL_VADR", "U4"), ("REPT_CNT", "U4"),
                     ("NUM_FAIL", "U4"), ("XFAIL_AD", "I4"), ("YFAIL_AD", "I4"), ("VECT_OFF", "I2"),
                     ("RTN_ICNT", "U2"), ("PGM_ICNT", "U2"), ("RTN_INDX", "kU2:RTN_ICNT"),
                     ("RTN_STAT", "kN1:RTN_ICNT"), ("PGM_INDX", "kU2:PGM_ICNT"), ("PGM_STAT", "kN1:PGM_ICNT"),
                     ("FAIL_PIN", "Dn"), ("VECT_NAM", "Cn"), ("TIME_SET", "Cn"), ("OP_CODE", "Cn"),
                     ("TEST_TXT", "Cn"), ("ALARM_ID", "Cn"), ("PROG_TXT", "Cn"), ("RSLT_TXT", "Cn"),
                     ("PATG_NUM", "U1"), ("SPIN_MAP", "Dn"))),
    "DTR": (50, 30, (("TEXT_DAT", "Cn"),)),
}

_SCALAR = {"U1": "B", "U2": "H", "U4": "I", "I1": "b", "I2": "h", "I4": "i", "R4": "f", "B1": "B"}
_LIMITS = {"U1": (0, 0xFF), "U2": (0, 0xFFFF), "U4": (0, 0xFFFFFFFF), "I1": (-0x80, 0x7F),
           "I2": (-0x8000, 0x7FFF), "I4": (-0x80000000, 0x7FFFFFFF), "B1": (0, 0xFF)}
_FLOAT32_MAX = 3.4028234663852886e38
_F32 = struct.Struct("<f")

# Lab units and symbols that have a usual ASCII spelling.
_ASCII = {"°C": "degC", "°F": "degF", "°": "deg", "µ": "u", "μ": "u", "Ω": "Ohm", "±": "+/-",
          "—": "-", "–": "-", "×": "x"}


class StdfEncodeError(ValueError):
    """A value does not fit the STDF field it is meant for (a bug in the caller, not bad data)."""


def ascii_text(text: Any, limit: int = 255) -> bytes:
    """`text` as the ASCII bytes of a C*n field: known symbols spelled out, the rest `?`, cut to `limit`."""
    return _ascii("" if text is None else str(text))[:limit]


@functools.lru_cache(maxsize=8192)  # test names, units and conditions repeat across a file
def _ascii(s: str) -> bytes:
    if s.isascii() and s.isprintable():
        return s.encode("ascii")
    for sym, spelled in _ASCII.items():
        s = s.replace(sym, spelled)
    s = unicodedata.normalize("NFKD", s)
    return bytes(ord(c) if 32 <= ord(c) < 127 else ord("?") for c in s if not unicodedata.combining(c))


def float32(x: float | None) -> float:
    """What an R*4 field will hold for `x`: finite values beyond float32 saturate, NaN/None -> NaN."""
    if x is None:
        return math.nan
    x = float(x)
    if x != x or x in (math.inf, -math.inf):
        return x
    if not -_FLOAT32_MAX <= x <= _FLOAT32_MAX:
        x = _FLOAT32_MAX if x > 0 else -_FLOAT32_MAX
    return _F32.unpack(_F32.pack(x))[0]


def _field(kind: str, value: Any, values: dict[str, Any], name: str) -> bytes:
    if kind in _SCALAR:
        if kind == "R4":
            return struct.pack("<f", float32(value))
        lo, hi = _LIMITS[kind]
        v = int(value)
        if not lo <= v <= hi:
            raise StdfEncodeError(f"{name}={value!r} does not fit {kind}")
        return struct.pack("<" + _SCALAR[kind], v)
    if kind == "C1":
        b = ascii_text(value, 1) or b" "
        return b
    if kind == "Cn":
        b = ascii_text(value)
        return bytes((len(b),)) + b
    if kind == "Bn":
        b = bytes(value or b"")[:255]
        return bytes((len(b),)) + b
    if kind == "Dn":
        bits = list(value or [])  # indexes of set bits
        n = (max(bits) + 1) if bits else 0
        data = bytearray((n + 7) // 8)
        for i in bits:
            data[i // 8] |= 1 << (i % 8)
        return struct.pack("<H", n) + bytes(data)
    if kind.startswith("k"):
        item, _, count_field = kind[1:].partition(":")
        items = list(value or [])
        if len(items) != int(values.get(count_field, 0)):
            raise StdfEncodeError(f"{name} has {len(items)} items but {count_field} says {values.get(count_field, 0)}")
        if item == "N1":  # nibbles, two per byte, first in the low nibble
            padded = items + [0] * (len(items) % 2)
            return bytes((padded[i] & 0xF) | ((padded[i + 1] & 0xF) << 4) for i in range(0, len(padded), 2))
        return b"".join(_field(item, v, values, name) for v in items)
    raise StdfEncodeError(f"unknown STDF field type {kind}")  # pragma: no cover - table typo


_DEFAULTS = {"U1": 0, "U2": 0, "U4": 0, "I1": 0, "I2": 0, "I4": 0, "R4": 0.0, "B1": 0, "C1": " ", "Cn": "",
             "Bn": b"", "Dn": ()}


def _plan(fields: tuple[tuple[str, str], ...]) -> list[tuple[str, Any]]:
    """Runs of fixed-size fields packed by one struct format; variable fields one by one."""
    plan: list[tuple[str, Any]] = []
    for f, kind in fields:
        if kind in _SCALAR or kind == "C1":
            if not plan or plan[-1][0] != "fixed":
                plan.append(("fixed", []))
            plan[-1][1].append((f, kind))
        else:
            plan.append(("var", (f, kind)))
    return [(k, (struct.Struct("<" + "".join("c" if kind == "C1" else _SCALAR[kind] for _, kind in run)), run))
            if k == "fixed" else (k, run) for k, run in plan]


_PLANS = {name: _plan(fields) for name, (_, _, fields) in RECORDS.items()}
_FIELDS = {name: frozenset(f for f, _ in fields) for name, (_, _, fields) in RECORDS.items()}


def _fixed(kind: str, value: Any, name: str) -> Any:
    if kind == "R4":
        return float32(value)
    if kind == "C1":
        return ascii_text(value, 1) or b" "
    v = int(value)
    lo, hi = _LIMITS[kind]
    if not lo <= v <= hi:
        raise StdfEncodeError(f"{name}={value!r} does not fit {kind}")
    return v


def encode(name: str, **values: Any) -> bytes:
    """One record, header included. Fields not given take their empty value (0, "", none)."""
    rec_typ, rec_sub, _ = RECORDS[name]
    unknown = values.keys() - _FIELDS[name]
    if unknown:
        raise StdfEncodeError(f"{name} has no field {', '.join(sorted(unknown))}")
    parts = []
    for kind, step in _PLANS[name]:
        if kind == "fixed":
            packer, run = step
            parts.append(packer.pack(*(_fixed(k, values.get(f, _DEFAULTS[k]), f"{name}.{f}") for f, k in run)))
        else:
            f, k = step
            parts.append(_field(k, values.get(f, _DEFAULTS.get(k, ())), values, f"{name}.{f}"))
    body = b"".join(parts)
    if len(body) > 0xFFFF:
        raise StdfEncodeError(f"{name} record of {len(body)} bytes exceeds the 65535 an STDF record may hold")
    return struct.pack("<HBB", len(body), rec_typ, rec_sub) + body
