"""STDF V4 record encoding, byte for byte against the specification's layouts."""

from __future__ import annotations

import math
import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bringup.outputs.stdf.records import StdfEncodeError, ascii_text, encode, float32


def test_far_is_the_six_bytes_every_reader_checks_first():
    # REC_LEN 2, REC_TYP 0, REC_SUB 10, CPU_TYPE 2 (little-endian), STDF_VER 4
    assert encode("FAR", CPU_TYPE=2, STDF_VER=4) == bytes([2, 0, 0, 10, 2, 4])


def test_a_ptr_is_laid_out_as_the_spec_says():
    rec = encode("PTR", TEST_NUM=1234567, HEAD_NUM=1, SITE_NUM=2, TEST_FLG=0x80, PARM_FLG=0xC8, RESULT=0.69,
                 TEST_TXT="vdd_core", OPT_FLAG=0x0E, LO_LIMIT=0.7275, HI_LIMIT=0.7725, UNITS="V")
    length, typ, sub = struct.unpack("<HBB", rec[:4])
    assert (typ, sub, length) == (15, 10, len(rec) - 4)
    test_num, head, site, test_flg, parm_flg, result = struct.unpack("<IBBBBf", rec[4:16])
    assert (test_num, head, site, test_flg, parm_flg) == (1234567, 1, 2, 0x80, 0xC8)
    assert result == float32(0.69)
    body = rec[16:]
    assert body[:9] == b"\x08vdd_core" and body[9:10] == b"\x00"  # TEST_TXT, then an empty ALARM_ID
    opt, res_scal, llm, hlm, lo, hi = struct.unpack("<Bbbbff", body[10:22])
    assert (opt, res_scal, llm, hlm) == (0x0E, 0, 0, 0)
    assert (lo, hi) == (float32(0.7275), float32(0.7725))
    assert body[22:24] == b"\x01V" and body[24:27] == b"\x00\x00\x00"  # UNITS, three empty formats
    assert struct.unpack("<ff", body[27:]) == (0.0, 0.0)  # LO_SPEC, HI_SPEC


def test_an_ftr_with_no_vectors_has_empty_arrays_and_bit_fields():
    rec = encode("FTR", TEST_NUM=5, HEAD_NUM=1, SITE_NUM=1, TEST_FLG=0, OPT_FLAG=0xFF, TEST_TXT="check",
                 PATG_NUM=255)
    body = rec[4:]
    fixed = struct.calcsize("<IBBBBIIIIiihHH")
    *_, rtn_icnt, pgm_icnt = struct.unpack("<IBBBBIIIIiihHH", body[:fixed])
    assert (rtn_icnt, pgm_icnt) == (0, 0)
    assert body[fixed:fixed + 2] == b"\x00\x00"  # FAIL_PIN: a D*n of zero bits
    assert body.endswith(b"\xff\x00\x00")  # PATG_NUM, then SPIN_MAP: zero bits


def test_arrays_and_nibbles_follow_their_count_field():
    sdr = encode("SDR", HEAD_NUM=1, SITE_GRP=1, SITE_CNT=3, SITE_NUM=[1, 2, 3])
    assert sdr[4:10] == bytes([1, 1, 3, 1, 2, 3])
    ftr = encode("FTR", RTN_ICNT=3, RTN_INDX=[1, 2, 3], RTN_STAT=[0x1, 0x2, 0xF])
    fixed = struct.calcsize("<IBBBBIIIIiihHH")
    body = ftr[4:]
    assert struct.unpack("<HHH", body[fixed:fixed + 6]) == (1, 2, 3)
    assert body[fixed + 6:fixed + 8] == bytes([0x21, 0x0F])  # two nibbles a byte, first in the low half
    with pytest.raises(StdfEncodeError, match="RTN_INDX has 2 items but RTN_ICNT says 3"):
        encode("FTR", RTN_ICNT=3, RTN_INDX=[1, 2], RTN_STAT=[0, 0, 0])


def test_a_bit_field_counts_bits_and_packs_them_from_the_low_end():
    rec = encode("FTR", FAIL_PIN=[0, 9])
    fixed = struct.calcsize("<IBBBBIIIIiihHH")
    assert rec[4 + fixed:4 + fixed + 4] == b"\x0a\x00\x01\x02"  # 10 bits: bit 0 and bit 9


def test_text_is_ascii_spelled_out_and_cut_to_what_a_cn_holds():
    assert ascii_text("Tj 95 °C, 3 µA, 10 Ω ± 1") == b"Tj 95 degC, 3 uA, 10 Ohm +/- 1"
    assert ascii_text("Vdd\u2192core \u00e9t\u00e9 \u6e29\u5ea6") == b"Vdd?core ete ??"
    assert ascii_text("x" * 300) == b"x" * 255
    dtr = encode("DTR", TEXT_DAT="y" * 400)
    assert dtr[:5] == struct.pack("<HBBB", 256, 50, 30, 255)


def test_values_that_do_not_fit_their_field_are_refused_not_wrapped():
    with pytest.raises(StdfEncodeError, match="HEAD_NUM=256 does not fit U1"):
        encode("PIR", HEAD_NUM=256, SITE_NUM=1)
    with pytest.raises(StdfEncodeError, match="X_COORD=-40000 does not fit I2"):
        encode("PRR", X_COORD=-40000)
    with pytest.raises(StdfEncodeError, match="PIR has no field PART_ID"):
        encode("PIR", PART_ID="x")


@given(st.floats(allow_nan=True, allow_infinity=True))
def test_r4_holds_the_float32_of_any_value(x):
    rec = encode("PTR", RESULT=x)
    (stored,) = struct.unpack("<f", rec[12:16])
    expected = float32(x)
    assert (math.isnan(stored) and math.isnan(expected)) or stored == expected
    if math.isfinite(x) and 1.2e-38 <= abs(x) <= 3.4e38:  # float32's normal range: 24 bits kept
        assert abs(stored - x) <= abs(x) * 2**-23
    elif math.isfinite(x) and abs(x) < 1.2e-38:  # below it, underflow to (sub)normals or zero
        assert abs(stored - x) <= 2**-149
