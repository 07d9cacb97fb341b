"""Instruments over PyVISA: the transport every bench instrument driver shares, and the SCPI base.

`VisaDriver` owns one PyVISA session: it opens it (pyvisa-py, `@py`, by default; option
`visa_library` names any other VISA backend, such as `@ivi` or a library path), sets
terminations and timeouts explicitly, serialises every transaction on a per-resource lock
(PyVISA sessions are not thread-safe, and two roles may share one instrument), and turns every
way an instrument can be lost into one error:

- a refused connection, a closed socket, a lost connection  -> InstrumentUnreachable at once
- a reply that does not come within min(option `timeout`, the step's time left) -> StepTimeout
- `max_timeouts` timeouts in a row                           -> InstrumentUnreachable

so no call can block longer than the session timeout. After a timeout a late reply may still
arrive; it is discarded before the next command, so replies never get out of step. A peer that
closed its socket shows as a reset (at once) or as a timeout after which the socket is found
closed (within the session timeout); either way the instrument is reported lost.

`ScpiDriver` adds IEEE 488.2: `*IDN?` at open (recorded with every result), `*CLS` so that old
errors are not blamed on this run, and, with option `check_errors` (default on), the SCPI error
queue (`SYST:ERR?`) read after every write, any error raised as a DriverError naming the
command and the instrument's own message.

Resource strings: `TCPIP::host::5025::SOCKET` (raw socket), `TCPIP::host::INSTR` and
`TCPIP::host::hislip0::INSTR` (VXI-11, HiSLIP), `USB0::0x2A8D::...::INSTR` (USBTMC),
`GPIB0::5::INSTR`, `ASRL/dev/ttyUSB0::INSTR` (serial: options `baud_rate`, `data_bits`,
`parity`, `stop_bits`, `flow_control`).
"""

from __future__ import annotations

import socket
import threading
from typing import Any, ClassVar, Literal

from pydantic import Field, PositiveInt

from bringup.core.clock import clock_to_wall
from bringup.drivers.base import Driver, DriverError, InstrumentUnreachable, StepTimeout
from bringup.drivers.options import PositiveDuration

from bringup.drivers import table

_LOCKS: dict[str, threading.RLock] = {}
_LOCKS_GUARD = threading.Lock()
_MANAGERS: dict[str, Any] = {}

# VISA status codes (VPP-4.3)
_MAX_COUNT = 0x3FFF0006  # VI_SUCCESS_MAX_CNT: the read filled its buffer before the terminator
_VI_ERROR_TMO = -1073807339
# ...and those that mean the session is gone rather than slow
_LOST_CODES = {
    -1073807194,  # VI_ERROR_CONN_LOST
    -1073807298,  # VI_ERROR_IO
    -1073807343,  # VI_ERROR_RSRC_NFOUND
    -1073807346,  # VI_ERROR_INV_OBJECT (the session was closed under us)
    -1073807300,  # VI_ERROR_RSRC_BUSY
}


def resource_lock(resource: str) -> threading.RLock:
    """The lock of one instrument address, shared by every driver in the process that talks to it."""
    key = resource.upper()
    with _LOCKS_GUARD:
        lock = _LOCKS.get(key)
        if lock is None:
            lock = _LOCKS[key] = threading.RLock()
        return lock


def resource_manager(library: str) -> Any:
    """One pyvisa ResourceManager per VISA library (a backend name such as `@py`, or a path)."""
    rm = _MANAGERS.get(library)
    if rm is None:
        import pyvisa

        rm = _MANAGERS[library] = pyvisa.ResourceManager(library)
    return rm


def interface_of(resource: str) -> str:
    """SOCKET, INSTR (VXI-11/HiSLIP over LAN), USB, GPIB or ASRL."""
    r = resource.upper()
    if r.startswith("TCPIP"):
        return "SOCKET" if r.endswith("::SOCKET") else "INSTR"
    for kind in ("USB", "GPIB", "ASRL"):
        if r.startswith(kind):
            return kind
    return "OTHER"


