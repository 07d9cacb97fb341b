"""The sled's cooling as its BMC reports it (`coolant`): a liquid loop or fans, and the BMC's verdict.

A liquid sled has a CDU's loop (flow meter, inlet and outlet temperatures, leak sensor); an air
sled has fans with tachometers and draws in the air around it. `cooling_ok` is the BMC's own
judgement of either, so one interlock, `limit: {low: 1}`, guards both kinds of sled.
"""

from __future__ import annotations

import math

from bringup.drivers.base import DriverError, Param, reading

from bringup.drivers.sled_console_base import SledConsoleBase
from bringup.drivers.table import flag, measured

FAN = Param(int, default=0, low=0, high=15, help="fan on the sled (the simulated sled has one per chip)")


class CoolingReadings(SledConsoleBase):
    """Coolant flow and temperatures, the leak sensor, the fans, and the BMC's cooling health."""

    def _coolant_row(self) -> dict[str, str]:
        return self._row("coolant")

    coolant_flow = measured("coolant", "L/min", field="flow_lpm", help="""
        Coolant flow through the sled, from its flow meter (air-cooled: the fans' total airflow).
        Air is 28.3 L/min per CFM, and the total stays high when one fan stops: watch `cooling_ok`.""")
    coolant_inlet = measured("coolant", "degC", field="inlet_c",
                             help="Coolant temperature at the sled's inlet (air-cooled: the air the fans draw in).")
    coolant_outlet = measured("coolant", "degC", field="outlet_c",
                              help="Coolant temperature at the sled's outlet (air-cooled: the exhaust air).")
    leak = measured("coolant", field="leak", then=flag, help="1 when the leak sensor is asserted, else 0.")

    @reading("", fan=FAN)
    def fan_rpm(self, fan: int = 0) -> float:
        """A fan's speed in rpm (0: stopped, NaN: no tachometer reading); an error on a liquid sled.
        A plain number: the unit table has no rpm. A liquid-cooled sled has no fans, so asking for
        one is a procedure written for another sled, not a failed sensor: the error says so."""
        row = self._coolant_row()
        values = [v for v in row.get("fan_rpm", "").split(",") if v]
        if not values:
            cooling = row.get("cooling", "unknown")
            if cooling == "liquid":
                raise DriverError(f"{self.role}.fan_rpm: the sled is liquid-cooled and has no fans; "
                                  "watch cooling_ok or coolant_flow instead")
            raise DriverError(f"{self.role}.fan_rpm: the sled reports no fans (cooling: {cooling})")
        if fan >= len(values):
            raise DriverError(f"{self.role}.fan_rpm: no fan {fan}; the sled has fans 0..{len(values) - 1}")
        text = values[fan]
        if text == "-":
            return math.nan
        try:
            return float(text)
        except ValueError:
            raise DriverError(f"{self.role}: the reply to 'coolant' has no number for fan {fan} "
                              f"({text!r})") from None

    cooling_ok = measured("coolant", field="cooling_ok", then=flag, help="""
        1 when the BMC finds the sled's cooling delivering what it should, else 0 (limit: {low: 1}).
        Liquid: no leak and every chip's flow above the BMC's floor (half of nominal on the simulated
        sled). Air: every fan above the BMC's rpm floor. The one interlock for either kind of sled.""")
