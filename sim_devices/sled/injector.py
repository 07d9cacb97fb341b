"""Injects catalog faults into a running sled and keeps their ground truth.

A trigger says when a fault lands: `None` (now), a number (that simulated time), or a
condition string: an event (`power_on`, `booted`, `stress`) or a threshold on the target chip
(`tj > 80`, `hbm >= 90`, `power > 500`, `time >= 30`). A callable taking the engine works too.
Each injection returns a record (id, name, target, params, trigger, state, injected_at, truth)
that is filled in when the fault fires; `truth` is what a test compares a diagnosis against.
"""

from __future__ import annotations

import copy
import operator
import re
from typing import TYPE_CHECKING, Any, Callable

import numpy as np

from bringup.sim_devices.power import pmbus
from bringup.sim_devices.silicon.boot import READY
from bringup.sim_devices.faults.faults import CATALOG

if TYPE_CHECKING:
    from bringup.sim_devices.sled.engine import Engine

_THRESHOLD = re.compile(r"^\s*(tj|hbm|power|time)\s*(>=|<=|>|<)\s*([-+0-9.eE]+)\s*$")
_OPS = {">": operator.gt, ">=": operator.ge, "<": operator.lt, "<=": operator.le}
_EVENTS = ("power_on", "booted", "stress")
_SENSOR_KEYS = {"tj": "tj_c", "hbm": "hbm_c", "power": "power_w"}


def parse_trigger(at: Any, engine: "Engine", chip: int) -> tuple[str, Callable[[], bool] | float | None]:
    """('now', None) | ('time', t) | ('condition', predicate)."""
    if at is None or (isinstance(at, str) and at.strip() in ("", "now", "start")):
        return "now", None
    if isinstance(at, (int, float)) and not isinstance(at, bool):
        return "time", float(at)
    if callable(at):
        return "condition", lambda: bool(at(engine))
    if isinstance(at, str):
        text = at.strip()
        if text in _EVENTS:
            ch = engine.chips[chip]
            return "condition", {
                "power_on": lambda: ch.sequencer.state in ("up", "on"),
                "booted": lambda: ch.boot.state == "ready",
                "stress": lambda: bool(engine.stress_level[chip] > 0 and engine.running[chip]),
            }[text]
        m = _THRESHOLD.match(text)
        if m:
            what, op, value = m.group(1), _OPS[m.group(2)], float(m.group(3))
            read = {"tj": lambda: engine.tj(chip), "hbm": lambda: engine.hbm_temp(chip),
                    "power": lambda: float(engine.bank.pout[chip].sum()),
                    "time": lambda: engine.t}[what]
            return "condition", lambda: op(read(), value)
    raise ValueError(f"trigger {at!r} not understood: use nothing (now), a time in seconds, "
                     f"an event {list(_EVENTS)}, or a threshold like 'tj > 85'")


