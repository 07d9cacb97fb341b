"""STDF V4 export, read back with an independent reader (Semi-ATE-STDF) and checked record by record
against the results store: every value, limit, unit and verdict, per chip, with bins and summaries."""

from __future__ import annotations

from collections import Counter, defaultdict

import pytest
from click.testing import CliRunner
from Semi_ATE.STDF import records_from_file

from bringup.commands.results import export_command
from bringup.outputs.stdf import stdf_bytes
from bringup.outputs.stdf.numbering import StdfTest, number_tests
from bringup.outputs.stdf.records import float32
from engine_helpers import run

SLED = """
procedure: sled-chips
version: 2
requires: {psu: power_supply, dmm: multimeter, cdu: coolant, sled: sled}
parameters: {}
safe_state:
  - sled.power_off
phases:
  - id: power_on
    steps:
      - do: sled.power_on
      - measure: psu.current
        name: standby current
        limit: {high: 2 A}
  - id: rails
    after: power_on
    on_fail: continue
    steps:
      - for_each: {chip: [0, 1, 2, 3]}
        steps:
          - measure: sled.rail_voltage
            with: {rail: VDD_CORE, chip: "{chip}"}
            limit: {low: "0.7 V + chip * 0.02 V", high: 0.8 V}
            on_fail: continue
          - measure: sled.powered_state
            limit: {low: 1}
  - id: vmin
    after: power_on
    steps:
      - for_each: {chip: [0, 1]}
        steps:
          - sweep: {frequency: [1.0 GHz, 1.2 GHz], voltage: {from: 0.80 V, to: 0.72 V, step: -40 mV}}
            steps:
              - measure: sled.rail_voltage
                name: stress_check
                with: {rail: VDD_CORE, chip: "{chip}"}
                limit: {high: "voltage + 0.35 V - (frequency / 1 GHz) * 0.2 V - chip * 0.1 V"}
                on_fail: continue
"""


def read_stdf(path) -> list[tuple[str, dict]]:
    out = []
    for rec in records_from_file(str(path)):
        out.append((rec.id, {k: rec.get_value(k) for k in rec.fields if k not in ("REC_LEN", "REC_TYP", "REC_SUB")}))
    return out


def flags(bits: list[str]) -> int:
    return int("".join(bits), 2)  # the reader lists bit 7 first


def export(tmp_path, run_id: int | str = "latest"):
    out = tmp_path / f"run-{run_id}.stdf"
    result = CliRunner().invoke(export_command, [str(run_id), "--format", "stdf", "-o", str(out),
                                                 "--store", str(tmp_path / "runs.sqlite")])
    assert result.exit_code == 0, result.output
    return read_stdf(out)


def parts(records) -> list[tuple[dict, list[tuple[str, dict]], dict]]:
    """(PIR, records between, PRR) for every part, checking PIR/PRR pair up on head 1 site 1."""
    out, current = [], None
    for kind, rec in records:
        if kind == "PIR":
            assert current is None and (rec["HEAD_NUM"], rec["SITE_NUM"]) == (1, 1)
            current = (rec, [])
        elif kind == "PRR":
            assert current is not None
            out.append((current[0], current[1], rec))
            current = None
        elif current is not None:
            current[1].append((kind, rec))
    assert current is None
    return out


@pytest.fixture(scope="module")
def sled_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("stdf")
    outcome = run(tmp, SLED)
    return tmp, outcome, export(tmp, outcome.run_id)


def test_the_file_has_the_records_of_a_valid_stdf_in_order(sled_run):
    _, outcome, records = sled_run
    kinds = [k for k, _ in records]
    assert kinds[:3] == ["FAR", "MIR", "SDR"] and kinds[-1] == "MRR"
    assert records[0][1] == {"CPU_TYPE": 2, "STDF_VER": 4}
    first_summary = kinds.index("TSR")
    assert set(kinds[first_summary:-1]) == {"TSR", "HBR", "SBR", "PCR"} and kinds[-2] == "PCR"
    assert kinds.count("PIR") == kinds.count("PRR") == 5
    mir = records[1][1]
    run_row = outcome.reader.run(outcome.run_id)
    assert (mir["LOT_ID"], mir["JOB_NAM"], mir["JOB_REV"], mir["SBLOT_ID"], mir["MODE_COD"]) == (
        "SN-TEST", "sled-chips", "2", f"run{outcome.run_id}", "D")
    mrr = records[-1][1]
    assert mrr["USR_DESC"] == f"sled-chips run {outcome.run_id}: failed, verdict FAIL"
    assert mrr["FINISH_T"] >= mir["START_T"]


