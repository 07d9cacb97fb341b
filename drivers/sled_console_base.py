"""What every part of the sled console driver shares: the port, the link, and how failures read.

The sled driver is split by subsystem (power and rails, chip state, links) into classes that
all derive from `SledConsoleBase`; `SledConsole` in sled_console.py puts them together. This
module owns the serial port (pyserial `serial_for_url`, so a path such as `/dev/ttyUSB0` or
`/dev/pts/7` works, and so do `socket://terminal-server:7001` and `rfc2217://...`), the
per-resource lock, the wall-time budget of each exchange, and the translation of link failures
into the engine's errors:

- the sled answered `ERR`                      -> DriverError with the sled's own words
- nothing verified after every retry (noise)   -> DriverError: the step is UNKNOWN, never a value
- an action whose outcome is unknown           -> DriverError, and the action is not sent again
- no byte back, attempt after attempt, or the port failed -> InstrumentUnreachable (role and port)
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Annotated, Any, Callable, ClassVar

from pydantic import Field, NonNegativeInt, PositiveInt, StringConstraints

from bringup.core.clock import clock_to_wall
from bringup.drivers.base import Driver, DriverError, InstrumentUnreachable, StepTimeout
from bringup.drivers.options import PositiveDuration

from bringup.drivers.console_link import ActionUnconfirmed, ConsoleGarbled, ConsoleLink, ConsolePortError, ConsoleSilent, Reply
from bringup.drivers.scpi import resource_lock
from bringup.drivers.table import Commanded, Measured

log = logging.getLogger("bringup.drivers.sled_console")
log.addHandler(logging.NullHandler())  # a library records; the application decides what to show


class ConsoleNoise(DriverError):
    """No verified reply after every retry, or an action's outcome unknown: the step is UNKNOWN."""


@dataclass(frozen=True)
class Retry:
    """One retry on the console, as recorded: when, which command, which attempt, and why."""

    t: float
    command: str
    attempt: int
    why: str


def port_of(resource: str) -> str:
    """A pyserial URL from a station's resource: a path, a pyserial URL, or VISA's `ASRL<path>::INSTR`."""
    r = resource.strip()
    if r.upper().startswith("ASRL") and r.upper().endswith("::INSTR"):
        r = r[4:-7]
    return r


