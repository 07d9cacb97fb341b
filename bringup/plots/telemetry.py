"""Telemetry over a soak, read from the store: which soaks a run had, and every channel across each.

A soak is found by the event the runner records when it starts one ("<phase>: soak for ..."),
so a run killed in the middle of its overnight soak still has its soak, ending at the last
sample recorded.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from ..store import StoreReader


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
