"""Keysight 34461A 6½-digit bench multimeter (Truevolt SCPI), over LAN or USB.

    dmm:
      driver: keysight.34461a
      resource: TCPIP::192.168.1.21::5025::SOCKET
      options: {nplc: 10}

Each reading is one query: `MEAS:VOLT:DC? <range>` (and CURR, RES), which configures the
function and range and triggers a reading in a single round trip. With option `nplc` set, the
driver configures the integration time first: `CONF:VOLT:DC <range>;:VOLT:DC:NPLC <n>;:READ?`,
still one message. The 10 A range needs the 10 A input terminals (`CURR:TERM 10`); the driver
switches them when a range above 3 A is asked for, and back below it.

An overload (the meter's +9.9E+37) is never a number: it raises a DriverError naming the range,
and the step records no value (UNKNOWN), never a pass.
"""

from __future__ import annotations

from typing import Annotated, Any

import annotated_types
from pydantic import Field

from bringup.drivers.base import DriverError, Param, reading

from bringup.drivers.scpi import ScpiDriver
from bringup.drivers.table import Measured, measured

OVERLOAD = 9.9e37


class Keysight34461A(ScpiDriver):
    """Keysight 34461A 6½-digit digital multimeter (Truevolt SCPI)."""

    kind = "multimeter"
    class Options(ScpiDriver.Options):
        nplc: Annotated[float, annotated_types.Interval(ge=0.02, le=100)] | None = Field(
            None, description="integration time in power-line cycles (0.02 to 100); null: the meter's default, 10")

    def __init__(self, **kw: Any) -> None:
        super().__init__(**kw)
        self._terminals: int | None = None

    def on_open(self) -> None:
        super().on_open()
        self._terminals = int(self.number("CURR:TERM?"))

    voltage_dc = measured("MEAS:VOLT:DC? {range:.6g}", "V", help="DC voltage on the given range (100 mV to 1000 V).",
                          range=Param("V", default=10.0, low=0.1, high=1000,
                                      help="the smallest range that holds it is used"))

    @reading("A", range=Param("A", default=1.0, low=1e-4, high=10, help="100 uA to 3 A; 10 A on the 10 A terminals"))
    def current_dc(self, range: float = 1.0) -> float:
        """DC current on the given range."""
        wanted = 10 if range > 3 else 3
        if self._terminals != wanted:
            self.write(f"CURR:TERM {wanted}")
            self._terminals = wanted
        return self._measure(f"MEAS:CURR:DC? {range:.6g}", range, "A")

    resistance = measured("MEAS:RES? {range:.6g}", "Ohm", help="Two-wire resistance on the given range.",
                          range=Param("Ohm", default=1e3, low=100, high=1e8, help="100 Ohm to 100 MOhm"))

    def table_value(self, row: Measured, command: str, args: dict[str, Any]) -> float:
        return self._measure(command, args["range"], row.unit or "")

    def _measure(self, command: str, rng: float, unit: str) -> float:
        """`MEAS:<function>? <range>`; with option `nplc`, the same as the manual's CONF and READ?
        halves with the integration time set between them, still one message."""
        nplc = self.options.nplc
        if nplc is not None:
            function = command[len("MEAS:"):command.index("?")]
            command = f"CONF:{function} {rng:.6g};:{function}:NPLC {float(nplc):.6g};:READ?"
        value = self.number(command)
        if abs(value) >= OVERLOAD:
            raise DriverError(f"{self.role}: overload on the {rng:g} {unit} range")
        return value
