"""Hostile or absurd input never hangs, exhausts memory or crashes validation: every bound is a count
(nodes, levels, bytes, characters, runs), so these tests assert what was refused and where, and a
subprocess timeout is only a guard against a hang, never a measurement."""

from __future__ import annotations

import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from bringup.language import source
from bringup.cli import main
from bringup.run.session import open_station
from bringup.language.source import InvalidInput, load_yaml
from bringup.check.validate import validate
from bringup.language.yaml_core import MAX_DEPTH, MAX_NODES
from engine_helpers import run

HEAD = "procedure: x\nrequires: {psu: power_supply, sled: sled}\n"


def one_step(step: str) -> str:
    return HEAD + "phases:\n  - id: p\n    steps:\n      - " + step + "\n"


def problems_of(path: Path) -> list[source.Problem]:
    with pytest.raises(InvalidInput) as e:
        validate(path, open_station("fake"))
    return e.value.problems


def test_a_huge_file_is_refused_from_its_first_4_MiB_and_the_rest_is_never_read(tmp_path):
    p = tmp_path / "big.yaml"
    filler = "# " + "x" * 78 + "\n"
    p.write_text(one_step("wait: 1 s") + filler * (6 * 1024 * 1024 // len(filler)) + "bogus: [\n")
    [problem] = problems_of(p)
    assert "larger than 4 MiB" in problem.message and problem.hint
    assert problem.line > 50_000  # located where reading stopped: the broken line at the end was never parsed
    assert "bogus" not in problem.message


@pytest.mark.skipif(not os.path.exists("/dev/zero"), reason="needs /dev/zero")
def test_validate_dev_zero_reads_a_bounded_amount_and_says_what_it_is():
    proc = subprocess.run([sys.executable, "-m", "bringup.cli", "validate", "/dev/zero", "--station", "fake"],
                          capture_output=True, text=True, timeout=60)  # a hang guard, not a measurement
    assert proc.returncode == 2
    assert "/dev/zero:1:1: procedure is binary, not YAML text" in proc.stderr and "Traceback" not in proc.stderr


def test_an_alias_bomb_in_a_station_file_is_refused_in_a_real_process(tmp_path):
    bomb = Path(__file__).parent / "bad_stations" / "alias_bomb.yaml"
    proc = subprocess.run([sys.executable, "-m", "bringup.cli", "validate",
                           str(Path(__file__).parent / "good_procedure.yaml"), "--station", str(bomb)],
                          capture_output=True, text=True, timeout=60)  # a hang guard, not a measurement
    assert proc.returncode == 2 and "past 50,000 YAML nodes" in proc.stderr and "Traceback" not in proc.stderr


def test_an_include_outside_the_folder_is_refused_without_opening_it_or_naming_where_it_leads(tmp_path,
                                                                                            monkeypatch):
    secret = tmp_path / "secret.yaml"
    secret.write_text("procedure: secret\nrequires: {sled: sled}\nphases: [{id: s, steps: [{wait: 1 s}]}]\n")
    here = tmp_path / "lab"
    (here / "sub").mkdir(parents=True)
    (here / "sub" / "escape.yaml").symlink_to(secret)
    (here / "top.yaml").write_text("procedure: x\ninclude: [../secret.yaml, sub/escape.yaml, " + str(secret) +
                                   "]\nrequires: {sled: sled}\nphases: [{id: p, steps: [{wait: 1 s}]}]\n")
    station = open_station("fake")
    opened: list[str] = []
    real_read = source._read
    monkeypatch.setattr(source, "_read", lambda path, what: opened.append(str(path)) or real_read(path, what))
    with pytest.raises(InvalidInput) as e:
        validate(here / "top.yaml", station)
    problems = e.value.problems
    assert opened == [str(here / "top.yaml")]  # nothing outside the folder was read
    assert [(p.line, p.col) for p in problems] == [(2, 11), (2, 27), (2, 44)]
    assert [p.message.split(":")[0] for p in problems] == ["include ../secret.yaml", "include sub/escape.yaml",
                                                           f"include {secret}"]  # as written
    assert all("outside this procedure's folder" in p.message for p in problems)
    assert not any(str(secret) in p.message for p in problems[:2])  # the symlink's target is not echoed


def test_a_misspelled_step_kind_is_reported_with_every_other_problem_and_the_nearest_kind():
    path = Path(__file__).parent / "bad_procedures" / "misspelled_step_kind.yaml"
    result = CliRunner().invoke(main, ["validate", str(path), "--station", "fake"])
    assert result.exit_code == 2
    located = [l.split(":", 1)[1] for l in result.output.splitlines() if l.startswith(str(path))]
    assert [l.split(":")[0] for l in located] == ["7", "9", "11"]  # the typo, a wrong unit, a wrong limit
    assert "did you mean 'wait'?" in result.output and "3 problems found" in result.output


def test_a_fragment_with_a_schema_error_still_has_the_composite_checked(tmp_path):
    (tmp_path / "power.yaml").write_text(one_step("wiat: 1 s"))
    (tmp_path / "top.yaml").write_text("procedure: top\ninclude: power.yaml\nrequires: {psu: power_supply}\n"
                                       "phases:\n  - id: q\n    after: p\n    steps: [{wait: 2 V}]\n")
    where = sorted((Path(p.file).name, p.line) for p in problems_of(tmp_path / "top.yaml"))
    assert where == [("power.yaml", 6), ("top.yaml", 7)]


def test_a_value_the_unreadable_step_would_have_named_is_not_reported_again():
    text = one_step("meausre: sled.max_tj\n        as: tj\n      - compute: hot\n        value: tj * 2")
    with pytest.raises(InvalidInput) as e:
        from bringup.check.validate import check, load_procedure
        check(*load_procedure("x.yaml", text), open_station("fake"))
    assert [p.message for p in e.value.problems] == ["'meausre' is not a step kind"]


# -- YAML 1.2 core schema: only true/false are booleans ------------------------------------------------
def test_on_off_yes_no_stay_text_and_still_switch_outputs(tmp_path):
    o = run(tmp_path, """
procedure: switch
requires: {psu: power_supply, sled: sled}
safe_state:
  - psu.output: off
phases:
  - id: no
    steps:
      - do: psu.output
        name: yes
        with: {state: on}
      - measure: psu.voltage
        name: no
        gate: no
        limit: {high: 1 V}
""")
    assert o.result.exit_code == 0
    assert o.phase_states() == {"no": "passed"}  # a phase called `no` is the string "no", not False
    assert o.calls("psu") == ["output", "voltage", "output"] and o.drivers["psu"].enabled[1] is False


def test_scalars_resolve_by_the_yaml_1_2_core_schema():
    doc = load_yaml("s.yaml", "a: [on, off, yes, no, y, n, true, False, 1:30, 017, 0o17, 0x1F, 1e3, .inf, ~, null,"
                              " 2026-11-22, '1']\n")
    assert doc.data["a"][:8] == ["on", "off", "yes", "no", "y", "n", True, False]
    assert doc.data["a"][8:13] == ["1:30", 17, 15, 31, 1000.0]
    assert math.isinf(doc.data["a"][13]) and doc.data["a"][14:] == [None, None, "2026-11-22", "1"]


# -- generated hostile input -----------------------------------------------------------------------------
def _outcome(text: str) -> list[source.Problem]:
    """Problems of a generated procedure ([] if valid); anything but InvalidInput fails the test."""
    from bringup.check.validate import check, load_procedure
    try:
        check(*load_procedure("gen.yaml", text), open_station("fake"))
    except InvalidInput as exc:
        assert exc.problems and all(p.line >= 1 and p.col >= 1 and p.message for p in exc.problems)
        return exc.problems
    return []


@settings(max_examples=40, deadline=None)
@given(width=st.integers(1, 12), levels=st.integers(1, 9), inside_loop=st.booleans())
def test_nested_aliases_are_accepted_while_small_and_refused_past_the_node_bound(width, levels, inside_loop):
    lines = ["parameters:", "  l0: &l0 [" + ", ".join(["1"] * width) + "]"]
    lines += [f"  l{k}: &l{k} [" + ", ".join([f"*l{k - 1}"] * width) + "]" for k in range(1, levels)]
    body = f"for_each: {{x: *l{levels - 1}}}\n        steps: [{{wait: 1 ms}}]" if inside_loop else "wait: 1 s"
    text = HEAD + "\n".join(lines) + "\n" + one_step(body)[len(HEAD):]
    # nodes each anchored list stands for once expanded (the list itself and what it holds); every
    # one is written once in parameters, and the loop repeats the last
    sizes = [1 + width]
    for _ in range(1, levels):
        sizes.append(1 + width * sizes[-1])
    expanded = sum(sizes) + (sizes[-1] if inside_loop else 0)
    messages = " ".join(p.message for p in _outcome(text))
    if expanded > MAX_NODES:
        assert "YAML nodes (aliases expanded)" in messages
    elif expanded < MAX_NODES - 200:  # the rest of the file is a few dozen nodes
        assert "YAML nodes" not in messages


@settings(max_examples=30, deadline=None)
@given(depth=st.integers(0, 40), mapping=st.booleans())
def test_a_recursive_alias_at_any_depth_is_refused_at_the_alias(depth, mapping):
    inner = "*loop"
    for k in range(depth):
        inner = f"{{k{k}: {inner}}}" if mapping else f"[{inner}]"
    [p] = _outcome(one_step(f"wait: &loop [{inner}]"))
    assert p.message.startswith("recursive alias *loop") and p.line == 6


@settings(max_examples=40, deadline=None)
@given(depth=st.integers(1, 300), kinds=st.lists(st.booleans(), min_size=1, max_size=4))
def test_deep_nesting_is_refused_past_the_depth_bound_never_a_recursion_error(depth, kinds):
    value = "1"
    for k in range(depth):
        value = f"{{a: {value}}}" if kinds[k % len(kinds)] else f"[{value}]"
    messages = " ".join(p.message for p in _outcome(one_step(f"wait: {value}")))
    assert ("levels deep" in messages) == (5 + depth > MAX_DEPTH)  # the step is at level 5


@settings(max_examples=40, deadline=None)
@given(sizes=st.lists(st.integers(1, 60), min_size=1, max_size=5), nested=st.booleans())
def test_loops_are_refused_past_a_million_runs_and_accepted_below(sizes, nested):
    axes = ", ".join(f"v{i}: [{', '.join(map(str, range(n)))}]" for i, n in enumerate(sizes))
    if nested:
        step = f"for_each: {{outer: [1, 2]}}\n        steps:\n          - for_each: {{{axes}}}\n" \
               "            steps: [{wait: 1 ms}]"
    else:
        step = f"for_each: {{{axes}}}\n        steps: [{{wait: 1 ms}}]"
    runs = math.prod(sizes) * (2 if nested else 1)
    problems = _outcome(one_step(step))
    assert bool(problems) == (runs > 1_000_000)
    assert all(f"{runs:,} times" in p.message for p in problems)


@settings(max_examples=30, deadline=None)
@given(chain=st.integers(1, 6), back_to=st.data())
def test_include_cycles_of_any_length_are_refused(tmp_path_factory, chain, back_to):
    d = tmp_path_factory.mktemp("cycle")
    target = back_to.draw(st.integers(0, chain - 1))
    for k in range(chain):
        nxt = k + 1 if k + 1 < chain else target
        (d / f"f{k}.yaml").write_text(f"procedure: f{k}\ninclude: f{nxt}.yaml\nrequires: {{sled: sled}}\n"
                                      f"phases: [{{id: p{k}, steps: [{{wait: 1 s}}]}}]\n")
    problems = problems_of(d / "f0.yaml")
    assert [p.message.split(":")[0] for p in problems] == ["include cycle"]
    assert problems[0].file.endswith(f"f{chain - 1}.yaml")


@settings(max_examples=40, deadline=None)
@given(path=st.one_of(st.builds(lambda n, tail: "../" * n + tail, st.integers(1, 8),
                                st.sampled_from(["etc/passwd", "secret.yaml", "x/../../y.yaml"])),
                      st.sampled_from(["/proc/self/environ", "/etc/shadow", "/dev/zero", "sub/../../out.yaml"])))
def test_includes_that_leave_the_folder_are_refused_as_written(tmp_path_factory, path):
    d = tmp_path_factory.mktemp("outside") / "lab"
    d.mkdir()
    (d / "top.yaml").write_text(f"procedure: x\ninclude: ['{path}']\nrequires: {{sled: sled}}\n"
                                "phases: [{id: p, steps: [{wait: 1 s}]}]\n")
    [p] = problems_of(d / "top.yaml")
    assert p.message == f"include {path}: outside this procedure's folder" and (p.line, p.col) == (2, 11)


@settings(max_examples=50, deadline=None)
@given(number=st.sampled_from(["nan", "inf", "-inf", "1e999", "-1e999"]), side=st.sampled_from(["low", "high"]),
       where=st.sampled_from(["measure", "monitor", "compute"]))
def test_limits_that_are_not_finite_are_refused_at_the_limit(number, side, where):
    limit = f"limit: {{{side}: {number} A}}"
    if where == "measure":
        text = one_step(f"measure: psu.current\n        {limit}")
    elif where == "compute":
        text = one_step(f"measure: psu.current\n        as: i\n      - compute: twice\n        value: i * 2\n"
                        f"        {limit}")
    else:
        text = HEAD + f"monitors:\n  - read: psu.current\n    every: 1 s\n    {limit}\n" + \
            one_step("wait: 1 s")[len(HEAD):]
    [p] = _outcome(text)
    assert p.message.startswith(f"{side} limit '{number} A' is ") and "finite" in p.message


_SECONDS = {"ns": 1e-9, "us": 1e-6, "ms": 1e-3, "s": 1.0, "min": 60.0, "h": 3600.0}


@settings(max_examples=80, deadline=None)
@given(amount=st.one_of(st.sampled_from([0, -1, 1, 0.5, 999, 720, 721]), st.floats(-1e12, 1e12)),
       symbol=st.sampled_from(sorted(_SECONDS)), what=st.sampled_from(["wait", "poll", "every", "monitor", "timeout"]))
def test_time_spans_are_accepted_exactly_within_their_bounds(amount, symbol, what):
    text_value = f"{amount:g} {symbol}"
    s = float(f"{amount:g}") * _SECONDS[symbol]
    if what == "wait":
        text, ok = one_step(f"wait: {text_value}"), 0 <= s <= 30 * 86400
    elif what == "poll":
        text = one_step(f"wait_until: {{condition: 'psu.current < 1 A', timeout: 1 s, poll: {text_value}}}")
        ok = 1e-3 <= s <= 30 * 86400
    elif what == "every":
        text = one_step(f"soak: {{duration: 720 h, every: {text_value}}}\n        steps: [{{wait: 0 s}}]")
        ok = 1e-3 <= s <= 30 * 86400 and 30 * 86400 / s + 1 <= 1_000_000
    elif what == "monitor":
        text = HEAD + f"monitors:\n  - read: psu.current\n    every: {text_value}\n    limit: {{high: 1 A}}\n" + \
            one_step("wait: 1 s")[len(HEAD):]
        ok = 1e-2 <= s <= 30 * 86400  # an interlock's floor is what a transport can answer
    else:
        text, ok = one_step(f"wait: 1 s\n        timeout: {text_value}"), 0 < s <= 30 * 86400
    assert (not _outcome(text)) == ok, text


def test_a_long_sweep_is_checked_against_guardrails_by_its_extremes_not_point_by_point(monkeypatch):
    from bringup.check import binding
    calls = []
    real = binding.convert_args
    monkeypatch.setattr(binding, "convert_args", lambda *a: calls.append(1) or real(*a))
    step = "- do: psu.set\n            with: {channel: 1, voltage: \"{v}\", current_limit: 1 A}\n"
    text = one_step("sweep: {v: {from: 0 V, to: 9.999 V, step: 1 mV}}\n        steps:\n" + "          " +
                    "          ".join([step] * 200))
    assert _outcome(text) == []
    assert len(calls) == 200 * 2  # 10,000 points x 200 steps would be 2,000,000 conversions (minutes)


def test_one_value_past_a_guardrail_in_the_middle_of_a_loop_is_still_refused():
    [p] = _outcome(one_step("for_each: {v: [1 V, 2 V, 14 V, 3 V, 4 V]}\n        steps:\n"
                            "          - do: psu.set\n            with: {channel: 1, voltage: \"{v}\", current_limit: 1 A}"))
    assert "voltage = 14 V is above the station limit" in p.message


@pytest.mark.parametrize("command", ["validate", "run", "plan"])
@pytest.mark.parametrize("which", ["procedure", "station"])
def test_a_folder_given_as_an_input_file_is_refused_like_any_input(tmp_path, command, which):
    folder = tmp_path / "procedures"
    folder.mkdir()
    good = str(Path(__file__).parent / "good_procedure.yaml")
    args = [command, str(folder), "--station", "fake"] if which == "procedure" else \
        [command, good, "--station", str(folder)]
    result = CliRunner().invoke(main, args + (["--store", str(tmp_path / "runs.sqlite")] if command == "run" else []))
    what = "procedure" if which == "procedure" else "station file"
    assert result.exit_code == 2 and isinstance(result.exception, SystemExit)
    assert result.output.startswith(f"{folder}:1:1: {what} is a folder, not a YAML file\n    hint: give one .yaml")
    assert "Usage:" not in result.output and not (tmp_path / "runs.sqlite").exists()


@pytest.mark.parametrize("sled", ["/dev/zero", "folder", "alias_bomb"])
def test_a_sled_description_is_read_within_the_same_bounds_in_a_real_process(tmp_path, sled):
    if sled == "/dev/zero" and not os.path.exists("/dev/zero"):
        pytest.skip("needs /dev/zero")
    path = {"/dev/zero": "/dev/zero", "folder": str(tmp_path),
            "alias_bomb": str(Path(__file__).parent / "bad_stations" / "alias_bomb.yaml")}[sled]
    good = str(Path(__file__).parent / "good_procedure.yaml")
    # the timeout is a hang guard, not a measurement
    proc = subprocess.run([sys.executable, "-m", "bringup.cli", "run", good, "--sled", path,
                           "--store", str(tmp_path / "runs.sqlite")], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    expected = {"/dev/zero": "/dev/zero:1:1: sled description is binary, not YAML text",
                "folder": f"{path}:1:1: sled description is a folder, not a YAML file",
                "alias_bomb": "past 50,000 YAML nodes"}[sled]
    assert expected in proc.stderr and not (tmp_path / "runs.sqlite").exists()
