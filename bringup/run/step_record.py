"""What every step shares: where it runs (`Frame`), how it fails (`StepFailed`), how a value is
judged and recorded, and how a step is named in the record. The step kinds (`steps.py`,
`search_step.py`) build on this; it builds on none of them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bringup.check import binding
from bringup.run.execution import Execution
from bringup.core.verdict import PASS, UNKNOWN, describe_limits, judge
from bringup.store.records import Measurement

DEFAULT_STEP_TIMEOUT = 60.0  # seconds; a driver call with no declared timeout still cannot hang forever


class StepFailed(Exception):
    """A step did not pass; unless it says `on_fail: continue`, its phase stops here."""

    def __init__(self, verdict: str, message: str) -> None:
        super().__init__(message)
        self.verdict, self.message = verdict, message


class PhaseTimeout(Exception):
    pass


@dataclass(slots=True)
class Frame:
    """Where in the procedure a step runs: phase, nesting path, loop coordinates, deadline."""

    phase: str
    path: str
    scope: dict[str, Any]
    coords: dict[str, Any]
    deadline: float | None
    verdicts: list[str]
    gate: bool = True  # False inside a search: its probes are data, their failures are its signal
    phase_attempt: int = 1  # which run of the phase (`retries:`), for the record



def record(ex: Execution, frame: Frame, step_id: str, label: str, value: float, unit_symbol: str,
           low: float | None, high: float | None, t: float, instrument: str | None, message: str | None, gate: bool,
           attempt: int = 1, attempts: int = 1) -> None:
    """Judge a value, store it under the plan step that took it (and its attempt), and raise
    StepFailed when it is a gate that did not pass."""
    verdict = judge(value, low, high)
    if verdict != PASS:
        if message is None:
            shown = where(label, frame.coords) if frame.coords else label
            message = (f"{shown} = NaN (no valid reading)" if verdict == UNKNOWN else
                       f"{shown} = {value:.6g} {unit_symbol} not in {describe_limits(low, high, unit_symbol)}"
                       .replace("  ", " "))
        if attempts > 1:
            message = f"{message} (attempt {attempt} of {attempts})"
        ex.progress.not_passing(message)
    coords = frame.coords or None
    ex.store.measurement(Measurement(run_id=ex.run_id, path=frame.path, name=label,
                                     value=None if value != value else value, unit=unit_symbol, low=low, high=high,
                                     verdict=verdict, t=t, coords=coords, instrument=instrument, dut=ex.dut,
                                     message=message, gate=gate, step_id=step_id, attempt=attempt,
                                     phase_attempt=frame.phase_attempt))
    if ex.reporter is not None:
        ex.report("measurement", {"path": frame.path, "name": label, "value": value, "unit": unit_symbol, "low": low,
                                  "high": high, "verdict": verdict, "coords": coords, "message": message,
                                  "gate": gate})
    if not gate:
        if not frame.gate:
            frame.verdicts.append(verdict)  # a search's probe: the search reads these
        return  # characterization: judged and kept, never a reason to stop
    if verdict != PASS:
        raise StepFailed(verdict, message or verdict)
    frame.verdicts.append(PASS)  # failures are counted once, by run_step, after the last attempt


def limits(limit: Any, scope: dict[str, Any], u: str) -> tuple[float | None, float | None]:
    """A limit's low and high in unit `u`, evaluated in this scope (they may use named values)."""
    if limit is None:
        return None, None
    return (None if limit.low is None else binding.value_in(limit.low, scope, u),
            None if limit.high is None else binding.value_in(limit.high, scope, u))


def where(label: str, coords: dict[str, Any]) -> str:
    """A label with the loop coordinates its name does not already say (which chip, port, voltage),
    for messages: "PRBS31 BER bound [chip=3, port=2]". The soak's time is in the record already."""
    extra = [f"{k}={v}" for k, v in coords.items() if k != "t" and f"{k}=" not in label]
    return f"{label} [{', '.join(extra)}]" if extra else label


def label_of(base: str, args: dict[str, Any]) -> str:
    if not args:
        return base
    return f"{base}({', '.join(f'{k}={_arg(v)}' for k, v in args.items())})"


def _arg(v: Any) -> str:
    if isinstance(v, bool):
        return "on" if v else "off"
    return f"{v:g}" if isinstance(v, float) else str(v)


def step_failed(ex: Execution, frame: Frame, step_id: str, kind: str, label: str, started: float, outcome: str,
                verdict: str, message: str, attempt: int) -> None:
    ex.store.step(ex.run_id, f"{frame.path}/{label}", kind, started, ex.clock.now(), outcome, message, attempt,
                  step_id=step_id, phase_attempt=frame.phase_attempt)
    step_event(ex, step_id, attempt, "step", message, severity="error")
    ex.progress.not_passing(message)
    raise StepFailed(verdict, message)


def step_event(ex: Execution, step_id: str, attempt: int | None, kind: str, message: str, severity: str = "info",
               data: dict | None = None, durable: bool = False) -> None:
    """An event about one plan step (a retry, a failed step, a recovery): `Execution.event`, with
    the step's id and attempt in the event's columns, so views need not read them from the text."""
    ex.store.event(ex.run_id, ex.clock.now(), kind, message, severity=severity, data=data, durable=durable,
                   step_id=step_id, attempt=attempt)
    ex.report(kind, {"message": message, "severity": severity})
