"""Lane physics shared by PCIe and the mesh: presets, eye, margins, lane negotiation, timeline."""

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from bringup.sim_devices.links.link_timeline import Timeline
from bringup.sim_devices.links.pcie import PcieConfig
from bringup.sim_devices.links.serdes import PCIE_TX_PRESETS, LaneSample, best_preset, config_from_dict, draw_lanes, lane_eye, margin_of, negotiate_lanes, q_inverse, residual_db

CFG = PcieConfig()
EYE = CFG.eye_params()
RX_MAX, RX_PREF = CFG.rx_eq_max_db[32.0], CFG.rx_eq_pref_db[32.0]
MAX_BOOST = max(p.boost_db for p in PCIE_TX_PRESETS)


def test_preset_table_is_physics_md():
    table = {p.name: (p.preshoot_db, p.deemphasis_db) for p in PCIE_TX_PRESETS}
    assert table == {"P0": (0, -6.0), "P1": (0, -3.5), "P2": (0, -4.4), "P3": (0, -2.5),
                     "P4": (0, 0), "P5": (1.9, 0), "P6": (2.5, 0), "P7": (3.5, -6.0),
                     "P8": (3.5, -3.5), "P9": (3.5, 0), "P10": (0, -9.5)}


@given(st.floats(0, 45), st.floats(0, 45))
def test_more_loss_never_picks_a_weaker_preset(a, b):
    lo, hi = sorted((a, b))
    assert (best_preset(PCIE_TX_PRESETS, lo, RX_MAX, RX_PREF).boost_db
            <= best_preset(PCIE_TX_PRESETS, hi, RX_MAX, RX_PREF).boost_db)


def test_best_preset_depends_on_channel_loss():
    picks = {loss: best_preset(PCIE_TX_PRESETS, loss, RX_MAX, RX_PREF).name
             for loss in (10, 22, 25, 27, 40)}
    assert picks[10] == "P4"                     # short channel: no TX equalization
    assert picks[40] in ("P7", "P10")            # beyond reach: all the boost there is
    assert len(set(picks.values())) >= 4         # and different losses in between differ
    # the chosen preset leaves no residual ISI while the channel is within reach
    for loss in (10, 22, 25, 27, RX_MAX + MAX_BOOST):
        pr = best_preset(PCIE_TX_PRESETS, loss, RX_MAX, RX_PREF)
        assert residual_db(loss, pr.boost_db, RX_MAX) == 0


def _eye(extra=0.0, temp=25.0, preset="P2"):
    pr = {p.name: p for p in PCIE_TX_PRESETS}[preset]
    return lane_eye(EYE, LaneSample(base_loss_db=25.0, extra_loss_db=extra), rate_gbd=32.0,
                    freq_scale=1.0, rx_max_db=RX_MAX, preset=pr, temp_c=temp)


def test_eye_width_at_1e12_is_ui_minus_dj_minus_14_07_sigma():
    eye = _eye()
    assert 2 * q_inverse(1e-12) == pytest.approx(14.07, abs=0.01)
    assert eye.width_ui(1e-12) == pytest.approx(1 - eye.dj_ui - 14.069 * eye.rj_ui, abs=1e-3)
    assert eye.rj_ui == pytest.approx(CFG.rj_rms_ps / 31.25)  # RJ in ps over a 32 GT/s UI
    m = margin_of(eye, 3, 1e-12, 30.0)
    assert 30 < m.timing_pct_ui < 50 and m.passed        # a healthy Gen5 lane
    assert 50 < m.voltage_mv < 500


@given(st.floats(0, 25), st.floats(0, 85), st.floats(1.01, 1e6))
def test_the_eye_is_closed_at_its_own_ber_and_opens_above_it(extra, temp, factor):
    eye = _eye(extra, temp)
    ber = eye.ber()
    assert eye.width_ui(ber * 0.999) == 0.0
    if ber * factor * 10 < 0.4:
        assert eye.width_ui(ber * factor) > 0.0
        assert eye.width_ui(ber * factor * 10) >= eye.width_ui(ber * factor)


