"""Units, expectations and the expression language: what a procedure's numbers mean."""

from __future__ import annotations

import json
import math

import pytest
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st

from bringup.language import expr
from bringup.cli import main
from bringup.core.units import UnitError, parse_expect, parse_quantity


@pytest.mark.parametrize("text, si, dim", [
    ("12 V", 12.0, "voltage"), ("300mA", 0.3, "current"), ("1.5 L/min", 1.5, "flow"), ("30 degC", 303.15, "temperature"),
    ("8 h", 28800.0, "time"), ("30min", 1800.0, "time"), ("3%", 0.03, "ratio"), ("1e-12", 1e-12, "number"),
    ("-10 mV", -0.01, "voltage"), ("1.4 GHz", 1.4e9, "frequency"), ("32 GT/s", 32e9, "transfer_rate"),
    ("96 GiB", 96 * 2**30, "bytes"), ("0.15 mOhm", 0.15e-3, "resistance"), ("100 °C", 373.15, "temperature"),
])
def test_quantities_as_a_lab_writes_them(text, si, dim):
    q = parse_quantity(text)
    assert q.si == pytest.approx(si) and q.dimension == dim


@pytest.mark.parametrize("text", ["12 Volts", "V 12", "twelve V", "", "1.2.3 V"])
def test_nonsense_quantities_are_rejected_with_a_hint(text):
    with pytest.raises(UnitError, match="quantity|unknown unit"):
        parse_quantity(text)


def test_expectations_give_symmetric_limits():
    nominal, lo, hi = parse_expect("0.75 V ± 3%")
    assert (lo.value, hi.value) == pytest.approx((0.7275, 0.7725))
    _, lo, hi = parse_expect("0.75 V +/- 20 mV")
    assert (lo.value, hi.value) == pytest.approx((0.73, 0.77))
    _, lo, hi = parse_expect("30 degC ± 2 K")  # a tolerance is a difference, not an absolute temperature
    assert (lo.value, hi.value) == pytest.approx((28.0, 32.0))
    with pytest.raises(UnitError, match="give it in % or in V"):
        parse_expect("0.75 V ± 2 A")


@given(st.floats(-1e6, 1e6, allow_nan=False), st.sampled_from(["V", "mV", "A", "mA", "W", "s", "ms", "h", "degC",
                                                                 "K", "L/min", "GHz"]))
def test_quantity_text_round_trips(value, sym):
    q = parse_quantity(f"{value!r} {sym}")
    assert q.value == value and q.unit.symbol == sym
    assert parse_quantity(str(q)).si == pytest.approx(q.si, rel=1e-5, abs=1e-9)


def _dims(role, name, args):
    return {"max_tj": "temperature", "current": "current"}[name]


def test_conditions_check_dimensions_before_anything_runs():
    ok = expr.parse("psu.current(channel=1) < 2 A and sled.max_tj < 95 degC")
    assert expr.check(ok, {}, _dims) == "bool"
    with pytest.raises(expr.ExprError, match="cannot compare a temperature with a current") as e:
        expr.check(expr.parse("sled.max_tj > 2 A"), {}, _dims)
    assert e.value.offset == 12  # points at the operator
    with pytest.raises(expr.ExprError, match="unknown name 'vdd'"):
        expr.check(expr.parse("vdd * 2"), {"vdd_core": "voltage"}, _dims)


def test_conditions_read_instruments_in_si():
    reads = []

    def read(role, name, args):
        reads.append((role, name, args))
        return 363.15  # 90 degC, in kelvin
    f = expr.compile_expr(expr.parse("sled.max_tj(chip=2) < 95 degC"), {}, read)
    assert f() is True and reads == [("sled", "max_tj", {"chip": 2.0})]


def test_expressions_are_not_python():
    for text in ["__import__('os')", "a.b.c", "x[0]", "lambda: 1", "1 if 2 else 3", "x; y"]:
        with pytest.raises(expr.ExprError):
            expr.check(expr.parse(text), {"x": "number", "y": "number"}, _dims)


@given(st.lists(st.tuples(st.sampled_from(["+", "-", "*"]), st.integers(-50, 50)), min_size=1, max_size=8),
       st.integers(-50, 50))
def test_arithmetic_agrees_with_ordinary_arithmetic(ops, first):
    text = str(first) + "".join(f" {op} ({n})" for op, n in ops)
    expected = first
    # our grammar gives * precedence over + and -, as ordinary arithmetic does
    terms, cur = [], first
    for op, n in ops:
        if op == "*":
            cur = cur * n
        else:
            terms.append(cur)
            cur = n if op == "+" else -n
    expected = sum(terms) + cur
    assert expr.compile_expr(expr.parse(text), {}, None)() == expected


def test_schema_is_json_schema_an_editor_can_use():
    r = CliRunner().invoke(main, ["schema"])
    assert r.exit_code == 0
    schema = json.loads(r.output)
    assert schema["$schema"].startswith("https://json-schema.org/")
    assert {"procedure", "requires"} <= set(schema["required"]) and "phases" in schema["properties"]
    defs = schema["$defs"]
    for model, key in [("DoStep", "do"), ("MeasureStep", "measure"), ("WaitStep", "wait"),
                       ("WaitUntilStep", "wait_until"), ("ForEachStep", "for_each"), ("SweepStep", "sweep"),
                       ("SoakStep", "soak")]:
        assert key in defs[model]["required"] and defs[model]["additionalProperties"] is False
    assert "with" in defs["DoStep"]["properties"]  # the YAML spelling, not the Python one
    assert "power_supply" in schema["properties"]["requires"]["additionalProperties"]["examples"]


def test_schema_with_a_station_lists_its_actions(tmp_path):
    from engine_helpers import station_with

    r = CliRunner().invoke(main, ["schema", "--station", str(station_with(tmp_path))])
    schema = json.loads(r.output)
    assert "psu.set" in schema["$defs"]["DoStep"]["properties"]["do"]["examples"]
    assert "sled.max_tj" in schema["$defs"]["MeasureStep"]["properties"]["measure"]["examples"]


def test_drivers_lists_every_action_with_units_and_help():
    r = CliRunner().invoke(main, ["drivers"])
    assert r.exit_code == 0
    assert "fake.power_supply  (power_supply)" in r.output
    assert "set(channel: int, one of 1, 2, 3, voltage: V, [0, 30], current_limit: A, [0, 500])" in r.output
    assert "Program a channel's voltage" in r.output
    assert "max_tj() -> degC" in r.output


def test_drivers_with_a_name_describes_that_driver_alone():
    r = CliRunner().invoke(main, ["drivers", "keysight.e36312a"])
    assert r.exit_code == 0
    assert r.output.startswith("keysight.e36312a  (power_supply)") and "fake.power_supply" not in r.output
    r = CliRunner().invoke(main, ["drivers", "bringup.drivers.fake:FakeSled"])  # a name, never an import path
    assert r.exit_code == 2 and "is an import path" in r.output


@pytest.mark.parametrize("name, suggestion", [("keysight.e3631a", "did you mean keysight.e36312a?"),
                                              ("oscilloscope", ""), ("nowhere.module:Driver", "")])
def test_drivers_with_an_unknown_name_exits_2_and_lists_the_known_names(name, suggestion):
    from bringup.drivers import BUILTIN

    r = CliRunner().invoke(main, ["drivers", name])
    assert r.exit_code == 2 and isinstance(r.exception, SystemExit)  # no traceback
    assert suggestion in r.output and all(known in r.output for known in BUILTIN)
    assert ("is an import path" in r.output) == (":" in name)
