"""Station guardrails: the hard limits a station puts on a driver's arguments, and what they bind.

A rule `{channel: 1, voltage: {max: 13 V}}` becomes one `Guardrail` per bounded parameter, each
with its selector (`where`: channel 1). A selector is typed like the parameter it names and must
pick something the driver has (the E36312A's `set` takes channel 1, 2 or 3; a string '2', a list
[2], `true` or 7 picks nothing, and a guardrail that picks nothing limits nothing). A driver's
targets are the values of the choice parameters (`Param(choices=...)`) of the actions a limit
bounds; a driver with none (the N5700's one output) is one target. `selector_problems` says what
is wrong with a rule, `unbound` which guardrails apply to no target, `bindings` which limit binds
which target (what `bringup validate` lists).
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Any, Iterable

from bringup.core.units import unit
from bringup.drivers.spec import ActionSpec, Param, format_value


@dataclass(frozen=True)
class Guardrail:
    """A hard limit from the station file: `param` must lie in [low, high] (in SI) when `where` matches."""

    param: str
    low: float | None
    high: float | None
    where: tuple[tuple[str, Any], ...] = ()
    dimension: str = "number"

    def __post_init__(self) -> None:
        # a NaN limit compares false both ways and an infinite one is no limit: either would let
        # every setpoint through while reading as a guardrail
        for side in (self.low, self.high):
            if side is not None and (isinstance(side, bool) or not math.isfinite(side)):
                raise ValueError(f"guardrail on {self.param}: {side!r} is not a finite limit")

    def applies(self, args: dict[str, Any]) -> bool:
        # type-strict: True == 1 and 2.0 == 2 in Python, but `channel: true` selects no channel
        return all(k in args and args[k] == v and isinstance(args[k], bool) == isinstance(v, bool)
                   for k, v in self.where)

    def check(self, value_si: float) -> str | None:
        """None if fine, else what is wrong (a NaN value is never within a limit)."""
        if value_si != value_si:
            return "not within"
        if self.low is not None and value_si < self.low:
            return "below"
        if self.high is not None and value_si > self.high:
            return "above"
        return None

    def describe(self, unit_symbol: str = "", scope: bool = True) -> str:
        rng = describe_range(self.low, self.high, unit_symbol)
        where = "".join(f" on {k} {v}" for k, v in self.where) if scope else ""
        return f"{self.param} {rng}{where}"


def describe_range(low: float | None, high: float | None, unit_symbol: str = "") -> str:
    """`≥ 15 degC and ≤ 45 degC`: SI bounds in the parameter's unit."""
    u = unit(unit_symbol) if unit_symbol else None
    shown = (lambda x: f"{u.from_si(x):g} {unit_symbol}") if u else (lambda x: f"{x:g}")
    rng = ([f"≥ {shown(low)}"] if low is not None else []) + ([f"≤ {shown(high)}"] if high is not None else [])
    return " and ".join(rng)


def guardrail_violation(guardrails: Iterable[Guardrail], spec: ActionSpec, args: dict[str, Any]) -> str | None:
    """The first station limit these (converted) arguments break, in words; None if within limits."""
    for g in guardrails:
        p = spec.params.get(g.param)
        if p is None or g.param not in args or not g.applies(args):
            continue
        value = args[g.param]
        u = p.unit_obj
        si = u.to_si(value) if u is not None else float(value)
        side = g.check(si)
        if side:
            return (f"{spec.name}: {g.param} = {format_value(value, p.unit)} is {side} the station limit "
                    f"({g.describe(p.unit or '')})")
    return None


# -- selectors --------------------------------------------------------------------------------------
_TYPE_WORDS = {int: "a whole number", float: "a number", str: "a name", bool: "on or off"}


def _what_it_is(value: Any) -> str:
    if isinstance(value, bool):
        return f"{str(value).lower()} (a yes/no)"
    if isinstance(value, str):
        return f"'{value}' (a string)"
    if isinstance(value, (list, tuple)):
        return f"{value!r} (a list)"
    return f"{value!r} (a {type(value).__name__})"


def _accepts(p: Param, value: Any) -> bool:
    """Whether `value`, exactly as written, is a value of `p` (no conversion: the run compares it as is)."""
    if p.unit is not None or type(value) is not p.type and not (p.type is float and type(value) is int):
        return False
    if isinstance(value, float) and not math.isfinite(value):
        return False
    if p.choices is not None:
        return value in p.choices
    return (p.low is None or value >= p.low) and (p.high is None or value <= p.high)


def _has(p: Param) -> str:
    if p.choices is not None:
        return ", ".join(map(str, p.choices))
    lo, hi = "" if p.low is None else f"{p.low:g}", "" if p.high is None else f"{p.high:g}"
    return f"{_TYPE_WORDS.get(p.type, p.type.__name__)}" + (f" from {lo} to {hi}" if lo or hi else "")


@dataclass(frozen=True)
class SelectorProblem:
    key: str | None  # the selector at fault; None: the rule as a whole
    message: str
    hint: str


