"""One duration format and one time base for every view."""

from __future__ import annotations

import io

from bringup.core.clock import SimClock, format_duration as from_clock
from bringup.outputs.plainlog import PlainLog
from bringup.core.timefmt import format_duration, run_time


def test_durations_are_h_mm_ss_truncated_like_a_timer():
    assert format_duration(5400) == "1:30:00"
    assert format_duration(59.99) == "0:00:59"  # not yet a minute
    assert format_duration(88.75, decimals=1) == "0:01:28.7"
    assert format_duration(0.7, decimals=1) == "0:00:00.7"
    assert format_duration(26 * 3600) == "26:00:00"  # a long night stays in hours
    assert format_duration(None) == "-" and format_duration(float("nan")) == "-"
    assert from_clock is format_duration  # still importable where it used to live


def test_the_log_stamps_run_time_since_the_start_as_the_report_does():
    clock = SimClock(start=100.0)
    out = io.StringIO()
    log = PlainLog(clock, out)
    clock.advance(1055.049)
    log.line("phase mesh: passed")
    assert out.getvalue() == f"[{run_time(1155.049, 100.0)}] phase mesh: passed\n"
    assert run_time(1155.049, 100.0) == "00:17:35.049"
    assert run_time(1155.049, 100.0, decimals=0) == "00:17:35"  # the dashboard's events, to the second
