"""The cooling the sled sits in: a liquid loop from a CDU, or fans blowing air.

Liquid: the CDU sets inlet temperature and total flow; the pump can fail (flow -> 0 or a
fraction); a leak sensor can assert. Parallel plumbing splits the flow between chips; in series
every chip sees the whole flow and the previous chip's outlet.
Air: one fan per chip blows mostly over its own heatsink and spills onto its neighbours; the
fan controller ramps the neighbours of a stopped fan to full duty. The inlet is the ambient air.

`cooling_ok()` is the BMC's own verdict on its cooling, the one reading an interlock can watch on
either kind of sled: liquid, no leak and every chip's flow at least `min_flow_fraction` of
nominal; air, every fan's tachometer above `fan_min_rpm`.
"""

from __future__ import annotations

import numpy as np

from bringup.sim_devices.world.config import CoolingConfig

#: Air flow is configured in CFM (what fan datasheets give); the flow meter reading is in L/min.
LPM_PER_CFM = 28.316846592


class CoolingLoop:
    """Flows per chip and inlet temperature; `version` changes whenever the flows do."""

    def __init__(self, cfg: CoolingConfig, n: int, air: bool, series: bool) -> None:
        self.cfg = cfg
        self.n = n
        self.air = air
        self.series = series
        self.inlet_c = cfg.inlet_c
        self.leak = False
        self.pump_factor = 1.0
        if air:
            self.duty = np.full(n, cfg.fan_duty)
            self.fan_ok = np.ones(n, dtype=bool)
            self.total_flow = 0.0
        else:
            self.total_flow = cfg.flow_per_chip * (1 if series else n)
        self.version = 0
        self.flows = np.zeros(n)
        self._recompute()

    def _recompute(self) -> None:
        if self.air:
            cfm = self.cfg.flow_per_chip * self.duty * self.fan_ok
            spill = self.cfg.fan_spill
            w = np.zeros((self.n, self.n))
            for k in range(self.n):
                for j in (k - 1, k + 1):
                    if 0 <= j < self.n:
                        w[k, j] = spill   # fan j's air spills onto heatsink k
            # what a fan does not spill onto a neighbour stays on its own heatsink
            np.fill_diagonal(w, 1.0 - w.sum(axis=0))
            flows = w @ cfm
        else:
            actual = self.total_flow * self.pump_factor
            flows = np.full(self.n, actual if self.series else actual / self.n)
        # the lab sets the CDU's flow before every request: the same flows again are no change,
        # or the thermal network's cached Ad/Bd (keyed on `version`) would miss on every step
        if np.array_equal(flows, self.flows):
            return
        self.flows = flows
        self.version += 1

    def set_inlet(self, inlet_c: float) -> None:
        self.inlet_c = float(inlet_c)

    def set_flow(self, total_flow: float) -> None:
        """Liquid: total loop flow in L/min (the CDU's setpoint)."""
        if self.air:
            raise ValueError("an air-cooled sled has fans, not a loop flow: use set_fans(duty)")
        if total_flow < 0:
            raise ValueError(f"flow must be >= 0 L/min, got {total_flow}")
        if float(total_flow) == self.total_flow:
            return  # the lab sets it before every request: the flows follow from it alone (and the pump)
        self.total_flow = float(total_flow)
        self._recompute()

    def set_fans(self, duty: float) -> None:
        """Air: every working fan's duty 0..1 (the ones ramped for a failed neighbour stay full)."""
        if not self.air:
            raise ValueError("a liquid-cooled sled has no fans")
        duty = min(max(float(duty), 0.0), 1.0)
        self.duty = np.where(self._ramped(), 1.0, duty)
        self._recompute()

    def _ramped(self) -> np.ndarray:
        failed = ~self.fan_ok
        ramp = np.zeros(self.n, dtype=bool)
        ramp[:-1] |= failed[1:]
        ramp[1:] |= failed[:-1]
        return ramp & self.fan_ok

    def spring_leak(self) -> None:
        """The leak sensor asserts (fault: coolant_leak): cooling is no longer OK."""
        self.leak = True

    def fail_pump(self, fraction: float) -> None:
        self.pump_factor = float(fraction)
        self._recompute()

    def check_fan(self, fan: int) -> None:
        """Raise ValueError unless `fan` is one of this sled's fans."""
        if not self.air:
            raise ValueError("fan_failure needs an air-cooled sled (this one is liquid-cooled)")
        if not 0 <= fan < self.n:
            raise ValueError(f"fan {fan} does not exist: this sled has fans 0..{self.n - 1}")

    def fail_fan(self, fan: int) -> None:
        self.check_fan(fan)
        self.fan_ok[fan] = False
        self.duty = np.where(self._ramped(), 1.0, self.duty)
        self._recompute()

    def measured_flow(self) -> float:
        """What the flow meter reads, L/min: the loop's total (liquid), or the fans' total airflow
        (air; a fan's spill onto its neighbours is still its own air, so the total is the fans' sum)."""
        if self.air:
            return float(self.flows.sum() * LPM_PER_CFM)
        return float(self.total_flow * self.pump_factor)

    def fan_rpm(self) -> list[float]:
        """Each fan's tachometer (air); a liquid sled has no fans: []."""
        if not self.air:
            return []
        return [float(x) for x in self.cfg.fan_full_rpm * self.duty * self.fan_ok]

    def cooling_ok(self) -> bool:
        """The BMC's cooling health: does the cooling deliver what the chips need?"""
        if self.leak:
            return False
        if self.air:
            return all(rpm > self.cfg.fan_min_rpm for rpm in self.fan_rpm())
        return bool(self.flows.min() >= self.cfg.min_flow_fraction * self.cfg.nominal_flow_per_chip)
