"""Each simulated chip's fuses (PHYSICS.md §9): what bring-up judges a part against."""

import math

import numpy as np
import pytest

from bringup.core.clock import SimClock
from bringup.sim_devices.console.bmc_shell import BmcShell
from bringup.sim_devices.world.config import FusesConfig, SledConfig
from bringup.sim_devices.silicon.fuses import predicted_leakage_a
from bringup.sim_devices.sled.sled import Sled


def true_leakage_a(s: Sled, chip: int, v: float, tj: float) -> float:
    """The physics' own leakage current of the chip at (v, tj), whatever faults did to it."""
    e = s.engine
    return float(e.power.leakage(np.full(e.n, v), np.full(e.n, tj))[chip]) / v


@pytest.mark.parametrize("seed", range(12))
def test_the_fused_iddq_predicts_each_chips_own_leakage_within_a_few_percent(seed):
    s = Sled(SledConfig(n_chips=8), SimClock(), seed=seed)
    beta = s.config.power.beta_per_k
    for c in range(8):
        f = s.fuses(c)
        for tj in (f["iddq_temp_c"], 35.0, 85.0):     # at the sort point and scaled with beta
            real = true_leakage_a(s, c, f["iddq_v"], tj)
            assert predicted_leakage_a(s.engine.fuses[c], tj, beta) == pytest.approx(real, rel=0.08)


def test_the_bins_spread_as_the_parts_do():
    """The fuses follow the log-normal P_L0 draw (parts within a few % of each other may swap)."""
    s = Sled(SledConfig(n_chips=16), SimClock(), seed=3)
    iddq = np.log([s.fuses(c)["iddq_a"] for c in range(16)])
    leak = np.log(s.engine.power.p_leak0)
    assert np.corrcoef(iddq, leak)[0, 1] > 0.95
    assert np.std(iddq) == pytest.approx(s.config.power.leak_sigma, rel=0.5)


def test_every_chip_has_its_own_id_and_the_same_seed_gives_the_same_fuses():
    a = Sled(SledConfig(n_chips=16), SimClock(), seed=5)
    ids = [a.fuses(c)["id"] for c in range(16)]
    assert len(set(ids)) == 16 and all(i.startswith("SIM-L") for i in ids)
    b = Sled(SledConfig(n_chips=16), SimClock(), seed=5)
    assert [b.fuses(c) for c in range(16)] == [a.fuses(c) for c in range(16)]
    other = Sled(SledConfig(n_chips=16), SimClock(), seed=6)
    assert other.fuses(0)["id"] != a.fuses(0)["id"]


def test_a_leaky_part_still_reads_the_bin_it_was_sorted_into():
    clock = SimClock()
    s = Sled(SledConfig(n_chips=2), clock, seed=21)
    before = s.fuses(0)
    s.inject("soft_short", target={"chip": 0})
    s.inject("below_vmin", target={"chip": 0})
    s.power_on()
    clock.advance(40.0)
    assert s.fuses(0) == before
    real = true_leakage_a(s, 0, before["iddq_v"], before["iddq_temp_c"])
    assert real / before["iddq_a"] == pytest.approx(3.0, rel=0.08)


def test_the_speed_bin_and_vmin_are_the_chips_own():
    s = Sled(SledConfig(n_chips=8), SimClock(), seed=2)
    cfg = s.config.fuses
    for c in range(8):
        f = s.fuses(c)
        true = s.true_vmin(c, f["vmin_freq_hz"], f["vmin_temp_c"])
        # rounded up to the tester's step, off by the per-test noise at most
        assert true - 0.01 <= f["vmin_v"] <= true + cfg.vmin_step_v + 0.01
        assert f["speed_bin_hz"] in cfg.speed_bins_hz
    assert len({s.fuses(c)["vmin_v"] for c in range(8)}) > 1


def test_the_fuses_are_configuration_not_constants():
    cfg = SledConfig(n_chips=2, fuses=FusesConfig(id_prefix="TRN", iddq_temp_c=85.0, iddq_lsb_a=1.0,
                                                  speed_bins_hz=[1.0e9]))
    hot = Sled(cfg, SimClock(), seed=4)
    cold = Sled(SledConfig(n_chips=2), SimClock(), seed=4)
    f_hot, f_cold = hot.fuses(1), cold.fuses(1)
    assert f_hot["id"].startswith("TRN-") and f_hot["iddq_temp_c"] == 85.0
    assert f_hot["iddq_a"] == round(f_hot["iddq_a"])            # 1 A resolution
    beta = cold.config.power.beta_per_k
    assert f_hot["iddq_a"] / f_cold["iddq_a"] == pytest.approx(math.exp(beta * 60.0), rel=0.1)
    assert f_hot["speed_bin_hz"] == 1.0e9


def test_the_console_reads_every_chips_fuses_with_the_rails_off():
    s = Sled(SledConfig(n_chips=2), SimClock(), seed=21)
    shell = BmcShell(s)
    answer = shell.execute("fuses 1")
    assert answer.code == 0 and len(answer.lines) == 1
    fields = dict(kv.split("=", 1) for kv in answer.lines[0].split())
    assert fields["chip"] == "1" and fields["id"] == s.fuses(1)["id"]
    assert float(fields["iddq_a"]) == s.fuses(1)["iddq_a"]
    assert float(fields["vmin_v"]) == s.fuses(1)["vmin_v"]
    assert len(shell.execute("fuses").lines) == 2
    assert shell.execute("fuses 5").code == 12
