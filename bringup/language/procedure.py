"""The procedure language as plain, validated, immutable data (pydantic v2).

This module says what a procedure *is*; `validate.py` checks it against drivers and a station;
`runner.py` is the only thing that acts on it. The JSON Schema for editors comes from these
models too, so the language has exactly one definition.

Shorthands people write (all normalised before validation):
  safe_state:
    - sled.power_off                 # a bare action
    - psu.output: off                # an action and its first parameter
  after: power_on                    # one dependency without a list
  wait: 200 ms                       # a duration, or "{param}"
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Annotated, Any, Literal, Union

from pydantic import (AfterValidator, BaseModel, BeforeValidator, ConfigDict, Discriminator, Field, PlainSerializer, Tag,
                      WithJsonSchema, field_validator, model_validator)

from bringup.language import expr
from bringup.core.units import Quantity, UnitError, parse_expect, parse_quantity

IDENT = r"^[A-Za-z_][A-Za-z0-9_]*$"
ACTION_REF = r"^[A-Za-z_][A-Za-z0-9_]*\.[A-Za-z_][A-Za-z0-9_]*$"
_REF = re.compile(r"^\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}$")

# A key that a procedure refers to by name elsewhere (a role in `psu.set`, a parameter or loop
# variable in `{vdd}` and `-p vdd=...`): a key another step could never name is a typo or a trick.
Name = Annotated[str, Field(pattern=IDENT)]


def _one_line(v: str | None) -> str | None:
    """What people read as a step's or an interlock's name: reports, JUnit, the dashboard, the log.
    Printable on one line, so a name cannot move the cursor, hide text or forge a line of the log."""
    if v is not None and not v.isprintable():
        bad = next(ch for ch in v if not ch.isprintable())
        raise _NotOneLine(f"{v!r} has a character that does not print on one line (U+{ord(bad):04X}); a name is "
                          "one line of visible text")
    return v


class _NotOneLine(ValueError):
    hint = "retype it as plain text on one line, without escapes such as \\n or \\u202e"


# what an editor can be told of the same rule (the control and format characters; the model's
# isprintable() also refuses the rarer separators and unassigned code points)
_ONE_LINE = "^[^\\u0000-\\u001f\\u007f-\\u00a0\\u00ad\\u200b-\\u200f\\u2028-\\u202e\\u2060-\\u206f\\ufeff]*$"
Label = Annotated[str, AfterValidator(_one_line), WithJsonSchema({"type": "string", "pattern": _ONE_LINE})]


@dataclass(frozen=True)
class Value:
    """A number in a procedure: a literal quantity (`12 V`), a parameter (`{vdd_core}`), or an
    expression over parameters and loop variables (`vdd_core * 0.97`)."""

    text: str
    const: Quantity | None
    node: expr.Node | None

    def __str__(self) -> str:
        return self.text


def _parse_value(raw: Any) -> Value:
    if isinstance(raw, Value):
        return raw
    if isinstance(raw, bool) or raw is None or isinstance(raw, (list, dict)):
        raise ValueError(f"expected a quantity such as '12 V' or a parameter such as '{{vdd_core}}', not {raw!r}")
    if isinstance(raw, (int, float)):
        return Value(str(raw), parse_quantity(raw), None)
    text = str(raw).strip()
    try:
        return Value(text, parse_quantity(text), None)
    except UnitError as unit_error:
        m = _REF.match(text)
        source = m.group(1) if m else text
        try:
            return Value(text, None, expr.parse(source))
        except expr.ExprError as exc:
            if m or isinstance(exc, expr.TooComplex) or any(op in text for op in "*/()<>=") or re.match(IDENT, text):
                raise
            raise unit_error from None


ValueField = Annotated[
    Value, BeforeValidator(_parse_value), PlainSerializer(str),
    WithJsonSchema({"type": ["string", "number"],
                    "description": "a quantity such as '12 V', a parameter such as '{vdd_core}', or an expression"}),
]


def _listify(v: Any) -> Any:
    return [v] if isinstance(v, str) else v


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)


class Limit(_Model):
    """Pass when low <= value <= high (either side may be left open)."""

    low: ValueField | None = None
    high: ValueField | None = None

    @model_validator(mode="after")
    def _one_side(self) -> "Limit":
        if self.low is None and self.high is None:
            raise ValueError("a limit needs 'low', 'high' or both")
        return self


class _Step(_Model):
    name: Label | None = Field(None, description="what a person reads in reports; defaults to the action")
    timeout: ValueField | None = Field(None, description="give up on this step after this long (e.g. '5 s')")
    retry: int = Field(0, ge=0, le=100, description="extra attempts after an error, timeout or non-PASS verdict")
    on_fail: Literal["stop", "continue"] = Field(
        "stop", description="stop: the phase stops here (later steps may depend on this one); continue: record and go on")


class DoStep(_Step):
    """Run a driver action: `do: psu.set` with typed, unit-carrying arguments."""

    do: str = Field(pattern=ACTION_REF, description="role.action")
    with_: dict[str, Any] = Field(default_factory=dict, alias="with")


def _expression(text: str, what: str) -> str:
    """`text` if it parses as an expression; else the parser's complaint, with its column."""
    try:
        expr.parse(text)
    except expr.ExprError as exc:
        raise expr.ExprError(f"{exc} (at column {exc.offset + 1} of the {what})", exc.offset, exc.hint) from None
    return text


