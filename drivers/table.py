"""Readings and actions declared as rows of a table, the way an instrument's manual lists them.

Most of what an instrument offers is one command with one reply: `MEAS:VOLT? (@1)` answers a
number, `OUTP:PROT:CLE (@1:3)` answers nothing. Written as methods, each is three lines around
its command, and each copies the handling of a reply that is not a number. Declared as a row,

    voltage = measured("MEAS:VOLT? (@{channel})", "V", channel=OUTPUT,
                       help="Measured output voltage (`MEAS:VOLT?`).")
    clear_protection = commanded("OUTP:PROT:CLE {channel}", channel=CHANNELS, fmt={"channel": chanlist},
                                 help="Re-arm a tripped protection.")

the command is the whole of it, and the row publishes the same `ActionSpec` a method marked
`@reading` / `@action` would: name, typed parameters with units, return unit, help, `holds=`.
Validation, `bringup drivers` and `bringup schema` cannot tell a row from a method. Composite
actions (programming a setpoint with its protection, writes whose order matters, multi-line
parses) stay methods: a row is for the simple majority.

A row fills its template with the converted arguments (`{channel}`, `{setpoint:.2f}`; `fmt` turns
an argument into its text first, such as channel 0 into `(@1:3)`), then hands the command to the
driver's transport through two hooks every table-driven driver defines:

- `table_value(row, command, args) -> float`: ask, return the number (SCPI: `number`);
- `table_command(row, command, args) -> None`: send, check it was accepted (SCPI: `write`).

A reply that is not what its command answers (not a number, not `OK`, not text) raises
`garbled(...)`, the one error for it in every driver: it names the instrument's role, the
command and the reply as received.
"""

from __future__ import annotations

import functools
import inspect
from typing import Any, Callable, Mapping

from bringup.drivers.base import ActionSpec, DriverError, Param, declare_spec

Format = Callable[[Any], Any] | Mapping[Any, Any]


def garbled(role: str, command: str, reply: Any, expected: str = "") -> DriverError:
    """The error for a reply that is not what `command` answers: role, command and the reply as received."""
    return DriverError(f"{role}: garbled reply to {command!r}: {reply!r}{f' ({expected})' if expected else ''}")


def flag(value: float) -> float:
    """A status field as 1.0 (set) or 0.0 (clear, or NaN: a flag nobody read is not set)."""
    return 1.0 if value == value and value != 0 else 0.0


class _Row:
    """What readings and actions declared as rows share: the template, the spec, the call."""

    kind = ""

    def __init__(self, template: str, unit: str | None, *, help: str, fmt: Mapping[str, Format] | None,
                 idempotent: bool, holds: float | str | None, params: dict[str, Param]) -> None:
        self.template = template
        self.unit = unit
        self.help = inspect.cleandoc(help)
        self.fmt = dict(fmt or {})
        self.idempotent = idempotent
        self.holds = holds
        self.params = params
        unknown = set(self.fmt) - set(params)
        if unknown:
            raise TypeError(f"fmt names no parameter: {sorted(unknown)}")
        declare_spec("", self.kind, params, "", unit, idempotent, holds)  # a mistake fails here, at the row
        self._defaults = {n: p.default for n, p in params.items() if not p.required}
        self._names = tuple(params)
        self._keys = frozenset(params)
        self.name = ""
        self.__bringup_spec__: ActionSpec | None = None

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name
        self.__bringup_spec__ = declare_spec(name, self.kind, self.params, self.help, self.unit, self.idempotent,
                                             self.holds)
        self.__doc__ = self.help

    def __get__(self, driver: Any, owner: type | None = None) -> Any:
        if driver is None:
            return self
        # bound once per driver: kept in the instance, later lookups on a reading's hot path find
        # it there without coming back here
        bound = driver.__dict__[self.name] = functools.partial(self._call, driver)
        return bound

    def command(self, args: Mapping[str, Any]) -> str:
        """The row's command for these (converted) arguments."""
        if not self.fmt:
            return self.template.format(**args)
        return self.template.format(**{n: self._text(n, v) for n, v in args.items()})

    def _text(self, name: str, value: Any) -> Any:
        f = self.fmt.get(name)
        return value if f is None else f[value] if isinstance(f, Mapping) else f(value)

    def _bind(self, args: tuple[Any, ...], kw: dict[str, Any]) -> dict[str, Any]:
        # called as a method too (`self.voltage(2)`), so positional arguments follow the
        # parameters' declared order, as they do in a method's signature
        if args:
            if len(args) > len(self._names):
                raise TypeError(f"{self.name}() takes {len(self._names)} arguments, {len(args)} given")
            kw = {**dict(zip(self._names, args)), **kw}
        bound = {**self._defaults, **kw} if self._defaults else kw
        if bound.keys() != self._keys:  # the runner's call, with every name right, skips the lists below
            missing = [n for n in self._names if n not in bound]
            extra = [n for n in bound if n not in self.params]
            raise TypeError(f"{self.name}(): missing {missing}, unknown {extra}")
        return bound

    def _call(self, driver: Any, *args: Any, **kw: Any) -> Any:
        raise NotImplementedError


class Measured(_Row):
    """A reading that is one query: its reply (or one field of it) is the value, in `unit`."""

    kind = "reading"

    def __init__(self, query: str, unit: str = "", *, help: str, field: str | None = None,
                 then: Callable[[float], float] | None = None, fmt: Mapping[str, Format] | None = None,
                 idempotent: bool = True, holds: float | str | None = None, **params: Param) -> None:
        super().__init__(query, unit, help=help, fmt=fmt, idempotent=idempotent, holds=holds, params=params)
        self.field = field  # for a reply of named fields (the sled console): which one, a template too
        self.then = then    # what the instrument's number means, e.g. a sign turned, a state as 0/1

    def field_for(self, args: Mapping[str, Any]) -> str:
        """The field this reading takes from its reply, for these arguments (`aer_{kind}`)."""
        if self.field is None:
            raise TypeError(f"{self.name}: this driver's replies are records of named fields; give the row field=")
        return self.field.format(**{n: self._text(n, v) for n, v in args.items()}) if "{" in self.field \
            else self.field

    def _call(self, driver: Any, *args: Any, **kw: Any) -> float:
        bound = self._bind(args, kw)
        value = driver.table_value(self, self.command(bound), bound)
        return value if self.then is None else self.then(value)


class Commanded(_Row):
    """An action that is one command, accepted or refused as a whole."""

    kind = "action"

    def __init__(self, command: str, *, help: str, fmt: Mapping[str, Format] | None = None,
                 idempotent: bool = False, holds: float | str | None = None, **params: Param) -> None:
        super().__init__(command, None, help=help, fmt=fmt, idempotent=idempotent, holds=holds, params=params)

    def _call(self, driver: Any, *args: Any, **kw: Any) -> None:
        bound = self._bind(args, kw)
        driver.table_command(self, self.command(bound), bound)


measured = Measured
commanded = Commanded
