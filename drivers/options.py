"""A driver's station options as a typed model: the station file's keys are the driver's fields.

    class VisaDriver(Driver):
        class Options(Driver.Options):
            timeout: PositiveDuration = Field(2.0, description="longest wait for one reply")
            max_timeouts: PositiveInt = 3

A station's `options: {timeout: fast}` is then refused when the file loads (file:line:col, with
what the field accepts), not when the run opens the instrument. A time is written with its unit
(`2 s`, `50 ms`; a bare number is seconds, as it always was), a fraction as `10%` or `0.1`.
The models are frozen: a driver reads `self.options.timeout`, and nothing changes it under it.

Test seams (a transcript standing in for the serial port or the VISA resource manager) are not
fields: code hands them to the driver's constructor, and a station file that names one is told so.
"""

from __future__ import annotations

import math
import types
import typing
from dataclasses import dataclass
from typing import Annotated, Any, Literal, Mapping, Union

import annotated_types
from pydantic import BaseModel, BeforeValidator, ConfigDict, ValidationError
from pydantic.fields import FieldInfo

from bringup.core.units import UnitError, parse_quantity


@dataclass(frozen=True)
class Accepts:
    """What a custom option type accepts, in words: the hint of a station problem, and `bringup drivers`."""

    text: str
    name: str


def _duration(value: Any) -> float:
    if isinstance(value, bool):
        raise ValueError(f"must be a time such as '2 s' or '50 ms', not {value}")
    if isinstance(value, (int, float)):
        seconds = float(value)
    else:
        try:
            q = parse_quantity(str(value))
        except UnitError as exc:
            raise ValueError(f"must be a time such as '2 s' or '50 ms', not {value!r} ({exc})") from None
        if q.dimension == "number":
            seconds = q.value
        elif q.dimension == "time":
            seconds = q.to("s")
        else:
            raise ValueError(f"must be a time such as '2 s' or '50 ms', not {q} (a {q.dimension})")
    if not math.isfinite(seconds):
        raise ValueError(f"must be a finite time, not {value!r}")
    return seconds


def _fraction(value: Any) -> float:
    if isinstance(value, bool):
        raise ValueError(f"must be a fraction such as '10%' or 0.1, not {value}")
    if isinstance(value, (int, float)):
        out = float(value)
    else:
        try:
            q = parse_quantity(str(value))
        except UnitError as exc:
            raise ValueError(f"must be a fraction such as '10%' or 0.1, not {value!r} ({exc})") from None
        if q.dimension not in ("number", "ratio"):
            raise ValueError(f"must be a fraction such as '10%' or 0.1, not {q} (a {q.dimension})")
        out = q.si if q.dimension == "ratio" else q.value
    if not math.isfinite(out):
        raise ValueError(f"must be a finite fraction, not {value!r}")
    return out


#: a time in seconds, written `2 s`, `50 ms` (or a bare number of seconds)
Duration = Annotated[float, BeforeValidator(_duration), Accepts("a time such as '2 s' or '50 ms'", "time")]
#: a time that must be more than zero: a timeout of 0 s would give up before asking
PositiveDuration = Annotated[Duration, annotated_types.Gt(0)]
#: a fraction, written `10%` or 0.1
Fraction = Annotated[float, BeforeValidator(_fraction), Accepts("a fraction such as '10%' or 0.1", "fraction")]


class DriverOptions(BaseModel):
    """No options. A driver's own `Options` derives from its base's, adding fields."""

    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)


def accepts(info: FieldInfo) -> str:
    """What a field accepts, in words: 'a whole number, at least 1', 'one of none, odd, even'."""
    return _describe(info.annotation, list(info.metadata))


def type_name(info: FieldInfo) -> str:
    """A short name of a field's type for a listing: time, bool, int, one of a|b, ..."""
    return _short(info.annotation, list(info.metadata))


def _split(annotation: Any, metadata: list[Any]) -> tuple[Any, list[Any]]:
    while typing.get_origin(annotation) is Annotated:
        base, *extra = typing.get_args(annotation)
        annotation, metadata = base, [*extra, *metadata]
    return annotation, metadata


def _options(annotation: Any) -> tuple[list[Any], bool]:
    """The alternatives of a union, and whether None is one of them."""
    if typing.get_origin(annotation) in (Union, types.UnionType):
        args = list(typing.get_args(annotation))
        return [a for a in args if a is not type(None)], type(None) in args
    return [annotation], False


def _bounds(metadata: list[Any], unit: str = "") -> list[str]:
    out = []
    for m in metadata:
        for attr, words in (("gt", "more than"), ("ge", "at least"), ("lt", "less than"), ("le", "at most")):
            v = getattr(m, attr, None)
            if v is not None and isinstance(m, (annotated_types.Gt, annotated_types.Ge, annotated_types.Lt,
                                                annotated_types.Le, annotated_types.Interval)):
                out.append(f"{words} {v:g}{unit}")
    return out


