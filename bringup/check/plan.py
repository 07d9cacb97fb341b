"""The compiled plan: a procedure checked against a station, as one immutable tree.

Validation builds it once (`plan_compile.compile_plan`); the runner walks it, `bringup plan`
prints it, the pytest plugin makes its items from it, and every record the runner writes carries
the id of the step that made it. A step's id is its place in the file (`pcie/3/1`: the phase,
then the 1-based index at each level; `vmin/2/recover/1` for a sweep's recover steps,
`safe_state/2`, `monitors/1`), so the same procedure file gives the same ids on every run and
two runs compare step by step.

A measure step's `MeasurePlan` is worked out here too (which reading, with which arguments,
against which limits, all converted to the reading's unit), so the runner's hot path only reads
and judges.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

from bringup.check import binding
from bringup.language import expr
from bringup.drivers.base import ActionSpec
from bringup.language.procedure import ComputeStep, DoStep, ForEachStep, MeasureStep, Monitor, SearchStep, SoakStep, SweepStep, Value, WaitStep, WaitUntilStep
from bringup.language.source import Loc

# The one table of step kinds: every concern (checking, compiling, running, outlining) keys its
# own table on these names rather than asking `isinstance` of the model.
KINDS: dict[type, str] = {DoStep: "do", MeasureStep: "measure", ComputeStep: "compute", SearchStep: "search",
                          WaitStep: "wait", WaitUntilStep: "wait_until", ForEachStep: "for_each", SweepStep: "sweep",
                          SoakStep: "soak"}
LOOPS = frozenset({"for_each", "sweep", "soak"})


def kind_of(step: Any) -> str:
    """The kind of a procedure step ("do", "measure", ..., "soak")."""
    return KINDS[type(step)]
from bringup.core.units import expect_reference, parse_expect


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
            if fixed(lo_v, parameters):
                low = binding.value_in(lo_v, parameters, u)
            else:
                low_expr = lo_v
        if hi_v is not None:
            if fixed(hi_v, parameters):
                high = binding.value_in(hi_v, parameters, u)
            else:
                high_expr = hi_v
    return MeasurePlan(role, reading, spec, raw, const_args, u, low, high, low_expr, high_expr,
                       step.name or step.measure)


def fixed(v: Value, parameters: dict[str, Any]) -> bool:
    """True when a limit depends only on literals and parameters, not on loop variables."""
    if v.const is not None:
        return True
    assert v.node is not None
    return not expr.readings_in(v.node) and expr.names_in(v.node) <= parameters.keys()


@dataclass(frozen=True)
class GuardrailCheck:
    """One station limit a call was checked against at validation (the driver checks it again at
    the call). `value` is the argument as the call gives it, or None when loop values set it:
    then every value the loop can take was checked."""

    param: str
    value: str | None
    limit: str  # the station's limit in words: "voltage ≤ 13 V on channel 1"
    verdict: str = "ok"  # validation refuses a plan with any other

    def __str__(self) -> str:
        what = f"{self.param} = {self.value}" if self.value is not None else f"{self.param} at every loop value"
        return f"{self.verdict}: {what} within the station limit ({self.limit})"


@dataclass(frozen=True)
class Call:
    """A driver call a step makes: `role.name(args)`. `args` are the arguments in the driver's
    units when they are constant (None when they depend on loop variables: `raw` then says how)."""

    role: str
    name: str
    spec: ActionSpec
    raw: dict[str, Any]
    args: dict[str, Any] | None
    guardrails: tuple[GuardrailCheck, ...] = ()  # the station limits checked on this call
    text: str = ""  # for people: `cdu.start(setpoint=30 degC, flow=6 L/min)`

    @property
    def ref(self) -> str:
        return f"{self.role}.{self.name}"


@dataclass(frozen=True)
class PlanStep:
    """One step of the plan: its id, kind and label, the driver call it makes (if any), its
    limits, and the steps nested in it. `step` is the procedure's own (frozen) model of it."""

    id: str
    kind: str
    label: str  # what a person calls it: its name, or what it does (units kept, constants expanded)
    loc: Loc  # where it is in the procedure file
    step: Any
    call: Call | None = None
    measure: MeasurePlan | None = None
    unit: str | None = None  # a compute's or search's result unit
    limits: str | None = None  # in words, in the reading's unit
    loop: str | None = None  # a loop's iterations in words ("port in [0, 1, 2, 3]")
    steps: tuple["PlanStep", ...] = ()
    recover: tuple["PlanStep", ...] = ()

    @property
    def gate(self) -> bool:
        return getattr(self.step, "gate", True)

    def walk(self) -> "list[PlanStep]":
        """This step and every step inside it, in the order they are declared."""
        out = [self]
        for child in self.steps + self.recover:
            out.extend(child.walk())
        return out


@dataclass(frozen=True)
class PhasePlan:
    id: str
    index: int  # its place among the declared phases
    after: tuple[str, ...]
    on_fail: str
    retries: int
    timeout: str | None
    steps: tuple[PlanStep, ...]
    phase: Any  # the procedure's model of the phase


@dataclass(frozen=True)
class MonitorPlan:
    id: str
    label: str
    call: Call
    every: str
    limits: str
    on_violation: str
    armed: str  # when it reads: "always", "after power_on", "during soak, stress"
    monitor: Monitor


@dataclass(frozen=True)
class Plan:
    """Everything a run will do, in order: phases (dependency order in `order`), the interlocks
    and the safe state. Built by validation; nothing in it touches an instrument."""

    procedure: str
    version: str
    station: str | None  # None: an outline of the procedure alone (plan_compile.outline_plan)
    parameters: dict[str, Any]
    phases: tuple[PhasePlan, ...]  # as declared
    order: tuple[str, ...]  # phase ids in the order they run
    monitors: tuple[MonitorPlan, ...]
    safe_state: tuple[PlanStep, ...]
    by_id: Mapping[str, PlanStep] = field(default_factory=dict, compare=False, repr=False)  # every step by id

    def phase(self, phase_id: str) -> PhasePlan:
        return next(p for p in self.phases if p.id == phase_id)
