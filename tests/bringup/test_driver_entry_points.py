"""Drivers from other packages are found through the `bringup.drivers` entry-point group, never by
an import path a station file gives: a station travels between labs, and naming a module must not
run its import-time code. The installed package here is real metadata on a sys.path entry (a
`*.dist-info` folder, what pip writes), read by importlib.metadata in a real process."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

PROCEDURE = """procedure: bulk
requires: {psu: power_supply}
safe_state:
  - psu.output: off
phases:
  - id: p
    steps:
      - do: psu.set
        with: {channel: 1, voltage: 12 V, current_limit: 40 A}
      - measure: psu.voltage
        with: {channel: 1}
        limit: {high: 13 V}
"""


@pytest.fixture()
def site(tmp_path: Path) -> Path:
    """A folder holding an installed distribution `mylab-drivers 1.2` with one good and two bad drivers."""
    site = tmp_path / "site"
    pkg = site / "mylab_drivers"
    pkg.mkdir(parents=True)
    # importing the module leaves a mark, so a test can tell whether anything imported it
    (pkg / "__init__.py").write_text(
        "import os, pathlib\n"
        "pathlib.Path(os.environ['IMPORT_MARK']).write_text('imported')\n"
        "from bringup.drivers.fake import FakePowerSupply\n\n"
        "class BulkSupply(FakePowerSupply):\n"
        "    '''A lab's bulk 12 V supply.'''\n\n"
        "class NotADriver:\n    pass\n")
    info = site / "mylab_drivers-1.2.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: mylab-drivers\nVersion: 1.2\n")
    (info / "entry_points.txt").write_text(
        "[bringup.drivers]\n"
        "mylab.bulk = mylab_drivers:BulkSupply\n"
        "mylab.not_a_driver = mylab_drivers:NotADriver\n"
        "mylab.missing = mylab_drivers.nowhere:Supply\n"
        "keysight.e36312a = mylab_drivers:BulkSupply\n")  # may not take a built-in name over
    return site


def _bringup(site: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(site), IMPORT_MARK=str(cwd / "imported.mark"))
    return subprocess.run([sys.executable, "-m", "bringup.cli", *args], capture_output=True, text=True,
                          timeout=120, cwd=cwd, env=env)  # a hang guard, not a measurement


def _station(tmp_path: Path, driver: str) -> Path:
    p = tmp_path / "station.yaml"
    p.write_text(f"station: s\nclock: simulated\nroles:\n  psu:\n    driver: {driver}\n    guardrails:\n"
                 "      - {channel: 1, voltage: {max: 13 V}, current_limit: {max: 50 A}}\n")
    return p


def test_an_installed_driver_is_named_by_its_entry_point_and_runs(site, tmp_path):
    (tmp_path / "p.yaml").write_text(PROCEDURE)
    station = _station(tmp_path, "mylab.bulk")
    r = _bringup(site, "run", "p.yaml", "--station", str(station), "--store", str(tmp_path / "runs.sqlite"),
                 cwd=tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "run PASSED (exit 0): 1/1 phases passed" in r.stdout


def test_bringup_drivers_lists_installed_drivers_with_their_distribution(site, tmp_path):
    r = _bringup(site, "drivers", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    block = r.stdout.split("mylab.bulk  (power_supply)", 1)[1].split("\n\n", 1)[0]
    assert "from mylab-drivers 1.2 (mylab_drivers:BulkSupply)" in block and "set(channel" in block
    assert "mylab.missing  (from mylab-drivers 1.2, mylab_drivers.nowhere:Supply)" in r.stdout
    assert "cannot be used" in r.stdout.split("mylab.not_a_driver", 1)[1].split("\n\n", 1)[0]
    # the built-in name stays the built-in driver
    assert r.stdout.count("keysight.e36312a  (power_supply)") == 1
    one = _bringup(site, "drivers", "keysight.e36312a", cwd=tmp_path)
    assert "mylab" not in one.stdout


@pytest.mark.parametrize("driver, message", [
    ("this:Zen", "driver 'this:Zen' is an import path"),
    ("mylab_drivers:BulkSupply", "driver 'mylab_drivers:BulkSupply' is an import path"),
    ("mylab.not_a_driver", "driver 'mylab.not_a_driver' (from mylab-drivers 1.2, mylab_drivers:NotADriver) "
                           "is not a bringup Driver"),
    ("mylab.missing", "driver 'mylab.missing' (from mylab-drivers 1.2, mylab_drivers.nowhere:Supply) cannot be "
                      "loaded: ModuleNotFoundError"),
    ("mylab.bulkk", "unknown driver 'mylab.bulkk'"),
])
def test_a_driver_that_is_not_an_installed_name_is_refused_where_the_station_says_it(site, tmp_path, driver,
                                                                                     message):
    (tmp_path / "p.yaml").write_text(PROCEDURE)
    station = _station(tmp_path, driver)
    r = _bringup(site, "validate", "p.yaml", "--station", str(station), cwd=tmp_path)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert f"{station}:5:13: {message}" in r.stderr
    assert "Beautiful is better than ugly" not in r.stdout + r.stderr  # `this` was never imported
    if ":" in driver:
        assert "entry-point group" in r.stderr and not (tmp_path / "imported.mark").exists()
    if driver == "mylab.bulkk":
        assert "did you mean mylab.bulk?" in r.stderr
