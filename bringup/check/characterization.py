"""Validation of the characterization steps: `compute` (a value worked out from named readings)
and `search` (Vmin: a setting stepped until a check fails). A part of validation's checker, kept
apart so that each file holds one idea; `validate._Checker` provides fail, value, limit, spec,
args, steps, range_points and units.
"""

from __future__ import annotations

from typing import Any

from bringup.check import binding
from bringup.language import expr
from bringup.language.procedure import ComputeStep, SearchStep
from bringup.language.source import Loc
from bringup.core.units import DIMENSIONLESS, Quantity, UnitError, si_unit, unit


class CharacterizationChecks:
    """Mixin of `validate._Checker`."""

    def compute(self, step: ComputeStep, loc: Loc, scope: dict[str, list[Any]], safe: bool) -> tuple[str, str] | None:
        if safe:
            self.fail(loc, "the safe state computes nothing", "move it into a phase")
            return None

        def no_readings(role: str, name: str, args: tuple[str, ...]) -> str:
            raise expr.ExprError(f"a compute value reads no instruments ({role}.{name})", 0,
                                 f"measure it first and name it: '- measure: {role}.{name}' with 'as: x'")
        try:
            dim = expr.check(expr.parse(step.value), binding.dims_of_scope(scope), no_readings)
        except expr.ExprError as exc:
            self.fail(loc + ("value",), f"compute {step.compute}: {exc} (column {exc.offset + 1})", exc.hint)
            return None
        if dim == "bool":
            self.fail(loc + ("value",), f"compute {step.compute}: '{step.value}' is true/false, not a value",
                      "compute the quantity and put the comparison in 'limit:'")
            return None
        if step.unit is not None:
            try:
                u = unit(step.unit)
            except UnitError as exc:
                self.fail(loc + ("unit",), str(exc))
                return None
            if u.dimension != dim and not (dim in ("number", "ratio") and u.dimension in ("number", "ratio")):
                self.fail(loc + ("unit",), f"compute {step.compute}: '{step.value}' is a {dim}, but {step.unit} is "
                                           f"a unit of {u.dimension}", f"give a unit of {dim}, or leave 'unit' out")
                return None
        else:
            found = si_unit(dim)
            if found is None:
                self.fail(loc + ("value",), f"compute {step.compute}: '{step.value}' is a {dim}, which has no unit "
                                            "to record it in", "compute a quantity with a unit (V, W, K/W, ...) or "
                                                               "a plain number")
                return None
            u = found
        self.limit(step.limit, u.symbol, loc + ("limit",), scope)
        self.units[loc] = u.symbol
        return step.compute, u.dimension

    def search(self, step: SearchStep, loc: Loc, scope: dict[str, list[Any]], safe: bool) -> tuple[str, str] | None:
        s = step.search
        sloc = loc + ("search",)
        if safe:
            self.fail(loc, "the safe state runs plain steps in order: no searches", "list the steps out")
            return None
        points = self.range_points(s, sloc, scope)  # type: ignore[arg-type]  # from/to/step, as a sweep's
        found = self.spec(s.set, "action", sloc + ("set",))
        dim = "number"
        if found is not None:
            role, spec = found
            p = spec.params.get(s.param)
            if p is None:
                self.fail(sloc + ("param",), f"{s.set} has no parameter '{s.param}'",
                          f"its parameters: {', '.join(spec.params) or 'none'}")
            elif s.param in s.with_:
                self.fail(sloc + ("with", s.param), f"'{s.param}' is the setting the search moves: it is not also "
                          "given under 'with:'", "remove it from 'with:'")
            else:
                dim = unit(p.unit).dimension if p.unit else "number"
                self.value(s.restore, dim, sloc + ("restore",), scope, "restore")
                tried = list(points)
                if s.restore is not None and not self.problems:
                    first = {n: v[0] for n, v in scope.items() if v and not isinstance(v[0], binding.Measured)}
                    try:
                        si = binding.evaluate(s.restore, first)
                        unit_obj = points[0].unit if points else DIMENSIONLESS
                        tried.append(Quantity(unit_obj.from_si(si), unit_obj))
                    except (KeyError, ValueError):
                        pass
                # every point, and the restore value, go through conversion and the station's guardrails
                self.args(role, spec, {**s.with_, s.param: "{" + s.param + "}"}, sloc, {**scope, s.param: tried or [0]})
                self.limit(step.limit, p.unit or "", loc + ("limit",), scope)
        inner = {**scope, s.param: points or [0]}
        self.steps(step.steps, loc + ("steps",), inner)
        return (step.as_, dim) if step.as_ is not None else None
