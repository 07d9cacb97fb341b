"""No step may blind an armed interlock: validation's check of each action's declared hold.

The runner reads every interlock at its interval between steps, inside every wait and inside
every driver action that lets time pass through `Driver.wait` (long sled tests run as BMC jobs:
start, watched wait, collect). An action that cannot do that — an instrument that blocks until
its measurement is done — declares how long it holds the runner (`holds=` on `@action` /
`@reading`, a number of seconds or the name of its duration parameter). Such a step is refused
when it would hold the runner longer than the shortest interval of any interlock armed in its
phase, naming the step and the interlock, before anything is touched.
"""

from __future__ import annotations

import itertools
from typing import Any, Iterator

from bringup.check import binding
from bringup.drivers.base import ActionSpec
from bringup.check.plan import kind_of
from bringup.language.procedure import Monitor, Procedure, SweepRange
from bringup.language.source import Loc
from bringup.core.units import unit

MAX_COMBINATIONS = 10_000  # loop values tried for a hold that depends on them; beyond, the largest declared


def problems(proc: Procedure, specs: dict[str, dict[str, ActionSpec]], params: dict[str, Any],
             order: list[str]) -> Iterator[tuple[Loc, str, str]]:
    """(location, message, hint) for every step that would hold an armed interlock off too long."""
    intervals = [(m, _seconds(m.every, params)) for m in proc.monitors]
    intervals = [(m, every) for m, every in intervals if every is not None and every > 0]
    if not intervals:
        return
    for i, phase in enumerate(proc.phases):
        armed = [(m, every) for m, every in intervals if _armed_in(m, phase.id, order)]
        if not armed:
            continue
        monitor, every = min(armed, key=lambda pair: pair[1])
        name = monitor.name or monitor.read
        scope = {k: [v] for k, v in params.items()}
        for loc, ref, seconds in _holds(phase.steps, ("phases", i, "steps"), scope, specs):
            if seconds > every:
                yield (loc, f"{ref} holds the runner for {seconds:g} s without letting the interlocks read: "
                            f"longer than interlock '{name}' may go unread (every {every:g} s) in phase '{phase.id}'",
                       "shorten the step (its duration), read that interlock less often, or use an action that "
                       "waits through the runner (a long test as start / watched wait / collect)")


def _armed_in(m: Monitor, phase: str, order: list[str]) -> bool:
    if m.during and phase not in m.during:
        return False
    if m.after is None:
        return True
    return m.after in order and phase in order and order.index(m.after) < order.index(phase)


def _seconds(value: Any, scope: dict[str, Any]) -> float | None:
    try:
        return binding.evaluate(value, scope)
    except Exception:  # an interval validation reports on its own
        return None


def _holds(steps: list[Any], loc: Loc, scope: dict[str, list[Any]],
           specs: dict[str, dict[str, ActionSpec]]) -> Iterator[tuple[Loc, str, float]]:
    for j, step in enumerate(steps):
        yield from _HOLDS[kind_of(step)](step, loc + (j,), scope, specs)


def _call(key: str) -> Any:
    """A do or measure step: the call it makes may hold the runner."""
    def holds(step: Any, here: Loc, scope: dict[str, list[Any]],
              specs: dict[str, dict[str, ActionSpec]]) -> Iterator[tuple[Loc, str, float]]:
        ref = getattr(step, key)
        seconds = _hold_of(ref, step.with_, scope, specs)
        if seconds is not None:
            yield here + (key,), ref, seconds
    return holds


def _search(step: Any, here: Loc, scope: dict[str, list[Any]],
            specs: dict[str, dict[str, ActionSpec]]) -> Iterator[tuple[Loc, str, float]]:
    seconds = _hold_of(step.search.set, step.search.with_, scope, specs)
    if seconds is not None:
        yield here + ("search", "set"), step.search.set, seconds
    yield from _holds(step.steps, here + ("steps",), scope, specs)


def _for_each(step: Any, here: Loc, scope: dict[str, list[Any]],
              specs: dict[str, dict[str, ActionSpec]]) -> Iterator[tuple[Loc, str, float]]:
    inner = {**scope, **{n: binding.literal_axis(v) for n, v in step.for_each.items()}}
    yield from _holds(step.steps, here + ("steps",), inner, specs)


def _sweep(step: Any, here: Loc, scope: dict[str, list[Any]],
           specs: dict[str, dict[str, ActionSpec]]) -> Iterator[tuple[Loc, str, float]]:
    inner = dict(scope)
    for n, axis in step.sweep.items():
        try:
            inner[n] = (binding.range_axis(axis, {k: v[0] for k, v in scope.items()})
                        if isinstance(axis, SweepRange) else binding.literal_axis(axis))
        except Exception:  # a sweep over loop values: its points are checked elsewhere
            inner[n] = []
    yield from _holds(step.steps, here + ("steps",), inner, specs)
    yield from _holds(step.recover, here + ("recover",), inner, specs)


def _soak(step: Any, here: Loc, scope: dict[str, list[Any]],
          specs: dict[str, dict[str, ActionSpec]]) -> Iterator[tuple[Loc, str, float]]:
    yield from _holds(step.steps, here + ("steps",), scope, specs)


def _none(step: Any, here: Loc, scope: dict[str, list[Any]],
          specs: dict[str, dict[str, ActionSpec]]) -> Iterator[tuple[Loc, str, float]]:
    return iter(())  # waits are watched waits; a compute reads nothing


# what each step kind may hold the runner with (plan.KINDS names the kinds)
_HOLDS = {"do": _call("do"), "measure": _call("measure"), "search": _search, "for_each": _for_each,
          "sweep": _sweep, "soak": _soak, "wait": _none, "wait_until": _none, "compute": _none}


def _hold_of(ref: str, with_: dict[str, Any], scope: dict[str, list[Any]],
             specs: dict[str, dict[str, ActionSpec]]) -> float | None:
    """Seconds this call holds the runner (the most over the loop values it can take), or None."""
    role, _, name = ref.partition(".")
    spec = specs.get(role, {}).get(name)
    if spec is None or spec.holds is None:
        return None
    if not isinstance(spec.holds, str):
        return float(spec.holds)
    p = spec.params[spec.holds]
    raw, _ = binding.args_of(spec, with_)
    if spec.holds not in raw:
        return None if p.required else unit(p.unit).to_si(float(p.default))
    names = [n for n in binding.names_in(raw[spec.holds]) if n in scope]
    worst: float | None = None
    for values in itertools.islice(itertools.product(*(scope[n] for n in names)), MAX_COMBINATIONS):
        point = {**{k: v[0] for k, v in scope.items() if v}, **dict(zip(names, values))}
        try:
            value = binding.convert_args(spec, {spec.holds: raw[spec.holds]}, point)[spec.holds]
        except Exception:  # a bad argument is reported by the binding checks
            continue
        seconds = unit(p.unit).to_si(value)
        worst = seconds if worst is None else max(worst, seconds)
    return worst
