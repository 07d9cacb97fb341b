"""The interlock rows, the phase reasons and the time left, as a person at the dashboard sees them.

The night of `test_dashboard_data`, with the interlocks of the shipped sled procedure added: four
HBM temperatures whose names differ only at the end, and 0/1 states (`cooling_ok`, `leak`).
"""

from __future__ import annotations

import pytest

import test_dashboard_data as data
from bringup.outputs import interlock_summary
from bringup.dashboard.interlocks import fit_name
from test_dashboard_data import SledNight
from test_dashboard_render import colour_of, fits, line_with, screen, text
from bringup.store import Measurement

MONITORS = "".join(
    f"  - {{read: sled.hbm_temperature, with: {{chip: {c}}}, name: hbm_temperature chip{c}, every: 5 s, "
    f"limit: {{high: 95 degC}}}}\n" for c in range(4)) + """\
  - read: sled.cooling_ok
    every: 10 s
    limit: {low: 1}
  - read: sled.leak
    every: 5 s
    limit: {high: 0}
"""


@pytest.fixture
def night(tmp_path, monkeypatch):
    monkeypatch.setattr(data, "PROCEDURE", data.PROCEDURE.replace("monitors:\n", "monitors:\n" + MONITORS))
    n = SledNight(tmp_path)
    n.first_hours(1.0)  # to 1:00:30 of run clock
    for t in (2400.0, 3000.0, 3600.0):
        for c in range(4):
            n.db.sample(n.run, f"monitor/hbm_temperature chip{c}", t, 60.0 + c, "degC")
        n.db.sample(n.run, "monitor/sled.cooling_ok", t, 1.0, "")
        n.db.sample(n.run, "monitor/sled.leak", t, 0.0, "")
    yield n
    n.close()


def summary(night: SledNight, t: float, **gaps: float) -> None:
    """The runner's interlock summary (the contract in bringup.outputs.interlock_summary), gaps by name."""
    items = []
    for name, gap in gaps.items():
        name = name.replace("__", " ").replace("_dot_", ".")
        every = 2.0 if name == "sled.max_tj" else 5.0
        items.append({"name": name, "read": name, "unit": "degC", "every_s": every, "allowed_gap_s": every + 0.05,
                      "low": None, "high": 95.0, "reads": 100, "failed_reads": 0, "largest_gap_s": gap,
                      "largest_gap_at_t": 300.0, "late": gap > every + 0.05, "closest": None})
    night.db.event(night.run, t, interlock_summary.KIND, "interlock summary", data={"interlocks": items})


def test_a_0_1_interlock_sitting_on_its_limit_is_ok_not_near(night):
    view = night.view()
    rows = {m.name: m for m in view.monitors()}
    assert rows["sled.cooling_ok"].level == "ok" and rows["sled.leak"].level == "ok"
    lines = screen(view, 120, 40)
    for name in ("sled.cooling_ok", "sled.leak"):
        status = line_with(lines, f"⛨ {name}")[-1]  # the state is the line's last word
        assert status.text == "ok" and status.style.color.name == "green"
    # a temperature 0.5 °C under its 95 °C limit is still near it: the band is for continuous readings
    night.db.sample(night.run, "monitor/hbm_temperature chip3", 3620.0, 94.5, "degC")
    assert {m.name: m for m in night.view().monitors()}["hbm_temperature chip3"].level == "near"


@pytest.mark.parametrize("width,height", [(120, 40), (100, 30), (80, 24)])
def test_interlock_names_are_never_cut(night, width, height):
    lines = screen(night.view(), width, height)
    fits(lines, width, height)
    shown = text(lines)
    visible = [line for line in shown if "⛨" in line]
    for c in range(4 if height >= 30 else 2):  # a small terminal shows fewer rows, never shorter names
        assert any(f"hbm_temperature chip{c}" in line for line in visible), "\n".join(shown)


def test_a_name_too_long_for_its_room_keeps_what_tells_it_apart():
    assert fit_name("hbm_temperature chip3", 40) == "hbm_temperature chip3"
    cut = fit_name("hbm_temperature chip3", 13)
    assert len(cut) == 13 and cut.endswith("chip3") and "…" in cut


def test_the_largest_gap_shows_and_a_late_interlock_says_late_in_red(night):
    summary(night, 3600.0, sled_dot_max_tj=2.0, hbm_temperature__chip0=5.0, hbm_temperature__chip1=61.0)
    view = night.view()
    lines = screen(view, 120, 40)
    assert "gap 2 s" in "".join(s.text for s in line_with(lines, "⛨ sled.max_tj"))
    late = line_with(lines, "⛨ hbm_temperature chip1")
    assert colour_of(late, "LATE gap 61 s") == "red"
    assert "LATE" not in "".join(s.text for s in line_with(lines, "⛨ hbm_temperature chip0"))
    # a later summary supersedes the earlier one
    summary(night, 3620.0, sled_dot_max_tj=2.0, hbm_temperature__chip1=62.5)
    assert "LATE gap 62.5 s" in "\n".join(text(screen(night.view(), 120, 40)))


