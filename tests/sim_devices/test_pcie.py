"""The PCIe endpoint: LTSSM timings and outcomes, faults and what the host sees of them."""

import numpy as np
import pytest

from bringup.sim_devices.links.pcie import MarginUnavailable, PcieConfig, PcieEndpoint

RELEASE = 0.1
CONFIG = ["Detect.Quiet", "Detect.Active", "Polling.Active", "Polling.Configuration",
          "Configuration.Linkwidth.Start", "Configuration.Linkwidth.Accept",
          "Configuration.Lanenum.Wait", "Configuration.Lanenum.Accept", "Configuration.Complete",
          "Configuration.Idle", "L0"]
SPEED_STEP = ["Recovery.RcvrLock", "Recovery.RcvrCfg", "Recovery.Speed", "Recovery.RcvrLock",
              "Recovery.Equalization.Phase0", "Recovery.Equalization.Phase1",
              "Recovery.Equalization.Phase2", "Recovery.Equalization.Phase3",
              "Recovery.RcvrLock", "Recovery.RcvrCfg", "Recovery.Idle", "L0"]


def endpoint(seed=1, cfg=None, faults=(), refclk_ok=True, temp_c=None):
    ep = PcieEndpoint(cfg or PcieConfig(), np.random.default_rng(seed))
    ep.hold_reset(0.0)
    truths = [ep.inject(name, **params) for name, params in faults]
    ep.release_reset(RELEASE, refclk_ok=refclk_ok, temp_c=temp_c)
    return ep, truths


def since_release(ep, t):
    return [(when, name) for when, name in ep.trace(t) if when >= RELEASE]


def durations(trace):
    return [(name, b[0] - a[0]) for a, b in zip(trace, trace[1:]) for name in [a[1]]]


def test_healthy_gen5_link_trains_at_2g5_then_changes_speed_to_32():
    ep, _ = endpoint()
    trace = since_release(ep, 1.0)
    assert [name for _, name in trace] == CONFIG + SPEED_STEP * 3
    d = durations(trace)
    assert d[0] == ("Detect.Quiet", pytest.approx(0.012))
    assert d[2] == ("Polling.Active", pytest.approx(1024 * 16 * 10 / 2.5e9))  # 1024 TS1
    timeouts = {"Polling.Active": 0.024, "Polling.Configuration": 0.048,
                "Configuration.Linkwidth.Start": 0.024, "Configuration.Lanenum.Wait": 0.002}
    for name, dt in d[:10]:
        assert dt < timeouts.get(name, 0.024), name
    first_l0 = trace[10][0]
    st = ep.status(first_l0, 40.0)
    assert (st.ltssm, st.link_up, st.speed_gts, st.width) == ("L0", True, 2.5, 16)
    assert 0.012 < first_l0 - RELEASE < 0.0125
    speeds = [ep.status(when, 40.0).speed_gts for when, name in trace if name == "L0"]
    assert speeds == [2.5, 8.0, 16.0, 32.0]
    st = ep.status(1.0, 40.0)
    assert (st.ltssm, st.speed_gts, st.width, st.degraded) == ("L0", 32.0, 16, False)
    assert all(p is not None and p.startswith("P") for p in st.presets)
    assert "limited" not in st.bandwidth_notice
    assert st.bandwidth_notice.startswith("504.128 Gb/s available")


def test_margins_of_a_healthy_link_pass():
    ep, _ = endpoint()
    for lane in range(16):
        m = ep.margin(lane, 1.0, 60.0)
        assert 30.0 <= m.timing_pct_ui <= 50.0 and m.passed
        assert 50.0 <= m.voltage_mv <= 500.0
        assert m.ber < 1e-15


def test_missing_refclk_cycles_detect_and_polling_forever():
    ep, _ = endpoint(refclk_ok=False)
    st = ep.status(3600.0, 40.0)
    assert not st.link_up and st.ltssm in ("Detect.Quiet", "Detect.Active", "Polling.Active")
    trace = since_release(ep, 10.0)
    names = {name for _, name in trace}
    assert names == {"Detect.Quiet", "Detect.Active", "Polling.Active"}
    polls = [dt for name, dt in durations(trace) if name == "Polling.Active"]
    assert polls and all(dt == pytest.approx(0.024) for dt in polls)  # the timeout, every time
    assert len(polls) == pytest.approx(9.9 / 0.0361, abs=2)
    with pytest.raises(MarginUnavailable, match="Polling|Detect"):
        ep.margin(0, 10.0, 40.0)


