"""Putting a run together: station -> clock -> drivers -> runner -> store.

The one place that composes the pieces, shared by the CLI and the test tooling, so that
`bringup run` and a test run the same way.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bringup.core.clock import Clock, RealClock, SimClock
from bringup.drivers.base import Driver
from bringup.run.runner import RunResult, Runner
from bringup.language.source import InvalidInput, Problem
from bringup.check.station import Station, load_station
from bringup.run.execution import Reporter
from bringup.check.validate import Checked, validate

#: The in-memory fake bench (`--station fake`): every role played by a fake driver.
FAKE_STATION = Path(__file__).resolve().parents[1] / "stations" / "fake.yaml"


def open_station(path: str | os.PathLike) -> Station:
    """A station file, or `fake` for the built-in in-memory bench."""
    return load_station(FAKE_STATION if str(path) == "fake" else path)


def parse_overrides(pairs: list[str] | tuple[str, ...]) -> dict[str, str]:
    """`-p soak=30min -p vdd_core=0.8V` -> {"soak": "30min", "vdd_core": "0.8V"}."""
    out: dict[str, str] = {}
    problems = []
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name.strip():
            problems.append(Problem("<command line>", 1, 1, f"-p {pair}: write NAME=VALUE", "e.g. -p soak=30min"))
            continue
        out[name.strip()] = value.strip()
    if problems:
        raise InvalidInput(problems)
    return out


def make_clock(station: Station, speed: float | None = None) -> Clock:
    if station.clock == "simulated":
        return SimClock(speed=speed if speed is not None else station.speed)
    return RealClock()


def make_drivers(station: Station, clock: Clock) -> dict[str, Driver]:
    return {role: b.cls(role=role, resource=b.resource, options=b.options, guardrails=b.guardrails, clock=clock)
            for role, b in station.roles.items()}


@dataclass
class Prepared:
    checked: Checked
    station: Station
    clock: Clock
    drivers: dict[str, Driver]


def prepare(procedure: str | os.PathLike, station: Station, overrides: dict[str, str] | None = None,
            speed: float | None = None, clock: Clock | None = None) -> Prepared:
    """Validate (raises InvalidInput before any instrument is touched), then build clock and drivers.

    `clock`: the clock to share (an embedded simulator's); by default one is made for the station.
    """
    checked = validate(procedure, station, overrides)
    clock = clock if clock is not None else make_clock(station, speed)
    # only the roles the procedure needs are opened: a station may describe a whole bench
    needed = {r: b for r, b in station.roles.items() if r in checked.procedure.requires}
    drivers = make_drivers(Station(station.name, station.file, station.clock, station.speed, needed), clock)
    return Prepared(checked, station, clock, drivers)


def open_store(path: str | os.PathLike, prepared: Prepared) -> Any:
    """The results store for this run.

    On a real bench every phase boundary and verdict is fsynced, so a resume after a host crash
    starts from the truth. On a simulated station the lab vanishes with the host anyway, so
    commits survive a killed process (SQLite WAL) without paying an fsync for each.
    """
    from bringup.store import Store

    return Store(path, durable_sync="normal" if prepared.clock.simulated else "full")


def run(prepared: Prepared, store: Any, *, dut: str = "unknown", reporter: Reporter | None = None,
        meta: dict | None = None, telemetry_every: float | None | str = "auto") -> RunResult:
    """Run a prepared procedure. `telemetry_every`: seconds of run clock between samples of every
    driver's telemetry() for the dashboard (None: none). "auto": every second on a real clock,
    every 10 s on a simulated one, whatever its speed: an overnight soak takes seconds there and a
    sample a second would be most of its cost, and a read is an event the simulated physics sees,
    so a speed-dependent interval would make the night depend on --speed."""
    speed = getattr(prepared.clock, "speed", None)
    if telemetry_every == "auto":
        telemetry_every = 10.0 if getattr(prepared.clock, "simulated", False) else 1.0
    runner = Runner(prepared.checked, prepared.drivers, prepared.clock, store, dut=dut, reporter=reporter,
                    meta={"station_file": prepared.station.file, "speed": speed,
                          "telemetry_every": telemetry_every, **(meta or {})},
                    telemetry_every=telemetry_every)
    result = runner.run()
    if reporter is not None and getattr(store, "path", None) is not None:
        # the run's end is committed: a reporter may now read the whole run back (the plain
        # log prints the key numbers from it); a broken reporter never fails a finished run
        try:
            reporter("recorded", {"run_id": result.run_id, "store": store.path})
        except Exception:
            pass
    return result
