"""What a driver publishes: its actions and readings, each with typed, unit-carrying parameters.

A driver is mostly a table of what it can do (STYLE.md): every public action is a method marked
with `@action` or `@reading`, whose parameters are declared with `Param`, so that validation can
bind procedure steps to it, `bringup schema` and `bringup drivers` can describe it, and nothing
reaches the instrument before its arguments have been checked.

Arguments arrive at the method as plain floats already converted to the unit the driver declared
(a procedure's `300 mA` reaches a parameter declared in `A` as 0.3). Readings return a float in
their declared unit.

Drivers know nothing of procedures. They know their station configuration (resource, options,
guardrails), the clock, and what the call under way brought (`Driver.within`): the deadline of the
step that is calling them, how to let time pass, the tick's shared replies.
"""

from __future__ import annotations

import inspect
import math
import threading
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Callable, ClassVar, Iterable, Iterator

from .clock import Clock
from .options import DriverOptions
from .units import DIMENSIONLESS, Quantity, Unit, UnitError, parse_quantity, unit


class DriverError(Exception):
    """The instrument refused or failed an action. The step fails; the run goes on to its gates."""


class InstrumentUnreachable(DriverError):
    """The instrument is gone (refused connection, closed socket, repeated timeouts): the run aborts."""

    def __init__(self, role: str, resource: str | None, why: str) -> None:
        super().__init__(f"instrument unreachable: role '{role}' at {resource or '(no resource)'}: {why}")
        self.role, self.resource, self.why = role, resource, why


class StepTimeout(DriverError):
    """The step's deadline passed while the driver was waiting on the instrument."""


class GuardrailViolation(DriverError):
    """An argument exceeds a hard limit of the station. Refused before anything is sent."""


@dataclass(frozen=True)
class Param:
    """One parameter of an action or reading.

    `unit` is a unit symbol ("V", "A", "degC", "L/min") for a physical quantity, or None for a
    plain value of `type` (int, float, str, bool). `choices` restricts the value; `low`/`high`
    bound it (in `unit`); `default` makes it optional.
    """

    unit: str | None = None
    type: type = float
    help: str = ""
    choices: tuple[Any, ...] | None = None
    low: float | None = None
    high: float | None = None
    default: Any = inspect.Parameter.empty

    def __post_init__(self) -> None:
        # Param(int) reads better than Param(type=int) for unitless parameters
        if isinstance(self.unit, type):
            object.__setattr__(self, "type", self.unit)
            object.__setattr__(self, "unit", None)

    @property
    def required(self) -> bool:
        return self.default is inspect.Parameter.empty

    @property
    def unit_obj(self) -> Unit | None:
        return unit(self.unit) if self.unit is not None else None

    def describe(self) -> str:
        kind = self.unit if self.unit is not None else self.type.__name__
        parts = [kind]
        if self.choices:
            parts.append("one of " + ", ".join(map(str, self.choices)))
        if self.low is not None or self.high is not None:
            parts.append(f"[{'' if self.low is None else self.low}, {'' if self.high is None else self.high}]")
        if not self.required:
            parts.append(f"default {self.default}")
        return ", ".join(parts)

    def convert(self, value: Any) -> Any:
        """A procedure value (Quantity, number, string) as the driver wants it, or UnitError/ValueError."""
        if self.unit is not None:
            q = value if isinstance(value, Quantity) else parse_quantity(value)
            target = unit(self.unit)
            if q.unit is DIMENSIONLESS:
                raise UnitError(f"needs a {target.dimension} with a unit, such as '{_example(target)}', not a bare number")
            if q.dimension != target.dimension:
                raise UnitError(f"needs a {target.dimension} (such as '{_example(target)}'), not {q} which is a {q.dimension}")
            v = q.to(target)
        elif self.type is bool:
            v = _to_bool(value)
        elif self.type in (int, float):
            if isinstance(value, Quantity):
                if value.unit is not DIMENSIONLESS and value.dimension != "ratio":
                    raise UnitError(f"takes a plain number, not {value}")
                value = value.si if value.dimension == "ratio" else value.value
            if isinstance(value, str):
                value = parse_quantity(value).value
            if isinstance(value, bool):
                raise ValueError(f"takes a number, not {value}")
            v = self.type(value)
            if self.type is int and v != value:
                raise ValueError(f"takes a whole number, not {value}")
        else:
            v = self.type(value)
        if self.choices is not None and v not in self.choices:
            raise ValueError(f"must be one of {', '.join(map(str, self.choices))}, not {v}")
        if isinstance(v, float) and math.isnan(v):
            raise ValueError("is not a number (NaN)")
        if self.low is not None and v < self.low:
            raise ValueError(f"must be at least {self.low}{' ' + self.unit if self.unit else ''}, not {_fmt(v, self.unit)}")
        if self.high is not None and v > self.high:
            raise ValueError(f"must be at most {self.high}{' ' + self.unit if self.unit else ''}, not {_fmt(v, self.unit)}")
        return v


