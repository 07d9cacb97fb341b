"""Station options are the driver's typed fields: checked when the file loads, all at once, before
anything is touched; what a station gives is what the driver reads."""

from __future__ import annotations

from click.testing import CliRunner

from bringup.cli import main
from bringup.core.clock import SimClock
from bringup.run.session import make_drivers
from bringup.check.station import load_station

PROCEDURE = """procedure: p
requires: {psu: power_supply}
phases:
  - id: a
    steps:
      - measure: psu.voltage
"""

# a bench no test can reach: had validation let a bad option through, `run` would find out at open
BENCH = """station: bench
roles:
  psu:
    driver: keysight.e36312a
    resource: TCPIP::192.0.2.1::5025::SOCKET
    options: {OPTIONS}
"""


def _files(tmp_path, options: str):
    (tmp_path / "p.yaml").write_text(PROCEDURE)
    (tmp_path / "bench.yaml").write_text(BENCH.replace("{OPTIONS}", options))
    return str(tmp_path / "p.yaml"), str(tmp_path / "bench.yaml")


def test_validate_refuses_an_option_of_the_wrong_type_that_used_to_pass(tmp_path):
    proc, bench = _files(tmp_path, "{timeout: fast}")
    result = CliRunner().invoke(main, ["validate", proc, "--station", bench])
    assert result.exit_code == 2, result.output
    assert "bench.yaml:6:24: bad option timeout for driver keysight.e36312a" in result.output
    assert "hint: timeout takes a time such as '2 s' or '50 ms'" in result.output
    assert "Traceback" not in result.output


def test_every_bad_option_is_reported_at_once_and_run_records_nothing(tmp_path):
    proc, bench = _files(tmp_path, "{timeout: fast, ocp: maybe, parity: sometimes, resource_manager: x, bogus: 1}")
    result = CliRunner().invoke(main, ["run", proc, "--station", bench, "--store", str(tmp_path / "r.sqlite")])
    assert result.exit_code == 2, result.output
    for name in ("option timeout", "option ocp", "option parity", "'resource_manager' is a test seam",
                 "has no option 'bogus'"):
        assert name in result.output, result.output
    assert "5 problems found" in result.output
    assert not (tmp_path / "r.sqlite").exists()


def test_typed_values_reach_the_driver_in_its_own_units(tmp_path):
    _, bench = _files(tmp_path, "{timeout: 500 ms, ocp: off, ocp_delay: 20 ms, ovp_margin: 5%, max_timeouts: 2}")
    station = load_station(bench)
    psu = make_drivers(station, SimClock())["psu"]
    o = psu.options
    assert (o.timeout, o.ocp, o.ocp_delay, o.ovp_margin, o.max_timeouts) == (0.5, False, 0.02, 0.05, 2)
    assert o.visa_library == "@py"  # what the station did not give keeps the driver's default


def test_a_bare_number_is_still_seconds(tmp_path):
    _, bench = _files(tmp_path, "{timeout: 3}")
    assert load_station(bench).roles["psu"].options.timeout == 3.0


def test_drivers_lists_each_option_with_its_type_default_and_meaning():
    result = CliRunner().invoke(main, ["drivers", "keysight.e36312a"])
    assert result.exit_code == 0, result.output
    assert "timeout: time (more than 0 s) = 2 s  longest wait for one reply" in result.output
    assert "parity: none|odd|even|mark|space = 'none'" in result.output
    assert "ocp_delay: time (at least 0 s and at most 0.255 s) = 50 ms" in result.output
    console = CliRunner().invoke(main, ["drivers", "sled.console"]).output
    assert "idle_gap: time (more than 0 s) = 50 ms" in console
    assert "serial_factory" not in console  # a seam is no option
