"""The PMBus command set of a regulator output: reads, writes, and NACKs.

A mixin of `Regulator` (kept apart so each file holds one idea): reads return the raw word a
bus transaction would (LINEAR11 telemetry and limits, ULINEAR16 voltages under VOUT_MODE);
writes validate and apply; anything unsupported NACKs and sets its STATUS_CML bit.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from bringup.sim_devices.power import codec, pmbus

if TYPE_CHECKING:
    from bringup.sim_devices.power.railbank import RailBank


class PmbusCommands:
    """PMBus reads and writes over a `Regulator`'s state (its limits, timings, status bytes,
    and the control methods `set_vout`, `check_vout`, `enable`, `disable`, `clear_faults`)."""

    # some of what Regulator provides
    bank: "RailBank"
    chip: int
    index: int
    name: str
    vout_mode: int
    nack: bool
    stuck: dict[int, int]
    status_cml: int
    margin_v: dict[str, float]
    _absolute_limits: set[str]

    # -- PMBus ---------------------------------------------------------------------------------
    def _nack(self, why: str, bit: int) -> None:
        self.status_cml |= bit
        raise pmbus.PmbusError(f"chip{self.chip} {self.name}: {why}")

    def read(self, code: int) -> int:
        """The raw word (or byte) a PMBus read of `code` returns."""
        if self.nack:
            self._nack("no acknowledge (bus fault)", pmbus.CML_OTHER_COMM_FAULT)
        if code in self.stuck:
            return self.stuck[code]
        b, c, r = self.bank, self.chip, self.index
        l11 = lambda x: codec.linear11_encode(min(max(float(x), codec.LINEAR11_MIN), codec.LINEAR11_MAX))
        u16 = lambda v: codec.ulinear16_encode(v, self.vout_mode)
        vin = self.vin()
        readers = {
            pmbus.PAGE: lambda: self.index,
            pmbus.OPERATION: lambda: self.operation,
            pmbus.VOUT_MODE: lambda: self.vout_mode,
            pmbus.VOUT_COMMAND: lambda: u16(self.v_cmd),
            pmbus.VOUT_MARGIN_HIGH: lambda: u16(self.margin_v["high"]),
            pmbus.VOUT_MARGIN_LOW: lambda: u16(self.margin_v["low"]),
            pmbus.VOUT_OV_FAULT_LIMIT: lambda: u16(self.ov_fault_v),
            pmbus.VOUT_OV_WARN_LIMIT: lambda: u16(self.ov_warn_v),
            pmbus.VOUT_UV_WARN_LIMIT: lambda: u16(self.uv_warn_v),
            pmbus.VOUT_UV_FAULT_LIMIT: lambda: u16(self.uv_fault_v),
            pmbus.IOUT_OC_FAULT_LIMIT: lambda: l11(b.oc_fault[c, r]),
            pmbus.IOUT_OC_WARN_LIMIT: lambda: l11(b.oc_warn[c, r]),
            pmbus.OT_FAULT_LIMIT: lambda: l11(b.ot_fault[c, r]),
            pmbus.OT_WARN_LIMIT: lambda: l11(b.ot_warn[c, r]),
            pmbus.TON_DELAY: lambda: l11(self.ton_delay * 1e3),
            pmbus.TON_RISE: lambda: l11(self.ton_rise * 1e3),
            pmbus.TON_MAX_FAULT_LIMIT: lambda: l11(self.ton_max * 1e3),
            pmbus.TOFF_FALL: lambda: l11(self.toff_fall * 1e3),
            pmbus.STATUS_BYTE: lambda: self.status_word() & 0xFF,
            pmbus.STATUS_WORD: self.status_word,
            pmbus.STATUS_VOUT: lambda: self.status_vout,
            pmbus.STATUS_IOUT: lambda: self.status_iout,
            pmbus.STATUS_INPUT: lambda: self.status_input,
            pmbus.STATUS_TEMPERATURE: lambda: self.status_temp,
            pmbus.STATUS_CML: lambda: self.status_cml,
            pmbus.READ_VIN: lambda: l11(vin),
            pmbus.READ_IIN: lambda: l11(b.pout[c, r] / b.eff[c, r] / vin if vin > 0 else 0.0),
            pmbus.READ_VOUT: lambda: u16(b.vout[c, r]),
            pmbus.READ_IOUT: lambda: l11(b.iout[c, r]),
            pmbus.READ_TEMPERATURE_1: lambda: l11(b.temp[c, r]),
            pmbus.READ_POUT: lambda: l11(b.pout[c, r]),
        }
        reader = readers.get(code)
        if reader is None:
            self._nack(f"unsupported command 0x{code:02X}", pmbus.CML_INVALID_COMMAND)
        return int(reader())

    def write(self, t: float, code: int, value: int | None = None) -> None:
        """A PMBus write (send-byte for CLEAR_FAULTS, whose value is ignored)."""
        if self.nack:
            self._nack("no acknowledge (bus fault)", pmbus.CML_OTHER_COMM_FAULT)
        b, c, r = self.bank, self.chip, self.index
        if code == pmbus.CLEAR_FAULTS:
            self.clear_faults()
            return
        if value is None or not 0 <= int(value) <= 0xFFFF:
            self._nack(f"write of 0x{code:02X} needs a 16-bit value, got {value!r}",
                       pmbus.CML_INVALID_DATA)
        value = int(value)
        vdec = lambda: codec.ulinear16_decode(value, self.vout_mode)
        ldec = lambda: codec.linear11_decode(value)
        if code == pmbus.OPERATION:
            self._operation(t, value)
        elif code == pmbus.VOUT_COMMAND:
            self.set_vout(t, vdec())
        elif code in (pmbus.VOUT_MARGIN_HIGH, pmbus.VOUT_MARGIN_LOW):
            self.margin_v["high" if code == pmbus.VOUT_MARGIN_HIGH else "low"] = vdec()
        elif code in (pmbus.VOUT_OV_FAULT_LIMIT, pmbus.VOUT_UV_FAULT_LIMIT,
                      pmbus.VOUT_OV_WARN_LIMIT, pmbus.VOUT_UV_WARN_LIMIT):
            name = {pmbus.VOUT_OV_FAULT_LIMIT: "ov_fault_v", pmbus.VOUT_UV_FAULT_LIMIT: "uv_fault_v",
                    pmbus.VOUT_OV_WARN_LIMIT: "ov_warn_v", pmbus.VOUT_UV_WARN_LIMIT: "uv_warn_v"}[code]
            setattr(self, name, vdec())
            self._absolute_limits.add(name)
            self.check_vout(t)
        elif code == pmbus.IOUT_OC_FAULT_LIMIT:
            b.oc_fault[c, r] = ldec()
        elif code == pmbus.IOUT_OC_WARN_LIMIT:
            b.oc_warn[c, r] = ldec()
        elif code == pmbus.OT_FAULT_LIMIT:
            b.ot_fault[c, r] = ldec()
        elif code == pmbus.OT_WARN_LIMIT:
            b.ot_warn[c, r] = ldec()
        elif code in (pmbus.TON_DELAY, pmbus.TON_RISE, pmbus.TON_MAX_FAULT_LIMIT, pmbus.TOFF_FALL):
            ms = ldec()
            if ms < 0 or (code == pmbus.TON_RISE and ms <= 0):
                self._nack(f"0x{code:02X}: {ms} ms is out of range", pmbus.CML_INVALID_DATA)
            attr = {pmbus.TON_DELAY: "ton_delay", pmbus.TON_RISE: "ton_rise",
                    pmbus.TON_MAX_FAULT_LIMIT: "ton_max", pmbus.TOFF_FALL: "toff_fall"}[code]
            setattr(self, attr, ms * 1e-3)
        elif code == pmbus.PAGE:
            if value != self.index:
                self._nack(f"PAGE {value} does not exist here", pmbus.CML_INVALID_DATA)
        else:
            self._nack(f"command 0x{code:02X} is not writable", pmbus.CML_INVALID_COMMAND)
        b.limits_changed()

    def _operation(self, t: float, value: int) -> None:
        """OPERATION: bits 7:6 on/soft-off/immediate-off, bits 5:4 margin none/low/high."""
        margin = (value >> 4) & 0x3
        target = {1: self.margin_v["low"], 2: self.margin_v["high"]}.get(margin, None)
        if value & 0x80:
            if target is not None:
                self.bank.v_set[self.chip, self.index] = target * self.bank.v_factor[self.chip, self.index]
                self.check_vout(t)
            else:
                self.bank.v_set[self.chip, self.index] = (
                    self.v_cmd * self.bank.v_factor[self.chip, self.index])
            self.enable(t)
            self.operation = value
        else:
            self.disable(t, immediate=not value & 0x40)
            self.operation = value