def _fmt(v: Any, u: str | None) -> str:
    return f"{v:g} {u}" if u and isinstance(v, (int, float)) else str(v)


def _example(u: Unit) -> str:
    return {"voltage": "12 V", "current": "300 mA", "temperature": "30 degC", "flow": "1.5 L/min", "time": "100 ms",
            "frequency": "1.4 GHz", "power": "700 W", "ratio": "3%"}.get(u.dimension, f"1 {u.symbol}")


def _to_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("on", "true", "yes", "1", "enable", "enabled"):
        return True
    if text in ("off", "false", "no", "0", "disable", "disabled"):
        return False
    raise ValueError(f"must be on or off, not {value!r}")


@dataclass(frozen=True)
class ActionSpec:
    """A published action (`do`) or reading (`measure`) of a driver."""

    name: str
    kind: str  # "action" | "reading"
    params: dict[str, Param]
    help: str
    unit: str | None = None  # readings: the unit of the returned value
    idempotent: bool = False  # safe to retry after a garbled or lost reply
    # the longest the action keeps the runner from its interlocks, in seconds: a number, or the
    # name of a parameter (in seconds) that says. None: it waits only through `Driver.wait`,
    # where the interlocks go on reading, so it holds them off no longer than one exchange.
    holds: float | str | None = None

    def signature(self) -> str:
        args = ", ".join(f"{n}: {p.describe()}" for n, p in self.params.items())
        ret = f" -> {self.unit or 'number'}" if self.kind == "reading" else ""
        return f"{self.name}({args}){ret}"


def declare_spec(name: str, kind: str, params: dict[str, Param], help: str, unit_symbol: str | None = None,
                 idempotent: bool = False, holds: float | str | None = None) -> ActionSpec:
    """The spec of an action or reading, its declaration checked: what `@action`/`@reading` and a
    driver's table rows (drivers/table.py) both publish, so the two cannot differ."""
    if isinstance(holds, str) and (holds not in params or params[holds].unit_obj is None
                                   or params[holds].unit_obj.dimension != "time"):
        raise TypeError(f"holds={holds!r} must name a parameter declared in seconds")
    for pname, p in params.items():
        if not isinstance(p, Param):
            raise TypeError(f"parameter {pname!r} must be declared with Param(...)")
        if p.unit is not None:
            unit(p.unit)  # a typo in a driver's unit fails at import, not in the lab
    if unit_symbol:
        unit(unit_symbol)
    return ActionSpec(name=name, kind=kind, params=dict(params), help=help, unit=unit_symbol,
                      idempotent=idempotent, holds=holds)


def _mark(kind: str, unit_symbol: str | None, idempotent: bool, params: dict[str, Param],
          holds: float | str | None = None) -> Callable:
    declare_spec("", kind, params, "", unit_symbol, idempotent, holds)  # a mistake fails at the decorator

    def decorate(fn: Callable) -> Callable:
        sig = inspect.signature(fn)
        names = [n for n in sig.parameters if n != "self"]
        missing = [n for n in names if n not in params]
        extra = [n for n in params if n not in names]
        if missing or extra:
            raise TypeError(f"{fn.__qualname__}: declare every parameter with Param (missing {missing}, unknown {extra})")
        fn.__bringup_spec__ = declare_spec(fn.__name__, kind, params, inspect.cleandoc(fn.__doc__ or ""),
                                           unit_symbol, idempotent, holds)
        return fn

    return decorate


def action(*, idempotent: bool = False, holds: float | str | None = None, **params: Param) -> Callable:
    """Mark a method as an action a procedure can `do`. `holds`: see ActionSpec."""
    return _mark("action", None, idempotent, params, holds)