def test_every_measurement_is_one_result_with_its_value_limits_unit_and_verdict(sled_run):
    _, outcome, records = sled_run
    measurements = outcome.measurements()
    by_part: dict[str, list[dict]] = defaultdict(list)
    for m in measurements:
        chip = (m["coords"] or {}).get("chip")
        by_part["SN-TEST" if chip is None else f"SN-TEST-chip{chip}"].append(m)
    seen = 0
    numbers: dict[tuple[str, str], int] = {}
    for pir, inside, prr in parts(records):
        expected = by_part[prr["PART_ID"]]
        results = [(i, k, r) for i, (k, r) in enumerate(inside) if k in ("PTR", "FTR")
                   and not flags(r["TEST_FLG"]) & 0x10]  # executed ones; "not executed" checked below
        assert len(results) == len(expected), prr["PART_ID"]
        for (i, kind, r), m in zip(results, expected):
            seen += 1
            chip = (m["coords"] or {}).get("chip")
            assert r["TEST_TXT"] == (m["name"] if chip is None else m["name"].replace(f", chip={chip}", ""))
            numbers.setdefault((m["path"], r["TEST_TXT"]), r["TEST_NUM"])
            assert numbers[(m["path"], r["TEST_TXT"])] == r["TEST_NUM"]  # one test, one number, every chip
            test_flg = flags(r["TEST_FLG"])
            assert bool(test_flg & 0x80) == (m["verdict"] != "PASS")
            assert not test_flg & 0x40  # a pass/fail verdict is given
            cond = ", ".join(f"{k}={v}" for k, v in (m["coords"] or {}).items() if k != "chip")
            if cond:
                assert inside[i - 1] == ("DTR", {"TEXT_DAT": f"COND: {cond}"})
            if kind == "FTR":
                assert m["unit"] == "" and m["low"] == 1 and m["high"] is None
                continue
            assert r["RESULT"] == float32(m["value"]) and r["UNITS"] == m["unit"]
            opt = flags(r["OPT_FLAG"])
            assert bool(opt & 0x40) == (m["low"] is None) and bool(opt & 0x80) == (m["high"] is None)
            if m["low"] is not None:
                assert r["LO_LIMIT"] == float32(m["low"])
            if m["high"] is not None:
                assert r["HI_LIMIT"] == float32(m["high"])
            parm = flags(r["PARM_FLG"])
            assert bool(parm & 0x08) == (m["high"] is not None and m["value"] > m["high"])
            assert bool(parm & 0x10) == (m["low"] is not None and m["value"] < m["low"])
    assert seen == len(measurements)
    assert len(set(numbers.values())) == len(numbers)  # different tests, different numbers


def test_parts_get_bins_from_their_own_results(sled_run):
    _, outcome, records = sled_run
    prrs = {prr["PART_ID"]: prr for _, _, prr in parts(records)}
    assert list(prrs) == ["SN-TEST", "SN-TEST-chip0", "SN-TEST-chip1", "SN-TEST-chip2", "SN-TEST-chip3"]
    bins = {pid: (p["HARD_BIN"], p["SOFT_BIN"], flags(p["PART_FLG"])) for pid, p in prrs.items()}
    assert bins == {
        "SN-TEST": (1, 1, 0x00),
        "SN-TEST-chip0": (1, 1, 0x00),       # every point of its shmoo passed
        "SN-TEST-chip1": (2, 102, 0x08),     # failed the third phase (vmin) at 1.2 GHz
        "SN-TEST-chip2": (3, 2, 0x18),       # never swept: incomplete, pass/fail not known
        "SN-TEST-chip3": (2, 101, 0x08),     # its core rail is below its limit (rails)
    }
    sbr = {r["SBIN_NUM"]: (r["SBIN_CNT"], r["SBIN_PF"], r["SBIN_NAM"]) for k, r in records if k == "SBR"}
    assert sbr == {1: (2, "P", "PASS"), 2: (1, "F", "INCOMPLETE"), 101: (1, "F", "FAIL rails"),
                   102: (1, "F", "FAIL vmin")}
    hbr = {r["HBIN_NUM"]: (r["HBIN_CNT"], r["HBIN_PF"]) for k, r in records if k == "HBR"}
    assert hbr == {1: (2, "P"), 2: (2, "F"), 3: (1, "F")}
    pcr = next(r for k, r in records if k == "PCR")
    assert (pcr["HEAD_NUM"], pcr["PART_CNT"], pcr["GOOD_CNT"], pcr["ABRT_CNT"]) == (255, 5, 2, 0)
    for _, inside, prr in parts(records):
        assert prr["NUM_TEST"] == sum(1 for k, _ in inside if k in ("PTR", "FTR"))


