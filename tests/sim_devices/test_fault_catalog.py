"""Every catalog fault can be injected by name and produces its PHYSICS.md §8 symptoms."""

import math

import numpy as np
import pytest

from bringup.core.clock import SimClock
from bringup.sim_devices.power import pmbus
from bringup.sim_devices.world.config import LimitsConfig, SledConfig
from bringup.sim_devices.faults.faults import CATALOG, catalog_rows
from bringup.sim_devices.sled.sled import Sled

ISSUE_NAMES = ["heatsink_misfit", "rail_short", "soft_short", "pg_stuck", "sequence_violation",
               "overvoltage", "pll_no_lock", "marginal_lane", "dead_lane", "link_flap",
               "hbm_train_fail", "hbm_overtemp", "pump_failure", "fan_failure", "coolant_leak",
               "console_noise", "sensor_stuck", "brownout", "power_virus_oc", "below_vmin",
               "thermal_runaway"]


def sled(n=2, seed=21, **cfg):
    clock = SimClock()
    return Sled(SledConfig(n_chips=n, **cfg), clock, seed=seed), clock


def booted(n=2, **cfg):
    s, clock = sled(n, **cfg)
    s.power_on()
    clock.advance(3.0)
    assert all(s.health(c) == "healthy" for c in range(n))
    return s, clock


def errors(s, chip):
    return [text for _, sev, text in s.events() if sev in ("error", "critical") and f"chip{chip}" in text]


def test_catalog_lists_every_fault_of_the_issue_with_targets_params_and_symptoms():
    assert list(CATALOG) == ISSUE_NAMES
    for row in catalog_rows():
        assert row["description"] and row["symptoms"] and row["physics"]
        assert isinstance(row["targets"], dict) and isinstance(row["params"], dict)


def test_unknown_names_and_keys_are_rejected():
    s, _ = sled()
    with pytest.raises(ValueError, match="unknown fault"):
        s.inject("gremlins")
    with pytest.raises(ValueError, match="unknown target"):
        s.inject("rail_short", target={"lane": 3})
    with pytest.raises(ValueError, match="trigger"):
        s.inject("rail_short", at="when the moon is full")


def test_triggers_at_a_time_and_on_a_condition_record_when_they_fired():
    s, clock = booted()
    at_time = s.inject("heatsink_misfit", target={"chip": 1}, at=10.0)
    on_cond = s.inject("sensor_stuck", target={"chip": 0, "sensor": "tj"}, at="tj > 45")
    assert at_time["state"] == on_cond["state"] == "pending"
    s.stress_start(1.0)
    clock.advance(20.0)
    recs = {r["name"]: r for r in s.faults()}
    assert recs["heatsink_misfit"]["injected_at"] == 10.0
    assert recs["sensor_stuck"]["state"] == "active"
    # conditions are checked at every physics step (at most 1 s apart)
    assert 45.0 <= recs["sensor_stuck"]["truth"]["value"] < 55.0


# -- one test per PHYSICS.md §8 row -----------------------------------------------------------------

def test_heatsink_misfit():
    s, clock = booted()
    rec = s.inject("heatsink_misfit", target={"chip": 0})
    clock.advance(60.0)
    idle = s.sensors(0)
    assert idle["tj_c"] < 60.0 and idle["throttle_reasons"] == 0     # idle looks normal
    s.stress_start(1.0, kind="virus")
    t0 = s.now()
    while not s.sensors(0)["throttle_reasons"] & 0x20:
        clock.advance(0.1)
        assert s.now() - t0 < 5.0, "no throttle"
    assert s.now() - t0 <= 3.0                          # throttles within 1-3 s
    per_watt = [(s.sensors(c)["tj_c"] - 30.0) / s.sensors(c)["power_w"] for c in range(2)]
    assert per_watt[0] > 2.0 * per_watt[1]
    assert rec["truth"]["r_lid_sink_k_per_w"] == pytest.approx(0.012 * 12)
    # without throttling the part trips
    s2, clock2 = booted(limits=LimitsConfig(throttle_c=200, slowdown_c=200))
    s2.inject("heatsink_misfit", target={"chip": 0})
    s2.stress_start(1.0, kind="virus")
    clock2.advance(60.0)
    assert s2.boot_state(0) == "off" and s2.boot_state(1) == "ready"
    trip = [t for t, _, text in s2.events() if "chip0: thermal trip" in text]
    assert trip and "Tj 105.0" in next(x for _, _, x in s2.events() if "thermal trip" in x)


