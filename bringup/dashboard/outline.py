"""What the run's procedure says the run should look like: limits, durations, loop sizes.

The store records what happened; the procedure (its path and sha256 are in the run's row)
says what was planned. From it the dashboard learns the limits a telemetry channel is judged
against (the interlocks and checks that read it), how long the phases still to come will take
at least (their soaks and waits), how many points a sweep has, and how many safe-state steps
there are. It walks the plan's tree of the procedure (`plan_compile.outline_plan`: the same
step ids and kinds as the run's, without a station). If the file is gone or has changed since
the run started, the dashboard shows the run without these rather than guess.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from bringup.check import binding
from bringup.check.plan import PlanStep
from bringup.check.plan_compile import outline_plan
from bringup.language.procedure import MeasureStep, Procedure, SweepRange, Value
from bringup.core.states import PhaseState
from bringup.core.units import expect_reference, parse_expect, unit
from bringup.dashboard.telemetry import parse_channel


@dataclass(frozen=True)
class Loop:
    """A sweep or for_each: its measurements carry `names` as coordinates; `total` points in all
    (outer loops included, so progress counts every point the phase will take)."""

    names: frozenset[str]
    total: int
    label: str


@dataclass(frozen=True)
class LimitSource:
    """A reading something in the procedure judges: an interlock (`trip`) or a measure step."""

    read: str  # role.reading
    args: dict[str, Any]
    low: Value | None
    high: Value | None
    monitor: str | None  # the interlock's name; None for a measure step


@dataclass
class Outline:
    procedure: Procedure
    scope: dict[str, Any]
    estimates: dict[str, float] = field(default_factory=dict)  # phase -> at least this long (run s)
    after: dict[str, list[str]] = field(default_factory=dict)
    loops: dict[str, list[Loop]] = field(default_factory=dict)  # phase -> its loops
    sources: list[LimitSource] = field(default_factory=list)

    @property
    def safe_steps(self) -> int:
        return len(self.procedure.safe_state)

    @property
    def monitor_names(self) -> list[str]:
        return [m.name or m.read for m in self.procedure.monitors]

    def limits_for(self, channel: str, channel_unit: str) -> tuple[float | None, float | None]:
        """The tightest limits any interlock or check puts on a channel, in the channel's unit.

        `monitor/<name>` is that interlock's own reading. `role.reading` is judged by whatever
        reads it with no arguments; a chip channel `role.chipN.metric` by what reads
        `role.metric` with `chip: N`, and by `role.max_metric` / `role.min_metric` (the hottest
        chip must stay under 105 °C exactly when every chip must).
        """
        lows: list[float] = []
        highs: list[float] = []
        role, chip, metric = parse_channel(channel)
        for src in self.sources:
            if channel.startswith("monitor/"):
                applies = src.monitor == channel[len("monitor/"):]
                use_low = use_high = True
            elif role is None:
                applies, use_low, use_high = src.read == channel and not src.args, True, True
            else:
                plain = src.read == f"{role}.{metric}"
                applies = plain and src.args == {"chip": chip}
                use_low = use_high = True
                if not applies and not src.args:
                    use_high = src.read == f"{role}.max_{metric}"
                    use_low = src.read == f"{role}.min_{metric}"
                    applies = use_low or use_high
            if not applies:
                continue
            low = _value(src.low, self.scope, channel_unit) if use_low else None
            high = _value(src.high, self.scope, channel_unit) if use_high else None
            if low is not None:
                lows.append(low)
            if high is not None:
                highs.append(high)
        return (max(lows) if lows else None), (min(highs) if highs else None)

    def remaining(self, states: dict[str, str]) -> float:
        """At least how long the phases not yet started will take, skipping those that cannot run."""
        blocked = {p for p, s in states.items() if s in (PhaseState.FAILED, PhaseState.SKIPPED, PhaseState.ABORTED)}
        total = 0.0
        for pid, state in states.items():
            if state != PhaseState.PENDING:
                continue
            if any(d in blocked for d in self.after.get(pid, [])):
                blocked.add(pid)  # its gate is already shut: it will be skipped
                continue
            total += self.estimates.get(pid, 0.0)
        return total


def load(run: dict) -> tuple[Outline | None, str | None]:
    """The outline of a run's procedure, or (None, why) when the file cannot be trusted."""
    from bringup.language.source import InvalidInput
    from bringup.check.validate import load_procedure

    path = Path(run.get("procedure_path") or "")
    if not run.get("procedure_path") or not path.is_file():
        return None, f"no limits or estimates: procedure file not found at {path}"
    try:
        proc, doc = load_procedure(path)
    except (InvalidInput, OSError) as exc:
        return None, f"no limits or estimates: procedure file {path} no longer loads ({type(exc).__name__})"
    if hashlib.sha256(doc.text.encode()).hexdigest() != run.get("procedure_sha256"):
        return None, f"no limits or estimates: procedure file changed since the run started ({path})"
    scope = {k: binding.parse_parameter(v) for k, v in (run.get("parameters") or {}).items()}
    try:
        return build(proc, scope), None
    except Exception as exc:  # parameters the file's steps cannot be worked out with: show the run without
        return None, f"no limits or estimates: the run's parameters do not fit {path} ({type(exc).__name__})"