def reading(unit: str | None = None, *, idempotent: bool = True, holds: float | str | None = None,
            **params: Param) -> Callable:
    """Mark a method as a reading a procedure can `measure`; it returns a float in `unit`."""
    return _mark("reading", unit if unit is not None else "", idempotent, params, holds)


@dataclass(frozen=True)
class Guardrail:
    """A hard limit from the station file: `param` must lie in [low, high] (in SI) when `where` matches."""

    param: str
    low: float | None
    high: float | None
    where: tuple[tuple[str, Any], ...] = ()
    dimension: str = "number"

    def applies(self, args: dict[str, Any]) -> bool:
        return all(args.get(k) == v for k, v in self.where)

    def check(self, value_si: float) -> str | None:
        """None if fine, else what is wrong."""
        if self.low is not None and value_si < self.low:
            return "below"
        if self.high is not None and value_si > self.high:
            return "above"
        return None

    def describe(self, unit_symbol: str = "") -> str:
        u = unit(unit_symbol) if unit_symbol else None
        conv = (lambda x: u.from_si(x)) if u else (lambda x: x)
        rng = []
        if self.low is not None:
            rng.append(f"≥ {conv(self.low):g}{' ' + unit_symbol if unit_symbol else ''}")
        if self.high is not None:
            rng.append(f"≤ {conv(self.high):g}{' ' + unit_symbol if unit_symbol else ''}")
        scope = "".join(f" on {k} {v}" for k, v in self.where)
        return f"{self.param} {' and '.join(rng)}{scope}"


def guardrail_violation(guardrails: Iterable[Guardrail], spec: ActionSpec, args: dict[str, Any]) -> str | None:
    """The first station limit these (converted) arguments break, in words; None if within limits."""
    for g in guardrails:
        p = spec.params.get(g.param)
        if p is None or g.param not in args or not g.applies(args):
            continue
        value = args[g.param]
        u = p.unit_obj
        si = u.to_si(value) if u is not None else float(value)
        side = g.check(si)
        if side:
            return (f"{spec.name}: {g.param} = {_fmt(value, p.unit)} is {side} the station limit "
                    f"({g.describe(p.unit or '')})")
    return None


_LOCKS: dict[str, threading.RLock] = {}
_LOCKS_GUARD = threading.Lock()


def instrument_lock(resource: str | None) -> threading.RLock:
    """The lock of one instrument: shared by every driver in the process at the same address
    (whatever its case), a lock of its own for a driver with none (in-memory)."""
    if not resource:
        return threading.RLock()
    with _LOCKS_GUARD:
        return _LOCKS.setdefault(resource.upper(), threading.RLock())


# what one call brings (`Driver.within`): (deadline, pause, shared_reads); a tuple, made per reading
_Call = tuple[float | None, Callable[[float], bool], dict[str, Any] | None]