_AS = Field(None, alias="as", pattern=IDENT,
            description="name the value for the steps that follow (in compute values and limits)")
_GATE = Field(True, description="false: characterization data (a shmoo point) - recorded and judged, but it never "
                                "fails the step or the phase")


class MeasureStep(_Step):
    """Take a reading and judge it: PASS, FAIL or UNKNOWN (errors, timeouts and NaN are never PASS)."""

    measure: str = Field(pattern=ACTION_REF, description="role.reading")
    with_: dict[str, Any] = Field(default_factory=dict, alias="with")
    limit: Limit | None = None
    expect: str | None = Field(None, description="nominal and tolerance, e.g. '0.75 V ± 3%'")
    as_: str | None = _AS
    gate: bool = _GATE

    @field_validator("expect")
    @classmethod
    def _expect(cls, v: str | None) -> str | None:
        if v is not None:
            try:
                parse_expect(v)
            except UnitError as exc:
                raise ValueError(str(exc)) from None
        return v

    @model_validator(mode="after")
    def _not_both(self) -> "MeasureStep":
        if self.limit is not None and self.expect is not None:
            raise ValueError("give either 'limit' or 'expect', not both")
        return self


class ComputeStep(_Step):
    """Work out a value from earlier readings (named with `as:`) and judge it like a measurement:
    `compute: psi`, `value: (tj_load - tj_idle) / (p_load - p_idle)`, `unit: K/W`, `limit: {high: 0.08 K/W}`."""

    compute: str = Field(pattern=IDENT, description="the value's name (also usable by later steps)")
    value: str = Field(description="an expression over parameters, loop variables and values named with 'as:'")
    unit: str | None = Field(None, description="the unit to record it in (default: the SI unit of its dimension)")
    limit: Limit | None = None
    gate: bool = _GATE

    @field_validator("value")
    @classmethod
    def _parses(cls, v: str) -> str:
        return _expression(v, "value")


class WaitStep(_Step):
    """Let time pass (monitors keep watching)."""

    wait: ValueField


class Condition(_Model):
    condition: str = Field(description="an expression over readings, e.g. 'psu.current(channel=1) < 2 A'")
    timeout: ValueField
    poll: ValueField = Field(default_factory=lambda: _parse_value("100 ms"))

    @field_validator("condition")
    @classmethod
    def _parses(cls, v: str) -> str:
        return _expression(v, "condition")


class WaitUntilStep(_Step):
    """Poll a condition until it holds; FAIL when the timeout passes first."""

    wait_until: Condition