def build(proc: Procedure, scope: dict[str, Any]) -> Outline:
    """The outline, from the plan's tree of the procedure (its steps, kinds and loops)."""
    out = Outline(proc, scope)
    for m in proc.monitors:
        out.sources.append(LimitSource(m.read, _const_args(m.with_), m.limit.low, m.limit.high, m.name or m.read))
    for phase in outline_plan(proc, scope).phases:
        out.after[phase.id] = list(phase.after)
        out.estimates[phase.id] = _estimate(phase.steps, scope)
        loops: list[Loop] = []
        _walk(phase.steps, scope, frozenset(), 1, loops, out.sources)
        out.loops[phase.id] = loops
    return out


def _walk(nodes: tuple[PlanStep, ...], scope: dict[str, Any], outer: frozenset[str], outer_n: int, loops: list[Loop],
          sources: list[LimitSource]) -> None:
    for node in nodes:
        kind, step = node.kind, node.step
        if kind == "measure":
            low, high = _measure_limits(step, scope)
            if low is not None or high is not None:
                sources.append(LimitSource(step.measure, _const_args(step.with_), low, high, None))
        elif kind in ("sweep", "for_each"):
            axes = step.sweep if kind == "sweep" else step.for_each
            n = _points(axes, scope)
            names = outer | frozenset(axes)
            label = getattr(step, "name", None) or f"{kind} {', '.join(axes)}"
            if n is not None:
                loops.append(Loop(names, outer_n * n, label))
            _walk(node.steps, scope, names, outer_n * (n or 1), loops, sources)
        elif kind == "soak":
            _walk(node.steps, scope, outer | {"t"}, outer_n, [], sources)


def _points(axes: dict[str, Any], scope: dict[str, Any]) -> int | None:
    n = 1
    try:
        for axis in axes.values():
            pts = binding.range_axis(axis, scope) if isinstance(axis, SweepRange) else binding.literal_axis(axis)
            n *= len(pts)
    except Exception:  # an axis that depends on an outer loop's variable: size unknown until run time
        return None
    return n


# run-clock seconds a step of each kind takes at least (readings and actions count as 0)
_AT_LEAST: dict[str, Callable[[PlanStep, dict[str, Any]], float]] = {
    "wait": lambda node, scope: binding.evaluate(node.step.wait, scope),
    "soak": lambda node, scope: max(binding.evaluate(node.step.soak.duration, scope), _estimate(node.steps, scope)),
    "sweep": lambda node, scope: (_points(node.step.sweep, scope) or 1) * _estimate(node.steps, scope),
    "for_each": lambda node, scope: (_points(node.step.for_each, scope) or 1) * _estimate(node.steps, scope),
}


def _estimate(nodes: tuple[PlanStep, ...], scope: dict[str, Any]) -> float:
    """Run-clock seconds the steps take at least: their waits and soaks (readings count as 0)."""
    total = 0.0
    for node in nodes:
        at_least = _AT_LEAST.get(node.kind)
        if at_least is None:
            continue
        try:
            total += at_least(node, scope)
        except Exception:  # a duration that depends on a loop variable: leave it out of the bound
            continue
    return total


def _const_args(with_: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for k, v in with_.items():
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            v = int(v) if float(v).is_integer() else v
        out[k] = v
    return out


def _measure_limits(step: MeasureStep, scope: dict[str, Any]) -> tuple[Value | None, Value | None]:
    if step.limit is not None:
        return step.limit.low, step.limit.high
    if step.expect is not None:
        try:
            ref = expect_reference(step.expect)
            _, lo, hi = parse_expect(step.expect, scope[ref] if ref else None)
        except Exception:  # the nominal is a loop variable: no fixed window to show
            return None, None
        return (Value(str(lo), lo, None), Value(str(hi), hi, None))
    return None, None


def _value(v: Value | None, scope: dict[str, Any], channel_unit: str) -> float | None:
    if v is None:
        return None
    try:
        si = binding.evaluate(v, scope)
        target = unit(channel_unit)
    except Exception:  # refers to a loop variable, or a unit the units table does not know
        return None
    if v.const is not None and v.const.dimension == "number":
        return v.const.value  # a bare number is already in the reading's unit
    if v.const is not None and v.const.dimension != target.dimension:
        return None  # a limit on some other reading that happens to share the name
    value = target.from_si(si)
    return None if math.isnan(value) else value
