"""A fault does what the catalog says whenever it lands: before power-on as well as mid-run."""

from bringup.core.clock import SimClock
from bringup.sim_devices.world.config import SledConfig
from bringup.sim_devices.sled.sled import Sled


def sled(seed=21):
    clock = SimClock()
    return Sled(SledConfig(n_chips=2), clock, seed=seed), clock


def errors_over(s, clock, chip, seconds):
    """(first CE time, first UE time) while `seconds` pass."""
    ce = ue = None
    end = s.now() + seconds
    while s.now() < end:
        clock.advance(0.1)
        d = s.sensors(chip)
        ce = ce if ce is not None or not d["sram_ce"] else s.now()
        ue = ue if ue is not None or not d["sram_ue"] else s.now()
    return ce, ue


def test_below_vmin_before_power_on_waits_for_the_chip_to_run_then_weakens_it():
    s, clock = sled()
    s.inject("below_vmin", target={"chip": 0})               # cold, unpowered: no Vmin to speak of
    clock.advance(30.0)
    assert "starts_at" not in s.faults()[0]["truth"]
    s.power_on()
    ce, ue = errors_over(s, clock, 0, 15.0)
    truth = s.faults()[0]["truth"]
    booted = truth["starts_at"]
    assert 30.0 < booted < 34.0 and truth["vdd_die_v"] > 0.7  # from a running core, not a 0 V die
    assert booted < ce < ue <= booted + 10.0                  # CE, then UE, within the ramp
    assert s.health(0) == "unhealthy" and s.health(1) == "healthy"
    clock.advance(truth["restored_at"] - s.now() + 1.0)
    count = s.sensors(0)["sram_ce"]
    clock.advance(5.0)
    assert s.sensors(0)["sram_ce"] == count                    # recovers when V is restored


def test_below_vmin_at_a_time_when_the_chip_is_off_lands_on_its_next_boot():
    s, clock = sled()
    s.power_on()
    clock.advance(3.0)
    s.power_off()
    clock.advance(1.0)
    s.inject("below_vmin", target={"chip": 1}, at=s.now() + 1.0)
    clock.advance(10.0)
    assert "starts_at" not in s.faults()[0]["truth"]
    s.power_on()
    ce, ue = errors_over(s, clock, 1, 15.0)
    assert ce is not None and ue is not None
    assert s.sensors(0)["sram_ce"] == 0


def test_below_vmin_on_a_running_chip_lands_at_once():
    s, clock = sled()
    s.power_on()
    clock.advance(3.0)
    rec = s.inject("below_vmin", target={"chip": 0})
    assert rec["truth"]["starts_at"] == rec["injected_at"]
    ce, _ = errors_over(s, clock, 0, 12.0)
    assert ce is not None
