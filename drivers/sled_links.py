"""PCIe and chip-to-chip mesh links: state, speed and width, counters, margins, PRBS BER, retraining.

BER with confidence (PHYSICS.md §5): after `errors` in `bits`, the upper bound at confidence CL is
chi2(CL, 2(E+1)) / (2N), computed here from the checker's raw counts at whatever confidence the
procedure asks for. A checker that did not lock measured nothing: its bound is 1.0, which fails
every limit (the link is broken, not unknown).
"""

from __future__ import annotations

from bringup.drivers.base import DriverError, Param, action, reading

from bringup.drivers.sled_console_base import ECC_FIELD, SledConsoleBase
from bringup.drivers.sled_power import CHIP
from bringup.drivers.table import flag, measured

PORT = Param(int, low=0, high=15, help="mesh port")
LANE = Param(int, default=-1, low=-1, high=63, help="lane, or -1 for the worst lane")
PATTERNS = ("PRBS7", "PRBS15", "PRBS23", "PRBS31")
AXES = {"timing": ("timing_pct_ui", "%"), "voltage": ("voltage_mv", "mV")}


def ber_upper_bound(bits: float, errors: int, confidence: float) -> float:
    """Upper bound of a BER at `confidence` (0..1) after `errors` in `bits`; 1.0 when nothing was checked."""
    from scipy.special import gammaincinv  # chi2.ppf(CL, 2(E+1)) / 2 is gammaincinv(E+1, CL)

    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be between 0 and 1, not {confidence}")
    if bits <= 0:
        return 1.0
    return min(1.0, float(gammaincinv(errors + 1, confidence)) / bits)


