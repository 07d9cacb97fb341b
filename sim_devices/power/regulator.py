"""One PMBus regulator output: its state machine, latched status and command set.

Behaviour (PHYSICS.md §2, PMBus Part II): OPERATION on -> TON_DELAY -> linear ramp over TON_RISE
-> power-good once VOUT has been inside its window for the deglitch time; TON_MAX fault if PG is
not reached in time. Fault responses: OV -> latch off (needs OPERATION off then on); OC -> hold
the current limit briefly, then hiccup (retry every ~7*TON_RISE); UV -> shut down and retry;
OT -> off, restart once cooled by the hysteresis. Status bits latch and clear only with
CLEAR_FAULTS; OFF and POWER_GOOD# are live.

Limits are checked against the regulation target (V_set), not the die-sense voltage, because an
adaptive-voltage-positioned rail droops by I*R_LL by design.
"""

from __future__ import annotations

from typing import Callable

from bringup.sim_devices.power import codec, pmbus
from bringup.sim_devices.world.agenda import Agenda, Event
from bringup.sim_devices.world.config import RailConfig
from bringup.sim_devices.power.pmbus_device import PmbusCommands
from bringup.sim_devices.power.railbank import CLIMIT, COOLDOWN, DELAY, FALL, HICCUP, LATCHED, OFF, ON, PHASE_NAMES, RISE, RailBank

Listener = Callable[["Regulator", float, str], None]
# the telemetry a stuck sensor freezes
TELEMETRY_READS = (pmbus.READ_VOUT, pmbus.READ_IOUT, pmbus.READ_TEMPERATURE_1, pmbus.READ_POUT)


