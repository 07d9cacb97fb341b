"""Electrical power of every chip (PHYSICS.md §3), vectorized over chips.

P_core = a*C_eff*V^2*f + P_L0*(V/V0)*exp(k_V*(V-V0))*exp(beta*(Tj-T0)) on VDD_CORE; the other
rails carry the uncore (SRAM, PLL, SerDes, HBM, I/O), each between its idle and full load with
activity. P_L0 is drawn per chip from a log-normal: some parts leak more.
"""

from __future__ import annotations

import numpy as np

from bringup.sim_devices.world.config import PowerConfig, RailConfig


class PowerModel:
    """Dynamic + leakage power on the core rail, activity-scaled load on the others."""

    def __init__(self, cfg: PowerConfig, rails: list[RailConfig], n: int,
                 rng: np.random.Generator) -> None:
        self.cfg = cfg
        self.n = n
        # median P_L0 at the configured value; sigma from PHYSICS.md (0.2-0.3)
        self.p_leak0 = cfg.p_leak0_w * rng.lognormal(0.0, cfg.leak_sigma, n)
        self.leak_factor = np.ones(n)
        self.idle_w = np.array([r.idle_w for r in rails])
        self.full_w = np.array([r.full_w for r in rails])
        self.heats_hbm = np.array([r.heats_hbm for r in rails])
        self.vnom = np.array([r.vout for r in rails])

    def scale_leakage(self, chip: int, factor: float) -> float:
        """Multiply chip `chip`'s leakage (faults: soft_short, thermal_runaway); its new P_L0, W."""
        self.leak_factor[chip] *= factor
        return float(self.p_leak0[chip] * self.leak_factor[chip])

    def dynamic(self, activity: np.ndarray, v: np.ndarray, f_hz: np.ndarray) -> np.ndarray:
        return activity * self.cfg.c_eff_f * v * v * f_hz

    def leakage(self, v: np.ndarray, tj: np.ndarray) -> np.ndarray:
        """Leakage: exponential in temperature (doubles every ~19 K) and in voltage."""
        c = self.cfg
        # one exponential: exp(k_V (V - V0)) * exp(beta (Tj - T0))
        return (self.p_leak0 * self.leak_factor) * (v / c.v0) * np.exp(
            c.k_v_per_v * (v - c.v0) + c.beta_per_k * (tj - c.t0_c))

    def rail_power(self, activity: np.ndarray, v_frac: np.ndarray) -> np.ndarray:
        """Uncore load of each (chip, rail), W, scaled resistively by (V/V_nominal)^2."""
        load = self.idle_w + activity[:, None] * (self.full_w - self.idle_w)
        return load * v_frac * v_frac

    def loop_gain(self, r_ja: np.ndarray, v: np.ndarray, tj: np.ndarray) -> np.ndarray:
        """R*beta*P_leak(Tj): an equilibrium is stable only while this is below 1."""
        return r_ja * self.cfg.beta_per_k * self.leakage(v, tj)
