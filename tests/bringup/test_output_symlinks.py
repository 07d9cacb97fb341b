"""Every file bringup writes is new, made with the user's umask, and never written through a
symlink planted where it goes (a shared lab machine, a CI workspace): the file the link points at
is left as it was, and the command exits 2 naming the path it refused."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from bringup.cli import main

PROCEDURE = """procedure: tiny
requires: {psu: power_supply}
safe_state:
  - psu.output: off
phases:
  - id: p
    steps:
      - measure: psu.voltage
        with: {channel: 1}
        limit: {high: 13 V}
"""
PRECIOUS = "someone else's file\n"


@pytest.fixture()
def outside(tmp_path: Path) -> Path:
    """A file outside the work folder that a planted link points at."""
    p = tmp_path / "elsewhere" / "authorized_keys"
    p.parent.mkdir()
    p.write_text(PRECIOUS)
    return p


@pytest.fixture()
def work(tmp_path: Path) -> Path:
    w = tmp_path / "work"
    w.mkdir()
    (w / "p.yaml").write_text(PROCEDURE)
    return w


def _run(work: Path, *extra: str) -> object:
    return CliRunner().invoke(main, ["run", str(work / "p.yaml"), "--station", "fake", *extra])


def _stored_run(work: Path) -> Path:
    store = work / "runs.sqlite"
    assert _run(work, "--store", str(store)).exit_code == 0
    return store


@pytest.mark.parametrize("planted", ["runs.sqlite", "runs.sqlite-wal", "runs.sqlite-journal"])
@pytest.mark.parametrize("dangling", [False, True])
def test_a_store_path_that_is_a_symlink_is_refused_and_its_target_untouched(work, outside, planted, dangling):
    target = outside.with_name("not_yet") if dangling else outside
    (work / planted).symlink_to(target)
    result = _run(work, "--store", str(work / "runs.sqlite"))
    assert result.exit_code == 2 and isinstance(result.exception, SystemExit)
    assert f"refusing to open results store {work / 'runs.sqlite'}: {work / planted} is a symbolic link" \
        in result.output
    assert outside.read_text() == PRECIOUS and not outside.with_name("not_yet").exists()


@pytest.mark.parametrize("fmt", ["json", "csv", "junit", "stdf"])
def test_an_export_onto_a_symlink_is_refused_and_its_target_untouched(work, outside, fmt):
    store = _stored_run(work)
    out = work / f"run.{fmt}"
    out.symlink_to(outside)
    result = subprocess.run([sys.executable, "-m", "bringup.cli", "export", "latest", "--format", fmt, "-o",
                             str(out), "--store", str(store)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert f"refusing to write {out}: it is a symbolic link (to {outside})" in result.stderr
    assert outside.read_text() == PRECIOUS and out.is_symlink()


def test_a_junit_report_onto_a_symlink_is_refused_and_the_run_still_recorded(work, outside):
    out = work / "junit.xml"
    out.symlink_to(outside)
    store = work / "runs.sqlite"
    result = _run(work, "--store", str(store), "--junit", str(out))
    assert result.exit_code == 2 and f"refusing to write {out}: it is a symbolic link" in result.output
    assert outside.read_text() == PRECIOUS
    assert "results: run 1" in result.output  # the run stands; only its report was refused


def test_sim_serve_does_not_write_its_station_file_through_a_symlink(work, outside):
    out = work / "station.yaml"
    out.symlink_to(outside)
    result = subprocess.run([sys.executable, "-m", "bringup.cli", "sim", "serve", "--station-out", str(out)],
                            capture_output=True, text=True, timeout=120)  # exits at once: a hang guard only
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert f"refusing to write {out}: it is a symbolic link (to {outside})" in result.stderr
    assert "--station-out" in result.stderr and outside.read_text() == PRECIOUS


@pytest.mark.parametrize("mask", [0o022, 0o002, 0o077])
def test_files_written_are_created_with_the_users_umask(work, mask):
    store = work / "runs.sqlite"
    out = work / "run.json"
    before = os.umask(mask)
    try:
        assert _run(work, "--store", str(store)).exit_code == 0
        assert CliRunner().invoke(main, ["export", "latest", "--format", "json", "-o", str(out), "--store",
                                         str(store)]).exit_code == 0
    finally:
        os.umask(before)
    for p in (store, out):
        assert stat.S_IMODE(p.stat().st_mode) == 0o666 & ~mask, p
