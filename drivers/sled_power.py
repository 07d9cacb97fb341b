"""Power the sled on and off, and read its rails through PMBus, decoded by the driver itself.

Rail readings ask the console for raw PMBus words (`pmbus <chip> <RAIL> read <codes>`) and decode
them with `pmbus_codec`: READ_VOUT as ULINEAR16 under the rail's VOUT_MODE, currents, powers and
temperatures as LINEAR11. A word of 0xFFFF is a device with no sample: the reading is NaN, so a
gate on it says UNKNOWN, never PASS. A device that does not acknowledge is a DriverError (UNKNOWN).
"""

from __future__ import annotations

import math

from bringup.drivers.base import DriverError, Param, action, reading

from bringup.drivers import pmbus_codec as pm
from bringup.drivers.sled_console_base import SledConsoleBase
from bringup.drivers.table import measured

RAILS = ("VDD_CORE", "VDD_SRAM", "AVDD_PLL", "SERDES_AVDD", "SERDES_AVTT", "HBM_VPP", "HBM_VDD", "HBM_VDDQ", "VDDIO")
RAIL = Param(type=str, choices=RAILS, help="rail name")
RAIL_OR_ALL = Param(type=str, choices=RAILS + ("ALL",), default="ALL", help="rail name, or ALL")
CHIP = Param(int, default=0, low=0, high=15, help="chip on the sled")
CHIP_OR_ALL = Param(int, default=-1, low=-1, high=15, help="chip on the sled, or -1 for every chip")
_BOOT_FAILED = ("failed", "hung")


