"""pytest plugin: bring-up procedures as tests (registered through the `pytest11` entry point).

    pytest procedures/                                  # against the default (embedded) station
    pytest procedures/ --bringup-station bench.yaml --junitxml report.xml

Each procedure file is a test file, each phase a group and each top-level step of a phase a
test item; the safe state is a group of its own. The procedure runs once, whole, by the real
runner (gates, interlocks, safe state) when its first item runs; every item then reports what
its step did: measurements with value, unit and limits as the item's properties (so they land
in `--junitxml`), FAIL as a failure with one readable line, and the steps behind a failed gate,
or after the step where a phase stopped, as skipped with the reason. Selecting items (`-k`)
chooses what is reported, never what runs: a gated procedure cannot run half of itself.

YAML is collected only when asked: files passed by name, files under a directory named
`procedures` passed on the command line, or any procedure file under the given paths with
`--bringup`. So `pytest` in this repository (testpaths = tests) never runs a procedure, and the
YAML corpora under tests/ stay data. A file is a procedure when it has a top-level
`procedure:` key.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from bringup.pytest_plugin.summary import RUNS

_PROCEDURE = re.compile(rb"^procedure\s*:", re.MULTILINE)


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("bringup", "bring-up procedures as tests")
    group.addoption("--bringup", action="store_true", default=False,
                    help="collect every procedure YAML file under the given paths (by default only files "
                         "named on the command line or under a 'procedures' directory given on it)")
    group.addoption("--bringup-station", metavar="FILE", default=None,
                    help="station file to run procedures against, or 'fake' for the in-memory fake bench "
                         "(default: the embedded simulated lab, as `bringup run`)")
    group.addoption("--bringup-store", metavar="FILE", default=None,
                    help="results store (default: $BRINGUP_STORE, else ./bringup-results/runs.sqlite)")
    group.addoption("--bringup-dut", metavar="SERIAL", default="unknown", help="serial number of the DUT")
    group.addoption("--bringup-param", metavar="NAME=VALUE", action="append", default=[],
                    help="override a procedure parameter (repeatable); it applies to the procedures that "
                         "declare it")
    group.addoption("--bringup-fault", metavar="NAME[:TARGET][@TIME]", action="append", default=[],
                    help="embedded simulator: inject a catalog fault (repeatable; see `bringup sim faults`)")
    group.addoption("--bringup-seed", metavar="N", type=int, default=0,
                    help="embedded simulator: random seed (default 0)")


def pytest_configure(config: pytest.Config) -> None:
    config.stash[RUNS] = []


def _wanted(config: pytest.Config, path: Path) -> bool:
    if config.getoption("bringup", False):
        return True
    target = path.resolve()
    for arg in config.args:
        given = (Path(config.invocation_params.dir) / arg.split("::")[0]).resolve()
        if given == target or (given.is_dir() and given.name == "procedures" and given in target.parents):
            return True
    return False


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    if file_path.suffix not in (".yaml", ".yml") or not _wanted(parent.config, file_path):
        return None
    try:
        with open(file_path, "rb") as f:
            head = f.read(1 << 16)
    except OSError:
        return None
    if not _PROCEDURE.search(head):
        return None
    from bringup.pytest_plugin.nodes import ProcedureFile

    return ProcedureFile.from_parent(parent, path=file_path)


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    runs = config.stash.get(RUNS, [])
    if runs:
        terminalreporter.section("bringup")
        for line in runs:
            terminalreporter.write_line(line)


