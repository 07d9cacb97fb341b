"""Executing steps: actions, measurements, waits, conditions and loops, each under a deadline.

Every wait is many short clock advances with the interlocks checked in between, so a violation
aborts within one monitor interval even during an 8-hour soak. Every driver call carries the
step's deadline, so a transport that blocks gives up in time (the step then times out).
"""

from __future__ import annotations

import functools
import itertools
import math
from typing import Any, Callable

from bringup.check import binding
from bringup.language import expr
from bringup.drivers.base import DriverError, StepTimeout
from bringup.run.execution import Execution
from bringup.run.search_step import run_search
from bringup.check.plan import PlanStep
from bringup.check.plan_compile import call_label
from bringup.core.states import StepOutcome
from bringup.run.step_record import DEFAULT_STEP_TIMEOUT, Frame, StepFailed, label_of, limits, record, step_event, step_failed, where
from bringup.language.procedure import SweepRange
from bringup.core.units import Quantity, format_quantity, unit
from bringup.core.verdict import FAIL, UNKNOWN

# A condition or compute value inside a loop is the same text every time: parse it once (the tree is immutable)
_parsed = functools.lru_cache(maxsize=512)(expr.parse)

def run_steps(ex: Execution, nodes: tuple[PlanStep, ...], frame: Frame) -> None:
    for node in nodes:
        ex.tick()
        try:
            run_step(ex, node, frame)
        except StepFailed as failure:
            if node.step.on_fail == "stop":
                raise
            if frame.gate and ex.progress.first_failure is None:
                ex.progress.first_failure = failure.message  # the phase's reason, though it went on


def run_step(ex: Execution, node: PlanStep, frame: Frame) -> None:
    step = node.step
    if step.retry == 0 and step.timeout is None and node.kind == "measure":
        # the common case, kept lean: a sweep or soak makes thousands of these
        try:
            _measure(ex, node, frame, frame.deadline, 1, 1)
        except StepFailed as failure:
            frame.verdicts.append(failure.verdict)
            raise
        return
    attempts = step.retry + 1
    run = _RUN[node.kind]
    for attempt in range(1, attempts + 1):
        started = ex.clock.now()
        deadline = _deadline(ex, step, frame, started)
        try:
            run(ex, node, frame, deadline, attempt, attempts)
            return
        except StepFailed as failure:
            if attempt == attempts:
                frame.verdicts.append(failure.verdict)
                raise
            step_event(ex, node.id, attempt, "retry",
                       f"{frame.path}: attempt {attempt} of {attempts} did not pass ({failure.message}); retrying",
                       severity="warning")


def _deadline(ex: Execution, step: Any, frame: Frame, now: float) -> float | None:
    own = now + binding.evaluate(step.timeout, frame.scope) if step.timeout is not None else None
    if own is None:
        return frame.deadline
    return own if frame.deadline is None else min(own, frame.deadline)


def _check_deadline(ex: Execution, deadline: float | None) -> None:
    if deadline is not None and ex.clock.now() > deadline:
        raise StepTimeout("no result before the step's deadline")


# -- measure --------------------------------------------------------------------------------------
def _measure(ex: Execution, node: PlanStep, frame: Frame, deadline: float | None, attempt: int,
             attempts: int) -> None:
    step, m = node.step, node.measure
    assert m is not None  # the plan works out every measure step
    clock = ex.clock
    t = clock.now()
    if m.const_args is not None:
        args, label = m.const_args, m.label
    else:
        args = binding.convert_args(m.spec, m.raw, frame.scope)
        label = m.label if step.name else label_of(m.label, args)
    low = m.low if m.low_expr is None else binding.value_in(m.low_expr, frame.scope, m.unit)
    high = m.high if m.high_expr is None else binding.value_in(m.high_expr, frame.scope, m.unit)
    message = None
    try:
        value = float(ex.bench.call(m.role, m.reading, args,
                                    deadline if deadline is not None else t + DEFAULT_STEP_TIMEOUT))
        if deadline is not None and clock.now() > deadline:
            raise StepTimeout("no result before the step's deadline")
    except StepTimeout as exc:
        value, message = math.nan, f"timed out: {exc}"
    except (DriverError, ValueError, TypeError) as exc:
        value, message = math.nan, f"reading failed: {exc}"
    if step.as_ is not None:
        frame.scope[step.as_] = Quantity(value, unit(m.unit))
    record(ex, frame, node.id, label, value, m.unit, low, high, t, ex.bench.identities.get(m.role), message,
           step.gate and frame.gate, attempt, attempts)


# -- compute --------------------------------------------------------------------------------------
def _compute(ex: Execution, node: PlanStep, frame: Frame, deadline: float | None, attempt: int,
             attempts: int) -> None:
    """A value worked out from earlier readings (psi = dT/dP), judged and recorded like a reading."""
    step = node.step
    u = node.unit if node.unit is not None else step.unit or ""
    t = ex.clock.now()
    message = None
    try:
        si = float(expr.compile_expr(_parsed(step.value), frame.scope, None)())
        value = unit(u).from_si(si) if u else si
    except (KeyError, TypeError, ValueError, ZeroDivisionError, OverflowError) as exc:
        value, message = math.nan, f"{step.compute}: cannot compute {step.value} ({exc})"
    low, high = limits(step.limit, frame.scope, u)
    frame.scope[step.compute] = Quantity(value, unit(u))
    label = step.name or step.compute
    record(ex, frame, node.id, label, value, u, low, high, t, None, message, step.gate and frame.gate, attempt,
           attempts)


