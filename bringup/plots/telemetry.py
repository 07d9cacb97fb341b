"""Telemetry over a soak, read from the store: which soaks a run had, and every channel across each.

A soak is found by the event the runner records when it starts one ("<phase>: soak for ..."),
so a run killed in the middle of its overnight soak still has its soak, ending at the last
sample recorded.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass

from bringup.store import StoreReader


@dataclass(frozen=True)
class SoakWindow:
    phase: str
    start: float
    end: float
    finished: bool  # False: the run ended (or was killed) before the soak did

    @property
    def name(self) -> str:
        return f"{self.phase}-soak"


@dataclass
class Series:
    channel: str
    unit: str
    t: list[float]
    value: list[float]


def soak_windows(reader: StoreReader, run_id: int) -> list[SoakWindow]:
    soak_steps = [s for s in reader.steps(run_id) if s["kind"] == "soak"]
    channels = reader.channels(run_id)
    run = reader.run(run_id) or {}
    last_seen = max([c["last_t"] for c in channels if c["last_t"] is not None] + [run.get("ended_t") or 0.0])
    windows = []
    for e in reader.events(run_id):
        if e["kind"] != "soak" or not isinstance(e["data"], dict) or "duration" not in e["data"]:
            continue
        phase = e["message"].split(":", 1)[0]
        done = next((s for s in soak_steps if s["path"].split("/", 1)[0] == phase
                     and abs(s["started_t"] - e["t"]) < 1e-6), None)
        if done is not None:
            windows.append(SoakWindow(phase, done["started_t"], done["ended_t"], True))
        else:
            end = min(e["t"] + float(e["data"]["duration"]), max(last_seen, e["t"]))
            windows.append(SoakWindow(phase, e["t"], end, False))
    return windows


def soak_series(reader: StoreReader, run_id: int, window: SoakWindow) -> list[Series]:
    """Every telemetry channel's samples inside the soak, one series per channel."""
    by_channel: dict[tuple[str, str], Series] = {}
    for row in reader.samples(run_id, since_t=window.start):
        if row["t"] > window.end or row["value"] is None:
            continue
        key = (row["channel"], row["unit"])
        series = by_channel.get(key)
        if series is None:
            series = by_channel[key] = Series(row["channel"], row["unit"], [], [])
        series.t.append(row["t"])
        series.value.append(row["value"])
    return list(by_channel.values())


def soak_measurements(reader: StoreReader, run_id: int, window: SoakWindow) -> dict[tuple[str, str], list[dict]]:
    """The soak's own measurements (those with a `t` coordinate), by (name, unit)."""
    out: dict[tuple[str, str], list[dict]] = defaultdict(list)
    for m in reader.measurements(run_id):
        if (m["path"] == window.phase and "t" in (m["coords"] or {}) and m["value"] is not None
                and window.start - 1e-9 <= m["t"] <= window.end + 1e-9):
            out[(m["name"], m["unit"])].append(m)
    return dict(out)


# -- the soak chart, as data: what `png.soak_png` draws, and what the tests hold to the store -------
_CHIP = re.compile(r"chip(\s*=\s*|\s+|)(\d+)")
# what a soak watches first; any other unit follows in name order, counts and states (no unit) last
_UNIT_ORDER = ("degC", "W", "A", "V")


@dataclass
class Trace:
    label: str  # the channel or measurement name, as stored
    family: str  # the label with its chip (and any argument that varies across the family) as a wildcard
    chip: str | None
    measured: bool  # the soak's own readings (drawn as dots), not telemetry (lines)
    t: list[float]  # seconds since the soak started
    value: list[float]


@dataclass(frozen=True)
class Steady:
    """A family that held one value through the whole soak (every error counter at 0): said, not drawn."""

    family: str
    unit: str
    value: float
    labels: tuple[str, ...]


@dataclass
class Panel:
    unit: str
    traces: list[Trace]

    def families(self) -> list[str]:
        return list(dict.fromkeys(t.family for t in self.traces))

    def chips(self) -> list[str | None]:
        return list(dict.fromkeys(t.chip for t in self.traces))


@dataclass
class SoakChart:
    window: SoakWindow
    panels: list[Panel]
    steady: list[Steady]


def family_names(labels: list[str]) -> dict[str, str]:
    """label -> its legend entry. Chip 0..3 of one quantity share an entry (the colour tells the chip);
    so do the ports of one counter: an argument whose value differs within a family becomes '*'."""
    split: dict[str, tuple[str, list[tuple[str, str]]]] = {}
    groups: dict[tuple, list[str]] = defaultdict(list)
    for label in labels:
        base, paren, args = _CHIP.sub(lambda m: f"chip{m.group(1)}N", label).partition("(")
        parts = [tuple(a.split("=", 1)) if "=" in a else (a, "") for a in args.rstrip(")").split(", ")] \
            if paren else []
        split[label] = (base, parts)
        groups[(base, tuple(k for k, _ in parts))].append(label)
    out = {}
    for (base, keys), members in groups.items():
        varying = {k for i, k in enumerate(keys) if len({split[m][1][i] for m in members}) > 1}
        for m in members:
            shown = [k if not v else f"{k}=*" if k in varying else f"{k}={v}" for k, v in split[m][1]]
            out[m] = f"{base}({', '.join(shown)})" if keys else base
    return out


def soak_chart(window: SoakWindow, series: list[Series], marks: dict[tuple[str, str], list[dict]]) -> SoakChart:
    """Every channel and soak reading, as traces by unit; families constant through the soak as notes."""
    by_unit: dict[str, list[Trace]] = defaultdict(list)
    for s in series:
        by_unit[s.unit].append(_trace(s.channel, False, [t - window.start for t in s.t], list(s.value)))
    for (name, u), ms in marks.items():
        by_unit[u].append(_trace(name, True, [m["t"] - window.start for m in ms], [m["value"] for m in ms]))
    panels, steady = [], []
    for u in sorted(by_unit, key=lambda u: (u == "", _UNIT_ORDER.index(u) if u in _UNIT_ORDER else 9, u)):
        traces = by_unit[u]
        names = family_names([tr.label for tr in traces])
        for tr in traces:
            tr.family = names[tr.label] + (" (measured)" if tr.measured else "")
        fams: dict[str, list[Trace]] = {}
        for tr in traces:
            fams.setdefault(tr.family, []).append(tr)
        drawn = []
        for fam, members in fams.items():
            values = {v for tr in members for v in tr.value}
            if len(values) == 1 and len(members[0].value) > 1:
                steady.append(Steady(fam, u, values.pop(), tuple(tr.label for tr in members)))
            else:
                drawn += members
        if drawn:
            panels.append(Panel(u, drawn))
    return SoakChart(window, panels, steady)


def _trace(label: str, measured: bool, t: list[float], value: list[float]) -> Trace:
    m = _CHIP.search(label)
    return Trace(label, label, m.group(2) if m else None, measured, t, value)
