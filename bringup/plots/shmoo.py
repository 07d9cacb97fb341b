"""Shmoos and Vmin read from the results store: pass/fail over voltage x frequency, per chip.

A shmoo is every measurement of one test (step path and name) of one chip that carries a
voltage coordinate, and usually a frequency coordinate too: a `sweep` over both, or over
voltage alone inside a `for_each` over frequencies. A coordinate is a voltage when its value is
a voltage (`"0.8 V"`) or, for plain numbers, when its name says so (`voltage`, `vdd...`);
likewise frequency (`"1.2 GHz"`, `freq...`). A point passes only when every measurement taken
there passed.

Vmin at a frequency is the lowest voltage of the unbroken run of passes down from the highest
voltage tested - the way a Vmin search walks down from the safe corner - so a lucky pass below
a failure does not count.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field

from bringup.store import FAIL, PASS, UNKNOWN, StoreReader
from bringup.core.units import UnitError, parse_quantity
from bringup.plots.search import without_probes


@dataclass(frozen=True)
class Vmin:
    """Vmin at one frequency. `volts` None: the highest voltage tested already failed.
    `edge` False: every voltage tested passed, so the true Vmin is at or below `volts`."""

    volts: float | None
    edge: bool


@dataclass
class Shmoo:
    path: str
    test: str
    chip: str | None
    condition: str  # other coordinates that split this shmoo from its siblings (e.g. "port=2")
    voltage_key: str
    frequency_key: str | None
    cells: dict[tuple[float, float | None], str] = field(default_factory=dict)

    @property
    def title(self) -> str:
        who = f", chip {self.chip}" if self.chip is not None else ""
        cond = f" [{self.condition}]" if self.condition else ""
        return f"{self.path} / {self.test}{cond}{who}"

    @property
    def voltages(self) -> list[float]:
        """Highest first, as a shmoo is drawn."""
        return sorted({v for v, _ in self.cells}, reverse=True)

    @property
    def frequencies(self) -> list[float | None]:
        fs = {f for _, f in self.cells}
        return sorted(fs, key=lambda f: -1.0 if f is None else f)

    def vmin(self) -> dict[float | None, Vmin]:
        out = {}
        for f in self.frequencies:
            tested = [v for v in self.voltages if (v, f) in self.cells]
            lowest: float | None = None
            edge = False
            for v in tested:
                if self.cells[(v, f)] != PASS:
                    edge = True
                    break
                lowest = v
            out[f] = Vmin(lowest, edge and lowest is not None)
        return out


def _quantity(key: str, raw: object) -> tuple[str, float] | None:
    """(dimension, SI value) of a coordinate, if it is a voltage or a frequency."""
    if isinstance(raw, bool):
        return None
    name = key.lower()
    if isinstance(raw, (int, float)):
        if "volt" in name or name.startswith("vdd"):
            return "voltage", float(raw)
        if "freq" in name:
            return "frequency", float(raw)
        return None
    try:
        q = parse_quantity(str(raw))
    except UnitError:
        return None
    if q.dimension in ("voltage", "frequency") and math.isfinite(q.si):
        return q.dimension, q.si
    return None


def coordinate(coords: dict, dimension: str, hint: str) -> tuple[str, float] | None:
    """(name, SI value) of the coordinate of this dimension, preferring one whose name holds `hint`."""
    found = [(k, q[1]) for k, v in coords.items() if (q := _quantity(k, v)) and q[0] == dimension]
    if not found:
        return None
    return next(((k, v) for k, v in found if hint in k.lower()), found[0])


def strip_loop_args(name: str, coords: dict) -> str:
    """The measurement's name without the arguments its loop coordinates fill in."""
    base, paren, rest = name.partition("(")
    if not paren or not rest.endswith(")"):
        return name
    kept = [a for a in rest[:-1].split(", ") if a and a.split("=", 1)[0].strip() not in coords]
    return f"{base}({', '.join(kept)})" if kept else base


def shmoos(measurements: list[dict]) -> list[Shmoo]:
    """Every shmoo in a run's measurements (at least two voltages), in the order first taken."""
    found: dict[tuple, Shmoo] = {}
    for m in measurements:
        coords = m["coords"] or {}
        volt = coordinate(coords, "voltage", "volt")
        if volt is None:
            continue
        freq = coordinate(coords, "frequency", "freq")
        chip = None if coords.get("chip") is None else str(coords["chip"])
        skip = {volt[0], "chip", "t"} | ({freq[0]} if freq else set())
        condition = ", ".join(f"{k}={v}" for k, v in coords.items() if k not in skip)
        key = (m["path"], strip_loop_args(m["name"], coords), chip, condition)
        shmoo = found.get(key)
        if shmoo is None:
            shmoo = found[key] = Shmoo(m["path"], key[1], chip, condition, volt[0], freq[0] if freq else None)
        point = (volt[1], freq[1] if freq else None)
        shmoo.cells[point] = _worse(shmoo.cells.get(point), m["verdict"])
    return [s for s in found.values() if len(s.voltages) >= 2]


def _worse(a: str | None, b: str) -> str:
    order = {PASS: 0, UNKNOWN: 1, FAIL: 2}
    return b if a is None or order[b] > order[a] else a


def run_shmoos(reader: StoreReader, run_id: int, measurements: list[dict] | None = None) -> list[Shmoo]:
    """The run's shmoos; a Vmin search's probes are not shmoo points (see plots/vmin.py)."""
    measurements = reader.measurements(run_id) if measurements is None else measurements
    return shmoos(without_probes(reader, run_id, measurements))


def group_by_test(items: list[Shmoo]) -> dict[tuple[str, str, str], list[Shmoo]]:
    """Shmoos of the same test and condition, one per chip, for side-by-side Vmin views."""
    groups: dict[tuple[str, str, str], list[Shmoo]] = defaultdict(list)
    for s in items:
        groups[(s.path, s.test, s.condition)].append(s)
    return dict(groups)


def format_volts(v: float | None) -> str:
    return "-" if v is None else f"{v:.3f} V"


def format_hertz(f: float | None) -> str:
    if f is None:
        return "(fixed)"
    for scale, unit in ((1e9, "GHz"), (1e6, "MHz"), (1e3, "kHz")):
        if abs(f) >= scale:
            return f"{f / scale:g} {unit}"
    return f"{f:g} Hz"
