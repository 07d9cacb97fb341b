"""Each chip's sensors, clocks, boot, health, HBM, workload and settings, and the sled's event log."""

from __future__ import annotations

import math

from bringup.drivers.base import DriverError, Param, action, reading

from bringup.drivers.sled_console_base import ECC_FIELD, SledConsoleBase, chip_arg
from bringup.drivers.sled_power import CHIP, CHIP_OR_ALL
from bringup.drivers.table import commanded, flag, measured

SEVERITIES = ("info", "warning", "error", "critical")


class ChipReadings(SledConsoleBase):
    """Sensors, PLL/boot/health, HBM, stress and the core's voltage and clock."""

    # -- sensors: one field of a chip's `sensors` record each (shared by every chip in a tick) ----------
    tj = measured("sensors {chip}", "degC", field="tj_c", chip=CHIP,
                  help="Junction (hotspot) temperature of a chip; NaN from a failed sensor.")

    @reading("degC")
    def max_tj(self) -> float:
        """Hottest junction on the sled, in one console round trip. NaN if any chip's sensor reads NaN:
        a failed sensor must not hide behind its neighbours."""
        values = [self._num(r, "tj_c", "sensors") for r in self._rows("sensors")]
        if not values or any(math.isnan(v) for v in values):
            return math.nan
        return max(values)

    def why_max_tj(self) -> str:
        """What an interlock on `max_tj` says when it trips: the hottest chip (or the chips whose
        sensor reads NaN) and its throttle reasons, so the abort names the chip, not only a number."""
        rows = self._rows("sensors")
        nan = [f"chip{r.get('chip')} tj reads NaN" for r in rows if math.isnan(self._num(r, "tj_c", "sensors"))]
        if nan or not rows:
            return "; ".join(nan) or "no chip answered"
        hot = max(rows, key=lambda r: self._num(r, "tj_c", "sensors"))
        return (f"hottest chip{hot.get('chip')} tj {self._num(hot, 'tj_c', 'sensors'):.1f} degC, "
                f"throttle reasons {hot.get('throttle', '?')}")

    hbm_temperature = measured("sensors {chip}", "degC", field="hbm_c", chip=CHIP,
                               help="HBM temperature of a chip (hottest stack).")
    chip_power = measured("sensors {chip}", "W", field="power_w", chip=CHIP, help="Power a chip draws on all its rails.")
    core_frequency = measured("sensors {chip}", "Hz", field="freq_hz", chip=CHIP,
                              help="Effective core clock (after throttling).")
    core_voltage = measured("sensors {chip}", "V", field="vdd_core_v", chip=CHIP,
                            help="VDD_CORE at the die (after the load-line droop): what Vmin searches must read.")
    core_current = measured("sensors {chip}", "A", field="idd_core_a", chip=CHIP, help="VDD_CORE current.")
    throttle_reasons = measured("sensors {chip}", field="throttle", chip=CHIP, help="""
        Throttle-reason mask (NVML's bits: 0x4 SW power cap, 0x8 HW slowdown, 0x20 SW thermal,
        0x40 HW thermal, 0x80 HW power brake); 0 when running at full clock.""")
    sram_errors = measured("sensors {chip}", field="sram_{kind}", fmt={"kind": ECC_FIELD}, chip=CHIP,
                           kind=Param(type=str, choices=("correctable", "uncorrectable"), default="uncorrectable"),
                           help="On-die SRAM ECC errors counted since power-on.")
    golden_mismatches = measured("sensors {chip}", field="mismatches", chip=CHIP,
                                 help="Golden-result mismatches counted by the compare kernel since power-on.")

    # -- clocks, boot, health -----------------------------------------------------------------------
    pll_locked = measured("pll {chip}", field="locked", then=flag, chip=CHIP,
                          help="1 when the chip's PLL reports lock, else 0.")

    @reading("", chip=CHIP)
    def booted(self, chip: int = 0) -> float:
        """1 when the chip's firmware has booted (state ready), else 0."""
        return 1.0 if self._row(f"boot {chip}").get("state") == "ready" else 0.0

    @reading("", chip=CHIP)
    def health(self, chip: int = 0) -> float:
        """1 healthy, 0 unhealthy, NaN unknown: an unknown health never passes a limit."""
        state = self._row(f"health {chip}").get("health")
        return {"healthy": 1.0, "unhealthy": 0.0}.get(state, math.nan)

    # -- HBM ------------------------------------------------------------------------------------------
    @action(chip=CHIP)
    def hbm_train(self, chip: int = 0) -> None:
        """Train every HBM stack of a booted chip; fails naming the stacks that did not calibrate.
        Not repeated blindly: a retrain is a new training, not a retry."""
        rows = self._job(f"hbm train {chip}")
        failed = [f"stack {r.get('stack')}: {r.get('reason') or 'calibration failed'}" for r in rows
                  if r.get("passed") != "1"]
        if not rows or failed:
            raise DriverError(f"{self.role}.hbm_train: chip{chip} " + ("; ".join(failed) or "reported no stacks"))

    def _hbm(self, chip: int) -> list[dict[str, str]]:
        rows = self._rows(f"hbm status {chip}")
        if not rows:
            raise DriverError(f"{self.role}: chip{chip} reported no HBM stacks")
        return rows

    @reading("", chip=CHIP)
    def hbm_trained_stacks(self, chip: int = 0) -> float:
        """How many HBM stacks are trained."""
        return float(sum(self._flag(r, "trained", "hbm status") for r in self._hbm(chip)))

    @reading("GiB", chip=CHIP)
    def hbm_capacity(self, chip: int = 0) -> float:
        """Usable HBM capacity (a stack that failed training counts 0: 72 of 96 GiB)."""
        return sum(self._num(r, "capacity_gib", "hbm status") for r in self._hbm(chip))

    @reading("", chip=CHIP, kind=Param(type=str, choices=("correctable", "uncorrectable"), default="uncorrectable"))
    def hbm_ecc(self, chip: int = 0, kind: str = "uncorrectable") -> float:
        """HBM ECC errors over all stacks."""
        key = "ecc_ce" if kind == "correctable" else "ecc_ue"
        return sum(self._num(r, key, "hbm status") for r in self._hbm(chip))

    @reading("", chip=CHIP)
    def hbm_bist_failures(self, chip: int = 0) -> float:
        """Run the memory BIST on every stack; how many stacks failed (0 passes)."""
        rows = self._job(f"hbm bist {chip}")
        if not rows:
            raise DriverError(f"{self.role}: chip{chip} BIST reported no stacks")
        return float(sum(r.get("passed") != "1" for r in rows))

    # -- workload and settings ------------------------------------------------------------------------
    @action(level=Param("%", low=0, high=100, default=100.0, help="activity"),
            kind=Param(type=str, choices=("compute", "virus"), default="compute",
                       help="compute: a training-class workload; virus: worst-case activity"),
            chip=CHIP_OR_ALL)
    def stress_start(self, level: float = 100.0, kind: str = "compute", chip: int = -1) -> None:
        """Start the stress workload at a level of activity."""
        self._do(f"stress start {level:g} {kind}{self._chip_arg(chip)}", idempotent=False)

    stress_stop = commanded("stress stop{chip}", fmt={"chip": chip_arg}, chip=CHIP_OR_ALL, idempotent=True,
                            help="Stop the stress workload (safe to repeat).")

    @reading("%", chip=CHIP)
    def stress_level(self, chip: int = 0) -> float:
        """The stress level a chip runs at (0 when stopped)."""
        for row in self._rows("stress"):
            if row.get("chip") == str(chip):
                return self._num(row, "level_pct", "stress")
        raise DriverError(f"{self.role}: no chip{chip} in the reply to 'stress'")

    @reading("", chip=CHIP_OR_ALL, duration=Param("s", low=0.001, high=3600, default=1.0, help="how long to run it"))
    def stress_check(self, chip: int = -1, duration: float = 1.0) -> float:
        """Run the golden-result compare kernel; how many chips failed it (0 passes: limit {high: 0}).
        A chip that could not run it (not booted, hung) fails."""
        rows = self._job(f"stress check {'all' if chip < 0 else chip} {duration:g}")
        if not rows:
            raise DriverError(f"{self.role}: the golden compare reported no chips")
        return float(sum(r.get("passed") != "1" for r in rows))

    set_core_voltage = commanded("vcore {voltage:.6g}{chip}", fmt={"chip": chip_arg}, idempotent=True,
                                 voltage=Param("V", low=0.3, high=1.0, help="VDD_CORE setpoint"), chip=CHIP_OR_ALL,
                                 help="Set VDD_CORE (its OV/UV limits and power-good window follow the command).")
    set_core_frequency = commanded("freq {frequency:.9g}{chip}", fmt={"chip": chip_arg}, idempotent=True,
                                   frequency=Param("Hz", low=1e8, high=3e9, help="core clock"), chip=CHIP_OR_ALL,
                                   help="Set the core clock.")

    # -- the event log ---------------------------------------------------------------------------------
    def events(self, since: float = -math.inf) -> list[tuple[float, str, str]]:
        """The sled's event log from clock time `since`: (t, severity, text)."""
        rows = self._rows("log" if since == -math.inf else f"log {since!r}")
        return [(self._num(r, "t", "log"), r.get("severity", "?"), r.get("text", "")) for r in rows]

    @reading("", severity=Param(type=str, choices=SEVERITIES, default="error", help="at least this severe"),
             since=Param("s", default=0.0, low=0, help="from this clock time"))
    def event_count(self, severity: str = "error", since: float = 0.0) -> float:
        """How many events at or above `severity` the sled logged since `since`."""
        floor = SEVERITIES.index(severity)
        return float(sum(1 for _, sev, _ in self.events(since)
                         if sev in SEVERITIES and SEVERITIES.index(sev) >= floor))