def _describe(annotation: Any, metadata: list[Any]) -> str:
    alternatives, nullable = _options(annotation)
    words = [_describe_one(a, metadata if len(alternatives) == 1 else []) for a in alternatives]
    text = " or ".join(words)
    return f"{text}, or null (none)" if nullable else text


def _describe_one(annotation: Any, metadata: list[Any]) -> str:
    annotation, metadata = _split(annotation, metadata)
    custom = next((m for m in metadata if isinstance(m, Accepts)), None)
    if typing.get_origin(annotation) is Literal:
        return "one of " + ", ".join(str(v) for v in typing.get_args(annotation))
    if custom is not None:
        base = custom.text
    elif annotation is bool:
        base = "on or off (true/false)"
    elif annotation is int:
        base = "a whole number"
    elif annotation is float:
        base = "a number"
    elif annotation is str:
        base = "text"
    elif typing.get_origin(annotation) is list:
        base = "a list of names, such as [voltage, current]"
    elif typing.get_origin(annotation) is dict:
        key, value = typing.get_args(annotation)
        base = f"a mapping of {_describe_one(key, [])} to {_describe_one(value, [])}"
    else:
        base = getattr(annotation, "__name__", str(annotation))
    bounds = _bounds(metadata, " s" if custom is not None and custom.name == "time" else "")
    return f"{base}, {' and '.join(bounds)}" if bounds else base


def _short(annotation: Any, metadata: list[Any]) -> str:
    alternatives, nullable = _options(annotation)
    names = []
    for a in alternatives:
        a, meta = _split(a, metadata if len(alternatives) == 1 else [])
        custom = next((m for m in meta if isinstance(m, Accepts)), None)
        if typing.get_origin(a) is Literal:
            names.append("|".join(str(v) for v in typing.get_args(a)))
        elif custom is not None:
            names.append(custom.name)
        else:
            names.append(getattr(a, "__name__", str(a)))
        bounds = _bounds(meta, " s" if custom is not None and custom.name == "time" else "")
        if bounds:
            names[-1] += f" ({' and '.join(bounds)})"
    return " or ".join(names) + (" or null" if nullable else "")


def show_default(value: Any, info: FieldInfo) -> str:
    """A default as a station file would write it: `2 s`, `on`, `null`."""
    _, metadata = _split(info.annotation, list(info.metadata))
    alternatives, _ = _options(info.annotation)
    if len(alternatives) == 1:
        _, metadata = _split(alternatives[0], metadata)
    custom = next((m for m in metadata if isinstance(m, Accepts)), None)
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "on" if value else "off"
    if custom is not None and custom.name == "time" and isinstance(value, float):
        return f"{value * 1000:g} ms" if 0 < value < 1 else f"{value:g} s"
    if custom is not None and custom.name == "fraction" and isinstance(value, float):
        return f"{value * 100:g}%"
    return repr(value) if isinstance(value, str) else str(value)


@dataclass(frozen=True)
class OptionProblem:
    """One bad option: where under `options` (a key path), what is wrong, and what would be accepted."""

    loc: tuple[Any, ...]
    message: str
    hint: str
    key: bool = False  # points at the key (an unknown option), not at the value


def check_options(model: type[DriverOptions], raw: Mapping[str, Any], *, driver: str,
                  seams: Mapping[str, str] = {}) -> tuple[DriverOptions | None, list[OptionProblem]]:
    """Validate a station's options against a driver's model: the model, or every problem at once."""
    problems = []
    fields = model.model_fields
    known = ", ".join(sorted(fields)) or "none"
    clean = {}
    for key, value in raw.items():
        if key in seams:
            problems.append(OptionProblem((key,), f"'{key}' is a test seam of driver {driver}, not a station option",
                                          seams[key], key=True))
        elif key not in fields:
            problems.append(OptionProblem((key,), f"driver {driver} has no option '{key}'", f"its options: {known}",
                                          key=True))
        else:
            clean[key] = value
    try:
        options = model.model_validate(clean)
    except ValidationError as exc:
        for err in exc.errors(include_url=False):
            err["loc"] = tuple(p for p in err["loc"] if p != "[key]")  # pydantic's marker of a bad mapping key
            name = err["loc"][0] if err["loc"] else ""
            info = fields.get(name) if isinstance(name, str) else None
            msg = err["msg"].removeprefix("Value error, ")
            where = "".join(f"[{p}]" for p in err["loc"][1:])
            hint = f"{name} takes {accepts(info)}" if info is not None else f"its options: {known}"
            problems.append(OptionProblem(tuple(err["loc"]), f"bad option {name}{where} for driver {driver}: {msg}",
                                          hint))
        return None, problems
    return (options if not problems else None), problems


def option_lines(driver: type) -> list[str]:
    """`bringup drivers`' listing of a driver's options: name, type, default, what it does."""
    fields = driver.Options.model_fields
    if not fields:
        return []
    lines = ["  options:"]
    for name, info in fields.items():
        help_ = f"  {info.description}" if info.description else ""
        lines.append(f"    {name}: {type_name(info)} = {show_default(info.default, info)}{help_}")
    return lines
