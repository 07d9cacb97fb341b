"""An air-cooled sled: the shipped description stays cool under stress, the lab's coolant unit is
its ambient, and the BMC's cooling health (`coolant` record: fan_rpm, cooling_ok) catches a
stopped fan at once, long before the heat does."""

from pathlib import Path

import pytest

from bringup.core.clock import SimClock
from bringup.sim_devices.console.bmc_shell import BmcShell
from bringup.sim_devices.world.config import SledConfig
from bringup.sim_devices.lab import SimLab
from bringup.sim_devices.sled.sled import Sled

AIR = Path(__file__).resolve().parents[2] / "sleds" / "air.yaml"


def air_sled(seed=0):
    clock = SimClock()
    s = Sled.from_yaml(AIR, clock, seed)
    s.set_coolant(inlet_c=30.0)  # the procedure's default chamber setpoint
    s.power_on()
    clock.advance(3.0)
    assert all(s.health(c) == "healthy" for c in range(s.n_chips))
    return s, clock


def coolant_record(shell):
    answer = shell.execute("coolant")
    assert answer.code == 0, answer.text
    (line,) = answer.lines
    return dict(field.split("=", 1) for field in line.split())


def test_the_shipped_air_sled_runs_full_compute_stress_at_30_degc_without_throttling():
    s, clock = air_sled()
    assert s.config.n_chips == 4 and s.config.cooling == "air"
    assert s.config.thermal.c_sink == 800.0  # a partial `thermal:` keeps the air heatsink's defaults
    idle = s.max_tj()
    s.stress_start(1.0)
    clock.advance(1200.0)  # > 10 heatsink time constants: the plateau
    snap = s.snapshot()
    assert idle < 45.0
    assert 60.0 < snap["tj_c"].max() < 80.0           # 10 K under the SW throttle, 25 K under the soak gate
    assert snap["hbm_c"].max() < 85.0                 # below HBM's doubled-refresh band
    assert not snap["throttle_reasons"].any()
    assert all(350.0 < p < 500.0 for p in snap["power_w"])   # an air-cooled part's watts, not 650 W
    assert s.coolant_status()["cooling_ok"]


def test_a_stopped_fan_makes_cooling_ok_0_at_once_and_its_neighbours_ramp():
    s, clock = air_sled()
    shell = BmcShell(s)
    s.stress_start(1.0)
    clock.advance(300.0)
    before = coolant_record(shell)
    assert before["cooling"] == "air" and before["cooling_ok"] == "1"
    assert [float(x) for x in before["fan_rpm"].split(",")] == [8400.0] * 4   # 70 % duty of 12000 rpm
    sink0 = s.snapshot()["sink_c"]
    s.inject("fan_failure", target={"fan": 1})
    t0 = s.now()
    clock.advance(1.0)                                   # one interlock interval
    after = coolant_record(shell)
    assert after["cooling_ok"] == "0" and s.now() - t0 == 1.0
    rpm = [float(x) for x in after["fan_rpm"].split(",")]
    assert rpm == [12000.0, 0.0, 12000.0, 8400.0]        # the fan controller ramps both neighbours
    assert s.snapshot()["sink_c"][1] - sink0[1] < 1.0    # the heat has barely started to show
    with pytest.raises(ValueError, match="fan 4 does not exist: this sled has fans 0..3"):
        s.inject("fan_failure", target={"fan": 4})
    # the flow meter reads the fans' total airflow in L/min (28.3 per CFM): barely dented by one fan
    assert float(before["flow_lpm"]) == pytest.approx(4 * 70 * 28.317, rel=1e-4)
    assert float(after["flow_lpm"]) == pytest.approx((100 + 0 + 100 + 70) * 28.317, rel=1e-4)


def test_cooling_ok_on_a_liquid_sled_follows_flow_and_the_leak_sensor():
    clock = SimClock()
    s = Sled(SledConfig(n_chips=2), clock, seed=3)
    shell = BmcShell(s)
    s.set_coolant(30.0, 3.0)                             # nominal: 1.5 L/min per chip
    rec = coolant_record(shell)
    assert rec["cooling"] == "liquid" and rec["fan_rpm"] == "" and rec["cooling_ok"] == "1"
    s.set_coolant(flow_lpm=1.6)                          # 0.8 L/min per chip: above half of nominal
    assert coolant_record(shell)["cooling_ok"] == "1"
    s.set_coolant(flow_lpm=1.4)                          # 0.7: below it
    assert coolant_record(shell)["cooling_ok"] == "0"
    s.set_coolant(flow_lpm=3.0)
    s.inject("pump_failure", params={"flow_fraction": 0.3})
    assert coolant_record(shell)["cooling_ok"] == "0"
    leaky = Sled(SledConfig(n_chips=2), clock, seed=3)
    leaky.set_coolant(30.0, 3.0)
    leaky.inject("coolant_leak")
    assert not leaky.coolant_status()["cooling_ok"]


def test_the_bmc_floors_come_from_the_sled_description():
    clock = SimClock()
    s = Sled(SledConfig.from_dict({"cooling": "air", "n_chips": 2,
                                   "cooling_loop": {"fan_duty": 0.1, "fan_min_rpm": 1000.0}}), clock)
    assert s.config.cooling_loop.flow_per_chip == 100.0  # a partial cooling_loop keeps the air defaults
    assert s.coolant_status()["fan_rpm"] == [1200.0, 1200.0] and s.coolant_status()["cooling_ok"]
    s.set_fans(0.05)
    assert not s.coolant_status()["cooling_ok"]          # 600 rpm: below the floor


def test_in_the_lab_the_coolant_unit_is_an_air_sleds_ambient_and_its_flow_reaches_nothing():
    clock = SimClock()
    lab = SimLab(sled=Sled.from_yaml(AIR, clock, 0), clock=clock)
    for command in ("OUT_SP_00_40.00", "OUT_SP_09_4.00", "OUT_MODE_05_1", "START"):
        assert lab.chiller.handle(command) == "OK"
    lab.clock.advance(600.0)                             # ten of the chamber's time constants
    with lab.lock:                                       # what every request does first: couple
        status = lab.sled.coolant_status()
    assert status["inlet_c"] == pytest.approx(40.0, abs=0.01)
    assert status["fan_rpm"] == [8400.0] * 4             # the BMC's fans, whatever the unit's flow
    assert lab.chiller.flow() == pytest.approx(4.0)


def test_a_cooling_fault_the_sled_cannot_have_is_refused_when_asked_for_not_when_it_would_fire():
    liquid = Sled(SledConfig(n_chips=2), SimClock())
    with pytest.raises(ValueError, match="fan_failure needs an air-cooled sled"):
        liquid.inject("fan_failure", at=1800.0)          # would otherwise vanish half an hour into a run
    air = Sled(SledConfig(n_chips=2, cooling="air"), SimClock())
    with pytest.raises(ValueError, match="pump_failure needs a liquid-cooled sled"):
        air.inject("pump_failure", at=1800.0)
    with pytest.raises(ValueError, match="fan 2 does not exist"):
        air.inject("fan_failure", target={"fan": 2}, at=1800.0)
    assert liquid.faults() == [] and air.faults() == []  # nothing half-recorded
