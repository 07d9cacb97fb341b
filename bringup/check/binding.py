"""Binding procedure values to driver parameters: shared by validation (over every value a loop can
take) and by the runner (over the values in scope now), so the two can never disagree.

A scope maps names (procedure parameters, loop variables) to their values: a Quantity, or a
plain YAML value (int, str, bool, ...).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

from bringup.language import expr
from bringup.drivers.base import ActionSpec, Param
from bringup.language.procedure import FIRST_ARG, Value
from bringup.core.units import DIMENSIONLESS, Quantity, UnitError, parse_quantity, si_unit, unit

Scope = dict[str, Any]
_REF = re.compile(r"\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}")


@dataclass(frozen=True)
class Measured:
    """In validation's scope: a value named with `as:` that exists only once the run reads it."""

    dimension: str


class BindError(ValueError):
    """A value that does not fit; `key` says which argument (None: the step as a whole)."""

    def __init__(self, message: str, key: str | None = None, hint: str = "") -> None:
        super().__init__(message)
        self.key, self.hint = key, hint


def names_in(raw: Any) -> list[str]:
    """Parameter/loop-variable names a raw argument refers to with {name}."""
    return _REF.findall(raw) if isinstance(raw, str) else []


def substitute(raw: Any, scope: Scope) -> Any:
    """`"{port}"` -> the value of port (keeping its type); `"lane {n}"` -> text with n filled in."""
    if not isinstance(raw, str) or "{" not in raw:
        return raw
    m = _REF.fullmatch(raw.strip())
    if m:
        return scope[m.group(1)]
    return _REF.sub(lambda mm: str(scope[mm.group(1)]), raw)


def parse_parameter(raw: Any) -> Any:
    """A parameter's value as written: quantities become Quantity; lists, names and flags stay."""
    if isinstance(raw, (str, int, float)) and not isinstance(raw, bool):
        try:
            return parse_quantity(raw)
        except UnitError:
            return raw
    return raw


def args_of(spec: ActionSpec, with_: dict[str, Any]) -> tuple[dict[str, Any], list[BindError]]:
    """Map a step's `with:` onto the action's parameters by name (the shorthand binds the first)."""
    out: dict[str, Any] = {}
    errors: list[BindError] = []
    for key, raw in with_.items():
        if key == FIRST_ARG:
            if not spec.params:
                errors.append(BindError(f"{spec.name} takes no arguments"))
                continue
            key = next(iter(spec.params))
        if key not in spec.params:
            known = ", ".join(spec.params) or "none"
            errors.append(BindError(f"{spec.name} has no parameter '{key}'", key, f"its parameters: {known}"))
            continue
        out[key] = raw
    for name, p in spec.params.items():
        if p.required and name not in out:
            errors.append(BindError(f"{spec.name} needs '{name}' ({p.describe()})", None,
                                    f"add it under 'with:', e.g. {name}: {_example(p)}"))
    return out, errors


def _example(p: Param) -> str:
    if p.choices:
        return str(p.choices[0])
    if p.unit:
        return f"1 {p.unit}"
    return "1" if p.type in (int, float) else "on" if p.type is bool else "..."


def convert_args(spec: ActionSpec, raw_args: dict[str, Any], scope: Scope) -> dict[str, Any]:
    """Concrete driver arguments for this scope; BindError naming the argument that does not fit."""
    out = {}
    for key, raw in raw_args.items():
        p = spec.params[key]
        try:
            out[key] = p.convert(substitute(raw, scope))
        except KeyError as exc:
            raise BindError(f"'{key}' refers to {{{exc.args[0]}}}, which is not defined here", key,
                            "define it under 'parameters:' or in an enclosing for_each/sweep") from None
        except (UnitError, ValueError, TypeError) as exc:
            raise BindError(f"{spec.name}: {key} {exc}", key) from None
    for name, p in spec.params.items():
        if name not in out and not p.required:
            out[name] = p.default
    return out


def representatives(spec: ActionSpec, raw_args: dict[str, Any], name: str, values: list[Any],
                    selectors: set[str], memo: dict[int, tuple[list[Any], list[Any]]]) -> list[Any]:
    """The values of loop variable `name` worth checking for these arguments: for a quantity that
    only ever fills a unit-carrying, choice-free parameter directly (`voltage: "{v}"`), its
    smallest and largest (conversion and guardrails are monotone in it); else every value.

    This keeps validation linear in a sweep's length: 10,000 points times 500 steps was 5 million
    conversions (29 s), and a hostile file could have asked for minutes. `memo` (one validation's)
    keeps each axis's extremes, keyed by the list's id and holding the list so the id stays its own."""
    if len(values) <= 2:
        return values
    for key, raw in raw_args.items():
        if name not in names_in(raw):
            continue
        p = spec.params.get(key)
        if p is None or not p.unit or p.choices is not None or key in selectors or not _REF.fullmatch(raw.strip()):
            return values
    if id(values) not in memo:
        memo[id(values)] = (values, _extremes(values))
    return memo[id(values)][1]