def test_rail_short():
    s, clock = sled()
    s.inject("rail_short", target={"chip": 0, "rail": "VDD_SRAM"})
    s.power_on()
    clock.advance(0.5)
    r = s.rails(0)
    sram = r["VDD_SRAM"]
    assert sram["iout_peak"] == pytest.approx(100.0)                  # at the OC limit
    assert sram["status_iout"] & pmbus.IOUT_OC_FAULT
    assert sram["status_vout"] & pmbus.VOUT_UV_FAULT                   # VOUT below UV
    phases = set()
    for _ in range(50):
        clock.advance(0.0013)
        phases.add(s.rails(0)["VDD_SRAM"]["phase"])
    assert {"hiccup", "current_limit"} <= phases                       # hiccup
    word = s.pmbus_read(0, "VDD_SRAM", pmbus.STATUS_WORD)
    for bit in (pmbus.SW_IOUT_OC, pmbus.SW_VOUT, pmbus.SW_POWER_GOOD_N):
        assert word & bit
    assert s.rails(0)["VDD_SRAM"]["status_word"] & pmbus.SW_POWER_GOOD_N
    later = list(r)[2:]
    assert all(r[name]["phase"] == "off" for name in later)             # never enabled
    assert any("sequencer timeout waiting for VDD_SRAM" in e for e in errors(s, 0))
    assert s.health(0) == "unhealthy" and s.boot_state(1) == "fw_boot"   # the other chip boots


def test_soft_short():
    s, clock = booted()
    s.inject("soft_short", target={"chip": 0, "rail": "VDD_CORE"})
    clock.advance(30.0)
    assert all(r["pg"] for r in s.rails(0).values())
    idle = [s.sensors(c)["idd_core_a"] for c in range(2)]
    assert idle[0] > 1.7 * idle[1]                     # idle current far too high
    s.stress_start(1.0, kind="virus")
    s.set_coolant(inlet_c=40.0)
    clock.advance(120.0)
    assert s.sensors(0)["tj_c"] > s.sensors(1)["tj_c"] + 10.0


def test_pg_stuck():
    for mode in ("low", "enable_stuck"):
        s, clock = sled()
        s.inject("pg_stuck", target={"chip": 0, "rail": "HBM_VDD"}, params={"mode": mode})
        s.power_on()
        clock.advance(0.5)
        r = s.rails(0)["HBM_VDD"]
        assert r["status_vout"] & pmbus.VOUT_TON_MAX_FAULT
        assert r["status_word"] & pmbus.SW_POWER_GOOD_N and not r["pg"]
        assert any("sequencer timeout waiting for HBM_VDD" in e for e in errors(s, 0))
        assert s.rails(0)["VDDIO"]["phase"] == "off"
        assert s.boot_state(0) == "off" and s.health(0) == "unhealthy"


def test_sequence_violation():
    s, clock = sled()
    s.inject("sequence_violation", target={"chip": 0})
    s.power_on()
    clock.advance(3.0)
    errs = errors(s, 0)
    assert any("sequence violation: VDDIO enabled before VDD_CORE" in e for e in errs)
    assert any("sequence violation: HBM_VDD enabled before HBM_VPP" in e for e in errs)
    io = s.rails(0)["VDDIO"]
    assert io["iout_peak"] > 5.0 and io["status_iout"] & pmbus.IOUT_OC_WARN   # inrush on I/O
    assert not any(st["trained"] for st in s.hbm_status(0))                     # HBM fails later
    assert s.health(0) == "unhealthy" and s.health(1) == "healthy"


