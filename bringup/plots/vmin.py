"""Vmin per frequency, per chip, as the run recorded it.

When the run has a Vmin `search`, its chart is the search's own results, value for value: the
number a report quotes and a person signs off is the one drawn. A search's probes (every repeat
at every point) are how it got there, not a shmoo, so they are left out of the shmoo grids. A run
with shmoos but no search gets the Vmin each shmoo implies (`Shmoo.vmin`).

Whether a search found a failure below its result is read from the "search" event recorded with
it (same time, same phase).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from bringup.store import StoreReader
from bringup.core.units import UnitError, unit
from bringup.plots.search import searches as _searches
from bringup.plots.shmoo import Shmoo, Vmin, coordinate


@dataclass(frozen=True)
class VminPoint:
    frequency: float | None  # Hz; None: not swept
    vmin: Vmin


@dataclass
class VminChart:
    """One picture: Vmin against frequency, one line per chip."""

    path: str
    test: str
    condition: str
    source: str  # "search" (the search's results) or "shmoo" (the edge each shmoo implies)
    chips: dict[str | None, list[VminPoint]] = field(default_factory=dict)
    span: tuple[float, float] | None = None  # volts a bar is scaled over (a shmoo: the voltages swept)
    high: float | None = None  # the result's limit, if it had one (the same for every chip), in V
    low: float | None = None

    @property
    def title(self) -> str:
        cond = f" [{self.condition}]" if self.condition else ""
        how = "Vmin search" if self.source == "search" else "from the shmoo"
        return f"{self.path} / {self.test}{cond} ({how})"

    def volts(self) -> list[float]:
        return [p.vmin.volts for pts in self.chips.values() for p in pts if p.vmin.volts is not None]


def _volts(value: float | None, symbol: str) -> float | None:
    if value is None:
        return None
    try:
        u = unit(symbol)
    except UnitError:
        return None
    return u.to_si(value) if u.dimension == "voltage" else None


def search_charts(reader: StoreReader, run_id: int, measurements: list[dict] | None = None) -> list[VminChart]:
    """One chart per voltage search (and per condition), from its recorded results."""
    measurements = reader.measurements(run_id) if measurements is None else measurements
    searches = {(s.path, s.label) for s in _searches(reader, run_id, measurements)}
    outcome = {(e["t"], e["message"].split(":", 1)[0]): e["data"] for e in reader.events(run_id)
               if e["kind"] == "search" and isinstance(e["data"], dict)}
    charts: dict[tuple[str, str, str], VminChart] = {}
    limits: dict[tuple[str, str, str], set] = {}
    for m in measurements:
        if (m["path"], m["name"]) not in searches:
            continue
        try:
            if unit(m["unit"]).dimension != "voltage":
                continue  # a search over another setting (an Fmax) is not a Vmin
        except UnitError:
            continue
        coords = dict(m["coords"] or {})
        freq = coordinate(coords, "frequency", "freq")
        chip = None if coords.get("chip") is None else str(coords["chip"])
        axes = {"chip"} | ({freq[0]} if freq else set())
        condition = ", ".join(f"{k}={v}" for k, v in coords.items() if k not in axes)
        key = (m["path"], m["name"], condition)
        chart = charts.setdefault(key, VminChart(m["path"], m["name"], condition, "search"))
        data = outcome.get((m["t"], m["path"]), {})
        volts = _volts(m["value"], m["unit"])
        # no failure found down to the last point tried: Vmin is at or below the result
        edge = volts is not None and data.get("failed_at", "unknown") is not None
        chart.chips.setdefault(chip, []).append(VminPoint(freq[1] if freq else None, Vmin(volts, edge)))
        limits.setdefault(key, set()).add((_volts(m["low"], m["unit"]), _volts(m["high"], m["unit"])))
    for key, chart in charts.items():
        if len(limits[key]) == 1:
            chart.low, chart.high = next(iter(limits[key]))
        for pts in chart.chips.values():
            pts.sort(key=lambda p: -1.0 if p.frequency is None else p.frequency)
        volts = chart.volts() + [v for v in (chart.high, chart.low) if v is not None]
        chart.span = (min(volts), max(volts)) if volts else None
    return list(charts.values())


def shmoo_chart(group: list[Shmoo]) -> VminChart:
    """The Vmin a group of shmoos (one test, one per chip) implies."""
    first = group[0]
    chart = VminChart(first.path, first.test, first.condition, "shmoo")
    for s in group:
        chart.chips[s.chip] = [VminPoint(f, v) for f, v in s.vmin().items()]
    swept = [v for s in group for v in s.voltages]
    chart.span = (min(swept), max(swept))
    return chart
