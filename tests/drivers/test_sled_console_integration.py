"""The real sled driver, over a real pyserial session on a pseudo-terminal, to the simulated sled.

Time is simulated (the driver's waits jump the clock), so a boot, a 30 s PRBS run and a stress
soak take milliseconds of wall time; only the noise and stall cases spend a little of it.
"""

import math

import pytest

from bringup.core.clock import SimClock
from bringup.drivers.base import DriverError, InstrumentUnreachable
from bringup.drivers.sled_console import SledConsole
from bringup.sim_devices.world.config import SledConfig
from bringup.sim_devices.console.console_server import ConsoleServer
from bringup.sim_devices.faults.faults import CATALOG
from bringup.sim_devices.sled.sled import Sled


@pytest.fixture
def lab():
    clock = SimClock()
    sled = Sled(SledConfig(n_chips=2), clock, seed=5)
    sled.set_input(12.0, 400.0)
    sled.set_coolant(30.0, 3.0)
    # a 2 s stall on the wire lasts 0.3 s of wall time here: longer than one reply's timeout
    with ConsoleServer(sled, jump_stall_scale=0.15) as server:
        driver = SledConsole(role="sled", resource=server.path, clock=clock, options={"timeout": "200 ms"})
        driver.open()
        yield sled, server, driver
        driver.close()


def test_identity_comes_from_the_console(lab):
    sled, server, d = lab
    assert d.chips == 2 and d.rails == tuple(sled.rail_names)
    assert d.identity().startswith("SIM-SLED s/n ") and server.path in d.identity()


def test_power_on_boots_every_chip_and_the_rails_read_true(lab):
    sled, _, d = lab
    d.power_on()
    assert all(sled.boot_state(c) == "ready" for c in range(2))
    assert d.powered_state() == 1.0 and d.health(1) == 1.0 and d.pll_locked(0) == 1.0
    d.check_rails()
    assert d.rail_fault_count() == 0
    for chip in range(2):
        volts = d.rail_voltage("VDD_CORE", chip)
        assert volts == sled.pmbus_read(chip, "VDD_CORE", 0x8B) / 1024.0  # VOUT_MODE 0x16
        assert abs(volts - sled.rails(chip)["VDD_CORE"]["vout"]) <= 1 / 1024  # one ULINEAR16 step
        assert d.rail_current("VDD_CORE", chip) == pytest.approx(sled.rails(chip)["VDD_CORE"]["iout"], rel=0.01)
        assert d.tj(chip) == sled.sensors(chip)["tj_c"]
    assert d.max_tj() == sled.max_tj()


def test_links_train_and_their_ber_passes_while_a_marginal_lane_fails(lab):
    sled, _, d = lab
    d.power_on()
    assert d.pcie_speed(0) == d.pcie_capable_speed(0) and d.pcie_width(0) == d.pcie_capable_width(0) == 16
    start = sled.clock.now()
    assert all(d.prbs_ber(port, "PRBS31", 95.0) < 1e-12 for port in range(4))
    assert sled.clock.now() == start + 4 * 30.0  # each port's checkers ran 30 s of clock time
    sled.inject("marginal_lane", target={"chip": 0, "link": "mesh", "port": 1, "lane": 3})
    assert d.prbs_ber(1, lane=3) > 1e-9
    assert d.prbs_ber(1) > 1e-9      # the port's worst lane is that lane
    assert d.prbs_ber(1, lane=2) < 1e-12 and d.prbs_ber(2) < 1e-12


def test_stress_heats_the_sled_and_the_golden_compare_passes(lab):
    sled, _, d = lab
    d.power_on()
    idle_power = d.chip_power(0)
    d.stress_start(60.0)
    sled.clock.advance(20.0)
    assert d.stress_level(1) == pytest.approx(60.0)
    assert d.chip_power(0) > 2 * idle_power
    assert d.stress_check(duration=1.0) == 0.0
    channels = d.telemetry()
    assert channels["sled.chip1.power"] == (sled.sensors(1)["power_w"], "W")
    d.stress_stop()
    d.power_off()
    assert d.powered_state() == 0.0 and sled.boot_state(0) == "off"



def test_on_a_liquid_sled_cooling_ok_follows_the_pump_and_there_are_no_fans_to_read(lab):
    sled, _, d = lab
    assert d.cooling_ok() == 1.0 and d.coolant_flow() == 3.0
    with pytest.raises(DriverError, match="liquid-cooled and has no fans"):
        d.fan_rpm(0)
    sled.inject("pump_failure")
    assert d.cooling_ok() == 0.0 and d.coolant_flow() == 0.0


def test_on_an_air_sled_a_stopped_fan_reads_0_rpm_its_neighbours_ramp_and_cooling_ok_drops():
    clock = SimClock()
    sled = Sled(SledConfig(n_chips=3, cooling="air"), clock, seed=5)
    with ConsoleServer(sled) as server:
        d = SledConsole(role="sled", resource=server.path, clock=clock, options={"timeout": "200 ms"})
        d.open()
        assert [d.fan_rpm(f) for f in range(3)] == [8400.0] * 3 and d.cooling_ok() == 1.0
        sled.inject("fan_failure", target={"fan": 2})
        assert [d.fan_rpm(f) for f in range(3)] == [8400.0, 12000.0, 0.0] and d.cooling_ok() == 0.0
        with pytest.raises(DriverError, match="no fan 3"):
            d.fan_rpm(3)
        d.close()