class SledConsoleBase(Driver):
    """The sled's management console over a serial line (docs/console.md)."""

    kind = "sled"
    class Options(Driver.Options):
        baudrate: PositiveInt = Field(115200, description="line speed; always 8N1, no flow control")
        timeout: PositiveDuration = Field(1.0, description="how long to wait for one reply")
        # extra attempts for a reply that does not verify. A read is repeated, never acted on
        # twice (a lost action's reply is replayed with `last`); a many-line reply (`hbm status`)
        # garbles far more often than one line on a noisy console, and an overnight soak asks
        # thousands of them, so a reading gives up only after 9 bad replies in a row
        retries: NonNegativeInt = Field(8, description="further attempts when a reply does not verify")
        max_timeouts: PositiveInt = Field(3, description="attempts in a row without one byte back before the "
                                                         "console counts as lost")
        boot_timeout: PositiveDuration = Field(10.0, description="power_on waits this long (clock time) for "
                                                                 "every chip to boot")
        power_off_timeout: PositiveDuration = Field(5.0, description="power_off waits this long for the rails")
        retrain_timeout: PositiveDuration = Field(5.0, description="pcie_retrain / mesh_retrain wait this long "
                                                                   "for the link to come back")
        poll: PositiveDuration = Field(0.05, description="clock time between status polls while waiting")
        idle_gap: PositiveDuration = Field(0.05, description="silence after which a resynchronising console is "
                                                             "taken as idle")
        prompt: Annotated[str, StringConstraints(min_length=1, pattern=r"^[ -~]+$")] = Field(
            "sled> ", description="the console's prompt (printable ASCII)")

    seams: ClassVar[dict[str, str]] = {
        "serial_factory": "tests hand a transcript standing in for the serial port to the driver's constructor "
                          "(serial_factory=...); a station gives the port as 'resource'"}
    MAX_KEPT: ClassVar[int] = 1000  # retries kept: an overnight soak on a noisy line must not grow without bound

    def __init__(self, *, serial_factory: Callable[..., Any] | None = None, **kw: Any) -> None:
        super().__init__(**kw)
        # a test seam, never a station option: the transcript tests hand in a scripted port
        self._serial_factory = serial_factory or _serial_for_url
        self.retries: list[Retry] = []  # the latest retries this driver made (up to MAX_KEPT), for the run's record
        self.retry_count = 0            # all of them
        self.chips = 0
        self.rails: tuple[str, ...] = ()
        self.ports = 0
        self._ident: dict[str, str] = {}
        self._port: Any = None
        self._link: ConsoleLink | None = None
        self._lost: str | None = None
        self._lock = resource_lock(self.resource or f"<{self.role}>")
        o = self.options
        self._timeout, self._poll, self._idle_gap = o.timeout, o.poll, o.idle_gap

    # -- lifecycle ----------------------------------------------------------------------------------
    def open(self) -> None:
        """Open the serial port and identify the sled (`id`): chips, rails, ports."""
        with self._lock:
            if self._link is not None:
                return
            if not self.resource:
                raise InstrumentUnreachable(self.role, None, "the station gives no 'resource' (a serial port)")
            try:
                self._port = self._serial_factory(port_of(self.resource), baudrate=self.options.baudrate, bytesize=8,
                                     parity="N", stopbits=1, timeout=self._timeout, write_timeout=self._timeout)
            except Exception as exc:  # SerialException, OSError, ValueError: whatever the port says
                raise InstrumentUnreachable(self.role, self.resource, f"cannot open the serial port: {exc}") from None
            self._link = ConsoleLink(self._port, retries=self.options.retries,
                                     silent_limit=self.options.max_timeouts, on_retry=self._record_retry,
                                     prompt=self.options.prompt.encode("ascii"),
                                     idle_gap=self._idle_gap)
            self._lost = None
            try:
                (ident,) = self._rows("id")
                self.chips = int(ident["chips"])
                self.rails = tuple(ident["rails"].split(","))
                self.ports = int(ident["ports"])
            except InstrumentUnreachable:
                self.close()
                raise
            except (DriverError, KeyError, ValueError) as exc:
                self.close()
                raise InstrumentUnreachable(self.role, self.resource,
                                            f"the port answers, but not as a sled console ({exc}); "
                                            "check the baud rate and that this is the sled's console") from None
            self._ident = ident

    def close(self) -> None:
        with self._lock:
            port, self._port, self._link = self._port, None, None
            if port is not None:
                try:
                    port.close()
                except Exception:  # a port whose device vanished must not fail the run's ending
                    pass

    def identity(self) -> str:
        i = self._ident
        if not i:
            return f"sled console at {self.resource}"
        return f"{i.get('model', '?')} s/n {i.get('serial', '?')} firmware {i.get('firmware', '?')} at {self.resource}"

    # -- exchanges ----------------------------------------------------------------------------------
    def _record_retry(self, command: str, attempt: int, why: str) -> None:
        r = Retry(self.clock.now(), command, attempt, why)
        self.retry_count += 1
        self.retries.append(r)
        del self.retries[:-self.MAX_KEPT]
        self.notes.append(f"console retry: {command!r} attempt {attempt} ({why})")
        log.warning("%s: console retry %d for %r: %s", self.role, attempt, command, why)

    def _budget(self) -> Callable[[], float]:
        """Each attempt's wall time: the reply timeout, within the step's time. No command keeps the
        console longer than a reply takes: long ones run as jobs (`_job`)."""
        def wait() -> float:
            budget = self._timeout
            left = self.remaining()  # clock seconds
            if left is None:
                return budget
            if left <= 0:
                raise StepTimeout(f"{self.role}: no time left before the step's deadline")
            # on a simulated clock that moves only by sleeps no clock time passes while the reply
            # travels, so the step's deadline cannot shrink the reply timeout (a wall-time guard)
            if not getattr(self.clock, "free_running", True):
                return budget
            return min(budget, clock_to_wall(self.clock, left))
        return wait

    def _ask(self, command: str, *, idempotent: bool = True) -> Reply:
        """One command, its verified OK reply; anything else raised as the engine's errors."""
        with self._lock:
            if self._link is None:
                if self._lost:
                    raise InstrumentUnreachable(self.role, self.resource, self._lost)
                self.open()
            try:
                reply = self._link.transact(command, self._budget(), idempotent=idempotent)
            except (ConsolePortError, ConsoleSilent) as exc:
                self._lost = f"the console stopped answering: {exc}"
                self.close()
                raise InstrumentUnreachable(self.role, self.resource, self._lost) from None
            except (ConsoleGarbled, ActionUnconfirmed) as exc:
                raise ConsoleNoise(f"{self.role}: {exc}") from None
        if not reply.ok:
            raise DriverError(f"{self.role}: the sled refused {command!r}: ERR {reply.code} {reply.text}")
        return reply

    def _rows(self, command: str, *, idempotent: bool = True) -> list[dict[str, str]]:
        shared = self.shared_reads if idempotent else None
        if shared is not None and command in shared:
            return shared[command]  # the runner's tick: the same instant, the same answer
        rows = self._ask(command, idempotent=idempotent).records()
        if shared is not None:
            shared[command] = rows
        return rows

    def _row(self, command: str, **kw: Any) -> dict[str, str]:
        rows = self._rows(command, **kw)
        if len(rows) != 1:
            raise DriverError(f"{self.role}: expected one record from {command!r}, got {len(rows)}")
        return rows[0]

    def _do(self, command: str, *, idempotent: bool = False) -> None:
        self._ask(command, idempotent=idempotent)

    # -- the hooks of the table rows (drivers/table.py) ----------------------------------------------
    #: per-chip commands whose whole-sled form the runner's tick shares: in a tick, every chip's
    #: interlocks on `sensors <chip>` read their chip's record of one `sensors` reply
    SHARED_PER_CHIP: ClassVar[tuple[str, ...]] = ("sensors",)

    def table_value(self, row: Measured, command: str, args: dict[str, Any]) -> float:
        """A reading row: one field of the command's one record (`pcie status 0` -> `speed_gts`)."""
        label = row.template.split("{", 1)[0].strip()  # the command's name, as the errors give it
        base, _, chip = command.rpartition(" ")
        if self.shared_reads is not None and base in self.SHARED_PER_CHIP and chip.isdigit():
            record = next((r for r in self._rows(base) if r.get("chip") == chip), None)
            if record is None:
                raise DriverError(f"{self.role}: no chip{chip} in the reply to {base!r}")
        else:
            record = self._row(command)
            asked = args.get("chip")
            if asked is not None and "chip" in record and record["chip"] != str(asked):
                # a record for another chip is never this chip's value
                raise DriverError(f"{self.role}: asked for chip{asked}'s {label}, the reply is for chip "
                                  f"{record['chip']!r}")
        return self._num(record, row.field_for(args), label)

    def table_command(self, row: Commanded, command: str, args: dict[str, Any]) -> None:
        """An action row: one command, sent once unless the row says it is safe to repeat."""
        self._do(command, idempotent=row.idempotent)

    def _job(self, command: str) -> list[dict[str, str]]:
        """A long command (PRBS run, HBM training or BIST, golden compare) as a BMC job: start it,
        let its time pass in the runner's watched wait, collect its reply (docs/console.md, jobs).
        Starting is an action (never sent twice); collecting is a read."""
        started = self._row(f"start {command}", idempotent=False)
        job = started.get("job", "")
        left = self._num(started, "done_in", f"start {command}")
        while True:
            if left > 0:
                self.wait(left)
            rows = self._rows(f"job {job}")
            state = rows[0].get("state") if rows else None
            if state == "done":
                return rows[1:]
            if state != "running":
                raise DriverError(f"{self.role}: job {job} ({command!r}) answered {rows[:1]!r}, not its state")
            # the BMC's clock and ours agree in simulation; on a bench its job may end a little later
            left = max(self._num(rows[0], "left_s", f"job {job}"), self._poll)

    # -- values ---------------------------------------------------------------------------------------
    def _num(self, row: dict[str, str], key: str, command: str = "") -> float:
        """A number field; a missing or unreadable one is an error, never a default."""
        try:
            text = row[key]
            return float(int(text, 16)) if text.lower().startswith("0x") else float(text)
        except (KeyError, ValueError):
            raise DriverError(f"{self.role}: the reply to {command or 'the command'!r} has no number "
                              f"{key!r} ({row.get(key)!r})") from None

    def _flag(self, row: dict[str, str], key: str, command: str = "") -> bool:
        v = self._num(row, key, command)
        return not math.isnan(v) and v != 0

    @staticmethod
    def _chip_arg(chip: int) -> str:
        return chip_arg(chip)

    def _wait_for(self, what: str, timeout_s: float, check: Callable[[], str | None]) -> None:
        """Poll `check` (None: done; text: not yet, and why) until done, `timeout_s` of clock time, or the step's end."""
        end = self.clock.now() + timeout_s
        while True:
            try:
                state = check()
            except ConsoleNoise as exc:  # one lost poll is not a verdict: poll again until the time is up
                state = f"no verified status ({exc})"
            if state is None:
                return
            if self.clock.now() >= end:
                raise DriverError(f"{self.role}: {what} within {timeout_s:g} s: {state}")
            left = self.remaining()
            if left is not None and left <= 0:
                raise StepTimeout(f"{self.role}: the step's time ran out waiting for {what}: {state}")
            self.wait(min(self._poll, max(end - self.clock.now(), 0.0)))


ECC_FIELD = {"correctable": "ce", "uncorrectable": "ue"}  # how the console names an error counter's kind


def chip_arg(chip: int) -> str:
    """` <chip>`, or nothing for every chip (-1): how a command names its chips."""
    return "" if chip < 0 else f" {chip}"


def _serial_for_url(url: str, **kw: Any) -> Any:
    import serial

    return serial.serial_for_url(url, **kw)
