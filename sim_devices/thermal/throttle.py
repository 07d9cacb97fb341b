"""Thermal and power throttling of every chip, with an NVML-style throttle-reason mask.

Software thermal throttling steps the clock down by `throttle_step` every control period while
Tj is above `throttle_c` and back up once it is `release_hysteresis_c` below; hardware slowdown
halves the clock above `slowdown_c`; the power brake halves it while VDD_CORE is over its OC
warn limit; a software power cap trims the clock above `power_cap_w`. The thermal trip itself
(a hardware power-off) is handled by the sled, at the exact crossing time.
"""

from __future__ import annotations

import numpy as np

from bringup.sim_devices.world.config import LimitsConfig

SW_POWER_CAP = 0x4
HW_SLOWDOWN = 0x8
SW_THERMAL = 0x20
HW_THERMAL = 0x40
HW_POWER_BRAKE = 0x80


class Throttle:
    """Clock multipliers per chip and the reasons for them."""

    def __init__(self, cfg: LimitsConfig, n: int) -> None:
        self.cfg = cfg
        self.sw_factor = np.ones(n)
        self.sw_thermal = np.zeros(n, dtype=bool)
        self.sw_power = np.zeros(n, dtype=bool)
        self.hw_thermal = np.zeros(n, dtype=bool)
        self.brake = np.zeros(n, dtype=bool)
        self._last_control = -np.inf
        self.factor = np.ones(n)
        self.active = False
        self.engaged = False

    def watching(self, tj_max: float) -> bool:
        """True while the controller must run every control period (limits the step)."""
        return tj_max > self.cfg.throttle_c - 2.0 or self.engaged

    def update(self, t: float, tj: np.ndarray, power: np.ndarray, brake_request: np.ndarray,
               running: np.ndarray) -> None:
        c = self.cfg
        hyst = c.release_hysteresis_c
        self.hw_thermal = running & ((tj >= c.slowdown_c) | (self.hw_thermal & (tj > c.slowdown_c - hyst)))
        if t - self._last_control >= c.control_period_s - 1e-12:
            self._last_control = t
            self.brake = running & brake_request
            hot = running & (tj >= c.throttle_c)
            over = running & (power > c.power_cap_w)
            down = hot | over
            up = ~down & (tj < c.throttle_c - hyst) & (power < 0.95 * c.power_cap_w)
            f = self.sw_factor
            f = np.where(down, np.maximum(f * c.throttle_step, c.throttle_min), f)
            f = np.where(up, np.minimum(f / c.throttle_step, 1.0), f)
            f = np.where(running, f, 1.0)
            self.sw_factor = f
            limited = f < 1.0
            self.sw_thermal = limited & (hot | (tj >= c.throttle_c - hyst))
            self.sw_power = limited & ~self.sw_thermal
        halve = self.hw_thermal | self.brake
        self.factor = self.sw_factor * np.where(halve, 0.5, 1.0)
        self.active = bool(halve.any() or self.sw_thermal.any() or self.sw_power.any())
        self.engaged = self.active or bool(self.sw_factor.min() < 1.0)

    def reasons(self) -> np.ndarray:
        """Per-chip bitmask: 0x4 SW power cap, 0x8 HW slowdown, 0x20 SW thermal, 0x40 HW
        thermal, 0x80 HW power brake (NVML clocks-throttle-reasons)."""
        mask = np.zeros(len(self.factor), dtype=np.int64)
        if not self.active:
            return mask
        mask |= np.where(self.sw_power, SW_POWER_CAP, 0)
        mask |= np.where(self.sw_thermal, SW_THERMAL, 0)
        mask |= np.where(self.hw_thermal, HW_THERMAL | HW_SLOWDOWN, 0)
        mask |= np.where(self.brake, HW_POWER_BRAKE | HW_SLOWDOWN, 0)
        return mask

    def reset(self, chip: int) -> None:
        self.sw_factor[chip] = 1.0
        self.sw_thermal[chip] = self.sw_power[chip] = False
        self.hw_thermal[chip] = self.brake[chip] = False
        self.factor[chip] = 1.0
        self.active = bool(self.hw_thermal.any() or self.brake.any() or self.sw_thermal.any()
                           or self.sw_power.any())
        self.engaged = self.active or bool(self.sw_factor.min() < 1.0)