class VisaDriver(Driver):
    """A driver that talks to its instrument through one PyVISA message-based session."""

    class Options(Driver.Options):
        timeout: PositiveDuration = Field(2.0, description="longest wait for one reply; a step's own deadline "
                                                            "shortens it")
        visa_library: str = Field("@py", description="the VISA backend: @py (pyvisa-py), @ivi, or a library path")
        read_termination: str | None = Field(None, description="null: the model's own")
        write_termination: str | None = Field(None, description="null: the model's own")
        max_timeouts: PositiveInt = Field(3, description="timeouts in a row before the instrument counts as lost")
        baud_rate: PositiveInt = Field(9600, description="serial lines only")
        data_bits: Literal[5, 6, 7, 8] = 8
        parity: Literal["none", "odd", "even", "mark", "space"] = "none"
        stop_bits: Literal[1, 1.5, 2] = 1
        flow_control: Literal["none", "xon_xoff", "rts_cts", "dtr_dsr"] = "none"

    seams: ClassVar[dict[str, str]] = {
        "resource_manager": "tests hand a stand-in pyvisa ResourceManager to the constructor "
                            "(resource_manager=...); a station names a VISA backend with visa_library: \"@ivi\""}
    #: the model's terminations (the options override them)
    read_termination: ClassVar[str] = "\n"
    write_termination: ClassVar[str] = "\n"

    def __init__(self, *, resource_manager: Any = None, **kw: Any) -> None:
        super().__init__(**kw)
        # a test seam, never a station option: the transcript tests hand in a fake ResourceManager
        self._rm = resource_manager
        self._res: Any = None
        self._lib: Any = None
        self._session: Any = None
        self._sock: socket.socket | None = None
        self._timeout_ms: float | None = None
        self._timeouts = 0
        self._stale = False
        self._lost: str | None = None
        self._lock = resource_lock(self.resource or f"<{self.role}>")
        self._timeout = self.options.timeout
        self._full_ms = max(1, round(self._timeout * 1000))
        self._rterm: str = self.options.read_termination or self.read_termination
        self._wterm: bytes = (self.options.write_termination or self.write_termination).encode("ascii")

    # -- lifecycle ------------------------------------------------------------------------------------
    def open(self) -> None:
        """Open the session, set terminations and timeout, then `on_open` (e.g. *IDN?)."""
        with self._lock:
            if self._res is not None:
                return
            if not self.resource:
                raise InstrumentUnreachable(self.role, None, "the station gives no 'resource' (a VISA address)")
            try:
                rm = self._rm if self._rm is not None else resource_manager(self.options.visa_library)
            except Exception as exc:  # a missing VISA backend, whatever it raises
                raise InstrumentUnreachable(self.role, self.resource,
                                            f"VISA library {self.options.visa_library!r} cannot be loaded: {exc}") \
                    from None
            timeout = self._io_timeout("open")
            try:
                res = rm.open_resource(self.resource, open_timeout=max(1, round(timeout * 1000)),
                                       **self._open_options())
                res.read_termination = self._rterm
                res.write_termination = self._wterm.decode("ascii")
                res.timeout = self._timeout_ms = max(1, round(timeout * 1000))
            except Exception as exc:  # pyvisa raises VisaIOError, ValueError, OSError or a bare Exception
                raise InstrumentUnreachable(self.role, self.resource, f"cannot open the session: {exc}") from None
            self._res, self._sock = res, _socket_of(res)
            lib = getattr(res, "visalib", None)
            low_level = hasattr(lib, "read") and hasattr(lib, "write")
            self._lib, self._session = (lib, res.session) if low_level else (None, None)
            self._lost, self._timeouts, self._stale = None, 0, False
            try:
                self.on_open()
            except BaseException:
                self.close()
                raise

    def on_open(self) -> None:
        """Called once the session is open: identify the instrument, read what the driver needs."""

    def close(self) -> None:
        with self._lock:
            res, self._res, self._sock, self._lib = self._res, None, None, None
            if res is not None:
                try:
                    res.close()
                except Exception:  # closing a session whose peer is gone must not fail the run's ending
                    pass

    def _open_options(self) -> dict[str, Any]:
        if interface_of(self.resource or "") != "ASRL":
            return {}
        from pyvisa import constants

        o = self.options  # typed at load: every value here is one the table below knows
        stop = {1: constants.StopBits.one, 1.5: constants.StopBits.one_and_a_half, 2: constants.StopBits.two}
        flow = {"none": constants.VI_ASRL_FLOW_NONE, "xon_xoff": constants.VI_ASRL_FLOW_XON_XOFF,
                "rts_cts": constants.VI_ASRL_FLOW_RTS_CTS, "dtr_dsr": constants.VI_ASRL_FLOW_DTR_DSR}
        return {"baud_rate": o.baud_rate, "data_bits": o.data_bits, "parity": constants.Parity[o.parity],
                "stop_bits": stop[o.stop_bits], "flow_control": flow[o.flow_control]}

    # -- messages -------------------------------------------------------------------------------------
    def query(self, command: str) -> str:
        """Send a command and return its reply (without the terminator)."""
        return self._transaction(command, True)  # type: ignore[return-value]

    def write(self, command: str) -> None:
        """Send a command that has no reply."""
        self._transaction(command, False)

    def _transaction(self, command: str, answered: bool) -> str | None:
        # The hot path of every reading: kept flat, and on pyvisa's raw I/O (bytes in, bytes out),
        # so that a measurement costs little more than the VISA round trip itself.
        with self._lock:
            res = self._res
            if res is None:
                if self._lost:
                    raise InstrumentUnreachable(self.role, self.resource, self._lost)
                self.open()  # a driver never opened (an earlier role failed to open) may still be reachable
                res = self._res
            deadline = self.deadline
            if deadline is None or deadline - self.clock.now() >= self._timeout:
                timeout, ms = self._timeout, self._full_ms
            else:
                timeout = self._io_timeout(command)
                ms = max(1, round(timeout * 1000))
            try:
                if self._stale:
                    self._discard_stale()
                if ms != self._timeout_ms:
                    res.timeout = self._timeout_ms = ms
                lib, session = self._lib, self._session
                if lib is None:
                    res.write_raw(command.encode("ascii") + self._wterm)
                    data = res.read_raw() if answered else None
                else:
                    # PyVISA's own low-level calls (viWrite/viRead), the same for every backend:
                    # the resource layer above them costs a quarter of a loopback round trip
                    lib.write(session, command.encode("ascii") + self._wterm)
                    data = None
                    if answered:
                        data, status = lib.read(session, 20480)
                        if status == _MAX_COUNT:
                            data += res.read_raw()  # a reply longer than one chunk: let pyvisa gather the rest
            except Exception as exc:
                raise self._failure(command, exc, timeout) from None
            self._timeouts = 0
            if data is None:
                return None
            try:
                text = data.decode("ascii")
            except UnicodeDecodeError:
                raise self.garbled(command, data, "not text") from None
            return text[: -len(self._rterm)] if text.endswith(self._rterm) else text

    def garbled(self, command: str, reply: Any, expected: str = "") -> DriverError:
        """table.garbled, and the session flushed before the next command: the rest may still come."""
        self._stale = True
        return table.garbled(self.role, command, reply, expected)

    def _failure(self, command: str, exc: Exception, timeout: float) -> DriverError:
        code = getattr(exc, "error_code", None)
        if code == _VI_ERROR_TMO:
            self._timeouts += 1
            self._stale = True
            if self._peer_closed():
                return self._lose("the instrument closed the connection")
            if self._timeouts >= self.options.max_timeouts:
                return self._lose(f"{self._timeouts} timeouts in a row (last: no reply to {command!r} "
                                  f"within {timeout:.3g} s of wall time)")
            return StepTimeout(f"{self.role}: no reply to {command!r} within {timeout:.3g} s of wall time "
                               "(the I/O timeout)")
        if isinstance(exc, OSError) or code in _LOST_CODES:
            return self._lose(f"{type(exc).__name__}: {exc}" if isinstance(exc, OSError) else str(exc))
        return DriverError(f"{self.role}: {command!r} failed: {type(exc).__name__}: {exc}")

    def _lose(self, why: str) -> InstrumentUnreachable:
        self._lost = why
        self.close()
        return InstrumentUnreachable(self.role, self.resource, why)

    def _io_timeout(self, what: str) -> float:
        """The I/O timeout (wall seconds): the option's, or less when the step's time is nearly
        up; StepTimeout if none is left. On a simulated clock that moves only by sleeps no step
        time passes during I/O, so there only the option's wall-time guard applies."""
        left = self.remaining()
        if left is not None and left <= 0:
            raise StepTimeout(f"{self.role}: no time left before the step's deadline for {what!r}")
        if left is None or not getattr(self.clock, "free_running", True):
            return self._timeout
        return min(self._timeout, clock_to_wall(self.clock, left))

    # -- staying in step ------------------------------------------------------------------------------
    def _peer_closed(self) -> bool:
        sock = self._sock
        if sock is None:
            return False
        try:
            return sock.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) == b""
        except (BlockingIOError, InterruptedError):
            return False
        except OSError:
            return True

    def _discard_stale(self) -> None:
        """Drop bytes nobody asked for (a reply that came after its timeout); notice a closed peer."""
        sock = self._sock
        if sock is not None:
            while True:
                try:
                    chunk = sock.recv(65536, socket.MSG_DONTWAIT)
                except (BlockingIOError, InterruptedError):
                    break
                if not chunk:
                    raise ConnectionResetError("the instrument closed the connection")
                self._stale = True
        if self._stale:
            try:
                from pyvisa import constants

                self._res.flush(constants.BufferOperation.discard_read_buffer_no_io)
            except Exception:  # a backend without that flush keeps nothing buffered of its own
                pass
            self._stale = False

    def identity(self) -> str:
        return f"{type(self).__name__}({self.resource})"


