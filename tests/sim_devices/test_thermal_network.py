"""The thermal network: exact for any step, right steady state, energy conserved."""

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from bringup.sim_devices.world.config import SledConfig
from bringup.sim_devices.thermal.thermal import DIE, FLUID, ThermalNetwork


def network(n=1, series=False, **cfg):
    c = SledConfig(n_chips=n, **cfg)
    return ThermalNetwork(c.thermal, c.cooling_loop, n, series), c


@pytest.mark.parametrize("dt", [0.001, 0.05, 1.0, 100.0])
def test_1000w_at_40c_inlet_settles_at_the_reference_temperature(dt):
    # PHYSICS.md §3: 1000 W on the liquid defaults at 40 C inlet -> Tj = 91.785 C after 200 s.
    net, _ = network()
    flows = np.array([1.5])
    x = np.full(5, 40.0)
    u = net.inputs(np.array([1000.0]), np.array([0.0]), 40.0)
    for _ in range(round(200.0 / dt)):
        x = net.advance(x, dt, u, flows, 0)
    assert net.node(DIE, x)[0] == pytest.approx(91.785, abs=1e-3)


@settings(max_examples=40, deadline=None)
@given(dt=st.floats(min_value=1e-3, max_value=100.0), m=st.integers(1, 40),
       p=st.floats(0.0, 1500.0), p_hbm=st.floats(0.0, 80.0), t_in=st.floats(15.0, 50.0),
       start=st.floats(15.0, 120.0))
def test_zoh_step_gives_the_same_temperatures_for_any_step(dt, m, p, p_hbm, t_in, start):
    # m steps of dt and one step of m*dt are the same exact solution (the semigroup property).
    net, _ = network(n=2, series=True)
    flows = np.array([1.5, 1.5])
    x0 = np.linspace(start, start + 10.0, 10)
    u = net.inputs(np.array([p, 0.5 * p]), np.array([p_hbm, p_hbm]), t_in)
    x = x0
    for _ in range(m):
        x = net.advance(x, dt, u, flows, 0)
    once = net.advance(x0, m * dt, u, flows, 0)
    np.testing.assert_allclose(x, once, rtol=1e-9, atol=1e-7)


def test_explicit_euler_would_diverge_where_the_zoh_step_is_exact():
    # The die's 23 ms mode makes explicit Euler unstable at 50 ms; the exact step is not.
    net, _ = network()
    a, _ = net.system(np.array([1.5]))
    assert np.abs(np.linalg.eigvals(np.eye(5) + 0.05 * a)).max() > 1.0
    ad, _ = net.discrete(0.05, np.array([1.5]), 0)
    assert np.abs(np.linalg.eigvals(ad)).max() < 1.0


@pytest.mark.parametrize("series", [False, True])
def test_energy_balance_heat_into_coolant_equals_power_in(series):
    net, _ = network(n=4, series=series)
    flows = np.full(4, 1.5)
    p = np.array([900.0, 700.0, 500.0, 300.0])
    p_hbm = np.array([40.0, 30.0, 20.0, 10.0])
    u = net.inputs(p, p_hbm, 30.0)
    x = net.advance(np.full(20, 30.0), 2000.0, u, flows, 0)
    assert net.heat_to_fluid(flows, 30.0, x).sum() == pytest.approx((p + p_hbm).sum(), rel=1e-9)


def test_series_plumbing_preheats_downstream_chips():
    net, _ = network(n=3, series=True)
    flows = np.full(3, 1.5)
    u = net.inputs(np.full(3, 800.0), np.zeros(3), 30.0)
    x = net.advance(np.full(15, 30.0), 1000.0, u, flows, 0)
    inlets = net.inlets(30.0, x)
    tj = net.node(DIE, x)
    assert inlets[0] == 30.0
    # each chip's inlet is the previous one's outlet: 800 W at 1.5 L/min adds 7.66 K
    np.testing.assert_allclose(np.diff(inlets), 800.0 / (1.5 / 60 * 4180), rtol=1e-9)
    assert tj[0] < tj[1] < tj[2]


def test_convective_resistance_scales_as_flow_to_the_minus_0_8():
    net, _ = network()
    r1 = net.r_convective(np.array([1.5]))[0]
    r2 = net.r_convective(np.array([0.75]))[0]
    assert r2 / r1 == pytest.approx(2.0**0.8)


def test_stopped_loop_still_conducts_but_carries_nothing_away():
    net, _ = network()
    assert np.isfinite(net.r_convective(np.array([0.0]))[0])
    assert net.conductance(np.array([0.0]))[0] == 0.0
    a, b = net.system(np.array([0.0]))
    x = net.advance(np.full(5, 30.0), 10.0, net.inputs(np.array([1000.0]), np.zeros(1), 30.0),
                    np.array([0.0]), 1)
    # 10 kJ went in and none left: it is all stored in the chip's nodes
    caps = np.array([1.2, 40.0, 115.0, 200.0, 10.0])
    assert ((x - 30.0) * caps).sum() == pytest.approx(10_000.0, rel=1e-9)
    assert net.node(FLUID, x)[0] > 30.0


def test_the_same_flow_set_again_keeps_the_cached_step():
    # the lab sets the CDU's flow before every console request; a step of the same length at the
    # same flow must reuse its matrices (an expm per step made the night three times slower),
    # while a real change of flow must not reuse them
    from bringup.core.clock import SimClock
    from bringup.sim_devices.sled.sled import Sled

    clock = SimClock()
    sled = Sled(SledConfig(n_chips=2), clock, seed=1)
    misses = 0
    discrete = sled.engine.thermal.discrete

    def counting(dt, flows, version):
        nonlocal misses
        before = len(sled.engine.thermal._cache)
        out = discrete(dt, flows, version)
        misses += len(sled.engine.thermal._cache) != before
        return out

    sled.engine.thermal.discrete = counting
    for _ in range(20):
        sled.set_coolant(30.0, 8.0)
        clock.advance(0.5)
        sled.sync()
    assert misses == 1
    sled.set_coolant(30.0, 6.0)
    clock.advance(0.5)
    sled.sync()
    assert misses == 2