class Driver:
    """Base of every driver. Subclasses set `kind` and declare actions/readings.

    The station file's keys are the constructor's fields: `resource`, `options`, `guardrails`.
    `Options` is the typed model of the options (bringup/options.py); `self.options` is its
    validated, frozen instance. `seams` names constructor keywords by which tests hand in a
    stand-in for the transport: a station file naming one is refused with that explanation.
    `open()` connects; `close()` disconnects and must be safe to call twice. The engine makes
    every call as `within(deadline, ...)` does (bringup/bench.py), so that a blocking transport
    can give up in time (`deadline`, `remaining()`), holding the driver's `lock` meanwhile.
    """

    kind: ClassVar[str] = "instrument"
    Options: ClassVar[type[DriverOptions]] = DriverOptions
    seams: ClassVar[dict[str, str]] = {}

    def __init__(self, *, role: str, resource: str | None = None,
                 options: DriverOptions | dict[str, Any] | None = None,
                 guardrails: tuple[Guardrail, ...] = (), clock: Clock) -> None:
        self.role = role
        self.resource = resource
        # a station hands in the model it validated at load; code (tests) may give a plain mapping,
        # checked here the same way (a pydantic ValidationError names the field)
        self.options = options if isinstance(options, self.Options) else self.Options.model_validate(options or {})
        self.guardrails = tuple(guardrails)
        self.clock = clock
        # one instrument, one caller at a time: a runner per DUT may share it (a rack's CDU, a DMM
        # behind a mux), and a call's exchanges must never interleave with another's. Re-entrant:
        # an interlock read inside this driver's own paused action is fine.
        self.lock = instrument_lock(resource)
        # the calls under way, innermost last (an interlock read inside a paused action nests)
        self._calls: list[_Call] = []
        # what the driver did that a person should see in the run's record but that is not a
        # result (a retried read on a noisy line): the bench moves these into the record after each call
        self.notes: list[str] = []
        # actions a guardrail can apply to, worked out once: the rest skip the check entirely
        limited = {g.param for g in self.guardrails}
        self._guarded = frozenset(n for n, s in self.spec().items() if limited & s.params.keys())

    # -- lifecycle -------------------------------------------------------------------------------
    def open(self) -> None:
        """Connect to the instrument. Raise InstrumentUnreachable if it is not there."""

    def close(self) -> None:
        """Disconnect. Safe to call more than once."""

    def identity(self) -> str:
        """The instrument's identity as recorded with every result (e.g. the `*IDN?` reply)."""
        return f"{type(self).__name__}({self.resource or 'in-memory'})"

    def telemetry(self) -> dict[str, tuple[float, str]]:
        """Optional: readings worth sampling for the dashboard, {channel: (value, unit)}."""
        return {}

    def wait(self, seconds: float) -> None:
        """Let `seconds` of clock time pass (never past the step's deadline) while the instrument
        works: a driver's only way to wait, so that no action holds the interlocks off."""
        left = self.remaining()
        if left is not None and left <= 0:
            raise StepTimeout(f"{self.role}: the step's time ran out")
        if not self.pause(seconds if left is None else min(seconds, left)):
            raise DriverError(f"{self.role}: interrupted while waiting on the instrument")

    # -- the call under way ----------------------------------------------------------------------
    @contextmanager
    def within(self, deadline: float | None = None, *, pause: Callable[[float], bool] | None = None,
               shared_reads: dict[str, Any] | None = None) -> Iterator[None]:
        """One call into this driver, holding `lock`, with what it brings until it ends: `deadline`
        (clock time; None: none); `pause`, how time passes while the instrument works (the run's
        watched wait, so the interlocks keep reading; by default time simply passes);
        `shared_reads`, replies readings may share in the run's tick (one instant, nothing acted
        on: five interlocks on one `sensors` snapshot cost one round trip)."""
        with self.lock:
            self.begin_call(deadline, pause, shared_reads)
            try:
                yield
            finally:
                self.end_call()

    def begin_call(self, deadline: float | None, pause: Callable[[float], bool] | None = None,
                   shared_reads: dict[str, Any] | None = None) -> None:
        """`within` in two halves for a caller holding `lock` (the bench's hot path), paired in a `finally`."""
        self._calls.append((deadline, pause or self.clock.sleep, shared_reads))

    def end_call(self) -> None:
        self._calls.pop()

    @property
    def in_call(self) -> bool:
        """Whether a call (`within`, `begin_call`) is under way."""
        return bool(self._calls)

    @property
    def deadline(self) -> float | None:
        """The calling step's deadline in clock time (None: none, or no call under way)."""
        return self._calls[-1][0] if self._calls else None

    @property
    def shared_reads(self) -> dict[str, Any] | None:
        """Replies readings may share in the run's tick; None outside one: every reading asks afresh."""
        return self._calls[-1][2] if self._calls else None

    def pause(self, seconds: float) -> bool:
        """Let `seconds` pass the way the call under way says (False: cut short by an abort)."""
        return self._calls[-1][1](seconds) if self._calls else self.clock.sleep(seconds)

    def remaining(self) -> float | None:
        """Seconds left before the calling step's deadline (None: no deadline)."""
        deadline = self.deadline
        return None if deadline is None else deadline - self.clock.now()

    @classmethod
    def spec(cls) -> dict[str, ActionSpec]:
        """Every action and reading this driver publishes, by name."""
        cached = cls.__dict__.get("_spec_cache")
        if cached is None:
            cached = {}
            for klass in reversed(cls.__mro__):
                for name, member in vars(klass).items():
                    s = getattr(member, "__bringup_spec__", None)
                    if s is not None and not name.startswith("_"):
                        cached[name] = s
            cls._spec_cache = cached
        return cached

    def call(self, name: str, args: dict[str, Any]) -> Any:
        """Run an action with converted arguments, refusing anything beyond the station's limits."""
        if name in self._guarded:
            why = guardrail_violation(self.guardrails, self.spec()[name], args)
            if why:
                raise GuardrailViolation(f"{self.role}.{why}; refused before anything was sent")
        return getattr(self, name)(**args)
