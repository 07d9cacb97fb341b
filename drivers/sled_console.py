"""The sled board driver: the sled's management console over a serial line (docs/console.md).

    sled:
      driver: sled.console
      resource: /dev/ttyUSB0            # or /dev/pts/7 (the simulator), socket://ts1:7001, ASRL/dev/ttyS0::INSTR
      options: {baudrate: 115200, timeout: 1 s, retries: 3}

Everything the console offers is published as an action or a reading with units and help
(`bringup drivers` lists them). The same names and parameters as the in-memory `fake.sled`
(power_on, power_off, stress_start, stress_stop, rail_voltage, max_tj, prbs_ber, powered_state),
so a procedure written against one runs against the other.

On a noisy console the driver resynchronises on the prompt, verifies every reply's length and
CRC, retries reads, resolves lost replies to actions by asking the console rather than sending
them again, and records every retry in `retries` (and the `bringup.drivers.sled_console` log).
Missing or garbled output is never a value: after the retries the step gets an error (UNKNOWN).
"""

from __future__ import annotations

from bringup.drivers.sled_chip import ChipReadings
from bringup.drivers.sled_console_base import Retry, SledConsoleBase, port_of
from bringup.drivers.sled_cooling import CoolingReadings
from bringup.drivers.sled_fuses import FuseReadings
from bringup.drivers.sled_links import LinkReadings, ber_upper_bound
from bringup.drivers.sled_power import RAILS, PowerControl

__all__ = ["SledConsole", "Retry", "RAILS", "ber_upper_bound", "port_of"]


# `bringup drivers` lists the bases last to first: power, chips, fuses, cooling, links
class SledConsole(LinkReadings, CoolingReadings, FuseReadings, ChipReadings, PowerControl, SledConsoleBase):
    """An accelerator sled through its BMC's serial console."""

    kind = "sled"

    def telemetry(self) -> dict[str, tuple[float, str]]:
        """Per-chip temperatures, power, core voltage and current, throttle mask: one console round trip."""
        out: dict[str, tuple[float, str]] = {}
        for row in self._rows("sensors"):
            c = row.get("chip", "?")
            for key, (name, unit) in _TELEMETRY.items():
                if key in row:
                    out[f"sled.chip{c}.{name}"] = (self._num(row, key, "sensors"), unit)
        return out


_TELEMETRY = {
    "tj_c": ("tj", "degC"), "hbm_c": ("hbm_temp", "degC"), "power_w": ("power", "W"),
    "vdd_core_v": ("vdd_core", "V"), "idd_core_a": ("idd_core", "A"), "throttle": ("throttle", ""),
}
