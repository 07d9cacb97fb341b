"""STDF names the parts after the board that was tested, and bins every part in a bin it declares.

Read back with the independent Semi-ATE STDF reader, as test_stdf.py does.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from engine_helpers import run
from test_stdf import export, parts

ROOT = Path(__file__).resolve().parents[2]

INTERLOCK = """
procedure: hot
version: 1
requires: {sled: sled}
safe_state:
  - sled.power_off
monitors:
  - read: sled.max_tj
    every: 1 s
    limit: {high: 90 degC}
    after: power_on
phases:
  - id: power_on
    steps:
      - do: sled.power_on
      - for_each: {chip: [0, 1]}
        steps:
          - measure: sled.rail_voltage
            with: {rail: VDD_CORE, chip: "{chip}"}
            limit: {low: 0.7 V}
  - id: soak
    after: power_on
    steps:
      - wait: 1 min
"""


def assert_every_bin_is_declared(records) -> None:
    """Each bin a PRR uses has its HBR/SBR, with a name a yield tool can show."""
    soft = {r["SBIN_NUM"]: r for k, r in records if k == "SBR"}
    hard = {r["HBIN_NUM"]: r for k, r in records if k == "HBR"}
    for _, _, prr in parts(records):
        assert prr["SOFT_BIN"] in soft and prr["HARD_BIN"] in hard, (prr, sorted(soft), sorted(hard))
    for r in soft.values():
        assert r["SBIN_NAM"] and "?" not in r["SBIN_NAM"] and r["SBIN_PF"] in ("P", "F")
    used = [prr["SOFT_BIN"] for _, _, prr in parts(records)]
    assert {n: r["SBIN_CNT"] for n, r in soft.items()} == {n: used.count(n) for n in set(used)}


def test_an_interlock_abort_bins_the_part_in_the_interlock_bin(tmp_path):
    outcome = run(tmp_path, INTERLOCK, options={"sled": {"values": {"max_tj": 101.0}}})
    assert outcome.result.state == "aborted", outcome.result.reason
    records = export(tmp_path, outcome.run_id)
    assert_every_bin_is_declared(records)
    by_part = {prr["PART_ID"]: prr for _, _, prr in parts(records)}
    assert (by_part["SN-TEST"]["SOFT_BIN"], by_part["SN-TEST"]["HARD_BIN"]) == (4, 2)  # it was 999, undeclared
    assert {r["SBIN_NUM"]: r["SBIN_NAM"] for k, r in records if k == "SBR"}[4] == "FAIL interlock"
    assert by_part["SN-TEST-chip1"]["SOFT_BIN"] == 2  # its tests passed; the abort left it incomplete


def test_a_failing_phase_bins_in_that_phases_bin_named_after_it(tmp_path):
    outcome = run(tmp_path, INTERLOCK.replace("low: 0.7 V", "low: 0.9 V"))
    records = export(tmp_path, outcome.run_id)
    assert_every_bin_is_declared(records)
    by_part = {prr["PART_ID"]: prr["SOFT_BIN"] for _, _, prr in parts(records)}
    assert by_part["SN-TEST-chip0"] == 100  # failed in the first phase
    assert {r["SBIN_NUM"]: r["SBIN_NAM"] for k, r in records if k == "SBR"}[100] == "FAIL power_on"


def _night(tmp_path: Path, *args: str):
    store = tmp_path / "runs.sqlite"
    proc = subprocess.run([sys.executable, "-m", "bringup.cli", "run", str(ROOT / "procedures" / "power_on.yaml"),
                           "--store", str(store), *args], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    return export(tmp_path)


@pytest.mark.parametrize("args, serial", [(("--seed", "7"), "SIM000007"), (("--dut", "SLED-0042"), "SLED-0042")],
                         ids=["serial read from the sled", "--dut"])
def test_lot_and_part_ids_name_the_board(tmp_path, args, serial):
    records = _night(tmp_path, *args)
    (mir,) = [r for k, r in records if k == "MIR"]
    assert mir["LOT_ID"] == serial  # not "unknown": without --dut, the serial the sled's console reported
    ids = [prr["PART_ID"] for _, _, prr in parts(records)]
    assert ids == [serial] + [f"{serial}-chip{c}" for c in range(4)]
    assert_every_bin_is_declared(records)
