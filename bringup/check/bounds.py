"""What a procedure may ask of time and numbers: refused at validation, each where it was written.

Everything here is known before the run (literals, parameters, `-p` overrides, loop values) and
would otherwise surface hours into a night, or never:

- limits, tolerances and parameters are finite numbers (`high: nan A` passes nothing, ever);
- time spans lie within [0, 30 days]: waits may be zero; timeouts and soak durations are
  longer than zero; intervals (poll, soak `every`) are at least 1 ms, a monitor's `every` at
  least 10 ms (what a transport can answer), and a soak's `every` is no longer than its duration;
- a block of steps runs at most 1,000,000 times, loops within loops multiplied (for_each
  combinations, sweep points, search points times repeats, soak samples);
- a compute value or limit made of such constants does not divide by zero, overflow exp() or
  come to NaN or infinity.
"""

from __future__ import annotations

import itertools
import math
from typing import Any

from bringup.check import binding
from bringup.language import expr
from bringup.language.procedure import ComputeStep, DoStep, ForEachStep, Limit, MeasureStep, Procedure, SearchStep, SoakStep, SweepRange, SweepStep, Value, WaitStep, WaitUntilStep
from bringup.language.source import Document, Loc, Problem
from bringup.core.units import Quantity, UnitError, expect_reference, parse_expect

MAX_TIME = 30 * 24 * 3600.0  # s: a lock-in is a night, a long soak a week or two
MIN_INTERVAL = 1e-3  # s: no bench instrument is read faster; a shorter interval is a typo (1 ns for 1 s)
# s: an interlock is one query over the transport each time it is due, inside every wait. A SCPI
# query over a LAN socket or a console line takes milliseconds to answer (a DMM integrating at its
# default aperture, tens), so an interlock due faster is always late and the run does nothing but
# read it: 10 ms is the fastest the bench's transports answer, and 100 times a night's usual 1 s.
MIN_MONITOR_INTERVAL = 10e-3
_INTERVAL_HINT = "intervals are at least 1 ms (no instrument is read faster); did you mean s or ms?"
_MONITOR_HINT = ("an interlock is read over the instrument's transport each time it is due, and no bench "
                 "transport answers faster than about 10 ms; did you mean s or ms?")
MAX_RUNS = 1_000_000  # executions of one block of steps, nested loops multiplied
_COMBOS = 1_000  # loop-value combinations a constant expression is worked out for
_EXP_MAX = math.log(1.7976931348623157e308)


class _AtRunTime:
    """In scope: a value that exists only once the run reads it (`as:`, a soak's `t`).

    Not the verdict UNKNOWN (states.Verdict): this one never leaves the bounds check."""


AT_RUN_TIME = _AtRunTime()
Scope = dict[str, list[Any]]


def check(proc: Procedure, doc: Document, params: dict[str, Any], overridden: Any = ()) -> list[Problem]:
    """Every bound above that `proc` crosses, located in `doc` (or on the command line for -p)."""
    b = _Bounds(doc)
    for name, v in params.items():
        if isinstance(v, Quantity) and not math.isfinite(v.value):
            where = "-p " + name if name in overridden else None
            b.fail(("parameters", name), f"parameter {name} is {v}: a parameter is a finite number",
                   "give it a value such as 0.75 V", where)
    scope: Scope = {n: [v] for n, v in params.items()}
    for i, m in enumerate(proc.monitors):
        b.time(m.every, ("monitors", i, "every"), scope, "monitor interval", MIN_MONITOR_INTERVAL, hint=_MONITOR_HINT)
        b.limit(m.limit, ("monitors", i, "limit"), scope)
    b.steps(proc.safe_state, ("safe_state",), scope, 1)
    for i, p in enumerate(proc.phases):
        b.time(p.timeout, ("phases", i, "timeout"), scope, "phase timeout", 0.0, strict=True)
        b.steps(p.steps, ("phases", i, "steps"), scope, 1)
    return b.problems


