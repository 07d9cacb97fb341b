"""Procedures composed from fragments (`include:`): one run, one safe state, errors where they were written."""

from __future__ import annotations

from pathlib import Path

import pytest

from bringup.run.session import open_station
from bringup.language.source import InvalidInput
from bringup.check.validate import validate
from engine_helpers import run

POWER = """
procedure: power
requires: {psu: power_supply, sled: sled}
parameters: {input_v: 12 V}
safe_state: [sled.power_off]
phases:
  - id: power_on
    steps:
      - do: psu.set
        with: {channel: 1, voltage: "{input_v}", current_limit: 40 A}
      - do: sled.power_on
"""
LINKS = """
procedure: links
include: power.yaml
requires: {sled: sled}
phases:
  - id: links
    after: power_on
    steps:
      - measure: sled.prbs_ber
        with: {port: 0}
        limit: {high: 1e-12}
"""
ALL = """
procedure: all
include: [power.yaml, links.yaml]
requires: {sled: sled, psu: power_supply}
parameters: {input_v: 12.5 V}
safe_state: [sled.stress_stop, sled.power_off, {psu.output: off}]
phases:
  - id: stress
    after: links
    steps: [{do: sled.stress_start}, {wait: 1 min}]
"""


def files(tmp_path: Path, **texts: str) -> None:
    for name, text in texts.items():
        (tmp_path / f"{name}.yaml").write_text(text)


def test_a_composite_runs_every_fragment_once_in_order_with_its_own_safe_state(tmp_path):
    files(tmp_path, power=POWER, links=LINKS)
    o = run(tmp_path, ALL.replace("power.yaml", str(tmp_path / "power.yaml")).replace(
        "links.yaml", str(tmp_path / "links.yaml")))
    assert o.result.exit_code == 0
    assert list(o.phase_states()) == ["power_on", "links", "stress"]  # power.yaml counted once
    assert o.drivers["psu"].setpoint[1] == 12.5  # the including file's parameter wins
    assert o.calls("sled")[-2:] == ["stress_stop", "power_off"]  # the composite's safe state
    assert o.calls("psu")[-1] == "output"


def test_a_fragment_that_declares_no_safe_state_keeps_the_one_it_builds_on(tmp_path):
    files(tmp_path, power=POWER, links=LINKS)
    checked = validate(tmp_path / "links.yaml", open_station("fake"))
    assert [s.do for s in checked.procedure.safe_state] == ["sled.power_off"]
    assert [p.id for p in checked.procedure.phases] == ["power_on", "links"]


def test_errors_are_reported_in_the_file_and_line_that_hold_them(tmp_path):
    files(tmp_path, power=POWER.replace("do: sled.power_on", "do: sled.warp"), top=ALL.replace(
        "include: [power.yaml, links.yaml]", "include: [power.yaml]").replace("after: links", "after: power_on"))
    with pytest.raises(InvalidInput) as e:
        validate(tmp_path / "top.yaml", open_station("fake"))
    [p] = e.value.problems
    assert p.file.endswith("power.yaml") and p.line == 11 and "no action 'warp'" in p.message


def test_missing_and_cyclic_includes_are_located(tmp_path):
    files(tmp_path, a="procedure: a\ninclude: b.yaml\nrequires: {sled: sled}\nphases: [{id: a, steps: [{wait: 1 s}]}]\n",
          b="procedure: b\ninclude: a.yaml\nrequires: {sled: sled}\nphases: [{id: b, steps: [{wait: 1 s}]}]\n",
          c="procedure: c\ninclude: [nowhere.yaml]\nrequires: {sled: sled}\nphases: [{id: c, steps: [{wait: 1 s}]}]\n")
    with pytest.raises(InvalidInput, match="include cycle: a.yaml -> b.yaml -> a.yaml"):
        validate(tmp_path / "a.yaml", open_station("fake"))
    with pytest.raises(InvalidInput) as e:
        validate(tmp_path / "c.yaml", open_station("fake"))
    assert "c.yaml:2:11: included file nowhere.yaml not found" in str(e.value).replace(str(tmp_path) + "/", "")


def test_a_role_must_be_one_kind_across_fragments(tmp_path):
    files(tmp_path, power=POWER, top=ALL.replace("include: [power.yaml, links.yaml]", "include: [power.yaml]")
          .replace("requires: {sled: sled, psu: power_supply}", "requires: {sled: sled, psu: multimeter}")
          .replace("after: links", "after: power_on"))
    with pytest.raises(InvalidInput, match="role 'psu' is a multimeter here but a power_supply"):
        validate(tmp_path / "top.yaml", open_station("fake"))
