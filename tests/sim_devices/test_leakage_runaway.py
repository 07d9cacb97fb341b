"""Leakage grows exponentially with temperature; runaway starts where the loop gain reaches 1."""

import math

import numpy as np
import pytest
from hypothesis import given, strategies as st

from bringup.sim_devices.world.config import PowerConfig, SledConfig
from bringup.sim_devices.power.power_model import PowerModel
from bringup.sim_devices.thermal.thermal import DIE, ThermalNetwork


def model(**kw):
    cfg = PowerConfig(leak_sigma=0.0, **kw)
    return PowerModel(cfg, SledConfig().rails, 1, np.random.default_rng(0))


@given(st.floats(20.0, 120.0), st.floats(0.6, 0.9))
def test_leakage_doubles_every_19_kelvin(tj, v):
    pm = model()
    ratio = pm.leakage(np.array([v]), np.array([tj + 19.25]))[0] / pm.leakage(np.array([v]), np.array([tj]))[0]
    assert ratio == pytest.approx(2.0, rel=1e-3)
    assert math.log(2) / pm.cfg.beta_per_k == pytest.approx(19.25, abs=0.01)


def test_leakage_rises_with_voltage_and_per_chip_draws_are_lognormal():
    pm = model()
    assert pm.leakage(np.array([0.8]), np.array([85.0]))[0] > pm.leakage(np.array([0.75]), np.array([85.0]))[0]
    spread = PowerModel(PowerConfig(), SledConfig().rails, 4000, np.random.default_rng(1)).p_leak0
    assert np.median(spread) == pytest.approx(120.0, rel=0.03)
    assert np.std(np.log(spread)) == pytest.approx(0.25, rel=0.05)


def _simulate(r_total, p_dyn=550.0, p_leak85=150.0, t_in=35.0, seconds=400.0, dt=0.1):
    """One chip whose die-to-inlet resistance is r_total, leakage evaluated each step."""
    cfg = SledConfig(n_chips=1)
    net = ThermalNetwork(cfg.thermal, cfg.cooling_loop, 1, False)
    base = net.junction_to_inlet(np.array([1.5]))[0]
    net.scale("r_lid_sink", 0, 1.0 + (r_total - base) / float(net.params["r_lid_sink"][0]))
    assert net.junction_to_inlet(np.array([1.5]))[0] == pytest.approx(r_total)
    pm = model(p_leak0_w=p_leak85, t0_c=85.0)
    v = np.array([pm.cfg.v0])
    x = np.full(5, t_in)
    for _ in range(int(seconds / dt)):
        tj = net.node(DIE, x)
        u = net.inputs(p_dyn + pm.leakage(v, tj), np.zeros(1), t_in)
        x = net.advance(x, dt, u, np.array([1.5]), 0)
        if net.node(DIE, x)[0] > 250.0:
            break
    tj = net.node(DIE, x)
    return float(tj[0]), float(pm.loop_gain(np.array([r_total]), v, tj)[0])


def test_physics_md_example_settles_at_99c_with_gain_0_7():
    tj, gain = _simulate(0.08)
    assert tj == pytest.approx(99.0, abs=1.0)
    assert gain == pytest.approx(0.70, abs=0.03)
    tj, _ = _simulate(0.10)
    assert tj > 250.0


def _critical_r(p_dyn=550.0, p_leak85=150.0, t_in=35.0, beta=0.036):
    """The R where loop gain reaches 1 at the equilibrium: R*beta*P_leak(T) = 1 together with
    T = T_in + R*(P_dyn + P_leak(T)) gives T = T_in + R*P_dyn + 1/beta; solve for R."""
    f = lambda r: p_leak85 * math.exp(beta * (t_in + r * p_dyn + 1 / beta - 85.0)) - 1 / (r * beta)
    lo, hi = 0.01, 0.5
    for _ in range(100):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if f(mid) < 0 else (lo, mid)
    return lo


def test_runaway_boundary_is_where_the_loop_gain_crosses_one():
    r_c = _critical_r()
    assert 0.08 < r_c < 0.10          # between PHYSICS.md's stable and runaway examples
    tj, gain = _simulate(0.97 * r_c, seconds=1500.0)
    assert tj < 250.0 and 0.6 < gain < 1.0
    tj, _ = _simulate(1.03 * r_c, seconds=1500.0)
    assert tj > 250.0