def test_no_receiver_on_any_lane_cycles_detect_only():
    ep, _ = endpoint(faults=[("dead_lane", {"lane": k}) for k in range(16)])
    assert {name for _, name in since_release(ep, 5.0)} == {"Detect.Quiet", "Detect.Active"}


@pytest.mark.parametrize("lane", [0, 3, 9, 15])
def test_dead_lane_trains_x8_and_the_host_says_so(lane):
    ep, (truth,) = endpoint(faults=[("dead_lane", {"lane": lane})])
    st = ep.status(1.0, 40.0)
    assert truth["expected_width"] == 8
    assert (st.link_up, st.speed_gts, st.width, st.capable_width) == (True, 32.0, 8, 16)
    assert st.degraded and lane not in st.lanes and st.presets[lane] is None
    assert "limited by 32.0 GT/s PCIe x8 link" in st.bandwidth_notice
    assert "capable of 504.128 Gb/s with 32.0 GT/s PCIe x16 link" in st.bandwidth_notice
    names = [name for _, name in since_release(ep, 1.0)]
    assert names[:5] == ["Detect.Quiet", "Detect.Active"] * 2 + ["Polling.Active"]
    with pytest.raises(MarginUnavailable, match=f"lane {lane} is not part"):
        ep.margin(lane, 1.0, 40.0)


def test_lane_dying_in_l0_takes_the_link_down_and_back_at_x8():
    ep, _ = endpoint()
    assert ep.status(1.0, 40.0).width == 16
    ep.inject("dead_lane", lane=12, t=2.0)
    during = ep.status(2.01, 40.0)
    assert during.ltssm == "Recovery.RcvrLock" and during.link_down_count == 0
    after = ep.status(3.0, 40.0)
    assert (after.link_up, after.width, after.link_down_count) == (True, 8, 1)
    assert after.aer_uncorrectable == 1  # Surprise Down


def test_marginal_lane_has_no_margin_a_bad_ber_an_extreme_preset_and_is_worse_hot():
    ep, (truth,) = endpoint(faults=[("marginal_lane", {"lane": 5})], temp_c=45.0)
    st = ep.status(1.0, 45.0)
    assert st.speed_gts == 32.0 and st.width == 16  # marginal, not failed: the speed holds
    assert st.presets[5] in ("P7", "P10")
    m = ep.margin(5, 1.0, 45.0)
    assert m.timing_pct_ui < 30.0 and not m.passed
    assert 1e-9 <= m.ber <= 1e-6
    assert truth["ber_at_ref"] == pytest.approx(m.ber, rel=1e-6)
    bers = [ep.margin(5, 1.0, temp).ber for temp in (25.0, 45.0, 65.0, 85.0)]
    assert bers == sorted(bers) and bers[-1] > 10 * bers[1]
    assert all(ep.margin(k, 1.0, 45.0).passed for k in range(16) if k != 5)
    # receiver errors pile up as AER correctables, roughly BER * bits
    before = ep.status(1.0, 45.0).aer_correctable
    after = ep.status(11.0, 45.0).aer_correctable
    expected = m.ber * 32e9 * 10
    assert 0.8 * expected < after - before < 1.2 * expected
    assert ep.status(11.0, 45.0).link_down_count == 0


def test_very_lossy_lane_fails_equalization_at_32_and_falls_back_to_16():
    ep, _ = endpoint(faults=[("marginal_lane", {"lane": 2, "extra_loss_db": 30.0})])
    st = ep.status(1.0, 40.0)
    assert (st.speed_gts, st.width, st.degraded) == (16.0, 16, True)
    assert "limited by 16.0 GT/s PCIe x16 link" in st.bandwidth_notice
    trace = since_release(ep, 1.0)
    phase2 = [dt for name, dt in durations(trace) if name == "Recovery.Equalization.Phase2"]
    assert phase2[-1] == pytest.approx(0.024)  # searched until the timeout, then gave up


