"""Mesh ports: PAM4 lanes behind RS(544,514) FEC, PRBS tests, margins, faults."""

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from bringup.sim_devices.links.mesh import MeshConfig, MeshPort, codeword_failure_prob, post_fec_ber, symbol_error_prob
from bringup.sim_devices.links.prbs import bits_for_zero_error

CFG = MeshConfig()


def port(seed=1, cfg=None, faults=(), temp_c=45.0):
    p = MeshPort(cfg or CFG, np.random.default_rng(seed))
    p.hold_reset(0.0)
    truths = [p.inject(name, **params) for name, params in faults]
    p.release_reset(0.5, temp_c=temp_c)
    return p, truths


def test_rs544_corrects_15_symbols_and_fails_on_16():
    assert CFG.fec_t == 15
    raw = 1e-3
    p = symbol_error_prob(raw, 10)
    direct = sum(math.comb(544, k) * p**k * (1 - p) ** (544 - k) for k in range(16, 545))
    assert codeword_failure_prob(raw, CFG) == pytest.approx(direct, rel=1e-9)


@given(st.floats(1e-7, 1e-2), st.floats(1.05, 3.0))
def test_post_fec_ber_is_far_below_raw_and_rises_with_it(raw, worse):
    post = post_fec_ber(raw, CFG)
    assert post < raw
    assert post_fec_ber(raw * worse, CFG) > post


def test_fec_cleans_a_healthy_pam4_lane():
    assert post_fec_ber(1e-4, CFG) < 1e-15        # raw 1e-5..1e-4 leaves the decoder clean
    assert post_fec_ber(2.4e-4, CFG) < 1e-12      # even at the FEC threshold
    assert post_fec_ber(1e-3, CFG) > 1e-9         # and a marginal lane is past the cliff


def test_healthy_lanes_raw_ber_and_margins():
    raw = []
    for seed in range(6):
        p, _ = port(seed)
        for temp in (40.0, 85.0):
            st_ = p.status(1.0, temp)
            assert st_.up and st_.lanes_up == 8 and all(st_.lane_up)
            raw += st_.pre_fec_ber
            for lane in range(8):
                m = p.margin(lane, 1.0, temp)
                assert 20.0 <= m.timing_pct_ui <= 50.0 and m.passed
    assert all(3e-6 < b < 2.4e-4 for b in raw)               # all below the FEC threshold
    assert sum(1e-5 <= b <= 1e-4 for b in raw) >= 0.9 * len(raw)  # typically 1e-5..1e-4
    assert np.mean(raw[8:16]) > np.mean(raw[:8])              # hotter is worse


def test_fec_counters_count_corrected_not_uncorrectable_on_a_healthy_port():
    p, _ = port()
    p.status(1.0, 50.0)
    st_ = p.status(61.0, 50.0)
    codewords = 8 * 106e9 * 60.5 / 5440
    assert 0.01 * codewords < st_.fec_corrected < 0.5 * codewords
    assert st_.fec_uncorrectable == 0 and st_.flaps == 0


def test_prbs31_for_94s_at_32g_bounds_healthy_lanes_below_1e12():
    cfg = MeshConfig(gbps=32.0)
    results = []
    for seed in range(4):
        p, _ = port(seed, cfg)
        results += [p.prbs(1.0, lane, "PRBS31", 94.0, 50.0) for lane in range(8)]
    assert all(r.bits == pytest.approx(3.008e12) and r.locked for r in results)
    passing = sum(r.ber_upper_bound < 1e-12 and r.passes(1e-12) for r in results)
    assert passing >= 0.9 * len(results)


def test_prbs_on_a_marginal_lane_fails_the_bound():
    p, (truth,) = port(faults=[("marginal_lane", {"lane": 6})])
    assert 1e-9 <= truth["post_fec_ber_at_ref"] <= 1e-6
    r = p.prbs(1.0, 6, "PRBS31", 94.0, 45.0)
    assert r.locked and r.errors > 0 and r.ber_upper_bound > 1e-12 and not r.passes(1e-12)
    ok = p.prbs(1.0, 5, "PRBS31", 94.0, 45.0)
    assert ok.passes(1e-12)