def test_retraining_links_and_memory_waits_for_them_and_a_failed_stack_is_named(lab):
    sled, _, d = lab
    d.power_on()
    d.pcie_retrain(1)
    d.mesh_retrain(2, chip=1)
    assert sled.pcie_status(1)["ltssm"] == "L0" and sled.mesh_status(1, 2)["up"]
    d.hbm_train(0)
    assert d.hbm_capacity(0) == 96.0 and d.hbm_bist_failures(0) == 0.0
    sled.inject("hbm_train_fail", target={"chip": 1, "stack": 2})
    with pytest.raises(DriverError, match="chip1 stack 2"):
        d.hbm_train(1)
    assert d.hbm_capacity(1) == 72.0 and d.hbm_trained_stacks(1) == 3.0


def test_a_rail_short_fails_power_on_naming_the_rail_and_its_bits(lab):
    sled, _, d = lab
    sled.inject("rail_short", target={"chip": 1, "rail": "VDD_SRAM"})
    with pytest.raises(DriverError) as err:
        d.power_on()
    assert "chip1" in str(err.value) and "VDD_SRAM" in str(err.value) and "IOUT_OC" in str(err.value)
    with pytest.raises(DriverError, match="VDD_SRAM"):
        d.check_rails(chip=1)


def test_a_stuck_sensor_is_nan_and_a_silent_regulator_an_error(lab):
    sled, _, d = lab
    d.power_on()
    sled.inject("sensor_stuck", target={"chip": 0, "sensor": "rail:VDD_CORE"}, params={"mode": "nan"})
    assert math.isnan(d.rail_voltage("VDD_CORE", 0))
    sled.inject("sensor_stuck", target={"chip": 1, "sensor": "rail:HBM_VDD"}, params={"mode": "nack"})
    with pytest.raises(DriverError, match="no acknowledge"):
        d.rail_current("HBM_VDD", 1)


def test_on_a_noisy_console_the_readings_are_still_right_and_the_retries_recorded(lab):
    sled, server, d = lab
    d.power_on()
    sled.inject("console_noise")  # the catalogue's rates: drops, garbling, stalls
    assert sled.console_impairment()["drop_rate"] == CATALOG["console_noise"].params["drop_rate"]
    for i in range(60):
        chip = i % 2
        assert d.rail_voltage("VDD_CORE", chip) == sled.pmbus_read(chip, "VDD_CORE", 0x8B) / 1024.0
        assert d.tj(chip) == sled.sensors(chip)["tj_c"]
    d.stress_start(30.0)  # an action through the noise: run exactly once, confirmed
    assert d.stress_level(0) == pytest.approx(30.0)
    assert server.impaired_lines > 0
    assert d.retries and all(r.why for r in d.retries)


def test_a_console_stalled_for_good_is_unreachable_naming_role_and_port(lab):
    sled, server, d = lab
    sled.inject("console_noise", params={"drop_rate": 0.0, "garble_rate": 0.0, "stall_rate": 1.0,
                                         "stall_s": math.inf})
    with pytest.raises(InstrumentUnreachable) as err:
        d.max_tj()
    assert err.value.role == "sled" and err.value.resource == server.path
    assert len(d.retries) == 2  # three attempts without a byte back: the first and two resynchronisations


def test_a_console_that_vanishes_is_unreachable(lab):
    _, server, d = lab
    server.stop()
    with pytest.raises(InstrumentUnreachable, match="role 'sled'"):
        d.tj(0)


def test_a_port_where_no_console_listens_is_unreachable_at_open():
    d = SledConsole(role="sled", resource="/dev/does-not-exist-ttyUSB9", clock=SimClock())
    with pytest.raises(InstrumentUnreachable, match="cannot open the serial port"):
        d.open()


def test_reset_clears_a_hung_core_with_its_rails_up_and_refuses_a_chip_that_is_off(lab):
    sled, _, d = lab
    d.power_on()
    d.set_core_voltage(0.55, chip=0)
    d.set_core_frequency(1.6e9, chip=0)
    assert d.stress_check(chip=0) == 1.0 and sled.boot_state(0) == "hung"
    d.set_core_voltage(0.75, chip=0)
    d.set_core_frequency(1.4e9, chip=0)
    assert d.stress_check(chip=0) == 1.0          # nominal again, but the core is still hung
    d.reset(chip=0)
    assert sled.boot_state(0) == "ready" and d.powered_state() == 1.0   # no rail went down
    assert d.stress_check(chip=0) == 0.0
    assert any("chip0: reset by the BMC" in text for _, _, text in sled.events())
    d.power_off(chip=1)
    with pytest.raises(DriverError, match="chip1 is not powered"):
        d.reset(chip=1)


def test_a_rail_lost_on_a_running_chip_reads_as_not_powered_and_says_which_rail(lab):
    # the sequencer stays "on" when one of its rails shorts later: powered_state must look at the
    # rails, or the interlock on it never trips; and its trip must name the chip and the rail
    sled, _, d = lab
    d.power_on()
    sled.inject("rail_short", target={"chip": 1, "rail": "VDD_SRAM"})
    sled.clock.advance(0.5)
    assert d.powered_state() == 0.0
    why = d.why_powered_state()
    assert "chip1" in why and "VDD_SRAM" in why and "IOUT_OC" in why and "chip0" not in why


def test_the_junction_interlock_names_the_hottest_chip(lab):
    sled, _, d = lab
    d.power_on()
    d.stress_start(100.0, chip=1)
    sled.clock.advance(20.0)
    assert d.why_max_tj().startswith("hottest chip1 tj ")