class LinkReadings(SledConsoleBase):
    """PCIe endpoint and mesh ports."""

    # -- PCIe ------------------------------------------------------------------------------------------
    def _pcie(self, chip: int) -> dict[str, str]:
        return self._row(f"pcie status {chip}")

    pcie_link_up = measured("pcie status {chip}", field="up", then=flag, chip=CHIP,
                            help="1 when the PCIe link is up (LTSSM in L0), else 0.")
    pcie_speed = measured("pcie status {chip}", "GT/s", field="speed_gts", chip=CHIP,
                          help="Negotiated PCIe speed (0 when the link is down).")
    pcie_width = measured("pcie status {chip}", field="width", chip=CHIP,
                          help="Negotiated PCIe width in lanes (x16 training as x8 means dead lanes).")
    pcie_capable_speed = measured("pcie status {chip}", "GT/s", field="capable_gts", chip=CHIP,
                                  help="The fastest speed both ends support: compare with `pcie_speed`.")
    pcie_capable_width = measured("pcie status {chip}", field="capable_width", chip=CHIP,
                                  help="The widest link both ends support: compare with `pcie_width`.")
    pcie_aer = measured("pcie status {chip}", field="aer_{kind}", fmt={"kind": ECC_FIELD}, chip=CHIP,
                        kind=Param(type=str, choices=("correctable", "uncorrectable"), default="correctable"),
                        help="AER error count of the endpoint.")
    pcie_link_downs = measured("pcie status {chip}", field="link_down", chip=CHIP,
                               help="How many times the link went down since training (a flapping link keeps counting).")

    def _worst_margin(self, command: str, axis: str) -> float:
        key, _ = AXES[axis]
        rows = self._rows(command)
        if not rows:
            raise DriverError(f"{self.role}: no lanes in the reply to {command!r}")
        return min(self._num(r, key, command) for r in rows)

    @reading("%", chip=CHIP, lane=LANE)
    def pcie_margin_timing(self, chip: int = 0, lane: int = -1) -> float:
        """Eye width of a lane (or the narrowest lane) in % of a UI; 30 % is the usual pass."""
        return self._worst_margin(f"pcie margin {chip}" + ("" if lane < 0 else f" {lane}"), "timing")

    @reading("mV", chip=CHIP, lane=LANE)
    def pcie_margin_voltage(self, chip: int = 0, lane: int = -1) -> float:
        """Eye height of a lane (or the lowest lane)."""
        return self._worst_margin(f"pcie margin {chip}" + ("" if lane < 0 else f" {lane}"), "voltage")

    @action(chip=CHIP)
    def pcie_retrain(self, chip: int = 0) -> None:
        """Retrain the PCIe link and wait for L0 (option `retrain_timeout`). Not repeated blindly."""
        self._do(f"pcie retrain {chip}", idempotent=False)

        def trained() -> str | None:
            row = self._pcie(chip)
            return None if row.get("ltssm") == "L0" and row.get("up") == "1" else f"LTSSM {row.get('ltssm')}"
        self._wait_for(f"chip{chip} PCIe did not return to L0", self.options.retrain_timeout, trained)

    # -- mesh ------------------------------------------------------------------------------------------
    def _mesh(self, chip: int, port: int) -> dict[str, str]:
        return self._row(f"mesh status {chip} {port}")

    mesh_port_up = measured("mesh status {chip} {port}", field="up", then=flag, port=PORT, chip=CHIP,
                            help="1 when a mesh port is up, else 0.")
    mesh_lanes_up = measured("mesh status {chip} {port}", field="lanes_up", port=PORT, chip=CHIP,
                             help="How many lanes of a mesh port carry traffic.")
    mesh_fec = measured("mesh status {chip} {port}", field="fec_{kind}", port=PORT, chip=CHIP,
                        kind=Param(type=str, choices=("corrected", "uncorrectable"), default="uncorrectable"),
                        help="RS-FEC codeword counter of a port: corrected, or uncorrectable (which is data lost).")
    mesh_flaps = measured("mesh status {chip} {port}", field="flaps", port=PORT, chip=CHIP,
                          help="How many times a port lost lock and retrained.")

    @reading("", port=PORT, chip=CHIP, lane=LANE)
    def mesh_pre_fec_ber(self, port: int, chip: int = 0, lane: int = -1) -> float:
        """Raw BER before FEC of a lane (or the worst lane)."""
        row = self._mesh(chip, port)
        try:
            values = [float(x) for x in row["pre_fec_ber"].split(",")]
        except (KeyError, ValueError):
            raise DriverError(f"{self.role}: no pre_fec_ber list in the reply to 'mesh status'") from None
        if lane >= len(values):
            raise DriverError(f"{self.role}: chip{chip} port {port} has lanes 0..{len(values) - 1}, not {lane}")
        return values[lane] if lane >= 0 else max(values)

    @reading("", port=PORT, pattern=Param(type=str, choices=PATTERNS, default="PRBS31"),
             confidence=Param("%", default=95.0, low=50, high=99.99), chip=CHIP, lane=LANE,
             duration=Param("s", default=30.0, low=0.001, high=86400,
                            help="checker run time: 30 s resolves 1e-12 at 95 % on a 106 Gb/s lane"))
    def prbs_ber(self, port: int, pattern: str = "PRBS31", confidence: float = 95.0, chip: int = 0,
                 lane: int = -1, duration: float = 30.0) -> float:
        """Upper bound of a mesh lane's bit error rate at a confidence (worst lane of the port when lane is -1).
        Every lane's checker runs at once for `duration` (a BMC job: the interlocks keep reading
        meanwhile), so give the step a timeout longer than that.
        A checker that could not lock gives 1.0."""
        command = f"mesh prbs {chip} {port} {'all' if lane < 0 else lane} {pattern} {duration:g}"
        rows = self._job(command)
        if not rows:
            raise DriverError(f"{self.role}: no lanes in the reply to {command!r}")
        worst = 0.0
        for r in rows:
            if not self._flag(r, "locked", command):
                return 1.0
            bound = ber_upper_bound(self._num(r, "bits", command), int(self._num(r, "errors", command)),
                                    confidence / 100.0)
            worst = max(worst, bound)
        return worst

    @reading("%", port=PORT, chip=CHIP, lane=LANE)
    def mesh_margin_timing(self, port: int, chip: int = 0, lane: int = -1) -> float:
        """Eye width of a mesh lane (or the narrowest) in % of a UI, at the FEC threshold BER."""
        return self._worst_margin(f"mesh margin {chip} {port}" + ("" if lane < 0 else f" {lane}"), "timing")

    @reading("mV", port=PORT, chip=CHIP, lane=LANE)
    def mesh_margin_voltage(self, port: int, chip: int = 0, lane: int = -1) -> float:
        """Eye height of a mesh lane (or the lowest)."""
        return self._worst_margin(f"mesh margin {chip} {port}" + ("" if lane < 0 else f" {lane}"), "voltage")

    @action(port=PORT, chip=CHIP)
    def mesh_retrain(self, port: int, chip: int = 0) -> None:
        """Retrain a mesh port (re-adapt every lane) and wait until it is up. Not repeated blindly."""
        self._do(f"mesh retrain {chip} {port}", idempotent=False)

        def up() -> str | None:
            row = self._mesh(chip, port)
            return None if row.get("up") == "1" else f"port state {row.get('state')}"
        self._wait_for(f"chip{chip} mesh port {port} did not come back up", self.options.retrain_timeout, up)

    def lane_bers(self, port: int, chip: int = 0, pattern: str = "PRBS31", confidence: float = 0.95,
                  duration: float = 30.0) -> list[float]:
        """Every lane's BER bound of a port (1.0 for a lane whose checker did not lock), for reports."""
        command = f"mesh prbs {chip} {port} all {pattern} {duration:g}"
        return [ber_upper_bound(self._num(r, "bits", command), int(self._num(r, "errors", command)), confidence)
                if self._flag(r, "locked", command) else 1.0 for r in self._job(command)]

