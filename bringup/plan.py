"""A measure step worked out once, before the run: which reading, with which arguments, against
which limits, all converted to the reading's unit. Validation builds these as it checks each
step (it does the same work anyway), so the runner's hot path only reads and judges.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from . import binding, expr
from .driver import ActionSpec
from .procedure import MeasureStep, Value
from .units import expect_reference, parse_expect


@dataclass(slots=True, frozen=True)
class MeasurePlan:
    role: str
    reading: str
    spec: ActionSpec
    raw: dict[str, Any]
    const_args: dict[str, Any] | None  # None: the arguments use loop variables
    unit: str
    low: float | None
    high: float | None
    low_expr: Value | None  # limits that depend on loop variables are evaluated per point
    high_expr: Value | None
    label: str


def plan_measure(step: MeasureStep, spec: ActionSpec, parameters: dict[str, Any]) -> MeasurePlan:
    role, reading = step.measure.split(".", 1)
    raw, _ = binding.args_of(spec, step.with_)
    refs = any(binding.names_in(v) for v in raw.values())
    const_args = None if refs else binding.convert_args(spec, raw, parameters)
    u = spec.unit or ""
    low = high = None
    low_expr = high_expr = None
    if step.expect is not None:
        ref = expect_reference(step.expect)
        _, lo, hi = parse_expect(step.expect, parameters[ref] if ref else None)
        low, high = (lo.to(u), hi.to(u)) if u else (lo.value, hi.value)
    elif step.limit is not None:
        lo_v, hi_v = step.limit.low, step.limit.high
        # limits over parameters are fixed for the run; over loop variables, evaluated per point
        if lo_v is not None:
            if _fixed(lo_v, parameters):
                low = binding.value_in(lo_v, parameters, u)
            else:
                low_expr = lo_v
        if hi_v is not None:
            if _fixed(hi_v, parameters):
                high = binding.value_in(hi_v, parameters, u)
            else:
                high_expr = hi_v
    return MeasurePlan(role, reading, spec, raw, const_args, u, low, high, low_expr, high_expr,
                       step.name or step.measure)


def _fixed(v: Value, parameters: dict[str, Any]) -> bool:
    """True when a limit depends only on literals and parameters, not on loop variables."""
    if v.const is not None:
        return True
    assert v.node is not None
    return not expr.readings_in(v.node) and expr.names_in(v.node) <= parameters.keys()
