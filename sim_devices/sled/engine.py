"""The sled's physics and its one notion of time.

`Engine.advance(t)` brings everything to time t: due events (ramps, deglitch, boot stages, fault
triggers) run at their exact times and split the continuous steps; between events the thermal
network takes exact zero-order-hold steps of at most `dt_max_s` (0.1 s while a throttle
controller is acting). Leakage, loads and throttling are evaluated at the start of each step.
A thermal trip or HBM CATTRIP is located inside its step by bisection, so the power-off happens
at the crossing, not at the end of a one-second step.

The hot path is vectorized over chips and rails: a 16-chip step is a few dozen numpy operations.
"""

from __future__ import annotations

import math
from typing import Callable

import numpy as np

from bringup.sim_devices.world.agenda import Agenda
from bringup.sim_devices.silicon.boot import FW_BOOT, HUNG, READY
from bringup.sim_devices.silicon.characterization import Silicon
from bringup.sim_devices.silicon.chip import Chip
from bringup.sim_devices.world.config import SledConfig
from bringup.sim_devices.thermal.coolant import CoolingLoop
from bringup.sim_devices.silicon.fuses import burn
from bringup.sim_devices.silicon.links import LinkFactory
from bringup.sim_devices.power.power_model import PowerModel
from bringup.sim_devices.power.railbank import RailBank
from bringup.sim_devices.thermal.thermal import DIE, FLUID, HBM, NODES, ThermalNetwork
from bringup.sim_devices.thermal.throttle import Throttle

Watcher = Callable[[float], bool]   # returns True once done (then it is dropped)
_MARGIN_PERIOD_S = 1.0
_MARGIN_GUARD_V = 0.015