def test_a_3e12_bit_prbs_test_is_just_a_call():
    p, _ = port()
    seconds = bits_for_zero_error(1e-12, 0.95) / (CFG.gbps * 1e9)
    r = p.prbs(1.0, 0, "prbs31", seconds, 45.0)
    assert r.bits >= 2.99e12 and r.pattern == "PRBS31" and r.after_fec
    big = p.prbs(1.0, 0, "PRBS31", 86400.0, 45.0)  # a day of bits, same cost
    assert big.bits == pytest.approx(106e9 * 86400)


def test_marginal_lane_margin_fec_counts_and_heat():
    p, (truth,) = port(faults=[("marginal_lane", {"lane": 2})])
    m = p.margin(2, 1.0, 45.0)
    assert m.timing_pct_ui < 30.0 and not m.passed
    assert m.ber == pytest.approx(truth["raw_ber_at_ref"], rel=1e-6)
    assert p.status(1.0, 45.0).presets[2] in ("P7", "P10")
    p.status(1.0, 45.0)
    cold = p.status(11.0, 45.0).fec_uncorrectable
    hot = p.status(21.0, 75.0).fec_uncorrectable - cold
    assert 0 < cold < hot
    assert p.status(21.0, 75.0).up  # FEC errors, not a down link


@pytest.mark.parametrize("lane", [0, 5])
def test_dead_lane_degrades_the_port_and_the_checker_never_locks(lane):
    p, (truth,) = port(faults=[("dead_lane", {"lane": lane})])
    st_ = p.status(1.0, 45.0)
    assert st_.up and st_.lanes_up == 4 == truth["expected_lanes_up"]
    assert not st_.lane_up[lane]
    r = p.prbs(1.0, lane, "PRBS31", 10.0, 45.0)
    assert not r.locked and r.bits == 0 and not r.passes(1e-12)
    assert p.margin(lane, 1.0, 45.0).timing_pct_ui == 0.0


def test_dead_lane_without_degrade_keeps_the_port_training():
    p, _ = port(cfg=MeshConfig(degrade_width=False), faults=[("dead_lane", {"lane": 3})])
    assert not any(p.status(t, 45.0).up for t in np.linspace(0.6, 60.0, 200))
    assert {s for _, s in p.trace(5.0)} == {"Down", "Training"}


def test_link_flaps_rise_over_time_and_lane_loss_in_service_flaps():
    p, _ = port()
    p.inject("link_flap", rate_per_hour=20.0, t=1.0)
    flaps = [p.status(h * 3600.0, 50.0).flaps for h in (0.5, 1, 2, 4)]
    assert flaps == sorted(flaps) and 0 < flaps[-1]
    assert abs(flaps[-1] - 80) < 4 * 80**0.5
    q, _ = port()
    q.inject("dead_lane", lane=7, t=2.0)
    st_ = q.status(3.0, 45.0)
    assert st_.flaps == 1 and st_.up and st_.lanes_up == 4


def test_reset_stops_the_port_and_the_checker():
    p, _ = port()
    p.hold_reset(2.0)
    st_ = p.status(3.0, 45.0)
    assert not st_.up and st_.state == "Down"
    assert not p.prbs(3.0, 0, "PRBS7", 1.0, 45.0).locked
    p.retrain(4.0)  # ignored in reset
    assert not p.status(5.0, 45.0).up
    p.release_reset(6.0)
    assert p.status(6.0 + CFG.train_s, 45.0).up


def test_same_seed_same_port_bit_for_bit():
    def run(seed):
        p, truths = port(seed, faults=[("marginal_lane", {"lane": 1})])
        p.inject("link_flap", rate_per_hour=10.0, t=1.0)
        return (truths, [p.status(t, 50.0) for t in (1.0, 600.0, 3600.0)],
                [p.prbs(3600.0, k, "PRBS31", 94.0, 50.0) for k in range(8)],
                p.margin(1, 3600.0, 50.0), p.trace(3600.0))
    assert run(9) == run(9)
    assert run(9) != run(10)


def test_marginal_lane_in_service_retrains_onto_an_extreme_preset():
    p, _ = port()
    p.status(1.0, 45.0)
    truth = p.inject("marginal_lane", lane=4, t=2.0)
    assert p.status(2.0 + 1e-6, 45.0).state == "Training"
    st_ = p.status(2.0 + CFG.train_s, 45.0)
    assert st_.up and st_.presets[4] in ("P7", "P10") and st_.flaps == 0
    assert p.lane_raw_ber(4, 3.0, 45.0) == pytest.approx(truth["raw_ber_at_ref"], rel=1e-6)
