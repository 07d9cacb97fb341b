"""Keysight E36312A triple-output bench supply (E36300 Series SCPI), over LAN, USB or GPIB.

    psu:
      driver: keysight.e36312a
      resource: TCPIP::192.168.1.20::5025::SOCKET
      options: {timeout: 2 s, ocp: true, ocp_delay: 50 ms}
      guardrails:
        - {channel: 1, voltage: {max: 13 V}, current_limit: {max: 45 A}}

Commands used (E36300 Series Programming Guide), every one addressed by channel list so that no
hidden "selected output" state matters: `VOLT v,(@n)`, `CURR i,(@n)`, `VOLT:PROT v,(@n)`,
`CURR:PROT:STAT ON,(@n)`, `CURR:PROT:DEL t,(@n)`, `OUTP ON|OFF,(@list)`, `OUTP? (@list)`,
`OUTP:PROT:CLE (@list)`, `VOLT:PROT? (@list)` and `CURR:PROT:STAT? (@list)` (read back before
an output goes on), `VOLT:PROT:TRIP? (@n)`, `CURR:PROT:TRIP? (@n)`, `MEAS:VOLT? (@n)`,
`MEAS:CURR? (@n)`, and at open `VOLT? MAX`, `CURR? MAX`, `VOLT:PROT? MAX` for every output.

The supply's own protection backs up the station's guardrails: `set` programs the output's
over-voltage protection to the station's voltage guardrail for that channel (or, without one, to
`ovp_margin` above the new setpoint), and turns over-current protection on (option `ocp`), so a
short trips the output off in `ocp_delay` instead of holding it in current limit. A tripped
output stays off until `clear_protection`, as a latched fault must. Every value of a `set` is
checked before its one message is built (nothing of a set that cannot be programmed whole is
sent), and `output` reads the protection back before switching on, refusing when it is not what
was programmed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Annotated, Any

import annotated_types
from pydantic import Field

from bringup.drivers.base import DriverError, Param, action, reading
from bringup.drivers.options import Duration, Fraction

from bringup.drivers.scpi import ScpiDriver
from bringup.drivers.table import commanded, measured

CHANNEL = Param(int, choices=(1, 2, 3), help="output: 1 (6 V, 5 A), 2 or 3 (25 V, 1 A)")
CHANNELS = Param(int, choices=(0, 1, 2, 3), default=0, help="output, or 0 for all three")
OUTPUT = Param(int, choices=(1, 2, 3), default=1, help="output")


def _channels(channel: int) -> list[int]:
    return [1, 2, 3] if channel == 0 else [channel]


def _chanlist(channel: int) -> str:
    return "(@1:3)" if channel == 0 else f"(@{channel})"


@dataclass(frozen=True)
class OutputRating:
    volts: float
    amps: float
    ovp_max: float


class KeysightE36312A(ScpiDriver):
    """Keysight E36312A triple-output bench power supply (E36300 Series SCPI)."""

    kind = "power_supply"
    class Options(ScpiDriver.Options):
        ocp: bool = Field(True, description="trip the output off when it sits in current limit for ocp_delay")
        # the E36300 accepts 0 to 0.255 s
        ocp_delay: Annotated[Duration, annotated_types.Interval(ge=0, le=0.255)] = Field(
            0.05, description="how long in current limit before OCP trips")
        ovp_margin: Annotated[Fraction, annotated_types.Ge(0)] = Field(
            0.10, description="OVP above the setpoint when the station has no voltage guardrail")

    def __init__(self, **kw: Any) -> None:
        super().__init__(**kw)
        self.ratings: dict[int, OutputRating] = {}
        self._ovp: dict[int, float] = {}
        self._ocp_armed: set[int] = set()

    def on_open(self) -> None:
        super().on_open()
        # one message, one round trip: the ratings and the present OVP levels of all three outputs
        values = self.numbers("VOLT? MAX,(@1:3);:CURR? MAX,(@1:3);:VOLT:PROT? MAX,(@1:3);:VOLT:PROT? (@1:3)")
        if len(values) != 12:
            raise DriverError(f"{self.role}: expected 12 values from the rating query, got {len(values)}; "
                              "is this an E36312A?")
        self.ratings = {ch: OutputRating(values[ch - 1], values[ch + 2], values[ch + 5]) for ch in (1, 2, 3)}
        self._ovp = {ch: values[ch + 8] for ch in (1, 2, 3)}
        self._ocp_armed.clear()

    # -- actions --------------------------------------------------------------------------------------
    @action(channel=CHANNEL, voltage=Param("V", low=0, help="output voltage (at most the output's rating)"),
            current_limit=Param("A", low=0, help="current limit (at most the output's rating)"))
    def set(self, channel: int, voltage: float, current_limit: float) -> None:
        """Program an output's voltage and current limit, with its OVP and OCP (the output state is unchanged)."""
        self._ensure_open()
        r = self.ratings[channel]
        # every value of the message is checked before any is sent: the supply applies each command
        # of a combined message on its own, so a refused `VOLT:PROT nan` would leave its `VOLT 20` set
        if not (0 <= voltage <= r.volts and 0 <= current_limit <= r.amps):
            raise DriverError(f"{self.role}.set: output {channel} is rated {r.volts:g} V, {r.amps:g} A; "
                              f"{voltage:g} V, {current_limit:g} A refused before anything was sent")
        ovp = self._ovp_level(channel, voltage)
        if not voltage <= ovp <= r.ovp_max:  # false for a NaN level too
            raise DriverError(f"{self.role}.set: output {channel}'s over-voltage protection cannot be programmed "
                              f"to {ovp:g} V (from {voltage:g} V to {r.ovp_max:g} V); refused before anything was sent")
        at = f"(@{channel})"
        volt = [f"VOLT:PROT {ovp:.6g},{at}", f"VOLT {voltage:.6g},{at}"]
        if ovp < self._ovp.get(channel, math.inf):
            volt.reverse()  # lower the output before the protection that would otherwise trip on it
        cmds = volt + [f"CURR {current_limit:.6g},{at}"]
        if self.options.ocp and channel not in self._ocp_armed:
            delay = self.options.ocp_delay
            cmds += [f"CURR:PROT:DEL {delay:.6g},{at}", f"CURR:PROT:STAT ON,{at}"]
        # until the supply takes the whole message, this output's protection is not known: output()
        # will not switch it on
        self._ovp.pop(channel, None)
        self._ocp_armed.discard(channel)
        self.write(";:".join(cmds))
        self._ovp[channel] = ovp
        if self.options.ocp:
            self._ocp_armed.add(channel)

    @action(state=Param(type=bool, help="on or off"), channel=CHANNELS)
    def output(self, state: bool, channel: int = 0) -> None:
        """Switch an output (or all three) on or off. Turning on checks that it did: a latched
        protection keeps an output off, and that is reported, not hidden."""
        at = _chanlist(channel)
        if state:
            self._check_protection(channel)
        self.write(f"OUTP {'ON' if state else 'OFF'},{at}")
        if state:
            states = self.query(f"OUTP? {at}").split(",")
            off = [ch for ch, s in zip(_channels(channel), states) if s.strip() != "1"]
            if off:
                why = "; ".join(f"output {ch}: {self._trip_reason(ch)}" for ch in off)
                raise DriverError(f"{self.role}.output: did not turn on ({why})")

    clear_protection = commanded("OUTP:PROT:CLE {channel}", channel=CHANNELS, fmt={"channel": _chanlist},
                                 help="Re-arm a tripped over-voltage or over-current protection "
                                      "(the output returns to its programmed state).")

    # -- readings -------------------------------------------------------------------------------------
    voltage = measured("MEAS:VOLT? (@{channel})", "V", channel=OUTPUT, help="Measured output voltage (`MEAS:VOLT?`).")
    current = measured("MEAS:CURR? (@{channel})", "A", channel=OUTPUT, help="Measured output current (`MEAS:CURR?`).")

    @reading("", channel=OUTPUT)
    def protection_tripped(self, channel: int = 1) -> float:
        """0 if the output's protection is armed and untripped; 1 over-voltage, 2 over-current, 3 both."""
        ov, oc = self.numbers(f"VOLT:PROT:TRIP? (@{channel});:CURR:PROT:TRIP? (@{channel})")
        return float((1 if ov else 0) | (2 if oc else 0))

    # -- helpers --------------------------------------------------------------------------------------
    def _ensure_open(self) -> None:
        if not self.ratings:
            self.open()

    def _ovp_level(self, channel: int, voltage: float) -> float:
        r = self.ratings[channel]
        caps = [g.high for g in self.guardrails
                if g.param == "voltage" and g.high is not None and g.applies({"channel": channel})]
        level = min(caps) if caps else voltage * (1 + self.options.ovp_margin)
        return min(max(level, voltage, 1.0), r.ovp_max)

    def _check_protection(self, channel: int) -> None:
        """Read the protection back before an output goes on, and refuse (sending nothing more) if it
        is not what this driver programmed: a refused or clamped write, a front-panel change, a
        message the error queue was not checked after (`check_errors: false`)."""
        self._ensure_open()
        chans = _channels(channel)
        at = _chanlist(channel)
        values = self.numbers(f"VOLT:PROT? {at};:CURR:PROT:STAT? {at}")
        if len(values) != 2 * len(chans):
            raise self.garbled(f"VOLT:PROT? {at};:CURR:PROT:STAT? {at}", ",".join(map(str, values)),
                               f"expected {2 * len(chans)} values")
        wrong = []
        for ch, ovp, ocp in zip(chans, values, values[len(chans):]):
            want = self._ovp.get(ch)
            if want is None:
                wrong.append(f"output {ch}: its last set was not taken whole, so its protection is not known")
            elif not abs(ovp - want) <= max(0.01, 1e-3 * want):
                wrong.append(f"output {ch}: over-voltage protection reads {ovp:g} V, not the {want:g} V programmed")
            elif ch in self._ocp_armed and ocp != 1:
                wrong.append(f"output {ch}: over-current protection reads off, but was armed")
        if wrong:
            raise DriverError(f"{self.role}.output: not switched on ({'; '.join(wrong)}); "
                              "set the output again, then switch it on")

    def _trip_reason(self, channel: int) -> str:
        tripped = int(self.protection_tripped(channel))
        return {1: "over-voltage protection tripped", 2: "over-current protection tripped",
                3: "over-voltage and over-current protection tripped"}.get(
            tripped, "still off") + ("; clear_protection re-arms it" if tripped else "")

