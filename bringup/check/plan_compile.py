"""Compiling a checked procedure into the plan tree (`plan.py`): one compile function per step
kind, keyed by kind in `_COMPILE`. Runs only after every check passed, so nothing here reports
problems; it works out ids, labels, driver calls, constant arguments, limits and the station
guardrails each call was checked against.
"""

from __future__ import annotations

import math
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Callable

from bringup.check import binding
from bringup.language import expr
from bringup.drivers.base import ActionSpec
from bringup.check.plan import Call, GuardrailCheck, MonitorPlan, PhasePlan, Plan, PlanStep, fixed, kind_of, plan_measure
from bringup.language.procedure import Limit, Procedure, SweepRange, Value
from bringup.language.source import Loc
from bringup.core.units import UNITS, Quantity, format_quantity
from bringup.core.verdict import describe_limits

if TYPE_CHECKING:  # only its type: a view making an outline needs no station or drivers
    from bringup.check.station import Station

SAFE_STATE = "safe_state"


class _Compiler:
    def __init__(self, proc: Procedure, station: Station | None, params: dict[str, Any],
                 units: dict[Loc, str]) -> None:
        self.proc, self.station, self.params = proc, station, params
        self.units = units  # a compute step's unit, by its place in the file (worked out by its check)

    # -- pieces ---------------------------------------------------------------------------------
    def call(self, ref: str, with_: dict[str, Any]) -> Call | None:
        if self.station is None:  # an outline: no drivers to resolve the call against
            return None
        role, name = ref.split(".", 1)
        spec: ActionSpec = self.station.roles[role].cls.spec()[name]
        raw, _ = binding.args_of(spec, with_)
        loops = any(binding.names_in(v) for v in raw.values()
                    if not set(binding.names_in(v)) <= self.params.keys())
        args = None if loops else binding.convert_args(spec, raw, self.params)
        return Call(role, name, spec, raw, args, self.guardrails(role, spec, args),
                    self.call_text(ref, spec, raw, args))

    def call_text(self, ref: str, spec: ActionSpec, raw: dict[str, Any], args: dict[str, Any] | None) -> str:
        """`cdu.start(setpoint=30 degC, flow=6 L/min)`: the call with its arguments and their units;
        an argument a loop sets shows as written, parameters filled in (`chip={chip}, duration=1 s`)."""
        if args is not None:
            return call_label(ref, spec, args)  # the words the run records the call under
        shown = {k: self.raw_text(v) for k, v in raw.items()}
        return ref + (f"({', '.join(f'{k}={v}' for k, v in shown.items())})" if shown else "")

    def raw_text(self, raw: Any) -> str:
        if isinstance(raw, str) and set(binding.names_in(raw)) <= self.params.keys() and binding.names_in(raw):
            try:
                value = binding.substitute(raw, self.params)
            except (KeyError, ValueError):
                return raw
            return str(value)
        return format_arg(raw, None)

    def guardrails(self, role: str, spec: ActionSpec, args: dict[str, Any] | None) -> tuple[GuardrailCheck, ...]:
        out = []
        for g in self.station.roles[role].guardrails:
            p = spec.params.get(g.param)
            if p is None:
                continue
            if args is None:
                out.append(GuardrailCheck(g.param, None, g.describe(p.unit or "")))
            elif g.param in args and g.applies(args):
                out.append(GuardrailCheck(g.param, format_arg(args[g.param], p.unit), g.describe(p.unit or "")))
        return tuple(out)

    def value_text(self, v: Value | None) -> str | None:
        """A value as written, with a parameter it names expanded (`{settle}` -> `2 s`)."""
        if v is None:
            return None
        if v.const is not None:
            return str(v.const)
        names = expr.names_in(v.node) if v.node is not None else set()
        if len(names) == 1 and v.text.strip().strip("{}").strip() in names and next(iter(names)) in self.params:
            return str(self.params[next(iter(names))])
        return v.text

    def limit_text(self, lim: Limit | None, unit_symbol: str) -> str | None:
        if lim is None:
            return None
        if all(v is None or fixed(v, self.params) for v in (lim.low, lim.high)):
            try:
                lo = None if lim.low is None else binding.value_in(lim.low, self.params, unit_symbol)
                hi = None if lim.high is None else binding.value_in(lim.high, self.params, unit_symbol)
                return describe_limits(lo, hi, unit_symbol)
            except (KeyError, ValueError):
                pass
        parts = [f"low {lim.low}" if lim.low is not None else "", f"high {lim.high}" if lim.high is not None else ""]
        return ", ".join(p for p in parts if p) + " (per point)"

    # -- steps ----------------------------------------------------------------------------------
    def steps(self, steps: list[Any], loc: Loc, parent: str) -> tuple[PlanStep, ...]:
        return tuple(self.step(s, loc + (i,), f"{parent}/{i + 1}") for i, s in enumerate(steps))

    def step(self, step: Any, loc: Loc, sid: str) -> PlanStep:
        kind = kind_of(step)
        return _COMPILE[kind](self, step, loc, sid)

    def do(self, step: Any, loc: Loc, sid: str) -> PlanStep:
        return PlanStep(sid, "do", step.name or step.do, loc, step, call=self.call(step.do, step.with_))

    def measure(self, step: Any, loc: Loc, sid: str) -> PlanStep:
        c = self.call(step.measure, step.with_)
        if c is None:
            return PlanStep(sid, "measure", step.name or step.measure, loc, step)
        m = plan_measure(step, c.spec, self.params)
        if m.low_expr is None and m.high_expr is None:
            limits = None if m.low is None and m.high is None else describe_limits(m.low, m.high, m.unit)
        else:
            limits = self.limit_text(step.limit, m.unit)
        return PlanStep(sid, "measure", step.name or step.measure, loc, step, call=c, measure=m, unit=m.unit,
                        limits=limits)

    def compute(self, step: Any, loc: Loc, sid: str) -> PlanStep:
        u = self.units.get(loc, step.unit or "")
        return PlanStep(sid, "compute", step.name or step.compute, loc, step, unit=u,
                        limits=self.limit_text(step.limit, u))

    def search(self, step: Any, loc: Loc, sid: str) -> PlanStep:
        s = step.search
        c = self.call(s.set, {**s.with_, s.param: "{" + s.param + "}"})
        u = (c.spec.params[s.param].unit or "") if c is not None else ""
        try:
            n = len(binding.range_axis(s, self.params))
            loop = f"{s.param} from {self.value_text(s.from_)} toward {self.value_text(s.to)} step " \
                   f"{self.value_text(s.step)} ({n} points at most), each {s.repeats} times"
        except (KeyError, ValueError):
            loop = f"{s.param} from {s.from_} toward {s.to} step {s.step}, each {s.repeats} times"
        return PlanStep(sid, "search", step.name or f"{s.param} search", loc, step, call=c, unit=u,
                        limits=self.limit_text(step.limit, u), loop=loop,
                        steps=self.steps(step.steps, loc + ("steps",), sid))

    def wait(self, step: Any, loc: Loc, sid: str) -> PlanStep:
        return PlanStep(sid, "wait", step.name or f"wait {self.value_text(step.wait)}", loc, step)

    def wait_until(self, step: Any, loc: Loc, sid: str) -> PlanStep:
        c = step.wait_until
        loop = f"poll every {self.value_text(c.poll)} for at most {self.value_text(c.timeout)}"
        return PlanStep(sid, "wait_until", step.name or f"wait_until {c.condition}", loc, step, loop=loop)

    def for_each(self, step: Any, loc: Loc, sid: str) -> PlanStep:
        loop = " × ".join(f"{n} in [{', '.join(map(str, vs))}]" for n, vs in step.for_each.items())
        return PlanStep(sid, "for_each", step.name or f"for_each[{','.join(step.for_each)}]", loc, step, loop=loop,
                        steps=self.steps(step.steps, loc + ("steps",), sid))

    def sweep(self, step: Any, loc: Loc, sid: str) -> PlanStep:
        axes = []
        for name, axis in step.sweep.items():
            if isinstance(axis, SweepRange):
                try:
                    n = f" ({len(binding.range_axis(axis, self.params))} points)"
                except (KeyError, ValueError):
                    n = ""  # a range over an outer loop's variable: its size is known per point
                axes.append(f"{name} from {self.value_text(axis.from_)} to {self.value_text(axis.to)} "
                            f"step {self.value_text(axis.step)}{n}")
            else:
                axes.append(f"{name} in [{', '.join(map(str, axis))}]")
        return PlanStep(sid, "sweep", step.name or f"sweep[{','.join(step.sweep)}]", loc, step, loop=" × ".join(axes),
                        steps=self.steps(step.steps, loc + ("steps",), sid),
                        recover=self.steps(step.recover, loc + ("recover",), sid + "/recover"))

    def soak(self, step: Any, loc: Loc, sid: str) -> PlanStep:
        duration, every = self.value_text(step.soak.duration), self.value_text(step.soak.every)
        loop = f"for {duration}, every {every}"
        try:
            d, e = binding.evaluate(step.soak.duration, self.params), binding.evaluate(step.soak.every, self.params)
            loop += f" ({max(1, math.ceil(d / e - 1e-9))} samples)" if e > 0 else ""  # at 0, E, ... < D: run/steps.py
        except (KeyError, ValueError):
            pass
        return PlanStep(sid, "soak", step.name or "soak", loc, step, loop=loop,
                        steps=self.steps(step.steps, loc + ("steps",), sid))

    # -- the whole ------------------------------------------------------------------------------
    def monitors(self) -> tuple[MonitorPlan, ...]:
        out = []
        for i, m in enumerate(self.proc.monitors):
            c = self.call(m.read, m.with_)
            if c is None:
                continue
            armed = ("during " + ", ".join(m.during) if m.during else "") + \
                    ((" and " if m.during else "") + f"after {m.after} passed" if m.after else "")
            out.append(MonitorPlan(f"monitors/{i + 1}", m.name or m.read, c, self.value_text(m.every) or "",
                                   self.limit_text(m.limit, c.spec.unit or "") or "no limit", m.on_violation,
                                   armed or "always", m))
        return tuple(out)

    def plan(self, order: list[str]) -> Plan:
        phases = tuple(PhasePlan(p.id, i, tuple(p.after), p.on_fail, p.retries, self.value_text(p.timeout),
                                 self.steps(p.steps, ("phases", i, "steps"), p.id), p)
                       for i, p in enumerate(self.proc.phases))
        safe = self.steps(self.proc.safe_state, (SAFE_STATE,), SAFE_STATE)
        by_id = {s.id: s for top in [s for p in phases for s in p.steps] + list(safe) for s in top.walk()}
        return Plan(self.proc.procedure, self.proc.version, self.station.name if self.station else None,
                    dict(self.params), phases,
                    tuple(order), self.monitors(), safe, MappingProxyType(by_id))