# -- do, wait, wait_until --------------------------------------------------------------------------
def _do(ex: Execution, node: PlanStep, frame: Frame, deadline: float | None, attempt: int, attempts: int) -> None:
    step, call = node.step, node.call
    assert call is not None
    args = call.args if call.args is not None else binding.convert_args(call.spec, call.raw, frame.scope)
    label = step.name or call_label(step.do, call.spec, args)  # the plan's words, units kept

    def act() -> None:
        ex.bench.call(call.role, call.name, args,
                      deadline if deadline is not None else ex.clock.now() + DEFAULT_STEP_TIMEOUT)
        _check_deadline(ex, deadline)
    _timed(ex, frame, node.id, "do", label, deadline, attempt, act)


def _wait(ex: Execution, node: PlanStep, frame: Frame, deadline: float | None, attempt: int, attempts: int) -> None:
    # recorded under the plan's label, a parameter expanded ("wait 2 s", not "{settle}")
    _timed(ex, frame, node.id, "wait", node.label.removeprefix("wait "), deadline, attempt,
           lambda: ex.wait(binding.evaluate(node.step.wait, frame.scope), deadline))


def _timed(ex: Execution, frame: Frame, step_id: str, kind: str, label: str, deadline: float | None, attempt: int,
           body: Callable[[], None]) -> None:
    started = ex.clock.now()
    try:
        body()
    except StepTimeout as exc:
        step_failed(ex, frame, step_id, kind, label, started, StepOutcome.TIMEOUT, UNKNOWN if kind != "do" else FAIL,
                    f"{label}: timed out ({exc})", attempt)
    except DriverError as exc:
        step_failed(ex, frame, step_id, kind, label, started, StepOutcome.ERROR, FAIL, f"{label}: {exc}", attempt)
    else:
        ex.store.step(ex.run_id, f"{frame.path}/{label}", kind, started, ex.clock.now(), StepOutcome.OK, None, attempt,
                      step_id=step_id, phase_attempt=frame.phase_attempt)


def _wait_until(ex: Execution, node: PlanStep, frame: Frame, deadline: float | None, attempt: int,
                attempts: int) -> None:
    step = node.step
    c = step.wait_until
    timeout = binding.evaluate(c.timeout, frame.scope)
    poll = max(binding.evaluate(c.poll, frame.scope), 1e-3)
    started = ex.clock.now()
    end = started + timeout if deadline is None else min(started + timeout, deadline)
    last_error: list[str] = []
    last_read: dict[str, str] = {}  # what each reading said last, for the diagnosis

    def read(role: str, name: str, args: dict[str, Any]) -> float:
        spec = ex.bench.spec(role)[name]
        conv = binding.convert_args(spec, binding.args_of(spec, args)[0], frame.scope)
        v = float(ex.bench.call(role, name, conv, end))
        last_read[label_of(f"{role}.{name}", conv)] = format_quantity(v, spec.unit or "")
        return unit(spec.unit).to_si(v) if spec.unit else v

    predicate = expr.compile_expr(_parsed(c.condition), frame.scope, read)
    label = step.name or f"wait_until {c.condition}"
    while True:
        try:
            if predicate():
                ex.store.step(ex.run_id, f"{frame.path}/{label}", "wait_until", started, ex.clock.now(),
                              StepOutcome.OK, None, attempt, step_id=node.id, phase_attempt=frame.phase_attempt)
                return
            last_error.clear()
        except StepTimeout:
            pass  # a read cut short by the deadline: the time is up, which is said below
        except (DriverError, ValueError, ZeroDivisionError) as exc:
            last_error[:] = [str(exc)]
        now = ex.clock.now()
        if now >= end:
            why = f"; last read failed: {last_error[0]}" if last_error else ""
            seen = "; last read: " + ", ".join(f"{k} = {v}" for k, v in last_read.items()) if last_read else ""
            what = f"{where(step.name, frame.coords)}: " if step.name else ""
            verdict = UNKNOWN if last_error or not last_read else FAIL
            step_failed(ex, frame, node.id, "wait_until", label, started, StepOutcome.TIMEOUT, verdict,
                        f"{what}'{c.condition}' not true within {now - started:.6g} s{why or seen}", attempt)
        ex.wait(min(poll, end - now))


# -- loops -----------------------------------------------------------------------------------------
def _for_each(ex: Execution, node: PlanStep, frame: Frame, deadline: float | None, attempt: int,
              attempts: int) -> None:
    step = node.step
    names = list(step.for_each)
    axes = [binding.literal_axis(v) for v in step.for_each.values()]
    _loop(ex, node, frame, names, axes, f"for_each[{','.join(names)}]")


