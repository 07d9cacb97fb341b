"""What each chip's fuses say: its id, leakage (IDDQ) bin, speed bin and sorted Vmin (`fuses`).

Bring-up judges a part against its own fuses rather than a window wide enough for every part: a
low-leakage chip that now leaks three times its bin still idles inside any fixed window. The
IDDQ is the quiescent core current at the fused voltage and temperature; scale it to the
measured junction with the leakage temperature coefficient (`exp(beta * (Tj - iddq_temperature))`).
"""

from __future__ import annotations

from bringup.drivers.base import DriverError

from bringup.drivers.sled_console_base import SledConsoleBase
from bringup.drivers.sled_power import CHIP
from bringup.drivers.table import measured


class FuseReadings(SledConsoleBase):
    """The values burned into each chip at wafer sort, as the BMC reports them."""

    def fuses(self, chip: int = 0) -> dict[str, str]:
        """The chip's fuse record as the console sends it (`id` is text; the rest are numbers)."""
        row = self._row(f"fuses {chip}")
        if row.get("chip") != str(chip):
            raise DriverError(f"{self.role}: asked for chip{chip}'s fuses, the reply is for chip {row.get('chip')!r}")
        return row

    # one field of the chip's `fuses` record each; a record for another chip is an error (table_value)
    fused_iddq = measured("fuses {chip}", "A", field="iddq_a", chip=CHIP, help="""
        The chip's leakage bin: VDD_CORE quiescent current at `fused_iddq_voltage` and
        `fused_iddq_temperature`, measured at wafer sort (predicts its leakage within a few %).""")
    fused_iddq_voltage = measured("fuses {chip}", "V", field="iddq_v", chip=CHIP,
                                  help="The core voltage the fused IDDQ was measured at.")
    fused_iddq_temperature = measured("fuses {chip}", "degC", field="iddq_temp_c", chip=CHIP,
                                      help="The junction temperature the fused IDDQ was measured at.")
    fused_speed_bin = measured("fuses {chip}", "Hz", field="speed_bin_hz", chip=CHIP,
                               help="The speed bin the chip was sorted into (0: slower than every bin).")
    fused_vmin = measured("fuses {chip}", "V", field="vmin_v", chip=CHIP, help="""
        The Vmin wafer sort characterized at the nominal clock (`fuses` names the clock and temperature).""")
