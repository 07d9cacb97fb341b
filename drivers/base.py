"""The driver base: what every driver is (its station configuration, its clock, the call under way),
its errors and its guardrails; what it publishes (actions and readings) is declared in driver_spec.

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

import threading
from contextlib import contextmanager
from typing import Any, Callable, ClassVar, Iterator

from bringup.core.clock import Clock
# what a driver publishes lives in driver_spec; drivers import it from here, with the base class
from bringup.drivers.spec import ActionSpec, Param, action, declare_spec, format_value, reading  # noqa: F401
from bringup.drivers.options import DriverOptions
# the station's hard limits live in drivers/guardrail.py; drivers and the engine import them from here
from bringup.drivers.guardrail import Guardrail, guardrail_violation, unbound  # noqa: F401


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
    `Options` is the typed model of the options (drivers/options.py); `self.options` is its
    validated, frozen instance. `seams` names constructor keywords by which tests hand in a
    stand-in for the transport: a station file naming one is refused with that explanation.
    `open()` connects; `close()` disconnects and must be safe to call twice. The engine makes
    every call as `within(deadline, ...)` does (bringup/run/bench.py), so that a blocking transport
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
        # a guardrail that selects nothing this driver has would limit nothing while reading as a limit
        idle = unbound(self.spec(), self.guardrails)
        if idle:
            raise ValueError(f"{role}: guardrail {idle[0].describe()} applies to nothing {type(self).__name__} has")
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
