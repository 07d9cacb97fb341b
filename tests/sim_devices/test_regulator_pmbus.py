"""Regulators behave like PMBus parts: ramps, power-good, limits, latched status, telemetry."""

import pytest

from bringup.core.clock import SimClock
from bringup.sim_devices.power import codec, pmbus
from bringup.sim_devices.world.config import SledConfig
from bringup.sim_devices.power.pmbus import PmbusError
from bringup.sim_devices.sled.sled import Sled


def sled(n=1, **cfg):
    clock = SimClock()
    return Sled(SledConfig(n_chips=n, **cfg), clock, seed=7), clock


def booted(n=1, **cfg):
    s, clock = sled(n, **cfg)
    s.power_on()
    clock.advance(3.0)
    assert s.boot_state(0) == "ready"
    return s, clock


def test_power_good_asserts_after_delay_ramp_and_deglitch():
    s, clock = sled()
    rail = "VDDIO"
    s.pmbus_write(0, rail, pmbus.TON_DELAY, codec.linear11_encode(5.0))
    s.pmbus_write(0, rail, pmbus.TON_RISE, codec.linear11_encode(4.0))
    s.pmbus_write(0, rail, pmbus.OPERATION, 0x80)
    cfg = SledConfig().rails[-1]
    t_pg = 5e-3 + 4e-3 * cfg.pg_low_pct / 100 + cfg.pg_deglitch_us * 1e-6
    clock.advance(4e-3)
    assert s.rails(0)[rail]["phase"] == "delay" and s.rails(0)[rail]["vout"] == 0.0
    clock.advance(3e-3)      # mid-ramp: 2 ms of 4 ms
    r = s.rails(0)[rail]
    assert r["phase"] == "rise" and r["vout"] == pytest.approx(0.9, rel=1e-6) and not r["pg"]
    assert r["status_word"] & pmbus.SW_POWER_GOOD_N
    clock.advance(t_pg - 7e-3 - 1e-5)
    assert not s.rails(0)[rail]["pg"]
    clock.advance(2e-5)
    r = s.rails(0)[rail]
    assert r["pg"] and not r["status_word"] & pmbus.SW_POWER_GOOD_N


def test_telemetry_words_decode_to_the_rail_readings():
    s, clock = booted()
    s.stress_start(1.0)
    clock.advance(5.0)
    r = s.rails(0)["VDD_CORE"]
    mode = s.pmbus_read(0, "VDD_CORE", pmbus.VOUT_MODE)
    assert mode == 0x16
    vout = codec.ulinear16_decode(s.pmbus_read(0, "VDD_CORE", pmbus.READ_VOUT), mode)
    iout = codec.linear11_decode(s.pmbus_read(0, "VDD_CORE", pmbus.READ_IOUT))
    pout = codec.linear11_decode(s.pmbus_read(0, "VDD_CORE", pmbus.READ_POUT))
    temp = codec.linear11_decode(s.pmbus_read(0, "VDD_CORE", pmbus.READ_TEMPERATURE_1))
    vin = codec.linear11_decode(s.pmbus_read(0, "VDD_CORE", pmbus.READ_VIN))
    assert vout == pytest.approx(r["vout"], abs=2**-10)
    assert iout == pytest.approx(r["iout"], rel=2e-3)
    assert pout == pytest.approx(r["vout"] * r["iout"], rel=2e-3)
    assert temp == pytest.approx(r["temp"], abs=0.07)
    assert vin == pytest.approx(12.0, abs=0.01)
    # the core rail droops along its load line: die-sense voltage below the command
    assert r["vout"] == pytest.approx(0.75 - r["iout"] * 0.05e-3, rel=1e-6)
    assert codec.ulinear16_decode(s.pmbus_read(0, "VDD_CORE", pmbus.VOUT_COMMAND), mode) == 0.75


def test_overvoltage_latches_off_until_rearmed_and_status_clears_only_with_clear_faults():
    s, clock = booted()
    rail = "SERDES_AVTT"
    s.pmbus_write(0, rail, pmbus.VOUT_OV_FAULT_LIMIT, codec.ulinear16_encode(1.1, 0x16))
    clock.advance(0.01)
    r = s.rails(0)[rail]
    assert r["phase"] == "latched" and not r["pg"]
    assert r["status_vout"] & pmbus.VOUT_OV_FAULT
    word = r["status_word"]
    for bit in (pmbus.SW_VOUT_OV, pmbus.SW_VOUT, pmbus.SW_OFF, pmbus.SW_POWER_GOOD_N):
        assert word & bit
    # OPERATION on alone does not re-arm a latched output
    s.pmbus_write(0, rail, pmbus.VOUT_OV_FAULT_LIMIT, codec.ulinear16_encode(1.35, 0x16))
    s.pmbus_write(0, rail, pmbus.OPERATION, 0x80)
    clock.advance(0.05)
    assert s.rails(0)[rail]["phase"] == "latched"
    # status stays latched after the condition is gone ...
    clock.advance(1.0)
    assert s.pmbus_read(0, rail, pmbus.STATUS_VOUT) & pmbus.VOUT_OV_FAULT
    s.pmbus_write(0, rail, pmbus.CLEAR_FAULTS)
    assert s.pmbus_read(0, rail, pmbus.STATUS_VOUT) == 0
    # ... and OFF is live: still set because the rail is still latched off
    assert s.pmbus_read(0, rail, pmbus.STATUS_WORD) & pmbus.SW_OFF
    s.pmbus_write(0, rail, pmbus.OPERATION, 0x00)
    s.pmbus_write(0, rail, pmbus.OPERATION, 0x80)
    clock.advance(0.05)
    r = s.rails(0)[rail]
    assert r["phase"] == "on" and r["pg"] and r["status_word"] == 0


