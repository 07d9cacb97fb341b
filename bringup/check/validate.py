"""Validation before anything is touched: schema, units, bindings to driver actions, the phase
graph, parameters, and the station's guardrails. Every problem is reported at once, each with
file:line:col, what is wrong and what would fix it.
"""

from __future__ import annotations

import difflib
import hashlib
import itertools
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import yaml

from bringup.check import binding, bounds, holds
from bringup.language import expr, salvage
from bringup.check.phase_order import topological
from bringup.language.procedure_file import load_procedure
from bringup.check.characterization import CharacterizationChecks
from bringup.check.step_checks import StepChecks
from bringup.drivers.base import ActionSpec, guardrail_violation
from bringup.check.plan import Plan, kind_of
from bringup.check.plan_compile import compile_plan
from bringup.language.procedure import IDENT, RESERVED_PHASE_IDS, Limit, Procedure, SweepRange, Value
from bringup.language.source import Document, InvalidInput, Loc, Problem
from bringup.check.station import Station
from bringup.core.units import DIMENSIONLESS, Quantity, UnitError, parse_quantity, unit

_MAX_COMBINATIONS = 10_000


@dataclass
class Checked:
    """A procedure that passed validation against a station, ready for the runner."""

    procedure: Procedure
    document: Document
    station: Station
    parameters: dict[str, Any]
    sha256: str
    order: list[str]  # phases in dependency order
    plan: Plan  # the compiled plan the runner walks (plan.py)