class SweepRange(_Model):
    from_: ValueField = Field(alias="from")
    to: ValueField
    step: ValueField


class ForEachStep(_Step):
    """Repeat nested steps for each value (several keys: every combination)."""

    for_each: dict[Name, list[Any]]
    steps: list["Step"] = Field(min_length=1)


class SweepStep(_Step):
    """Repeat nested steps over a grid; each point's coordinates are recorded with its measurements."""

    sweep: dict[Name, list[Any] | SweepRange]
    steps: list["Step"] = Field(min_length=1)
    recover: list["Step"] = Field(
        default_factory=list,
        description="run after a point where any check did not pass (FAIL or UNKNOWN, characterization data "
                    "included), before the next point: what brings the part back, such as a reset")


class Search(_Model):
    set: str = Field(pattern=ACTION_REF, description="the action that applies each point, e.g. sled.set_core_voltage")
    with_: dict[str, Any] = Field(default_factory=dict, alias="with", description="its other arguments")
    param: str = Field(pattern=IDENT, description="the argument the search moves, e.g. voltage; nested steps see "
                                                  "the point under this name")
    from_: ValueField = Field(alias="from", description="a point known to pass, e.g. nominal")
    to: ValueField = Field(description="the furthest point to try")
    step: ValueField = Field(description="signed: -6.25 mV steps down")
    repeats: int = Field(3, ge=1, le=100, description="each point must pass this many times in a row")
    restore: ValueField | None = Field(None, description="applied afterwards whatever happened (default: from)")


class SearchStep(_Step):
    """Walk a setting from a passing point toward `to` until the nested checks fail; the result is
    the last point where every repeat passed (Vmin). The setting is always restored afterwards."""

    search: Search
    steps: list["Step"] = Field(min_length=1)
    as_: str | None = _AS
    limit: Limit | None = Field(None, description="the result's limit (e.g. Vmin at least 30 mV below nominal)")


class Soak(_Model):
    duration: ValueField
    every: ValueField


class SoakStep(_Step):
    """Run nested steps every interval for a duration (monitors watch in between)."""

    soak: Soak
    steps: list["Step"] = Field(min_length=1)


STEP_KINDS = ("do", "measure", "compute", "wait", "wait_until", "for_each", "sweep", "search", "soak")


def step_kind(raw: Any) -> str | None:
    if isinstance(raw, dict):
        found = [k for k in STEP_KINDS if k in raw]
        return found[0] if len(found) == 1 else None
    if isinstance(raw, BaseModel):
        return next(k for k in STEP_KINDS if hasattr(raw, k) or hasattr(raw, k + "_"))
    return None


Step = Annotated[
    Union[Annotated[DoStep, Tag("do")], Annotated[MeasureStep, Tag("measure")],
          Annotated[ComputeStep, Tag("compute")], Annotated[WaitStep, Tag("wait")],
          Annotated[WaitUntilStep, Tag("wait_until")], Annotated[ForEachStep, Tag("for_each")],
          Annotated[SweepStep, Tag("sweep")], Annotated[SearchStep, Tag("search")], Annotated[SoakStep, Tag("soak")]],
    Discriminator(step_kind, custom_error_type="step_kind",
                  custom_error_message="a step needs exactly one of: " + ", ".join(STEP_KINDS)),
]
ForEachStep.model_rebuild()
SweepStep.model_rebuild()
SoakStep.model_rebuild()
SearchStep.model_rebuild()


class Monitor(_Model):
    """An interlock: read every interval, between steps and inside every wait."""

    read: str = Field(pattern=ACTION_REF, description="role.reading")
    with_: dict[str, Any] = Field(default_factory=dict, alias="with")
    every: ValueField
    limit: Limit
    on_violation: Literal["abort", "warn"] = "abort"
    name: Label | None = None
    failures: int = Field(3, ge=1, le=100, description="consecutive failed reads that count as a violation")
    during: Annotated[list[str], BeforeValidator(_listify)] = Field(
        default_factory=list, description="phases during which this interlock is armed (default: the whole run)")
    after: str | None = Field(None, pattern=IDENT, description="armed once this phase has passed, for the rest of "
                              "the run (e.g. coolant flow once power_on has started the cooling)")


