"""What a driver publishes, declared once: `Param`s with units and bounds, the `ActionSpec` of each
action and reading, and the `@action` / `@reading` marks (drivers/table.py's rows build the same).

Validation binds procedure steps to these specs, `bringup schema` and `bringup drivers` describe
them, and nothing reaches an instrument before its arguments have been checked against them.
"""

from __future__ import annotations

import inspect
import math
from dataclasses import dataclass
from typing import Any, Callable

from bringup.core.units import DIMENSIONLESS, Quantity, Unit, UnitError, parse_quantity, unit


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
            raise ValueError(f"must be at least {self.low}{' ' + self.unit if self.unit else ''}, not {format_value(v, self.unit)}")
        if self.high is not None and v > self.high:
            raise ValueError(f"must be at most {self.high}{' ' + self.unit if self.unit else ''}, not {format_value(v, self.unit)}")
        return v


def format_value(v: Any, u: str | None) -> str:
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
