"""Every rail of every chip as arrays, so the hot path is a handful of numpy operations.

The discrete state of each regulator (phase, targets, limits) lives in (chips x rails) arrays
that the `Regulator` objects write at events; `evaluate` turns it, with the chips' loads, into
output voltage, current, power and regulator temperature for all rails at once.
"""

from __future__ import annotations

import numpy as np

from bringup.sim_devices.world.config import RailConfig

# Phases of a regulator output.
OFF, DELAY, RISE, ON, FALL, HICCUP, LATCHED, COOLDOWN, CLIMIT = range(9)
PHASE_NAMES = ("off", "delay", "rise", "on", "fall", "hiccup", "latched", "cooldown", "current_limit")
_TRANSITIONAL = (RISE, FALL, CLIMIT)


class RailBank:
    """Arrays over (chip, rail); see `Regulator` for the behaviour that writes them."""

    def __init__(self, rails: list[RailConfig], n: int) -> None:
        shape = (n, len(rails))
        self.n, self.r = shape
        col = lambda attr: np.tile(np.array([getattr(x, attr) for x in rails], dtype=float), (n, 1))
        self.vnom = col("vout")
        self.v_cmd = self.vnom.copy()
        self.v_factor = np.ones(shape)          # faults: OV drive, a regulator stuck low
        self.v_set = self.vnom.copy()           # what the loop regulates to (cmd x factor)
        self.rll = col("r_loadline")
        self.eff = col("efficiency")
        self.r_th = col("r_th_k_per_w")
        self.c_out = col("c_out_f")
        self.oc_fault = col("i_max") * col("oc_fault_factor")
        self.oc_warn = col("i_max") * col("oc_warn_factor")
        self.ot_fault = col("ot_fault_c")
        self.ot_warn = col("ot_warn_c")
        self.g_short = np.zeros(shape)          # faults: extra conductance, siemens
        self.shorted = False                    # any g_short set (skips work in the hot path)
        self.phase = np.zeros(shape, dtype=np.int8)
        self.t0 = np.zeros(shape)
        self.ramp_s = np.ones(shape)            # length of the current rise or fall
        self.v_start = np.zeros(shape)
        self.pg = np.zeros(shape, dtype=bool)
        self.on = np.zeros(shape)               # 1.0 where phase == ON (cached for the hot path)
        self.transitional = 0                   # rails in RISE / FALL / CLIMIT
        self._loss_k: np.ndarray | None = None
        self.inv_eff = (1.0 / self.eff).ravel()
        self.limits_changed()
        self.cooling_down = 0
        # last evaluation
        self.vout = np.zeros(shape)
        self.iout = np.zeros(shape)
        self.pout = np.zeros(shape)
        self.temp = np.zeros(shape)
        self.iout_peak = np.zeros(shape)

    def limits_changed(self) -> None:
        """Recompute the per-step alarm thresholds (the lower of each warn and fault limit)."""
        self.oc_alarm = np.minimum(self.oc_warn, self.oc_fault)
        self.ot_alarm = np.minimum(self.ot_warn, self.ot_fault)

    def set_phase(self, c: int, r: int, phase: int, t: float) -> None:
        self.phase[c, r] = phase
        self.t0[c, r] = t
        self.on[c, r] = 1.0 if phase == ON else 0.0
        self.transitional = int(np.isin(self.phase, _TRANSITIONAL).sum())
        self.cooling_down = int((self.phase == COOLDOWN).sum())

    def v_fraction(self) -> np.ndarray:
        """Each rail's output as a fraction of nominal (scales the uncore loads)."""
        return self.vout / self.vnom

    def evaluate(self, t: float, p_load: np.ndarray, t_board: np.ndarray) -> None:
        """Outputs at time t for loads p_load (W at the present output) on every rail."""
        on = self.on
        # V_die = V_set - I*R_LL with I = P/V_die: the larger root of V^2 - V_set V + R P = 0.
        vs = self.v_set
        disc = np.maximum(vs * vs - 4.0 * self.rll * p_load, 0.0)
        vdie = 0.5 * (vs + np.sqrt(disc))
        vout = on * vdie
        iout = on * (p_load / np.maximum(vdie, 1e-9))
        if self.shorted:
            iout += on * vs * self.g_short
        if self.transitional:
            vout, iout = self._transitional(t, vout, iout, p_load)
        self.vout = vout
        self.iout = iout
        self.pout = pout = vout * iout
        self.temp = t_board[:, None] + pout * self.loss_k
        np.maximum(self.iout_peak, iout, out=self.iout_peak)

    @property
    def loss_k(self) -> np.ndarray:
        """Regulator temperature rise per watt delivered: (1/eff - 1) * R_th."""
        if self._loss_k is None:
            self._loss_k = (1.0 / self.eff - 1.0) * self.r_th
        return self._loss_k

    def _transitional(self, t: float, vout: np.ndarray, iout: np.ndarray, p_load: np.ndarray):
        ph = self.phase
        frac = np.clip((t - self.t0) / self.ramp_s, 0.0, 1.0)
        rise = ph == RISE
        fall = ph == FALL
        clim = ph == CLIMIT
        v_rise = self.v_set * frac
        v_fall = self.v_start * (1.0 - frac)
        v = np.where(rise, v_rise, np.where(fall, v_fall, vout))
        g_load = p_load / np.maximum(self.vnom * self.vnom, 1e-9)
        inrush = np.where(rise & (frac < 1.0), self.c_out * self.v_set / self.ramp_s, 0.0)
        i = np.where(rise | fall, v * (g_load + self.g_short) + inrush, iout)
        # in current limit the output sits at the limit current into the short
        g_tot = np.maximum(g_load + self.g_short, 1e-9)
        v_lim = np.minimum(self.oc_fault / g_tot, self.v_set)
        v = np.where(clim, v_lim, v)
        i = np.where(clim, self.oc_fault, i)
        return v, i

    def alarms(self) -> np.ndarray | None:
        """(chip, rail) pairs needing attention this step (over a warn limit, or cooling down),
        or None when there are none (the common case, checked with two comparisons)."""
        if (self.iout > self.oc_alarm).any() or (self.temp > self.ot_alarm).any() or self.cooling_down:
            hot = (self.on > 0) & ((self.iout > self.oc_alarm) | (self.temp > self.ot_alarm))
            hot |= self.phase == COOLDOWN
            return hot if hot.any() else None
        return None