# phase ids the compiled plan uses for the steps outside phases (`safe_state/2`, `monitors/1`):
# a phase of that name would make one step id name two steps
RESERVED_PHASE_IDS = {"safe_state": "safe state's steps", "monitors": "interlocks"}


class Phase(_Model):
    id: str = Field(pattern=IDENT, json_schema_extra={"not": {"enum": sorted(RESERVED_PHASE_IDS)}})
    description: str = ""
    after: Annotated[list[str], BeforeValidator(_listify)] = Field(default_factory=list)
    on_fail: Literal["abort", "continue"] = Field(
        "abort", description="abort: stop the run and go to the safe state; continue: run phases that do not depend on it")
    timeout: ValueField | None = None
    retries: int = Field(0, ge=0, le=100)
    steps: list[Step] = Field(min_length=1)


class Parameter(_Model):
    default: Any
    help: str = ""


def _parameter(raw: Any) -> Any:
    return raw if isinstance(raw, dict) else {"default": raw}


class Procedure(_Model):
    """A bring-up procedure: what it needs, what it checks, and how it always ends safely."""

    procedure: Label = Field(description="the procedure's name")
    version: str = "0"
    description: str = ""
    include: Annotated[list[str], BeforeValidator(_listify)] = Field(
        default_factory=list, description="procedure files whose phases, roles and parameters this one builds on "
                                          "(paths relative to this file; see docs/procedures.md)")
    requires: dict[Name, str] = Field(description="role -> kind of instrument, e.g. {psu: power_supply}")
    parameters: dict[Name, Annotated[Parameter, BeforeValidator(_parameter)]] = Field(default_factory=dict)
    safe_state: list[Step] = Field(default_factory=list, description="always runs, in this order, on every way out")
    monitors: list[Monitor] = Field(default_factory=list)
    phases: list[Phase] = Field(default_factory=list, description="at least one, unless the file only composes "
                                                               "others with 'include:'")

    @model_validator(mode="after")
    def _has_phases(self) -> "Procedure":
        if not self.phases and not self.include:
            raise ValueError("a procedure needs at least one phase under 'phases:' (or files to build on under "
                             "'include:')")
        return self

    @field_validator("version", mode="before")
    @classmethod
    def _version_text(cls, v: Any) -> Any:
        return str(v) if isinstance(v, (int, float)) else v


def normalise(data: Any) -> Any:
    """Expand the shorthands (see module docstring) in raw YAML data, in place of a copy."""
    if not isinstance(data, dict):
        return data
    out = dict(data)
    if isinstance(out.get("safe_state"), list):
        out["safe_state"] = [_shorthand_step(s) for s in out["safe_state"]]
    if isinstance(out.get("phases"), list):
        out["phases"] = [_phase(p) for p in out["phases"]]
    return out


def _phase(p: Any) -> Any:
    if isinstance(p, dict) and isinstance(p.get("steps"), list):
        return {**p, "steps": [_shorthand_step(s) for s in p["steps"]]}
    return p


FIRST_ARG = "__first__"  # `psu.output: off` binds "off" to the action's first parameter


def _shorthand_step(s: Any) -> Any:
    if isinstance(s, str) and re.match(ACTION_REF, s.strip()):
        return {"do": s.strip()}
    if isinstance(s, dict):
        if len(s) == 1:
            (key, val), = s.items()
            if isinstance(key, str) and re.match(ACTION_REF, key) and key.split(".")[0] not in STEP_KINDS:
                return {"do": key, "with": val if isinstance(val, dict) else {FIRST_ARG: val}}
        if isinstance(s.get("steps"), list):
            return {**s, "steps": [_shorthand_step(x) for x in s["steps"]]}
    return s
