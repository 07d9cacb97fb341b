"""Rails up in order and down in reverse; reset, PLL, boot and health follow the rails."""

import pytest
from hypothesis import given, settings, strategies as st

from bringup.core.clock import SimClock
from bringup.sim_devices.world.config import SledConfig
from bringup.sim_devices.sled.sled import Sled

RAILS = [r.name for r in SledConfig().rails]


def sled(n=1, seed=5, **cfg):
    clock = SimClock()
    return Sled(SledConfig(n_chips=n, **cfg), clock, seed=seed), clock


def test_rails_power_up_in_order_and_down_in_exact_reverse():
    s, clock = sled(n=2)
    s.power_on()
    clock.advance(3.0)
    s.power_off()
    clock.advance(0.5)
    for chip in range(2):
        hist = s.sequence_history(chip)
        ups = [(t, r) for t, r, what in hist if what == "on"]
        downs = [(t, r) for t, r, what in hist if what == "off"]
        assert [r for _, r in ups] == RAILS
        assert [r for _, r in downs] == RAILS[::-1]
        assert all(t1 > t0 for (t0, _), (t1, _) in zip(ups, ups[1:]))
        # each rail is below 10 % before the next one is switched off (TOFF_FALL 2 ms)
        assert all(t1 - t0 >= 0.9 * 2e-3 - 1e-12 for (t0, _), (t1, _) in zip(downs, downs[1:]))
        assert all(r["vout"] == 0.0 and r["phase"] == "off" for r in s.rails(chip).values())


def test_each_rail_waits_for_the_previous_power_good():
    s, clock = sled()
    s.power_on()
    clock.advance(1.0)
    ups = [t for t, _, what in s.sequence_history(0) if what == "on"]
    # enable -> TON_DELAY 0.5 ms -> 93 % of TON_RISE -> 100 us deglitch -> 1 ms gap
    rails = SledConfig().rails
    for i in range(1, len(rails)):
        prev = rails[i - 1]
        expect = 0.5e-3 + prev.ton_rise_ms * 1e-3 * 0.93 + 100e-6 + 1e-3
        assert ups[i] - ups[i - 1] == pytest.approx(expect, abs=1e-9)


@settings(max_examples=8, deadline=None)
@given(st.permutations(RAILS))
def test_any_order_comes_down_in_its_exact_reverse(order):
    s, clock = sled()
    s.inject("sequence_violation", params={"order": list(order)})
    s.power_on()
    clock.advance(0.5)
    s.power_off()
    clock.advance(0.5)
    hist = s.sequence_history(0)
    ups = [r for _, r, w in hist if w == "on"]
    downs = [r for _, r, w in hist if w == "off"]
    assert ups == list(order)
    assert downs == ups[::-1]


def test_reset_is_held_until_rails_are_good_then_pll_locks_and_firmware_boots():
    s, clock = sled()
    assert s.health(0) == "unknown" and s.boot_state(0) == "off"
    s.power_on()
    clock.advance(0.02)
    assert s.boot_state(0) == "off"            # still sequencing
    clock.advance(0.03)
    t_good = next(t for t, _, text in s.events() if "all rails good" in text)
    clock.advance(t_good + 0.19 - s.now())
    assert s.boot_state(0) == "reset" and not s.pll_locked(0)
    assert s.pcie_status(0)["in_reset"]
    clock.advance(0.02)                         # 200 ms after all rails good
    assert s.pll_locked(0) and s.boot_state(0) == "fw_boot"
    assert s.health(0) == "unknown"            # booting: nothing proven yet
    clock.advance(0.1)                          # PERST# released 300 ms after power good
    assert not s.pcie_status(0)["in_reset"]
    clock.advance(2.0)
    assert s.boot_state(0) == "ready" and s.health(0) == "healthy"
    assert s.pcie_status(0)["link_up"]
    assert all(st["trained"] for st in s.hbm_status(0))
    assert sum(st["capacity_gib"] for st in s.hbm_status(0)) == pytest.approx(96.0)


def test_losing_a_rail_resets_the_chip_and_links():
    s, clock = sled()
    s.power_on()
    clock.advance(3.0)
    assert s.pcie_status(0)["link_up"]
    s.pmbus_write(0, "SERDES_AVDD", 0x01, 0x00)    # OPERATION off behind the sequencer's back
    clock.advance(0.01)
    assert s.boot_state(0) == "off" and not s.pcie_status(0)["link_up"]
    assert any("SERDES_AVDD power lost" in text for _, _, text in s.events())
    s.pmbus_write(0, "SERDES_AVDD", 0x01, 0x80)
    clock.advance(3.0)
    assert s.boot_state(0) == "ready" and s.health(0) == "healthy"