def test_without_a_summary_no_gap_is_invented(night):
    shown = "\n".join(text(screen(night.view(), 120, 40)))
    assert "gap" not in shown


def test_a_failed_phase_reason_is_shown_whole_and_skipped_phases_share_a_line(night):
    reason = ("PLL lock [chip=0]: 'sled.pll_locked(chip=chip) >= 1' not true within 0.2 s; "
              "last read: sled.pll_locked(chip=0) = 0")
    night.db.phase(night.run, "soak", state="failed", t=3630.0, verdict="FAIL", reason=reason)
    for pid in ("vmin", "cooldown"):
        night.db.phase(night.run, pid, state="skipped", t=3630.0, reason="not run: phase soak failed")
    for width, height in ((160, 40), (120, 40), (80, 24)):
        lines = screen(night.view(), width, height)
        fits(lines, width, height)
        shown = "\n".join(text(lines))
        if width >= 160:
            assert f"✗ soak failed: {reason}" in shown
        else:  # the whole width, cut only at the terminal's edge
            assert f"✗ soak failed: {reason}"[:width - 1] in shown
        if height >= 30:
            assert "– 2 phases (vmin, cooldown) skipped: not run: phase soak failed" in shown


def test_time_left_never_grows_while_the_run_advances(night):
    """The soak ends, then a sweep starts slowly: its pace alone would push 'left' up."""
    db, run = night.db, night.run
    view = night.view()
    db.phase(run, "soak", state="passed", t=3700.0, verdict="PASS")
    db.phase(run, "vmin", state="running", t=3700.0)
    db.sample(run, "cdu.flow", 3700.0, 1.5, "L/min")
    db.flush()
    view.poll()
    lefts = [(view.now_t, view.remaining())]
    assert lefts[0][1] == pytest.approx(600.0)  # only the cooldown's wait is certain
    for k in range(8):  # 30 s a point, 21 points: a pace-based ETA of ~10 min on top of the cooldown
        t = 3700.0 + 30.0 * (k + 1)
        db.measurement(Measurement(run_id=run, path="vmin", name="sled.stress_check", value=0.0, unit="", low=None,
                                   high=0.0, verdict="PASS", t=t, coords={"voltage": f"{0.80 - 0.01 * k:.2f} V"}))
        db.flush()
        view.poll()
        lefts.append((view.now_t, view.remaining()))
    assert view.long_steps()[0].eta > 300.0  # the sweep's own ETA did grow the estimate...
    for (t0, a), (t1, b) in zip(lefts, lefts[1:]):
        assert t1 > t0 and b <= a, lefts  # ...but what the dashboard shows only ever shrinks
        assert b >= 600.0  # and never below what is certain: the cooldown's 10 min are still to come
    assert view.remaining() == view.remaining()  # asking twice at one moment gives one answer


def test_a_wait_until_that_timed_out_counts_as_a_failure_on_screen_and_in_watch(night):
    """What the runner stores when a wait_until times out: a step row, no measurement."""
    import io

    from bringup.dashboard.feed import StoreFeed
    from bringup.dashboard.plain import PlainFollow

    db, run = night.db, night.run
    why = "PLL lock [chip=0]: 'sled.pll_locked(chip=chip) >= 1' not true within 0.2 s"
    db.step(run, "soak/PLL lock", "wait_until", 3630.0, 3630.2, "timeout", message=why)
    db.step(run, "soak/for_each[chip]", "loop", 3630.0, 3630.2, "error")  # the loop's row repeats it
    db.step(run, "soak/sled.power_on", "do", 3630.2, 3631.0, "timeout", attempt=1)
    db.step(run, "soak/sled.power_on", "do", 3631.0, 3632.0, "ok", attempt=2)  # passed on its retry
    db.phase(run, "soak", state="failed", t=3632.0, verdict="FAIL", reason=why)
    night.end(3633.0, state="failed", code=1, reason="phase soak failed")
    view = night.view()
    assert view.failures == 1
    assert "· 1 fail ·" in text(screen(view, 120, 40))[1]
    assert "1 fail (1 of them a step)" in view.summary()
    out = io.StringIO()
    follow = PlainFollow(StoreFeed(night.path), run, out)
    assert follow.poll()
    assert "1 fail (1 of them a step), 0 unknown; phase soak failed" in out.getvalue().splitlines()[-1]