def test_overvoltage():
    s, clock = booted()
    rec = s.inject("overvoltage", target={"chip": 0, "rail": "VDD_CORE"})
    clock.advance(0.01)
    r = s.rails(0)["VDD_CORE"]
    assert r["phase"] == "latched" and r["status_vout"] & pmbus.VOUT_OV_FAULT
    assert rec["truth"]["vout_v"] > rec["truth"]["ov_limit_v"]
    s.pmbus_write(0, "VDD_CORE", pmbus.OPERATION, 0x80)
    clock.advance(1.0)
    assert s.rails(0)["VDD_CORE"]["phase"] == "latched"           # until re-armed
    s.pmbus_write(0, "VDD_CORE", pmbus.OPERATION, 0x00)
    s.pmbus_write(0, "VDD_CORE", pmbus.OPERATION, 0x80)
    clock.advance(3.0)
    assert s.rails(0)["VDD_CORE"]["phase"] == "on" and s.boot_state(0) == "ready"


@pytest.mark.parametrize("cause", ["refclk", "avdd_low"])
def test_pll_no_lock(cause):
    s, clock = sled()
    s.inject("pll_no_lock", target={"chip": 0}, params={"cause": cause})
    s.power_on()
    clock.advance(3.0)
    assert not s.pll_locked(0) and s.pll_locked(1)
    assert s.boot_state(0) == "failed" and s.health(0) == "unhealthy"
    assert s.sensors(0)["idd_core_a"] < 0.5 * s.sensors(1)["idd_core_a"]
    assert s.pcie_status(0)["ltssm"].startswith(("Detect", "Polling"))
    assert any("PLL lock timeout" in e for e in errors(s, 0))


def test_marginal_lane():
    s, clock = booted()
    rec = s.inject("marginal_lane", target={"chip": 0, "link": "mesh", "port": 1, "lane": 2})
    assert rec["truth"]["extra_loss_db"] > 0
    s.stress_start(1.0)
    clock.advance(60.0)
    bad = s.mesh_prbs(0, 1, 2, seconds=94.0)
    good = s.mesh_prbs(0, 1, 0, seconds=94.0)
    assert bad["errors"] > 0 and bad["ber_upper_bound"] > 1e-12
    assert good["ber_upper_bound"] < bad["ber_upper_bound"]
    pcie = s.inject("marginal_lane", target={"chip": 1, "link": "pcie", "lane": 5})
    assert pcie["truth"]["lane"] == 5


def test_dead_lane():
    s, clock = sled()
    s.inject("dead_lane", target={"chip": 0, "link": "pcie", "lane": 3})
    s.power_on()
    clock.advance(3.0)
    st = s.pcie_status(0)
    assert st["link_up"] and st["width"] < st["capable_width"] == 16
    assert s.pcie_status(1)["width"] == 16


def test_link_flap():
    s, clock = booted()
    s.inject("link_flap", target={"chip": 0, "link": "pcie"}, params={"rate_per_hour": 600.0})
    before = s.pcie_status(0)["link_down_count"]
    clock.advance(3600.0)
    assert s.pcie_status(0)["link_down_count"] > before + 10
    assert s.pcie_status(1)["link_down_count"] == 0
    assert any(state.startswith("Recovery") for _, state in s.pcie_trace(0))


def test_hbm_train_fail():
    s, clock = sled()
    s.inject("hbm_train_fail", target={"chip": 0, "stack": 1})
    s.power_on()
    clock.advance(3.0)
    stacks = s.hbm_status(0)
    assert [st["trained"] for st in stacks] == [True, False, True, True]
    assert sum(st["capacity_gib"] for st in stacks) == pytest.approx(72.0)
    assert s.health(0) == "unhealthy" and s.health(1) == "healthy"
    assert any("HBM stack 1 training failed" in e for e in errors(s, 0))


def test_hbm_overtemp():
    s, clock = booted()
    s.inject("hbm_overtemp", target={"chip": 0})
    s.set_coolant(inlet_c=40.0)
    s.stress_start(1.0, kind="virus")
    bands = set()
    for _ in range(120):
        clock.advance(1.0)
        if s.boot_state(0) == "off":
            break
        bands.add(s.hbm_status(0)[0]["refresh_multiplier"])
    assert {2, 4} <= bands
    assert s.boot_state(0) == "off" and s.boot_state(1) == "ready"
    assert any("HBM CATTRIP" in e for e in errors(s, 0))
    assert s.hbm_status(1)[0]["refresh_multiplier"] == 1


