"""Bad input is rejected before any instrument is touched: exit 2, file:line:col, a hint, no traceback."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bringup.cli import main
from bringup.run.session import open_station
from bringup.language.source import InvalidInput
from bringup.check.validate import check, load_procedure

HERE = Path(__file__).parent
GOOD = """procedure: ok
requires: {psu: power_supply, sled: sled}
phases:
  - id: p
    steps:
      - wait: 1 s
"""


def _expectation(path: Path) -> tuple[int, int, str]:
    first = path.read_bytes().split(b"\n", 1)[0].decode()
    m = re.match(r"# expect: (\d+):(\d+) (.+)", first)
    assert m, f"{path.name} needs a '# expect: LINE:COL text' header"
    return int(m.group(1)), int(m.group(2)), m.group(3).strip()


def _assert_rejected(result, path: Path) -> None:
    line, col, text = _expectation(path)
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    lines = result.output.splitlines() + [""]
    # a problem is its located line plus its hint line
    blocks = [l + "\n" + nxt for l, nxt in zip(lines, lines[1:]) if l.startswith(f"{path.name}:{line}:{col}: ")]
    assert any(text in b for b in blocks), result.output
    assert "nothing was run" in result.output


@pytest.mark.parametrize("path", sorted((HERE / "bad_procedures").glob("*.yaml")), ids=lambda p: p.stem)
def test_malformed_procedure_is_rejected_with_location(path, monkeypatch):
    monkeypatch.chdir(path.parent)
    result = CliRunner().invoke(main, ["validate", path.name, "--station", "fake"])
    _assert_rejected(result, path)


@pytest.mark.parametrize("path", sorted((HERE / "bad_stations").glob("*.yaml")), ids=lambda p: p.stem)
def test_malformed_station_is_rejected_with_location(path, monkeypatch, tmp_path):
    (tmp_path / "p.yaml").write_text(GOOD)
    monkeypatch.chdir(path.parent)
    result = CliRunner().invoke(main, ["run", str(tmp_path / "p.yaml"), "--station", path.name,
                                       "--store", str(tmp_path / "runs.sqlite")])
    _assert_rejected(result, path)
    assert not (tmp_path / "runs.sqlite").exists()  # rejected before the run was even recorded


def test_run_rejects_bad_procedure_before_touching_anything_in_a_real_process(tmp_path):
    bad = HERE / "bad_procedures" / "beyond_guardrail.yaml"
    proc = subprocess.run([sys.executable, "-m", "bringup.cli", "run", str(bad), "--station", "fake", "--store",
                           str(tmp_path / "runs.sqlite")], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr and "above the station limit" in proc.stderr
    assert not (tmp_path / "runs.sqlite").exists()


def test_several_errors_in_one_file_are_all_reported(tmp_path):
    p = tmp_path / "many.yaml"
    p.write_text("""procedure: x
requires: {psu: power_supply, sled: sled}
phases:
  - id: a
    steps:
      - do: psu.set
        with: {channel: 1, voltage: 3 A, current_limit: 1 A}
      - measure: sled.max_tj
        limit: {high: 95 V}
      - do: sled.warp
  - id: b
    after: nowhere
    steps: [{wait: 2 V}]
""")
    result = CliRunner().invoke(main, ["validate", str(p), "--station", "fake"])
    assert result.exit_code == 2
    located = [l for l in result.output.splitlines() if l.startswith(str(p))]
    assert [l.split(":")[1] for l in located] == ["7", "9", "10", "12", "13"]
    assert "5 problems found" in result.output


def test_unknown_parameter_override_is_rejected(tmp_path):
    p = tmp_path / "p.yaml"
    p.write_text(GOOD.replace("requires:", "parameters: {soak: 8 h}\nrequires:"))
    r = CliRunner().invoke(main, ["validate", str(p), "--station", "fake", "-p", "sok=1h"])
    assert r.exit_code == 2 and "no parameter 'sok'" in r.output and "soak" in r.output
    r = CliRunner().invoke(main, ["validate", str(p), "--station", "fake", "-p", "soak=3 V"])
    assert r.exit_code == 2 and "soak is a time" in r.output
    r = CliRunner().invoke(main, ["validate", str(p), "--station", "fake", "-p", "soak=30min"])
    assert r.exit_code == 0, r.output


# -- generated input --------------------------------------------------------------------------------
KEYS = ["procedure", "requires", "phases", "id", "steps", "do", "measure", "with", "limit", "low", "high", "wait",
        "after", "safe_state", "monitors", "read", "every", "sweep", "for_each", "soak", "duration", "expect",
        "timeout", "retry", "parameters", "on_fail", "psu", "sled", "channel", "voltage", "from", "to", "step"]
SCALARS = st.one_of(st.sampled_from(["12 V", "3 A", "psu.set", "sled.max_tj", "power_supply", "sled", "1 s", "on",
                                     "{soak}", "abort", "0.75 V ± 3%", "x > 1", "95 degC", "-10 mV", "p"]),
                    st.integers(-5, 20), st.floats(allow_nan=True), st.booleans(), st.none(), st.text(max_size=8))
TREES = st.recursive(SCALARS, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                       st.dictionaries(st.sampled_from(KEYS), inner, max_size=5)),
                     max_leaves=25)


def _validate_text(text: str) -> None:
    station = open_station("fake")
    try:
        proc, doc = load_procedure("gen.yaml", text)
        check(proc, doc, station)
    except InvalidInput as exc:
        assert exc.problems
        for p in exc.problems:
            assert p.file == "gen.yaml" and p.line >= 1 and p.col >= 1 and p.message


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(TREES)
def test_generated_procedures_are_accepted_or_rejected_with_locations_never_a_crash(tree):
    _validate_text(yaml.safe_dump(tree, allow_unicode=True))


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_mutated_valid_procedure_never_crashes_validation(data):
    base = (HERE.parent.parent / "tests" / "bringup" / "good_procedure.yaml").read_text()
    lines = base.splitlines()
    i = data.draw(st.integers(0, len(lines) - 1))
    op = data.draw(st.sampled_from(["delete", "indent", "dedent", "replace", "dup"]))
    if op == "delete":
        del lines[i]
    elif op == "indent":
        lines[i] = " " + lines[i]
    elif op == "dedent":
        lines[i] = lines[i][1:]
    elif op == "dup":
        lines.insert(i, lines[i])
    else:
        lines[i] = lines[i][: data.draw(st.integers(0, len(lines[i])))] + data.draw(st.text(max_size=6))
    _validate_text("\n".join(lines) + "\n")


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=200))
def test_arbitrary_bytes_never_crash_validation(tmp_path_factory, blob):
    p = tmp_path_factory.mktemp("junk") / "junk.yaml"
    p.write_bytes(blob)
    try:
        proc, doc = load_procedure(p)
        check(proc, doc, open_station("fake"))
    except InvalidInput as exc:
        assert all(pr.line >= 1 and pr.col >= 1 for pr in exc.problems)
