"""Keysight N5700 Series system DC power supply: one output, 750 W or 1500 W, 6 V to 600 V (the
sled bench's bulk 12 V: an N5763A, 12.5 V 120 A), over LAN, USB or GPIB.

    bulk:
      driver: keysight.n5700
      resource: TCPIP::192.168.1.22::5025::SOCKET
      options: {ocp: true}
      guardrails:
        - {voltage: {max: 12.6 V}, current_limit: {max: 110 A}}

Commands used (N5700 User's Guide, language reference): `VOLT v`, `CURR i`, `VOLT:PROT v`,
`CURR:PROT:STAT ON`, `VOLT:PROT?;:CURR:PROT:STAT?` (read back before the output goes on),
`OUTP ON|OFF`, `OUTP?`, `OUTP:PROT:CLE`, `MEAS:VOLT?`, `MEAS:CURR?`, `STAT:QUES:COND?` (bit 0
over-voltage, bit 1 over-current), and at open `VOLT? MAX`, `CURR? MAX`, `VOLT:PROT? MIN`,
`VOLT:PROT? MAX`, `VOLT:PROT?`, which tell the model's rating.

As on the E36312A, the supply's own protection backs up the station's guardrails: `set` programs
the over-voltage protection to the station's voltage guardrail (or `ovp_margin` above the
setpoint) and arms over-current protection (option `ocp`: the output trips off instead of
holding in current limit). The N5700 keeps its OVP at least 5 % above the programmed voltage and
refuses either write that would break that rule, so the OVP is never set closer than 5 % (nor
below the model's lowest OVP), and the two writes are ordered so that the rule holds between them.
"""

from __future__ import annotations

import math
from typing import Annotated, Any

import annotated_types
from pydantic import Field

from bringup.drivers.base import DriverError, Param, action
from bringup.drivers.options import Fraction

from bringup.drivers.scpi import ScpiDriver
from bringup.drivers.table import commanded, measured

#: the N5700 refuses an OVP level below this multiple of the programmed voltage (User's Guide)
OVP_HEADROOM = 1.05
QUES_OV, QUES_OC = 1, 2  # STATus:QUEStionable bits


