"""Station files: which driver plays each role, where its instrument is, and the station's hard limits.

    station: bench-3
    clock: real                      # or: simulated (virtual time; for simulators only)
    roles:
      psu:
        driver: e36312a              # a built-in name, or one an installed package publishes
        resource: TCPIP::10.0.0.5::5025::SOCKET
        options: {timeout: 2 s}      # the driver's typed fields (`bringup drivers NAME`)
        guardrails:                  # hard limits: validation rejects, the driver refuses again
          - {channel: 1, voltage: {max: 13 V}, current_limit: {max: 42 A}}
          - {voltage: {max: 26 V}}   # no selector: every channel

In a guardrail rule, a key whose value is a mapping bounds that parameter ({min, max}); a key
whose value is a plain scalar selects when the rule applies (`channel: 1`).
Moving a procedure from the simulator to a bench changes only this file.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bringup.drivers.base import Driver, Guardrail
from bringup.drivers.guardrail import bindings, selector_problems, unbound
from bringup.drivers.options import DriverOptions, check_options
from bringup.language.source import Document, InvalidInput, Problem, load_yaml
from bringup.core.units import DIMENSIONLESS, UnitError, parse_quantity

_STATION_KEYS = {"station", "description", "clock", "speed", "roles"}
_ROLE_KEYS = {"driver", "resource", "options", "guardrails"}


@dataclass(frozen=True)
class RoleBinding:
    role: str
    driver_name: str
    cls: type[Driver]
    resource: str | None
    options: DriverOptions  # the driver's own Options model, validated when the file loaded
    guardrails: tuple[Guardrail, ...]


@dataclass(frozen=True)
class Station:
    name: str
    file: str
    clock: str  # "real" | "simulated"
    speed: float | None
    roles: dict[str, RoleBinding] = field(default_factory=dict)
    document: Document | None = None


def load_station(path: str | Path, text: str | None = None) -> Station:
    """Read and check a station file; InvalidInput lists every problem with file:line:col."""
    doc = load_yaml(path, text, what="station file")
    return station_from_document(doc)


def station_from_document(doc: Document) -> Station:
    from bringup.drivers import UnknownDriver, resolve  # drivers depend on the engine, not the reverse at import

    problems: list[Problem] = []
    data = doc.data
    if not isinstance(data, dict):
        raise InvalidInput([doc.problem((), "a station file is a mapping with 'station' and 'roles'",
                                        "see docs/stations.md")])
    for key in data:
        if key not in _STATION_KEYS:
            problems.append(doc.problem((key,), f"unknown key '{key}' in the station file",
                                        f"known keys: {', '.join(sorted(_STATION_KEYS))}", key=True))
    name = data.get("station")
    if not isinstance(name, str) or not name:
        problems.append(doc.problem(("station",) if "station" in data else (), "the station needs a name: 'station: NAME'"))
    clock = data.get("clock", "real")
    if clock not in ("real", "simulated"):
        problems.append(doc.problem(("clock",), f"clock must be 'real' or 'simulated', not {clock!r}"))
    speed = data.get("speed")
    if speed is not None and (isinstance(speed, bool) or not isinstance(speed, (int, float)) or
                              not 0 < speed < math.inf):
        problems.append(doc.problem(("speed",), f"speed must be a positive number (a multiple of wall time), not {speed!r}",
                                    "e.g. speed: 10 (ten times wall time)"))
    roles_raw = data.get("roles")
    roles: dict[str, RoleBinding] = {}
    if not isinstance(roles_raw, dict) or not roles_raw:
        problems.append(doc.problem(("roles",) if "roles" in data else (), "the station needs 'roles': role -> driver",
                                    "e.g. roles: {psu: {driver: fake.power_supply}}"))
        roles_raw = {}
    for role, spec in roles_raw.items():
        loc = ("roles", role)
        if not isinstance(spec, dict):
            problems.append(doc.problem(loc, f"role '{role}' must be a mapping with at least 'driver'"))
            continue
        for key in spec:
            if key not in _ROLE_KEYS:
                problems.append(doc.problem(loc + (key,), f"unknown key '{key}' for role '{role}'",
                                            f"known keys: {', '.join(sorted(_ROLE_KEYS))}", key=True))
        driver_name = spec.get("driver")
        if not isinstance(driver_name, str):
            problems.append(doc.problem(loc, f"role '{role}' needs 'driver: NAME'"))
            continue
        try:
            cls = resolve(driver_name)
        except UnknownDriver as exc:
            problems.append(doc.problem(loc + ("driver",), str(exc), exc.hint))
            continue
        raw_options = spec.get("options") or {}
        if not isinstance(raw_options, dict):
            problems.append(doc.problem(loc + ("options",), "options must be a mapping",
                                        f"e.g. options: {{timeout: 2 s}}; `bringup drivers {driver_name}` lists them"))
            raw_options = {}
        options, bad = check_options(cls.Options, raw_options, driver=driver_name, seams=cls.seams)
        for p in bad:
            problems.append(doc.problem(loc + ("options",) + p.loc, p.message, p.hint, key=p.key))
        resource = spec.get("resource")
        if resource is not None and not isinstance(resource, str):
            problems.append(doc.problem(loc + ("resource",), "resource must be a VISA address or device path string"))
        rails = _guardrails(doc, loc + ("guardrails",), spec.get("guardrails"), cls, driver_name, problems)
        if options is not None:
            roles[role] = RoleBinding(role, driver_name, cls, resource, options, rails)
    if problems:
        raise InvalidInput(problems)
    return Station(name, doc.file, clock, float(speed) if speed else None, roles, doc)


def _guardrails(doc: Document, loc: tuple, raw: Any, cls: type[Driver], driver: str,
                problems: list[Problem]) -> tuple[Guardrail, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list):
        problems.append(doc.problem(loc, "guardrails must be a list of rules",
                                    "e.g. - {channel: 1, voltage: {max: 13 V}}"))
        return ()
    params = {n: p for s in cls.spec().values() for n, p in s.params.items()}
    out: list[Guardrail] = []
    for i, rule in enumerate(raw):
        rloc = loc + (i,)
        if not isinstance(rule, dict) or not rule:
            problems.append(doc.problem(rloc, "a guardrail rule is a mapping such as {voltage: {max: 13 V}}"))
            continue
        where = tuple((k, v) for k, v in rule.items() if not isinstance(v, dict))
        for k, _ in where:
            if k not in params:
                problems.append(doc.problem(rloc + (k,), f"'{k}' is not a parameter of any {cls.kind} action",
                                            f"parameters: {', '.join(sorted(params))}", key=True))
        bounds = [(k, v) for k, v in rule.items() if isinstance(v, dict)]
        if not bounds:
            problems.append(doc.problem(rloc, "this rule limits nothing", "add e.g. voltage: {max: 13 V}"))
        # a selector of the wrong type or naming no output compares unequal to every argument: it
        # would switch the whole rule off without a word, so it is refused here, where it is written
        picked = selector_problems(cls.spec(), driver, [k for k, _ in bounds], dict(where))
        for sp in picked:
            problems.append(doc.problem(rloc + ((sp.key,) if sp.key else ()), sp.message, sp.hint))
        first = len(out)
        for pname, b in bounds:
            p = params.get(pname)
            if p is None:
                problems.append(doc.problem(rloc + (pname,), f"'{pname}' is not a parameter of any {cls.kind} action",
                                            f"parameters: {', '.join(sorted(params))}", key=True))
                continue
            if not b:  # `channel: {}` reads as a bound on channel with no side: it would limit nothing
                problems.append(doc.problem(rloc + (pname,), f"'{pname}: {{}}' bounds nothing",
                                            f"give min and/or max, e.g. {pname}: {{max: ...}}; or select "
                                            f"with a value, e.g. {pname}: 1"))
                continue
            lim: dict[str, float | None] = {"low": None, "high": None}
            for side, value in b.items():
                key = {"min": "low", "low": "low", "max": "high", "high": "high"}.get(side)
                if key is None:
                    problems.append(doc.problem(rloc + (pname, side), f"unknown bound '{side}'", "use min and max",
                                                key=True))
                    continue
                try:
                    q = parse_quantity(value)
                    u = p.unit_obj
                    if u is not None and q.unit is DIMENSIONLESS:
                        raise UnitError(f"give a unit, such as '{value} {u.symbol}'")
                    if u is not None and q.dimension != u.dimension:
                        raise UnitError(f"{q} is a {q.dimension}; {pname} is a {u.dimension}")
                    if not math.isfinite(q.value):  # a NaN bound compares false: it would forbid nothing
                        raise UnitError(f"{q} is not a finite number")
                    lim[key] = q.si if u is not None else q.value
                except UnitError as exc:
                    example = f"'13 {p.unit_obj.symbol}'" if p.unit_obj else "a number"
                    problems.append(doc.problem(rloc + (pname, side), f"bad guardrail for {pname}: {exc}",
                                                f"a guardrail is a real, finite limit, such as {example}"))
            out.append(Guardrail(pname, lim["low"], lim["high"], where,
                                 p.unit_obj.dimension if p.unit_obj else "number"))
        # the proof that the rule binds something real: each of its limits applies to a target
        checked = not picked and all(k in params for k, _ in where)  # else already reported above
        for g in (unbound(cls.spec(), tuple(out[first:])) if checked else []):
            what = g.describe(params[g.param].unit or "")
            problems.append(doc.problem(rloc, f"{what} applies to nothing {driver} has",
                                        "`bringup drivers " + driver + "` lists its actions and their parameters"))
    return tuple(out)


def guardrail_lines(station: Station) -> list[str]:
    """Which limit binds which target, one line each: `psu channel 1: voltage ≤ 13 V, current_limit ≤ 400 A`
    (what `bringup validate` and `bringup plan` print; a role without guardrails has no line)."""
    out = []
    for role, b in station.roles.items():
        for target, limits in bindings(b.cls.spec(), b.guardrails):
            out.append(f"{role}{' ' + target if target else ''}: {limits}")
    return out