def _socket_of(res: Any) -> socket.socket | None:
    """pyvisa-py's socket under a TCPIP SOCKET session, to notice a closed peer without waiting."""
    try:
        sock = res.visalib.sessions[res.session].interface
    except Exception:
        return None
    return sock if isinstance(sock, socket.socket) else None


class ScpiDriver(VisaDriver):
    """An IEEE 488.2 / SCPI instrument: *IDN?, *CLS, and the error queue checked after writes."""

    class Options(VisaDriver.Options):
        check_errors: bool = Field(True, description="read SYST:ERR? after every write; an error fails the step")

    def __init__(self, **kw: Any) -> None:
        super().__init__(**kw)
        self._idn: str | None = None

    def on_open(self) -> None:
        self._idn = self.query("*IDN?").strip()
        self._transaction("*CLS", False)  # errors left by others are not ours

    def identity(self) -> str:
        return self._idn or super().identity()

    def write(self, command: str) -> None:
        """Send a command; with `check_errors`, read the error queue and raise what it holds."""
        with self._lock:
            super().write(command)
            if self.options.check_errors:
                errors = self.errors()
                if errors:
                    raise DriverError(f"{self.role}: the instrument refused {command!r}: {'; '.join(errors)}")

    def errors(self) -> list[str]:
        """Empty the SCPI error queue: every entry as the instrument wrote it, oldest first."""
        out: list[str] = []
        with self._lock:
            for _ in range(32):  # a queue is 20 deep or so; a reply that never says 0 cannot loop us forever
                entry = self.query("SYST:ERR?").strip()
                code = entry.split(",", 1)[0].strip()
                try:
                    if int(code) == 0:
                        break
                except ValueError:
                    raise self.garbled("SYST:ERR?", entry) from None
                out.append(entry)
        return out

    def number(self, command: str) -> float:
        """Query one number."""
        reply = self.query(command)
        try:
            return float(reply)
        except ValueError:
            raise self.garbled(command, reply) from None

    def numbers(self, command: str) -> list[float]:
        """Query a comma- or semicolon-separated list of numbers."""
        reply = self.query(command)
        try:
            return [float(x) for x in reply.replace(";", ",").split(",")]
        except ValueError:
            raise self.garbled(command, reply) from None

    # the hooks of a driver's table rows (drivers/table.py)
    def table_value(self, row: table.Measured, command: str, args: dict[str, Any]) -> float:
        return self.number(command)

    def table_command(self, row: table.Commanded, command: str, args: dict[str, Any]) -> None:
        self.write(command)
