"""What a guardrail binds: a selector picks a target the driver has, and `bringup validate` says
which limit binds which target (issue 20: `channel: '2'` validated and limited nothing)."""

from __future__ import annotations

from click.testing import CliRunner

from bringup.check.station import guardrail_lines, load_station
from bringup.cli import main
from bringup.drivers.base import Guardrail
from bringup.drivers.e36312a import KeysightE36312A
from bringup.drivers.guardrail import bindings, guardrail_violation, unbound

PROC = """procedure: p
requires: {psu: power_supply}
phases:
  - id: a
    steps:
      - do: psu.set
        with: {channel: 2, voltage: 5 V, current_limit: 0.5 A}
"""


def _station(rails: str, driver: str = "keysight.e36312a") -> str:
    return f"""station: s
roles:
  psu:
    driver: {driver}
    resource: TCPIP::127.0.0.1::5025::SOCKET
    guardrails:
{rails}
"""


def test_validate_lists_which_limit_binds_which_output(tmp_path):
    (tmp_path / "p.yaml").write_text(PROC)
    (tmp_path / "s.yaml").write_text(_station("      - {channel: 1, voltage: {max: 6 V}, current_limit: {max: 5 A}}\n"
                                              "      - {voltage: {max: 25 V}}\n"
                                              "      - {channel: 2, voltage: {max: 12 V}}\n"))
    result = CliRunner().invoke(main, ["validate", str(tmp_path / "p.yaml"), "--station", str(tmp_path / "s.yaml")])
    assert result.exit_code == 0, result.output
    lines = [line.strip() for line in result.output.splitlines()]
    # the tightest bound of each side binds: channel 2 is held to 12 V, not the 25 V every output has
    assert "psu channel 1: voltage ≤ 6 V, current_limit ≤ 5 A" in lines
    assert "psu channel 2: voltage ≤ 12 V" in lines
    assert "psu channel 3: voltage ≤ 25 V" in lines


def test_a_single_output_supply_is_one_target_and_a_station_without_guardrails_says_so(tmp_path):
    st = load_station("s.yaml", _station("      - {voltage: {max: 12.6 V}, current_limit: {max: 110 A}}",
                                         driver="keysight.n5700"))
    assert guardrail_lines(st) == ["psu: voltage ≤ 12.6 V, current_limit ≤ 110 A"]
    (tmp_path / "p.yaml").write_text(PROC)
    (tmp_path / "s.yaml").write_text("station: s\nroles:\n  psu: {driver: fake.power_supply}\n")
    result = CliRunner().invoke(main, ["validate", str(tmp_path / "p.yaml"), "--station", str(tmp_path / "s.yaml")])
    assert result.exit_code == 0 and "station guardrails: none" in result.output


def test_the_plan_lists_the_same_bindings(tmp_path):
    (tmp_path / "p.yaml").write_text(PROC)
    (tmp_path / "s.yaml").write_text(_station("      - {channel: 2, voltage: {max: 6 V}}\n"))
    result = CliRunner().invoke(main, ["plan", str(tmp_path / "p.yaml"), "--station", str(tmp_path / "s.yaml")])
    assert result.exit_code == 0, result.output
    assert "  psu channel 2: voltage ≤ 6 V" in result.output.splitlines()


def test_a_typed_selector_matches_only_its_own_output_and_never_a_lookalike():
    spec = KeysightE36312A.spec()["set"]
    rail = Guardrail("voltage", None, 6.0, (("channel", 2),), "voltage")
    assert guardrail_violation([rail], spec, {"channel": 2, "voltage": 20.0, "current_limit": 0.5})
    assert guardrail_violation([rail], spec, {"channel": 1, "voltage": 20.0, "current_limit": 0.5}) is None
    # True == 1 in Python: a yes/no never stands for output 1
    one = Guardrail("voltage", None, 6.0, (("channel", True),), "voltage")
    assert unbound(KeysightE36312A.spec(), (one,)) == [one]
    assert guardrail_violation([rail], spec, {"channel": 2, "voltage": float("nan"), "current_limit": 0.5})


def test_every_guardrail_of_the_shipped_stations_binds_a_real_target():
    from pathlib import Path

    for path in sorted((Path(__file__).resolve().parents[2] / "stations").glob("*.yaml")):
        st = load_station(path)
        for b in st.roles.values():
            assert not unbound(b.cls.spec(), b.guardrails), path
            assert bindings(b.cls.spec(), b.guardrails) or not b.guardrails, path
