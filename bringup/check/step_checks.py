"""Validation of the plain steps (do, measure, wait, wait_until) and the loops (for_each, sweep,
soak): one method per step kind, dispatched by `validate._CHECKS`. A part of validation's
checker, kept apart so that each file holds one idea; `validate._Checker` provides fail, value,
limit, spec, args, steps, condition and range_points.
"""

from __future__ import annotations

from typing import Any

from bringup.check import binding
from bringup.language.procedure import DoStep, ForEachStep, MeasureStep, SoakStep, SweepRange, SweepStep, WaitStep, WaitUntilStep
from bringup.language.source import Loc
from bringup.core.units import DIMENSIONLESS, Quantity, UnitError, expect_reference, parse_expect, unit


class StepChecks:
    """Mixin of `validate._Checker`."""

    def do(self, step: DoStep, loc: Loc, scope: dict[str, list[Any]], safe: bool) -> None:
        found = self.spec(step.do, "action", loc + ("do",))
        if found:
            self.args(found[0], found[1], step.with_, loc, scope)

    def measure(self, step: MeasureStep, loc: Loc, scope: dict[str, list[Any]], safe: bool) -> tuple[str, str] | None:
        found = self.spec(step.measure, "reading", loc + ("measure",))
        if not found:
            return None
        self.args(found[0], found[1], step.with_, loc, scope)
        self.limit(step.limit, found[1].unit or "", loc + ("limit",), scope)
        if step.expect is not None:
            ref = expect_reference(step.expect)
            if ref is not None and not isinstance(self.params.get(ref), Quantity):
                self.fail(loc + ("expect",), f"expect '{step.expect}': '{ref}' is not a parameter with a unit",
                          "name a parameter such as vdd_core: 0.75 V, or use 'limit' with loop variables")
                return None
            try:
                nominal = parse_expect(step.expect, self.params.get(ref) if ref else None)[0]
            except UnitError as exc:
                self.fail(loc + ("expect",), str(exc))
                return None
            want = unit(found[1].unit).dimension if found[1].unit else "number"
            if nominal.dimension != want and not (want == "number" and nominal.unit is DIMENSIONLESS):
                self.fail(loc + ("expect",), f"expect '{step.expect}' is a {nominal.dimension}, but "
                                             f"{step.measure} reads a {want} ({found[1].unit or 'no unit'})")
                return None
        if step.as_ is not None:
            return step.as_, unit(found[1].unit).dimension if found[1].unit else "number"
        return None

    def wait(self, step: WaitStep, loc: Loc, scope: dict[str, list[Any]], safe: bool) -> None:
        self.value(step.wait, "time", loc + ("wait",), scope, "wait")

    def wait_until(self, step: WaitUntilStep, loc: Loc, scope: dict[str, list[Any]], safe: bool) -> None:
        c = step.wait_until
        self.value(c.timeout, "time", loc + ("wait_until", "timeout"), scope, "timeout")
        self.value(c.poll, "time", loc + ("wait_until", "poll"), scope, "poll")
        self.condition(c.condition, loc + ("wait_until", "condition"), scope)

    def for_each(self, step: ForEachStep, loc: Loc, scope: dict[str, list[Any]], safe: bool) -> None:
        if safe:
            self.fail(loc, "the safe state runs plain steps in order: no loops", "list the steps out")
        inner = dict(scope)
        for name, values in step.for_each.items():
            if not values:
                self.fail(loc + ("for_each", name), f"for_each '{name}' has no values")
            inner[name] = binding.literal_axis(values) or [0]
        self.steps(step.steps, loc + ("steps",), inner)

    def sweep(self, step: SweepStep, loc: Loc, scope: dict[str, list[Any]], safe: bool) -> None:
        inner = dict(scope)
        for name, axis in step.sweep.items():
            aloc = loc + ("sweep", name)
            if isinstance(axis, SweepRange):
                points = self.range_points(axis, aloc, scope)
            else:
                points = binding.literal_axis(axis)
                dims = {p.dimension for p in points if isinstance(p, Quantity)}
                if len(dims) > 1:
                    self.fail(aloc, f"sweep axis '{name}' mixes {', '.join(sorted(dims))}")
            if not points and not isinstance(axis, SweepRange):  # a bad range is reported already
                self.fail(aloc, f"sweep axis '{name}' has no points")
            inner[name] = points or [0]
        self.steps(step.steps, loc + ("steps",), inner)
        self.steps(step.recover, loc + ("recover",), inner)

    def soak(self, step: SoakStep, loc: Loc, scope: dict[str, list[Any]], safe: bool) -> None:
        if safe:
            self.fail(loc, "the safe state cannot soak", "use 'wait'")
        self.value(step.soak.duration, "time", loc + ("soak", "duration"), scope, "soak duration")
        self.value(step.soak.every, "time", loc + ("soak", "every"), scope, "soak interval")
        inner = {**scope, "t": [Quantity(0.0, unit("s"))]}
        self.steps(step.steps, loc + ("steps",), inner)
