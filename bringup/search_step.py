"""The `search` step (Vmin): walk a setting from a passing point until the nested checks fail.

The probes are characterization data (their failures are the search's signal, never a gate);
the result is one measurement, judged against the step's limit; the setting is restored and the
restore recorded whatever happens.
"""

from __future__ import annotations

import math
from typing import Any, Callable

from . import binding
from .driver import DriverError
from .execution import Execution
from .procedure import SearchStep
from .step_record import DEFAULT_STEP_TIMEOUT, Frame, StepFailed, label_of, limits, record, step_failed, where
from .states import StepOutcome
from .units import Quantity, format_quantity, unit
from .verdict import FAIL, PASS


RunSteps = Callable[[Execution, list[Any], Frame], None]


def run_search(ex: Execution, step: SearchStep, frame: Frame, deadline: float | None, run_steps: RunSteps) -> None:
    """Step a setting from a passing point toward `to`; stop at the first point where any repeat
    of the nested checks fails. The result is the last point where every repeat passed. The
    setting is restored whatever happens, and the restore is recorded. `run_steps` runs the
    nested checks (steps.run_steps: handed in, so that this module does not import the one that
    dispatches to it)."""
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
                probe = Frame(frame.phase, frame.path, scope, coords, deadline, [], gate=False)
                try:
                    run_steps(ex, step.steps, probe)
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
        _restore(ex, frame, role, action, fixed, s.param, u, restore, deadline)
    result = math.nan if passing is None else unit(u).from_si(passing) if u else passing
    if step.as_ is not None:
        frame.scope[step.as_] = Quantity(result, unit(u))
    low, high = limits(step.limit, frame.scope, u)
    ex.event("search", f"{frame.path}: {where(label, frame.coords)} = {format_quantity(result, u)}"
             + (f"; first failure at {failed_at}" if failed_at else f"; no failure down to {points[-1]}"),
             data={"result": None if passing is None else result, "unit": u, "failed_at": failed_at})
    ex.store.step(ex.run_id, f"{frame.path}/{label}", "search", started, ex.clock.now(), StepOutcome.OK, None, 1)
    if passing is None:  # FAIL, not UNKNOWN: the checks ran and failed even at the passing point
        message = f"{where(label, frame.coords)}: no passing point: the checks failed already at {failed_at}"
        ex.progress.not_passing(message)
        ex.store.measurement(ex.run_id, frame.path, label, None, u, low, high, FAIL, ex.clock.now(),
                             frame.coords or None, None, ex.dut, message, gate=frame.gate)
        if frame.gate:
            raise StepFailed(FAIL, message)
        return
    record(ex, frame, label, result, u, low, high, ex.clock.now(), None, None, frame.gate)


def _restore(ex: Execution, frame: Frame, role: str, action: str, fixed: dict[str, Any], param: str, u: str,
             si_value: float, deadline: float | None) -> None:
    value = unit(u).from_si(si_value) if u else si_value
    label = label_of(f"{role}.{action}", {**fixed, param: value}) + " (restore)"
    started = ex.clock.now()
    try:
        ex.bench.call(role, action, {**fixed, param: value}, ex.clock.now() + DEFAULT_STEP_TIMEOUT)
    except DriverError as exc:
        step_failed(ex, frame, "do", label, started, StepOutcome.ERROR, FAIL, f"{label}: {exc}", 1)
    ex.store.step(ex.run_id, f"{frame.path}/{label}", "do", started, ex.clock.now(), StepOutcome.OK, None, 1)
