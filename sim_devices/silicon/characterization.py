"""How fast each chip can run, and what happens below its Vmin (PHYSICS.md §3, §6).

Alpha-power law (Sakurai-Newton): f_max = K*mu(T)*(V - Vth(T))^alpha / V, with K set so the
nominal part's Vmin at the reference frequency and temperature is `ref_vmin_v`. Each chip's
threshold voltage is offset by a draw of sigma `vmin_sigma_v` (its Vmin spread), and each test
adds a little noise, so Vmin searches and shmoos come out ragged like real data.

Below Vmin a chip first logs correctable errors, then uncorrectable ones, then hangs; the rates
rise a decade per `error_decade_v` of missing margin, and everything stops once voltage returns.
"""

from __future__ import annotations

import numpy as np

from bringup.sim_devices.world.config import CharacterizationConfig


class Silicon:
    """Per-chip speed: f_max(V, Tj), Vmin(f, Tj), margin, and the error rates below Vmin."""

    def __init__(self, cfg: CharacterizationConfig, n: int, rng: np.random.Generator) -> None:
        self.cfg = cfg
        self.n = n
        self.vth_offset = np.zeros(n)
        self.vmin_shift = np.zeros(n)  # faults: a part that got weaker (in Vth terms)
        self._k = 1.0
        self._k = cfg.ref_freq_hz / float(self._nominal_fmax(cfg.ref_vmin_v, cfg.ref_temp_c))
        # Vmin moves ~1.7x as far as Vth: scale the draw so the Vmin spread is the configured one.
        self.vmin_per_vth = self._vmin_sensitivity()
        self.vth_offset = rng.normal(0.0, cfg.vmin_sigma_v, n) / self.vmin_per_vth

    def _vmin_sensitivity(self) -> float:
        c = self.cfg
        base = self.vmin(c.ref_freq_hz, c.ref_temp_c)[0]
        self.vth_offset = np.full(self.n, 1e-3)
        moved = self.vmin(c.ref_freq_hz, c.ref_temp_c)[0]
        self.vth_offset = np.zeros(self.n)
        return float((moved - base) / 1e-3)

    def shift_vmin(self, chip: int, volts: float) -> None:
        """Make one chip need `volts` more to run (a weak or aged part)."""
        self.vmin_shift[chip] += volts / self.vmin_per_vth

    def _vth(self, tj: np.ndarray | float) -> np.ndarray | float:
        c = self.cfg
        return c.vth0_v - c.vth_tc_v_per_k * (np.asarray(tj) - 25.0)

    def _nominal_fmax(self, v: float, tj: float) -> float:
        c = self.cfg
        over = max(v - self._vth(tj), 0.0)
        return self._k * (1.0 - c.mobility_tc_per_k * (tj - 25.0)) * over**c.alpha / v

    def fmax(self, v: np.ndarray, tj: np.ndarray) -> np.ndarray:
        """Highest frequency each chip runs correctly at die voltage v and junction tj, Hz."""
        c = self.cfg
        vth = self._vth(tj) + self.vth_offset + self.vmin_shift
        over = np.maximum(v - vth, 0.0)
        v_safe = np.maximum(v, 1e-6)
        return self._k * (1.0 - c.mobility_tc_per_k * (np.asarray(tj) - 25.0)) * over**c.alpha / v_safe

    def vmin(self, f_hz: np.ndarray | float, tj: np.ndarray | float) -> np.ndarray:
        """Lowest die voltage at which each chip runs f_hz at tj (vectorized bisection)."""
        f = np.broadcast_to(np.asarray(f_hz, dtype=float), (self.n,))
        t = np.broadcast_to(np.asarray(tj, dtype=float), (self.n,))
        lo = np.full(self.n, 0.2)
        hi = np.full(self.n, 2.0)
        for _ in range(48):
            mid = 0.5 * (lo + hi)
            ok = self.fmax(mid, t) >= f
            hi = np.where(ok, mid, hi)
            lo = np.where(ok, lo, mid)
        return hi

    def margin_v(self, v: np.ndarray, f_hz: np.ndarray, tj: np.ndarray) -> np.ndarray:
        """Voltage margin above Vmin (negative: below), from one Newton step (cheap, per step)."""
        c = self.cfg
        dt = tj - 25.0
        over = np.maximum(v - (c.vth0_v + self.vth_offset + self.vmin_shift) + c.vth_tc_v_per_k * dt, 1e-6)
        v_safe = np.maximum(v, 1e-6)
        fm = self._k * (1.0 - c.mobility_tc_per_k * dt) * over**c.alpha / v_safe
        slope = fm * (c.alpha / over - 1.0 / v_safe)
        return (fm - f_hz) / np.maximum(slope, 1e-3)

    def ce_rate(self, margin: np.ndarray) -> np.ndarray:
        """Correctable errors per second at this margin (0 at or above Vmin)."""
        c = self.cfg
        deficit = np.maximum(-margin, 0.0)
        return np.where(margin < 0, c.ce_rate_at_edge * 10.0 ** (deficit / c.error_decade_v), 0.0)

    def ue_rate(self, margin: np.ndarray) -> np.ndarray:
        """Uncorrectable errors per second (only below the UE onset)."""
        c = self.cfg
        deficit = -margin - c.ue_onset_v
        return np.where(deficit > 0, c.ce_rate_at_edge * 10.0 ** (deficit / c.error_decade_v), 0.0)

    def hangs(self, margin: np.ndarray) -> np.ndarray:
        return margin < -self.cfg.hang_onset_v
