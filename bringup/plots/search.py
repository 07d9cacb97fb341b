"""Vmin searches as the store records them: which measurements are a search's probes, which its result.

A search is found by the step the runner records for it (kind "search", path "<phase>/<label>"),
its result by the measurement named <label> in that phase, its probes as the measurements of that
phase taken while it ran that carry the `repeat` coordinate the search gives each probe. Time
alone cannot tell: readings are stamped when they start, so the next step's first reading shares
the instant a search ends, and on a bench whose readings take no time everything does.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from bringup.store import StoreReader


@dataclass(frozen=True)
class Search:
    """One run of a search step: its measurements carry `path`; its result is named `label`."""

    path: str  # the phase path its measurements carry
    label: str
    started: float
    ended: float


def searches(reader: StoreReader, run_id: int, measurements: list[dict]) -> list[Search]:
    names = {f"{m['path']}/{m['name']}": (m["path"], m["name"]) for m in measurements}
    out = []
    for s in reader.steps(run_id):
        if s["kind"] != "search" or s["started_t"] is None:
            continue
        # the result names the split (a label may hold a '/'); a search killed before its result, the last '/'
        path, label = names.get(s["path"]) or tuple(s["path"].rsplit("/", 1))
        out.append(Search(path, label, s["started_t"], s["ended_t"] if s["ended_t"] is not None else math.inf))
    return out


def is_probe(m: dict, searches: list[Search]) -> bool:
    """A measurement taken by a search's nested checks (not the search's result)."""
    if "repeat" not in (m["coords"] or {}):
        return False
    return any(m["path"] == s.path and m["name"] != s.label and s.started <= m["t"] <= s.ended for s in searches)


def without_probes(reader: StoreReader, run_id: int, measurements: list[dict]) -> list[dict]:
    found = searches(reader, run_id, measurements)
    return [m for m in measurements if not is_probe(m, found)]


