"""The one clock: virtual time that jumps, interrupts that wake sleepers, and nobody else's time."""

from __future__ import annotations

import re
import threading
from pathlib import Path

import pytest

from bringup.core.clock import RealClock, SimClock

ROOT = Path(__file__).resolve().parents[2]


def test_fast_simulated_time_jumps_and_wait_until_polls_on_it():
    c = SimClock()
    assert c.sleep(8 * 3600) is True and c.now() == 8 * 3600
    seen = []
    assert c.wait_until(lambda: seen.append(c.now()) or c.now() >= 8 * 3600 + 2.5, timeout=10, poll=1.0)
    assert seen == [28800.0, 28801.0, 28802.0, 28803.0]
    assert not c.wait_until(lambda: False, timeout=5, poll=2)
    assert c.now() == 28803.0 + 5


def test_interrupt_wakes_a_sleeper_at_once_and_clear_allows_sleeping_again():
    for clock in (RealClock(), SimClock(speed=1.0)):
        woke = []
        t = threading.Thread(target=lambda: woke.append(clock.sleep(3600)))
        t.start()
        clock.interrupt()
        t.join(timeout=10)
        assert woke == [False]  # an abort never waits out a long sleep
        assert clock.sleep(0.001) is False  # still interrupted: the runner must see it
        clock.clear()
        assert clock.sleep(0.001) is True


def test_scaled_simulated_time_keeps_jumps_when_running():
    c = SimClock(speed=1e6)
    before = c.now()
    c.advance(100.0)
    assert c.now() >= before + 100.0
    with pytest.raises(ValueError):
        SimClock(speed=0)
    with pytest.raises(ValueError):
        c.advance(-1)


def test_nothing_but_the_clock_reads_or_waits_on_wall_time():
    """A stray time.sleep would make an 8-hour simulated soak take 8 hours."""
    offenders = []
    for folder in ("bringup", "drivers", "sim_devices"):
        for path in (ROOT / folder).rglob("*.py"):
            if path.name == "clock.py":
                continue
            for n, line in enumerate(path.read_text().splitlines(), 1):
                code = line.split("#", 1)[0]
                if re.search(r"\btime\.(sleep|time|monotonic|perf_counter)\s*\(", code):
                    offenders.append(f"{path.relative_to(ROOT)}:{n}: {line.strip()}")
    assert offenders == []
