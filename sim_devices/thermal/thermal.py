"""The thermal RC network of every chip, stepped exactly with a zero-order hold.

Per chip five nodes: die (junction), lid, sink (cold plate or air heatsink), fluid (coolant or
air in the sink, a mean-temperature node) and HBM (the stacks, lumped). Inputs: the die's power,
the HBM's power, and the loop inlet temperature. Chips plumbed in series see the previous chip's
outlet (outlet = 2*fluid - inlet for a mean-temperature node).

The network is stiff (time constants from 23 ms to seconds), so it is never stepped with explicit
Euler: `x[k+1] = Ad x[k] + Bd u[k]` with `[[Ad, Bd], [0, I]] = expm([[A, B], [0, 0]] dt)` is exact
for any dt while the inputs hold. Ad/Bd are cached per (dt, flow state, parameter state).
"""

from __future__ import annotations

from collections import OrderedDict

import math

import numpy as np

from bringup.sim_devices.world.config import CoolingConfig, ThermalConfig

NODES = 5
DIE, LID, SINK, FLUID, HBM = range(NODES)
NODE_NAMES = ("die", "lid", "sink", "fluid", "hbm")


def _matmul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """a @ b in row blocks of 32: below the size where OpenBLAS starts threads, whose
    spin-waiting made one 113x113 product take 30 ms on a busy two-core machine."""
    if len(a) <= 32:
        return a @ b
    return np.concatenate([a[i:i + 32] @ b for i in range(0, len(a), 32)])


def expm(m: np.ndarray) -> np.ndarray:
    """Matrix exponential by scaling and squaring a Taylor series.

    Scaled to norm <= 1/2, 18 terms leave an error below 1e-22; no linear solve is needed, so
    every operation is a (blocked) matrix product. numpy only: SciPy's threaded BLAS made
    `scipy.linalg.expm` of a 15x15 matrix take 15 ms on a busy two-core machine.
    """
    norm = float(np.abs(m).sum(axis=0).max())
    s = max(0, int(math.ceil(math.log2(norm / 0.5)))) if norm > 0.5 else 0
    a = m / 2.0**s
    term = np.eye(len(m))
    e = term.copy()
    for k in range(1, 19):
        term = _matmul(a, term) / k
        e += term
    for _ in range(s):
        e = _matmul(e, e)
    return e