class KeysightN5700(ScpiDriver):
    """Keysight N5700 Series single-output system DC power supply (N5741A ... N5772A)."""

    kind = "power_supply"

    class Options(ScpiDriver.Options):
        ocp: bool = Field(True, description="trip the output off when it reaches its current limit")
        ovp_margin: Annotated[Fraction, annotated_types.Ge(0)] = Field(
            0.10, description="OVP above the setpoint when the station has no voltage guardrail")

    def __init__(self, **kw: Any) -> None:
        super().__init__(**kw)
        self.rating: tuple[float, float, float] | None = None  # volts, amps, highest OVP
        self._ovp_min = 0.0
        self._ovp = 0.0
        self._ocp_armed = False

    def on_open(self) -> None:
        super().on_open()
        values = self.numbers("VOLT? MAX;:CURR? MAX;:VOLT:PROT? MIN;:VOLT:PROT? MAX;:VOLT:PROT?")
        if len(values) != 5:
            raise DriverError(f"{self.role}: expected 5 values from the rating query, got {len(values)}; "
                              "is this an N5700?")
        self.rating = (values[0], values[1], values[3])
        self._ovp_min, self._ovp = values[2], values[4]
        self._ocp_armed = False

    # -- actions --------------------------------------------------------------------------------------
    @action(voltage=Param("V", low=0, help="output voltage (at most the model's rating)"),
            current_limit=Param("A", low=0, help="current limit (at most the model's rating)"))
    def set(self, voltage: float, current_limit: float) -> None:
        """Program the output's voltage and current limit, with its OVP and OCP (the output state is unchanged)."""
        if self.rating is None:
            self.open()
        volts, amps, ovp_max = self.rating  # type: ignore[misc]
        # every value of the message is checked before any is sent: the supply applies each command
        # of a combined message on its own, so a refused `VOLT:PROT` would leave its `VOLT` set
        if not (0 <= voltage <= volts and 0 <= current_limit <= amps):
            raise DriverError(f"{self.role}.set: the supply is rated {volts:g} V, {amps:g} A; "
                              f"{voltage:g} V, {current_limit:g} A refused before anything was sent")
        ovp = self._ovp_level(voltage)
        if voltage * OVP_HEADROOM > ovp_max * (1 + 1e-9):
            raise DriverError(f"{self.role}.set: {voltage:g} V leaves no room for the supply's OVP "
                              f"(at most {ovp_max:g} V, 5 % above the output); refused before anything was sent")
        if not self._ovp_min <= ovp <= ovp_max * (1 + 1e-9):  # false for a NaN level too
            raise DriverError(f"{self.role}.set: the over-voltage protection cannot be programmed to {ovp:g} V "
                              f"({self._ovp_min:g} V to {ovp_max:g} V); refused before anything was sent")
        # raising: the protection first, so the output never meets the old one; lowering: the output first
        volt = [f"VOLT:PROT {ovp:.6g}", f"VOLT {voltage:.6g}"]
        if ovp < self._ovp:
            volt.reverse()
        cmds = volt + [f"CURR {current_limit:.6g}"]
        if self.options.ocp and not self._ocp_armed:
            cmds.append("CURR:PROT:STAT ON")
        armed = self._ocp_armed
        # until the supply takes the whole message, the protection is not known: output() will not switch on
        self._ovp, self._ocp_armed = math.nan, False
        self.write(";:".join(cmds))
        self._ovp = ovp
        self._ocp_armed = armed or bool(self.options.ocp)

    @action(state=Param(type=bool, help="on or off"))
    def output(self, state: bool) -> None:
        """Switch the output on or off. Turning on checks that it did: a latched protection keeps
        the output off, and that is reported, not hidden. Before switching on, the protection is read
        back: an OVP or OCP other than the one programmed refuses the switch, and nothing is sent."""
        if state:
            self._check_protection()
        self.write(f"OUTP {'ON' if state else 'OFF'}")
        if state and self.query("OUTP?").strip() != "1":
            tripped = int(self.protection_tripped())
            why = {1: "over-voltage protection tripped", 2: "over-current protection tripped",
                   3: "over-voltage and over-current protection tripped"}.get(tripped, "still off")
            raise DriverError(f"{self.role}.output: did not turn on ({why}"
                              f"{'; clear_protection re-arms it' if tripped else ''})")

    clear_protection = commanded("OUTP:PROT:CLE", help="""
        Re-arm a tripped over-voltage or over-current protection (the output returns to its
        programmed state).""")

    # -- readings -------------------------------------------------------------------------------------
    voltage = measured("MEAS:VOLT?", "V", help="Measured output voltage (`MEAS:VOLT?`).")
    current = measured("MEAS:CURR?", "A", help="Measured output current (`MEAS:CURR?`).")
    protection_tripped = measured("STAT:QUES:COND?", then=lambda bits: float(int(bits) & (QUES_OV | QUES_OC)),
                                  help="0 if the protection is armed and untripped; 1 over-voltage, "
                                       "2 over-current, 3 both (`STAT:QUES:COND?`).")

    def _check_protection(self) -> None:
        if self.rating is None:
            self.open()
        ovp, ocp = (self.numbers("VOLT:PROT?;:CURR:PROT:STAT?") + [math.nan, math.nan])[:2]
        want = self._ovp
        if want != want:
            why = "the last set was not taken whole, so the protection is not known"
        elif not abs(ovp - want) <= max(0.01, 1e-3 * want):
            why = f"over-voltage protection reads {ovp:g} V, not the {want:g} V programmed"
        elif self._ocp_armed and ocp != 1:
            why = "over-current protection reads off, but was armed"
        else:
            return
        raise DriverError(f"{self.role}.output: not switched on ({why}); set the output again, then switch it on")

    def _ovp_level(self, voltage: float) -> float:
        caps = [g.high for g in self.guardrails if g.param == "voltage" and g.high is not None]
        level = min(caps) if caps else voltage * (1 + self.options.ovp_margin)
        return min(max(level, voltage * OVP_HEADROOM, self._ovp_min), self.rating[2])  # type: ignore[index]
