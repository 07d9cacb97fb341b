"""The `search` step (Vmin): walk a setting from a passing point until the nested checks fail.

The probes are characterization data (their failures are the search's signal, never a gate);
the result is one measurement, judged against the step's limit; the setting is restored and the
restore recorded whatever happens.
"""

from __future__ import annotations

import math
from typing import Any, Callable

from bringup.check import binding
from bringup.drivers.base import DriverError
from bringup.run.execution import Execution
from bringup.check.plan import PlanStep
from bringup.check.plan_compile import call_label
from bringup.core.states import StepOutcome
from bringup.run.step_record import DEFAULT_STEP_TIMEOUT, Frame, StepFailed, label_of, limits, record, step_event, step_failed, where
from bringup.core.units import Quantity, format_quantity, unit
from bringup.core.verdict import FAIL, PASS
from bringup.store.records import Measurement


RunSteps = Callable[[Execution, list[Any], Frame], None]


def run_search(ex: Execution, node: PlanStep, frame: Frame, deadline: float | None, run_steps: RunSteps) -> None:
    """Step a setting from a passing point toward `to`; stop at the first point where any repeat
    of the nested checks fails. The result is the last point where every repeat passed. The
    setting is restored whatever happens, and the restore is recorded. `run_steps` runs the
    nested checks (steps.run_steps: handed in, so that this module does not import the one that
    dispatches to it)."""
    step = node.step
    s = step.search
    role, action = s.set.split(".", 1)
    spec = ex.bench.spec(role)[action]
    raw, _ = binding.args_of(spec, s.with_)
    fixed = binding.convert_args(spec, raw, frame.scope)
    p = spec.params[s.param]
    points = binding.range_axis(s, frame.scope)
    restore = binding.evaluate(s.restore if s.restore is not None else s.from_, frame.scope)
    u = p.unit or ""
    label = step.name or label_of(f"{s.param} search", fixed)
    started = ex.clock.now()
    passing: float | None = None
    failed_at: str | None = None

    def apply(si_value: float) -> None:
        value = unit(u).from_si(si_value) if u else si_value
        ex.bench.call(role, action, {**fixed, s.param: value},
                deadline if deadline is not None else ex.clock.now() + DEFAULT_STEP_TIMEOUT)

    try:
        for point in points:
            apply(point.si)
            scope = {**frame.scope, s.param: point}
            for repeat in range(1, s.repeats + 1):
                coords = {**frame.coords, s.param: str(point), "repeat": repeat}
                probe = Frame(frame.phase, frame.path, scope, coords, deadline, [], gate=False,
                              phase_attempt=frame.phase_attempt)
                try:
                    run_steps(ex, node.steps, probe)
                except StepFailed:
                    pass  # run_step has put its verdict in probe.verdicts
                if any(v != PASS for v in probe.verdicts):
                    failed_at = f"{point} (repeat {repeat} of {s.repeats})"
                    break
            if failed_at is not None:
                break
            passing = point.si
    except DriverError as exc:
        failed_at = f"an error ({exc})"
    finally:
        _restore(ex, frame, node.id, role, action, fixed, s.param, u, restore, deadline)
    result = math.nan if passing is None else unit(u).from_si(passing) if u else passing
    if step.as_ is not None:
        frame.scope[step.as_] = Quantity(result, unit(u))
    low, high = limits(step.limit, frame.scope, u)
    step_event(ex, node.id, None, "search",
               f"{frame.path}: {where(label, frame.coords)} = {format_quantity(result, u)}"
               + (f"; first failure at {failed_at}" if failed_at else f"; no failure down to {points[-1]}"),
               data={"result": None if passing is None else result, "unit": u, "failed_at": failed_at})
    ex.store.step(ex.run_id, f"{frame.path}/{label}", "search", started, ex.clock.now(), StepOutcome.OK, None, 1,
                  step_id=node.id, phase_attempt=frame.phase_attempt)
    if passing is None:  # FAIL, not UNKNOWN: the checks ran and failed even at the passing point
        message = f"{where(label, frame.coords)}: no passing point: the checks failed already at {failed_at}"
        ex.progress.not_passing(message)
        ex.store.measurement(Measurement(run_id=ex.run_id, path=frame.path, name=label, value=None, unit=u, low=low,
                                         high=high, verdict=FAIL, t=ex.clock.now(), coords=frame.coords or None,
                                         instrument=None, dut=ex.dut, message=message, gate=frame.gate,
                                         step_id=node.id, phase_attempt=frame.phase_attempt))
        if frame.gate:
            raise StepFailed(FAIL, message)
        return
    record(ex, frame, node.id, label, result, u, low, high, ex.clock.now(), None, None, frame.gate)


def _restore(ex: Execution, frame: Frame, step_id: str, role: str, action: str, fixed: dict[str, Any], param: str,
             u: str, si_value: float, deadline: float | None) -> None:
    value = unit(u).from_si(si_value) if u else si_value
    label = call_label(f"{role}.{action}", ex.bench.spec(role)[action], {**fixed, param: value}) + " (restore)"
    started = ex.clock.now()
    try:
        ex.bench.call(role, action, {**fixed, param: value}, ex.clock.now() + DEFAULT_STEP_TIMEOUT)
    except DriverError as exc:
        step_failed(ex, frame, step_id, "do", label, started, StepOutcome.ERROR, FAIL, f"{label}: {exc}", 1)
    ex.store.step(ex.run_id, f"{frame.path}/{label}", "do", started, ex.clock.now(), StepOutcome.OK, None, 1,
                  step_id=step_id, phase_attempt=frame.phase_attempt)
