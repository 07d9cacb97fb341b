"""Which top-level step each record of a run came from, and what that makes each step's item.

The runner records measurements and action steps as they happen, in separate tables, with the
phase as the path of every measurement. The `Tape` sees them handed over in order, and the
runner runs a phase's top-level steps in order, so each record belongs to the first step at or
after the current one that could have made it (its measurement name or action label, or one of
a loop's nested steps); a step is finished by its last allowed attempt or, for a loop, by the
loop's own record.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..states import PhaseState, StepOutcome, Verdict


@dataclass
class Outcome:
    """What one item's step did."""

    status: str = "passed"  # passed | failed | skipped
    message: str = ""
    measurements: list[dict] = field(default_factory=list)
    steps: list[dict] = field(default_factory=list)
    done: bool = False

    def add(self, kind: str, rec: dict) -> None:
        (self.measurements if kind == "m" else self.steps).append(rec)

    @property
    def recorded(self) -> bool:
        return bool(self.measurements or self.steps)

    def failures(self) -> list[str]:
        """The final word of each record that did not pass (a retried attempt is not final)."""
        from ..junit import attempt_of, failure_line

        out = []
        for m in self.measurements:
            attempt = attempt_of(m["message"])
            if m["verdict"] != Verdict.PASS and m.get("gate", True) and not (attempt and attempt[0] < attempt[1]):
                out.append(failure_line(m))
        for i, s in enumerate(self.steps):
            retried = any(t["path"] == s["path"] and t["attempt"] == s["attempt"] + 1 for t in self.steps[i + 1:])
            if s["outcome"] not in (StepOutcome.OK, StepOutcome.SKIPPED) and not retried:
                out.append(s["message"] or f"{s['path']}: {s['outcome']}")
        return out


class Tape:
    """The runner's store, recording every phase, step and measurement in the order they happen.

    Measurements and steps live in separate tables; only the order of hand-over says which
    top-level step a record came from.
    """

    def __init__(self, store: Any) -> None:
        self._store = store
        self.records: list[tuple[str, Any]] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    def phase(self, run_id: int, phase_id: str, **kw: Any) -> None:
        self._store.phase(run_id, phase_id, **kw)
        self.records.append(("phase", {"phase": phase_id, **kw}))

    def step(self, run_id: int, path: str, kind: str, started_t: float, ended_t: float, outcome: str,
             message: str | None = None, attempt: int = 1) -> None:
        self._store.step(run_id, path, kind, started_t, ended_t, outcome, message, attempt)
        self.records.append(("s", {"path": path, "kind": kind, "started_t": started_t, "ended_t": ended_t,
                                   "outcome": outcome, "message": message, "attempt": attempt}))

    def measurement(self, run_id: int, path: str, name: str, value: Any, unit: str, low: Any, high: Any,
                    verdict: str, t: float, coords: dict | None = None, instrument: str | None = None,
                    dut: str | None = None, message: str | None = None, gate: bool = True) -> None:
        self._store.measurement(run_id, path, name, value, unit, low, high, verdict, t, coords, instrument, dut,
                                message, gate=gate)
        self.records.append(("m", {"path": path, "name": name, "value": value, "unit": unit, "low": low,
                                   "high": high, "verdict": verdict, "t": t, "coords": dict(coords or {}),
                                   "instrument": instrument, "message": message, "gate": gate}))


# -- which top-level step a record belongs to -------------------------------------------------------

def step_label(step: Any) -> str:
    """What an item is called: the step's name, or what it does."""
    from ..procedure import (ComputeStep, DoStep, ForEachStep, MeasureStep, SearchStep, SoakStep, SweepStep, WaitStep,
                             WaitUntilStep)

    if isinstance(step, MeasureStep):
        return step.name or step.measure
    if isinstance(step, ComputeStep):
        return step.name or step.compute
    if isinstance(step, SearchStep):
        return step.name or f"{step.search.param} search"
    if isinstance(step, DoStep):
        return step.name or step.do
    if isinstance(step, WaitStep):
        return f"wait {step.wait}"
    if isinstance(step, WaitUntilStep):
        return step.name or f"wait_until {step.wait_until.condition}"
    if isinstance(step, ForEachStep):
        return step.name or f"for_each[{','.join(step.for_each)}]"
    if isinstance(step, SweepStep):
        return step.name or f"sweep[{','.join(step.sweep)}]"
    if isinstance(step, SoakStep):
        return step.name or "soak"
    raise TypeError(type(step))  # pragma: no cover - the model admits no other step


def _loop_record_label(step: Any) -> str | None:
    """The label the runner records a loop's own step under (for_each ignores `name`)."""
    from ..procedure import ForEachStep, SoakStep, SweepStep

    if isinstance(step, ForEachStep):
        return f"for_each[{','.join(step.for_each)}]"
    if isinstance(step, SweepStep):
        return step.name or f"sweep[{','.join(step.sweep)}]"
    if isinstance(step, SoakStep):
        return step.name or "soak"
    return None