def test_warning_bits_latch_after_the_condition_is_gone():
    s, clock = booted()
    s.stress_start(1.0)
    clock.advance(2.0)
    i_now = s.rails(0)["VDD_CORE"]["iout"]
    s.pmbus_write(0, "VDD_CORE", pmbus.IOUT_OC_WARN_LIMIT, codec.linear11_encode(0.5 * i_now))
    clock.advance(0.5)
    assert s.pmbus_read(0, "VDD_CORE", pmbus.STATUS_IOUT) & pmbus.IOUT_OC_WARN
    s.pmbus_write(0, "VDD_CORE", pmbus.IOUT_OC_WARN_LIMIT, codec.linear11_encode(1260.0))
    clock.advance(5.0)
    assert s.pmbus_read(0, "VDD_CORE", pmbus.STATUS_IOUT) & pmbus.IOUT_OC_WARN
    assert s.pmbus_read(0, "VDD_CORE", pmbus.STATUS_WORD) & pmbus.SW_IOUT_POUT
    s.pmbus_write(0, "VDD_CORE", pmbus.CLEAR_FAULTS)
    clock.advance(1.0)
    assert s.pmbus_read(0, "VDD_CORE", pmbus.STATUS_IOUT) == 0


def test_uv_shuts_down_and_retries():
    s, clock = booted()
    rail = "SERDES_AVDD"
    s.pmbus_write(0, rail, pmbus.VOUT_UV_FAULT_LIMIT, codec.ulinear16_encode(0.9, 0x16))
    clock.advance(1e-4)
    r = s.rails(0)[rail]
    assert r["status_vout"] & pmbus.VOUT_UV_FAULT and r["phase"] in ("hiccup", "rise", "on")
    phases = set()
    for _ in range(60):
        clock.advance(1e-3)
        phases.add(s.rails(0)[rail]["phase"])
    assert {"hiccup", "rise"} <= phases          # it keeps retrying
    s.pmbus_write(0, rail, pmbus.VOUT_UV_FAULT_LIMIT, codec.ulinear16_encode(0.765, 0x16))
    clock.advance(0.1)
    assert s.rails(0)[rail]["phase"] == "on"


def test_over_temperature_turns_off_and_restarts_once_cooled():
    s, clock = booted()
    s.pmbus_write(0, "VDD_CORE", pmbus.OT_FAULT_LIMIT, codec.linear11_encode(31.0))
    clock.advance(1.0)
    r = s.rails(0)["VDD_CORE"]
    assert r["phase"] == "cooldown" and r["status_temperature"] & pmbus.TEMP_OT_FAULT
    assert s.boot_state(0) == "off"          # the chip lost its core rail
    s.pmbus_write(0, "VDD_CORE", pmbus.OT_FAULT_LIMIT, codec.linear11_encode(125.0))
    clock.advance(3.0)
    assert s.rails(0)["VDD_CORE"]["phase"] == "on"
    assert s.boot_state(0) == "ready"          # all rails good again: the chip rebooted
    assert s.pmbus_read(0, "VDD_CORE", pmbus.STATUS_TEMPERATURE) & pmbus.TEMP_OT_FAULT


def test_unsupported_command_nacks_and_sets_cml():
    s, _ = sled()
    with pytest.raises(PmbusError):
        s.pmbus_read(0, "VDD_CORE", 0xD0)
    assert s.pmbus_read(0, "VDD_CORE", pmbus.STATUS_CML) & pmbus.CML_INVALID_COMMAND
    assert s.pmbus_read(0, "VDD_CORE", pmbus.STATUS_WORD) & pmbus.SW_CML


def test_margin_high_moves_the_output_and_soft_off_ramps_down():
    s, clock = booted()
    s.pmbus_write(0, "HBM_VPP", pmbus.VOUT_MARGIN_HIGH, codec.ulinear16_encode(2.6, 0x16))
    s.pmbus_write(0, "HBM_VPP", pmbus.OPERATION, 0xA8)
    clock.advance(1e-3)
    assert s.rails(0)["HBM_VPP"]["vout"] == pytest.approx(2.6, rel=1e-3)
    s.pmbus_write(0, "HBM_VPP", pmbus.OPERATION, 0x40)
    clock.advance(1e-3)
    r = s.rails(0)["HBM_VPP"]
    assert r["phase"] == "fall" and 0.0 < r["vout"] < 2.6
    clock.advance(2e-3)
    assert s.rails(0)["HBM_VPP"]["vout"] == 0.0
