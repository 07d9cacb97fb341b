"""LAUDA Integral XT process thermostat with the MID flow controller, over LAUDA's ASCII interface
protocol (Ethernet module LRZ 926 on TCP port 54321, or RS-232/485 through LRZ 913/914).

    cdu:
      driver: lauda.integral_xt
      resource: TCPIP::192.168.1.30::54321::SOCKET     # or ASRL/dev/ttyUSB0::INSTR
      options: {timeout: 1 s, address: null, mid_flow: true}
      guardrails:
        - {setpoint: {min: 15 degC, max: 45 degC}}

The protocol, from LAUDA's interface-module manuals: one command per line ending in CR LF; `OK`
answers a write, the value answers a read, `ERR_<n>` answers a refusal. Commands used:
`OUT_SP_00_<°C>` setpoint, `OUT_SP_09_<L/min>` and `OUT_MODE_05_1` flow control (MID),
`OUT_SP_04`/`OUT_SP_05` outflow limits TiH/TiL, `START`/`STOP`; `IN_PV_00` outflow
temperature, `IN_PV_03` external Pt100 (mounted in the return line), `IN_PV_07` flow,
`IN_PV_08` actuating signal (W, negative = cooling), `IN_PV_02` pump pressure (bar), `IN_SP_00`,
`IN_MODE_02` standby, `STATUS`, `TYPE`, `VERSION_R`.

The unit's own protection backs up the station's guardrails: at open the driver programs the
outflow limits TiH/TiL to the station's setpoint guardrail, so the thermostat itself refuses a
setpoint outside them.
"""

from __future__ import annotations

import math
from typing import Annotated, Any, ClassVar

import annotated_types
from pydantic import Field

from bringup.drivers.base import DriverError, Param, action

from bringup.drivers.scpi import VisaDriver
from bringup.drivers.table import Commanded, Measured, commanded, measured

ERRORS = {2: "wrong input", 3: "wrong command", 5: "syntax error in value", 6: "illegal value",
          8: "module not available", 30: "programmer: all segments occupied",
          31: "setpoint not possible: analogue setpoint input on", 32: "TiH <= TiL", 33: "no external sensor",
          34: "analogue value not available", 35: "automatic is selected",
          36: "no setpoint input possible: programmer running", 37: "programmer start not possible"}