def test_timing_limited_eye_closes_at_its_ber():
    eye = _eye(extra=20.0, temp=45.0)       # a marginal lane: timing, not noise, limits it
    ber = eye.ber()
    assert eye.timing_ber() > 100 * eye.vertical_ber()
    assert eye.width_ui(ber * 1.01) < 0.01


@given(st.floats(0, 25), st.floats(0.1, 5))
def test_more_extra_loss_or_heat_never_helps(extra, more):
    assert _eye(extra + more).ber() >= _eye(extra).ber()
    assert _eye(extra + more).width_ui(1e-12) <= _eye(extra).width_ui(1e-12)
    assert _eye(extra, 85.0).ber() >= _eye(extra, 25.0).ber()


def test_lane_spread_is_drawn_from_the_generator_only():
    a = draw_lanes(np.random.default_rng(7), 16, 25.0, 0.8, 0.08, 0.015, 0.5)
    b = draw_lanes(np.random.default_rng(7), 16, 25.0, 0.8, 0.08, 0.015, 0.5)
    c = draw_lanes(np.random.default_rng(8), 16, 25.0, 0.8, 0.08, 0.015, 0.5)
    assert a == b and a != c
    assert 24.0 < float(np.mean([s.base_loss_db for s in a])) < 26.0


@pytest.mark.parametrize("dead,reversal,expected", [
    (None, True, tuple(range(16))), (3, True, tuple(range(8, 16))),
    (12, True, tuple(range(8))), (0, True, tuple(range(8, 16))),
    (3, False, (0, 1, 2)[:2]), (0, False, ())])
def test_dead_lanes_drop_out_of_the_width(dead, reversal, expected):
    alive = [i != dead for i in range(16)]
    assert negotiate_lanes(alive, reversal) == expected


def test_timeline_reads_states_loops_and_cuts():
    tl: Timeline[str] = Timeline("off")
    tl.add(1.0, "a")
    tl.add(2.0, "b")
    tl.add(5.0, "c")          # scheduled in the future
    assert [tl.at(x) for x in (0.5, 1.0, 1.5, 2.0, 4.9, 5.0)] == ["off", "a", "a", "b", "b", "c"]
    tl.add(3.0, "reset")      # an event at 3 cancels what was scheduled after it
    assert tl.at(6.0) == "reset" and tl.settled(3.0)
    tl.add_loop(4.0, [(0.012, "quiet"), (0.024, "poll")])
    assert tl.at(4.0 + 36 * 0.036 + 0.013) == "poll" and tl.looping(100.0)
    assert tl.last_change(4.0 + 0.040) == pytest.approx(4.036)
    assert tl.at(4.0 + 0.036 * 10**6 + 0.001) == "quiet"  # any time, at no cost
    entries = tl.entries(4.1)
    assert [s for _, s in entries] == ["a", "b", "reset"] + ["quiet", "poll"] * 3
    assert len(tl.entries(3600.0, limit=50)) == 50      # a long loop is listed by its tail
    tl.add(10.0, "off")
    assert tl.at(10.5) == "off" and not tl.looping(10.5)
    spans = tl.spans(0.0, 11.0)                         # loops accrue nothing
    assert [(lo, hi, s) for lo, hi, s in spans] == [
        (0.0, 1.0, "off"), (1.0, 2.0, "a"), (2.0, 3.0, "b"), (3.0, 4.0, "reset"),
        (10.0, 11.0, "off")]


def test_unknown_config_keys_are_named():
    with pytest.raises(ValueError, match="channel_los_db"):
        config_from_dict(PcieConfig, {"channel_los_db": 20})
    assert config_from_dict(PcieConfig, {"channel_loss_db": 20}).channel_loss_db == 20
    assert math.isclose(PcieConfig.from_dict(None).capable_gts, 32.0)
