"""The sled as a bench sees it: input current, brownout, coolant, time, determinism."""

import numpy as np
import pytest

from bringup.core.clock import SimClock
from bringup.sim_devices.world.config import SledConfig
from bringup.sim_devices.sled.sled import Sled


def booted(n=2, seed=11, **cfg):
    clock = SimClock()
    s = Sled(SledConfig(n_chips=n, **cfg), clock, seed=seed)
    s.power_on()
    clock.advance(3.0)
    return s, clock


def test_input_current_is_rail_power_over_efficiency_plus_standby():
    clock = SimClock()
    s = Sled(SledConfig(n_chips=2), clock, seed=1)
    assert s.input_current() == pytest.approx(15.0 / 12.0)      # BMC standby only
    s.power_on()
    clock.advance(3.0)
    s.stress_start(1.0)
    clock.advance(10.0)
    rails = [r for c in range(2) for r in s.rails(c).values()]
    expect = (sum(r["pout"] / 0.90 for r in rails) + 15.0) / 12.0
    assert s.input_current() == pytest.approx(expect, rel=1e-9)
    assert s.input_current() > 50.0
    s.set_input(48.0)
    assert s.input_current() == pytest.approx(expect * 12.0 / 48.0, rel=1e-3)


def test_a_current_limited_supply_browns_the_sled_out():
    s, clock = booted()
    s.set_input(12.0, current_limit=40.0)     # enough for idle, not for stress
    clock.advance(1.0)
    assert s.boot_state(0) == "ready"
    s.stress_start(1.0)
    clock.advance(1.0)
    assert all(s.boot_state(c) == "off" for c in range(2))
    assert any("brownout" in text for _, _, text in s.events())
    word = s.rails(0)["VDD_CORE"]["status_word"]
    assert word & (1 << 3) and word & (1 << 13)          # VIN_UV and INPUT
    assert s.input_current() == pytest.approx(15.0 / 12.0)  # standby again


def test_power_on_is_refused_without_input():
    clock = SimClock()
    s = Sled(SledConfig(n_chips=1), clock, seed=1)
    s.set_input(0.0)
    assert s.power_on() is False
    assert s.input_current() == 0.0


def test_coolant_heat_balances_electrical_power_in_steady_state():
    s, clock = booted(n=4, plumbing="series")
    s.stress_start(1.0)
    clock.advance(600.0)
    snap = s.snapshot()
    cool = s.coolant_status()
    assert cool["heat_w"] == pytest.approx(float(snap["power_w"].sum()), rel=1e-4)
    assert cool["outlet_c"] > cool["inlet_c"]
    assert snap["tj_c"][3] > snap["tj_c"][0]          # downstream runs hotter


def test_same_seed_same_schedule_gives_bit_identical_results():
    def run(seed):
        s, clock = booted(n=3, seed=seed)
        s.inject("marginal_lane", target={"chip": 1, "link": "mesh", "port": 2, "lane": 3})
        s.inject("heatsink_misfit", target={"chip": 2}, at=50.0)
        s.stress_start(0.8)
        out = []
        for _ in range(40):
            clock.advance(2.5)
            snap = s.snapshot()
            out.append(np.concatenate([snap["tj_c"], snap["power_w"], snap["iout"].ravel()]))
        out.append(np.array([s.mesh_prbs(1, 2, 3, seconds=94.0)["errors"]]))
        out.append(np.array([r["passed"] for r in s.stress_check()], dtype=float))
        return np.concatenate(out), s.events()

    a, ev_a = run(3)
    b, ev_b = run(3)
    c, _ = run(4)
    assert a.tobytes() == b.tobytes() and ev_a == ev_b
    assert a.tobytes() != c.tobytes()


class _ManualClock:
    """A clock a test moves by hand, like SimClock in either of its modes."""

    def __init__(self):
        self.t = 0.0

    def now(self):
        return self.t


def test_physics_advances_lazily_to_whatever_the_clock_says():
    clock = _ManualClock()
    s = Sled(SledConfig(n_chips=1), clock, seed=2)
    s.power_on()
    clock.t = 3.0
    assert s.boot_state(0) == "ready" and s.now() == 3.0
    s.stress_start(1.0)
    clock.t = 3.0 + 3600.0               # an hour passes between two reads
    hot = s.sensors(0)["tj_c"]
    assert s.now() == 3603.0 and hot > 45.0


def test_a_real_time_multiple_clock_drives_the_same_physics():
    clock = SimClock(speed=100.0)         # a hundred times wall time
    s = Sled(SledConfig(n_chips=1), clock, seed=2)
    s.power_on()
    assert clock.wait_until(lambda: s.boot_state(0) == "ready", timeout=10.0, poll=0.5)
    assert s.health(0) == "healthy"


def test_coolant_unit_controls_inlet_and_flow():
    s, clock = booted(n=2)
    s.stress_start(1.0)
    clock.advance(300.0)
    warm = s.sensors(0)["tj_c"]
    s.set_coolant(inlet_c=20.0, flow_lpm=6.0)
    clock.advance(300.0)
    assert s.sensors(0)["tj_c"] < warm - 5.0
    st = s.coolant_status()
    assert st["inlet_c"] == 20.0 and st["flow"] == 6.0 and st["pump_ok"]


def test_air_cooled_sled_runs_hotter_per_watt_than_liquid():
    liquid, cl = booted(n=1)
    air, ca = booted(n=1, cooling="air")
    for s, c in ((liquid, cl), (air, ca)):
        s.set_coolant(inlet_c=35.0)
        s.stress_start(1.0)
        c.advance(900.0)
    per_watt = lambda s: (s.sensors(0)["tj_c"] - 35.0) / s.sensors(0)["power_w"]
    assert 0.04 < per_watt(liquid) < 0.07
    assert 0.08 < per_watt(air) < 0.14         # PHYSICS.md: air 0.08-0.13 K/W
    assert len(air.coolant_status()["fan_rpm"]) == 1


def test_unknown_chip_and_rail_are_reported_clearly():
    s, _ = booted(n=1)
    with pytest.raises(ValueError, match="chip 3 does not exist"):
        s.rails(3)
    with pytest.raises(ValueError, match="no rail 'VDD_X'"):
        s.pmbus_read(0, "VDD_X", 0x8B)
