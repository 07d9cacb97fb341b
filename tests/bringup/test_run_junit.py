"""`bringup run --junit FILE` leaves a report CI can read, whatever the run's verdict."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from click.testing import CliRunner

from bringup.cli import main
from engine_helpers import station_with, write

PROC = """
procedure: ci
requires: {dmm: multimeter, sled: sled}
phases:
  - id: meter
    steps:
      - measure: dmm.voltage_dc
        name: core
        limit: {low: 0.7 V, high: 0.8 V}
  - id: gated
    after: meter
    steps: [{wait: 1 s}]
"""


def test_run_writes_junit_with_failures_as_one_readable_line(tmp_path):
    proc = write(tmp_path, "p.yaml", PROC)
    st = station_with(tmp_path, {"dmm": {"source_v": 0.69}})
    out = tmp_path / "report.xml"
    r = CliRunner().invoke(main, ["run", str(proc), "--station", str(st), "--store", str(tmp_path / "r.sqlite"),
                                  "--junit", str(out)])
    assert r.exit_code == 1, r.output
    root = ET.parse(out).getroot()
    cases = root.iter("testcase")
    failures = [c.find("failure") for c in root.iter("testcase") if c.find("failure") is not None]
    assert failures and "core = 0.69 V not in [0.7, 0.8] V" in (failures[0].get("message") or "")
    skipped = [c for c in root.iter("testcase") if c.find("skipped") is not None]
    assert any(c.get("classname") == "gated" for c in skipped)
    assert sum(1 for _ in cases) >= 2


def test_an_unwritable_junit_path_is_a_clear_error_and_the_run_is_kept(tmp_path):
    proc = write(tmp_path, "p.yaml", PROC)
    st = station_with(tmp_path)
    store = tmp_path / "r.sqlite"
    r = CliRunner().invoke(main, ["run", str(proc), "--station", str(st), "--store", str(store),
                                  "--junit", str(tmp_path / "no" / "such" / "dir" / "x.xml")])
    assert r.exit_code == 2 and "Traceback" not in r.output  # the run passed; only the report is missing
    assert "error:" in r.output and "x.xml" in r.output   # and the user is told which file could not be written
    from bringup.store import StoreReader

    assert StoreReader(store).run(1)["state"] == "passed"  # nothing recorded was lost
