"""The dashboard drawn headlessly at fixed sizes, read the way a person reads a screen.

Frames are rendered by rich into lines of styled segments: the tests look for the words and
numbers on screen and for the colour they are drawn in (red is what makes someone get up).
"""

from __future__ import annotations

import re

import pytest
from rich.console import Console
from rich.segment import Segment

from bringup.dashboard.render import frame
from test_dashboard_data import HOT_CHIP, SledNight, night  # noqa: F401 (night: a fixture)
from bringup.store import Measurement


def screen(view, width: int, height: int) -> list[list[Segment]]:
    console = Console(width=width, height=height, force_terminal=True, color_system="truecolor")
    return console.render_lines(frame(view, width, height), console.options, pad=False)


def text(lines: list[list[Segment]]) -> list[str]:
    return ["".join(seg.text for seg in line).rstrip() for line in lines]


def line_with(lines: list[list[Segment]], *needles: str) -> list[Segment]:
    for line in lines:
        joined = "".join(seg.text for seg in line)
        if all(n in joined for n in needles):
            return line
    raise AssertionError(f"no line with {needles} in:\n" + "\n".join(text(lines)))


def colour_of(line: list[Segment], needle: str) -> str | None:
    """The foreground colour of the segment that shows `needle` (it must be drawn in one piece)."""
    for seg in line:
        if needle in seg.text:
            return seg.style.color.name if seg.style and seg.style.color else None
    raise AssertionError(f"{needle!r} not drawn in one piece in {''.join(s.text for s in line)!r}")


def fits(lines: list[list[Segment]], width: int, height: int) -> None:
    assert len(lines) <= height
    for line in lines:
        assert Segment.get_line_length(line) <= width, "".join(s.text for s in line)


@pytest.fixture
def two_hours(night):  # noqa: F811
    night.first_hours(2.0)
    return night


def test_at_120x40_a_person_sees_where_the_run_is_and_the_hot_chip_in_red(two_hours):
    lines = screen(two_hours.view(), 120, 40)
    fits(lines, 120, 40)
    shown = "\n".join(text(lines))
    head = text(lines)[0]
    assert "sled-night v3" in head and "DUT SN-0042" in head and "station sim-bench" in head
    assert head.endswith("RUNNING")
    assert ("elapsed 2:00:30 · left ≈6:10:00 (≈0:07:24 wall) · sim ×50 · 126 pass · 0 fail · 0 unknown"
            in shown)
    # phases with state, verdict and duration
    assert re.search(r"✓ power_on +passed +PASS +0:00:02", shown)
    assert re.search(r"✓ links +passed +PASS +0:00:27", shown)
    assert re.search(r"▶ soak +running +2:00:00", shown)
    assert re.search(r"· vmin +pending", shown) and re.search(r"· cooldown +pending", shown)
    # the current step, and the soak's progress with its ETA in run time and in wall time
    assert "now soak › sled.max_tj = 94.9 °C PASS (t=02:00:00)" in shown
    assert "25% 2:00:00 of 8:00:00 · ETA 6:00:00 (≈0:07:12 wall)" in shown
    # telemetry: the hottest chip named, in red against the soak check's 95 °C
    tj = line_with(lines, "Tj ", f"chip{HOT_CHIP}", "≤95 °C")
    assert colour_of(tj, "96.73 °C") == "red"
    power = line_with(lines, "Power", "11.21 kW")
    assert colour_of(power, "11.21 kW") == "green"
    assert colour_of(line_with(lines, "Coolant flow"), "1.5 L/min") == "green"
    assert colour_of(line_with(lines, "Throttle"), "1 of 16 chips: SW thermal") == "yellow"
    # one column per chip: only chip 3 is red, and its throttle reason is named
    grid_tj = line_with(lines, "Tj ", "84.", "96.73")
    reds = [s.text.strip() for s in grid_tj if s.style and s.style.color and s.style.color.name == "red"]
    assert reds == ["96.73"]
    assert "SWthm" in "".join(s.text for s in line_with(lines, "Throttle", " -"))
    # interlocks and alarms
    assert colour_of(line_with(lines, "⛨ sled.max_tj"), "ok") == "green"
    assert "≤105 °C" in "".join(s.text for s in line_with(lines, "⛨ sled.max_tj"))
    assert "≥1 L/min" in "".join(s.text for s in line_with(lines, "⛨ cdu.flow"))
    assert colour_of(line_with(lines, "interlock cdu.flow: cannot read"), "interlock cdu.flow") == "yellow"
    # the latest events
    assert "soak: soak for 28800 s, sampling every 60 s (481 samples)" in shown


def test_at_80x24_the_essentials_stay_and_the_chip_grid_goes(two_hours):
    lines = screen(two_hours.view(), 80, 24)
    fits(lines, 80, 24)
    shown = "\n".join(text(lines))
    assert text(lines)[0].endswith("RUNNING")
    assert "elapsed 2:00:30 · left ≈6:10:00 · sim ×50 · 126 pass · 0 fail · 0 unknown" in shown
    assert "phases ✓power_on ✓links ▶soak 2:00:00 ·vmin ·cooldown" in shown
    assert "now soak › sled.max_tj = 94.9 °C PASS" in shown
    assert "25% 2:00:00 of 8:00:00 · ETA 6:00:00" in shown
    assert colour_of(line_with(lines, "Tj ", f"chip{HOT_CHIP}"), "96.73 °C") == "red"
    assert "chip15" not in shown  # no room for a column per chip
    assert sum(1 for line in text(lines) if line.startswith("[")) >= 2  # the latest events still show