def _sweep(ex: Execution, node: PlanStep, frame: Frame, deadline: float | None, attempt: int, attempts: int) -> None:
    step = node.step
    names = list(step.sweep)
    axes = [binding.range_axis(a, frame.scope) if isinstance(a, SweepRange) else binding.literal_axis(a)
            for a in step.sweep.values()]
    _loop(ex, node, frame, names, axes, step.name or f"sweep[{','.join(names)}]")


def _loop(ex: Execution, node: PlanStep, frame: Frame, names: list[str], axes: list[list[Any]], label: str) -> None:
    started = ex.clock.now()
    outcome = StepOutcome.OK
    try:
        for point in itertools.product(*axes):
            scope = {**frame.scope, **dict(zip(names, point))}
            coords = {**frame.coords, **{n: (str(v) if isinstance(v, Quantity) else v) for n, v in zip(names, point)}}
            before = ex.progress.not_passed
            inner = Frame(frame.phase, frame.path, scope, coords, frame.deadline, frame.verdicts,
                          phase_attempt=frame.phase_attempt)
            run_steps(ex, node.steps, inner)
            if node.recover and ex.progress.not_passed != before:
                _recover(ex, node, inner, label, ex.progress.not_passed - before)
    except StepFailed:
        outcome = StepOutcome.ERROR
        raise
    finally:
        ex.store.step(ex.run_id, f"{frame.path}/{label}", "loop", started, ex.clock.now(), outcome, None, 1,
                      step_id=node.id, phase_attempt=frame.phase_attempt)


def _recover(ex: Execution, node: PlanStep, frame: Frame, label: str, failed: int) -> None:
    """A point failed: the part may be hung, and a hung part fails every point after it, so the
    sweep's `recover` steps bring it back first. Said in the record, with the point's coordinates;
    the steps are gates (a part that does not come back stops the phase) and are recorded as steps."""
    where = ", ".join(f"{k}={v}" for k, v in frame.coords.items())
    step_event(ex, node.id, None, "recover", f"{frame.path}: {label} [{where}]: {failed} check(s) did not pass "
                                             f"(last: {ex.progress.not_passed_message}); recovering before the next point",
               severity="warning", data={"sweep": label, "coords": frame.coords, "not_passed": failed,
                                         "steps": len(node.recover)})
    run_steps(ex, node.recover, frame)


def _soak(ex: Execution, node: PlanStep, frame: Frame, deadline: float | None, attempt: int, attempts: int) -> None:
    step = node.step
    duration = binding.evaluate(step.soak.duration, frame.scope)
    every = binding.evaluate(step.soak.every, frame.scope)
    if every <= 0:
        raise StepFailed(FAIL, "soak interval must be positive")
    start = ex.clock.now()
    label = step.name or "soak"
    # samples at 0, E, 2E, ... strictly before D (docs/procedures.md): the soak ends at D, and a
    # sample at D would be taken after the soak is over
    samples = max(1, int(math.ceil(duration / every - 1e-9)))
    step_event(ex, node.id, None, "soak",
               f"{frame.path}: soak for {duration:g} s, sampling every {every:g} s ({samples} samples)",
               data={"duration": duration, "every": every, "samples": samples})
    for k in range(samples):
        elapsed = ex.clock.now() - start
        if k and elapsed >= duration:  # the samples' own steps ran past the soak's end
            step_event(ex, node.id, None, "soak", f"{frame.path}: soak over after {k} of {samples} samples: "
                       f"its steps took longer than its interval", severity="warning",
                       data={"taken": k, "samples": samples})
            break
        # stamped with when it was taken: late if the previous sample's steps overran its interval
        scope = {**frame.scope, "t": Quantity(elapsed, unit("s"))}
        coords = {**frame.coords, "t": _hms(elapsed)}
        ex.report("progress", {"path": frame.path, "done": elapsed, "total": duration})
        run_steps(ex, node.steps, Frame(frame.phase, frame.path, scope, coords, deadline, frame.verdicts,
                                        phase_attempt=frame.phase_attempt))
        ex.wait(max(0.0, start + min((k + 1) * every, duration) - ex.clock.now()), deadline)
    ex.store.step(ex.run_id, f"{frame.path}/{label}", "soak", start, ex.clock.now(), StepOutcome.OK, None, 1,
                  step_id=node.id, phase_attempt=frame.phase_attempt)


def _search(ex: Execution, node: PlanStep, frame: Frame, deadline: float | None, attempt: int, attempts: int) -> None:
    run_search(ex, node, frame, deadline, run_steps)


# how each kind of plan step runs: (execution, step, frame, deadline, attempt, attempts)
_RUN: dict[str, Callable[[Execution, PlanStep, Frame, float | None, int, int], None]] = {
    "measure": _measure, "do": _do, "wait": _wait, "wait_until": _wait_until, "for_each": _for_each,
    "sweep": _sweep, "soak": _soak, "compute": _compute, "search": _search,
}


def _hms(seconds: float) -> str:
    s = int(round(seconds))
    return f"{s // 3600:02d}:{s % 3600 // 60:02d}:{s % 60:02d}"
