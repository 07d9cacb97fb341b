"""The simulated sled: every control and reading a console or a bench needs, as plain methods.

Every method first advances the physics to the clock's `now()`, so the sled behaves as if it
had been running all along; nothing advances time by itself. Same seed and same schedule of
calls and faults on a jumping clock give bit-identical results.

    sled = Sled(SledConfig(n_chips=4), SimClock(), seed=1)
    sled.power_on(); clock.advance(3.0); sled.health(0)  -> "healthy"
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from bringup.sim_devices.silicon.boot import READY, health
from bringup.sim_devices.world.config import SledConfig
from bringup.sim_devices.sled.engine import Engine
from bringup.sim_devices.sled.injector import FaultInjector
from bringup.sim_devices.sled.sled_links import SledLinks
from bringup.sim_devices.thermal.thermal import DIE, FLUID, HBM, NODES, SINK


class Sled(SledLinks):
    """A sled of `config.n_chips` accelerators on one clock."""

    def __init__(self, config: SledConfig | None = None, clock: Any = None, seed: int = 0) -> None:
        if clock is None:
            from bringup.core.clock import SimClock
            clock = SimClock()
        self.config = config or SledConfig()
        self.clock = clock
        self.seed = seed
        self.engine = Engine(self.config, seed, clock.now())
        self.injector = FaultInjector(self.engine)
        # (engine moves, volts, limit) of the last set_input, while no command changed the sled
        # since: the lab sets the input before every request, mostly to the same values
        self._input_seen: tuple[int, float, float] | None = None

    @classmethod
    def from_yaml(cls, path: str | Path, clock: Any = None, seed: int = 0) -> "Sled":
        """A sled described by a YAML file (any key left out keeps its default)."""
        return cls(SledConfig.from_yaml(path), clock, seed)

    # -- time ------------------------------------------------------------------------------------
    def sync(self) -> float:
        """Advance the physics to the clock's now; returns that time."""
        now = self.clock.now()
        e = self.engine
        if now <= e.t and e.agenda.next_time() > e.t:
            return e.t  # already there, nothing due: what advance() would do, without its loop
        e.advance(now)
        return e.t

    def now(self) -> float:
        return self.sync()

    @property
    def n_chips(self) -> int:
        return self.config.n_chips

    @property
    def rail_names(self) -> list[str]:
        return [r.name for r in self.config.rails]

    def _chips(self, chip: int | None) -> list[int]:
        if chip is None:
            return list(range(self.n_chips))
        if not 0 <= chip < self.n_chips:
            raise ValueError(f"chip {chip} does not exist: this sled has chips 0..{self.n_chips - 1}")
        return [chip]

    def _changed(self) -> None:
        self._input_seen = None
        self.engine.invalidate()
        self.engine.evaluate()
        self.engine.check_watchers()

    # -- the bench supply and the coolant unit ---------------------------------------------------
    def set_input(self, volts: float, current_limit: float = math.inf) -> None:
        """The bench supply feeding the sled: output voltage (0 = off) and current limit."""
        t = self.sync()
        e = self.engine
        vin, limit = max(float(volts), 0.0), float(current_limit)
        seen = (e.moves, vin, limit)
        if self._input_seen == seen and not e.watchers:
            # Nothing moved and nothing was commanded since the same input was set: what
            # `invalidate` derives (activity, clocks) would come out the same, so only the
            # evaluation runs again (each one is a step of the rails' fixed point: the night
            # depends on how many there are, so none may be skipped)
            e.evaluate()
            return
        e.vin_set = vin
        e.i_limit = limit
        if e.input_voltage() < self.config.input.uv_fault_v and (e.bank.phase != 0).any():
            e.brownout(t, f"input set to {volts} V")
        self._changed()
        self._input_seen = seen

    def input_voltage(self) -> float:
        self.sync()
        return self.engine.input_voltage()

    def input_current(self) -> float:
        """Current the sled draws from the supply: sum(rail power / efficiency) / Vin + standby."""
        self.sync()
        vin = self.engine.input_voltage()
        return self.engine.p_in / vin if vin > 0 else 0.0

    def input_power(self) -> float:
        self.sync()
        return self.engine.p_in if self.engine.input_voltage() > 0 else 0.0

    def set_coolant(self, inlet_c: float | None = None, flow_lpm: float | None = None) -> None:
        """The CDU (liquid): inlet setpoint and total loop flow. Air: inlet is the ambient (the
        thermal chamber); there is no loop flow to set (the fans are the BMC's: `set_fans`)."""
        self.sync()
        loop = self.engine.cooling
        if inlet_c is not None:
            loop.set_inlet(inlet_c)
        if flow_lpm is not None:
            loop.set_flow(flow_lpm)

    def set_fans(self, duty: float) -> None:
        self.sync()
        self.engine.cooling.set_fans(duty)

    def coolant_status(self) -> dict[str, Any]:
        """Inlet, outlet, flow (L/min; air: the fans' total airflow), heat carried away, pump, leak
        sensor, fans (air), and the BMC's verdict on all of it (`cooling_ok`)."""
        self.sync()
        e = self.engine
        loop, th = e.cooling, e.thermal
        outlets = th.outlets(loop.inlet_c)
        heat = th.heat_to_fluid(loop.flows, loop.inlet_c)
        outlet = float(outlets[-1]) if th.series else float(
            np.average(outlets, weights=np.maximum(loop.flows, 1e-12)))
        return {"cooling": self.config.cooling, "plumbing": self.config.plumbing,
                "inlet_c": loop.inlet_c, "outlet_c": outlet, "flow": loop.measured_flow(),
                "pump_ok": loop.pump_factor >= 1.0, "leak": loop.leak,
                "heat_w": float(heat.sum()), "chip_outlets_c": outlets.tolist(),
                "fan_rpm": loop.fan_rpm(), "cooling_ok": loop.cooling_ok()}

    # -- power -----------------------------------------------------------------------------------
    def power_on(self, chip: int | None = None) -> bool:
        """Start the power-on sequence (rails in order). False if the input is below UV."""
        t = self.sync()
        e = self.engine
        if e.input_voltage() < self.config.input.uv_fault_v:
            e.log(t, "error", f"power-on refused: input {e.input_voltage():.2f} V below UV")
            return False
        if e.cooling.leak:
            e.log(t, "error", "power-on refused: leak sensor asserted")
            return False
        for c in self._chips(chip):
            e.chips[c].tripped = ""
            e.chips[c].sequencer.power_on(t)
        e.agenda.run_due(t)
        self._changed()
        return True

    def power_off(self, chip: int | None = None) -> None:
        """Stop stress, hold reset and power the rails off in exact reverse order."""
        t = self.sync()
        e = self.engine
        for c in self._chips(chip):
            e.stress_level[c] = 0.0
            e.chips[c].boot.power_lost(t, "powered off")
            e.chips[c].sequencer.power_off(t)
        e.agenda.run_due(t)
        self._changed()

    def reset(self, chip: int | None = None) -> bool:
        """Warm-reset chips whose rails are up (stress stops; they boot again). False, and nothing
        reset, if any of them is not powered: a chip that is off needs `power_on`, not a reset."""
        t = self.sync()
        e = self.engine
        chips = self._chips(chip)
        off = [c for c in chips if e.chips[c].sequencer.state != "on" or e.chips[c].boot.state == "off"]
        if off:
            e.log(t, "error", f"reset refused: chip{off[0]} is not powered")
            return False
        for c in chips:
            e.stress_level[c] = 0.0
            e.chips[c].boot.reset(t)
        e.agenda.run_due(t)
        self._changed()
        return True

    def rails(self, chip: int) -> dict[str, dict[str, Any]]:
        """Per-rail readings and status: vset, vout (die sense), iout, pg, status_word, ..."""
        self.sync()
        (c,) = self._chips(chip)
        return {r.name: r.snapshot() for r in self.engine.chips[c].regulators}

    def sequence_history(self, chip: int) -> list[tuple[float, str, str]]:
        """(t, rail, "on"/"off") in the order the sequencer switched them."""
        self.sync()
        (c,) = self._chips(chip)
        return list(self.engine.chips[c].sequencer.history)

    def _regulator(self, chip: int, rail: str):
        (c,) = self._chips(chip)
        try:
            return self.engine.chips[c].by_name[rail]
        except KeyError:
            raise ValueError(f"no rail {rail!r}; rails are {self.rail_names}") from None

    def pmbus_read(self, chip: int, rail: str, code: int) -> int:
        """Raw PMBus read of `code` from one rail's regulator (raises PmbusError on a NACK)."""
        self.sync()
        return self._regulator(chip, rail).read(code)

    def pmbus_write(self, chip: int, rail: str, code: int, value: int | None = None) -> None:
        t = self.sync()
        self._regulator(chip, rail).write(t, code, value)
        self.engine.agenda.run_due(t)
        self._changed()

    # -- sensors ---------------------------------------------------------------------------------
    def snapshot(self) -> dict[str, np.ndarray]:
        """Every physical sensor of every chip at once (arrays; the dashboard's and bench's read)."""
        self.sync()
        e = self.engine
        x = e.thermal.x
        snap = {
            "t": np.array(e.t), "tj_c": x[DIE::NODES].copy(), "hbm_c": x[HBM::NODES].copy(),
            "fluid_c": x[FLUID::NODES].copy(), "sink_c": x[SINK::NODES].copy(), "power_w": e.bank.pout.sum(axis=1),
            "freq_hz": e.f_eff.copy(), "throttle_reasons": e.throttle.reasons(),
            "vout": e.bank.vout.copy(), "iout": e.bank.iout.copy(), "rail_temp_c": e.bank.temp.copy(),
            "input_w": np.array(e.p_in), "sram_ce": e.sram_ce.copy(), "sram_ue": e.sram_ue.copy(),
        }
        self.injector.apply_sensor_faults(snap)
        return snap

    def sensors(self, chip: int) -> dict[str, Any]:
        """One chip's sensors as plain values (a stuck or failed sensor reads as it would)."""
        (c,) = self._chips(chip)
        return self._sensor_values(self.snapshot(), c)

    def sensors_of(self, chips: list[int]) -> list[dict[str, Any]]:
        """`sensors(c)` for each chip in `chips`, from one snapshot (the same instant for all)."""
        snap = self.snapshot()
        return [self._sensor_values(snap, c) for chip in chips for c in self._chips(chip)]

    def _sensor_values(self, snap: dict[str, np.ndarray], c: int) -> dict[str, Any]:
        e = self.engine
        core = e.core
        return {
            "tj_c": float(snap["tj_c"][c]), "hbm_c": float(snap["hbm_c"][c]),
            "power_w": float(snap["power_w"][c]), "freq_hz": float(snap["freq_hz"][c]),
            "vdd_core_v": float(snap["vout"][c, core]), "idd_core_a": float(snap["iout"][c, core]),
            "throttle_reasons": int(snap["throttle_reasons"][c]),
            "sram_ce": int(snap["sram_ce"][c]), "sram_ue": int(snap["sram_ue"][c]),
            "golden_mismatches": int(e.mismatches[c]),
        }

    def max_tj(self) -> float:
        return float(np.nanmax(self.snapshot()["tj_c"]))

    # -- clocks, boot, health --------------------------------------------------------------------
    def boot_state(self, chip: int) -> str:
        self.sync()
        (c,) = self._chips(chip)
        return self.engine.chips[c].boot.state

    def pll_locked(self, chip: int) -> bool:
        self.sync()
        (c,) = self._chips(chip)
        return self.engine.chips[c].boot.pll_locked

    def health(self, chip: int) -> str:
        """healthy | unhealthy | unknown."""
        return self.health_detail(chip)["health"]

    def health_detail(self, chip: int) -> dict[str, Any]:
        t = self.sync()
        (c,) = self._chips(chip)
        ch = self.engine.chips[c]
        problems = ch.problems(t)
        return {"health": health(ch.boot.state, problems), "boot": ch.boot.state,
                "problems": problems}

    # -- workload and characterization -----------------------------------------------------------
    def stress_start(self, level: float = 1.0, kind: str = "compute", chip: int | None = None) -> None:
        """Run a workload: level 0..1 of a `compute` (training-class) or `virus` activity."""
        self.sync()
        p = self.config.power
        top = {"compute": p.activity_compute, "virus": p.activity_virus}
        if kind not in top:
            raise ValueError(f"stress kind must be one of {list(top)}, not {kind!r}")
        for c in self._chips(chip):
            self.engine.stress_level[c] = min(max(float(level), 0.0), 1.0)
            self.engine.stress_max[c] = top[kind]
        self._changed()

    def stress_stop(self, chip: int | None = None) -> None:
        self.sync()
        for c in self._chips(chip):
            self.engine.stress_level[c] = 0.0
        self._changed()

    def set_core_voltage(self, volts: float, chip: int | None = None) -> None:
        """VOUT_COMMAND of VDD_CORE (its limits and PG window follow the command)."""
        t = self.sync()
        for c in self._chips(chip):
            self.engine.chips[c].by_name["VDD_CORE"].set_vout(t, float(volts))
        self.engine.agenda.run_due(t)
        self._changed()

    def set_frequency(self, hz: float, chip: int | None = None) -> None:
        self.sync()
        if not hz > 0:
            raise ValueError(f"core frequency must be > 0 Hz, got {hz}")
        for c in self._chips(chip):
            self.engine.f_set[c] = float(hz)
        self._changed()

    def stress_check(self, chip: int | None = None, seconds: float = 1.0) -> list[dict[str, Any]]:
        """Run the golden-result compare kernel for `seconds` on each chip and report it.

        A chip passes only when it is ready, not hung, produced no mismatch and no
        uncorrectable error. Per-test noise makes results near Vmin ragged, as on silicon.
        """
        self.sync()
        e = self.engine
        cfg = self.config.characterization
        out = []
        for c in self._chips(chip):
            ch = e.chips[c]
            v = e.bank.vout[c, e.core]
            tj = e.tj(c)
            f = float(e.f_set[c] * e.throttle.factor[c])
            margin = float(e.silicon.margin_v(np.full(e.n, v), np.full(e.n, f), np.full(e.n, tj))[c])
            noisy = margin + float(e.rng_tests.normal(0.0, cfg.test_noise_v))
            ready = ch.boot.state == READY
            mism = ce = ue = 0
            hang = ch.boot.state == "hung"
            if ready and noisy < 0:
                m = np.array([noisy])
                # far below Vmin the rates overflow what numpy's Poisson accepts: cap them as the engine does
                ce = int(e.rng_tests.poisson(min(e.silicon.ce_rate(m)[0] * seconds, 1e9)))
                ue = int(e.rng_tests.poisson(min(e.silicon.ue_rate(m)[0] * seconds, 1e9)))
                mism = 1 + ue           # below Vmin the kernel's results stop matching
                hang = bool(e.silicon.hangs(m)[0])
                e.sram_ce[c] += ce
                e.sram_ue[c] += ue
                e.mismatches[c] += mism
                if hang:
                    ch.boot.hang(e.t, f"{-noisy * 1e3:.0f} mV below Vmin during golden compare")
                    self._changed()
            out.append({"chip": c, "passed": ready and not hang and mism == 0 and ue == 0,
                        "ran": ready, "mismatches": mism, "ce": ce, "ue": ue, "hang": hang,
                        "vdd_die_v": float(v), "freq_hz": f, "tj_c": tj})
        return out

    def fuses(self, chip: int) -> dict[str, Any]:
        """What chip `chip`'s fuses say (burned at wafer sort: a fault never changes them)."""
        (c,) = self._chips(chip)
        return self.engine.fuses[c].as_dict()

    def true_vmin(self, chip: int, freq_hz: float | None = None, tj_c: float | None = None) -> float:
        """Ground truth for tests: the chip's Vmin at f and Tj (no test noise)."""
        self.sync()
        (c,) = self._chips(chip)
        e = self.engine
        f = e.f_set[c] if freq_hz is None else freq_hz
        t = e.tj(c) if tj_c is None else tj_c
        return float(e.silicon.vmin(f, t)[c])

    # -- events and faults -----------------------------------------------------------------------
    def events(self, since: float = -math.inf) -> list[tuple[float, str, str]]:
        """The event log: (t, severity, text), severity info | warning | error | critical."""
        self.sync()
        return [ev for ev in self.engine.events if ev[0] >= since]

    def inject(self, name: str, target: dict[str, Any] | None = None,
               params: dict[str, Any] | None = None, at: Any = None) -> dict[str, Any]:
        """Inject catalog fault `name`; `at`: None (now), a time, or a condition. Returns the
        ground-truth record (filled in further when the fault fires)."""
        self.sync()
        record = self.injector.inject(name, target or {}, params or {}, at)
        self._changed()
        return record

    def faults(self) -> list[dict[str, Any]]:
        """Every injected fault with its ground truth."""
        self.sync()
        return self.injector.records()

    def console_impairment(self) -> dict[str, Any] | None:
        """Parameters of an active console_noise fault (the console server applies them)."""
        self.sync()
        return self.injector.console