class PowerControl(SledConsoleBase):
    """Power sequencing, rails, PMBus and the sled's input."""

    # -- power ----------------------------------------------------------------------------------------
    @action(chip=CHIP_OR_ALL, boot=Param(bool, default=True, help="also wait until every chip has booted"))
    def power_on(self, chip: int = -1, boot: bool = True) -> None:
        """Sequence the rails on in order and wait until every chip has booted (option `boot_timeout`).

        With `boot: off` it waits only for the rails (the sequencer done, every rail power-good), so
        a procedure can check PLL lock and boot as a gate of their own. Fails, naming the chip, the
        rail and its PMBus status bits, if a sequence stops or a chip does not boot. Never re-sent
        blindly: a lost reply is resolved by asking the console.
        """
        self._do(f"power on{self._chip_arg(chip)}", idempotent=False)
        self._wait_up(chip, boot, "power_on", "the sled did not come up")

    @action(chip=CHIP_OR_ALL)
    def reset(self, chip: int = -1) -> None:
        """Warm-reset a chip (every chip with -1) and wait until it has booted again; the rails stay up.

        What clears a hung core, as a bench does after a failing characterization point: put the
        chip back at its nominal voltage and clock first, or it hangs again as soon as it boots.
        Fails, naming the chip, if a chip is not powered or does not boot (option `boot_timeout`).
        """
        self._do(f"reset{self._chip_arg(chip)}", idempotent=False)
        self._wait_up(chip, True, "reset", "the chip did not boot again after its reset")

    def _wait_up(self, chip: int, boot: bool, what: str, timeout_text: str) -> None:
        seen_off: set[int] = set()

        def up() -> str | None:
            waiting, failed = [], []
            for row in self._rows(f"power{self._chip_arg(chip)}"):
                c = int(self._num(row, "chip", "power"))
                state, boot_state = row.get("state", "?"), row.get("boot", "?")
                # off once may be a BMC that has not started the sequence yet; off twice is a trip
                if state == "failed" or (boot and boot_state in _BOOT_FAILED) or (state == "off" and c in seen_off):
                    failed.append(c)
                elif not (state == "on" and (boot_state == "ready" or not boot)):
                    if state == "off":
                        seen_off.add(c)
                    waiting.append(f"chip{c} sequencer {state}, boot {boot_state}")
            if failed:
                raise DriverError(f"{self.role}.{what}: " + "; ".join(self._why_down(c) for c in failed))
            return "; ".join(waiting) or None

        self._wait_for(timeout_text, self.options.boot_timeout, up)

    @action(chip=CHIP_OR_ALL, idempotent=True)
    def power_off(self, chip: int = -1) -> None:
        """Sequence the rails off in reverse order (stress stops first) and wait until they are off.

        Safe to repeat, so it is retried like a reading: it is the safe state's own step.
        """
        self._do(f"power off{self._chip_arg(chip)}", idempotent=True)

        def off() -> str | None:
            on = [f"chip{r.get('chip')} {r.get('state')} ({r.get('enabled')} rails enabled)"
                  for r in self._rows(f"power{self._chip_arg(chip)}") if r.get("state") != "off"]
            return "; ".join(on) or None

        self._wait_for("rails still on", self.options.power_off_timeout, off)

    @reading("")
    def powered_state(self) -> float:
        """1 when every chip's rails are all up and good, else 0. The sequencer's state alone is not
        enough: a rail that shorts, drifts out of its PG window or latches off on OV while the chip
        is up leaves the sequencer "on" with one rail down."""
        rows = self._rows("power")
        return 1.0 if rows and all(self._all_up(r) for r in rows) else 0.0

    @staticmethod
    def _all_up(row: dict[str, str]) -> bool:
        return row.get("state") == "on" and row.get("pg") == row.get("rails")

    def why_powered_state(self) -> str:
        """What an interlock on `powered_state` says when it trips: each chip that is down, and its
        rails' status bits (the cause: a shorted, latched-off or not power-good rail)."""
        down = [int(r.get("chip", -1)) for r in self._rows("power") if not self._all_up(r)]
        return "; ".join(", ".join([f"chip{c} sequencer {self._row(f'power {c}').get('state', '?')}"]
                                   + self._rail_problems(c)) for c in down) or "every chip up"

    @reading("", chip=CHIP)
    def sequence_errors(self, chip: int = 0) -> float:
        """Rails the sequencer switched on out of the sled's declared order, or before the rail ahead
        of them was on (0 on a correct sequence)."""
        rows = self._rows(f"power sequence {chip}")
        order = [r.get("rail", "") for r in rows]
        declared = [r for r in RAILS if r in order] + [r for r in order if r not in RAILS]
        return float(sum(1 for a, b in zip(order, declared) if a != b) + (len(RAILS) - len(order)))

    @reading("s", rail=RAIL, chip=CHIP)
    def rail_on_time(self, rail: str, chip: int = 0) -> float:
        """When the sequencer switched a rail on in the last power-on sequence, in seconds from its
        first rail's enable (NaN if it never did): the sequence's timing, rail by rail."""
        for row in self._rows(f"power sequence {chip}"):
            if row.get("rail") == rail:
                return self._num(row, "t_s", "power sequence")
        return math.nan

    def _why_down(self, chip: int) -> str:
        """Why a chip is down, in the words a bring-up engineer looks for: state, reasons, faulted rails."""
        health = self._row(f"health {chip}")
        parts = [f"chip{chip} boot {health.get('boot', '?')}"]
        if health.get("problems"):
            parts.append(health["problems"])
        parts += self._rail_problems(chip, only_faults=True)
        return ": ".join(parts[:1]) + (" (" + "; ".join(parts[1:]) + ")" if parts[1:] else "")

    # -- rails ----------------------------------------------------------------------------------------
    def _words(self, chip: int, rail: str, *codes: int) -> dict[int, int]:
        command = f"pmbus {chip} {rail} read " + ",".join(f"0x{c:02X}" for c in codes)
        words = {}
        for row in self._rows(command):
            words[int(self._num(row, "code", command))] = int(self._num(row, "value", command))
        missing = [f"0x{c:02X}" for c in codes if c not in words]
        if missing:
            raise DriverError(f"{self.role}: no word for {', '.join(missing)} in the reply to {command!r}")
        return words

    def _linear11(self, chip: int, rail: str, code: int) -> float:
        word = self._words(chip, rail, code)[code]
        return math.nan if word == pm.NO_READING else pm.linear11_decode(word)

    def _volts(self, chip: int, rail: str, code: int) -> float:
        w = self._words(chip, rail, pm.VOUT_MODE, code)
        if w[code] == pm.NO_READING:
            return math.nan
        try:
            return pm.ulinear16_decode(w[code], w[pm.VOUT_MODE])
        except ValueError as exc:
            raise DriverError(f"{self.role}: chip{chip} {rail}: {exc}") from None

    @reading("V", rail=RAIL, chip=CHIP)
    def rail_voltage(self, rail: str, chip: int = 0) -> float:
        """Output voltage of a rail (READ_VOUT, ULINEAR16 under its VOUT_MODE); NaN when the device has no sample."""
        return self._volts(chip, rail, pm.READ_VOUT)

    @reading("V", rail=RAIL, chip=CHIP)
    def rail_setpoint(self, rail: str, chip: int = 0) -> float:
        """Commanded voltage of a rail (VOUT_COMMAND)."""
        return self._volts(chip, rail, pm.VOUT_COMMAND)

    @reading("A", rail=RAIL, chip=CHIP)
    def rail_current(self, rail: str, chip: int = 0) -> float:
        """Output current of a rail (READ_IOUT, LINEAR11); NaN when the device has no sample."""
        return self._linear11(chip, rail, pm.READ_IOUT)

    @reading("W", rail=RAIL, chip=CHIP)
    def rail_power(self, rail: str, chip: int = 0) -> float:
        """Output power of a rail (READ_POUT, LINEAR11)."""
        return self._linear11(chip, rail, pm.READ_POUT)

    @reading("degC", rail=RAIL, chip=CHIP)
    def rail_temperature(self, rail: str, chip: int = 0) -> float:
        """Temperature of a rail's regulator (READ_TEMPERATURE_1, LINEAR11)."""
        return self._linear11(chip, rail, pm.READ_TEMPERATURE_1)

    @reading("", rail=RAIL, chip=CHIP)
    def rail_status(self, rail: str, chip: int = 0) -> float:
        """The rail's raw STATUS_WORD as a number (0 on a good rail; `check_rails` names the bits)."""
        return float(self._words(chip, rail, pm.STATUS_WORD)[pm.STATUS_WORD])

    @reading("", rail=RAIL, chip=CHIP)
    def rail_power_good(self, rail: str, chip: int = 0) -> float:
        """1 when the rail reports power good (STATUS_WORD bit 11, POWER_GOOD#, clear), else 0."""
        return 0.0 if self._words(chip, rail, pm.STATUS_WORD)[pm.STATUS_WORD] & pm.POWER_GOOD_N else 1.0

    @reading("", rail=RAIL, chip=CHIP, code=Param(int, low=0, high=255, help="PMBus command code, e.g. 0x8B"))
    def pmbus_word(self, rail: str, code: int, chip: int = 0) -> float:
        """The raw word a PMBus read of `code` returns, as a number (for registers this driver does not decode)."""
        return float(self._words(chip, rail, code)[code])

    def _rail_problems(self, chip: int, rail: str = "ALL", only_faults: bool = False) -> list[str]:
        """What is wrong with a chip's rails, each with its status registers' bit names."""
        problems = []
        for row in self._rows(f"rail {chip}" + ("" if rail == "ALL" else f" {rail}")):
            name = row.get("rail", "?")
            if row.get("pmbus") == "nack":
                problems.append(f"chip{chip} {name}: no PMBus answer ({row.get('error', '')})")
                continue
            word = int(self._num(row, "status_word", "rail"))
            fault = word & pm.STATUS_WORD_FAULTS
            down = row.get("enabled") != "1" or row.get("pg") != "1"
            if not fault and (only_faults or not down):
                continue
            detail = [f"STATUS_WORD 0x{word:04X} ({pm.describe_status_word(word)})"]
            for reg, table in pm.STATUS_REGISTERS.items():
                value = int(self._num(row, reg, "rail")) if reg != "status_word" else 0
                if value:
                    detail.append(f"{reg.upper()} 0x{value:02X} ({', '.join(pm.bit_names(value, table))})")
            state = "" if not down else f" {'off' if row.get('enabled') != '1' else 'not power-good'},"
            problems.append(f"chip{chip} {name}:{state} " + ", ".join(detail))
        return problems

    @action(chip=CHIP_OR_ALL, rail=RAIL_OR_ALL, idempotent=True)
    def check_rails(self, chip: int = -1, rail: str = "ALL") -> None:
        """Fail unless every rail (or `rail`) is on, power-good and free of PMBus faults; the error names the bits."""
        chips = range(self.chips) if chip < 0 else (chip,)
        problems = [p for c in chips for p in self._rail_problems(c, rail)]
        if problems:
            raise DriverError(f"{self.role}.check_rails: " + "; ".join(problems))

    @reading("", chip=CHIP_OR_ALL)
    def rail_fault_count(self, chip: int = -1) -> float:
        """How many rails are off, not power-good, or flag a PMBus fault (0 on a healthy sled)."""
        chips = range(self.chips) if chip < 0 else (chip,)
        return float(sum(len(self._rail_problems(c)) for c in chips))

    @action(chip=CHIP_OR_ALL, rail=RAIL_OR_ALL, idempotent=True)
    def clear_faults(self, chip: int = -1, rail: str = "ALL") -> None:
        """PMBus CLEAR_FAULTS on a rail (or all): the explicit re-arm latched faults need. Read the status first."""
        chips = range(self.chips) if chip < 0 else (chip,)
        for c in chips:
            for name in (self.rails if rail == "ALL" else (rail,)):
                self._do(f"pmbus {c} {name} write 0x{pm.CLEAR_FAULTS:02X}", idempotent=True)

    # -- the sled's input -------------------------------------------------------------------------------
    input_voltage = measured("input", "V", field="vin_v", help="Voltage at the sled's input (its hot-swap controller).")
    input_current = measured("input", "A", field="iin_a", help="Current the sled draws at its input.")
    input_power = measured("input", "W", field="pin_w", help="Power the sled draws at its input.")
