"""What the runner hands the store: one value object per measurement.

A result knows where it came from: `step_id` is the compiled plan's id of the step that took it
(`pcie/3/1`, `safe_state/2`, `monitors/1`), `attempt` which try of a retried step it was. JUnit,
STDF and the pytest plugin read those two columns; nothing recovers them from message text.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True, kw_only=True)
class Measurement:
    """One judged value. `path` is where it sits for people (its phase, `monitors/<name>`);
    `step_id` is the plan step that made it (None only in stores written before step ids)."""

    run_id: int
    path: str
    name: str
    value: Any  # float; NaN or None is "no reading" (stored as NULL)
    unit: str
    low: float | None
    high: float | None
    verdict: str
    t: float
    coords: dict | None = None  # sweep / for_each / soak coordinates
    instrument: str | None = None
    dut: str | None = None
    message: str | None = None
    gate: bool = True  # False: characterization data (a shmoo point), judged but never a failure
    step_id: str | None = None
    attempt: int = 1  # which try of its step (`retry:`)
    phase_attempt: int = 1  # which run of its phase (`retries:`)


def retried(rows: list[dict]) -> set[int]:
    """Ids of the measurement rows a later attempt of the same step replaced (at the same loop
    point): not a result's final word. Read from the `step_id` and `attempt` columns; rows of a
    store written before step ids have none, and each is its own final word."""
    last: dict[tuple, dict] = {}
    out: set[int] = set()
    for m in rows:
        if m.get("step_id") is None:
            continue
        key = (m["step_id"], m.get("phase_attempt", 1), _coords_key(m.get("coords")))
        before = last.get(key)
        if before is not None and m["attempt"] == before["attempt"] + 1:
            out.add(before["id"])
        last[key] = m
    return out


def _coords_key(coords: dict | None) -> tuple:
    return tuple(sorted((str(k), str(v)) for k, v in (coords or {}).items()))