@pytest.mark.parametrize("width,height", [(60, 15), (80, 24), (100, 30), (120, 40), (160, 50), (200, 60)])
def test_every_size_fits_its_terminal(two_hours, width, height):
    lines = screen(two_hours.view(), width, height)
    fits(lines, width, height)
    assert text(lines)[0].endswith("RUNNING")


def test_ctrl_c_shows_aborting_to_the_safe_state_while_it_runs(two_hours):
    two_hours.ctrl_c(7300.0, safe_steps_done=1)
    for width, height in ((120, 40), (80, 24)):
        lines = screen(two_hours.view(), width, height)
        banner = line_with(lines, "ABORTING → safe state: Ctrl-C received · step 1 of 3")
        seg = next(s for s in banner if "ABORTING" in s.text)
        assert seg.style.bgcolor.name == "red"
        assert "left safe state only" in "\n".join(text(lines))
    shown = "\n".join(text(screen(two_hours.view(), 120, 40)))
    assert re.search(r"! soak +aborted +UNKNOWN +2:01:10", shown)
    assert re.search(r"– vmin +skipped", shown)
    assert "now safe_state › do sled.stress_stop" in shown


def test_a_finished_run_shows_its_final_state_and_summary(two_hours):
    two_hours.ctrl_c(7300.0, safe_steps_done=3)
    two_hours.end(7300.5)
    lines = screen(two_hours.view(), 120, 40)
    shown = "\n".join(text(lines))
    assert text(lines)[0].endswith("ABORTED")
    assert ("run ABORTED (exit 3) after 2:01:40: 2/5 phases passed; measurements: 126 pass, 0 fail, 0 unknown; "
            "Ctrl-C received") in shown
    assert "ETA" not in shown and "left ≈" not in shown  # nothing is under way any more
    assert "now finished · last: safe_state › do psu.output(state=off, channel=0)" in shown


def test_a_passed_run_is_green_and_says_so(night):  # noqa: F811
    night.first_hours(0.1)
    db, run = night.db, night.run
    db.phase(run, "soak", state="passed", t=400.0, verdict="PASS")
    for pid in ("vmin", "cooldown"):
        db.phase(run, pid, state="running", t=400.0)
        db.phase(run, pid, state="passed", t=1000.0, verdict="PASS")
    db.event(run, 1000.0, "safe_state", "safe state: end of run", durable=True)
    night.end(1000.0, state="passed", code=0, reason=None)
    lines = screen(night.view(), 120, 40)
    summary = line_with(lines, "run PASSED (exit 0) after 0:16:40: 5/5 phases passed")
    assert colour_of(summary, "run PASSED") == "green"


def test_a_tripped_interlock_is_red_and_says_what_it_read(night):  # noqa: F811
    night.first_hours(0.2)
    db, run = night.db, night.run
    db.sample(run, "monitor/sled.max_tj", 760.0, 106.2, "degC")
    db.measurement(Measurement(run_id=run, path="monitors/sled.max_tj", name="sled.max_tj", value=106.2,
                               unit="degC", low=None, high=105.0, verdict="FAIL", t=760.0, coords=None,
                               message="interlock sled.max_tj = 106.2 degC outside <= 105 degC"))
    lines = screen(night.view(), 120, 40)
    line = line_with(lines, "⛨ sled.max_tj")
    assert colour_of(line, "106.2 °C") == "red" and colour_of(line, "TRIPPED") == "red"
    alarm = line_with(lines, "[00:12:40] TRIP interlock sled.max_tj = 106.2 degC outside <= 105 degC")
    assert colour_of(alarm, "TRIP interlock") == "red"


def test_a_channel_that_stops_reading_shows_no_value_not_the_last_good_one(night):  # noqa: F811
    night.first_hours(0.1)
    night.db.sample(night.run, "cdu.flow", 500.0, float("nan"), "L/min")
    line = line_with(screen(night.view(), 120, 40), "Coolant flow")
    assert "1.5 L/min" not in "".join(s.text for s in line)
    assert colour_of(line, "—") == "yellow"


def test_a_view_attached_before_the_run_exists_says_it_is_waiting(tmp_path):
    from bringup.core.clock import SimClock
    from bringup.dashboard.feed import StoreFeed
    from bringup.dashboard.model import RunView

    night = SledNight(tmp_path)
    try:
        night.db.flush()
        view = RunView(StoreFeed(night.path), 99, SimClock())
        assert view.poll() is False
        assert text(screen(view, 80, 24)) == ["run 99: waiting for it to appear in the store…"]
    finally:
        night.close()


def test_a_run_just_begun_draws_without_phases_or_telemetry(tmp_path):
    from bringup.core.clock import SimClock
    from bringup.dashboard.feed import StoreFeed
    from bringup.dashboard.model import RunView

    night = SledNight(tmp_path)  # begun, phases declared pending, nothing run yet
    try:
        night.db.flush()
        view = RunView(StoreFeed(night.path), night.run, SimClock())
        assert view.poll()
        for width, height in ((120, 40), (80, 24)):
            lines = screen(view, width, height)
            fits(lines, width, height)
            shown = "\n".join(text(lines))
            assert text(lines)[0].endswith("RUNNING") and "elapsed 0:00:00" in shown
            assert "now waiting for the first step" in shown
            # at least the soak and the cooldown are still to come
            assert "left ≈8:10:00" in shown
    finally:
        night.close()


def test_without_the_procedure_file_values_show_without_limits_and_it_says_why(two_hours):
    two_hours.proc.unlink()
    lines = screen(two_hours.view(), 120, 40)
    shown = "\n".join(text(lines))
    assert "no limits or estimates: procedure file not found at " in shown
    assert colour_of(line_with(lines, "Tj ", f"chip{HOT_CHIP}"), "96.73 °C") == "green"
    assert "left ≈6:00:00" in shown  # the soak's own ETA still counts, from the store alone