def _named(label: str, base: str, name: str | None) -> bool:
    stem = name or base  # a named step in a loop carries its coordinates: "Vmin(frequency=1 GHz, chip=0)"
    return label == stem or label.startswith(stem + "(")


def owns(step: Any, kind: str, rec: dict, prefix: str) -> bool:
    """Whether `rec` (a measurement "m" or a step "s" record) came from `step` or a step inside it."""
    from ..procedure import ComputeStep, DoStep, MeasureStep, SearchStep, WaitStep, WaitUntilStep

    if kind == "m":
        if isinstance(step, MeasureStep):
            return _named(rec["name"], step.measure, step.name)
        if isinstance(step, ComputeStep):
            return _named(rec["name"], step.compute, step.name)
        if isinstance(step, SearchStep) and _named(rec["name"], f"{step.search.param} search", step.name):
            return True
    else:
        label = rec["path"][len(prefix):] if rec["path"].startswith(prefix) else None
        if label is None:
            return False
        if isinstance(step, DoStep):
            return rec["kind"] == "do" and _named(label, step.do, step.name)
        if isinstance(step, WaitStep):
            return rec["kind"] == "wait" and label == str(step.wait)
        if isinstance(step, WaitUntilStep):
            return rec["kind"] == "wait_until" and label == (step.name or f"wait_until {step.wait_until.condition}")
        if rec["kind"] in ("loop", "soak") and label == _loop_record_label(step):
            return True
        if isinstance(step, SearchStep) and (rec["kind"] == "search" or (
                rec["kind"] == "do" and label.startswith(step.search.set) and label.endswith("(restore)"))):
            return True
    return any(owns(child, kind, rec, prefix) for child in getattr(step, "steps", None) or ())


def _finished(step: Any, out: Outcome, kind: str, rec: dict) -> bool:
    from ..procedure import SearchStep

    if isinstance(step, SearchStep):  # its probes come first; its own result comes last
        return kind == "m" and rec.get("gate", True) and _named(rec["name"], f"{step.search.param} search", step.name)
    loop_label = _loop_record_label(step)
    if loop_label is not None:
        return kind == "s" and rec["kind"] in ("loop", "soak") and rec["path"].endswith("/" + loop_label)
    if (kind == "m" and (rec["verdict"] == Verdict.PASS or not rec.get("gate", True))) or (kind == "s" and rec["outcome"] == StepOutcome.OK):
        return True
    return len(out.measurements) + len(out.steps) >= step.retry + 1


def attribute(steps: list[Any], records: list[tuple[str, dict]], phase: str) -> tuple[list[Outcome], int]:
    """Each record to the top-level step it came from, in order (the runner runs them in order).
    Returns the outcomes and the index of the first step that did not finish."""
    outs = [Outcome() for _ in steps]
    cursor, prefix = 0, phase + "/"
    for kind, rec in records:
        j = next((j for j in range(cursor, len(steps)) if owns(steps[j], kind, rec, prefix)), None)
        if j is None:
            continue
        cursor = j
        outs[j].add(kind, rec)
        if _finished(steps[j], outs[j], kind, rec):
            outs[j].done = True
            cursor = j + 1
    return outs, cursor


def judge_phase(steps: list[Any], names: list[str], records: list[tuple[str, dict]], phase: str,
                state: str, reason: str | None) -> list[Outcome]:
    """Every item of a phase, judged from its records and how the phase ended."""
    if state in (PhaseState.PENDING, PhaseState.SKIPPED):
        return [Outcome("skipped", reason or "not run") for _ in steps]
    outs, cursor = attribute(steps, records, phase)
    for out in outs:
        failures = out.failures()
        if failures:
            out.status = "failed"
            out.message = failures[0] + (f" (and {len(failures) - 1} more)" if len(failures) > 1 else "")
    if state == PhaseState.PASSED:
        return outs
    stopper = next((i for i, o in enumerate(outs) if o.done and o.status == "failed"
                    and steps[i].on_fail == "stop"), None)
    if cursor < len(steps) and (outs[cursor].recorded or stopper is None):
        blame: int | None = cursor
    elif cursor >= len(steps) and not any(o.status == "failed" for o in outs):
        blame = len(steps) - 1
    else:
        blame = None
    why = reason or state
    for said in ("aborted: ", "not run: "):  # the runner's words for a phase it left: the state says it
        if state == PhaseState.ABORTED and why.startswith(said):
            why = why[len(said):]
    if blame is not None and outs[blame].status != "failed":
        outs[blame].status = "failed"
        outs[blame].message = (f"phase {phase} {state} during this step: {why}" if state != PhaseState.FAILED
                               else f"phase {phase} failed: {why}")
    first = blame if blame is not None else stopper
    for i in range((first or 0) + 1, len(steps)):
        if not outs[i].done and not outs[i].recorded:
            outs[i].status = "skipped"
            outs[i].message = f"not run: phase {phase} stopped at '{names[first]}' ({why})"
    return outs