def selector_problems(specs: dict[str, ActionSpec], driver: str, bounded: Iterable[str],
                      where: dict[str, Any]) -> list[SelectorProblem]:
    """What keeps a rule's selectors from picking a target of every parameter it bounds (none: fine).
    Parameters unknown to every action are the caller's to report; they are skipped here."""
    out: list[SelectorProblem] = []
    known = {n for s in specs.values() for n in s.params}
    for pname in bounded:
        with_p = [s for s in specs.values() if pname in s.params]
        if not with_p:
            continue
        bad_key = False
        for k, v in where.items():
            if k not in known:
                continue
            together = [s for s in with_p if k in s.params]
            if not together:
                takes = sorted({n for s in with_p for n, q in s.params.items() if q.choices})
                out.append(SelectorProblem(k, f"'{k}' never comes with {pname} ({driver} sets {pname} in "
                                              f"{', '.join(s.name for s in with_p)}): this rule limits nothing",
                                           f"{pname} is picked by: {', '.join(takes)}" if takes else
                                           f"{driver} has one {pname}: drop '{k}'"))
                bad_key = True
                continue
            params = [s.params[k] for s in together]
            if any(_accepts(p, v) for p in params):
                continue
            p = params[0]
            bad_key = True
            if p.unit is not None:
                out.append(SelectorProblem(k, f"'{k}' is a {p.unit_obj.dimension}, which picks no target",
                                           f"bound it instead: {k}: {{max: ...}}"))
            elif any(p.type is float and type(v) in (int, float) or type(v) is p.type for p in params):
                out.append(SelectorProblem(k, f"{k} {v} matches nothing: {driver} has no such {k}",
                                           f"{driver}'s {k}: {_has(p)}"))
            else:
                wanted = _TYPE_WORDS.get(p.type, p.type.__name__)
                out.append(SelectorProblem(k, f"{k}: {_what_it_is(v)} is not {wanted}, "
                                              "so it would match nothing and limit nothing",
                                           f"{driver}'s {k}: {_has(p)}; write e.g. {k}: {_example(p)}"))
        picks = any(all(k in s.params and _accepts(s.params[k], v) for k, v in where.items()) for s in with_p)
        if not bad_key and where.keys() <= known and not picks:
            shown = ", ".join(f"{k} {v}" for k, v in where.items())
            out.append(SelectorProblem(None, f"no {driver} action takes {pname} with {shown}: this rule limits nothing",
                                       f"{pname} is set by: {', '.join(s.signature() for s in with_p)}"))
    return out


def _example(p: Param) -> Any:
    if p.choices:
        return p.choices[0]
    return p.low if p.low is not None else {int: 1, float: 1.0, str: "NAME", bool: "on"}.get(p.type, 1)


# -- targets and what binds them ---------------------------------------------------------------------
_ANY = object()  # a selector value no rule names: "any other"


def _targets(spec: ActionSpec, guardrails: tuple[Guardrail, ...]) -> list[dict[str, Any]]:
    """The targets one action can reach: every value of its choice parameters, and of a parameter a
    rule selects on without choices (a chip number), the values the rules name and 'any other'."""
    keys = [n for n, p in spec.params.items() if p.choices and p.unit is None]
    free = sorted({k for g in guardrails for k, _ in g.where if k in spec.params and k not in keys})
    values = [list(spec.params[k].choices) for k in keys]
    for k in free:
        named = [v for g in guardrails for kk, v in g.where if kk == k]
        values.append(list(dict.fromkeys(named)) + [_ANY])
    return [dict(zip(keys + free, combo)) for combo in itertools.product(*values)]


def _applies(g: Guardrail, spec: ActionSpec, target: dict[str, Any]) -> bool:
    return g.param in spec.params and all(k in target and target[k] is not _ANY and g.applies({k: target[k]})
                                          for k, v in g.where)


def unbound(specs: dict[str, ActionSpec], guardrails: tuple[Guardrail, ...]) -> list[Guardrail]:
    """The guardrails that apply to no target of the driver: each would limit nothing."""
    reach = [(s, t) for s in specs.values() for t in _targets(s, guardrails)]
    return [g for g in guardrails if not any(_applies(g, s, t) for s, t in reach)]


def bindings(specs: dict[str, ActionSpec], guardrails: tuple[Guardrail, ...]) -> list[tuple[str, str]]:
    """Which limits bind which target, in words: [("channel 1", "voltage ≤ 13 V, current_limit ≤ 400 A")];
    the target is "" for a driver with one (a single-output supply). Where several rules bound one
    parameter of one target, the tightest bound of each side is the one that binds."""
    bound: dict[str, dict[str, list]] = {}
    for s in specs.values():
        if not any(g.param in s.params for g in guardrails):
            continue
        for t in _targets(s, guardrails):
            label = " ".join(f"{k} {'(any other)' if v is _ANY else v}" for k, v in t.items())
            for g in guardrails:
                if not _applies(g, s, t):
                    continue
                lim = bound.setdefault(label, {}).setdefault(g.param, [None, None, s.params[g.param].unit or ""])
                if g.low is not None:
                    lim[0] = g.low if lim[0] is None else max(lim[0], g.low)
                if g.high is not None:
                    lim[1] = g.high if lim[1] is None else min(lim[1], g.high)
    return [(label, ", ".join(f"{p} {describe_range(lo, hi, u)}" for p, (lo, hi, u) in limits.items()))
            for label, limits in bound.items()]