def test_pump_failure():
    s, clock = booted(n=4, plumbing="series")
    s.set_coolant(inlet_c=35.0)
    s.stress_start(1.0, kind="virus")
    clock.advance(120.0)
    fluid0 = s.snapshot()["fluid_c"].copy()
    s.inject("pump_failure")
    t0 = s.now()
    clock.advance(2.0)
    assert s.coolant_status()["flow"] == 0.0
    rise = (s.snapshot()["fluid_c"] - fluid0) / 2.0
    # the stagnant coolant and its plate heat together: P / (C_plate + C_fluid) K per second
    assert rise.max() > 1.5
    first_throttle, off_at = {}, {}
    while len(off_at) < 4 and s.now() - t0 < 40.0:
        clock.advance(0.25)
        for c in range(4):
            if c not in first_throttle and s.sensors(c)["throttle_reasons"]:
                first_throttle[c] = s.now() - t0
            if c not in off_at and s.boot_state(c) == "off":
                off_at[c] = s.now() - t0
    assert min(first_throttle.values()) < 8.0
    assert 5.0 < min(off_at.values()) < 25.0
    assert min(off_at, key=off_at.get) == 3                  # downstream chip first


def test_fan_failure():
    s, clock = booted(n=3, cooling="air")
    s.stress_start(0.6)
    clock.advance(600.0)
    sink0 = s.snapshot()["sink_c"]
    s.inject("fan_failure", target={"fan": 1})
    rpm = s.coolant_status()["fan_rpm"]
    assert rpm[1] == 0.0 and rpm[0] > 0.7 * 12000 and rpm[2] > 0.7 * 12000   # neighbours ramp
    clock.advance(30.0)
    mid = s.snapshot()["sink_c"][1] - sink0[1]
    clock.advance(90.0)
    end = s.snapshot()["sink_c"][1] - sink0[1]
    assert 0 < mid < end and end > 5.0                     # heatsink rises over minutes
    assert any("fan 1 stopped" in text for _, _, text in s.events())


def test_coolant_leak():
    s, clock = booted()
    s.stress_start(0.5)
    clock.advance(30.0)
    tj = [s.sensors(c)["tj_c"] for c in range(2)]
    s.inject("coolant_leak")
    clock.advance(0.001)
    assert all(s.boot_state(c) == "off" for c in range(2))
    assert all(s.sensors(c)["tj_c"] <= tj[c] + 0.5 for c in range(2))   # no thermal precursor
    assert s.coolant_status()["leak"] and s.power_on() is False


def test_console_noise():
    # The console server applies the impairment to the wire (tests/sim_devices/test_console_server
    # checks the missing prompts); the sled publishes it, with a seed so damage is repeatable.
    s, clock = booted()
    assert s.console_impairment() is None
    rec = s.inject("console_noise", params={"drop_rate": 0.2, "garble_rate": 0.1})
    imp = s.console_impairment()
    assert imp["drop_rate"] == 0.2 and imp["garble_rate"] == 0.1 and imp["stall_s"] == 2.0
    assert rec["truth"]["seed"] == imp["seed"]
    s2, _ = booted()
    assert s2.inject("console_noise", params={"drop_rate": 0.2, "garble_rate": 0.1})["truth"] == rec["truth"]
    clock.advance(10.0)
    assert s.health(0) == "healthy"           # only the line is noisy, not the sled


def test_sensor_stuck():
    s, clock = booted()
    s.inject("sensor_stuck", target={"chip": 0, "sensor": "tj"}, params={"mode": "stuck"})
    stuck = s.sensors(0)["tj_c"]
    s.stress_start(1.0)
    clock.advance(60.0)
    assert s.sensors(0)["tj_c"] == stuck and s.sensors(1)["tj_c"] > stuck + 10
    s.inject("sensor_stuck", target={"chip": 1, "sensor": "hbm"}, params={"mode": "nan"})
    assert math.isnan(s.sensors(1)["hbm_c"])
    s.inject("sensor_stuck", target={"chip": 1, "sensor": "rail:VDD_CORE"}, params={"mode": "nack"})
    with pytest.raises(pmbus.PmbusError):
        s.pmbus_read(1, "VDD_CORE", pmbus.READ_VOUT)
    s.inject("sensor_stuck", target={"chip": 0, "sensor": "rail:VDDIO"}, params={"mode": "nan"})
    assert s.pmbus_read(0, "VDDIO", pmbus.READ_IOUT) == 0xFFFF
    assert math.isnan(s.rails(1)["VDD_CORE"]["vout"])
    s.inject("sensor_stuck", target={"chip": 1, "sensor": "rail:HBM_VPP"}, params={"mode": "nack"})
    with pytest.raises(pmbus.PmbusError):
        s.pmbus_read(1, "HBM_VPP", pmbus.STATUS_WORD)