class LaudaIntegralXT(VisaDriver):
    """LAUDA Integral XT process thermostat with MID flow control (LAUDA ASCII interface protocol)."""

    kind = "coolant"
    read_termination: ClassVar[str] = "\r\n"
    write_termination: ClassVar[str] = "\r\n"
    class Options(VisaDriver.Options):
        address: Annotated[int, annotated_types.Interval(ge=0, le=127)] | None = Field(
            None, description="RS-485 unit address 0..127 (commands become A015_...); null on LAN/RS-232")
        mid_flow: bool = Field(True, description="a MID flow controller is fitted: flow is controlled and read "
                                                 "in L/min")

    def __init__(self, **kw: Any) -> None:
        super().__init__(**kw)
        address = self.options.address
        self._prefix = f"A{address:03d}_" if address is not None else ""
        self._identity: str | None = None
        self._limits: tuple[int | None, int | None] | None = None  # TiH, TiL as programmed at open

    def on_open(self) -> None:
        kind = self._ask("TYPE")
        version = self._ask("VERSION_R")
        self._identity = f"LAUDA,Integral {kind},{self._prefix.rstrip('_') or '-'},{version}"
        self._program_limits()

    def identity(self) -> str:
        return self._identity or super().identity()

    # -- actions --------------------------------------------------------------------------------------
    @action(setpoint=Param("degC", low=-30, high=90, help="outflow (supply) temperature"),
            flow=Param("L/min", low=0, high=20, help="flow through the loop (MID flow controller)"))
    def start(self, setpoint: float, flow: float) -> None:
        """Set the supply temperature and flow, then leave standby and circulate (not before the
        outflow limits read back as programmed from the station's guardrail)."""
        self._check_limits()
        self.set_setpoint(setpoint)
        if self.options.mid_flow:
            self.set_flow(flow)
            self._command("OUT_MODE_05_1")
        self._command("START")

    stop = commanded("STOP", help="Enter standby: pump, heating and cooling off.")
    set_setpoint = commanded("OUT_SP_00_{setpoint:.2f}", help="Change the supply temperature setpoint while running.",
                             setpoint=Param("degC", low=-30, high=90, help="outflow (supply) temperature"))

    @action(flow=Param("L/min", low=0, high=20, help="flow through the loop"))
    def set_flow(self, flow: float) -> None:
        """Change the flow setpoint of the MID flow controller."""
        if not self.options.mid_flow:
            raise DriverError(f"{self.role}.set_flow: no MID flow controller (option mid_flow is off)")
        self._command(f"OUT_SP_09_{flow:.2f}")

    # -- readings: one query each, as the interface manual lists them ---------------------------------
    flow = measured("IN_PV_07", "L/min", help="Measured flow (MID flow controller, `IN_PV_07`).")
    supply_temperature = measured("IN_PV_00", "degC", help="Measured outflow (supply) temperature (`IN_PV_00`).")
    return_temperature = measured("IN_PV_03", "degC",
                                  help="Return-line temperature from the external Pt100 (`IN_PV_03`).")
    setpoint = measured("IN_SP_00", "degC", help="The setpoint the unit holds (`IN_SP_00`).")
    # the actuating signal is negative while cooling: turned, so that heat removed reads positive
    cooling_power = measured("IN_PV_08", "W", then=lambda w: -w,
                             help="Heat being removed: the controller's actuating signal (`IN_PV_08`), "
                                  "turned so cooling is positive.")
    pump_pressure = measured("IN_PV_02", help="Outflow pump pressure in bar (`IN_PV_02`).")
    running = measured("IN_MODE_02", then=lambda standby: 0.0 if standby else 1.0,
                       help="1 while circulating, 0 in standby (`IN_MODE_02`).")
    fault = measured("STATUS", then=lambda status: 1.0 if status < 0 else 0.0,
                     help="1 if the unit reports an error or alarm (`STATUS` is -1), else 0.")

    # -- protocol -------------------------------------------------------------------------------------
    def _ask(self, command: str) -> str:
        reply = self.query(self._prefix + command).strip()
        if self._prefix:
            if not reply.startswith(self._prefix):
                self._stale = True
                raise DriverError(f"{self.role}: reply to {command!r} is not from unit {self._prefix[:-1]}: {reply!r}")
            reply = reply[len(self._prefix):]
        if reply.startswith("ERR_"):
            code = reply[4:]
            meaning = ERRORS.get(int(code), "unknown error") if code.isdigit() else "unknown error"
            raise DriverError(f"{self.role}: the thermostat refused {command!r}: {reply} ({meaning})")
        return reply

    def _command(self, command: str) -> None:
        reply = self._ask(command)
        if reply != "OK":
            raise self.garbled(command, reply, "expected OK")

    def _value(self, command: str) -> float:
        reply = self._ask(command)
        try:
            return float(reply)
        except ValueError:
            raise self.garbled(command, reply) from None

    # the hooks of the table rows: every command goes through the unit address and its ERR_ check
    def table_value(self, row: Measured, command: str, args: dict[str, Any]) -> float:
        return self._value(command)

    def table_command(self, row: Commanded, command: str, args: dict[str, Any]) -> None:
        self._command(command)

    def _check_limits(self) -> None:
        """The outflow limits TiH/TiL read back before the unit circulates; refused if they are not
        what `_program_limits` wrote (a front-panel change, a refused write): START is not sent."""
        if self._limits is None:
            return
        read = (self._value("IN_SP_04"), self._value("IN_SP_05"))
        for name, want, got in zip(("TiH", "TiL"), self._limits, read):
            if want is not None and got != want:
                raise DriverError(f"{self.role}.start: outflow limit {name} reads {got:g} °C, not the {want} °C "
                                  "programmed from the station's setpoint guardrail; not started")

    def _program_limits(self) -> None:
        """TiH/TiL from the station's setpoint guardrail, in the order that never crosses them."""
        highs = [g.high for g in self.guardrails if g.param == "setpoint" and g.high is not None]
        lows = [g.low for g in self.guardrails if g.param == "setpoint" and g.low is not None]
        self._limits = None
        if not highs and not lows:
            return
        # guardrails are in SI (kelvin); the unit works in whole degrees Celsius, rounded inwards
        tih = math.floor(min(highs) - 273.15) if highs else None
        til = math.ceil(max(lows) - 273.15) if lows else None
        if tih is not None and til is not None and tih <= til:
            # the unit refuses TiH <= TiL (ERR_32) after taking the first write: refuse both, send neither
            raise DriverError(f"{self.role}: the setpoint guardrail rounds inwards to {til} °C .. {tih} °C, "
                              "which the thermostat cannot hold as outflow limits; nothing was programmed")
        self._limits = (tih, til)
        cur_tih, cur_til = self._value("IN_SP_04"), self._value("IN_SP_05")
        writes = []
        if tih is not None:
            writes.append(("OUT_SP_04", tih))
        if til is not None:
            writes.append(("OUT_SP_05", til))
        if tih is not None and til is not None and tih <= cur_til:
            writes.reverse()  # lower TiL first, or TiH would land under the old TiL
        elif tih is None and til is not None and til >= cur_tih:
            raise DriverError(f"{self.role}: setpoint guardrail min {til} °C is above the unit's TiH {cur_tih:g} °C")
        for name, value in writes:
            self._command(f"{name}_{value:d}")
