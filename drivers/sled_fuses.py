"""What each chip's fuses say: its id, leakage (IDDQ) bin, speed bin and sorted Vmin (`fuses`).

Bring-up judges a part against its own fuses rather than a window wide enough for every part: a
low-leakage chip that now leaks three times its bin still idles inside any fixed window. The
IDDQ is the quiescent core current at the fused voltage and temperature; scale it to the
measured junction with the leakage temperature coefficient (`exp(beta * (Tj - iddq_temperature))`).
"""

from __future__ import annotations

from bringup.driver import DriverError, reading

from .sled_console_base import SledConsoleBase
from .sled_power import CHIP


class FuseReadings(SledConsoleBase):
    """The values burned into each chip at wafer sort, as the BMC reports them."""

    def fuses(self, chip: int = 0) -> dict[str, str]:
        """The chip's fuse record as the console sends it (`id` is text; the rest are numbers)."""
        row = self._row(f"fuses {chip}")
        if row.get("chip") != str(chip):
            raise DriverError(f"{self.role}: asked for chip{chip}'s fuses, the reply is for chip {row.get('chip')!r}")
        return row

    def _fuse(self, chip: int, key: str) -> float:
        return self._num(self.fuses(chip), key, f"fuses {chip}")

    @reading("A", chip=CHIP)
    def fused_iddq(self, chip: int = 0) -> float:
        """The chip's leakage bin: VDD_CORE quiescent current at `fused_iddq_voltage` and
        `fused_iddq_temperature`, measured at wafer sort (predicts its leakage within a few %)."""
        return self._fuse(chip, "iddq_a")

    @reading("V", chip=CHIP)
    def fused_iddq_voltage(self, chip: int = 0) -> float:
        """The core voltage the fused IDDQ was measured at."""
        return self._fuse(chip, "iddq_v")

    @reading("degC", chip=CHIP)
    def fused_iddq_temperature(self, chip: int = 0) -> float:
        """The junction temperature the fused IDDQ was measured at."""
        return self._fuse(chip, "iddq_temp_c")

    @reading("Hz", chip=CHIP)
    def fused_speed_bin(self, chip: int = 0) -> float:
        """The speed bin the chip was sorted into (0: slower than every bin)."""
        return self._fuse(chip, "speed_bin_hz")

    @reading("V", chip=CHIP)
    def fused_vmin(self, chip: int = 0) -> float:
        """The Vmin wafer sort characterized at the nominal clock (`fuses` names the clock and temperature)."""
        return self._fuse(chip, "vmin_v")