def test_a_test_other_chips_ran_is_marked_not_executed(sled_run):
    _, _, records = sled_run
    by_part = {prr["PART_ID"]: inside for _, inside, prr in parts(records)}
    swept = {r["TEST_NUM"] for k, r in by_part["SN-TEST-chip0"] if k == "PTR" and r["TEST_TXT"] == "stress_check"}
    assert len(swept) == 1
    missing = [r for k, r in by_part["SN-TEST-chip2"] if k == "PTR" and flags(r["TEST_FLG"]) & 0x10]
    assert [r["TEST_NUM"] for r in missing] == list(swept)
    assert flags(missing[0]["TEST_FLG"]) == 0x10 | 0x40 | 0x02  # not executed, no pass/fail, no result


def test_summaries_count_every_execution(sled_run):
    _, outcome, records = sled_run
    tsr = {r["TEST_NUM"]: r for k, r in records if k == "TSR"}
    executed: Counter = Counter()
    failed: Counter = Counter()
    for _, inside, _ in parts(records):
        for k, r in inside:
            if k in ("PTR", "FTR") and not flags(r["TEST_FLG"]) & 0x10:
                executed[r["TEST_NUM"]] += 1
                failed[r["TEST_NUM"]] += bool(flags(r["TEST_FLG"]) & 0x80)
    assert {n: (t["EXEC_CNT"], t["FAIL_CNT"]) for n, t in tsr.items()} == {
        n: (executed[n], failed[n]) for n in executed}
    check = next(t for t in tsr.values() if t["TEST_NAM"] == "sled.powered_state")
    assert check["TEST_TYP"] == "F" and check["SEQ_NAME"] == "rails"
    rail = next(t for t in tsr.values() if t["TEST_NAM"] == "sled.rail_voltage(rail=VDD_CORE)")
    assert (rail["TEST_TYP"], rail["TEST_MIN"], rail["TEST_MAX"]) == ("P", float32(0.75), float32(0.75))


def test_phases_and_their_reasons_are_in_the_file(sled_run):
    _, _, records = sled_run
    texts = [r["TEXT_DAT"] for k, r in records if k == "DTR" and r["TEXT_DAT"].startswith("PHASE ")]
    assert texts[0] == "PHASE power_on: passed"
    # a phase that went on past its failures gives the first one as its reason
    assert [t.split(" (")[0] for t in texts[1:]] == ["PHASE rails: failed", "PHASE vmin: failed"]
    assert "sled.rail_voltage(rail=VDD_CORE, chip=3) = 0.75 V not in [0.76, 0.8] V" in texts[1]


def test_test_numbers_are_the_same_in_every_run_of_the_procedure(tmp_path):
    first = run(tmp_path, SLED)
    failed_checks = run(tmp_path, SLED, options={"sled": {"values": {"powered_state": 0.0}}})
    stopped_early = run(tmp_path, SLED, options={"psu": {"values": {"current": 5.0}}})
    assert stopped_early.phase_states() == {"power_on": "failed", "rails": "skipped", "vmin": "skipped"}

    def numbers(run_id) -> dict[str, int]:
        return {r["TEST_NAM"]: r["TEST_NUM"] for k, r in export(tmp_path, run_id) if k == "TSR"}

    a, b, c = numbers(first.run_id), numbers(failed_checks.run_id), numbers(stopped_early.run_id)
    assert a == b  # other verdicts, same numbers
    assert list(c) == ["standby current"] and c["standby current"] == a["standby current"]


def test_colliding_test_numbers_are_resolved_the_same_way_whatever_else_ran(monkeypatch):
    from bringup.outputs.stdf import numbering

    monkeypatch.setattr(numbering, "_hash", lambda key: 7)  # every test on the same number
    keys = [StdfTest("p", name) for name in ("c", "a", "b")]
    assert number_tests(keys) == number_tests(reversed(keys)) == {
        StdfTest("p", "a"): numbering.FIRST + 7, StdfTest("p", "b"): numbering.FIRST + 8,
        StdfTest("p", "c"): numbering.FIRST + 9}


def test_numbers_stay_in_range_and_unique_for_many_tests():
    from bringup.outputs.stdf.numbering import FIRST, SPAN

    keys = [StdfTest(f"phase{i % 7}", f"reading{i}") for i in range(5000)]
    numbers = number_tests(keys)
    assert len(set(numbers.values())) == 5000
    assert all(FIRST <= n < FIRST + SPAN < 2**31 for n in numbers.values())
    assert number_tests(keys[:10]) == {k: numbers[k] for k in keys[:10]}


def test_the_bytes_do_not_depend_on_when_they_are_exported(sled_run):
    tmp, outcome, _ = sled_run
    assert stdf_bytes(outcome.reader, outcome.run_id) == stdf_bytes(outcome.reader, outcome.run_id)