def _extremes(values: list[Any]) -> list[Any]:
    if not all(isinstance(v, Quantity) for v in values) or len({v.dimension for v in values}) > 1:
        return values
    by_si = [(v.si, v) for v in values]
    finite = [pair for pair in by_si if math.isfinite(pair[0])]
    odd = [v for si, v in by_si if not math.isfinite(si)]  # NaN and inf are refused by conversion: keep them
    ends = [min(finite, key=lambda p: p[0])[1], max(finite, key=lambda p: p[0])[1]] if finite else []
    return ends + odd


def value_dimension(v: Value, dims: dict[str, str], reading_dim: expr.ReadingUnit | None = None) -> str:
    if v.const is not None:
        return v.const.dimension
    assert v.node is not None

    def no_readings(role: str, name: str, args: tuple[str, ...]) -> str:
        raise expr.ExprError(f"a reading ({role}.{name}) cannot be used here", 0, "use a parameter or a number")
    return expr.check(v.node, dims, reading_dim or no_readings)


def evaluate(v: Value, scope: Scope) -> float:
    """A Value's SI magnitude in this scope."""
    if v.const is not None:
        return v.const.si
    assert v.node is not None
    return float(expr.compile_expr(v.node, scope, None)())


def value_in(v: Value, scope: Scope, unit_symbol: str | None) -> float:
    """A Value expressed in `unit_symbol` (a plain number if None or dimensionless)."""
    si = evaluate(v, scope)
    if not unit_symbol:
        return si
    return unit(unit_symbol).from_si(si)


def dims_of_scope(scope_values: dict[str, list[Any]]) -> dict[str, str]:
    """The dimension of each name, from one of its possible values."""
    out = {}
    for name, values in scope_values.items():
        sample = values[0] if values else None
        if isinstance(sample, (Quantity, Measured)):
            out[name] = sample.dimension
        elif isinstance(sample, bool):
            out[name] = "bool"
        elif isinstance(sample, (int, float)):
            out[name] = "number"
        else:
            out[name] = "str"
    return out


def sweep_points(start: float, stop: float, step: float) -> list[float]:
    """Inclusive points from start toward stop; ValueError if step is zero or points away from stop."""
    if step == 0 or not all(map(math.isfinite, (start, stop, step))):
        raise ValueError("the step must be a finite, non-zero amount")
    if (stop - start) * step < 0:
        raise ValueError(f"a step of {step:g} never gets from {start:g} to {stop:g}: flip its sign")
    n = int(math.floor((stop - start) / step + 1e-9)) + 1
    if n > 100_000:
        raise ValueError(f"{n} points is too many for one axis (100,000 at most)")
    return [start + i * step for i in range(n)]


def range_axis(r: Any, scope: Scope) -> list[Quantity]:
    """Points of a {from, to, step} axis, in the unit of `from`."""
    lo = r.from_.const if r.from_.const is not None else None
    u = lo.unit if lo is not None else _unit_of(r.from_, scope)
    a, b, s = evaluate(r.from_, scope), evaluate(r.to, scope), evaluate(r.step, scope)
    if u is not DIMENSIONLESS:
        # step is a difference: convert by scale, not with the temperature offset
        pts = sweep_points(u.from_si(a), u.from_si(b), s / u.scale)
    else:
        pts = sweep_points(a, b, s)
    return [Quantity(round(p, 12), u) for p in pts]


def _unit_of(v: Value, scope: Scope) -> Any:
    """The unit to express an axis in when it starts at a parameter or expression ({vdd_core})."""
    assert v.node is not None
    if isinstance(v.node, expr.Name) and isinstance(scope.get(v.node.name), Quantity):
        return scope[v.node.name].unit
    dims = dims_of_scope({k: [x] for k, x in scope.items()})
    try:
        return si_unit(expr.check(v.node, dims, lambda *a: "number")) or DIMENSIONLESS
    except expr.ExprError:
        return DIMENSIONLESS


def literal_axis(values: list[Any]) -> list[Any]:
    return [parse_parameter(v) for v in values]