# -- semantics -----------------------------------------------------------------------------------
class _Checker(StepChecks, CharacterizationChecks):
    def __init__(self, proc: Procedure, doc: Document, station: Station, overrides: dict[str, str]) -> None:
        self.proc, self.doc, self.station = proc, doc, station
        self.problems: list[Problem] = []
        self.params = self._parameters(overrides)
        self.units: dict[Loc, str] = {}  # each compute step's unit, by its place in the file, for the plan
        self.extremes: dict[int, Any] = {}  # a loop axis's smallest and largest value (binding.representatives)

    def fail(self, loc: Loc, message: str, hint: str = "", key: bool = False) -> None:
        self.problems.append(self.doc.problem(loc, message, hint, key))

    # parameters -------------------------------------------------------------------------------
    def _parameters(self, overrides: dict[str, str]) -> dict[str, Any]:
        values = {name: binding.parse_parameter(p.default) for name, p in self.proc.parameters.items()}
        for name, text in overrides.items():
            if name not in values:
                known = ", ".join(values) or "none"
                self.problems.append(Problem("<command line>", 1, 1, f"-p {name}: the procedure has no parameter '{name}'",
                                             f"its parameters: {known}"))
                continue
            try:
                raw = yaml.safe_load(text) if text.strip() else text
            except yaml.YAMLError:
                raw = text
            new = binding.parse_parameter(raw)
            old = values[name]
            if isinstance(old, Quantity) and (not isinstance(new, Quantity) or
                                              (new.dimension != old.dimension and old.unit is not DIMENSIONLESS)):
                self.problems.append(Problem("<command line>", 1, 1,
                                             f"-p {name}={text}: {name} is a {old.dimension} (default {old})",
                                             f"give it with a unit, e.g. -p {name}={old}"))
                continue
            values[name] = new
        return values

    # roles and actions ------------------------------------------------------------------------
    def roles(self) -> None:
        for role, kind in self.proc.requires.items():
            b = self.station.roles.get(role)
            loc = ("requires", role)
            if b is None:
                self.fail(loc, f"role '{role}' ({kind}) is not in station '{self.station.name}' ({self.station.file})",
                          f"the station has: {', '.join(self.station.roles) or 'no roles'}", key=True)
            elif b.cls.kind != kind:
                self.fail(loc, f"role '{role}' must be a {kind}, but station '{self.station.name}' binds it to "
                               f"{b.driver_name}, a {b.cls.kind}")

    def spec(self, ref: str, kind: str, loc: Loc) -> tuple[str, ActionSpec] | None:
        role, name = ref.split(".", 1)
        if role not in self.proc.requires:
            self.fail(loc, f"unknown role '{role}' in '{ref}'",
                      f"declare it under 'requires:' (roles: {', '.join(self.proc.requires) or 'none'})")
            return None
        b = self.station.roles.get(role)
        if b is None:
            return None  # reported once in roles()
        specs = b.cls.spec()
        s = specs.get(name)
        want = "reading" if kind == "reading" else "action"
        if s is None or s.kind != want:
            names = sorted(n for n, x in specs.items() if x.kind == want)
            close = difflib.get_close_matches(name, names, n=1)
            other = " (it is a reading: use 'measure')" if s is not None and want == "action" else \
                " (it is an action: use 'do')" if s is not None else ""
            hint = f"did you mean '{role}.{close[0]}'?" if close else f"{role}'s {want}s: {', '.join(names)}"
            self.fail(loc, f"{b.driver_name} ({role}) has no {want} '{name}'{other}", hint)
            return None
        return role, s

    def args(self, role: str, s: ActionSpec, with_: dict[str, Any], loc: Loc, scope: dict[str, list[Any]]) -> None:
        raw, errors = binding.args_of(s, with_)
        for e in errors:
            self.fail(loc + (("with", e.key) if e.key else ()), str(e), e.hint, key=e.key is not None)
        rails = self.station.roles[role].guardrails
        used = sorted({n for v in raw.values() for n in binding.names_in(v)})
        for n in used:
            if n not in scope:
                self.fail(loc + ("with",), f"{{{n}}} is not defined here",
                          "define it under 'parameters:' or in an enclosing for_each/sweep")
                return
            if scope[n] and isinstance(scope[n][0], binding.Measured):
                self.fail(loc + ("with",), f"{{{n}}} is read during the run, so it cannot be an instrument argument: "
                          "arguments are checked against the station's guardrails before anything runs",
                          "use a parameter, or a 'search' step to move a setting point by point")
                return
        selectors = {k for g in rails for k, _ in g.where}
        combos = itertools.product(*(binding.representatives(s, raw, n, scope[n], selectors, self.extremes)
                                     for n in used))
        for i, combo in enumerate(combos):
            if i >= _MAX_COMBINATIONS:
                break
            values = dict(zip(used, combo))
            try:
                args = binding.convert_args(s, raw, values)
            except binding.BindError as e:
                self.fail(loc + ("with", e.key) if e.key else loc, str(e), _unit_hint(s, e.key))
                return
            why = guardrail_violation(rails, s, args)
            if why:
                self.fail(loc + ("with",), f"{role}.{why}",
                          f"station '{self.station.name}' forbids it ({self.station.file}); lower the value "
                          "or, if the hardware allows it, raise the station's guardrail")
                return

    # values and limits ------------------------------------------------------------------------
    def value(self, v: Value | None, dim: str, loc: Loc, scope: dict[str, list[Any]], what: str) -> None:
        if v is None:
            return
        try:
            got = binding.value_dimension(v, binding.dims_of_scope(scope))
        except expr.ExprError as exc:
            self.fail(loc, f"{what}: {exc}", exc.hint)
            return
        if got == dim or (dim == "number" and got in ("ratio", "number")):
            return
        if got == "number" and dim != "number":
            self.fail(loc, f"{what} '{v}' needs a unit: it is compared with a {dim}",
                      f"write it with a unit, e.g. '{v} {_unit_for(dim)}'")
        else:
            self.fail(loc, f"{what} '{v}' is a {got}, but a {dim} is needed", f"use a unit of {dim}")

    def limit(self, lim: Limit | None, reading_unit: str, loc: Loc, scope: dict[str, list[Any]]) -> None:
        if lim is None:
            return
        dim = unit(reading_unit).dimension if reading_unit else "number"
        self.value(lim.low, dim, loc + ("low",), scope, "low limit")
        self.value(lim.high, dim, loc + ("high",), scope, "high limit")
        if lim.low is not None and lim.high is not None and lim.low.const and lim.high.const \
                and lim.low.const.si > lim.high.const.si:
            self.fail(loc, f"low limit {lim.low} is above high limit {lim.high}", "swap them")

    # steps ------------------------------------------------------------------------------------
    def steps(self, steps: list[Any], loc: Loc, scope: dict[str, list[Any]], safe: bool = False) -> None:
        scope = dict(scope)  # values named with `as:` are seen by the steps after them, in this block
        for i, step in enumerate(steps):
            named = self.step(step, loc + (i,), scope, safe)
            if named is not None:
                scope[named[0]] = [binding.Measured(named[1])]

    def step(self, step: Any, loc: Loc, scope: dict[str, list[Any]], safe: bool) -> tuple[str, str] | None:
        """Check one step; returns (name, dimension) of a value it names for the steps after it."""
        as_ = getattr(step, "as_", None)
        if as_ is not None and safe:
            self.fail(loc + ("as",), "the safe state names no values", "remove 'as:'")
        self.value(step.timeout, "time", loc + ("timeout",), scope, "timeout")
        return _CHECKS[kind_of(step)](self, step, loc, scope, safe)

    def range_points(self, axis: SweepRange, loc: Loc, scope: dict[str, list[Any]]) -> list[Any]:
        dims = []
        for key, v in (("from", axis.from_), ("to", axis.to), ("step", axis.step)):
            try:
                dims.append(binding.value_dimension(v, binding.dims_of_scope(scope)))
            except expr.ExprError as exc:
                self.fail(loc + (key,), f"sweep {key}: {exc}", exc.hint)
                return []
        if len(set(dims)) > 1:
            self.fail(loc, f"sweep from/to/step must be the same kind of quantity, not {', '.join(dims)}")
            return []
        try:
            first = {n: v[0] for n, v in scope.items()}
            return binding.range_axis(axis, first)
        except (ValueError, KeyError) as exc:
            self.fail(loc + ("step",), f"sweep: {exc}", "a larger step or a narrower range" if "too many" in str(exc)
                      else "")
            return []

    def condition(self, text: str, loc: Loc, scope: dict[str, list[Any]]) -> None:
        node = expr.parse(text)

        def reading_dim(role: str, name: str, argnames: tuple[str, ...]) -> str:
            found = self.spec(f"{role}.{name}", "reading", loc)
            if not found:
                raise expr.ExprError(f"no reading {role}.{name}", 0)
            for a in argnames:
                if a not in found[1].params:
                    raise expr.ExprError(f"{role}.{name} has no parameter '{a}'", 0,
                                         f"its parameters: {', '.join(found[1].params) or 'none'}")
            u = found[1].unit
            return unit(u).dimension if u else "number"
        try:
            d = expr.check(node, binding.dims_of_scope(scope), reading_dim)
        except expr.ExprError as exc:
            if str(exc).startswith("no reading"):
                return  # already reported by spec()
            self.fail(loc, f"condition: {exc} (column {exc.offset + 1})", exc.hint)
            return
        if d != "bool":
            self.fail(loc, f"condition '{text}' is a {d}, not true/false", "compare it, e.g. '... < 2 A'")

    # monitors, phases -------------------------------------------------------------------------
    def monitors(self, scope: dict[str, list[Any]]) -> None:
        for i, m in enumerate(self.proc.monitors):
            loc = ("monitors", i)
            self.value(m.every, "time", loc + ("every",), scope, "monitor interval")
            found = self.spec(m.read, "reading", loc + ("read",))
            if found:
                self.args(found[0], found[1], m.with_, loc, scope)
                self.limit(m.limit, found[1].unit or "", loc + ("limit",), scope)

    def phases(self, scope: dict[str, list[Any]]) -> list[str]:
        ids: dict[str, int] = {}
        for i, p in enumerate(self.proc.phases):
            if p.id in ids:
                self.fail(("phases", i, "id"), f"phase id '{p.id}' is used twice", "give each phase its own id")
            elif p.id in RESERVED_PHASE_IDS:  # the plan's ids of the safe state's steps and the interlocks
                self.fail(("phases", i, "id"), f"phase id '{p.id}' is reserved: it names the {RESERVED_PHASE_IDS[p.id]} "
                          "in the plan and the record", "give the phase another id")
            ids.setdefault(p.id, i)
            self.value(p.timeout, "time", ("phases", i, "timeout"), scope, "phase timeout")
            self.steps(p.steps, ("phases", i, "steps"), scope)
        for i, p in enumerate(self.proc.phases):
            for j, dep in enumerate(p.after):
                if dep == p.id:
                    self.fail(("phases", i, "after"), f"phase '{p.id}' cannot come after itself")
                elif dep not in ids:
                    close = difflib.get_close_matches(dep, list(ids), n=1)
                    self.fail(("phases", i, "after"), f"phase '{p.id}' comes after unknown phase '{dep}'",
                              f"did you mean '{close[0]}'?" if close else f"phases: {', '.join(ids)}")
        for i, m in enumerate(self.proc.monitors):
            if m.after is not None and m.after not in ids:
                close = difflib.get_close_matches(m.after, list(ids), n=1)
                self.fail(("monitors", i, "after"), f"interlock armed after unknown phase '{m.after}'",
                          f"did you mean '{close[0]}'?" if close else f"phases: {', '.join(ids)}")
            for name in m.during:
                if name not in ids:
                    close = difflib.get_close_matches(name, list(ids), n=1)
                    self.fail(("monitors", i, "during"), f"interlock armed during unknown phase '{name}'",
                              f"did you mean '{close[0]}'?" if close else f"phases: {', '.join(ids)}")
        order, cycle = topological([(p.id, [d for d in p.after if d in ids and d != p.id]) for p in self.proc.phases])
        if cycle:
            self.fail(("phases", ids[cycle[0]], "after"), "phases depend on each other in a cycle: "
                      + " -> ".join(cycle + [cycle[0]]), "remove one 'after:' so that the phases can be ordered")
        return order