class FaultInjector:
    """Applies faults to an `Engine`; keeps every record."""

    def __init__(self, engine: "Engine") -> None:
        self.engine = engine
        self._records: list[dict[str, Any]] = []
        self.sensor_faults: dict[tuple[int, str], tuple[str, float]] = {}
        self.console: dict[str, Any] | None = None
        self._firing: dict[str, Any] = {}

    def records(self) -> list[dict[str, Any]]:
        return copy.deepcopy(self._records)

    # -- injection -------------------------------------------------------------------------------
    def inject(self, name: str, target: dict[str, Any], params: dict[str, Any], at: Any) -> dict[str, Any]:
        spec = CATALOG.get(name)
        if spec is None:
            raise ValueError(f"unknown fault {name!r}; the catalog has: {', '.join(CATALOG)}")
        bad_t = set(target) - set(spec.targets)
        bad_p = set(params) - set(spec.params)
        if bad_t or bad_p:
            raise ValueError(f"fault {name}: unknown target {sorted(bad_t)} / params {sorted(bad_p)}; "
                             f"targets {list(spec.targets)}, params {list(spec.params)}")
        tgt = {**spec.targets, **target}
        prm = {**spec.params, **params}
        chip = int(tgt.get("chip", 0))
        if "chip" in tgt and not 0 <= chip < self.engine.n:
            raise ValueError(f"fault {name}: chip {chip} does not exist (0..{self.engine.n - 1})")
        self._check_cooling(name, tgt)
        kind, when = parse_trigger(at, self.engine, chip)
        record = {"id": len(self._records) + 1, "name": name, "target": tgt, "params": prm,
                  "trigger": at if isinstance(at, (str, int, float, type(None))) else repr(at),
                  "state": "pending", "injected_at": None, "truth": {}}
        self._records.append(record)
        fire = lambda t: self._fire(record, t)
        if kind == "now":
            fire(self.engine.t)
        elif kind == "time":
            self.engine.agenda.at(max(float(when), self.engine.t), fire)
        else:
            pred = when

            def watcher(t: float) -> bool:
                if pred():
                    fire(t)
                    return True
                return False
            if not watcher(self.engine.t):
                self.engine.watchers.append(watcher)
        return copy.deepcopy(record)

    def _fire(self, record: dict[str, Any], t: float) -> None:
        apply = getattr(self, "_" + record["name"])
        self._firing = record        # a fault that lands later fills its own truth in then
        truth = apply(t, record["target"], record["params"]) or {}
        record.update(state="active", injected_at=t, truth=_plain(truth))
        self.engine.invalidate()
        self.engine.evaluate()

    def _end(self, record_name: str, t: float, undo: Callable[[float], None]) -> None:
        undo(t)
        self.engine.invalidate()
        self.engine.evaluate()

    def apply_sensor_faults(self, snap: dict[str, np.ndarray]) -> None:
        for (chip, sensor), (mode, value) in self.sensor_faults.items():
            snap[_SENSOR_KEYS[sensor]][chip] = value if mode == "stuck" else np.nan

    # -- helpers ---------------------------------------------------------------------------------
    def _reg(self, tgt: dict[str, Any]):
        chip = self.engine.chips[int(tgt["chip"])]
        try:
            return chip.by_name[tgt["rail"]]
        except KeyError:
            raise ValueError(f"no rail {tgt['rail']!r}; rails are {list(chip.by_name)}") from None

    def _link(self, t: float, tgt: dict[str, Any], prm: dict[str, Any], fault: str) -> dict[str, Any]:
        chip = self.engine.chips[int(tgt["chip"])]
        kw = {k: v for k, v in prm.items() if v is not None}
        if fault in ("dead_lane", "link_flap"):
            kw["t"] = t
        if tgt["link"] == "pcie":
            model = chip.pcie
        elif tgt["link"] == "mesh":
            model = chip.mesh[int(tgt["port"])]
        else:
            raise ValueError(f"link must be 'pcie' or 'mesh', not {tgt['link']!r}")
        return model.inject(fault, lane=int(tgt["lane"]), **kw)

    # -- the faults, one method per catalog row --------------------------------------------------
    def _heatsink_misfit(self, t, tgt, prm):
        c = int(tgt["chip"])
        th = self.engine.thermal
        th.scale("r_lid_sink", c, float(prm["factor"]))
        return {"r_lid_sink_k_per_w": float(th.params["r_lid_sink"][c])}

    def _rail_short(self, t, tgt, prm):
        reg = self._reg(tgt)
        reg.add_short(float(prm["resistance_mohm"]))
        return {"rail": reg.name, "short_ohm": float(prm["resistance_mohm"]) * 1e-3,
                "oc_limit_a": float(self.engine.bank.oc_fault[reg.chip, reg.index])}

    def _soft_short(self, t, tgt, prm):
        reg = self._reg(tgt)
        c = reg.chip
        truth: dict[str, Any] = {"rail": reg.name}
        if prm.get("resistance_mohm"):
            reg.add_short(float(prm["resistance_mohm"]))
            truth["extra_load_ohm"] = float(prm["resistance_mohm"]) * 1e-3
        else:
            truth["p_leak0_w"] = self.engine.power.scale_leakage(c, float(prm["leak_factor"]))
        return truth

    def _pg_stuck(self, t, tgt, prm):
        reg = self._reg(tgt)
        if prm["mode"] == "enable_stuck":
            reg.stick_enable()
        elif prm["mode"] == "low":
            reg.set_output_factor(t, float(prm["level_pct"]) / 100.0)
        else:
            raise ValueError(f"pg_stuck mode must be 'low' or 'enable_stuck', not {prm['mode']!r}")
        return {"rail": reg.name, "mode": prm["mode"],
                "pg_window_pct": [reg.cfg.pg_low_pct, reg.cfg.pg_high_pct]}

    def _sequence_violation(self, t, tgt, prm):
        chip = self.engine.chips[int(tgt["chip"])]
        order = list(prm["order"])
        if sorted(order) != sorted(chip.by_name):
            raise ValueError(f"sequence_violation order must list every rail once: {list(chip.by_name)}")
        chip.sequencer.order = [chip.by_name[n].index for n in order]
        return {"order": order}

    def _overvoltage(self, t, tgt, prm):
        reg = self._reg(tgt)
        factor = 1.0 + float(prm["percent"]) / 100.0
        reg.set_output_factor(t, factor)
        if prm["transient"]:
            def restore(tt: float) -> bool:
                if reg.status_vout & pmbus.VOUT_OV_FAULT:
                    reg.set_output_factor(tt, 1.0)
                    return True
                return False
            if not restore(t):
                self.engine.watchers.append(restore)
        return {"rail": reg.name, "vout_v": reg.v_cmd * factor, "ov_limit_v": reg.ov_fault_v}

    def _pll_no_lock(self, t, tgt, prm):
        chip = self.engine.chips[int(tgt["chip"])]
        cause = prm["cause"]
        if cause == "refclk":
            chip.boot.lose_refclk()
        elif cause == "avdd_low":
            chip.boot.spoil_pll_supply()
            chip.by_name["AVDD_PLL"].set_output_factor(t, 0.95)
        else:
            raise ValueError(f"pll_no_lock cause must be 'refclk' or 'avdd_low', not {cause!r}")
        if chip.boot.pll_locked:
            chip.boot.lose_lock(t, "no reference clock" if cause == "refclk" else "AVDD_PLL low")
        return {"cause": cause}

    def _marginal_lane(self, t, tgt, prm):
        return self._link(t, tgt, prm, "marginal_lane")

    def _dead_lane(self, t, tgt, prm):
        return self._link(t, tgt, prm, "dead_lane")

    def _link_flap(self, t, tgt, prm):
        return self._link(t, tgt, prm, "link_flap")

    def _hbm_train_fail(self, t, tgt, prm):
        chip = self.engine.chips[int(tgt["chip"])]
        stack = int(tgt["stack"])
        if not 0 <= stack < len(chip.hbm):
            raise ValueError(f"chip{chip.index} has HBM stacks 0..{len(chip.hbm) - 1}")
        return chip.hbm[stack].inject("hbm_train_fail", **prm)

    def _hbm_overtemp(self, t, tgt, prm):
        c = int(tgt["chip"])
        self.engine.thermal.scale("r_hbm_sink", c, float(prm["factor"]))
        return {"r_hbm_sink_k_per_w": float(self.engine.thermal.params["r_hbm_sink"][c])}

    def _check_cooling(self, name: str, tgt: dict[str, Any]) -> None:
        """A cooling fault that cannot happen on this sled is refused when it is asked for, not
        when a timed trigger fires it hours into a run."""
        loop = self.engine.cooling
        if name == "pump_failure" and loop.air:
            raise ValueError("pump_failure needs a liquid-cooled sled (this one is air-cooled)")
        if name == "fan_failure":
            loop.check_fan(int(tgt["fan"]))

    def _pump_failure(self, t, tgt, prm):
        loop = self.engine.cooling
        loop.fail_pump(float(prm["flow_fraction"]))
        self.engine.log(t, "warning", f"coolant flow {loop.measured_flow():.2f} L/min")
        return {"flow": loop.measured_flow()}

    def _fan_failure(self, t, tgt, prm):
        fan = int(tgt["fan"])
        self.engine.cooling.fail_fan(fan)
        self.engine.log(t, "warning", f"fan {fan} stopped (0 rpm); neighbours ramped")
        return {"fan": fan}

    def _coolant_leak(self, t, tgt, prm):
        eng = self.engine
        eng.cooling.spring_leak()
        eng.log(t, "critical", "leak sensor asserted: powering the sled down")
        on = [ch.index for ch in eng.chips if (eng.bank.phase[ch.index] != 0).any()]
        for c in on:
            eng.trip(c, "coolant leak")
        return {"chips_powered_down": on}

    def _console_noise(self, t, tgt, prm):
        self.console = {**prm, "seed": int(self.engine.rng_faults.integers(2**31))}
        return dict(self.console)

    def _sensor_stuck(self, t, tgt, prm):
        c = int(tgt["chip"])
        sensor, mode = str(tgt["sensor"]), prm["mode"]
        if mode not in ("stuck", "nan", "nack"):
            raise ValueError(f"sensor_stuck mode must be stuck, nan or nack, not {mode!r}")
        if sensor.startswith("rail:"):
            reg = self._reg({"chip": c, "rail": sensor[5:]})
            if mode == "nack":
                reg.stop_answering()
            else:
                reg.freeze_readings(nan=mode == "nan")
            return {"sensor": sensor, "mode": mode}
        if sensor not in _SENSOR_KEYS:
            raise ValueError(f"sensor must be one of {list(_SENSOR_KEYS)} or 'rail:<NAME>'")
        value = prm["value"]
        if value is None:
            eng = self.engine
            value = {"tj": eng.tj(c), "hbm": eng.hbm_temp(c),
                     "power": float(eng.bank.pout[c].sum())}[sensor]
        self.sensor_faults[(c, sensor)] = (mode, float(value))
        return {"sensor": sensor, "mode": mode, "value": float(value) if mode == "stuck" else None}

    def _brownout(self, t, tgt, prm):
        eng = self.engine
        eng.set_input_sag(float(prm["vin"]))
        if eng.input_voltage() < eng.cfg.input.uv_fault_v:
            eng.brownout(t, f"input sagged to {prm['vin']} V")

        def restore(tt: float) -> None:
            eng.set_input_sag(None)
            eng.log(tt, "info", f"input back at {eng.input_voltage():.2f} V")
            eng.invalidate()
            eng.evaluate()
        eng.agenda.at(t + float(prm["duration_s"]), restore)
        return {"vin": float(prm["vin"]), "until": t + float(prm["duration_s"])}

    def _power_virus_oc(self, t, tgt, prm):
        eng = self.engine
        c, core = int(tgt["chip"]), eng.core
        eng.boost_activity(c, float(prm["activity"]))
        i_max = eng.cfg.rails[core].i_max
        fault = prm["oc_fault_factor"]
        eng.chips[c].regulators[core].set_oc_limits(float(prm["oc_warn_factor"]) * i_max,
                                                    None if fault is None else float(fault) * i_max)
        return {"activity": float(prm["activity"]), "oc_warn_a": float(eng.bank.oc_warn[c, core]),
                "oc_fault_a": float(eng.bank.oc_fault[c, core])}

    def _below_vmin(self, t, tgt, prm):
        """The part weakens until VDD_CORE sits `margin_mv` below its Vmin, then recovers.

        Vmin means something only for a core that runs: its shift is worked out from the die
        voltage, clock and junction of a booted chip. Injected before that (before power-on, while
        the chip is off, resetting or booting) the fault waits for the chip to be up, and its ramp
        and duration count from then; `truth.starts_at` says when that was."""
        eng = self.engine
        c = int(tgt["chip"])
        record = self._firing
        truth = {"waiting_for": f"chip{c} booted"}

        def running() -> bool:
            ch = eng.chips[c]
            return ch.boot.state == READY and bool(eng.bank.on[c, eng.core] > 0)

        def start(tt: float) -> bool:
            if not running():
                return False
            record["truth"] = _plain(self._start_below_vmin(tt, c, prm))
            return True
        if start(t):
            return record["truth"]
        eng.watchers.append(start)
        return truth

    def _start_below_vmin(self, t: float, c: int, prm: dict[str, Any]) -> dict[str, Any]:
        eng = self.engine
        v = float(eng.bank.vout[c, eng.core])
        f = float(eng.f_set[c] * eng.throttle.factor[c])
        vmin = float(eng.silicon.vmin(f, eng.tj(c))[c])
        total = (v - vmin) - float(prm["margin_mv"]) * 1e-3   # Vmin must rise this much
        steps = 20
        ramp = float(prm["ramp_s"])
        per = total / steps

        def nudge(tt: float) -> None:
            eng.silicon.shift_vmin(c, per)
        for k in range(steps):
            eng.agenda.at(t + ramp * (k + 1) / steps, nudge)

        def restore(tt: float) -> None:
            eng.silicon.shift_vmin(c, -total)
        eng.agenda.at(t + float(prm["duration_s"]), restore)
        return {"starts_at": t, "vdd_die_v": v, "freq_hz": f, "tj_c": eng.tj(c), "vmin_before_v": vmin,
                "vmin_shift_v": total, "lowest_margin_v": float(prm["margin_mv"]) * 1e-3,
                "restored_at": t + float(prm["duration_s"])}

    def _thermal_runaway(self, t, tgt, prm):
        eng = self.engine
        c = int(tgt["chip"])
        p_leak0 = eng.power.scale_leakage(c, float(prm["leak_factor"]))
        eng.thermal.scale("r_lid_sink", c, float(prm["cooling_factor"]))
        return {"p_leak0_w": p_leak0,
                "r_lid_sink_k_per_w": float(eng.thermal.params["r_lid_sink"][c])}


def _plain(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {k: _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    if isinstance(obj, np.generic):
        return obj.item()
    return obj