_COMPILE: dict[str, Callable[[_Compiler, Any, Loc, str], PlanStep]] = {
    "do": _Compiler.do, "measure": _Compiler.measure, "compute": _Compiler.compute, "search": _Compiler.search,
    "wait": _Compiler.wait, "wait_until": _Compiler.wait_until, "for_each": _Compiler.for_each,
    "sweep": _Compiler.sweep, "soak": _Compiler.soak,
}


def compile_plan(proc: Procedure, station: Station, params: dict[str, Any], order: list[str],
                 units: dict[Loc, str]) -> Plan:
    """The plan of a procedure that passed every check against `station`."""
    return _Compiler(proc, station, params, units).plan(order)


def outline_plan(proc: Procedure, params: dict[str, Any]) -> Plan:
    """The plan's tree without a station (for views that have only the procedure and the run's
    parameters): every step's id, kind, label, loops and model; no driver calls, no interlocks.
    Raises what a value the run's parameters cannot fill raises (KeyError, ValueError, ...)."""
    return _Compiler(proc, None, params, {}).plan([p.id for p in proc.phases])


def call_label(ref: str, spec: ActionSpec, args: dict[str, Any]) -> str:
    """What the record calls a driver call made with these (converted) arguments: the plan's words,
    units kept (`psu.set(channel=1, voltage=12 V, current_limit=40 A)`), for loop-set values too."""
    shown = {k: format_arg(v, spec.params[k].unit if k in spec.params else None) for k, v in args.items()}
    return ref + (f"({', '.join(f'{k}={v}' for k, v in shown.items())})" if shown else "")


_PREFIXES = (("G", 1e9), ("M", 1e6), ("k", 1e3))


def format_arg(v: Any, unit_symbol: str | None) -> str:
    """An argument for people: `1.4 GHz` rather than `1.4e+09 Hz`, `on` for true."""
    if isinstance(v, bool):
        return "on" if v else "off"
    if isinstance(v, Quantity):
        return str(v)
    if isinstance(v, (int, float)) and unit_symbol:
        for prefix, factor in _PREFIXES:
            if abs(v) >= factor and prefix + unit_symbol in UNITS:
                return format_quantity(float(v) / factor, prefix + unit_symbol)
        return format_quantity(float(v), unit_symbol)
    return f"{v:g}" if isinstance(v, float) else str(v)