# one check per step kind (plan.KINDS names them); each returns the value a step names with `as:`
_CHECKS: dict[str, Callable[..., tuple[str, str] | None]] = {
    "do": _Checker.do, "measure": _Checker.measure, "compute": _Checker.compute, "search": _Checker.search,
    "wait": _Checker.wait, "wait_until": _Checker.wait_until, "for_each": _Checker.for_each,
    "sweep": _Checker.sweep, "soak": _Checker.soak,
}


def _unit_for(dim: str) -> str:
    return {"voltage": "V", "current": "A", "temperature": "degC", "time": "s", "flow": "L/min", "power": "W",
            "frequency": "Hz"}.get(dim, "")


def _unit_hint(s: ActionSpec, key: str | None) -> str:
    p = s.params.get(key) if key else None
    if p is not None and p.unit:
        return f"{key} takes a {unit(p.unit).dimension}, e.g. '1 {p.unit}'"
    if p is not None and p.choices:
        return f"{key} takes one of {', '.join(map(str, p.choices))}"
    return f"see `bringup drivers` for {s.name}'s parameters"


def check(proc: Procedure, doc: Document, station: Station, overrides: dict[str, str] | None = None) -> Checked:
    """Every semantic check; raises InvalidInput with all problems found."""
    c = _Checker(proc, doc, station, overrides or {})
    c.roles()
    scope = {n: [v] for n, v in c.params.items()}
    c.monitors(scope)
    c.steps(proc.safe_state, ("safe_state",), scope, safe=True)
    order = c.phases(scope)
    c.problems.extend(bounds.check(proc, doc, c.params, overrides or {}))
    specs = {role: b.cls.spec() for role, b in station.roles.items()}
    for loc, message, hint in holds.problems(proc, specs, c.params, order):
        c.fail(loc, message, hint)
    c.problems.extend(_station_names(station))
    if c.problems:
        raise InvalidInput(c.problems)
    plan = compile_plan(proc, station, c.params, order, c.units)
    return Checked(proc, doc, station, c.params, hashlib.sha256(doc.text.encode()).hexdigest(), order, plan)