class ThermalNetwork:
    """Temperatures of all chips' nodes, vectorized: state `x` has NODES*n entries."""

    def __init__(self, cfg: ThermalConfig, cooling: CoolingConfig, n: int, series: bool,
                 cache_size: int = 256) -> None:
        self.n = n
        self.series = series
        self.cooling = cooling
        self.flow_exponent = cfg.flow_exponent
        self.stagnant = cfg.stagnant_flow_frac * cooling.nominal_flow_per_chip
        ones = np.ones(n)
        # Per-chip parameters: faults (a misfit heat sink, hot HBM) scale one chip's entries.
        self.params: dict[str, np.ndarray] = {
            "c_die": cfg.c_die * ones, "c_lid": cfg.c_lid * ones, "c_sink": cfg.c_sink * ones,
            "c_fluid": cfg.c_fluid * ones, "c_hbm": cfg.c_hbm * ones,
            "r_die_lid": cfg.r_die_lid * ones, "r_lid_sink": cfg.r_lid_sink * ones,
            "r_sink_fluid": cfg.r_sink_fluid * ones, "r_hbm_sink": cfg.r_hbm_sink * ones,
        }
        self.param_version = 0
        self.x = np.full(NODES * n, cooling.inlet_c)
        self._cache: OrderedDict[tuple, tuple[np.ndarray, np.ndarray]] = OrderedDict()
        self._cache_size = cache_size
        self._u = np.zeros(2 * n + 1)

    # -- parameters ---------------------------------------------------------------------------
    def scale(self, name: str, chip: int, factor: float) -> None:
        """Multiply one chip's parameter (e.g. r_lid_sink x8 for a misfit heat sink)."""
        self.params[name][chip] *= factor
        self.param_version += 1
        self._cache.clear()

    def conductance(self, flows: np.ndarray) -> np.ndarray:
        """Advective conductance 2*mdot*c_p of each chip's fluid node, W/K."""
        mdot = flows * self.cooling.fluid_density / 60.0
        return 2.0 * mdot * self.cooling.fluid_cp

    def r_convective(self, flows: np.ndarray) -> np.ndarray:
        """Sink-to-fluid resistance: scales as flow^-0.8, floored by a stagnant loop's."""
        ratio = np.maximum(flows, self.stagnant) / self.cooling.nominal_flow_per_chip
        return self.params["r_sink_fluid"] * ratio ** (-self.flow_exponent)

    def system(self, flows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Continuous-time A (states x states) and B (states x inputs) for these flows."""
        n, p = self.n, self.params
        size = NODES * n
        a = np.zeros((size, size))
        b = np.zeros((size, 2 * n + 1))
        r_sf = self.r_convective(flows)
        g_adv = self.conductance(flows)
        caps = np.stack([p["c_die"], p["c_lid"], p["c_sink"], p["c_fluid"], p["c_hbm"]], axis=1)
        # inlet of chip k as a row over [x, u]: parallel -> the loop inlet; series -> the
        # previous chip's outlet 2*T_fluid - T_inlet.
        inlet = np.zeros(size + 2 * n + 1)
        inlet[-1] = 1.0
        for k in range(n):
            base = NODES * k
            links = ((DIE, LID, p["r_die_lid"][k]), (LID, SINK, p["r_lid_sink"][k]),
                     (SINK, FLUID, r_sf[k]), (HBM, SINK, p["r_hbm_sink"][k]))
            for i, j, r in links:
                g = 1.0 / r
                a[base + i, base + i] -= g
                a[base + i, base + j] += g
                a[base + j, base + j] -= g
                a[base + j, base + i] += g
            b[base + DIE, k] = 1.0
            b[base + HBM, n + k] = 1.0
            f = base + FLUID
            a[f, f] -= g_adv[k]
            a[f, :] += g_adv[k] * inlet[:size]
            b[f, :] += g_adv[k] * inlet[size:]
            if self.series:
                nxt = -inlet
                nxt[f] += 2.0
                inlet = nxt
        c = caps.reshape(-1)
        return a / c[:, None], b / c[:, None]

    def discrete(self, dt: float, flows: np.ndarray, flow_version: int) -> tuple[np.ndarray, np.ndarray]:
        """Exact zero-order-hold Ad, Bd for a step of dt seconds (cached)."""
        # Steps end at clock times, so the same step length arrives as 0.5 and 0.5000000000000568:
        # key on dt rounded to a nanosecond, or every step misses the cache and pays an expm
        dt = round(dt, 9)
        key = (dt, flow_version, self.param_version)
        hit = self._cache.get(key)
        if hit is not None:
            self._cache.move_to_end(key)
            return hit
        a, b = self.system(flows)
        ns, ni = b.shape
        m = np.zeros((ns + ni, ns + ni))
        m[:ns, :ns] = a
        m[:ns, ns:] = b
        e = expm(m * dt)
        hit = (np.ascontiguousarray(e[:ns, :ns]), np.ascontiguousarray(e[:ns, ns:]))
        self._cache[key] = hit
        if len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)
        return hit

    def inputs(self, p_die: np.ndarray, p_hbm: np.ndarray, t_inlet: float) -> np.ndarray:
        n = self.n
        u = self._u
        u[:n] = p_die
        u[n:2 * n] = p_hbm
        u[2 * n] = t_inlet
        return u

    def advance(self, x: np.ndarray, dt: float, u: np.ndarray, flows: np.ndarray,
                flow_version: int) -> np.ndarray:
        """The state after dt seconds with inputs u held (does not modify x)."""
        ad, bd = self.discrete(dt, flows, flow_version)
        return ad @ x + bd @ u

    # -- readings -----------------------------------------------------------------------------
    def node(self, which: int, x: np.ndarray | None = None) -> np.ndarray:
        """One node's temperature for every chip (a view)."""
        return (self.x if x is None else x)[which::NODES]

    def inlets(self, t_inlet: float, x: np.ndarray | None = None) -> np.ndarray:
        """Each chip's coolant inlet temperature."""
        fluid = self.node(FLUID, x)
        if not self.series:
            return np.full(self.n, t_inlet)
        out = np.empty(self.n)
        t = t_inlet
        for k in range(self.n):
            out[k] = t
            t = 2.0 * fluid[k] - t
        return out

    def outlets(self, t_inlet: float, x: np.ndarray | None = None) -> np.ndarray:
        return 2.0 * self.node(FLUID, x) - self.inlets(t_inlet, x)

    def heat_to_fluid(self, flows: np.ndarray, t_inlet: float, x: np.ndarray | None = None) -> np.ndarray:
        """Heat each chip's fluid carries away, W: mdot*c_p*(T_out - T_in)."""
        return self.conductance(flows) * (self.node(FLUID, x) - self.inlets(t_inlet, x))

    def junction_to_inlet(self, flows: np.ndarray) -> np.ndarray:
        """Steady-state die-to-inlet resistance of each chip alone (K/W), for loop-gain checks."""
        p = self.params
        g = self.conductance(flows)
        adv = np.where(g > 0, 1.0 / np.maximum(g, 1e-30), np.inf)
        return p["r_die_lid"] + p["r_lid_sink"] + self.r_convective(flows) + adv
