"""How every view writes run time: one duration format and one time base.

A duration is `H:MM:SS` (hours keep counting past a day, so columns line up all night), with
a fraction only where a view asks for one (`0:00:00.700` for a 0.7 s phase). A point in time
is the run clock's seconds since the run's start, the same in the plain log, `bringup report`
and the dashboard: `00:17:35.049`. Both are truncated, never rounded: a timer does not show
time that has not passed yet, and a log line stamped 00:01:00 happened after the minute.
"""

from __future__ import annotations

import math


def _split(seconds: float, decimals: int) -> tuple[int, int, int, str]:
    scale = 10 ** decimals
    # a hair over the float below: 59.549 s is stored as 59.54899999..., and truncating that would
    # show 59.548; never enough to round a reading up to the next shown unit
    ticks = int(math.floor(max(0.0, seconds) * scale + 1e-6))
    whole, frac = divmod(ticks, scale)
    return whole // 3600, whole % 3600 // 60, whole % 60, (f".{frac:0{decimals}d}" if decimals else "")


def format_duration(seconds: float | None, decimals: int = 0) -> str:
    """`5400` -> `1:30:00`; `0.7, decimals=1` -> `0:00:00.7`; `-` for an unknown duration."""
    if seconds is None or math.isnan(seconds):
        return "-"
    if math.isinf(seconds):
        return "∞"
    h, m, s, frac = _split(seconds, decimals)
    return f"{h}:{m:02d}:{s:02d}{frac}"


def run_time(t: float | None, start: float | None, decimals: int = 3) -> str:
    """Run clock `t` as time since the run's `start`: `00:17:35.049` (the plain log's stamp)."""
    if t is None:
        return "-"
    h, m, s, frac = _split(t - (start or 0.0), decimals)
    return f"{h:02d}:{m:02d}:{s:02d}{frac}"