def test_brownout():
    s, clock = booted()
    s.inject("brownout", params={"vin": 9.0, "duration_s": 0.5})
    clock.advance(0.01)
    assert s.input_voltage() == 9.0
    assert all(s.boot_state(c) == "off" for c in range(2))
    word = s.pmbus_read(0, "VDD_CORE", pmbus.STATUS_WORD)
    assert word & pmbus.SW_VIN_UV and word & pmbus.SW_OFF
    assert s.pmbus_read(0, "VDD_CORE", pmbus.STATUS_INPUT) & pmbus.INPUT_VIN_UV_FAULT
    clock.advance(1.0)
    assert s.input_voltage() == 12.0 and s.power_on()
    clock.advance(3.0)
    assert s.health(0) == "healthy"


def test_power_virus_oc():
    s, clock = booted()
    s.inject("power_virus_oc", target={"chip": 0})
    s.stress_start(0.3)
    reasons = 0
    for _ in range(30):
        clock.advance(0.1)
        reasons |= s.sensors(0)["throttle_reasons"]
    assert reasons & 0x80 and reasons & 0x8                    # power brake, HW slowdown
    assert s.rails(0)["VDD_CORE"]["status_iout"] & pmbus.IOUT_OC_WARN
    assert s.sensors(1)["throttle_reasons"] == 0
    # with an OC fault limit inside the virus' reach the rail trips (OCP)
    s2, clock2 = booted()
    s2.inject("power_virus_oc", target={"chip": 0}, params={"oc_fault_factor": 0.62})
    s2.stress_start(0.3)
    clock2.advance(3.0)
    assert s2.rails(0)["VDD_CORE"]["status_iout"] & pmbus.IOUT_OC_FAULT


def test_below_vmin():
    s, clock = booted()
    s.stress_start(1.0)
    clock.advance(20.0)
    rec = s.inject("below_vmin", target={"chip": 0})
    ce_first = ue_first = hang_at = None
    while hang_at is None and s.now() < rec["truth"]["restored_at"]:
        clock.advance(0.1)
        d = s.sensors(0)
        if d["sram_ce"] and ce_first is None:
            ce_first = s.now()
        if d["sram_ue"] and ue_first is None:
            ue_first = s.now()
        if s.boot_state(0) == "hung" and hang_at is None:
            hang_at = s.now()
            assert not s.stress_check(0)[0]["passed"]
    assert ce_first < ue_first <= hang_at                  # CE, then UE, then hang
    assert s.sensors(0)["golden_mismatches"] > 0
    clock.advance(rec["truth"]["restored_at"] - s.now() + 1.0)
    assert s.boot_state(0) == "ready"                      # recovers when V is restored
    ce = s.sensors(0)["sram_ce"]
    clock.advance(10.0)
    assert s.sensors(0)["sram_ce"] == ce
    assert all(r["passed"] for r in s.stress_check(0))
    assert s.sensors(1)["sram_ce"] == 0


def test_thermal_runaway():
    s, clock = booted()
    s.inject("thermal_runaway", target={"chip": 0})
    s.stress_start(1.0)
    tj, reasons = [], 0
    for _ in range(600):
        clock.advance(0.1)
        if s.boot_state(0) == "off":
            break
        tj.append(s.sensors(0)["tj_c"])
        reasons |= s.sensors(0)["throttle_reasons"]
    assert s.boot_state(0) == "off" and s.boot_state(1) == "ready"
    assert reasons & 0x20                                       # it throttled first
    assert tj[-1] > tj[len(tj) // 2] > tj[0]                     # kept rising at constant load
    assert any("thermal trip" in e for e in errors(s, 0))