def test_link_flap_makes_the_down_counter_rise():
    ep, _ = endpoint()
    truth = ep.inject("link_flap", rate_per_hour=60.0, t=1.0)
    counts = [ep.status(h * 3600.0, 50.0).link_down_count for h in (0.25, 0.5, 1, 2, 4)]
    assert counts == sorted(counts) and counts[0] > 0
    expected = 60.0 * 4 * (1 - truth["recover_prob"])  # flaps that Recovery could not save
    assert abs(counts[-1] - expected) < 4 * expected**0.5
    st = ep.status(4 * 3600.0, 50.0)
    assert st.aer_uncorrectable == st.link_down_count
    names = {name for _, name in ep.trace(4 * 3600.0)}
    assert {"L0", "Recovery.RcvrLock", "Detect.Quiet"} <= names


def test_reset_takes_the_link_down_and_cancels_training():
    ep, _ = endpoint()
    ep.hold_reset(RELEASE + 0.02)  # mid speed change
    st = ep.status(1.0, 40.0)
    assert (st.link_up, st.in_reset, st.ltssm, st.width) == (False, True, "Detect.Quiet", 0)
    assert st.link_down_count == 0  # the host's own reset is not a surprise
    assert max(when for when, _ in ep.trace(1.0)) == pytest.approx(RELEASE + 0.02)
    ep.release_reset(2.0)
    assert ep.status(3.0, 40.0).speed_gts == 32.0


def test_retrain_goes_through_recovery_and_keeps_the_link():
    ep, _ = endpoint()
    ep.retrain(1.0)
    assert ep.status(1.0 + 1e-6, 40.0).ltssm == "Recovery.RcvrLock"
    st = ep.status(2.0, 40.0)
    assert (st.ltssm, st.speed_gts, st.width, st.link_down_count) == ("L0", 32.0, 16, 0)
    ep.retrain(3.0, equalize=True)
    assert "Recovery.Equalization.Phase3" in [n for w, n in ep.trace(4.0) if w >= 3.0]


def test_best_preset_follows_channel_loss():
    def mean_boost(loss):
        ep, _ = endpoint(cfg=PcieConfig(channel_loss_db=loss))
        presets = ep.status(1.0, 40.0).presets
        return np.mean([float(next(p.boost_db for p in ep.cfg.presets if p.name == name))
                        for name in presets])
    assert mean_boost(18.0) < mean_boost(25.0) < mean_boost(30.0)


def test_same_seed_same_link_bit_for_bit():
    def run(seed):
        ep, truths = endpoint(seed, faults=[("marginal_lane", {"lane": 1})])
        ep.inject("link_flap", rate_per_hour=30.0, t=1.0)
        statuses = [ep.status(t, 50.0) for t in (0.5, 600.0, 3600.0)]
        return truths, statuses, ep.trace(3600.0), [ep.margin(k, 3600.5, 50.0)
                                                    for k in (0, 1)]
    assert run(4) == run(4)
    assert run(4) != run(5)


def test_bad_requests_are_refused_with_the_reason():
    ep, _ = endpoint()
    with pytest.raises(ValueError, match="lane 16 out of range"):
        ep.margin(16, 1.0, 40.0)
    with pytest.raises(ValueError, match="known: dead_lane"):
        ep.inject("hot_lane", lane=1)
    ep2, _ = endpoint(cfg=PcieConfig(capable_gts=8.0))
    with pytest.raises(MarginUnavailable, match="16"):
        ep2.margin(0, 1.0, 40.0)  # lane margining exists from 16 GT/s
    assert ep2.status(1.0, 40.0).speed_gts == 8.0


def test_marginal_lane_in_service_re_equalizes_at_once():
    ep, _ = endpoint()
    assert ep.status(1.0, 45.0).presets[9] not in ("P7", "P10")
    truth = ep.inject("marginal_lane", lane=9, t=2.0)
    trace = [name for when, name in ep.trace(3.0) if when >= 2.0]
    assert trace[:2] == ["Recovery.RcvrLock", "Recovery.Equalization.Phase0"]
    st = ep.status(3.0, 45.0)
    assert st.link_up and st.presets[9] in ("P7", "P10") and st.link_down_count == 0
    assert ep.margin(9, 3.0, 45.0).ber == pytest.approx(truth["ber_at_ref"], rel=1e-6)


def test_configs_refuse_what_the_model_cannot_run():
    with pytest.raises(ValueError, match="rx_eq_max_db"):
        PcieConfig(capable_gts=64.0)
    with pytest.raises(ValueError, match="lanes must be"):
        PcieConfig(lanes=12)
    with pytest.raises(ValueError, match="unknown key"):
        PcieConfig.from_dict({"lane": 8})
    assert PcieConfig.from_dict({"capable_gts": 16.0}).capable_gts == 16.0