class Regulator(PmbusCommands):
    """Rail `cfg.name` of chip `chip`; electrical arrays live in the shared `RailBank`."""

    def __init__(self, cfg: RailConfig, chip: int, index: int, bank: RailBank, agenda: Agenda,
                 listener: Listener, vin: Callable[[], float]) -> None:
        self.cfg = cfg
        self.name = cfg.name
        self.chip = chip
        self.index = index
        self.bank = bank
        self.agenda = agenda
        self.listener = listener
        self.vin = vin
        self.ton_delay = cfg.ton_delay_ms * 1e-3
        self.ton_rise = cfg.ton_rise_ms * 1e-3
        self.ton_max = cfg.ton_max_ms * 1e-3
        self.toff_fall = cfg.toff_fall_ms * 1e-3
        self.deglitch = cfg.pg_deglitch_us * 1e-6
        self.vout_mode = cfg.vout_mode
        self.ov_fault_v = self.uv_fault_v = self.ov_warn_v = self.uv_warn_v = 0.0
        self._absolute_limits: set[str] = set()
        self.margin_v = {"high": cfg.vout * 1.05, "low": cfg.vout * 0.95}
        self.operation = 0x00
        self.enable_stuck = False
        self.nack = False           # sensor_stuck fault: the device stops answering
        self.stuck: dict[int, int] = {}   # sensor_stuck fault: command -> frozen raw word
        self.status_vout = self.status_iout = self.status_input = 0
        self.status_temp = self.status_cml = 0
        self._events: list[Event] = []
        self._track_limits()

    # -- state ---------------------------------------------------------------------------------
    @property
    def phase(self) -> int:
        return int(self.bank.phase[self.chip, self.index])

    @property
    def phase_name(self) -> str:
        return PHASE_NAMES[self.phase]

    @property
    def pg(self) -> bool:
        return bool(self.bank.pg[self.chip, self.index])

    @property
    def v_cmd(self) -> float:
        return float(self.bank.v_cmd[self.chip, self.index])

    def _v_set(self) -> float:
        return float(self.bank.v_set[self.chip, self.index])

    def _track_limits(self) -> None:
        """Limits follow VOUT_COMMAND unless a PMBus write set them absolutely."""
        c, v = self.cfg, self.v_cmd
        for name, pct in (("ov_fault_v", c.ov_fault_pct), ("uv_fault_v", c.uv_fault_pct),
                          ("ov_warn_v", c.ov_warn_pct), ("uv_warn_v", c.uv_warn_pct)):
            if name not in self._absolute_limits:
                setattr(self, name, v * pct / 100.0)

    def _set_pg(self, t: float, good: bool) -> None:
        was = self.pg
        self.bank.pg[self.chip, self.index] = good
        if was != good:
            self.listener(self, t, "pg" if good else "pg_lost")

    def _enter(self, phase: int, t: float) -> None:
        for ev in self._events:
            ev.cancel()
        self._events = []
        b, c, r = self.bank, self.chip, self.index
        if phase in (RISE, FALL, CLIMIT):
            b.v_start[c, r] = b.vout[c, r]
        b.set_phase(c, r, phase, t)
        if phase != ON:
            self._set_pg(t, False)
        if phase == DELAY:
            self._after(self.ton_delay, self._start_rise)
        elif phase == RISE:
            self._plan_rise(t)
        elif phase == FALL:
            b.ramp_s[c, r] = self.toff_fall
            self._after(self.toff_fall, lambda tt: self._enter(OFF, tt))
        elif phase == CLIMIT:
            self._after(self.cfg.oc_limit_ms * 1e-3, lambda tt: self._shutdown(tt, HICCUP))
        elif phase == HICCUP:
            self._after(self.cfg.hiccup_factor * self.ton_rise, self._retry)

    def _after(self, delay: float, action: Callable[[float], None]) -> None:
        t = float(self.bank.t0[self.chip, self.index]) + delay
        self._events.append(self.agenda.at(t, action))

    def _start_rise(self, t: float) -> None:
        if self.enable_stuck:
            # the power stage never switches: VOUT stays at 0 until TON_MAX gives up
            self._after(self.ton_max, self._ton_max)
            return
        self._enter(RISE, t)

    def _retry(self, t: float) -> None:
        if self.operation & 0x80:
            self._enter(RISE, t)
        else:
            self._enter(OFF, t)

    def _plan_rise(self, t: float) -> None:
        """Schedule what this ramp will hit first: OC, OV, power-good, end of ramp, TON_MAX."""
        b, c, r = self.bank, self.chip, self.index
        b.ramp_s[c, r] = self.ton_rise
        v_set = self._v_set()
        self._after(self.ton_max, self._ton_max)
        if v_set <= 0.0:
            return
        at = lambda v: self.ton_rise * min(max(v / v_set, 0.0), 1.0)
        g_load = self._nominal_load_w() / self.cfg.vout**2 + float(b.g_short[c, r])
        inrush = self.cfg.c_out_f * v_set / self.ton_rise
        if v_set * g_load + inrush > b.oc_fault[c, r]:
            v_oc = max((b.oc_fault[c, r] - inrush) / g_load, 0.0)
            self._after(at(v_oc), self._overcurrent)
            return
        if v_set > self.ov_fault_v:
            self._after(at(self.ov_fault_v), self._overvoltage)
            return
        lo = self.v_cmd * self.cfg.pg_low_pct / 100.0
        hi = self.v_cmd * self.cfg.pg_high_pct / 100.0
        if lo <= v_set <= hi:
            self._after(at(lo) + self.deglitch, lambda tt: self._set_pg(tt, True))
        self._after(self.ton_rise, self._end_rise)

    def _nominal_load_w(self) -> float:
        return float(self.bank.pout[self.chip, self.index]) or self.cfg.idle_w

    def _end_rise(self, t: float) -> None:
        if self._v_set() < self.uv_fault_v:
            self.status_vout |= pmbus.VOUT_UV_FAULT
            self._shutdown(t, HICCUP)
            return
        # keep the power-good deglitch and TON_MAX timers: they may still be running
        pending = [ev for ev in self._events if not ev.cancelled]
        self.bank.set_phase(self.chip, self.index, ON, t)
        self._events = pending

    def _ton_max(self, t: float) -> None:
        if not self.pg:
            self.status_vout |= pmbus.VOUT_TON_MAX_FAULT
            self.listener(self, t, "ton_max")
            self._shutdown(t, LATCHED)

    def _overcurrent(self, t: float) -> None:
        self.status_iout |= pmbus.IOUT_OC_FAULT | pmbus.IOUT_OC_WARN
        self.listener(self, t, "oc_fault")
        self._enter(CLIMIT, t)
        b, c, r = self.bank, self.chip, self.index
        g = self._nominal_load_w() / self.cfg.vout**2 + float(b.g_short[c, r])
        if g > 0 and b.oc_fault[c, r] / g < self.uv_fault_v:
            # held at the current limit, the output cannot reach its UV threshold
            self.status_vout |= pmbus.VOUT_UV_FAULT | pmbus.VOUT_UV_WARN

    def _overvoltage(self, t: float) -> None:
        self.status_vout |= pmbus.VOUT_OV_FAULT | pmbus.VOUT_OV_WARN
        self.listener(self, t, "ov_fault")
        self._shutdown(t, LATCHED)

    def _shutdown(self, t: float, phase: int) -> None:
        had_power = self.phase in (ON, RISE, CLIMIT)
        self._enter(phase, t)
        if had_power:
            self.listener(self, t, "fault_off")

    # -- control -------------------------------------------------------------------------------
    def enable(self, t: float) -> None:
        """OPERATION on (the sequencer's enable). A latched-off output ignores it until re-armed."""
        self.operation = (self.operation & 0x3F) | 0x80
        if self.phase == OFF:
            self.listener(self, t, "enable")
            self._enter(DELAY, t)

    def disable(self, t: float, immediate: bool = False) -> None:
        """OPERATION off: soft-off ramps down over TOFF_FALL; also re-arms a latched output."""
        self.operation &= 0x3F
        ph = self.phase
        if ph in (ON, RISE, CLIMIT) and not immediate:
            self._enter(FALL, t)
        elif ph != OFF and not (ph == FALL and not immediate):
            self._enter(OFF, t)

    def vin_lost(self, t: float) -> None:
        """Input undervoltage: every output stops at once and VIN_UV latches."""
        self.status_input |= pmbus.INPUT_VIN_UV_FAULT | pmbus.INPUT_VIN_UV_WARN
        self.operation &= 0x3F
        if self.phase != OFF:
            self._enter(OFF, t)

    def set_vout(self, t: float, volts: float) -> None:
        """VOUT_COMMAND: limits that track it move too; an OV/UV crossing trips at once."""
        b, c, r = self.bank, self.chip, self.index
        b.v_cmd[c, r] = volts
        b.v_set[c, r] = volts * b.v_factor[c, r]
        self._track_limits()
        self.check_vout(t)

    def set_output_factor(self, t: float, factor: float) -> None:
        """Drive the output at `factor` x its command (faults: over-voltage above 1, a stage stuck
        low below it); the limits stay where the command put them, so a crossing trips at once."""
        b, c, r = self.bank, self.chip, self.index
        b.v_factor[c, r] = factor
        b.v_set[c, r] = self.v_cmd * factor
        self.check_vout(t)

    def add_short(self, milliohms: float) -> None:
        """A resistive short from the output to ground (faults: rail_short, soft_short)."""
        self.bank.g_short[self.chip, self.index] += 1e3 / milliohms
        self.bank.shorted = True

    def set_oc_limits(self, warn_a: float, fault_a: float | None = None) -> None:
        """Move the over-current warning (and fault) limits, as a firmware bug or a bad config would."""
        b, c, r = self.bank, self.chip, self.index
        b.oc_warn[c, r] = warn_a
        if fault_a is not None:
            b.oc_fault[c, r] = fault_a
        b.limits_changed()

    def stick_enable(self) -> None:
        """The power stage never switches on again (fault: pg_stuck enable_stuck)."""
        self.enable_stuck = True

    def stop_answering(self) -> None:
        """The device NACKs every read (fault: sensor_stuck nack)."""
        self.nack = True

    def freeze_readings(self, nan: bool = False) -> None:
        """Every telemetry read returns the word it reads now, or NaN (fault: sensor_stuck)."""
        self.stuck = {code: (0xFFFF if nan else self.read(code)) for code in TELEMETRY_READS}

    def check_vout(self, t: float) -> None:
        """Re-check the regulation target against the limits (after a command or a fault)."""
        if self.phase != ON:
            return
        v = self._v_set()
        if v > self.ov_fault_v:
            self._overvoltage(t)
        elif v < self.uv_fault_v:
            self.status_vout |= pmbus.VOUT_UV_FAULT | pmbus.VOUT_UV_WARN
            self.listener(self, t, "uv_fault")
            self._shutdown(t, HICCUP)
        else:
            if v > self.ov_warn_v:
                self.status_vout |= pmbus.VOUT_OV_WARN
            if v < self.uv_warn_v:
                self.status_vout |= pmbus.VOUT_UV_WARN
            lo = self.v_cmd * (self.cfg.pg_low_pct - self.cfg.pg_hysteresis_pct) / 100.0
            hi = self.v_cmd * (self.cfg.pg_high_pct + self.cfg.pg_hysteresis_pct) / 100.0
            self._set_pg(t, lo <= v <= hi)

    def alarm(self, t: float) -> None:
        """Per-step check, called only for rails over a warn limit or cooling down."""
        b, c, r = self.bank, self.chip, self.index
        if self.phase == COOLDOWN:
            if b.temp[c, r] < self.cfg.ot_fault_c - self.cfg.ot_hysteresis_c:
                self.listener(self, t, "ot_restart")
                self._enter(DELAY if self.operation & 0x80 else OFF, t)
            return
        i, temp = float(b.iout[c, r]), float(b.temp[c, r])
        if temp > b.ot_fault[c, r]:
            self.status_temp |= pmbus.TEMP_OT_FAULT | pmbus.TEMP_OT_WARN
            self.listener(self, t, "ot_fault")
            self._shutdown(t, COOLDOWN)
            return
        if temp > b.ot_warn[c, r]:
            self.status_temp |= pmbus.TEMP_OT_WARN
        if i > b.oc_fault[c, r]:
            self._overcurrent(t)
        elif i > b.oc_warn[c, r]:
            if not self.status_iout & pmbus.IOUT_OC_WARN:
                self.listener(self, t, "oc_warn")
            self.status_iout |= pmbus.IOUT_OC_WARN

    def clear_faults(self) -> None:
        """CLEAR_FAULTS: every latched status bit, nothing else (a latched-off rail stays off)."""
        self.status_vout = self.status_iout = self.status_input = 0
        self.status_temp = self.status_cml = 0
        self.bank.iout_peak[self.chip, self.index] = 0.0

    def status_word(self) -> int:
        off = self.phase not in (ON, RISE, CLIMIT)
        return pmbus.status_word(self.status_vout, self.status_iout, self.status_input,
                                 self.status_temp, self.status_cml, off, self.pg)

    def snapshot(self) -> dict:
        """Plain values a console or a test reads at once."""
        b, c, r = self.bank, self.chip, self.index
        tele = {"vout": float(b.vout[c, r]), "iout": float(b.iout[c, r]),
                "pout": float(b.pout[c, r]), "temp": float(b.temp[c, r])}
        if self.nack or self.stuck:
            # what the BMC's monitor would report: a failed read, or the frozen word decoded
            codes = {"vout": pmbus.READ_VOUT, "iout": pmbus.READ_IOUT, "pout": pmbus.READ_POUT,
                     "temp": pmbus.READ_TEMPERATURE_1}
            for key, code in codes.items():
                word = self.stuck.get(code)
                if self.nack or word is None or word == 0xFFFF:
                    tele[key] = float("nan")
                elif key == "vout":
                    tele[key] = codec.ulinear16_decode(word, self.vout_mode)
                else:
                    tele[key] = codec.linear11_decode(word)
        return {
            "rail": self.name, "phase": self.phase_name, "enabled": bool(self.operation & 0x80),
            "vset": self.v_cmd, **tele,
            "iout_peak": float(b.iout_peak[c, r]), "pg": self.pg, "status_word": self.status_word(),
            "status_vout": self.status_vout, "status_iout": self.status_iout,
            "status_input": self.status_input, "status_temperature": self.status_temp,
            "status_cml": self.status_cml,
        }
