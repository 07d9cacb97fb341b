"""HBM stacks: temperature bands, CATTRIP latch, training, BIST and ECC counters."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from bringup.sim_devices.silicon.hbm import HbmConfig, HbmStack

CFG = HbmConfig()


def trained_stack(seed=0, temp=50.0):
    s = HbmStack(CFG, np.random.default_rng(seed))
    s.train(1.0, temp)
    return s


@given(st.floats(-20.0, 104.9))
def test_refresh_and_throttle_bands_follow_temperature(temp):
    st_ = trained_stack().status(2.0, temp)
    expected = 1 if temp < 85.0 else 2 if temp < 95.0 else 4
    assert st_.refresh_multiplier == expected
    assert st_.throttled == (temp >= 95.0)
    assert not st_.cattrip and st_.trained
    assert 0 < st_.bandwidth_fraction <= 1
    cooler = trained_stack().status(2.0, min(temp, 84.0))
    assert st_.bandwidth_fraction <= cooler.bandwidth_fraction  # hot costs throughput


def test_cattrip_latches_until_power_is_removed():
    s = trained_stack()
    assert not s.status(2.0, 104.0).cattrip
    hot = s.status(3.0, 105.5)
    assert hot.cattrip and not hot.trained and hot.capacity_gib == 0
    cooled = s.status(60.0, 40.0)
    assert cooled.cattrip and not cooled.trained            # latched
    s.hold_reset(61.0)
    assert s.status(62.0, 40.0).cattrip                     # a reset does not clear it
    assert not s.train(63.0, 40.0).passed
    s.power_off(64.0)
    assert not s.status(65.0, 40.0).cattrip
    assert s.train(66.0, 40.0).passed
    assert s.status(67.0, 40.0).capacity_gib == 24.0


def test_training_takes_time_then_the_stack_has_its_capacity():
    s = HbmStack(CFG, np.random.default_rng(0))
    result = s.train(1.0, 45.0)
    assert result.passed and all(result.channels) and len(result.channels) == CFG.channels
    during = s.status(1.0 + CFG.train_s / 2, 45.0)
    assert during.training and not during.trained and during.capacity_gib == 0
    assert s.status(result.done_s, 45.0).capacity_gib == 24.0
    s.hold_reset(5.0)
    assert not s.status(5.0, 45.0).trained                  # reset loses training


def test_train_fail_leaves_the_stack_untrained_and_the_device_at_72_gib():
    stacks = [HbmStack(CFG, np.random.default_rng(k)) for k in range(4)]
    truth = stacks[2].inject("hbm_train_fail", cause="sequencing")
    assert truth["expected_capacity_gib"] == 0 and truth["cause"] == "sequencing"
    results = [s.train(1.0, 45.0) for s in stacks]
    assert [r.passed for r in results] == [True, True, False, True]
    assert not any(results[2].channels) and "calibration failed" in results[2].reason
    assert sum(s.status(2.0, 45.0).capacity_gib for s in stacks) == 72.0
    assert not stacks[2].bist(3.0, 45.0).passed


def test_one_bad_channel_fails_the_stack():
    s = HbmStack(CFG, np.random.default_rng(0))
    s.inject("hbm_train_fail", channels=[3])
    r = s.train(1.0, 45.0)
    assert not r.passed and r.channels[3] is False and sum(r.channels) == CFG.channels - 1
    assert s.status(2.0, 45.0).capacity_gib == 0
    with pytest.raises(ValueError, match="channel 99"):
        s.inject("hbm_train_fail", channels=[99])


def test_bist_finds_errors_the_chip_reported_and_counts_them():
    s = trained_stack()
    assert s.bist(2.0, 50.0).passed
    s.add_errors(ce=3, ue=0)
    r = s.bist(4.0, 50.0)
    assert r.ce >= 3 and r.ue == 0 and r.passed               # correctable: repairable
    s.inject("below_vmin_errors", ce=5, ue=2)
    r = s.bist(6.0, 50.0)
    assert r.ue == 2 and not r.passed and "uncorrectable" in r.reason
    st_ = s.status(7.0, 50.0)
    assert st_.ecc_correctable >= 8 and st_.ecc_uncorrectable == 2
    untrained = HbmStack(CFG, np.random.default_rng(1)).bist(1.0, 50.0)
    assert not untrained.passed and untrained.reason == "stack not trained"


def test_background_correctable_errors_accrue_faster_hot():
    def ces(temp):
        s = trained_stack(7)
        s.status(2.0, temp)
        return s.status(2.0 + 1000 * 3600.0, temp).ecc_correctable
    assert ces(95.0) > ces(65.0)


def test_same_seed_same_stack():
    def run(seed):
        s = trained_stack(seed)
        out = [s.bist(2.0, 90.0), s.status(3600.0 * 100, 90.0), s.bist(3600.0 * 100, 90.0)]
        return out
    assert run(3) == run(3)