class _Bounds:
    def __init__(self, doc: Document) -> None:
        self.doc = doc
        self.problems: list[Problem] = []

    def fail(self, loc: Loc, message: str, hint: str, command_line: str | None = None) -> None:
        if command_line:
            self.problems.append(Problem("<command line>", 1, 1, f"{command_line}: {message}", hint))
        else:
            self.problems.append(self.doc.problem(loc, message, hint))

    # values ---------------------------------------------------------------------------------------
    def values(self, v: Value, loc: Loc, scope: Scope, what: str) -> list[float]:
        """The SI values `v` takes (for up to _COMBOS loop combinations); [] where not known yet."""
        if v.const is not None:
            return [v.const.si]
        assert v.node is not None
        return self.folded(v.node, loc, scope, what, v.text)

    def folded(self, node: expr.Node, loc: Loc, scope: Scope, what: str, text: str) -> list[float]:
        names = sorted(expr.names_in(node))
        # names known only in the run stay open: a division by a constant zero is still one
        axes = [scope[n] if n in scope and AT_RUN_TIME not in scope[n] else [AT_RUN_TIME] for n in names]
        out: list[float] = []
        for combo in itertools.islice(itertools.product(*axes), _COMBOS):
            try:
                got = _fold(node, dict(zip(names, combo)))
            except expr.ExprError as exc:
                at = ", ".join(f"{n} = {x}" for n, x in zip(names, combo) if x is not AT_RUN_TIME)
                self.fail(loc, f"{what} '{text}': {exc} (column {exc.offset + 1}){' where ' + at if at else ''}",
                          exc.hint)
                return []
            if got is not AT_RUN_TIME and isinstance(got, float):
                out.append(got)
        return out

    def finite(self, v: Value | None, loc: Loc, scope: Scope, what: str, hint: str) -> None:
        if v is None:
            return
        for si in self.values(v, loc, scope, what):
            if not math.isfinite(si):
                self.fail(loc, f"{what} '{v}' is {_word(si)}: it must be a finite number", hint)
                return

    def limit(self, lim: Limit | None, loc: Loc, scope: Scope) -> None:
        if lim is None:
            return
        for side, v in (("low", lim.low), ("high", lim.high)):
            self.finite(v, loc + (side,), scope, f"{side} limit", f"to leave that side open, leave '{side}' out")

    def time(self, v: Value | None, loc: Loc, scope: Scope, what: str, least: float, strict: bool = False,
             hint: str = _INTERVAL_HINT) -> list[float]:
        """Check a time span; returns the values it takes (SI seconds) for further checks."""
        if v is None or _dimension(v, scope) != "time":
            return []  # the wrong kind of quantity, or not known before the run: reported by validate
        got = self.values(v, loc, scope, what)
        for s in got:
            shown = f"'{v}'" + ("" if v.const is not None else f" (= {s:g} s)")
            if math.isnan(s):
                self.fail(loc, f"{what} {shown} is not a number", "give a time such as '100 ms'")
            elif s < 0:
                self.fail(loc, f"{what} {shown} is negative", "a time span is zero or more, e.g. '100 ms'")
            elif strict and s <= least:
                self.fail(loc, f"{what} {shown} must be longer than zero", "give a time such as '5 s'")
            elif s < least:
                self.fail(loc, f"{what} {shown} is shorter than {least * 1e3:g} ms", hint)
            elif s > MAX_TIME:
                self.fail(loc, f"{what} {shown} is longer than 30 days", "the longest time span a procedure may "
                          "ask for is 30 days; split a longer run into several")
            else:
                continue
            return []
        return got

    # steps ----------------------------------------------------------------------------------------
    def steps(self, steps: list[Any], loc: Loc, scope: Scope, runs: int) -> None:
        scope = dict(scope)
        for i, step in enumerate(steps):
            sloc = loc + (i,)
            self.time(step.timeout, sloc + ("timeout",), scope, "timeout", 0.0, strict=True)
            check_step = _STEPS.get(type(step))
            if check_step is not None:
                check_step(self, step, sloc, scope, runs)
            named = getattr(step, "as_", None) or getattr(step, "compute", None)
            if named:
                scope[named] = [AT_RUN_TIME]

    def loop(self, step: Any, loc: Loc, scope: Scope, runs: int, times: int, how: str) -> None:
        total = runs * times
        if total > MAX_RUNS:
            self.fail(loc, f"this {how} runs its steps {total:,} times{' (loops within loops multiplied)' if runs > 1 else ''}",
                      f"at most {MAX_RUNS:,} runs of a block of steps; use fewer points or values, or split it "
                      "into several procedures")
            total = 1  # said once, at the outermost loop that crosses it
        self.steps(step.steps, loc + ("steps",), scope, total)
        self.steps(getattr(step, "recover", []), loc + ("recover",), scope, total)  # at most once a point

    def measure(self, step: MeasureStep, loc: Loc, scope: Scope, runs: int) -> None:
        self.limit(step.limit, loc + ("limit",), scope)
        if step.expect is None:
            return
        try:
            ref = [v for v in scope.get(expect_reference(step.expect) or "", []) if isinstance(v, Quantity)]
            nominal, low, high = parse_expect(step.expect, ref[0] if ref else None)
        except (UnitError, IndexError):
            return  # reported by validate
        if not all(math.isfinite(q.value) for q in (nominal, low, high)):
            self.fail(loc + ("expect",), f"expect '{step.expect}' is not finite: its limits would be {low} to {high}",
                      "give a finite nominal and tolerance, such as '0.75 V ± 3%', or a one-sided 'limit'")

    def compute(self, step: ComputeStep, loc: Loc, scope: Scope, runs: int) -> None:
        try:
            node = expr.parse(step.value)
        except expr.ExprError:
            return  # reported by the schema
        for si in self.folded(node, loc + ("value",), scope, f"compute {step.compute}", step.value):
            if not math.isfinite(si):
                self.fail(loc + ("value",), f"compute {step.compute}: '{step.value}' comes to {_word(si)} from "
                          "values known before the run", "check the constants and parameters it uses")
                break
        self.limit(step.limit, loc + ("limit",), scope)

    def wait(self, step: WaitStep, loc: Loc, scope: Scope, runs: int) -> None:
        self.time(step.wait, loc + ("wait",), scope, "wait", 0.0)

    def wait_until(self, step: WaitUntilStep, loc: Loc, scope: Scope, runs: int) -> None:
        c, cloc = step.wait_until, loc + ("wait_until",)
        self.time(c.timeout, cloc + ("timeout",), scope, "timeout", 0.0, strict=True)
        self.time(c.poll, cloc + ("poll",), scope, "poll interval", MIN_INTERVAL)

    def for_each(self, step: ForEachStep, loc: Loc, scope: Scope, runs: int) -> None:
        inner = dict(scope)
        for name, values in step.for_each.items():
            inner[name] = binding.literal_axis(values) or [0]
        self.loop(step, loc, inner, runs, math.prod(len(v) or 1 for v in step.for_each.values()), "for_each")

    def sweep(self, step: SweepStep, loc: Loc, scope: Scope, runs: int) -> None:
        inner, times = dict(scope), 1
        for name, axis in step.sweep.items():
            if isinstance(axis, SweepRange):
                points = self.range(axis, loc + ("sweep", name), scope)
            else:
                points = binding.literal_axis(axis)
            inner[name] = points or [AT_RUN_TIME]
            times *= max(1, len(points))
        self.loop(step, loc, inner, runs, times, "sweep")

    def search(self, step: SearchStep, loc: Loc, scope: Scope, runs: int) -> None:
        s = step.search
        points = self.range(s, loc + ("search",), scope)  # type: ignore[arg-type]  # from/to/step, as a sweep's
        self.finite(s.restore, loc + ("search", "restore"), scope, "restore", "give a finite setting")
        self.limit(step.limit, loc + ("limit",), scope)
        self.loop(step, loc, {**scope, s.param: points or [AT_RUN_TIME]}, runs, max(1, len(points)) * s.repeats,
                  "search")

    def soak(self, step: SoakStep, loc: Loc, scope: Scope, runs: int) -> None:
        sloc = loc + ("soak",)
        durations = self.time(step.soak.duration, sloc + ("duration",), scope, "soak duration", 0.0, strict=True)
        everies = self.time(step.soak.every, sloc + ("every",), scope, "soak interval", MIN_INTERVAL)
        samples = 1
        if durations and everies:
            if max(everies) > min(durations):
                self.fail(sloc + ("every",), f"soak interval '{step.soak.every}' is longer than the soak's duration "
                          f"'{step.soak.duration}': its steps would run once", "make 'every' at most the duration")
            samples = int(math.floor(max(durations) / min(everies) + 1e-9)) + 1
        self.loop(step, loc, {**scope, "t": [AT_RUN_TIME]}, runs, samples, "soak")

    def range(self, axis: SweepRange, loc: Loc, scope: Scope) -> list[Any]:
        """An axis's points where they are known and few enough to fold over; finite ends either way."""
        ends = []
        for key, v in (("from", axis.from_), ("to", axis.to), ("step", axis.step)):
            got = self.values(v, loc + (key,), scope, f"{key}")
            if any(not math.isfinite(x) for x in got):
                self.fail(loc + (key,), f"'{key}: {v}' is not finite", "give a finite setting")
                return []
            ends.append(got)
        try:
            first = {n: v[0] for n, v in scope.items() if v and v[0] is not AT_RUN_TIME}
            return binding.range_axis(axis, first)
        except (ValueError, KeyError, ZeroDivisionError):
            return []  # a bad step is reported by validate; an unknown end leaves the count open