def _station_names(station: Station) -> list[Problem]:
    """The station's name and role names, by the procedure's own rules for names: reports, the log and
    the dashboard print the station's name, and a procedure's role is an identifier. Checked here,
    where every command that runs or plans against a station passes, so station.py keeps to parsing."""
    doc = station.document
    if doc is None:  # built in code (the embedded lab), not read from a file
        return []
    out = []
    if not station.name.isprintable():
        out.append(doc.problem(("station",), f"station name {station.name!r} does not print on one line",
                               "a name is one line of visible text"))
    for role in station.roles:
        if not re.match(IDENT, role):
            out.append(doc.problem(("roles", role), f"role {role!r} is not a name", "a role is letters, digits and "
                                   "_, starting with a letter or _, as a procedure's 'requires' names it", key=True))
    return out


def validate(procedure_path: str | Path, station: Station, overrides: dict[str, str] | None = None) -> Checked:
    """Load and check a procedure file against a station. Raises InvalidInput, never touches hardware."""
    try:
        proc, doc = load_procedure(procedure_path)
    except salvage.PartlyRead as partial:  # schema problems: check the rest too, report all at once
        raise salvage.report(partial, lambda: check(partial.procedure, partial.document, station, overrides)) from None
    return check(proc, doc, station, overrides)


__all__ = ["Checked", "check", "load_procedure", "validate", "topological", "UnitError", "parse_quantity"]
