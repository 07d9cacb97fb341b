"""What the interlocks did over a run: how often each was read, its longest blind spell, and how
close its reading came to the limit.

The runner records this as a store event of kind `interlocks` at the end of every phase and once
at the end of the run, each superseding the one before. `bringup report` and the dashboard both
read it through `latest()` here, so they can never disagree about a gap. A run recorded before
the runner kept this has no such event: then there is nothing to show, and views say "not
recorded" rather than inventing a figure from something else.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Iterable

#: the event kind the runner records the summary under
KIND = "interlocks"


@dataclass(frozen=True)
class Closest:
    """The reading that came nearest to the limit (`side` "high" or "low"), at run clock `t`."""

    value: float
    limit: float
    side: str
    margin: float
    t: float | None


@dataclass(frozen=True)
class InterlockRecord:
    name: str
    read: str
    unit: str
    every_s: float | None
    allowed_gap_s: float | None  # the interval plus one poll: a gap longer than this was late
    low: float | None
    high: float | None
    reads: int
    failed_reads: int
    largest_gap_s: float | None
    largest_gap_at_t: float | None
    late: bool
    closest: Closest | None  # None when it was never read


def _num(v: Any) -> float | None:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return None
    return None if math.isnan(v) else float(v)


def _record(d: dict) -> InterlockRecord:
    gap, allowed = _num(d.get("largest_gap_s")), _num(d.get("allowed_gap_s"))
    late = d.get("late")
    if not isinstance(late, bool):  # an older or partial record: judge it the way the runner does
        late = gap is not None and allowed is not None and gap > allowed
    c = d.get("closest")
    closest = None
    if isinstance(c, dict) and _num(c.get("value")) is not None and _num(c.get("limit")) is not None:
        value, limit = _num(c["value"]), _num(c["limit"])
        margin = _num(c.get("margin"))
        closest = Closest(value, limit, str(c.get("side") or ""),
                          margin if margin is not None else abs(limit - value), _num(c.get("t")))
    return InterlockRecord(
        name=str(d.get("name") or d.get("read") or "?"), read=str(d.get("read") or d.get("name") or "?"),
        unit=str(d.get("unit") or ""), every_s=_num(d.get("every_s")), allowed_gap_s=allowed,
        low=_num(d.get("low")), high=_num(d.get("high")), reads=int(_num(d.get("reads")) or 0),
        failed_reads=int(_num(d.get("failed_reads")) or 0), largest_gap_s=gap,
        largest_gap_at_t=_num(d.get("largest_gap_at_t")), late=late, closest=closest)


def from_data(data: Any) -> list[InterlockRecord] | None:
    """The records in one `interlocks` event's data; None if it holds none we can read."""
    items = data.get("interlocks") if isinstance(data, dict) else None
    if not isinstance(items, list):
        return None
    return [_record(d) for d in items if isinstance(d, dict)]


def latest(events: Iterable[dict]) -> list[InterlockRecord] | None:
    """The newest interlock summary among `events` (store event dicts, oldest first), or None
    when the run has recorded none (yet, or ever: an older runner)."""
    found = None
    for e in events:
        if e.get("kind") == KIND:
            records = from_data(e.get("data"))
            if records is not None:
                found = records
    return found


def read(reader: Any, run_id: int) -> list[InterlockRecord] | None:
    """`latest()` of a run's events, read from a `StoreReader`."""
    return latest(reader.events(run_id, kind=KIND))


def worst_gap(records: list[InterlockRecord]) -> InterlockRecord | None:
    """The interlock that went longest unread, relative to what it was allowed."""
    gapped = [r for r in records if r.largest_gap_s is not None]
    if not gapped:
        return None
    return max(gapped, key=lambda r: (r.late, r.largest_gap_s / (r.allowed_gap_s or r.every_s or 1.0)))