class Engine:
    """All chips' physics, advanced lazily; the `Sled` facade is the public face."""

    def __init__(self, cfg: SledConfig, seed: int, t0: float = 0.0) -> None:
        self.cfg = cfg
        self.seed = seed
        n = self.n = cfg.n_chips
        seq = np.random.SeedSequence(seed)
        # a seventh stream for the fuses: the first six (and so every older seed's night) unchanged
        s_power, s_silicon, s_chips, s_errors, s_tests, s_faults, s_fuses = seq.spawn(7)
        self.rng_errors = np.random.default_rng(s_errors)
        self.rng_tests = np.random.default_rng(s_tests)
        self.rng_faults = np.random.default_rng(s_faults)
        self.t = float(t0)
        self.moves = 0  # steps taken and due events run: the state has moved on when this changes
        self.events: list[tuple[float, str, str]] = []
        self.agenda = Agenda()
        self.bank = RailBank(cfg.rails, n)
        self.core = cfg.rail_index("VDD_CORE")
        heats_hbm = np.array([r.heats_hbm for r in cfg.rails])
        self._split = np.stack([~heats_hbm, heats_hbm], axis=1).astype(float)
        self.cooling = CoolingLoop(cfg.cooling_loop, n, cfg.cooling == "air", cfg.plumbing == "series")
        self.thermal = ThermalNetwork(cfg.thermal, cfg.cooling_loop, n, cfg.plumbing == "series",
                                      cfg.sim.expm_cache)
        self.power = PowerModel(cfg.power, cfg.rails, n, np.random.default_rng(s_power))
        self.silicon = Silicon(cfg.characterization, n, np.random.default_rng(s_silicon))
        self.fuses = burn(cfg.fuses, cfg.power, cfg.characterization, self.power, self.silicon,
                          np.random.default_rng(s_fuses))
        self.throttle = Throttle(cfg.limits, n)
        self.links = LinkFactory(cfg)
        self.hbm_cattrip_c = float(getattr(self.links.hbm_cfg, "cattrip_c", 105.0))
        self._safety_limits = np.full(NODES * n, np.inf)   # trip / CATTRIP per thermal node
        self._safety_limits[DIE::NODES] = cfg.limits.trip_c
        self._safety_limits[HBM::NODES] = self.hbm_cattrip_c
        # the bench supply feeding the sled
        self.vin_set = cfg.input.nominal_v
        self.i_limit = math.inf
        self.vin_sag: float | None = None
        # per-chip controls and counters
        self.f_set = np.full(n, cfg.power.freq_hz)
        self.stress_level = np.zeros(n)
        self.stress_max = np.full(n, cfg.power.activity_compute)
        self.activity_boost = np.zeros(n)     # power_virus_oc fault
        self.sram_ce = np.zeros(n, dtype=np.int64)
        self.sram_ue = np.zeros(n, dtype=np.int64)
        self.mismatches = np.zeros(n, dtype=np.int64)
        self.margin = np.full(n, np.nan)
        self.watchers: list[Watcher] = []
        self.tj_max = -math.inf
        self.tj_peak = -math.inf              # the hottest junction of the whole run, and when
        self.tj_peak_t: float | None = None
        self.brake_any = False
        self._margin_due = -math.inf
        self._margin_min = -math.inf
        chip_seeds = s_chips.spawn(n)
        self.chips = [Chip(i, self, np.random.default_rng(chip_seeds[i])) for i in range(n)]
        self.invalidate()
        self.p_in = 0.0
        self.evaluate()

    # -- small accessors -------------------------------------------------------------------------
    def log(self, t: float, severity: str, text: str) -> None:
        self.events.append((float(t), severity, text))

    def tj(self, chip: int) -> float:
        return float(self.thermal.x[NODES * chip + DIE])

    def hbm_temp(self, chip: int) -> float:
        return float(self.thermal.x[NODES * chip + HBM])

    def input_voltage(self) -> float:
        """What the sled's input sees: the supply's setpoint, or a sag while one lasts."""
        return self.vin_set if self.vin_sag is None else min(self.vin_sag, self.vin_set)

    def set_input_sag(self, vin: float | None) -> None:
        """The sled's input sags to `vin` volts (fault: brownout); None: back at the setpoint."""
        self.vin_sag = vin

    def boost_activity(self, chip: int, activity: float) -> None:
        """A running chip draws at least `activity` (fault: power_virus_oc); call invalidate() after."""
        self.activity_boost[chip] = activity

    def invalidate(self) -> None:
        """Recompute per-chip discrete inputs (activity, clocks) after any event, command or fault."""
        self._margin_due = -math.inf
        c = self.cfg.power
        states = [ch.boot.state for ch in self.chips]
        self.clock = np.array([ch.boot.pll_locked for ch in self.chips], dtype=float)
        self.running = np.array([s == READY for s in states])
        booting = np.array([s == FW_BOOT for s in states])
        hung = self.hung = np.array([s == HUNG for s in states])
        self.any_hung = bool(hung.any())
        self.live = self.running | hung
        self.any_live = bool(self.live.any())
        level = self.stress_level * self.running
        act = c.activity_idle + level * (self.stress_max - c.activity_idle)
        act = np.maximum(act, self.activity_boost * self.running)
        act = np.where(self.running | booting, act, c.activity_reset)
        self.activity = np.where(hung, 0.02, act)
        self._uncore = self.power.rail_power(self.activity, np.ones_like(self.bank.vnom))
        self._load = self._uncore.copy()      # the core column is rewritten every evaluation

    # -- electrical evaluation -------------------------------------------------------------------
    def evaluate(self) -> None:
        """Rails' outputs and the input power at the present time and state."""
        x = self.thermal.x
        tj = x[DIE::NODES]
        v = self.bank.vout[:, self.core]
        self.f_eff = self.f_set * self.throttle.factor * self.clock
        p_core = self.power.dynamic(self.activity, v, self.f_eff) + self.power.leakage(v, tj)
        load = self._load
        load[:, self.core] = p_core
        self.bank.evaluate(self.t, load, x[FLUID::NODES])
        vin = self.input_voltage()
        self.p_in = (self.cfg.power.standby_w if vin > 0 else 0.0) + float(
            np.dot(self.bank.pout.ravel(), self.bank.inv_eff))

    # -- time ------------------------------------------------------------------------------------
    def advance(self, t_target: float) -> None:
        """Bring the physics to `t_target` (never backwards)."""
        dt_max = self.cfg.sim.dt_max_s
        period = self.cfg.limits.control_period_s
        while True:
            if self.agenda.run_due(self.t):
                self.moves += 1
                self.invalidate()
                self.evaluate()
                self.check_watchers()
            if self.t >= t_target:
                return
            dt = dt_max
            if self.brake_any or self.throttle.watching(self.tj_max):
                dt = min(dt, period)
            t_next = min(t_target, self.agenda.next_time(), self.t + dt)
            self.moves += 1
            self._step(t_next)

    def _step(self, t_next: float) -> None:
        th = self.thermal
        t_start = self.t
        dt = t_next - t_start
        split = self.bank.pout @ self._split          # (chips, 2): die and HBM heat
        u = th.inputs(split[:, 0], split[:, 1], self.cooling.inlet_c)
        flows, fv = self.cooling.flows, self.cooling.version
        x0 = th.x
        x1 = th.advance(x0, dt, u, flows, fv)
        crossing = self._crossing(x0, x1)
        if crossing is not None:
            # bisect for the first time a safety threshold is crossed, to 1 ms
            lo, hi = 0.0, dt
            while hi - lo > 1e-3:
                mid = 0.5 * (lo + hi)
                if self._crossing(x0, th.advance(x0, mid, u, flows, fv)) is not None:
                    hi = mid
                else:
                    lo = mid
            t_next = self.t + hi
            x1 = th.advance(x0, hi, u, flows, fv)
            crossing = self._crossing(x0, x1)
        th.x = x1
        self.t = t_next
        if crossing is not None:
            self._safety_trip(crossing)
        self._after_step(t_next - t_start)

    def _crossing(self, x0: np.ndarray, x1: np.ndarray) -> tuple[str, np.ndarray] | None:
        lim = self.cfg.limits
        if (x1 - self._safety_limits).max() < 0.0:
            return None
        powered = self.bank.on[:, self.core] > 0
        die = (x1[DIE::NODES] >= lim.trip_c) & (x0[DIE::NODES] < lim.trip_c) & powered
        if die.any():
            return ("thermal trip", np.flatnonzero(die))
        cattrip = self.hbm_cattrip_c
        hbm = (x1[HBM::NODES] >= cattrip) & (x0[HBM::NODES] < cattrip) & powered
        if hbm.any():
            return ("HBM CATTRIP", np.flatnonzero(hbm))
        return None

    def _safety_trip(self, crossing: tuple[str, np.ndarray]) -> None:
        reason, chips = crossing
        for c in chips:
            self.trip(int(c), reason)

    def trip(self, chip: int, reason: str) -> None:
        """Hardware power-off of one chip (thermal trip, CATTRIP, leak)."""
        ch = self.chips[chip]
        ch.tripped = reason
        self.log(self.t, "critical", f"chip{chip}: {reason} at Tj {self.tj(chip):.1f} C, "
                                     f"HBM {self.hbm_temp(chip):.1f} C")
        ch.boot.power_lost(self.t, reason)
        ch.sequencer.emergency_off(self.t, reason)
        self.throttle.reset(chip)
        self.stress_level[chip] = 0.0
        self.invalidate()
        self.evaluate()

    def _after_step(self, dt: float) -> None:
        t = self.t
        self.evaluate()
        bank = self.bank
        alarms = bank.alarms()
        if alarms is not None:
            for c, r in np.argwhere(alarms):
                self.chips[c].regulators[r].alarm(t)
            self.invalidate()
            self.evaluate()
        tj = self.thermal.x[DIE::NODES]
        self.tj_max = float(tj.max())
        if self.tj_max > self.tj_peak:        # a float compare: the ground truth's peak costs nothing
            self.tj_peak, self.tj_peak_t = self.tj_max, t
        brake = bank.iout[:, self.core] > bank.oc_warn[:, self.core]
        self.brake_any = bool(brake.any())
        if self.brake_any or self.throttle.watching(self.tj_max):
            chip_w = bank.pout.sum(axis=1)
            self.throttle.update(t, tj, chip_w, brake, self.running)
        if self.any_live:
            self._core_errors(dt, tj)
        vin = self.input_voltage()
        if vin > 0 and self.p_in > vin * self.i_limit:
            self.brownout(t, f"input demand {self.p_in / vin:.1f} A over the supply's "
                             f"{self.i_limit:.1f} A limit")
        self.check_watchers()

    def check_watchers(self) -> None:
        """Condition-triggered faults: fire (and drop) the ones whose condition now holds."""
        if self.watchers:
            pending, self.watchers = self.watchers, []
            keep = [w for w in pending if not w(self.t)]
            self.watchers = keep + self.watchers

    def _core_errors(self, dt: float, tj: np.ndarray) -> None:
        """Below Vmin: CE, then UE, then a hang; all stop once the voltage is back."""
        # The margin moves slowly with temperature; while every chip has plenty of it, it is
        # recomputed every `_MARGIN_PERIOD_S` (and at once after any change of state).
        if self.t < self._margin_due and self._margin_min > _MARGIN_GUARD_V:
            return
        v = self.bank.vout[:, self.core]
        hung = self.hung
        live = self.live
        margin = self.silicon.margin_v(v, self.f_set * self.throttle.factor, tj)
        self.margin = margin
        self._margin_due = self.t + _MARGIN_PERIOD_S
        self._margin_min = float(np.min(np.where(live, margin, np.inf)))
        below = live & (margin < 0)
        if self.any_hung:
            for c in np.flatnonzero(hung & ~below):
                self.chips[c].boot.recover(self.t)
            self.invalidate()
        if not below.any():
            return
        m = np.where(below, self.margin, 0.0)
        scale = np.where(below & self.running, dt, 0.0)
        ce = self.rng_errors.poisson(np.minimum(self.silicon.ce_rate(m) * scale, 1e9))
        ue = self.rng_errors.poisson(np.minimum(self.silicon.ue_rate(m) * scale, 1e9))
        self.sram_ce += ce
        self.sram_ue += ue
        self.mismatches += ue
        for c in np.flatnonzero(self.running & self.silicon.hangs(m)):
            self.chips[c].boot.hang(self.t, f"{-m[c] * 1e3:.0f} mV below Vmin")
        self.invalidate()

    # -- input supply ----------------------------------------------------------------------------
    def brownout(self, t: float, why: str) -> None:
        """VIN falls below UV: every regulator stops, VIN_UV latches, every chip resets."""
        any_on = bool((self.bank.phase != 0).any())
        self.log(t, "critical", f"input brownout ({why}): all rails off")
        for ch in self.chips:
            ch.boot.power_lost(t, "input brownout")
            ch.sequencer.input_lost(t)
        self.stress_level[:] = 0.0
        self.invalidate()
        self.evaluate()
        if not any_on:
            self.log(t, "warning", "input brownout with no rail on: standby only")
