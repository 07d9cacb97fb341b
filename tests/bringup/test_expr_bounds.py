"""Expressions of any shape are parsed, or refused with a located ExprError: never a RecursionError,
an OverflowError or a hang. The bounds are counts (characters, nesting, operator levels), so these
tests say exactly where acceptance ends (bringup/language/expr_tokens.py)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from bringup.check.validate import check, load_procedure
from bringup.language import expr
from bringup.language.expr_tokens import MAX_DEPTH, MAX_LENGTH, MAX_NESTING
from bringup.language.source import InvalidInput
from bringup.run.session import open_station

ATOMS = st.sampled_from(["1", "0", "2.5", "1e308", "-0", "3 V", "250 mV", "2 A", "x", "vdd", "sled.max_tj",
                         "psu.current(channel=1)", "95 degC", "nan", "inf", "1e-308"])
BINARY = st.sampled_from([" + ", " - ", " * ", " / ", " < ", " <= ", " > ", " == ", " and ", " or ", "+", "*"])


def _compose(inner):
    return st.one_of(
        st.tuples(inner, BINARY, inner).map("".join),
        st.tuples(st.sampled_from(["-", "+", "not ", "- "]), inner).map("".join),
        inner.map(lambda e: f"({e})"),
        st.tuples(st.sampled_from(["exp", "abs"]), inner).map(lambda t: f"{t[0]}({t[1]})"),
        st.tuples(st.sampled_from(["min", "max"]), inner, inner).map(lambda t: f"{t[0]}({t[1]}, {t[2]})"),
    )


EXPRESSIONS = st.recursive(ATOMS, _compose, max_leaves=200)


def _dims(role, name, args):
    return {"max_tj": "temperature", "current": "current"}[name]


@settings(max_examples=400, deadline=None)
@given(EXPRESSIONS, st.integers(0, 60))
def test_any_expression_parses_checks_and_runs_or_is_refused_with_an_expr_error(text, wrap):
    text = "(" * wrap + text + ")" * wrap
    try:
        node = expr.parse(text)
        expr.check(node, {"x": "voltage", "vdd": "voltage"}, _dims)
        if not expr.readings_in(node):
            expr.compile_expr(node, {"x": 1.0, "vdd": 0.75}, None)()
    except expr.TooComplex as exc:
        assert exc.hint and 0 <= exc.offset <= len(text)
    except expr.ExprError as exc:
        assert 0 <= exc.offset <= len(text)


def _grammatical(wrappers: list[str]) -> list[str]:
    """`not` binds looser than a sign: `-not 1` is not an expression, `not -1` and `-(not 1)` are."""
    out: list[str] = []
    for w in wrappers:
        if not (w == "not " and out and out[-1] in ("-", "+")):
            out.append(w)
    return out


def _levels(wrappers: list[str]) -> int:
    """What the bound counts: parentheses open around a token plus the signs and `not`s right before it."""
    nesting = run = most = 0
    for w in wrappers:
        if w.endswith("("):
            nesting, run = nesting + 1, 0
        else:
            run += 1
        most = max(most, nesting + run)
    return most


@settings(max_examples=200, deadline=None)
@given(wrappers=st.lists(st.sampled_from(["(", "-", "+", "not ", "abs(", "exp("]), max_size=400).map(_grammatical))
def test_nesting_is_refused_exactly_past_its_bound_at_any_depth(wrappers):
    text = "".join(wrappers) + "1" + ")" * sum(w.endswith("(") for w in wrappers)
    try:
        node = expr.parse(text)
    except expr.TooComplex as exc:
        assert _levels(wrappers) > MAX_NESTING or len(text) > MAX_LENGTH, text
        assert f"nested more than {MAX_NESTING} deep" in str(exc) or "characters long" in str(exc)
        return
    assert _levels(wrappers) <= MAX_NESTING and len(text) <= MAX_LENGTH
    if set(wrappers) <= {"(", "-", "+"}:  # plain arithmetic: the value is what the signs make it
        assert expr.compile_expr(node, {}, None)() == (-1) ** wrappers.count("-")


@settings(max_examples=100, deadline=None)
@given(terms=st.integers(1, 400), op=st.sampled_from(["+", " + ", " * ", " - "]))
def test_a_long_chain_is_accepted_up_to_its_operator_levels_and_refused_after(terms, op):
    text = op.join(["1"] * terms)
    try:
        node = expr.parse(text)
    except expr.TooComplex as exc:
        assert terms > MAX_DEPTH or len(text) > MAX_LENGTH
        assert "operators deep" in str(exc) or "characters long" in str(exc)
        return
    assert terms <= MAX_DEPTH and len(text) <= MAX_LENGTH
    value = expr.compile_expr(node, {}, None)()
    assert value == {"+": terms, " + ": terms, " * ": 1, " - ": 2 - terms}[op]


def test_a_megabyte_expression_is_refused_by_its_length_before_it_is_tokenized():
    [p] = _problems("measure: psu.current\n        limit: {high: \"" + "(1 A + " * 150_000 + "1 A\"}")
    assert "the expression is 1,050,003 characters long (at most 1,000)" in p.message and (p.line, p.col) == (8, 23)


HEAD = "procedure: x\nrequires: {psu: power_supply, sled: sled}\nparameters: {vdd: 0.75 V}\n"


def _problems(step: str) -> list:
    text = HEAD + "phases:\n  - id: p\n    steps:\n      - " + step + "\n"
    try:
        check(*load_procedure("gen.yaml", text), open_station("fake"))
    except InvalidInput as exc:
        assert all(p.line >= 1 and p.col >= 1 and p.message for p in exc.problems)
        return exc.problems
    return []


@settings(max_examples=150, deadline=None)
@given(EXPRESSIONS, st.sampled_from(["compute", "limit", "condition"]))
def test_generated_expressions_in_a_procedure_are_accepted_or_refused_located(text, where):
    quoted = text.replace("\\", "\\\\").replace('"', '\\"')
    if where == "compute":
        step = f"measure: psu.current\n        as: x\n      - compute: y\n        value: \"{quoted}\""
    elif where == "limit":
        step = f"measure: psu.current\n        limit: {{high: \"{quoted}\"}}"
    else:
        step = f"wait_until: {{condition: \"{quoted}\", timeout: 1 s, poll: 10 ms}}"
    _problems(step)  # only InvalidInput may come out, every problem located