_STEPS = {MeasureStep: _Bounds.measure, ComputeStep: _Bounds.compute, WaitStep: _Bounds.wait,
          WaitUntilStep: _Bounds.wait_until, ForEachStep: _Bounds.for_each, SweepStep: _Bounds.sweep,
          SearchStep: _Bounds.search, SoakStep: _Bounds.soak, DoStep: None}


def _fold(node: expr.Node, names: dict[str, Any]) -> Any:
    """The value of a constant expression (AT_RUN_TIME where it depends on the run); ExprError, at its
    column, for a division by zero or an exp() that overflows."""
    if isinstance(node, expr.Num):
        return node.si
    if isinstance(node, expr.Name):
        v = names.get(node.name, AT_RUN_TIME)
        return v.si if isinstance(v, Quantity) else float(v) if isinstance(v, (int, float)) else AT_RUN_TIME
    if isinstance(node, (expr.Read, expr.Str)):
        return AT_RUN_TIME
    if isinstance(node, expr.Unary):
        x = _fold(node.operand, names)
        return AT_RUN_TIME if x is AT_RUN_TIME else float(not x) if node.op == "not" else -x
    if isinstance(node, expr.Call):
        xs = [_fold(a, names) for a in node.args]
        if any(x is AT_RUN_TIME for x in xs):
            return AT_RUN_TIME
        if node.func == "exp":
            if xs[0] > _EXP_MAX:
                raise expr.ExprError(f"exp() of {xs[0]:g} overflows (more than 1.8e308)", node.pos,
                                     "check the units of its argument: exp() takes a plain number, e.g. beta in /K "
                                     "times a temperature difference")
            return math.exp(xs[0])
        return {"abs": abs, "min": min, "max": max}[node.func](*xs)
    assert isinstance(node, expr.Binary)
    a, b = _fold(node.left, names), _fold(node.right, names)
    if node.op == "/" and b == 0:
        raise expr.ExprError("division by zero", node.pos, "the divisor is zero for values known before the run: "
                             "check the parameter or loop value it uses")
    if a is AT_RUN_TIME or b is AT_RUN_TIME or node.op not in _ARITHMETIC:
        return AT_RUN_TIME  # comparisons and and/or make a condition, not a value
    return _ARITHMETIC[node.op](a, b)


_ARITHMETIC = {"+": lambda a, b: a + b, "-": lambda a, b: a - b, "*": lambda a, b: a * b, "/": lambda a, b: a / b}


def _dimension(v: Value, scope: Scope) -> str | None:
    if v.const is not None:
        return v.const.dimension
    known = {n: vals for n, vals in scope.items() if vals and vals[0] is not AT_RUN_TIME}
    try:
        return binding.value_dimension(v, binding.dims_of_scope(known))
    except expr.ExprError:
        return None


def _word(x: float) -> str:
    return "NaN (not a number)" if math.isnan(x) else "infinite"
